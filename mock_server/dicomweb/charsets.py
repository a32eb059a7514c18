"""Character sets of responses (PS3.18 8.8): the charset Query Parameter, Accept-Charset, selection.

* The mock encodes every text representation in UTF-8: DICOM JSON must be UTF-8 (Annex F.2),
  DICOM XML is written as UTF-8, and values stored in other character sets (ISO 2022, GB18030,
  ISO 8859) are transcoded, which covers every glyph.  So UTF-8 is the one supported charset,
  named by its IANA name or by the DICOM Defined Term ``ISO_IR 192`` (8.8).
* ``charset`` Query Parameter (8.3.3.2): "If this parameter has a value that is not a valid or
  supported character set, the origin server shall return a 400 (Bad Request)"; it takes no
  wildcard.
* Accept-Charset (8.8.4) and a ``charset`` media type parameter (8.7.3.5.3): values that are not
  valid or not supported "shall be ignored" (8.8.1, 8.8.4).
* :func:`selected_charset` follows the steps of 8.8.5; with UTF-8 the only supported charset,
  the transcoding it asks for is always possible and 406 never arises.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import HttpError

__all__ = ["SUPPORTED_CHARSETS", "UTF_8", "parse_charset_list", "selected_charset"]

UTF_8 = "UTF-8"
#: Supported charset names (case-insensitive) -> the charset they name.
SUPPORTED_CHARSETS = {"utf-8": UTF_8, "iso_ir 192": UTF_8}

# charset = token / defined-term / DQ defined-term DQ; weight = OWS ";" OWS "q=" qvalue (8.8, RFC 7231 5.3.1)
_ENTRY = re.compile(r"""^[ \t]*(?:"([A-Za-z0-9_ .-]+)"|([!#$%&'*+.^_`|~0-9A-Za-z -]+?))[ \t]*"""
                    r"""(?:;[ \t]*[qQ]=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?))?[ \t]*$""")


def parse_charset_list(value: str, *, skip_invalid: bool = False) -> list[tuple[str, float]] | None:
    """``[(name, weight), ...]`` of a comma-separated charset list; an entry that is not valid makes it
    None, or is left out with ``skip_invalid``."""
    entries = []
    for item in value.split(","):
        match = _ENTRY.match(item)
        if match is None:
            if skip_invalid:
                continue
            return None
        name = (match.group(1) or match.group(2)).strip()
        entries.append((name, float(match.group(3)) if match.group(3) is not None else 1.0))
    return entries


def _supported(name: str) -> str | None:
    return SUPPORTED_CHARSETS.get(name.lower())


def _best(entries: Iterable[tuple[str, float]], *, wildcard: bool) -> str | None:
    """The supported charset of highest weight (ties: the first listed); ``*`` stands for any."""
    ranked = sorted(((w, i, n) for i, (n, w) in enumerate(entries) if w > 0), key=lambda e: (-e[0], e[1]))
    for _, _, name in ranked:
        if wildcard and name == "*":
            return UTF_8
        if _supported(name):
            return _supported(name)
    return None


def _query_charsets(values: list[str]) -> list[tuple[str, float]]:
    """The charset Query Parameter values; 400 for an invalid or unsupported one (8.3.3.2)."""
    entries = []
    for value in values:
        parsed = parse_charset_list(value)
        if parsed is None or any(name == "*" for name, _ in parsed):
            raise HttpError(400, f"charset={value[:100]!r} is not a valid charset list "
                                 "(PS3.18 8.3.3.2: comma-separated charsets with optional weights, no wildcard)")
        for name, _ in parsed:
            if _supported(name) is None:
                raise HttpError(400, f"charset {name[:64]!r} is not supported; this server encodes text in UTF-8 "
                                     "(PS3.18 8.3.3.2)")
        entries += parsed
    return entries


def selected_charset(query_values: list[str], accept_charset: str | None, media_charset: str | None = None) -> str:
    """The Selected Character Set (PS3.18 8.8.5) of a response whose media type defaults to UTF-8.

    ``query_values``: the ``charset`` Query Parameter values; ``accept_charset``: the header field;
    ``media_charset``: the charset parameter of the Selected Media Type's media range, if any.
    """
    query = _query_charsets(query_values)
    if media_charset is not None and _supported(media_charset.strip('"')):  # 1. the media type's parameter
        return _supported(media_charset.strip('"')) or UTF_8
    chosen = _best(query, wildcard=False)  # 2. the Query Parameter
    if chosen is None and accept_charset:  # 3. Accept-Charset; invalid values ignored (8.8.4)
        chosen = _best(parse_charset_list(accept_charset, skip_invalid=True) or [], wildcard=True)
    return chosen or UTF_8  # 4. the media type's default (UTF-8 for DICOM media types), 5. UTF-8
