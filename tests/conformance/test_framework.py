"""Tests of the conformance suite's framework (conformance/*.py), not of a DICOMweb server.

Unit tests of the catalogue, profiles, UID rewriting, query encoding, the
recording client and the ``expect`` messages; then pytester runs of small
suites that check collection errors, option errors, profile skips/xfails and
the matrix; then two subprocess runs of the real smoke suite (one process and
pytest-xdist) that seed the embedded mock.
"""

from __future__ import annotations

import hashlib
import io
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.encaps import generate_fragments

import dicomweb_fixtures as fixtures
from dicomweb_conformance import expect
from dicomweb_conformance.http import Exchange, RecordingClient, TransportError, body_excerpt, encode_query
from dicomweb_conformance.profiles import ProfileError, load_profile, parse_profile
from dicomweb_conformance.requirements import CatalogueError, load_catalogue, section_url
from dicomweb_conformance.seeding import plan_batches, rewrite_file
from dicomweb_conformance.truth import RunIds, Truth
from tests.helpers import REPO_ROOT

pytest_plugins = ["pytester"]

REPO = REPO_ROOT
MANIFEST = fixtures.load_manifest()
HEADER = "id,section,level,feature,statement,not_tested_reason\n"


# -- catalogue, profiles ---------------------------------------------------------------------------------
def test_shipped_catalogue_is_valid_and_links_to_the_standard():
    catalogue = load_catalogue()
    assert len(catalogue) >= 60
    assert {r.prefix for r in catalogue} >= {"QIDO", "WADO", "URI", "STOW", "MODEL", "HTTP", "NEG"}
    for row in catalogue:
        if row.section.startswith("PS3."):
            # a section links to #sect_..., an Annex cited as a whole (PS3.18-2019a H) to #chapter_H
            assert row.url and ("#sect_" in row.url or row.url.endswith(f"#chapter_{row.section.split()[-1]}")), row.id


@pytest.mark.parametrize("rows, message", [
    ("QIDO-001,PS3.18-2019a 10.6,SHALL,qido,One.,\nQIDO-001,PS3.18-2019a 10.6,SHALL,qido,Two.,\n", "duplicate id"),
    ("QIDO-001,PS3.18-2019a 10.6,MUST,qido,One.,\n", "level 'MUST'"),
    ("QIDO-001,PS3.18-2019a 10.6,SHALL,qido,,\n", "empty statement"),
    ("Q1,PS3.18-2019a 10.6,SHALL,qido,One.,\n", "not of the form"),
    ("QIDO-001,PS3.18-2019a 10.6,SHALL,Qido Fuzzy,One.,\n", "lower-case slug"),
])
def test_catalogue_loader_rejects_bad_rows(tmp_path, rows, message):
    path = tmp_path / "requirements.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    with pytest.raises(CatalogueError, match=message):
        load_catalogue(path)


def test_section_urls():
    base = "https://dicom.nema.org/medical/dicom/2019a/output/html/"
    assert section_url("PS3.18-2019a 10.6.3.3") == base + "part18.html#sect_10.6.3.3"
    assert section_url("PS3.18-2019a F.2.3") == base + "part18.html#sect_F.2.3"
    assert section_url("PS3.18-2019a 8") == base + "part18.html#chapter_8"
    assert section_url("PS3.4-2019a C.2.2.2.1") == base + "part04.html#sect_C.2.2.2.1"
    assert section_url("seed: /servers") is None


def test_profiles_claims_and_deviations():
    profile = parse_profile({"claims": ["wado-thumbnail", "qido-fuzzy"], "unsupported_features": ["qido-fuzzy",
                                                                                                  "qido-xml"],
                             "known_deviations": [{"id": "QIDO-004", "reason": "r", "tests": "test_a*"}]},
                            name="x", source="x.toml")
    assert profile.claims_feature("wado-thumbnail") and not profile.claims_feature("qido-fuzzy")
    assert not profile.claims_feature("wado-uri") and not profile.claims_feature("wado-uri-window")
    # mandatory features are always claimed: a SHALL cannot be disclaimed
    assert profile.claims_feature("stow") and profile.claims_feature("qido-xml")
    assert profile.disclaimed_mandatory == ["qido-xml"]
    generic = load_profile("generic")
    assert generic.claims_feature("wado-metadata") and not generic.claims_feature("wado-thumbnail")
    assert not generic.claims_feature("servers") and not generic.claims_feature("wado-uri-region")
    # a known deviation must select its tests
    with pytest.raises(ProfileError, match="tests must be a glob"):
        parse_profile({"known_deviations": [{"id": "QIDO-004", "reason": "r"}]}, name="x", source="x.toml")
    assert profile.deviations_for(["QIDO-004"], "test_abc", "m.py::test_abc")
    assert not profile.deviations_for(["QIDO-004"], "test_b", "m.py::test_b")
    assert load_profile("mock").claims_feature("qido-fuzzy")
    with pytest.raises(ProfileError, match="unknown key"):
        parse_profile({"claim": []}, name="x", source="x.toml")
    with pytest.raises(ProfileError, match="reason"):
        parse_profile({"known_deviations": [{"id": "QIDO-004", "tests": "test_a"}]}, name="x", source="x.toml")
    with pytest.raises(ProfileError, match="unknown feature"):
        parse_profile({"unsupported_features": ["qidoo"]}, name="x", source="x.toml").check_against(load_catalogue())


# -- run identity, rewriting, truth ----------------------------------------------------------------------
def test_run_ids_are_unique_and_keep_every_uid_within_64_characters():
    a, b = RunIds.new(fixtures.UID_ROOT), RunIds.new(fixtures.UID_ROOT)
    assert a.uid_root != b.uid_root and a.patient_suffix != b.patient_suffix
    for inst in MANIFEST["instances"]:
        for key in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID"):
            new = a.uid(inst[key])
            assert len(new) <= 64 and a.owns(new) and not b.owns(new)
            assert a.original_uid(new) == inst[key]
    assert a.uid("1.2.840.10008.5.1.4.1.1.2") == "1.2.840.10008.5.1.4.1.1.2"


@pytest.mark.parametrize("name", ["vix-ct-localizer-001.dcm", "wang-ct-001.dcm", "vix-sc-rgb-001.dcm",
                                  "jane-us-cine-001.dcm"])
def test_rewrite_moves_uids_and_keeps_syntax_and_pixel_bytes(name):
    entry = next(i for i in MANIFEST["instances"] if i["file"] == name)
    ids = RunIds.new(fixtures.UID_ROOT)
    data = rewrite_file(fixtures.ensure_dataset() / name, ids)
    assert fixtures.UID_ROOT.encode() not in data
    ds = pydicom.dcmread(io.BytesIO(data))
    assert ds.file_meta.TransferSyntaxUID == entry["TransferSyntaxUID"]
    assert ds.SOPInstanceUID == ds.file_meta.MediaStorageSOPInstanceUID == ids.uid(entry["SOPInstanceUID"])
    assert (ds.StudyInstanceUID, ds.SeriesInstanceUID) == (ids.uid(entry["StudyInstanceUID"]),
                                                          ids.uid(entry["SeriesInstanceUID"]))
    assert ds.SOPClassUID == entry["SOPClassUID"]
    study = next(s for s in MANIFEST["studies"] if s["StudyInstanceUID"] == entry["StudyInstanceUID"])
    assert ds.PatientID == study["PatientID"] + ids.patient_suffix
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        items = list(generate_fragments(ds.PixelData))  # the Basic Offset Table item, then one per frame
        frames = [hashlib.sha256(f).hexdigest() for f in items[1:]]
    else:
        frame = len(ds.PixelData) // entry["NumberOfFrames"]
        frames = [hashlib.sha256(ds.PixelData[i * frame:(i + 1) * frame]).hexdigest()
                  for i in range(entry["NumberOfFrames"])]
    assert frames == entry["frames_sha256"]
    if "referenced-study" in entry["features"]:
        ref = ds.ReferencedStudySequence[0].ReferencedSOPInstanceUID
        assert ids.owns(ref)


def test_truth_follows_the_manifest_under_the_run_ids():
    ids = RunIds.new(fixtures.UID_ROOT)
    truth = Truth(MANIFEST, ids)
    assert len(truth.instances) == len(MANIFEST["instances"])
    study = truth.studies[0]
    assert study["PatientID"] == MANIFEST["studies"][0]["PatientID"] + ids.patient_suffix
    assert truth.study(study["StudyInstanceUID"]) == study
    assert {i["StudyInstanceUID"] for i in truth.instances_in_study(study["StudyInstanceUID"])} == \
        {study["StudyInstanceUID"]}
    assert len(truth.instances_in_study(study["StudyInstanceUID"])) == study["NumberOfStudyRelatedInstances"]
    assert all(i["PatientID"] == study["PatientID"] for i in truth.instances_in_study(study["StudyInstanceUID"]))
    truth.studies[0]["PatientID"] = "changed"  # copies: the truth itself is unchanged
    assert truth.studies[0]["PatientID"] == study["PatientID"]
    other = {"0020000D": {"vr": "UI", "Value": ["1.2.3"]}}
    ours = {"0020000D": {"vr": "UI", "Value": [study["StudyInstanceUID"]]}}
    assert truth.owned([other, ours]) == [ours]
    with pytest.raises(KeyError, match="no study"):
        truth.study("1.2.3")


# -- HTTP client ------------------------------------------------------------------------------------------
def test_query_encoding_follows_ps318_8_3_1():
    assert encode_query({"PatientName": "DOE^J*", "limit": 5}) == "PatientName=DOE%5EJ*&limit=5"
    assert encode_query({"StudyInstanceUID": "1.2,1.3"}) == "StudyInstanceUID=1.2,1.3"
    assert encode_query({"includefield": ["00081030", "a,b"]}) == "includefield=00081030,a%2Cb"
    assert encode_query({"PatientName": "山田 太郎"}) == "PatientName=%E5%B1%B1%E7%94%B0%20%E5%A4%AA%E9%83%8E"
    assert encode_query([("includefield", "x"), ("includefield", "y"), ("fuzzymatching", None)]) == \
        "includefield=x&includefield=y&fuzzymatching"


def test_batches_respect_count_and_size():
    assert plan_batches([1] * 25, 10, 0) == [list(range(10)), list(range(10, 20)), list(range(20, 25))]
    assert plan_batches([6, 6, 6, 20, 1], 0, 12) == [[0, 1], [2], [3], [4]]
    assert plan_batches([5, 5], 0, 0) == [[0, 1]]


def test_body_excerpt_text_or_hex():
    assert body_excerpt(b'{"a": 1}') == '{"a": 1}'
    assert body_excerpt(b"") == "(empty)"
    dump = body_excerpt(bytes(range(256)) * 40)
    assert dump.startswith("00000000  00 01 02") and "10240 bytes in all" in dump and len(dump) < 2600


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_client_turns_a_refused_connection_into_a_clear_failure():
    url = f"http://127.0.0.1:{_free_port()}/dicom-web/"
    client = RecordingClient(url, url + "wado", timeout=2)
    with pytest.raises(TransportError, match="connection failed"):
        client.get("studies")
    assert client.last.error and client.last.status is None
    failing = RecordingClient(url, url + "wado", timeout=2, fail_on_transport_error=True)
    with pytest.raises(pytest.fail.Exception, match=r"transport failure: GET http://127\.0\.0\.1:\d+/dicom-web/studies"):
        failing.get("studies")


def test_client_never_hangs_on_a_silent_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.getsockname()[1]}/dicom-web/"
    start = time.monotonic()
    try:
        with pytest.raises(TransportError, match="timed out"):
            RecordingClient(url, url, timeout=0.5).get("studies")
    finally:
        server.close()
    assert time.monotonic() - start < 5


@pytest.fixture(scope="module")
def mock_url():
    from dicomweb_mock.app import create_app
    from dicomweb_mock.config import Settings
    from dicomweb_mock.store.disk import DiskStore
    from dicomweb_mock.threaded import ServerThread

    server = ServerThread(create_app(Settings(), DiskStore.temporary(), fixtures=False)).start()
    yield server.dicomweb_url
    server.stop()


def test_client_records_exchanges_and_can_drop_default_headers(mock_url):
    client = RecordingClient(mock_url, mock_url, timeout=10)
    response = client.get("studies", params={"PatientID": "X Y"}, headers={"Accept": None})
    ex = client.exchange_of(response)
    assert ex is client.last and "Accept" not in ex.request_headers
    assert ex.url.endswith("/studies?PatientID=X%20Y") and ex.status == response.status_code
    assert ex.format().startswith(f"> GET {ex.url} HTTP/1.1")
    secret = RecordingClient(mock_url, mock_url, timeout=10, auth=("user", "s3cret"))
    secret.get("studies")
    assert "> Authorization: Basic <redacted>" in secret.last.format()
    assert "s3cret" not in secret.last.format() and "dXNlcjpzM2NyZXQ" not in secret.last.format()


# -- expect ------------------------------------------------------------------------------------------------
class _Response:
    status_code, reason, headers, content = 404, "Not Found", {"Content-Type": "text/plain"}, b"nope"


def test_expect_failure_names_the_requirement_and_the_exchange():
    catalogue = load_catalogue()
    context = expect.CheckContext("t.py::test", ("QIDO-001", "QIDO-004"), catalogue)
    response = _Response()
    context.exchanges.append(Exchange("GET", "http://h/dicom-web/studies", {"Accept": "application/dicom+json"},
                                      status=404, reason="Not Found", response_headers=dict(response.headers),
                                      response_body=b"nope", response=response))
    expect.set_current(context)
    try:
        with pytest.raises(pytest.fail.Exception) as info:
            expect.status(response, 200, req="QIDO-001")
        assert context.failed == ["QIDO-001"]
        with pytest.raises(KeyError, match="does not cite"):
            expect.equal(1, 2, req="QIDO-002")
        with pytest.raises(pytest.fail.Exception, match="Content-Type"):
            expect.content_type(response, "application/dicom+json")
    finally:
        expect.set_current(None)
    text = str(info.value)
    row = catalogue["QIDO-001"]
    for fragment in ("QIDO-001 [SHALL]", row.section, row.statement, row.url, "expected: 200",
                     "actual:   404 Not Found", "Exchange 1 of 1", "> GET http://h/dicom-web/studies",
                     "< HTTP/1.1 404 Not Found", "< nope", "test_framework.py"):
        assert fragment in text


def test_media_type_parsing():
    assert expect.parse_media_type('Multipart/Related; type="application/dicom"; boundary=ab;x="a\\"b"') == \
        ("multipart/related", {"type": "application/dicom", "boundary": "ab", "x": 'a"b'})


# -- the plugin, through pytester ---------------------------------------------------------------------------
INNER_TESTS = '''
import pytest

@pytest.mark.requirement("QIDO-001")
def test_plain(truth, target, client, expect):
    expect.that(truth.uid_root and target.dicomweb_url == client.dicomweb_url, what="fixtures")

@pytest.mark.requirement("QIDO-004")
def test_deviating(client, expect):
    r = client.get("studies", params={"PatientID": "nobody"}, headers={"Accept": "application/dicom+json"})
    expect.status(r, 200)

@pytest.mark.requirement("QIDO-005")
def test_fixed_deviation(client, expect):
    expect.status(client.get("studies", headers={"Accept": "application/dicom+json"}), (200, 204))

@pytest.mark.requirement("WADO-021")
def test_fuzzy():
    pass

@pytest.mark.requirement("QIDO-044")
def test_should_level():
    pass

@pytest.mark.requirement("STOW-001")
def test_stores():
    pass
'''
VENDOR_PROFILE = '''
name = "vendor"
unsupported_features = ["wado-thumbnail"]
known_deviations = [
  { id = "QIDO-004", reason = "answers 204 where 200 is due", tests = "test_deviating" },
  { id = "QIDO-005", reason = "was broken once", tests = "test_fixed*" },
]
'''


def _suite(pytester: pytest.Pytester, tests: str, ini: bool = True) -> None:
    if ini:
        pytester.makeini("[pytest]\nconformance_paths = suite\n")
    suite = pytester.mkdir("suite")
    (suite / "test_inner.py").write_text(tests, encoding="utf-8")


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    # the plugin comes from the distribution's pytest11 entry point, as in a user's run
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-p", "no:benchmark",
                              "--reports-dir", str(pytester.path / "rep"), *args)


@pytest.mark.parametrize("marker, message", [
    ('@pytest.mark.requirement("QIDO-999")', "unknown requirement ID 'QIDO-999'"),
    ("", "no @pytest.mark.requirement"),
    ("@pytest.mark.requirement()", "cites no ID"),
])
def test_requirement_marker_problems_are_collection_errors(pytester, marker, message):
    _suite(pytester, f"import pytest\n{marker}\ndef test_x():\n    pass\n")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines([f"*{message}*", "*1 error*"])
    assert not (pytester.path / "rep" / "conformance-matrix.md").exists()


@pytest.mark.parametrize("args, start", [
    (["--basic-auth", "nocolon"], "ERROR: --basic-auth: expected USER:PASSWORD"),
    (["--dicomweb-url", "ftp://host/dicom-web"], "ERROR: --dicomweb-url: 'ftp://host/dicom-web' is not"),
    (["--dicomweb-url", "http://host:99999/"], "ERROR: --dicomweb-url: 'http://host:99999/' has an invalid port"),
    (["--client-cert", "/nonexistent/cert.pem"], "ERROR: --client-cert: cannot read '/nonexistent/cert.pem'"),
    (["--target-profile", "nosuchprofile"], "ERROR: --target-profile: no target profile 'nosuchprofile'"),
    (["--request-timeout", "-1"], "ERROR: --request-timeout: expected a positive number"),
])
def test_a_bad_option_stops_the_run_with_one_line(pytester, args, start):
    _suite(pytester, "def test_x():\n    pass\n")
    result = _run(pytester, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    lines = [line for line in result.errlines if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(start), result.errlines


def test_options_come_from_the_environment(pytester, monkeypatch):
    monkeypatch.setenv("DICOMWEB_BASIC_AUTH", "nocolon")
    _suite(pytester, "def test_x():\n    pass\n")
    result = _run(pytester)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines[0].startswith("ERROR: --basic-auth (from $DICOMWEB_BASIC_AUTH): expected")


def test_plugin_is_inert_outside_the_conformance_paths(pytester):
    _suite(pytester, "def test_x():\n    pass\n", ini=False)
    result = _run(pytester, "--basic-auth", "nocolon")
    result.assert_outcomes(passed=1)
    assert not (pytester.path / "rep").exists()


def test_profile_skips_xfails_and_matrix(pytester, mock_url):
    _suite(pytester, INNER_TESTS)
    (pytester.path / "vendor.toml").write_text(VENDOR_PROFILE, encoding="utf-8")
    result = _run(pytester, "--dicomweb-url", mock_url, "--preloaded", "--target-profile", "vendor.toml", "-rsxX")
    result.assert_outcomes(passed=1, failed=1, xfailed=1, skipped=3)
    result.stdout.fnmatch_lines_random([
        "*XPASS(strict)*known deviation QIDO-005 (profile vendor): was broken once*",
        "*not claimed by profile vendor: wado-thumbnail*",
        "*SHOULD-level check: run with --level should*",
        "*not run in --preloaded mode*",
        "*SHALL*requirements: 1 passed, 1 failed, 1 xfail (known deviation), 2 skipped*",
    ])
    matrix = (pytester.path / "rep" / "conformance-matrix.md").read_text(encoding="utf-8")
    outcomes = _matrix_outcomes(matrix)
    assert outcomes["QIDO-001"] == "passed"
    assert outcomes["QIDO-004"] == "xfail (known deviation) (known deviation QIDO-004 (profile vendor): answers " \
                                   "204 where 200 is due)"
    assert outcomes["QIDO-005"] == "failed (no longer deviates: known deviation QIDO-005 (profile vendor): was broken once)"
    closing = result.stdout.str().split("DICOMweb conformance: failed requirements", 1)[1].splitlines()
    assert closing[1:5] == [
        "Failed SHALL requirements (1):",
        "  QIDO-005  no longer deviates: known deviation QIDO-005 (profile vendor): was broken once",
        "Known deviations that no longer deviate (1): remove them from the profile",
        "  suite/test_inner.py::test_fixed_deviation: known deviation QIDO-005 (profile vendor): was broken once"]
    assert outcomes["WADO-021"] == "skipped (not claimed by profile vendor: wado-thumbnail)"
    assert outcomes["WADO-001"] == "not tested (no test yet)"
    assert (pytester.path / "rep" / "conformance-matrix.html").is_file()
    assert (pytester.path / "rep" / "junit.xml").is_file()
    env = (pytester.path / "rep" / "allure-results" / "environment.properties").read_text()
    assert "target.dicomweb_url=" + mock_url.replace(":", "\\:") in env


@pytest.mark.parametrize("level", ["should", "may", "SHOULD"])
def test_level_should_or_lower_runs_should_level_checks(pytester, mock_url, level):
    _suite(pytester, INNER_TESTS)
    result = _run(pytester, "--dicomweb-url", mock_url, "--preloaded", "--level", level, "-k", "should_level")
    result.assert_outcomes(passed=1, deselected=5)


def test_bad_level_is_one_line_naming_the_option(pytester, mock_url):
    _suite(pytester, INNER_TESTS)
    result = _run(pytester, "--dicomweb-url", mock_url, "--level", "strict")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert result.errlines == ["ERROR: --level: expected shall, should or may, got 'strict'", ""] \
        or result.errlines == ["ERROR: --level: expected shall, should or may, got 'strict'"]


def test_a_run_where_every_conformance_test_is_skipped_fails(pytester, mock_url):
    _suite(pytester, INNER_TESTS)
    result = _run(pytester, "--dicomweb-url", mock_url, "--preloaded", "-k", "should_level")
    result.assert_outcomes(skipped=1, deselected=5)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*no conformance check ran (every selected test was skipped): exit status 1*"])


def test_pyargs_selects_the_suite(pytester, mock_url):
    _suite(pytester, INNER_TESTS)
    (pytester.path / "suite" / "__init__.py").write_text("", encoding="utf-8")
    pytester.syspathinsert()
    result = _run(pytester, "--dicomweb-url", mock_url, "--preloaded", "--pyargs", "suite", "-k", "test_plain")
    result.assert_outcomes(passed=1, deselected=5)


def _matrix_outcomes(markdown: str) -> dict[str, str]:
    out = {}
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.split(" | ")]
        if line.startswith("| ") and len(cells) == 7 and "-" in cells[0]:
            out[cells[0].lstrip("| ")] = cells[5]
    return out


def test_an_unreachable_target_aborts_the_run_with_one_message(pytester):
    _suite(pytester, '@__import__("pytest").mark.requirement("QIDO-001")\ndef test_x(client):\n    pass\n')
    result = _run(pytester, "--dicomweb-url", f"http://127.0.0.1:{_free_port()}/dicom-web/")
    assert result.ret == 1  # a failure of the target, not an internal error (3)
    assert sum("cannot reach the target" in line for line in result.outlines + result.errlines) >= 1
    result.assert_outcomes()


def test_a_refused_seeding_aborts_the_run_with_one_message(pytester):
    from werkzeug.serving import make_server
    from werkzeug.wrappers import Request, Response

    @Request.application
    def refuses_stow(request):
        if request.method == "POST":
            return Response("storage is disabled", status=503)
        return Response("[]", content_type="application/dicom+json")

    server = make_server("127.0.0.1", 0, refuses_stow, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _suite(pytester, '@__import__("pytest").mark.requirement("QIDO-001")\ndef test_x(client):\n    pass\n')
        result = _run(pytester, "--dicomweb-url", f"http://127.0.0.1:{server.server_port}/dicom-web/")
    finally:
        server.shutdown()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*seeding the target failed: STOW-RS request 1/* was refused: 503*"])
    result.assert_outcomes()


def test_coverage_lists_shall_rows_with_their_tests(capsys):
    from dicomweb_conformance import coverage

    code = coverage.main([str(REPO / "conformance" / "test_framework_smoke.py")])
    out = capsys.readouterr().out
    assert code == 1  # rows like AUTH-001 have no test in that file and no not_tested_reason
    block = out.split("QIDO-001", 1)[1].split("\n\n", 1)[0]
    assert "test: conformance/test_framework_smoke.py::test_all_studies_search_returns_the_seeded_studies" in block
    assert "HTTP-012" not in out  # a MAY row: listed only with --level MAY
    assert "uncovered SHALL rows:" in out and "AUTH-001" in out.rsplit("uncovered SHALL rows:", 1)[1]


# -- the real smoke suite, in one process and with pytest-xdist ---------------------------------------------
def _smoke(tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DICOMWEB_")}
    reports = tmp_path / "reports"
    proc = subprocess.run([sys.executable, "-m", "pytest", "conformance/test_framework_smoke.py", "-q",
                           "-p", "no:cacheprovider", "--reports-dir", str(reports), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    matrix = reports / "conformance-matrix.md"
    return proc, _matrix_outcomes(matrix.read_text(encoding="utf-8")) if matrix.exists() else {}


def test_smoke_suite_runs_identically_with_and_without_xdist(tmp_path):
    single, single_matrix = _smoke(tmp_path / "single")
    assert single.returncode == 0, single.stdout + single.stderr
    distributed, distributed_matrix = _smoke(tmp_path / "xdist", "-n", "2")
    assert distributed.returncode == 0, distributed.stdout + distributed.stderr
    assert single_matrix == distributed_matrix
    assert single_matrix["QIDO-001"] == "passed" and single_matrix["QIDO-037"].startswith("skipped")
    junit = (tmp_path / "xdist" / "reports" / "junit.xml").read_text(encoding="utf-8")
    assert 'tests="' in junit and "test_all_studies_search_returns_the_seeded_studies" in junit
    results = list((tmp_path / "xdist" / "reports" / "allure-results").glob("*-result.json"))
    labels = {(lab["name"], lab["value"]) for r in results for lab in json.loads(r.read_text())["labels"]}
    assert {("epic", "QIDO-RS"), ("feature", "qido"), ("severity", "critical")} <= labels


def test_every_option_and_environment_variable_is_documented_in_the_readme():
    from dicomweb_conformance.options import OPTIONS

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for opt in OPTIONS:
        assert f"`{opt.flag}" in readme and f"`{opt.env}`" in readme, opt.flag


def test_no_option_collides_with_pytest(pytester):
    result = pytester.runpytest("--help")
    text = " ".join(result.stdout.str().split()).replace("- ", "-")  # help text is wrapped
    assert "--level=shall|should|may" in text and "[env DICOMWEB_LEVEL]" in text
    assert "--fixtures-dir=DIR" in text
    from dicomweb_conformance.options import OPTIONS

    for opt in OPTIONS:
        assert f"[env {opt.env}]" in text, opt.env


def test_every_catalogue_feature_is_declared_mandatory_or_optional():
    from dicomweb_conformance.features import FEATURES, MANDATORY, feature_table
    catalogue = load_catalogue()
    assert catalogue.features <= set(FEATURES), sorted(catalogue.features - set(FEATURES))
    assert {"qido", "qido-xml", "stow-xml", "wado-metadata", "frames", "wado-rendered"} <= MANDATORY
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert feature_table() in readme, "README's feature table is out of date: python -m dicomweb_conformance.features"
