"""The Image Pixel Description Macro of a compressed octet stream (PS3.18 2019a 10.5.2): what a STOW-RS
request that omits the macro leaves the origin server to derive, read from the stream's own header.

* JPEG 2000 (``image/jp2``, ``image/jpx``): the SIZ marker segment of the codestream (ISO/IEC 15444-1
  A.5.1) gives the image size, the component count, precision and signedness; the multiple component
  transform flag of the COD segment (A.6.1) says whether three components are YBR_RCT / YBR_ICT.  A JP2
  file (signature box first) is reduced to its contiguous codestream box (``jp2c``), which is what a
  DICOM fragment holds (PS3.5 A.4.4).
* JPEG (``image/jpeg``, ``image/jls``): the first SOFn / SOF55 segment (ISO/IEC 10918-1 B.2.2,
  14495-1 C.2.2) gives the sample precision, the size and the component count.

A single component is MONOCHROME2 (10.5.2 note 6: "may be assumed by the origin server"); three are
RGB, or YBR_FULL_422 for lossy JPEG (PS3.5 8.2.1), unless the JPEG 2000 transform says otherwise.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = ["PixelDescription", "CodestreamError", "jp2_codestream", "describe_j2k", "describe_jpeg"]

_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"


class CodestreamError(ValueError):
    """The octet stream has no header this module can read."""


@dataclass(frozen=True)
class PixelDescription:
    rows: int
    columns: int
    samples: int
    bits_stored: int
    signed: bool
    photometric: str

    @property
    def bits_allocated(self) -> int:
        return 8 if self.bits_stored <= 8 else 16


def jp2_codestream(data: bytes) -> bytes:
    """The JPEG 2000 codestream of ``data``: ``data`` itself, or the ``jp2c`` box of a JP2 file."""
    if not data.startswith(_JP2_SIGNATURE):
        return data
    offset = 0
    while offset + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        header = 8
        if length == 1:
            length, header = struct.unpack(">Q", data[offset + 8:offset + 16])[0], 16
        if kind == b"jp2c":
            return data[offset + header:offset + length] if length else data[offset + header:]
        if length < header:
            break
        offset += length
    raise CodestreamError("a JP2 file without a contiguous codestream (jp2c) box")


def _segments(data: bytes, start: int) -> list[tuple[int, bytes]]:
    """(marker, segment body) of the marker segments from ``start`` up to the first without a length."""
    out, offset = [], start
    while offset + 4 <= len(data) and data[offset] == 0xFF:
        marker = data[offset + 1]
        if marker in (0x4F, 0xD8, 0x93, 0xDA, 0x90):  # SOC/SOI: no length; SOD/SOS/SOT: header ends
            if marker in (0x4F, 0xD8):
                offset += 2
                continue
            break
        length = struct.unpack(">H", data[offset + 2:offset + 4])[0]
        out.append((marker, data[offset + 4:offset + 2 + length]))
        offset += 2 + length
    return out


def describe_j2k(codestream: bytes) -> PixelDescription:
    """The pixel description of a JPEG 2000 codestream (SOC, then SIZ)."""
    if not codestream.startswith(b"\xff\x4f\xff\x51"):
        raise CodestreamError("not a JPEG 2000 codestream (no SOC marker followed by SIZ)")
    segments = dict(_segments(codestream, 0))
    siz, cod = segments.get(0x51, b""), segments.get(0x52, b"")
    if len(siz) < 39:
        raise CodestreamError("the JPEG 2000 SIZ marker segment is truncated")
    xsiz, ysiz, x0, y0 = struct.unpack(">IIII", siz[2:18])
    components = struct.unpack(">H", siz[34:36])[0]
    ssiz = siz[36]
    transform = len(cod) >= 5 and cod[4] == 1
    wavelet = cod[9] if len(cod) >= 10 else 1  # 1: reversible 5-3, 0: irreversible 9-7
    photometric = "MONOCHROME2" if components == 1 else "RGB"
    if components == 3 and transform:
        photometric = "YBR_RCT" if wavelet == 1 else "YBR_ICT"
    return PixelDescription(ysiz - y0, xsiz - x0, components, (ssiz & 0x7F) + 1, bool(ssiz & 0x80), photometric)


def describe_jpeg(stream: bytes) -> PixelDescription:
    """The pixel description of a JPEG or JPEG-LS stream (SOI, ..., SOFn)."""
    if not stream.startswith(b"\xff\xd8"):
        raise CodestreamError("not a JPEG stream (no SOI marker)")
    for marker, body in _segments(stream, 0):
        if (0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC)) or marker == 0xF7:
            if len(body) < 6:
                break
            precision, rows, columns, components = struct.unpack(">BHHB", body[:6])
            lossy = marker in (0xC0, 0xC1, 0xC2)
            photometric = "MONOCHROME2" if components == 1 else "YBR_FULL_422" if lossy else "RGB"
            return PixelDescription(rows, columns, components, precision, False, photometric)
    raise CodestreamError("the JPEG stream has no readable SOF marker segment")
