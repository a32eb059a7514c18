"""STOW-RS: ``POST {root}studies[/{study}]`` (PS3.18 10.5).

The body is ``multipart/related; type="application/dicom"``; each part is
spooled (memory up to 1 MiB, then disk) and stored atomically by the store.
The answer is the Store Instances Response Module (PS3.18 Annex I):

* 200 when every instance was stored;
* 202 when some were stored and others failed;
* 409 when none was stored because of conflicts (a study-UID mismatch with
  the target study, a SOP Instance UID already stored in another series);
* 400 when none was stored because the parts were not valid DICOM;
* 415 when the request's media type is not supported.

A SOP Instance UID sent again in the same series replaces the stored copy
(documented choice: STOW is idempotent for an unchanged hierarchy).

The Store Instances Response Module has a Failure Reason code but no text, so
the reason each part was refused is also sent as a ``Warning: 299`` header
(the form PS3.18 8.1.3 uses for QIDO) and logged.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from typing import IO, Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from ..dicomweb.dicom_xml import json_to_xml
from ..dicomweb.multipart import MultipartError, Part, iter_multipart, parse_content_type
from ..dicomweb.negotiation import Offer, negotiate
from ..errors import HttpError
from ..leniency import accept_required, forgive, is_strict
from ..store.base import InstanceConflict, InvalidInstance
from ..urls import dicomweb_base
from .common import (MAX_WARNINGS, TRUNCATED_BODY, check_no_content_coding, multipart_response, reading_body,
                     warning_value)

_JSON = Offer(media_type="application/dicom+json")
_XML = Offer(media_type="application/dicom+xml")
_XML_MULTIPART = Offer(media_type="multipart/related", part_type="application/dicom+xml")
_ACCEPTED_PART_TYPES = {"application/dicom"}

_log = logging.getLogger(__name__)


def _us(value: int) -> dict[str, Any]:
    return {"vr": "US", "Value": [value]}


def _ui(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]} if value else {"vr": "UI"}


def _response_offer(state, request: Request) -> Offer:
    return negotiate(request.headers.get("Accept"), [_JSON, _XML, _XML_MULTIPART], default=_JSON,
                     require_accept=accept_required(state.settings, request)).offer


def _peek_uids(part) -> tuple[str, str]:
    """SOP Class/Instance UIDs of a part that failed, when they can be read."""
    import pydicom
    try:
        with part.open() as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True,
                                 specific_tags=["SOPClassUID", "SOPInstanceUID"])
        return str(ds.get("SOPClassUID", "") or ""), str(ds.get("SOPInstanceUID", "") or "")
    except Exception:  # unreadable: the failure is reported without UIDs
        return "", ""


def _spool_dir(state) -> str | None:
    """Large parts are spooled inside the store, so crash recovery removes what a kill leaves."""
    tmp_dir = getattr(state.store, "tmp_dir", None)
    return str(tmp_dir) if tmp_dir is not None else None


def _body_stream(state, request: Request) -> IO[bytes]:
    """The request body; one without Content-Length (chunked) is read whole first.

    Fix: such a body is only found to exceed MaximumBodySize while it is read, so the
    instances of its first parts were stored before the 413; spooled first (memory up to
    1 MiB, then disk), a 413 stores nothing, as when the Content-Length is too large.
    """
    with reading_body(state):
        if request.content_length is not None:
            return request.stream
        spool = tempfile.SpooledTemporaryFile(max_size=1 << 20, dir=_spool_dir(state))
        try:
            shutil.copyfileobj(request.stream, spool, 1 << 16)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool


def store_instances(state, request: Request, study: str | None = None) -> Response:
    """Store every ``application/dicom`` part of the request body."""
    try:
        mime, params = parse_content_type(request.headers.get("Content-Type", ""))
    except MultipartError as exc:  # an unparsable header is bad syntax, not an unknown media type
        raise HttpError(400, f"malformed Content-Type header: {exc.reason}") from None
    check_no_content_coding(request)
    if mime != "multipart/related":
        raise HttpError(415, f"STOW-RS needs multipart/related; type=\"application/dicom\", got {mime or 'no Content-Type'}")
    part_type = params.get("type", "").lower()
    if not part_type:
        if is_strict(state.settings):
            raise HttpError(415, 'STOW-RS needs a DICOM media type: multipart/related; type="application/dicom" '
                                 "(the type parameter is missing; PS3.18 10.5.1.3)")
        forgive(request, "stow-type-missing")
    elif part_type not in _ACCEPTED_PART_TYPES:
        raise HttpError(415, f"STOW-RS of type={part_type!r} is not supported; use type=\"application/dicom\"")
    boundary = params.get("boundary")
    if not boundary:
        raise HttpError(400, "the multipart/related Content-Type has no boundary parameter")
    offer = _response_offer(state, request)
    base = dicomweb_base(request, state.settings)

    referenced: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    other_failures: list[dict[str, Any]] = []
    conflicts = 0
    reasons: list[str] = []  # why each part was refused, in order

    def refused(sop_class: str, sop_uid: str, exc: InvalidInstance | InstanceConflict) -> None:
        nonlocal conflicts
        if isinstance(exc, InstanceConflict):  # hierarchy or target-study mismatch
            conflicts += 1
        reasons.append(f"instance {sop_uid or '(unreadable SOP Instance UID)'} refused "
                       f"(0x{exc.failure_code:04X}): {exc}")
        failed.append({"00081150": _ui(sop_class), "00081155": _ui(sop_uid), "00081197": _us(exc.failure_code)})

    def commit(staged: Any) -> None:
        """Make a staged instance visible; the next part was checked while it reached the disk."""
        try:
            r = state.store.commit(staged).record
        except InstanceConflict as exc:  # a concurrent writer placed the UID elsewhere first
            refused(staged.extracted.sop_class_uid, staged.extracted.sop_instance_uid, exc)
            return
        referenced.append({
            "00081150": _ui(r.sop_class_uid),
            "00081155": _ui(r.sop_instance_uid),
            "00081190": {"vr": "UR", "Value": [
                f"{base}studies/{r.study_instance_uid}/series/{r.series_instance_uid}"
                f"/instances/{r.sop_instance_uid}"]},
        })

    pending: Any = None  # staged, not committed yet

    def commit_pending() -> None:
        nonlocal pending
        if pending is not None:
            staged, pending = pending, None
            commit(staged)
    stream = _body_stream(state, request)
    try:
        for part in iter_multipart(stream, boundary, spool_dir=_spool_dir(state)):
            try:
                ctype = (part.content_type or "").split(";")[0].strip().lower()
                if ctype not in _ACCEPTED_PART_TYPES:
                    other_failures.append({"00081197": _us(0xC000)})
                    reasons.append(f"a part of type {ctype or '(none)'} was ignored: only application/dicom "
                                   "parts are stored")
                    continue
                try:
                    with part.open() as fh:
                        staged = state.store.stage(fh, expected_study_uid=study)
                except (InvalidInstance, InstanceConflict) as exc:
                    refused(*_peek_uids(part), exc)
                    continue
                commit_pending()
                pending = staged
            finally:
                part.close()
        commit_pending()
    except (MultipartError, ClientDisconnected) as exc:
        # Fix: a body cut before its Content-Length (ClientDisconnected) escaped as a bare 400
        # although the parts before the cut were stored; it is now a truncated body like any other.
        commit_pending()  # received whole before the body broke
        if not referenced:
            reason = TRUNCATED_BODY if isinstance(exc, ClientDisconnected) else f"malformed multipart body: {exc}"
            raise HttpError(400, reason) from None
        other_failures.append({"00081197": _us(0xC000)})
        reasons.append(f"the body broke after {len(referenced)} stored instance(s): {exc}")
    finally:
        if pending is not None:  # an unexpected error: the staged instance is dropped
            state.store.discard(pending)
        if stream is not request.stream:
            stream.close()  # the spooled copy of a chunked body

    if not referenced and not failed and not other_failures:
        raise HttpError(400, "the multipart body holds no part")
    module: dict[str, Any] = {}
    if study is not None and (referenced or state.store.index.study_exists(study)):
        module["00081190"] = {"vr": "UR", "Value": [f"{base}studies/{study}"]}
    elif referenced and len({item["00081190"]["Value"][0].split("/series/")[0] for item in referenced}) == 1:
        module["00081190"] = {"vr": "UR", "Value": [referenced[0]["00081190"]["Value"][0].split("/series/")[0]]}
    else:
        module["00081190"] = {"vr": "UR"}
    if failed:
        module["00081198"] = {"vr": "SQ", "Value": failed}
    if referenced:
        module["00081199"] = {"vr": "SQ", "Value": referenced}
    if other_failures:
        module["0008119A"] = {"vr": "SQ", "Value": other_failures}

    if referenced and (failed or other_failures):
        status = 202
    elif referenced:
        status = 200
    elif conflicts and conflicts == len(failed) and not other_failures:
        status = 409
    else:
        status = 400
    if offer.media_type == "application/dicom+json":
        body = json.dumps(module, ensure_ascii=False).encode("utf-8")
        response = Response(body, status=status, content_type="application/dicom+json")
    elif offer is _XML_MULTIPART:
        # The client accepts only multipart/related; type="application/dicom+xml": one part.
        part = Part(content_type="application/dicom+xml", body=json_to_xml(module))
        response = multipart_response([part], "application/dicom+xml", status=status)
    else:
        response = Response(json_to_xml(module), status=status, content_type="application/dicom+xml")
    for reason in reasons:
        _log.warning("STOW-RS: %s", reason)
    for reason in reasons[:MAX_WARNINGS]:
        response.headers.add("Warning", warning_value(request.host, reason))
    if len(reasons) > MAX_WARNINGS:
        response.headers.add("Warning", warning_value(request.host, f"{len(reasons) - MAX_WARNINGS} more part(s) "
                                                               "refused; the server log lists them"))
    return response
