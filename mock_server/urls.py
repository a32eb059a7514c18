"""Absolute URLs the server hands out (RetrieveURL, BulkDataURI, Content-Location).

PS3.18 8.6.1 requires these to be resolvable by the user agent.  The
configuration's ``DicomWeb.Host``/``DicomWeb.Ssl`` win when set (as in the
Orthanc plugin); otherwise ``X-Forwarded-Proto``/``X-Forwarded-Host`` from a
reverse proxy, else the request's own scheme and ``Host`` header with its port.
A path the mock is mounted under comes from ``X-Forwarded-Prefix`` (a proxy mapping ``/pacs/``
to the mock's ``/``), else from the WSGI ``SCRIPT_NAME``.
"""

from __future__ import annotations

import re

from werkzeug.wrappers import Request

from .config import Settings

__all__ = ["origin_of", "mount_prefix", "site_root", "dicomweb_base"]

_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%\-]+)+/?$")
_HOST_RE = re.compile(r"^[A-Za-z0-9\-]{1,63}(\.[A-Za-z0-9\-]{1,63})*\.?(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def _is_host(host: str) -> bool:
    """``host[:port]`` with DNS labels of 1-63 characters and at most 253 in all (RFC 1035 2.3.4)."""
    return bool(host) and len(host) <= 261 and _HOST_RE.match(host) is not None


def origin_of(request: Request, settings: Settings) -> str:
    """``scheme://host[:port]`` as the client should use it."""
    dw = settings.dicomweb
    if dw.host:
        scheme = "https" if dw.ssl else "http"
        return f"{scheme}://{dw.host}"
    forwarded_host = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
    forwarded_proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    scheme = forwarded_proto if forwarded_proto in ("http", "https") else request.scheme
    host = forwarded_host if _is_host(forwarded_host) else request.host
    if not _is_host(host):
        host = request.environ.get("SERVER_NAME", "localhost")
        port = request.environ.get("SERVER_PORT")
        if port:
            host = f"{host}:{port}"
    return f"{scheme}://{host}"


def mount_prefix(request: Request) -> str:
    """The path the mock is served under, without a trailing slash ("" at the server root)."""
    forwarded = request.headers.get("X-Forwarded-Prefix", "").split(",")[0].strip()
    if forwarded and len(forwarded) <= 200 and _PREFIX_RE.match(forwarded):
        return forwarded.rstrip("/")
    return request.script_root.rstrip("/")


def site_root(request: Request, settings: Settings) -> str:
    """``scheme://host[:port][/prefix]``: what the mock's own paths are appended to."""
    return origin_of(request, settings) + mount_prefix(request)


def dicomweb_base(request: Request, settings: Settings) -> str:
    """Absolute URL of the DICOMweb root, ending with ``/``."""
    return site_root(request, settings) + settings.dicomweb.root

