"""QIDO-RS: the six search resources (PS3.18 10.6).

Results come from the index (never from files), as DICOM JSON
(``application/dicom+json``, default; ``application/json`` accepted as an
alias, as the seed's examples send it) or as multipart DICOM XML
(``multipart/related; type="application/dicom+xml"``, one part per match).

Decisions where PS3.18 editions differ or are silent:

* zero matches → 204 No Content (2019a table 10.6.3-1; later editions
  answer 200 with an empty array);
* a search under an unknown study or series → 404;
* ``limit`` larger than ``MaximumResults`` is cut, and the Warning header
  says more results remain (RFC 7234 299 warn-code).
"""

from __future__ import annotations

import json
from typing import Any

from werkzeug.wrappers import Request, Response

from ..dicomweb.dicom_xml import json_to_xml
from ..dicomweb.multipart import Part
from ..dicomweb.negotiation import Offer, negotiate
from ..dicomweb.qido_attributes import (ALL_INSTANCES, ALL_SERIES, ALL_STUDIES, STUDY_INSTANCES, STUDY_SERIES,
                                        STUDY_SERIES_INSTANCES, default_return_tags, includable_levels,
                                        qido_level_of)
from ..dicomweb.qido_query import parse_qido
from ..dicomweb.query_string import query_pairs
from ..errors import HttpError
from ..leniency import accept_required
from ..store.base import SearchScope
from ..urls import dicomweb_base
from ..state import AppState
from .common import MAX_WARNINGS, multipart_response, warning_value

_JSON = Offer(media_type="application/dicom+json")
_PLAIN_JSON = Offer(media_type="application/json")
_XML = Offer(media_type="multipart/related", part_type="application/dicom+xml")
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
        return match.get(tag, {}).get("Value", [""])[0]
    url = f"{base}studies/{uid('0020000D')}"
    if level in ("series", "instance"):
        url += f"/series/{uid('0020000E')}"
    if level == "instance":
        url += f"/instances/{uid('00080018')}"
    return {"vr": "UR", "Value": [url]}


def _search(state: AppState, request: Request, resource: str, study: str | None = None,
            series: str | None = None) -> Response:
    choice = negotiate(request.headers.get("Accept"), [_JSON, _XML, _PLAIN_JSON], default=_JSON,
                       require_accept=accept_required(state.settings, request))
    query = parse_qido(resource, query_pairs(request.query_string))
    if study is not None and not state.store.study_exists(study):
        raise HttpError(404, f"no study {study} in this server")
    if study is not None and series is not None and not state.store.series_exists(study, series):
        raise HttpError(404, f"no series {series} in study {study}")
    limit = query.limit
    cap = state.settings.max_results
    if cap and (limit is None or limit > cap):
        limit = cap
    result = state.store.search(SearchScope(query.level, study, series), query.filters, limit=limit,
                                offset=query.offset, case_sensitive_pn=state.settings.dicomweb.qido_case_sensitive,
                                fuzzy=query.fuzzy)
    headers = [("Warning", warning_value(request.host, reason)) for reason in query.ignored[:MAX_WARNINGS]]
    if result.more_available:
        # 8.3.4.4.1 names the count: "There are <remaining> additional results that can be requested"
        remaining = result.remaining
        headers.append(("Warning", warning_value(request.host, f"There are {remaining} additional results "
                                                               "that can be requested")))
    if not result.matches:
        response = Response(status=204, headers=headers)
        del response.headers["Content-Type"]  # no payload, no media type (table 10.6.3-2)
        return response

    base = dicomweb_base(request, state.settings)
    if query.includefields == "all":
        keep = None
    else:
        keep = {f"{t:08X}" for t in default_return_tags(resource)}
        requested = set(query.includefields) | query.matched_tags()
        # Private tags are resolved per match through their creator (see _private_keys).
        keep |= {f"{t:08X}" for t in requested if not _is_private(t)}
    levels = includable_levels(resource)
    rows = []
    for match in result.matches:
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

    if choice.offer is _XML:
        parts = [Part(content_type="application/dicom+xml", body=json_to_xml(row)) for row in rows]
        response = multipart_response(parts, "application/dicom+xml")
    else:
        body = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        media = "application/json" if choice.offer is _PLAIN_JSON else "application/dicom+json"
        response = Response(body, content_type=media)
    response.headers.extend(headers)
    return response


def search_studies(state: AppState, request: Request) -> Response:
    """``GET {root}studies``."""
    return _search(state, request, ALL_STUDIES)


def search_study_series(state: AppState, request: Request, study: str) -> Response:
    """``GET {root}studies/{study}/series``."""
    return _search(state, request, STUDY_SERIES, study)


def search_study_instances(state: AppState, request: Request, study: str) -> Response:
    """``GET {root}studies/{study}/instances``."""
    return _search(state, request, STUDY_INSTANCES, study)


def search_series(state: AppState, request: Request) -> Response:
    """``GET {root}series``."""
    return _search(state, request, ALL_SERIES)


def search_series_instances(state: AppState, request: Request, study: str, series: str) -> Response:
    """``GET {root}studies/{study}/series/{series}/instances``."""
    return _search(state, request, STUDY_SERIES_INSTANCES, study, series)


def search_instances(state: AppState, request: Request) -> Response:
    """``GET {root}instances``."""
    return _search(state, request, ALL_INSTANCES)
