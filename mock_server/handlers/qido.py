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

from werkzeug.wrappers import Request, Response

from ..dicomweb.dicom_xml import json_to_xml
from ..dicomweb.multipart import Part
from ..dicomweb.negotiation import Offer, negotiate
from ..dicomweb.qido_attributes import (ALL_INSTANCES, ALL_SERIES, ALL_STUDIES, STUDY_INSTANCES, STUDY_SERIES,
                                        STUDY_SERIES_INSTANCES)
from ..dicomweb.qido_projection import project_matches
from ..dicomweb.qido_query import parse_qido
from ..dicomweb.query_string import query_pairs
from ..errors import HttpError
from ..leniency import accept_required
from ..store.base import SearchScope
from ..urls import dicomweb_base
from ..state import AppState
from .common import MAX_WARNINGS, check_charsets, multipart_response, warning_value

_JSON = Offer(media_type="application/dicom+json")
_PLAIN_JSON = Offer(media_type="application/json")
_XML = Offer(media_type="multipart/related", part_type="application/dicom+xml")


def _search(state: AppState, request: Request, resource: str, study: str | None = None,
            series: str | None = None) -> Response:
    choice = negotiate(request.headers.get("Accept"), [_JSON, _XML, _PLAIN_JSON], default=_JSON,
                       require_accept=accept_required(state.settings, request))
    check_charsets(request, choice)
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

    rows = project_matches(result.matches, query, resource, dicomweb_base(request, state.settings))
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
