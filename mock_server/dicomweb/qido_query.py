"""Parse QIDO-RS query parameters into matching keys (PS3.18 2019a 8.3.4, 10.6.1.2).

:func:`parse_qido` turns the decoded ``(name, value)`` pairs of a search URL into a
:class:`QidoQuery`; any violation raises :class:`QidoQueryError` (HTTP 400) whose
``reason`` names the parameter.

Rules applied:

* Attribute keys are keywords, 8-hex-digit tags (any case) or dotted paths into
  sequences mixing both (8.3.4.1 ``attribute``); each attribute at most once (8.3.4.1 #2).
* Private data elements need their Private Creator as a match parameter at the same
  sequence level (8.3.4.1 #4, 8.3.4.3); creator parameters declare the block and are
  not matched.  A private element's VR is the one pydicom's private dictionary gives
  for that creator, else "UN" (matched as text, Single Value Matching only).
* Study IE keys only on All Studies / All Series / All Instances, Series IE keys only on
  Study's Series / All Series / Study's Instances / All Instances, Instance IE keys only
  on Study's Instances / Study Series' Instances / All Instances; Patient IE attributes,
  Additional Query/Retrieve Attributes, Timezone Offset From UTC and private elements
  everywhere (10.6.1.2.1).
* Values must suit the attribute's matching type (8.3.4.1 #3/#5, PS3.4 C.2.2.2): a
  single value (no backslash) except UID lists (comma or backslash separated), wild
  cards only for AE CS LO LT PN SH ST UC UR UT, ranges only for DA TM DT.
* Timezone Offset From UTC (0008,0201) sets :attr:`QidoQuery.timezone_offset` (8.3.4.1.1)
  and Specific Character Set is never matched (PS3.4 C.2.2.2); neither becomes a key.
* Date and time range keys on a DA/TM pair (``StudyDate``/``StudyTime`` ...) of the same
  range form become one combined date-time key (8.3.4.1.1, PS3.4 C.2.2.2.5.4).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Iterable

from pydicom.datadict import dictionary_VR, get_private_entry, keyword_for_tag, tag_for_keyword

from ..errors import HttpError
from . import matching
from .qido_attributes import RESERVED_GROUPS, ie_of, is_anywhere_attribute, qido_level_of, resource_info
from .uids import is_uid

__all__ = ["QidoQueryError", "UnsupportedParameter", "Filter", "QidoQuery", "parse_qido", "parse_attribute_path"]

_TIMEZONE_OFFSET, _SPECIFIC_CHARSET = 0x00080201, 0x00080005
_BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW"})
_SINGLE_VALUED_TEXT = frozenset({"LT", "ST", "UT", "UR"})  # backslash is an ordinary character
_INT_RE = re.compile(r"[+-]?[0-9]+")
_FLOAT_RE = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INT_RANGES = {"US": (0, 2**16 - 1), "SS": (-2**15, 2**15 - 1), "UL": (0, 2**32 - 1),
               "SL": (-2**31, 2**31 - 1), "UV": (0, 2**64 - 1), "SV": (-2**63, 2**63 - 1),
               "IS": (-2**31, 2**31 - 1)}
_PARAMS = ("includefield", "limit", "offset", "fuzzymatching")


class QidoQueryError(HttpError, ValueError):
    """The search request's query is invalid; ``reason`` is one line naming the parameter."""

    status = 400

    def __init__(self, reason: str) -> None:
        super().__init__(type(self).status, reason)


class UnsupportedParameter(QidoQueryError):
    """A parameter name that is no search parameter and names no attribute.

    As a match parameter it is ignored (PS3.18 8.3); as an ``includefield`` value it
    is an invalid value of a supported parameter (400).
    """


@dataclass(frozen=True)
class Filter:
    """One matching key (a DIMSE Matching Key, PS3.18 8.3.4.1).

    ``path`` holds the tags from the data set root into sequences.  ``kind`` is
    'universal' | 'single' | 'uid_list' | 'wildcard' | 'range' | 'sequence'.
    ``values`` holds the single value, the wild card pattern or the UIDs of a list;
    ``low``/``high`` the range ends as given (None when open).  A 'sequence' key
    groups the ``children`` keys (absolute paths) that must match in one item
    (PS3.4 C.2.2.2.6).  ``creators`` gives, per path tag, the Private Creator of a
    private element (None for standard ones).  A combined date-time key has
    ``time_tag`` set (vr 'DT'; ``low``/``high`` from the DA key, ``time_low``/
    ``time_high`` from the TM key).  ``tz_offset`` is the query's Timezone Offset From
    UTC in minutes, applied to DT values without offset and to the bounds of a combined
    date-time key.
    """

    path: tuple[int, ...]
    vr: str
    kind: str
    raw: str
    level: str
    key: str = ""
    values: tuple[str, ...] = ()
    low: str | None = None
    high: str | None = None
    children: tuple["Filter", ...] = ()
    creators: tuple[str | None, ...] = ()
    time_tag: int | None = None
    time_raw: str | None = None
    time_low: str | None = None
    time_high: str | None = None
    tz_offset: int | None = None

    @property
    def tag(self) -> int:
        """The tag of the matched attribute (last path element)."""
        return self.path[-1]


@dataclass
class QidoQuery:
    """A parsed QIDO-RS search (PS3.18 8.3.4, 10.6.1)."""

    resource: str
    level: str
    filters: list[Filter]
    includefields: set[int] | str  # root tags, or "all"
    limit: int | None
    offset: int
    fuzzy: bool
    private_creators: dict[int, str] = field(default_factory=dict)  # top-level creator tag -> creator
    timezone_offset: int | None = None  # minutes, from Timezone Offset From UTC (0008,0201)
    #: Why each unsupported parameter was ignored (PS3.18 8.3: "shall ignore", may warn).
    ignored: list[str] = field(default_factory=list)

    def matched_tags(self) -> set[int]:
        """Top-level tags of the matching keys (returned with the results, 10.6.3.3)."""
        tags = {f.path[0] for f in self.filters}
        tags.update(f.time_tag for f in self.filters if f.time_tag is not None)
        return tags


def _is_private(tag: int) -> bool:
    return bool((tag >> 16) & 1)


def _is_creator(tag: int) -> bool:
    return _is_private(tag) and 0x0010 <= (tag & 0xFFFF) <= 0x00FF


def parse_attribute_path(name: str) -> tuple[int, ...]:
    """Tags of an ``attribute`` (8.3.4.1): dot-separated keywords or 8-hex-digit tags.

    Raises :class:`QidoQueryError` for an unknown keyword, a malformed tag or a tag
    that names no data set attribute.
    """
    path = []
    for part in name.split("."):
        if re.fullmatch(r"[0-9A-Fa-f]{8}", part):
            tag = int(part, 16)
        else:
            found = tag_for_keyword(part) if part.isidentifier() else None
            if found is None:
                where = f" in {name!r}" if "." in name else ""
                raise UnsupportedParameter(f"{part!r}{where} is neither a search parameter, a DICOM keyword "
                                           "nor an 8-hex-digit tag")
            tag = found
        group, element = tag >> 16, tag & 0xFFFF
        if ie_of(tag) is None or group in RESERVED_GROUPS:
            raise QidoQueryError(f"{name!r}: ({group:04X},{element:04X}) is not a data set attribute")
        if _is_private(tag) and not _is_creator(tag) and element < 0x1000:
            raise QidoQueryError(f"{name!r}: ({group:04X},{element:04X}) is not a valid private tag")
        path.append(tag)
    return tuple(path)


def _vr(tag: int, creator: str | None) -> str:
    if _is_creator(tag):
        return "LO"
    if _is_private(tag):
        try:
            vr = get_private_entry(tag, creator)[0] if creator else "UN"
        except KeyError:
            vr = "UN"
    else:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            vr = "UN"
    return vr.split(" or ")[0]


def _creator_key(path: tuple[int, ...], i: int) -> tuple[tuple[int, ...], int]:
    tag = path[i]
    return path[:i], (tag & 0xFFFF0000) | ((tag >> 8) & 0xFF)


def _resolve(name: str, path: tuple[int, ...], creators: dict[tuple[tuple[int, ...], int], str]) -> tuple[str, tuple[str | None, ...]]:
    """VR of the last tag and creators per tag; checks sequences and private creators."""
    owners: list[str | None] = []
    vr = ""
    for i, tag in enumerate(path):
        creator = None
        if _is_private(tag) and not _is_creator(tag):
            prefix, creator_tag = _creator_key(path, i)
            creator = creators.get((prefix, creator_tag))
            if creator is None:
                raise QidoQueryError(f"{name!r}: private element ({tag >> 16:04X},{tag & 0xFFFF:04X}) needs its "
                                     f"Private Creator ({creator_tag >> 16:04X},{creator_tag & 0xFFFF:04X}) "
                                     "as a match parameter (PS3.18 8.3.4.1)")
        owners.append(creator)
        vr = _vr(tag, creator)
        if i < len(path) - 1 and vr != "SQ":
            if _is_private(tag) and vr == "UN":
                vr = "SQ"  # unknown private element used as a sequence
            else:
                raise QidoQueryError(f"{name!r}: {_label(tag)} is not a sequence (VR {vr})")
    return vr, tuple(owners)


def _label(tag: int) -> str:
    return keyword_for_tag(tag) or f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _check_single(name: str, vr: str, value: str) -> None:
    """Validate a Single Value Matching value for ``vr``."""
    def fail(why: str) -> None:
        raise QidoQueryError(f"{name}={value!r}: {why}")

    if "\\" in value and vr not in _SINGLE_VALUED_TEXT:
        fail("only a single value is allowed (PS3.18 8.3.4.1)")
    if vr in matching.RANGE_VRS | matching.NUMERIC_VRS | {"UI", "AS", "AT"} and ("*" in value or "?" in value):
        fail(f"wild card matching is not allowed for VR {vr} (PS3.4 C.2.2.2.4)")
    if vr == "DA" and matching.normalize_date(value, strict=True) is None:
        fail("not a valid DA value (YYYYMMDD)")
    if vr == "TM" and matching.normalize_time(value, strict=True) is None:
        fail("not a valid TM value (HH[MM[SS[.F{1,6}]]])")
    if vr == "DT" and matching.normalize_datetime(value) is None:
        fail("not a valid DT value (YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]][&ZZXX])")
    if vr in _INT_RANGES:
        low, high = _INT_RANGES[vr]
        if not _INT_RE.fullmatch(value) or not low <= int(value) <= high:
            fail(f"not a valid {vr} value (integer in {low}..{high})")
    if vr in ("DS", "FL", "FD") and not _FLOAT_RE.fullmatch(value):
        fail(f"not a valid {vr} value (decimal number)")
    if vr == "AS" and not re.fullmatch(r"[0-9]{3}[DWMY]", value):
        fail("not a valid AS value (nnnD, nnnW, nnnM or nnnY)")
    if vr == "AT" and not re.fullmatch(r"[0-9A-Fa-f]{8}", value):
        fail("not a valid AT value (8 hex digits)")
    if vr in _BINARY_VRS:
        fail(f"matching on VR {vr} is not supported; use includefield to return it")


def _classify(name: str, vr: str, value: str) -> dict[str, Any]:
    """Matching type and parsed parts of a value (PS3.4 C.2.2.2)."""
    if value == "":
        return {"kind": "universal"}
    if vr == "SQ":
        raise QidoQueryError(f"{name}={value!r}: a sequence takes no value; match its items with "
                             f"{name}.<attribute>=<value> (PS3.4 C.2.2.2.6)")
    if vr == "UI":
        uids = [u for u in re.split(r"[,\\]", value)]
        for uid in uids:
            if not is_uid(uid):
                raise QidoQueryError(f"{name}={value!r}: {uid!r} is not a valid UID (digits and dots, "
                                     "at most 64 characters)")
        return {"kind": "uid_list" if len(uids) > 1 else "single", "values": tuple(uids)}
    if vr in matching.RANGE_VRS and "-" in value:
        if "*" in value or "?" in value or "\\" in value:
            raise QidoQueryError(f"{name}={value!r}: not a valid {vr} range")
        try:
            low, high = matching.split_range(vr, value)
        except ValueError as exc:
            raise QidoQueryError(f"{name}: {exc}") from None
        return {"kind": "range", "low": low, "high": high}
    if vr in matching.WILDCARD_VRS and ("*" in value or "?" in value):
        if "\\" in value and vr not in _SINGLE_VALUED_TEXT:
            raise QidoQueryError(f"{name}={value!r}: only a single value is allowed (PS3.18 8.3.4.1)")
        if vr == "PN" and value.count("=") > 2:
            raise QidoQueryError(f"{name}={value!r}: a person name has at most three component groups")
        if set(value) == {"*"}:
            return {"kind": "universal"}  # PS3.4 C.2.2.2.4 note 1
        return {"kind": "wildcard", "values": (value,)}
    if vr == "PN" and value.count("=") > 2:
        raise QidoQueryError(f"{name}={value!r}: a person name has at most three component groups")
    _check_single(name, vr, value)
    return {"kind": "single", "values": (value,)}


def _uint(name: str, value: str) -> int:
    if not re.fullmatch(r"[0-9]+", value):
        raise QidoQueryError(f"{name}={value!r}: expected an unsigned integer (PS3.18 8.3.4.4)")
    return int(value)


def _group(leaves: list[Filter], depth: int) -> list[Filter]:
    """Nest keys sharing a sequence prefix into 'sequence' keys (PS3.4 C.2.2.2.6)."""
    out: list[Filter] = []
    groups: dict[tuple[int, str | None], list[Filter]] = {}
    for leaf in leaves:
        if len(leaf.path) == depth + 1:
            out.append(leaf)
            continue
        k = (leaf.path[depth], leaf.creators[depth])
        if k not in groups:
            groups[k] = []
            out.append(leaf)  # placeholder keeps the order of first appearance
        groups[k].append(leaf)
    result = []
    for f in out:
        if len(f.path) == depth + 1:
            result.append(f)
            continue
        members = groups[(f.path[depth], f.creators[depth])]
        result.append(Filter(path=f.path[:depth + 1], vr="SQ", kind="sequence", raw="", level=f.level,
                             key=".".join(f.key.split(".")[:depth + 1]), children=tuple(_group(members, depth + 1)),
                             creators=f.creators[:depth + 1]))
    return result


def _combine_date_time(filters: list[Filter]) -> list[Filter]:
    """Pair DA and TM range keys of the same form (PS3.4 C.2.2.2.5.4)."""
    by_keyword = {keyword_for_tag(f.path[0]): f for f in filters if len(f.path) == 1 and f.kind == "range"}
    out: list[Filter] = []
    used: set[int] = set()
    for f in filters:
        if id(f) in used:
            continue
        keyword = keyword_for_tag(f.path[0]) if len(f.path) == 1 else ""
        time = by_keyword.get(keyword[:-4] + "Time") if f.vr == "DA" and f.kind == "range" and \
            keyword.endswith("Date") else None
        if time is not None and time.vr == "TM" and (f.low is None) == (time.low is None) and \
                (f.high is None) == (time.high is None):
            used.add(id(time))
            f = replace(f, vr="DT", time_tag=time.path[0], time_raw=time.raw, time_low=time.low,
                        time_high=time.high)
        out.append(f)
    return [f for f in out if id(f) not in used]


def parse_qido(resource: str, args: Iterable[tuple[str, str]]) -> QidoQuery:
    """Parse decoded, ordered query ``args`` of a search on ``resource`` (PS3.18 8.3.4).

    ``resource`` is a name from :data:`~mock_server.dicomweb.qido_attributes.RESOURCES`
    (``ValueError`` otherwise).  Raises :class:`QidoQueryError` for invalid queries.
    """
    info = resource_info(resource)
    args = list(args)
    limit: int | None = None
    offset: int | None = None
    fuzzy: bool | None = None
    include_all = False
    include_names: list[str] = []
    matches: list[tuple[str, tuple[int, ...], str]] = []
    creators: dict[tuple[tuple[int, ...], int], str] = {}
    seen: dict[tuple[int, ...], str] = {}
    ignored: list[str] = []
    for name, value in args:
        param = name.lower()
        if param in _PARAMS:
            if param == "includefield":
                items = value.split(",")
                if any(not item for item in items):
                    raise QidoQueryError(f"includefield={value!r}: empty attribute in the list (PS3.18 8.3.4.3)")
                for item in items:
                    if item.lower() == "all":
                        include_all = True
                    else:
                        include_names.append(item)
                if include_all and include_names:
                    raise QidoQueryError("includefield=all cannot be combined with other includefield "
                                         "values (PS3.18 8.3.4.3)")
                continue
            if param == "limit":
                if limit is not None:
                    raise QidoQueryError("limit: the parameter appears more than once")
                limit = _uint(name, value)
            elif param == "offset":
                if offset is not None:
                    raise QidoQueryError("offset: the parameter appears more than once")
                offset = _uint(name, value)
            else:
                if fuzzy is not None:
                    raise QidoQueryError("fuzzymatching: the parameter appears more than once")
                if value.lower() not in ("true", "false"):
                    raise QidoQueryError(f"fuzzymatching={value!r}: expected true or false (PS3.18 8.3.4.2)")
                fuzzy = value.lower() == "true"
            continue
        try:
            path = parse_attribute_path(name)
        except UnsupportedParameter as exc:
            ignored.append(f"query parameter {name!r} ignored: {exc.reason}")
            continue
        if path in seen:
            raise QidoQueryError(f"{name}: attribute {_label(path[-1])} appears more than once "
                                 f"(also as {seen[path]!r}; PS3.18 8.3.4.1)")
        seen[path] = name
        if _is_creator(path[-1]):
            if not value.strip(" "):
                raise QidoQueryError(f"{name}: a Private Creator parameter needs the creator's name")
            if "\\" in value or "*" in value or "?" in value:
                raise QidoQueryError(f"{name}={value!r}: a Private Creator must be a single literal value")
            creators[(path[:-1], path[-1])] = value.strip(" ")
            continue
        matches.append((name, path, value))

    timezone = None
    leaves: list[Filter] = []
    for name, path, value in matches:
        vr, owners = _resolve(name, path, creators)
        root = path[0]
        if len(path) == 1 and root == _SPECIFIC_CHARSET:
            continue  # never matched (PS3.4 C.2.2.2)
        if len(path) == 1 and root == _TIMEZONE_OFFSET and value:
            timezone = matching.parse_tz_offset(value)
            if timezone is None:
                raise QidoQueryError(f"{name}={value!r}: expected a UTC offset &ZZXX such as -0500")
            continue
        level = qido_level_of(root) or info.level
        if _is_private(root):
            level = info.level
        elif not is_anywhere_attribute(root) and level not in info.query_levels:
            allowed = ", ".join(sorted(info.query_levels))
            raise QidoQueryError(f"{name}: {_label(root)} is a {level}-level attribute; the {info.uri_template} "
                                 f"resource accepts {allowed}-level keys only (PS3.18 10.6.1.2.1)")
        leaves.append(Filter(path=path, vr=vr, raw=value, level=level, key=name, creators=owners,
                             **_classify(name, vr, value)))
    if timezone is not None:
        leaves = [replace(f, tz_offset=timezone) if f.vr == "DT" else f for f in leaves]
    filters = _combine_date_time(_group(leaves, 0))
    if timezone is not None:  # a combined DA+TM key is a DT key in the query's time zone (PS3.18 8.3.4.1.1)
        filters = [replace(f, tz_offset=timezone) if f.time_tag is not None else f for f in filters]

    includes: set[int] | str = "all" if include_all else set()
    for item in include_names:
        try:
            path = parse_attribute_path(item)
        except UnsupportedParameter as exc:  # a supported parameter with an invalid value (8.3)
            raise QidoQueryError(f"includefield={item!r}: {exc.reason}") from None
        _resolve(f"includefield={item}", path, creators)
        assert isinstance(includes, set)
        includes.add(path[0])
    top_creators = {tag: value for (prefix, tag), value in creators.items() if not prefix}
    return QidoQuery(resource=resource, level=info.level, filters=filters,
                     includefields=includes, limit=limit, offset=offset or 0, fuzzy=bool(fuzzy),
                     private_creators=top_creators, timezone_offset=timezone, ignored=ignored)
