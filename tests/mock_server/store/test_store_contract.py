"""The :class:`~mock_server.store.base.Store` contract, run against every implementation.

Each test runs on a :class:`DiskStore` and on a :class:`MemoryStore`: adding (from a path,
from a stream, staged then committed or discarded), storing an instance again, the hierarchy
conflicts (PS3.4 C.6.1.1: a SOP Instance lives in one series, a series in one study, a study
belongs to one patient), refusals of what cannot be stored (PS3.18 I.2.2 failure reasons),
deletes with their empty parents, reset, start-up seeding, the Orthanc resources, and QIDO-RS
searches (PS3.18 10.6) over every fixture instance, which must return the same rows in the same
order from both stores, with the counts the manifest gives.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from dicomweb_mock.dicomweb.qido_query import parse_qido
from dicomweb_mock.store.base import InstanceConflict, InvalidInstance, NotFound, SearchScope, Store
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.store.memory import MemoryStore
from dicomweb_mock.store.orthanc_ids import instance_id, patient_id, series_id, study_id
from tests.helpers.part10 import assert_kept, part10_bytes, rewritten

KINDS = ["disk", "memory"]
EMPTY = {"patients": 0, "studies": 0, "series": 0, "instances": 0}


def make_store(kind: str, directory: Path, **options: Any) -> Store:
    return DiskStore(directory / "store", **options) if kind == "disk" else MemoryStore(**options)


@pytest.fixture(params=KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    s = make_store(request.param, tmp_path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def by_file(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["file"]: i for i in manifest["instances"]}




def read(store: Store, record: Any) -> bytes:
    with store.open(record) as fh:
        return fh.read()


# ------------------------------------------------------------------------------------------------- add

def test_add_from_path_and_stream_keeps_the_data_set(store, files, by_file):
    a, b = files["wang-ct-001.dcm"], files["yamada-cr-001.dcm"]
    ra = store.add(a)
    with open(b, "rb") as fh:
        rb = store.add(fh)
    for result, path in ((ra, a), (rb, b)):
        inst, rec = by_file[path.name], result.record
        assert not result.replaced
        assert (rec.sop_instance_uid, rec.series_instance_uid, rec.study_instance_uid, rec.sop_class_uid,
                rec.transfer_syntax_uid) == (inst["SOPInstanceUID"], inst["SeriesInstanceUID"],
                                             inst["StudyInstanceUID"], inst["SOPClassUID"], inst["TransferSyntaxUID"])
        kept = read(store, rec)
        assert rec.size == len(kept)
        assert_kept(path.read_bytes(), kept)
        assert store.read_dataset(rec).SOPInstanceUID == inst["SOPInstanceUID"]
        assert rec.orthanc_id == instance_id(rec.patient_id, rec.study_instance_uid, rec.series_instance_uid,
                                             rec.sop_instance_uid)
    assert store.counts() == {"patients": 2, "studies": 2, "series": 2, "instances": 2}


def test_staged_instance_is_invisible_until_committed(store, files, by_file):
    inst = by_file["wang-ct-001.dcm"]
    staged = store.stage(files["wang-ct-001.dcm"])
    assert store.counts() == EMPTY and not store.study_exists(inst["StudyInstanceUID"])
    result = store.commit(staged)
    assert store.study_exists(inst["StudyInstanceUID"])
    assert store.instances(inst["StudyInstanceUID"]) == [result.record]


def test_discarded_instance_leaves_nothing(store, files, by_file):
    staged = store.stage(files["wang-ct-001.dcm"])
    store.discard(staged)
    assert store.counts() == EMPTY
    assert not store.study_exists(by_file["wang-ct-001.dcm"]["StudyInstanceUID"])


def test_storing_again_replaces_and_the_listed_bytes_stay_readable(store, files):
    """One copy per SOP Instance UID; a retrieve that listed the first copy still reads it."""
    path = files["wang-ct-001.dcm"]
    first = store.add(path)
    changed = rewritten(path, PatientComments="stored again, longer than before")
    second = store.add(io.BytesIO(changed))
    assert second.replaced and not first.replaced
    assert store.counts()["instances"] == 1
    assert second.record.size != first.record.size
    assert_kept(path.read_bytes(), read(store, first.record))
    assert_kept(changed, read(store, second.record))
    assert store.instances(first.record.study_instance_uid) == [second.record]


def test_deleted_instance_stays_readable_for_its_listing(store, files):
    record = store.add(files["wang-ct-001.dcm"]).record
    store.delete_instance(record)
    assert store.counts() == EMPTY
    assert_kept(files["wang-ct-001.dcm"].read_bytes(), read(store, record))


# ------------------------------------------------------------------------------------------- refusals

def test_hierarchy_conflicts_are_refused(store, files, by_file):
    path = files["wang-ct-001.dcm"]
    store.add(path)
    other_series = rewritten(path, SeriesInstanceUID="1.2.3.4.5.6.7")
    with pytest.raises(InstanceConflict, match="SOPInstanceUID"):
        store.add(io.BytesIO(other_series))
    other_study = rewritten(path, SOPInstanceUID="1.2.3.4.5.6.8", StudyInstanceUID="1.2.3.4.5.6.9")
    with pytest.raises(InstanceConflict, match="SeriesInstanceUID"):
        store.add(io.BytesIO(other_study))
    other_patient = rewritten(path, SOPInstanceUID="1.2.3.4.5.6.10", SeriesInstanceUID="1.2.3.4.5.6.11",
                              PatientID="SOMEONE-ELSE")
    with pytest.raises(InstanceConflict, match="PatientID"):
        store.add(io.BytesIO(other_patient))
    assert store.counts() == {"patients": 1, "studies": 1, "series": 1, "instances": 1}


def test_instance_of_another_study_than_expected_is_a_conflict(store, files, by_file):
    with pytest.raises(InstanceConflict) as caught:
        store.add(files["wang-ct-001.dcm"], expected_study_uid=by_file["yamada-cr-001.dcm"]["StudyInstanceUID"])
    assert caught.value.failure_code == 0xA900 and caught.value.status == 409
    assert store.counts() == EMPTY


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x00" * 128 + b"DICM", b"\x00" * 132])
def test_bytes_that_are_no_instance_are_refused(store, data):
    with pytest.raises(InvalidInstance) as caught:
        store.add(io.BytesIO(data))
    assert caught.value.status == 400 and caught.value.reason and "\n" not in caught.value.reason
    assert store.counts() == EMPTY


@pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")
def test_truncated_instance_is_refused(store, files):
    data = files["doe-mr-t2-001.dcm"].read_bytes()
    with pytest.raises(InvalidInstance):
        store.add(io.BytesIO(data[:len(data) - 100]))
    assert store.counts() == EMPTY


@pytest.mark.parametrize("kind", KINDS)
def test_maximum_instance_size(kind, tmp_path, files):
    path = files["wang-ct-001.dcm"]
    size = path.stat().st_size
    small = make_store(kind, tmp_path, max_instance_size=size - 1)
    try:
        with open(path, "rb") as fh, pytest.raises(InvalidInstance) as caught:
            small.add(fh)
        assert caught.value.failure_code == 0xA700 and small.counts() == EMPTY
    finally:
        small.close()
    exact = make_store(kind, tmp_path / "exact", max_instance_size=size)
    try:
        with open(path, "rb") as fh:
            assert not exact.add(fh).replaced
    finally:
        exact.close()


# ------------------------------------------------------------------------------------ delete and reset

def test_delete_instance_removes_empty_parents(store, files, by_file):
    names = ["doe-mr-t2-003.dcm", "doe-mr-t2-004.dcm", "doe-sc-palette-001.dcm"]
    recs = [store.add(files[n]).record for n in names]
    store.delete_instance(recs[0])
    assert store.counts() == {"patients": 1, "studies": 1, "series": 2, "instances": 2}
    with pytest.raises(NotFound):
        store.instances(recs[0].study_instance_uid, recs[0].series_instance_uid, recs[0].sop_instance_uid)
    store.delete_instance(recs[2])  # the last of its series: the series goes too
    assert store.counts() == {"patients": 1, "studies": 1, "series": 1, "instances": 1}
    assert not store.series_exists(recs[2].study_instance_uid, recs[2].series_instance_uid)
    store.delete_instance(recs[1])
    assert store.counts() == EMPTY and not store.study_exists(recs[1].study_instance_uid)


@pytest.mark.parametrize("level", ["patients", "studies", "series", "instances"])
def test_delete_resource_at_each_level(store, files, level):
    rec = store.add(files["doe-mr-t2-003.dcm"]).record
    store.add(files["doe-mr-t2-004.dcm"])
    kept = store.add(files["wang-ct-001.dcm"]).record
    oid = {"patients": patient_id(rec.patient_id), "studies": study_id(rec.patient_id, rec.study_instance_uid),
           "series": rec.series_orthanc_id, "instances": rec.orthanc_id}[level]
    assert store.delete_resource(level, oid) == (1 if level == "instances" else 2)
    assert store.instances(kept.study_instance_uid) == [kept]
    with pytest.raises(NotFound):
        store.delete_resource(level, oid)


def test_reset_replaces_everything(store, files, by_file):
    old = store.add(files["wang-ct-001.dcm"]).record
    assert store.reset([files["doe-mr-t2-003.dcm"], files["yamada-cr-001.dcm"]]) == 2
    assert store.counts() == {"patients": 2, "studies": 2, "series": 2, "instances": 2}
    assert not store.study_exists(old.study_instance_uid)
    assert all(store.study_exists(by_file[n]["StudyInstanceUID"]) for n in ("doe-mr-t2-003.dcm", "yamada-cr-001.dcm"))
    assert store.reset() == 0
    assert store.counts() == EMPTY


def test_load_stores_only_what_is_new(store, files):
    assert store.load([files["wang-ct-001.dcm"]]) == 1
    assert store.load([files["wang-ct-001.dcm"], files["yamada-cr-001.dcm"]]) == 1
    assert store.counts()["instances"] == 2


# ------------------------------------------------------------------------------------------- reads

def test_instances_are_ordered_by_series_then_instance_number(store, files, by_file):
    names = ["doe-mr-t2-004.dcm", "doe-mr-t2-003.dcm", "doe-sc-palette-001.dcm"]
    for n in names:
        store.add(files[n])
    study = by_file[names[0]]["StudyInstanceUID"]
    found = store.instances(study)
    expected = sorted((by_file[n] for n in names),
                      key=lambda i: (i["SeriesInstanceUID"], i["InstanceNumber"], i["SOPInstanceUID"]))
    assert [r.sop_instance_uid for r in found] == [i["SOPInstanceUID"] for i in expected]
    texts = store.metadata_texts(list(reversed(found)))
    assert [json.loads(t)["00080018"]["Value"][0] for t in texts] == [r.sop_instance_uid for r in reversed(found)]
    with pytest.raises(NotFound):
        store.instances("1.2.3.999")
    with pytest.raises(NotFound):
        store.instances(study, "1.2.3.999")


def test_orthanc_resources_link_parents_and_children(store, files):
    recs = [store.add(files[n]).record for n in ("doe-mr-t2-003.dcm", "doe-mr-t2-004.dcm", "doe-sc-palette-001.dcm")]
    rec = recs[0]
    pid, st = patient_id(rec.patient_id), study_id(rec.patient_id, rec.study_instance_uid)
    patient = store.orthanc_resource("patients", pid)
    assert patient["parent"] is None and patient["children"] == [st]
    study = store.orthanc_resource("studies", st)
    assert study["parent"] == pid and study["children"] == sorted({r.series_orthanc_id for r in recs})
    series = store.orthanc_resource("series", rec.series_orthanc_id)
    assert series["parent"] == st
    assert series["children"] == [r.orthanc_id for r in recs[:2]]  # Instance Numbers 3, 4
    instance = store.orthanc_resource("instances", rec.orthanc_id)
    assert instance["parent"] == rec.series_orthanc_id and instance["record"] == rec
    assert instance["json"]["00080018"]["Value"] == [rec.sop_instance_uid]
    assert store.orthanc_ids("instances") == sorted(r.orthanc_id for r in recs)
    assert store.orthanc_ids("series") == sorted({r.series_orthanc_id for r in recs})
    assert store.instances_under("patients", pid) == store.instances(rec.study_instance_uid)
    assert store.instances_under("series", rec.series_orthanc_id) == recs[:2]
    assert store.instances_under("studies", "0" * 8) == []
    with pytest.raises(NotFound):
        store.orthanc_resource("series", series_id("x", "1.2", "1.3"))


# -------------------------------------------------------------------- searches over every fixture

@pytest.fixture(scope="module")
def full_stores(fixture_store_dir: Path, fixture_app: Any, tmp_path_factory) -> Iterator[dict[str, Store]]:
    """Every fixture instance in a disk store (a copy of the fixture store) and a memory store."""
    root = tmp_path_factory.mktemp("contract") / "store"
    shutil.copytree(fixture_store_dir, root)
    disk = DiskStore(root)
    yield {"disk": disk, "memory": fixture_app.store}
    disk.close()


QUERIES = [
    ("study", "all-studies", []),
    ("study", "all-studies", [("PatientName", "doe*")]),
    ("study", "all-studies", [("PatientName", "*oe^j*")]),
    ("study", "all-studies", [("PatientName", "山田*")]),
    ("study", "all-studies", [("StudyDate", "20200101-20201231")]),
    ("study", "all-studies", [("ModalitiesInStudy", "MR")]),
    ("study", "all-studies", [("PatientID", "VIX-0001")]),
    ("study", "all-studies", [("StudyInstanceUID", "1.2.3.4")]),
    ("series", "all-series", []),
    ("series", "all-series", [("Modality", "CT")]),
    ("series", "all-series", [("PatientName", "DOE^JOHN")]),
    ("instance", "all-instances", []),
    ("instance", "all-instances", [("PatientID", "VIX-0001"), ("Modality", "CT")]),
    ("instance", "all-instances", [("SOPClassUID", "1.2.840.10008.5.1.4.1.1.4")]),
]


def _rows(result: Any) -> list[str]:
    return [json.dumps(m, sort_keys=True) for m in result.matches]


@pytest.mark.parametrize("level,resource,args", QUERIES)
@pytest.mark.parametrize("limit,offset", [(None, 0), (3, 0), (4, 2), (None, 2 ** 64), (2 ** 64, 1)])
def test_both_stores_answer_a_search_alike(full_stores, level, resource, args, limit, offset):
    query = parse_qido(resource, args)
    disk, memory = (full_stores[k].search(SearchScope(level), query.filters, limit=limit, offset=offset)
                    for k in KINDS)
    assert _rows(memory) == _rows(disk)
    assert memory.remaining == disk.remaining


@pytest.mark.parametrize("kind", KINDS)
def test_search_counts_match_the_manifest(full_stores, manifest, kind):
    store = full_stores[kind]

    def uids(level: str, resource: str, tag: str, args: list[tuple[str, str]], **scope: str) -> set[str]:
        found = store.search(SearchScope(level, **scope), parse_qido(resource, args).filters, limit=None, offset=0)
        return {m[tag]["Value"][0] for m in found.matches}

    assert uids("study", "all-studies", "0020000D", []) == {s["StudyInstanceUID"] for s in manifest["studies"]}
    assert uids("instance", "all-instances", "00080018", []) == {i["SOPInstanceUID"] for i in manifest["instances"]}
    assert uids("study", "all-studies", "0020000D", [("PatientName", "doe*")]) == \
        {s["StudyInstanceUID"] for s in manifest["studies"] if s["PatientID"].startswith("DOE-")}
    study = manifest["studies"][0]
    assert uids("series", "study-series", "0020000E", [], study_uid=study["StudyInstanceUID"]) == \
        {s["SeriesInstanceUID"] for s in manifest["series"] if s["StudyInstanceUID"] == study["StudyInstanceUID"]}
    total = len(manifest["instances"])
    page = store.search(SearchScope("instance"), [], limit=10, offset=total - 15)
    assert len(page.matches) == 10 and page.remaining == 5 and page.more_available
    rows = store.search(SearchScope("study"), [], limit=None, offset=0).matches
    by_uid = {r["0020000D"]["Value"][0]: r for r in rows}
    for s in manifest["studies"]:
        assert by_uid[s["StudyInstanceUID"]]["00201208"]["Value"] == [s["NumberOfStudyRelatedInstances"]]


# ------------------------------------------------------------------------------------ frame layout

def _multi_frame(ts: str) -> tuple[bytes, Any]:
    """A 6-frame 64x48 16-bit instance in ``ts`` and its frames (PS3.5 8.1.1: frame n is the
    n-th run of Rows x Columns x Bits Allocated / 8 bytes of the Pixel Data value)."""
    import numpy as np

    from tests.helpers.pixel_datasets import image_ds

    frames = np.random.default_rng(5).integers(0, 4096, size=(6, 64, 48), dtype=np.uint16)
    ds = image_ds(frames, ts=ts, byteorder=">" if ts == "1.2.840.10008.1.2.2" else "<")
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.PatientID = "1.2.826.0.1.5", "1.2.826.0.1.5.1", "FRAMES"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    order = ">" if ts == "1.2.840.10008.1.2.2" else "<"
    return part10_bytes(ds), [f.astype(f.dtype.newbyteorder(order)).tobytes() for f in frames]


@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"])
def test_native_frames_are_located_in_the_kept_file(store, ts):
    data, frames = _multi_frame(ts)
    record = store.add(io.BytesIO(data)).record
    assert record.frame_length == 64 * 48 * 2
    kept = read(store, record)
    for n, frame in enumerate(frames, 1):
        start = record.pixel_offset + (n - 1) * record.frame_length
        assert kept[start:start + record.frame_length] == frame


def test_frames_of_encapsulated_or_deflated_pixel_data_are_not_located(store, files, by_file):
    for name, info in by_file.items():
        if info["TransferSyntaxUID"] in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"):
            continue
        record = store.add(files[name]).record
        assert (record.pixel_offset, record.frame_length) == (None, None), name


def test_a_rebuilt_index_locates_the_frames_again(tmp_path):
    import sqlite3

    data, frames = _multi_frame("1.2.840.10008.1.2.1")
    s = DiskStore(tmp_path / "store")
    first = s.add(io.BytesIO(data)).record
    s.close()
    conn = sqlite3.connect(tmp_path / "store" / "index.sqlite")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    again = DiskStore(tmp_path / "store")
    assert again.index.rebuilt
    (record,) = again.instances(first.study_instance_uid)
    assert (record.pixel_offset, record.frame_length) == (first.pixel_offset, first.frame_length)
    again.close()
