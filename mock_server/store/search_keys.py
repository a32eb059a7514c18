"""Index keys that let SQL narrow a QIDO-RS search before exact matching.

The matching functions of :mod:`mock_server.dicomweb.matching` stay the judge
of every result (PS3.4 C.2.2.2); this module only turns the commonest keys
into SQL conditions that select a *superset* of the matches through an index,
so a search costs in proportion to its candidates, not to the store:

* Patient's Name (0010,0010): each non-empty component group of each value is
  kept case-folded in ``study_names``; a wild card key with a literal prefix
  (``SMITH*``) or a single value becomes a range or equality on that column.
  The groups' 3-character substrings are kept in ``study_grams``, so a key
  without a literal prefix but with a literal run of 3 or more characters
  (``*MITH*``, as viewers send for "contains") intersects a few of them.
* Study Date (0008,0020): the normalised date of a single valid value is kept
  in ``studies.date_key`` ("" when there is none, such rows stay candidates);
  a range or single-value key becomes a ``BETWEEN`` on it (C.2.2.2.5).  A
  combined date-time key in a query time zone (PS3.18 8.3.4.1.1) may match a study
  whose stored date differs by the two offsets (each within -12:00..+14:00), so its
  ``BETWEEN`` is widened by two days on each side.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from ..dicomweb.matching import normalize_date, range_bounds

__all__ = ["date_key", "name_grams", "name_keys", "pushdown"]

_PATIENT_NAME, _STUDY_DATE = 0x00100010, 0x00080020
_TOP = "\U0010ffff"  # sorts after every character a name can hold


def _groups(value: Any) -> list[str]:
    if isinstance(value, dict):
        groups = [value.get(k) or "" for k in ("Alphabetic", "Ideographic", "Phonetic")]
    else:
        groups = str(value).split("=")[:3]
    return [g.strip(" ").rstrip("^ ") for g in groups]


def name_keys(element: dict[str, Any] | None) -> list[str]:
    """Case-folded component groups of a PN element's values (PS3.5 6.2), without duplicates."""
    if not element:
        return []
    values = element.get("Value")
    keys = {g.casefold() for v in (values if isinstance(values, list) else []) if v for g in _groups(v) if g}
    return sorted(keys)


def _grams(text: str) -> set[str]:
    return {text[i:i + 3] for i in range(len(text) - 2)}


def name_grams(keys: list[str]) -> list[str]:
    """The 3-character substrings of case-folded name groups (from :func:`name_keys`)."""
    return sorted(set().union(*(_grams(k) for k in keys))) if keys else []


#: At most this many substrings of a key are intersected (first, last, and between).
_MAX_GRAMS = 4


def _gram_condition(pattern: str) -> tuple[str, list[Any]] | None:
    """Studies whose names hold every 3-gram of the key's longest literal run, or None.

    Only trailing "^" of a run may fall into the omitted trailing components of a
    name (PS3.5 6.2), so they are dropped; what is left lies inside the name.
    """
    runs = [r.rstrip("^").casefold() for r in re.split(r"[*?]+", pattern)]
    longest = max(runs, key=len, default="")
    if len(longest) < 3:
        return None
    grams = sorted(_grams(longest), key=longest.index)
    if len(grams) > _MAX_GRAMS:
        step = (len(grams) - 1) / (_MAX_GRAMS - 1)
        grams = [grams[round(i * step)] for i in range(_MAX_GRAMS)]
    select = " INTERSECT ".join(["SELECT g.study_uid FROM study_grams g WHERE g.gram = ?"] * len(grams))
    return f"st.uid IN ({select})", grams


def date_key(element: dict[str, Any] | None) -> str:
    """``YYYYMMDD`` of a DA element holding exactly one valid date, else ""."""
    values = (element or {}).get("Value")
    if not isinstance(values, list) or len(values) != 1 or not isinstance(values[0], str):
        return ""
    return normalize_date(values[0].strip(" ")) or ""


def _name_condition(filt: Any) -> tuple[str, list[Any]] | None:
    pattern = filt.values[0] if filt.values else ""
    if "=" in pattern:
        return None  # group-by-group keys (PS3.4 C.2.2.2.1.1) are left to the matcher
    if filt.kind == "single":
        literal = pattern.strip(" ").rstrip("^ ").casefold()
        return ("st.uid IN (SELECT n.study_uid FROM study_names n WHERE n.key = ?)", [literal]) if literal else None
    cut = min((i for i, c in enumerate(pattern) if c in "*?"), default=len(pattern))
    # A matching name may carry omitted trailing "^" (PS3.5 6.2), so they cannot narrow.
    prefix = pattern[:cut].lstrip(" ").rstrip("^").casefold()
    if not prefix:
        return _gram_condition(pattern)
    return ("st.uid IN (SELECT n.study_uid FROM study_names n WHERE n.key >= ? AND n.key < ?)",
            [prefix, prefix + _TOP])


#: Days a date may move between two time zones' local calendars (offsets -12:00..+14:00 each side).
_TZ_SPREAD_DAYS = 2


def _shift(day: str, days: int) -> str:
    """``YYYYMMDD`` moved by ``days``; the sentinels and the calendar's ends stay put."""
    try:
        moved = date(int(day[:4]), int(day[4:6]), int(day[6:8])) + timedelta(days=days)
    except (ValueError, OverflowError):
        return day
    return moved.strftime("%Y%m%d").rjust(8, "0")


def _date_condition(filt: Any) -> tuple[str, list[Any]] | None:
    if filt.time_tag is not None:
        low = normalize_date(filt.low) if filt.low else None
        high = normalize_date(filt.high) if filt.high else None
    else:
        try:
            low, high = range_bounds(filt)
        except ValueError:
            return None
    low, high = (low or "00000000")[:8], (high or "99999999")[:8]
    if getattr(filt, "tz_offset", None) is not None:
        low, high = _shift(low, -_TZ_SPREAD_DAYS), _shift(high, _TZ_SPREAD_DAYS)
    return "(st.date_key BETWEEN ? AND ? OR st.date_key = '')", [low, high]


def pushdown(filt: Any, *, fuzzy: bool) -> tuple[str, list[Any]] | None:
    """An SQL condition on the joined study row ``st`` selecting every match of ``filt``, or None.

    The condition may select more than the matches (the caller still runs the
    exact matcher) but never fewer.
    """
    if len(filt.path) != 1:
        return None
    tag = filt.path[0]
    if tag == _PATIENT_NAME and filt.kind in ("single", "wildcard") and not fuzzy:
        return _name_condition(filt)
    if tag == _STUDY_DATE and filt.kind in ("single", "range") and (filt.vr == "DA" or filt.time_tag is not None):
        return _date_condition(filt)
    return None
