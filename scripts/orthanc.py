"""Start and stop a local Orthanc with the DICOMweb plugin, for the CI gate and for developers.

    python3 scripts/orthanc.py start [--build bookworm|trixie] [--dir DIR] [--port PORT] [--no-install]
    python3 scripts/orthanc.py env   [--dir DIR]     # shell exports for the suite
    python3 scripts/orthanc.py stop  [--dir DIR]

Two Debian builds: ``bookworm`` (the default) is the host's packages, Orthanc
1.10.1 with DICOMweb plugin 1.7 on Debian 12; ``trixie`` is Orthanc 1.12.7 with
plugin 1.20 from Debian 13, run from a chroot (``--chroot``, default
``/srv/trixie`` or ``$ORTHANC_TRIXIE_CHROOT``) that ``start`` creates with
``debootstrap --variant=minbase --include=orthanc,orthanc-dicomweb trixie``
when it is missing (root needed, about 430 MB, a few minutes; kept for the
next runs).  The chroot shares the host's network, so Orthanc listens on the
host's 127.0.0.1; its configuration and storage live inside the chroot, in a
directory named after DIR that ``stop`` removes.

For bookworm, ``start`` installs Debian's ``orthanc`` and ``orthanc-dicomweb`` with apt when
Orthanc is missing.  Either way it writes a configuration (storage in DIR, a free port, the
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
import fcntl
import hashlib
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
DEFAULT_CHROOT = Path(os.environ.get("ORTHANC_TRIXIE_CHROOT", "/srv/trixie"))
BUILDS = ("bookworm", "trixie")
#: Inside the chroot: one directory per DIR of the host, holding configuration and storage.
CHROOT_WORK = "var/lib/dicomweb-conformance"


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


def _run(cmd: list[str], what: str) -> None:
    """Run ``cmd``; on failure end with one line: what failed, and the last line the command printed."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as exc:
        fail(f"{what}: cannot run {cmd[0]}: {exc.strerror or exc}")
    if done.returncode != 0:
        lines = [line.strip() for line in done.stdout.splitlines() if line.strip()]
        errors = [line for line in lines if line.startswith(("E:", "W: Failure", "E "))]
        fail(f"{what} failed (exit code {done.returncode}): {(errors or lines or ['(no output)'])[-1]}")


def ensure_chroot(root: Path) -> None:
    """Create the trixie chroot at ``root`` unless it already holds Orthanc and the plugin."""
    if (root / ORTHANC.lstrip("/")).exists() and (root / PLUGIN.lstrip("/")).exists():
        shutil.copyfile("/etc/hosts", root / "etc/hosts")  # else each localhost lookup waits for DNS
        return
    if os.geteuid() != 0:
        fail(f"no trixie chroot at {root}, and creating one with debootstrap needs root")
    if shutil.which("debootstrap") is None:
        print("orthanc: installing debootstrap with apt-get ...", flush=True)
        _run(["apt-get", "update", "-q"], "apt-get update")
        _run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "debootstrap"],
             "apt-get install debootstrap")
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{root}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another start may be creating it
        if not (root / ORTHANC.lstrip("/")).exists():
            partial = Path(f"{root}.partial")
            shutil.rmtree(partial, ignore_errors=True)
            if root.exists():
                fail(f"{root} exists but holds no Orthanc; remove it or choose another --chroot")
            print(f"orthanc: creating the trixie chroot {root} with debootstrap (a few minutes) ...", flush=True)
            started = time.monotonic()
            try:
                _run(["debootstrap", "--variant=minbase", "--include=orthanc,orthanc-dicomweb", "trixie",
                      str(partial)], "debootstrap of trixie")
            except SystemExit:
                shutil.rmtree(partial, ignore_errors=True)  # no half-made chroot left behind
                raise
            if not (partial / ORTHANC.lstrip("/")).exists() or not (partial / PLUGIN.lstrip("/")).exists():
                fail(f"debootstrap finished but {partial} holds no Orthanc or no DICOMweb plugin")
            partial.rename(root)
            print(f"orthanc: chroot {root} created in {time.monotonic() - started:.0f} s", flush=True)
    shutil.copyfile("/etc/hosts", root / "etc/hosts")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def write_config(directory: Path, port: int, user: str, password: str, root: Path | None = None) -> Path:
    """Write ``directory/orthanc.json``; with ``root`` (a chroot), paths are written as Orthanc sees them."""
    storage = directory / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    seen = "/" + str(storage.relative_to(root)) if root else str(storage)
    config = {
        "Name": "dicomweb-conformance-orthanc",
        "StorageDirectory": seen,
        "IndexDirectory": seen,
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


def chroot_workdir(root: Path, directory: Path) -> Path:
    """The directory inside the chroot that holds the configuration and storage of the Orthanc of DIR."""
    return root / CHROOT_WORK / hashlib.sha256(str(directory.resolve()).encode()).hexdigest()[:16]


def start(directory: Path, port: int | None, allow_install: bool, wait: float, build: str = "bookworm",
          root: Path = DEFAULT_CHROOT) -> None:
    state_file = directory / "state.json"
    if state_file.exists():
        state = json.loads(state_file.read_text())
        if _alive(state.get("pid"), state.get("config")):
            fail(f"an Orthanc started from {directory} is already running (pid {state['pid']}); stop it first")
    if build == "trixie":
        ensure_chroot(root)
    else:
        ensure_installed(allow_install)
    directory.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = free_port()
    elif port_in_use(port):
        fail(f"port {port} is already in use")
    user, password = "conformance", secrets.token_urlsafe(12)
    workdir = chroot_workdir(root, directory) if build == "trixie" else None
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)  # a previous run's storage, never stopped
        config_file = write_config(workdir, port, user, password, root=root)
        config = "/" + str(config_file.relative_to(root))
        command = ["chroot", str(root), ORTHANC, config]  # chroot execs Orthanc: same pid
    else:
        config = str(write_config(directory, port, user, password))
        command = [ORTHANC, config]
    log = open(directory / "orthanc.log", "wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               cwd=directory)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + wait
    system = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = (directory / "orthanc.log").read_text(errors="replace").strip().splitlines()[-3:]
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
            fail(f"Orthanc exited during start-up with code {process.returncode}: {' | '.join(tail)}")
        system = _get_json(url + "/system", user, password)
        if system:
            break
        time.sleep(0.2)
    if not system:
        process.terminate()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
        fail(f"Orthanc did not answer {url}/system within {wait:.0f} s (log: {directory / 'orthanc.log'})")
    plugin = _get_json(url + "/plugins/dicom-web", user, password) or {}
    state = {"pid": process.pid, "url": url, "dicomweb_url": f"{url}/dicom-web/", "wado_uri_url": f"{url}/wado",
             "user": user, "password": password, "version": system.get("Version"),
             "plugin_version": plugin.get("Version"), "config": config, "build": build,
             "chroot_workdir": str(workdir) if workdir else None}
    state_file.write_text(json.dumps(state, indent=2), encoding="utf-8")
    print(f"orthanc: Orthanc {system.get('Version')} with DICOMweb plugin {plugin.get('Version', '(unknown)')} "
          f"({build}) ready at {url} (pid {process.pid}, state {state_file})")


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
        _forget(state_file, state)
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
    _forget(state_file, state)
    print(f"orthanc: stopped (pid {pid})")


def _forget(state_file: Path, state: dict) -> None:
    """Remove the state file, and for a chroot build the configuration and storage inside the chroot."""
    workdir = state.get("chroot_workdir")
    if workdir and f"/{CHROOT_WORK}/" in workdir:
        shutil.rmtree(workdir, ignore_errors=True)
    state_file.unlink()


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
    print(f"export ORTHANC_BUILD={s.get('build') or 'bookworm'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/orthanc.py", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "env"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help=f"working directory (default {DEFAULT_DIR})")
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: a free one)")
    parser.add_argument("--build", default="bookworm", metavar="|".join(BUILDS),
                        help="start: the Debian build of Orthanc (default bookworm, the host's packages)")
    parser.add_argument("--chroot", type=Path, default=DEFAULT_CHROOT,
                        help=f"start --build trixie: the chroot, created when missing (default {DEFAULT_CHROOT})")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing Orthanc with apt-get")
    parser.add_argument("--wait", type=float, default=60.0, help="seconds to wait for start-up or shutdown")
    args = parser.parse_args(argv)
    if args.port is not None and not 1 <= args.port <= 65535:
        parser.error(f"--port must be within 1..65535, got {args.port}")
    if args.build not in BUILDS:
        fail(f"--build must be one of {', '.join(BUILDS)}, got {args.build!r}", 2)
    if args.command == "start":
        start(args.dir, args.port, not args.no_install, args.wait, args.build, args.chroot.resolve())
    elif args.command == "stop":
        stop(args.dir, args.wait)
    else:
        env(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
