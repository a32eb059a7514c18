"""Server processes for :mod:`bench.compare_orthanc`: a local Orthanc and the mock, both over real HTTP.

Orthanc is started and stopped through ``scripts/orthanc.py`` (its own
configuration, HTTP Basic credentials and ``state.json``); the mock runs as a
``python3 -m dicomweb_mock`` subprocess on a store directory, configured with the
same credentials so both servers check HTTP Basic on every request.  Loading
uses STOW-RS (PS3.18 10.5) with ``multipart/related; type="application/dicom"``.
"""

from __future__ import annotations

import json
import shutil
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import requests

__all__ = ["BUILDS", "SetupError", "Server", "MockProcess", "OrthancProcess", "free_port", "mock_config",
           "mock_supports_workers", "multipart_related", "parse_builds", "stop_all", "stow"]

ROOT = Path(__file__).resolve().parent.parent
ORTHANC_SCRIPT = ROOT / "scripts" / "orthanc.py"
PROFILE_RUNNER = Path(__file__).resolve().parent / "_profile_mock.py"
#: The Debian builds of Orthanc that ``scripts/orthanc.py start --build`` knows.
BUILDS = ("bookworm", "trixie")


class SetupError(RuntimeError):
    """A server could not be started, reached or loaded; the message says which and why."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    """A running server as the client sees it: DICOMweb root, keep-alive session with its credentials."""

    name: str
    origin: str
    dicomweb_url: str
    auth: tuple[str, str]
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.auth = self.auth

    def new_session(self) -> requests.Session:
        """Another keep-alive session with the same credentials (one per client thread)."""
        s = requests.Session()
        s.auth = self.auth
        return s

    def get_json(self, path: str) -> dict:
        """GET a JSON document below the origin (``/system`` and the like)."""
        r = self.session.get(self.origin + path, timeout=30)
        if r.status_code != 200:
            raise SetupError(f"{self.name}: GET {path} answered {r.status_code}: {r.text[:200]}")
        return r.json()


def _wait_http(url: str, auth: tuple[str, str], process: subprocess.Popen, log: Path, what: str,
               timeout: float) -> None:
    """Poll ``url`` until it answers 200; fail early when ``process`` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-4:])
            raise SetupError(f"{what} exited during start-up with code {process.returncode}: {tail}")
        try:
            if requests.get(url, auth=auth, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise SetupError(f"{what} did not answer {url} within {timeout:.0f} s (log: {log})")


class OrthancProcess:
    """Orthanc with the DICOMweb plugin, started through ``scripts/orthanc.py start --dir DIR``."""

    def __init__(self, directory: Path, build: str | None = None):
        self.directory = directory
        self.build = build
        self.state: dict = {}

    def start(self, port: int | None = None) -> Server:
        if not ORTHANC_SCRIPT.exists():
            raise SetupError(f"{ORTHANC_SCRIPT} is missing")
        cmd = [sys.executable, str(ORTHANC_SCRIPT), "start", "--dir", str(self.directory), "--no-install"]
        if port is not None:
            cmd += ["--port", str(port)]
        if self.build is not None:  # scripts/orthanc.py start --build bookworm|trixie
            cmd += ["--build", self.build]
        done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            raise SetupError(f"Orthanc did not start: {done.stdout.strip()} -- install and check it with "
                             f"'python3 scripts/orthanc.py start' (it installs orthanc + orthanc-dicomweb with apt)")
        self.state = json.loads((self.directory / "state.json").read_text())
        name = f"Orthanc {self.state.get('version') or ''} ({self.state.get('build') or self.build or 'default'})"
        return Server(name.replace("  ", " "), self.state["url"], self.state["dicomweb_url"],
                      (self.state["user"], self.state["password"]))

    @property
    def credentials(self) -> tuple[str, str]:
        return self.state["user"], self.state["password"]

    def stop(self) -> None:
        """Stop through ``scripts/orthanc.py stop``; if start-up was interrupted before ``state.json``
        was written, end the Orthanc whose command line names this run's own configuration file."""
        if (self.directory / "state.json").exists():
            subprocess.run([sys.executable, str(ORTHANC_SCRIPT), "stop", "--dir", str(self.directory)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            return
        config = str(self.directory / "orthanc.json").encode()
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if len(argv) >= 2 and argv[0].endswith(b"Orthanc") and argv[1] == config:
                os.kill(int(entry.name), signal.SIGTERM)


def mock_supports_workers() -> bool:
    """Whether ``python3 -m dicomweb_mock --help`` lists ``--workers``."""
    done = subprocess.run([sys.executable, "-m", "dicomweb_mock", "--help"], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)
    return "--workers" in done.stdout


class MockProcess:
    """``python3 -m dicomweb_mock --store DIR --no-fixtures --config CFG --port P [--workers N]`` in its own
    session; ``profile`` runs it through ``bench/_profile_mock.py`` (cProfile of every handler thread)."""

    def __init__(self, store: Path, config: Path, log: Path, *, workers: int | None = None,
                 profile: Path | None = None, extra_args: Sequence[str] = ()):
        if workers is not None and profile is not None:
            raise SetupError("--profile-mock cannot profile --workers processes")
        self.store, self.config, self.log = store, config, log
        self.workers, self.profile = workers, profile
        self.extra_args = list(extra_args)
        self.process: subprocess.Popen | None = None

    def start(self, auth: tuple[str, str], timeout: float = 120.0) -> Server:
        port = free_port()
        args = ["--store", str(self.store), "--no-fixtures", "--config", str(self.config), "--port", str(port)]
        if self.profile is not None:
            cmd = [sys.executable, str(PROFILE_RUNNER), "--profile", str(self.profile), *args]
        else:
            cmd = [sys.executable, "-m", "dicomweb_mock", *args]
        if self.workers is not None:
            cmd += ["--workers", str(self.workers)]
        cmd += self.extra_args
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
                                            start_new_session=True)
        origin = f"http://127.0.0.1:{port}"
        label = " ".join(["mock", *([f"--workers {self.workers}"] if self.workers is not None else []),
                          *self.extra_args])
        _wait_http(origin + "/system", auth, self.process, self.log, label, timeout)
        return Server(label, origin, origin + "/dicom-web/", auth)

    def stop(self, wait: float = 15.0) -> None:
        """SIGINT (the mock and the profiler shut down cleanly on it), then SIGTERM, then SIGKILL,
        sent to the process group of the process this object started."""
        p = self.process
        if p is None or p.poll() is not None:
            return
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(p.pid, sig)
            except ProcessLookupError:
                return
            try:
                p.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def multipart_related(blobs: Sequence[bytes]) -> tuple[bytes, str]:
    """A ``multipart/related; type="application/dicom"`` body (PS3.18 8.6.1.2) and its Content-Type."""
    boundary = uuid.uuid4().hex
    parts: list[bytes] = []
    for blob in blobs:
        parts += [f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode(), blob, b"\r\n"]
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f'multipart/related; type="application/dicom"; boundary={boundary}'


def stow(server: Server, blobs: Iterable[bytes], batch: int) -> int:
    """Store ``blobs`` with STOW-RS ``POST {root}studies`` in requests of ``batch`` instances; returns bytes sent."""
    sent = 0
    pending: list[bytes] = []

    def flush() -> None:
        nonlocal sent
        body, ctype = multipart_related(pending)
        r = server.session.post(server.dicomweb_url + "studies", data=body, timeout=300,
                                headers={"Content-Type": ctype, "Accept": "application/dicom+json"})
        if r.status_code != 200:
            raise SetupError(f"{server.name}: STOW of {len(pending)} instances answered {r.status_code}: "
                             f"{r.text[:300]}")
        sent += len(body)
        pending.clear()

    for blob in blobs:
        pending.append(blob)
        if len(pending) >= batch:
            flush()
    if pending:
        flush()
    return sent


def parse_builds(value: str | None) -> list[str | None]:
    """``--build`` of the benchmarks: one build or several separated by commas (``bookworm,trixie``);
    None (not given) stands for ``scripts/orthanc.py``'s default build.  Raises ValueError on an unknown name."""
    if value is None:
        return [None]
    builds = [b.strip() for b in value.split(",") if b.strip()]
    unknown = [b for b in builds if b not in BUILDS]
    if unknown or not builds or len(set(builds)) != len(builds):
        raise ValueError(f"--build takes distinct names among {', '.join(BUILDS)} separated by commas, got {value!r}")
    return list(builds)


def mock_config(path: Path, auth: tuple[str, str]) -> None:
    """Write the mock's configuration: HTTP Basic on, ``auth`` (user, password) its one registered user."""
    path.write_text(json.dumps({"Name": "bench mock", "AuthenticationEnabled": True, "RemoteAccessAllowed": True,
                                "RegisteredUsers": {auth[0]: auth[1]}}))


def stop_all(mocks: Iterable["MockProcess"], orthancs: Iterable["OrthancProcess"], work: Path) -> None:
    """Stop every server a benchmark started and remove its working directory."""
    for mock in mocks:
        mock.stop()
    for orthanc in orthancs:
        orthanc.stop()
    shutil.rmtree(work, ignore_errors=True)
