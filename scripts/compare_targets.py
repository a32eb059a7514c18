"""Side-by-side conformance matrix of several targets (requirement x target), in Markdown and HTML.

    python3 scripts/compare_targets.py RESULTS_A.json RESULTS_B.json ... \\
        [--names mock,orthanc] [--about "orthanc=DICOMweb plugin 1.7"] [--out reports/side-by-side.md]

Each RESULTS file is the ``conformance-results.json`` that a run of the suite
writes into its ``--reports-dir`` (see ``conformance/report.py``): its ``meta``
describes the run (``target.server`` is the server identity the suite read from
``GET /system`` or the ``Server`` header, ``profile``, ``level``...), its
``requirements`` give the outcome of every catalogue row and its ``tests`` the
outcome of every test.  One row per requirement (PS3.18-2019a / PS3.19 /
PS3.4 / seed rows of ``conformance/requirements.csv``), one column per
target, each cell one of: passed, failed, xfail (known deviation), skipped,
not tested, not verified (another check of the same test failed first) or
"absent" (the row is not in that run's catalogue).  ``--out X.md`` writes
``X.md`` and ``X.html``.  Bad input ends with one clear message and exit
status 2.
"""

from __future__ import annotations

import argparse
import csv
import html
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["CompareError", "Target", "Row", "LABELS", "load_results", "load_statements", "build_rows",
           "count_tests", "render_markdown", "render_html", "write_reports", "main"]

CATALOGUE = Path(__file__).resolve().parent.parent / "conformance" / "requirements.csv"
ABSENT = "absent"
#: requirement outcome of conformance-results.json -> cell label
LABELS = {"passed": "passed", "failed": "failed", "xfailed": "xfail (known deviation)", "skipped": "skipped",
          "not tested": "not tested", "blocked": "not verified", "deselected": "not run (deselected)",
          ABSENT: "absent"}
LEVEL_ORDER = ("SHALL", "SHOULD", "MAY")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
_ID = re.compile(r"^([A-Z]+)-(\d+)$")
_TEST_OUTCOMES = ("passed", "failed", "xfailed", "skipped")


class CompareError(ValueError):
    """An input file or option is unusable; the message says which and why."""


@dataclass
class Target:
    """One run's results: a column of the matrix."""

    name: str
    path: Path
    meta: dict[str, str]
    requirements: dict[str, dict[str, Any]]
    tests: dict[str, dict[str, Any]]
    about: str = ""

    @property
    def server(self) -> str:
        """The server identity the suite recorded (``meta['target.server']``)."""
        return self.meta.get("target.server") or "unknown"

    @property
    def profile(self) -> str:
        return self.meta.get("profile", "")


@dataclass
class Row:
    """One requirement with its outcome on every target."""

    id: str
    level: str
    feature: str
    section: str
    statement: str
    outcomes: list[str] = field(default_factory=list)   # one per target (keys of LABELS)
    details: list[str] = field(default_factory=list)    # reason of an xfail/skip, one per target

    @property
    def differs(self) -> bool:
        """True when the targets do not all have the same outcome."""
        return len(set(self.outcomes)) > 1


def _id_key(req_id: str) -> tuple[str, int, str]:
    m = _ID.match(req_id)
    return (m.group(1), int(m.group(2)), "") if m else (req_id, 0, req_id)


def load_results(path: Path, name: str | None = None) -> Target:
    """Read one ``conformance-results.json``; ``name`` defaults to the profile name of its meta."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CompareError(f"{path}: no such results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: cannot read it: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CompareError(f"{path}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise CompareError(f"{path}: not a conformance-results.json (the top level is not an object)")
    for key in ("meta", "requirements"):
        if not isinstance(doc.get(key), dict):
            raise CompareError(f"{path}: not a conformance-results.json (no '{key}' object)")
    requirements = doc["requirements"]
    for req_id, entry in requirements.items():
        if not isinstance(entry, dict) or entry.get("outcome") not in LABELS or entry.get("outcome") == ABSENT:
            raise CompareError(f"{path}: requirement {req_id} has no valid outcome "
                               f"(one of {', '.join(k for k in LABELS if k != ABSENT)})")
    tests = doc.get("tests", {})
    if not isinstance(tests, dict):
        raise CompareError(f"{path}: 'tests' is not an object")
    meta = {str(k): str(v) for k, v in doc["meta"].items()}
    if name is None:
        name = (meta.get("profile", "").split(" ", 1)[0] or Path(path).parent.name or Path(path).stem)
    return Target(name=name, path=Path(path), meta=meta, requirements=requirements, tests=tests)


def load_statements(catalogue: Path | None = CATALOGUE) -> tuple[dict[str, str], list[str]]:
    """({id: statement}, ids in catalogue order) from ``requirements.csv``; empty if there is none."""
    if catalogue is None or not Path(catalogue).is_file():
        return {}, []
    with open(catalogue, newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r.get("id")]
    return {r["id"]: (r.get("statement") or "").strip() for r in rows}, [r["id"] for r in rows]


def build_rows(targets: Sequence[Target], statements: dict[str, str] | None = None,
               order: Sequence[str] = ()) -> list[Row]:
    """One row per requirement known to any target: catalogue order first, then the others by ID."""
    statements = statements or {}
    known = {req_id for t in targets for req_id in t.requirements}
    ids = [i for i in order if i in known] + sorted(known - set(order), key=_id_key)
    rows = []
    for req_id in ids:
        first = next(t.requirements[req_id] for t in targets if req_id in t.requirements)
        row = Row(req_id, str(first.get("level", "")), str(first.get("feature", "")), str(first.get("section", "")),
                  statements.get(req_id, ""))
        for t in targets:
            entry = t.requirements.get(req_id)
            row.outcomes.append(entry["outcome"] if entry else ABSENT)
            row.details.append(str(entry.get("detail") or "") if entry else "")
        rows.append(row)
    return rows


def count_tests(target: Target) -> dict[str, int]:
    """Tests of the run by outcome (passed, failed, xfailed, skipped) and their total."""
    counts = {k: 0 for k in _TEST_OUTCOMES}
    for entry in target.tests.values():
        outcome = entry.get("outcome") if isinstance(entry, dict) else None
        if outcome in counts:
            counts[outcome] += 1
    counts["total"] = len(target.tests)
    return counts


def requirement_counts(rows: Sequence[Row], index: int) -> dict[str, dict[str, int]]:
    """{level: {outcome: count}} of one target (column ``index``)."""
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        level = table.setdefault(row.level, {})
        level[row.outcomes[index]] = level.get(row.outcomes[index], 0) + 1
    return table


def _md(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _summary(rows: Sequence[Row], index: int) -> str:
    """``SHALL: 3 passed, 1 failed; SHOULD: ...`` for one target (column ``index``)."""
    table = requirement_counts(rows, index)
    levels = [lv for lv in LEVEL_ORDER if lv in table] + sorted(set(table) - set(LEVEL_ORDER))
    rank = list(LABELS)
    parts = []
    for lv in levels:
        by_outcome = sorted(table[lv].items(), key=lambda kv: rank.index(kv[0]))
        parts.append(f"{lv}: " + ", ".join(f"{n} {LABELS[o]}" for o, n in by_outcome))
    return "; ".join(parts)


def _describe(target: Target) -> list[tuple[str, str]]:
    """(label, value) lines that identify a target's run."""
    counts = count_tests(target)
    out = [("server", target.server + (f" ({target.about})" if target.about else "")),
           ("profile", target.profile), ("level", target.meta.get("level", "")),
           ("DICOMweb URL", target.meta.get("target.dicomweb_url", "")),
           ("tests", f"{counts['total']}: {counts['passed']} passed, {counts['failed']} failed, "
                     f"{counts['xfailed']} xfail (known deviation), {counts['skipped']} skipped"),
           ("results", str(target.path))]
    return [(k, v) for k, v in out if v]


def render_markdown(targets: Sequence[Target], rows: Sequence[Row], generated: str) -> str:
    """The side-by-side matrix as Markdown."""
    names = [t.name for t in targets]
    md = ["# DICOMweb conformance side by side", "", f"Generated {generated}.", ""]
    for i, t in enumerate(targets):
        md.append(f"## {_md(t.name)}")
        md += [f"- **{k}**: {_md(v)}" for k, v in _describe(t)]
        md += [f"- **requirements**: {_md(_summary(rows, i))}", ""]
    differing = sum(r.differs for r in rows)
    md += [f"{len(rows)} requirements, {differing} with different outcomes across targets (marked ≠).", ""]
    md.append("| ID | Level | Feature | Section | Statement | " + " | ".join(_md(n) for n in names) + " | |")
    md.append("|---|---|---|---|---|" + "---|" * len(names) + "---|")
    for r in rows:
        cells = " | ".join(LABELS[o] for o in r.outcomes)
        md.append(f"| {r.id} | {r.level} | {_md(r.feature)} | {_md(r.section)} | {_md(r.statement)} | {cells} | "
                  f"{'≠' if r.differs else ''} |")
    for i, t in enumerate(targets):
        notes = [(r.id, LABELS[r.outcomes[i]], r.details[i]) for r in rows
                 if r.details[i] and r.outcomes[i] in ("xfailed", "skipped", "not tested")]
        if notes:
            md += ["", f"### Reasons on {_md(t.name)} (known deviations, skips, rows not tested)", ""]
            md += [f"- **{rid}** {label}: {_md(detail)}" for rid, label, detail in notes]
    return "\n".join(md) + "\n"


def render_html(targets: Sequence[Target], rows: Sequence[Row], generated: str) -> str:
    """The side-by-side matrix as a self-contained HTML page (reasons as cell tooltips)."""
    esc = html.escape
    heads = []
    for i, t in enumerate(targets):
        items = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in _describe(t))
        heads.append(f"<h2>{esc(t.name)}</h2><ul>{items}<li><b>requirements</b>: {esc(_summary(rows, i))}</li></ul>")
    trs = []
    for r in rows:
        cells = "".join(f'<td class="{esc(o.replace(" ", "-"))}" title="{esc(d)}">{esc(LABELS[o])}</td>'
                        for o, d in zip(r.outcomes, r.details))
        trs.append(f'<tr class="{"differs" if r.differs else "same"}"><td>{esc(r.id)}</td><td>{esc(r.level)}</td>'
                   f"<td>{esc(r.feature)}</td><td>{esc(r.section)}</td><td>{esc(r.statement)}</td>{cells}</tr>")
    names = "".join(f"<th>{esc(t.name)}</th>" for t in targets)
    differing = sum(r.differs for r in rows)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>DICOMweb conformance side by side</title>
<style>
body {{ font-family: sans-serif; margin: 1.5em; }} table {{ border-collapse: collapse; }}
td, th {{ border: 1px solid #bbb; padding: 4px 6px; vertical-align: top; font-size: 90%; }}
td.passed {{ background: #d4f4d4; }} td.failed {{ background: #f8c8c8; }} td.xfailed {{ background: #fbe7b5; }}
td.skipped {{ background: #e6e6e6; }} td.not-tested, td.blocked, td.absent {{ color: #777; }}
tr.differs td:first-child {{ font-weight: bold; }}
</style></head><body>
<h1>DICOMweb conformance side by side</h1>
<p>Generated {esc(generated)}. {len(rows)} requirements, {differing} with different outcomes across targets
(their IDs in bold); hover a cell for the reason of an xfail or a skip.</p>
{''.join(heads)}
<table><thead><tr><th>ID</th><th>Level</th><th>Feature</th><th>Section</th><th>Statement</th>{names}</tr></thead>
<tbody>
{chr(10).join(trs)}
</tbody></table></body></html>
"""


def write_reports(targets: Sequence[Target], out: Path, catalogue: Path | None = CATALOGUE) -> tuple[Path, Path]:
    """Write ``out`` with suffix .md and .html; return both paths."""
    statements, order = load_statements(catalogue)
    rows = build_rows(targets, statements, order)
    generated = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    md_path, html_path = Path(out).with_suffix(".md"), Path(out).with_suffix(".html")
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(render_markdown(targets, rows, generated), encoding="utf-8")
    html_path.write_text(render_html(targets, rows, generated), encoding="utf-8")
    return md_path, html_path


def _split_names(value: str | None, count: int) -> list[str | None]:
    if value is None:
        return [None] * count
    names = [n.strip() for n in value.split(",")]
    if len(names) != count:
        raise CompareError(f"--names gives {len(names)} name(s) for {count} results file(s)")
    for n in names:
        if not _NAME.match(n):
            raise CompareError(f"--names: {n!r} is not a valid target name (letters, digits, . _ + -)")
    return list(names)


def _abouts(values: Sequence[str], names: Sequence[str]) -> dict[str, str]:
    out = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not text.strip():
            raise CompareError(f"--about {value!r}: expected NAME=TEXT")
        if name not in names:
            raise CompareError(f"--about {value!r}: no target named {name!r} (targets: {', '.join(names)})")
        out[name] = text.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/compare_targets.py", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, help="conformance-results.json of each target")
    parser.add_argument("--names", help="comma-separated column names, one per results file "
                                        "(default: the profile name of each run)")
    parser.add_argument("--about", action="append", default=[], metavar="NAME=TEXT",
                        help="extra identity of a target shown after its server, e.g. 'orthanc=DICOMweb plugin 1.7'")
    parser.add_argument("--out", type=Path, default=Path("reports/side-by-side.md"),
                        help="output path; .md and .html are written (default reports/side-by-side.md)")
    parser.add_argument("--catalogue", type=Path, default=CATALOGUE, help="requirements.csv for the statements")
    args = parser.parse_args(argv)
    try:
        names = _split_names(args.names, len(args.results))
        targets = [load_results(path, name) for path, name in zip(args.results, names)]
        seen: set[str] = set()
        for t in targets:
            if t.name in seen:
                raise CompareError(f"two targets are named {t.name!r}: give distinct --names")
            seen.add(t.name)
        for name, text in _abouts(args.about, [t.name for t in targets]).items():
            next(t for t in targets if t.name == name).about = text
        md_path, html_path = write_reports(targets, args.out, args.catalogue)
    except CompareError as exc:
        print(f"compare_targets: error: {exc}", file=sys.stderr)
        return 2
    print(f"compare_targets: {len(targets)} target(s) -> {md_path} and {html_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
