"""Benchmark the mock against a local Orthanc on the same synthetic data; print median times and ratios.

    python3 bench/compare_orthanc.py [--studies 1000] [--repeat 15] [--only OP,...] [--json FILE]
                                     [--throughput [--workers 4] [--threads 8] [--seconds 10]]
                                     [--profile-mock OUT.prof] [--build bookworm,trixie] [--keep]

Starts Orthanc + DICOMweb plugin (``scripts/orthanc.py``, fresh temporary
``--dir``; one Orthanc per build named in ``--build``, all running side by
side) and the mock (``python3 -m dicomweb_mock --store DIR --no-fixtures``,
with the first Orthanc's HTTP Basic credentials: every server checks its own
on every request), loads each with the very same bytes through STOW-RS
(PS3.18 10.5): ``--studies`` one-instance studies (tiny 8x8 CT) and one
50-slice 512x512 CT series (26 MB).  Then each operation is timed
``--repeat`` times per server after 2 warm-up requests each, the servers
taking turns (the one that goes first rotates too), over keep-alive
``requests`` sessions from this one process.  OP is one of: qido-pn,
qido-date (a date range with ``limit=100``), qido-all (every study),
qido-instances (QIDO-RS 10.6), wado-series, metadata, frame (WADO-RS 10.4),
stow (STOW-RS 10.5).  Every STOW repetition sends 20 new 512x512 instances (a
new study each time, the same bytes to every server; nothing is deleted).

Target (ratio of medians, mock/Orthanc, against each build): <= 1.0x for
every operation.  A measurement, not a test: the exit code is 0 whether or
not targets are met, non-zero only when a server cannot be started or loaded.
``--throughput`` adds requests/s under C concurrent clients running the QIDO
searches, metadata and frame for T seconds: each Orthanc, the mock as
started, and (if ``python3 -m dicomweb_mock --help`` lists ``--workers``) the
mock with 1 and N worker processes on the same store.  ``--build`` names the
Debian builds of Orthanc to start, separated by commas (``scripts/orthanc.py
start --build``; without it, that script's default).  ``--profile-mock``
serves the mock through ``bench/_profile_mock.py`` (cProfile on every handler
thread; times are then inflated) and prints its hot spots.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import pstats
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._servers import (MockProcess, OrthancProcess, Server, SetupError, mock_config,  # noqa: E402
                            mock_supports_workers, multipart_related, parse_builds, stow)
from bench._throughput import LoadResult, mixed_read_load  # noqa: E402
from bench.synthetic import InstanceFactory, StudyPlan, ct_instance, series_files, study_population, uid  # noqa: E402

SERIES_SLICES = 50
STOW_INSTANCES = 20
FRAME_INSTANCE = 25
WARMUP = 2
DICOM_JSON = "application/dicom+json"
DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
OCTETS_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
QIDO_LIMIT = 100
OPS = ("qido-pn", "qido-date", "qido-all", "qido-instances", "wado-series", "metadata", "frame", "stow")


class OpFailed(RuntimeError):
    """A server answered an operation with an error: the operation is reported, not timed."""


@dataclass
class Operation:
    """One timed request: GET ``path`` with ``accept``, or POST the body ``body(k)`` of repetition k."""

    key: str
    label: str
    target: float
    path: str
    accept: str
    summary: Callable[[requests.Response], float]
    unit: str = ""
    body: Callable[[int], tuple[bytes, str]] | None = None
    tolerance: float = 0.0
    times: dict[str, list[float]] = field(default_factory=dict)
    results: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def _count(r: requests.Response) -> float:
    return float(len(r.json())) if r.status_code == 200 else 0.0


def _megabytes(r: requests.Response) -> float:
    return round(len(r.content) / 1e6, 2)


def _stored(r: requests.Response) -> float:
    return float(len((r.json().get("00081199") or {}).get("Value") or []))


def _first_part_length(r: requests.Response) -> float:
    """Byte length of the first part of a multipart/related answer (the frame's pixel data)."""
    params = dict(p.strip().split("=", 1) for p in r.headers.get("Content-Type", "").split(";")[1:] if "=" in p)
    boundary = params.get("boundary", "").strip('"').encode()
    if not boundary:
        raise OpFailed(f"no multipart boundary in Content-Type {r.headers.get('Content-Type')!r}")
    part = r.content.split(b"--" + boundary)[1]
    _, _, payload = part.partition(b"\r\n\r\n")
    return float(len(payload[:-2] if payload.endswith(b"\r\n") else payload))


@dataclass
class Dataset:
    """The synthetic data set loaded into both servers."""

    population: list[StudyPlan]
    series: StudyPlan
    tiny: list[bytes]
    slices: list[bytes]

    @property
    def frame_sop(self) -> str:
        return uid(self.series.study_uid, "instance", FRAME_INSTANCE)


def make_dataset(studies: int) -> Dataset:
    """``studies`` tiny one-instance studies and the 50-slice series (its own patient and date, outside the searches)."""
    population = study_population(studies)  # tag "bench": its IDs fit InstanceFactory's widths
    factory = InstanceFactory()
    series = StudyPlan(studies, "CMP-SERIES", "SERIES^BIG", "20240601", uid("cmp", "big-study"),
                       uid("cmp", "big-series"))
    return Dataset(population, series, [factory(p, 1) for p in population], list(series_files(series, SERIES_SLICES)))


def stow_body(k: int) -> tuple[bytes, str]:
    """The STOW request of repetition ``k``: 20 new 512x512 instances in a study of their own."""
    plan = StudyPlan(5000 + k, f"CMP-STOW{k:04d}", f"STOW^R{k}", "20300101", uid("cmp", "stow-study", k),
                     uid("cmp", "stow-series", k))
    return multipart_related([ct_instance(plan, n) for n in range(1, STOW_INSTANCES + 1)])


def operations(data: Dataset) -> list[Operation]:
    """The timed operations, keyed as in ``--only``."""
    smith = sum(p.patient_name.startswith("SMITH^") for p in data.population)
    window = data.population[len(data.population) // 4:]  # 750 of 1,000 studies match, limit 100
    s, se = data.series.study_uid, data.series.series_uid
    return [
        Operation("qido-pn", f"QIDO studies?PatientName=SMITH* ({smith} expected)", 1.0,
                  "studies?PatientName=SMITH*", DICOM_JSON, _count),
        Operation("qido-date", f"QIDO studies?StudyDate=range&limit={QIDO_LIMIT} ({len(window)} match, "
                  f"{min(QIDO_LIMIT, len(window))} expected)", 1.0,
                  f"studies?StudyDate={window[0].study_date}-{window[-1].study_date}&limit={QIDO_LIMIT}", DICOM_JSON,
                  _count),
        Operation("qido-all", f"QIDO all studies ({len(data.population) + 1} expected)", 1.0, "studies", DICOM_JSON,
                  _count),
        Operation("qido-instances", f"QIDO instances of the series ({SERIES_SLICES})", 1.0,
                  f"studies/{s}/series/{se}/instances", DICOM_JSON, _count),
        Operation("wado-series", "WADO-RS series retrieve, as stored", 1.0,
                  f"studies/{s}/series/{se}", DICOM_ANY, _megabytes, " MB", tolerance=0.02),
        Operation("metadata", "WADO-RS series metadata (JSON)", 1.0,
                  f"studies/{s}/series/{se}/metadata", DICOM_JSON, _count),
        Operation("frame", f"WADO-RS frame 1 of instance {FRAME_INSTANCE}", 1.0,
                  f"studies/{s}/series/{se}/instances/{data.frame_sop}/frames/1", OCTETS_ANY, _first_part_length,
                  " B"),
        Operation("stow", f"STOW-RS {STOW_INSTANCES} x 512x512, one request", 1.0, "studies", DICOM_JSON, _stored,
                  body=stow_body),
    ]


def _request(server: Server, op: Operation, body: tuple[bytes, str] | None) -> tuple[float, float]:
    """One timed request (until the whole answer is read); returns seconds and the answer's summary."""
    url = server.dicomweb_url + op.path
    started = time.perf_counter()
    if body is None:
        r = server.session.get(url, headers={"Accept": op.accept}, timeout=300)
    else:
        r = server.session.post(url, data=body[0], headers={"Accept": op.accept, "Content-Type": body[1]},
                                timeout=300)
    r.content  # noqa: B018 - read the whole body inside the timed region
    elapsed = time.perf_counter() - started
    if r.status_code != 200:
        raise OpFailed(f"{server.name} answered {r.status_code}: {r.text[:200]!r}")
    return elapsed, op.summary(r)


def time_operation(op: Operation, servers: list[Server], repeat: int) -> None:
    """Warm up, then ``repeat`` rounds in which the servers take turns (the first one rotates);
    fills ``op.times``/``results``."""
    op.times = {s.name: [] for s in servers}
    for k in range(WARMUP + repeat):
        body = op.body(k) if op.body else None
        shift = k % len(servers)
        order = servers[shift:] + servers[:shift]
        for server in order:
            elapsed, summary = _request(server, op, body)
            op.results[server.name] = summary
            if k >= WARMUP:
                op.times[server.name].append(elapsed * 1000)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarize(op: Operation, mock: str, orthancs: list[str]) -> dict:
    """The figures of one operation for the table and the JSON file: the mock's, and each Orthanc's
    with the ratio mock/Orthanc."""
    row: dict = {"operation": op.key, "label": op.label, "target": op.target}
    if op.error:
        row["error"] = op.error
        return row
    m = op.times[mock]
    row.update(mock_median_ms=statistics.median(m), mock_p90_ms=percentile(m, 0.9), mock_result=op.results.get(mock),
               orthanc={})
    for name in orthancs:
        o = op.times[name]
        median, result = statistics.median(o), op.results.get(name)
        a = row["mock_result"]
        row["orthanc"][name] = {
            "median_ms": median, "p90_ms": percentile(o, 0.9), "result": result,
            "ratio": row["mock_median_ms"] / median, "met": row["mock_median_ms"] / median <= op.target,
            "same_result": abs(a - result) <= op.tolerance * max(a, result)}
    return row


def _fmt(value: float) -> str:
    return f"{value:.1f}" if value >= 10 else f"{value:.2f}"


def print_table(rows: list[dict], ops: list[Operation], orthancs: list[str]) -> None:
    """Medians (ms) of the mock and of each Orthanc, ratios mock/Orthanc, p90s and the answers' summaries."""
    units = {op.key: op.unit for op in ops}
    print("| operation | mock | " + " | ".join(orthancs) + " | " + " | ".join(f"ratio vs {o}" for o in orthancs)
          + " | target met? | p90 mock / " + " / ".join(orthancs) + " | result mock / " + " / ".join(orthancs) + " |")
    print("|---|" + "---:|" * (1 + 2 * len(orthancs)) + "---|---:|---|")
    for r in rows:
        target = f"≤{r['target']:.1f}x"
        if "error" in r:
            print(f"| {r['label']} |" + " |" * (1 + 2 * len(orthancs)) + f" {target}: error | | {r['error']} |")
            continue
        u = units[r["operation"]]
        figures = [r["orthanc"][o] for o in orthancs]
        met = "yes" if all(f["met"] for f in figures) else "no"
        same = all(f["same_result"] for f in figures)
        print(f"| {r['label']} | {_fmt(r['mock_median_ms'])} | " + " | ".join(_fmt(f["median_ms"]) for f in figures)
              + " | " + " | ".join(f"{f['ratio']:.2f}x" for f in figures) + f" | {target} {met} | "
              + " / ".join(_fmt(v) for v in [r["mock_p90_ms"], *(f["p90_ms"] for f in figures)]) + " | "
              + " / ".join(f"{v:g}{u}" for v in [r["mock_result"], *(f["result"] for f in figures)])
              + ("" if same else " MISMATCH") + " |")


def load(server: Server, data: Dataset) -> dict:
    """STOW both parts of the data set; returns the (untimed-for-the-table) load durations."""
    started = time.perf_counter()
    stow(server, data.tiny, batch=100)
    tiny = time.perf_counter() - started
    started = time.perf_counter()
    stow(server, data.slices, batch=10)
    return {"tiny_studies_s": round(tiny, 2), "series_s": round(time.perf_counter() - started, 2)}


def throughput(args: argparse.Namespace, servers: list[Server], ops: list[Operation], mock: MockProcess,
               mock_paths: tuple[Path, Path, Path], auth: tuple[str, str]) -> list[LoadResult]:
    """Requests/s of each server under the mixed read load; the mock also with 1 and N worker processes."""
    gets = [(op.path, op.accept) for op in ops if op.key in ("qido-pn", "qido-date", "qido-instances", "metadata",
                                                              "frame")]
    mock_server, orthanc_servers = servers[0], servers[1:]
    results = [mixed_read_load(o, gets, args.threads, args.seconds) for o in orthanc_servers]
    results.append(mixed_read_load(mock_server, gets, args.threads, args.seconds, "mock (as started)"))
    if not mock_supports_workers():
        print("throughput: 'python3 -m dicomweb_mock --help' lists no --workers; multi-process figures skipped")
        return results
    mock.stop()
    store, config, log = mock_paths
    for n in (1, args.workers):
        process = MockProcess(store, config, log, workers=n)
        try:
            results.append(mixed_read_load(process.start(auth), gets, args.threads, args.seconds))
        except SetupError as exc:
            print(f"throughput: {exc}")
        finally:
            process.stop()
    return results


def print_profile(path: Path, top: int = 25) -> None:
    stats = pstats.Stats(str(path))
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", type=int, default=1000, help="one-instance studies to load (default 1000)")
    p.add_argument("--repeat", type=int, default=15, help="timed requests per operation and server (default 15)")
    p.add_argument("--only", default=",".join(OPS), help=f"comma-separated operations among {','.join(OPS)}")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.add_argument("--throughput", action="store_true", help="also measure requests/s under concurrent load")
    p.add_argument("--workers", type=int, default=4, help="mock worker processes for --throughput (default 4)")
    p.add_argument("--threads", type=int, default=8, help="concurrent client threads for --throughput (default 8)")
    p.add_argument("--seconds", type=float, default=10.0, help="duration of each --throughput run (default 10)")
    p.add_argument("--profile-mock", type=Path, help="profile the mock's request handling into this .prof file")
    p.add_argument("--build", help="Orthanc builds to compare with, separated by commas: bookworm, trixie or "
                                   "bookworm,trixie (scripts/orthanc.py start --build; default: its default)")
    p.add_argument("--keep", action="store_true", help="keep the temporary server directories")
    args = p.parse_args(argv)
    args.only = [o.strip() for o in args.only.split(",") if o.strip()]
    try:
        args.builds = parse_builds(args.build)
    except ValueError as exc:
        p.error(str(exc))
    unknown = sorted(set(args.only) - set(OPS))
    if unknown:
        p.error(f"--only: unknown operation(s) {', '.join(unknown)}; choose among {', '.join(OPS)}")
    if args.studies < 8:
        p.error("--studies must be at least 8 (the date range selects the last three quarters)")
    for name in ("repeat", "workers", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1")
    if args.seconds <= 0:
        p.error("--seconds must be positive")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix="compare-orthanc-"))
    orthancs = [OrthancProcess(workdir / f"orthanc-{build or 'default'}", build=build) for build in args.builds]
    store, config, log = workdir / "mock-store", workdir / "mock.json", workdir / "mock.log"
    mock = MockProcess(store, config, log, profile=args.profile_mock.resolve() if args.profile_mock else None)
    try:
        return run(args, orthancs, mock, (store, config, log))
    except SetupError as exc:
        print(f"compare_orthanc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("compare_orthanc: interrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        mock.stop()
        for orthanc in orthancs:
            orthanc.stop()
        if args.keep:
            print(f"server directories kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        if args.profile_mock and args.profile_mock.exists():
            print(f"\nmock profile written to {args.profile_mock}; hot spots:")
            print_profile(args.profile_mock)


def run(args: argparse.Namespace, orthancs: list[OrthancProcess], mock: MockProcess,
        mock_paths: tuple[Path, Path, Path]) -> int:
    started = time.perf_counter()
    data = make_dataset(args.studies)
    generated = time.perf_counter() - started
    o_servers = [orthanc.start() for orthanc in orthancs]
    auth = orthancs[0].credentials
    mock_config(mock_paths[1], auth)
    m_server = mock.start(auth)
    servers = [m_server, *o_servers]
    m_system = m_server.get_json("/system")
    versions = {o.name: (o.get_json("/system").get("Version"), o.get_json("/plugins/dicom-web").get("Version"))
                for o in o_servers}
    loads = {s.name: load(s, data) for s in servers}
    time.sleep(2)  # let Orthanc's StableAge (1 s) pass before anything is timed
    header = {
        "orthanc": {name: {"version": v, "dicomweb_plugin_version": p} for name, (v, p) in versions.items()},
        "mock_version": m_system.get("Version"), "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}",
        "studies": args.studies, "tiny_instance_bytes": len(data.tiny[0]),
        "series_bytes": sum(map(len, data.slices)), "stow_instances": STOW_INSTANCES, "repeat": args.repeat,
        "profiled": bool(args.profile_mock),
    }
    print(f"# mock ({header['mock_version']}) vs " + "; ".join(f"{name}: Orthanc {v} + DICOMweb plugin {p}"
                                                              for name, (v, p) in versions.items()))
    print(f"Python {header['python']}; {header['machine']}; requests {requests.__version__}")
    print(f"Data: {args.studies} one-instance studies ({header['tiny_instance_bytes']} B each) + one {SERIES_SLICES}"
          f"-slice 512x512 CT series ({header['series_bytes'] / 1e6:.1f} MB), generated in {generated:.1f} s")
    for name, figures in loads.items():
        print(f"Load via STOW-RS into {name}: {args.studies} studies in batches of 100: {figures['tiny_studies_s']} s;"
              f" series in batches of 10: {figures['series_s']} s")
    print(f"Each operation: {WARMUP} warm-up + {args.repeat} timed requests per server, taking turns; STOW: each "
          f"repetition stores {STOW_INSTANCES} new instances (new study, same bytes to each, nothing deleted)")
    if args.profile_mock:
        print("NOTE: the mock runs under cProfile; its times are inflated")
    print()
    ops = [op for op in operations(data) if op.key in args.only]
    for op in ops:
        try:
            time_operation(op, servers, args.repeat)
        except (OpFailed, requests.RequestException) as exc:
            op.error = str(exc)
    names = [o.name for o in o_servers]
    rows = [summarize(op, m_server.name, names) for op in ops]
    print_table(rows, ops, names)
    end_load = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else []
    header["load_average_end"] = " ".join(end_load)
    print(f"\nload average (1, 5, 15 min) after the timings: {header['load_average_end']}")
    report: dict = {"header": header, "load_s": loads, "operations": rows}
    if args.throughput:
        all_ops = operations(data)
        m_server.session.close()
        results = throughput(args, servers, all_ops, mock, mock_paths, auth)
        print(f"\nThroughput, mixed reads (QIDO x3, metadata, frame), {args.threads} client threads, "
              f"{args.seconds:g} s each:\n")
        print("| server | requests/s | requests | errors |\n|---|---:|---:|---:|")
        for r in results:
            print(f"| {r.server} | {r.per_second:.1f} | {r.requests} | {r.errors} |")
        report["throughput"] = [r.as_dict() for r in results]
    if args.json:
        args.json.write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
