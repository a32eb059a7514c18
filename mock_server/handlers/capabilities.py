"""Retrieve Capabilities (PS3.18 8.9): ``OPTIONS`` on a DICOMweb resource returns the Capabilities
Description (Annex H) of the service, generated from the route table."""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from ..dicomweb.capabilities import WADL_MEDIA_TYPE, capabilities_wadl
from ..dicomweb.negotiation import Offer, negotiate
from ..leniency import accept_required
from ..routes import capability_entries
from ..state import AppState
from ..urls import dicomweb_base

_WADL = Offer(media_type=WADL_MEDIA_TYPE)


def retrieve_capabilities(state: AppState, request: Request, **_resource: Any) -> Response:
    """200 with the WADL document (8.9.2: "in an Acceptable Media Type"; an Accept without it: 406)."""
    settings = state.settings
    negotiate(request.headers.get("Accept"), [_WADL], default=_WADL, require_accept=accept_required(settings, request))
    body = capabilities_wadl(dicomweb_base(request, settings), capability_entries(settings), title=settings.name)
    return Response(body, status=200, content_type=WADL_MEDIA_TYPE)
