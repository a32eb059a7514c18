"""The File Meta Information the store writes (PS3.10 7.1), checked against pydicom's own encoder and reader."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from dicomweb_mock.store.file_meta import (_SCAN_SIZE, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, _scan_meta,
                                           file_header, read_header)

CASES = [  # odd and even lengths: UI values pad with NUL to an even length (PS3.5 6.2)
    ("1.2.840.10008.1.2.1", "1.2.840.10008.5.1.4.1.1.2", "1.2.3.4"),
    ("1.2.840.10008.1.2.4.80", "1.2.840.10008.5.1.4.1.1.7", "1.2.34.5"),
    ("1.2.840.10008.1.2", "1.2.840.10008.5.1.4.1.1.4", "2.25." + "9" * 59),
]


def _pydicom_header(ts: str, sop_class: str, sop_instance: str) -> bytes:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(ts)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + out.getvalue()


@pytest.mark.parametrize("ts,sop_class,sop_instance", CASES)
def test_file_header_matches_pydicoms_encoding(ts: str, sop_class: str, sop_instance: str) -> None:
    assert file_header(ts, sop_class, sop_instance) == _pydicom_header(ts, sop_class, sop_instance)


@pytest.mark.parametrize("ts,sop_class,sop_instance", CASES)
def test_file_header_reads_back(ts: str, sop_class: str, sop_instance: str) -> None:
    ds = Dataset()
    ds.PatientID = "P"
    body = io.BytesIO()
    ds.save_as(body, implicit_vr=ts == "1.2.840.10008.1.2", little_endian=True)
    header = file_header(ts, sop_class, sop_instance)
    part10 = header + body.getvalue()
    assert read_header(io.BytesIO(part10)) == (ts, len(header))
    read = dcmread(io.BytesIO(part10))
    assert read.file_meta.MediaStorageSOPClassUID == sop_class
    assert read.file_meta.MediaStorageSOPInstanceUID == sop_instance
    assert read.file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION_NAME
    assert read.PatientID == "P"


def _pydicom_read(part10: bytes) -> tuple[str, int] | None:
    """(Transfer Syntax UID, offset of the data set) as pydicom's own reader finds them; None when it fails."""
    from pydicom import filereader

    fh = io.BytesIO(part10)
    try:
        filereader.read_preamble(fh, False)
        meta = filereader._read_file_meta_info(fh)
        return str(meta.TransferSyntaxUID).strip("\0 "), fh.tell()
    except Exception:
        return None


def _fixture_files() -> list[bytes]:
    from dicomweb_fixtures import instance_files

    return [Path(f).read_bytes() for f in instance_files()]


def test_fast_header_scan_agrees_with_pydicom_on_the_fixtures() -> None:
    files = _fixture_files()
    assert files
    for blob in files:
        scanned = _scan_meta(blob[:_SCAN_SIZE])
        assert scanned is not None
        assert scanned == _pydicom_read(blob)


def test_fast_header_scan_agrees_with_pydicom_on_damaged_headers() -> None:
    """Bytes of the header overwritten at random: the scan either steps aside (None, pydicom then
    decides) or finds what pydicom finds."""
    rng = random.Random(1)
    blobs = _fixture_files()[:5]
    for _ in range(4000):
        blob = bytearray(rng.choice(blobs))
        header_end = _scan_meta(bytes(blob))[1]  # type: ignore[index]
        for _ in range(rng.randint(1, 3)):
            blob[rng.randrange(128, header_end)] = rng.randrange(256)
        scanned = _scan_meta(bytes(blob[:_SCAN_SIZE]))
        if scanned is not None:
            assert scanned == _pydicom_read(bytes(blob))
