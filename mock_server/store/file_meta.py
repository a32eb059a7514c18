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
from pydicom.uid import UID

from ..dicomweb.uids import is_uid
from .base import InvalidInstance

__all__ = ["IMPLEMENTATION_CLASS_UID", "IMPLEMENTATION_VERSION_NAME", "read_header", "file_header", "inflate"]

#: The mock's Implementation Class UID (PS3.7 D.3.3.2): a UUID-derived UID (PS3.5 B.2).
IMPLEMENTATION_CLASS_UID = "2.25." + str(uuid.uuid5(uuid.NAMESPACE_URL, "dicomweb-mock/implementation").int)
IMPLEMENTATION_VERSION_NAME = "DICOMWEB_MOCK"


#: The File Meta Information is looked for in the first bytes of a stream (it is a few hundred bytes).
_SCAN_SIZE = 1 << 16
#: Explicit VRs encoded with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
#: The other VRs of PS3.5 table 6.2-1 (2-byte length).
_SHORT_VRS = frozenset((b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT", b"PN",
                        b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"))


def _scan_meta(head: bytes) -> tuple[str, int] | None:
    """Transfer Syntax UID and end offset of the File Meta Information at the start of ``head``
    (preamble, ``DICM``, group 0002 elements in Explicit VR Little Endian: PS3.10 7.1), for a
    header laid out the regular way; None for anything else (no prefix, an odd VR, an undefined
    length, a value that is not plain ASCII, a header running past ``head``)."""
    if head[128:132] != b"DICM":
        return None
    pos, ts, end = 132, None, len(head)
    while True:
        if pos + 8 > end:
            # The data set may be empty: then the header ends the stream, inside the bytes read.
            return (ts, pos) if pos == end and end < _SCAN_SIZE and ts is not None else None
        if head[pos:pos + 2] != b"\x02\x00":
            return (ts, pos) if ts is not None else None
        vr = head[pos + 4:pos + 6]
        if vr in _LONG_VRS:
            if vr == b"SQ" or head[pos + 6:pos + 8] != b"\0\0" or pos + 12 > end:
                return None
            start, length = pos + 12, int.from_bytes(head[pos + 8:pos + 12], "little")
        elif vr in _SHORT_VRS:
            start, length = pos + 8, int.from_bytes(head[pos + 6:pos + 8], "little")
        else:
            return None
        if pos == 132 and head[132:144] != b"\x02\x00\x00\x00UL\x04\x00" + head[140:144]:
            return None  # the group starts with its 4-byte Group Length (PS3.10 table 7.1-1)
        if start + length > end:
            return None
        if head[pos + 2:pos + 4] == b"\x10\x00":  # (0002,0010) Transfer Syntax UID
            value = head[start:start + length]
            if vr != b"UI" or not value.isascii() or b"\\" in value:
                return None
            ts = value.decode("ascii").strip("\0 ")
            if not ts or ts.strip("0123456789."):
                return None
        pos = start + length


def read_header(fh: BinaryIO) -> tuple[str, int]:
    """The Transfer Syntax UID of the Part 10 stream ``fh`` and the offset of its data set.

    Raises :class:`InvalidInstance` (failure 0xC000) when the preamble, the File Meta
    Information or its Transfer Syntax UID is missing or unusable.
    """
    fh.seek(0)
    scanned = _scan_meta(fh.read(_SCAN_SIZE))
    if scanned is not None:
        ts, offset = scanned
    else:  # anything unusual: pydicom's reader decides (and explains what is wrong)
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


def _element(tag: int, vr: bytes, value: bytes) -> bytes:
    """One Explicit VR Little Endian element of group 0002 (PS3.5 7.1.2): OB has a 4-byte length."""
    head = (tag >> 16).to_bytes(2, "little") + (tag & 0xFFFF).to_bytes(2, "little")
    if vr == b"OB":
        return head + vr + b"\0\0" + len(value).to_bytes(4, "little") + value
    return head + vr + len(value).to_bytes(2, "little") + value


def _ui(value: str) -> bytes:
    """A UI value, padded to even length with a NUL (PS3.5 6.2)."""
    raw = value.encode("ascii")
    return raw + b"\0" if len(raw) % 2 else raw


_VERSION_NAME = IMPLEMENTATION_VERSION_NAME.encode("ascii")
_VERSION_NAME += b" " * (len(_VERSION_NAME) % 2)  # SH pads with a space (PS3.5 6.2)


def file_header(transfer_syntax_uid: str, sop_class_uid: str, sop_instance_uid: str) -> bytes:
    """Preamble, ``DICM`` prefix and the store's File Meta Information for one data set: the group
    length, version 00 01, SOP Class and Instance, Transfer Syntax, implementation UID and name
    (PS3.10 7.1), in tag order."""
    body = b"".join((
        _element(0x00020001, b"OB", b"\x00\x01"),
        _element(0x00020002, b"UI", _ui(sop_class_uid)),
        _element(0x00020003, b"UI", _ui(sop_instance_uid)),
        _element(0x00020010, b"UI", _ui(transfer_syntax_uid)),
        _element(0x00020012, b"UI", _ui(IMPLEMENTATION_CLASS_UID)),
        _element(0x00020013, b"SH", _VERSION_NAME),
    ))
    return b"\0" * 128 + b"DICM" + _element(0x00020000, b"UL", len(body).to_bytes(4, "little")) + body


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
