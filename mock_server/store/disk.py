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
import tempfile
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, Iterable

import pydicom

from ..dicomweb.native_pixels import frames_layout, pixel_data_element
from ..dicomweb.pixel_check import pixel_data_problem
from ..dicomweb.uids import DEFLATED_EXPLICIT_VR_LE
from .base import (AddResult, InstanceRecord, NotFound, SearchResult,
                   SearchScope, StagedInstance, Store, delete_records)
from .extract import extract
from .file_meta import file_header, read_header
from .ingest import DEFER_SIZE, check_instance, check_size, kept_behind
from .search import search
from .sqlite_index import SqliteIndex

try:
    import fcntl
except ImportError:  # not POSIX: one process per store
    fcntl = None  # type: ignore[assignment]

__all__ = ["DiskStore"]

_log = logging.getLogger(__name__)

#: fsync runs in these threads, in parallel with the parsing of the same instance (it
#: releases the GIL); one pool per process, as a forked child inherits no threads.
_sync_pools: dict[int, ThreadPoolExecutor] = {}


def _sync_pool() -> ThreadPoolExecutor:
    pid = os.getpid()
    if pid not in _sync_pools:
        _sync_pools[pid] = ThreadPoolExecutor(max_workers=4, thread_name_prefix="store-fsync")
    return _sync_pools[pid]


def shutdown_sync_pool() -> None:
    """End this process's fsync threads (a process about to fork keeps no thread that could hold
    a lock in the child); the next staged instance starts a new pool."""
    pool = _sync_pools.pop(os.getpid(), None)
    if pool is not None:
        pool.shutdown(wait=True)


if hasattr(os, "register_at_fork"):
    # A forked child never uses, joins or keeps alive the pools of its parent.
    os.register_at_fork(after_in_child=_sync_pools.clear)


def _write_and_sync(path: Path, header: bytes, data: memoryview) -> None:
    """Write a kept file (the store's File Meta Information, then the data set) and make it durable."""
    with open(path, "wb") as out:
        out.write(header)
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

_COPY_CHUNK = 1 << 20
#: How long a superseded file stays readable in ``retired/`` for the responses that listed it.
RETIRED_GRACE_SECONDS = 600.0
#: The ``retired/`` directory is swept at most this often (per process).
_SWEEP_INTERVAL = 30.0


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
        self._remove_tmp: weakref.finalize[Any, Any] | None = None
        self._lock = threading.Lock()
        self._made_dirs: set[Path] = set()
        self._last_sweep = 0.0
        #: Refuse an instance whose Pixel Data cannot be decoded (``CheckPixelData``); by default it
        #: is stored, and the reason recorded (:attr:`InstanceRecord.pixel_problem`).
        self.refuse_undecodable = False
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
                with open(path, "rb") as fh:
                    ts, _ = read_header(fh)
                ds = pydicom.dcmread(path, defer_size=None if ts == DEFLATED_EXPLICIT_VR_LE else DEFER_SIZE)
                size = path.stat().st_size
                pixels = pixel_data_element(ds)
                extracted = extract(ds)
                extracted.pixel_problem = pixel_data_problem(ds, size, extracted.instance_json)
                layout = frames_layout(pixels, ts, extracted.instance_json, extracted.number_of_frames)
                if layout is not None:  # read from the kept file: the offset counts from its start
                    extracted.pixel_offset, extracted.frame_length = layout
                self.index.insert(extracted, str(path.relative_to(self.root)), size)
                count += 1
            except Exception as exc:  # left unindexed: recover() removes it
                _log.warning("cannot re-index %s: %s", path, exc)
        return count

    # -- writes ------------------------------------------------------------------------------
    def add(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None,
            check_pixels: bool = True) -> AddResult:
        """Store one Part 10 instance read from ``source`` (a stream or a path)."""
        return self.commit(self.stage(source, expected_study_uid=expected_study_uid, check_pixels=check_pixels))

    def stage(self, source: BinaryIO | str | Path, *, expected_study_uid: str | None = None,
              check_pixels: bool = True) -> StagedInstance:
        """First half of :meth:`add`: read ``source``, check it, write the file to be kept.

        The kept file is the store's own File Meta Information (:mod:`.file_meta`) followed
        by the received data set, byte for byte.  Its fsync starts in the background;
        :meth:`commit` makes the instance visible, :meth:`discard` drops it.  STOW-RS stages
        part k+1 while the disk takes part k.  Raises :class:`InvalidInstance` or
        :class:`InstanceConflict` (nothing is left behind then).  ``check_pixels`` False
        skips the decoding of the Pixel Data (the mock's own fixtures).
        """
        name = os.urandom(16).hex()
        tmp_path, spooled = self.tmp_dir / f"{name}.part", self.tmp_dir / f"{name}.in"
        received: Path | None = None
        try:
            if isinstance(source, (str, Path)):
                size, content, received = Path(source).stat().st_size, None, Path(source)
            else:
                size, content = self._spool(source, spooled)
            with (io.BytesIO(content) if content is not None else open(received or spooled, "rb")) as fh:
                extracted, data_start = check_instance(
                    fh, size, expected_study_uid=expected_study_uid,
                    check_pixels=check_pixels, refuse_undecodable=self.refuse_undecodable)
            header = file_header(extracted.transfer_syntax_uid, extracted.sop_class_uid,
                                 extracted.sop_instance_uid)
            kept_behind(extracted, header)
            if content is not None:  # written and synced in the background while the next part is checked
                synced = _sync_pool().submit(_write_and_sync, tmp_path, header, memoryview(content)[data_start:])
            else:
                with open(tmp_path, "wb") as out, open(received or spooled, "rb") as src:
                    out.write(header)
                    src.seek(data_start)
                    shutil.copyfileobj(src, out, _COPY_CHUNK)
                synced = _sync_pool().submit(_fsync, tmp_path)
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            spooled.unlink(missing_ok=True)
            raise
        if content is None and received is None:
            spooled.unlink(missing_ok=True)
        return StagedInstance(extracted, len(header) + size - data_start, handle=tmp_path, synced=synced)

    def commit(self, staged: StagedInstance) -> AddResult:
        """Second half of :meth:`add`: wait for the disk, rename, index (one transaction)."""
        try:
            extracted = staged.extracted
            digest = hashlib.sha1(extracted.sop_instance_uid.encode()).hexdigest()
            final = self.files_dir / digest[:2] / f"{digest}-{os.urandom(6).hex()}.dcm"
            if final.parent not in self._made_dirs:
                final.parent.mkdir(parents=True, exist_ok=True)
                self._made_dirs.add(final.parent)
            if staged.synced is not None:
                staged.synced.result()
            try:
                os.replace(staged.handle, final)
            except FileNotFoundError:  # the directory went with a reset (of another process)
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staged.handle, final)
            staged.handle = None  # moved: nothing left to discard
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
        if staged.synced is not None:
            staged.synced.exception()
        if staged.handle is not None:
            Path(staged.handle).unlink(missing_ok=True)

    def _spool(self, source: BinaryIO, path: Path) -> tuple[int, bytes | None]:
        """Read ``source``: (size, the whole content when it fits one chunk, else None and the
        content written to ``path``)."""
        first = source.read(_COPY_CHUNK)
        size = len(first)
        chunk = source.read(_COPY_CHUNK) if first else b""
        if not chunk:
            self._check_size(size)
            return size, bytes(first)
        with open(path, "wb") as out:
            out.write(first)
            while chunk:
                size += len(chunk)
                self._check_size(size)
                out.write(chunk)
                chunk = source.read(_COPY_CHUNK)
        return size, None

    def _check_size(self, size: int) -> None:
        check_size(size, self.max_instance_size)

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

    def study_exists(self, study_uid: str) -> bool:
        return self.index.study_exists(study_uid)

    def series_exists(self, study_uid: str, series_uid: str) -> bool:
        return self.index.series_exists(study_uid, series_uid)

    def orthanc_ids(self, level: str) -> list[str]:
        return self.index.orthanc_ids(level)

    def instances_under(self, level: str, oid: str) -> list[InstanceRecord]:
        return self.index.instances_under(level, oid)

    def delete_resource(self, level: str, oid: str) -> int:
        """Delete an Orthanc resource and everything below it; returns instances removed."""
        return delete_records(self, level, oid)

    def reset(self, files: Iterable[str | Path] = ()) -> int:
        """Remove everything, then store ``files``; returns how many were stored."""
        with self._lock:
            self.index.clear()
            for directory in (self.files_dir, self.retired_dir):
                shutil.rmtree(directory, ignore_errors=True)
                directory.mkdir(parents=True, exist_ok=True)
            self._made_dirs.clear()
            return sum(1 for f in files if self.add(f, check_pixels=False) is not None)

    def load(self, files: Iterable[str | Path]) -> int:
        """Store the files whose SOP Instance UID is not stored yet (start-up seeding)."""
        count = 0
        for f in files:
            ds = pydicom.dcmread(f, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
            if self.index.instance_by_uid(str(ds.SOPInstanceUID)) is None:
                self.add(f, check_pixels=False)
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
        try:
            return open(os.path.join(self.root, record.path), "rb")
        except FileNotFoundError:
            pass
        try:
            return open(self.retired_dir / os.path.basename(record.path), "rb")
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


def _conforms(store: DiskStore) -> Store:
    """mypy checks here that the disk store is a :class:`Store` in every signature."""
    return store
