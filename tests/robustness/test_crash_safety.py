"""End-to-end crash safety of the on-disk store: SIGKILL during STOW-RS (PS3.18 10.5), restart.

``python -m dicomweb_mock --store DIR`` receives large STOW-RS requests (30 instances of
1 MiB, a chunked body sent slowly) and is killed with SIGKILL at several points: while a
part is half sent, after some instances became visible through QIDO-RS (PS3.18 10.6),
during two concurrent requests, and while instances are being replaced.  After a restart
on the same directory:

* the index and the files agree (no row without its file, no file without its row, no
  temporary file), and even before the restart no row points to a missing file;
* every instance QIDO-RS showed before the kill is still stored;
* every stored instance is one that was sent, complete: WADO-RS retrieves it as stored
  (PS3.18 8.7.3.5.2) byte for byte and pydicom reads it;
* the restarted server stores new instances.
"""

from __future__ import annotations

import io
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import pydicom
import pytest
import requests

from dicomweb_conformance.http import multipart_related
from tests.helpers.part10 import data_set_bytes
from tests.helpers.robustness import (DICOM_JSON, Instance, MockProcess, fixed_uid, make_instance, qido_instances,
                                      retrieve_as_stored, store_listing)

ROWS, COLUMNS = 512, 1024  # 1 MiB of Pixel Data per instance
PER_STOW = 30
CHUNK = 128 * 1024
PAUSE = 0.004  # between two chunks of the request body: the server is mid-request for a while
TIMEOUT = 20.0


class SlowStow(threading.Thread):
    """A STOW-RS request whose chunked body is sent piece by piece; ``hold_at`` bytes into the
    body it stops sending (the request stays open) and sets ``held``."""

    def __init__(self, url: str, instances: list[Instance], hold_at: int | None = None):
        super().__init__(daemon=True)
        self.url, self.instances, self.hold_at = url, instances, hold_at
        self.held = threading.Event()
        self.release = threading.Event()
        self.outcome: str = "not sent"
        self.sent = 0

    def _body(self, data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), CHUNK):
            piece = data[start:start + CHUNK]
            if self.hold_at is not None and self.sent + len(piece) > self.hold_at:
                piece = piece[:self.hold_at - self.sent]
                self.sent += len(piece)
                yield piece
                self.held.set()
                self.release.wait(TIMEOUT)  # the server is killed meanwhile
                return
            self.sent += len(piece)
            yield piece
            time.sleep(PAUSE)

    def finish(self) -> None:
        """After the kill: end the body (the request then fails) and wait for the thread."""
        self.release.set()
        self.join(TIMEOUT)
        assert not self.is_alive(), "the STOW client is stuck"

    def run(self) -> None:
        body, ctype = multipart_related([i.data for i in self.instances])
        try:
            r = requests.post(self.url + "studies", data=self._body(body), timeout=TIMEOUT,
                              headers={"Content-Type": ctype, "Accept": DICOM_JSON})
            self.outcome = f"{r.status_code}"
        except (requests.RequestException, OSError) as exc:
            self.outcome = f"{type(exc).__name__}"


def new_instances(patient_id: str, count: int) -> list[Instance]:
    study, series = fixed_uid(), fixed_uid()
    return [make_instance(patient_id, study, series, n + 1, rows=ROWS, columns=COLUMNS) for n in range(count)]


def poll_until(url: str, patient_id: str, condition: Callable[[set[str]], bool], timeout: float = 30) -> set[str]:
    """QIDO-RS until ``condition`` holds for the visible SOP Instance UIDs; returns that set."""
    session = requests.Session()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = qido_instances(session, url, {"PatientID": patient_id}, timeout=TIMEOUT)
        if condition(seen):
            return seen
        time.sleep(0.01)
    raise AssertionError(f"QIDO never showed the expected instances of {patient_id}")


@dataclass
class Crash:
    """What happened before the kill: the instances sent and the ones QIDO-RS showed."""

    sent: dict[str, Instance]
    visible: set[str]
    patient_id: str


def _kill_half_sent_part(server: MockProcess, pid: str) -> Crash:
    sent = new_instances(pid, PER_STOW)
    stow = SlowStow(server.dicomweb_url, sent, hold_at=len(sent[0].data) // 2)
    stow.start()
    assert stow.held.wait(TIMEOUT), "the body was never half sent"
    time.sleep(0.2)  # the server has read what was sent and waits for the rest
    visible = qido_instances(requests.Session(), server.dicomweb_url, {"PatientID": pid})
    server.kill()
    stow.finish()
    return Crash({i.sop_uid: i for i in sent}, visible, pid)


def _kill_after(count: int) -> Callable[[MockProcess, str], Crash]:
    def scenario(server: MockProcess, pid: str) -> Crash:
        sent = new_instances(pid, PER_STOW)
        stow = SlowStow(server.dicomweb_url, sent)
        stow.start()
        visible = poll_until(server.dicomweb_url, pid, lambda seen: len(seen) >= count)
        server.kill()
        stow.finish()
        assert visible < {i.sop_uid for i in sent}, f"the STOW ended ({stow.outcome}) before the kill"
        return Crash({i.sop_uid: i for i in sent}, visible, pid)
    return scenario


def _kill_during_two_stows(server: MockProcess, pid: str) -> Crash:
    first, second = new_instances(pid, PER_STOW // 2), new_instances(pid, PER_STOW // 2)
    stows = [SlowStow(server.dicomweb_url, first), SlowStow(server.dicomweb_url, second)]
    for s in stows:
        s.start()
    firsts, seconds = {i.sop_uid for i in first}, {i.sop_uid for i in second}
    visible = poll_until(server.dicomweb_url, pid, lambda seen: len(seen & firsts) >= 3 and len(seen & seconds) >= 3)
    server.kill()
    for s in stows:
        s.finish()
    return Crash({i.sop_uid: i for i in first + second}, visible, pid)


def _kill_while_replacing(server: MockProcess, pid: str) -> Crash:
    """Ten instances stored, then sent again (replaced, PS3.18 10.5 with the mock's replace
    choice) followed by new ones; killed in the middle of the replaced ones."""
    old = new_instances(pid, 10)
    body, ctype = multipart_related([i.data for i in old])
    r = requests.post(server.dicomweb_url + "studies", data=body, timeout=TIMEOUT,
                      headers={"Content-Type": ctype, "Accept": DICOM_JSON})
    assert r.status_code == 200, r.text[:300]
    more = old + [make_instance(pid, old[0].study_uid, old[0].series_uid, 11 + n, rows=ROWS, columns=COLUMNS)
                  for n in range(10)]
    stow = SlowStow(server.dicomweb_url, more, hold_at=len(old[0].data) * 11 // 2)
    stow.start()
    assert stow.held.wait(TIMEOUT), "the body was never sent that far"
    time.sleep(0.2)
    visible = qido_instances(requests.Session(), server.dicomweb_url, {"PatientID": pid})
    assert visible >= {i.sop_uid for i in old}
    server.kill()
    stow.finish()
    return Crash({i.sop_uid: i for i in more}, visible, pid)


SCENARIOS: dict[str, Callable[[MockProcess, str], Crash]] = {
    "part-half-sent": _kill_half_sent_part,
    "after-5-visible": _kill_after(5),
    "after-20-visible": _kill_after(20),
    "two-concurrent-stows": _kill_during_two_stows,
    "while-replacing": _kill_while_replacing,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sigkill_during_stow_leaves_a_consistent_store(scenario: str, tmp_path: Path) -> None:
    root = tmp_path / "store"
    pid = f"CRASH-{fixed_uid()[-8:]}"
    server = MockProcess(root, log=tmp_path / "before.log", env={"TMPDIR": str(_dir(tmp_path / "systmp"))})
    try:
        crash = SCENARIOS[scenario](server, pid)
    finally:
        server.kill()

    # Before any recovery: every index row already points to a complete file.
    before = store_listing(root)
    assert set(before.indexed) <= before.dcm_files, (
        f"rows without file after the kill: {sorted(set(before.indexed) - before.dcm_files)[:3]}")

    with MockProcess(root, log=tmp_path / "after.log") as again:
        listing = store_listing(root)
        assert listing.tmp_files == [], f"temporary files left after restart: {listing.tmp_files}"
        assert listing.dcm_files == set(listing.indexed), (
            f"files without row: {sorted(listing.dcm_files - set(listing.indexed))[:3]}; "
            f"rows without file: {sorted(set(listing.indexed) - listing.dcm_files)[:3]}")
        stored = set(listing.indexed.values())
        assert len(stored) == len(listing.indexed), "a SOP Instance UID has two index rows"
        assert stored <= set(crash.sent), f"stored instances nobody sent: {sorted(stored - set(crash.sent))[:3]}"
        assert crash.visible <= stored, f"visible before the kill, lost after: {sorted(crash.visible - stored)[:3]}"
        if scenario == "part-half-sent":
            assert stored == set(), "an instance whose part was never complete is stored"
        session = requests.Session()
        assert qido_instances(session, again.dicomweb_url, {"PatientID": pid}) == stored
        for uid in sorted(stored):
            data = retrieve_as_stored(session, again.dicomweb_url, crash.sent[uid], timeout=TIMEOUT)
            assert data_set_bytes(data) == data_set_bytes(crash.sent[uid].data), \
                f"{uid} does not retrieve as sent ({len(data)} bytes)"
            assert str(pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID) == uid
        extra = make_instance(pid, fixed_uid(), fixed_uid(), 1)
        body, ctype = multipart_related([extra.data])
        r = session.post(again.dicomweb_url + "studies", data=body, timeout=TIMEOUT,
                         headers={"Content-Type": ctype, "Accept": DICOM_JSON})
        assert r.status_code == 200, f"the restarted server does not store: {r.status_code} {r.text[:300]}"


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
