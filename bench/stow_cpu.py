"""STOW-RS cost on the server side: CPU seconds and wall time per request, the mock next to Orthanc.

    python3 bench/stow_cpu.py [--studies 0,1000] [--repeat 10] [--build bookworm,trixie]

Wall time of one request depends on how much of the machine the server gets;
the CPU time it spends (user + system time of the server's processes, read
from ``/proc/PID/stat`` before and after the request, clock ticks of 10 ms)
does not.  For each ``--studies`` count the script starts the mock and one
Orthanc per build (``scripts/orthanc.py start --build``), stores that many
one-instance studies in each, then sends ``--repeat`` STOW-RS requests (PS3.18
10.5) of 20 new 512x512 CT instances each (the request of
``bench/compare_orthanc.py``, the same bytes to every server, the servers
taking turns) after two warm-up requests, and prints the medians.  A
measurement; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._servers import (MockProcess, OrthancProcess, Server, SetupError, mock_config, parse_builds,  # noqa: E402
                            stop_all, stow)
from bench.compare_orthanc import stow_body  # noqa: E402
from bench.synthetic import InstanceFactory, study_population  # noqa: E402

WARMUP = 2
TICKS = os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the mock's gunicorn worker, chroot's Orthanc)."""
    pids, i = [pid], 0
    while i < len(pids):
        for task in Path(f"/proc/{pids[i]}/task").glob("*"):
            try:
                pids += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                pass
        i += 1
    return pids


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of ``pids`` so far (utime and stime of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def measure(studies: int, builds: list[str | None], repeat: int, work: Path) -> dict[str, tuple[list[float], list[float]]]:
    """Start the servers, preload ``studies`` studies, time the STOW requests; (CPU s, wall s) per server."""
    orthancs = [OrthancProcess(work / f"orthanc-{b or 'default'}", build=b) for b in builds]
    mocks: list[MockProcess] = []
    try:
        servers: list[tuple[Server, int]] = []
        for orthanc in orthancs:
            servers.append((orthanc.start(), int(orthanc.state["pid"])))
        auth = orthancs[0].credentials if orthancs else ("bench", "bench")
        mock_config(work / "mock.json", auth)
        mock = MockProcess(work / "mock-store", work / "mock.json", work / "mock.log")
        mocks.append(mock)
        server = mock.start(auth)
        assert mock.process is not None
        servers.insert(0, (server, mock.process.pid))
        if studies:
            factory = InstanceFactory()
            tiny = [factory(plan, 1) for plan in study_population(studies)]
            for s, _ in servers:
                stow(s, tiny, batch=100)
        figures: dict[str, tuple[list[float], list[float]]] = {s.name: ([], []) for s, _ in servers}
        for k in range(WARMUP + repeat):
            body, content_type = stow_body(1000 + k)
            shift = k % len(servers)
            for s, pid in servers[shift:] + servers[:shift]:
                pids = process_tree(pid)
                cpu, started = cpu_seconds(pids), time.perf_counter()
                r = s.session.post(s.dicomweb_url + "studies", data=body, timeout=300,
                                   headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
                wall = time.perf_counter() - started
                time.sleep(0.05)  # work the server finishes after answering is counted too
                if r.status_code != 200:
                    raise SetupError(f"{s.name}: STOW answered {r.status_code}: {r.text[:200]}")
                if k >= WARMUP:
                    figures[s.name][0].append(cpu_seconds(pids) - cpu)
                    figures[s.name][1].append(wall)
        return figures
    finally:
        stop_all(mocks, orthancs, work)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--studies", default="0,1000", help="studies stored before the timed requests, comma-separated")
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--build", default="bookworm,trixie", help="Orthanc builds separated by commas")
    args = p.parse_args(argv)
    try:
        builds = parse_builds(args.build)
        counts = [int(n) for n in args.studies.split(",")]
    except ValueError as exc:
        p.error(str(exc))
    print("| studies stored | server | CPU ms per STOW (median) | wall ms (median) | wall ms (min) | load average |")
    print("|---:|---|---:|---:|---:|---|")
    for n in counts:
        work = Path(tempfile.mkdtemp(prefix="stow-cpu-"))
        try:
            figures = measure(n, builds, args.repeat, work)
        except SetupError as exc:
            print(f"stow_cpu: error: {exc}", file=sys.stderr)
            return 2
        load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
        for name, (cpu, wall) in figures.items():
            print(f"| {n} | {name} | {statistics.median(cpu) * 1000:.0f} | {statistics.median(wall) * 1000:.0f} "
                  f"| {min(wall) * 1000:.0f} | {load} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
