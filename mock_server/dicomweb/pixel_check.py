"""Is an instance's Pixel Data decodable?  Decided once, when the instance is stored.

An archive keeps what it is sent, whatever its own decoders can do.  A retrieve
that has to decode Pixel Data (rendered and thumbnail resources, frames or
instances in another syntax: PS3.18 8.7.3, 8.3.5) would fail in the middle of a
multipart body, so the store decodes every frame at STOW-RS and records why it
could not (:attr:`~mock_server.store.base.InstanceRecord.pixel_problem`); such a
retrieve is then refused before its response starts (:func:`refuse_undecodable`,
406), and the instance is served as stored.

Uncompressed Pixel Data whose length and Image Pixel attributes plainly fit is not
decoded (:mod:`.native_pixels`).  Two cases are not checked: a Transfer Syntax with
no installed decoder (its conversions are refused with 406 anyway), and instances
larger than :data:`CHECKED_INSTANCE_MAX` (decoding reads the whole Pixel Data
element into memory).
"""

from __future__ import annotations

from typing import Any, Mapping

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from .native_pixels import native_pixels_whole
from .transcoding import TranscodeError, UndecodablePixelData, decode_frames, needs_decoding, transfer_syntax_of

__all__ = ["CHECKED_INSTANCE_MAX", "pixel_data_problem", "refuse_undecodable"]

#: An instance larger than this (bytes) is stored without decoding its Pixel Data first:
#: decoding holds the whole element in memory, and a STOW must stay within bounded memory.
CHECKED_INSTANCE_MAX = 64 * 1024 * 1024

_PIXEL_DATA = 0x7FE00010


def pixel_data_problem(ds: Dataset, size: int, attributes: Mapping[str, Any] | None = None) -> str | None:
    """Why the Pixel Data of ``ds`` (an instance of ``size`` bytes) cannot be decoded;
    None when it can, or when it is not checked.  ``attributes``, the instance's DICOM
    JSON, lets uncompressed Pixel Data of a common layout pass without being decoded
    (:func:`~mock_server.dicomweb.native_pixels.native_pixels_whole`)."""
    if _PIXEL_DATA not in ds or size > CHECKED_INSTANCE_MAX:
        return None
    if attributes is not None:
        if native_pixels_whole(transfer_syntax_of(ds), _pixel_data_length(ds, size), attributes):
            return None
    decoded = 0
    try:
        for _ in decode_frames(ds):
            decoded += 1
    except TranscodeError as exc:
        if not isinstance(exc, UndecodablePixelData):  # no decoder installed: conversions get 406 anyway
            return None
        detail = " ".join(str(exc.__cause__ or exc).split())  # decoders report on several lines
        return f"frame {decoded + 1} of the Pixel Data cannot be decoded: {detail}"
    return None


def _pixel_data_length(ds: Dataset, size: int) -> int | None:
    """How many bytes of Pixel Data (7FE0,0010) the instance of ``size`` bytes holds; None when
    its length is undefined.  A value not read yet (deferred) counts when it ends within the
    instance; a value read counts as read (a truncated file holds less than the element says)."""
    element = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    if isinstance(element, RawDataElement):
        if element.length == 0xFFFFFFFF:
            return None
        if element.value is None:
            end = element.value_tell + element.length
            return int(element.length) if element.value_tell is not None and end <= size else None
    elif element.is_undefined_length:
        return None
    value = element.value
    return len(value) if isinstance(value, (bytes, bytearray)) else None


def refuse_undecodable(sop_instance_uid: str, pixel_problem: str | None, stored_ts: str,
                       target_ts: str | None = None) -> None:
    """Raise :class:`UndecodablePixelData` (406) when a response needs the Pixel Data of an
    instance decoded and it cannot be: sent in ``target_ts``, or rendered (``target_ts`` None)."""
    if pixel_problem and (target_ts is None or needs_decoding(stored_ts, target_ts)):
        raise UndecodablePixelData(f"instance {sop_instance_uid}: {pixel_problem}; it can only be sent as stored "
                                   "(transfer-syntax=*)")
