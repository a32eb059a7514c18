"""The study browser: ``GET /`` and its assets under ``/_browser/``.

A page for people, written in plain HTML and JavaScript over the mock's own DICOMweb API (no
build step; the files ship in ``mock_server/browser/``). Every URL it uses is relative to the
page, so it works behind a reverse proxy that mounts the mock under a path; the browser's
own HTTP authentication covers its requests when ``AuthenticationEnabled`` is on.
"""

from __future__ import annotations

import functools
import html
import json
from importlib import resources

from werkzeug.wrappers import Request, Response

from ..errors import HttpError
from ..state import AppState

__all__ = ["index", "asset", "keywords"]

_ASSETS = {"app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}


def _read(name: str) -> bytes:
    return resources.files("dicomweb_mock").joinpath("browser", name).read_bytes()


def _no_cache(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response


def index(state: AppState, request: Request) -> Response:
    """The page; the DICOMweb root is given relative to the server root (proxy paths keep working)."""
    dw = state.settings.dicomweb
    if not dw.enable:
        raise HttpError(404, "the study browser needs DICOMweb, which is disabled (DicomWeb.Enable is false)")
    page = _read("index.html").decode("utf-8")
    page = page.replace("{{dicomweb_root}}", html.escape(dw.root.lstrip("/"), quote=True))
    page = page.replace("{{name}}", html.escape(state.settings.name))
    return _no_cache(Response(page, content_type="text/html; charset=utf-8"))


def asset(state: AppState, request: Request, name: str) -> Response:
    if name not in _ASSETS:
        raise HttpError(404, f"no study browser file {name!r}")
    return _no_cache(Response(_read(name), content_type=_ASSETS[name]))


@functools.lru_cache(maxsize=1)
def _keywords_body() -> bytes:
    from pydicom.datadict import DicomDictionary

    names = {f"{tag:08X}": entry[4] for tag, entry in DicomDictionary.items() if entry[4]}
    return json.dumps(names, separators=(",", ":")).encode("ascii")


def keywords(state: AppState, request: Request) -> Response:
    """Tag -> keyword (from pydicom's data dictionary), for the metadata table."""
    response = Response(_keywords_body(), content_type="application/json")
    response.headers["Cache-Control"] = "max-age=86400"
    return response
