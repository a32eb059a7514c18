"""On-disk store: Part 10 files plus the SQLite index.

Each instance is written to a temporary file, parsed, renamed to a name of
its own and only then committed to the index in one transaction, so a crash
never leaves a half-stored instance visible.  At start-up, files the index
does not reference (left by a crash between rename and commit) are removed.

A file that an instance stored again or a delete supersedes is not removed at
once: it is moved to ``retired/`` and removed after
:data:`RETIRED_GRACE_SECONDS`.  A retrieve that listed the instance before the
change (its parts are opened one after the other, while the body streams)
still reads the bytes it announced, in this process or another one.

Several processes may serve one store directory (multi-process WSGI serving):
the index is SQLite in WAL mode, the hierarchy check runs inside the write
transaction, and each process holds a shared lock on ``store.lock``.  Crash
recovery only runs in a process that finds no other one holding it, so it
never removes another process's file in flight.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
import uuid
import weakref
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from ..dicomweb.qido_attributes import RESERVED_GROUPS
from .base import (AddResult, InstanceConflict, InstanceRecord, InvalidInstance, NotFound, SearchResult,
                   SearchScope, StoreError)
from .extract import Extracted, extract
from .search import search
from .sqlite_index import SqliteIndex

try:
    import fcntl
except ImportError:  # not POSIX: one process per store
    fcntl = None  # type: ignore[assignment]

__all__ = ["DiskStore", "StagedInstance"]

_log = logging.getLogger(__name__)

#: fsync runs in these threads, in parallel with the parsing of the same instance (it
#: releases the GIL); one pool per process, as a forked child inherits no threads.
_sync_pools: dict[int, ThreadPoolExecutor] = {}


def _sync_pool() -> ThreadPoolExecutor:
    pid = os.getpid()
    if pid not in _sync_pools:
        _sync_pools[pid] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-fsync")
    return _sync_pools[pid]


@dataclass
class StagedInstance:
    """An instance spooled and checked by :meth:`DiskStore.stage`, not visible yet."""

    tmp_path: Path
    extracted: Extracted
    size: int
    synced: Future[None]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

_COPY_CHUNK = 1 << 20
#: Elements longer than this stay on disk while an instance is indexed.
_DEFER_SIZE = 64 * 1024
#: Groups whose elements may not appear in a stored data set, and why.
_NOT_IN_DATA_SETS = {
    0x0000: "Command elements (group 0000) belong to DIMSE messages (PS3.7 annex E), not to data sets",
    0x0002: "File Meta Information elements (group 0002) belong in the File Meta header (PS3.10 7.1)",
    **{group: f"group {group:04X} may not be used (PS3.5 7.8.1)" for group in RESERVED_GROUPS},
}
#: How long a superseded file stays readable in ``retired/`` for the responses that listed it.
RETIRED_GRACE_SECONDS = 600.0
#: The ``retired/`` directory is swept at most this often (per process).
_SWEEP_INTERVAL = 30.0


def _encapsulated_end(fh: BinaryIO, offset: int, size: int) -> int | None:
    """End offset of undefined-length encapsulated data (PS3.5 A.4), None when cut short."""
    pos = offset
    while pos + 8 <= size:
        fh.seek(pos)
        group, element, length = struct.unpack("<HHL", fh.read(8))
        if (group, element) == (0xFFFE, 0xE0DD):
            return pos + 8
        if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
            return None
        pos += 8 + length
    return None


def _check_complete(ds: pydicom.Dataset, fh: BinaryIO, size: int) -> None:
    """Refuse a truncated file (PS3.18 I.2.2 failure 0xC000).

    pydicom does not read elements longer than ``defer_size`` while indexing (nor
    complain when one is cut short), and on a short read of the top-level data set it
    drops every element with a warning; both must not end in a stored instance.
    ``fh`` is the file object ``ds`` was read from.
    """
    if len(ds) == 0:
        raise InvalidInstance("the data set is empty or truncated", 0xC000)
    for raw in ds._dict.values():
        tell = getattr(raw, "value_tell", None)
        length = getattr(raw, "length", None)
        if not isinstance(raw, RawDataElement) or tell is None or length is None:
            continue
        if length == 0xFFFFFFFF:
            if raw.tag != 0x7FE00010:
                continue  # a sequence: pydicom parses it and fails on a short read
            # Encapsulated Pixel Data: read or deferred, its items must end with the
            # Sequence Delimitation Item (pydicom only warns when it is missing).
            end = _encapsulated_end(fh, tell, size)
        else:
            end = tell + length
        if end is None or end > size:
            raise InvalidInstance(f"the file is truncated: element {Tag(raw.tag)} ends past its "
                                  f"{size} bytes", 0xC000)


class DiskStore:
    """A :class:`~mock_server.store.base.Store` kept in one directory."""

    def __init__(self, root: str | Path, *, max_instance_size: int | None = None):
        self.root = Path(root)
        self.files_dir = self.root / "files"
        self.tmp_dir = self.root / "tmp"
        self.retired_dir = self.root / "retired"
        for directory in (self.files_dir, self.tmp_dir, self.retired_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._lock_fd = os.open(self.root / "store.lock", os.O_RDWR | os.O_CREAT, 0o644)
        alone = self._try_exclusive()
        self.index = SqliteIndex(self.root / "index.sqlite")
        self.max_instance_size = max_instance_size
        #: Removes a temporary store's directory (at close, or at exit of the process that made it).
        self._remove_tmp: weakref.finalize | None = None
        self._lock = threading.Lock()
        self._made_dirs: set[Path] = set()
        self._last_sweep = 0.0
        #: Extra check of a parsed instance of a given size: why it is refused, or None.
        self.instance_check: Callable[[pydicom.Dataset, int], str | None] | None = None
        if alone:
            if self.index.rebuilt:
                _log.warning("index of %s had another schema version: re-indexed %d files", self.root,
                             self.reindex())
            self.recover()
        if fcntl is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_SH)  # blocks while another process recovers

    def _try_exclusive(self) -> bool:
        """Whether no other process has this store open (then hold it exclusively)."""
        if fcntl is None:
            return True
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    @classmethod
    def temporary(cls) -> "DiskStore":
        """A store in a fresh temporary directory, removed by :meth:`close`."""
        root = tempfile.mkdtemp(prefix="dicomweb-mock-")
        store = cls(root)
        store._remove_tmp = weakref.finalize(store, shutil.rmtree, root, ignore_errors=True)
        return store

    def forget_temporary(self) -> None:
        """In a forked worker: leave the removal of a temporary store to the process that made it."""
        if self._remove_tmp is not None:
            self._remove_tmp.detach()
            self._remove_tmp = None

    def close(self) -> None:
        self.index.close()
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the shared lock
            self._lock_fd = -1
        if self._remove_tmp is not None:
            self._remove_tmp()
            self._remove_tmp = None

    # -- crash recovery ----------------------------------------------------------------------
    def recover(self) -> int:
        """Delete temporary files, retired files and files the index does not reference;
        returns how many (no other process has the store open: no reader needs them)."""
        removed = 0
        for leftover in [*self.tmp_dir.iterdir(), *self.retired_dir.iterdir()]:
            leftover.unlink(missing_ok=True)
            removed += 1
        known = self.index.all_paths()
        for path in self.files_dir.rglob("*.dcm"):
            if str(path.relative_to(self.root)) not in known:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def reindex(self) -> int:
        """Index every stored file again (after a schema change); returns how many."""
        count = 0
        for path in sorted(self.files_dir.rglob("*.dcm")):
            try:
                ds = pydicom.dcmread(path, defer_size=_DEFER_SIZE)
                self.index.insert(extract(ds), str(path.relative_to(self.root)), path.stat().st_size)
                count += 1
            except Exception as exc:  # left unindexed: recover() removes it
                _log.warning("cannot re-index %s: %s", path, exc)
        return count

    # -- writes ------------------------------------------------------------------------------
    def add(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None) -> AddResult:
        """Store one Part 10 instance read from ``source`` (a stream or a path)."""
        return self.commit(self.stage(source, expected_study_uid=expected_study_uid))

    def stage(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None) -> StagedInstance:
        """First half of :meth:`add`: spool ``source`` to a temporary file and check it.

        The file's fsync starts in the background; :meth:`commit` makes the
        instance visible, :meth:`discard` drops it.  STOW-RS stages part k+1
        while the disk takes part k.  Raises :class:`InvalidInstance` or
        :class:`InstanceConflict` (nothing is left behind then).
        """
        tmp_path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        synced: Future[None] | None = None
        parsed: BinaryIO | None = None
        try:
            size, content = self._spool(source, tmp_path)
            # The file reaches the disk while it is parsed; it is renamed only once it is there.
            synced = _sync_pool().submit(_fsync, tmp_path)
            # A small instance is parsed from the bytes just written, a large one from its file
            # with long elements (pixel data) left unread.
            parsed: BinaryIO = io.BytesIO(content) if content is not None else open(tmp_path, "rb")
            try:
                ds = pydicom.dcmread(parsed, defer_size=None if content is not None else _DEFER_SIZE)
            except (InvalidDicomError, EOFError) as exc:
                raise InvalidInstance(f"not a DICOM Part 10 instance: {exc}".splitlines()[0], 0xC000) from None
            except Exception as exc:  # pydicom raises many types on corrupt input
                raise InvalidInstance(f"cannot parse the DICOM instance: {type(exc).__name__}: {exc}"
                                      .splitlines()[0][:300], 0xC000) from None
            if not getattr(ds, "file_meta", None) or "TransferSyntaxUID" not in ds.file_meta:
                raise InvalidInstance("the instance has no File Meta Information with a Transfer Syntax UID",
                                      0xC000)
            misplaced = next((tag for tag in ds.keys() if tag.group in _NOT_IN_DATA_SETS), None)
            if misplaced is not None:
                raise InvalidInstance(f"the data set holds element {Tag(misplaced)}: "
                                      f"{_NOT_IN_DATA_SETS[misplaced.group]}", 0xC000)
            try:
                _check_complete(ds, parsed, size)
                extracted = extract(ds)
            except StoreError:
                raise
            except Exception as exc:  # pydicom converts values lazily: unknown VR, bad lengths...
                raise InvalidInstance(f"cannot read the DICOM instance: {type(exc).__name__}: {exc}"
                                      .splitlines()[0][:300], 0xC000) from None
            if expected_study_uid is not None and extracted.study_instance_uid != expected_study_uid:
                # A conflict with the request (PS3.18 table 10.5.3-1: 409 "Study Instance UID
                # mismatch"), not a malformed instance.
                raise InstanceConflict(
                    f"StudyInstanceUID {extracted.study_instance_uid} does not match the target study "
                    f"{expected_study_uid}", 0xA900)
            problem = self.instance_check(ds, size) if self.instance_check is not None else None
            if problem:
                raise InvalidInstance(problem.splitlines()[0][:300], 0xC000)
        except BaseException:
            if synced is not None:
                synced.exception()  # the file is not removed under a running fsync
            tmp_path.unlink(missing_ok=True)
            raise
        finally:
            if parsed is not None:
                parsed.close()
        return StagedInstance(tmp_path, extracted, size, synced)

    def commit(self, staged: StagedInstance) -> AddResult:
        """Second half of :meth:`add`: wait for the disk, rename, index (one transaction)."""
        try:
            extracted = staged.extracted
            digest = hashlib.sha1(extracted.sop_instance_uid.encode()).hexdigest()
            final = self.files_dir / digest[:2] / f"{digest}-{uuid.uuid4().hex[:12]}.dcm"
            if final.parent not in self._made_dirs:
                final.parent.mkdir(parents=True, exist_ok=True)
                self._made_dirs.add(final.parent)
            staged.synced.result()
            try:
                os.replace(staged.tmp_path, final)
            except FileNotFoundError:  # the directory went with a reset (of another process)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.tmp_path, final)
            rel = str(final.relative_to(self.root))
            try:
                record, old_path = self.index.insert(extracted, rel, staged.size)
            except BaseException:
                final.unlink(missing_ok=True)
                raise
            if old_path:
                self._retire(old_path)
            return AddResult(record=record, replaced=old_path is not None)
        finally:
            self.discard(staged)

    def discard(self, staged: StagedInstance) -> None:
        """Drop a staged instance that will not be committed (no-op after :meth:`commit`)."""
        staged.synced.exception()
        staged.tmp_path.unlink(missing_ok=True)

    def _spool(self, source: BinaryIO | str | Path, tmp_path: Path) -> tuple[int, bytes | None]:
        """Copy ``source`` to ``tmp_path``: (size, the whole content when it fits one chunk)."""
        with open(tmp_path, "wb") as out:
            if isinstance(source, (str, Path)):
                with open(source, "rb") as src:
                    shutil.copyfileobj(src, out, _COPY_CHUNK)
                out.flush()  # stat() below must see the buffered tail too
                return tmp_path.stat().st_size, None
            size, chunks, first = 0, 0, b""
            while chunk := source.read(_COPY_CHUNK):
                size += len(chunk)
                chunks += 1
                first = first or chunk
                if self.max_instance_size is not None and size > self.max_instance_size:
                    raise InvalidInstance(f"the instance exceeds the maximum size of {self.max_instance_size} bytes",
                                          0xA700)
                out.write(chunk)
        return size, (bytes(first) if chunks <= 1 else None)

    def delete_instance(self, record: InstanceRecord) -> None:
        path = self.index.delete_instance(record.sop_instance_uid)
        if path:
            self._retire(path)

    def _retire(self, rel_path: str) -> None:
        """Move a superseded file to ``retired/`` (its name is unique), then sweep old ones."""
        retired = self.retired_dir / Path(rel_path).name
        try:
            os.replace(self.root / rel_path, retired)
            os.utime(retired)  # the grace period runs from now
        except FileNotFoundError:
            pass
        now = time.monotonic()
        if now - self._last_sweep >= _SWEEP_INTERVAL:
            self._last_sweep = now
            self.sweep_retired()

    def sweep_retired(self, grace: float = RETIRED_GRACE_SECONDS) -> int:
        """Remove retired files older than ``grace`` seconds; returns how many."""
        removed, limit = 0, time.time() - grace
        for path in self.retired_dir.iterdir():
            try:
                if path.stat().st_mtime < limit:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # swept by another process
                pass
        return removed

    def delete_resource(self, level: str, oid: str) -> int:
        """Delete an Orthanc resource and everything below it; returns instances removed."""
        records = self.index.instances_under(level, oid)
        if not records:
            raise NotFound(f"unknown {level[:-1] if level != 'series' else 'series'} {oid}")
        for record in records:
            self.delete_instance(record)
        return len(records)

    def reset(self, files: Iterable[str | Path] = ()) -> int:
        """Remove everything, then store ``files``; returns how many were stored."""
        with self._lock:
            self.index.clear()
            for directory in (self.files_dir, self.retired_dir):
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir(parents=True, exist_ok=True)
            self._made_dirs.clear()
            return sum(1 for f in files if self.add(f))

    def load(self, files: Iterable[str | Path]) -> int:
        """Store the files whose SOP Instance UID is not stored yet (start-up seeding)."""
        count = 0
        for f in files:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
            if self.index.instance_by_uid(str(ds.SOPInstanceUID)) is None:
                self.add(f)
                count += 1
        return count

    # -- reads -------------------------------------------------------------------------------
    def search(self, scope: SearchScope, filters: Iterable[Any], *, limit: int | None, offset: int,
               case_sensitive_pn: bool = False, fuzzy: bool = False) -> SearchResult:
        return search(self.index, scope, filters, limit=limit, offset=offset,
                      case_sensitive_pn=case_sensitive_pn, fuzzy=fuzzy)

    def instances(self, study_uid: str, series_uid: str | None = None,
                  sop_instance_uid: str | None = None) -> list[InstanceRecord]:
        """Instances of a study, series or one instance; :class:`NotFound` when none."""
        found = self.index.instances(study_uid, series_uid, sop_instance_uid)
        if not found:
            what = ("instance" if sop_instance_uid else "series" if series_uid else "study")
            uid = sop_instance_uid or series_uid or study_uid
            raise NotFound(f"no {what} {uid} in this server")
        return found

    def instance(self, sop_instance_uid: str) -> InstanceRecord:
        record = self.index.instance_by_uid(sop_instance_uid)
        if record is None:
            raise NotFound(f"no instance {sop_instance_uid} in this server")
        return record

    def metadata_texts(self, records: Iterable[InstanceRecord]) -> list[str]:
        return self.index.metadata([r.sop_instance_uid for r in records])

    def file_path(self, record: InstanceRecord) -> Path:
        return self.root / record.path

    def open(self, record: InstanceRecord) -> BinaryIO:
        """The file ``record`` names, opened.

        When the instance was stored again or deleted after ``record`` was
        read, the superseded file is read from ``retired/`` (same bytes, same
        size as announced); past its grace period, the instance's current file.
        """
        for candidate in (self.root / record.path, self.retired_dir / Path(record.path).name):
            try:
                return open(candidate, "rb")
            except FileNotFoundError:
                pass
        current = self.index.instance_by_uid(record.sop_instance_uid)
        if current is not None and current.path != record.path:
            return self.open(current)
        raise NotFound(f"instance {record.sop_instance_uid} was removed")

    def read_dataset(self, record: InstanceRecord, *, stop_before_pixels: bool = False) -> pydicom.Dataset:
        with self.open(record) as fh:
            return pydicom.dcmread(fh, stop_before_pixels=stop_before_pixels)

    def orthanc_resource(self, level: str, oid: str) -> dict[str, Any]:
        found = self.index.orthanc_resource(level, oid)
        if found is None:
            raise NotFound(f"unknown resource /{level}/{oid}")
        return found

    def counts(self) -> dict[str, int]:
        return self.index.counts()
