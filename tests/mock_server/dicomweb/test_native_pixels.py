"""Uncompressed Pixel Data judged whole by arithmetic (:mod:`native_pixels`).

Expected lengths come from PS3.5 8.1.1 and PS3.3 C.7.6.3 (Rows x Columns x Samples
per Pixel x Bits Allocated / 8 per frame).  The oracle for everything else is
pydicom's decoder: on any data set, :func:`pixel_data_problem` with the DICOM JSON
(where the arithmetic may settle it) says what it says without it (where every frame
is decoded).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset

from dicomweb_fixtures import instance_files
from dicomweb_mock.dicomweb.dicom_json import dataset_to_json
from dicomweb_mock.dicomweb.native_pixels import native_pixels_whole
from dicomweb_mock.dicomweb.pixel_check import pixel_data_problem

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

EXPLICIT, IMPLICIT = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


def attrs(rows: int = 512, columns: int = 512, allocated: int = 16, stored: int = 12, samples: int = 1,
          photometric: str = "MONOCHROME2", representation: int = 0, **extra: Any) -> dict[str, Any]:
    out = {"00280010": {"vr": "US", "Value": [rows]}, "00280011": {"vr": "US", "Value": [columns]},
           "00280100": {"vr": "US", "Value": [allocated]}, "00280101": {"vr": "US", "Value": [stored]},
           "00280002": {"vr": "US", "Value": [samples]}, "00280004": {"vr": "CS", "Value": [photometric]},
           "00280103": {"vr": "US", "Value": [representation]}}
    out.update(extra)
    return out


@pytest.mark.parametrize("syntax, length, attributes, whole", [
    (EXPLICIT, 512 * 512 * 2, attrs(), True),
    (IMPLICIT, 512 * 512 * 2 + 2, attrs(), True),  # more than needed decodes too (PS3.5 8.1.1 padding)
    (EXPLICIT, 512 * 512 * 2 - 2, attrs(), False),  # a short element
    (EXPLICIT, 3 * 64 * 64, attrs(64, 64, 8, 8, 3, "RGB", **{"00280006": {"vr": "US", "Value": [1]}}), True),
    (EXPLICIT, 3 * 64 * 64, attrs(64, 64, 8, 8, 3, "RGB"), False),  # no Planar Configuration
    (EXPLICIT, 3 * 512 * 512 * 2, attrs(**{"00280008": {"vr": "IS", "Value": [3]}}), True),
    (EXPLICIT, 2 * 512 * 512 * 2, attrs(**{"00280008": {"vr": "IS", "Value": [3]}}), False),
    (EXPLICIT, 512 * 512 * 2, attrs(stored=17), False),  # Bits Stored beyond Bits Allocated
    (EXPLICIT, 512 * 512, attrs(allocated=8, stored=8, photometric="PALETTE COLOR"), False),
    (EXPLICIT, 512 * 512 * 2, {k: v for k, v in attrs().items() if k != "00280103"}, False),
    ("1.2.840.10008.1.2.2", 512 * 512 * 2, attrs(), False),  # big endian: decoded instead
    ("1.2.840.10008.1.2.4.50", 512 * 512 * 2, attrs(), False),  # encapsulated
    (EXPLICIT, 0xFFFFFFFF, attrs(), False),  # undefined length
])
def test_expected_lengths(syntax: str, length: int, attributes: dict[str, Any], whole: bool) -> None:
    assert native_pixels_whole(syntax, length, attributes) is whole


def _both_ways(data: bytes) -> tuple[str | None, str | None, bool]:
    """pixel_data_problem with the DICOM JSON and without it, and whether the arithmetic settled it.

    With the JSON, the data set is read twice: whole, and with long values left unread
    (deferred, as the store reads it); both must give the same answer.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        answers = set()
        for defer_size in (None, 1024):
            ds = pydicom.dcmread(io.BytesIO(data), force=True, defer_size=defer_size)
            attributes = dataset_to_json(ds, bulk_data_uri=lambda path: "bulk", bulk_threshold=64)  # as the store
            raw = ds.get_item(0x7FE00010, keep_deferred=True)
            settled = raw is not None and native_pixels_whole(
                str(ds.file_meta.TransferSyntaxUID), getattr(raw, "length", None), attributes)
            answers.add(pixel_data_problem(ds, len(data), attributes))
        assert len(answers) == 1, answers
        decoded = pixel_data_problem(pydicom.dcmread(io.BytesIO(data), force=True), len(data))
    return answers.pop(), decoded, settled


def _syntax(path: Path | str) -> str:
    ds = pydicom.dcmread(path, stop_before_pixels=True, force=True)
    return str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))


NATIVE_PYDICOM_FILES = sorted(p for p in (Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm")
                              if p.stat().st_size < 4_000_000 and _syntax(p) in (EXPLICIT, IMPLICIT))


@pytest.mark.parametrize("path", [Path(f) for f in instance_files()] + NATIVE_PYDICOM_FILES, ids=lambda p: p.name)
def test_files_get_the_decoders_verdict(path: Path) -> None:
    with_json, decoded, _ = _both_ways(path.read_bytes())
    assert with_json == decoded


def test_the_arithmetic_settles_the_usual_instances() -> None:
    """Worth checking only if it answers for most uncompressed fixtures."""
    settled = [_both_ways(Path(f).read_bytes())[2] for f in instance_files()
               if _syntax(f) in (EXPLICIT, IMPLICIT)]
    assert settled and sum(settled) >= len(settled) * 0.8


def part10(rows: int, columns: int, allocated: int, stored: int, samples: int, photometric: str,
           representation: int, planar: int | None, frames: int | None, length: int, syntax: str) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID = "1.2.3.4"
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored = rows, columns, allocated, stored
    ds.HighBit = max(stored - 1, 0)
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PixelRepresentation = samples, photometric, representation
    if planar is not None:
        ds.PlanarConfiguration = planar
    if frames is not None:
        ds.NumberOfFrames = frames
    ds.add_new(0x7FE00010, "OW" if allocated > 8 else "OB", bytes(range(256)) * (length // 256) + bytes(length % 256))
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pydicom.dcmwrite(out, ds, enforce_file_format=True, implicit_vr=syntax == IMPLICIT)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(rows=st.sampled_from([1, 3, 4, 16]), columns=st.sampled_from([1, 4, 5, 16]),
       allocated=st.sampled_from([1, 8, 12, 16, 32]), stored=st.sampled_from([1, 8, 12, 16, 20, 32]),
       samples=st.sampled_from([1, 2, 3]),
       photometric=st.sampled_from(["MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "PALETTE COLOR", "X"]),
       representation=st.sampled_from([0, 1, 2]), planar=st.sampled_from([None, 0, 1, 2]),
       frames=st.sampled_from([None, 0, 1, 2, 3]), extra=st.integers(-40, 40),
       syntax=st.sampled_from([EXPLICIT, IMPLICIT]))
def test_generated_layouts_get_the_decoders_verdict(rows: int, columns: int, allocated: int, stored: int,
                                                    samples: int, photometric: str, representation: int,
                                                    planar: int | None, frames: int | None, extra: int,
                                                    syntax: str) -> None:
    needed = rows * columns * samples * max(allocated // 8, 1) * (frames or 1)
    length = max(0, needed + extra)
    length += length % 2
    data = part10(rows, columns, allocated, stored, samples, photometric, representation, planar, frames,
                  length, syntax)
    with_json, decoded, _ = _both_ways(data)
    assert with_json == decoded
