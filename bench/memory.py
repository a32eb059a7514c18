"""Memory: peak RSS of the mock while streaming a 1 GB study and while receiving a 500 MB STOW body.

    python3 bench/memory.py [--slices 2000] [--stow-mb 500] [--interval 0.02] [--skip-transcode] [--keep]

Builds a CT study of ``--slices`` 512x512 16-bit slices (2,000 slices are
1.05 GB) in a DiskStore, then, each case on a freshly started
``python -m dicomweb_mock`` child process:

* WADO-RS study retrieve as stored (PS3.18 10.4.1.1.1, ``transfer-syntax=*``),
  the body read in 1 MiB chunks and dropped;
* the same retrieve transcoded to JPEG-LS Lossless (parts made one at a time);
* the study metadata (PS3.18 10.4.1.1.2) and one Pixel Data bulk request (10.4.1.1.5);
* a STOW-RS (PS3.18 10.5) body of ``--stow-mb`` MB, generated part by part from files
  on disk (the client never holds it), sent chunked and then with a Content-Length.

The server's VmRSS is sampled from ``/proc/PID/status`` every ``--interval``
seconds; VmHWM (the kernel's peak) is read at the end of each case.  Nothing is
asserted: the script prints the figures (the issue's budget is 200 MB).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.scale import MockProcess, proc_status_kb, scratch_dir  # noqa: E402
from bench.synthetic import ct_instance, series_files, study_population, write_files  # noqa: E402

BOUNDARY = "bench-memory-stow-boundary"
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
JPEG_LS = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.80'
READ_CHUNK = 1 << 20
BUDGET_MB = 200


class RssSampler:
    """Samples a process's VmRSS in a thread; ``peak_kb`` is the largest value seen."""

    def __init__(self, pid: int, interval: float):
        self.pid, self.interval = pid, interval
        self.peak_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_kb = max(self.peak_kb, proc_status_kb(self.pid, "VmRSS"))
                self.samples += 1
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "RssSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class Case:
    """One measured request on a fresh server."""

    name: str
    baseline_kb: int
    peak_kb: int
    hwm_kb: int
    nbytes: int
    seconds: float
    note: str = ""


def idle_rss_kb(mock: MockProcess, seconds: float = 0.5) -> int:
    """VmRSS of the idle server (the largest of a few samples)."""
    values = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        values.append(mock.rss_kb())
        time.sleep(0.05)
    return max(values)


def measure(name: str, store: Path, action: Callable[[str], tuple[int, str]], interval: float,
            config: Path | None) -> Case:
    """Start a fresh mock on ``store``, run ``action(dicomweb_url)`` -> (bytes, note) while sampling."""
    with MockProcess(store, config=config) as mock:
        baseline = idle_rss_kb(mock)
        with RssSampler(mock.pid, interval) as sampler:
            started = time.perf_counter()
            nbytes, note = action(mock.dicomweb_url)
            seconds = time.perf_counter() - started
        case = Case(name, baseline, sampler.peak_kb, mock.hwm_kb(), nbytes, seconds, note)
    print(f"  {name}: {nbytes / 1e6:.0f} MB in {seconds:.1f} s, peak RSS {case.peak_kb / 1024:.0f} MB "
          f"(VmHWM {case.hwm_kb / 1024:.0f} MB, idle {baseline / 1024:.0f} MB) {note}", flush=True)
    return case


# -- retrieve side ---------------------------------------------------------------------------------
def stream_get(url: str, accept: str) -> tuple[int, str]:
    """GET ``url`` reading the body in chunks and dropping them; (bytes, note)."""
    with requests.get(url, headers={"Accept": accept}, stream=True, timeout=600) as r:
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: HTTP {r.status_code} {r.text[:200]}")
        total = sum(len(chunk) for chunk in r.iter_content(READ_CHUNK))
        length = r.headers.get("Content-Length")
    return total, f"[Content-Length {'absent' if length is None else 'sent'}]"


def build_study(store_dir: Path, slices: int) -> tuple[str, str, str, float]:
    """A ``slices``-slice 512x512 CT study stored through DiskStore.add; (study, series, sop, seconds)."""
    from dicomweb_mock.store.disk import DiskStore
    plan = study_population(1, tag="memory")[0]
    store = DiskStore(store_dir)
    started = time.perf_counter()
    first_sop = ""
    for number in range(1, slices + 1):
        result = store.add(io.BytesIO(ct_instance(plan, number)))
        first_sop = first_sop or result.record.sop_instance_uid
    store.close()
    return plan.study_uid, plan.series_uid, first_sop, time.perf_counter() - started


# -- STOW side ---------------------------------------------------------------------------------------
class LazyBody:
    """A multipart/related STOW body read from files part by part; ``len()`` is its exact size."""

    def __init__(self, files: list[Path]):
        self.files = files

    @staticmethod
    def head() -> bytes:
        return f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode()

    @staticmethod
    def tail() -> bytes:
        return f"--{BOUNDARY}--".encode()

    def __len__(self) -> int:
        return sum(len(self.head()) + f.stat().st_size + 2 for f in self.files) + len(self.tail())

    def __iter__(self) -> Iterator[bytes]:
        for path in self.files:
            yield self.head()
            with open(path, "rb") as fh:
                while chunk := fh.read(READ_CHUNK):
                    yield chunk
            yield b"\r\n"
        yield self.tail()


def post_stow(url: str, files: list[Path], *, chunked: bool) -> tuple[int, str]:
    """POST the lazily generated body, chunked or with a Content-Length; (body bytes, note)."""
    body = LazyBody(files)
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
               "Accept": "application/dicom+json"}
    data = iter(body) if chunked else body  # a bare generator has no length: requests sends it chunked
    r = requests.post(url + "studies", data=data, headers=headers, timeout=1800)
    sent = r.request.headers.get("Content-Length") or r.request.headers.get("Transfer-Encoding")
    stored = len(r.json().get("00081199", {}).get("Value", [])) if r.status_code in (200, 202) else 0
    failed = len(r.json().get("00081198", {}).get("Value", [])) if r.status_code in (200, 202, 400, 409) else 0
    return len(body), f"[HTTP {r.status_code}, {stored}/{len(files)} stored, {failed} failed; sent as {sent}]"


def print_summary(cases: list[Case]) -> None:
    print(f"\n{'case':<46} {'MB':>6} {'s':>6} {'MB/s':>6} {'idle MB':>8} {'peak MB':>8} {'VmHWM MB':>9}  <200 MB")
    for c in cases:
        print(f"{c.name:<46} {c.nbytes / 1e6:>6.0f} {c.seconds:>6.1f} {c.nbytes / 1e6 / c.seconds:>6.1f} "
              f"{c.baseline_kb / 1024:>8.0f} {c.peak_kb / 1024:>8.0f} {c.hwm_kb / 1024:>9.0f}  "
              f"{'yes' if c.hwm_kb / 1024 < BUDGET_MB else 'NO'}")


def body_limit_config(work: Path, nbytes: int) -> Path | None:
    """A --config raising MaximumBodySize when its default is below ``nbytes``."""
    from dicomweb_mock.config import Settings
    default = Settings().max_body_size
    if default == 0 or default >= 2 * nbytes:
        return None
    path = work / "config.json"
    path.write_text(json.dumps({"MaximumBodySize": 2 * nbytes}))
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=2000, help="slices of the retrieved study (default 2000)")
    parser.add_argument("--stow-mb", type=int, default=500, help="size of the STOW body in MB (default 500)")
    parser.add_argument("--interval", type=float, default=0.02, help="RSS sampling period in s (default 0.02)")
    parser.add_argument("--skip-transcode", action="store_true", help="skip the JPEG-LS transcoded retrieve")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    if args.slices < 1 or args.stow_mb < 1 or args.interval <= 0:
        parser.error("--slices, --stow-mb and --interval must be positive")
    cases: list[Case] = []
    with scratch_dir("bench-memory-", keep=args.keep) as work:
        store = work / "study-store"
        print(f"storing a {args.slices}-slice 512x512 CT study through DiskStore.add...", flush=True)
        study, series, sop, fill_s = build_study(store, args.slices)
        size = sum(f.stat().st_size for f in (store / "files").rglob("*.dcm"))
        print(f"  {size / 1e6:.0f} MB in {fill_s:.1f} s", flush=True)
        config = body_limit_config(work, max(size, args.stow_mb * 10**6))
        study_url = f"studies/{study}"
        iv = args.interval
        print("retrieve side (a fresh server per case):", flush=True)
        cases.append(measure("WADO-RS study, as stored (transfer-syntax=*)", store,
                             lambda base: stream_get(base + study_url, AS_STORED), iv, config))
        if not args.skip_transcode:
            cases.append(measure("WADO-RS study, transcoded to JPEG-LS", store,
                                 lambda base: stream_get(base + study_url, JPEG_LS), iv, config))
        cases.append(measure("WADO-RS study metadata (JSON)", store,
                             lambda base: stream_get(base + study_url + "/metadata", "application/dicom+json"),
                             iv, config))
        bulk = f"{study_url}/series/{series}/instances/{sop}/bulk/7FE00010"
        cases.append(measure("WADO-RS bulk Pixel Data of one slice", store,
                             lambda base: stream_get(base + bulk, 'multipart/related; type="application/octet-stream"'),
                             iv, config))

        plan = study_population(1, tag="memory-stow")[0]
        one = len(ct_instance(plan, 1))
        count = max(1, args.stow_mb * 10**6 // one)
        print(f"writing {count} slices ({count * one / 1e6:.0f} MB) for the STOW body...", flush=True)
        files = write_files(series_files(plan, count), work / "stow-source")
        print("STOW side (an empty store and a fresh server per case):", flush=True)
        for chunked in (True, False):
            label = "chunked" if chunked else "Content-Length"
            target = work / f"stow-store-{label}"
            cases.append(measure(f"STOW-RS {args.stow_mb} MB body, {label}", target,
                                 lambda base, c=chunked: post_stow(base, files, chunked=c), iv, config))
            shutil.rmtree(target, ignore_errors=True)
        print_summary(cases)
        print(f"client (this script) VmHWM: {proc_status_kb(os.getpid(), 'VmHWM') / 1024:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
