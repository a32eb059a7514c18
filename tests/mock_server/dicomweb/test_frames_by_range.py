"""Native frames read by byte range from a stored file (:func:`stored_frames_by_range`).

Expected frames are those of PS3.5 8.1.1 (frame n is the n-th run of Rows x Columns x
Samples x Bits Allocated bits), computed here from the array the data set was built
from, and must equal :func:`stored_frame` of the whole data set; errors keep their
status.  A file object that counts what is read shows that one frame of a multi-frame
instance is read without the others.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from dicomweb_fixtures import instance_files
from dicomweb_mock.dicomweb.frames import (FrameError, by_range, number_of_frames, stored_frame,
                                           stored_frames_by_range)
from tests.helpers.pixel_datasets import image_ds

EVRLE, IVRLE, BE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"


class CountingReader(io.BytesIO):
    """A file over bytes that counts the bytes read."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def part10(ds: Dataset) -> bytes:
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True, implicit_vr=ds.file_meta.TransferSyntaxUID == IVRLE,
                     little_endian=ds.file_meta.TransferSyntaxUID != BE)
    return out.getvalue()


def frames_16(n: int = 12, rows: int = 128, columns: int = 96) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4096, size=(n, rows, columns), dtype=np.uint16)


@pytest.mark.parametrize("ts, byteorder", [(EVRLE, "<"), (IVRLE, "<"), (BE, ">")])
def test_each_frame_is_its_run_of_bytes(ts: str, byteorder: str) -> None:
    frames = frames_16()
    data = part10(image_ds(frames, ts=ts, byteorder=byteorder))
    for n in (1, 2, 7, 12):
        expected = np.ascontiguousarray(frames[n - 1], dtype=frames.dtype.newbyteorder(byteorder)).tobytes()
        assert stored_frames_by_range(io.BytesIO(data), [n]) == [expected]
    assert stored_frames_by_range(io.BytesIO(data), [3, 1, 3]) == [
        np.ascontiguousarray(frames[i], dtype=frames.dtype.newbyteorder(byteorder)).tobytes() for i in (2, 0, 2)]


def test_colour_frames_keep_their_planar_configuration() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, size=(4, 64, 80, 3), dtype=np.uint8)
    for planar in (0, 1):
        data = part10(image_ds(rgb, "RGB", planar=planar))
        expected = stored_frame(pydicom.dcmread(io.BytesIO(data)), 3)
        assert stored_frames_by_range(io.BytesIO(data), [3]) == [expected]


def test_one_frame_of_a_multi_frame_instance_reads_that_frame_only() -> None:
    frames = frames_16(n=40, rows=256, columns=256)  # 128 KiB a frame, 5 MiB in all
    reader = CountingReader(part10(image_ds(frames)))
    stored_frames_by_range(reader, [17])
    assert reader.read_bytes < 2 * 256 * 256 * 2


def test_bit_packed_frames_are_realigned() -> None:
    bits = np.random.default_rng(1).integers(0, 2, size=(3, 300, 301), dtype=np.uint8)  # not byte aligned
    ds = image_ds(bits)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
    ds.PixelData = packed + b"\x00" * (len(packed) % 2)
    data = part10(ds)
    for n in (1, 2, 3):
        expected = np.packbits(bits[n - 1].ravel(), bitorder="little").tobytes()
        assert stored_frames_by_range(io.BytesIO(data), [n]) == [expected]


@pytest.mark.parametrize("n, status", [(0, 400), (13, 404)])
def test_frames_that_do_not_exist(n: int, status: int) -> None:
    with pytest.raises(FrameError) as err:
        stored_frames_by_range(io.BytesIO(part10(image_ds(frames_16()))), [n])
    assert err.value.status == status


def test_pixel_data_shorter_than_its_frames_is_500() -> None:
    ds = image_ds(frames_16())
    ds.PixelData = ds.PixelData[: 128 * 96 * 2 * 5]  # five frames of twelve
    data = part10(ds)
    assert len(stored_frames_by_range(io.BytesIO(data), [5])[0]) == 128 * 96 * 2
    with pytest.raises(FrameError) as err:
        stored_frames_by_range(io.BytesIO(data), [6])
    assert err.value.status == 500


def _native(path: Path) -> bool:
    """A Part 10 file with Pixel Data that :func:`by_range` reads."""
    try:
        ds = pydicom.dcmread(path, defer_size=64)
        ts = str(ds.file_meta.TransferSyntaxUID)
    except Exception:
        return False
    return "PixelData" in ds and by_range(ts, ts)


NATIVE_FILES = [p for p in [Path(f) for f in instance_files()] + sorted(
    (Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm")) if p.stat().st_size < 4_000_000
    and _native(p)]


@pytest.mark.parametrize("path", NATIVE_FILES, ids=lambda p: p.name)
def test_files_give_the_frames_of_the_whole_data_set(path: Path) -> None:
    ds = pydicom.dcmread(path)
    try:
        count = number_of_frames(ds)
    except FrameError:  # an unreadable Number of Frames: both ways must say so
        count = 1
    for n in sorted({1, 2, count} & set(range(1, count + 1))):
        try:
            expected: object = stored_frame(ds, n)
        except FrameError as exc:
            expected = exc.status
        try:
            with open(path, "rb") as fh:
                got: object = stored_frames_by_range(fh, [n])[0]
        except FrameError as exc:
            got = exc.status
        assert got == expected, n


@pytest.mark.parametrize("stored, target, expected", [
    (EVRLE, EVRLE, True), (IVRLE, IVRLE, True), (IVRLE, EVRLE, True), (BE, BE, True), (BE, EVRLE, False),
    (EVRLE, IVRLE, False), ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.1.99", False),
    ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.90", False),
])
def test_which_syntaxes_are_read_by_range(stored: str, target: str, expected: bool) -> None:
    assert by_range(stored, target) is expected
