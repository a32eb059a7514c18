"""Send the files of a multipart retrieval with ``os.sendfile`` under gunicorn (no copy through Python).

gunicorn hands the application the client socket (``environ["gunicorn.socket"]``)
and writes each chunk the body yields before it asks for the next.  So a body
that yields the bytes before a file (part head, boundary) and then sends the
file itself on that socket puts everything on the wire in order, and the
kernel copies the file straight from the page cache.  Only for an unmodified
:class:`~mock_server.dicomweb.multipart.MultipartStream` (no fault
middleware rewrote it) of known length (gunicorn does not chunk it), to a GET
over plain TCP; anything else is served as the application returned it.
"""

from __future__ import annotations

import os
import socket
import ssl
from typing import Any, Callable, Iterable, Iterator

from .dicomweb.multipart import MultipartStream

__all__ = ["with_sendfile"]

#: Bytes before a file are gathered into one write; smaller files are read and written as bytes.
MIN_SENDFILE = 64 * 1024


class _SendfileBody:
    """A WSGI body yielding the payload's bytes and sending its files directly on ``sock``."""

    def __init__(self, stream: MultipartStream, sock: socket.socket):
        self.stream = stream
        self.sock = sock

    def __iter__(self) -> Iterator[bytes]:
        corked = self._cork(1)
        try:
            yield from self._body()
        finally:
            if corked:
                self._cork(0)  # flushes what the cork held back

    def _cork(self, value: int) -> bool:
        """TCP_CORK (Linux): part heads and file data leave in full segments, not a small packet per head."""
        if not hasattr(socket, "TCP_CORK"):
            return False
        try:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, value)
        except OSError:
            return False
        return True

    def _body(self) -> Iterator[bytes]:
        pending: list[bytes] = []
        for segment in self.stream.segments():
            if not isinstance(segment, tuple):
                pending.append(segment)
                continue
            fh, length = segment
            if length < MIN_SENDFILE:
                data = fh.read(length + 1)
                if len(data) != length:
                    raise ValueError(f"part body produced {len(data)} bytes, declared length {length}")
                pending.append(data)
                continue
            if pending:
                yield b"".join(pending)  # gunicorn writes it (headers first) before resuming us
                pending = []
            else:  # nothing precedes a file in a multipart payload; keep gunicorn's headers first anyway
                raise RuntimeError("a file segment cannot come first")
            sent = self.sock.sendfile(fh, 0, length)
            if sent != length:
                raise ValueError(f"part body produced {sent} bytes, declared length {length}")
        if pending:
            yield b"".join(pending)

    def close(self) -> None:
        self.stream.close()


def _eligible(environ: dict[str, Any], headers: list[tuple[str, str]]) -> socket.socket | None:
    sock = environ.get("gunicorn.socket")
    if sock is None or isinstance(sock, ssl.SSLSocket) or environ.get("REQUEST_METHOD") != "GET":
        return None
    if not any(name.lower() == "content-length" for name, _ in headers):
        return None  # gunicorn would chunk the body: its framing must see every byte
    if not hasattr(os, "sendfile"):
        return None
    return sock


def with_sendfile(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """``app`` with file parts of multipart retrievals sent by ``os.sendfile`` when gunicorn serves it."""
    def wrapped(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        seen: list[tuple[str, str]] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = headers
            return start_response(status, headers, exc_info)

        body = app(environ, capture)
        if type(body) is MultipartStream:
            sock = _eligible(environ, seen)
            if sock is not None:
                return _SendfileBody(body, sock)
        return body
    return wrapped
