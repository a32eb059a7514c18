"""WADO-URI: ``GET {WadoRoot}?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..`` (PS3.18 chapter 9).

``contentType`` selects ``application/dicom`` (the instance, optionally in
``transferSyntax`` and ``anonymize``-d) or a rendered type (``image/jpeg``
by default, ``image/png``, ``image/gif``) with ``frameNumber``,
``rows``/``columns``, ``region`` and ``windowCenter``/``windowWidth``.
"""

from __future__ import annotations

import hashlib

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..dicomweb import rendering
from ..dicomweb.media_types import MediaTypeSyntaxError, split_list, split_params
from ..dicomweb.negotiation import Offer, negotiate
from ..dicomweb.pixel_check import refuse_undecodable
from ..dicomweb.transcoding import SUPPORTED_TARGETS, WEB_FORBIDDEN_SYNTAXES, can_transcode, transcode, write_part10
from ..dicomweb.uids import EXPLICIT_VR_LE, is_uid
from ..errors import HttpError
from ..store.base import NotFound
from ..state import AppState
from .common import located

_RENDERED = ("image/jpeg", "image/png", "image/gif")
#: What this service can answer; image/jpeg first: the default (PS3.18 9.3, table 8.7.4-1).
_OFFERS = [Offer(media_type=m) for m in (*_RENDERED, "application/dicom")]
#: Attributes holding Individually Identifiable Information removed by ``anonymize=yes``
#: (a subset of the PS3.15 Basic Application Level Confidentiality Profile).
_III_KEYWORDS = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientBirthTime", "PatientAddress", "PatientTelephoneNumbers",
    "OtherPatientIDs", "OtherPatientIDsSequence", "OtherPatientNames", "PatientMotherBirthName", "MilitaryRank",
    "EthnicGroup", "PatientComments", "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName",
    "InstitutionName", "InstitutionAddress", "StationName", "AccessionNumber", "StudyID", "RequestAttributesSequence",
    "PhysiciansOfRecord", "NameOfPhysiciansReadingStudy", "DeviceSerialNumber", "InstitutionalDepartmentName",
)
_EMPTY_TYPE2 = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "ReferringPhysicianName",
                "AccessionNumber", "StudyID")


def _single(request: Request, name: str, required: bool) -> str | None:
    values = request.args.getlist(name)
    if not values:
        if required:
            raise HttpError(400, f"WADO-URI parameter {name} is required")
        return None
    if len(values) != 1:
        raise HttpError(400, f"WADO-URI parameter {name} must appear once, got {len(values)} values")
    return values[0]


def _uid(request: Request, name: str) -> str:
    value = _single(request, name, True) or ""
    if not is_uid(value):
        raise HttpError(400, f"WADO-URI parameter {name} is not a valid UID: {value[:70]!r}")
    return value


def _selected_media_type(request: Request) -> str:
    """The Selected Media Type from ``contentType`` and then the Accept header (PS3.18 9.1.2.2.1, 8.7.8.1).

    Both, with their q-values, go through the RS negotiation.  Without either, or with
    ``*/*``, the default is image/jpeg (9.3).
    """
    raw = _single(request, "contentType", False)
    if raw is not None:
        entries = split_list(raw)
        if not entries:
            raise HttpError(400, "contentType is empty")
        for entry in entries:
            try:
                params = [p.partition("=")[0].strip().lower() for p in split_params(entry)[1:]]
            except MediaTypeSyntaxError as exc:
                raise HttpError(400, f"contentType is not a media type list: {exc}") from None
            if "transfer-syntax" in params or "charset" in params:
                raise HttpError(400, "contentType must not carry transfer-syntax or charset parameters "
                                     "(PS3.18 9.1.2.2.1)")
    return negotiate(request.headers.get("Accept"), _OFFERS, default=_OFFERS[0], accept_query=raw).offer.media_type


def _anonymize(ds):
    """De-identify: drop III, private tags; new SOP Instance UID (PS3.18 9.4.2.3)."""
    for keyword in _III_KEYWORDS:
        if keyword in ds:
            delattr(ds, keyword)
    for keyword in _EMPTY_TYPE2:
        setattr(ds, keyword, "")
    ds.remove_private_tags()
    digest = int(hashlib.sha256(str(ds.SOPInstanceUID).encode()).hexdigest()[:30], 16)
    new_uid = f"2.25.{digest}"
    ds.SOPInstanceUID = new_uid
    if getattr(ds, "file_meta", None) is not None:
        ds.file_meta.MediaStorageSOPInstanceUID = new_uid
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "DICOMweb mock: PS3.15 Basic Profile subset"
    return ds


def wado_uri(state: AppState, request: Request) -> Response:
    """Retrieve DICOM instance or rendered instance by WADO-URI."""
    request_type = _single(request, "requestType", True)
    if request_type != "WADO":
        raise HttpError(400, f"WADO-URI requestType must be WADO, got {request_type!r}")
    study, series, obj = _uid(request, "studyUID"), _uid(request, "seriesUID"), _uid(request, "objectUID")
    chosen = _selected_media_type(request)
    try:
        record = state.store.instances(study, series, obj)[0]
    except NotFound:
        raise HttpError(404, f"no object {obj} in series {series} of study {study}") from None
    anonymize = _single(request, "anonymize", False)
    if anonymize is not None and anonymize != "yes":
        raise HttpError(400, f"WADO-URI anonymize must be 'yes', got {anonymize!r}")
    if chosen == "application/dicom":
        return located(_retrieve_dicom(state, request, record, anonymize == "yes"), request, state.settings, query=True)
    if _single(request, "transferSyntax", False) is not None:
        raise HttpError(400, "transferSyntax applies to contentType=application/dicom only")
    if record.number_of_frames == 0:
        raise HttpError(406, f"object {obj} has no pixel data to render as {chosen}")
    params = rendering.parse_wado_uri_render_args(request.args.to_dict(flat=False), chosen)
    if params.frame > record.number_of_frames:
        raise HttpError(400, f"frameNumber {params.frame} exceeds the {record.number_of_frames} frames of {obj}")
    if "presentationUID" in request.args:
        # This store applies no Presentation State, and an unknown one is 400 (PS3.18 9.5.2.3).
        raise HttpError(400, "presentationUID names no Presentation State this server can apply (PS3.18 9.5.2.3)")
    if "frameNumber" in request.args and record.number_of_frames < 2:
        # frameNumber on an Instance that is not multi-frame is 400 (PS3.18 9.5.2.1).
        raise HttpError(400, f"frameNumber is only allowed for multi-frame images; {obj} has one frame")
    refuse_undecodable(record.sop_instance_uid, record.pixel_problem, record.transfer_syntax_uid)
    ds = state.store.read_dataset(record)
    if anonymize == "yes":
        ds = _anonymize(ds)
    image = rendering.render(ds, params)
    return located(Response(image, content_type=chosen), request, state.settings, query=True)


def _retrieve_dicom(state: AppState, request: Request, record, anonymize: bool) -> Response:
    ts = _single(request, "transferSyntax", False)
    for rendered_only in ("rows", "columns", "region", "windowCenter", "windowWidth", "frameNumber"):
        if rendered_only in request.args:
            raise HttpError(400, f"WADO-URI parameter {rendered_only} is not allowed with contentType=application/dicom")
    if ts is not None:
        if not is_uid(ts):
            raise HttpError(400, f"transferSyntax is not a valid UID: {ts[:70]!r}")
        # Implicit VR Little Endian (and Big Endian) "shall not be used with Web
        # Services" (PS3.18 8.7.3): a valid but unsupported Transfer Syntax, 406 (9.4.2.4).
        if ts in WEB_FORBIDDEN_SYNTAXES or (ts not in SUPPORTED_TARGETS and ts != record.transfer_syntax_uid):
            raise HttpError(406, f"transfer syntax {ts} is not supported; supported: "
                                 f"{', '.join(sorted(SUPPORTED_TARGETS - WEB_FORBIDDEN_SYNTAXES))}")
    else:
        ts = EXPLICIT_VR_LE
    if ts == record.transfer_syntax_uid and not anonymize:
        fh = state.store.open(record)
        return Response(wrap_file(request.environ, fh), content_type="application/dicom",
                        headers={"Content-Length": str(record.size)}, direct_passthrough=True)
    refuse_undecodable(record.sop_instance_uid, record.pixel_problem, record.transfer_syntax_uid, ts)
    ds = state.store.read_dataset(record)
    if ts != record.transfer_syntax_uid and not can_transcode(record.transfer_syntax_uid, ts, ds):
        raise HttpError(406, f"object stored in {record.transfer_syntax_uid} cannot be sent in {ts}")
    if anonymize:
        ds = _anonymize(ds)
    body = write_part10(transcode(ds, ts) if ts != record.transfer_syntax_uid else ds, ts)
    return Response(body, content_type="application/dicom")
