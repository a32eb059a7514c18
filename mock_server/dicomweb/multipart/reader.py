"""Reading multipart/related payloads (RFC 2387, RFC 2046 5.1): ``iter_multipart`` parses a payload
from a binary stream with fixed-size reads.  Each part is kept in memory up to ``spool_threshold``
bytes and spilled to a temporary file beyond that.  Delimiter recognition follows RFC 2046 5.1.1:
the CRLF preceding ``--boundary`` belongs to the delimiter, transport padding (spaces/tabs) may
follow the boundary, and the body may have a preamble and an epilogue, both ignored.  Malformed
input raises ``MultipartError``."""

from __future__ import annotations

import io
import os
import tempfile
import weakref
from collections.abc import Iterator
from typing import Any, BinaryIO

from werkzeug.datastructures import Headers

from ..media_types import MediaTypeSyntaxError, parse_media_type
from .syntax import (CHUNK_SIZE, CRLF, DEFAULT_PART_CONTENT_TYPE, HEADER_NAME_RE, MAX_PADDING, MultipartError,
                     validate_boundary)

__all__ = ["ReceivedPart", "get_boundary", "iter_multipart", "parse_content_type"]

def parse_content_type(header: str | None) -> tuple[str, dict[str, str]]:
    """(lower-cased mime type, params) of a Content-Type value.

    A missing or blank value gives ``("", {})``; a malformed one raises
    MultipartError. Quoted and unquoted parameter values are equivalent.
    """
    if header is None or not header.strip():
        return "", {}
    try:
        return parse_media_type(header)
    except MediaTypeSyntaxError as exc:
        raise MultipartError(f"malformed Content-Type: {exc}") from None


def get_boundary(content_type: str) -> str:
    """Boundary of a ``multipart/*`` Content-Type value (quoted or not), validated."""
    mime, params = parse_content_type(content_type)
    if not mime:
        raise MultipartError("missing Content-Type")
    if not mime.startswith("multipart/"):
        raise MultipartError(f"not a multipart media type: {mime}")
    if "boundary" not in params:
        raise MultipartError("missing boundary parameter")
    return validate_boundary(params["boundary"], lenient=True)


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class ReceivedPart:
    """A parsed body part. Data stays in memory up to the spool threshold, else in a temp file."""

    def __init__(self, index: int, headers: Headers, spool_threshold: int, spool_dir: str | None = None) -> None:
        self.index = index
        self.headers = headers
        raw_type = headers.get("Content-Type")
        self.content_type: str = raw_type if raw_type is not None else DEFAULT_PART_CONTENT_TYPE
        try:
            self.media_type, self.params = parse_media_type(self.content_type)
        except MediaTypeSyntaxError as exc:
            raise MultipartError(f"part {index}: malformed Content-Type: {exc}") from None
        self.content_location: str | None = headers.get("Content-Location")
        self.size = 0
        self._threshold = spool_threshold
        self._spool_dir = spool_dir
        #: The data while in memory: the pieces as received, joined when first opened.
        self._chunks: list[bytes] | None = []
        self._file: BinaryIO | None = None
        self._path: str | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- filling (used by iter_multipart)
    def _write(self, data: bytes | bytearray | memoryview) -> None:
        self.size += len(data)
        if self._file is not None:
            self._file.write(data)
            return
        assert self._chunks is not None
        self._chunks.append(bytes(data))
        if self.size > self._threshold:
            fd, path = tempfile.mkstemp(prefix="dicomweb-part-", dir=self._spool_dir)
            self._path = path
            self._finalizer = weakref.finalize(self, _unlink, path)
            self._file = os.fdopen(fd, "wb")
            for chunk in self._chunks:
                self._file.write(chunk)
            self._chunks = None

    def _finish(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    # -- public API
    @property
    def in_memory(self) -> bool:
        """True while the data has not been spilled to disk."""
        return self._path is None

    @property
    def spool_path(self) -> str | None:
        """Path of the temporary file holding the data once spilled, else None."""
        return self._path

    def open(self) -> BinaryIO:
        """A new binary reader over the part data, positioned at 0."""
        if self._path is not None:
            return open(self._path, "rb")
        if self._chunks is None:
            raise ValueError("part is closed")
        if len(self._chunks) > 1:
            self._chunks = [b"".join(self._chunks)]
        return io.BytesIO(self._chunks[0] if self._chunks else b"")  # shares the bytes: no copy

    def read(self) -> bytes:
        """All part data (loads a spilled part into memory)."""
        with self.open() as fh:
            return fh.read()

    def close(self) -> None:
        """Release the data; deletes the temporary file if there is one."""
        self._finish()
        if self._finalizer is not None:
            self._finalizer()
        self._path = None
        self._chunks = None

    def __enter__(self) -> ReceivedPart:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<ReceivedPart {self.index} {self.content_type!r} {self.size} bytes>"


class _Scanner:
    """Incremental reader over a stream with a bounded look-ahead buffer."""

    def __init__(self, stream: BinaryIO, read_size: int) -> None:
        self.stream = stream
        self.read_size = read_size
        self.buf = bytearray(CRLF)  # virtual CRLF: a delimiter may open the body
        self.eof = False

    def fill(self) -> bool:
        if self.eof:
            return False
        chunk = self.stream.read(self.read_size)
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True


def _classify(buf: bytearray, i: int, dlen: int) -> tuple[str, int]:
    """What follows a ``CRLF--boundary`` match at ``i``: close / delim / data / need."""
    j = i + dlen
    if len(buf) < j + 2:
        if len(buf) == j + 1 and buf[j] not in b"- \t\r":
            return "data", 0
        return "need", 0
    if buf[j : j + 2] == b"--":
        return "close", j + 2
    k = j
    while k < len(buf) and buf[k] in b" \t":
        k += 1
        if k - j > MAX_PADDING:
            raise MultipartError("malformed delimiter line: excessive transport padding")
    if k + 2 > len(buf):
        if k + 1 == len(buf) and buf[k] != 0x0D:
            return "data", 0
        return "need", 0
    if buf[k : k + 2] == CRLF:
        return "delim", k + 2
    return "data", 0


def _parse_headers(block: bytes, index: int) -> Headers:
    headers = Headers()
    if not block:
        return headers
    lines: list[bytes] = []
    for line in block.split(CRLF):
        if b"\r" in line or b"\n" in line:
            raise MultipartError(f"part {index}: malformed part headers (bare CR or LF)")
        if line[:1] in (b" ", b"\t"):
            if not lines:
                raise MultipartError(f"part {index}: malformed part headers (leading continuation)")
            lines[-1] += b" " + line.strip()
        else:
            lines.append(line)
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not HEADER_NAME_RE.match(name):
            raise MultipartError(f"part {index}: malformed part header line {line[:60]!r}")
        headers.add(name.decode("ascii"), value.strip().decode("latin-1"))
    return headers


def iter_multipart(
    stream: BinaryIO,
    boundary: str,
    *,
    spool_threshold: int = 1 << 20,
    spool_dir: str | None = None,
    max_part_size: int | None = None,
    read_size: int = CHUNK_SIZE,
    max_header_size: int = 64 * 1024,
) -> Iterator[ReceivedPart]:
    """Parse a multipart body from ``stream``, yielding each part once complete.

    Every ``stream.read`` call asks for exactly ``read_size`` bytes. Parts are
    owned by the caller (``close()`` them; spilled files are also deleted when
    a part is garbage collected); parts above ``spool_threshold`` bytes go to a
    file in ``spool_dir`` (default: the system's). Raises MultipartError for a missing/invalid
    boundary, no opening delimiter, an empty multipart, malformed part headers,
    a part larger than ``max_part_size`` and a missing close delimiter.
    """
    validate_boundary(boundary, lenient=True)
    if read_size <= 0:
        raise ValueError("read_size must be positive")
    delim = CRLF + b"--" + boundary.encode("ascii")
    dlen = len(delim)
    sc = _Scanner(stream, read_size)
    buf = sc.buf

    # Preamble: skip everything up to the first delimiter.
    pos = 0
    while True:
        i = buf.find(delim, pos)
        if i < 0:
            keep = dlen - 1
            if len(buf) > keep:
                del buf[: len(buf) - keep]
            pos = 0
            if not sc.fill():
                raise MultipartError("no opening boundary delimiter found")
            continue
        kind, end = _classify(buf, i, dlen)
        if kind == "need":
            del buf[:i]
            pos = 0
            if not sc.fill():
                raise MultipartError("truncated body: incomplete opening delimiter")
            continue
        if kind == "data":
            pos = i + 1
            continue
        if kind == "close":
            raise MultipartError("multipart body contains no parts")
        del buf[:end]
        break

    index = 0
    while True:
        index += 1
        # Header block: empty (part starts with CRLF) or terminated by CRLF CRLF.
        # The CRLF ending the header section stays in ``buf``: see _read_body.
        search_from = 0
        while True:
            if buf[:2] == CRLF:
                block = b""
                break
            h = buf.find(CRLF + CRLF, search_from)
            if 0 <= h <= max_header_size:
                block = bytes(buf[:h])
                del buf[: h + 2]
                break
            if len(buf) > max_header_size:
                raise MultipartError(f"part {index}: header block exceeds {max_header_size} bytes")
            search_from = max(0, len(buf) - 3)
            if not sc.fill():
                raise MultipartError(f"part {index}: truncated body in part headers")
        if delim in CRLF + block:
            raise MultipartError(f"part {index}: malformed part headers (delimiter inside header block)")
        part = ReceivedPart(index, _parse_headers(block, index), spool_threshold, spool_dir)
        try:
            kind = _read_body(sc, part, delim, max_part_size)
        except BaseException:
            part.close()
            raise
        yield part
        if kind == "close":
            return


def _read_body(sc: _Scanner, part: ReceivedPart, delim: bytes, max_part_size: int | None) -> str:
    """Copy part data into ``part`` up to the next delimiter; return its kind."""
    buf = sc.buf
    dlen = len(delim)

    def emit(n: int) -> None:
        if n <= 0:
            return
        if max_part_size is not None and part.size + n > max_part_size:
            raise MultipartError(f"part {part.index}: larger than the limit of {max_part_size} bytes")
        with memoryview(buf) as view:
            part._write(view[:n])
        del buf[:n]

    # RFC 2046: body-part := MIME-part-headers [CRLF *OCTET]. The CRLF at the
    # start of ``buf`` either opens the octets or, for a part without them,
    # is the CRLF of the next delimiter.
    while len(buf) < dlen + 2 and delim.startswith(bytes(buf[:dlen])) and not sc.eof:
        sc.fill()
    if buf.startswith(delim):
        kind, end = _classify(buf, 0, dlen)
        while kind == "need" and sc.fill():
            kind, end = _classify(buf, 0, dlen)
        if kind in ("delim", "close"):
            del buf[:end]
            part._finish()
            return kind
    del buf[:2]

    pos = 0
    while True:
        i = buf.find(delim, pos)
        if i < 0:
            emit(len(buf) - (dlen - 1))
            pos = 0
            if not sc.fill():
                raise MultipartError(f"part {part.index}: truncated body, missing close delimiter")
            continue
        kind, end = _classify(buf, i, dlen)
        if kind == "data":
            pos = i + 1
            continue
        emit(i)
        if kind == "need":
            pos = 0
            if not sc.fill():
                raise MultipartError(f"part {part.index}: truncated body, missing close delimiter")
            continue
        del buf[: end - i]
        part._finish()
        return kind
