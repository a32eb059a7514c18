"""``python -m dicomweb_mock --workers N``: what the master forks, and that no worker outlives it.

A forked child keeps only the forking thread; a lock another thread of the master held at that
moment stays held forever in the child.  The master therefore forks with no thread of its own
running, also after it ran fsyncs (the fixtures it loads at start-up) and when it replaces a
worker.  Once the master is gone (stopped, or killed with SIGKILL) every worker ends by itself,
even one whose request thread waits for a body its client never finishes.

Each server runs in a process group of its own, so a test reads its members from /proc and
kills whatever is left at the end.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest
import requests
from tests.helpers import REPO_ROOT
from tests.helpers.robustness import (DICOM_JSON, children_of, fixed_uid, group_members, kill_group,
                                      make_instance)

pytest.importorskip("gunicorn")

#: Generous bounds for liveness only (start-up, a worker ending); nothing is timed against them.
START_TIMEOUT = 60.0
END_TIMEOUT = 60.0


class Server:
    """A ``--workers`` server started in a session of its own; its group is killed at the end."""

    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "dicomweb_mock", "--port", "0", *args],
                                     cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, start_new_session=True)
        assert self.proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            found = re.search(r"DICOMweb root: (\S+)", line)
            if found:
                self.url = found.group(1)
                threading.Thread(target=self.proc.stdout.read, daemon=True).start()  # keep the pipe drained
                return
        self.close()
        raise AssertionError("the mock did not start:\n" + "".join(lines))

    @property
    def pgid(self) -> int:
        return self.proc.pid

    def workers(self, count: int, other_than: tuple[int, ...] = ()) -> list[int]:
        """The master's ``count`` worker processes once they are all forked (none of ``other_than``)."""
        deadline, pids = time.monotonic() + START_TIMEOUT, []
        while time.monotonic() < deadline:
            pids = [p for p in children_of(self.proc.pid) if p not in other_than]
            if len(pids) == count:
                return pids
            time.sleep(0.2)
        raise AssertionError(f"{len(pids)} new worker processes, not {count}")

    def master_threads(self) -> list[str]:
        """Names of the master's threads (its tasks in /proc)."""
        names = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            try:
                names.append((task / "comm").read_text().strip())
            except OSError:
                continue  # the thread ended meanwhile
        return names

    def wait_group_gone(self) -> list[int]:
        """Wait until no process of the group is alive; those still alive after END_TIMEOUT."""
        deadline = time.monotonic() + END_TIMEOUT
        while time.monotonic() < deadline:
            self.proc.poll()  # reap the master once it ended
            alive = group_members(self.pgid)
            if not alive:
                return []
            time.sleep(0.2)
        return group_members(self.pgid)

    def close(self) -> None:
        kill_group(self.pgid)
        self.proc.wait(timeout=30)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    try:
        yield started
    finally:
        for server in started:
            server.close()


def _stow_on_new_connections(url: str, count: int) -> None:
    """``count`` STOW-RS requests (PS3.18 10.5), each on a connection of its own (the workers take
    turns accepting); then QIDO-RS finds every instance."""
    study, series = fixed_uid(), fixed_uid()
    for n in range(count):
        data = make_instance("LIFETIME-1", study, series, n + 1).data
        body = b"--one\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--one--\r\n"
        response = requests.post(url + "studies", data=body, timeout=60, headers={
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=one',
            "Accept": DICOM_JSON, "Connection": "close"})
        assert response.status_code == 200, f"STOW {n}: {response.status_code} {response.text[:300]}"
    found = requests.get(f"{url}studies/{study}/instances", headers={"Accept": DICOM_JSON, "Connection": "close"},
                         timeout=30)
    assert found.status_code == 200 and len(found.json()) == count


def test_master_forks_workers_with_no_thread_of_its_own(servers: list[Server]) -> None:
    """The fixtures are stored (and fsynced) by the master before it forks; a replaced worker is
    forked again later.  Each time the master is left with its main thread alone, the workers store
    instances, and killing the master ends every worker."""
    server = Server("--workers", "2")  # the fixtures, into a temporary store
    servers.append(server)
    first = server.workers(2)
    assert len(server.master_threads()) == 1, \
        f"threads running in the master after forking: {server.master_threads()}"
    _stow_on_new_connections(server.url, 6)

    os.kill(first[0], signal.SIGTERM)  # gunicorn forks a replacement
    replaced = server.workers(1, other_than=tuple(first))
    assert len(server.master_threads()) == 1, \
        f"threads running in the master after forking again: {server.master_threads()}"
    _stow_on_new_connections(server.url, 6)

    os.kill(server.proc.pid, signal.SIGKILL)
    alive = server.wait_group_gone()
    assert not alive, f"worker processes alive {END_TIMEOUT:.0f} s after the master was killed: {alive} " \
                      f"(workers were {[first[1], *replaced]})"


def _half_sent_stow(url: str) -> socket.socket:
    """A connection whose STOW-RS request announces a body and sends only its first part."""
    host, port = re.match(r"https?://([^/:]+):(\d+)/", url).groups()  # type: ignore[union-attr]
    path = url.split(f":{port}", 1)[1]
    sock = socket.create_connection((host, int(port)), timeout=30)
    head = (f"POST {path}studies HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: application/dicom+json\r\n"
            "Content-Type: multipart/related; type=\"application/dicom\"; boundary=half\r\n"
            "Content-Length: 1000000\r\n\r\n--half\r\nContent-Type: application/dicom\r\n\r\n")
    sock.sendall(head.encode() + b"\0" * 1000)
    return sock


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_no_worker_outlives_its_master_while_a_request_waits_for_its_body(
        servers: list[Server], tmp_path: Path, stop: signal.Signals) -> None:
    """Requests whose bodies never arrive hold a thread in each worker; once the master is stopped
    or killed, the whole group still ends while those clients keep their connections open."""
    server = Server("--workers", "2", "--store", str(tmp_path / "store"), "--no-fixtures")
    servers.append(server)
    server.workers(2)
    _stow_on_new_connections(server.url, 4)
    held = [_half_sent_stow(server.url) for _ in range(6)]
    try:
        time.sleep(1)  # the workers' threads have read the head and wait for the rest of each body
        os.kill(server.proc.pid, stop)
        alive = server.wait_group_gone()
        assert not alive, f"processes of the server alive {END_TIMEOUT:.0f} s after {stop.name} to the " \
                          f"master: {alive}"
    finally:
        for sock in held:
            sock.close()
