"""The storage contract shared by the handlers and every store implementation.

A store keeps DICOM Part 10 instances and an index of the attributes that
QIDO-RS (PS3.18 10.6) searches and returns.  Handlers depend on this module
only, never on a concrete store.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Iterable, Protocol

from pydicom.dataset import Dataset

from ..errors import HttpError

__all__ = [
    "StoreError", "NotFound", "InstanceConflict", "InvalidInstance",
    "InstanceRecord", "AddResult", "SearchScope", "SearchResult", "StagedInstance", "Store",
]

if TYPE_CHECKING:
    from .extract import Extracted


class StoreError(HttpError):
    """Base class of store errors; ``reason`` is one line for HTTP answers."""

    status = 500

    def __init__(self, reason: str) -> None:
        super().__init__(type(self).status, reason)


class NotFound(StoreError):
    """The requested study, series, instance or Orthanc resource is unknown."""

    status = 404


class InvalidInstance(StoreError):
    """The bytes are not a storable DICOM instance (PS3.18 I.2 failure 0xC000/0xA900)."""

    status = 400

    def __init__(self, reason: str, failure_code: int = 0xC000):
        super().__init__(reason)
        self.failure_code = failure_code


class InstanceConflict(StoreError):
    """The instance conflicts with the stored hierarchy (its SOP Instance UID or series is
    already stored under another series or study) or with the target study of the request."""

    status = 409

    def __init__(self, reason: str, failure_code: int = 0x0110):
        super().__init__(reason)
        self.failure_code = failure_code


@dataclass(frozen=True)
class InstanceRecord:
    """What the index knows of one stored instance."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    transfer_syntax_uid: str
    size: int
    number_of_frames: int
    orthanc_id: str
    path: str
    #: Why the stored Pixel Data cannot be decoded; None when it can or was not tried
    #: (:func:`mock_server.dicomweb.pixel_check.pixel_data_problem`).
    pixel_problem: str | None = None
    #: Offset of the Pixel Data value in the kept file and bytes per frame, when its native
    #: frames can be read by byte range; else None (:mod:`mock_server.dicomweb.native_pixels`).
    pixel_offset: int | None = None
    frame_length: int | None = None

    @property
    def series_orthanc_id(self) -> str:
        from .orthanc_ids import series_id
        return series_id(self.patient_id, self.study_instance_uid, self.series_instance_uid)


@dataclass(frozen=True)
class AddResult:
    """Outcome of storing one instance."""

    record: InstanceRecord
    replaced: bool


@dataclass(frozen=True)
class SearchScope:
    """The QIDO-RS resource being searched (PS3.18 table 10.6.1-4)."""

    level: str  # "study" | "series" | "instance"
    study_uid: str | None = None
    series_uid: str | None = None


@dataclass
class SearchResult:
    """Matches as DICOM JSON objects, plus how many more matched past ``limit``."""

    matches: list[dict[str, Any]] = field(default_factory=list)
    remaining: int = 0

    @property
    def more_available(self) -> bool:
        return self.remaining > 0


@dataclass
class StagedInstance:
    """An instance checked and written aside by :meth:`Store.stage`, not visible yet."""

    extracted: Extracted
    size: int
    #: The store's own handle on the staged bytes (a temporary file, the bytes themselves).
    handle: Any = None
    #: Completes when the staged bytes are durable (a disk store's background fsync).
    synced: Future[None] | None = None


class Store(Protocol):
    """What handlers may do with a store: :class:`~mock_server.store.disk.DiskStore` (the one the
    mock serves by default) and :class:`~mock_server.store.memory.MemoryStore` implement it."""

    #: Refuse an instance whose Pixel Data cannot be decoded (``CheckPixelData``); when False it
    #: is stored and the reason recorded (:attr:`InstanceRecord.pixel_problem`).
    refuse_undecodable: bool

    def add(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None,
            check_pixels: bool = True) -> AddResult:
        """Store one Part 10 instance (:meth:`stage` then :meth:`commit`)."""
        ...

    def stage(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None,
              check_pixels: bool = True) -> StagedInstance:
        """Check an instance and set it aside; raises :class:`InvalidInstance` or
        :class:`InstanceConflict` (nothing is kept then)."""
        ...

    def commit(self, staged: StagedInstance) -> AddResult:
        """Make a staged instance visible (one transaction)."""
        ...

    def discard(self, staged: StagedInstance) -> None:
        """Drop a staged instance (no-op after :meth:`commit`)."""
        ...

    def search(self, scope: SearchScope, filters: Iterable[Any], *, limit: int | None, offset: int,
               case_sensitive_pn: bool = False, fuzzy: bool = False) -> SearchResult: ...

    def instances(self, study_uid: str, series_uid: str | None = None,
                  sop_instance_uid: str | None = None) -> list[InstanceRecord]:
        """Instances of a study, series or one instance; :class:`NotFound` when none."""
        ...

    def study_exists(self, study_uid: str) -> bool: ...

    def series_exists(self, study_uid: str, series_uid: str) -> bool: ...

    def metadata_texts(self, records: Iterable[InstanceRecord]) -> list[str]: ...

    def open(self, record: InstanceRecord) -> BinaryIO:
        """The stored bytes of ``record``, also after the instance was stored again or
        deleted meanwhile (a streaming retrieve reads what it listed)."""
        ...

    def read_dataset(self, record: InstanceRecord, *, stop_before_pixels: bool = False) -> Dataset: ...

    def delete_instance(self, record: InstanceRecord) -> None: ...

    def delete_resource(self, level: str, oid: str) -> int:
        """Delete an Orthanc resource and everything below it; returns instances removed."""
        ...

    def reset(self, files: Iterable[str | Path] = ()) -> int:
        """Remove everything, then store ``files``; returns how many were stored."""
        ...

    def orthanc_ids(self, level: str) -> list[str]: ...

    def orthanc_resource(self, level: str, oid: str) -> dict[str, Any]:
        """An Orthanc resource (``json``, ``children``, ``parent``); :class:`NotFound` when unknown."""
        ...

    def instances_under(self, level: str, oid: str) -> list[InstanceRecord]: ...

    def counts(self) -> dict[str, int]: ...

    def load(self, files: Iterable[str | Path]) -> int:
        """Store the files whose SOP Instance UID is not stored yet (start-up seeding)."""
        ...

    def close(self) -> None:
        """Release what the store holds (files, connections); it is not used afterwards."""
        ...


def delete_records(store: Store, level: str, oid: str) -> int:
    """Delete the Orthanc resource ``oid`` of ``level`` and everything below it; returns instances removed."""
    records = store.instances_under(level, oid)
    if not records:
        raise NotFound(f"unknown {level[:-1] if level != 'series' else 'series'} {oid}")
    for record in records:
        store.delete_instance(record)
    return len(records)
