"""``conformance-results.json``: the run's outcomes for tools, described by
``schemas/conformance-results.schema.json`` (JSON Schema draft 2020-12).

Top level: ``suite`` (name, version), ``meta`` (the run: target, profile,
flags, as strings), ``generated`` (ISO 8601), ``summary`` (requirement counts
per level and per service), ``requirements`` (by ID: level, service, section,
link, statement, outcome, one-line detail, tests) and ``tests`` (by node ID:
outcome, requirement IDs, the IDs whose check failed, one-line reason, and for
a failed check what was checked, expected and actually found, and its first
HTTP exchange).
"""

from __future__ import annotations

import json
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from .cli import DISTRIBUTION, version as suite_version
from .report import RowResult, counts

__all__ = ["RESULTS_NAME", "SCHEMA_PATH", "suite_version", "results_document", "write_results_json",
           "results_schema", "validate_results"]

RESULTS_NAME = "conformance-results.json"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "conformance-results.schema.json"


def _per_service(results: list[RowResult]) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for r in results:
        row = table.setdefault(r.requirement.service, {})
        row[r.outcome] = row.get(r.outcome, 0) + 1
    return table


def _test_entry(test: Any) -> dict[str, Any]:
    entry = {"outcome": test.outcome or "not run", "requirements": list(test.req_ids),
             "failed_requirements": list(test.failed_ids), "reason": test.reason}
    if test.outcome == "failed":
        entry.update(checked=test.checked, expected=test.expected, actual=test.actual, note=test.note,
                     exchange=test.exchange,
                     deviation_fixed=test.deviation_fixed)
    return entry


def results_document(results: list[RowResult], meta: dict[str, str]) -> dict[str, Any]:
    """The document written to ``conformance-results.json``."""
    tests: dict[str, dict[str, Any]] = {}
    for r in results:
        for t in r.tests:
            tests.setdefault(t.nodeid, _test_entry(t))
    requirements = {
        r.requirement.id: {"level": r.requirement.level, "service": r.requirement.service,
                           "section": r.requirement.section, "url": r.requirement.url or "",
                           "feature": r.requirement.feature, "statement": r.requirement.statement,
                           "outcome": r.outcome, "detail": r.detail, "tests": [t.nodeid for t in r.tests]}
        for r in results}
    return {"suite": {"name": DISTRIBUTION, "version": suite_version()},
            "meta": dict(meta), "generated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "summary": {"by_level": counts(results), "by_service": _per_service(results)},
            "requirements": requirements, "tests": tests}


def write_results_json(directory: Path, results: list[RowResult], meta: dict[str, str]) -> Path:
    """Write ``conformance-results.json`` under ``directory``; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / RESULTS_NAME
    path.write_text(json.dumps(results_document(results, meta), indent=1, sort_keys=True), encoding="utf-8")
    return path


@lru_cache(maxsize=1)
def results_schema() -> dict[str, Any]:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_results(document: Any) -> list[str]:
    """Problems of a results document against the schema (empty when it conforms)."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(results_schema())
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))]
