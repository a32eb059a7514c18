"""In-memory store: Part 10 bytes and the index in dictionaries of one process.

It keeps what :class:`~mock_server.store.disk.DiskStore` keeps (the store's own
File Meta Information followed by the received data set, the DICOM JSON of
each level, the metadata text of each instance) and answers every
:class:`~mock_server.store.base.Store` call alike: the same checks on a
received instance (:mod:`.ingest`), the same hierarchy rules, the same search
order and matching (:mod:`.search_common`; every candidate goes to the
matcher, nothing is narrowed first).  Nothing survives the process, and no
other process sees it: the mock's unit tests and a single-process mock that
must leave no files behind use it.

Bytes that an instance stored again or a delete supersedes stay readable for
:data:`RETIRED_GRACE_SECONDS`, for the retrieves that listed them.
"""

from __future__ import annotations

import io
import json
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator

import pydicom

from .base import (AddResult, InstanceConflict, InstanceRecord, NotFound, SearchResult, SearchScope,
                   StagedInstance, Store, delete_records)
from .extract import Extracted, instance_number
from .file_meta import file_header
from .ingest import check_instance, check_size, kept_behind
from .orthanc_ids import instance_id, patient_id, series_id, study_id
from .search_common import computed_series, computed_study, match_page, merged_row, uid_values

__all__ = ["MemoryStore", "RETIRED_GRACE_SECONDS"]

#: How long superseded bytes stay readable for the responses that listed them.
RETIRED_GRACE_SECONDS = 600.0

_STUDY_UID, _SERIES_UID, _SOP_UID = 0x0020000D, 0x0020000E, 0x00080018
#: The UID keys each search level decides by identity, as the disk store's SQL does.
_UID_KEYS = {
    "study": {_STUDY_UID: 0},
    "series": {_STUDY_UID: 0, _SERIES_UID: 1},
    "instance": {_STUDY_UID: 0, _SERIES_UID: 1, _SOP_UID: 5},
}
#: (study UID, series UID, study JSON, series JSON, instance JSON, SOP Instance UID)
_Row = tuple[str, "str | None", str, "str | None", "str | None", "str | None"]


@dataclass
class _Study:
    oid: str
    patient_oid: str
    patient_id: str
    json: str


@dataclass
class _Series:
    oid: str
    study_uid: str
    modality: str
    json: str


@dataclass
class _Instance:
    record: InstanceRecord
    number: int | None
    json: str
    metadata: str


def _instance_order(entry: _Instance) -> tuple[bool, int, str]:
    """Instance Number (absent first), then SOP Instance UID."""
    return entry.number is not None, entry.number or 0, entry.record.sop_instance_uid


class MemoryStore:
    """A :class:`~mock_server.store.base.Store` held in this process's memory."""

    def __init__(self, *, max_instance_size: int | None = None) -> None:
        self.max_instance_size = max_instance_size
        #: Refuse an instance whose Pixel Data cannot be decoded (``CheckPixelData``).
        self.refuse_undecodable = False
        self._lock = threading.RLock()
        self._patients: dict[str, tuple[str, str]] = {}  # oid -> (PatientID, JSON)
        self._studies: dict[str, _Study] = {}  # by Study Instance UID, in order of first storage
        self._series: dict[str, _Series] = {}
        self._instances: dict[str, _Instance] = {}
        self._blobs: dict[str, bytes] = {}  # by InstanceRecord.path
        self._retired: dict[str, tuple[bytes, float]] = {}

    def copy(self) -> MemoryStore:
        """An independent store holding the same instances (stored bytes and JSON texts are
        immutable, so they are shared)."""
        other = MemoryStore(max_instance_size=self.max_instance_size)
        other.refuse_undecodable = self.refuse_undecodable
        with self._lock:
            other._patients = dict(self._patients)
            other._studies = {uid: _Study(**vars(s)) for uid, s in self._studies.items()}
            other._series = {uid: _Series(**vars(s)) for uid, s in self._series.items()}
            other._instances = dict(self._instances)
            other._blobs = dict(self._blobs)
        return other

    def close(self) -> None:
        """Drop everything (the store is not used afterwards)."""
        self.reset()

    # -- writes ------------------------------------------------------------------------------
    def add(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None,
            check_pixels: bool = True) -> AddResult:
        """Store one Part 10 instance (:meth:`stage` then :meth:`commit`)."""
        return self.commit(self.stage(source, expected_study_uid=expected_study_uid, check_pixels=check_pixels))

    def stage(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None,
              check_pixels: bool = True) -> StagedInstance:
        """Read and check one instance; the staged handle is the bytes to keep."""
        content = Path(source).read_bytes() if isinstance(source, (str, Path)) else self._read(source)
        extracted, data_start = check_instance(
            io.BytesIO(content), len(content), expected_study_uid=expected_study_uid,
            check_pixels=check_pixels, refuse_undecodable=self.refuse_undecodable)
        header = file_header(extracted.transfer_syntax_uid, extracted.sop_class_uid, extracted.sop_instance_uid)
        kept_behind(extracted, header)
        kept = header + content[data_start:]
        return StagedInstance(extracted, len(kept), handle=kept)

    def _read(self, source: BinaryIO) -> bytes:
        chunks, size = [], 0
        while chunk := source.read(1 << 20):
            size += len(chunk)
            check_size(size, self.max_instance_size)
            chunks.append(chunk)
        return b"".join(chunks)

    def commit(self, staged: StagedInstance) -> AddResult:
        """Make a staged instance visible (atomically for every reader)."""
        if staged.handle is None:
            raise ValueError("the staged instance was discarded")
        ex, kept = staged.extracted, bytes(staged.handle)
        path = f"memory/{uuid.uuid4().hex}"
        with self._lock:
            self._check_hierarchy(ex)
            old = self._instances.get(ex.sop_instance_uid)
            record = self._insert(ex, path, staged.size)
            self._blobs[path] = kept
            if old is not None:
                self._retire(old.record.path)
        staged.handle = None
        return AddResult(record=record, replaced=old is not None)

    def discard(self, staged: StagedInstance) -> None:
        """Drop a staged instance (no-op after :meth:`commit`)."""
        staged.handle = None

    def _check_hierarchy(self, ex: Extracted) -> None:
        """Raise :class:`InstanceConflict` when ``ex`` contradicts the stored hierarchy (a SOP
        Instance UID lives in one series, a series in one study, a study belongs to one
        patient: PS3.4 C.6.1.1)."""
        old = self._instances.get(ex.sop_instance_uid)
        if old is not None and (old.record.series_instance_uid != ex.series_instance_uid
                                or old.record.study_instance_uid != ex.study_instance_uid):
            raise InstanceConflict(f"SOPInstanceUID {ex.sop_instance_uid} is already stored in series "
                                   f"{old.record.series_instance_uid} of study {old.record.study_instance_uid}")
        series = self._series.get(ex.series_instance_uid)
        if series is not None and series.study_uid != ex.study_instance_uid:
            raise InstanceConflict(f"SeriesInstanceUID {ex.series_instance_uid} already belongs to study "
                                   f"{series.study_uid}")
        study = self._studies.get(ex.study_instance_uid)
        if study is not None and study.patient_id != ex.patient_id:
            raise InstanceConflict(f"StudyInstanceUID {ex.study_instance_uid} already belongs to PatientID "
                                   f"{study.patient_id!r}, not {ex.patient_id!r}")

    def _insert(self, ex: Extracted, path: str, size: int) -> InstanceRecord:
        """The index entries of one instance; parents keep their place in the search order."""
        pid_oid = patient_id(ex.patient_id)
        self._patients[pid_oid] = (ex.patient_id, json.dumps(ex.patient_json, ensure_ascii=False))
        self._studies[ex.study_instance_uid] = _Study(
            study_id(ex.patient_id, ex.study_instance_uid), pid_oid, ex.patient_id,
            json.dumps(ex.study_json, ensure_ascii=False))
        self._series[ex.series_instance_uid] = _Series(
            series_id(ex.patient_id, ex.study_instance_uid, ex.series_instance_uid), ex.study_instance_uid,
            ex.modality, json.dumps(ex.series_json, ensure_ascii=False))
        record = InstanceRecord(
            ex.sop_instance_uid, ex.sop_class_uid, ex.series_instance_uid, ex.study_instance_uid, ex.patient_id,
            ex.transfer_syntax_uid, size, ex.number_of_frames,
            instance_id(ex.patient_id, ex.study_instance_uid, ex.series_instance_uid, ex.sop_instance_uid),
            path, ex.pixel_problem, ex.pixel_offset, ex.frame_length)
        self._instances[ex.sop_instance_uid] = _Instance(
            record, instance_number(ex.instance_json), json.dumps(ex.instance_json, ensure_ascii=False),
            ex.metadata_text)
        return record

    def _retire(self, path: str) -> None:
        """Keep superseded bytes readable for a while, and forget those past their time."""
        now = time.monotonic()
        blob = self._blobs.pop(path, None)
        if blob is not None:
            self._retired[path] = (blob, now)
        for old, (_, since) in list(self._retired.items()):
            if now - since > RETIRED_GRACE_SECONDS:
                del self._retired[old]

    def delete_instance(self, record: InstanceRecord) -> None:
        """Remove one instance and any parent left empty."""
        with self._lock:
            entry = self._instances.pop(record.sop_instance_uid, None)
            if entry is None:
                return
            rec = entry.record
            if not any(i.record.series_instance_uid == rec.series_instance_uid for i in self._instances.values()):
                self._series.pop(rec.series_instance_uid, None)
            if not any(s.study_uid == rec.study_instance_uid for s in self._series.values()):
                self._studies.pop(rec.study_instance_uid, None)
            if not any(s.patient_id == rec.patient_id for s in self._studies.values()):
                self._patients.pop(patient_id(rec.patient_id), None)
            self._retire(rec.path)

    def delete_resource(self, level: str, oid: str) -> int:
        """Delete an Orthanc resource and everything below it; returns instances removed."""
        return delete_records(self, level, oid)

    def reset(self, files: Iterable[str | Path] = ()) -> int:
        """Remove everything, then store ``files``; returns how many were stored."""
        with self._lock:
            for table in (self._patients, self._studies, self._series, self._instances, self._blobs,
                          self._retired):
                table.clear()
            return sum(1 for f in files if self.add(f, check_pixels=False) is not None)

    def load(self, files: Iterable[str | Path]) -> int:
        """Store the files whose SOP Instance UID is not stored yet (start-up seeding)."""
        count = 0
        for f in files:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
            if str(ds.SOPInstanceUID) not in self._instances:
                self.add(f, check_pixels=False)
                count += 1
        return count

    # -- reads -------------------------------------------------------------------------------
    def _rows(self, scope: SearchScope) -> Iterator[_Row]:
        """Candidate rows of a level (:func:`~.search_common.merged_row`, plus the SOP Instance
        UID) in the disk store's order: studies and series in order of first storage, the
        instances of a series by Instance Number then SOP Instance UID."""
        for study_uid, study in self._studies.items():
            if scope.study_uid is not None and study_uid != scope.study_uid:
                continue
            if scope.level == "study":
                yield study_uid, None, study.json, None, None, None
                continue
            for series_uid, series in self._series.items():
                if series.study_uid != study_uid or scope.series_uid not in (None, series_uid):
                    continue
                if scope.level == "series":
                    yield study_uid, series_uid, study.json, series.json, None, None
                    continue
                entries = [i for i in self._instances.values() if i.record.series_instance_uid == series_uid]
                for entry in sorted(entries, key=_instance_order):
                    yield (study_uid, series_uid, study.json, series.json, entry.json,
                           entry.record.sop_instance_uid)

    def search(self, scope: SearchScope, filters: Iterable[Any], *, limit: int | None, offset: int,
               case_sensitive_pn: bool = False, fuzzy: bool = False) -> SearchResult:
        """A QIDO-RS search (PS3.18 10.6.2): every candidate row goes to the matcher, except
        for the UID keys of the searched levels, decided by identity."""
        uid_keys, by_identity, to_match = _UID_KEYS[scope.level], [], []
        for filt in filters:
            uids = uid_values(filt)
            if uids is not None and filt.path[0] in uid_keys:
                by_identity.append((uid_keys[filt.path[0]], set(uids)))
            else:
                to_match.append(filt)
        with self._lock:
            rows = [row for row in self._rows(scope)
                    if all(row[position] in uids for position, uids in by_identity)]
            return match_page(rows, to_match, merged=merged_row, with_computed=self._with_computed,
                              limit=limit, offset=offset, case_sensitive_pn=case_sensitive_pn, fuzzy=fuzzy)

    def _with_computed(self, merged: dict[str, Any], row: _Row) -> dict[str, Any]:
        study_uid, series_uid = row[0], row[1]
        pid = self._studies[study_uid].patient_id
        patient_studies = {uid for uid, s in self._studies.items() if s.patient_id == pid}
        study_series = [s for s in self._series.values() if s.study_uid == study_uid]
        study_instances = [i.record for i in self._instances.values() if i.record.study_instance_uid == study_uid]
        merged.update(computed_study(
            (s.modality for s in study_series), len(study_series), len(study_instances),
            (r.sop_class_uid for r in study_instances), len(patient_studies),
            sum(1 for s in self._series.values() if s.study_uid in patient_studies),
            sum(1 for i in self._instances.values() if i.record.patient_id == pid)))
        if series_uid is not None:
            merged.update(computed_series(sum(1 for i in self._instances.values()
                                              if i.record.series_instance_uid == series_uid)))
        return merged

    def _sorted_records(self, keep: Any) -> list[InstanceRecord]:
        """Records ``keep`` accepts, by study, series, Instance Number, SOP Instance UID."""
        with self._lock:
            entries = [i for i in self._instances.values() if keep(i.record)]
        entries.sort(key=lambda i: (i.record.study_instance_uid, i.record.series_instance_uid, *_instance_order(i)))
        return [i.record for i in entries]

    def instances(self, study_uid: str, series_uid: str | None = None,
                  sop_instance_uid: str | None = None) -> list[InstanceRecord]:
        """Instances of a study, series or one instance; :class:`NotFound` when none."""
        found = self._sorted_records(lambda r: r.study_instance_uid == study_uid
                                     and series_uid in (None, r.series_instance_uid)
                                     and sop_instance_uid in (None, r.sop_instance_uid))
        if not found:
            what = ("instance" if sop_instance_uid else "series" if series_uid else "study")
            raise NotFound(f"no {what} {sop_instance_uid or series_uid or study_uid} in this server")
        return found

    def study_exists(self, study_uid: str) -> bool:
        return study_uid in self._studies

    def series_exists(self, study_uid: str, series_uid: str) -> bool:
        series = self._series.get(series_uid)
        return series is not None and series.study_uid == study_uid

    def metadata_texts(self, records: Iterable[InstanceRecord]) -> list[str]:
        """Stored metadata texts in the order of ``records`` (unknown instances skipped)."""
        found = (self._instances.get(r.sop_instance_uid) for r in records)
        return [entry.metadata for entry in found if entry is not None]

    def open(self, record: InstanceRecord) -> BinaryIO:
        """The bytes ``record`` names, also when superseded since (within the grace period);
        past it, the instance's current bytes."""
        with self._lock:
            blob = self._blobs.get(record.path)
            if blob is None and record.path in self._retired:
                blob = self._retired[record.path][0]
            current = self._instances.get(record.sop_instance_uid)
        if blob is not None:
            return io.BytesIO(blob)
        if current is not None and current.record.path != record.path:
            return self.open(current.record)
        raise NotFound(f"instance {record.sop_instance_uid} was removed")

    def read_dataset(self, record: InstanceRecord, *, stop_before_pixels: bool = False) -> pydicom.Dataset:
        with self.open(record) as fh:
            return pydicom.dcmread(fh, stop_before_pixels=stop_before_pixels)

    # -- Orthanc-style resources -------------------------------------------------------------
    def orthanc_ids(self, level: str) -> list[str]:
        with self._lock:
            if level == "patients":
                return sorted(self._patients)
            table: Iterable[_Study | _Series] = self._studies.values() if level == "studies" else \
                self._series.values() if level == "series" else ()
            if level == "instances":
                return sorted(i.record.orthanc_id for i in self._instances.values())
            return sorted(entry.oid for entry in table)

    def orthanc_resource(self, level: str, oid: str) -> dict[str, Any]:
        """An Orthanc resource (``json``, ``children``, ``parent``); :class:`NotFound` when unknown."""
        with self._lock:
            found = self._resource(level, oid)
        if found is None:
            raise NotFound(f"unknown resource /{level}/{oid}")
        return found

    def _resource(self, level: str, oid: str) -> dict[str, Any] | None:
        if level == "patients":
            if oid not in self._patients:
                return None
            pid, text = self._patients[oid]
            children = sorted(s.oid for s in self._studies.values() if s.patient_id == pid)
            return {"json": json.loads(text), "children": children, "parent": None}
        if level == "studies":
            study = next(((uid, s) for uid, s in self._studies.items() if s.oid == oid), None)
            if study is None:
                return None
            children = sorted(s.oid for s in self._series.values() if s.study_uid == study[0])
            return {"json": json.loads(study[1].json), "children": children, "parent": study[1].patient_oid}
        if level == "series":
            series = next(((uid, s) for uid, s in self._series.items() if s.oid == oid), None)
            if series is None:
                return None
            entries = [i for i in self._instances.values() if i.record.series_instance_uid == series[0]]
            children = [i.record.orthanc_id for i in sorted(entries, key=_instance_order)]
            return {"json": json.loads(series[1].json), "children": children,
                    "parent": self._studies[series[1].study_uid].oid}
        entry = next((i for i in self._instances.values() if i.record.orthanc_id == oid), None)
        if entry is None:
            return None
        return {"json": json.loads(entry.json), "children": [], "parent": entry.record.series_orthanc_id,
                "record": entry.record}

    def instances_under(self, level: str, oid: str) -> list[InstanceRecord]:
        """Every instance below an Orthanc resource (the resource itself for an instance)."""
        if level == "patients":
            pid = self._patients.get(oid, (None,))[0]
            return self._sorted_records(lambda r: pid is not None and r.patient_id == pid)
        if level == "studies":
            return self._sorted_records(lambda r: study_id(r.patient_id, r.study_instance_uid) == oid)
        if level == "series":
            return self._sorted_records(lambda r: r.series_orthanc_id == oid)
        return self._sorted_records(lambda r: r.orthanc_id == oid)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"patients": len(self._patients), "studies": len(self._studies), "series": len(self._series),
                    "instances": len(self._instances)}


def _conforms(store: MemoryStore) -> Store:
    """mypy checks here that the memory store is a :class:`Store` in every signature."""
    return store
