"""STOW-RS of Metadata accompanied by Bulkdata (PS3.18 2019a 10.5.1.4, Table 10.5.4-1).

The request payload of the Store transaction "shall consist of either: SOP Instances, or Metadata
accompanied by Bulkdata" (10.5.1.4), and Table 10.5.4-1 makes the metadata forms mandatory:
``application/dicom+json`` is the Default, ``multipart/related; type="application/dicom+xml"`` and
``multipart/related; type="application/octet-stream"`` are Required ("The origin server shall
support the default and required media types").

Each test takes a fixture instance under brand-new UIDs (``fresh_truth()``), writes its data set
as DICOM JSON (pydicom's own encoder, Annex F) or as a Native DICOM Model document (built here from
that JSON, PS3.19 A.1), moves every non-empty binary element (Pixel Data, nested icon Pixel Data,
private OB) into an ``application/octet-stream`` part of its own, Little Endian (10.5.1.4), and
names that part by its Content-Location in the metadata (``BulkDataURI``; ``BulkData uri`` in XML,
the attribute F.3.1 maps to it -- PS3.18 2019a names no part identifier for a ``BulkData uuid``).
All metadata parts precede the bulk data parts (8.6.1.2).  The instance is then retrieved with
``transfer-syntax=*`` and compared with the fixture data set, as the STOW-RS round trip does.

Compressed pixel data (10.5.2, Table 10.5.2-1): a JPEG 2000 frame as ``image/jp2`` ("Unchanged"), with
and without the Image Pixel Description Macro, and 8-bit RGB pixels as ``image/png`` ("Transform").
A server that answers 415 to the JSON form fails STOW-016 in its own tests; the tests that need that
form for something else are then blocked by STOW-016.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import numpy as np
import pydicom
import pytest
from lxml import etree
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.preconditions import blocked
from dicomweb_conformance.schemas import NATIVE_DICOM_NS
from dicomweb_conformance.checks.stow import check_partly_stored, check_referenced, not_stored, store_module
from dicomweb_conformance.test_stow_roundtrip import (_PIXEL_ENCODING, ANY_SYNTAX, PIXEL_DATA, SPECIFIC_CHARACTER_SET,
                                                      _coerced, _diff, _pixel_problems)
from dicomweb_conformance.test_wado_metadata import UTF8_CHARSET

JSON = "application/dicom+json"
XML = "application/dicom+xml"
OCTETS = "application/octet-stream"
_PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")

#: Explicit VR Little Endian fixtures: a private OB element and a private block (vix-ct-axial), an
#: icon with its own Pixel Data in a sequence (vix-sc-rgb), Latin-1 names (doe-mr-t2).
CASES = ["vix-ct-axial-001.dcm", "vix-sc-rgb-001.dcm", "doe-mr-t2-001.dcm"]
JP2 = "yamada-cr-001.dcm"  # JPEG 2000 Image Compression (Lossless Only), one frame
#: The Image Pixel Description Macro (PS3.3 C.7.6.3): Samples per Pixel, Photometric Interpretation, Rows,
#: Columns, Bits Allocated, Bits Stored, High Bit, Pixel Representation, Planar Configuration, Pixel Aspect
#: Ratio, Smallest / Largest Image Pixel Value, the palette descriptors and data, ICC Profile, Color Space.
PIXEL_DESCRIPTION = {0x00280002, 0x00280004, 0x00280010, 0x00280011, 0x00280100, 0x00280101, 0x00280102,
                     0x00280103, 0x00280006, 0x00280034, 0x00280106, 0x00280107, 0x00281101, 0x00281102,
                     0x00281103, 0x00281201, 0x00281202, 0x00281203, 0x00282000, 0x00282002}


class Request:
    """The parts of one Metadata and Bulkdata request: metadata first, then bulk data (8.6.1.2)."""

    def __init__(self, client: Any):
        self.root = client.dicomweb_url
        self.metadata: list[tuple[bytes, str]] = []
        self.bulk: list[tuple[bytes, str, str]] = []

    def bulk_uri(self, data: bytes, content_type: str = OCTETS) -> str:
        """A new bulk data part; its Content-Location, which the metadata uses as BulkDataURI."""
        location = f"{self.root}bulkdata/{uuid.uuid4()}"
        self.bulk.append((data, content_type, location))
        return location

    def body(self, root_type: str) -> tuple[bytes, str]:
        boundary = f"dicomweb-conformance-{uuid.uuid4().hex}"
        chunks = []
        for data, ctype, location in [(d, t, None) for d, t in self.metadata] + self.bulk:
            head = f"--{boundary}\r\nContent-Type: {ctype}\r\n"
            head += f"Content-Location: {location}\r\n" if location else ""
            chunks += [f"{head}Content-Length: {len(data)}\r\n\r\n".encode("ascii"), data, b"\r\n"]
        chunks.append(f"--{boundary}--\r\n".encode("ascii"))
        return b"".join(chunks), f'multipart/related; type="{root_type}"; boundary={boundary}'

    def send(self, client: Any, root_type: str) -> Any:
        body, content_type = self.body(root_type)
        return client.post("studies", data=body, headers={"Content-Type": content_type, "Accept": JSON})


def dataset_json(ds: Dataset, request: Request) -> dict[str, Any]:
    """DICOM JSON of ``ds`` (pydicom's encoder), every non-empty binary value a bulk data part."""
    def handler(element: Any) -> str:
        return request.bulk_uri(bytes(element.value))
    return ds.to_json_dict(bulk_data_threshold=0, bulk_data_element_handler=handler)


def _xml_attribute(parent: Any, key: str, attr: dict[str, Any], creators: dict[tuple[int, int], str]) -> None:
    tag = int(key, 16)
    group, element = tag >> 16, tag & 0xFFFF
    if group & 1 and 0x10 <= element <= 0xFF:
        return  # a Private Creator: conveyed by the privateCreator of its elements (A.1.5)
    node = etree.SubElement(parent, f"{{{NATIVE_DICOM_NS}}}DicomAttribute", vr=attr["vr"])
    if group & 1 and element > 0xFF:  # "a Private Data Element has the form gggg00ee" (A.1.5)
        node.set("tag", f"{group:04X}00{element & 0xFF:02X}")
        node.set("privateCreator", creators[(group, element >> 8)])
    else:
        node.set("tag", key)
    if "BulkDataURI" in attr:
        etree.SubElement(node, f"{{{NATIVE_DICOM_NS}}}BulkData", uri=attr["BulkDataURI"])
    elif "InlineBinary" in attr:
        etree.SubElement(node, f"{{{NATIVE_DICOM_NS}}}InlineBinary").text = attr["InlineBinary"]
    for number, value in enumerate(attr.get("Value") or [], 1):
        if attr["vr"] == "SQ":
            _xml_dataset(etree.SubElement(node, f"{{{NATIVE_DICOM_NS}}}Item", number=str(number)), value)
        elif attr["vr"] == "PN":
            name = etree.SubElement(node, f"{{{NATIVE_DICOM_NS}}}PersonName", number=str(number))
            for group_name, text in (value or {}).items():
                group_node = etree.SubElement(name, f"{{{NATIVE_DICOM_NS}}}{group_name}")
                for component, part in zip(_PN_COMPONENTS, text.split("^")):
                    if part:
                        etree.SubElement(group_node, f"{{{NATIVE_DICOM_NS}}}{component}").text = part
        else:
            text = "" if value is None else str(value)
            etree.SubElement(node, f"{{{NATIVE_DICOM_NS}}}Value", number=str(number)).text = text


def _xml_dataset(parent: Any, obj: dict[str, Any]) -> None:
    creators = {(int(k[:4], 16), int(k[6:], 16)): v["Value"][0] for k, v in obj.items()
                if int(k[:4], 16) & 1 and 0x10 <= int(k[4:], 16) <= 0xFF and v.get("Value")}
    for key in sorted(obj):
        _xml_attribute(parent, key, obj[key], creators)


def native_dicom_model(obj: dict[str, Any]) -> bytes:
    """The Native DICOM Model document (PS3.19 A.1) of a DICOM JSON object (the mapping of F.3.1)."""
    root = etree.Element(f"{{{NATIVE_DICOM_NS}}}NativeDicomModel", nsmap={None: NATIVE_DICOM_NS})
    root.set("{http://www.w3.org/XML/1998/namespace}space", "preserve")
    _xml_dataset(root, obj)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def unsupported(response: Any) -> None:
    """A 415 says the server does not take the metadata form at all: STOW-016's own tests report that."""
    if response.status_code == 415:
        blocked("STOW-016", 'multipart/related; type="application/dicom+json" answered 415 Unsupported Media Type')


def retrieve(client: Any, expect: Any, instance: dict[str, Any], req: str) -> Dataset:
    """The stored instance, retrieved with transfer-syntax=* (one application/dicom part)."""
    path = (f"studies/{instance['StudyInstanceUID']}/series/{instance['SeriesInstanceUID']}"
            f"/instances/{instance['SOPInstanceUID']}")
    response = client.get(path, headers={"Accept": ANY_SYNTAX})
    expect.status(response, 200, req=req)
    mp = expect_multipart(response, req=req, root_type="application/dicom", part_types="application/dicom")
    try:
        return pydicom.dcmread(io.BytesIO(mp.parts[0].body))
    except Exception as exc:  # pydicom raises several types for a payload that is not Part 10
        expect.fail(req=req, what="the retrieved part", expected="a DICOM Part 10 file",
                    actual=f"{type(exc).__name__}: {exc}", response=response)


def compare(sent: Dataset, got: Dataset, expect: Any, req: str, what: str) -> None:
    """Every data element sent, with its value and VR, and the pixel data (STOW-013's comparison)."""
    sent_ts, got_ts = str(sent.file_meta.TransferSyntaxUID), str(got.file_meta.TransferSyntaxUID)
    skip = {PIXEL_DATA} | _coerced(got) | (_PIXEL_ENCODING if got_ts != sent_ts else set())
    if got.get("SpecificCharacterSet") == UTF8_CHARSET:
        skip.add(SPECIFIC_CHARACTER_SET)
    problems = _diff(sent, got, compare_vr=True, skip=skip) + _pixel_problems(sent, got, lossy=False)
    expect.equal(problems, [], req=req, what=f"{what}: data elements that differ from the fixture (got {got_ts})")


def _store(client: Any, fresh: Any, name: str, root_type: str) -> tuple[dict[str, Any], Any]:
    instance = fresh.instance_by_file(name)
    ds = pydicom.dcmread(io.BytesIO(fresh.file_bytes(instance["SOPInstanceUID"])))
    request = Request(client)
    obj = dataset_json(ds, request)
    if root_type == JSON:
        request.metadata.append((json.dumps([obj]).encode("utf-8"), JSON))
    else:
        request.metadata.append((native_dicom_model(obj), XML))
    return instance, request.send(client, root_type)


# -- storing metadata and bulk data -------------------------------------------------------------------
@pytest.mark.requirement("STOW-016", "STOW-018", "STOW-003")
@pytest.mark.parametrize("name", CASES)
def test_dicom_json_metadata_with_bulk_data(client, fresh_truth, expect, name):
    fresh = fresh_truth()
    instance, response = _store(client, fresh, name, JSON)
    expect.status(response, 200, req="STOW-016")
    check_referenced(store_module(response, expect, req="STOW-003"), [instance], expect, response, "STOW-003")
    sent = pydicom.dcmread(io.BytesIO(fresh.file_bytes(instance["SOPInstanceUID"])))
    compare(sent, retrieve(client, expect, instance, "STOW-018"), expect, "STOW-018", name)


@pytest.mark.requirement("STOW-017", "STOW-018", "STOW-003")
@pytest.mark.parametrize("name", CASES)
def test_dicom_xml_metadata_with_bulk_data(client, fresh_truth, expect, name):
    fresh = fresh_truth()
    instance, response = _store(client, fresh, name, XML)
    expect.status(response, 200, req="STOW-017")
    check_referenced(store_module(response, expect, req="STOW-003"), [instance], expect, response, "STOW-003")
    sent = pydicom.dcmread(io.BytesIO(fresh.file_bytes(instance["SOPInstanceUID"])))
    compare(sent, retrieve(client, expect, instance, "STOW-018"), expect, "STOW-018", name)


@pytest.mark.requirement("STOW-019")
def test_jpeg_2000_pixel_data_is_kept_unchanged(client, fresh_truth, expect):
    """Table 10.5.2-1: image/jp2 is "Unchanged": encapsulated in the corresponding DICOM Transfer Syntax
    without further lossy compression.  The fixture is JPEG 2000 lossless: retrieved with transfer-syntax=*,
    the instance holds the same codestream (1.2.840.10008.1.2.4.90 or .91), or -- where the server chose
    another Transfer Syntax for the answer -- the same decoded pixels."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file(JP2)
    ds = pydicom.dcmread(io.BytesIO(fresh.file_bytes(instance["SOPInstanceUID"])))
    codestream = next(generate_frames(ds.PixelData, number_of_frames=1))
    request = Request(client)
    obj = dataset_json(ds, request)
    # the encapsulated Pixel Data goes as the image/jp2 codestream of its one frame, not as octets
    request.bulk = [part for part in request.bulk if part[2] != obj["7FE00010"]["BulkDataURI"]]
    obj["7FE00010"] = {"vr": "OB", "BulkDataURI": request.bulk_uri(codestream, "image/jp2")}
    request.metadata.append((json.dumps([obj]).encode("utf-8"), JSON))
    response = request.send(client, JSON)
    unsupported(response)
    expect.status(response, 200, req="STOW-019")
    # the same Transfer Syntax: the same frame, byte for byte; another one: the same decoded pixels
    compare(ds, retrieve(client, expect, instance, "STOW-019"), expect, "STOW-019", JP2)


def _without_pixel_description(obj: dict[str, Any]) -> dict[str, Any]:
    """The metadata without the Image Pixel Description Macro (PS3.3 C.7.6.3), which 10.5.2 lets the
    request omit for the media types of Table 10.5.2-1."""
    return {key: attr for key, attr in obj.items() if int(key, 16) not in PIXEL_DESCRIPTION}


def compare_derived(sent: Dataset, got: Dataset, expect: Any, req: str, what: str, macro_req: str = "STOW-021",
                    pixel_req: str | None = None) -> None:
    """The attributes sent, the macro values the stream defines (``macro_req``), and the decoded pixels
    (``pixel_req``, default ``req``)."""
    pixel_req = pixel_req or req
    skip = {PIXEL_DATA} | PIXEL_DESCRIPTION | _coerced(got)
    if got.get("SpecificCharacterSet") == UTF8_CHARSET:
        skip.add(SPECIFIC_CHARACTER_SET)
    expect.equal(_diff(sent, got, compare_vr=True, skip=skip), [], req=req,
                 what=f"{what}: data elements other than the Image Pixel Description Macro that differ")
    derived = {k: (sent.get(k), got.get(k)) for k in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated",
                                                      "BitsStored", "HighBit", "PixelRepresentation")}
    expect.equal({k: v[1] for k, v in derived.items()}, {k: v[0] for k, v in derived.items()}, req=macro_req,
                 what=f"{what}: Image Pixel Description Macro values derived from the pixel data")
    try:
        same = np.array_equal(sent.pixel_array, got.pixel_array)
    except Exception as exc:  # a decoder pydicom lacks, or Pixel Data that does not fit the macro
        expect.fail(req=pixel_req, what=f"{what}: decoding the stored Pixel Data", expected="decodable",
                    actual=f"{type(exc).__name__}: {exc}")
    expect.that(same, req=pixel_req, what=f"{what}: decoded pixels of the stored instance",
                expected="the pixels sent (a lossless Transform or Unchanged)", actual="other pixel values")


@pytest.mark.requirement("STOW-021", "STOW-019")
def test_jpeg_2000_without_pixel_description(client, fresh_truth, expect):
    """10.5.2: with image/jp2 Bulkdata "the request may omit the Image Pixel Description Macro Attributes
    and the origin server will derive them from the compressed octet stream".  Photometric Interpretation is
    not compared: 10.5.2 note 6 lets a server assume MONOCHROME2 for one channel (the fixture says
    MONOCHROME1), so the raw decoded values are."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file(JP2)
    ds = pydicom.dcmread(io.BytesIO(fresh.file_bytes(instance["SOPInstanceUID"])))
    request = Request(client)
    obj = _without_pixel_description(dataset_json(ds, request))
    request.bulk = [part for part in request.bulk if part[2] != obj["7FE00010"]["BulkDataURI"]]
    codestream = next(generate_frames(ds.PixelData, number_of_frames=1))
    obj["7FE00010"] = {"vr": "OB", "BulkDataURI": request.bulk_uri(codestream, "image/jp2")}
    request.metadata.append((json.dumps([obj]).encode("utf-8"), JSON))
    response = request.send(client, JSON)
    unsupported(response)
    expect.status(response, 200, req="STOW-021")
    # the pixels of an Unchanged media type are STOW-019's rule, the derived macro STOW-021's
    compare_derived(ds, retrieve(client, expect, instance, "STOW-021"), expect, "STOW-021", JP2, pixel_req="STOW-019")


@pytest.mark.requirement("STOW-020", "STOW-021")
def test_png_pixel_data_is_transformed(client, fresh_truth, expect):
    """Table 10.5.2-1: image/png is "Transform": no DICOM Transfer Syntax exists, the origin server stores
    it in "an uncompressed or lossless compressed Transfer Syntax"; the metadata omits the Image Pixel
    Description Macro, which the server derives from the image (10.5.2).  The fixture is 8-bit RGB, which
    PNG holds losslessly: the decoded pixels must come back unchanged."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file("vix-sc-rgb-001.dcm")
    ds = pydicom.dcmread(io.BytesIO(fresh.file_bytes(instance["SOPInstanceUID"])))
    png = io.BytesIO()
    Image.fromarray(ds.pixel_array).save(png, format="PNG")
    request = Request(client)
    obj = _without_pixel_description(dataset_json(ds, request))
    request.bulk = [part for part in request.bulk if part[2] != obj["7FE00010"]["BulkDataURI"]]
    obj["7FE00010"] = {"vr": "OB", "BulkDataURI": request.bulk_uri(png.getvalue(), "image/png")}
    request.metadata.append((json.dumps([obj]).encode("utf-8"), JSON))
    response = request.send(client, JSON)
    unsupported(response)
    expect.status(response, 200, req="STOW-020")
    compare_derived(ds, retrieve(client, expect, instance, "STOW-020"), expect, "STOW-020", "vix-sc-rgb-001.dcm")


# -- what cannot be stored ----------------------------------------------------------------------------
@pytest.mark.requirement("STOW-016", "STOW-008", "STOW-004", "STOW-003")
def test_bulk_data_uri_naming_no_part_fails_that_instance(client, fresh_truth, expect):
    """Two instances in one JSON array; the second's Pixel Data names a Content-Location no part has, so
    that instance lacks its Pixel Data and cannot be stored: 202 with it in the FailedSOPSequence, or
    400/409 when the server stored neither (Table 10.5.3-1, as for the other partly failed requests)."""
    fresh = fresh_truth()
    good = fresh.instance_by_file("doe-mr-t2-001.dcm")
    bad = fresh.instance_by_file("doe-mr-t2-002.dcm")
    request = Request(client)
    objects = [dataset_json(pydicom.dcmread(io.BytesIO(fresh.file_bytes(i["SOPInstanceUID"]))), request)
               for i in (good, bad)]
    request.bulk = [part for part in request.bulk if part[2] != objects[1]["7FE00010"]["BulkDataURI"]]
    request.metadata.append((json.dumps(objects).encode("utf-8"), JSON))
    response = request.send(client, JSON)
    unsupported(response)
    check_partly_stored(client, expect, response, good, bad, "STOW-004", nothing_stored=(400, 409))


@pytest.mark.requirement("STOW-016", "STOW-007")
def test_metadata_part_that_is_not_json_is_400(client, fresh_truth, expect):
    """A type="application/dicom+json" request whose metadata part is not JSON has nothing storable: 400
    ("unable to store any instances due to bad syntax", Table 10.5.3-1)."""
    fresh = fresh_truth()
    instance = fresh.instance_by_file("doe-mr-t2-001.dcm")
    ds = pydicom.dcmread(io.BytesIO(fresh.file_bytes(instance["SOPInstanceUID"])))
    request = Request(client)
    text = json.dumps([dataset_json(ds, request)])
    request.metadata.append((text[: len(text) // 2].encode("utf-8"), JSON))  # cut in the middle
    response = request.send(client, JSON)
    unsupported(response)
    expect.status(response, 400, req="STOW-007")
    not_stored(client, expect, instance["SOPInstanceUID"], "STOW-007")
