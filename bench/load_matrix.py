"""The load mode against the mock (1 and N worker processes) and Orthanc, at several user counts.

    python3 bench/load_matrix.py [--users 50,100,200] [--run-time 30s] [--processes 2] [--workers 4]
                                 [--build bookworm,trixie] [--no-orthanc] [--json FILE]

Starts ``python3 -m dicomweb_mock --store DIR --no-fixtures`` with ``--workers 1``
and ``--workers N`` and one Orthanc per build named in ``--build``
(``scripts/orthanc.py start --build``), all with HTTP Basic credentials, and runs ``dicomweb-conformance load`` against each
(``--processes`` Locust workers; each run stores the fixtures under fresh UIDs
first).  Prints requests/s, the load average after each run, p50/p95/p99 and the problems counted of every run.
A measurement: nothing is asserted; the load generator shares the machine.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._servers import (MockProcess, OrthancProcess, Server, SetupError, free_port, mock_config,  # noqa: E402
                            parse_builds, stop_all)


def run_load(server: Server, users: int, args: argparse.Namespace, reports: Path) -> dict:
    token = base64.b64encode(f"{server.auth[0]}:{server.auth[1]}".encode()).decode()
    cmd = [sys.executable, "-m", "dicomweb_conformance", "load", "--users", str(users),
           "--spawn-rate", str(max(10, users // 5)), "--run-time", args.run_time, "--processes", str(args.processes),
           "--dicomweb-url", server.dicomweb_url, "--header", f"Authorization: Basic {token}",
           "--reports-dir", str(reports)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    summary_path = reports / "load-summary.json"
    if not summary_path.exists():
        raise SetupError(f"load against {server.name} wrote no summary: {done.stdout[-500:]}")
    return json.loads(summary_path.read_text())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--users", default="50,100,200")
    p.add_argument("--run-time", default="30s")
    p.add_argument("--processes", type=int, default=2, help="Locust worker processes")
    p.add_argument("--workers", type=int, default=4, help="mock worker processes of the second mock")
    p.add_argument("--build", help="Orthanc builds separated by commas: bookworm, trixie or bookworm,trixie "
                                   "(scripts/orthanc.py start --build; default: its default)")
    p.add_argument("--no-orthanc", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    try:
        user_counts = [int(u) for u in args.users.split(",")]
    except ValueError:
        p.error(f"--users must be integers separated by commas, got {args.users!r}")
    try:
        builds = parse_builds(args.build)
    except ValueError as exc:
        p.error(str(exc))
    work = Path(tempfile.mkdtemp(prefix="load-matrix-"))
    orthancs = [] if args.no_orthanc else [OrthancProcess(work / f"orthanc-{b or 'default'}", build=b)
                                           for b in builds]
    mocks: list[MockProcess] = []
    rows = []
    try:
        servers: list[Server] = []
        auth = ("bench", "bench")
        for orthanc in orthancs:
            servers.append(orthanc.start(free_port()))
        if orthancs:
            auth = orthancs[0].credentials
        config = work / "mock.json"
        mock_config(config, auth)
        for workers in (1, args.workers):
            mock = MockProcess(work / f"store-{workers}", config, work / f"mock-{workers}.log", workers=workers)
            mocks.append(mock)
            servers.insert(len(mocks) - 1, mock.start(auth))
        for users in user_counts:
            for server in servers:
                s = run_load(server, users, args, work / "reports" / f"{server.name}-{users}".replace(" ", "_"))
                rows.append({"server": server.name, "users": users, **{k: s[k] for k in (
                    "requests", "requests_per_s", "p50_ms", "p95_ms", "p99_ms", "http_failures",
                    "conformance_errors")}, "problems": s["problems"][:3],
                    "load_average": " ".join(Path("/proc/loadavg").read_text().split()[:3])})
                r = rows[-1]
                print(f"{server.name:<22} {users:>4} users: {r['requests_per_s']:7.1f} req/s  p50 {r['p50_ms']} "
                      f"p95 {r['p95_ms']} p99 {r['p99_ms']} ms  HTTP failures {r['http_failures']}  "
                      f"conformance errors {r['conformance_errors']}  load average {r['load_average']}", flush=True)
    except SetupError as exc:
        print(f"load_matrix: error: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_all(mocks, orthancs, work)
    print("\n| server | users | req/s | p50 ms | p95 ms | p99 ms | HTTP failures | conformance errors | load average |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['server']} | {r['users']} | {r['requests_per_s']:.1f} | {r['p50_ms']} | {r['p95_ms']} | "
              f"{r['p99_ms']} | {r['http_failures']} | {r['conformance_errors']} | {r['load_average']} |")
    for r in rows:
        for problem in r["problems"]:
            print(f"- {r['server']} at {r['users']} users: {problem['type']}, {problem['request']} "
                  f"×{problem['count']}: {problem['message']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
