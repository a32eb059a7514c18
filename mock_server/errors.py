"""The one error type of the mock, and the response it becomes.

Protocol code (``dicomweb/``), the store, the client side and the handlers raise
:class:`HttpError` or a subclass; :meth:`mock_server.app.MockApp.dispatch` turns it into the
response, the same for every route.  PS3.18 8.5 lets the origin server put a status report in
the payload of an error response; ours is a single line of ``text/plain`` so that a person
reading a log or a curl transcript sees the cause at once, plus an optional ``Warning: 299``.
"""

from __future__ import annotations

from typing import Iterable

from werkzeug.wrappers import Response

__all__ = ["HttpError", "error_response", "one_line"]

#: A reason is cut to this many characters.
MAX_REASON = 500


def one_line(text: object) -> str:
    """``text`` with its whitespace runs made single spaces, cut to :data:`MAX_REASON`."""
    return " ".join(str(text).split())[:MAX_REASON]


class HttpError(Exception):
    """Answer ``status`` with a one-line ``reason``, extra ``headers`` and an optional Warning text."""

    status: int = 500

    def __init__(self, status: int, reason: str, headers: Iterable[tuple[str, str]] = (), *,
                 warning: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = one_line(reason)
        self.headers = list(headers)
        self.warning = warning


def error_response(status: int, reason: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """A ``text/plain`` response whose body is ``reason`` on one line."""
    response = Response(one_line(reason) + "\n", status=status, content_type="text/plain; charset=utf-8")
    for name, value in headers:
        response.headers[name] = value
    return response
