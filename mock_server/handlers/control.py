"""Control routes for tests: ``POST /_mock/reset`` and ``GET /_mock/status``."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from .common import json_response


def reset(state, request: Request) -> Response:
    """Empty the store and load the fixtures again (``?empty`` leaves it empty)."""
    files = [] if "empty" in request.args else state.fixture_files
    with state.lock:
        stored = state.store.reset(files)
    return json_response({"Reset": True, "Instances": stored})


def status(state, request: Request) -> Response:
    """Counts of stored resources."""
    return json_response(state.store.counts())
