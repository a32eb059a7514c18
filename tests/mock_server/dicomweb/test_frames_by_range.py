"""Native frames located when stored (:func:`frames_layout`) and read by byte range (:func:`frames_at`).

Expected frames are those of PS3.5 8.1.1 (frame n is the n-th run of Rows x Columns x
Samples x Bits Allocated bits), computed here from the array the data set was built
from, and must equal :func:`stored_frame` of the whole data set.  What cannot be
located (bit-packed frames, Pixel Data shorter than its frames) is left to the whole
data set.  A file object that counts what is read shows that one frame of a
multi-frame instance is read without the others.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest

from dicomweb_fixtures import instance_files
from dicomweb_mock.dicomweb.dicom_json import dataset_to_json
from dicomweb_mock.dicomweb.frames import FrameError, by_range, frames_at, number_of_frames, stored_frame
from dicomweb_mock.dicomweb.native_pixels import frames_layout, pixel_data_element
from tests.helpers.part10 import part10_bytes
from tests.helpers.pixel_datasets import image_ds

EVRLE, IVRLE, BE = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"


class CountingReader(io.BytesIO):
    """A file over bytes that counts the bytes read."""

    read_bytes = 0

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        data = super().read(size)
        self.read_bytes += len(data)
        return data


def located_frames(fh: io.BytesIO, numbers: list[int]) -> list[bytes] | None:
    """The frames ``numbers`` of the Part 10 file ``fh``, read as the store locates them: the
    data set read with its Pixel Data left unread, then only the frames' bytes; None when the
    frames cannot be located."""
    ds = pydicom.dcmread(fh, defer_size=1024)
    element = pixel_data_element(ds)
    attributes = dataset_to_json(ds, bulk_data_uri=lambda path: "bulk", bulk_threshold=64)
    layout = frames_layout(element, str(ds.file_meta.TransferSyntaxUID), attributes, number_of_frames(ds))
    return None if layout is None else frames_at(fh, *layout, numbers)


def frames_16(n: int = 12, rows: int = 128, columns: int = 96) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 4096, size=(n, rows, columns), dtype=np.uint16)


@pytest.mark.parametrize("ts, byteorder", [(EVRLE, "<"), (IVRLE, "<"), (BE, ">")])
def test_each_frame_is_its_run_of_bytes(ts: str, byteorder: str) -> None:
    frames = frames_16()
    data = part10_bytes(image_ds(frames, ts=ts, byteorder=byteorder))
    for n in (1, 2, 7, 12):
        expected = np.ascontiguousarray(frames[n - 1], dtype=frames.dtype.newbyteorder(byteorder)).tobytes()
        assert located_frames(io.BytesIO(data), [n]) == [expected]
    assert located_frames(io.BytesIO(data), [3, 1, 3]) == [
        np.ascontiguousarray(frames[i], dtype=frames.dtype.newbyteorder(byteorder)).tobytes() for i in (2, 0, 2)]


def test_colour_frames_keep_their_planar_configuration() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, size=(4, 64, 80, 3), dtype=np.uint8)
    for planar in (0, 1):
        data = part10_bytes(image_ds(rgb, "RGB", planar=planar))
        expected = stored_frame(pydicom.dcmread(io.BytesIO(data)), 3)
        assert located_frames(io.BytesIO(data), [3]) == [expected]


def test_one_frame_of_a_multi_frame_instance_reads_that_frame_only() -> None:
    frames = frames_16(n=40, rows=256, columns=256)  # 128 KiB a frame, 5 MiB in all
    reader = CountingReader(part10_bytes(image_ds(frames)))
    located_frames(reader, [17])
    assert reader.read_bytes < 2 * 256 * 256 * 2


def test_bit_packed_frames_are_not_located() -> None:
    """Frames that do not start on a byte (Bits Allocated 1) are cut from the whole value instead."""
    bits = np.random.default_rng(1).integers(0, 2, size=(3, 300, 301), dtype=np.uint8)  # not byte aligned
    ds = image_ds(bits)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 1, 1, 0
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
    ds.PixelData = packed + b"\x00" * (len(packed) % 2)
    assert located_frames(io.BytesIO(part10_bytes(ds)), [1]) is None


def test_pixel_data_shorter_than_its_frames_is_not_located() -> None:
    ds = image_ds(frames_16())
    ds.PixelData = ds.PixelData[: 128 * 96 * 2 * 5]  # five frames of twelve
    assert located_frames(io.BytesIO(part10_bytes(ds)), [1]) is None


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
        with open(path, "rb") as fh:
            located = located_frames(fh, list(range(1, count + 1)))
    except FrameError:  # an unreadable Number of Frames: not located, the whole data set says why
        located = None
    if located is not None:
        assert located == [stored_frame(ds, n) for n in range(1, count + 1)]


def test_the_usual_instances_are_located() -> None:
    """Worth checking only if most uncompressed fixtures are located."""
    located = []
    for f in instance_files():
        if _native(Path(f)):
            with open(f, "rb") as fh:
                located.append(located_frames(fh, [1]) is not None)
    assert located and sum(located) >= len(located) * 0.8


@pytest.mark.parametrize("stored, target, expected", [
    (EVRLE, EVRLE, True), (IVRLE, IVRLE, True), (IVRLE, EVRLE, True), (BE, BE, True), (BE, EVRLE, False),
    (EVRLE, IVRLE, False), ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.1.99", False),
    ("1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.90", False),
])
def test_which_syntaxes_are_read_by_range(stored: str, target: str, expected: bool) -> None:
    assert by_range(stored, target) is expected
