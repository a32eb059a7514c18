"""The File Meta Information the store writes in front of every data set it keeps (PS3.10 7.1).

A client's File Meta Information describes the client's file; an archive writes its own when it
stores an instance.  Only the Transfer Syntax UID is taken from the client's header (it says how
the data set that follows is encoded, and the data set is kept byte for byte); the SOP Class and
Instance come from the data set, the implementation identity is the mock's.
"""

from __future__ import annotations

import uuid
import zlib
from typing import BinaryIO

from pydicom import filereader
from pydicom.dataset import FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from ..dicomweb.uids import is_uid
from .base import InvalidInstance

__all__ = ["IMPLEMENTATION_CLASS_UID", "IMPLEMENTATION_VERSION_NAME", "read_header", "file_header", "inflate"]

#: The mock's Implementation Class UID (PS3.7 D.3.3.2): a UUID-derived UID (PS3.5 B.2).
IMPLEMENTATION_CLASS_UID = "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL, "dicomweb-mock/implementation").int)
IMPLEMENTATION_VERSION_NAME = "DICOMWEB_MOCK"


def read_header(fh: BinaryIO) -> tuple[str, int]:
    """The Transfer Syntax UID of the Part 10 stream ``fh`` and the offset of its data set.

    Raises :class:`InvalidInstance` (failure 0xC000) when the preamble, the File Meta
    Information or its Transfer Syntax UID is missing or unusable.
    """
    fh.seek(0)
    try:
        filereader.read_preamble(fh, False)
        meta = filereader._read_file_meta_info(fh)
    except Exception as exc:  # pydicom raises many types on a corrupt header
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
        raise InvalidInstance(f"not a DICOM Part 10 instance: {reason}", 0xC000) from None
    offset = fh.tell()
    try:
        ts = str(meta.get("TransferSyntaxUID", "") or "").strip("\0 ")
    except Exception:  # a value pydicom cannot convert
        ts = "(unreadable)"
    if not ts:
        raise InvalidInstance("the instance has no File Meta Information with a Transfer Syntax UID", 0xC000)
    if not is_uid(ts) or not UID(ts).is_transfer_syntax:
        raise InvalidInstance(f"the File Meta Information names an unknown Transfer Syntax {ts[:70]!r}", 0xC000)
    return ts, offset


def file_header(transfer_syntax_uid: str, sop_class_uid: str, sop_instance_uid: str) -> bytes:
    """Preamble, ``DICM`` prefix and the store's File Meta Information for one data set."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = UID(sop_class_uid)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance_uid)
    meta.TransferSyntaxUID = UID(transfer_syntax_uid)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, False
    write_file_meta_info(out, meta, enforce_standard=True)
    return b"\0" * 128 + b"DICM" + out.getvalue()


def inflate(data: bytes, limit: int) -> bytes:
    """The data set of a Deflated Explicit VR Little Endian stream (PS3.5 A.5), at most ``limit`` bytes."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise InvalidInstance(f"the deflated data set cannot be inflated: {exc}", 0xC000) from None
    if len(inflated) > limit:
        raise InvalidInstance(f"the deflated data set inflates to more than {limit} bytes", 0xA700)
    return inflated
