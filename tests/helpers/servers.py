"""Shared helpers for the client-side tests (seed: "Querying a remote DICOMweb server").

Two real mock servers on free ports: a *local* one (``RegisteredUsers``
``alice``) whose ``DicomWeb.Servers`` point at a *peer* (its own user and
``RecordRequests: true``).  Expectations are built from the fixture manifest
and from the Orthanc identifier formula (SHA-1 of the ``|``-joined DICOM
identifiers), computed here independently of :mod:`mock_server.store`.

Also: a recording forward HTTP proxy (``HttpProxy``), a server that accepts
connections and never answers (timeouts), and free-port helpers.
"""

from __future__ import annotations

import hashlib
import http.client
import http.server
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import requests

import dicomweb_fixtures as fixtures
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import parse_config
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import ServerThread
from dicomweb_mock.tls import server_ssl_context

LOCAL_USER, LOCAL_PASSWORD = "alice", "alice-Pw-4d1e9c"
PEER_USER, PEER_PASSWORD = "peeruser", "peer-Pw-9b3f27"
#: Secrets that must never appear in an answer of the local server or in a recorder log.
SECRETS = (LOCAL_PASSWORD, PEER_PASSWORD, "wrong-Pw-5a5a5a", "key-Pw-77c1d0", "proxy-Pw-31f0aa")
JSON_ACCEPT = {"Accept": "application/dicom+json"}
SOP_INSTANCE_UID = "00080018"


def orthanc_id(*identifiers: str) -> str:
    """Orthanc's identifier: SHA-1 of the ``|``-joined chain, as 5 groups of 8 hex digits."""
    digest = hashlib.sha1("|".join(identifiers).encode("utf-8")).hexdigest()
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


def secret_forms() -> list[str]:
    """Every secret, plus the HTTP Basic token of each user:password pair."""
    import base64
    forms = list(SECRETS)
    for user in (LOCAL_USER, PEER_USER):
        for password in SECRETS:
            forms.append(base64.b64encode(f"{user}:{password}".encode()).decode())
    return forms


def assert_no_secret(text: str) -> None:
    for secret in secret_forms():
        assert secret not in text, f"a password (or its Basic form) leaked: {secret!r}"


# -- the fixture data set, from the manifest ------------------------------------------------------------
@dataclass
class Dataset:
    """Manifest view: instances with their files and the Orthanc ids of every level."""

    instances: list[dict[str, Any]]
    patient_of_study: dict[str, str]
    files: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def load(cls, manifest: dict[str, Any]) -> "Dataset":
        files = {p.name: p for p in fixtures.instance_files()}
        patient_of_study = {s["StudyInstanceUID"]: s["PatientID"] for s in manifest["studies"]}
        return cls(list(manifest["instances"]), patient_of_study, files)

    def path(self, inst: dict[str, Any]) -> Path:
        return self.files[inst["file"]]

    def size(self, inst: dict[str, Any]) -> int:
        return self.path(inst).stat().st_size

    def chain(self, inst: dict[str, Any]) -> list[str]:
        study = inst["StudyInstanceUID"]
        return [self.patient_of_study[study], study, inst["SeriesInstanceUID"], inst["SOPInstanceUID"]]

    def instance_oid(self, inst: dict[str, Any]) -> str:
        return orthanc_id(*self.chain(inst))

    def oid(self, level: str, inst: dict[str, Any]) -> str:
        """Orthanc id of the patient/study/series/instance holding ``inst``."""
        depth = {"patients": 1, "studies": 2, "series": 3, "instances": 4}[level]
        return orthanc_id(*self.chain(inst)[:depth])

    def under(self, level: str, inst: dict[str, Any]) -> list[dict[str, Any]]:
        """The instances sharing ``inst``'s resource at ``level``."""
        depth = {"patients": 1, "studies": 2, "series": 3, "instances": 4}[level]
        key = self.chain(inst)[:depth]
        return [i for i in self.instances if self.chain(i)[:depth] == key]


# -- servers -------------------------------------------------------------------------------------------
class Node:
    """A running mock server plus an authenticated ``requests`` session."""

    def __init__(self, app: MockApp, user: str, password: str, ssl_context: Any = None,
                 cert: tuple[str, str] | None = None):
        self.app = app
        self.thread = ServerThread(app, ssl_context=ssl_context).start()
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.auth = (user, password)
        self.session.verify = False  # only the mock-to-mock calls under test verify certificates
        self.session.cert = cert  # the tests' own calls to a peer that wants a client certificate

    @property
    def url(self) -> str:
        return self.thread.url

    @property
    def dicomweb_url(self) -> str:
        return self.thread.dicomweb_url

    @property
    def settings(self):
        return self.app.settings

    def dw(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """A request below the DICOMweb root (``servers/...``, ``studies``...)."""
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.dicomweb_url + path.lstrip("/"), **kwargs)

    def rest(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.url + path, **kwargs)

    def sop_uids(self) -> list[str]:
        """SOP Instance UIDs the server stores, by QIDO-RS (one entry per stored instance)."""
        r = self.dw("GET", "instances", headers=JSON_ACCEPT)
        if r.status_code == 204:
            return []
        assert r.status_code == 200, r.text
        return [item[SOP_INSTANCE_UID]["Value"][0] for item in r.json()]

    def reset(self, empty: bool) -> None:
        r = self.rest("POST", "/_mock/reset" + ("?empty" if empty else ""))
        assert r.status_code == 200, r.text

    def close(self) -> None:
        self.session.close()
        self.thread.stop()
        self.app.store.close()


class Peer(Node):
    """The remote DICOMweb server: own users, ``RecordRequests: true``."""

    def recorded(self) -> list[dict[str, Any]]:
        r = self.rest("GET", "/_mock/requests")
        assert r.status_code == 200, r.text
        return [e for e in r.json()["Requests"] if e["Path"] != "/_mock/reset"]

    def dicomweb_requests(self) -> list[dict[str, Any]]:
        """Recorded requests below the DICOMweb root (the tests' own QIDO checks excluded)."""
        root = self.settings.dicomweb.root
        return [e for e in self.recorded() if e["Path"].startswith(root)]

    def clear(self) -> None:
        assert self.rest("DELETE", "/_mock/requests").status_code == 200


def module_peer(*, fixtures: bool) -> Any:
    """A module-scoped ``peer`` fixture: a started peer (with or without the fixture data set)."""
    import pytest

    @pytest.fixture(scope="module")
    def peer() -> Iterator[Peer]:
        node = start_peer(fixtures=fixtures)
        yield node
        node.close()

    return peer


def start_peer(*, fixtures: bool, cert: tuple[str, str] | None = None, **config: Any) -> Peer:
    """A peer; with ``SslEnabled`` it serves HTTPS as :mod:`mock_server.tls` configures it."""
    raw = {"AuthenticationEnabled": True, "RegisteredUsers": {PEER_USER: PEER_PASSWORD},
           "RecordRequests": True, **config}
    settings = parse_config(raw)
    ssl_context = server_ssl_context(settings) if settings.ssl_enabled else None
    app = create_app(settings, DiskStore.temporary(), fixtures=fixtures)
    return Peer(app, PEER_USER, PEER_PASSWORD, ssl_context, cert)


def start_local(servers: dict[str, Any], *, fixtures: bool, **config: Any) -> Node:
    dicomweb = {"Servers": servers, **config.pop("DicomWeb", {})}
    raw = {"AuthenticationEnabled": True, "RegisteredUsers": {LOCAL_USER: LOCAL_PASSWORD},
           "DicomWeb": dicomweb, **config}
    app = create_app(parse_config(raw), DiskStore.temporary(), fixtures=fixtures)
    return Node(app, LOCAL_USER, LOCAL_PASSWORD)


def peer_entry(peer: Node, password: str = PEER_PASSWORD, **extra: Any) -> dict[str, Any]:
    """The object form of a ``Servers`` entry pointing at ``peer``."""
    return {"Url": peer.dicomweb_url, "Username": PEER_USER, "Password": password, **extra}


# -- network helpers -----------------------------------------------------------------------------------
def closed_port() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HangingServer:
    """Accepts TCP connections and never answers (a peer that hangs)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/dicom-web/"
        self.accepted: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted.append(conn)
            self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        """What to do with an accepted connection: nothing (hang)."""

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self.accepted:
            conn.close()
        self.sock.close()


class StallingServer(HangingServer):
    """Answers a WADO-RS multipart head and part of the body, then hangs (or hangs up, ``drop``)."""

    def __init__(self, drop: bool) -> None:
        self.drop = drop
        super().__init__()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                request += chunk
            conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: multipart/related; type="application/dicom"; '
                         b"boundary=stall\r\nContent-Length: 100000\r\n\r\n--stall\r\n"
                         b"Content-Type: application/dicom\r\n\r\n" + b"\0" * 128 + b"DICM" + b"\0" * 500)
            if self.drop:
                conn.close()
        except OSError:
            pass


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    """Forwards absolute-URI requests (RFC 7230 5.3.2) and records them."""

    protocol_version = "HTTP/1.0"

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def _forward(self) -> None:
        self.server.seen.append({"Method": self.command, "Target": self.path,  # type: ignore[attr-defined]
                                 "ProxyAuthorization": self.headers.get("Proxy-Authorization")})
        target = urlsplit(self.path)
        if target.scheme != "http" or not target.netloc:
            self.send_error(400, "absolute http URI expected")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("proxy-connection", "proxy-authorization", "connection")}
        conn = http.client.HTTPConnection(target.netloc, timeout=30)
        path = target.path + (f"?{target.query}" if target.query else "")
        conn.request(self.command, path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        self.send_response(answer.status, answer.reason)
        for k, v in answer.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = _forward
    do_POST = _forward


@contextmanager
def recording_proxy() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A forward proxy on a free port: yields (``http://127.0.0.1:port``, requests seen)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ProxyHandler)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.seen  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
