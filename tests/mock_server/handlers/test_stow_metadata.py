"""STOW-RS of Metadata accompanied by Bulkdata over HTTP (PS3.18 2019a 10.5.1.4, Table 10.5.4-1).

Bodies are built here byte by byte: a DICOM JSON array part (or one Native DICOM Model part per
instance) first, then one part per bulk data item with its Content-Location (8.6.1.2).  Expected
data come from the fixture files; status codes from Table 10.5.3-1.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pydicom
import pytest

from dicomweb_mock.dicomweb.multipart import get_boundary, iter_multipart
from tests.helpers.http import MockClient

STUDIES = "/dicom-web/studies"
BOUNDARY = "stow-metadata-boundary-91c2"
FAILED_SEQ, REFERENCED_SEQ, OTHER_SEQ, FAILURE_REASON = "00081198", "00081199", "0008119A", "00081197"
NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"


def body(parts: list[tuple[str, bytes, dict[str, str]]]) -> bytes:
    out = bytearray()
    for ctype, data, headers in parts:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        out += f"--{BOUNDARY}\r\nContent-Type: {ctype}\r\n{head}\r\n".encode() + data + b"\r\n"
    return bytes(out + f"--{BOUNDARY}--\r\n".encode())


def post(app, parts, root="application/dicom+json"):
    return MockClient(app).post(STUDIES, data=body(parts), headers={
        "Content-Type": f'multipart/related; type="{root}"; boundary={BOUNDARY}', "Accept": "application/dicom+json"})


def json_and_bulk(path, prefix="http://client.test/bulk") -> tuple[pydicom.Dataset, dict[str, Any], list]:
    """The fixture's DICOM JSON, every binary value moved into an octet-stream part."""
    ds = pydicom.dcmread(path)
    bulk: list[tuple[str, bytes, dict[str, str]]] = []

    def handler(element: Any) -> str:
        uri = f"{prefix}/{len(bulk)}"
        bulk.append(("application/octet-stream", bytes(element.value), {"Content-Location": uri}))
        return uri
    return ds, ds.to_json_dict(bulk_data_threshold=0, bulk_data_element_handler=handler), bulk


def retrieve(app, ds) -> pydicom.Dataset:
    """The stored instance, retrieved by WADO-RS with transfer-syntax=* (the stored file)."""
    r = MockClient(app).get(f"{STUDIES}/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/"
                        f"{ds.SOPInstanceUID}", headers={"Accept": 'multipart/related; type="application/dicom"; '
                                                                    "transfer-syntax=*"})
    assert r.status_code == 200
    [part] = list(iter_multipart(io.BytesIO(r.get_data()), get_boundary(r.headers["Content-Type"])))
    return pydicom.dcmread(io.BytesIO(part.read()))


def module(r) -> dict[str, Any]:
    assert r.headers["Content-Type"].startswith("application/dicom+json")
    return json.loads(r.get_data())


def test_json_metadata_with_bulk_data_is_stored_and_served_back(empty_app, files):
    ds, obj, bulk = json_and_bulk(files["vix-ct-axial-001.dcm"])
    r = post(empty_app, [("application/dicom+json", json.dumps([obj]).encode(), {})] + bulk)
    assert r.status_code == 200, r.headers.get("Warning")
    [item] = module(r)[REFERENCED_SEQ]["Value"]
    assert item["00081155"]["Value"] == [ds.SOPInstanceUID]
    got = retrieve(empty_app, ds)
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert got.PixelData == ds.PixelData and got[0x0029, 0x1012].value == ds[0x0029, 0x1012].value
    found = MockClient(empty_app).get(f"{STUDIES}/{ds.StudyInstanceUID}/instances",
                                  headers={"Accept": "application/dicom+json"})
    assert [i["00080018"]["Value"] for i in json.loads(found.get_data())] == [[ds.SOPInstanceUID]]


@pytest.mark.parametrize("reference", ["uri", "uuid"])
def test_xml_metadata_with_bulk_data_by_uri_or_uuid(empty_app, files, reference):
    from lxml import etree

    ds, obj, bulk = json_and_bulk(files["doe-mr-t2-001.dcm"])
    root = etree.Element(f"{{{NS}}}NativeDicomModel", nsmap={None: NS})
    for key, attr in obj.items():
        node = etree.SubElement(root, f"{{{NS}}}DicomAttribute", tag=key, vr=attr["vr"])
        if "BulkDataURI" in attr:
            if reference == "uri":
                etree.SubElement(node, f"{{{NS}}}BulkData", uri=attr["BulkDataURI"])
            else:
                etree.SubElement(node, f"{{{NS}}}BulkData", uuid="a1b2c3")
                bulk[0] = ("application/octet-stream", bulk[0][1], {"Content-ID": "<a1b2c3>"})
        for n, value in enumerate(attr.get("Value", []), 1):
            if attr["vr"] == "PN":  # the whole alphabetic name as the family name: only bulk data is checked
                name = etree.SubElement(node, f"{{{NS}}}PersonName", number=str(n))
                alphabetic = etree.SubElement(name, f"{{{NS}}}Alphabetic")
                etree.SubElement(alphabetic, f"{{{NS}}}FamilyName").text = value["Alphabetic"]
            elif attr["vr"] != "SQ":  # sequences go empty
                etree.SubElement(node, f"{{{NS}}}Value", number=str(n)).text = str(value)
    r = post(empty_app, [("application/dicom+xml", etree.tostring(root), {})] + bulk, root="application/dicom+xml")
    assert r.status_code == 200, r.headers.get("Warning")
    assert retrieve(empty_app, ds).PixelData == ds.PixelData


def test_instance_whose_bulk_data_part_is_missing_fails_alone(empty_app, files):
    good, good_obj, good_bulk = json_and_bulk(files["doe-mr-t2-001.dcm"], "http://client.test/a")
    bad, bad_obj, _ = json_and_bulk(files["doe-mr-t2-002.dcm"], "http://client.test/b")
    r = post(empty_app, [("application/dicom+json", json.dumps([good_obj, bad_obj]).encode(), {})] + good_bulk)
    assert r.status_code == 202
    obj = module(r)
    [failed] = obj[FAILED_SEQ]["Value"]
    assert failed["00081155"]["Value"] == [bad.SOPInstanceUID] and failed[FAILURE_REASON]["Value"] == [0xC000]
    assert "names no part" in r.headers["Warning"]
    assert empty_app.store.counts()["instances"] == 1


@pytest.mark.parametrize("parts", [
    [("application/dicom+json", b'[{"00080018": ', {})],  # cut short
    [("application/dicom+json", b'{"00080018": {"vr": "XX"}}', {})],  # not storable (no instance)
    [("application/octet-stream", b"\x00\x01", {"Content-Location": "http://client.test/x"})],  # no metadata
])
def test_nothing_storable_is_400_with_a_reason(empty_app, parts):
    r = post(empty_app, parts)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/dicom+json") and r.headers["Warning"]
    obj = module(r)
    assert obj.get(FAILED_SEQ) or obj.get(OTHER_SEQ)
    assert empty_app.store.counts()["instances"] == 0


def test_png_pixel_data_is_decoded(empty_app):
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (3, 2), (1, 2, 3)).save(out, format="PNG")
    obj = {"00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.7"]},
           "00080018": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.1.77"]},
           "0020000D": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.1.78"]},
           "0020000E": {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.1.79"]},
           "00100020": {"vr": "LO", "Value": ["PNG-1"]},
           "7FE00010": {"vr": "OB", "BulkDataURI": "px"}}
    r = post(empty_app, [("application/dicom+json", json.dumps([obj]).encode(), {}),
                         ("image/png", out.getvalue(), {"Content-Location": "px"})])
    assert r.status_code == 200, r.headers.get("Warning")
    ds = pydicom.Dataset()
    ds.SOPInstanceUID, ds.StudyInstanceUID, ds.SeriesInstanceUID = (
        "1.2.826.0.1.3680043.10.1.77", "1.2.826.0.1.3680043.10.1.78", "1.2.826.0.1.3680043.10.1.79")
    got = retrieve(empty_app, ds)
    assert (got.Rows, got.Columns, got.PhotometricInterpretation) == (2, 3, "RGB")
    assert bytes(got.PixelData) == bytes([1, 2, 3] * 6)
