"""Start and stop a local Orthanc with the DICOMweb plugin, for the CI gate and for developers.

    python3 scripts/orthanc.py start [--dir DIR] [--port PORT] [--no-install]
    python3 scripts/orthanc.py env   [--dir DIR]     # shell exports for the suite
    python3 scripts/orthanc.py stop  [--dir DIR]

``start`` installs Debian's ``orthanc`` and ``orthanc-dicomweb`` with apt when
Orthanc is missing, writes a configuration (storage in DIR, a free port, the
DICOM port off, remote access allowed, HTTP Basic with generated
credentials, the DICOMweb plugin with its ``DicomWeb`` section), starts
Orthanc in the background and waits until ``/system`` answers.  Its state
(pid, URL, credentials, Orthanc and DICOMweb plugin versions) is kept in
``DIR/state.json``; ``stop`` ends it by pid, after checking that the pid is
still that Orthanc (never another process that reused the pid).
Every failure prints one clear line and exits non-zero.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NoReturn

ORTHANC = "/usr/sbin/Orthanc"
PLUGIN = "/usr/share/orthanc/plugins/libOrthancDicomWeb.so"
DEFAULT_DIR = Path(os.environ.get("ORTHANC_DIR", "/tmp/dicomweb-orthanc"))


def fail(message: str, code: int = 1) -> NoReturn:
    print(f"orthanc: error: {message}", file=sys.stderr)
    sys.exit(code)


def ensure_installed(allow_install: bool) -> None:
    if Path(ORTHANC).exists() and Path(PLUGIN).exists():
        return
    if not allow_install:
        fail(f"{ORTHANC} or {PLUGIN} is missing and --no-install was given")
    if shutil.which("apt-get") is None:
        fail("Orthanc is missing and apt-get is not available to install it")
    print("orthanc: installing orthanc and orthanc-dicomweb with apt-get ...", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", "orthanc", "orthanc-dicomweb"]):
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
            fail(f"'{' '.join(cmd)}' failed with exit code {done.returncode}: {tail[0]}")
    if not (Path(ORTHANC).exists() and Path(PLUGIN).exists()):
        fail("apt-get finished but Orthanc or its DICOMweb plugin is still missing")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def write_config(directory: Path, port: int, user: str, password: str) -> Path:
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "dicomweb-conformance-orthanc",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": True,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {user: password},
        "HttpTimeout": 30,
        "StableAge": 1,
        "Plugins": [PLUGIN],
        "DicomWeb": {
            "Enable": True,
            "Root": "/dicom-web/",
            "EnableWado": True,
            "WadoRoot": "/wado",
            "Ssl": False,
            "StowMaxInstances": 10,
            "StowMaxSize": 10,
            "Servers": {},
        },
    }
    path = directory / "orthanc.json"
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def _get_json(url: str, user: str, password: str, timeout: float = 2.0) -> dict | None:
    """GET a JSON object of the Orthanc REST API (None if unreachable or not JSON)."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def start(directory: Path, port: int | None, allow_install: bool, wait: float) -> None:
    state_file = directory / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if _alive(state.get("pid"), state.get("config")):
            fail(f"an Orthanc started from {directory} is already running (pid {state['pid']}); stop it first")
    ensure_installed(allow_install)
    directory.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = free_port()
    elif port_in_use(port):
        fail(f"port {port} is already in use")
    user, password = "conformance", secrets.token_urlsafe(12)
    config = write_config(directory, port, user, password)
    log = open(directory / "orthanc.log", "wb")
    process = subprocess.Popen([ORTHANC, str(config)], stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True, cwd=directory)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    system = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (directory / "orthanc.log").read_text(errors="replace").strip().splitlines()[-3:]
            fail(f"Orthanc exited during start-up with code {process.returncode}: {' | '.join(tail)}")
        system = _get_json(url + "/system", user, password)
        if system:
            break
        time.sleep(0.2)
    if not system:
        process.terminate()
        fail(f"Orthanc did not answer {url}/system within {wait:.0f} s (log: {directory / 'orthanc.log'})")
    plugin = _get_json(url + "/plugins/dicom-web", user, password) or {}
    state = {"pid": process.pid, "url": url, "dicomweb_url": f"{url}/dicom-web/", "wado_uri_url": f"{url}/wado",
             "user": user, "password": password, "version": system.get("Version"),
             "plugin_version": plugin.get("Version"), "config": str(config)}
    state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")
    print(f"orthanc: Orthanc {system.get('Version')} with DICOMweb plugin {plugin.get('Version', '(unknown)')} "
          f"ready at {url} (pid {process.pid}, state {state_file})")


def _alive(pid: int | None, config: str | None = None) -> bool:
    """Whether ``pid`` runs; with ``config``, only if it is Orthanc started with that configuration file
    (a pid recorded in an old state file may have been reused by another process since)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    if config is None:
        return True
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: cannot tell, trust the pid
    return bool(argv) and argv[0] == ORTHANC.encode() and config.encode() in argv


def stop(directory: Path, wait: float) -> None:
    state_file = directory / "state.json"
    if not state_file.exists():
        fail(f"no Orthanc state in {directory} (was it started with --dir {directory}?)")
    state = json.loads(state_file.read_text())
    pid, config = state.get("pid"), state.get("config")
    if not _alive(pid, config):
        state_file.unlink()
        print(f"orthanc: pid {pid} was no longer running; state removed")
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + wait
    while _alive(pid, config) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    if _alive(pid, config):
        os.kill(pid, signal.SIGKILL)
        print(f"orthanc: pid {pid} ignored SIGTERM for {wait:.0f} s and was killed", file=sys.stderr)
    state_file.unlink()
    print(f"orthanc: stopped (pid {pid})")


def env(directory: Path) -> None:
    state_file = directory / "state.json"
    if not state_file.exists():
        fail(f"no Orthanc state in {directory}")
    s = json.loads(state_file.read_text())
    print(f"export DICOMWEB_URL={s['dicomweb_url']}")
    print(f"export DICOMWEB_WADO_URI_URL={s['wado_uri_url']}")
    print(f"export DICOMWEB_BASIC_AUTH={s['user']}:{s['password']}")
    print(f"export ORTHANC_VERSION={s.get('version') or ''}")
    print(f"export ORTHANC_DICOMWEB_PLUGIN_VERSION={s.get('plugin_version') or ''}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/orthanc.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "env"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"working directory (default {DEFAULT_DIR})")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing Orthanc with apt-get")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for start-up or shutdown")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port must be within 1..65535, got {args.port}")
    if args.command == "start":
        start(args.dir, args.port, not args.no_install, args.wait)
    elif args.command == "stop":
        stop(args.dir, args.wait)
    else:
        env(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
