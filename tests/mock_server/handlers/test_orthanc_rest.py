"""The Orthanc REST subset and the ``/_mock`` control routes, over HTTP.

Orthanc identifiers are computed here from the manifest's UIDs with Orthanc's
formula (SHA-1 of the ``|``-joined DICOM identifiers, five dash-separated groups
of eight hex digits), written out independently of ``mock_server.store.orthanc_ids``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import dicomweb_fixtures as fixtures
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import Settings
from dicomweb_mock.store.disk import DiskStore
from tests.helpers.part10 import assert_kept
from tests.helpers.http import MockClient


def loaded_copy(fixture_store_dir: Path, directory: Path, settings: Settings | None = None) -> MockApp:
    """A writable app with the fixtures on a disk store: a copy of ``fixture_store_dir``."""
    shutil.copytree(fixture_store_dir, directory)
    return create_app(settings, DiskStore(directory))  # load() skips the instances already stored


def oid(*uids: str) -> str:
    digest = hashlib.sha1("|".join(uids).encode("utf-8")).hexdigest()
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


def get_json(client: MockClient, path: str, status: int = 200) -> Any:
    r = client.get(path)
    assert r.status_code == status, (path, r.status_code, r.get_data(as_text=True))
    assert r.headers["Content-Type"].startswith("application/json")
    return json.loads(r.get_data())


@pytest.fixture(scope="module")
def expected_ids(manifest) -> dict[str, set[str]]:
    series = {s["SeriesInstanceUID"]: s for s in manifest["series"]}
    return {
        "patients": {oid(p["PatientID"]) for p in manifest["patients"]},
        "studies": {oid(s["PatientID"], s["StudyInstanceUID"]) for s in manifest["studies"]},
        "series": {oid(s["PatientID"], s["StudyInstanceUID"], s["SeriesInstanceUID"]) for s in manifest["series"]},
        "instances": {oid(series[i["SeriesInstanceUID"]]["PatientID"], i["StudyInstanceUID"], i["SeriesInstanceUID"],
                          i["SOPInstanceUID"]) for i in manifest["instances"]},
    }


def instance_oid(manifest, inst: dict[str, Any]) -> str:
    pid = next(s["PatientID"] for s in manifest["series"] if s["SeriesInstanceUID"] == inst["SeriesInstanceUID"])
    return oid(pid, inst["StudyInstanceUID"], inst["SeriesInstanceUID"], inst["SOPInstanceUID"])


@pytest.fixture
def writable(fixture_store_dir, tmp_path):
    """A fresh app with the fixtures on a disk store (for tests that change the store and look at its files)."""
    app = loaded_copy(fixture_store_dir, tmp_path / "store")
    yield app
    app.store.close()


# ---------------------------------------------------------------------------------------------- reads

def test_system(client):
    body = get_json(client, "/system")
    assert body["DicomWebPluginEnabled"] is True
    assert body["DicomWebRoot"] == "/dicom-web/"
    assert body["WadoRoot"] == "/wado"
    assert isinstance(body["Name"], str) and isinstance(body["Version"], str)


@pytest.mark.parametrize("level", ["patients", "studies", "series", "instances"])
def test_listings_match_the_manifest(client, manifest, expected_ids, level):
    ids = get_json(client, f"/{level}")
    assert len(ids) == len(set(ids)) == len(manifest[level])
    assert set(ids) == expected_ids[level]


def test_instance_resource_and_parent_links(client, manifest):
    for inst in manifest["instances"][::7]:
        pid = next(s["PatientID"] for s in manifest["series"] if s["SeriesInstanceUID"] == inst["SeriesInstanceUID"])
        body = get_json(client, f"/instances/{instance_oid(manifest, inst)}")
        assert body["Type"] == "Instance"
        assert body["MainDicomTags"]["SOPInstanceUID"] == inst["SOPInstanceUID"]
        assert int(body["MainDicomTags"]["InstanceNumber"]) == inst["InstanceNumber"]
        series_id = oid(pid, inst["StudyInstanceUID"], inst["SeriesInstanceUID"])
        assert body["ParentSeries"] == series_id
        series = get_json(client, f"/series/{series_id}")
        assert series["Type"] == "Series" and instance_oid(manifest, inst) in series["Instances"]
        assert series["MainDicomTags"]["SeriesInstanceUID"] == inst["SeriesInstanceUID"]
        study_id = oid(pid, inst["StudyInstanceUID"])
        assert series["ParentStudy"] == study_id
        study = get_json(client, f"/studies/{study_id}")
        assert study["MainDicomTags"]["StudyInstanceUID"] == inst["StudyInstanceUID"]
        assert study["ParentPatient"] == oid(pid) and series_id in study["Series"]
        patient = get_json(client, f"/patients/{oid(pid)}")
        assert patient["MainDicomTags"]["PatientID"] == pid and study_id in patient["Studies"]


def test_children_counts_match_the_manifest(client, manifest):
    for s in manifest["studies"]:
        study = get_json(client, f"/studies/{oid(s['PatientID'], s['StudyInstanceUID'])}")
        assert len(study["Series"]) == s["NumberOfStudyRelatedSeries"]
    for s in manifest["series"]:
        series = get_json(client, f"/series/{oid(s['PatientID'], s['StudyInstanceUID'], s['SeriesInstanceUID'])}")
        assert len(series["Instances"]) == s["NumberOfSeriesRelatedInstances"]
    for p in manifest["patients"]:
        patient = get_json(client, f"/patients/{oid(p['PatientID'])}")
        assert len(patient["Studies"]) == p["NumberOfPatientRelatedStudies"]


def test_non_ascii_main_dicom_tags(client, manifest):
    p = next(p for p in manifest["patients"] if p["PatientID"] == "JP-0004")
    name = get_json(client, f"/patients/{oid(p['PatientID'])}")["MainDicomTags"]["PatientName"]
    pn = p["PatientName"]
    assert name == "=".join([pn["Alphabetic"], pn["Ideographic"], pn["Phonetic"]])


def test_expand_lists_resources(client, manifest):
    body = get_json(client, "/series?expand")
    assert sorted(b["MainDicomTags"]["SeriesInstanceUID"] for b in body) == \
        sorted(s["SeriesInstanceUID"] for s in manifest["series"])


def test_instance_file_is_the_stored_part10(client, manifest):
    inst = manifest["instances"][-1]
    r = client.get(f"/instances/{instance_oid(manifest, inst)}/file")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/dicom"
    path = next(p for p in fixtures.instance_files() if p.name == inst["file"])
    assert_kept(path.read_bytes(), r.get_data())
    assert int(r.headers["Content-Length"]) == len(r.get_data())


@pytest.mark.parametrize("path", ["/instances/0000", "/studies/" + "0" * 8 + "-00000000" * 4, "/patients/x",
                                  "/series/x", "/instances/x/file"])
def test_unknown_resource_is_404(client, path):
    r = client.get(path)
    assert r.status_code == 404 and r.headers["Content-Type"].startswith("text/plain")


# ---------------------------------------------------------------------------------------------- writes

def test_upload_instance(empty_app, manifest):
    c = MockClient(empty_app)
    inst = next(i for i in manifest["instances"] if i["file"] == "wang-ct-001.dcm")
    path = next(p for p in fixtures.instance_files() if p.name == inst["file"])
    r = c.post("/instances", data=path.read_bytes(), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200
    body = json.loads(r.get_data())
    expected = instance_oid(manifest, inst)
    assert body["ID"] == expected and body["Path"] == f"/instances/{expected}"
    assert body["Status"] == "Success"
    assert body["ParentPatient"] == oid("CN-0006")
    assert body["ParentStudy"] == oid("CN-0006", inst["StudyInstanceUID"])
    assert body["ParentSeries"] == oid("CN-0006", inst["StudyInstanceUID"], inst["SeriesInstanceUID"])
    again = json.loads(c.post("/instances", data=path.read_bytes()).get_data())
    assert again["Status"] == "AlreadyStored" and again["ID"] == expected
    assert get_json(c, "/_mock/status") == {"patients": 1, "studies": 1, "series": 1, "instances": 1}
    q = c.get(f"/dicom-web/instances?SOPInstanceUID={inst['SOPInstanceUID']}")
    assert q.status_code == 200


def test_upload_conflicting_with_the_stored_hierarchy_is_409(empty_app, manifest):
    import io

    import pydicom
    c = MockClient(empty_app)
    inst = next(i for i in manifest["instances"] if i["file"] == "wang-ct-001.dcm")
    path = next(p for p in fixtures.instance_files() if p.name == inst["file"])
    assert c.post("/instances", data=path.read_bytes()).status_code == 200
    ds = pydicom.dcmread(path)
    ds.SeriesInstanceUID = inst["SeriesInstanceUID"] + ".5"  # same SOP Instance UID, another series
    out = io.BytesIO()
    ds.save_as(out)
    r = c.post("/instances", data=out.getvalue())
    assert r.status_code == 409 and r.headers["Content-Type"].startswith("text/plain")
    assert get_json(c, "/_mock/status")["series"] == 1


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x00" * 128 + b"DICM"])
def test_upload_of_non_dicom_is_400(empty_app, data):
    r = MockClient(empty_app).post("/instances", data=data)
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("text/plain")
    assert len(r.get_data(as_text=True).strip().splitlines()) == 1
    assert empty_app.store.counts()["instances"] == 0


def test_delete_study_removes_it_from_qido(writable, manifest):
    c = MockClient(writable)
    study = manifest["studies"][0]  # VIX: its patient has another study
    vix = next(p for p in manifest["patients"] if p["PatientID"] == study["PatientID"])
    study_id = oid(study["PatientID"], study["StudyInstanceUID"])
    r = c.delete(f"/studies/{study_id}")
    assert r.status_code == 200
    # The patient still has a study: it is the remaining ancestor (as in Orthanc).
    assert json.loads(r.get_data())["RemainingAncestor"] == {
        "ID": oid(study["PatientID"]), "Path": f"/patients/{oid(study['PatientID'])}", "Type": "Patient"}
    assert c.get(f"/dicom-web/studies?StudyInstanceUID={study['StudyInstanceUID']}").status_code == 204
    assert c.get(f"/dicom-web/instances?StudyInstanceUID={study['StudyInstanceUID']}").status_code == 204
    assert c.get(f"/dicom-web/studies/{study['StudyInstanceUID']}/series").status_code == 404
    assert c.get(f"/studies/{study_id}").status_code == 404
    status = get_json(c, "/_mock/status")
    assert status["instances"] == len(manifest["instances"]) - study["NumberOfStudyRelatedInstances"]
    assert status["studies"] == len(manifest["studies"]) - 1
    assert status["patients"] == len(manifest["patients"])
    left = json.loads(c.get("/dicom-web/studies?PatientID=" + study["PatientID"]).get_data())
    assert len(left) == vix["NumberOfPatientRelatedStudies"] - 1
    assert c.delete(f"/studies/{study_id}").status_code == 404


def test_delete_instance_series_and_patient(writable, manifest):
    c = MockClient(writable)
    series = next(s for s in manifest["series"] if s["NumberOfSeriesRelatedInstances"] == 6)
    insts = [i for i in manifest["instances"] if i["SeriesInstanceUID"] == series["SeriesInstanceUID"]]
    series_id = oid(series["PatientID"], series["StudyInstanceUID"], series["SeriesInstanceUID"])
    r = c.delete(f"/instances/{instance_oid(manifest, insts[0])}")
    assert json.loads(r.get_data())["RemainingAncestor"]["ID"] == series_id
    assert len(get_json(c, f"/series/{series_id}")["Instances"]) == len(insts) - 1
    r = c.delete(f"/series/{series_id}")
    assert json.loads(r.get_data())["RemainingAncestor"]["Type"] == "Study"  # the palette series remains
    r = c.delete(f"/patients/{oid(series['PatientID'])}")
    assert r.status_code == 200 and json.loads(r.get_data())["RemainingAncestor"] is None
    assert c.get(f"/dicom-web/studies?PatientID={series['PatientID']}").status_code == 204


# -------------------------------------------------------------------------------------- control routes

def test_reset_restores_the_fixtures(writable, manifest):
    c = MockClient(writable)
    full = get_json(c, "/_mock/status")
    assert full == {level: len(manifest[level]) for level in ("patients", "studies", "series", "instances")}
    r = c.post("/_mock/reset?empty")
    assert r.status_code == 200 and json.loads(r.get_data())["Instances"] == 0
    assert get_json(c, "/_mock/status") == {"patients": 0, "studies": 0, "series": 0, "instances": 0}
    assert c.get("/dicom-web/studies").status_code == 204
    r = c.post("/_mock/reset")
    assert json.loads(r.get_data())["Instances"] == len(manifest["instances"])
    assert get_json(c, "/_mock/status") == full
    assert len(json.loads(c.get("/dicom-web/instances").get_data())) == len(manifest["instances"])


def test_reset_after_changes(writable, manifest):
    c = MockClient(writable)
    study = manifest["studies"][2]
    c.delete(f"/studies/{oid(study['PatientID'], study['StudyInstanceUID'])}")
    assert get_json(c, "/_mock/status")["studies"] == len(manifest["studies"]) - 1
    c.post("/_mock/reset")
    assert get_json(c, "/_mock/status")["studies"] == len(manifest["studies"])
    files = [p for p in writable.store.files_dir.rglob("*.dcm")]
    assert len(files) == len(manifest["instances"])  # no stale copy left behind
