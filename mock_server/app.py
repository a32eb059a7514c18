"""The WSGI application: routing, authentication, errors -> responses.

Handlers live in :mod:`mock_server.handlers`; this module only maps URLs
(PS3.18 chapter 10 resources under ``DicomWeb.Root``, WADO-URI under
``DicomWeb.WadoRoot``, the small part of Orthanc's REST API the seed uses,
and the ``/_mock`` control routes) to them.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound as RouteNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .config import Settings
from .cors import add_cors_headers, answer_options, answer_preflight, is_preflight
from .errors import HttpError, error_response
from .faults import FaultInjector
from .handlers.common import warning_value
from .leniency import add_warnings
from .recorder import RequestRecorder
from .store.disk import DiskStore

__all__ = ["MockApp", "create_app"]

log = logging.getLogger("mock_server")

Handler = Callable[..., Response]


@dataclass
class AppState:
    """Everything a handler may use: settings, the store and the fixture files."""

    settings: Settings
    store: DiskStore
    fixture_files: list[Path] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    recorder: Any = None


def _rules(settings: Settings) -> list[Rule]:
    from .handlers import browser, control, orthanc_rest, qido, servers, stow, wado_rs, wado_uri

    rules: list[Rule] = [
        # The study browser (people's view of the store, over the DICOMweb API below)
        Rule("/", endpoint=browser.index, methods=["GET"]),
        Rule("/_browser/keywords.json", endpoint=browser.keywords, methods=["GET"]),
        Rule("/_browser/<name>", endpoint=browser.asset, methods=["GET"]),
        Rule("/system", endpoint=orthanc_rest.system, methods=["GET"]),
        Rule("/<any(patients,studies,series,instances):level>", endpoint=orthanc_rest.list_resources,
             methods=["GET"]),
        Rule("/instances", endpoint=orthanc_rest.upload_instance, methods=["POST"]),
        Rule("/<any(patients,studies,series,instances):level>/<oid>", endpoint=orthanc_rest.get_resource,
             methods=["GET"]),
        Rule("/<any(patients,studies,series,instances):level>/<oid>", endpoint=orthanc_rest.delete_resource,
             methods=["DELETE"]),
        Rule("/instances/<oid>/file", endpoint=orthanc_rest.instance_file, methods=["GET"]),
        Rule("/_mock/reset", endpoint=control.reset, methods=["POST"]),
        Rule("/_mock/status", endpoint=control.status, methods=["GET"]),
        Rule("/_mock/faults", endpoint=control.get_faults, methods=["GET"]),
        Rule("/_mock/requests", endpoint=control.get_requests, methods=["GET"]),
        Rule("/_mock/requests", endpoint=control.clear_requests, methods=["DELETE"]),
        Rule("/_mock/faults", endpoint=control.set_faults, methods=["PUT"]),
    ]
    dw = settings.dicomweb
    if dw.enable:
        r = dw.root
        s, se, i = "studies/<study>", "series/<series>", "instances/<instance>"
        rules += [
            # The client side (seed: "Querying a remote DICOMweb server")
            Rule(f"{r}servers", endpoint=servers.list_servers, methods=["GET"]),
            Rule(f"{r}servers/<name>", endpoint=servers.get_server, methods=["GET"]),
            Rule(f"{r}servers/<name>", endpoint=servers.put_server, methods=["PUT"]),
            Rule(f"{r}servers/<name>", endpoint=servers.delete_server, methods=["DELETE"]),
            Rule(f"{r}servers/<name>/get", endpoint=servers.remote_get, methods=["POST"]),
            Rule(f"{r}servers/<name>/stow", endpoint=servers.remote_stow, methods=["POST"]),
            Rule(f"{r}servers/<name>/retrieve", endpoint=servers.remote_retrieve, methods=["POST"]),
            # QIDO-RS (PS3.18 10.6)
            Rule(f"{r}studies", endpoint=qido.search_studies, methods=["GET"]),
            Rule(f"{r}{s}/series", endpoint=qido.search_study_series, methods=["GET"]),
            Rule(f"{r}{s}/instances", endpoint=qido.search_study_instances, methods=["GET"]),
            Rule(f"{r}series", endpoint=qido.search_series, methods=["GET"]),
            Rule(f"{r}{s}/{se}/instances", endpoint=qido.search_series_instances, methods=["GET"]),
            Rule(f"{r}instances", endpoint=qido.search_instances, methods=["GET"]),
            # STOW-RS (PS3.18 10.5)
            Rule(f"{r}studies", endpoint=stow.store_instances, methods=["POST"]),
            Rule(f"{r}{s}", endpoint=stow.store_instances, methods=["POST"]),
            # WADO-RS (PS3.18 10.4)
            Rule(f"{r}{s}", endpoint=wado_rs.retrieve_instances, methods=["GET"]),
            Rule(f"{r}{s}/{se}", endpoint=wado_rs.retrieve_instances, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}", endpoint=wado_rs.retrieve_instances, methods=["GET"]),
            Rule(f"{r}{s}/metadata", endpoint=wado_rs.retrieve_metadata, methods=["GET"]),
            Rule(f"{r}{s}/{se}/metadata", endpoint=wado_rs.retrieve_metadata, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}/metadata", endpoint=wado_rs.retrieve_metadata, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}/frames/<frames>", endpoint=wado_rs.retrieve_frames, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}/bulk/<path:bulk>", endpoint=wado_rs.retrieve_bulk, methods=["GET"]),
            Rule(f"{r}{s}/rendered", endpoint=wado_rs.retrieve_rendered, methods=["GET"]),
            Rule(f"{r}{s}/{se}/rendered", endpoint=wado_rs.retrieve_rendered, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}/rendered", endpoint=wado_rs.retrieve_rendered, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}/frames/<frames>/rendered", endpoint=wado_rs.retrieve_rendered,
                 methods=["GET"]),
            Rule(f"{r}{s}/thumbnail", endpoint=wado_rs.retrieve_thumbnail, methods=["GET"]),
            Rule(f"{r}{s}/{se}/thumbnail", endpoint=wado_rs.retrieve_thumbnail, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}/thumbnail", endpoint=wado_rs.retrieve_thumbnail, methods=["GET"]),
            Rule(f"{r}{s}/{se}/{i}/frames/<frames>/thumbnail", endpoint=wado_rs.retrieve_thumbnail,
                 methods=["GET"]),
        ]
    if dw.enable_wado:
        rules.append(Rule(dw.wado_root, endpoint=wado_uri.wado_uri, methods=["GET"]))
    return rules


class MockApp:
    """A WSGI application serving one :class:`AppState`."""

    def __init__(self, state: AppState):
        self.state = state
        self.url_map = Map(_rules(state.settings), strict_slashes=False, merge_slashes=False)
        #: The request log of a peer (``RecordRequests``), served at ``/_mock/requests``.
        self.recorder = RequestRecorder(self._with_faults)
        state.recorder = self.recorder

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def store(self) -> DiskStore:
        return self.state.store

    # -- access control ------------------------------------------------------------------------
    def _remote_denied(self, request: Request) -> Response | None:
        if self.settings.remote_access_allowed:
            return None
        try:
            if ipaddress.ip_address(request.remote_addr or "").is_loopback:
                return None
        except ValueError:
            pass
        return error_response(403, "remote access is not allowed (RemoteAccessAllowed is false)")

    def _auth_denied(self, request: Request) -> Response | None:
        s = self.settings
        if not s.authentication_enabled:
            return None
        auth = request.authorization
        if auth is not None and auth.type == "basic" and auth.username in s.registered_users:
            expected = s.registered_users[auth.username].encode()
            if hmac.compare_digest(expected, (auth.password or "").encode()):
                return None
        reason = "authentication required" if auth is None else "invalid credentials"
        return error_response(401, reason, [("WWW-Authenticate", f'Basic realm="{s.name}"')])

    # -- dispatch -------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Route ``request``; every answer gets its CORS headers and the forgiven rules' Warnings."""
        response = self._remote_denied(request)
        if response is None:
            # Browsers send no credentials on a CORS preflight: it is answered before authentication.
            preflight = is_preflight(request)
            response = answer_preflight(request, self.settings, self.url_map) if preflight else self._route(request)
        add_cors_headers(request, response, self.settings)
        add_warnings(request, response)
        return response

    def _route(self, request: Request) -> Response:
        denied = self._auth_denied(request)
        if denied is not None:
            return denied
        if request.method == "OPTIONS":
            return answer_options(request, self.url_map)
        try:
            # Inside the try: a Host header that is not a host name (an IDNA label over 63
            # characters) makes werkzeug raise BadHost here, which was a 500.
            adapter = self.url_map.bind_to_environ(request.environ)
            endpoint, values = adapter.match()
            return endpoint(self.state, request, **values)
        except HttpError as exc:  # every refusal of protocol, store and handler code
            response = error_response(exc.status, exc.reason, exc.headers)
            if exc.warning:
                response.headers.add("Warning", warning_value(request.host, exc.warning))
            return response
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            return error_response(405, f"method {request.method} is not allowed here; allowed: {allowed}",
                                  [("Allow", allowed)])
        except RouteNotFound:
            return error_response(404, f"no resource at {request.path}")
        except HTTPException as exc:
            return error_response(exc.code or 400, exc.description or exc.name)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.settings.record_requests:
            return self.recorder(environ, start_response)
        return self._with_faults(environ, start_response)

    def _with_faults(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.settings.faults and not environ.get("PATH_INFO", "").startswith("/_mock/"):
            dw = self.settings.dicomweb
            injector = FaultInjector(self.serve, self.settings.faults, dw.root, dw.wado_root)
            return injector(environ, start_response)
        return self.serve(environ, start_response)

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        """The application proper, without fault injection."""
        request = Request(environ)
        request.max_content_length = self.settings.max_body_size or None
        try:
            response = self.dispatch(request)
        except Exception:  # a bug of ours: answer 500 with a reason, keep serving
            log.exception("unhandled error for %s %s", request.method, request.path)
            response = error_response(500, "internal error of the mock server; see its log")
        return response(environ, start_response)


def create_app(settings: Settings | None = None, store: DiskStore | None = None, *,
               fixtures: bool = True) -> MockApp:
    """Build the application; loads the VIX-like fixtures into the store unless ``fixtures`` is False."""
    from dicomweb_fixtures import instance_files

    settings = settings or Settings()
    store = store or DiskStore.temporary()
    files = instance_files() if fixtures else []
    if files:
        store.load(files)
    store.refuse_undecodable = settings.check_pixel_data
    return MockApp(AppState(settings=settings, store=store, fixture_files=files))
