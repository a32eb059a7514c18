"""Frame extraction for RetrieveFrames (PS3.18 2019a 10.4, 8.7.3.3 Bulkdata media types).

Frame numbers are 1-based everywhere, as in the ``{frames}`` URL segment
(PS3.18 10.4 Table 10.4-1: "a comma-separated list of frame numbers").

* :func:`stored_frame` returns a frame exactly as stored: a slice of native
  Pixel Data, or the concatenated fragments of one encapsulated frame
  without item delimiters (PS3.18 8.7.3.3.2).
* :func:`native_frame` returns the decoded frame as little-endian bytes, the
  ``application/octet-stream`` Bulkdata of PS3.18 8.7.3.3.1.  It matches the
  frame in the Pixel Data that :func:`~.transcoding.transcode` produces for
  Explicit VR Little Endian.
* :func:`frame_in_syntax` picks between both or re-encodes the frame.

Decision: a frame number beyond Number of Frames is reported with status
404 (the frame resource does not exist); callers may choose another status
with ``out_of_range_status``.  Requesting frames of an instance without
Pixel Data is also 404.
"""

from __future__ import annotations

import re

from typing import BinaryIO

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame

from ..errors import HttpError
from .transcoding import (
    NATIVE_SYNTAXES, NATIVE_TARGETS, TranscodeError, decode_frames,
    encode_frame, frame_bytes, transcode_refusal, transfer_syntax_of,
)
from .uids import EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE

__all__ = [
    "FrameError", "number_of_frames", "parse_frame_list", "stored_frame", "by_range", "frames_at",
    "decode_frame", "native_frame", "frame_in_syntax", "TranscodeError",
]

_FRAME_NUMBER = re.compile(r"[0-9]+")
_EOI_PADDED = b"\xff\xd9\x00"  # EOI (JPEG family) + the 0x00 making the item even (PS3.5 A.4)


class FrameError(HttpError):
    """A frame request cannot be served; ``status`` is the HTTP status to return."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(status, reason)


def number_of_frames(ds: Dataset) -> int:
    """Number of frames of the instance: 0 without Pixel Data, else Number of Frames or 1.

    PS3.3 C.7.6.6: Number of Frames (0028,0008) is absent for single-frame
    SOP Classes, which therefore have one frame.
    """
    if "PixelData" not in ds:
        return 0
    value = ds.get("NumberOfFrames")
    if value is None or value == "":
        return 1
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise FrameError(f"the stored Number of Frames {value!r} is not an integer", 500) from None
    if count < 1:
        raise FrameError(f"the stored Number of Frames {count} is not positive", 500)
    return count


def parse_frame_list(text: str, count: int, *, out_of_range_status: int = 404,
                     require_ascending: bool = False) -> list[int]:
    """Parse the ``{frames}`` URL segment, e.g. ``"1,3,5"`` (PS3.18 10.4.1).

    Returns the frame numbers in request order.  Raises :class:`FrameError`
    with status 400 for an empty list, an empty item, anything but ASCII
    digits (so negatives) or 0, and, if ``require_ascending``, for a list not
    strictly ascending; with ``out_of_range_status`` (404) for a frame
    greater than ``count``.
    """
    if text is None or not str(text).strip():
        raise FrameError("the frame list is empty", 400)
    frames: list[int] = []
    for item in str(text).split(","):
        token = item.strip()
        if not token:
            raise FrameError(f"the frame list {text!r} has an empty item", 400)
        if not _FRAME_NUMBER.fullmatch(token):
            raise FrameError(f"frame number {token!r} is not a positive integer", 400)
        number = int(token)
        if number == 0:
            raise FrameError("frame numbers start at 1, 0 is not a frame", 400)
        frames.append(number)
    if require_ascending and any(b <= a for a, b in zip(frames, frames[1:])):
        raise FrameError(f"the frame list {text!r} is not in ascending order", 400)
    beyond = [n for n in frames if n > count]
    if beyond:
        raise FrameError(f"frame {beyond[0]} does not exist: the instance has {count} frame(s)",
                         out_of_range_status)
    return frames


def _check_frame(ds: Dataset, n: int) -> int:
    count = number_of_frames(ds)
    if count == 0:
        raise FrameError("the instance has no Pixel Data, so no frames", 404)
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise FrameError(f"frame number {n!r} is not a positive integer", 400)
    if n > count:
        raise FrameError(f"frame {n} does not exist: the instance has {count} frame(s)", 404)
    return count


def _attr(ds: Dataset, keyword: str, default: int | None = None) -> int:
    value = ds.get(keyword, default)
    if value is None or value == "":
        if default is None:
            raise FrameError(f"the instance has no {keyword}", 500)
        return default
    return int(value)


def _native_slice(ds: Dataset, data: bytes, n: int) -> bytes:
    """Frame ``n`` of native Pixel Data; bit-packed frames (Bits Allocated 1) are re-aligned."""
    bits = _attr(ds, "Rows") * _attr(ds, "Columns") * _attr(ds, "SamplesPerPixel", 1)
    bits_allocated = _attr(ds, "BitsAllocated")
    frame_bits = bits * bits_allocated
    start, end = (n - 1) * frame_bits, n * frame_bits
    if len(data) * 8 < end:
        raise FrameError(f"the stored Pixel Data is too short for frame {n}", 500)
    if frame_bits % 8 == 0 and start % 8 == 0:
        return bytes(data[start // 8:end // 8])
    packed = np.frombuffer(data, dtype=np.uint8, count=(end + 7) // 8)
    unpacked = np.unpackbits(packed, bitorder="little")[start:end]
    return np.packbits(unpacked, bitorder="little").tobytes()


def _pixel_bytes(ds: Dataset) -> bytes:
    value = ds["PixelData"].value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return value if isinstance(value, bytes) else bytes(value)
    raise FrameError("the stored Pixel Data is not held in memory", 500)


def stored_frame(ds: Dataset, n: int) -> bytes:
    """Frame ``n`` (1-based) exactly as stored.

    Native Pixel Data: the frame's byte range (byte order of the stored
    Transfer Syntax; for Bits Allocated 1 the frame's bits re-packed from bit
    0).  Encapsulated Pixel Data: the frame's fragments concatenated, located
    with the Extended Offset Table, the Basic Offset Table or, when both are
    empty, one fragment per frame or the JPEG end-of-image markers
    (PS3.5 A.4).  The one exception to "as stored": a 0x00 byte after a
    final FFD9 end marker is item padding, not codestream, and is dropped.
    """
    count = _check_frame(ds, n)
    data = _pixel_bytes(ds)
    if transfer_syntax_of(ds) in NATIVE_SYNTAXES:
        return _native_slice(ds, data, n)
    extended = None
    if "ExtendedOffsetTable" in ds and "ExtendedOffsetTableLengths" in ds:
        extended = (ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths)
    try:
        frame = get_frame(data, n - 1, number_of_frames=count, extended_offsets=extended)
    except (ValueError, EOFError, KeyError) as exc:
        raise FrameError(f"frame {n} cannot be located in the encapsulated Pixel Data: {exc}", 500) from exc
    if frame.endswith(_EOI_PADDED):
        frame = frame[:-1]  # item padding after the JPEG/JPEG-LS/JPEG 2000 end marker
    return frame


def by_range(stored_ts: str, target_ts: str) -> bool:
    """Can frames in ``target_ts`` be read by byte range (:func:`frames_at`) from an
    instance stored in ``stored_ts``?  Native Pixel Data that is not deflated, sent as stored
    (a little-endian one also as Explicit VR Little Endian, :func:`native_frame`)."""
    if stored_ts == EXPLICIT_VR_BE:
        return target_ts == stored_ts
    return stored_ts in (IMPLICIT_VR_LE, EXPLICIT_VR_LE) and target_ts in (stored_ts, EXPLICIT_VR_LE)


def frames_at(fh: BinaryIO, offset: int, frame_length: int, numbers: list[int]) -> list[bytes]:
    """Frames ``numbers`` of native Pixel Data whose value starts at ``offset`` in ``fh``,
    ``frame_length`` bytes each (PS3.5 8.1.1: frame n is the n-th run of bytes)."""
    frames = []
    for n in numbers:
        fh.seek(offset + (n - 1) * frame_length)
        data = fh.read(frame_length)
        if len(data) < frame_length:
            raise FrameError(f"the stored Pixel Data is too short for frame {n}", 500)
        frames.append(data)
    return frames


def decode_frame(ds: Dataset, n: int) -> tuple[np.ndarray, str]:
    """Frame ``n`` decoded to an array, and the array's Photometric Interpretation.

    No colour conversion is applied except what the codec defines (see
    :func:`~.transcoding.decode_frames`).  Raises :class:`FrameError` or
    :class:`~.transcoding.TranscodeError` (no decoder: 406, corrupt: 500).
    """
    _check_frame(ds, n)
    for arr, photometric in decode_frames(ds, indices=[n - 1]):
        return arr, photometric
    raise FrameError(f"frame {n} could not be decoded", 500)


def native_frame(ds: Dataset, n: int) -> bytes:
    """Frame ``n`` as uncompressed little-endian bytes (PS3.18 8.7.3.3.1).

    For native little-endian Pixel Data this is :func:`stored_frame` (Planar
    Configuration as stored); otherwise the frame is decoded and returned
    colour-by-pixel.  Multi-byte samples are two's complement when Pixel
    Representation is 1.
    """
    _check_frame(ds, n)
    if transfer_syntax_of(ds) in NATIVE_TARGETS:
        return stored_frame(ds, n)
    arr, _ = decode_frame(ds, n)
    return frame_bytes(arr, _attr(ds, "BitsAllocated"), _attr(ds, "PixelRepresentation", 0))


def frame_in_syntax(ds: Dataset, n: int, transfer_syntax_uid: str) -> bytes:
    """Frame ``n`` in ``transfer_syntax_uid`` (PS3.18 8.7.3.3, 8.7.3.5.2).

    The stored Transfer Syntax returns :func:`stored_frame`; a native syntax
    returns :func:`native_frame`; a supported compressed syntax re-encodes
    the decoded frame.  Otherwise raises :class:`~.transcoding.TranscodeError`
    (status 406).
    """
    _check_frame(ds, n)
    source = transfer_syntax_of(ds)
    if transfer_syntax_uid == source and source not in NATIVE_SYNTAXES:
        return stored_frame(ds, n)
    if transfer_syntax_uid in NATIVE_TARGETS:
        return native_frame(ds, n)
    reason = transcode_refusal(source, transfer_syntax_uid, ds)
    if reason:
        raise TranscodeError(reason)
    arr, photometric = decode_frame(ds, n)
    attrs = {
        "SamplesPerPixel": _attr(ds, "SamplesPerPixel", 1),
        "BitsAllocated": _attr(ds, "BitsAllocated"),
        "BitsStored": _attr(ds, "BitsStored"),
        "PixelRepresentation": _attr(ds, "PixelRepresentation", 0),
        "PhotometricInterpretation": photometric,
    }
    return encode_frame(arr, attrs, transfer_syntax_uid)
