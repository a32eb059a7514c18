"""The remote DICOMweb server the target talks to in the client-side tests (seed: "Client-related options").

The ``{root}servers`` routes make the target a DICOMweb *client* of a remote
server (seed: "Querying a remote DICOMweb server with Orthanc").  To see what
the target sends, the suite starts its own peer: the reference mock in
recording mode (``RecordRequests``) on a free loopback port, with its own
generated HTTP Basic credentials.  Targets run on this machine, so
``127.0.0.1`` reaches it.  The peer is registered at the target with
``PUT {root}servers/{name}`` (the body has the same form as an entry of
``DicomWeb.Servers``) and removed again at the end of the session.  The
suite reads what the peer received from its request log
(``GET /_mock/requests``: method, path, query, headers, body bytes, multipart
parts, status).  Like :mod:`conformance.target`, this module imports
``mock_server`` only to start the peer. Every check uses the peer's HTTP
answers.

``--peer NAME=URL`` uses a remote already configured at the target (for
example in its configuration file) instead.  The suite talks to it directly at
URL, using any ``user:password@`` in the URL as Basic credentials.  Its
request log is used only if it serves one (a recording mock). Otherwise the
checks that need it are skipped.

The ``peer`` fixture (session scope, started only when a servers test asks for
it) is registered by :mod:`conformance.plugin`.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urlsplit, urlunsplit

import pytest
import requests

from . import expect as expect_module
from .http import RecordingClient, TransportError
from .run import state_of
from .target import make_client

__all__ = ["PEER_USER_AGENT", "Peer", "PeerError", "start_peer", "external_peer", "peer"]

#: User-Agent of the suite's own requests to the peer: :meth:`Peer.from_target` leaves them out.
PEER_USER_AGENT = "dicomweb-conformance-peer-client/0.1"


class PeerError(RuntimeError):
    """The peer cannot be started, reached or read; the message says which step failed."""


@dataclass
class Peer:
    """A DICOMweb server the target knows as ``name``.

    ``dicomweb_url`` is its DICOMweb root, without credentials. ``username`` and
    ``password`` are what the target was given (None for a ``--peer`` remote
    configured elsewhere). ``recording`` is True when its request log can be read.
    ``own`` is True when the suite started it.
    """

    name: str
    dicomweb_url: str
    username: str | None = None
    password: str | None = None
    recording: bool = False
    own: bool = False
    timeout: float = 30.0
    registered: bool = False
    _stop: Callable[[], None] | None = field(default=None, repr=False)
    _session: requests.Session = field(default_factory=requests.Session, repr=False)

    @property
    def root_path(self) -> str:
        """Path of the DICOMweb root on the peer (``/dicom-web/``), ending with ``/``."""
        path = urlsplit(self.dicomweb_url).path or "/"
        return path if path.endswith("/") else path + "/"

    @property
    def origin(self) -> str:
        parts = urlsplit(self.dicomweb_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def auth(self) -> requests.auth.HTTPBasicAuth | None:
        if self.username is None:
            return None
        return requests.auth.HTTPBasicAuth(self.username, self.password or "")

    def registration(self) -> dict[str, Any]:
        """Body of ``PUT {root}servers/{name}``: the object form of a ``DicomWeb.Servers`` entry."""
        body: dict[str, Any] = {"Url": self.dicomweb_url}
        if self.username is not None:
            body.update(Username=self.username, Password=self.password or "")
        return body

    def client(self) -> RecordingClient:
        """A client for the suite's own requests to the peer (seeding it, querying it).

        The exchanges go into the running test's log.
        """
        context = expect_module.current()
        return RecordingClient(self.dicomweb_url, self.origin + "/wado", session=self._session,
                               timeout=self.timeout, auth=self.auth, headers={"User-Agent": PEER_USER_AGENT},
                               fail_on_transport_error=True,
                               exchanges=context.exchanges if context is not None else None)

    # -- the request log ---------------------------------------------------------------------------
    def requests(self) -> list[dict[str, Any]]:
        """Every request the peer recorded, oldest first (:class:`PeerError` if it keeps no log)."""
        if not self.recording:
            raise PeerError(f"the peer {self.name} at {self.dicomweb_url} keeps no request log")
        return list(self._log()["Requests"])

    def _log(self) -> dict[str, Any]:
        """``GET /_mock/requests``: ``{"Recording": bool, "Requests": [...]}``."""
        try:
            answer = self._session.get(self.origin + "/_mock/requests", auth=self.auth, timeout=self.timeout,
                                       headers={"Accept": "application/json", "User-Agent": PEER_USER_AGENT})
            data = answer.json() if answer.status_code == 200 else None
        except (requests.RequestException, ValueError) as exc:
            raise PeerError(f"cannot read the request log of the peer {self.name}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("Requests"), list):
            raise PeerError(f"the peer {self.name} answered {answer.status_code} to GET /_mock/requests, "
                            "not its request log")
        return data

    def mark(self) -> int:
        """The length of the log now; pass it to :meth:`from_target` to see only what came after."""
        return len(self.requests())

    def from_target(self, since: int = 0) -> list[dict[str, Any]]:
        """The logged requests from position ``since`` on, without the suite's own requests to the peer."""
        return [entry for entry in self.requests()[since:]
                if header_of(entry, "User-Agent") != PEER_USER_AGENT]

    def stop(self) -> None:
        if self._stop is not None:
            self._stop()
            self._stop = None
        self._session.close()


def header_of(entry: dict[str, Any], name: str) -> str | None:
    """A header of a logged request, by case-insensitive name."""
    for key, value in (entry.get("Headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def start_peer(name: str, *, timeout: float = 30.0) -> Peer:
    """Start the recording mock on a free ``127.0.0.1`` port with generated Basic credentials."""
    from dicomweb_mock.app import create_app
    from dicomweb_mock.config import parse_config
    from dicomweb_mock.store.disk import DiskStore
    from dicomweb_mock.threaded import ServerThread

    user, password = f"peer-{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    settings = parse_config({"Name": f"dicomweb-conformance peer {name}", "RemoteAccessAllowed": True,
                             "AuthenticationEnabled": True, "RegisteredUsers": {user: password},
                             "RecordRequests": True}, source="<conformance peer>")
    store = DiskStore.temporary()
    try:
        server = ServerThread(create_app(settings, store, fixtures=False), "127.0.0.1", 0).start()
    except OSError as exc:
        store.close()
        raise PeerError(f"cannot start the peer on 127.0.0.1: {exc.strerror or exc}") from None

    def stop() -> None:
        server.stop()
        store.close()

    return Peer(name=name, dicomweb_url=server.dicomweb_url, username=user, password=password, recording=True,
                own=True, timeout=timeout, _stop=stop)


def external_peer(name: str, url: str, *, timeout: float = 30.0) -> Peer:
    """A remote the target already knows as ``name`` (``--peer NAME=URL``).

    Credentials in the URL are used only for the suite's own requests to the
    peer.  The peer counts as recording if ``GET /_mock/requests`` answers with a log.
    """
    parts = urlsplit(url)
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port is not None:
        netloc += f":{parts.port}"
    clean = urlunsplit((parts.scheme, netloc, parts.path if parts.path.endswith("/") else parts.path + "/", "", ""))
    found = Peer(name=name, dicomweb_url=clean, username=user, password=password, timeout=timeout)
    try:
        found.recording = found._log().get("Recording") is True
    except PeerError:
        found.recording = False
    return found


# -- the fixture --------------------------------------------------------------------------------------
def _peer_name(uid_root: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"conformance-{uid_root[-10:]}-{worker}"


@pytest.fixture(scope="session")
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """The remote the servers tests use, registered at the target for the session (see the module docstring)."""
    state = state_of(request.config)
    if state is None or not state.prepared or state.target is None or state.ids is None:
        pytest.fail("the peer fixture is only available in a conformance run", pytrace=False)
    options = state.options
    given = getattr(options, "peer", None)
    if given:
        name, url = given
        yield external_peer(name, url, timeout=options.timeout)
        return
    try:
        found = start_peer(_peer_name(state.ids.uid_root), timeout=options.timeout)
    except PeerError as exc:
        pytest.fail(f"cannot start the suite's peer: {exc}", pytrace=False)
    client = make_client(options, state.target, state.session)
    try:
        try:
            answer = client.put(f"servers/{found.name}", json=found.registration())
        except TransportError as exc:
            pytest.fail(f"registering the peer at the target failed: {exc}", pytrace=False)
        if answer.status_code not in (200, 201, 204):
            pytest.skip(f"the target answered {answer.status_code} to PUT servers/{found.name} (registering a "
                        "remote at run time is not in the seed): configure a remote in the target and pass "
                        "--peer NAME=URL")
        found.registered = True
        yield found
    finally:
        if found.registered:
            try:
                client.delete(f"servers/{found.name}")
            except TransportError:
                pass
        found.stop()


def require_log(peer: Peer) -> None:
    """Skip the calling test, saying why, when the peer keeps no request log."""
    if not peer.recording:
        pytest.skip(f"the --peer remote {peer.name} ({peer.dicomweb_url}) keeps no request log: the checks of "
                    "what the target sent need the suite's own peer or a recording mock")
