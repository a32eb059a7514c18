"""multipart/related payloads (PS3.18 2019a 8.6.1.2, 8.7.1; RFC 2387, RFC 2046 5.1).

Writer: ``iter_parts`` yields the body of a multipart payload chunk by chunk
(file bodies are streamed in 1 MiB reads, or handed to a server that sends
them with ``os.sendfile``: ``MultipartStream.segments``), ``multipart_length`` computes its
size when every part length is known, ``content_type_header`` builds the
``multipart/related; type="..."; boundary=...`` value.

Reader: ``iter_multipart`` parses a payload from a binary stream with
fixed-size reads. Each part is kept in memory up to ``spool_threshold`` bytes
and spilled to a temporary file beyond that. Delimiter recognition follows
RFC 2046 5.1.1: the CRLF preceding ``--boundary`` belongs to the delimiter,
transport padding (spaces/tabs) may follow the boundary, and the body may have
a preamble and an epilogue, both ignored. Malformed input raises
``MultipartError``.

The reader lives in :mod:`.reader`, the writer in :mod:`.writer`, what both share in :mod:`.syntax`;
every name is importable from this package.
"""

from __future__ import annotations

from .reader import ReceivedPart, get_boundary, iter_multipart, parse_content_type
from .syntax import CHUNK_SIZE, CRLF, DEFAULT_PART_CONTENT_TYPE, MultipartError, new_boundary, validate_boundary
from .writer import Body, FileSegment, MultipartStream, Part, content_type_header, iter_parts, multipart_length

__all__ = ["CHUNK_SIZE", "CRLF", "DEFAULT_PART_CONTENT_TYPE", "Body", "FileSegment", "MultipartError",
           "MultipartStream", "Part", "ReceivedPart", "content_type_header", "get_boundary", "iter_multipart",
           "iter_parts", "multipart_length", "new_boundary", "parse_content_type", "validate_boundary"]
