"""STOW-RS: ``POST {root}studies[/{study}]`` (PS3.18 10.5).

The body is ``multipart/related; type="application/dicom"``; each part is spooled (memory
up to 1 MiB, then disk) and stored atomically by the store, part k+1 checked while part k
reaches the disk.  With ``type="application/dicom+json"`` or ``"application/dicom+xml"`` the
body is Metadata accompanied by Bulkdata (10.5.1.4): every part is received first, then each
metadata object becomes a Part 10 instance (:mod:`mock_server.dicomweb.stow_metadata`) and is
stored the same way.  The answer (:mod:`mock_server.dicomweb.stow_response`) is the Store
Instances Response Module; 415 when the request's media type is not supported.

A SOP Instance UID sent again in the same series replaces the stored copy (documented
choice: STOW is idempotent for an unchanged hierarchy).  The reason each part was refused is
also sent as a ``Warning: 299`` header (the form PS3.18 8.1.3 uses for QIDO) and logged.
"""

from __future__ import annotations

import functools
import io
import logging
import shutil
import tempfile
from collections import deque
from typing import IO, Any, Callable

import pydicom

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from ..dicomweb.multipart import MultipartError, Part, ReceivedPart, iter_multipart, parse_content_type
from ..dicomweb.negotiation import Offer, negotiate
from ..errors import HttpError
from ..leniency import accept_required, forgive, is_strict
from ..dicomweb.resource_urls import resource_path
from ..dicomweb.stow_metadata import (METADATA_MEDIA_TYPES, InstanceError, MetadataError, build_instance,
                                      metadata_objects, part_keys, sop_uids)
from ..dicomweb.stow_response import StowOutcome, encode_module
from ..state import AppState
from ..store.base import InstanceConflict, InvalidInstance, StagedInstance, Store
from ..urls import dicomweb_base
from .common import (MAX_WARNINGS, TRUNCATED_BODY, check_no_content_coding, multipart_response, reading_body,
                     warning_value)

_JSON = Offer(media_type="application/dicom+json")
_XML = Offer(media_type="application/dicom+xml")
_XML_MULTIPART = Offer(media_type="multipart/related", part_type="application/dicom+xml")
_ACCEPTED_PART_TYPES = {"application/dicom"}
_REQUEST_TYPES = _ACCEPTED_PART_TYPES | METADATA_MEDIA_TYPES

_log = logging.getLogger(__name__)


def _response_offer(state: AppState, request: Request) -> Offer:
    return negotiate(request.headers.get("Accept"), [_JSON, _XML, _XML_MULTIPART], default=_JSON,
                     require_accept=accept_required(state.settings, request)).offer


def _peek_uids(part: ReceivedPart) -> tuple[str, str]:
    """SOP Class/Instance UIDs of a part that failed, when they can be read."""
    try:
        with part.open() as fh:
            ds = pydicom.dcmread(fh, stop_before_pixels=True, force=True,
                                 specific_tags=["SOPClassUID", "SOPInstanceUID"])
        return str(ds.get("SOPClassUID", "") or ""), str(ds.get("SOPInstanceUID", "") or "")
    except Exception:  # unreadable: the failure is reported without UIDs
        return "", ""


def _spool_dir(state: AppState) -> str | None:
    """Large parts are spooled inside a disk store, so its crash recovery removes what a kill
    leaves; a store without a directory of its own leaves them to the system's temporary one."""
    tmp_dir = getattr(state.store, "tmp_dir", None)
    return str(tmp_dir) if tmp_dir is not None else None


def _body_stream(state: AppState, request: Request) -> IO[bytes]:
    """The request body; one without Content-Length (chunked) is read whole first, so that a
    body found to exceed MaximumBodySize while it is read stores nothing (413)."""
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


def _boundary(state: AppState, request: Request) -> tuple[str, str]:
    """The boundary and type of a ``multipart/related; type="application/dicom"`` (or
    ``application/dicom+json``, ``application/dicom+xml``) body (415/400 otherwise)."""
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
    elif part_type not in _REQUEST_TYPES:
        raise HttpError(415, f"STOW-RS of type={part_type!r} is not supported; use type=\"application/dicom\", "
                             "\"application/dicom+json\" or \"application/dicom+xml\"")
    boundary = params.get("boundary")
    if not boundary:
        raise HttpError(400, "the multipart/related Content-Type has no boundary parameter")
    return boundary, part_type or "application/dicom"


#: Staged instances not yet committed, at most: their files reach the disk (fsync) meanwhile.
_WINDOW = 4


class _Pipeline:
    """Stages each part, and commits earlier ones, in order, once their files are on disk
    (or when more than :data:`_WINDOW` wait), while the next parts are checked."""

    def __init__(self, store: Store, outcome: StowOutcome, base: str, study: str | None):
        self.store, self.outcome, self.base, self.study = store, outcome, base, study
        self.pending: deque[StagedInstance] = deque()  # staged, not committed yet, oldest first

    def add(self, part: ReceivedPart) -> None:
        ctype = (part.content_type or "").split(";")[0].strip().lower()
        if ctype not in _ACCEPTED_PART_TYPES:
            self.outcome.other_failure(f"a part of type {ctype or '(none)'} was ignored: only "
                                       "application/dicom parts are stored")
            return
        with part.open() as fh:
            self.add_stream(fh, lambda: _peek_uids(part))

    def add_stream(self, fh: IO[bytes], uids: Callable[[], tuple[str, str]]) -> None:
        """Stage the Part 10 stream ``fh``; ``uids`` names a refused instance (SOP Class, Instance)."""
        try:
            staged = self.store.stage(fh, expected_study_uid=self.study)
        except (InvalidInstance, InstanceConflict) as exc:
            self.outcome.refused(*uids(), exc.failure_code, exc.reason,
                                 conflict=isinstance(exc, InstanceConflict))
            return
        self.pending.append(staged)
        while self.pending and (len(self.pending) > _WINDOW or _on_disk(self.pending[0])):
            self._commit(self.pending.popleft())

    def commit_pending(self) -> None:
        while self.pending:
            self._commit(self.pending.popleft())

    def _commit(self, staged: StagedInstance) -> None:
        try:
            r = self.store.commit(staged).record
        except InstanceConflict as exc:  # a concurrent writer placed the UID elsewhere first
            self.outcome.refused(staged.extracted.sop_class_uid, staged.extracted.sop_instance_uid,
                                 exc.failure_code, exc.reason, conflict=True)
            return
        self.outcome.stored(r.sop_class_uid, r.sop_instance_uid,
                            self.base + resource_path(r.study_instance_uid, r.series_instance_uid, r.sop_instance_uid),
                            self.base + resource_path(r.study_instance_uid))

    def discard_pending(self) -> None:
        while self.pending:
            self.store.discard(self.pending.popleft())


def _on_disk(staged: StagedInstance) -> bool:
    return staged.synced is None or staged.synced.done()


def _store_metadata(pipeline: _Pipeline, parts: list[ReceivedPart], base: str) -> None:
    """Metadata accompanied by Bulkdata (10.5.1.4): each metadata object becomes one instance."""
    bulk = {key: part for part in parts if part.media_type not in METADATA_MEDIA_TYPES
            for key in part_keys(part.content_location, part.headers.get("Content-ID"), base)}
    if parts and not any(part.media_type in METADATA_MEDIA_TYPES for part in parts):
        pipeline.outcome.other_failure("no part is application/dicom+json or application/dicom+xml: "
                                       "the bulk data parts describe no instance")
    for part in parts:
        if part.media_type not in METADATA_MEDIA_TYPES:
            continue  # a bulk data part, read when a metadata object names it
        try:
            objects = metadata_objects(part.media_type, part.read())
        except MetadataError as exc:
            pipeline.outcome.other_failure(str(exc))
            continue
        for obj in objects:
            try:
                data = build_instance(obj, bulk, base)
            except InstanceError as exc:
                pipeline.outcome.refused(exc.sop_class, exc.sop_instance, exc.failure_code, exc.reason,
                                         conflict=False)
                continue
            pipeline.add_stream(io.BytesIO(data), functools.partial(sop_uids, obj))


def _store_parts(state: AppState, request: Request, boundary: str, part_type: str, outcome: StowOutcome,
                 base: str, study: str | None) -> None:
    """Store every part of the body into ``outcome``; a body that breaks keeps what came whole."""
    pipeline = _Pipeline(state.store, outcome, base, study)
    stream = _body_stream(state, request)
    held: list[ReceivedPart] = []  # the parts of a metadata request, stored once all are received
    try:
        for part in iter_multipart(stream, boundary, spool_dir=_spool_dir(state)):
            if part_type in METADATA_MEDIA_TYPES:
                held.append(part)
                continue
            with part:
                pipeline.add(part)
        _store_metadata(pipeline, held, request.url)
        pipeline.commit_pending()
    except (MultipartError, ClientDisconnected) as exc:
        # A body cut short, or whose framing broke: what was received whole is stored.
        pipeline.commit_pending()
        if not outcome.referenced:
            raise HttpError(400, TRUNCATED_BODY if isinstance(exc, ClientDisconnected)
                            else f"malformed multipart body: {exc}") from None
        outcome.other_failure(f"the body broke after {len(outcome.referenced)} stored instance(s): {exc}")
    finally:
        for part in held:
            part.close()
        pipeline.discard_pending()  # an unexpected error: the staged instance is dropped
        if stream is not request.stream:
            stream.close()  # the spooled copy of a chunked body


def _render(request: Request, offer: Offer, outcome: StowOutcome, module: dict[str, Any]) -> Response:
    status = outcome.status()
    if offer is _XML_MULTIPART:  # the client accepts only multipart/related; type="application/dicom+xml"
        part = Part(content_type="application/dicom+xml", body=encode_module(module, "application/dicom+xml"))
        response = multipart_response([part], "application/dicom+xml", status=status)
    else:
        response = Response(encode_module(module, offer.media_type), status=status, content_type=offer.media_type)
    if outcome.referenced:
        # Table 10.5.3-2: Location and Content-Location "Shall be present if a new resource was created": the
        # study the instances were stored in (the Retrieve URL of the module), else the first stored instance
        created = (module["00081190"].get("Value") or [outcome.referenced[0]["00081190"]["Value"][0]])[0]
        response.headers["Location"] = created
        response.headers["Content-Location"] = created
    for reason in outcome.reasons:
        _log.warning("STOW-RS: %s", reason)
    for reason in outcome.reasons[:MAX_WARNINGS]:
        response.headers.add("Warning", warning_value(request.host, reason))
    if len(outcome.reasons) > MAX_WARNINGS:
        response.headers.add("Warning", warning_value(request.host, f"{len(outcome.reasons) - MAX_WARNINGS} more "
                                                                    "part(s) refused; the server log lists them"))
    return response


def store_instances(state: AppState, request: Request, study: str | None = None) -> Response:
    """Store every ``application/dicom`` part, or every metadata object, of the request body."""
    boundary, part_type = _boundary(state, request)
    offer = _response_offer(state, request)
    base = dicomweb_base(request, state.settings)
    outcome = StowOutcome()
    _store_parts(state, request, boundary, part_type, outcome, base, study)
    if outcome.empty:
        raise HttpError(400, "the multipart body holds no part")
    target = study is not None and (outcome.referenced or state.store.study_exists(study))
    return _render(request, offer, outcome, outcome.module(base + resource_path(study) if target else None))
