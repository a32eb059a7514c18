"""Request recording (a spy), so that a peer can tell tests what it received.

When ``RecordRequests`` is on, every request's method, path, query,
headers (``Authorization``/``Proxy-Authorization`` reduced to scheme and
user), the number of body bytes the server read and, for a multipart body
(STOW-RS, PS3.18 10.5; RFC 2046 5.1.1), the number of parts, are kept in
memory and served at ``GET /_mock/requests`` (``DELETE`` clears them).  The
answer's status is kept too.
"""

from __future__ import annotations

import base64
import threading
import time
from typing import Any, Callable, Iterable

from .dicomweb.multipart import MultipartError, parse_content_type

__all__ = ["RequestRecorder"]


def _boundary(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/*`` Content-Type (quoted or not), None otherwise."""
    try:
        mime, params = parse_content_type(content_type)
    except MultipartError:
        return None
    boundary = params.get("boundary") if mime.startswith("multipart/") else None
    try:
        return boundary.encode("ascii") if boundary else None
    except UnicodeEncodeError:
        return None


def _safe_authorization(value: str) -> str:
    """``Basic user:***``: enough to check credentials were sent, never the password."""
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "basic":
        try:
            # validate=True: a token that is not base64 shows "?" rather than a garbled user.
            user = base64.b64decode(token.strip(), validate=True).decode("utf-8", "replace").split(":", 1)[0]
        except ValueError:
            user = "?"
        return f"Basic {user}:***"
    return f"{scheme} ***"


class _CountingInput:
    """Wraps ``wsgi.input``: counts bytes and multipart parts as the app reads them.

    Whatever the size of the reads, and with or without a close delimiter, the body is
    scanned as if preceded by CRLF (RFC 2046 5.1.1: the CRLF
    before a delimiter belongs to it), and a delimiter opens a part unless the two bytes
    after it are ``--`` (the close delimiter), decided once those bytes have been read.
    """

    def __init__(self, stream: Any, boundary: bytes | None):
        self._stream = stream
        self.size = 0
        self._delimiter = b"\r\n--" + boundary if boundary else None
        self._pending = b"\r\n"  # bytes not yet scanned past (a possible delimiter start)
        self.parts = 0

    def _scan(self, final: bool = False) -> None:
        assert self._delimiter is not None
        buf, d = self._pending, self._delimiter
        start = 0
        while True:
            i = buf.find(d, start)
            if i < 0:
                # Keep what could be the beginning of a delimiter.
                self._pending = buf[max(start, len(buf) - len(d) + 1):]
                return
            after = buf[i + len(d):i + len(d) + 2]
            if len(after) < 2 and not final:
                self._pending = buf[i:]  # wait for the bytes that tell a close delimiter
                return
            if after != b"--":
                self.parts += 1
            start = i + len(d)

    def _count(self, data: bytes) -> bytes:
        self.size += len(data)
        if self._delimiter and data:
            self._pending += data
            self._scan()
        return data

    def finish(self) -> None:
        """The app has returned: a delimiter at the very end of what it read opens a part."""
        if self._delimiter:
            self._scan(final=True)

    def read(self, *args: Any) -> bytes:
        return self._count(self._stream.read(*args))

    def readline(self, *args: Any) -> bytes:
        return self._count(self._stream.readline(*args))

    def __iter__(self):
        for line in self._stream:
            yield self._count(line)


class RequestRecorder:
    """WSGI middleware keeping a log of requests (bounded to ``limit`` entries)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], limit: int = 10_000):
        self.app = app
        self.limit = limit
        self.entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.entries)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_mock/"):
            return self.app(environ, start_response)
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        if environ.get("CONTENT_LENGTH"):
            headers["Content-Length"] = environ["CONTENT_LENGTH"]
        for name in ("Authorization", "Proxy-Authorization"):  # Proxy-Authorization: credentials too
            if name in headers:
                headers[name] = _safe_authorization(headers[name])
        counting = _CountingInput(environ["wsgi.input"], _boundary(environ.get("CONTENT_TYPE", "")))
        environ["wsgi.input"] = counting
        entry: dict[str, Any] = {"Time": time.time(), "Method": environ.get("REQUEST_METHOD"), "Path": path,
                                 "Query": environ.get("QUERY_STRING", ""), "Headers": headers}

        def recording_start_response(status: str, response_headers: list, exc_info: Any = None):
            entry["Status"] = int(status.split()[0])
            return start_response(status, response_headers, exc_info)

        result = self.app(environ, recording_start_response)
        entry["BodyBytes"] = counting.size
        if counting._delimiter is not None:
            counting.finish()
            entry["Parts"] = counting.parts
        with self._lock:
            self.entries.append(entry)
            del self.entries[:-self.limit]
        return result
