"""Scale: QIDO-RS latency at 10,000 and 100,000 instances, STOW-RS ingest rate over 2,000 instances.

    python3 bench/scale.py [--sizes 10000,100000] [--million] [--repeat 20] [--fill-workers 2]
                           [--stow-instances 2000] [--skip-stow] [--skip-qido] [--data-dir DIR] [--keep]

``--million`` adds 1,000,000 instances to the sizes (3.8 ms of CPU per instance
to fill, so about 1 h on 2 free cores, and 6.2 GB of disk; keep it with ``--data-dir``).

For each size N the script fills a DiskStore with N tiny CT instances (N/10
one-series studies of 10 instances; 10 of them are "marker" studies of the
patient surname ZYZZYVA, see ``synthetic.marker_population``), starts
``python -m dicomweb_mock --store DIR --no-fixtures`` on it as a child process
and times QIDO-RS requests (PS3.18 10.6) over HTTP.  Every indexed query
returns the same number of results at every size, so its latency should stay
flat (a leading-wildcard name query too: it goes through the name 3-grams);
only the unfiltered searches grow, with the results they return.

The STOW-RS part (PS3.18 10.5) posts 2,000 64x64 instances to an empty mock,
50 per request and then 1 per request, and prints instances/s and MB/s.

A measurement, not a test: nothing is asserted.  The store is written through
``DiskStore.add`` (in parallel processes, which the store supports: SQLite
serialises the index writes, file names are unique); ``--data-dir`` keeps the
filled stores and reuses one holding the right count (refill after a schema
change of the index).
"""

from __future__ import annotations

import argparse
import io
import multiprocessing as mp
import os
import queue
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import requests

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.synthetic import (InstanceFactory, StudyPlan, ct_instance, marker_population,  # noqa: E402
                             study_population)

INSTANCES_PER_STUDY = 10
MARKERS = 10
JSON = {"Accept": "application/dicom+json"}


# -- the mock as a child process ------------------------------------------------------------------
def proc_status_kb(pid: int, field: str) -> int:
    """A ``kB`` field of ``/proc/PID/status`` (VmRSS: resident now, VmHWM: peak resident)."""
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


class MockProcess:
    """``python -m dicomweb_mock --store DIR --no-fixtures --port 0`` run as a child process."""

    def __init__(self, store: Path, *, config: Path | None = None, timeout: float = 900.0):
        args = [sys.executable, "-m", "dicomweb_mock", "--store", str(store), "--no-fixtures", "--port", "0"]
        if config is not None:
            args += ["--config", str(config)]
        self.stderr = tempfile.TemporaryFile()
        started = time.perf_counter()
        self.proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.pid = self.proc.pid
        self.banner = ""
        self.dicomweb_url = ""
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # the banner ends with the root URL once the server listens
            self.banner += line
            if "DICOMweb root:" in line:
                self.dicomweb_url = line.split("DICOMweb root:", 1)[1].strip()
                break
            if time.monotonic() > deadline:
                break
        if not self.dicomweb_url:
            self.stop()
            self.stderr.seek(0)
            raise RuntimeError(f"the mock did not start: {self.banner}{self.stderr.read().decode()[-2000:]}")
        self.startup_s = time.perf_counter() - started
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def rss_kb(self) -> int:
        return proc_status_kb(self.pid, "VmRSS")

    def hwm_kb(self) -> int:
        return proc_status_kb(self.pid, "VmHWM")

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server so far (``/proc/PID/stat`` fields 14 and 15)."""
        with open(f"/proc/{self.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()

    def __enter__(self) -> "MockProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- filling a store ------------------------------------------------------------------------------
def population(n_instances: int) -> tuple[list[StudyPlan], list[StudyPlan]]:
    """(ordinary studies, marker studies) holding ``n_instances`` instances in all."""
    n_studies = n_instances // INSTANCES_PER_STUDY
    if n_studies <= 2 * MARKERS:
        raise ValueError(f"size {n_instances} is too small (at least {(2 * MARKERS + 1) * INSTANCES_PER_STUDY})")
    return study_population(n_studies - MARKERS, tag="scale"), marker_population(MARKERS)


def _fill_worker(root: str, plans: list[StudyPlan], barrier: Any, out: Any) -> None:
    from dicomweb_mock.store.disk import DiskStore
    store = DiskStore(root)  # any crash recovery runs here, before a worker writes (barrier)
    make = InstanceFactory()
    barrier.wait()
    for plan in plans:
        for number in range(1, INSTANCES_PER_STUDY + 1):
            store.add(io.BytesIO(make(plan, number)))
    store.close()
    out.put(len(plans) * INSTANCES_PER_STUDY)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fill_store(root: Path, plans: list[StudyPlan], workers: int) -> tuple[float, float]:
    """Store every plan's instances through ``DiskStore.add`` in ``workers`` processes.

    Returns (wall seconds, CPU seconds of the workers): the CPU time per instance does
    not depend on what else the machine runs, the wall time does.
    """
    from dicomweb_mock.store.disk import DiskStore
    DiskStore(root).close()  # creates the directories and the index schema once
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(workers + 1), ctx.Queue()
    procs = [ctx.Process(target=_fill_worker, args=(str(root), plans[k::workers], barrier, out))
             for k in range(workers)]
    cpu_before = _children_cpu()
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    stored, done = 0, 0
    while done < workers:
        try:
            stored += out.get(timeout=1.0)
            done += 1
        except queue.Empty:
            failed = [p.exitcode for p in procs if p.exitcode]
            if failed:
                raise RuntimeError(f"a fill worker failed with exit code {failed[0]}") from None
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
        if p.exitcode:
            raise RuntimeError(f"a fill worker failed with exit code {p.exitcode}")
    if stored != len(plans) * INSTANCES_PER_STUDY:
        raise RuntimeError(f"stored {stored} instances, expected {len(plans) * INSTANCES_PER_STUDY}")
    return elapsed, _children_cpu() - cpu_before


def stored_count(root: Path) -> int:
    """Instances in the index of ``root`` (0 when there is none)."""
    import sqlite3
    if not (root / "index.sqlite").exists():
        return 0
    with sqlite3.connect(root / "index.sqlite") as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
        except sqlite3.Error:
            return 0


# -- timing ---------------------------------------------------------------------------------------
def timed(http: requests.Session, url: str, repeat: int, headers: dict[str, str]) -> tuple[list[float], int]:
    """Times in ms of ``repeat`` GETs (after one warm-up) and the number of JSON results."""
    def once() -> tuple[float, int]:
        t0 = time.perf_counter()
        r = http.get(url, headers=headers)
        body = r.content
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code == 204:
            return ms, 0
        if r.status_code != 200:
            raise RuntimeError(f"GET {url}: HTTP {r.status_code} {r.text[:200]}")
        return ms, len(r.json()) if body else 0
    _, count = once()
    return [once()[0] for _ in range(repeat)], count


def p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]


def qido_queries(plans: list[StudyPlan], markers: list[StudyPlan]) -> list[tuple[str, str]]:
    """(label, path below the DICOMweb root) of every timed query."""
    mid = plans[len(plans) // 2]
    # Ten consecutive days from 2015-03-01: studies 59..68 of every population.
    return [
        ("studies?PatientName=ZYZZYVA* (prefix)", f"studies?PatientName={markers[0].patient_name.split('^')[0]}*"),
        ("studies?StudyDate=20150301-20150310", "studies?StudyDate=20150301-20150310"),
        ("studies?StudyInstanceUID=<one>", f"studies?StudyInstanceUID={mid.study_uid}"),
        ("studies/{st}/series/{se}/instances", f"studies/{mid.study_uid}/series/{mid.series_uid}/instances"),
        ("studies/{st}/series?Modality=CT", f"studies/{mid.study_uid}/series?Modality=CT"),
        ("studies?limit=10", "studies?limit=10"),
        ("studies?PatientName=*ZZYVA* (leading *)", "studies?PatientName=*ZZYVA*"),
        ("studies (all, no limit)", "studies"),
    ]


def run_size(n: int, args: argparse.Namespace, work: Path) -> dict[str, tuple[int, float, float]]:
    """Fill (or reuse) a store of ``n`` instances, serve it, time the queries."""
    plans, markers = population(n)
    root = work / f"store-{n}"
    have = stored_count(root)
    if have == n:
        print(f"[{n}] reusing the store in {root} ({have} instances)", flush=True)
    else:
        if root.exists():
            shutil.rmtree(root)
        workers = max(1, args.fill_workers)
        print(f"[{n}] filling {root} with {n} instances via DiskStore.add in {workers} process(es)...", flush=True)
        elapsed, cpu = fill_store(root, markers + plans, workers)
        size_mb = sum(f.stat().st_size for f in (root / "files").rglob("*.dcm")) / 1e6
        print(f"[{n}] fill: {elapsed:.1f} s, {n / elapsed:.0f} instances/s ({size_mb:.0f} MB of files); "
              f"worker CPU {cpu * 1000 / n:.1f} ms per instance", flush=True)
    results: dict[str, tuple[int, float, float]] = {}
    files_mb = sum(f.stat().st_size for f in (root / "files").rglob("*.dcm")) / 1e6
    index_mb = sum(f.stat().st_size for f in root.glob("index.sqlite*")) / 1e6
    print(f"[{n}] disk: {files_mb:.0f} MB of files, index {index_mb:.0f} MB "
          f"({index_mb * 1e6 / n:.0f} bytes per instance)", flush=True)
    with MockProcess(root) as mock, requests.Session() as http:
        print(f"[{n}] mock start-up {mock.startup_s:.1f} s: {mock.banner.splitlines()[0]}", flush=True)
        for label, path in qido_queries(plans, markers):
            times, count = timed(http, mock.dicomweb_url + path, args.repeat, JSON)
            results[label] = (count, statistics.median(times), p90(times))
            print(f"[{n}] {label:<42} {count:>6} results  median {results[label][1]:9.1f} ms"
                  f"  p90 {results[label][2]:9.1f} ms", flush=True)
    return results


def print_qido_table(sizes: list[int], table: dict[int, dict[str, tuple[int, float, float]]]) -> None:
    first, last = sizes[0], sizes[-1]
    head = f"{'query':<42} {'results':>13}" + "".join(f" {'ms@' + _k(n):>10} {'p90@' + _k(n):>10}" for n in sizes)
    print("\nQIDO-RS latency (median and p90 of the repeats, ms)\n" + head + f" {'growth':>7}")
    for label in table[first]:
        counts = "/".join(str(table[n][label][0]) for n in sizes)
        cells = "".join(f" {table[n][label][1]:>10.1f} {table[n][label][2]:>10.1f}" for n in sizes)
        growth = table[last][label][1] / table[first][label][1]
        print(f"{label:<42} {counts:>13}{cells} {growth:>6.1f}x")


def _k(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


# -- STOW-RS ingest -------------------------------------------------------------------------------
def multipart_body(blobs: list[bytes], boundary: str) -> bytes:
    """A ``multipart/related; type="application/dicom"`` body (PS3.18 8.6.1.2) of ``blobs``."""
    out = io.BytesIO()
    for blob in blobs:
        out.write(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode())
        out.write(blob)
        out.write(b"\r\n")
    out.write(f"--{boundary}--".encode())
    return out.getvalue()


def batches(items: list[bytes], size: int) -> Iterator[list[bytes]]:
    for k in range(0, len(items), size):
        yield items[k:k + size]


def stow_run(blobs: list[bytes], per_request: int, work: Path) -> tuple[float, int, float]:
    """POST ``blobs`` to a fresh empty mock, ``per_request`` per STOW request.

    Returns (wall seconds, body bytes, server CPU seconds).
    """
    boundary = "bench-scale-stow-boundary"
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}', **JSON}
    bodies = [multipart_body(b, boundary) for b in batches(blobs, per_request)]
    root = work / f"stow-{per_request}"
    with MockProcess(root) as mock, requests.Session() as http:
        url = mock.dicomweb_url + "studies"
        cpu_before = mock.cpu_seconds()
        started = time.perf_counter()
        for body, batch in zip(bodies, batches(blobs, per_request)):
            r = http.post(url, data=body, headers=headers)
            stored = len(r.json().get("00081199", {}).get("Value", [])) if r.status_code in (200, 202) else 0
            if r.status_code != 200 or stored != len(batch):
                raise RuntimeError(f"STOW: HTTP {r.status_code}, {stored}/{len(batch)} stored: {r.text[:300]}")
        elapsed = time.perf_counter() - started
        cpu = mock.cpu_seconds() - cpu_before
    return elapsed, sum(len(b) for b in bodies), cpu


def run_stow(args: argparse.Namespace, work: Path) -> None:
    plans = study_population(args.stow_instances // 100 + 1, tag="scale-stow")
    blobs = [ct_instance(plans[k // 100], k % 100 + 1, rows=64, columns=64) for k in range(args.stow_instances)]
    print(f"\nSTOW-RS ingest: {len(blobs)} instances of 64x64 (16-bit), {sum(map(len, blobs)) / 1e6:.1f} MB "
          "of Part 10, each run on a fresh empty mock")
    print(f"{'instances per request':<24} {'requests':>9} {'seconds':>9} {'instances/s':>12} {'MB/s':>7}"
          f" {'server CPU ms/instance':>23}")
    for per_request in (50, 1):
        elapsed, nbytes, cpu = stow_run(blobs, per_request, work)
        print(f"{per_request:<24} {-(-len(blobs) // per_request):>9} {elapsed:>9.1f} {len(blobs) / elapsed:>12.0f}"
              f" {nbytes / 1e6 / elapsed:>7.2f} {cpu * 1000 / len(blobs):>23.1f}", flush=True)


@contextmanager
def scratch_dir(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A temporary working directory, removed at the end unless ``keep``."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="instance counts, comma-separated")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 instances (long: see above)")
    parser.add_argument("--repeat", type=int, default=20, help="timed requests per query (default 20)")
    parser.add_argument("--fill-workers", type=int, default=2, help="processes filling the store (default 2)")
    parser.add_argument("--stow-instances", type=int, default=2000)
    parser.add_argument("--skip-stow", action="store_true")
    parser.add_argument("--skip-qido", action="store_true")
    parser.add_argument("--data-dir", type=Path, help="keep the stores here and reuse those of the right size")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    try:
        sizes = sorted({int(s) for s in args.sizes.split(",") if s.strip()} | ({1_000_000} if args.million else set()))
    except ValueError:
        parser.error(f"--sizes must be integers separated by commas, got {args.sizes!r}")
    if not sizes or args.repeat < 1 or args.stow_instances < 1:
        parser.error("--sizes, --repeat and --stow-instances must be positive")
    with scratch_dir("bench-scale-", keep=args.keep) as work:
        data = args.data_dir or work
        data.mkdir(parents=True, exist_ok=True)
        if not args.skip_qido:
            table = {n: run_size(n, args, data) for n in sizes}
            print_qido_table(sizes, table)
        if not args.skip_stow:
            run_stow(args, work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
