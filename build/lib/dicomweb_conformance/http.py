"""A recording HTTP client: every exchange is kept for failure messages and Allure.

Query parameters are encoded as PS3.18 8.3.1 asks: a value keeps the
qp-special characters (``*``, ``?``, ``+``...) and commas literal, spaces
become ``%20`` and non-ASCII text is UTF-8 percent-encoded; a list value is
joined with commas after percent-encoding the commas inside its items.
A path that already holds ``?query`` is sent as given.

Every exchange has a hard deadline (the run's ``--request-timeout``): a server that
answers one byte at a time defeats the per-read timeout of requests, so a watchdog shuts
the connection down when the deadline passes and the exchange fails as timed out.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote, urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["EXCERPT_LIMIT", "Exchange", "TransportError", "RecordingClient", "encode_query",
           "multipart_related", "body_excerpt"]

EXCERPT_LIMIT = 2048
_QP_SAFE = "-._~!$'()*+;:@/?"
_USER_AGENT = "dicomweb-conformance/0.1 (+PS3.18 conformance suite)"
Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | str | None


class TransportError(Exception):
    """No HTTP response: connection refused or reset, TLS failure, timeout."""

    def __init__(self, message: str, exchange: "Exchange"):
        super().__init__(message)
        self.exchange = exchange


def _hexdump(data: bytes, limit: int) -> str:
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset:offset + 16]
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {chunk.hex(' '):<47}  {text}")
    return "\n".join(lines)


def body_excerpt(data: bytes | None, limit: int = EXCERPT_LIMIT) -> str:
    """At most ``limit`` characters of a body: text when it is mostly printable UTF-8, else a hex dump."""
    if not data:
        return "(empty)"
    head = data[:limit]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = head[:exc.start].decode("utf-8") if exc.start > len(head) - 4 else None
    if text is not None:
        controls = sum(1 for c in text if ord(c) < 32 and c not in "\r\n\t")
        if controls <= len(text) // 50:
            more = f"\n... ({len(data)} bytes in all)" if len(data) > len(head) else ""
            return text + more
    shown = limit // 4  # a hex dump line is ~4 characters per byte
    dump = _hexdump(data, shown)
    more = f"\n... ({len(data)} bytes in all)" if len(data) > shown else ""
    return dump + more


# -- hard deadline of an exchange ------------------------------------------------------------------
_CURRENT = threading.local()


class _Deadline:
    """While active, ``seconds`` after it starts: shut down the socket of the connection in use."""

    def __init__(self, seconds: float):
        self.conn: Any = None
        self.fired = False
        self._active = True
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True

    def __enter__(self) -> "_Deadline":
        _CURRENT.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._active = False
        self._timer.cancel()
        _CURRENT.deadline = None

    def attach(self, conn: Any) -> None:
        with self._lock:
            self.conn = conn

    def _fire(self) -> None:
        with self._lock:
            if not self._active:
                return
            self.fired = True
            sock = getattr(self.conn, "sock", None)
            if sock is not None:
                try:  # the plain socket method: an SSLSocket's own would drop its SSL object under the reader
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)
                except OSError:
                    pass


class _QuietAfterDeadline(logging.Filter):
    """Drop urllib3's warnings (with tracebacks) about a message the deadline cut short: the
    exchange is reported as timed out, the half-read headers are no news."""

    def filter(self, record: logging.LogRecord) -> bool:
        deadline = getattr(_CURRENT, "deadline", None)
        return not (deadline is not None and deadline.fired)


logging.getLogger("urllib3.connection").addFilter(_QuietAfterDeadline())


def _attach_to_deadline(conn: Any) -> None:
    deadline = getattr(_CURRENT, "deadline", None)
    if deadline is not None:
        deadline.attach(conn)


class _Watched:
    """Connection mixin: each request reports the connection to the exchange's deadline."""

    def request(self, *args: Any, **kwargs: Any) -> Any:
        _attach_to_deadline(self)
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _DeadlineAdapter(HTTPAdapter):
    """requests' adapter whose connections report to the exchange's :class:`_Deadline`."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if hasattr(manager, "pool_classes_by_scheme") and not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


def _watch(session: requests.Session) -> None:
    """Mount the deadline adapter on ``session`` (once)."""
    for prefix in ("http://", "https://"):
        if not isinstance(session.adapters.get(prefix), _DeadlineAdapter):
            session.mount(prefix, _DeadlineAdapter())


_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}


def _header_line(prefix: str, name: str, value: str) -> str:
    """``> Name: value`` with credentials redacted (the auth scheme stays visible)."""
    if name.lower() in _SECRET_HEADERS:
        scheme = value.split(" ", 1)[0] if name.lower().endswith("authorization") and " " in value else ""
        value = f"{scheme} <redacted>".strip()
    return f"{prefix} {name}: {value}"


@dataclass
class Exchange:
    """One request and its response (or the transport error that replaced it)."""

    method: str
    url: str
    request_headers: dict[str, str]
    request_body: bytes = b""
    status: int | None = None
    reason: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: bytes = b""
    elapsed: float = 0.0
    error: str | None = None
    response: requests.Response | None = field(default=None, repr=False)

    def format(self, limit: int = EXCERPT_LIMIT) -> str:
        """The exchange as text: request line, headers, body excerpt; then the response likewise.

        Credentials (Authorization, Cookie headers) are redacted.
        """
        target = urlsplit(self.url)
        lines = [f"> {self.method} {self.url} HTTP/1.1"]
        lines += [_header_line(">", k, v) for k, v in self.request_headers.items()]
        if self.request_body:
            lines.append(">")
            lines += ["> " + line for line in body_excerpt(self.request_body, limit).splitlines()]
        lines.append("")
        if self.error is not None:
            lines.append(f"< (no response from {target.netloc}: {self.error})")
            return "\n".join(lines)
        lines.append(f"< HTTP/1.1 {self.status} {self.reason}  ({self.elapsed * 1000:.0f} ms)")
        lines += [_header_line("<", k, v) for k, v in self.response_headers.items()]
        lines.append("<")
        lines += ["< " + line for line in body_excerpt(self.response_body, limit).splitlines()]
        return "\n".join(lines)


def _encode_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(quote(str(v), safe=_QP_SAFE) for v in value)
    return quote(str(value), safe=_QP_SAFE + ",")


def encode_query(params: Params) -> str:
    """Encode query parameters per PS3.18 8.3.1 (see the module docstring); '' when there are none."""
    if not params:
        return ""
    if isinstance(params, str):
        return params.lstrip("?")
    items: Iterable[tuple[str, Any]] = params.items() if isinstance(params, Mapping) else params
    out = []
    for name, value in items:
        key = quote(str(name), safe=_QP_SAFE)
        out.append(key if value is None else f"{key}={_encode_value(value)}")
    return "&".join(out)


def multipart_related(parts: Sequence[bytes | tuple[bytes, str]], part_type: str = "application/dicom",
                      boundary: str | None = None) -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/related payload (PS3.18 8.6.1.2), each part with Content-Type.

    A part is its bytes (typed ``part_type``) or ``(bytes, content_type)``.
    """
    boundary = boundary or f"dicomweb-conformance-{uuid.uuid4().hex}"
    chunks = []
    for part in parts:
        data, ctype = part if isinstance(part, tuple) else (part, part_type)
        chunks.append(f"--{boundary}\r\nContent-Type: {ctype}\r\n\r\n".encode("ascii"))
        chunks.append(data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    content_type = f'multipart/related; type="{part_type}"; boundary={boundary}'
    return b"".join(chunks), content_type


class RecordingClient:
    """HTTP client bound to one target; every exchange is appended to ``exchanges``.

    ``path`` arguments are relative to the DICOMweb root (``"studies"``,
    ``"studies/1.2.3/series"``); absolute ``http(s)://`` URLs are used as given.
    Headers whose value is None are removed from the request (e.g.
    ``headers={"Accept": None}`` sends no Accept header).  Default headers:
    ``Accept: */*``, ``Accept-Encoding: identity`` and a User-Agent.
    Redirects are not followed unless ``allow_redirects=True`` is passed.
    """

    def __init__(self, dicomweb_url: str, wado_uri_url: str, *, session: requests.Session | None = None,
                 timeout: float = 30.0, auth: Any = None, headers: Mapping[str, str] | None = None,
                 cert: str | tuple[str, str] | None = None, verify: bool | str = True,
                 fail_on_transport_error: bool = False, exchanges: list[Exchange] | None = None):
        self.dicomweb_url = dicomweb_url if dicomweb_url.endswith("/") else dicomweb_url + "/"
        self.wado_uri_url = wado_uri_url
        parts = urlsplit(self.dicomweb_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.session = session or requests.Session()
        _watch(self.session)
        self.timeout = timeout
        self.auth = auth
        self.headers = {"User-Agent": _USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity",
                        **(headers or {})}
        self.cert = cert
        self.verify = verify
        self.fail_on_transport_error = fail_on_transport_error
        self.exchanges: list[Exchange] = exchanges if exchanges is not None else []

    # -- URLs -------------------------------------------------------------------------------------
    def url(self, path_or_url: str, params: Params = None) -> str:
        """Absolute URL of ``path_or_url`` (relative to the DICOMweb root) with encoded ``params``."""
        if path_or_url.startswith(("http://", "https://")):
            url = path_or_url
        else:
            url = urljoin(self.dicomweb_url, path_or_url.lstrip("/"))
        query = encode_query(params)
        if query:
            url += ("&" if "?" in url else "?") + query
        return url

    @property
    def last(self) -> Exchange | None:
        """The most recent exchange, if any."""
        return self.exchanges[-1] if self.exchanges else None

    def exchange_of(self, response: requests.Response) -> Exchange | None:
        """The recorded exchange that produced ``response``."""
        for ex in reversed(self.exchanges):
            if ex.response is response:
                return ex
        return None

    # -- requests ---------------------------------------------------------------------------------
    def request(self, method: str, path_or_url: str, *, params: Params = None,
                headers: Mapping[str, str | None] | None = None, data: bytes | str | None = None,
                json: Any = None, timeout: float | None = None, allow_redirects: bool = False,
                auth: Any = ...) -> requests.Response:
        """Send one request; the whole body is read within ``timeout`` seconds (default: the run's)."""
        url = self.url(path_or_url, params)
        merged: dict[str, str | None] = {**self.headers, **(headers or {})}
        limit = self.timeout if timeout is None else timeout
        req = requests.Request(method.upper(), url, headers={k: v for k, v in merged.items() if v is not None},
                               data=data, json=json, auth=self.auth if auth is ... else auth)
        prepared = self.session.prepare_request(req)
        for name, value in merged.items():  # the session must not add back a header the caller removed
            if value is None:
                prepared.headers.pop(name, None)
        body = prepared.body if isinstance(prepared.body, bytes) else (prepared.body or "").encode("utf-8")
        ex = Exchange(method=prepared.method or method, url=prepared.url or url,
                      request_headers=dict(prepared.headers), request_body=body)
        self.exchanges.append(ex)
        start = time.monotonic()
        with _Deadline(limit) as deadline:
            try:
                env = self.session.merge_environment_settings(prepared.url, {}, True, self.verify, self.cert)
                response = self.session.send(prepared, stream=True, timeout=(limit, limit), verify=env["verify"],
                                             cert=env["cert"], proxies=env["proxies"],
                                             allow_redirects=allow_redirects)
                chunks = []
                for chunk in response.iter_content(65536):
                    chunks.append(chunk)
                    if time.monotonic() - start > limit:
                        response.close()
                        raise requests.Timeout(f"the body was not received within {limit:g} s")
                response._content = b"".join(chunks)  # noqa: SLF001 - make .content/.json() work after streaming
                if deadline.fired:  # the shut-down socket may look like a short but complete message
                    response.close()
                    raise requests.Timeout("the connection was shut down at the deadline")
            except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
                    OSError) as exc:  # the last three only if requests let one through unwrapped
                ex.elapsed = time.monotonic() - start
                if deadline.fired:
                    ex.error = (f"timed out after {limit:g} s: the exchange was not complete by then "
                                f"({_shorten(str(exc))})")
                else:
                    ex.error = _describe(exc, limit)
        if ex.error is not None:  # raised outside the except block: no chained exception to print
            return self._transport_failure(ex)
        ex.elapsed = time.monotonic() - start
        ex.status, ex.reason = response.status_code, response.reason or ""
        ex.response_headers = dict(response.headers)
        ex.response_body = response.content
        ex.response = response
        return response

    def _transport_failure(self, ex: Exchange) -> requests.Response:
        message = f"transport failure: {ex.method} {ex.url}: {ex.error}"
        if self.fail_on_transport_error:
            import pytest

            pytest.fail(f"{message}\n\n{ex.format()}", pytrace=False)
        raise TransportError(message, ex)

    def get(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path_or_url, **kwargs)

    def head(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self.request("HEAD", path_or_url, **kwargs)

    def options(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self.request("OPTIONS", path_or_url, **kwargs)

    def post(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path_or_url, **kwargs)

    def put(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path_or_url, **kwargs)

    def delete(self, path_or_url: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path_or_url, **kwargs)

    def uri_get(self, params: Params, **kwargs: Any) -> requests.Response:
        """GET on the WADO-URI endpoint with ``params`` (e.g. ``{"requestType": "WADO", ...}``)."""
        return self.request("GET", self.wado_uri_url, params=params, **kwargs)

    def stow(self, parts: Sequence[bytes | tuple[bytes, str]], study: str | None = None, *,
             part_type: str = "application/dicom", accept: str | None = "application/dicom+json",
             headers: Mapping[str, str | None] | None = None, **kwargs: Any) -> requests.Response:
        """POST ``parts`` as multipart/related to ``studies`` or ``studies/{study}`` (PS3.18 10.5)."""
        body, content_type = multipart_related(parts, part_type)
        merged = {"Content-Type": content_type, "Accept": accept, **(headers or {})}
        return self.post(f"studies/{study}" if study else "studies", data=body, headers=merged, **kwargs)


def _shorten(text: str, limit: int = 300) -> str:
    """``text`` on one line, control and non-ASCII characters escaped, at most ``limit`` characters
    (a server answering binary junk must not flood the one-line failure message)."""
    out = "".join(c if 32 <= ord(c) < 127 else ascii(c)[1:-1] for c in text)
    return out if len(out) <= limit else f"{out[:limit]}... ({len(out)} characters)"


def _describe(exc: BaseException, limit: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"timed out after {limit:g} s ({_shorten(str(exc))})"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error: {_shorten(str(exc))}"
    if isinstance(exc, requests.ConnectionError):
        reason = str(getattr(exc.args[0], "reason", exc.args[0]) if exc.args else exc)
        reason = reason.split("Failed to establish a new connection: ", 1)[-1]
        return f"connection failed: {_shorten(reason)}"
    return f"{type(exc).__name__}: {_shorten(str(exc))}"
