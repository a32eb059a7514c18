"""Outcomes per requirement: the conformance matrix (Markdown and HTML) and the terminal summary.

Outcomes are gathered from ``pytest_runtest_logreport`` reports, whose
``user_properties`` carry the requirement IDs of the test, so the same code
works in one process and in the pytest-xdist controller.
"""

from __future__ import annotations

import html
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from .requirements import LEVELS, Catalogue, Requirement

__all__ = ["REQUIREMENTS_PROPERTY", "FAILED_REQUIREMENTS_PROPERTY", "CaseOutcome", "OutcomeBook", "RowResult", "write_matrix",
           "write_environment", "summary_lines", "one_line", "counts"]

REQUIREMENTS_PROPERTY = "requirements"
FAILED_REQUIREMENTS_PROPERTY = "failed_requirements"
FAILURE_PROPERTY = "failure"  # JSON of the first failed check (expect.fail): checked, expected, actual, exchange
#: Worst first; an outcome this table does not know ranks between blocked and skipped.
_RANK = {"failed": 0, "xfailed": 1, "passed": 2, "blocked": 3, "skipped": 4, "deselected": 5, "": 6}
_SHORT = {"passed": "passed", "failed": "failed", "xfailed": "xfail (known deviation)", "blocked": "not verified",
          "skipped": "skipped", "not tested": "not tested", "deselected": "not run (deselected)", "": "not run"}
_LABEL = {"failed": "failed", "xfailed": "xfail (known deviation)", "passed": "passed", "skipped": "skipped",
          "blocked": "not verified", "deselected": "not run (deselected)"}
_REASON_LIMIT = 240
XPASS_STRICT = "[XPASS(strict)]"


def _rank(outcome: str) -> float:
    return _RANK.get(outcome, 3.5)


def one_line(text: str, limit: int = _REASON_LIMIT) -> str:
    """``text`` on one line of at most ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "\u2026"


@dataclass
class CaseOutcome:
    """The combined outcome of one test's setup, call and teardown reports."""

    nodeid: str
    req_ids: tuple[str, ...]
    outcome: str = ""  # "" until a report decides
    reason: str = ""   # one line: why it failed, was skipped, is a known deviation
    failed_ids: tuple[str, ...] = ()  # when known: the IDs whose check failed or was a known deviation
    # (the test's other IDs were not run to a verdict)
    checked: str = ""
    expected: str = ""
    actual: str = ""
    note: str = ""
    exchange: str = ""  # the first HTTP exchange of the failed check
    deviation_fixed: bool = False  # a known deviation that passed (strict xfail turned XPASS)

    def outcome_for(self, req_id: str) -> str:
        """This test's outcome for one of its requirements."""
        if self.outcome == "failed" and self.failed_ids and req_id not in self.failed_ids:
            # a passing test whose known deviation disappeared fails only under the deviation's own ID
            return "passed" if self.deviation_fixed else "blocked"
        if self.outcome == "xfailed" and self.failed_ids and req_id not in self.failed_ids:
            # a known deviation covers its own requirement; the test stopped there for the others
            return "blocked"
        return self.outcome

    def merge(self, outcome: str, reason: str) -> bool:
        if _rank(outcome) < _rank(self.outcome):
            self.outcome, self.reason = outcome, one_line(reason)
            return True
        return False

    def take_failure(self, report: Any) -> None:
        """Reason and evidence of a failed report: the check's record, else pytest's own message."""
        props = dict(getattr(report, "user_properties", ()))
        record = props.get(FAILURE_PROPERTY)
        if record:
            data = json.loads(record)
            self.checked, self.expected, self.actual = data["checked"], data["expected"], data["actual"]
            self.exchange, self.note = data.get("exchange", ""), data.get("note", "")
            self.reason = one_line(f"{self.checked}: expected {self.expected}, got {self.actual}")
            return
        text = getattr(report, "longreprtext", "") or ""
        if text.startswith(XPASS_STRICT):
            self.deviation_fixed = True
            self.reason = one_line("no longer deviates: " + text[len(XPASS_STRICT):].strip())
            self.failed_ids = tuple(dict.fromkeys(_DEVIATION_ID.findall(text))) or self.failed_ids
            return
        crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
        message = getattr(crash, "message", "") or next((ln for ln in text.splitlines() if ln.strip()), "")
        prefix = "" if report.when == "call" else f"error in {report.when}: "
        self.reason = one_line(prefix + message)


#: The requirement ID in a known deviation's xfail reason (see plugin.pytest_collection_modifyitems).
_DEVIATION_ID = re.compile(r"known deviation (\S+) \(profile ")


def _skip_reason(report: Any) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        reason = str(longrepr[2])
    else:
        reason = str(longrepr or "")
    return reason.removeprefix("Skipped: ").strip()


class OutcomeBook:
    """Every conformance test seen in this run, by node ID; and the tests deselected by -k, -m, --deselect."""

    def __init__(self) -> None:
        self.tests: dict[str, CaseOutcome] = {}
        self.deselected: dict[str, tuple[str, ...]] = {}

    def add(self, report: Any) -> None:
        """Fold one pytest report in (ignored unless it carries requirement IDs)."""
        ids = next((v for k, v in getattr(report, "user_properties", ()) if k == REQUIREMENTS_PROPERTY), None)
        if not ids:
            return
        test = self.tests.setdefault(report.nodeid, CaseOutcome(report.nodeid, tuple(ids.split(","))))
        wasxfail = getattr(report, "wasxfail", None)
        if report.skipped and wasxfail is not None:
            if test.merge("xfailed", wasxfail):
                failed = next((v for k, v in report.user_properties if k == FAILED_REQUIREMENTS_PROPERTY), None)
                deviations = [i for i in dict.fromkeys(_DEVIATION_ID.findall(wasxfail)) if i in test.req_ids]
                test.failed_ids = tuple(failed.split(",")) if failed else tuple(deviations)
        elif report.skipped:
            test.merge("skipped", _skip_reason(report))
        elif report.failed:
            if test.merge("failed", ""):
                test.take_failure(report)
            failed = next((v for k, v in report.user_properties if k == FAILED_REQUIREMENTS_PROPERTY), None)
            if failed and report.when == "call":
                test.failed_ids = tuple(failed.split(","))
        elif report.when == "call":
            test.merge("passed", "")

    def add_deselected(self, nodeid: str, req_ids: Iterable[str]) -> None:
        self.deselected[nodeid] = tuple(req_ids)

    def by_requirement(self) -> dict[str, list[CaseOutcome]]:
        out: dict[str, list[CaseOutcome]] = {}
        for test in self.tests.values():
            for req_id in test.req_ids:
                out.setdefault(req_id, []).append(test)
        for nodeid, req_ids in self.deselected.items():
            if nodeid not in self.tests:
                for req_id in req_ids:
                    out.setdefault(req_id, []).append(CaseOutcome(nodeid, req_ids, "deselected",
                                                                  "deselected by -k, -m or --deselect"))
        return out


@dataclass
class RowResult:
    """A catalogue row with the outcome of its tests."""

    requirement: Requirement
    outcome: str                       # passed | failed | xfailed | skipped | not tested
    detail: str = ""
    tests: list[CaseOutcome] = field(default_factory=list)

    @property
    def label(self) -> str:
        base = _LABEL.get(self.outcome, self.outcome)
        return f"{base} ({self.detail})" if self.detail else base


def rows(catalogue: Catalogue, book: OutcomeBook) -> list[RowResult]:
    """One result per catalogue row, in catalogue order."""
    tested = book.by_requirement()
    out = []
    for req in catalogue:
        tests = sorted(tested.get(req.id, []), key=lambda t: t.nodeid)
        if not tests:
            out.append(RowResult(req, "not tested", req.not_tested_reason or "no test yet"))
            continue
        outcomes = [(t.outcome_for(req.id), t) for t in tests]
        worst = min((o for o, _ in outcomes), key=_rank)
        detail = ""
        if worst == "failed":
            detail = next((t.reason for o, t in outcomes if o == worst and t.reason), "")
        elif worst in ("skipped", "xfailed", "deselected"):
            detail = "; ".join(sorted({t.reason for o, t in outcomes if o == worst and t.reason}))
        elif worst == "blocked":
            stopped_by = {t.outcome for o, t in outcomes if o == worst}
            detail = ("another check of its test failed first" if "failed" in stopped_by
                      else "its test stopped at a known deviation of another requirement")
        if not worst:
            worst, detail = "not tested", "its tests did not run"
        out.append(RowResult(req, worst, detail, tests))
    return out


def counts(results: Iterable[RowResult]) -> dict[str, dict[str, int]]:
    """{level: {outcome: count}}."""
    table = {level: {"passed": 0, "failed": 0, "xfailed": 0, "blocked": 0, "skipped": 0, "deselected": 0,
                     "not tested": 0} for level in LEVELS}
    for r in results:
        row = table[r.requirement.level]
        row[r.outcome] = row.get(r.outcome, 0) + 1
    return table


def summary_lines(results: list[RowResult], header: str) -> list[str]:
    """Short terminal summary: one line per level (zero counts left out, except passed and failed)."""
    lines = [header]
    for level, c in counts(results).items():
        total = sum(c.values())
        if total:
            parts = [f"{n} {_SHORT.get(k, k)}" for k, n in c.items() if n or k in ("passed", "failed")]
            lines.append(f"  {level:<6} {total:3d} requirements: " + ", ".join(parts))
    return lines


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_matrix(directory: Path, results: list[RowResult], meta: dict[str, str]) -> tuple[Path, Path]:
    """Write ``conformance-matrix.md`` and ``.html``; return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    md = ["# DICOMweb conformance matrix", ""]
    md += [f"- **{_md(k)}**: {_md(v)}" for k, v in meta.items()]
    md += [f"- **generated**: {stamp}", ""]
    for level, c in counts(results).items():
        md.append(f"- {level}: " + ", ".join(f"{v} {k}" for k, v in c.items()))
    md += ["", "| ID | Section | Level | Feature | Statement | Outcome | Tests |", "|---|---|---|---|---|---|---|"]
    for r in results:
        req = r.requirement
        section = f"[{_md(req.section)}]({req.url})" if req.url else _md(req.section)
        tests = "<br>".join(f"`{_md(t.nodeid)}` {_SHORT.get(t.outcome_for(req.id), t.outcome_for(req.id))}" for t in r.tests)
        md.append(f"| {req.id} | {section} | {req.level} | {req.feature} | {_md(req.statement)} | "
                  f"{_md(r.label)} | {tests} |")
    md_path = directory / "conformance-matrix.md"
    md_path.write_text("\n".join(md) + "\n", encoding="utf-8")

    esc = html.escape
    body = [f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in meta.items()]
    trs = []
    for r in results:
        req = r.requirement
        section = f'<a href="{esc(req.url)}">{esc(req.section)}</a>' if req.url else esc(req.section)
        tests = "<br>".join(f"<code>{esc(t.nodeid)}</code> {esc(_SHORT.get(t.outcome_for(req.id), t.outcome_for(req.id)))}"
                            for t in r.tests)
        css = r.outcome.replace(" ", "-")
        trs.append(f'<tr class="{css}"><td>{esc(req.id)}</td><td>{section}</td><td>{esc(req.level)}</td>'
                   f"<td>{esc(req.feature)}</td><td>{esc(req.statement)}</td><td>{esc(r.label)}</td>"
                   f"<td>{tests}</td></tr>")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DICOMweb conformance matrix</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #bbb; padding: 4px 6px; vertical-align: top; font-size: 90%; }}
tr.passed td:nth-child(6) {{ background: #d4f4d4; }} tr.failed td:nth-child(6) {{ background: #f8c8c8; }}
tr.xfailed td:nth-child(6) {{ background: #fbe7b5; }} tr.skipped td:nth-child(6) {{ background: #e6e6e6; }}
tr.not-tested td:nth-child(6), tr.blocked td:nth-child(6) {{ color: #777; }}
</style></head><body>
<h1>DICOMweb conformance matrix</h1>
<ul>{''.join(body)}<li><b>generated</b>: {esc(stamp)}</li></ul>
<table><thead><tr><th>ID</th><th>Section</th><th>Level</th><th>Feature</th><th>Statement</th><th>Outcome</th>
<th>Tests</th></tr></thead><tbody>
{chr(10).join(trs)}
</tbody></table></body></html>
"""
    html_path = directory / "conformance-matrix.html"
    html_path.write_text(page, encoding="utf-8")
    return md_path, html_path


def _prop(text: str) -> str:
    """Escape a value for a Java .properties file."""
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")
    return "".join(c if ord(c) < 128 else f"\\u{ord(c):04x}" for c in out)


def write_environment(allure_dir: Path, values: dict[str, str]) -> Path:
    """``environment.properties`` of the Allure results (shown on the report's overview)."""
    allure_dir.mkdir(parents=True, exist_ok=True)
    path = allure_dir / "environment.properties"
    path.write_text("".join(f"{_prop(k)}={_prop(v)}\n" for k, v in values.items()), encoding="ascii")
    return path
