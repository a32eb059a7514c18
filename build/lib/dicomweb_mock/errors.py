"""HTTP error responses: a status, a Content-Type and a one-line reason.

PS3.18 8.5 lets the origin server put a status report in the payload of an
error response; ours is a single line of ``text/plain`` so that a person
reading a log or a curl transcript sees the cause at once.
"""

from __future__ import annotations

from typing import Iterable

from werkzeug.wrappers import Response

__all__ = ["HttpError", "error_response"]


class HttpError(Exception):
    """Raised by handlers to answer ``status`` with a one-line ``reason``."""

    def __init__(self, status: int, reason: str, headers: Iterable[tuple[str, str]] = ()):
        super().__init__(reason)
        self.status = status
        self.reason = " ".join(str(reason).split())[:500]
        self.headers = list(headers)


def error_response(status: int, reason: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A ``text/plain`` response whose body is ``reason`` on one line."""
    line = " ".join(str(reason).split())[:500]
    response = Response(line + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers:
        response.headers[name] = value
    return response
