"""Transfer syntax conversion and Part 10 writing (PS3.18 8.7.3.4-8.7.3.5, PS3.5 A.4, PS3.10 7.1)."""

from __future__ import annotations

import copy
import io
import zlib

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.sequence import Sequence
from pydicom.uid import generate_uid

from tests.helpers.pixel_datasets import image_ds as make_image
from dicomweb_mock.dicomweb.transcoding import (
    SUPPORTED_TARGETS, TranscodeError, UndecodablePixelData, WEB_FORBIDDEN_SYNTAXES, can_transcode, transcode,
    write_part10, write_part10_to,
)

EVRLE = "1.2.840.10008.1.2.1"
IVRLE = "1.2.840.10008.1.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
BE = "1.2.840.10008.1.2.2"
RLE = "1.2.840.10008.1.2.5"
JLS = "1.2.840.10008.1.2.4.80"
J2K = "1.2.840.10008.1.2.4.90"
JPEG = "1.2.840.10008.1.2.4.50"
MPEG2 = "1.2.840.10008.1.2.4.100"
ITEM_TAG = b"\xfe\xff\x00\xe0"  # (FFFE,E000) little endian: first item of encapsulated Pixel Data


def image_ds(frames: np.ndarray, photometric: str = "MONOCHROME2", *, bits_stored: int | None = None,
             ts: str = EVRLE, byteorder: str = "<") -> Dataset:
    """An image with some non-pixel content; ``frames`` is (n, rows, cols[, samples])."""
    extra = Dataset()
    extra.SpecificCharacterSet = "ISO_IR 192"
    extra.PatientName = "Müller^Jürgen=山田^太郎"
    extra.StudyDescription = "Übersicht"
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = "T-A0100", "SRT", "Brain"
    extra.AnatomicRegionSequence = Sequence([item])
    extra.add_new(0x00290010, "LO", "ACME 1.0")  # private creator
    extra.add_new(0x00291010, "LO", "vendor value")
    extra.add_new(0x00291011, "OB", b"\x01\x02\x03\x04")
    return make_image(frames, photometric, bits_stored=bits_stored, ts=ts, byteorder=byteorder, extra=extra)


def pixels(ds: Dataset) -> np.ndarray:
    """All frames decoded by pydicom, as (n, rows, cols[, samples])."""
    arr = copy.deepcopy(ds).pixel_array
    frame_shape = arr.shape[-2:] if ds.SamplesPerPixel == 1 else arr.shape[-3:]
    return arr.reshape((int(ds.get("NumberOfFrames") or 1),) + tuple(frame_shape))


def reread(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


@pytest.fixture
def ct() -> np.ndarray:
    rng = np.random.default_rng(11)
    return rng.integers(-2048, 2047, size=(2, 40, 36), dtype=np.int16)


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(5)
    return rng.integers(0, 255, size=(2, 32, 40, 3), dtype=np.uint8)


# ---------------------------------------------------------------- capabilities

def test_supported_targets():
    assert {EVRLE, RLE, JLS, J2K, JPEG} <= SUPPORTED_TARGETS
    assert BE not in SUPPORTED_TARGETS  # retired, PS3.18 8.7.3
    assert WEB_FORBIDDEN_SYNTAXES == {IVRLE, BE}


def test_can_transcode_rules(ct, rgb):
    ct_ds = image_ds(ct, bits_stored=12)
    assert can_transcode(EVRLE, EVRLE, ct_ds)
    assert can_transcode(EVRLE, RLE, ct_ds) and can_transcode(EVRLE, JLS, ct_ds)
    assert can_transcode(EVRLE, J2K, ct_ds)
    assert not can_transcode(EVRLE, BE, ct_ds)
    assert not can_transcode(EVRLE, JPEG, ct_ds)  # JPEG Baseline is 8-bit only (PS3.5 8.2.1)
    assert not can_transcode(EVRLE, "1.2.3.4", ct_ds)
    assert can_transcode(EVRLE, JPEG, image_ds(rgb, "RGB"))
    assert can_transcode(MPEG2, MPEG2, ct_ds)  # nothing to do
    assert not can_transcode(MPEG2, EVRLE, ct_ds)  # no MPEG2 decoder


def test_can_transcode_with_plain_attribute_mapping():
    mono16 = {"Rows": 64, "Columns": 64, "SamplesPerPixel": 1, "BitsAllocated": 16, "BitsStored": 16,
              "PixelRepresentation": 0, "PhotometricInterpretation": "MONOCHROME2"}
    assert can_transcode(JLS, EVRLE, mono16)
    assert can_transcode(EVRLE, J2K, mono16)
    assert not can_transcode(EVRLE, JPEG, mono16)
    assert can_transcode(JPEG, RLE, {**mono16, "BitsAllocated": 8, "BitsStored": 8})
    # 4:2:2 JPEG decodes to full resolution YBR_FULL, which RLE can hold (8 bits)
    ybr = {**mono16, "SamplesPerPixel": 3, "BitsAllocated": 8, "BitsStored": 8,
           "PhotometricInterpretation": "YBR_FULL_422"}
    assert can_transcode(JPEG, RLE, ybr)
    assert not can_transcode(EVRLE, RLE, {**mono16, "BitsAllocated": 1, "BitsStored": 1})
    # Without Pixel Data every supported syntax only changes the data set encoding
    assert can_transcode(EVRLE, RLE, {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.88.11"})
    assert not can_transcode(EVRLE, BE, {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.88.11"})


# ---------------------------------------------------------------- lossless round trips

@pytest.mark.parametrize("target", [RLE, JLS, J2K])
def test_lossless_round_trip_grayscale(ct, target):
    original = image_ds(ct, bits_stored=12)
    before = original.PixelData
    compressed = transcode(original, target)
    assert compressed.file_meta.TransferSyntaxUID == target
    assert compressed["PixelData"].is_undefined_length and compressed.PixelData[:4] == ITEM_TAG
    assert compressed.NumberOfFrames == 2
    assert original.PixelData is before and original.file_meta.TransferSyntaxUID == EVRLE  # untouched
    back = transcode(compressed, EVRLE)
    assert back.file_meta.TransferSyntaxUID == EVRLE
    assert back.PixelData == ct.astype("<i2").tobytes()
    assert "LossyImageCompression" not in back


@pytest.mark.parametrize("target", [RLE, JLS, J2K])
def test_lossless_round_trip_colour(rgb, target):
    compressed = transcode(image_ds(rgb, "RGB"), target)
    assert compressed.PhotometricInterpretation == "RGB"
    back = transcode(compressed, EVRLE)
    assert back.PixelData == rgb.tobytes() and back.PlanarConfiguration == 0


def test_compressed_to_other_compressed_syntax(ct):
    jls = transcode(image_ds(ct, bits_stored=12), JLS)
    rle = transcode(jls, RLE)
    assert rle.file_meta.TransferSyntaxUID == RLE
    assert np.array_equal(pixels(rle), ct)


def test_native_syntaxes_and_big_endian_source(ct):
    big = image_ds(ct, ts=BE, byteorder=">")
    little = transcode(big, EVRLE)
    assert little.PixelData == ct.astype("<i2").tobytes()
    for target in (IVRLE, DEFLATED):
        out = reread(write_part10(little, target))
        assert out.file_meta.TransferSyntaxUID == target
        assert np.array_equal(pixels(out), ct)


def test_extended_offset_table_is_dropped_when_reencoded(ct):
    rle = transcode(image_ds(ct, bits_stored=12), RLE)
    data, offsets, lengths = encapsulate_extended(list(generate_frames(rle.PixelData, number_of_frames=2)))
    rle.PixelData, rle.ExtendedOffsetTable, rle.ExtendedOffsetTableLengths = data, offsets, lengths
    back = transcode(rle, EVRLE)
    assert "ExtendedOffsetTable" not in back and "ExtendedOffsetTableLengths" not in back
    assert back.PixelData == ct.astype("<i2").tobytes()


# ---------------------------------------------------------------- lossy JPEG baseline

def test_jpeg_baseline_marks_lossy_compression():
    ramp = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (2, 32, 1))
    out = transcode(image_ds(ramp), JPEG)
    assert out.file_meta.TransferSyntaxUID == JPEG
    assert out.LossyImageCompression == "01"  # PS3.3 C.7.6.1.1.5
    assert out["LossyImageCompressionMethod"].VM == 1 and out.LossyImageCompressionMethod == "ISO_10918_1"
    assert float(out.LossyImageCompressionRatio) > 1
    assert np.abs(pixels(out).astype(int) - ramp).max() <= 8
    again = transcode(transcode(out, EVRLE), JPEG)  # a second lossy step is appended
    assert list(again.LossyImageCompressionMethod) == ["ISO_10918_1", "ISO_10918_1"]
    assert len(again.LossyImageCompressionRatio) == 2


def test_jpeg_baseline_colour_is_ybr_full_422_and_decodes_back(rgb):
    smooth = np.zeros((1, 32, 40, 3), np.uint8)
    smooth[..., 0], smooth[..., 1], smooth[..., 2] = 200, np.linspace(0, 250, 40).astype(np.uint8), 60
    out = transcode(image_ds(smooth, "RGB"), JPEG)
    assert out.PhotometricInterpretation == "YBR_FULL_422"  # PS3.5 8.2.1 with 4:2:2 subsampling
    assert np.abs(out.pixel_array.astype(int) - smooth[0]).max() <= 10  # pydicom converts to RGB
    native = transcode(out, EVRLE)
    # decoded 4:2:2 data is full resolution, i.e. YBR_FULL, one byte per sample
    assert native.PhotometricInterpretation == "YBR_FULL"
    assert len(native.PixelData) == 32 * 40 * 3
    assert native.LossyImageCompression == "01"


def test_jpeg_baseline_from_pillow_is_decompressed():
    ramp = np.tile(np.linspace(10, 240, 48).astype(np.uint8), (40, 1))
    buf = io.BytesIO()
    Image.fromarray(ramp).save(buf, format="JPEG", quality=95)
    ds = image_ds(ramp[None])
    ds.file_meta.TransferSyntaxUID = JPEG
    ds.PixelData = encapsulate([buf.getvalue()])
    ds["PixelData"].VR = "OB"
    out = transcode(ds, EVRLE)
    assert np.abs(np.frombuffer(out.PixelData, np.uint8).reshape(40, 48).astype(int) - ramp).max() <= 4


# ---------------------------------------------------------------- refusals

def test_refusals_raise_406(ct):
    ds = image_ds(ct, bits_stored=12)
    for target in (BE, JPEG, "1.2.840.10008.1.2.4.51", "1.2.3.4"):
        with pytest.raises(TranscodeError) as err:
            transcode(ds, target)
        assert err.value.status == 406 and err.value.reason
    with pytest.raises(TranscodeError):
        write_part10(ds, BE)


def test_corrupt_compressed_data_is_undecodable_406(ct):
    ds = image_ds(ct[:1])
    ds.file_meta.TransferSyntaxUID = JLS
    ds.PixelData = encapsulate([b"\xff\xd8garbage\xff\xd9"])
    with pytest.raises(UndecodablePixelData) as err:
        transcode(ds, EVRLE)
    assert err.value.status == 406 and "cannot be decoded" in err.value.reason


# ---------------------------------------------------------------- non-pixel content and Part 10

def _non_pixel(ds: Dataset) -> dict:
    skip = {0x7FE00010, 0x00280004, 0x00280006}
    return {elem.tag: (elem.VR, elem.value) for elem in ds if elem.tag not in skip}


@pytest.mark.parametrize("target", [EVRLE, IVRLE, DEFLATED, RLE, J2K])
def test_non_pixel_elements_survive_part10_round_trip(ct, target):
    original = image_ds(ct, bits_stored=12)
    stored = reread(write_part10(original, IVRLE))  # raw, implicit VR elements as read from a store
    out = reread(write_part10(stored, target))
    assert out.file_meta.TransferSyntaxUID == target
    assert str(out.PatientName) == "Müller^Jürgen=山田^太郎" and out.StudyDescription == "Übersicht"
    # an implicit VR private element may come back as UN (PS3.5 6.2.2) but with the same bytes
    vendor = out[0x00291010].value
    assert (vendor if isinstance(vendor, bytes) else vendor.encode()) == b"vendor value"
    assert out[0x00291011].value == b"\x01\x02\x03\x04"
    assert out.AnatomicRegionSequence[0].CodeMeaning == "Brain"
    assert {t for t in _non_pixel(out)} == {t for t in _non_pixel(original)}
    assert np.array_equal(pixels(out), ct)


def test_same_syntax_keeps_every_element_value(ct):
    original = reread(write_part10(image_ds(ct, bits_stored=12), EVRLE))
    out = reread(write_part10(original, EVRLE))
    assert _non_pixel(out) == _non_pixel(original)
    assert out.PixelData == original.PixelData


def test_part10_structure_and_streaming(ct):
    ds = image_ds(ct, bits_stored=12)
    data = write_part10(ds, RLE)
    assert data[:128] == b"\x00" * 128 and data[128:132] == b"DICM"  # PS3.10 7.1
    sink = io.BytesIO()
    write_part10_to(sink, ds, RLE)
    assert sink.getvalue() == data
    meta = reread(data).file_meta
    assert meta.TransferSyntaxUID == RLE
    assert meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert meta.MediaStorageSOPClassUID == ds.SOPClassUID
    assert reread(write_part10(ds)).file_meta.TransferSyntaxUID == EVRLE  # None: as stored


def test_dataset_without_pixel_data_in_any_syntax():
    sr = Dataset()
    sr.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    sr.SOPInstanceUID = generate_uid()
    sr.PatientName = "Doe^Jane"
    sr.ImageComments = "x" * 200
    for target in (EVRLE, IVRLE, RLE, JPEG):
        out = reread(write_part10(sr, target))
        assert out.file_meta.TransferSyntaxUID == target and out.PatientName == "Doe^Jane"
    deflated = write_part10(sr, DEFLATED)
    assert b"Doe^Jane" not in deflated  # the data set after the File Meta Information is deflated
    assert reread(deflated).ImageComments == "x" * 200
    # (0002,0000) File Meta Information Group Length: explicit VR UL right after "DICM"
    meta_end = 144 + int.from_bytes(deflated[140:144], "little")
    body = zlib.decompress(deflated[meta_end:], -zlib.MAX_WBITS)
    assert b"Doe^Jane" in body
