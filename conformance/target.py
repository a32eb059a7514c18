"""The server under test: the embedded mock or a remote DICOMweb origin server.

The mock is imported only to be started (``mock_server.app.create_app`` and
``mock_server.threaded.ServerThread``); none of its protocol code is used to
decide what is right.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from .http import RecordingClient
from .options import RunOptions

__all__ = ["Target", "EmbeddedMock", "start_embedded_mock", "make_session", "make_client", "probe_identity",
           "default_wado_uri_url"]


@dataclass
class Target:
    """Where the tests send their requests, and what the server says it is."""

    dicomweb_url: str
    wado_uri_url: str
    embedded: bool
    identity: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        parts = urlsplit(self.dicomweb_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def description(self) -> str:
        """``Name Version`` from /system, else the Server header, else 'unknown'."""
        return self.identity.get("server") or "unknown"

    def to_json(self) -> dict[str, Any]:
        return {"dicomweb_url": self.dicomweb_url, "wado_uri_url": self.wado_uri_url, "embedded": self.embedded,
                "identity": dict(self.identity)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Target":
        return cls(**data)


class EmbeddedMock:
    """The reference mock running in this process on a free loopback port (empty store unless preloaded)."""

    def __init__(self, *, preloaded: bool = False):
        from dicomweb_mock.app import create_app
        from dicomweb_mock.config import Settings
        from dicomweb_mock.store.disk import DiskStore
        from dicomweb_mock.threaded import ServerThread

        self.store = DiskStore.temporary()
        settings = Settings()
        settings.dicomweb.strict = True  # the suite measures servers against PS3.18 as written
        self.app = create_app(settings, self.store, fixtures=preloaded)
        self.server = ServerThread(self.app).start()

    @property
    def dicomweb_url(self) -> str:
        return self.server.dicomweb_url

    @property
    def wado_uri_url(self) -> str:
        return self.server.wado_uri_url

    def stop(self) -> None:
        self.server.stop()
        close = getattr(self.store, "close", None)
        if close is not None:
            close()


def start_embedded_mock(preloaded: bool = False) -> EmbeddedMock:
    """Start the mock; ``preloaded`` loads the fixtures with their original UIDs."""
    return EmbeddedMock(preloaded=preloaded)


def default_wado_uri_url(dicomweb_url: str) -> str:
    """``/wado`` on the origin of the DICOMweb root (the Orthanc default)."""
    parts = urlsplit(dicomweb_url)
    return f"{parts.scheme}://{parts.netloc}/wado"


def make_session(options: RunOptions) -> requests.Session:
    """A requests session with the run's TLS settings (auth is applied per client)."""
    session = requests.Session()
    if options.insecure:
        session.verify = False
        import urllib3

        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    elif options.ca_bundle:
        session.verify = options.ca_bundle
    if options.client_cert:
        session.cert = (options.client_cert, options.client_key) if options.client_key else options.client_cert
    return session


def client_auth(options: RunOptions) -> tuple[Any, dict[str, str]]:
    """(requests auth, extra headers) for the run's credentials."""
    if options.basic_auth:
        return requests.auth.HTTPBasicAuth(*options.basic_auth), {}
    if options.bearer_token:
        return None, {"Authorization": f"Bearer {options.bearer_token}"}
    return None, {}


def make_client(options: RunOptions, target: Target, session: requests.Session, *,
                fail_on_transport_error: bool = False, exchanges: list | None = None) -> RecordingClient:
    """A recording client on ``target`` with the run's credentials, TLS settings and timeout."""
    auth, headers = client_auth(options)
    return RecordingClient(target.dicomweb_url, target.wado_uri_url, session=session, timeout=options.timeout,
                           auth=auth, headers=headers, cert=session.cert, verify=session.verify,
                           fail_on_transport_error=fail_on_transport_error, exchanges=exchanges)


def probe_identity(client: RecordingClient) -> dict[str, str]:
    """Reach the target once (raises :class:`~conformance.http.TransportError` if it is down); learn what it is.

    ``GET {origin}/system`` (Orthanc and the mock answer JSON with Name and
    Version); otherwise the ``Server`` header of ``GET {root}studies?limit=1``.
    """
    identity: dict[str, str] = {}
    response = client.get(f"{client.origin}/system", headers={"Accept": "application/json"})
    server_header = response.headers.get("Server", "")
    if response.status_code == 200:
        try:
            data = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            data = None
        if isinstance(data, dict) and data.get("Name"):
            identity["name"] = str(data["Name"])
            identity["version"] = str(data.get("Version", ""))
            identity["server"] = f"{identity['name']} {identity['version']}".strip()
    if "server" not in identity:
        response = client.get("studies", params={"limit": "1"}, headers={"Accept": "application/dicom+json"})
        server_header = response.headers.get("Server", "") or server_header
        if server_header:
            identity["server"] = server_header
    if server_header:
        identity["server_header"] = server_header
    return identity
