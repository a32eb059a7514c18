"""DiskStore: atomic add, replace, conflicts, delete, reset, crash recovery, search, persistence."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicomweb_mock.dicomweb.qido_query import parse_qido
from dicomweb_mock.store.base import InstanceConflict, InvalidInstance, NotFound, SearchScope
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.store.sqlite_index import SqliteIndex
from tests.helpers.part10 import assert_kept, rewritten
from tests.helpers import REPO_ROOT

ROOT_DIR = REPO_ROOT


@pytest.fixture(scope="module")
def by_file(manifest):
    return {i["file"]: i for i in manifest["instances"]}


@pytest.fixture
def store(tmp_path):
    s = DiskStore(tmp_path / "store")
    yield s
    s.close()


@pytest.fixture(scope="module")
def full_store(fixture_store_dir, tmp_path_factory):
    """Every fixture instance, for the read-only search tests: a re-opened copy of the fixture store."""
    root = tmp_path_factory.mktemp("full") / "store"
    shutil.copytree(fixture_store_dir, root)
    return DiskStore(root)


def dcm_files(store: DiskStore) -> set[str]:
    return {str(p.relative_to(store.root)) for p in store.files_dir.rglob("*") if p.is_file()}


def consistent(store: DiskStore) -> bool:
    """The index references exactly the files on disk, and nothing is left in tmp/."""
    return store.index.all_paths() == dcm_files(store) and not list(store.tmp_dir.iterdir())




def tiny_instance(tmp_path: Path, extra_bytes: int = 0) -> Path:
    """A small valid Part 10 file (Secondary Capture without pixels, optional OB padding)."""
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.PatientName, ds.Modality = "TINY-1", "Tiny^Test", "OT"
    if extra_bytes:
        ds.add_new(0x00090010, "LO", "PADDER")  # Private Creator of block (0009,10xx)
        ds.add_new(0x00091000, "OB", b"\x01" * extra_bytes)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = tmp_path / f"tiny-{extra_bytes}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


# ------------------------------------------------------------------------------------------------- add

def test_add_from_path_and_stream(store, files, by_file):
    a, b = files["wang-ct-001.dcm"], files["yamada-cr-001.dcm"]
    ra = store.add(a)
    with open(b, "rb") as fh:
        rb = store.add(fh)
    for result, path in ((ra, a), (rb, b)):
        inst = by_file[path.name]
        rec = result.record
        assert not result.replaced
        assert (rec.sop_instance_uid, rec.series_instance_uid, rec.study_instance_uid, rec.sop_class_uid) == \
            (inst["SOPInstanceUID"], inst["SeriesInstanceUID"], inst["StudyInstanceUID"], inst["SOPClassUID"])
        assert rec.transfer_syntax_uid == inst["TransferSyntaxUID"]
        assert rec.size == store.file_path(rec).stat().st_size
        assert_kept(path.read_bytes(), store.file_path(rec).read_bytes())
    assert store.counts() == {"patients": 2, "studies": 2, "series": 2, "instances": 2}
    assert consistent(store)


@pytest.mark.parametrize("extra", [0, (1 << 20) + 100])
def test_recorded_size_is_the_file_size(store, tmp_path, extra):
    # A small file, and one whose last 1 MiB copy chunk is short: both sit in write buffers.
    path = tiny_instance(tmp_path, extra)
    rec = store.add(path).record
    assert rec.size == store.file_path(rec).stat().st_size
    with open(path, "rb") as fh:
        rec = store.add(fh).record
    assert rec.size == store.file_path(rec).stat().st_size
    assert_kept(path.read_bytes(), store.file_path(rec).read_bytes())


def test_replace_keeps_one_copy(store, files):
    path = files["wang-ct-001.dcm"]
    first = store.add(path)
    second = store.add(path)
    assert second.replaced and not first.replaced
    assert store.counts()["instances"] == 1
    assert len(dcm_files(store)) == 1 and consistent(store)
    assert store.file_path(second.record).exists() and not store.file_path(first.record).exists()


def test_superseded_file_stays_readable_for_its_grace_period(store, files):
    """A retrieve that listed an instance before it was stored again reads the bytes it
    listed (the part length it announced), not a missing file."""
    path = files["wang-ct-001.dcm"]
    first = store.add(path).record
    changed = rewritten(path, PatientComments="stored again, longer than before")
    second = store.add(io.BytesIO(changed)).record
    assert second.path != first.path and second.size != first.size
    with store.open(first) as fh:
        assert_kept(path.read_bytes(), fh.read())
    with store.open(second) as fh:
        assert_kept(changed, fh.read())
    assert store.sweep_retired() == 0  # still within the grace period
    assert store.sweep_retired(grace=0) == 1
    with store.open(first) as fh:  # past it: the instance's current file
        assert_kept(changed, fh.read())
    assert consistent(store) and not list(store.retired_dir.iterdir())


def test_deleted_instance_stays_readable_until_swept(store, files):
    path = files["doe-mr-t2-003.dcm"]
    rec = store.add(path).record
    store.delete_instance(rec)
    with store.open(rec) as fh:
        assert_kept(path.read_bytes(), fh.read())
    store.sweep_retired(grace=0)
    with pytest.raises(NotFound):
        store.open(rec)


def test_conflicting_hierarchy_is_refused(store, files, by_file, tmp_path):
    path = files["wang-ct-001.dcm"]
    inst = by_file[path.name]
    store.add(path)
    before = (store.counts(), dcm_files(store))
    with pytest.raises(InstanceConflict) as info:
        store.add(io.BytesIO(rewritten(path, SeriesInstanceUID=inst["SeriesInstanceUID"] + ".9")))
    assert info.value.status == 409 and is_failure_reason(info.value.failure_code)
    # The same series under another study.
    other = rewritten(path, SOPInstanceUID=inst["SOPInstanceUID"] + ".9", StudyInstanceUID="1.2.3.4")
    with pytest.raises(InstanceConflict):
        store.add(io.BytesIO(other))
    assert (store.counts(), dcm_files(store)) == before and consistent(store)


def test_study_of_another_patient_is_a_conflict(store, files, by_file):
    path = files["doe-mr-t2-003.dcm"]
    store.add(path)
    store.add(files["doe-mr-t2-004.dcm"])
    before = (store.counts(), dcm_files(store))
    for data in (rewritten(path, PatientID="SOMEONE-ELSE"),  # the same instance, re-sent
                 rewritten(files["doe-mr-t2-005.dcm"], PatientID="SOMEONE-ELSE")):  # a new one
        with pytest.raises(InstanceConflict):
            store.add(io.BytesIO(data))
    assert (store.counts(), dcm_files(store)) == before and consistent(store)
    rec = store.instance(by_file[path.name]["SOPInstanceUID"])
    assert rec.patient_id == "DOE-0002"


def is_failure_reason(code: int) -> bool:
    """A Failure Reason of PS3.18 table I.2-2."""
    return code in (0x0110, 0x0122) or 0xA700 <= code <= 0xA7FF or 0xA900 <= code <= 0xA9FF or \
        0xC000 <= code <= 0xCFFF


def test_expected_study_mismatch_is_a_conflict(store, files, by_file):
    with pytest.raises(InstanceConflict) as info:
        store.add(files["wang-ct-001.dcm"], expected_study_uid="1.2.3")
    assert info.value.status == 409 and is_failure_reason(info.value.failure_code)
    assert store.counts()["instances"] == 0 and consistent(store)


@pytest.mark.parametrize("data", [b"", b"garbage", b"\x00" * 128 + b"DICM", b"\x00" * 132])
def test_invalid_bytes_are_refused_without_leftovers(store, data):
    with pytest.raises(InvalidInstance) as info:
        store.add(io.BytesIO(data))
    assert 0xC000 <= info.value.failure_code <= 0xCFFF
    assert "\n" not in info.value.reason
    assert store.counts()["instances"] == 0 and consistent(store)


@pytest.mark.filterwarnings("ignore:End of file reached:UserWarning")
@pytest.mark.parametrize("name", ["vix-ct-axial-001.dcm", "jane-us-cine-001.dcm", "doe-mr-t2-001.dcm"])
def test_truncated_file_is_refused(store, files, name):
    data = files[name].read_bytes()
    for cut in (len(data) - 1, len(data) - 4096):
        with pytest.raises(InvalidInstance):
            store.add(io.BytesIO(data[:cut]))
    assert store.counts()["instances"] == 0 and consistent(store)


def test_maximum_instance_size(tmp_path, files):
    s = DiskStore(tmp_path / "small", max_instance_size=1000)
    with open(files["wang-ct-001.dcm"], "rb") as fh, pytest.raises(InvalidInstance) as info:
        s.add(fh)
    assert 0xA700 <= info.value.failure_code <= 0xA7FF
    assert consistent(s)


# ----------------------------------------------------------------------------------- delete and reset

def test_delete_instance_and_empty_parents(store, files, by_file):
    names = ["doe-mr-t2-003.dcm", "doe-mr-t2-004.dcm", "doe-sc-palette-001.dcm"]
    recs = [store.add(files[n]).record for n in names]
    store.delete_instance(recs[0])
    assert store.counts() == {"patients": 1, "studies": 1, "series": 2, "instances": 2}
    assert not store.file_path(recs[0]).exists()
    store.delete_instance(recs[2])  # last of its series: the series goes too
    assert store.counts() == {"patients": 1, "studies": 1, "series": 1, "instances": 1}
    with pytest.raises(NotFound):
        store.instance(by_file[names[0]]["SOPInstanceUID"])
    assert consistent(store)


def test_delete_resource(store, files):
    rec = store.add(files["doe-mr-t2-003.dcm"]).record
    store.add(files["doe-mr-t2-004.dcm"])
    from dicomweb_mock.store.orthanc_ids import study_id
    assert store.delete_resource("studies", study_id(rec.patient_id, rec.study_instance_uid)) == 2
    assert store.counts() == {"patients": 0, "studies": 0, "series": 0, "instances": 0}
    assert dcm_files(store) == set() and consistent(store)
    with pytest.raises(NotFound):
        store.delete_resource("studies", "nope")


def test_reset(store, files):
    store.add(files["wang-ct-001.dcm"])
    assert store.reset([files["doe-mr-t2-003.dcm"], files["yamada-cr-001.dcm"]]) == 2
    assert store.counts()["instances"] == 2 and len(dcm_files(store)) == 2 and consistent(store)
    assert store.reset() == 0
    assert store.counts() == {"patients": 0, "studies": 0, "series": 0, "instances": 0}
    assert dcm_files(store) == set()


# ----------------------------------------------------------------------------------- crash recovery

def test_recover_removes_orphans_and_temporaries(store, files):
    rec = store.add(files["wang-ct-001.dcm"]).record
    orphan = store.files_dir / "ab" / "orphan.dcm"
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(files["yamada-cr-001.dcm"].read_bytes())
    (store.tmp_dir / "leftover.part").write_bytes(b"half")
    store.add(files["yamada-cr-001.dcm"])
    store.add(files["yamada-cr-001.dcm"])  # its first file is retired
    assert store.recover() == 3  # alone with the store: no reader needs the retired file
    assert not orphan.exists() and store.file_path(rec).exists()
    assert consistent(store) and not list(store.retired_dir.iterdir())


def test_index_failure_after_rename_leaves_nothing(store, files, monkeypatch):
    def fail(self, *args, **kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(SqliteIndex, "insert", fail)
    with pytest.raises(RuntimeError):
        store.add(files["wang-ct-001.dcm"])
    assert store.counts()["instances"] == 0 and consistent(store)


def test_crash_between_rename_and_commit_is_recovered_on_reopen(tmp_path, files, by_file):
    root = tmp_path / "crash"
    s = DiskStore(root)
    kept = s.add(files["wang-ct-001.dcm"]).record
    # A real crash: the child process dies inside insert(), after the file was renamed
    # into files/ and before the index transaction; no exception handler runs.
    script = textwrap.dedent("""
        import os, sys
        from dicomweb_mock.store.disk import DiskStore
        from dicomweb_mock.store.sqlite_index import SqliteIndex
        store = DiskStore(sys.argv[1])
        SqliteIndex.insert = lambda *a, **k: os._exit(17)
        store.add(sys.argv[2])
    """)
    proc = subprocess.run([sys.executable, "-c", script, str(root), str(files["yamada-cr-001.dcm"])],
                          cwd=ROOT_DIR, capture_output=True, timeout=60)
    assert proc.returncode == 17, proc.stderr.decode()
    assert len(dcm_files(s)) == 2  # the orphan is there
    # While another holder of the store is alive, its files may be in flight: no sweep.
    second = DiskStore(root)
    assert len(dcm_files(second)) == 2
    second.close()
    s.close()
    reopened = DiskStore(root)  # alone now: recover() runs at start-up
    assert dcm_files(reopened) == {kept.path} and consistent(reopened)
    assert reopened.counts()["instances"] == 1
    with pytest.raises(NotFound):
        reopened.instance(by_file["yamada-cr-001.dcm"]["SOPInstanceUID"])
    readded = reopened.add(files["yamada-cr-001.dcm"]).record
    assert readded.size == reopened.file_path(readded).stat().st_size


# ------------------------------------------------------------------------------------ search, persistence

def _search(store, level: str, resource: str, query: list[tuple[str, str]] = (), limit=None, offset=0):
    q = parse_qido(resource, list(query))
    return store.search(SearchScope(level), q.filters, limit=limit, offset=offset)


def test_search_counts_limit_and_offset(full_store, manifest):
    total = len(manifest["instances"])
    assert len(_search(full_store, "instance", "all-instances").matches) == total
    assert len(_search(full_store, "study", "all-studies").matches) == len(manifest["studies"])
    page = _search(full_store, "instance", "all-instances", limit=10)
    assert len(page.matches) == 10 and page.more_available
    tail = _search(full_store, "instance", "all-instances", limit=10, offset=total - 5)
    assert len(tail.matches) == 5 and not tail.more_available
    exact = _search(full_store, "instance", "all-instances", limit=5, offset=total - 5)
    assert len(exact.matches) == 5 and not exact.more_available
    assert _search(full_store, "instance", "all-instances", offset=total).matches == []
    pages = [m["00080018"]["Value"][0] for o in range(0, total, 8)
             for m in _search(full_store, "instance", "all-instances", limit=8, offset=o).matches]
    assert sorted(pages) == sorted(i["SOPInstanceUID"] for i in manifest["instances"])


def test_search_with_filters_and_limit(full_store, manifest):
    vix = [i for i in manifest["instances"] if i["StudyInstanceUID"] == manifest["studies"][0]["StudyInstanceUID"]]
    found = _search(full_store, "instance", "all-instances", [("PatientID", "VIX-0001"), ("Modality", "CT")])
    assert len(found.matches) == len(vix)
    page = _search(full_store, "instance", "all-instances", [("PatientID", "VIX-0001"), ("Modality", "CT")],
                   limit=3, offset=len(vix) - 2)
    assert len(page.matches) == 2 and not page.more_available


def test_store_persists_across_reopen(tmp_path, files, by_file):
    root = tmp_path / "persist"
    names = ["wang-ct-001.dcm", "doe-mr-t2-003.dcm", "doe-mr-t2-004.dcm"]
    s = DiskStore(root)
    for n in names:
        s.add(files[n])
    before = (s.counts(), dcm_files(s))
    again = DiskStore(root)
    assert (again.counts(), dcm_files(again)) == before and consistent(again)
    for n in names:
        rec = again.instance(by_file[n]["SOPInstanceUID"])
        assert_kept(files[n].read_bytes(), again.file_path(rec).read_bytes())
    found = _search(again, "series", "all-series", [("PatientID", "DOE-0002")])
    assert [m["0020000E"]["Value"][0] for m in found.matches] == [by_file[names[1]]["SeriesInstanceUID"]]
    assert found.matches[0]["00201209"]["Value"] == [2]


def test_load_skips_stored_instances(store, files):
    assert store.load([files["wang-ct-001.dcm"]]) == 1
    assert store.load([files["wang-ct-001.dcm"], files["yamada-cr-001.dcm"]]) == 1
    assert store.counts()["instances"] == 2 and consistent(store)


def test_index_of_another_schema_version_is_rebuilt_from_the_files(tmp_path, files, by_file):
    root = tmp_path / "old"
    s = DiskStore(root)
    names = ["wang-ct-001.dcm", "doe-mr-t2-003.dcm"]
    for n in names:
        s.add(files[n])
    before = (s.counts(), dcm_files(s))
    s.close()
    # An index written by an older release: other version, a table it did not have.
    import sqlite3
    conn = sqlite3.connect(root / "index.sqlite")
    conn.execute("DROP TABLE study_names")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    again = DiskStore(root)
    assert again.index.rebuilt
    assert (again.counts(), dcm_files(again)) == before and consistent(again)
    found = _search(again, "study", "all-studies", [("PatientName", "doe*")])
    assert [m["0020000D"]["Value"][0] for m in found.matches] == [by_file[names[1]]["StudyInstanceUID"]]
    again.close()
    assert not DiskStore(root).index.rebuilt  # the version is current now
