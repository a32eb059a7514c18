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
from ..dicomweb.negotiation import NegotiationError, Offer, negotiate
from ..dicomweb.qido_attributes import (ALL_INSTANCES, ALL_SERIES, ALL_STUDIES, STUDY_INSTANCES, STUDY_SERIES,
                                        STUDY_SERIES_INSTANCES, default_return_tags, includable_levels,
                                        qido_level_of)
from ..dicomweb.qido_query import QidoQueryError, parse_qido
from ..errors import HttpError
from ..store.base import SearchScope
from ..urls import dicomweb_base
from .wado_rs import _multipart_response

_JSON = Offer(media_type="application/dicom+json")
_PLAIN_JSON = Offer(media_type="application/json")
_XML = Offer(media_type="multipart/related", part_type="application/dicom+xml")
_RETRIEVE_URL = "00081190"


def _project(match: dict[str, Any], keep: set[str] | None, levels: frozenset[str]) -> dict[str, Any]:
    """Attributes to return: the requested tags, or every attribute of ``levels`` for ``all``."""
    if keep is None:
        out = {k: v for k, v in match.items() if qido_level_of(int(k, 16)) in levels}
    else:
        out = {k: match[k] for k in keep if k in match}
    return dict(sorted(out.items()))


def _retrieve_url(base: str, level: str, match: dict[str, Any]) -> dict[str, Any]:
    def uid(tag: str) -> str:
        return match.get(tag, {}).get("Value", [""])[0]
    url = f"{base}studies/{uid('0020000D')}"
    if level in ("series", "instance"):
        url += f"/series/{uid('0020000E')}"
    if level == "instance":
        url += f"/instances/{uid('00080018')}"
    return {"vr": "UR", "Value": [url]}


def _search(state, request: Request, resource: str, study: str | None = None,
            series: str | None = None) -> Response:
    try:
        choice = negotiate(request.headers.get("Accept"), [_JSON, _XML, _PLAIN_JSON], default=_JSON)
    except NegotiationError as exc:
        raise HttpError(exc.status, exc.reason) from None
    try:
        query = parse_qido(resource, list(request.args.items(multi=True)))
    except QidoQueryError as exc:
        raise HttpError(400, exc.reason) from None
    index = state.store.index
    if study is not None and not index.study_exists(study):
        raise HttpError(404, f"no study {study} in this server")
    if series is not None and not index.series_exists(study, series):
        raise HttpError(404, f"no series {series} in study {study}")
    limit = query.limit
    cap = state.settings.max_results
    if cap and (limit is None or limit > cap):
        limit = cap
    result = state.store.search(SearchScope(query.level, study, series), query.filters, limit=limit,
                                offset=query.offset, case_sensitive_pn=state.settings.dicomweb.qido_case_sensitive,
                                fuzzy=query.fuzzy)
    headers: dict[str, str] = {}
    if result.more_available:
        headers["Warning"] = f'299 {request.host}: "There are additional results that can be requested"'
    if not result.matches:
        return Response(status=204, headers=headers)

    base = dicomweb_base(request, state.settings)
    if query.includefields == "all":
        keep = None
    else:
        keep = {f"{t:08X}" for t in default_return_tags(resource)}
        keep |= {f"{t:08X}" for t in query.includefields}
        keep |= {f"{t:08X}" for t in query.matched_tags()}
    levels = includable_levels(resource)
    rows = []
    for match in result.matches:
        match[_RETRIEVE_URL] = _retrieve_url(base, query.level, match)
        row = _project(match, keep, levels)
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
        response = _multipart_response(parts, "application/dicom+xml")
    else:
        body = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        media = "application/json" if choice.offer is _PLAIN_JSON else "application/dicom+json"
        response = Response(body, content_type=media)
    response.headers.extend(headers)
    return response


def search_studies(state, request: Request) -> Response:
    """``GET {root}studies``."""
    return _search(state, request, ALL_STUDIES)


def search_study_series(state, request: Request, study: str) -> Response:
    """``GET {root}studies/{study}/series``."""
    return _search(state, request, STUDY_SERIES, study)


def search_study_instances(state, request: Request, study: str) -> Response:
    """``GET {root}studies/{study}/instances``."""
    return _search(state, request, STUDY_INSTANCES, study)


def search_series(state, request: Request) -> Response:
    """``GET {root}series``."""
    return _search(state, request, ALL_SERIES)


def search_series_instances(state, request: Request, study: str, series: str) -> Response:
    """``GET {root}studies/{study}/series/{series}/instances``."""
    return _search(state, request, STUDY_SERIES_INSTANCES, study, series)


def search_instances(state, request: Request) -> Response:
    """``GET {root}instances``."""
    return _search(state, request, ALL_INSTANCES)
