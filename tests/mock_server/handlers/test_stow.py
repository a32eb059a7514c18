"""STOW-RS over HTTP (PS3.18 2019a 10.5, Annex I Store Instances Response Module).

Bodies are built here byte by byte (RFC 2387 multipart/related); expectations come
from the standard's status table 10.5.3-1, Annex I and the fixture manifest.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Iterable

import pydicom
import pytest
from lxml import etree

from dicomweb_conformance.schemas import NATIVE_DICOM_NS, validate_json, validate_xml
from dicomweb_mock.dicomweb.media_types import parse_media_type
from dicomweb_mock.dicomweb.multipart import get_boundary, iter_multipart
from tests.helpers.part10 import assert_kept, rewritten
from tests.helpers.http import MockClient

# pydicom warns (and the store then refuses the part) on the deliberately broken bodies.
pytestmark = [pytest.mark.filterwarnings("ignore:End of file reached before delimiter:UserWarning"),
              pytest.mark.filterwarnings("ignore:Expected implicit VR:UserWarning")]

STUDIES = "/dicom-web/studies"
BOUNDARY = "stow-test-boundary-7f3a"
CT = f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'
RETRIEVE_URL, FAILED_SEQ, REFERENCED_SEQ, FAILURE_REASON = "00081190", "00081198", "00081199", "00081197"
SOP_CLASS, SOP_INSTANCE = "00081150", "00081155"


# ------------------------------------------------------------------------------------------------ helpers

@pytest.fixture(scope="module")
def by_file(manifest) -> dict[str, dict[str, Any]]:
    return {i["file"]: i for i in manifest["instances"]}


def multipart(parts: Iterable[tuple[str, bytes]], boundary: str = BOUNDARY) -> bytes:
    """``--b CRLF headers CRLF CRLF body CRLF ... --b--`` (RFC 2046 5.1.1)."""
    out = bytearray()
    for ctype, data in parts:
        out += f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n"
    return bytes(out + f"--{boundary}--\r\n".encode())


def dicom_body(paths: Iterable[Path], boundary: str = BOUNDARY) -> bytes:
    return multipart((("application/dicom", p.read_bytes()) for p in paths), boundary)


def stow(client: MockClient, body: bytes, content_type: str = CT, path: str = STUDIES, accept: str | None = None):
    headers = {"Content-Type": content_type}
    if accept:
        headers["Accept"] = accept
    return client.post(path, data=body, headers=headers)


def module(r) -> dict[str, Any]:
    """The JSON Store Instances Response Module of a response, validated (Annex F, Annex I)."""
    assert parse_media_type(r.headers["Content-Type"])[0] == "application/dicom+json"
    obj = json.loads(r.get_data())
    validate_json(obj)
    assert RETRIEVE_URL in obj  # Type 2: always present
    return obj


def referenced(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj.get(REFERENCED_SEQ, {}).get("Value", [])


def failed(obj: dict[str, Any]) -> list[dict[str, Any]]:
    return obj.get(FAILED_SEQ, {}).get("Value", [])


def counts(app) -> dict[str, int]:
    return app.store.counts()


def stored_files(app) -> list[Path]:
    """Stored and temporary files; not those in ``retired/`` (superseded, kept for a grace period)."""
    root = Path(app.store.root)
    return sorted(p for p in root.rglob("*")
                  if p.is_file() and p.suffix in (".dcm", ".part") and p.parent.name != "retired")


def small(files: dict[str, Path]) -> Path:
    return files["wang-ct-001.dcm"]


def check_reference(item: dict[str, Any], inst: dict[str, Any]) -> None:
    assert item[SOP_CLASS]["Value"] == [inst["SOPClassUID"]]
    assert item[SOP_INSTANCE]["Value"] == [inst["SOPInstanceUID"]]
    assert item[RETRIEVE_URL]["Value"][0].endswith(
        f"/dicom-web/studies/{inst['StudyInstanceUID']}/series/{inst['SeriesInstanceUID']}"
        f"/instances/{inst['SOPInstanceUID']}")


# ----------------------------------------------------------------------------------------------- success

@pytest.mark.parametrize("content_type", [
    f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
    f'multipart/related; type=application/dicom; boundary="{BOUNDARY}"',
    f'multipart/related; boundary="{BOUNDARY}"',
    f"Multipart/Related; boundary={BOUNDARY}; type=\"application/dicom\"",
])
def test_single_instance_is_stored_with_any_parameter_form(empty_app, files, by_file, content_type):
    c = MockClient(empty_app)
    path = small(files)
    r = stow(c, dicom_body([path]), content_type)
    assert r.status_code == 200
    obj = module(r)
    inst = by_file[path.name]
    (item,) = referenced(obj)
    check_reference(item, inst)
    assert FAILED_SEQ not in obj
    assert obj[RETRIEVE_URL]["Value"][0].endswith(f"/dicom-web/studies/{inst['StudyInstanceUID']}")
    assert counts(empty_app)["instances"] == 1
    q = c.get(f"/dicom-web/instances?SOPInstanceUID={inst['SOPInstanceUID']}")
    assert q.status_code == 200 and len(json.loads(q.get_data())) == 1


def test_multi_instance_body_stores_a_whole_study(empty_app, files, manifest, by_file):
    study = next(s for s in manifest["studies"] if s["PatientID"] == "DOE-0002")
    insts = [i for i in manifest["instances"] if i["StudyInstanceUID"] == study["StudyInstanceUID"]]
    r = stow(MockClient(empty_app), dicom_body(files[i["file"]] for i in insts),
             path=f"{STUDIES}/{study['StudyInstanceUID']}")
    assert r.status_code == 200
    obj = module(r)
    items = referenced(obj)
    assert len(items) == len(insts) == study["NumberOfStudyRelatedInstances"]
    for item, inst in zip(items, insts):
        check_reference(item, inst)
    assert obj[RETRIEVE_URL]["Value"][0].endswith(f"/dicom-web/studies/{study['StudyInstanceUID']}")
    assert counts(empty_app) == {"patients": 1, "studies": 1, "series": study["NumberOfStudyRelatedSeries"],
                                 "instances": len(insts)}


def test_instances_of_several_studies_in_one_request(empty_app, files, by_file):
    names = ["wang-ct-001.dcm", "yamada-cr-001.dcm"]
    r = stow(MockClient(empty_app), dicom_body(files[n] for n in names))
    assert r.status_code == 200
    obj = module(r)
    assert sorted(i[SOP_INSTANCE]["Value"][0] for i in referenced(obj)) == \
        sorted(by_file[n]["SOPInstanceUID"] for n in names)
    assert counts(empty_app)["studies"] == 2


def test_preamble_epilogue_and_part_headers_are_tolerated(empty_app, files):
    data = small(files).read_bytes()
    body = (b"This is the preamble.\r\n--" + BOUNDARY.encode() + b"\r\nContent-Type: application/dicom; "
            b"transfer-syntax=1.2.840.10008.1.2.4.80\r\nContent-Length: " + str(len(data)).encode() +
            b"\r\nContent-ID: <part1@example>\r\n\r\n" + data + b"\r\n--" + BOUNDARY.encode() +
            b"--\r\nepilogue")
    assert stow(MockClient(empty_app), body).status_code == 200


def test_xml_response_when_accept_asks_for_it(empty_app, files, by_file):
    path = small(files)
    r = stow(MockClient(empty_app), dicom_body([path]), accept="application/dicom+xml")
    assert r.status_code == 200
    assert parse_media_type(r.headers["Content-Type"])[0] == "application/dicom+xml"
    validate_xml(r.get_data())
    root = etree.fromstring(r.get_data())
    ns = {"d": NATIVE_DICOM_NS}
    uids = root.xpath("d:DicomAttribute[@tag='00081199']/d:Item/d:DicomAttribute[@tag='00081155']/d:Value/text()",
                      namespaces=ns)
    assert uids == [by_file[path.name]["SOPInstanceUID"]]


def test_multipart_xml_response(empty_app, files):
    r = stow(MockClient(empty_app), dicom_body([small(files)]), accept='multipart/related; type="application/dicom+xml"')
    assert r.status_code == 200
    ctype = r.headers["Content-Type"]
    assert parse_media_type(ctype)[0] == "multipart/related"
    parts = list(iter_multipart(io.BytesIO(r.get_data()), get_boundary(ctype)))
    assert len(parts) == 1 and parts[0].media_type == "application/dicom+xml"
    validate_xml(parts[0].read())


def test_failure_response_in_xml_is_valid(empty_app, files):
    r = stow(MockClient(empty_app), multipart([("application/dicom", b"not dicom at all")]),
             accept="application/dicom+xml")
    assert r.status_code == 400
    validate_xml(r.get_data())
    root = etree.fromstring(r.get_data())
    reasons = root.xpath("d:DicomAttribute[@tag='00081198']/d:Item/d:DicomAttribute[@tag='00081197']/d:Value/text()",
                         namespaces={"d": NATIVE_DICOM_NS})
    assert len(reasons) == 1 and 0xC000 <= int(reasons[0]) <= 0xCFFF


def test_storing_the_same_instance_again_replaces_it(empty_disk_app, files, by_file):
    c = MockClient(empty_disk_app)
    path = small(files)
    assert stow(c, dicom_body([path])).status_code == 200
    before = stored_files(empty_disk_app)
    r = stow(c, dicom_body([path]))
    assert r.status_code == 200  # documented choice: the copy is replaced
    check_reference(referenced(module(r))[0], by_file[path.name])
    assert counts(empty_disk_app)["instances"] == 1
    assert len(stored_files(empty_disk_app)) == len(before) == 1


# Explicit LE, JPEG 2000, RLE, JPEG-LS, JPEG Baseline.  (An Implicit VR LE instance is sent
# as Explicit VR LE even for transfer-syntax=*: PS3.18 8.7.3 forbids Implicit VR on the web;
# its bytes come back unchanged through Orthanc's /instances/{id}/file, tested below.)
@pytest.mark.parametrize("name", ["doe-mr-t2-001.dcm", "doe-mr-t2-005.dcm", "doe-sc-palette-001.dcm",
                                  "wang-ct-001.dcm", "jane-us-cine-001.dcm"])
def test_round_trip_keeps_the_data_set_byte_for_byte(empty_app, files, by_file, name):
    c = MockClient(empty_app)
    sent = files[name].read_bytes()
    assert stow(c, dicom_body([files[name]])).status_code == 200
    inst = by_file[name]
    r = c.get(f"/dicom-web/studies/{inst['StudyInstanceUID']}/series/{inst['SeriesInstanceUID']}"
              f"/instances/{inst['SOPInstanceUID']}",
              headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert r.status_code == 200
    parts = list(iter_multipart(io.BytesIO(r.get_data()), get_boundary(r.headers["Content-Type"])))
    assert len(parts) == 1
    assert_kept(sent, parts[0].read())


def test_implicit_vr_instance_round_trips_through_the_orthanc_file_route(empty_app, files, by_file):
    from dicomweb_mock.store.orthanc_ids import instance_id
    c = MockClient(empty_app)
    name = "vix-ct-localizer-001.dcm"
    inst = by_file[name]
    assert inst["TransferSyntaxUID"] == "1.2.840.10008.1.2"
    assert stow(c, dicom_body([files[name]])).status_code == 200
    oid = instance_id("VIX-0001", inst["StudyInstanceUID"], inst["SeriesInstanceUID"], inst["SOPInstanceUID"])
    r = c.get(f"/instances/{oid}/file")
    assert r.status_code == 200
    assert_kept(files[name].read_bytes(), r.get_data())


def test_chunked_transfer_encoding(empty_app, files, by_file):
    requests = pytest.importorskip("requests")
    from dicomweb_mock.threaded import serve_in_thread

    body = dicom_body([files["wang-ct-001.dcm"], files["doe-mr-t2-003.dcm"]])

    def chunks():  # a generator body: requests sends it with Transfer-Encoding: chunked
        for i in range(0, len(body), 7001):
            yield body[i:i + 7001]

    with serve_in_thread(empty_app) as server:
        r = requests.post(server.dicomweb_url + "studies", data=chunks(), headers={"Content-Type": CT}, timeout=30)
        assert r.request.headers.get("Transfer-Encoding") == "chunked"
        assert r.status_code == 200, r.text
        obj = r.json()
    validate_json(obj)
    assert sorted(i[SOP_INSTANCE]["Value"][0] for i in referenced(obj)) == \
        sorted(by_file[n]["SOPInstanceUID"] for n in ("wang-ct-001.dcm", "doe-mr-t2-003.dcm"))
    assert counts(empty_app)["instances"] == 2


def test_concurrent_stores_and_searches(empty_disk_app, files):
    requests = pytest.importorskip("requests")
    from concurrent.futures import ThreadPoolExecutor

    from dicomweb_mock.threaded import serve_in_thread
    names = sorted(n for n in files if not n.startswith("vix-ct-axial"))  # 15 instances, 6 studies
    with serve_in_thread(empty_disk_app) as server:
        def post(name: str) -> int:
            return requests.post(server.dicomweb_url + "studies", data=dicom_body([files[name]]),
                                 headers={"Content-Type": CT}, timeout=60).status_code

        def search(_: int) -> int:
            return requests.get(server.dicomweb_url + "instances", timeout=60).status_code
        with ThreadPoolExecutor(6) as pool:  # one instance is also sent six times at once
            posts = [pool.submit(post, n) for n in names + [names[0]] * 6]
            searches = [pool.submit(search, i) for i in range(12)]
            stored, searched = [f.result() for f in posts], [f.result() for f in searches]
    assert set(stored) == {200} and set(searched) <= {200, 204}
    assert counts(empty_disk_app)["instances"] == len(names)
    assert len(stored_files(empty_disk_app)) == len(names)  # replaced copies left files/
    assert empty_disk_app.store.sweep_retired(grace=0) == 6  # ... and are removed after their grace period


# ------------------------------------------------------------------------------------------------ failures

def test_some_failed_is_202_with_failed_sop_sequence(empty_app, files, by_file):
    good = small(files)
    r = stow(MockClient(empty_app), multipart([("application/dicom", good.read_bytes()),
                                           ("application/dicom", b"\x00" * 200 + b"garbage")]))
    assert r.status_code == 202
    obj = module(r)
    check_reference(referenced(obj)[0], by_file[good.name])
    (fail,) = failed(obj)
    assert len(fail[FAILURE_REASON]["Value"]) == 1
    assert counts(empty_app)["instances"] == 1


def test_study_uid_mismatch_is_409_and_stores_nothing(empty_app, files, by_file):
    path = small(files)
    inst = by_file[path.name]
    other = next(i for i in by_file.values() if i["StudyInstanceUID"] != inst["StudyInstanceUID"])
    r = stow(MockClient(empty_app), dicom_body([path]), path=f"{STUDIES}/{other['StudyInstanceUID']}")
    assert r.status_code == 409
    obj = module(r)
    (fail,) = failed(obj)
    assert fail[SOP_INSTANCE]["Value"] == [inst["SOPInstanceUID"]]
    assert fail[SOP_CLASS]["Value"] == [inst["SOPClassUID"]]
    assert FAILURE_REASON in fail and REFERENCED_SEQ not in obj
    # Retrieve URL (Type 2) cannot point at a study this server does not hold.
    assert obj[RETRIEVE_URL].get("Value", []) == []
    assert counts(empty_app)["instances"] == 0


def test_partial_study_uid_mismatch_is_202(empty_app, files, by_file):
    a, b = files["wang-ct-001.dcm"], files["yamada-cr-001.dcm"]
    r = stow(MockClient(empty_app), dicom_body([a, b]), path=f"{STUDIES}/{by_file[a.name]['StudyInstanceUID']}")
    assert r.status_code == 202
    obj = module(r)
    assert [i[SOP_INSTANCE]["Value"][0] for i in referenced(obj)] == [by_file[a.name]["SOPInstanceUID"]]
    assert [i[SOP_INSTANCE]["Value"][0] for i in failed(obj)] == [by_file[b.name]["SOPInstanceUID"]]




def test_same_sop_instance_in_another_series_is_a_conflict(empty_app, files, by_file):
    c = MockClient(empty_app)
    path = small(files)
    assert stow(c, dicom_body([path])).status_code == 200
    moved = rewritten(path, SeriesInstanceUID=by_file[path.name]["SeriesInstanceUID"] + ".77")
    r = stow(c, multipart([("application/dicom", moved)]))
    assert r.status_code == 409
    assert failed(module(r))[0][SOP_INSTANCE]["Value"] == [by_file[path.name]["SOPInstanceUID"]]
    assert counts(empty_app) == {"patients": 1, "studies": 1, "series": 1, "instances": 1}


@pytest.mark.parametrize("parts", [
    [("application/dicom", b"garbage")],
    [("application/dicom", b"DICM" * 100)],
    [("application/dicom", b"")],
    [("text/plain", b"hello")],
])
def test_non_dicom_parts_are_400(empty_app, parts):
    r = stow(MockClient(empty_app), multipart(parts))
    assert r.status_code == 400
    obj = module(r)
    assert REFERENCED_SEQ not in obj
    items = failed(obj) + obj.get("0008119A", {}).get("Value", [])  # Other Failures Sequence
    assert len(items) == 1 and FAILURE_REASON in items[0]
    assert counts(empty_app)["instances"] == 0


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "SOPClassUID"])
def test_instance_without_a_required_uid_fails(empty_app, files, keyword):
    ds = pydicom.dcmread(small(files))
    delattr(ds, keyword)
    out = io.BytesIO()
    ds.save_as(out)
    for path in (STUDIES, f"{STUDIES}/{ds.StudyInstanceUID}"):  # bad syntax, not a conflict: 400
        r = stow(MockClient(empty_app), multipart([("application/dicom", out.getvalue())]), path=path)
        assert r.status_code == 400
        assert failed(module(r)) and counts(empty_app)["instances"] == 0


@pytest.mark.parametrize("name", ["vix-ct-axial-001.dcm", "wang-ct-001.dcm", "jane-us-cine-001.dcm"])
@pytest.mark.parametrize("keep", [0.5, -1, -9])
def test_truncated_instance_fails_and_stores_nothing(empty_disk_app, files, name, keep):
    data = files[name].read_bytes()
    cut = data[:int(len(data) * keep)] if keep > 0 else data[:keep]
    r = stow(MockClient(empty_disk_app), multipart([("application/dicom", cut)]))
    assert r.status_code == 400
    assert failed(module(r))
    assert counts(empty_disk_app)["instances"] == 0
    assert stored_files(empty_disk_app) == []


@pytest.mark.parametrize("body", [
    b"",
    b"no delimiter at all",
    f"--{BOUNDARY}--\r\n".encode(),
    f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\nunterminated".encode(),
])
def test_malformed_multipart_is_400_with_one_line_reason(empty_app, body):
    r = stow(MockClient(empty_app), body)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert len(r.get_data(as_text=True).strip().splitlines()) == 1
    assert counts(empty_app)["instances"] == 0


@pytest.mark.parametrize("content_type,status", [
    ("application/json", 415),
    ("application/dicom", 415),
    (f'multipart/related; type="image/png"; boundary={BOUNDARY}', 415),
    ("multipart/related; type=\"application/dicom\"", 400),  # no boundary
    (f'multipart/related; boundary="{BOUNDARY}', 400),  # unterminated quoted string
    ("", 415),
])
def test_unsupported_or_malformed_content_type(empty_app, files, content_type, status):
    r = stow(MockClient(empty_app), dicom_body([small(files)]), content_type)
    assert r.status_code == status
    assert r.headers["Content-Type"].startswith("text/plain")
    assert len(r.get_data(as_text=True).strip().splitlines()) == 1
    assert counts(empty_app)["instances"] == 0


def test_content_coded_body_is_415(empty_app, files):
    import gzip
    body = gzip.compress(dicom_body([small(files)]))
    r = MockClient(empty_app).post(STUDIES, data=body,
                               headers={"Content-Type": CT, "Content-Encoding": "gzip"})
    assert r.status_code == 415 and r.headers["Content-Type"].startswith("text/plain")
    r = MockClient(empty_app).post("/instances", data=gzip.compress(small(files).read_bytes()),
                               headers={"Content-Encoding": "gzip"})
    assert r.status_code == 415
    assert counts(empty_app)["instances"] == 0


def test_failed_stow_leaves_the_store_unchanged(empty_disk_app, files, by_file):
    c = MockClient(empty_disk_app)
    assert stow(c, dicom_body([files["doe-mr-t2-003.dcm"]])).status_code == 200
    before_counts, before_files = counts(empty_disk_app), stored_files(empty_disk_app)
    other_study = by_file["wang-ct-001.dcm"]["StudyInstanceUID"]
    for r in (stow(c, dicom_body([files["doe-mr-t2-004.dcm"]]), path=f"{STUDIES}/{other_study}"),
              stow(c, multipart([("application/dicom", files["doe-mr-t2-004.dcm"].read_bytes()[:5000])])),
              stow(c, dicom_body([files["doe-mr-t2-004.dcm"]]), "application/json")):
        assert r.status_code >= 400
    assert counts(empty_disk_app) == before_counts
    assert stored_files(empty_disk_app) == before_files


def test_not_acceptable_response_type(empty_app, files):
    r = stow(MockClient(empty_app), dicom_body([small(files)]), accept="image/png")
    assert r.status_code == 406
    assert r.headers["Content-Type"].startswith("text/plain")
    assert counts(empty_app)["instances"] == 0
