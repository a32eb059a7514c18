"""Retrieval throughput with curl, the mock side by side with Orthanc; print GB/s per case.

    python3 bench/curl_throughput.py [--slices 200] [--repeat 5] [--build bookworm,trixie]
                                     [--mock-server gunicorn,werkzeug] [--no-orthanc] [--json FILE]

Starts the mock and one Orthanc per build named in ``--build`` (``scripts/orthanc.py start
--build``, side by side) and loads every server through STOW-RS with the same bytes: a CT series of
``--slices`` 512x512 16-bit slices stored in Explicit VR Little Endian (200
slices: 105 MB) and as many noisy slices stored JPEG-LS Lossless (about 80 MB).  Then curl
(``-o /dev/null``, one connection per request) fetches, the servers taking
turns (the first one rotates), ``--repeat`` times each:

* ``default``: the series with ``Accept: multipart/related; type="application/dicom"``
  (Explicit VR Little Endian, PS3.18 8.7.3.5.2; the instances are stored so);
* ``ts=*``: the same series with ``transfer-syntax=*`` (as stored);
* ``jpeg-ls as stored``: the JPEG-LS series requested in its stored syntax.

Figures: median seconds and GB/s (10^9 bytes), and the peak RSS (VmHWM) of
the mock's processes afterwards.  A measurement; nothing is asserted.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._servers import (MockProcess, OrthancProcess, Server, SetupError, free_port, mock_config,  # noqa: E402
                            parse_builds, stop_all, stow)
from bench.synthetic import series_files, study_population  # noqa: E402

EXPLICIT_LE = "1.2.840.10008.1.2.1"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"


def jpeg_ls(blob: bytes, index: int) -> bytes:
    """``blob`` with noisy 12-bit pixels (about 400 KB once compressed, not 40 KB), JPEG-LS Lossless,
    under new study/series/instance UIDs."""
    import numpy as np
    import pydicom
    from pydicom.uid import generate_uid

    ds = pydicom.dcmread(io.BytesIO(blob))
    noise = np.random.default_rng(index).integers(0, 4096, size=(ds.Rows, ds.Columns), dtype=np.uint16)
    ds.PixelData = noise.astype("<u2").tobytes()
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["curl-bench-jls-study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["curl-bench-jls-series"])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[f"jls-{index}"])
    ds.compress(JPEG_LS_LOSSLESS, encoding_plugin="pyjpegls")
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def curl(server: Server, path: str, accept: str) -> tuple[float, int]:
    """(seconds, bytes) of one GET with curl; raises SetupError unless it answered 200."""
    user, password = server.auth
    done = subprocess.run(["curl", "-s", "-o", "/dev/null", "-u", f"{user}:{password}", "-H", f"Accept: {accept}",
                           "-H", "Accept-Encoding: identity",
                           "-w", "%{http_code} %{size_download} %{time_total}", server.dicomweb_url + path],
                          stdout=subprocess.PIPE, text=True, timeout=600)
    code, size, total = done.stdout.split()
    if code != "200":
        raise SetupError(f"{server.name}: GET {path} ({accept}) answered {code}")
    return float(total), int(size)


def peak_rss_mb(pid: int) -> float:
    """VmHWM of ``pid`` and its children (the gunicorn worker), the largest, in MB."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            pids += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    peak = 0
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
    return peak / 1024


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--slices", type=int, default=200)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--build", help="Orthanc builds separated by commas: bookworm, trixie or bookworm,trixie "
                                   "(scripts/orthanc.py start --build; default: its default)")
    p.add_argument("--mock-server", default="gunicorn", help="comma-separated --server values of the mock")
    p.add_argument("--no-orthanc", action="store_true", help="the mock only")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    try:
        builds = parse_builds(args.build)
    except ValueError as exc:
        p.error(str(exc))
    if shutil.which("curl") is None:
        print("curl_throughput: error: curl is not installed", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="curl-throughput-"))
    orthancs = [] if args.no_orthanc else [OrthancProcess(work / f"orthanc-{b or 'default'}", build=b)
                                           for b in builds]
    mocks: list[MockProcess] = []
    try:
        plan = study_population(1, tag="curl")[0]
        native = list(series_files(plan, args.slices))
        compressed = [jpeg_ls(blob, i) for i, blob in enumerate(native)]
        auth = ("bench", "bench")
        servers: list[tuple[Server, MockProcess | None]] = []
        for orthanc in orthancs:
            servers.append((orthanc.start(free_port()), None))
        if orthancs:
            auth = orthancs[0].credentials
        config = work / "mock.json"
        mock_config(config, auth)
        for name in args.mock_server.split(","):
            mock = MockProcess(work / f"store-{name}", config, work / f"mock-{name}.log",
                               extra_args=["--server", name])
            mocks.append(mock)
            servers.insert(0, (mock.start(auth), mock))
        for server, _ in servers:
            stow(server, native, 20)
            stow(server, compressed, 20)
        time.sleep(2)  # Orthanc's StableAge
        import pydicom

        jls = pydicom.dcmread(io.BytesIO(compressed[0]), stop_before_pixels=True)
        series = f"studies/{plan.study_uid}/series/{plan.series_uid}"
        jls_series = f"studies/{jls.StudyInstanceUID}/series/{jls.SeriesInstanceUID}"
        cases = {
            "default (Explicit VR LE)": (series, 'multipart/related; type="application/dicom"'),
            "ts=*": (series, 'multipart/related; type="application/dicom"; transfer-syntax=*'),
            "jpeg-ls as stored": (jls_series, f'multipart/related; type="application/dicom"; '
                                              f'transfer-syntax={JPEG_LS_LOSSLESS}'),
        }
        times: dict[tuple[str, str], list[float]] = {}
        sizes: dict[tuple[str, str], int] = {}
        for round_ in range(args.repeat + 1):
            shift = round_ % len(servers)
            order = servers[shift:] + servers[:shift]
            for case, (path, accept) in cases.items():
                for server, _ in order:
                    seconds, size = curl(server, path, accept)
                    if round_:  # round 0 warms the page cache and the connections' code paths
                        times.setdefault((server.name, case), []).append(seconds)
                    sizes[(server.name, case)] = size
        print(f"# curl, {args.slices}-slice 512x512 CT series, median of {args.repeat} (servers taking turns); "
              f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}\n")
        print("| case | " + " | ".join(s.name for s, _ in servers) + " |")
        print("|---|" + "---:|" * len(servers))
        report: dict = {"slices": args.slices, "repeat": args.repeat, "cases": {}}
        for case in cases:
            cells = []
            for server, _ in servers:
                median = statistics.median(times[(server.name, case)])
                size = sizes[(server.name, case)]
                cells.append(f"{size / median / 1e9:.2f} GB/s ({size / 1e6:.0f} MB, {median * 1000:.0f} ms)")
                report["cases"].setdefault(case, {})[server.name] = {"bytes": size, "median_s": median,
                                                                      "gb_per_s": size / median / 1e9}
            print(f"| {case} | " + " | ".join(cells) + " |")
        for server, mock in servers:
            if mock is not None and mock.process is not None:
                rss = peak_rss_mb(mock.process.pid)
                report.setdefault("mock_peak_rss_mb", {})[server.name] = rss
                print(f"\n{server.name}: peak RSS {rss:.0f} MB")
        if args.json:
            args.json.write_text(json.dumps(report, indent=2))
    except SetupError as exc:
        print(f"curl_throughput: error: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_all(mocks, orthancs, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
