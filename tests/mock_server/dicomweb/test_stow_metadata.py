"""Metadata accompanied by Bulkdata -> Part 10 (mock_server.dicomweb.stow_metadata; PS3.18 2019a 10.5.1.4,
10.5.2, Tables 8.7.3-5 and 10.5.2-1).

Expectations come from the fixture files (the data set the metadata was written from) and from the
standard's tables: octet-stream bulk data is Explicit VR Little Endian, image/jp2 defaults to JPEG 2000
lossless (1.2.840.10008.1.2.4.90), image/png has no Transfer Syntax and is decoded.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames

from dicomweb_mock.dicomweb.stow_metadata import (InstanceError, MetadataError, build_instance, metadata_objects,
                                                  part_keys, sop_uids)

BASE = "http://mock.test/dicom-web/studies"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
MACRO = ("SamplesPerPixel", "PhotometricInterpretation", "Rows", "Columns", "BitsAllocated", "BitsStored",
         "HighBit", "PixelRepresentation", "PlanarConfiguration")


@dataclass
class FakePart:
    data: bytes
    media_type: str = "application/octet-stream"
    params: dict[str, str] = field(default_factory=dict)

    def read(self) -> bytes:
        return self.data


def metadata(path: Path) -> tuple[dict[str, Any], dict[str, FakePart], pydicom.Dataset]:
    """DICOM JSON of a fixture (pydicom's encoder), each binary value a bulk part under BASE/bulk/n."""
    ds = pydicom.dcmread(path)
    bulk: dict[str, FakePart] = {}

    def handler(element: Any) -> str:
        uri = f"{BASE}/bulk/{len(bulk)}"
        bulk[uri] = FakePart(bytes(element.value))
        return uri
    return ds.to_json_dict(bulk_data_threshold=0, bulk_data_element_handler=handler), bulk, ds


def read(data: bytes) -> pydicom.Dataset:
    return pydicom.dcmread(io.BytesIO(data))


# -- part references -----------------------------------------------------------------------------------
def test_part_keys_resolve_content_location_and_content_id():
    assert part_keys("bulk/1", None, BASE) == ["http://mock.test/dicom-web/bulk/1"]
    assert part_keys("http://other/x", "<abc-1>", BASE) == ["http://other/x", "urn:uuid:abc-1"]
    assert part_keys(None, None, BASE) == [] and part_keys("  ", "", BASE) == []


# -- metadata parts -------------------------------------------------------------------------------------
def test_json_array_gives_one_object_each():
    body = json.dumps([{"00080018": {"vr": "UI", "Value": ["1.2.3"]}}, {"00080018": {"vr": "UI", "Value": ["1.2.4"]}}])
    objects = metadata_objects("application/dicom+json", body.encode())
    assert [sop_uids(o)[1] for o in objects] == ["1.2.3", "1.2.4"]


def test_xml_document_gives_one_object_with_its_bulk_data_uri():
    xml = (b'<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM">'
           b'<DicomAttribute tag="00080018" vr="UI"><Value number="1">1.2.3</Value></DicomAttribute>'
           b'<DicomAttribute tag="7FE00010" vr="OW"><BulkData uuid="u-1"/></DicomAttribute></NativeDicomModel>')
    [obj] = metadata_objects("application/dicom+xml", xml)
    assert sop_uids(obj) == ("", "1.2.3")
    assert obj["7FE00010"] == {"vr": "OW", "BulkDataURI": "urn:uuid:u-1"}


@pytest.mark.parametrize("media_type,body", [
    ("application/dicom+json", b'[{"00080018": '),
    ("application/dicom+json", b"\xff\xfe"),
    ("application/dicom+json", b"[1, 2]"),
    ("application/dicom+json", b"[]"),
    ("application/dicom+xml", b"<NativeDicomModel><DicomAttribute"),
    ("application/dicom+xml", b"<Other/>"),
])
def test_unreadable_metadata_part_is_a_metadata_error(media_type, body):
    with pytest.raises(MetadataError):
        metadata_objects(media_type, body)


# -- instances from octet-stream bulk data ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["vix-ct-axial-001.dcm", "vix-sc-rgb-001.dcm"])
def test_octet_stream_bulk_data_becomes_the_values(files, name):
    obj, bulk, ds = metadata(files[name])
    got = read(build_instance(obj, bulk, BASE))
    assert got.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert got.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert got.PixelData == ds.PixelData and got["PixelData"].VR == ds["PixelData"].VR
    for element in ds.iterall():
        if element.VR in ("OB", "OW"):
            assert element.value  # every one of them went through a part
    if "IconImageSequence" in ds:
        assert got.IconImageSequence[0].PixelData == ds.IconImageSequence[0].PixelData
    if (0x0029, 0x1012) in ds:
        assert got[0x0029, 0x1012].value == ds[0x0029, 0x1012].value
    assert got.PatientName == ds.PatientName and got.StudyInstanceUID == ds.StudyInstanceUID


def test_relative_bulk_data_uri_matches_the_resolved_content_location(files):
    obj, bulk, ds = metadata(files["doe-mr-t2-001.dcm"])
    obj["7FE00010"]["BulkDataURI"] = "bulk/0"  # relative to BASE, like the part's Content-Location
    got = read(build_instance(obj, {"http://mock.test/dicom-web/bulk/0": bulk[f"{BASE}/bulk/0"]}, BASE))
    assert got.PixelData == ds.PixelData


def test_bulk_data_uri_naming_no_part_fails_the_instance(files):
    obj, bulk, ds = metadata(files["doe-mr-t2-001.dcm"])
    with pytest.raises(InstanceError) as caught:
        build_instance(obj, {}, BASE)
    assert (caught.value.sop_class, caught.value.sop_instance) == (ds.SOPClassUID, ds.SOPInstanceUID)
    assert caught.value.failure_code == 0xC000 and "names no part" in caught.value.reason


def test_uncompressed_bulk_data_must_be_octet_stream(files):
    obj, bulk, _ = metadata(files["vix-ct-axial-001.dcm"])
    bulk[obj["00291012"]["BulkDataURI"]].media_type = "image/jpeg"
    with pytest.raises(InstanceError, match="application/octet-stream"):
        build_instance(obj, bulk, BASE)


def test_invalid_metadata_value_fails_the_instance(files):
    obj, bulk, _ = metadata(files["doe-mr-t2-001.dcm"])
    obj["00280010"] = {"vr": "US", "Value": ["many"]}
    with pytest.raises(InstanceError, match="00280010"):
        build_instance(obj, bulk, BASE)


# -- compressed pixel data ----------------------------------------------------------------------------------
def jp2_instance(files, params=None, drop_macro=False):
    obj, bulk, ds = metadata(files["yamada-cr-001.dcm"])
    codestream = next(generate_frames(ds.PixelData, number_of_frames=1))
    bulk[obj["7FE00010"]["BulkDataURI"]] = FakePart(codestream, "image/jp2", params or {})
    if drop_macro:
        obj = {k: v for k, v in obj.items() if pydicom.datadict.keyword_for_tag(int(k, 16)) not in MACRO}
    return obj, bulk, ds, codestream


def test_jp2_is_encapsulated_unchanged_in_its_default_transfer_syntax(files):
    obj, bulk, ds, codestream = jp2_instance(files)
    got = read(build_instance(obj, bulk, BASE))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"  # Table 8.7.3-5: image/jp2 default
    assert list(generate_frames(got.PixelData, number_of_frames=1)) == [codestream]
    assert np.array_equal(got.pixel_array, ds.pixel_array)


def test_transfer_syntax_parameter_names_the_transfer_syntax(files):
    obj, bulk, _, _ = jp2_instance(files, {"transfer-syntax": "1.2.840.10008.1.2.4.91"})
    assert read(build_instance(obj, bulk, BASE)).file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.91"


@pytest.mark.parametrize("media_type,params", [
    ("image/jp2", {"transfer-syntax": "1.2.840.10008.1.2.4.50"}),  # not a JPEG 2000 syntax
    ("application/x-unknown", {}),
])
def test_pixel_data_of_another_syntax_or_media_type_fails(files, media_type, params):
    obj, bulk, _, _ = jp2_instance(files)
    bulk[obj["7FE00010"]["BulkDataURI"]] = FakePart(b"\xff\x4f\xff\x51", media_type, params)
    with pytest.raises(InstanceError):
        build_instance(obj, bulk, BASE)


def test_omitted_pixel_description_is_derived_from_the_codestream(files):
    obj, bulk, ds, _ = jp2_instance(files, drop_macro=True)
    got = read(build_instance(obj, bulk, BASE))
    assert (got.Rows, got.Columns, got.SamplesPerPixel) == (ds.Rows, ds.Columns, 1)
    assert (got.BitsAllocated, got.BitsStored, got.HighBit, got.PixelRepresentation) == (16, 12, 11, 0)
    assert got.PhotometricInterpretation == "MONOCHROME2"  # 10.5.2 note 6
    assert np.array_equal(got.pixel_array, ds.pixel_array)


def test_several_frames_in_one_image_part_fail(files):
    obj, bulk, _, _ = jp2_instance(files)
    obj["00280008"] = {"vr": "IS", "Value": [2]}
    with pytest.raises(InstanceError, match="2 frames"):
        build_instance(obj, bulk, BASE)


def png_bytes(image: Image.Image, kind: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    image.save(out, format=kind, **options)
    return out.getvalue()


def sc_metadata(pixels: bytes, media_type: str) -> tuple[dict[str, Any], dict[str, FakePart]]:
    obj = {"00080016": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.7"]},
           "00080018": {"vr": "UI", "Value": ["1.2.3.4"]},
           "7FE00010": {"vr": "OB", "BulkDataURI": f"{BASE}/px"}}
    return obj, {f"{BASE}/px": FakePart(pixels, media_type)}


def test_png_rgb_is_transformed_to_native_pixel_data():
    array = np.arange(4 * 3 * 3, dtype=np.uint8).reshape(3, 4, 3)
    obj, bulk = sc_metadata(png_bytes(Image.fromarray(array)), "image/png")
    got = read(build_instance(obj, bulk, BASE))
    assert got.file_meta.TransferSyntaxUID == EXPLICIT_LE
    assert (got.Rows, got.Columns, got.SamplesPerPixel, got.PhotometricInterpretation) == (3, 4, 3, "RGB")
    assert (got.BitsAllocated, got.BitsStored, got.HighBit, got.PlanarConfiguration) == (8, 8, 7, 0)
    assert np.array_equal(got.pixel_array, array)


def test_png_16_bit_grey_is_transformed():
    array = (np.arange(6, dtype=np.uint16) * 10000).reshape(2, 3)
    obj, bulk = sc_metadata(png_bytes(Image.fromarray(array)), "image/png")
    got = read(build_instance(obj, bulk, BASE))
    assert (got.BitsAllocated, got.SamplesPerPixel, got.PhotometricInterpretation) == (16, 1, "MONOCHROME2")
    assert got["PixelData"].VR == "OW" and np.array_equal(got.pixel_array, array)


def test_animated_gif_becomes_a_multi_frame_image():
    frames = [Image.new("L", (2, 2), value) for value in (10, 200)]
    data = png_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    obj, bulk = sc_metadata(data, "image/gif")
    got = read(build_instance(obj, bulk, BASE))
    # a GIF is indexed colour: 10.5.2 note 1 lets it become true colour (RGB)
    assert int(got.NumberOfFrames) == 2 and got.PhotometricInterpretation == "RGB"
    assert got.pixel_array.shape == (2, 2, 2, 3)
    assert set(got.pixel_array[0].flat) == {10} and set(got.pixel_array[1].flat) == {200}


def test_undecodable_png_fails_the_instance():
    obj, bulk = sc_metadata(b"\x89PNG\r\n\x1a\nnot really", "image/png")
    with pytest.raises(InstanceError, match="cannot be decoded"):
        build_instance(obj, bulk, BASE)


def test_octet_stream_with_a_compressed_transfer_syntax_is_that_syntax(files):
    obj, bulk, _, codestream = jp2_instance(files)
    part = FakePart(codestream, "application/octet-stream", {"transfer-syntax": "1.2.840.10008.1.2.4.90"})
    bulk[obj["7FE00010"]["BulkDataURI"]] = part
    got = read(build_instance(obj, bulk, BASE))
    assert got.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert list(generate_frames(got.PixelData, number_of_frames=1)) == [codestream]


def test_other_bulk_data_with_a_compressed_transfer_syntax_fails(files):
    obj, bulk, _ = metadata(files["vix-ct-axial-001.dcm"])
    bulk[obj["00291012"]["BulkDataURI"]].params = {"transfer-syntax": "1.2.840.10008.1.2.4.50"}
    with pytest.raises(InstanceError, match="Explicit VR Little Endian"):
        build_instance(obj, bulk, BASE)


@pytest.mark.parametrize("obj", [{}, {"00080018": {"vr": "UI", "Value": ["1.2.3"]}}])
def test_metadata_without_sop_uids_fails(obj):
    with pytest.raises(InstanceError, match="no SOP Class UID"):
        build_instance(obj, {}, BASE)
