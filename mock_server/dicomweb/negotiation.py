"""Content negotiation for DICOMweb responses (PS3.18 2019a 8.3.3.1, 8.7.5-8.7.8).

``parse_accept`` turns an Accept header field (or Accept Query Parameter)
into ``MediaRange`` objects, dropping entries that are not valid (8.7.7: such
values "shall be ignored"). ``negotiate`` picks the representation to return
among the server's ``Offer`` objects following 8.7.8.1 / RFC 7231 5.3:

* each candidate gets the qvalue of the most specific media range matching it;
  the highest qvalue wins, ties go to a candidate matched without wildcards,
  then to the ``default`` offer ("*/*" matches the default media type, 8.7.7),
  then to the order of ``offers`` (server preference);
* the Accept Query Parameter (if given) is prioritized before the header;
* a missing or blank Accept selects ``default`` (``require_accept=True``
  gives the strict 8.7.5 behaviour: 406);
* DICOM and Rendered media types in the same request give 400 (8.7.5, 8.3.3.1);
* no acceptable offer gives 406 (8.7.8.1 step 5).

A ``transfer-syntax`` media type parameter (8.7.3.5.2) selects among the
Transfer Syntaxes of an offer: a range without it means the default Transfer
Syntax (8.7.8.2), ``*`` means any (e.g. "as stored"), a UID must be one the
offer lists. The DICOM 2014a multipart forms such as
``multipart/related; type=image/dicom+jpeg`` are matched as their 2019a
equivalents (``image/jpeg``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import HttpError
from .media_types import (
    DICOM_MEDIA_TYPES,
    MULTIPART_RELATED,
    RENDERED_MEDIA_TYPES,
    MediaTypeSyntaxError,
    canonical_media_type,
    is_token,
    parse_params,
    split_list,
    split_params,
)

#: Parameters that never restrict matching (they describe the packaging or a
#: charset preference the handler may read from ``Choice.media_range``).
IGNORED_PARAMS = frozenset({"boundary", "charset", "start", "start-info"})
_QVALUE_RE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")


class NegotiationError(HttpError):
    """Negotiation failed; ``status`` is the HTTP status, ``reason`` a one-line text."""

    status: int = 406

    def __init__(self, reason: str) -> None:
        super().__init__(type(self).status, reason)


class NotAcceptable(NegotiationError):
    """406: nothing the server can produce is acceptable (8.7.8.1 step 5, 8.7.5)."""

    status = 406


class MixedCategories(NegotiationError):
    """400: DICOM and Rendered media types requested together (8.7.5, 8.3.3.1)."""

    status = 400


@dataclass(frozen=True)
class MediaRange:
    """One entry of an Accept list. ``type``/``subtype`` lower-cased ("*" allowed);
    ``params`` holds the media type parameters (names lower-cased, values
    unquoted; accept-extensions after ``q`` are dropped)."""

    type: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict, hash=False)
    q: float = 1.0

    @property
    def media_type(self) -> str:
        return f"{self.type}/{self.subtype}"

    @property
    def part_type(self) -> str | None:
        """Canonical media type of the ``type`` parameter (multipart root type)."""
        value = self.params.get("type")
        return canonical_media_type(value) if value is not None else None

    @property
    def transfer_syntax(self) -> str | None:
        return self.params.get("transfer-syntax")

    @property
    def is_wildcard(self) -> bool:
        return self.type == "*" or self.subtype == "*"

    def __str__(self) -> str:
        extra = "".join(f"; {k}={v}" for k, v in self.params.items())
        return f"{self.media_type}{extra}" + (f"; q={self.q:g}" if self.q != 1.0 else "")


@dataclass(frozen=True)
class Offer:
    """A representation family the server can produce.

    ``part_type`` is the root/part media type of a multipart offer.
    ``transfer_syntaxes`` lists the Transfer Syntax UIDs the server can encode
    this media type in, the default first; empty means the media type takes no
    transfer-syntax parameter (e.g. rendered or JSON). ``transfer_syntax`` is
    a shorthand for a single (default) UID; after construction it always holds
    ``transfer_syntaxes[0]`` (or None). ``params`` are further media type
    parameters that an Accept entry naming them must match. Media types are
    normalized (lower-case, 2014a names mapped to 2019a).
    """

    media_type: str
    part_type: str | None = None
    transfer_syntax: str | None = None
    transfer_syntaxes: tuple[str, ...] = ()
    params: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "media_type", canonical_media_type(self.media_type))
        if self.part_type is not None:
            set_(self, "part_type", canonical_media_type(self.part_type))
        ts = self.transfer_syntaxes
        uids = (ts,) if isinstance(ts, str) else tuple(ts)
        if self.transfer_syntax is not None:
            uids = (self.transfer_syntax, *(u for u in uids if u != self.transfer_syntax))
        set_(self, "transfer_syntaxes", uids)
        set_(self, "transfer_syntax", uids[0] if uids else None)
        params = self.params.items() if isinstance(self.params, Mapping) else self.params
        set_(self, "params", tuple((k.lower(), v) for k, v in params))
        if "/" not in self.media_type:
            raise ValueError(f"invalid offer media type {self.media_type!r}")

    @property
    def default_transfer_syntax(self) -> str | None:
        return self.transfer_syntaxes[0] if self.transfer_syntaxes else None

    @property
    def family(self) -> tuple[str, str | None, tuple[tuple[str, str], ...]]:
        """The offer without its Transfer Syntaxes."""
        return (self.media_type, self.part_type, self.params)


@dataclass(frozen=True)
class Choice:
    """Result of negotiation.

    ``transfer_syntax`` is the requested Transfer Syntax: an explicit UID from
    ``offer.transfer_syntaxes``, ``"*"`` (any: the handler may keep the stored
    one) or None (the default Transfer Syntax, 8.7.8.2). ``media_range`` is
    the Accept entry that selected the offer (None when ``default`` was used
    because no Accept was given); ``source`` is "query", "header" or "default".
    """

    offer: Offer
    transfer_syntax: str | None
    q: float
    media_range: MediaRange | None
    source: str

    @property
    def media_type(self) -> str:
        return self.offer.media_type

    @property
    def part_type(self) -> str | None:
        return self.offer.part_type

    def resolve_transfer_syntax(self, stored: str | None = None) -> str | None:
        """The Transfer Syntax to encode in: explicit UID as is; for ``"*"`` the
        ``stored`` one if the offer lists it; otherwise the offer default."""
        if self.transfer_syntax not in (None, "*"):
            return self.transfer_syntax
        if self.transfer_syntax == "*" and stored in self.offer.transfer_syntaxes:
            return stored
        return self.offer.default_transfer_syntax


# ------------------------------------------------------------------ parsing
def _parse_entry(entry: str) -> MediaRange:
    pieces = split_params(entry)
    type_, sep, subtype = pieces[0].strip().lower().partition("/")
    if not sep or not is_token(type_) or not is_token(subtype) or (type_ == "*" and subtype != "*"):
        raise MediaTypeSyntaxError(f"invalid media range {pieces[0].strip()!r}")
    q = 1.0
    kept: dict[str, str] = {}
    for piece in pieces[1:]:
        for name, value in parse_params([piece]):
            if name == "q":
                if not _QVALUE_RE.match(value):
                    raise MediaTypeSyntaxError(f"invalid qvalue {value!r}")
                # Everything after the weight is an accept-extension: ignored.
                return MediaRange(type_, subtype, kept, float(value))
            if name in kept:
                raise MediaTypeSyntaxError(f"parameter {name!r} given more than once")
            kept[name] = value.lower() if name == "type" else value
    return MediaRange(type_, subtype, kept, q)


def parse_accept(value: str | None, *, allow_wildcards: bool = True) -> list[MediaRange]:
    """Valid media ranges of an Accept value, in the given order.

    Invalid entries (bad syntax, bad qvalue, repeated parameter, and wildcards
    when ``allow_wildcards`` is False, as for the Accept Query Parameter
    8.3.3.1) are dropped (8.7.7). Entries with q=0 are kept: they mark media
    types as not acceptable.
    """
    if not value:
        return []
    ranges: list[MediaRange] = []
    for entry in split_list(value):
        try:
            rng = _parse_entry(entry)
        except MediaTypeSyntaxError:
            continue
        if rng.is_wildcard and not allow_wildcards:
            continue
        ranges.append(rng)
    return ranges


# ------------------------------------------------------------ categories
def media_range_category(rng: MediaRange) -> str | None:
    """"dicom" for DICOM media types (8.7.3.5, any multipart/related),
    "rendered" for table 8.7.4-1 types, None for wildcards and unknown types."""
    mt = canonical_media_type(rng.media_type)
    if mt == MULTIPART_RELATED or mt in DICOM_MEDIA_TYPES:
        return "dicom"
    if mt in RENDERED_MEDIA_TYPES:
        return "rendered"
    return None


def check_categories(ranges: Sequence[MediaRange]) -> None:
    """Raise MixedCategories if acceptable (q > 0) ranges hold both DICOM and
    Rendered media types (8.7.5; 8.3.3.1 for the Accept Query Parameter)."""
    found: dict[str, MediaRange] = {}
    for rng in ranges:
        cat = media_range_category(rng) if rng.q > 0 else None
        if cat is not None:
            found.setdefault(cat, rng)
    if len(found) == 2:
        raise MixedCategories(
            f"Acceptable Media Types mix DICOM ({found['dicom'].media_type}) "
            f"and Rendered ({found['rendered'].media_type}) media types"
        )


# ------------------------------------------------------------- matching
def _type_matches(pattern: str, media_type: str) -> bool:
    p_type, _, p_sub = pattern.partition("/")
    m_type, _, m_sub = media_type.partition("/")
    return p_type in ("*", m_type) and p_sub in ("*", m_sub)


def _level(media_type: str | None) -> int:
    """2 for a concrete type (or none given), 1 for "type/*", 0 for "*/*"."""
    if media_type is None:
        return 2
    type_, _, subtype = media_type.partition("/")
    return 0 if type_ == "*" else 1 if subtype == "*" else 2


def _specificity(rng: MediaRange, offer: Offer, ts_key: str | None,
                 known_params: frozenset[str] | None = None) -> int | None:
    """Specificity of ``rng`` if it matches (offer, ts_key), else None (RFC 7231 5.3.2)."""
    if not _type_matches(canonical_media_type(rng.media_type), offer.media_type):
        return None
    if rng.transfer_syntax != ts_key:
        return None
    spec = _level(rng.media_type)
    part = rng.part_type
    if part is not None:
        if offer.part_type is None or not _type_matches(part, offer.part_type):
            return None
        spec += 1
    if ts_key is not None:
        spec += 1
    offer_params = dict(offer.params)
    for name, value in rng.params.items():
        if name in ("type", "transfer-syntax") or name in IGNORED_PARAMS:
            continue
        if known_params is not None and name not in known_params:
            # PS3.18 8.7.7: media type parameters that no offer supports are ignored.
            continue
        have = offer_params.get(name)
        if have is None or have.lower() != value.lower():
            return None
        spec += 1
    return spec


def _rank(ranges: Sequence[MediaRange], offers: Sequence[Offer], default: Offer | None, source: str) -> list[Choice]:
    """All (offer, transfer syntax) candidates with q > 0, best first."""
    scored: list[tuple[tuple[Any, ...], Choice]] = []
    families: set[tuple[Any, ...]] = set()
    known_params = frozenset(name for o in offers for name, _ in o.params)
    for idx, offer in enumerate(offers):
        # "default" and "*" requests go to the first offer of a family (several
        # offers may differ only by Transfer Syntax); explicit UIDs to any.
        first_of_family = offer.family not in families
        families.add(offer.family)
        keys: list[str | None] = [None] if first_of_family else []
        if offer.transfer_syntaxes:
            keys += (["*"] if first_of_family else []) + list(offer.transfer_syntaxes)
        for kidx, key in enumerate(keys):
            best: tuple[int, float, MediaRange] | None = None
            for rng in ranges:
                spec = _specificity(rng, offer, key, known_params)
                if spec is None:
                    continue
                if best is None or spec > best[0] or (spec == best[0] and rng.q > best[1]):
                    best = (spec, rng.q, rng)
            if best is None or best[1] <= 0:
                continue
            _, q, rng = best
            key_rank = 0 if key is None else 1 if key == "*" else 2
            sort_key = (
                -q,
                -_level(rng.media_type),
                -_level(rng.part_type),
                0 if offer == default else 1,
                idx,
                -key_rank,
                kidx,
            )
            scored.append((sort_key, Choice(offer, key, q, rng, source)))
    scored.sort(key=lambda item: item[0])
    result: list[Choice] = []
    seen: set[tuple[Any, ...]] = set()
    for _, choice in scored:
        ident = (choice.offer.family, choice.transfer_syntax)
        if ident not in seen:
            seen.add(ident)
            result.append(choice)
    return result


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def acceptable_choices(
    accept_header: str | None,
    offers: Sequence[Offer],
    *,
    default: Offer | None = None,
    accept_query: str | None = None,
    require_accept: bool = False,
    reject_mixed: bool = True,
) -> list[Choice]:
    """Every acceptable (offer, transfer syntax) pair, most preferred first.

    Choices from ``accept_query`` (the "accept" Query Parameter, 8.3.3.1;
    wildcards not allowed there) come before those from the header (8.7.8.1
    steps 2-3). A missing or blank header selects ``default`` unless
    ``require_accept`` (8.7.5 strict mode) is set. ``default`` is a candidate
    even if absent from ``offers``. Raises NotAcceptable or MixedCategories.
    """
    candidates = list(dict.fromkeys(offers))
    if default is not None and default not in candidates:
        candidates.append(default)
    if not candidates:
        raise ValueError("negotiation needs at least one offer")
    header_ranges = parse_accept(accept_header)
    query_ranges = parse_accept(accept_query, allow_wildcards=False)
    if reject_mixed:
        check_categories(query_ranges + header_ranges)
    choices = _rank(query_ranges, candidates, default, "query")
    if accept_header is None or not accept_header.strip():
        if require_accept:
            raise NotAcceptable("request has no Accept header field")
        if choices:
            return choices
        if query_ranges:
            raise NotAcceptable(f"no supported media type in accept={_one_line(accept_query or '')}")
        if default is None:
            raise NotAcceptable("request has no Accept header field and there is no default media type")
        return [Choice(default, None, 1.0, None, "default")]
    seen = {(c.offer.family, c.transfer_syntax) for c in choices}
    for choice in _rank(header_ranges, candidates, default, "header"):
        if (choice.offer.family, choice.transfer_syntax) not in seen:
            choices.append(choice)
    if not choices:
        raise NotAcceptable(f"none of the Acceptable Media Types is supported: {_one_line(accept_header)}")
    return choices


def negotiate(
    accept_header: str | None,
    offers: Sequence[Offer],
    *,
    default: Offer | None = None,
    accept_query: str | None = None,
    require_accept: bool = False,
    reject_mixed: bool = True,
) -> Choice:
    """The Selected Media Type and requested Transfer Syntax (8.7.8); see acceptable_choices."""
    return acceptable_choices(
        accept_header,
        offers,
        default=default,
        accept_query=accept_query,
        require_accept=require_accept,
        reject_mixed=reject_mixed,
    )[0]
