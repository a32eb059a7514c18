"""WADO-URI: Retrieve DICOM Instance (PS3.18 2019a chapter 9.1-9.4).

``GET {wado}?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..&contentType=application/dicom``:
mandatory parameters (9.1.2.1, 9.4.2.1-2), the default Transfer Syntax (9.4.2.4,
8.7.3.4), ``transferSyntax`` (9.4.1.2.3, 9.4.2.4), forbidden media type
parameters in ``contentType`` (9.1.2.2.1), ``anonymize`` (9.4.2.3) and 404 for
unknown objects (9.4.3.1).  Rendered retrieval is in ``test_wado_uri_rendered.py``.

Expected values come from the fixture manifest (``truth``): UIDs, SOP Class,
and ``native_frames_sha256`` -- the SHA-256 of each frame decoded to native
little-endian bytes -- against which the returned pixel data is checked.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any

import numpy as np
import pydicom
import pytest

from dicomweb_conformance.preconditions import blocked

DICOM = "application/dicom"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
RLE = "1.2.840.10008.1.2.5"

CT = "vix-ct-axial-001.dcm"        # Explicit VR LE, signed 16-bit, private tags
LOCALIZER = "vix-ct-localizer-001.dcm"  # stored in Implicit VR Little Endian
JPEG_LS = "doe-mr-t2-003.dcm"      # JPEG-LS lossless
J2K = "doe-mr-t2-005.dcm"          # JPEG 2000 lossless
RLE_MR = "doe-mr-t2-006.dcm"       # RLE lossless
LOSSY_CINE = "jane-us-cine-001.dcm"  # JPEG Baseline (lossy), 12 frames


def uri_params(instance: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The four mandatory parameters of an instance (9.1.2.1) plus ``extra``."""
    return {"requestType": "WADO", "studyUID": instance["StudyInstanceUID"],
            "seriesUID": instance["SeriesInstanceUID"], "objectUID": instance["SOPInstanceUID"], **extra}


def part10(response: Any, expect: Any, *, req: Any) -> pydicom.Dataset:
    """The response payload as a DICOM Part 10 file (preamble, DICM, File Meta), or a check failure."""
    try:
        return pydicom.dcmread(io.BytesIO(response.content))
    except Exception as exc:  # pydicom raises several types for a payload that is not Part 10
        expect.fail(req=req, what="payload of the application/dicom response",
                    expected="a DICOM Part 10 file (128-byte preamble, 'DICM', File Meta Information)",
                    actual=f"{type(exc).__name__}: {exc}", response=response)


def native_frame_hashes(ds: pydicom.Dataset) -> list[str]:
    """SHA-256 of each frame as native little-endian bytes (decoded first when encapsulated)."""
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    ts = str(ds.file_meta.TransferSyntaxUID)
    if ts in (IMPLICIT_LE, EXPLICIT_LE):
        data = ds.PixelData
        size = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * (int(ds.BitsAllocated) // 8)
        return [hashlib.sha256(data[i * size:(i + 1) * size]).hexdigest() for i in range(frames)]
    array = ds.pixel_array
    dtype = np.dtype(("<i" if ds.PixelRepresentation else "<u") + str(int(ds.BitsAllocated) // 8))
    per_frame = [array] if frames == 1 else list(array)
    return [hashlib.sha256(np.ascontiguousarray(f).astype(dtype).tobytes()).hexdigest() for f in per_frame]


def _check_identity(ds: pydicom.Dataset, instance: dict[str, Any], expect: Any, response: Any, req: Any) -> None:
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        expect.equal(str(ds.get(keyword, "")), instance[keyword], req=req, response=response,
                     what=f"{keyword} of the returned instance")


# -- Retrieve DICOM Instance -----------------------------------------------------------------------
@pytest.mark.requirement("URI-001")
@pytest.mark.parametrize("name", [CT, "wang-ct-001.dcm"])
def test_retrieve_dicom_instance_returns_the_instance(client, truth, expect, name):
    instance = truth.instance_by_file(name)
    response = client.uri_get(uri_params(instance, contentType=DICOM))
    expect.status(response, 200, req="URI-001")
    expect.content_type(response, DICOM, req="URI-001")
    ds = part10(response, expect, req="URI-001")
    _check_identity(ds, instance, expect, response, "URI-001")


@pytest.mark.requirement("URI-026")
@pytest.mark.parametrize("content_type", [DICOM, None], ids=["application-dicom", "rendered-default"])
def test_response_carries_content_location(client, truth, expect, content_type):
    """8.6: "Any message with a payload should include a Content-Location header field" (SHOULD; the
    9.5.3 response syntax brackets it as optional)."""
    instance = truth.instance_by_file(CT)
    extra = {"contentType": content_type} if content_type else {}
    response = client.uri_get(uri_params(instance, **extra), headers={"Accept": "*/*"})
    if response.status_code != 200:
        blocked("URI-001", f"the retrieval answered {response.status_code}, not 200")
    expect.header(response, "Content-Location", req="URI-026")


@pytest.mark.requirement("URI-001", "URI-014")
def test_mandatory_parameters_in_any_order(client, truth, expect):
    """The seed's form: ``/wado?objectUID=...&requestType=WADO&...`` (9.1.2.1: any order)."""
    instance = truth.instance_by_file(CT)
    params = [("objectUID", instance["SOPInstanceUID"]), ("contentType", DICOM), ("requestType", "WADO"),
              ("seriesUID", instance["SeriesInstanceUID"]), ("studyUID", instance["StudyInstanceUID"])]
    response = client.uri_get(params)
    expect.status(response, 200, req="URI-014")
    _check_identity(part10(response, expect, req="URI-001"), instance, expect, response, "URI-014")


@pytest.mark.requirement("URI-004")
@pytest.mark.parametrize("name", [CT, LOCALIZER, JPEG_LS, J2K, RLE_MR, "wang-ct-001.dcm", LOSSY_CINE])
def test_default_transfer_syntax_is_explicit_vr_little_endian(client, truth, expect, name):
    """9.4.2.4: without transferSyntax the payload is Explicit VR Little Endian, pixels unchanged.

    Per 8.7.3.4 an origin server that has only lossy compressed pixel data may
    return the lossy Transfer Syntax it received: accepted for the JPEG Baseline fixture.
    """
    instance = truth.instance_by_file(name)
    response = client.uri_get(uri_params(instance, contentType=DICOM))
    expect.status(response, 200)
    ds = part10(response, expect, req="URI-004")
    ts = str(ds.file_meta.TransferSyntaxUID)
    allowed = {EXPLICIT_LE, instance["TransferSyntaxUID"]} if instance["lossy"] else {EXPLICIT_LE}
    expect.that(ts in allowed, what="Transfer Syntax UID (0002,0010) of the returned file",
                expected=" or ".join(sorted(allowed)), actual=ts, response=response)
    if not instance["lossy"]:
        expect.equal(native_frame_hashes(ds), instance["native_frames_sha256"], response=response,
                     what="SHA-256 of each returned frame (native little-endian bytes)",
                     note="the pixel data must be the stored pixels, decompressed losslessly")


@pytest.mark.requirement("URI-002")
@pytest.mark.parametrize("request_type", [None, "NOT-WADO", ""])
def test_missing_or_unsupported_request_type_is_400(client, truth, expect, request_type):
    params = uri_params(truth.instance_by_file(CT), contentType=DICOM)
    if request_type is None:
        del params["requestType"]
    else:
        params["requestType"] = request_type
    expect.status(client.uri_get(params), 400)


@pytest.mark.requirement("URI-003")
@pytest.mark.parametrize("missing", ["studyUID", "seriesUID", "objectUID"])
def test_missing_uid_parameter_is_400(client, truth, expect, missing):
    params = uri_params(truth.instance_by_file(CT), contentType=DICOM)
    del params[missing]
    expect.status(client.uri_get(params), 400)


@pytest.mark.requirement("URI-005")
@pytest.mark.parametrize("content_type", [f"{DICOM};transfer-syntax={EXPLICIT_LE}", f"{DICOM}; charset=utf-8"])
def test_content_type_with_dicom_media_type_parameters_is_400(client, truth, expect, content_type):
    response = client.uri_get(uri_params(truth.instance_by_file(CT), contentType=content_type))
    expect.status(response, 400)


@pytest.mark.requirement("URI-015")
@pytest.mark.parametrize("unknown", ["objectUID", "all"])
def test_unknown_object_is_404(client, truth, expect, unknown):
    instance = truth.instance_by_file(CT)
    never_stored = truth.uid_root + ".999.999"
    params = uri_params(instance, contentType=DICOM, objectUID=never_stored + ".1")
    if unknown == "all":
        params.update(studyUID=never_stored, seriesUID=never_stored + ".9")
    expect.status(client.uri_get(params), 404)


# -- transferSyntax (9.4.1.2.3, 9.4.2.4) -------------------------------------------------------------
@pytest.mark.requirement("URI-016")
@pytest.mark.parametrize("name", [JPEG_LS, RLE_MR])
def test_transfer_syntax_explicit_vr_little_endian_is_honoured(client, truth, expect, name):
    instance = truth.instance_by_file(name)
    response = client.uri_get(uri_params(instance, contentType=DICOM, transferSyntax=EXPLICIT_LE))
    expect.status(response, 200)
    ds = part10(response, expect, req="URI-016")
    expect.equal(str(ds.file_meta.TransferSyntaxUID), EXPLICIT_LE, what="Transfer Syntax UID (0002,0010)",
                 response=response)
    expect.equal(native_frame_hashes(ds), instance["native_frames_sha256"], response=response,
                 what="SHA-256 of each returned frame (native little-endian bytes)")


@pytest.mark.requirement("URI-016", "URI-006")
@pytest.mark.parametrize("name,syntax", [(JPEG_LS, JPEG_LS_LOSSLESS), (RLE_MR, RLE), (CT, JPEG_LS_LOSSLESS),
                                         (CT, RLE)])
def test_transfer_syntax_lossless_compressed_is_honoured_or_406(client, truth, expect, name, syntax):
    """A supported Transfer Syntax is used (9.4.2.4); one the server does not support is 406.

    Sending a compressed Transfer Syntax is optional, so 406 is accepted; what
    is not accepted is a 200 response in another Transfer Syntax (the
    parameter ignored) or lossless pixel data that decode to other pixels.
    """
    instance = truth.instance_by_file(name)
    response = client.uri_get(uri_params(instance, contentType=DICOM, transferSyntax=syntax))
    expect.status(response, (200, 406), req="URI-006")
    if response.status_code == 406:
        return
    ds = part10(response, expect, req="URI-016")
    expect.equal(str(ds.file_meta.TransferSyntaxUID), syntax, req="URI-016", response=response,
                 what="Transfer Syntax UID (0002,0010) of the returned file")
    expect.equal(native_frame_hashes(ds), instance["native_frames_sha256"], req="URI-016", response=response,
                 what="SHA-256 of each decoded frame", note="a lossless Transfer Syntax keeps every pixel")


@pytest.mark.requirement("URI-006")
@pytest.mark.parametrize("syntax", [EXPLICIT_BE, IMPLICIT_LE])
def test_transfer_syntax_forbidden_on_the_web_is_406(client, truth, expect, syntax):
    """8.7.3: Implicit VR LE and Explicit VR BE shall not be used with Web Services: never supported."""
    response = client.uri_get(uri_params(truth.instance_by_file(CT), contentType=DICOM, transferSyntax=syntax))
    expect.status(response, 406)


@pytest.mark.requirement("URI-017")
@pytest.mark.parametrize("value", ["not-a-uid", "1..2.840", f"{EXPLICIT_LE},{JPEG_LS_LOSSLESS}", "twice"])
def test_invalid_transfer_syntax_is_400(client, truth, expect, value):
    params: Any = uri_params(truth.instance_by_file(CT), contentType=DICOM)
    if value == "twice":
        params = list(params.items()) + [("transferSyntax", EXPLICIT_LE), ("transferSyntax", EXPLICIT_LE)]
    else:
        params["transferSyntax"] = value
    expect.status(client.uri_get(params), 400)


# -- anonymize (9.4.1.2.1, 9.4.2.3) ----------------------------------------------------------------
_IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "ReferringPhysicianName", "AccessionNumber",
                "OtherPatientIDsSequence")


@pytest.mark.requirement("URI-013")
def test_anonymize_returns_a_deidentified_instance(client, truth, expect):
    """PS3.15 Basic Profile: identifying attributes emptied or replaced, private data removed, new SOP UID."""
    instance = truth.instance_by_file(CT)
    original = pydicom.dcmread(io.BytesIO(truth.file_bytes(instance["SOPInstanceUID"])))
    response = client.uri_get(uri_params(instance, contentType=DICOM, anonymize="yes"))
    expect.status(response, 200)
    ds = part10(response, expect, req="URI-013")
    expect.that(str(ds.get("SOPInstanceUID", "")) not in ("", instance["SOPInstanceUID"]),
                what="SOP Instance UID of the de-identified instance", expected="a new UID",
                actual=str(ds.get("SOPInstanceUID")), response=response,
                note="9.4.2.3: the fixture was not de-identified, so the UID shall change")
    for keyword in _IDENTIFYING:
        before = original.get(keyword)
        after = ds.get(keyword)
        if before is None or before == "" or after is None or after == "":
            continue
        if keyword.endswith("Sequence"):
            kept = [str(i.get("PatientID")) for i in after if str(i.get("PatientID")) in
                    {str(j.get("PatientID")) for j in before}]
            expect.that(not kept, what=f"{keyword} of the de-identified instance",
                        expected="no original identifier", actual=kept, response=response)
            continue
        expect.that(str(after) != str(before), what=f"{keyword} of the de-identified instance",
                    expected="removed, emptied or replaced", actual=str(after), response=response)
    private = [str(e.tag) for e in ds if e.tag.is_private]
    expect.that(not private, what="private data elements of the de-identified instance", expected="none",
                actual=private, response=response, note="PS3.15 Basic Profile removes private attributes")


@pytest.mark.requirement("URI-025")
@pytest.mark.parametrize("value", ["no", "twice"])
def test_anonymize_with_invalid_value_is_400(client, truth, expect, value):
    params: Any = uri_params(truth.instance_by_file(CT), contentType=DICOM)
    if value == "twice":
        params = list(params.items()) + [("anonymize", "yes"), ("anonymize", "yes")]
    else:
        params["anonymize"] = value
    expect.status(client.uri_get(params), 400)
