"""The suite against a partial server: each missing capability is one failure, under its own requirement.

The mock is switched into a server that implements only part of DICOMweb (faults of
:mod:`mock_server.faults`): no List of UID Matching, no metadata, frames, rendered or
thumbnail resources, no WADO-URI.  Its profile is honest: it disclaims thumbnails (optional)
and lists metadata, frames and rendered as unsupported, which PS3.18-2019a makes mandatory
(Table 10.3-2), so they are still tested.  The whole suite runs against it (in a subprocess,
as a vendor runs it) and must report exactly the missing capabilities, each under its own
requirement: no cascade of 204s from scoped searches, no 404s from resources used as
vehicles, no failure under another requirement's ID.
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
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import serve_in_thread
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
MISSING = ["qido-no-uid-list", "no-metadata", "no-frames", "no-rendered", "no-thumbnail", "no-wado-uri"]
#: requirement -> the tests that must report it (and no other test may fail)
EXPECTED = {
    "QIDO-013": {"test_uid_list_matching"},
    "WADO-009": {"test_mandatory_resource_is_served[wado-metadata]"},
    "WADO-012": {"test_mandatory_resource_is_served[frames]"},
    "WADO-015": {"test_mandatory_resource_is_served[wado-rendered]"},
    "URI-001": {"test_mandatory_resource_is_served[wado-uri]"},
}
PROFILE = '''
name = "partial"
description = "no UID lists, no metadata/frames/rendered/thumbnails, no WADO-URI"
unsupported_features = ["wado-thumbnail", "wado-metadata", "frames", "wado-rendered"{extra}]
'''


def _run(url: str, tmp_path: Path, profile: str, *selection: str) -> tuple[subprocess.CompletedProcess, dict]:
    (tmp_path / "partial.toml").write_text(profile, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICOMWEB_", "PYTEST_XDIST"))}
    reports = tmp_path / "reports"
    cmd = [sys.executable, "-m", "pytest", *(selection or ["conformance"]), "-q", "-p", "no:cacheprovider",
           "-n", "2", "--dicomweb-url", url, "--target-profile", str(tmp_path / "partial.toml"),
           "--reports-dir", str(reports), "-o", "addopts=", "-rs"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    results = reports / "conformance-results.json"
    assert results.exists(), f"the suite wrote no results (exit {done.returncode}):\n{done.stdout[-3000:]}"
    return done, json.loads(results.read_text())


@pytest.fixture(scope="module")
def partial_url():
    settings = Settings()
    settings.faults = list(MISSING)
    settings.dicomweb.strict = True  # measured as the suite's embedded target is: PS3.18 as written
    store = DiskStore.temporary()
    try:
        with serve_in_thread(create_app(settings, store, fixtures=False)) as server:
            yield server.dicomweb_url
    finally:
        store.close()


def _failures(results: dict) -> dict[str, list[str]]:
    """test name -> the requirements its failure names."""
    return {nodeid.split("::", 1)[1]: list(test["failed_requirements"] or test["requirements"])
            for nodeid, test in results["tests"].items() if test["outcome"] == "failed"}


@pytest.mark.slow
def test_each_missing_capability_is_one_failure_under_its_own_requirement(partial_url, tmp_path):
    done, results = _run(partial_url, tmp_path, PROFILE.format(extra=""))
    failures = _failures(results)
    by_requirement: dict[str, list[str]] = {}
    for name, reqs in failures.items():
        assert len(reqs) == 1, f"{name} failed under several requirements {reqs}:\n{done.stdout[-3000:]}"
        by_requirement.setdefault(reqs[0], []).append(name)
    assert set(by_requirement) == set(EXPECTED), (f"failed requirements {sorted(by_requirement)}, expected "
                                                  f"{sorted(EXPECTED)}:\n{done.stdout[-4000:]}")
    for req, names in by_requirement.items():
        assert all(n in EXPECTED[req] or n.split("[")[0] in EXPECTED[req] for n in names), (req, names)
    for req in ("WADO-009", "WADO-012", "WADO-015", "URI-001"):
        assert len(by_requirement[req]) == 1, (req, by_requirement[req])
    # the other tests of the missing resources say what blocks them
    reasons = " ".join(t.get("reason") or "" for t in results["tests"].values() if t["outcome"] == "skipped")
    for req in ("WADO-009", "WADO-012", "WADO-015", "URI-001"):
        assert f"blocked by {req}:" in reasons, req
    assert done.returncode == 1


@pytest.mark.slow
def test_a_disclaimed_optional_service_is_not_used_as_a_vehicle(partial_url, tmp_path):
    """wado-uri disclaimed: the HTTP tests' WADO-URI cases are skipped "not claimed", none fails."""
    done, results = _run(partial_url, tmp_path, PROFILE.format(extra=', "wado-uri"'),
                         "conformance/test_http.py", "conformance/test_wado_uri.py", "conformance/test_negotiation.py")
    assert _failures(results) == {}, done.stdout[-4000:]
    skipped = {nodeid.split("::", 1)[1]: test for nodeid, test in results["tests"].items()
               if test["outcome"] == "skipped"}
    uri_cases = [n for n in skipped if "WADO-URI" in n]
    reasons = {n: skipped[n]["reason"] for n in uri_cases}
    assert uri_cases and all("not claimed by profile partial: wado-uri" in r or r.startswith("SHOULD-level")
                             for r in reasons.values()), reasons
    assert done.returncode == 0
