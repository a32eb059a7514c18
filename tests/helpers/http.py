"""The werkzeug test client the mock's HTTP tests use.

PS3.18 8.7.7 wants 406 for a request without Accept (the mock's strict mode; its default mode
serves it with a Warning); the HTTP tests are about other behaviours, so their client sends
``Accept: */*`` unless the test names an Accept header, as curl and requests do.  A test that
needs no Accept at all passes ``Accept=None`` in ``headers`` (the header is then left out).
"""

from __future__ import annotations

from typing import Any

from werkzeug.test import Client, TestResponse

__all__ = ["MockClient"]


class MockClient(Client):
    """A :class:`werkzeug.test.Client` that sends ``Accept: */*`` by default."""

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.get("headers") or {})
        if not any(k.lower() == "accept" for k in headers):
            headers["Accept"] = "*/*"
        kwargs["headers"] = {k: v for k, v in headers.items() if v is not None}
        return super().open(*args, **kwargs)
