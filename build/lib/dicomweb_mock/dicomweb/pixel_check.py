"""Is an instance's Pixel Data decodable?  Checked when an instance is stored.

A retrieve that has to decode Pixel Data (rendered and thumbnail resources,
frames in another syntax, transcoded instances: PS3.18 8.7.3, 8.3.5) can only
fail with a server error once the data is stored, and in the middle of a
multipart body it can only cut the body short.  So STOW-RS decodes every
frame before the instance is accepted, and refuses corrupt data with a
reason (failure 0xC000, "cannot understand", PS3.18 table I.2-1).

Two cases are not checked: a Transfer Syntax with no installed decoder (such
an instance is served as stored; conversions are refused with 406), and
instances larger than :data:`CHECKED_INSTANCE_MAX` (decoding reads the
whole Pixel Data element into memory).
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from .transcoding import TranscodeError, decode_frames

__all__ = ["CHECKED_INSTANCE_MAX", "pixel_data_problem"]

#: An instance larger than this (bytes) is stored without decoding its Pixel Data first:
#: decoding holds the whole element in memory, and a STOW must stay within bounded memory.
CHECKED_INSTANCE_MAX = 64 * 1024 * 1024

_PIXEL_DATA = 0x7FE00010


def pixel_data_problem(ds: Dataset, size: int) -> str | None:
    """Why the Pixel Data of ``ds`` (an instance of ``size`` bytes) cannot be decoded;
    None when it can, or when it is not checked."""
    if _PIXEL_DATA not in ds or size > CHECKED_INSTANCE_MAX:
        return None
    frame = 0
    try:
        for frame, _ in enumerate(decode_frames(ds), start=1):
            pass
    except TranscodeError as exc:
        if exc.status != 500:  # no installed decoder: stored and served as is
            return None
        detail = " ".join(str(exc.__cause__ or exc).split())  # decoders report on several lines
        return f"frame {frame + 1} of the Pixel Data cannot be decoded: {detail}"
    return None
