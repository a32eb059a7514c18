"""Tests of the tests: every injected fault must be caught by the suite, and only where expected.

For each fault of :mod:`mock_server.faults` the mock is started with that one
fault, the conformance tests of the fault's area run against it (in a
subprocess, as a vendor would run them), and the run's results JSON must
show a failure of at least one of the requirements the fault breaks, while
the tests of a control area, which the fault does not touch, all pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dicomweb_mock.app import create_app
from dicomweb_mock.config import Settings
from dicomweb_mock.faults import FAULTS
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import serve_in_thread
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT

#: Conformance test files of each area.
AREAS = {
    "qido": ["conformance/test_qido_resources.py", "conformance/test_qido_matching.py",
             "conformance/test_qido_params.py", "conformance/test_qido_media.py"],
    "model": ["conformance/test_model.py", "conformance/test_model_xml.py"],
    "retrieve": ["conformance/test_wado_retrieve.py"],
    "metadata": ["conformance/test_wado_metadata.py", "conformance/test_resources.py"],
    "frames": ["conformance/test_wado_frames.py", "conformance/test_resources.py"],
    "rendered": ["conformance/test_wado_rendered.py", "conformance/test_resources.py"],
    "uri": ["conformance/test_wado_uri.py", "conformance/test_wado_uri_rendered.py", "conformance/test_resources.py"],
    "stow": ["conformance/test_stow.py"],
    "http": ["conformance/test_http.py"],
}

#: fault -> (area whose tests run, requirements of which at least one must fail, control area).
#: WADO-RS faults use WADO-URI as control: the QIDO tests follow RetrieveURLs into WADO-RS.
KILLS: dict[str, tuple[str, set[str], str]] = {
    "qido-ignore-limit": ("qido", {"QIDO-026"}, "uri"),
    "qido-ignore-offset": ("qido", {"QIDO-027"}, "uri"),
    "qido-no-warning": ("qido", {"QIDO-029"}, "uri"),
    "qido-ignore-includefield": ("qido", {"QIDO-017", "QIDO-018", "QIDO-043"}, "uri"),
    "qido-ignore-patient-name": ("qido", {"QIDO-008", "QIDO-012", "QIDO-014", "QIDO-041"}, "uri"),
    "qido-ignore-date-range": ("qido", {"QIDO-015", "QIDO-016"}, "uri"),
    "qido-uid-list-first-only": ("qido", {"QIDO-013"}, "uri"),
    "qido-ignore-modality": ("qido", {"QIDO-008", "QIDO-009", "QIDO-040"}, "uri"),
    "qido-empty-as-404": ("qido", {"QIDO-004"}, "uri"),
    "qido-bad-param-accepted": ("qido", {"QIDO-035", "QIDO-048", "HTTP-003"}, "uri"),
    "qido-text-content-type": ("qido", {"QIDO-001", "QIDO-002", "HTTP-005"}, "uri"),
    "qido-no-retrieve-url": ("qido", {"QIDO-022"}, "uri"),
    "qido-no-study-date": ("qido", {"QIDO-019", "QIDO-025"}, "uri"),
    "qido-no-instance-count": ("qido", {"QIDO-019", "QIDO-047"}, "uri"),
    "model-numbers-as-strings": ("model", {"MODEL-003"}, "uri"),
    "model-pn-as-string": ("model", {"MODEL-004", "MODEL-003"}, "uri"),
    "model-unsorted-tags": ("model", {"MODEL-002"}, "uri"),
    "model-wrong-vr": ("model", {"MODEL-009", "MODEL-003"}, "uri"),
    "model-bulk-and-inline": ("metadata", {"MODEL-010", "MODEL-007", "WADO-032", "WADO-011"}, "uri"),
    "wado-no-content-location": ("retrieve", {"HTTP-009", "WADO-001", "WADO-002", "WADO-003"}, "uri"),
    "wado-part-octet-stream": ("retrieve", {"WADO-028", "WADO-006", "WADO-001", "WADO-002", "WADO-003",
                                            "HTTP-007"}, "qido"),
    "wado-drop-last-instance": ("retrieve", {"WADO-001", "WADO-002"}, "uri"),
    "wado-unsupported-syntax-accepted": ("retrieve", {"WADO-025", "WADO-026", "WADO-007", "WADO-023",
                                                      "WADO-006"}, "qido"),
    "wado-multipart-no-type": ("retrieve", {"HTTP-008"}, "uri"),
    "wado-unknown-as-empty": ("retrieve", {"WADO-008"}, "uri"),
    "wado-metadata-no-bulk": ("metadata", {"WADO-011", "WADO-031", "WADO-032"}, "uri"),
    "wado-frames-corrupt": ("frames", {"WADO-013", "WADO-034", "WADO-012"}, "uri"),
    "wado-frame-out-of-range-ok": ("frames", {"WADO-033"}, "uri"),
    "wado-rendered-png-as-jpeg": ("rendered", {"WADO-015", "WADO-037"}, "uri"),
    "uri-missing-param-ok": ("uri", {"URI-002", "URI-003"}, "qido"),
    "uri-ignore-content-type": ("uri", {"URI-001", "URI-018", "URI-019", "URI-004"}, "qido"),
    "uri-unknown-as-500": ("uri", {"URI-015"}, "qido"),
    "stow-no-failed-sequence": ("stow", {"STOW-004"}, "uri"),
    "stow-conflict-as-200": ("stow", {"STOW-005"}, "uri"),
    "stow-no-retrieve-url": ("stow", {"STOW-003"}, "uri"),
    "stow-wrong-media-accepted": ("stow", {"STOW-006"}, "uri"),
    "qido-no-uid-list": ("qido", {"QIDO-013"}, "uri"),
    "no-metadata": ("metadata", {"WADO-009"}, "uri"),
    "no-frames": ("frames", {"WADO-012"}, "uri"),
    "no-rendered": ("rendered", {"WADO-015"}, "uri"),
    "no-thumbnail": ("rendered", {"WADO-021", "WADO-022", "WADO-043", "WADO-044"}, "uri"),
    "no-wado-uri": ("uri", {"URI-001"}, "qido"),
    "http-405-no-allow": ("http", {"HTTP-013"}, "qido"),
    "http-error-no-content-type": ("http", {"HTTP-005", "HTTP-013"}, "uri"),
}


def test_every_fault_has_a_kill_expectation():
    assert set(KILLS) == set(FAULTS)


def _run_suite(url: str, files: list[str], reports: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICOMWEB_", "PYTEST_XDIST"))}
    cmd = [sys.executable, "-m", "pytest", *files, "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "--dicomweb-url", url, "--target-profile", "mock", "--level", "may", "--reports-dir", str(reports), "-o", "addopts="]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    results = reports / "conformance-results.json"
    assert results.exists(), f"the suite wrote no results (exit {done.returncode}):\n{done.stdout[-3000:]}"
    return json.loads(results.read_text())


def _failed_requirements(results: dict, files: list[str]) -> set[str]:
    """Requirements whose checks failed in the tests of ``files``."""
    failed: set[str] = set()
    for nodeid, test in results["tests"].items():
        if test["outcome"] == "failed" and nodeid.split("::")[0] in files:
            failed |= set(test["failed_requirements"] or test["requirements"])
    return failed


@pytest.mark.slow
@pytest.mark.parametrize("fault", sorted(KILLS))
def test_fault_is_detected_by_its_requirements_only(fault, tmp_path):
    area, must_fail, control = KILLS[fault]
    settings = Settings()
    settings.faults = [fault]
    settings.dicomweb.strict = True  # measured as the suite's embedded target is: PS3.18 as written
    store = DiskStore.temporary()
    try:
        with serve_in_thread(create_app(settings, store, fixtures=False)) as server:
            results = _run_suite(server.dicomweb_url, AREAS[area] + AREAS[control][:1], tmp_path)
    finally:
        store.close()
    failed = _failed_requirements(results, AREAS[area])
    assert failed & must_fail, (f"fault {fault!r} ({FAULTS[fault].description}) went unnoticed: none of "
                                f"{sorted(must_fail)} failed; failed: {sorted(failed) or 'nothing'}")
    control_failed = _failed_requirements(results, AREAS[control][:1])
    assert not control_failed, (f"fault {fault!r} also failed unrelated requirements of area {control!r}: "
                                f"{sorted(control_failed)}")
