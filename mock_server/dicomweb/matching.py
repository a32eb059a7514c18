"""C-FIND attribute matching on DICOM JSON, as used by QIDO-RS (PS3.18 8.3.4.1.1).

Pure functions implementing PS3.4 2019a C.2.2.2: Single Value, List of UID,
Universal, Wild Card, Range and Sequence Matching, multi-valued attributes
(C.2.2.3) and combined date-time matching (C.2.2.2.5.4, mandatory for QIDO-RS
per PS3.18 8.3.4.1.1).  Elements are DICOM JSON attribute objects
(PS3.18 Annex F.2).

Decisions (the standard leaves them to the implementation / conformance statement):

* PN matching is case-insensitive unless ``case_sensitive_pn`` (C.2.2.2.1.1).  A key
  without "=" matches when it matches any component group (Alphabetic first); a key
  with "=" compares group by group, an empty key group being unconstrained.  Trailing
  "^" and spaces are not significant, so ``DOE^*`` matches ``DOE``.
* Fuzzy PN matching (``fuzzy=True``, 8.3.4.2): case- and accent-insensitive; each
  non-empty "^" component of the key must be a prefix of the same component of the
  name, and a one-component key may prefix any component (``joh`` finds ``Doe^John``).
* DA/TM/DT are matched by meaning (C.2.2.2.1.3): a value of partial precision stands
  for the whole period it names ("2230" is 22:30:00-22:30:59.999999), and a value
  matches a key when the two periods overlap.  DT values with a UTC offset on both
  sides are compared in UTC; a DT without offset takes the key's ``tz_offset``
  (query Timezone Offset From UTC) or the data set's (0008,0201); if one side still
  has none, the local times are compared.  A combined DA+TM key is one DT
  (C.2.2.2.5.4) whose bounds are in the query's time zone (PS3.18 8.3.4.1.1) and
  whose stored date and time are in the data set's (0008,0201), compared in UTC when
  both are known.  A DA or TM key alone is never shifted.
* An element that is absent or has no value only matches Universal Matching, unless
  ``match_empty`` is set (PS3.4 C.2.2.1.2: a zero-length Required Key "shall be
  considered a successful match").
"""

from __future__ import annotations

import base64
import binascii
import calendar
import re
import unicodedata
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Callable, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from .qido_query import Filter

__all__ = [
    "matches", "dataset_matches", "wildcard_to_regex", "range_bounds",
    "normalize_date", "normalize_time", "normalize_datetime", "split_range", "parse_tz_offset",
    "WILDCARD_VRS", "RANGE_VRS", "NUMERIC_VRS",
]

#: VRs allowing Wild Card Matching (C.2.2.2.4).
WILDCARD_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT"})
#: VRs allowing Range Matching (C.2.2.2.5).
RANGE_VRS = frozenset({"DA", "TM", "DT"})
NUMERIC_VRS = frozenset({"IS", "DS", "FL", "FD", "US", "SS", "UL", "SL", "UV", "SV"})
_TRAILING_ONLY = frozenset({"ST", "LT", "UT", "UR"})  # leading spaces are significant

_DA_RE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DA_LEGACY_RE = re.compile(r"(\d{4})\.(\d{2})\.(\d{2})")
_TM_RE = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?")
_TM_LEGACY_RE = re.compile(r"(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?")
_DT_RE = re.compile(r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,6}))?)?)?)?)?)?"
                    r"([+-]\d{4})?")


# --------------------------------------------------------------------------- dates and times

def normalize_date(value: str, *, strict: bool = False) -> str | None:
    """``YYYYMMDD`` of a DA value (PS3.5 6.2), None when it is no valid date.

    Unless ``strict``, the ACR-NEMA form ``YYYY.MM.DD`` is accepted too.
    """
    value = value.strip()
    m = _DA_RE.fullmatch(value) or (None if strict else _DA_LEGACY_RE.fullmatch(value))
    if m is None:
        return None
    year, month, day = (int(g) for g in m.groups())
    if not 1 <= month <= 12 or not 1 <= day <= calendar.monthrange(max(year, 1), month)[1]:
        return None
    return f"{year:04d}{month:02d}{day:02d}"


def _fraction(digits: str | None, ceil: bool, precise: bool) -> str:
    if digits is None:
        return "999999" if ceil and not precise else "000000"
    return digits.ljust(6, "9" if ceil else "0")


def normalize_time(value: str, *, ceil: bool = False, strict: bool = False) -> str | None:
    """``HHMMSS.ffffff`` of a TM value (PS3.5 6.2), None when it is no valid time.

    Missing components are filled with their least value, or their greatest with
    ``ceil`` (so "10" gives 100000.000000 or 105959.999999).  Unless ``strict``, the
    ACR-NEMA form ``HH:MM:SS.frac`` is accepted too.
    """
    value = value.strip()
    m = _TM_RE.fullmatch(value) or (None if strict else _TM_LEGACY_RE.fullmatch(value))
    if m is None:
        return None
    hh, mm, ss, frac = m.groups()
    if int(hh) > 23 or (mm is not None and int(mm) > 59) or (ss is not None and int(ss) > 60):
        return None
    top = "59" if ceil else "00"
    return f"{hh}{mm or top}{ss or top}.{_fraction(frac, ceil, False)}"


def parse_tz_offset(text: str) -> int | None:
    """Minutes east of UTC of a ``&ZZXX`` offset (PS3.5 table 6.2-1), None when invalid."""
    m = re.fullmatch(r"([+-])(\d{2})(\d{2})", text)
    if m is None or int(m.group(3)) > 59:
        return None
    minutes = int(m.group(2)) * 60 + int(m.group(3))
    minutes = -minutes if m.group(1) == "-" else minutes
    return minutes if -12 * 60 <= minutes <= 14 * 60 else None


def normalize_datetime(value: str, *, ceil: bool = False) -> tuple[str, int | None] | None:
    """(``YYYYMMDDHHMMSS.ffffff``, UTC offset in minutes or None) of a DT value.

    Missing components take their least (or with ``ceil`` greatest) value; None when
    the value is no valid DT (PS3.5 6.2).
    """
    m = _DT_RE.fullmatch(value.strip())
    if m is None:
        return None
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    offset = None
    if tz is not None:
        offset = parse_tz_offset(tz)
        if offset is None:
            return None
    month = month or ("12" if ceil else "01")
    if not 1 <= int(month) <= 12:
        return None
    last_day = calendar.monthrange(max(int(year), 1), int(month))[1]
    day = day or (f"{last_day:02d}" if ceil else "01")
    if not 1 <= int(day) <= last_day:
        return None
    top = "59" if ceil else "00"
    hh = hh or ("23" if ceil else "00")
    mm, ss = mm or top, ss or top
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 60:
        return None
    return f"{year}{month}{day}{hh}{mm}{ss}.{_fraction(frac, ceil, False)}", offset


def split_range(vr: str, raw: str) -> tuple[str | None, str | None]:
    """Split a Range Matching key of VR DA, TM or DT into (low, high) (C.2.2.2.5).

    An open end is None.  Raises ``ValueError`` when a bound is no valid value of the VR,
    both ends are open, or low is after high.  For DT, "-" is also the sign of a UTC
    offset: the split that leaves two valid bounds is taken.
    """
    checks: dict[str, Callable[[str], bool]] = {
        "DA": lambda v: normalize_date(v, strict=True) is not None,
        "TM": lambda v: normalize_time(v, strict=True) is not None,
        "DT": lambda v: normalize_datetime(v) is not None}
    valid = checks[vr]
    candidates: list[tuple[str | None, str | None]] = []
    for i, ch in enumerate(raw):
        if ch == "-":
            low, high = raw[:i], raw[i + 1:]
            if (low or high) and (not low or valid(low)) and (not high or valid(high)):
                candidates.append((low or None, high or None))
    if not candidates:
        raise ValueError(f"{raw!r} is not a valid {vr} range (expected <{vr}>-<{vr}>, <{vr}>- or -<{vr}>)")
    for start, end in candidates:
        if start is None or end is None or _le(vr, start, end):
            return start, end
    raise ValueError(f"{raw!r}: the range start is after its end")


def _le(vr: str, low: str, high: str) -> bool:
    a, b = _period(vr, low, None), _period(vr, high, None)
    return a is not None and b is not None and not _before(b[1], a[0])


# A point in time: (local "YYYYMMDDHHMMSS.ffffff" or "HHMMSS.ffffff", UTC offset minutes or None).
_Point = tuple[str, "int | None"]


def _period(vr: str, value: str, default_offset: int | None) -> tuple[_Point, _Point] | None:
    """(start, end) of the period a DA/TM/DT value names; None when invalid."""
    if vr == "DA":
        d = normalize_date(value)
        return None if d is None else ((d, None), (d, None))
    if vr == "TM":
        lo, hi = normalize_time(value), normalize_time(value, ceil=True)
        return None if lo is None or hi is None else ((lo, None), (hi, None))
    lo_dt, hi_dt = normalize_datetime(value), normalize_datetime(value, ceil=True)
    if lo_dt is None or hi_dt is None:
        return None
    off = lo_dt[1] if lo_dt[1] is not None else default_offset
    return (lo_dt[0], off), (hi_dt[0], off)


def _utc(point: _Point) -> str:
    text, offset = point
    if offset is None or len(text) != 21:
        return text
    try:
        moment = datetime.strptime(text[:14], "%Y%m%d%H%M%S") - timedelta(minutes=offset)
    except (ValueError, OverflowError):  # year 0000/9999 edges, leap second: compare local
        return text
    return moment.strftime("%Y%m%d%H%M%S").rjust(14, "0") + text[14:]


def _before(a: _Point, b: _Point) -> bool:
    """a strictly before b; in UTC when both carry an offset."""
    if a[1] is not None and b[1] is not None:
        return _utc(a) < _utc(b)
    return a[0] < b[0]


def _overlaps(period: tuple[_Point, _Point], low: _Point | None, high: _Point | None) -> bool:
    start, end = period
    return (low is None or not _before(end, low)) and (high is None or not _before(high, start))


def _key_bounds(filt: "Filter", vr: str) -> tuple[_Point | None, _Point | None]:
    tz = getattr(filt, "tz_offset", None)
    if filt.kind == "single":
        p = _period(vr, filt.values[0], tz)
        return (p[0], p[1]) if p else (None, None)
    low = _period(vr, filt.low, tz) if filt.low else None
    high = _period(vr, filt.high, tz) if filt.high else None
    return (low[0] if low else None), (high[1] if high else None)


def _combined(filt: "Filter") -> tuple[str | None, str | None]:
    """DT bounds of a combined DA + TM range (C.2.2.2.5.4)."""
    (d_low, d_high), (t_low, t_high) = (filt.low, filt.high), (filt.time_low, filt.time_high)
    return (d_low + (t_low or "") if d_low else None), (d_high + (t_high or "") if d_high else None)


def range_bounds(filt: "Filter") -> tuple[str | None, str | None]:
    """Normalized inclusive (low, high) of a DA/TM/DT range or single-value key.

    DA gives ``YYYYMMDD``, TM ``HHMMSS.ffffff``, DT (and combined DA+TM keys)
    ``YYYYMMDDHHMMSS.ffffff``; low is the start and high the end of the named period,
    so fixed-width string comparison with values normalized by :func:`normalize_date`,
    :func:`normalize_time` or :func:`normalize_datetime` selects the range.  UTC offsets
    are dropped: exact only when stored values share the key's time zone.
    """
    vr = "DT" if filt.time_tag is not None else filt.vr
    if vr not in RANGE_VRS or filt.kind not in ("range", "single"):
        raise ValueError(f"{filt.vr} key of kind {filt.kind!r} has no range bounds")
    if filt.time_tag is not None:
        low, high = _combined(filt)
        p_low = _period("DT", low, None) if low else None
        p_high = _period("DT", high, None) if high else None
        return (p_low[0][0] if p_low else None), (p_high[1][0] if p_high else None)
    low_p, high_p = _key_bounds(filt, vr)
    return (low_p[0] if low_p else None), (high_p[0] if high_p else None)


# --------------------------------------------------------------------------- wild cards

def wildcard_to_regex(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Regex for a C.2.2.2.4 key: "*" any sequence (also empty), "?" any single character."""
    parts = [".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern]
    return re.compile("".join(parts), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


# --------------------------------------------------------------------------- element values

def _strings(element: dict[str, Any], vr: str) -> list[str]:
    """The non-empty values of a JSON element as strings (InlineBinary decoded as text)."""
    out: list[str] = []
    if "Value" in element:
        for v in _value_list(element):
            if v is None:
                continue
            if isinstance(v, dict):  # PN object; handled by _pn_groups
                continue
            text = v if isinstance(v, str) else repr(v) if isinstance(v, float) else str(v)
            text = text.rstrip(" ") if vr in _TRAILING_ONLY else text.strip(" ")
            if text:
                out.append(text)
    elif "InlineBinary" in element:
        try:
            raw = base64.b64decode(element["InlineBinary"], validate=False)
        except (binascii.Error, ValueError, TypeError):
            return []
        out = [t.strip(" ") for t in raw.rstrip(b"\x00 ").decode("latin-1").split("\\") if t.strip(" ")]
    return out


def _value_list(element: dict[str, Any]) -> list[Any]:
    value = element.get("Value")
    return value if isinstance(value, list) else [] if value is None else [value]


def _pn_groups(value: Any) -> tuple[str, str, str]:
    if isinstance(value, dict):
        groups = [value.get("Alphabetic") or "", value.get("Ideographic") or "", value.get("Phonetic") or ""]
    else:
        groups = (str(value).split("=") + ["", ""])[:3]
    return tuple(g.strip(" ").rstrip("^ ") for g in groups)  # type: ignore[return-value]


def _fold(text: str, fuzzy: bool) -> str:
    text = text.casefold()
    if fuzzy:
        text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return text


def _pn_group_matches(key: str, name: str, wildcard: bool, case_sensitive: bool, fuzzy: bool) -> bool:
    if not case_sensitive or fuzzy:
        key, name = _fold(key, fuzzy), _fold(name, fuzzy)
    if wildcard:
        rx = wildcard_to_regex(key)
        # Trailing empty components may be omitted (PS3.5 6.2): "DOE^*" matches "DOE".
        return any(rx.fullmatch(name + "^" * n) for n in range(5))
    key = key.rstrip("^ ")
    if not fuzzy:
        return key == name
    key_parts, name_parts = key.split("^"), name.split("^")
    if len(key_parts) == 1:
        return any(p.startswith(key_parts[0]) for p in name_parts)
    name_parts += [""] * (len(key_parts) - len(name_parts))
    return all(not k or n.startswith(k) for k, n in zip(key_parts, name_parts))


def _pn_matches(key: str, value: Any, wildcard: bool, case_sensitive: bool, fuzzy: bool) -> bool:
    groups = _pn_groups(value)
    if "=" in key:
        key_groups = (key.split("=") + ["", ""])[:3]
        if not any(k.strip(" ") for k in key_groups):
            return True
        return all(not k.strip(" ") or _pn_group_matches(k.strip(" "), g, wildcard, case_sensitive, fuzzy)
                   for k, g in zip(key_groups, groups))
    return any(_pn_group_matches(key, g, wildcard, case_sensitive, fuzzy) for g in groups if g)


def _number(text: str) -> int | float | None:
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return None


def _items(element: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not element:
        return []
    return [item for item in _value_list(element) if isinstance(item, dict)]


def _lookup(dataset: dict[str, Any], tag: int, creator: str | None) -> dict[str, Any] | None:
    """The element of ``tag``; a private tag is found through its creator's block (PS3.5 7.8.1)."""
    if creator is None:
        return dataset.get(f"{tag:08X}")
    group = tag >> 16
    for block in range(0x10, 0x100):
        owner = dataset.get(f"{group:04X}{block:04X}")
        if owner is not None and creator in _strings(owner, "LO"):
            return dataset.get(f"{group:04X}{(block << 8) | (tag & 0xFF):04X}")
    return None


# --------------------------------------------------------------------------- matching

def matches(filt: "Filter", element: dict[str, Any] | None, *, case_sensitive_pn: bool = False,
            fuzzy: bool = False, match_empty: bool = False, dataset_tz: int | None = None) -> bool:
    """Whether the DICOM JSON ``element`` (None when absent) satisfies the key ``filt``.

    ``filt`` is a :class:`~mock_server.dicomweb.qido_query.Filter`; its last path tag is
    the element's.  A combined DA+TM key needs :func:`dataset_matches`.
    """
    if filt.kind == "universal":
        return True
    if filt.kind == "sequence":
        if all(child.kind == "universal" for child in filt.children):
            return True
        items = _items(element)
        if not items:
            return match_empty
        depth = len(filt.path)
        return any(all(_match_at(child, item, depth, case_sensitive_pn, fuzzy, match_empty)
                       for child in filt.children) for item in items)
    if element is None:
        return match_empty
    vr = element.get("vr") or filt.vr
    if filt.vr == "PN" or vr == "PN":
        if "Value" in element:
            values = [v for v in _value_list(element) if v]
        else:
            values = _strings(element, filt.vr)
        if not values:
            return match_empty
        return any(_pn_matches(filt.values[0], v, filt.kind == "wildcard", case_sensitive_pn, fuzzy)
                   for v in values)
    values = _strings(element, vr)
    if not values:
        return match_empty
    if filt.kind == "uid_list":
        return any(v in filt.values for v in values)
    if filt.kind == "wildcard":
        rx = wildcard_to_regex(filt.values[0])
        return any(rx.fullmatch(v) for v in values)
    if filt.vr in RANGE_VRS and filt.kind in ("range", "single"):
        low, high = _key_bounds(filt, filt.vr)
        periods = (_period(filt.vr, v, dataset_tz) for v in values)
        return any(p is not None and _overlaps(p, low, high) for p in periods)
    key = filt.values[0]
    if filt.vr in NUMERIC_VRS:
        target = _number(key)
        return target is not None and any(_number(v) == target for v in values)
    if filt.vr == "AT":
        return any(v.upper() == key.upper() for v in values)
    key = key.rstrip(" ") if filt.vr in _TRAILING_ONLY else key.strip(" ")
    return key in values


def _match_combined(filt: "Filter", dataset: dict[str, Any], match_empty: bool, dataset_tz: int | None) -> bool:
    """Match the concatenated date and time values as one DT (C.2.2.2.5.4).

    The key's bounds are in the query's time zone (``filt.tz_offset``), the stored
    values in ``dataset_tz`` (the data set's Timezone Offset From UTC).
    """
    date_el = dataset.get(f"{filt.path[-1]:08X}")
    time_el = dataset.get(f"{filt.time_tag:08X}")
    dates = _strings(date_el, "DA") if date_el else []
    if not dates:
        return match_empty
    times = (_strings(time_el, "TM") if time_el else []) or [""]
    low_raw, high_raw = _combined(filt)
    key_tz = getattr(filt, "tz_offset", None)
    low_p = _period("DT", low_raw, key_tz) if low_raw else None
    high_p = _period("DT", high_raw, key_tz) if high_raw else None
    low, high = (low_p[0] if low_p else None), (high_p[1] if high_p else None)
    for d in dates:
        day = normalize_date(d)
        for t in times:
            tm = normalize_time(t) if t else None
            value = day if tm is None or day is None else day + t.replace(":", "").strip()
            p = _period("DT", value, dataset_tz) if value else None
            if p is not None and _overlaps(p, low, high):
                return True
    return False


def _match_at(filt: "Filter", dataset: dict[str, Any], depth: int, case_sensitive_pn: bool, fuzzy: bool,
              match_empty: bool) -> bool:
    creators = getattr(filt, "creators", ()) or ()
    creator = creators[depth] if depth < len(creators) else None
    element = _lookup(dataset, filt.path[depth], creator)
    if depth < len(filt.path) - 1:  # follow an intermediate sequence: any item may match
        if filt.kind == "universal":
            return True
        items = _items(element)
        if not items:
            return match_empty
        return any(_match_at(filt, item, depth + 1, case_sensitive_pn, fuzzy, match_empty) for item in items)
    tz_element = dataset.get("00080201")
    tz_values = _strings(tz_element, "SH") if tz_element else []
    dataset_tz = parse_tz_offset(tz_values[0]) if tz_values else None
    if getattr(filt, "time_tag", None) is not None:
        return _match_combined(filt, dataset, match_empty, dataset_tz)
    return matches(filt, element, case_sensitive_pn=case_sensitive_pn, fuzzy=fuzzy, match_empty=match_empty,
                   dataset_tz=dataset_tz)


def dataset_matches(filters: Iterable["Filter"], dataset_json: dict[str, Any], *, case_sensitive_pn: bool = False,
                    fuzzy: bool = False, match_empty: bool = False) -> bool:
    """Whether a DICOM JSON data set satisfies every key (keys are ANDed, PS3.4 C.2.2).

    A key's path is followed from the top level into sequence items; a nested key
    matches when some item matches, and the keys of a "sequence" key must all match
    within one item (C.2.2.2.6).
    """
    return all(_match_at(f, dataset_json, 0, case_sensitive_pn, fuzzy, match_empty) for f in filters)
