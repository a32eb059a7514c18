"""Is uncompressed Pixel Data plainly whole?  A check by arithmetic, before decoding it.

Uncompressed (native) Pixel Data in a little-endian Transfer Syntax is a plain array
(PS3.5 8.1.1, 8.2): it decodes whenever the Image Pixel Module describes a valid
layout (PS3.3 C.7.6.3) and the element holds at least Rows x Columns x Samples per
Pixel x Bits Allocated / 8 bytes per frame.  :func:`native_pixels_whole` says so for
the common layouts (monochrome, or RGB with a Planar Configuration) from the
instance's DICOM JSON, without reading the Pixel Data itself; any other case (a
missing or unusual attribute, a short element, Palette Color, YBR, 1-bit, big
endian, encapsulated) gets False and is decoded as before
(:func:`~mock_server.dicomweb.pixel_check.pixel_data_problem`).
``tests/mock_server/dicomweb/test_native_pixels.py`` checks that whatever it calls
whole, pydicom decodes.

:func:`frames_layout` gives where each frame of such Pixel Data lies in the file (the
offset of the value and the bytes per frame), so that the store can record it and a
frame be read by its byte range.
"""

from __future__ import annotations

from typing import Any, Mapping

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from .uids import EXPLICIT_VR_BE, EXPLICIT_VR_LE, IMPLICIT_VR_LE

__all__ = ["frames_layout", "native_pixels_whole", "pixel_data_element"]

_LITTLE_ENDIAN_NATIVE = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_LE})
_MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})
_BITS_ALLOCATED = frozenset({8, 16, 32})
_UNDEFINED_LENGTH = 0xFFFFFFFF
#: Native syntaxes whose Pixel Data is in the stored file as it is in the data set (not deflated).
_IN_PLACE = frozenset({IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE})
_PIXEL_DATA = 0x7FE00010


def _single(attributes: Mapping[str, Any], key: str) -> Any:
    """The one value of attribute ``key`` (8 hex digits), None when absent, empty or multi-valued."""
    values = attributes.get(key, {}).get("Value")
    if not isinstance(values, list) or len(values) != 1:
        return None
    return values[0]


def _int(attributes: Mapping[str, Any], key: str) -> int | None:
    value = _single(attributes, key)
    return value if type(value) is int else None


def native_pixels_whole(transfer_syntax: str, pixel_data_length: int | None,
                        attributes: Mapping[str, Any]) -> bool:
    """True when Pixel Data (7FE0,0010) of ``pixel_data_length`` bytes in ``transfer_syntax``
    is native, of a common layout and long enough, per the DICOM JSON ``attributes``."""
    if (transfer_syntax not in _LITTLE_ENDIAN_NATIVE or pixel_data_length is None
            or pixel_data_length == _UNDEFINED_LENGTH):
        return False
    rows, columns = _int(attributes, "00280010"), _int(attributes, "00280011")
    allocated, stored = _int(attributes, "00280100"), _int(attributes, "00280101")
    samples, representation = _int(attributes, "00280002"), _int(attributes, "00280103")
    photometric = _single(attributes, "00280004")
    if "00280008" in attributes:
        frames = _int(attributes, "00280008")
    else:
        frames = 1
    if (rows is None or columns is None or allocated is None or stored is None or samples is None
            or representation is None or frames is None):
        return False
    if not (0 < rows <= 0xFFFF and 0 < columns <= 0xFFFF and frames >= 1 and representation in (0, 1)
            and allocated in _BITS_ALLOCATED and 1 <= stored <= allocated):
        return False
    if samples == 1:
        if photometric not in _MONOCHROME:
            return False
    elif samples != 3 or photometric != "RGB" or _int(attributes, "00280006") not in (0, 1):
        return False
    return pixel_data_length >= rows * columns * samples * (allocated // 8) * frames


def pixel_data_element(ds: Dataset) -> RawDataElement | None:
    """The Pixel Data (7FE0,0010) of ``ds`` as read, before any conversion (None when absent or
    already converted): keep it before the data set is encoded, for :func:`frames_layout`."""
    element = ds.get_item(_PIXEL_DATA, keep_deferred=True)
    return element if isinstance(element, RawDataElement) else None


def frames_layout(element: RawDataElement | None, transfer_syntax: str, attributes: Mapping[str, Any],
                  frames: int) -> tuple[int, int] | None:
    """Where the ``frames`` frames of native Pixel Data lie in the stream its ``element``
    (:func:`pixel_data_element`) was read from: (offset of the value, bytes per frame), when
    the syntax keeps it in place (not deflated, not encapsulated), its frames are whole bytes
    (PS3.5 8.1.1) and the element holds them all; None otherwise."""
    if transfer_syntax not in _IN_PLACE or frames < 1 or element is None:
        return None
    if element.value_tell is None or element.length == _UNDEFINED_LENGTH:
        return None
    bits = 1
    for key in ("00280010", "00280011", "00280100", "00280002"):  # Rows, Columns, Bits Allocated, Samples
        value = _int(attributes, key)
        if value is None or value < 1:
            return None
        bits *= value
    if bits % 8 or bits // 8 * frames > element.length:
        return None
    return int(element.value_tell), bits // 8
