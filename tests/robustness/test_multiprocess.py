"""``python -m dicomweb_mock --workers N``: several processes serving one store.

Runs the real command line (gunicorn, forked workers) and checks what a user
relies on: every worker sees what any worker stored, concurrent STOW-RS across
processes stores each instance once, state that cannot be shared is refused
with a reason, and a temporary store disappears with the master only.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator

import pydicom
import pytest
import requests
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid
from tests.helpers import REPO_ROOT
from tests.helpers.robustness import kill_group

ROOT = REPO_ROOT
pytest.importorskip("gunicorn")


def _start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "dicomweb_mock", "--port", "0", *args], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)  # a group of its own: _stop ends every worker
    deadline = time.monotonic() + 60
    lines: list[str] = []
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        found = re.search(r"DICOMweb root: (\S+)", line)
        if found:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
            return proc, found.group(1)
    kill_group(proc.pid)
    proc.wait(timeout=30)
    raise AssertionError("the mock did not start:\n" + "".join(lines))


def _children(pid: int) -> list[int]:
    """Process IDs whose parent is ``pid`` (from /proc, no procps needed)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def _stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the master; whatever of its process group is left afterwards is killed."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    finally:
        kill_group(proc.pid)
        proc.wait(timeout=30)


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    store = tmp_path / "store"
    proc, url = _start("--workers", "3", "--store", str(store), "--no-fixtures")
    try:
        yield url, store
    finally:
        _stop(proc)


def _instance(study: str, series: str, number: int) -> tuple[str, bytes]:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    ds.PatientID, ds.PatientName, ds.Modality, ds.InstanceNumber = "MP-1", "PROCESS^MANY", "OT", number
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return ds.SOPInstanceUID, buf.getvalue()


def _stow(url: str, blobs: list[bytes]) -> requests.Response:
    boundary = "mp-boundary-7d1f"
    body = b"".join(b"--" + boundary.encode() + b"\r\nContent-Type: application/dicom\r\n\r\n" + b + b"\r\n"
                    for b in blobs) + b"--" + boundary.encode() + b"--\r\n"
    return requests.post(url + "studies", data=body, timeout=60, headers={
        "Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}',
        "Accept": "application/dicom+json"})


def test_workers_share_one_store(workers):
    url, store = workers
    study, series = generate_uid(), generate_uid()
    made = [_instance(study, series, n) for n in range(60)]
    # 12 requests of 5 instances from 6 threads: the connections land on different workers.
    batches = [made[i:i + 5] for i in range(0, len(made), 5)]
    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(lambda b: _stow(url, [blob for _, blob in b]).status_code, batches))
    assert statuses == [200] * len(batches)
    # The same instances again from two threads at once: replaced, never duplicated.
    with ThreadPoolExecutor(2) as pool:
        again = list(pool.map(lambda b: _stow(url, [blob for _, blob in b]).status_code, [made[:5], made[:5]]))
    assert again == [200, 200]
    for _ in range(6):  # new connections, so several workers answer
        found = requests.get(f"{url}studies/{study}/series/{series}/instances", timeout=30,
                             headers={"Accept": "application/dicom+json", "Connection": "close"})
        assert found.status_code == 200
        assert sorted(i["00080018"]["Value"][0] for i in found.json()) == sorted(uid for uid, _ in made)
    assert len(list((store / "files").rglob("*.dcm"))) == len(made)
    assert not any((store / "tmp").iterdir())


def test_run_time_server_registry_is_refused_with_a_reason(workers):
    url, _ = workers
    answer = requests.put(url + "servers/peer", json={"Url": "http://127.0.0.1:9/dicom-web/"}, timeout=30)
    assert answer.status_code == 409
    assert answer.headers["Content-Type"].startswith("text/plain") and "DicomWeb.Servers" in answer.text


def test_record_needs_one_process():
    proc = subprocess.run([sys.executable, "-m", "dicomweb_mock", "--workers", "2", "--record", "--no-fixtures"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--record" in proc.stderr


def test_memory_store_needs_one_process():
    proc = subprocess.run([sys.executable, "-m", "dicomweb_mock", "--workers", "2", "--store", "memory"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--store memory" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_memory_store_serves_and_writes_no_store_directory(tmp_path, manifest):
    """``--store memory`` serves the fixtures, and no store directory appears in the temporary directory."""
    proc, url = _start("--store", "memory", env={**os.environ, "TMPDIR": str(tmp_path)})
    try:
        studies = requests.get(url + "studies", headers={"Accept": "application/dicom+json"}, timeout=30)
        assert studies.status_code == 200 and len(studies.json()) == len(manifest["studies"])
        assert list(tmp_path.glob("dicomweb-mock-*")) == []
    finally:
        _stop(proc)


@pytest.mark.parametrize("bad", ["0", "x", "65"])
def test_bad_worker_count_is_named(bad):
    proc = subprocess.run([sys.executable, "-m", "dicomweb_mock", "--workers", bad], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "--workers" in proc.stderr


def test_temporary_store_outlives_workers_and_goes_with_the_master():
    proc, url = _start("--workers", "2")  # fixtures, temporary store
    try:
        studies = requests.get(url + "studies", headers={"Accept": "application/dicom+json"}, timeout=30)
        assert studies.status_code == 200 and len(studies.json()) >= 7
        deadline, pids = time.monotonic() + 20, []
        while len(pids) < 2 and time.monotonic() < deadline:  # workers are forked after the banner
            time.sleep(0.2)
            pids = _children(proc.pid)
        assert len(pids) == 2
        os.kill(pids[0], signal.SIGTERM)  # gunicorn replaces a worker that exits
        time.sleep(1.5)
        # The master stored the fixtures before forking: the workers' own writes must still work.
        study, series = generate_uid(), generate_uid()
        for n in range(3):
            assert _stow(url, [_instance(study, series, n)[1]]).status_code == 200
        for _ in range(4):
            again = requests.get(url + "studies", headers={"Accept": "application/dicom+json",
                                                           "Connection": "close"}, timeout=30)
            assert again.status_code == 200 and len(again.json()) == len(studies.json()) + 1
    finally:
        _stop(proc)
