"""Control routes for tests under ``/_mock``: ``POST reset``, ``GET status``, ``GET``/``PUT faults``,
``GET``/``DELETE requests``."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ..state import AppState
from .common import json_response


def reset(state: AppState, request: Request) -> Response:
    """Empty the store and load the fixtures again (``?empty`` leaves it empty); faults,
    servers registered at run time and the request log go back to the configuration's."""
    files = [] if "empty" in request.args else state.fixture_files
    with state.lock:
        stored = state.store.reset(files)
        state.reset_runtime()
    return json_response({"Reset": True, "Instances": stored})


def status(state: AppState, request: Request) -> Response:
    """Counts of stored resources."""
    return json_response(state.store.counts())


def get_faults(state: AppState, request: Request) -> Response:
    """The faults that can be injected, and those active (see :mod:`mock_server.faults`)."""
    from ..faults import FAULTS
    return json_response({"Active": state.runtime.faults,
                          "Available": {name: f.description for name, f in FAULTS.items()}})


def set_faults(state: AppState, request: Request) -> Response:
    """``PUT /_mock/faults`` with a JSON list of fault names (``[]`` clears them)."""
    from ..errors import HttpError
    from ..faults import unknown_faults
    try:
        names = request.get_json(force=True, silent=False)
    except Exception:
        raise HttpError(400, "PUT /_mock/faults needs a JSON list of fault names") from None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise HttpError(400, "PUT /_mock/faults needs a JSON list of fault names")
    bad = unknown_faults(names)
    if bad:
        raise HttpError(400, f"unknown fault {bad[0]!r}; GET /_mock/faults lists them")
    state.runtime.faults = list(names)
    return json_response({"Active": state.runtime.faults})


def get_requests(state: AppState, request: Request) -> Response:
    """What this server received while ``RecordRequests`` is on (see :mod:`mock_server.recorder`)."""
    return json_response({"Recording": state.settings.record_requests, "Requests": state.recorder.snapshot() if state.recorder else []})


def clear_requests(state: AppState, request: Request) -> Response:
    if state.recorder is not None:
        state.recorder.clear()
    return json_response({"Recording": state.settings.record_requests, "Requests": []})
