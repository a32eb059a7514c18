"""The attributes a QIDO-RS search returns for each match (PS3.18 10.6.3.3).

The default return attributes of the resource (tables 10.6.3-3 to -5), the matching keys, the
``includefield`` ones (or every attribute of the levels the resource includes for ``all``),
requested private elements with their Private Creators, and the RetrieveURL.
"""

from __future__ import annotations

from typing import Any

from .qido_attributes import default_return_tags, includable_levels, qido_level_of
from .qido_query import QidoQuery
from .resource_urls import resource_path

__all__ = ["project_matches"]

_RETRIEVE_URL = "00081190"
_INSTANCE_AVAILABILITY = "00080056"


def _project(match: dict[str, Any], keep: set[str] | None, levels: frozenset[str]) -> dict[str, Any]:
    """Attributes to return: the requested tags, or every attribute of ``levels`` for ``all``."""
    if keep is None:
        out = {k: v for k, v in match.items() if qido_level_of(int(k, 16)) in levels}
    else:
        out = {k: match[k] for k in keep if k in match}
    return dict(sorted(out.items()))


def _is_private(tag: int) -> bool:
    return bool((tag >> 16) & 1)


def _private_keys(match: dict[str, Any], tags: set[int], creators: dict[int, str]) -> set[str]:
    """Keys of the requested private elements in ``match`` and of their Private Creators.

    The query names a private element through the creator it declares (PS3.18 8.3.4.1
    #4), but the data set may hold that creator in another block; the element is found
    through its creator, and both are returned (10.6.3.3: "the Private Data Element and
    its corresponding Private Creator Element").
    """
    keys: set[str] = set()
    for tag in tags:
        if not _is_private(tag) or (tag & 0xFFFF) < 0x1000:
            continue
        group = tag >> 16
        creator = creators.get((group << 16) | ((tag >> 8) & 0xFF))
        if creator is None:
            continue
        for block in range(0x10, 0x100):
            owner = match.get(f"{group:04X}{block:04X}")
            if owner is not None and creator in (owner.get("Value") or []):
                element = f"{group:04X}{(block << 8) | (tag & 0xFF):04X}"
                if element in match:
                    keys |= {f"{group:04X}{block:04X}", element}
                break
    return keys


def _retrieve_url(base: str, level: str, match: dict[str, Any]) -> dict[str, Any]:
    def uid(tag: str) -> str:
        return str(match.get(tag, {}).get("Value", [""])[0])
    series = uid("0020000E") if level in ("series", "instance") else None
    instance = uid("00080018") if level == "instance" else None
    return {"vr": "UR", "Value": [base + resource_path(uid("0020000D"), series, instance)]}


def project_matches(matches: list[dict[str, Any]], query: QidoQuery, resource: str,
                    base: str) -> list[dict[str, Any]]:
    """The rows to return for ``matches`` (index DICOM JSON) of ``query`` on ``resource``;
    ``base`` is the absolute DICOMweb root the RetrieveURLs start with."""
    requested: set[int] = set()
    keep: set[str] | None = None
    if not isinstance(query.includefields, str):  # "all" keeps every attribute of the levels
        keep = {f"{t:08X}" for t in default_return_tags(resource)}
        requested = query.includefields | query.matched_tags()
        # Private tags are resolved per match through their creator (see _private_keys).
        keep |= {f"{t:08X}" for t in requested if not _is_private(t)}
    levels = includable_levels(resource)
    rows = []
    for match in matches:
        match[_RETRIEVE_URL] = _retrieve_url(base, query.level, match)
        if query.level in ("study", "instance") and not (match.get(_INSTANCE_AVAILABILITY) or {}).get("Value"):
            # tables 10.6.3-3/5: "Shall be present if known": everything the mock stores is on line
            match[_INSTANCE_AVAILABILITY] = {"vr": "CS", "Value": ["ONLINE"]}
        row = _project(match, keep, levels)
        if keep is not None and query.private_creators:
            row.update({k: match[k] for k in _private_keys(match, requested, query.private_creators)})
            row = dict(sorted(row.items()))
        if keep is None:
            row[_RETRIEVE_URL] = match[_RETRIEVE_URL]
            for tag in default_return_tags(resource):
                key = f"{tag:08X}"
                if key in match:
                    row[key] = match[key]
            row = dict(sorted(row.items()))
        rows.append(row)
    return rows
