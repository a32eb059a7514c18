"""What "kept as sent" means for a stored instance: the data set byte for byte, behind the
store's own File Meta Information (PS3.10 7.1) with the sender's Transfer Syntax UID."""

from __future__ import annotations

import io

import pydicom

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
