"""Strict parser of multipart/related response payloads (PS3.18-2019a 8.6.1.2, 8.7.1; RFC 2046 5.1.1, RFC 2387).

The suite's own parser (an independent oracle: never the server's code).

API
---
``parse_multipart(content_type, body, *, strict=True, require_location=False,
require_length=False) -> Multipart``
    Parse a payload given the message's Content-Type header value.  Raises
    :class:`MultipartError` (an ``AssertionError``) whose ``reason`` names the
    rule broken and where, e.g. ``"part 2: Content-Length 120 but the part
    holds 118 bytes"``.

``expect_multipart(response, *, req=None, root_type=None, part_types=None,
strict=False, require_location=False, require_length=False) -> Multipart``
    The same on a ``requests.Response`` inside a conformance test: a failure
    ends the test through :func:`conformance.expect.fail` with the requirement
    and the exchange.  ``root_type`` (e.g. ``"application/dicom"``) is compared
    with the ``type`` parameter's media type; ``part_types`` (a string or a
    collection) with each part's media type (parameters ignored, case-insensitive).

``parse_media_type_strict(value) -> MediaType``
    RFC 7231 3.1.1.1 media-type syntax (token / quoted-string parameter values).

What is checked
---------------
Always: the Content-Type is ``multipart/related`` with a ``type`` parameter
(8.7.1: "The type parameter is required") and a ``boundary`` parameter of
bchars not ending in a space; every delimiter is ``CRLF--boundary``
followed by CRLF (next part) or ``--`` (close); the close delimiter is
present; each part has a header block ending with an empty line, header
lines of the form ``name: value`` separated by CRLF, a parsable
``Content-Type`` (8.6.1.2: each part "shall start with a boundary string,
followed by a Content-Type header field"), and, when ``Content-Length`` is
present, a value equal to the part's size.

With ``strict=True`` also a boundary of at most 70 characters (leniency
allows up to 200) and the exact PS3.18 8.6.1.2.1 grammar
``1*(DASH boundary CRLF part CRLF) DASH boundary DASH``: no preamble before
the first boundary, no transport padding after a boundary, at most a final
CRLF after the close delimiter, at least one part, Content-Type the first
header of each part, and parameter values that are not HTTP tokens (the
``type`` value always contains "/") quoted (8.7.1 "requires quote marks").
Without it, RFC 2046 leniency applies (preamble, padding, epilogue).

``require_location``: each part has a Content-Location (table 8.6.1-1: "shall
be present if the response payload contains a representation of a resource").
``require_length``: each part has Content-Length or Content-Encoding (table
8.6.1-1 and the 8.6.1.2.1 grammar).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Collection, Sequence

__all__ = ["MultipartError", "MediaType", "Part", "Multipart", "parse_media_type_strict",
           "parse_multipart", "expect_multipart"]

_TCHAR = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BCHAR = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_LONG_BCHAR = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,199}[0-9A-Za-z'()+_,\-./:=?]")
_FIELD_NAME = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


class MultipartError(AssertionError):
    """A payload broke a multipart rule; ``reason`` says which and where."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class MediaType:
    """A parsed media type: lower-cased ``type/subtype``, parameters (names lower-cased), which were quoted."""

    essence: str
    params: dict[str, str]
    quoted: frozenset[str]
    raw: str

    def param(self, name: str) -> str | None:
        return self.params.get(name.lower())


@dataclass
class Part:
    """One body part: its headers (in order, names as sent) and its payload bytes."""

    index: int  # 1-based
    headers: list[tuple[str, str]]
    body: bytes
    media_type: MediaType = field(repr=False)

    def header(self, name: str) -> str | None:
        """The first header named ``name`` (case-insensitive), or None."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    @property
    def content_type(self) -> str:
        return self.media_type.raw

    @property
    def location(self) -> str | None:
        return self.header("Content-Location")

    @property
    def transfer_syntax(self) -> str | None:
        return self.media_type.param("transfer-syntax")


@dataclass
class Multipart:
    """A parsed multipart/related payload."""

    media_type: MediaType
    boundary: str
    parts: list[Part]

    @property
    def root_type(self) -> MediaType:
        """The ``type`` parameter parsed as a media type."""
        return parse_media_type_strict(self.media_type.params["type"], what="the type parameter", strict=False)

    def __len__(self) -> int:
        return len(self.parts)

    def __iter__(self):
        return iter(self.parts)


def _quoted_string(text: str, i: int, what: str) -> tuple[str, int]:
    """Parse a quoted-string starting at text[i] == '"'; return (value, index after the closing quote)."""
    out = []
    i += 1
    while i < len(text):
        c = text[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\":
            if i + 1 >= len(text):
                break
            i += 1
            c = text[i]
        out.append(c)
        i += 1
    raise MultipartError(f"{what}: unterminated quoted-string in {text!r}")


def parse_media_type_strict(value: str, *, what: str = "Content-Type", strict: bool = True) -> MediaType:
    """Parse ``type/subtype *(OWS ";" OWS name=(token / quoted-string))`` (RFC 7231 3.1.1.1).

    With ``strict=False`` an unquoted value may hold non-token characters up to the next ';'
    (e.g. ``type=application/dicom``, which 8.7.1 says requires quote marks).
    """
    text = value.strip(" \t")
    m = re.match(r"([^/;\s]+)/([^;\s]+)", text)
    if not m or not _TCHAR.fullmatch(m.group(1)) or not _TCHAR.fullmatch(m.group(2)):
        raise MultipartError(f"{what}: {value!r} is not a media type (type/subtype)")
    essence = f"{m.group(1)}/{m.group(2)}".lower()
    params: dict[str, str] = {}
    quoted: set[str] = set()
    i = m.end()
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text):
            break
        if text[i] != ";":
            raise MultipartError(f"{what}: expected ';' before {text[i:i + 30]!r} in {value!r}")
        i += 1
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text):  # a trailing ';' is tolerated by RFC 7231's *( OWS ";" OWS [ parameter ] )
            break
        nm = _TCHAR.match(text, i)
        if not nm or nm.end() >= len(text) or text[nm.end()] != "=":
            raise MultipartError(f"{what}: malformed parameter at {text[i:i + 30]!r} in {value!r}")
        name = nm.group(0).lower()
        i = nm.end() + 1
        if i < len(text) and text[i] == '"':
            val, i = _quoted_string(text, i, what)
            quoted.add(name)
        else:
            end = text.find(";", i)
            end = len(text) if end < 0 else end
            val = text[i:end].rstrip(" \t")
            if strict and not _TCHAR.fullmatch(val):
                raise MultipartError(f"{what}: parameter {name}={val!r} is neither a token nor a quoted-string "
                                     f"(RFC 7231 3.1.1.1; PS3.18 8.7.1: the type value requires quote marks)")
            if not val:
                raise MultipartError(f"{what}: parameter {name!r} has an empty value in {value!r}")
            i = end
        if name in params:
            raise MultipartError(f"{what}: parameter {name!r} given twice in {value!r}")
        params[name] = val
    return MediaType(essence, params, frozenset(quoted), value)


def _check_boundary(boundary: str, strict: bool) -> None:
    if not strict and _LONG_BCHAR.fullmatch(boundary):  # e.g. 73 characters (some Orthanc versions)
        return
    if not _BCHAR.fullmatch(boundary):
        raise MultipartError(f"boundary {boundary!r} is not 1-70 bchars ending in a non-space "
                             "(RFC 2046 5.1.1, PS3.18 8.6.1.2.1)")


def _parse_headers(block: bytes, index: int, strict: bool) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    if not block:
        return headers
    for line in block.split(b"\r\n"):
        if b"\n" in line or b"\r" in line:
            raise MultipartError(f"part {index}: header line {line[:60]!r} not terminated by CRLF")
        if line[:1] in (b" ", b"\t"):
            raise MultipartError(f"part {index}: folded header line {line[:60]!r} (obs-fold, RFC 7230 3.2.4)")
        name, colon, value = line.partition(b":")
        if not colon or not _FIELD_NAME.fullmatch(name):
            raise MultipartError(f"part {index}: malformed header line {line[:60]!r} (expected 'Name: value')")
        try:
            text = value.decode("ascii") if strict else value.decode("latin-1")
        except UnicodeDecodeError:
            raise MultipartError(f"part {index}: non-ASCII header value in {line[:60]!r}") from None
        headers.append((name.decode("ascii"), text.strip(" \t")))
    return headers


def _make_part(raw: bytes, index: int, strict: bool, require_location: bool, require_length: bool) -> Part:
    end = raw.find(b"\r\n\r\n")
    if raw.startswith(b"\r\n"):
        head, body = b"", raw[2:]
    elif end < 0:
        raise MultipartError(f"part {index}: no empty line (CRLF CRLF) ends its header fields")
    else:
        head, body = raw[:end], raw[end + 4:]
    headers = _parse_headers(head, index, strict)
    names = [k.lower() for k, _ in headers]
    if "content-type" not in names:
        raise MultipartError(f"part {index}: no Content-Type header (PS3.18 8.6.1.2); headers: {names}")
    if strict and names[0] != "content-type":
        raise MultipartError(f"part {index}: the first header is {headers[0][0]!r}, not Content-Type "
                             "(PS3.18 8.6.1.2: the boundary is followed by a Content-Type header field)")
    for unique in ("content-type", "content-length", "content-location"):
        if names.count(unique) > 1:
            raise MultipartError(f"part {index}: {unique} header given {names.count(unique)} times")
    ctype = next(v for k, v in headers if k.lower() == "content-type")
    media = parse_media_type_strict(ctype, what=f"part {index} Content-Type", strict=strict)
    part = Part(index, headers, body, media)
    length = part.header("Content-Length")
    if length is not None:
        if not length.isdigit():
            raise MultipartError(f"part {index}: Content-Length {length!r} is not a non-negative integer")
        if int(length) != len(body):
            raise MultipartError(f"part {index}: Content-Length {length} but the part holds {len(body)} bytes")
    elif require_length and part.header("Content-Encoding") is None:
        raise MultipartError(f"part {index}: neither Content-Length nor Content-Encoding "
                             "(PS3.18 8.6.1.2.1, table 8.6.1-1)")
    if require_location and not part.location:
        raise MultipartError(f"part {index}: no Content-Location header (PS3.18 table 8.6.1-1)")
    return part


def parse_multipart(content_type: str | None, body: bytes, *, strict: bool = True, require_location: bool = False,
                    require_length: bool = False) -> Multipart:
    """Parse and check a multipart/related payload; see the module docstring for the rules."""
    if content_type is None:
        raise MultipartError("no Content-Type header")
    media = parse_media_type_strict(content_type, strict=strict)
    if media.essence != "multipart/related":
        raise MultipartError(f"Content-Type is {media.essence!r}, not multipart/related")
    if "type" not in media.params:
        raise MultipartError("Content-Type has no 'type' parameter (PS3.18 8.7.1: it is required)")
    parse_media_type_strict(media.params["type"], what="the type parameter", strict=strict)
    boundary = media.params.get("boundary")
    if boundary is None:
        raise MultipartError("Content-Type has no 'boundary' parameter")
    _check_boundary(boundary, strict)
    dash = b"--" + boundary.encode("ascii")
    delim = b"\r\n" + dash
    # First boundary: at offset 0 (strict) or after a preamble ending in CRLF (RFC 2046).
    if body.startswith(dash):
        pos = len(dash)
    elif strict:
        raise MultipartError(f"the payload does not start with '--{boundary}' "
                             f"(PS3.18 8.6.1.2.1 allows no preamble); it starts {body[:40]!r}")
    else:
        found = body.find(delim)
        if found < 0:
            raise MultipartError(f"no '--{boundary}' delimiter in the payload (starts {body[:40]!r})")
        pos = found + len(delim)
    parts: list[Part] = []
    while True:
        # After a boundary: '--' closes; else [transport padding] CRLF opens a part.
        if body.startswith(b"--", pos):
            rest = body[pos + 2:]
            if strict and rest not in (b"", b"\r\n"):
                raise MultipartError(f"{len(rest)} bytes after the close delimiter '--{boundary}--' "
                                     f"(PS3.18 8.6.1.2.1 ends with it): {rest[:40]!r}")
            if not strict and rest and not rest.lstrip(b" \t").startswith(b"\r\n"):
                raise MultipartError(f"close delimiter not followed by CRLF: {rest[:40]!r}")
            break
        line_end = pos
        while line_end < len(body) and body[line_end] in b" \t":
            line_end += 1
        if strict and line_end != pos:
            raise MultipartError(f"transport padding after boundary {len(parts) + 1} "
                                 "(PS3.18 8.6.1.2.1: DASH boundary CRLF)")
        if not body.startswith(b"\r\n", line_end):
            if line_end >= len(body):
                raise MultipartError(f"the payload ends after {len(parts)} part(s) without the close delimiter "
                                     f"'--{boundary}--'")
            raise MultipartError(f"boundary {len(parts) + 1} is followed by {body[line_end:line_end + 20]!r}, "
                                 "not CRLF or '--'")
        start = line_end + 2
        if body.startswith(dash, start):
            raise MultipartError(f"part {len(parts) + 1} is empty (a boundary line directly follows a boundary)")
        nxt = body.find(delim, start)
        if nxt < 0:
            raise MultipartError(f"part {len(parts) + 1} is not ended by a delimiter 'CRLF--{boundary}' "
                                 "(truncated payload or missing close delimiter)")
        parts.append(_make_part(body[start:nxt], len(parts) + 1, strict, require_location, require_length))
        pos = nxt + len(delim)
    if strict and not parts:
        raise MultipartError("no body parts (PS3.18 8.6.1.2.1: 1*(DASH boundary CRLF part CRLF))")
    return Multipart(media, boundary, parts)


def _essences(types: str | Collection[str]) -> set[str]:
    items = [types] if isinstance(types, str) else list(types)
    return {t.split(";", 1)[0].strip().lower() for t in items}


def expect_multipart(response: Any, *, req: str | Sequence[str] | None = None, root_type: str | None = None,
                     part_types: str | Collection[str] | None = None, strict: bool = False,
                     require_location: bool = False, require_length: bool = False) -> Multipart:
    """Parse ``response`` as multipart/related in a conformance test; fail through ``expect.fail``.

    Lenient by default (RFC 2046 framing), so that content checks fail only for content;
    a syntax test passes ``strict=True``.
    """
    from dicomweb_conformance import expect

    try:
        mp = parse_multipart(response.headers.get("Content-Type"), response.content, strict=strict,
                             require_location=require_location, require_length=require_length)
    except MultipartError as exc:
        grammar = "PS3.18 8.6.1.2.1 grammar" if strict else "RFC 2046 framing"
        expect.fail(req=req, what="multipart/related payload (PS3.18 8.6.1.2, 8.7.1)",
                    expected=f"a well-formed payload ({grammar})", actual=exc.reason, response=response)
    if root_type is not None:
        got = mp.root_type.essence
        expect.equal(got, root_type.split(";")[0].strip().lower(), req=req, response=response,
                     what="type parameter of the multipart/related Content-Type")
    if part_types is not None:
        allowed = _essences(part_types)
        for part in mp.parts:
            expect.that(part.media_type.essence in allowed, req=req, response=response,
                        what=f"Content-Type of part {part.index}", expected=" or ".join(sorted(allowed)),
                        actual=part.content_type)
    return mp
