"""The default (forgiving) mode and the strict mode.

Strict mode (``"DicomWeb": {"Strict": true}``, ``--strict``) answers exactly as PS3.18 2019a
says. The default mode serves what real clients send when the standard's intent is clear, and
says what the client did wrong: each forgiven rule adds a ``Warning: 299`` header naming the
rule to the response, and a log line. :data:`RULES` lists every rule that differs between the
two modes (the README's table is written from it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from werkzeug.wrappers import Request, Response

from .config import Settings

__all__ = ["LenientRule", "RULES", "accept_required", "forgive", "add_warnings", "is_strict"]

log = logging.getLogger("mock_server.leniency")

_ENVIRON_KEY = "dicomweb_mock.forgiven"


@dataclass(frozen=True)
class LenientRule:
    """A rule of PS3.18 that the default mode forgives."""

    name: str
    section: str
    strict: str
    default: str


RULES: dict[str, LenientRule] = {
    "accept-missing": LenientRule(
        "no Accept header field", "PS3.18 8.7.5, 8.7.7",
        "406 Not Acceptable",
        "the resource's default media type (DICOM JSON for QIDO, metadata and the STOW response; "
        "multipart application/dicom for instances; application/octet-stream for frames and bulk "
        "data; image/jpeg for rendered and thumbnail)"),
    "stow-type-missing": LenientRule(
        "STOW-RS Content-Type multipart/related without its type parameter", "PS3.18 10.5.1.3, RFC 2387 3.1",
        "415 Unsupported Media Type",
        'read as type="application/dicom": each part is stored according to its own Content-Type'),
}


def is_strict(settings: Settings) -> bool:
    return settings.dicomweb.strict


def forgive(request: Request, rule: str) -> None:
    """Note that ``request`` broke ``rule`` and was served anyway: a Warning and a log line."""
    r = RULES[rule]
    text = f"{r.section}: {r.name}; served anyway ({r.default.split(' (')[0]}); strict mode answers {r.strict}"
    notes = request.environ.setdefault(_ENVIRON_KEY, [])
    if text not in notes:
        notes.append(text)
        log.warning("%s %s: forgiven: %s", request.method, request.path, text)


def accept_required(settings: Settings, request: Request) -> bool:
    """Whether a missing Accept header answers 406; a missing one that is served is forgiven."""
    if request.headers.get("Accept", "").strip():
        return False
    dw = settings.dicomweb
    required = dw.require_accept if dw.require_accept is not None else dw.strict
    if not required:
        forgive(request, "accept-missing")
    return required


def add_warnings(request: Request, response: Response) -> None:
    """One ``Warning: 299`` per rule forgiven while serving ``request``."""
    from .handlers.common import warning_value

    for text in request.environ.get(_ENVIRON_KEY, []):
        response.headers.add("Warning", warning_value(request.host, text))
