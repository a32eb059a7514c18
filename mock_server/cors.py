"""Cross-origin resource sharing (the Fetch standard's CORS protocol) for browser viewers.

A viewer in development (OHIF on ``http://localhost:3000``, say) calls the mock from another
origin; the browser shows it a response only when the mock allows that origin.

* ``CorsAllowedOrigins`` (``--cors-origin``) lists the allowed origins; ``"*"`` (the default)
  allows any origin, an empty list turns CORS off.
* A preflight (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered on
  every path, before authentication (browsers never send credentials on a preflight): 204 with
  the path's methods and the request headers viewers send (Accept, Authorization, Content-Type,
  and any other header name the preflight asks for), or 403 for an origin not allowed.
* A plain ``OPTIONS`` (no ``Access-Control-Request-Method``) is not a preflight: on a DICOMweb
  resource it is Retrieve Capabilities (PS3.18 8.9, :mod:`mock_server.handlers.capabilities`),
  elsewhere 204 with the path's methods in ``Allow``.
* Every other response to an allowed origin carries ``Access-Control-Allow-Origin`` and exposes
  the headers a DICOMweb client reads (:data:`EXPOSED`).
* With authentication on, credentials are allowed only for origins listed by name: the origin is
  echoed with ``Access-Control-Allow-Credentials: true``. An origin allowed through ``"*"`` gets
  ``*`` without credentials (a page may still send its own Authorization header).
"""

from __future__ import annotations

import re

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from .config import Settings
from .errors import error_response

__all__ = ["EXPOSED", "ALLOWED_HEADERS", "is_preflight", "answer_preflight", "answer_options", "allowed_methods",
           "add_cors_headers"]

#: Response headers a page may read besides the CORS-safelisted ones.
EXPOSED = "Content-Type, Content-Location, Content-Length, Location, Warning, WWW-Authenticate"
#: Request headers always allowed on a preflight (those DICOMweb clients send).
ALLOWED_HEADERS = ("Accept", "Authorization", "Content-Type")
_ALL_METHODS = "DELETE, GET, HEAD, OPTIONS, POST, PUT"
_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_MAX_AGE = "600"


def _allowance(settings: Settings, origin: str) -> str | None:
    """``"listed"``, ``"any"`` or None (not allowed) for the Origin of a request."""
    allowed = settings.cors_allowed_origins
    if origin.lower().rstrip("/") in allowed:
        return "listed"
    return "any" if "*" in allowed else None


def allowed_methods(url_map: Map, request: Request) -> str:
    """The methods of the requested path (all the mock's methods when no route matches)."""
    try:
        methods = url_map.bind_to_environ(request.environ).allowed_methods()
    except HTTPException:
        methods = []
    if not methods:
        return _ALL_METHODS
    return ", ".join(sorted(set(methods) | {"OPTIONS"}))


def _requested_headers(request: Request) -> str:
    """The allowed request headers: ours, plus those the preflight asks for when they are tokens."""
    asked = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
    names = {h.lower(): h for h in ALLOWED_HEADERS}
    for h in asked:
        if h and _TOKEN_RE.match(h):
            names.setdefault(h.lower(), h)
    return ", ".join(names.values())


def _no_content(headers: dict[str, str]) -> Response:
    response = Response(status=204, headers=headers)
    del response.headers["Content-Type"]  # 204 has no content (RFC 7231 6.3.5)
    return response


def is_preflight(request: Request) -> bool:
    """A CORS preflight: ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``."""
    return (request.method == "OPTIONS" and "Origin" in request.headers
            and "Access-Control-Request-Method" in request.headers)


def answer_options(request: Request, url_map: Map) -> Response:
    """A plain ``OPTIONS`` request (not a preflight) on a path without Retrieve Capabilities: the
    path's methods (RFC 7231 4.3.7)."""
    return _no_content({"Allow": allowed_methods(url_map, request)})


def answer_preflight(request: Request, settings: Settings, url_map: Map) -> Response:
    """204 with what the page may send to the path, or 403 for an origin not allowed."""
    origin = request.headers["Origin"]
    if _allowance(settings, origin) is None:
        reason = ("CORS is off (CorsAllowedOrigins is empty)" if not settings.cors_allowed_origins
                  else f"origin {origin[:100]!r} is not in CorsAllowedOrigins")
        return error_response(403, reason, [("Vary", "Origin")])
    methods = allowed_methods(url_map, request)
    return _no_content({
        "Allow": methods,
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": _requested_headers(request),
        "Access-Control-Max-Age": _MAX_AGE,
    })  # the caller adds Access-Control-Allow-Origin (add_cors_headers), as to every answer


def add_cors_headers(request: Request, response: Response, settings: Settings) -> None:
    """``Access-Control-Allow-Origin`` and friends on a response to an allowed origin."""
    origin = request.headers.get("Origin")
    if origin is None:
        return
    allowance = _allowance(settings, origin)
    if allowance is None:
        return
    if allowance == "listed" or "*" not in settings.cors_allowed_origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.vary.add("Origin")
        if settings.authentication_enabled:
            response.headers["Access-Control-Allow-Credentials"] = "true"
    else:
        response.headers["Access-Control-Allow-Origin"] = "*"
    if request.method != "OPTIONS":
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
