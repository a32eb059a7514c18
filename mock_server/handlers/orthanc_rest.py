"""The part of Orthanc's own REST API that the seed relies on.

``GET /instances/{id}`` with ``MainDicomTags`` (to find an instance's
SOPInstanceUID for WADO-URI), listings of the four resource levels,
``POST /instances`` to upload a Part 10 file, ``DELETE`` of a resource and
``GET /system``.  Identifiers are Orthanc's (see :mod:`mock_server.store.orthanc_ids`).
"""

from __future__ import annotations

from typing import Any

from werkzeug.wrappers import Request, Response

from .. import __version__
from ..errors import HttpError
from ..state import AppState
from ..store.base import NotFound
from .common import check_no_content_coding, json_response, reading_body

_MAIN_TAGS = {
    "patients": ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "OtherPatientIDs"],
    "studies": ["StudyDate", "StudyTime", "StudyID", "StudyDescription", "AccessionNumber", "StudyInstanceUID",
                "ReferringPhysicianName", "InstitutionName", "RequestedProcedureDescription"],
    "series": ["SeriesDate", "SeriesTime", "Modality", "Manufacturer", "StationName", "SeriesDescription",
               "BodyPartExamined", "ProtocolName", "SeriesNumber", "SeriesInstanceUID", "OperatorsName",
               "ImageOrientationPatient"],
    "instances": ["InstanceCreationDate", "InstanceCreationTime", "AcquisitionNumber", "InstanceNumber",
                  "NumberOfFrames", "SOPInstanceUID", "ImagePositionPatient", "ImageOrientationPatient",
                  "ImageComments"],
}
_TYPES = {"patients": "Patient", "studies": "Study", "series": "Series", "instances": "Instance"}


def _keyword_tags() -> dict[str, str]:
    from pydicom.datadict import tag_for_keyword
    return {kw: f"{tag_for_keyword(kw):08X}" for tags in _MAIN_TAGS.values() for kw in tags}


_KEYWORD_TAGS = _keyword_tags()


def _as_text(element: dict[str, Any]) -> str:
    values = element.get("Value") or []
    out = []
    for v in values:
        if isinstance(v, dict):
            out.append("=".join(v.get(g, "") for g in ("Alphabetic", "Ideographic", "Phonetic")).rstrip("="))
        elif isinstance(v, float) and v.is_integer():
            out.append(str(int(v)))
        else:
            out.append(str(v))
    return "\\".join(out)


def main_dicom_tags(level: str, data: dict[str, Any]) -> dict[str, str]:
    """Orthanc's ``MainDicomTags`` of a level, from the index's DICOM JSON."""
    tags = {}
    for keyword in _MAIN_TAGS[level]:
        element = data.get(_KEYWORD_TAGS[keyword])
        if element is not None:
            tags[keyword] = _as_text(element)
    return tags


def _resource_json(state: AppState, level: str, oid: str) -> dict[str, Any]:
    found = state.store.orthanc_resource(level, oid)
    data = found["json"]
    body: dict[str, Any] = {"ID": oid, "Type": _TYPES[level], "MainDicomTags": main_dicom_tags(level, data),
                            "IsStable": True}
    if level == "patients":
        body["Studies"] = found["children"]
    elif level == "studies":
        body["ParentPatient"] = found["parent"]
        body["PatientMainDicomTags"] = main_dicom_tags("patients", data)
        body["Series"] = found["children"]
    elif level == "series":
        body["ParentStudy"] = found["parent"]
        body["Instances"] = found["children"]
    else:
        record = found["record"]
        body["ParentSeries"] = found["parent"]
        body["FileSize"] = record.size
        body["MainDicomTags"].setdefault("SOPInstanceUID", record.sop_instance_uid)
    return body


def system(state: AppState, request: Request) -> Response:
    """``GET /system``: server identity; answers as soon as the server is ready."""
    dw = state.settings.dicomweb
    return json_response({
        "Name": state.settings.name,
        "Version": f"mock-{__version__}",
        "ApiVersion": 0,
        "DicomWebPluginEnabled": dw.enable,
        "DicomWebRoot": dw.root,
        "WadoRoot": dw.wado_root if dw.enable_wado else None,
        "HttpPort": state.settings.http_port,
        "Server": "dicomweb-conformance mock server",
    })


def list_resources(state: AppState, request: Request, level: str) -> Response:
    """``GET /patients|studies|series|instances``: Orthanc identifiers; ``?expand`` gives details."""
    ids = state.store.orthanc_ids(level)
    if "expand" in request.args:
        return json_response([_resource_json(state, level, oid) for oid in ids])
    return json_response(ids)


def get_resource(state: AppState, request: Request, level: str, oid: str) -> Response:
    """``GET /{level}/{id}``."""
    return json_response(_resource_json(state, level, oid))


def instance_file(state: AppState, request: Request, oid: str) -> Response:
    """``GET /instances/{id}/file``: the stored Part 10 file."""
    record = state.store.orthanc_resource("instances", oid)["record"]
    from werkzeug.wsgi import wrap_file
    fh = state.store.open(record)
    return Response(wrap_file(request.environ, fh), content_type="application/dicom",
                    headers={"Content-Length": str(record.size)}, direct_passthrough=True)


def upload_instance(state: AppState, request: Request) -> Response:
    """``POST /instances``: store the Part 10 file in the body."""
    check_no_content_coding(request)
    if not request.content_length and request.headers.get("Transfer-Encoding", "").lower() != "chunked":
        raise HttpError(400, "POST /instances needs a DICOM Part 10 file as the request body")
    with reading_body(state):
        result = state.store.add(request.stream)
    r = result.record
    from ..store.orthanc_ids import patient_id, study_id
    return json_response({
        "ID": r.orthanc_id, "Path": f"/instances/{r.orthanc_id}",
        "Status": "AlreadyStored" if result.replaced else "Success",
        "ParentPatient": patient_id(r.patient_id),
        "ParentStudy": study_id(r.patient_id, r.study_instance_uid),
        "ParentSeries": r.series_orthanc_id,
    })


_PARENT_LEVEL = {"instances": "series", "series": "studies", "studies": "patients"}


def _ancestors(state: AppState, level: str, oid: str) -> list[tuple[str, str]]:
    """(level, id) of the resource's parent, grandparent ..., nearest first."""
    chain = []
    parent = state.store.orthanc_resource(level, oid)["parent"]  # NotFound -> 404
    while level in _PARENT_LEVEL and parent:
        level = _PARENT_LEVEL[level]
        chain.append((level, parent))
        try:
            parent = state.store.orthanc_resource(level, parent)["parent"]
        except NotFound:
            parent = None
    return chain


def delete_resource(state: AppState, request: Request, level: str, oid: str) -> Response:
    """``DELETE /{level}/{id}``: remove the resource and everything below it.

    As Orthanc, answers the nearest ancestor that still exists afterwards (a parent
    left without children is removed too), or null.
    """
    with state.lock:
        ancestors = _ancestors(state, level, oid)
        state.store.delete_resource(level, oid)
        remaining = None
        for parent_level, parent in ancestors:
            try:
                state.store.orthanc_resource(parent_level, parent)
            except NotFound:
                continue
            remaining = {"ID": parent, "Path": f"/{parent_level}/{parent}", "Type": _TYPES[parent_level]}
            break
    return json_response({"RemainingAncestor": remaining})
