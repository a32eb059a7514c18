"""Frame extraction for RetrieveFrames (PS3.18 10.4, 8.7.3.3; PS3.5 8.1.1, A.4)."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.pixels import get_decoder

from dicomweb_mock.dicomweb.frames import (
    FrameError, frame_in_syntax, native_frame, number_of_frames, parse_frame_list, stored_frame,
)
from dicomweb_mock.dicomweb.transcoding import TranscodeError
from tests.helpers.pixel_datasets import image_ds

EVRLE = "1.2.840.10008.1.2.1"
IVRLE = "1.2.840.10008.1.2"
BE = "1.2.840.10008.1.2.2"
RLE = "1.2.840.10008.1.2.5"
JLS = "1.2.840.10008.1.2.4.80"
J2K = "1.2.840.10008.1.2.4.90"
JPEG = "1.2.840.10008.1.2.4.50"


def compressed(ds: Dataset, ts: str) -> Dataset:
    out = copy.deepcopy(ds)
    out.compress(ts, generate_instance_uid=False)
    return out


def jpeg_bytes(frame: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def decode_one(frame: bytes, ts: str, like: Dataset) -> np.ndarray:
    """Decode one compressed frame independently of the code under test."""
    one = copy.deepcopy(like)
    one.file_meta.TransferSyntaxUID = ts
    if "NumberOfFrames" in one:
        del one.NumberOfFrames
    one.PixelData = encapsulate([frame])
    one["PixelData"].VR = "OB"
    arr, _ = get_decoder(ts).as_array(one, as_rgb=False)
    return arr


@pytest.fixture
def ct() -> np.ndarray:
    rng = np.random.default_rng(7)
    return rng.integers(-2048, 2047, size=(3, 40, 36), dtype=np.int16)


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 255, size=(2, 33, 34, 3), dtype=np.uint8)


# ---------------------------------------------------------------- number of frames

def test_number_of_frames_single_multi_and_no_pixels(ct):
    assert number_of_frames(image_ds(ct)) == 3
    assert number_of_frames(image_ds(ct[:1])) == 1  # Number of Frames absent: single frame
    no_pixels = Dataset()
    no_pixels.SOPInstanceUID = "1.2.3"
    assert number_of_frames(no_pixels) == 0


def test_number_of_frames_invalid_value_is_reported():
    ds = image_ds(np.zeros((1, 4, 4), np.uint8))
    ds.NumberOfFrames = 0
    with pytest.raises(FrameError) as err:
        number_of_frames(ds)
    assert err.value.status == 500


# ---------------------------------------------------------------- frame list parsing

def test_parse_frame_list_keeps_request_order():
    assert parse_frame_list("1,3,5", 5) == [1, 3, 5]
    assert parse_frame_list("2", 2) == [2]
    assert parse_frame_list("3,1", 3) == [3, 1]


@pytest.mark.parametrize("text", ["", " ", "1,,2", "1,", ",1", "a", "-1", "0", "1.5", "+1", "1;2", "²"])
def test_parse_frame_list_syntax_errors_are_400(text):
    with pytest.raises(FrameError) as err:
        parse_frame_list(text, 10)
    assert err.value.status == 400


def test_parse_frame_list_out_of_range_is_404_or_chosen_status():
    with pytest.raises(FrameError) as err:
        parse_frame_list("1,6", 5)
    assert err.value.status == 404 and "6" in err.value.reason
    with pytest.raises(FrameError) as err:
        parse_frame_list("6", 5, out_of_range_status=400)
    assert err.value.status == 400


def test_parse_frame_list_ascending_order_can_be_enforced():
    with pytest.raises(FrameError) as err:
        parse_frame_list("3,1", 3, require_ascending=True)
    assert err.value.status == 400
    with pytest.raises(FrameError):
        parse_frame_list("1,1", 3, require_ascending=True)
    assert parse_frame_list("1,2,3", 3, require_ascending=True) == [1, 2, 3]


# ---------------------------------------------------------------- stored frames: native

def test_stored_frame_native_16_bit(ct):
    ds = image_ds(ct, bits_stored=12)
    for n in (1, 2, 3):
        assert stored_frame(ds, n) == ct[n - 1].astype("<i2").tobytes()


def test_stored_frame_native_32_bit_and_8_bit():
    frames32 = np.arange(2 * 3 * 5, dtype=np.uint32).reshape(2, 3, 5) * 100000
    assert stored_frame(image_ds(frames32), 2) == frames32[1].astype("<u4").tobytes()
    frames8 = np.arange(3 * 4 * 4, dtype=np.uint8).reshape(3, 4, 4)
    assert stored_frame(image_ds(frames8), 3) == frames8[2].tobytes()


def test_stored_frame_keeps_planar_configuration(rgb):
    ds = image_ds(rgb, "RGB", planar=1)
    # PS3.3 C.7.6.3.1.3: Planar Configuration 1 stores each frame colour-by-plane
    assert stored_frame(ds, 2) == np.ascontiguousarray(rgb[1].transpose(2, 0, 1)).tobytes()
    assert native_frame(ds, 2) == stored_frame(ds, 2)


def test_stored_frame_bit_packed_frames_are_realigned():
    rng = np.random.default_rng(1)
    bits = rng.integers(0, 2, size=(3, 3, 5), dtype=np.uint8)  # 15 bits a frame: not byte aligned
    ds = image_ds(bits)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()  # PS3.5 8.1.1: first pixel in bit 0
    ds.PixelData = packed + b"\x00" * (len(packed) % 2)
    for n in (1, 2, 3):
        expected = np.packbits(bits[n - 1].ravel(), bitorder="little").tobytes()
        assert stored_frame(ds, n) == expected


def test_stored_frame_errors(ct):
    ds = image_ds(ct)
    for n in (0, 4):
        with pytest.raises(FrameError) as err:
            stored_frame(ds, n)
        assert err.value.status == (400 if n == 0 else 404)
    no_pixels = Dataset()
    with pytest.raises(FrameError) as err:
        stored_frame(no_pixels, 1)
    assert err.value.status == 404
    short = image_ds(ct)
    short.PixelData = short.PixelData[:100]
    with pytest.raises(FrameError) as err:
        stored_frame(short, 2)
    assert err.value.status == 500


# ---------------------------------------------------------------- stored frames: encapsulated

@pytest.mark.parametrize("has_bot", [True, False])
def test_stored_frame_is_the_fragment_of_that_frame(ct, has_bot):
    rle = compressed(image_ds(ct, bits_stored=12), RLE)
    frames = list(generate_frames(rle.PixelData, number_of_frames=3))
    ds = copy.deepcopy(rle)
    ds.PixelData = encapsulate(frames, has_bot=has_bot)
    for n, frame in enumerate(frames, 1):
        assert stored_frame(ds, n) == frame
    assert len(set(frames)) == 3


def test_stored_frame_joins_several_fragments_with_offset_table():
    pixels = np.tile(np.arange(48, dtype=np.uint8), (3, 40, 1)).reshape(3, 40, 48) + np.arange(3, dtype=np.uint8)[:, None, None] * 60
    frames = [jpeg_bytes(f) for f in pixels]
    ds = image_ds(pixels, ts=JPEG)
    ds.PixelData = encapsulate(frames, fragments_per_frame=3, has_bot=True)
    assert [stored_frame(ds, n) for n in (1, 2, 3)] == frames
    ds.PixelData = encapsulate(frames, fragments_per_frame=2, has_bot=False)  # found by EOI markers
    assert [stored_frame(ds, n) for n in (1, 2, 3)] == frames


def test_stored_frame_uses_extended_offset_table(ct):
    rle = compressed(image_ds(ct, bits_stored=12), RLE)
    frames = list(generate_frames(rle.PixelData, number_of_frames=3))
    data, offsets, lengths = encapsulate_extended(frames)
    rle.PixelData = data
    rle.ExtendedOffsetTable, rle.ExtendedOffsetTableLengths = offsets, lengths
    assert stored_frame(rle, 2) == frames[1]


# ---------------------------------------------------------------- native frames

@pytest.mark.parametrize("ts", [RLE, JLS, J2K])
def test_native_frame_of_compressed_data_is_little_endian_original(ct, ts):
    ds = compressed(image_ds(ct, bits_stored=12), ts)
    for n in (1, 3):
        assert native_frame(ds, n) == ct[n - 1].astype("<i2").tobytes()


@pytest.mark.parametrize("ts", [RLE, JLS, J2K])
def test_native_frame_of_compressed_colour_is_colour_by_pixel(rgb, ts):
    ds = compressed(image_ds(rgb, "RGB"), ts)
    assert ds.file_meta.TransferSyntaxUID == ts
    assert native_frame(ds, 2) == rgb[1].tobytes()


def test_native_frame_of_big_endian_is_swapped_to_little_endian(ct):
    ds = image_ds(ct, ts=BE, byteorder=">")
    assert stored_frame(ds, 2) == ct[1].astype(">i2").tobytes()  # as stored
    assert native_frame(ds, 2) == ct[1].astype("<i2").tobytes()


def test_native_frame_of_native_little_endian_is_stored_frame(ct):
    ds = image_ds(ct, ts=IVRLE)
    assert native_frame(ds, 3) == ct[2].astype("<i2").tobytes()


# ---------------------------------------------------------------- frames in another syntax

def test_frame_in_stored_compressed_syntax_is_unchanged(ct):
    ds = compressed(image_ds(ct, bits_stored=12), JLS)
    assert frame_in_syntax(ds, 2, JLS) == stored_frame(ds, 2)
    assert frame_in_syntax(ds, 2, EVRLE) == ct[1].astype("<i2").tobytes()


@pytest.mark.parametrize("ts", [RLE, JLS, J2K])
def test_frame_reencoded_losslessly(ct, ts):
    ds = image_ds(ct, bits_stored=12)
    frame = frame_in_syntax(ds, 3, ts)
    assert np.array_equal(decode_one(frame, ts, ds), ct[2])


def test_frame_recompressed_between_compressed_syntaxes(rgb):
    ds = compressed(image_ds(rgb, "RGB"), RLE)
    frame = frame_in_syntax(ds, 1, JLS)
    assert np.array_equal(decode_one(frame, JLS, ds), rgb[0])


def test_frame_in_jpeg_baseline_for_8_bit():
    ramp = np.tile(np.linspace(0, 255, 40).astype(np.uint8), (2, 32, 1))
    ds = image_ds(ramp)
    frame = frame_in_syntax(ds, 2, JPEG)
    assert frame[:2] == b"\xff\xd8" and frame[-2:] == b"\xff\xd9"  # JPEG SOI .. EOI
    with Image.open(io.BytesIO(frame)) as img:
        assert img.size == (40, 32) and img.mode == "L"
        assert np.abs(np.asarray(img, dtype=int) - ramp[1]).max() <= 8


def test_frame_in_unsupported_syntax_is_406(ct):
    ds = image_ds(ct, bits_stored=12)
    for ts in (JPEG, BE, "1.2.840.10008.1.2.4.100", "1.2.3.4"):
        with pytest.raises(TranscodeError) as err:
            frame_in_syntax(ds, 1, ts)
        assert err.value.status == 406
    with pytest.raises(FrameError) as err:
        frame_in_syntax(ds, 4, RLE)
    assert err.value.status == 404


def test_native_frame_without_decoder_is_406(ct):
    ds = image_ds(ct, ts="1.2.840.10008.1.2.4.100")  # MPEG2: no pixel data decoder
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 12])
    with pytest.raises(TranscodeError) as err:
        native_frame(ds, 1)
    assert err.value.status == 406
