"""SQLite index of stored instances (stdlib ``sqlite3``, WAL mode).

One table per level (patients, studies, series, instances).  Each row holds
the level's DICOM JSON, so QIDO-RS (PS3.18 10.6) answers from the index and
WADO-RS metadata (PS3.18 10.4.1.1.2) never parses a file.  Connections are
per thread; writes are serialised by SQLite's own locking.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterator

from .base import InstanceConflict, InstanceRecord
from .extract import Extracted, instance_number
from .orthanc_ids import instance_id, patient_id, series_id, study_id
from .search_keys import date_key, name_grams, name_keys

__all__ = ["SqliteIndex"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS patients (
    oid TEXT PRIMARY KEY, patient_id TEXT NOT NULL, json TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    oid TEXT PRIMARY KEY, uid TEXT NOT NULL UNIQUE, patient_oid TEXT NOT NULL,
    patient_id TEXT NOT NULL, study_date TEXT NOT NULL, study_time TEXT NOT NULL, json TEXT NOT NULL,
    date_key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS studies_date ON studies(date_key);
CREATE INDEX IF NOT EXISTS studies_pid ON studies(patient_id);
CREATE TABLE IF NOT EXISTS study_names (study_uid TEXT NOT NULL, key TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS study_names_key ON study_names(key);
CREATE INDEX IF NOT EXISTS study_names_study ON study_names(study_uid);
CREATE TABLE IF NOT EXISTS study_grams (study_uid TEXT NOT NULL, gram TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS study_grams_gram ON study_grams(gram, study_uid);
CREATE INDEX IF NOT EXISTS study_grams_study ON study_grams(study_uid);
CREATE TABLE IF NOT EXISTS series (
    oid TEXT PRIMARY KEY, uid TEXT NOT NULL UNIQUE, study_uid TEXT NOT NULL,
    modality TEXT NOT NULL, json TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS series_study ON series(study_uid);
CREATE INDEX IF NOT EXISTS series_modality ON series(modality);
CREATE TABLE IF NOT EXISTS instances (
    oid TEXT PRIMARY KEY, uid TEXT NOT NULL UNIQUE, sop_class_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL, study_uid TEXT NOT NULL, patient_id TEXT NOT NULL,
    transfer_syntax TEXT NOT NULL, size INTEGER NOT NULL, frames INTEGER NOT NULL,
    instance_number INTEGER, path TEXT NOT NULL, json TEXT NOT NULL, metadata TEXT NOT NULL,
    pixel_problem TEXT, pixel_offset INTEGER, frame_length INTEGER);
CREATE INDEX IF NOT EXISTS instances_series ON instances(series_uid, instance_number);
CREATE INDEX IF NOT EXISTS instances_study ON instances(study_uid);
CREATE INDEX IF NOT EXISTS instances_patient ON instances(patient_id);
"""

#: Bumped whenever the tables change; an index of another version is rebuilt from the files.
SCHEMA_VERSION = 5
_TABLES = ("instances", "series", "studies", "patients", "study_names", "study_grams")

_INSTANCE_COLUMNS = ("uid, sop_class_uid, series_uid, study_uid, patient_id, transfer_syntax, size, frames, "
                     "oid, path, pixel_problem, pixel_offset, frame_length")


def _record(row: tuple[Any, ...]) -> InstanceRecord:
    return InstanceRecord(*row)


class SqliteIndex:
    """The relational index behind :class:`~mock_server.store.disk.DiskStore`."""

    def __init__(self, path: Path):
        self.path = path
        self._local = threading.local()
        self._write_lock = threading.Lock()
        #: True when the tables were (re)created for a file of another schema version:
        #: the owner must index its files again.
        self.rebuilt = False
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if version != SCHEMA_VERSION and existing:
                for table in existing:
                    conn.execute(f'DROP TABLE IF EXISTS "{table}"')
                self.rebuilt = True
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    # -- connections -----------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection; a forked child process opens its own (SQLite forbids sharing)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        """Close this thread's connection (before a fork, or at shutdown)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and self._local.pid == os.getpid():
            conn.close()
        self._local.conn = None

    # -- consistency -------------------------------------------------------------------------
    def _check_hierarchy(self, ex: Extracted, conn: sqlite3.Connection) -> None:
        """Raise :class:`InstanceConflict` when ``ex`` contradicts the stored hierarchy.

        A SOP Instance UID lives in one series, a series in one study, a study belongs
        to one patient (PS3.4 C.6.1.1); another PatientID would leave the patient rows
        and the Orthanc identifiers inconsistent.
        """
        row = conn.execute("SELECT series_uid, study_uid FROM instances WHERE uid=?",
                           (ex.sop_instance_uid,)).fetchone()
        if row is not None and (row[0] != ex.series_instance_uid or row[1] != ex.study_instance_uid):
            raise InstanceConflict(f"SOPInstanceUID {ex.sop_instance_uid} is already stored in series "
                                   f"{row[0]} of study {row[1]}")
        row = conn.execute("SELECT study_uid FROM series WHERE uid=?", (ex.series_instance_uid,)).fetchone()
        if row is not None and row[0] != ex.study_instance_uid:
            raise InstanceConflict(f"SeriesInstanceUID {ex.series_instance_uid} already belongs to study {row[0]}")
        row = conn.execute("SELECT patient_id FROM studies WHERE uid=?", (ex.study_instance_uid,)).fetchone()
        if row is not None and row[0] != ex.patient_id:
            raise InstanceConflict(f"StudyInstanceUID {ex.study_instance_uid} already belongs to PatientID "
                                   f"{row[0]!r}, not {ex.patient_id!r}")

    # -- writes ------------------------------------------------------------------------------
    def insert(self, ex: Extracted, path: str, size: int) -> tuple[InstanceRecord, str | None]:
        """Insert or replace the rows of one instance in a single transaction.

        Returns the record and, when an older copy was replaced, the path of
        the file it pointed to (which the caller removes).  The hierarchy is
        checked inside the transaction, so concurrent writers (threads or
        processes) cannot both pass it.
        """
        pid_oid = patient_id(ex.patient_id)
        st_oid = study_id(ex.patient_id, ex.study_instance_uid)
        se_oid = series_id(ex.patient_id, ex.study_instance_uid, ex.series_instance_uid)
        in_oid = instance_id(ex.patient_id, ex.study_instance_uid, ex.series_instance_uid, ex.sop_instance_uid)
        conn = self.connection()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._check_hierarchy(ex, conn)
                old = conn.execute("SELECT path FROM instances WHERE uid=?", (ex.sop_instance_uid,)).fetchone()
                # Parent rows are rewritten only when their attributes changed (the usual
                # instance of a known series leaves them, and their indexes, untouched).
                conn.execute("INSERT INTO patients VALUES (?,?,?) ON CONFLICT(oid) DO UPDATE SET "
                             "json=excluded.json WHERE json IS NOT excluded.json",
                             (pid_oid, ex.patient_id, json.dumps(ex.patient_json, ensure_ascii=False)))
                study = conn.execute(
                    "INSERT INTO studies VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(oid) DO UPDATE SET "
                    "study_date=excluded.study_date, study_time=excluded.study_time, json=excluded.json, "
                    "date_key=excluded.date_key WHERE json IS NOT excluded.json",
                    (st_oid, ex.study_instance_uid, pid_oid, ex.patient_id, ex.study_date, ex.study_time,
                     json.dumps(ex.study_json, ensure_ascii=False), date_key(ex.study_json.get("00080020"))))
                if study.rowcount:
                    self._index_names(conn, ex.study_instance_uid, name_keys(ex.study_json.get("00100010")))
                conn.execute("INSERT INTO series VALUES (?,?,?,?,?) ON CONFLICT(oid) DO UPDATE SET "
                             "modality=excluded.modality, json=excluded.json WHERE json IS NOT excluded.json",
                             (se_oid, ex.series_instance_uid, ex.study_instance_uid, ex.modality,
                              json.dumps(ex.series_json, ensure_ascii=False)))
                conn.execute("INSERT OR REPLACE INTO instances VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                             (in_oid, ex.sop_instance_uid, ex.sop_class_uid, ex.series_instance_uid,
                              ex.study_instance_uid, ex.patient_id, ex.transfer_syntax_uid, size,
                              ex.number_of_frames, instance_number(ex.instance_json), path,
                              json.dumps(ex.instance_json, ensure_ascii=False), ex.metadata_text,
                              ex.pixel_problem, ex.pixel_offset, ex.frame_length))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        record = InstanceRecord(ex.sop_instance_uid, ex.sop_class_uid, ex.series_instance_uid,
                                ex.study_instance_uid, ex.patient_id, ex.transfer_syntax_uid, size,
                                ex.number_of_frames, in_oid, path, ex.pixel_problem, ex.pixel_offset,
                                ex.frame_length)
        old_path = old[0] if old and old[0] != path else None
        return record, old_path

    @staticmethod
    def _index_names(conn: sqlite3.Connection, study_uid: str, keys: list[str]) -> None:
        """Replace the Patient's Name search keys of a study (none: the study is gone)."""
        conn.execute("DELETE FROM study_names WHERE study_uid=?", (study_uid,))
        conn.execute("DELETE FROM study_grams WHERE study_uid=?", (study_uid,))
        conn.executemany("INSERT INTO study_names VALUES (?,?)", [(study_uid, k) for k in keys])
        conn.executemany("INSERT INTO study_grams VALUES (?,?)", [(study_uid, g) for g in name_grams(keys)])

    def delete_instance(self, sop_uid: str) -> str | None:
        """Remove one instance and any parent left empty; returns its file path."""
        conn = self.connection()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT path, series_uid, study_uid, patient_id FROM instances WHERE uid=?",
                                   (sop_uid,)).fetchone()
                if row is None:
                    conn.execute("ROLLBACK")
                    return None
                path, series_uid, study_uid, pid = row
                conn.execute("DELETE FROM instances WHERE uid=?", (sop_uid,))
                conn.execute("DELETE FROM series WHERE uid=? AND NOT EXISTS "
                             "(SELECT 1 FROM instances WHERE series_uid=?)", (series_uid, series_uid))
                conn.execute("DELETE FROM studies WHERE uid=? AND NOT EXISTS "
                             "(SELECT 1 FROM series WHERE study_uid=?)", (study_uid, study_uid))
                if conn.execute("SELECT 1 FROM studies WHERE uid=?", (study_uid,)).fetchone() is None:
                    self._index_names(conn, study_uid, [])
                conn.execute("DELETE FROM patients WHERE patient_id=? AND NOT EXISTS "
                             "(SELECT 1 FROM studies WHERE patient_id=?)", (pid, pid))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return str(path) if path is not None else None

    def clear(self) -> None:
        conn = self.connection()
        with self._write_lock:
            conn.execute("BEGIN IMMEDIATE")
            for table in _TABLES:
                conn.execute(f"DELETE FROM {table}")
            conn.execute("COMMIT")

    # -- reads -------------------------------------------------------------------------------
    def instance_by_uid(self, sop_uid: str) -> InstanceRecord | None:
        row = self.connection().execute(f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE uid=?",
                                        (sop_uid,)).fetchone()
        return _record(row) if row else None

    def instances(self, study_uid: str | None = None, series_uid: str | None = None,
                  sop_uid: str | None = None) -> list[InstanceRecord]:
        """Instances in a study/series, ordered by series then InstanceNumber."""
        clauses, params = [], []
        for column, value in (("study_uid", study_uid), ("series_uid", series_uid), ("uid", sop_uid)):
            if value is not None:
                clauses.append(f"{column}=?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.connection().execute(
            f"SELECT {_INSTANCE_COLUMNS} FROM instances {where} "
            "ORDER BY study_uid, series_uid, instance_number, uid", params).fetchall()
        return [_record(r) for r in rows]

    def all_paths(self) -> set[str]:
        return {r[0] for r in self.connection().execute("SELECT path FROM instances")}

    def metadata(self, sop_uids: list[str]) -> list[str]:
        """Stored metadata texts in the order of ``sop_uids`` (one query; unknown UIDs skipped)."""
        if not sop_uids:
            return []
        rows = dict(self.connection().execute(
            f"SELECT uid, metadata FROM instances WHERE uid IN ({','.join('?' * len(sop_uids))})", sop_uids))
        return [rows[uid] for uid in sop_uids if uid in rows]

    def study_exists(self, uid: str) -> bool:
        return self.connection().execute("SELECT 1 FROM studies WHERE uid=?", (uid,)).fetchone() is not None

    def series_exists(self, study_uid: str, uid: str) -> bool:
        return self.connection().execute("SELECT 1 FROM series WHERE uid=? AND study_uid=?",
                                         (uid, study_uid)).fetchone() is not None

    def query(self, sql: str, params: list[Any]) -> Iterator[tuple[Any, ...]]:
        """Run a read query built by the search planner (rows are streamed)."""
        return self.connection().execute(sql, params)

    # -- Orthanc-style resources -----------------------------------------------------------------
    def orthanc_ids(self, level: str) -> list[str]:
        table = {"patients": "patients", "studies": "studies", "series": "series", "instances": "instances"}[level]
        return [r[0] for r in self.connection().execute(f"SELECT oid FROM {table} ORDER BY oid")]

    def orthanc_resource(self, level: str, oid: str) -> dict[str, Any] | None:
        """Row of one Orthanc resource: its DICOM JSON and identifiers (no file access)."""
        conn = self.connection()
        if level == "patients":
            row = conn.execute("SELECT patient_id, json FROM patients WHERE oid=?", (oid,)).fetchone()
            if row is None:
                return None
            children = [r[0] for r in conn.execute("SELECT oid FROM studies WHERE patient_id=? ORDER BY oid",
                                                     (row[0],))]
            return {"json": json.loads(row[1]), "children": children, "parent": None}
        if level == "studies":
            row = conn.execute("SELECT uid, patient_oid, json FROM studies WHERE oid=?", (oid,)).fetchone()
            if row is None:
                return None
            children = [r[0] for r in conn.execute("SELECT oid FROM series WHERE study_uid=? ORDER BY oid",
                                                     (row[0],))]
            return {"json": json.loads(row[2]), "children": children, "parent": row[1]}
        if level == "series":
            row = conn.execute("SELECT se.uid, st.oid, se.json FROM series se JOIN studies st "
                               "ON st.uid = se.study_uid WHERE se.oid=?", (oid,)).fetchone()
            if row is None:
                return None
            children = [r[0] for r in conn.execute(
                "SELECT oid FROM instances WHERE series_uid=? ORDER BY instance_number, uid", (row[0],))]
            return {"json": json.loads(row[2]), "children": children, "parent": row[1]}
        row = conn.execute(f"SELECT {_INSTANCE_COLUMNS}, json FROM instances WHERE oid=?", (oid,)).fetchone()
        if row is None:
            return None
        record = _record(row[:-1])
        return {"json": json.loads(row[-1]), "children": [], "parent": record.series_orthanc_id, "record": record}

    def instances_under(self, level: str, oid: str) -> list[InstanceRecord]:
        """Every instance below an Orthanc resource (the resource itself for an instance)."""
        column = {"patients": "patient_id", "studies": "study_uid", "series": "series_uid", "instances": "oid"}[level]
        conn = self.connection()
        if level == "patients":
            row = conn.execute("SELECT patient_id FROM patients WHERE oid=?", (oid,)).fetchone()
        elif level == "studies":
            row = conn.execute("SELECT uid FROM studies WHERE oid=?", (oid,)).fetchone()
        elif level == "series":
            row = conn.execute("SELECT uid FROM series WHERE oid=?", (oid,)).fetchone()
        else:
            row = (oid,)
        if row is None:
            return []
        rows = conn.execute(f"SELECT {_INSTANCE_COLUMNS} FROM instances WHERE {column}=? "
                            "ORDER BY study_uid, series_uid, instance_number, uid", (row[0],)).fetchall()
        return [_record(r) for r in rows]

    def counts(self) -> dict[str, int]:
        conn = self.connection()
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("patients", "studies", "series", "instances")}
