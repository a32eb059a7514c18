"""WADO-URI: ``GET {WadoRoot}?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..`` (PS3.18 chapter 9).

``contentType`` selects ``application/dicom`` (the instance, optionally in
``transferSyntax`` and ``anonymize``-d) or a rendered type (``image/jpeg``
by default, ``image/png``, ``image/gif``) with ``frameNumber``,
``rows``/``columns``, ``region`` and ``windowCenter``/``windowWidth``.
"""

from __future__ import annotations

import hashlib
import re

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ..dicomweb import rendering
from ..dicomweb.transcoding import SUPPORTED_TARGETS, TranscodeError, can_transcode, transcode, write_part10
from ..errors import HttpError
from ..store.base import NotFound

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_RENDERED = ("image/jpeg", "image/png", "image/gif")
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
    if not _UID_RE.match(value) or len(value) > 64:
        raise HttpError(400, f"WADO-URI parameter {name} is not a valid UID: {value[:70]!r}")
    return value


def _content_types(raw: str | None) -> list[str]:
    if raw is None:
        return ["image/jpeg"]
    types = []
    for entry in raw.split(","):
        mime = entry.split(";")[0].strip().lower()
        params = entry.split(";")[1:]
        if any(p.strip().lower().startswith(("transfer-syntax", "charset")) for p in params):
            raise HttpError(400, "contentType must not carry transfer-syntax or charset parameters (PS3.18 9.1.2.2.1)")
        if mime:
            types.append(mime)
    if not types:
        raise HttpError(400, "contentType is empty")
    return types


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


def wado_uri(state, request: Request) -> Response:
    """Retrieve DICOM instance or rendered instance by WADO-URI."""
    request_type = _single(request, "requestType", True)
    if request_type != "WADO":
        raise HttpError(400, f"WADO-URI requestType must be WADO, got {request_type!r}")
    study, series, obj = _uid(request, "studyUID"), _uid(request, "seriesUID"), _uid(request, "objectUID")
    types = _content_types(_single(request, "contentType", False))
    try:
        record = state.store.instances(study, series, obj)[0]
    except NotFound:
        raise HttpError(404, f"no object {obj} in series {series} of study {study}") from None
    anonymize = _single(request, "anonymize", False)
    if anonymize is not None and anonymize != "yes":
        raise HttpError(400, f"WADO-URI anonymize must be 'yes', got {anonymize!r}")
    if "application/dicom" in types:
        if len(types) > 1 and any(t in _RENDERED for t in types):
            raise HttpError(400, "contentType mixes application/dicom with rendered media types")
        return _retrieve_dicom(state, request, record, anonymize == "yes")
    chosen = next((t for t in types if t in _RENDERED or t in ("image/*", "*/*")), None)
    if chosen is None:
        raise HttpError(406, f"none of the contentType values {', '.join(types)} can be produced; "
                             f"supported: application/dicom, {', '.join(_RENDERED)}")
    if chosen in ("image/*", "*/*"):
        chosen = "image/jpeg"
    if _single(request, "transferSyntax", False) is not None:
        raise HttpError(400, "transferSyntax applies to contentType=application/dicom only")
    if record.number_of_frames == 0:
        raise HttpError(406, f"object {obj} has no pixel data to render as {chosen}")
    try:
        params = rendering.parse_wado_uri_render_args(request.args.to_dict(flat=False), chosen)
    except rendering.RenderError as exc:
        raise HttpError(exc.status, exc.reason) from None
    if params.frame > record.number_of_frames:
        raise HttpError(400, f"frameNumber {params.frame} exceeds the {record.number_of_frames} frames of {obj}")
    ds = state.store.read_dataset(record)
    if anonymize == "yes":
        ds = _anonymize(ds)
    try:
        image = rendering.render(ds, params)
    except rendering.RenderError as exc:
        raise HttpError(exc.status, exc.reason) from None
    return Response(image, content_type=chosen)


def _retrieve_dicom(state, request: Request, record, anonymize: bool) -> Response:
    ts = _single(request, "transferSyntax", False)
    for rendered_only in ("rows", "columns", "region", "windowCenter", "windowWidth", "frameNumber"):
        if rendered_only in request.args:
            raise HttpError(400, f"WADO-URI parameter {rendered_only} is not allowed with contentType=application/dicom")
    if ts is not None:
        if not _UID_RE.match(ts) or len(ts) > 64:
            raise HttpError(400, f"transferSyntax is not a valid UID: {ts[:70]!r}")
        if ts not in SUPPORTED_TARGETS and ts != record.transfer_syntax_uid:
            raise HttpError(406, f"transfer syntax {ts} is not supported; supported: {', '.join(sorted(SUPPORTED_TARGETS))}")
    else:
        ts = "1.2.840.10008.1.2.1"
    if ts == record.transfer_syntax_uid and not anonymize:
        fh = state.store.open(record)
        return Response(wrap_file(request.environ, fh), content_type="application/dicom",
                        headers={"Content-Length": str(record.size)}, direct_passthrough=True)
    ds = state.store.read_dataset(record)
    if ts != record.transfer_syntax_uid and not can_transcode(record.transfer_syntax_uid, ts, ds):
        raise HttpError(406, f"object stored in {record.transfer_syntax_uid} cannot be sent in {ts}")
    if anonymize:
        ds = _anonymize(ds)
    try:
        body = write_part10(transcode(ds, ts) if ts != record.transfer_syntax_uid else ds, ts)
    except TranscodeError as exc:
        raise HttpError(406, str(exc)) from None
    return Response(body, content_type="application/dicom")
