"""``dicomweb-conformance load``: many viewers and uploaders at once, every answer checked.

Prepares the target like a conformance run (the embedded mock by default, else
``--dicomweb-url``; the fixtures stored under fresh UIDs with STOW-RS), then
runs Locust headless on :mod:`conformance.load.locustfile` and writes, into
the reports directory, Locust's HTML report (``load-report.html``), its CSV
statistics (``load_*.csv``) and the summary (``load-summary.json`` and
``.md``: requests/s, p50/p95/p99 per request kind, HTTP failures and
conformance errors).  Exit status 0 when every answer was right, 1 when any
failed or broke PS3.18, 2 for bad options.

Several processes: ``--processes N`` forks N Locust workers on this machine;
``--master --expect-workers N`` waits for N workers started elsewhere with
``dicomweb-conformance load --worker --master-host HOST``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser", "parse_run_time"]

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
_RUN_TIME = re.compile(r"(\d+)([hms]?)")


def parse_run_time(text: str) -> int:
    """Seconds of a Locust run time (``30``, ``30s``, ``2m``, ``1h30m``); raises ArgumentTypeError."""
    pos, seconds = 0, 0
    for m in _RUN_TIME.finditer(text):
        if m.start() != pos:
            break
        seconds += int(m.group(1)) * {"h": 3600, "m": 60, "s": 1, "": 1}[m.group(2)]
        pos = m.end()
    if not text or pos != len(text) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"--run-time must be a duration such as 30s, 2m or 1h30m, got {text!r}")
    return seconds


def _positive(option: str, high: int) -> Any:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{option} must be an integer, got {text!r}") from None
        if not 1 <= value <= high:
            raise argparse.ArgumentTypeError(f"{option} must be within 1..{high}, got {value}")
        return value
    return parse


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--spawn-rate must be a number, got {text!r}") from None
    if not 0 < value <= 10000:
        raise argparse.ArgumentTypeError(f"--spawn-rate must be > 0 and <= 10000, got {value}")
    return value


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name.strip()):
        raise argparse.ArgumentTypeError(f"--header must be 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dicomweb-conformance load",
                                description="Load test a DICOMweb server with viewer and uploader journeys "
                                            "(Locust), checking every answer for conformance.")
    p.add_argument("--users", type=_positive("--users", 100000), default=10, help="concurrent users (default 10)")
    p.add_argument("--spawn-rate", type=_rate, default=10.0, help="users started per second (default 10)")
    p.add_argument("--run-time", default="30s", help="duration: 30s, 2m, 1h30m (default 30s)")
    p.add_argument("--dicomweb-url", help="DICOMweb root of the server under test (default: the embedded mock)")
    p.add_argument("--reports-dir", type=Path, default=Path("reports"), help="where reports go (default ./reports)")
    p.add_argument("--think-time", type=float, default=0.5,
                   help="each user waits a random 0..T seconds between journeys (default 0.5)")
    p.add_argument("--no-upload", action="store_true", help="viewers only (no STOW-RS uploader journey)")
    p.add_argument("--header", type=_header, action="append", default=[], metavar="'NAME: VALUE'",
                   help="extra request header, e.g. 'Authorization: Bearer ...' (repeatable)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    p.add_argument("--processes", type=_positive("--processes", 256), default=1,
                   help="Locust worker processes forked on this machine (default 1: no master/worker)")
    p.add_argument("--master", action="store_true", help="be the master of workers started on other machines")
    p.add_argument("--expect-workers", type=_positive("--expect-workers", 10000), default=1,
                   help="with --master: how many workers to wait for")
    p.add_argument("--master-bind-port", type=_positive("--master-bind-port", 65535), default=5557)
    p.add_argument("--worker", action="store_true", help="be a worker of a master on --master-host")
    p.add_argument("--master-host", default="127.0.0.1", help="with --worker: the master's address")
    p.add_argument("--master-port", type=_positive("--master-port", 65535), default=5557)
    return p


def _locust_base() -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--loglevel", "WARNING"]


def _check_locust() -> str | None:
    """Why Locust cannot run, or None.  Not imported here: it monkey-patches the process it is imported in."""
    import importlib.util

    if importlib.util.find_spec("locust") is None:
        return "the load mode needs Locust: pip install 'dicomweb-conformance[load]'"
    return None


def _prepare(args: argparse.Namespace, mock_box: list[Any]) -> tuple[str, dict[str, Any], str]:
    """Start or reach the target, store the fixtures under fresh UIDs; (DICOMweb root, plan, server name)."""
    import requests

    import dicomweb_fixtures as fixtures
    from ..http import RecordingClient
    from ..seeding import seed
    from ..target import default_wado_uri_url, probe_identity, start_embedded_mock
    from ..truth import RunIds

    if args.dicomweb_url:
        root = args.dicomweb_url
    else:
        mock = start_embedded_mock()
        mock_box.append(mock)
        root = mock.dicomweb_url
    headers = dict(args.header)
    client = RecordingClient(root, default_wado_uri_url(root), session=requests.Session(), timeout=args.timeout,
                             headers=headers)
    identity = probe_identity(client)
    ids = RunIds.new(fixtures.UID_ROOT)
    seed(client, ids, fixtures.instance_files())
    manifest = fixtures.load_manifest()
    patients = sorted({ids.patient_id(p["PatientID"]) for p in manifest["patients"]})
    plan: dict[str, Any] = {"patients": patients, "think": args.think_time, "timeout": args.timeout,
                            "headers": headers}
    if not args.no_upload:
        # The uploader stores the smallest study with pixel data that has more than one instance.
        by_study: dict[str, list[dict[str, Any]]] = {}
        for inst in manifest["instances"]:
            by_study.setdefault(inst["StudyInstanceUID"], []).append(inst)
        files = {path.name: path for path in fixtures.instance_files()}
        candidates = sorted((sum(files[i["file"]].stat().st_size for i in insts), study)
                            for study, insts in by_study.items() if len(insts) > 1)
        chosen = by_study[candidates[0][1]] if candidates else next(iter(by_study.values()))
        plan["upload_files"] = [i["file"] for i in chosen]
        plan["upload_sop_uids"] = [i["SOPInstanceUID"] for i in chosen]
    return root.rstrip("/"), plan, identity.get("server", "unknown")


def _locust_command(args: argparse.Namespace, host: str, plan: dict[str, Any], prefix: Path) -> list[str]:
    cmd = [*_locust_base(), "--headless", "--users", str(args.users), "--spawn-rate", str(args.spawn_rate),
           "--run-time", args.run_time, "--host", host, "--html", f"{prefix.parent / 'load-report.html'}",
           "--csv", str(prefix), "--only-summary", "--stop-timeout", "10",
           "--dicomweb-plan", json.dumps(plan, separators=(",", ":")),
           "--dicomweb-stats", str(prefix.parent / "load-stats.json")]
    if args.master:
        cmd += ["--master", "--expect-workers", str(args.expect_workers),
                "--master-bind-port", str(args.master_bind_port)]
    elif args.processes > 1:
        cmd += ["--processes", str(args.processes)]
    cmd += ["Viewer"] if args.no_upload else ["Viewer", "Uploader"]
    return cmd


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        seconds = parse_run_time(args.run_time)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    if args.master and args.worker:
        parser.error("--master and --worker exclude each other")
    if args.think_time < 0 or args.timeout <= 0:
        parser.error("--think-time must be >= 0 and --timeout > 0")
    missing = _check_locust()
    if missing:
        print(f"dicomweb-conformance load: {missing}", file=sys.stderr)
        return 2
    if args.worker:
        return subprocess.call([*_locust_base(), "--worker", "--master-host", args.master_host,
                                "--master-port", str(args.master_port)])
    from dicomweb_fixtures import FixtureError

    from ..http import TransportError
    from ..seeding import SeedError
    from .summary import SummaryError, render_markdown, summarize, write_summary

    reports = args.reports_dir
    reports.mkdir(parents=True, exist_ok=True)
    prefix = reports / "load"
    for old in [*reports.glob("load_*.csv"), reports / "load-stats.json"]:
        old.unlink(missing_ok=True)
    mock_box: list[Any] = []
    try:
        try:
            host, plan, server = _prepare(args, mock_box)
        except TransportError as exc:
            print(f"dicomweb-conformance load: cannot reach the target ({exc.exchange.method} {exc.exchange.url}): "
                  f"{exc.exchange.error}", file=sys.stderr)
            return 1
        except (SeedError, FixtureError) as exc:
            print(f"dicomweb-conformance load: seeding the target failed: {exc}", file=sys.stderr)
            return 1
        print(f"load: {args.users} users against {server} at {host} for {args.run_time}"
              f"{f', {args.processes} worker processes' if args.processes > 1 and not args.master else ''}",
              flush=True)
        rc = subprocess.call(_locust_command(args, host, plan, prefix), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    finally:
        for mock in mock_box:
            mock.stop()
    workers = args.expect_workers if args.master else args.processes
    try:
        summary = summarize(reports / "load-stats.json", target=host, server=server, users=args.users, spawn_rate=args.spawn_rate,
                            run_time=args.run_time, run_time_s=seconds, workers=workers,
                            html_report="load-report.html", locust_exit_status=rc)
    except SummaryError as exc:
        print(f"dicomweb-conformance load: {exc}", file=sys.stderr)
        return rc or 1
    json_path, md_path = write_summary(summary, reports)
    print(render_markdown(summary))
    print(f"load: reports in {reports}: load-report.html, {json_path.name}, {md_path.name}")
    if summary["requests"] == 0:
        print("dicomweb-conformance load: no request was made", file=sys.stderr)
        return 1
    return 1 if summary["http_failures"] or summary["conformance_errors"] else 0
