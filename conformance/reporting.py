"""Glue between the plugin and the reports: deselected tests, worker output, Allure labels, writing
every report of a run (and removing those of a previous run first).

Kept apart from :mod:`conformance.plugin` so the plugin's hooks stay short.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from .report import FAILURE_PROPERTY, RowResult
from .report_html import REPORT_NAME, write_report
from .requirements import Catalogue
from .results_json import RESULTS_NAME, suite_version, write_results_json

__all__ = ["FAILURE_PROPERTY", "RUN_REPORTS", "clear_reports", "write_reports", "deselected_hook",
           "merge_worker_output", "allure_labels", "primary_requirement"]

#: Every file a run writes under --reports-dir besides junit.xml and allure-results/.
RUN_REPORTS = ("conformance-matrix.md", "conformance-matrix.html", RESULTS_NAME, REPORT_NAME)
_DESELECTED_KEY = "dicomweb_conformance_deselected"
_SEVERITY = {"SHALL": "critical", "SHOULD": "normal", "MAY": "minor"}


def clear_reports(directory: Path) -> list[Path]:
    """Remove the reports a previous run left in ``directory``; return those removed."""
    removed = []
    for name in RUN_REPORTS:
        path = directory / name
        if path.is_file():
            path.unlink()
            removed.append(path)
    return removed


def write_reports(directory: Path, results: list[RowResult], meta: dict[str, str]) -> Path:
    """``conformance-results.json`` and ``conformance-report.html``; returns the HTML report's path."""
    version = suite_version()
    write_results_json(directory, results, meta)
    return write_report(directory, results, meta, suite_version=version)


class _Deselected:
    """``pytest_deselected``: in one process into the run's book; in a pytest-xdist worker into its
    ``workeroutput``, which the controller merges when the worker goes down."""

    def __init__(self, state: Any, config: pytest.Config, ids_of: Callable[[pytest.Item], Any]):
        self.state, self.config, self.ids_of = state, config, ids_of

    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        found = {item.nodeid: list(ids) for item in items if (ids := self.ids_of(item))}
        output = getattr(self.config, "workeroutput", None)
        if output is not None:
            output.setdefault(_DESELECTED_KEY, {}).update(found)
            return
        for nodeid, ids in found.items():
            self.state.book.add_deselected(nodeid, ids)


def deselected_hook(state: Any, config: pytest.Config, ids_of: Callable[[pytest.Item], Any]) -> _Deselected:
    """The plugin object recording deselected tests (``ids_of``: a collected item's requirement IDs)."""
    return _Deselected(state, config, ids_of)


def merge_worker_output(state: Any, workeroutput: dict[str, Any]) -> None:
    """Fold what a pytest-xdist worker reported at its end into the run's book."""
    for nodeid, ids in (workeroutput.get(_DESELECTED_KEY) or {}).items():
        state.book.add_deselected(nodeid, ids)


def primary_requirement(ids: tuple[str, ...], failed_first: str | None = None) -> str:
    """The requirement a test is filed under in Allure: the one given, else the first it cites."""
    return failed_first if failed_first in ids else ids[0]


def allure_labels(catalogue: Catalogue, ids: tuple[str, ...], level: str,
                  failed_first: str | None = None) -> Iterator[pytest.MarkDecorator]:
    """One epic (service), one feature (area), one story (requirement) per test, so the behaviours tree
    counts each test once; the other cited requirements are tags; every section is a link."""
    label, link = pytest.mark.allure_label, pytest.mark.allure_link
    main = catalogue[primary_requirement(ids, failed_first)]
    yield label(main.service, label_type="epic")
    yield label(main.feature, label_type="feature")
    yield label(f"{main.id} {main.statement[:70]}".rstrip(), label_type="story")
    yield label(_SEVERITY[level], label_type="severity")
    for other in ids:
        if other != main.id:
            yield label(other, label_type="tag")
    for req_id in ids:
        req = catalogue[req_id]
        if req.url:
            yield link(req.url, link_type="link", name=f"{req.id}: {req.section}")
