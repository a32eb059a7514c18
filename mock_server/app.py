"""The WSGI application: access control, dispatch, errors -> responses.

The route table is :mod:`mock_server.routes`, the handlers :mod:`mock_server.handlers`;
every :class:`~mock_server.errors.HttpError` a handler, the protocol code or the store
raises becomes its response in :meth:`MockApp.dispatch`, the same on every route.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
from typing import Any, Callable, Iterable

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound as RouteNotFound
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from .config import Settings
from .cors import add_cors_headers, allowed_methods, answer_options, answer_preflight, is_preflight
from .errors import HttpError, error_response
from .faults import FaultInjector
from .handlers.common import warning_value
from .leniency import add_warnings
from .recorder import RequestRecorder
from .routes import rules
from .state import AppState, RuntimeState
from .store.base import Store
from .store.disk import DiskStore

__all__ = ["MockApp", "create_app"]

log = logging.getLogger("mock_server")


class MockApp:
    """A WSGI application serving one :class:`AppState`."""

    def __init__(self, state: AppState):
        self.state = state
        self.url_map = Map(rules(state.settings), strict_slashes=False, merge_slashes=False)
        #: The request log of a peer (``RecordRequests``), served at ``/_mock/requests``.
        self.recorder = RequestRecorder(self._with_faults)
        state.recorder = self.recorder
        state.runtime = RuntimeState.from_settings(state.settings)

    @property
    def settings(self) -> Settings:
        return self.state.settings

    @property
    def store(self) -> Store:
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
        try:
            # Inside the try: a Host header that is not a host name (an IDNA label over 63
            # characters) makes werkzeug raise BadHost here, which was a 500.
            adapter = self.url_map.bind_to_environ(request.environ)
            try:
                endpoint, values = adapter.match()
            except (MethodNotAllowed, RouteNotFound):
                if request.method != "OPTIONS":
                    raise
                # a plain OPTIONS where no Retrieve Capabilities is served: the path's methods (RFC 7231 4.3.7)
                return answer_options(request, self.url_map)
            response: Response = endpoint(self.state, request, **values)
            if request.method == "OPTIONS":  # Retrieve Capabilities, with the path's methods (RFC 7231 4.3.7)
                response.headers.setdefault("Allow", allowed_methods(self.url_map, request))
            return response
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
        faults = self.state.runtime.faults
        if faults and not environ.get("PATH_INFO", "").startswith("/_mock/"):
            dw = self.settings.dicomweb
            injector = FaultInjector(self.serve, faults, dw.root, dw.wado_root)
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


def create_app(settings: Settings | None = None, store: Store | None = None, *,
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
