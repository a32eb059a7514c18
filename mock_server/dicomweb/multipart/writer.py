"""Writing multipart/related payloads (PS3.18 8.6.1.2, 8.7.1): ``iter_parts`` yields the body chunk
by chunk (file bodies in 1 MiB reads, or handed to a server that sends them with ``os.sendfile``:
``MultipartStream.segments``), ``multipart_length`` computes its size when every part length is
known, ``content_type_header`` builds the ``multipart/related; type="..."; boundary=...`` value."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

from ..media_types import MULTIPART_RELATED, format_media_type
from .syntax import CHUNK_SIZE, CRLF, HEADER_NAME_RE, validate_boundary

__all__ = ["Body", "FileSegment", "MultipartStream", "Part", "content_type_header", "iter_parts", "multipart_length"]

Body = bytes | Iterable[bytes] | Callable[[], BinaryIO]


@dataclass
class Part:
    """One body part to write.

    ``body`` is bytes, an iterable of bytes chunks, a readable binary file
    object (read in chunks and closed by the writer) or a zero-argument
    callable opening such a file (opened lazily, closed after streaming).
    ``length`` is emitted as Content-Length; it is computed for bytes bodies
    and checked while streaming otherwise.
    """

    content_type: str
    body: Body
    content_location: str | None = None
    length: int | None = None
    extra_headers: Mapping[str, str] | Sequence[tuple[str, str]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if isinstance(self.body, (bytearray, memoryview)):
            self.body = bytes(self.body)
        if isinstance(self.body, bytes):
            if self.length is None:
                self.length = len(self.body)
            elif self.length != len(self.body):
                raise ValueError(f"part length {self.length} != len(body) {len(self.body)}")
        if self.length is not None and self.length < 0:
            raise ValueError("part length must not be negative")


def content_type_header(
    type_: str,
    boundary: str,
    transfer_syntax: str | None = None,
    extra_params: Mapping[str, str] | None = None,
) -> str:
    """``multipart/related; type="<type_>"; boundary=<b>[; transfer-syntax=<uid>]...`` (8.7.3.5.1)."""
    params: list[tuple[str, str]] = [("type", type_), ("boundary", validate_boundary(boundary))]
    if transfer_syntax is not None:
        params.append(("transfer-syntax", transfer_syntax))
    for name, value in (extra_params or {}).items():
        params.append((name, value))
    return format_media_type(MULTIPART_RELATED, params)


def _header_value(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("header value contains CR or LF")
    return value


def _part_head(part: Part, boundary: bytes) -> bytes:
    """Delimiter line plus header block plus the empty line for ``part``."""
    lines = [b"--" + boundary, b"Content-Type: " + _header_value(part.content_type).encode("latin-1")]
    if part.content_location is not None:
        lines.append(b"Content-Location: " + _header_value(part.content_location).encode("latin-1"))
    if part.length is not None:
        lines.append(b"Content-Length: " + str(part.length).encode("ascii"))
    extra = part.extra_headers.items() if isinstance(part.extra_headers, Mapping) else part.extra_headers
    for name, value in extra:
        if not HEADER_NAME_RE.match(name.encode("latin-1")):
            raise ValueError(f"invalid header name {name!r}")
        lines.append(name.encode("latin-1") + b": " + _header_value(value).encode("latin-1"))
    return CRLF.join(lines) + CRLF + CRLF


def _iter_file(fh: BinaryIO) -> Iterator[bytes]:
    try:
        while True:
            chunk = fh.read(CHUNK_SIZE)
            if not chunk:
                return
            yield chunk
    finally:
        fh.close()


def _iter_body(body: Body) -> Iterator[bytes]:
    if isinstance(body, bytes):
        if body:
            yield body
    elif hasattr(body, "read"):
        yield from _iter_file(body)  # type: ignore[arg-type]
    elif callable(body):
        yield from _iter_file(body())
    else:
        for chunk in body:
            if chunk:
                yield bytes(chunk)


FileSegment = tuple[BinaryIO, int]


def _segments(first: Part, rest: Iterator[Part], boundary: bytes) -> Generator[bytes | FileSegment, None, None]:
    """The payload as bytes plus ``(open file, length)`` for each file body of known length.

    The file is closed when the consumer asks for the next segment (or abandons the iteration).
    """
    part: Part | None = first
    while part is not None:
        yield _part_head(part, boundary)
        body = part.body
        if part.length is not None and (hasattr(body, "read") or (callable(body) and not isinstance(body, bytes))):
            fh = body if hasattr(body, "read") else body()  # type: ignore[operator]
            try:
                yield (fh, part.length)  # type: ignore[misc]
            finally:
                fh.close()  # type: ignore[union-attr]
        else:
            sent = 0
            for chunk in _iter_body(body):
                sent += len(chunk)
                yield chunk
            if part.length is not None and sent != part.length:
                raise ValueError(f"part body produced {sent} bytes, declared length {part.length}")
        yield CRLF
        part = next(rest, None)
    yield b"--" + boundary + b"--"


def _stream(first: Part, rest: Iterator[Part], boundary: bytes) -> Generator[bytes, None, None]:
    segments = _segments(first, rest, boundary)
    try:
        for segment in segments:
            if not isinstance(segment, tuple):
                yield segment
                continue
            fh, length = segment
            sent = 0
            while True:
                chunk = fh.read(CHUNK_SIZE)
                if not chunk:
                    break
                sent += len(chunk)
                yield chunk
            if sent != length:
                raise ValueError(f"part body produced {sent} bytes, declared length {length}")
    finally:
        segments.close()


class MultipartStream:
    """A multipart payload being written: an iterator of bytes chunks (WSGI body).

    A writer that can send files itself (``os.sendfile``) calls :meth:`segments` instead of
    iterating: the same payload as bytes and ``(open file, length)`` pairs, no file read in Python.
    """

    def __init__(self, first: Part, rest: Iterator[Part], boundary: bytes):
        self._args = (first, rest, boundary)
        self._gen: Generator[bytes, None, None] | Generator[bytes | FileSegment, None, None] | None = None

    def __iter__(self) -> "MultipartStream":
        return self

    def __next__(self) -> bytes:
        if self._gen is None:
            self._gen = _stream(*self._args)
        return next(self._gen)  # type: ignore[return-value]

    def segments(self) -> Iterator[bytes | FileSegment]:
        if self._gen is not None:
            raise RuntimeError("the payload is already being written")
        self._gen = _segments(*self._args)
        return self._gen

    def close(self) -> None:
        if self._gen is not None:
            self._gen.close()


def iter_parts(parts: Iterable[Part], boundary: str) -> MultipartStream:
    """Serialize ``parts`` per 8.6.1.2.1: ``1*(--b CRLF part CRLF) --b--``.

    The first part is taken eagerly so that an empty ``parts`` raises
    ValueError here rather than in the middle of a response.
    """
    b = validate_boundary(boundary).encode("ascii")
    it = iter(parts)
    first = next(it, None)
    if first is None:
        raise ValueError("a multipart payload needs at least one part")
    return MultipartStream(first, it, b)


def multipart_length(parts: Iterable[Part], boundary: str) -> int | None:
    """Total byte length of ``iter_parts(parts, boundary)``, or None if a length is unknown.

    ``parts`` is iterated, so pass a sequence when it is reused afterwards.
    """
    b = validate_boundary(boundary).encode("ascii")
    total = 0
    count = 0
    for part in parts:
        if part.length is None:
            return None
        total += len(_part_head(part, b)) + part.length + len(CRLF)
        count += 1
    if count == 0:
        raise ValueError("a multipart payload needs at least one part")
    return total + len(b) + 4
