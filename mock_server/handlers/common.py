"""Small helpers shared by the handlers."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterable, Iterator

from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from ..dicomweb.charsets import selected_charset
from ..dicomweb.negotiation import Choice
from ..dicomweb.query_string import query_values
from ..dicomweb.multipart import Part, content_type_header, iter_parts, multipart_length, new_boundary
from ..config import Settings
from ..errors import HttpError
from ..urls import site_root
from ..state import AppState

__all__ = ["check_charsets", "json_response", "multipart_response", "check_no_content_coding", "reading_body", "TRUNCATED_BODY"]


def json_response(obj: Any, status: int = 200, content_type: str = "application/json") -> Response:
    """Serialize ``obj`` as UTF-8 JSON."""
    body = json.dumps(obj, ensure_ascii=False, indent=None).encode("utf-8")
    return Response(body, status=status, content_type=content_type)


def multipart_response(parts: Iterable[Part], part_type: str, transfer_syntax: str | None = None,
                       status: int = 200) -> Response:
    """A streamed multipart/related response; ``parts`` may be a lazy iterator (no total length then)."""
    boundary = new_boundary()
    headers = {"Content-Type": content_type_header(part_type, boundary, transfer_syntax)}
    if isinstance(parts, list):
        length = multipart_length(parts, boundary)
        if length is not None:
            headers["Content-Length"] = str(length)
    return Response(iter_parts(parts, boundary), status=status, headers=headers, direct_passthrough=True)


def located(response: Response, request: Request, settings: Settings, *, query: bool = False) -> Response:
    """A single-part payload names the resource it represents (PS3.18 8.6, table 8.4.3-1;
    WADO-URI 9.4.3, 9.5.3: with its ``query``)."""
    path = request.full_path.rstrip("?") if query else request.path
    response.headers["Content-Location"] = site_root(request, settings) + path
    return response


def check_charsets(request: Request, choice: Choice) -> None:
    """Every text representation is written in UTF-8, the one charset the Selected Character Set
    (PS3.18 8.8.5) can be; selecting it refuses a charset Query Parameter that is not valid or not
    supported (8.3.3.2: 400)."""
    media_charset = choice.media_range.params.get("charset") if choice.media_range is not None else None
    selected_charset(query_values(request.query_string, "charset"), request.headers.get("Accept-Charset"),
                     media_charset)


def check_no_content_coding(request: Request) -> None:
    """415 for a content-coded body, which is not decoded here (RFC 7231 3.1.2.2)."""
    coding = request.headers.get("Content-Encoding", "").strip().lower()
    if coding and coding != "identity":
        raise HttpError(415, f"Content-Encoding {coding!r} is not supported; send the body unencoded")


#: Why a body that ended before its Content-Length, or whose chunked framing broke, is refused.
TRUNCATED_BODY = "the request body ended early (shorter than its Content-Length, or broken chunked framing)"


@contextmanager
def reading_body(state: AppState) -> Iterator[None]:
    """413 naming ``MaximumBodySize`` and 400 for a cut body, while reading a request body.

    werkzeug raises RequestEntityTooLarge past ``max_content_length`` and ClientDisconnected
    when the input ends early; both reasons are made specific here (PS3.18 8.5 status report).
    """
    try:
        yield
    except RequestEntityTooLarge:
        raise HttpError(413, f"the request body exceeds MaximumBodySize ({state.settings.max_body_size} bytes)") \
            from None
    except ClientDisconnected:
        raise HttpError(400, TRUNCATED_BODY) from None


#: At most this many Warning headers (one per ignored parameter or refused part) are sent.
MAX_WARNINGS = 10


def warning_value(host: str, text: str) -> str:
    """A ``Warning: 299`` value (RFC 7234 5.5, as PS3.18 8.3.4.4.1 uses it) carrying ``text``
    as a quoted, one-line ASCII string."""
    clean = " ".join(text.split()).replace("\\", "/").replace('"', "'")
    return f'299 {host}: "{clean.encode("ascii", "replace").decode()[:400]}"'
