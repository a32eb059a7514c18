"""Report building blocks without a server: outcomes of reports, the closing block, progress, UID abbreviation,
the HTML report's order and the cleanup's identifiers."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from dicomweb_conformance.expect import abbreviate
from dicomweb_conformance.report import (FAILED_REQUIREMENTS_PROPERTY, FAILURE_PROPERTY, REQUIREMENTS_PROPERTY,
                                         OutcomeBook, rows)
from dicomweb_conformance.report_html import render_report
from dicomweb_conformance.requirements import load_catalogue
from dicomweb_conformance.terminal import Progress, closing_block

ROOT = "2.25.1234567890123456789012345678901234567"


def _report(nodeid, ids, when="call", outcome="passed", longrepr=None, props=(), wasxfail=None):
    report = SimpleNamespace(nodeid=nodeid, when=when, passed=outcome == "passed", failed=outcome == "failed",
                             skipped=outcome == "skipped", longrepr=longrepr, longreprtext=str(longrepr or ""),
                             user_properties=[(REQUIREMENTS_PROPERTY, ids), *props])
    if wasxfail is not None:
        report.wasxfail = wasxfail
    return report


def _book() -> OutcomeBook:
    book = OutcomeBook()
    failure = {"checked": "Allow header", "expected": "present", "actual": "(absent)", "note": "",
               "requirements": ["HTTP-013"], "exchange": "> DELETE /studies HTTP/1.1"}
    book.add(_report("t.py::test_allow", "HTTP-013", outcome="failed", longrepr="DICOMweb conformance failure",
                     props=[(FAILURE_PROPERTY, json.dumps(failure))]))
    book.add(_report("t.py::test_should", "QIDO-032", outcome="failed", longrepr="AssertionError: bad order"))
    book.add(_report("t.py::test_fixed", "QIDO-005", outcome="failed",
                     longrepr="[XPASS(strict)] known deviation QIDO-005 (profile p): was broken"))
    book.add(_report("t.py::test_ok", "QIDO-001"))
    book.add(_report("t.py::test_dev", "QIDO-004", outcome="skipped", wasxfail="known deviation QIDO-004: 204"))
    book.add_deselected("t.py::test_http_002", ["HTTP-002"])
    return book


def test_outcomes_carry_reasons_and_evidence():
    book = _book()
    allow = book.tests["t.py::test_allow"]
    assert (allow.reason, allow.expected, allow.actual) == ("Allow header: expected present, got (absent)",
                                                            "present", "(absent)")
    assert allow.exchange.startswith("> DELETE")
    assert book.tests["t.py::test_should"].reason == "AssertionError: bad order"
    assert book.tests["t.py::test_fixed"].deviation_fixed
    results = {r.requirement.id: r for r in rows(load_catalogue(), book)}
    assert results["HTTP-002"].outcome == "deselected"
    assert results["HTTP-001"].outcome == "not tested"
    assert results["QIDO-004"].outcome == "xfailed"


def test_a_known_deviation_is_counted_for_its_own_requirement_only():
    """A test citing QIDO-012 and QIDO-015, xfailed for the known deviation of QIDO-015: QIDO-012 was not run to
    a verdict (blocked), whether the failed check's ID is recorded or only the deviation's reason names it."""
    book = OutcomeBook()
    reason = "known deviation QIDO-015 (profile p): ranges are not matched"
    book.add(_report("t.py::test_recorded", "QIDO-012,QIDO-015", outcome="skipped", wasxfail=reason,
                     props=[(FAILED_REQUIREMENTS_PROPERTY, "QIDO-015")]))
    book.add(_report("t.py::test_named", "QIDO-013,QIDO-015", outcome="skipped", wasxfail=reason))
    for nodeid, other in (("t.py::test_recorded", "QIDO-012"), ("t.py::test_named", "QIDO-013")):
        test = book.tests[nodeid]
        assert (test.outcome_for("QIDO-015"), test.outcome_for(other)) == ("xfailed", "blocked")
    results = {r.requirement.id: r for r in rows(load_catalogue(), book)}
    assert results["QIDO-015"].outcome == "xfailed"
    assert (results["QIDO-012"].outcome, results["QIDO-013"].outcome) == ("blocked", "blocked")
    assert results["QIDO-012"].detail == "its test stopped at a known deviation of another requirement"


def test_closing_block_lists_shall_then_should_then_fixed_deviations():
    book = _book()
    catalogue = load_catalogue()
    lines = closing_block(rows(catalogue, book), book)
    shall = {"QIDO-005": "no longer deviates: known deviation QIDO-005 (profile p): was broken",
             "HTTP-013": "Allow header: expected present, got (absent)"}
    in_catalogue_order = [r.id for r in catalogue if r.id in shall]
    assert lines == [
        "Failed SHALL requirements (2):",
        *(f"  {rid:<9} {shall[rid]}" for rid in in_catalogue_order),
        "Failed SHOULD requirements (1):",
        "  QIDO-032  AssertionError: bad order",
        "Known deviations that no longer deviate (1): remove them from the profile",
        "  t.py::test_fixed: known deviation QIDO-005 (profile p): was broken",
    ]


def test_html_report_puts_failed_requirements_first():
    book = _book()
    page = render_report(rows(load_catalogue(), book), {"target.dicomweb_url": "http://x/dicom-web/"},
                         suite_version="1.2.3")
    failed = page.index('<section id="failed">')
    assert page.index("HTTP-013") > failed and page.index("QIDO-032") > failed
    http = page.split('id="svc-http"', 1)[1]
    assert http.index("HTTP-013") < http.index("HTTP-002") < http.index("HTTP-001")  # failed, deselected, untested
    assert "dicomweb-conformance 1.2.3" in page and "3 requirements failed (2 SHALL, 1 SHOULD)." in page


class _Terminal:
    def __init__(self, tty: bool):
        self.isatty, self.lines = tty, []

    def rewrite(self, text, erase=False):
        self.lines.append(text)

    def write_line(self, text):
        self.lines.append(text)


@pytest.mark.parametrize("tty", [True, False])
def test_progress_is_shown_on_a_terminal_only(tty):
    terminal = _Terminal(tty)
    progress = Progress(terminal)
    progress("storing the fixtures on the target: 10/55 instances, 4.0/24.4 MB")
    progress.done("target ready")
    expected = ["dicomweb conformance: storing the fixtures on the target: 10/55 instances, 4.0/24.4 MB",
                "dicomweb conformance: target ready", ""]
    assert terminal.lines == (expected if tty else [])


def test_abbreviation_of_the_run_uids():
    three = ", ".join(f"'{ROOT}.1.{n}.1'" for n in range(3))
    assert abbreviate(f"by {{'PatientName': 'X', 'StudyInstanceUID': [{three}]}}", ROOT) == \
        "by {'PatientName': 'X', 'StudyInstanceUID': [3 UIDs of this run]}"
    assert abbreviate(f"study {ROOT}.1.2.1 and 1.2.840.10008.1.2", ROOT) == "study <run>.1.2.1 and 1.2.840.10008.1.2"
    assert abbreviate(f"two: '{ROOT}.1', '{ROOT}.2'", ROOT) == "two: '<run>.1', '<run>.2'"
    assert abbreviate(f"{ROOT}9.1", ROOT) == f"{ROOT}9.1"  # another root that merely starts alike
    assert abbreviate(f"{ROOT}.1", "") == f"{ROOT}.1"


def test_cleanup_deletes_the_orthanc_patients_of_every_run_id():
    from dicomweb_conformance.cleanup import _patient_ids, delete_patients
    from dicomweb_conformance.test_servers import orthanc_id
    from dicomweb_conformance.truth import RunIds

    ids = RunIds(ROOT[:10], ROOT, "-R12345678")
    patients = _patient_ids([ids])
    assert patients and all(p.endswith("-R12345678") for p in patients)
    calls = []

    class Client:
        def delete(self, url):
            calls.append(url)
            return SimpleNamespace(status_code=200 if len(calls) == 1 else 404, reason="")

    assert delete_patients(Client(), "http://pacs", patients) == (1, len(patients) - 1, "")
    assert calls[0] == f"http://pacs/patients/{orthanc_id(patients[0])}"

    class Refusing:
        def delete(self, url):
            return SimpleNamespace(status_code=405, reason="Method Not Allowed")

    deleted, absent, problem = delete_patients(Refusing(), "http://pacs", patients)
    assert (deleted, absent) == (0, 0) and "answered 405 Method Not Allowed" in problem


def test_deselected_tests_reach_the_book_in_one_process_and_through_xdist_workers():
    from dicomweb_conformance.reporting import deselected_hook, merge_worker_output

    items = [SimpleNamespace(nodeid="t.py::test_a", ids=("HTTP-002",)), SimpleNamespace(nodeid="t.py::x", ids=None)]
    single = SimpleNamespace(book=OutcomeBook())
    deselected_hook(single, SimpleNamespace(), lambda item: item.ids).pytest_deselected(items)
    assert single.book.deselected == {"t.py::test_a": ("HTTP-002",)}

    worker_config = SimpleNamespace(workeroutput={})
    controller = SimpleNamespace(book=OutcomeBook())
    deselected_hook(controller, worker_config, lambda item: item.ids).pytest_deselected(items)
    assert controller.book.deselected == {}  # a worker only reports
    merge_worker_output(controller, worker_config.workeroutput)
    assert controller.book.deselected == {"t.py::test_a": ("HTTP-002",)}


def test_unexpected_results_are_named_by_patient_study_date_and_description():
    import dicomweb_fixtures as fixtures
    from dicomweb_conformance.checks.qido import describe_entity
    from dicomweb_conformance.truth import RunIds, Truth

    truth = Truth(fixtures.load_manifest(), RunIds.new(fixtures.UID_ROOT))
    vix = next(s for s in truth.studies if s["StudyDescription"] == "CT CHEST ABDOMEN")
    assert describe_entity(truth, "study")(vix["StudyInstanceUID"]) == \
        "VIX^Visible^Human / 20190315 / CT CHEST ABDOMEN"
    assert describe_entity(truth, "any")(vix["StudyInstanceUID"]).startswith("VIX^Visible^Human / 20190315")
    assert describe_entity(truth, "study")("1.2.3") == "1.2.3"  # not one of the run's: the UID itself
