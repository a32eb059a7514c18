"""The Image Pixel Description of compressed streams (mock_server.dicomweb.codestream_info).

Expected values come from the fixture files' own Image Pixel attributes (the streams were encoded from
them) and from images Pillow encodes here with a known size and mode.
"""

from __future__ import annotations

import io
import struct

import pydicom
import pytest
from PIL import Image
from pydicom.encaps import generate_frames

from dicomweb_mock.dicomweb.codestream_info import CodestreamError, describe_j2k, describe_jpeg, jp2_codestream


def first_frame(path) -> tuple[pydicom.Dataset, bytes]:
    ds = pydicom.dcmread(path)
    return ds, next(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def test_j2k_codestream_of_a_fixture(files):
    ds, codestream = first_frame(files["yamada-cr-001.dcm"])
    info = describe_j2k(codestream)
    assert (info.rows, info.columns, info.samples) == (ds.Rows, ds.Columns, ds.SamplesPerPixel)
    assert (info.bits_stored, info.bits_allocated, info.signed) == (ds.BitsStored, ds.BitsAllocated, False)
    assert info.photometric == "MONOCHROME2"


def test_jp2_file_is_reduced_to_its_codestream(files):
    _, codestream = first_frame(files["yamada-cr-001.dcm"])
    signature = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
    wrapped = signature + box(b"ftyp", b"jp2 \x00\x00\x00\x00jp2 ") + box(b"jp2c", codestream)
    assert jp2_codestream(wrapped) == codestream
    assert jp2_codestream(codestream) == codestream  # a bare codestream is kept
    with pytest.raises(CodestreamError):
        jp2_codestream(signature + box(b"ftyp", b"jp2 "))


@pytest.mark.parametrize("mode,size,samples,photometric", [
    ("L", (5, 3), 1, "MONOCHROME2"),
    ("RGB", (4, 7), 3, "YBR_FULL_422"),  # lossy baseline JPEG of colour (PS3.5 8.2.1)
])
def test_jpeg_baseline_made_by_pillow(mode, size, samples, photometric):
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="JPEG")
    info = describe_jpeg(out.getvalue())
    assert (info.columns, info.rows, info.samples, info.bits_stored) == (*size, samples, 8)
    assert info.photometric == photometric


def test_jpeg_ls_fixture_frame(files):
    ds, stream = first_frame(files["wang-ct-001.dcm"])
    info = describe_jpeg(stream)
    assert (info.rows, info.columns, info.samples) == (ds.Rows, ds.Columns, 1)
    assert info.bits_allocated == ds.BitsAllocated


@pytest.mark.parametrize("describe,data", [
    (describe_j2k, b""),
    (describe_j2k, b"not an image"),
    (describe_j2k, b"\xff\x4f\xff\x51\x00\x05\x00"),  # SIZ cut short
    (describe_jpeg, b"GIF89a"),
    (describe_jpeg, b"\xff\xd8\xff\xd9"),  # SOI, EOI: no SOF
])
def test_streams_without_a_readable_header_are_refused(describe, data):
    with pytest.raises(CodestreamError):
        describe(data)
