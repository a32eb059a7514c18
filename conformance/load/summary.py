"""The load run's summary: requests/s, latency percentiles per request kind, problems.

Made from the final statistics the locustfile writes when Locust quits
(``--dicomweb-stats``; the master's in distributed runs, which aggregate
every worker's).  The journeys raise :class:`ConformanceError` or :class:`HttpFailure`
(:mod:`conformance.load.locustfile`); Locust keeps the exception's repr, which
tells the two apart here.  Anything else (a transport exception Locust caught
itself) is an HTTP failure.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

__all__ = ["SummaryError", "summarize", "write_summary", "render_markdown", "KINDS"]

#: Request kinds in journey order (the names the journeys give Locust).
KINDS = ("QIDO studies", "QIDO series", "series metadata", "frames", "rendered", "STOW study")
_ERROR = re.compile(r"^(?P<cls>[A-Za-z_][A-Za-z0-9_.]*)\((?P<arg>.*)\)$", re.S)


class SummaryError(RuntimeError):
    """Locust did not leave the statistics the summary is made of."""


def classify(error: str) -> tuple[str, str]:
    """(``"conformance"`` | ``"http"``, message) of one Error cell of the failures CSV."""
    m = _ERROR.match(error.strip())
    if m is None:
        return "http", error.strip()
    name, arg = m.group("cls").rsplit(".", 1)[-1], m.group("arg").strip()
    if len(arg) >= 2 and arg[0] == arg[-1] and arg[0] in "'\"":
        arg = arg[1:-1]
    if name == "ConformanceError":
        return "conformance", arg
    if name == "HttpFailure":
        return "http", arg
    return "http", error.strip()


def summarize(stats_path: Path, **about: Any) -> dict[str, Any]:
    """The summary of one run from the final statistics the locustfile wrote; ``about`` is copied in."""
    try:
        data = json.loads(Path(stats_path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SummaryError(f"Locust wrote no {Path(stats_path).name} (did it start? see its output above)") from None
    except ValueError as exc:
        raise SummaryError(f"{Path(stats_path).name} is not JSON: {exc}") from None
    problems = []
    per_kind: dict[str, dict[str, int]] = {}
    for row in data.get("errors", []):
        kind, message = classify(str(row.get("error", "")))
        count, name = int(row.get("occurrences") or 0), str(row.get("name", ""))
        problems.append({"type": kind, "request": name, "message": message, "count": count})
        counts = per_kind.setdefault(name, {"http": 0, "conformance": 0})
        counts[kind] += count
    problems.sort(key=lambda p: (-p["count"], p["request"], p["message"]))

    def entry(row: dict[str, Any]) -> dict[str, Any]:
        return {"requests": int(row.get("requests") or 0),
                "requests_per_s": round(float(row.get("requests_per_s") or 0.0), 2),
                "p50_ms": row.get("p50_ms"), "p95_ms": row.get("p95_ms"), "p99_ms": row.get("p99_ms"),
                "max_ms": row.get("max_ms"), "average_bytes": row.get("average_bytes")}

    kinds: dict[str, Any] = {}
    for row in data.get("entries", []):
        name = str(row.get("name", ""))
        counts = per_kind.get(name, {"http": 0, "conformance": 0})
        kinds[name] = {**entry(row), "http_failures": counts["http"], "conformance_errors": counts["conformance"]}
    order = {name: i for i, name in enumerate(KINDS)}
    kinds = dict(sorted(kinds.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))
    total = entry(data.get("total") or {})
    return {
        **about,
        "requests": total["requests"], "requests_per_s": total["requests_per_s"],
        "p50_ms": total["p50_ms"], "p95_ms": total["p95_ms"], "p99_ms": total["p99_ms"],
        "http_failures": sum(p["count"] for p in problems if p["type"] == "http"),
        "conformance_errors": sum(p["count"] for p in problems if p["type"] == "conformance"),
        "kinds": kinds,
        "problems": problems,
    }


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"


def render_markdown(summary: dict[str, Any]) -> str:
    """The summary as a Markdown table plus the list of problems."""
    lines = [f"# Load run against {summary.get('target', '?')}", "",
             f"{summary.get('users')} users (spawn rate {summary.get('spawn_rate')}/s) for "
             f"{summary.get('run_time')}, {summary.get('workers', 1)} Locust worker process(es): "
             f"{summary['requests']} requests, {summary['requests_per_s']:.1f} requests/s, "
             f"{summary['http_failures']} HTTP failures, {summary['conformance_errors']} conformance errors.", "",
             "| request | requests | req/s | p50 ms | p95 ms | p99 ms | HTTP failures | conformance errors |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, k in summary["kinds"].items():
        lines.append(f"| {name} | {k['requests']} | {k['requests_per_s']:.1f} | {_ms(k['p50_ms'])} | "
                     f"{_ms(k['p95_ms'])} | {_ms(k['p99_ms'])} | {k['http_failures']} | {k['conformance_errors']} |")
    lines.append(f"| **all** | {summary['requests']} | {summary['requests_per_s']:.1f} | {_ms(summary['p50_ms'])} | "
                 f"{_ms(summary['p95_ms'])} | {_ms(summary['p99_ms'])} | {summary['http_failures']} | "
                 f"{summary['conformance_errors']} |")
    if summary["problems"]:
        lines += ["", "## Problems", ""]
        lines += [f"- {p['type']}, {p['request']} ×{p['count']}: {p['message']}" for p in summary["problems"]]
    return "\n".join(lines) + "\n"


def write_summary(summary: dict[str, Any], reports_dir: Path, stem: str = "load-summary") -> tuple[Path, Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``reports_dir``."""
    json_path, md_path = reports_dir / f"{stem}.json", reports_dir / f"{stem}.md"
    json_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(summary), encoding="utf-8")
    return json_path, md_path
