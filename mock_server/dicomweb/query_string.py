"""The one decoder of a request's query component (PS3.18 8.3.1).

PS3.18 8.3.1 builds a qp-value from RFC 3986 query characters: ``qp-char = unreserved /
pct-encoded / qp-special``, and ``qp-special`` includes ``"+"``.  RFC 3986 3.4 gives ``+`` no
other meaning in a query, so it is a literal plus (``TimezoneOffsetFromUTC=+0100``,
``accept=application/dicom+json``); a space is sent as ``%20``.  HTML form decoding (``+`` as a
space, what ``request.args`` does) does not apply to DICOMweb Query Parameters.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from ..errors import HttpError

__all__ = ["query_pairs", "query_values"]


def _pieces(query_string: bytes) -> list[tuple[bytes, bytes]]:
    """The ``&``-separated parameters: (name, value), percent-decoded to bytes."""
    pieces = []
    for piece in query_string.split(b"&"):
        if piece:
            name, _, value = piece.partition(b"=")
            pieces.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pieces


def _utf8(name: bytes, *texts: bytes) -> list[str]:
    try:
        return [text.decode("utf-8") for text in texts]
    except UnicodeDecodeError:
        label = name.decode("utf-8", "replace")[:64]
        raise HttpError(400, f"query parameter {label!r}: the value is not percent-encoded UTF-8 "
                             "(PS3.18 8.3.1)") from None


def query_pairs(query_string: bytes) -> list[tuple[str, str]]:
    """``(name, value)`` of each parameter, in order, percent-decoded as UTF-8.

    A parameter that is not UTF-8 once decoded is a 400 naming it.
    """
    pairs = []
    for name, value in _pieces(query_string):
        decoded_name, decoded_value = _utf8(name, name, value)
        pairs.append((decoded_name, decoded_value))
    return pairs


def query_values(query_string: bytes, name: str) -> list[str]:
    """Every value of the parameter ``name``, in order (other parameters are not decoded)."""
    key = name.encode("utf-8")
    return [_utf8(key, value)[0] for raw, value in _pieces(query_string) if raw == key]
