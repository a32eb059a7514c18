"""The checks each answer gets under load: the suite's own oracles, cheap enough for many requests.

Every function takes what came back (status, Content-Type, body) and returns
``(problem_kind, message)`` or ``None``: ``"http"`` when the status is not the
one the journey needs (the exchange failed), ``"conformance"`` when the status
is right but the answer breaks PS3.18 (media type, multipart syntax via
:mod:`conformance.checks.multipart`, DICOM JSON via :mod:`conformance.schemas`).
Messages name the rule, never a UID or a byte count that changes per request,
so that Locust groups identical problems into one row.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from ..checks.multipart import MultipartError, parse_media_type_strict, parse_multipart
from ..schemas import json_problems

__all__ = ["Problem", "generic", "check_status", "check_dicom_json", "check_frames", "check_rendered",
           "check_stow", "DICOM_JSON", "FRAME_PART_TYPES"]

Problem = tuple[str, str]  # ("http" | "conformance", message)
DICOM_JSON = "application/dicom+json"
#: Media types a frame part may have when the client accepts any transfer syntax (PS3.18 8.7.3 table 8.7.3-2).
FRAME_PART_TYPES = ("application/octet-stream", "image/jpeg", "image/jls", "image/jp2", "image/jpx",
                    "image/x-dicom-rle", "image/dicom-rle", "video/mpeg", "video/mp4", "video/h265")

_UID = re.compile(r"\b\d+(?:\.\d+){2,}\b")
_INDEX = re.compile(r"/\d+(?=/|:|$)")
_QUOTED = re.compile(r"'[^']{0,200}'|\"[^\"]{0,200}\"")


def generic(message: str, limit: int = 200) -> str:
    """``message`` without what varies between requests (UIDs, array indexes, quoted values with digits)."""
    text = _UID.sub(lambda m: "<uid>" if len(m.group(0)) > 12 else m.group(0), message)  # not "8.6.1.2"
    text = _INDEX.sub("/*", text)
    # Quoted values that vary (numbers, UIDs, long strings) go; short names such as 'type' stay.
    text = _QUOTED.sub(lambda m: m.group(0) if len(m.group(0)) <= 24 and not any(c.isdigit() for c in m.group(0))
                       else "'…'", text)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_status(status: int, expected: Iterable[int], error: str | None = None) -> Problem | None:
    """An HTTP failure when the exchange did not happen (status 0) or did not answer ``expected``."""
    expected = tuple(expected)
    if status == 0:
        return ("http", f"no answer: {generic(error or 'transport error')}")
    if status not in expected:
        return ("http", f"status {status}, expected {' or '.join(map(str, expected))}")
    return None


def _media_essence(content_type: str | None) -> str:
    if not content_type:
        raise MultipartError("no Content-Type header")
    return parse_media_type_strict(content_type, strict=False).essence


def check_dicom_json(content_type: str | None, body: bytes, *, array: bool = True
                     ) -> tuple[Problem | None, Any]:
    """A DICOM JSON answer (QIDO-RS, metadata, STOW-RS): media type, JSON syntax, Annex F schema.

    Returns the problem (or None) and the parsed document when it could be parsed, so that a journey
    can go on with a mislabelled but readable answer.
    """
    problem: Problem | None = None
    try:
        essence = _media_essence(content_type)
        if essence != DICOM_JSON:
            problem = ("conformance", f"Content-Type {essence} is not {DICOM_JSON} (PS3.18 8.7.3.1)")
    except MultipartError as exc:
        problem = ("conformance", f"Content-Type: {generic(str(exc))}")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        return ("conformance", f"body is not JSON: {type(exc).__name__}"), None
    if array and not isinstance(doc, list):
        return ("conformance", "body is not a JSON array of datasets (PS3.18 F.2.1)"), doc
    if not array and not isinstance(doc, dict):
        return ("conformance", "body is not one DICOM JSON dataset (PS3.18 F.2.2)"), doc
    if problem is None:
        problems = json_problems(doc)
        if problems:
            problem = ("conformance", f"DICOM JSON (Annex F): {generic(problems[0])}")
    return problem, doc


def check_frames(content_type: str | None, body: bytes, frames: int = 1) -> Problem | None:
    """A frames answer: strict multipart/related syntax, one non-empty part per frame, frame media types."""
    try:
        payload = parse_multipart(content_type, body, strict=True)
    except MultipartError as exc:
        return ("conformance", f"multipart: {generic(exc.reason)}")
    if len(payload) != frames:
        return ("conformance", f"{len(payload)} parts for {frames} frame(s) requested")
    for part in payload:
        if part.media_type.essence not in FRAME_PART_TYPES:
            return ("conformance", f"frame part of media type {part.media_type.essence}")
        if not part.body:
            return ("conformance", "empty frame part")
    return None


def check_rendered(content_type: str | None, body: bytes) -> Problem | None:
    """A rendered answer requested as image/jpeg: that media type, and JPEG bytes (SOI marker)."""
    try:
        essence = _media_essence(content_type)
    except MultipartError as exc:
        return ("conformance", f"Content-Type: {generic(str(exc))}")
    if essence != "image/jpeg":
        return ("conformance", f"Content-Type {essence} for a rendered image requested as image/jpeg")
    if not body.startswith(b"\xff\xd8"):
        return ("conformance", "image/jpeg body does not start with a JPEG SOI marker")
    return None


def _uids_of(items: Any) -> list[str]:
    out = []
    for item in items if isinstance(items, list) else []:
        value = (item.get("00081155") or {}).get("Value") if isinstance(item, dict) else None
        if isinstance(value, list) and value and isinstance(value[0], str):
            out.append(value[0])
    return out


def check_stow(content_type: str | None, body: bytes, sent: Iterable[str]) -> Problem | None:
    """A STOW-RS answer: a DICOM JSON Store Instances Response referencing every instance sent, none failed."""
    problem, doc = check_dicom_json(content_type, body, array=False)
    if isinstance(doc, list) and len(doc) == 1 and isinstance(doc[0], dict):
        doc = doc[0]
    if not isinstance(doc, dict):
        return problem or ("conformance", "no Store Instances Response dataset (PS3.18 10.5.3)")
    failed = _uids_of((doc.get("00081198") or {}).get("Value"))
    if failed:
        return ("conformance", f"{len(failed)} instance(s) in FailedSOPSequence with status 200")
    referenced = set(_uids_of((doc.get("00081199") or {}).get("Value")))
    missing = [uid for uid in sent if uid not in referenced]
    if missing:
        return ("conformance", "ReferencedSOPSequence lacks instances that were sent (PS3.18 10.5.3)")
    return problem
