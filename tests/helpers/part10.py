"""What "kept as sent" means for a stored instance: the data set byte for byte, behind the
store's own File Meta Information (PS3.10 7.1) with the sender's Transfer Syntax UID."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset

from dicomweb_mock.store.file_meta import IMPLEMENTATION_CLASS_UID, read_header


def data_set_bytes(part10: bytes) -> bytes:
    """The bytes of a Part 10 stream after its File Meta Information."""
    return part10[read_header(io.BytesIO(part10))[1]:]


def assert_kept(sent: bytes, stored: bytes) -> None:
    """``stored`` holds the data set of ``sent`` unchanged, behind the store's File Meta Information."""
    assert data_set_bytes(stored) == data_set_bytes(sent)
    sent_meta = pydicom.dcmread(io.BytesIO(sent), stop_before_pixels=True)
    meta = pydicom.dcmread(io.BytesIO(stored), stop_before_pixels=True).file_meta
    assert meta.ImplementationClassUID == IMPLEMENTATION_CLASS_UID
    assert meta.TransferSyntaxUID == sent_meta.file_meta.TransferSyntaxUID
    assert (meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID) == \
        (sent_meta.SOPClassUID, sent_meta.SOPInstanceUID)


def rewritten(path: Path, **changes: str) -> bytes:
    """The Part 10 bytes of ``path`` with some attributes (keywords) changed."""
    ds = pydicom.dcmread(path)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def reread(ds: Dataset) -> Dataset:
    """``ds`` encoded as Explicit VR Little Endian and read back, as a server reads what it receives."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=False, implicit_vr=False, little_endian=True)
    buffer.seek(0)
    return pydicom.dcmread(buffer, force=True)


def part10_bytes(ds: Dataset) -> bytes:
    """``ds`` written as a Part 10 stream, encoded as the Transfer Syntax of its File Meta Information says."""
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()
