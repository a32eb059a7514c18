"""``--write-profile``: a baseline written against a faulty mock gates that mock, and notices a fixed fault.

The mock runs with two faults; the suite (a subprocess, as a vendor runs
it) writes a profile; rerun with that profile it passes; with one fault
removed it fails, and its summary names the entry to remove.  The profile
machinery it relies on (``extends``, families, the choice of a member by
version) is tested without a server below.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

from dicomweb_conformance.baseline import failure_line, test_glob
from dicomweb_conformance.profiles import ProfileError, load_profile
from dicomweb_conformance.selection import choose_member
from dicomweb_mock.app import create_app
from dicomweb_mock.config import Settings
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import serve_in_thread
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
FILES = ["conformance/test_qido_params.py"]
#: fault -> the requirement its failures are recorded under
FAULTS = {"qido-no-warning": "QIDO-029", "qido-ignore-offset": "QIDO-027"}


def _suite(url: str, reports: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICOMWEB_", "PYTEST_XDIST"))}
    cmd = [sys.executable, "-m", "pytest", *FILES, "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
           "--dicomweb-url", url, "--reports-dir", str(reports), "-o", "addopts=", *extra]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _set_faults(server, faults: list[str]) -> None:
    origin = server.dicomweb_url.split("/dicom-web/")[0]
    answer = requests.put(f"{origin}/_mock/faults", json=faults, timeout=10)
    assert answer.status_code in (200, 204), answer.text


def test_profile_written_against_a_faulty_mock_gates_it(tmp_path):
    profile = tmp_path / "faulty-mock.toml"
    store = DiskStore.temporary()
    try:
        with serve_in_thread(create_app(Settings(), store, fixtures=False)) as server:
            _set_faults(server, sorted(FAULTS))
            first = _suite(server.dicomweb_url, tmp_path / "r1", "--write-profile", str(profile))
            assert first.returncode == 1, first.stdout[-3000:]
            assert profile.is_file(), first.stdout[-3000:]
            data = tomllib.loads(profile.read_text(encoding="utf-8"))
            ids = {d["id"] for d in data["known_deviations"]}
            assert set(FAULTS.values()) <= ids, ids
            for deviation in data["known_deviations"]:
                assert deviation["tests"] and deviation["reason"] and "\n" not in deviation["reason"]

            again = _suite(server.dicomweb_url, tmp_path / "r2", "--target-profile", str(profile))
            assert again.returncode == 0, again.stdout[-3000:]
            assert "no longer deviates" not in again.stdout

            _set_faults(server, ["qido-ignore-offset"])  # qido-no-warning is fixed
            fixed = _suite(server.dicomweb_url, tmp_path / "r3", "--target-profile", str(profile))
    finally:
        store.close()
    assert fixed.returncode == 1, fixed.stdout[-3000:]
    lines = [ln for ln in fixed.stdout.splitlines() if "no longer deviates" in ln]
    assert lines and all(ln.startswith("QIDO-029 no longer deviates: remove its entry") for ln in lines), lines
    assert all(ln.endswith(f"from {profile}") for ln in lines), lines
    assert "QIDO-027" not in "\n".join(lines)


def test_test_glob_matches_only_that_name():
    import fnmatch

    name = "test_x[a*b?c[d]]"
    glob = test_glob(name)
    assert fnmatch.fnmatchcase(name, glob)
    assert not fnmatch.fnmatchcase("test_x[aXbYc[d]]", glob)


def test_failure_line_of_a_suite_check_and_of_an_error():
    text = "DICOMweb conformance failure\n  checked:  status code\n  expected: 400\n  actual:   500 Oops\n  at x.py:1"
    assert failure_line(text) == "status code: expected 400, got 500 Oops"
    assert failure_line("def f():\nE   KeyError: 'x'\nE   more", "setup") == "error in setup: KeyError: 'x'"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_extends_adds_deviations_and_features(tmp_path):
    _write(tmp_path / "base.toml", 'auth = "basic"\nunsupported_features = ["qido-fuzzy"]\n'
           'known_deviations = [{ id = "QIDO-029", tests = "test_paging_all_studies", reason = "no Warning" }]\n')
    child = _write(tmp_path / "child.toml", 'extends = "base.toml"\nunsupported_features = ["wado-thumbnail"]\n'
                   'known_deviations = [{ id = "QIDO-027", tests = "test_offset_*", reason = "offset ignored" }]\n')
    profile = load_profile(str(child))
    assert profile.auth == "basic"
    assert profile.unsupported_features == {"qido-fuzzy", "wado-thumbnail"}
    assert [(d.id, Path(d.source).name) for d in profile.known_deviations] == [("QIDO-029", "base.toml"),
                                                                               ("QIDO-027", "child.toml")]


def test_extends_cycle_is_refused(tmp_path):
    _write(tmp_path / "a.toml", 'extends = "b.toml"\n')
    _write(tmp_path / "b.toml", 'extends = "a.toml"\n')
    with pytest.raises(ProfileError, match="cycle"):
        load_profile(str(tmp_path / "a.toml"))


def test_orthanc_family_member_by_version():
    family = load_profile("orthanc")
    assert [m.name for m in family.family] == ["orthanc-1.10", "orthanc-1.12"]
    members = family.family
    exact = choose_member("orthanc", members, {"system": "1.12.7", "dicom-web": "1.20"})
    assert exact.exact and exact.profile.name == "orthanc-1.12"
    between = choose_member("orthanc", members, {"system": "1.11.3", "dicom-web": "1.13"})
    assert not between.exact and between.profile.name == "orthanc-1.10" and "nearest older" in between.line
    newer = choose_member("orthanc", members, {"system": "1.12.9", "dicom-web": "1.21"})
    assert not newer.exact and newer.profile.name == "orthanc-1.12"
    older = choose_member("orthanc", members, {"system": "1.9.7", "dicom-web": "1.6"})
    assert not older.exact and older.profile.name == "orthanc-1.10" and "older than every" in older.line


def test_shipped_orthanc_profiles_share_the_common_entries():
    common = load_profile("orthanc-common")
    for name in ("orthanc-1.10", "orthanc-1.12"):
        profile = load_profile(name)
        assert profile.known_deviations[:len(common.known_deviations)] == common.known_deviations
        own = profile.known_deviations[len(common.known_deviations):]
        assert own and not set(own) & set(common.known_deviations), name
    assert json.dumps(sorted(load_profile("orthanc-1.12").unsupported_features)) == \
        json.dumps(sorted(common.unsupported_features))


def test_family_choice_is_in_the_run_header(tmp_path):
    store = DiskStore.temporary()
    try:
        with serve_in_thread(create_app(Settings(), store, fixtures=False)) as server:
            version = requests.get(server.dicomweb_url.split("/dicom-web/")[0] + "/system", timeout=10).json()["Version"]
            env = {k: v for k, v in os.environ.items() if not k.startswith(("DICOMWEB_", "PYTEST_XDIST"))}
            done = subprocess.run([sys.executable, "-m", "pytest", *FILES, "--collect-only", "-p", "no:cacheprovider",
                                   "-p", "no:xdist", "--dicomweb-url", server.dicomweb_url, "--target-profile",
                                   "orthanc", "--reports-dir", str(tmp_path), "-o", "addopts="],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        store.close()
    header = [ln for ln in done.stdout.splitlines() if "no profile of family orthanc" in ln]
    assert header == 2 * [f"dicomweb conformance: no profile of family orthanc matches server {version}: using "
                      f"orthanc-1.10, the oldest one (the target is older than every profile); UNVERIFIED for "
                      f"this build"], done.stdout[-2000:]  # in the header, and again at the end
    assert "profile orthanc-1.10;" in done.stdout
