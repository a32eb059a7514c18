"""Media type constants and media-type syntax helpers (PS3.18 2019a section 8.7).

Constants cover the DICOM media types (8.7.3, 8.7.3.5), the Rendered media
types (table 8.7.4-1), and the Bulkdata media types with their Transfer
Syntax UIDs (tables 8.7.3-4 and 8.7.3-5). The DICOM 2014a WADO-RS forms
(``image/dicom+jpeg`` ...) and the experimental names of 8.7.3.3.2 note 8
(``image/x-dicom-rle``, ``image/x-jls``) are mapped to the current names.

``parse_media_type`` / ``format_media_type`` implement the media-type grammar
of 8.7 (``type "/" subtype *(OWS ";" OWS mtp-name "=" mtp-value)``), with one
deliberate leniency: an unquoted parameter value may contain "/" so that the
widespread form ``multipart/related; type=application/dicom`` is understood.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from .uids import (DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, JPEG_2000,
                   JPEG_2000_LOSSLESS, JPEG_2000_MC, JPEG_2000_MC_LOSSLESS, JPEG_BASELINE, JPEG_EXTENDED_12BIT,
                   JPEG_LOSSLESS, JPEG_LOSSLESS_SV1, JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS,
                   MPEG2_MAIN_PROFILE_HIGH_LEVEL, MPEG2_MAIN_PROFILE_MAIN_LEVEL, MPEG4_HP41, MPEG4_HP41_BD,
                   MPEG4_HP42_2D, MPEG4_HP42_3D, MPEG4_HP42_STEREO, RLE_LOSSLESS)

# -- DICOM media types (8.7.3.5) ---------------------------------------------
APPLICATION_DICOM = "application/dicom"
APPLICATION_DICOM_JSON = "application/dicom+json"
APPLICATION_DICOM_XML = "application/dicom+xml"
APPLICATION_OCTET_STREAM = "application/octet-stream"
MULTIPART_RELATED = "multipart/related"

#: DICOM Media Types (8.7.3.5 dcm-mt-name plus octet-stream of dcm-mp-mt-name).
DICOM_MEDIA_TYPES: frozenset[str] = frozenset(
    {APPLICATION_DICOM, APPLICATION_DICOM_JSON, APPLICATION_DICOM_XML, APPLICATION_OCTET_STREAM}
)

# -- Rendered media types (table 8.7.4-1) -------------------------------------
IMAGE_JPEG = "image/jpeg"
IMAGE_GIF = "image/gif"
IMAGE_PNG = "image/png"
IMAGE_JP2 = "image/jp2"
VIDEO_MPEG = "video/mpeg"
VIDEO_MP4 = "video/mp4"
VIDEO_H265 = "video/h265"  # written "video/H265" in the table; types are case-insensitive
TEXT_HTML = "text/html"
TEXT_PLAIN = "text/plain"
TEXT_XML = "text/xml"
TEXT_RTF = "text/rtf"
APPLICATION_PDF = "application/pdf"

RENDERED_MEDIA_TYPES: frozenset[str] = frozenset(
    {
        IMAGE_JPEG, IMAGE_GIF, IMAGE_PNG, IMAGE_JP2,
        VIDEO_MPEG, VIDEO_MP4, VIDEO_H265,
        TEXT_HTML, TEXT_PLAIN, TEXT_XML, TEXT_RTF, APPLICATION_PDF,
    }
)

# -- Bulkdata media types (tables 8.7.3-4 and 8.7.3-5) -----------------------
IMAGE_JLS = "image/jls"
IMAGE_JPX = "image/jpx"
IMAGE_DICOM_RLE = "image/dicom-rle"
VIDEO_MPEG2 = "video/mpeg2"

# DICOM 2014a WADO-RS names and pre-standard names (8.7.3.3.2 note 8).
IMAGE_DICOM_JPEG_2014 = "image/dicom+jpeg"
IMAGE_DICOM_JPEG_LS_2014 = "image/dicom+jpeg-ls"
IMAGE_DICOM_JP2_2014 = "image/dicom+jp2"
IMAGE_DICOM_JPX_2014 = "image/dicom+jpx"
IMAGE_DICOM_RLE_2014 = "image/dicom+rle"
IMAGE_X_DICOM_RLE = "image/x-dicom-rle"
IMAGE_X_JLS = "image/x-jls"

#: Legacy / alternative names -> current 2019a Bulkdata media type.
MEDIA_TYPE_ALIASES: Mapping[str, str] = {
    IMAGE_DICOM_JPEG_2014: IMAGE_JPEG,
    IMAGE_DICOM_JPEG_LS_2014: IMAGE_JLS,
    IMAGE_DICOM_JP2_2014: IMAGE_JP2,
    IMAGE_DICOM_JPX_2014: IMAGE_JPX,
    IMAGE_DICOM_RLE_2014: IMAGE_DICOM_RLE,
    IMAGE_X_DICOM_RLE: IMAGE_DICOM_RLE,
    IMAGE_X_JLS: IMAGE_JLS,
}

#: Default Transfer Syntax of DICOM payloads (8.7.3.4).
DEFAULT_TRANSFER_SYNTAX = EXPLICIT_VR_LE

#: "shall not be used with Web Services" (8.7.3, 8.7.3.4).
FORBIDDEN_TRANSFER_SYNTAXES: frozenset[str] = frozenset(
    {IMPLICIT_VR_LE, EXPLICIT_VR_BE}
)

#: Bulkdata media type -> Transfer Syntax UIDs; the first one is the default
#: ("D" in tables 8.7.3-4 / 8.7.3-5), the others are optional ("O").
BULKDATA_TRANSFER_SYNTAXES: Mapping[str, tuple[str, ...]] = {
    APPLICATION_OCTET_STREAM: (EXPLICIT_VR_LE,),
    IMAGE_JPEG: (JPEG_LOSSLESS_SV1, JPEG_BASELINE, JPEG_EXTENDED_12BIT, JPEG_LOSSLESS),
    IMAGE_DICOM_RLE: (RLE_LOSSLESS,),
    IMAGE_JLS: (JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS),
    IMAGE_JP2: (JPEG_2000_LOSSLESS, JPEG_2000),
    IMAGE_JPX: (JPEG_2000_MC_LOSSLESS, JPEG_2000_MC),
    VIDEO_MPEG2: (MPEG2_MAIN_PROFILE_HIGH_LEVEL, MPEG2_MAIN_PROFILE_MAIN_LEVEL),
    VIDEO_MP4: (MPEG4_HP41, MPEG4_HP41_BD, MPEG4_HP42_2D, MPEG4_HP42_3D, MPEG4_HP42_STEREO),
}

#: Default Transfer Syntax per Bulkdata media type.
BULKDATA_DEFAULT_TRANSFER_SYNTAX: Mapping[str, str] = {
    mt: uids[0] for mt, uids in BULKDATA_TRANSFER_SYNTAXES.items()
}

#: Transfer Syntax UID -> Bulkdata media type (inverse of the tables above).
TRANSFER_SYNTAX_BULKDATA_MEDIA_TYPE: Mapping[str, str] = {
    uid: mt for mt, uids in BULKDATA_TRANSFER_SYNTAXES.items() for uid in uids
}

#: Transfer Syntaxes listed for application/dicom in table 8.7.3-2.
APPLICATION_DICOM_TRANSFER_SYNTAXES: tuple[str, ...] = (
    EXPLICIT_VR_LE,
    JPEG_LOSSLESS_SV1, JPEG_BASELINE, JPEG_EXTENDED_12BIT, JPEG_LOSSLESS,
    RLE_LOSSLESS, JPEG_LS_LOSSLESS, JPEG_LS_NEAR_LOSSLESS,
    JPEG_2000_LOSSLESS, JPEG_2000, JPEG_2000_MC_LOSSLESS, JPEG_2000_MC,
    MPEG2_MAIN_PROFILE_MAIN_LEVEL, MPEG2_MAIN_PROFILE_HIGH_LEVEL,
    MPEG4_HP41, MPEG4_HP41_BD, MPEG4_HP42_2D, MPEG4_HP42_3D, MPEG4_HP42_STEREO,
)

#: Uncompressed Transfer Syntaxes whose Bulkdata is application/octet-stream (8.7.3.3.1).
UNCOMPRESSED_TRANSFER_SYNTAXES: frozenset[str] = frozenset(
    {
        EXPLICIT_VR_LE, IMPLICIT_VR_LE,
        EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE,
    }
)


def canonical_media_type(media_type: str) -> str:
    """Lower-case ``type/subtype`` and map legacy Bulkdata names to 2019a names."""
    mt = media_type.strip().lower()
    return MEDIA_TYPE_ALIASES.get(mt, mt)


def bulkdata_media_type(transfer_syntax_uid: str) -> str | None:
    """Bulkdata media type carrying pixel data of ``transfer_syntax_uid`` (8.7.3.3).

    Uncompressed (and deflated) syntaxes map to application/octet-stream;
    unknown UIDs give None.
    """
    if transfer_syntax_uid in UNCOMPRESSED_TRANSFER_SYNTAXES:
        return APPLICATION_OCTET_STREAM
    return TRANSFER_SYNTAX_BULKDATA_MEDIA_TYPE.get(transfer_syntax_uid)


def bulk_media_type_for(transfer_syntax_uid: str) -> tuple[str, ...]:
    """Every media type name a Bulkdata part in ``transfer_syntax_uid`` may be
    requested as: the 2019a name first, then 2014a / experimental aliases.
    Empty for an unknown UID."""
    current = bulkdata_media_type(transfer_syntax_uid)
    if current is None:
        return ()
    return (current, *(alias for alias, target in MEDIA_TYPE_ALIASES.items() if target == current))


# -- media-type syntax (8.7) ---------------------------------------------------
class MediaTypeSyntaxError(ValueError):
    """A media type string does not follow the 8.7 grammar."""


_TOKEN_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def is_token(value: str) -> bool:
    """True if ``value`` is an RFC 7230 token."""
    return bool(_TOKEN_RE.match(value))


def _split_outside_quotes(text: str, sep: str) -> tuple[list[str], bool]:
    """Split ``text`` on ``sep`` outside quoted strings; also report an unterminated quote."""
    pieces: list[str] = []
    cur: list[str] = []
    in_quotes = False
    escaped = False
    for ch in text:
        if in_quotes:
            cur.append(ch)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quotes = False
        elif ch == '"':
            in_quotes = True
            cur.append(ch)
        elif ch == sep:
            pieces.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    pieces.append("".join(cur))
    return pieces, in_quotes


def split_params(text: str) -> list[str]:
    """Split on ';' outside quoted strings; MediaTypeSyntaxError on an unterminated quote."""
    pieces, unterminated = _split_outside_quotes(text, ";")
    if unterminated:
        raise MediaTypeSyntaxError("unterminated quoted string in media type")
    return pieces


def split_list(text: str) -> list[str]:
    """Elements of a comma-separated header list (RFC 7230 7 ``#rule``), empty ones dropped.

    Commas inside quoted strings do not split; an unterminated quote makes the
    rest of the value a single (invalid) element, earlier elements are kept.
    """
    pieces, _ = _split_outside_quotes(text, ",")
    return [p.strip() for p in pieces if p.strip()]


def _unquote(value: str) -> str | None:
    """Decode a quoted-string that must span all of ``value``; None if it does not."""
    out: list[str] = []
    i = 1
    while i < len(value):
        ch = value[i]
        if ch == "\\":
            if i + 1 >= len(value):
                return None
            out.append(value[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out) if i == len(value) - 1 else None
        out.append(ch)
        i += 1
    return None


def _is_bare_value(value: str) -> bool:
    return bool(value) and all(0x21 <= ord(c) < 0x7F and c not in '",;\\' for c in value)


def parse_params(pieces: Iterable[str]) -> list[tuple[str, str]]:
    """Parse ``name=value`` pieces (already split on ';') into ordered pairs.

    Names are lower-cased; quoted values are unquoted. Empty pieces (``;;``)
    are skipped. Raises MediaTypeSyntaxError on a piece without "=", an
    invalid name, an empty or a partly quoted value.
    """
    result: list[tuple[str, str]] = []
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        name, sep, value = piece.partition("=")
        name = name.strip().lower()
        value = value.strip()
        if not sep or not is_token(name):
            raise MediaTypeSyntaxError(f"malformed media type parameter {piece!r}")
        if value.startswith('"'):
            unquoted = _unquote(value)
            if unquoted is None:
                raise MediaTypeSyntaxError(f"malformed quoted value in parameter {name!r}")
            value = unquoted
        elif not _is_bare_value(value):
            raise MediaTypeSyntaxError(f"malformed value in parameter {name!r}")
        result.append((name, value))
    return result


def parse_media_type(value: str) -> tuple[str, dict[str, str]]:
    """Parse ``type/subtype; name=value ...`` into (lower-cased type/subtype, params).

    Both parts of type/subtype must be tokens ("*" is a token). Parameter
    names are lower-cased, values unquoted and kept verbatim. A repeated
    parameter name is an error (RFC 6838; 8.7.3.5.2 note).
    """
    pieces = split_params(value)
    full = pieces[0].strip().lower()
    type_, sep, subtype = full.partition("/")
    if not sep or not is_token(type_) or not is_token(subtype):
        raise MediaTypeSyntaxError(f"malformed media type {pieces[0].strip()!r}")
    params: dict[str, str] = {}
    for name, val in parse_params(pieces[1:]):
        if name in params:
            raise MediaTypeSyntaxError(f"parameter {name!r} given more than once")
        params[name] = val
    return full, params


def format_param_value(value: str, *, force_quotes: bool = False) -> str:
    """A token as is, anything else as a quoted-string. CR/LF are rejected."""
    if "\r" in value or "\n" in value:
        raise ValueError("media type parameter value contains CR or LF")
    if is_token(value) and not force_quotes:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_media_type(media_type: str, params: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> str:
    """Build ``type/subtype; name=value`` quoting values as needed (8.7).

    A ``type`` parameter is always quoted because it contains "/" (8.7.1).
    """
    items = params.items() if isinstance(params, Mapping) else params
    out = [media_type]
    for name, value in items:
        if not is_token(name):
            raise ValueError(f"invalid media type parameter name {name!r}")
        out.append(f"{name}={format_param_value(value, force_quotes=name.lower() == 'type')}")
    return "; ".join(out)
