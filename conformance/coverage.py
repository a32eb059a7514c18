"""``python -m dicomweb_conformance.coverage``: which catalogue rows have tests (static, no server needed).

Collects the conformance tests (``pytest --collect-only`` in this process,
with a small plugin reading ``@pytest.mark.requirement``) and prints every
SHALL row with its test node IDs or its ``not_tested_reason``.  Exit status:
0 when every SHALL row has one or the other, 1 when some have neither, 2 when
the tests cannot be collected (e.g. a test cites an unknown ID).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from .requirements import LEVELS, CatalogueError, load_catalogue

PACKAGE_DIR = Path(__file__).resolve().parent


class _Collector:
    """pytest plugin recording each collected item's requirement IDs and any collection error."""

    def __init__(self) -> None:
        self.tests: dict[str, list[str]] = {}
        self.errors: list[str] = []

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.errors.append(f"{report.nodeid or '<session>'}: {str(report.longrepr).strip()}")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            ids: list[str] = []
            for mark in item.iter_markers("requirement"):
                ids += [a for a in mark.args if isinstance(a, str) and a not in ids]
            for req_id in ids:
                self.tests.setdefault(req_id, []).append(item.nodeid)


def collect(paths: list[str]) -> _Collector:
    """Collect the tests under ``paths`` (default: this package) without running anything."""
    collector = _Collector()
    args = ["--collect-only", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:benchmark",
            "-p", "dicomweb_conformance.plugin",
            "--rootdir", str(PACKAGE_DIR.parent), *(paths or [str(PACKAGE_DIR)])]
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        code = pytest.main(args, plugins=[collector])
    if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) and not collector.errors:
        collector.errors.append(f"pytest --collect-only exited {int(code)}:\n{output.getvalue().strip()}")
    return collector


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dicomweb_conformance.coverage", description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", help="test paths to collect (default: the conformance package)")
    parser.add_argument("--level", choices=LEVELS, action="append",
                        help="levels to list (default: SHALL); repeat for several")
    args = parser.parse_args(argv)
    try:
        catalogue = load_catalogue()
    except CatalogueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    found = collect(args.paths)
    if found.errors:
        print("error: the conformance tests cannot be collected:", file=sys.stderr)
        for error in found.errors:
            print(f"  {error}", file=sys.stderr)
        return 2
    levels = args.level or ["SHALL"]
    uncovered = []
    shall_total = shall_tested = shall_reasoned = 0
    for row in catalogue:
        if row.level not in levels:
            continue
        tests = found.tests.get(row.id, [])
        if row.level == "SHALL":
            shall_total += 1
            shall_tested += bool(tests)
            shall_reasoned += bool(not tests and row.not_tested_reason)
        print(f"{row.id:<10} {row.level:<6} {row.section:<24} {row.feature}")
        if tests:
            for nodeid in tests:
                print(f"    test: {nodeid}")
        elif row.not_tested_reason:
            print(f"    not tested: {row.not_tested_reason}")
        else:
            print("    NO TEST and no not_tested_reason")
            if row.level == "SHALL":
                uncovered.append(row.id)
    print(f"\nSHALL rows: {shall_total}; with tests: {shall_tested}; not tested with a reason: {shall_reasoned}; "
          f"uncovered: {len(uncovered)}")
    if uncovered:
        print("uncovered SHALL rows: " + ", ".join(uncovered))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
