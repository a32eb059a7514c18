"""What the multipart/related reader and writer share: the boundary syntax (RFC 2046 5.1.1,
PS3.18 8.6.1.2.1), the line ending, the default part media type and the error they raise."""

from __future__ import annotations

import re
import secrets

from ...errors import HttpError

__all__ = ["CHUNK_SIZE", "CRLF", "DEFAULT_PART_CONTENT_TYPE", "HEADER_NAME_RE", "MAX_PADDING", "MultipartError",
           "new_boundary", "validate_boundary"]

#: Bytes per write of a streamed body: few system calls, bounded memory per response.
CHUNK_SIZE = 1024 * 1024
CRLF = b"\r\n"
#: RFC 2046 5.1.1: media type of a body part without a Content-Type header.
DEFAULT_PART_CONTENT_TYPE = "text/plain; charset=US-ASCII"

_BCHARS = "0-9A-Za-z'()+_,\\-./:=? "
_BOUNDARY_RE = re.compile(rf"^[{_BCHARS}]{{0,69}}[{_BCHARS[:-1]}]$")
#: Readers accept longer boundaries than RFC 2046's 70 characters: Orthanc's
#: DICOMweb client (plugin 1.7) sends 73-character ones.  Writers stay strict.
_LENIENT_BOUNDARY_RE = re.compile(rf"^[{_BCHARS}]{{0,199}}[{_BCHARS[:-1]}]$")
#: A header field name (RFC 7230 3.2: a token).
HEADER_NAME_RE = re.compile(rb"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
#: At most this many bytes of transport padding after a boundary (RFC 2046 5.1.1).
MAX_PADDING = 1024


class MultipartError(HttpError, ValueError):
    """Malformed multipart payload (400); ``reason`` is a one-line description."""

    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


def validate_boundary(boundary: str, *, lenient: bool = False) -> str:
    """Check the RFC 2046 / 8.6.1.2.1 boundary syntax: 1-70 bchars, no trailing space.

    ``lenient`` (for reading) allows up to 200 characters.
    """
    if not boundary:
        raise MultipartError("missing boundary parameter")
    if not (_LENIENT_BOUNDARY_RE if lenient else _BOUNDARY_RE).match(boundary):
        raise MultipartError(f"invalid multipart boundary {boundary[:80]!r}")
    return boundary


def new_boundary() -> str:
    """A fresh random boundary (bchars only, 128 bits of randomness)."""
    return "dicomweb-" + secrets.token_hex(16)
