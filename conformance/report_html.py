"""``conformance-report.html``: the one page a vendor reads first.

A single self-contained file (inline CSS and script, no external resource):
the target, its version, the profile and the date; requirement counts per
service and per level; the failed requirements first, each with its
statement, section link, one-line reason and collapsible evidence (checked,
expected, actual, the first HTTP exchange); then every service's
requirements, worst first (failed, known deviation, blocked, not claimed,
skipped, deselected, not tested, passed).  A filter box narrows every list.
"""

from __future__ import annotations

import html
import time
from pathlib import Path
from typing import Any, Iterable

from .report import RowResult
from .requirements import LEVELS

__all__ = ["REPORT_NAME", "CATEGORIES", "category_of", "render_report", "write_report"]

REPORT_NAME = "conformance-report.html"
#: Display categories, worst first: (key, heading).
CATEGORIES = (("failed", "Failed"), ("deviation", "Known deviation"), ("blocked", "Blocked (not verified)"),
              ("not-claimed", "Not claimed"), ("skipped", "Skipped"), ("deselected", "Not run (deselected)"),
              ("not-tested", "Not tested"), ("passed", "Passed"))
#: Column headings of the count tables.
_SHORT = {"failed": "failed", "deviation": "known deviation", "blocked": "blocked", "not-claimed": "not claimed",
          "skipped": "skipped", "deselected": "deselected", "not-tested": "not tested", "passed": "passed"}
_ORDER = {key: rank for rank, (key, _) in enumerate(CATEGORIES)}
_HEADING = dict(CATEGORIES)
SERVICE_ORDER = ("QIDO-RS", "WADO-RS", "WADO-URI", "STOW-RS", "Servers", "HTTP", "DICOM JSON/XML")
_esc = html.escape


def category_of(row: RowResult) -> str:
    """The display category of a requirement's outcome (unknown outcomes rank with blocked)."""
    outcome = row.outcome
    if outcome == "skipped" and row.detail.startswith("not claimed"):
        return "not-claimed"
    return {"xfailed": "deviation", "not tested": "not-tested"}.get(outcome, outcome) \
        if outcome in ("failed", "xfailed", "blocked", "skipped", "deselected", "not tested", "passed") else "blocked"


def _services(results: Iterable[RowResult]) -> list[str]:
    present = {r.requirement.service for r in results}
    return [s for s in SERVICE_ORDER if s in present] + sorted(present - set(SERVICE_ORDER))


def _count_table(title: str, keys: list[str], results: list[RowResult], key_of: Any) -> str:
    """Counts per category (the categories no requirement of the run falls in are left out)."""
    present = {category_of(r) for r in results}
    columns = [(k, h) for k, h in CATEGORIES if k in present]
    head = "".join(f'<th title="{_esc(h)}">{_esc(_SHORT[k])}</th>' for k, h in columns)
    body = []
    for key in keys:
        rows = [r for r in results if key_of(r) == key]
        cells = []
        for cat, _ in columns:
            n = sum(1 for r in rows if category_of(r) == cat)
            cells.append(f'<td class="n{" hot c-" + cat if n else ""}">{n or ""}</td>')
        body.append(f"<tr><th>{_esc(key)}</th>{''.join(cells)}<td class='n'>{len(rows)}</td></tr>")
    return (f'<table class="counts"><caption>{_esc(title)}</caption><thead><tr><th></th>{head}<th>total</th>'
            f"</tr></thead><tbody>{''.join(body)}</tbody></table>")


def _section_link(row: RowResult) -> str:
    req = row.requirement
    if req.url:
        return f'<a href="{_esc(req.url)}">{_esc(req.section)}</a>'
    return _esc(req.section)


def _evidence(row: RowResult) -> str:
    """Checked/expected/actual and the first exchange of the requirement's first failed test."""
    failing = [t for t in row.tests if t.outcome_for(row.requirement.id) == "failed"]
    if not failing:
        return ""
    t = failing[0]
    facts = [("test", f"<code>{_esc(t.nodeid)}</code>")]
    facts += [(k, f"<code>{_esc(v)}</code>") for k, v in (("checked", t.checked), ("expected", t.expected),
                                                          ("actual", t.actual), ("note", t.note)) if v]
    if len(failing) > 1:
        facts.append(("also failed", "<br>".join(f"<code>{_esc(o.nodeid)}</code>: {_esc(o.reason)}"
                                                  for o in failing[1:])))
    dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts)
    exchange = (f"<details><summary>First HTTP exchange</summary><pre>{_esc(t.exchange)}</pre></details>"
                if t.exchange else "")
    return f"<details class='evidence'><summary>Evidence</summary><dl>{dl}</dl>{exchange}</details>"


def _search_text(row: RowResult) -> str:
    req = row.requirement
    return " ".join([req.id, req.level, req.service, req.feature, req.section, req.statement, row.detail,
                     *(t.nodeid for t in row.tests)]).lower()


def _failed_card(row: RowResult) -> str:
    req = row.requirement
    return (f'<article class="card filterable" data-text="{_esc(_search_text(row))}">'
            f'<h3><span class="id">{_esc(req.id)}</span> <span class="lvl {req.level}">{req.level}</span> '
            f'<span class="svc">{_esc(req.service)}</span> {_section_link(row)}</h3>'
            f'<p class="stmt">{_esc(req.statement)}</p>'
            f'<p class="reason">{_esc(row.detail or "failed")}</p>{_evidence(row)}</article>')


def _test_name(nodeid: str) -> str:
    """``test_http.py::test_x[p]`` (no directory), breakable after ``::``, ``_`` and ``[``."""
    path, sep, rest = nodeid.partition("::")
    short = _esc(path.rsplit("/", 1)[-1] + sep + rest)
    for mark in ("::", "_", "["):
        short = short.replace(mark, mark + "<wbr>")
    return short


def _tests_cell(row: RowResult) -> str:
    if not row.tests:
        return ""
    items = []
    for t in row.tests:
        outcome = t.outcome_for(row.requirement.id) or "not run"
        items.append(f'<li title="{_esc(t.nodeid)}"><span class="o-{_esc(outcome.replace(" ", "-"))}">'
                     f"{_esc(outcome)}</span> <code>{_test_name(t.nodeid)}</code></li>")
    plural = "s" if len(row.tests) > 1 else ""
    return f"<details><summary>{len(row.tests)} test{plural}</summary><ul class='tests'>{''.join(items)}</ul></details>"


def _service_section(service: str, rows: list[RowResult]) -> str:
    rows = sorted(rows, key=lambda r: _ORDER[category_of(r)])
    trs = []
    for r in rows:
        cat = category_of(r)
        reason = f'<div class="why">{_esc(r.detail)}</div>' if r.detail else ""
        trs.append(f'<tr class="filterable" data-text="{_esc(_search_text(r))}">'
                   f'<td class="id">{_esc(r.requirement.id)}</td><td><span class="lvl {r.requirement.level}">'
                   f"{r.requirement.level}</span></td><td>{_esc(r.requirement.statement)}<div class='sec'>"
                   f"{_section_link(r)}</div></td><td><span class='tag c-{cat}'>{_esc(_HEADING[cat])}</span>"
                   f"{reason}</td><td>{_tests_cell(r)}</td></tr>")
    anchor = "svc-" + "".join(c if c.isalnum() else "-" for c in service.lower())
    return (f'<section class="service" id="{anchor}"><h2>{_esc(service)} <small>({len(rows)} requirements)'
            f'</small></h2><table class="reqs"><colgroup><col class="w-id"><col class="w-lvl"><col>'
            f'<col class="w-out"><col class="w-tests"></colgroup><thead><tr><th>ID</th><th>Level</th>'
            f'<th>Requirement</th><th>Outcome</th><th>Tests</th></tr></thead><tbody>{"".join(trs)}</tbody>'
            f"</table></section>")


def _headline(results: list[RowResult]) -> str:
    failed = [r for r in results if r.outcome == "failed"]
    by_level = {lvl: sum(1 for r in failed if r.requirement.level == lvl) for lvl in LEVELS}
    if not failed:
        return '<p class="verdict ok">No requirement failed.</p>'
    parts = ", ".join(f"{n} {lvl}" for lvl, n in by_level.items() if n)
    return f'<p class="verdict bad">{len(failed)} requirement{"s" * (len(failed) > 1)} failed ({parts}).</p>'


def render_report(results: list[RowResult], meta: dict[str, str], *, suite_version: str,
                  generated: str | None = None) -> str:
    """The whole page as a string."""
    generated = generated or time.strftime("%Y-%m-%d %H:%M:%S %Z")
    services = _services(results)
    facts = [("Target", meta.get("target.dicomweb_url", "?")), ("Server", meta.get("target.server", "unknown")),
             ("Profile", meta.get("profile", "?")), ("Level", meta.get("level", "SHALL")), ("Date", generated), ("Suite", f"dicomweb-conformance "
                                                                                   f"{suite_version}")]
    facts_html = "".join(f"<div><b>{_esc(k)}</b> {_esc(v)}</div>" for k, v in facts)
    failed = [r for r in results if r.outcome == "failed"]
    failed.sort(key=lambda r: (LEVELS.index(r.requirement.level), services.index(r.requirement.service)))
    cards = "".join(_failed_card(r) for r in failed) or "<p>None.</p>"
    nav = " ".join(f'<a href="#svc-{"".join(c if c.isalnum() else "-" for c in s.lower())}">{_esc(s)}</a>'
                   for s in services)
    sections = "".join(_service_section(s, [r for r in results if r.requirement.service == s]) for s in services)
    return _PAGE.format(
        css=_CSS, script=_SCRIPT, facts=facts_html, verdict=_headline(results),
        by_service=_count_table("Requirements per service", services, results, lambda r: r.requirement.service),
        by_level=_count_table("Requirements per level", list(LEVELS), results, lambda r: r.requirement.level),
        n_failed=len(failed), cards=cards, nav=nav, sections=sections)


def write_report(directory: Path, results: list[RowResult], meta: dict[str, str], *, suite_version: str) -> Path:
    """Write ``conformance-report.html`` under ``directory``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / REPORT_NAME
    path.write_text(render_report(results, meta, suite_version=suite_version), encoding="utf-8")
    return path


_CSS = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 24px 40px;color:#1d232a}
header{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 22px;padding:12px 0 6px;border-bottom:2px solid #d7dde3}
header h1{font-size:20px;margin:0 12px 0 0}header div{color:#44505c}
.verdict{font-size:17px;font-weight:600;margin:10px 0}.verdict.bad{color:#a4161a}.verdict.ok{color:#1b7a36}
.summary{display:flex;gap:20px;flex-wrap:wrap;align-items:flex-start}
table.counts{border-collapse:collapse;font-size:12.5px}table.counts caption{text-align:left;font-weight:600;padding:2px 0}
table.counts th,table.counts td{border:1px solid #d7dde3;padding:2px 7px}table.counts thead th{font-weight:500;font-size:11.5px;white-space:nowrap}
td.n{text-align:right;min-width:24px}
.c-failed.hot,.tag.c-failed{background:#f9d0d0}.c-deviation.hot,.tag.c-deviation{background:#fde8b8}
.c-blocked.hot,.tag.c-blocked{background:#e4dcf5}.c-not-claimed.hot,.tag.c-not-claimed{background:#e6ebf0}
.c-skipped.hot,.tag.c-skipped{background:#eeeeee}.c-deselected.hot,.tag.c-deselected{background:#e3f0f7}
.c-not-tested.hot,.tag.c-not-tested{background:#f3f3f3}.c-passed.hot,.tag.c-passed{background:#d3f1da}
.tools{position:sticky;top:0;background:#fff;padding:8px 0;display:flex;gap:14px;align-items:center;z-index:2;border-bottom:1px solid #eef1f4}
.tools input{font-size:14px;padding:4px 8px;width:420px}.tools nav a{margin-right:8px}
h2{font-size:17px;margin:18px 0 8px}h2 small{font-weight:400;color:#66707a}
.card{border:1px solid #e3b3b3;border-left:5px solid #c0262d;border-radius:4px;padding:6px 12px;margin:0 0 8px;background:#fffafa}
.card h3{font-size:14.5px;margin:2px 0}.card .stmt{margin:2px 0;color:#333}.card .reason{margin:3px 0;font-weight:600;color:#7d1014;overflow-wrap:anywhere}
.id{font-family:ui-monospace,monospace;font-weight:700}.svc{color:#44505c;font-weight:500}
.lvl{font-size:11px;padding:0 5px;border-radius:3px;border:1px solid #999}.lvl.SHALL{background:#1d232a;color:#fff}
.lvl.SHOULD{background:#5b6670;color:#fff}.lvl.MAY{background:#fff}
details summary{cursor:pointer;color:#174f8a}dl{display:grid;grid-template-columns:90px 1fr;gap:2px 10px;margin:4px 0}
dt{color:#66707a}dd{margin:0;overflow-wrap:anywhere}
pre{background:#f5f7f9;border:1px solid #e0e4e8;padding:6px;max-height:360px;overflow:auto;white-space:pre-wrap;overflow-wrap:anywhere;font-size:12px}
table.reqs{border-collapse:collapse;width:100%;table-layout:fixed}
table.reqs th,table.reqs td{border-bottom:1px solid #e3e7eb;padding:4px 6px;vertical-align:top;text-align:left}
col.w-id{width:88px}col.w-lvl{width:64px}col.w-out{width:26%}col.w-tests{width:30%}
section,article{scroll-margin-top:52px}ul.tests{list-style:none;padding:0}ul.tests li{margin:1px 0}
.o-failed{color:#a4161a;font-weight:600}.o-passed{color:#1b7a36}.o-xfailed{color:#8a5a00}
.tag{padding:0 6px;border-radius:3px;white-space:nowrap}.why{color:#4b5560;font-size:12.5px;overflow-wrap:anywhere}
.sec{font-size:12px;color:#66707a}td code,li code{font-size:12px}ul{margin:2px 0;padding-left:16px}
.hidden{display:none}
"""

_SCRIPT = """
(function(){
  var box=document.getElementById('filter');
  function apply(){
    var q=box.value.trim().toLowerCase().split(/\\s+/).filter(Boolean);
    document.querySelectorAll('.filterable').forEach(function(el){
      var t=el.getAttribute('data-text');
      el.classList.toggle('hidden', !q.every(function(w){return t.indexOf(w)>=0;}));
    });
    document.querySelectorAll('section.service').forEach(function(s){
      s.classList.toggle('hidden', !s.querySelector('tr.filterable:not(.hidden)'));
    });
    document.getElementById('shown').textContent=q.length?
      document.querySelectorAll('tr.filterable:not(.hidden)').length+' requirements match':'';
  }
  box.addEventListener('input',apply);
})();
"""

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DICOMweb conformance report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{css}</style></head><body>
<header><h1>DICOMweb conformance report</h1>{facts}</header>
{verdict}
<div class="summary">{by_service}{by_level}</div>
<div class="tools"><input id="filter" type="search" placeholder="Filter: ID, service, words of the statement or reason"
 aria-label="Filter requirements"><span id="shown"></span><nav>{nav}</nav></div>
<section id="failed"><h2>Failed requirements <small>({n_failed})</small></h2>{cards}</section>
{sections}
<script>{script}</script>
</body></html>
"""
