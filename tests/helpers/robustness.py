"""Helpers of the robustness tests (concurrency, crash safety): synthetic instances, the mock
as a subprocess, WADO-RS retrieval as stored, and a look at a store directory from outside.

Instances are Part 10 files (PS3.10 7.1) written with pydicom; retrieval uses PS3.18 10.4.1
with ``transfer-syntax=*`` (8.7.3.5.2: the instance as stored) and the suite's strict
multipart parser (8.6.1.2), never the mock's own code.
"""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from dicomweb_conformance.checks.multipart import parse_multipart
from tests.helpers import REPO_ROOT

ROOT_DIR = REPO_ROOT
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
AS_STORED = 'multipart/related; type="application/dicom"; transfer-syntax=*'
DICOM_JSON = "application/dicom+json"

__all__ = ["SECONDARY_CAPTURE", "AS_STORED", "DICOM_JSON", "Instance", "fixed_uid", "InstanceFactory",
           "make_instance", "MockProcess", "kill_group", "group_members", "children_of", "retrieve_as_stored", "StoreListing", "store_listing",
           "qido_instances", "values_of", "chunks"]


@dataclass(frozen=True)
class Instance:
    """One synthetic instance: its UIDs and its Part 10 bytes."""

    patient_id: str
    study_uid: str
    series_uid: str
    sop_uid: str
    data: bytes


def fixed_uid() -> str:
    """A UUID-derived UID (PS3.5 B.2, root 2.25) of fixed length 44, so templates can be patched."""
    return "2.25.1" + f"{uuid.uuid4().int % 10**38:038d}"


class InstanceFactory:
    """Instances patched into one pydicom-written template (fast: no encoding per instance).

    Every varying value has a fixed width in the template (UIDs of :func:`fixed_uid`, a
    PatientID of 16 characters, an 8-character InstanceNumber), so lengths never change;
    Pixel Data is the last element and is replaced with random bytes.
    """

    _PID = "P" * 16

    def __init__(self, rows: int = 4, columns: int = 4):
        self.uids = (fixed_uid(), fixed_uid(), fixed_uid())  # study, series, SOP placeholders
        self.pixel_bytes = rows * columns * 2
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = SECONDARY_CAPTURE
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = self.uids
        ds.PatientID, ds.PatientName = self._PID, "Robust^Test"
        ds.Modality, ds.StudyDate, ds.StudyTime = "OT", "20240102", "101010"
        ds.SeriesNumber, ds.InstanceNumber = 1, "12345678"
        ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = b"\xA5" * self.pixel_bytes
        out = io.BytesIO()
        ds.save_as(out, enforce_file_format=True)
        self.template = out.getvalue()
        assert self.template.endswith(b"\xA5" * self.pixel_bytes)
        for marker in (*self.uids, self._PID, "12345678"):
            assert marker.encode() in self.template

    def make(self, patient_id: str, study_uid: str, series_uid: str, number: int,
             pixels: bytes | None = None) -> Instance:
        """A new instance (new SOP Instance UID) in the given study and series."""
        assert len(study_uid) == len(series_uid) == 44, "use fixed_uid() for study and series UIDs"
        assert len(patient_id) <= 16
        sop = fixed_uid()
        data = self.template[:-self.pixel_bytes]
        for old, new in zip((*self.uids, self._PID, "12345678"),
                            (study_uid, series_uid, sop, patient_id.ljust(16), f"{number:>8d}")):
            data = data.replace(old.encode(), new.encode())
        data += pixels if pixels is not None else os.urandom(self.pixel_bytes)
        return Instance(patient_id, study_uid, series_uid, sop, data)


_FACTORIES: dict[tuple[int, int], InstanceFactory] = {}


def make_instance(patient_id: str, study_uid: str, series_uid: str, number: int, *,
                  rows: int = 4, columns: int = 4) -> Instance:
    """A Secondary Capture image (16-bit MONOCHROME2, random pixels) in Explicit VR Little Endian."""
    factory = _FACTORIES.get((rows, columns))
    if factory is None:
        factory = _FACTORIES[(rows, columns)] = InstanceFactory(rows, columns)
    return factory.make(patient_id, study_uid, series_uid, number)


def values_of(dataset: dict, tag: str) -> list:
    """The Value array of ``tag`` in a DICOM JSON object (PS3.18 F.2.2), [] when absent."""
    return (dataset.get(tag) or {}).get("Value") or []


def qido_instances(session: requests.Session, dicomweb_url: str, params: dict[str, str] | None = None,
                   timeout: float = 10) -> set[str]:
    """SOP Instance UIDs of ``GET {root}instances`` (PS3.18 10.6); 204 means none."""
    response = session.get(dicomweb_url + "instances", params=params, timeout=timeout,
                           headers={"Accept": DICOM_JSON})
    if response.status_code == 204:
        return set()
    response.raise_for_status()
    return {values_of(ds, "00080018")[0] for ds in response.json()}


def retrieve_as_stored(session: requests.Session, dicomweb_url: str, inst: Instance,
                       timeout: float = 10) -> bytes:
    """The instance's bytes by WADO-RS instance retrieve as stored; AssertionError when malformed."""
    url = f"{dicomweb_url}studies/{inst.study_uid}/series/{inst.series_uid}/instances/{inst.sop_uid}"
    response = session.get(url, headers={"Accept": AS_STORED}, timeout=timeout)
    assert response.status_code == 200, f"GET {url}: {response.status_code} {response.text[:300]}"
    body = parse_multipart(response.headers.get("Content-Type"), response.content, strict=True)
    assert len(body.parts) == 1, f"GET {url}: {len(body.parts)} parts for one instance"
    return body.parts[0].body


class MockProcess:
    """``python -m dicomweb_mock --store DIR --no-fixtures --port 0 [extra...]`` as a subprocess.

    The server runs in a session (and process group) of its own: stopping it ends the whole
    group, so no worker process outlives a test, whatever state it is in.
    """

    def __init__(self, store: Path, *extra: str, env: dict[str, str] | None = None, log: Path | None = None):
        self.store = store
        self.log = log or store.parent / f"mock-{time.monotonic_ns()}.log"
        self._log_fh = open(self.log, "wb")
        cmd = [sys.executable, "-m", "dicomweb_mock", "--store", str(store), "--no-fixtures", "--port", "0", *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT_DIR, stdout=subprocess.PIPE, stderr=self._log_fh,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        self.dicomweb_url = self._wait_ready()
        self.origin = self.dicomweb_url.split("/dicom-web/")[0]
        # Keep draining stdout so the server never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()

    def _wait_ready(self, timeout: float = 30) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        seen = []
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            seen.append(line)
            if "DICOMweb root:" in line:
                return line.split("DICOMweb root:", 1)[1].strip()
        self.kill()
        raise AssertionError(f"the mock did not start: {''.join(seen)}\n{self.log.read_text(errors='replace')}")

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in iter(self.proc.stdout.readline, b""):
            pass

    def kill(self) -> None:
        """SIGKILL to every process of the server's group: no clean-up of any kind runs."""
        kill_group(self.proc.pid)
        self.proc.wait(timeout=10)
        self._log_fh.close()

    def stop(self) -> None:
        """Ctrl-C (the server's own shutdown path), then SIGKILL to whatever of its group is
        left: the master after 10 s, a worker that outlived it at once."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def stderr_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def __enter__(self) -> "MockProcess":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def kill_group(pgid: int) -> None:
    """SIGKILL to every process of group ``pgid`` (none left: nothing to do)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _live_processes() -> Iterator[tuple[int, int, int]]:
    """(pid, parent pid, process group) of each live (not zombie) process, read from /proc."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if fields[0] != "Z":
            yield int(stat.parent.name), int(fields[1]), int(fields[2])


def group_members(pgid: int) -> list[int]:
    """Live processes of group ``pgid``."""
    return sorted(pid for pid, _, group in _live_processes() if group == pgid)


def children_of(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    return sorted(child for child, parent, _ in _live_processes() if parent == pid)


@dataclass
class StoreListing:
    """A store directory seen from outside: index rows, Part 10 files, temporaries."""

    indexed: dict[str, str]  # path (relative to the store) -> SOP Instance UID
    dcm_files: set[str]
    tmp_files: list[str]
    counts: dict[str, int]


def store_listing(root: Path) -> StoreListing:
    """Read the index (read-only SQLite connection) and list ``files/`` and ``tmp/``."""
    conn = sqlite3.connect(f"file:{root / 'index.sqlite'}?mode=ro", uri=True, timeout=30)
    try:
        indexed = {path: uid for path, uid in conn.execute("SELECT path, uid FROM instances")}
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("patients", "studies", "series", "instances")}
    finally:
        conn.close()
    files = {str(p.relative_to(root)) for p in (root / "files").rglob("*") if p.is_file()}
    tmp = sorted(p.name for p in (root / "tmp").iterdir()) if (root / "tmp").exists() else []
    return StoreListing(indexed, files, tmp, counts)


def chunks(data: bytes, size: int) -> Iterator[bytes]:
    """``data`` in pieces of ``size`` bytes."""
    for start in range(0, len(data), size):
        yield data[start:start + size]
