"""DICOM JSON of an element still in its encoded form, without pydicom's value conversion.

:func:`~mock_server.dicomweb.dicom_json.dataset_to_json` asks :func:`raw_attribute_json`
first for every element pydicom has read but not yet converted (a
``RawDataElement``).  It answers for the values whose DICOM JSON (PS3.18 F.2) follows
from their bytes alone:

* US, SS, UL, SL, FL, FD, SV, UV: the numbers of PS3.5 Table 6.2-1, in the data set's
  byte order;
* AE, AS, CS, DA, DT, TM, UI, SH, LO, UC: printable ASCII values split at the
  backslash (PS3.5 6.4), the trailing padding removed (PS3.5 6.2: space, or NUL for
  UI);
* ST, LT, UT: one printable ASCII value (the backslash is a character there);
* IS, DS: values of the PS3.5 6.2 syntax, as JSON numbers when exact (F.2.3.1).

Every other element (and each of these the rules do not settle plainly: a value with
leading or embedded padding, control characters such as ESC of ISO 2022, characters
beyond ASCII, a length that is not a whole number of values, an empty IS/DS value,
a LUT Descriptor) gets None, and the caller converts it with pydicom as before.  For
the values it answers, the result equals the pydicom path's
(``tests/mock_server/dicomweb/test_dicom_json_raw.py`` compares both); ASCII reads the
same in every character set of PS3.3 C.12.1.1.2 when it holds no escape sequence.
It is faster: converting a value with pydicom (validation, value classes) is about
half of what storing an instance costs.
"""

from __future__ import annotations

import struct
from typing import Any, Callable

from pydicom import config
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement

from .dicom_json_values import DS_RE, ENCODERS, IS_RE, ds_to_json

__all__ = ["raw_attribute_json", "raw_fast_path_usable"]

#: Struct formats of the binary numbers (PS3.5 Table 6.2-1).
_NUMBERS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_MULTI_STRINGS = frozenset("AE AS CS DA DT TM UI SH LO UC".split())
_SINGLE_STRINGS = frozenset("ST LT UT".split())
_NUMBER_STRINGS = frozenset({"IS", "DS"})
_HANDLED = frozenset(_NUMBERS) | _MULTI_STRINGS | _SINGLE_STRINGS | _NUMBER_STRINGS
#: Red, Green, Blue Palette Color LUT Descriptor and LUT Descriptor: pydicom reads their
#: first value as unsigned whatever the VR (PS3.3 C.7.6.3.1.5, C.11.1.1.1).
_LUT_DESCRIPTORS = frozenset({0x00281101, 0x00281102, 0x00281103, 0x00283002})
#: IS is at most 12 characters (PS3.5 Table 6.2-1); longer ones go through pydicom.
_IS_MAX = 12
_SIZES = {vr: struct.calcsize(f"<{fmt}") for vr, fmt in _NUMBERS.items()}  # standard sizes


def raw_fast_path_usable() -> bool:
    """True while pydicom is configured as the fast path assumes (its defaults):
    text dates and times, no element callback, values that do not raise on validation."""
    return (not config.datetime_conversion and config.data_element_callback is None
            and config.settings.reading_validation_mode != config.RAISE
            and not config.use_DS_numpy and not config.use_IS_numpy)


def _vr_of(raw: RawDataElement) -> str | None:
    if raw.VR is not None:
        return str(raw.VR)
    if raw.tag >> 16 & 1:  # private (PS3.5 7.8): pydicom looks at the private creator
        return None
    try:
        return str(dictionary_VR(raw.tag))
    except KeyError:
        return None


def raw_attribute_json(raw: RawDataElement, *, numbers_as_strings: bool = False) -> dict[str, Any] | None:
    """The DICOM JSON attribute of ``raw`` when its bytes settle it, else None.

    ``numbers_as_strings`` keeps IS and DS values as their strings (Table F.2.3-1 allows it).
    """
    vr = _vr_of(raw)
    if vr not in _HANDLED:
        return None
    value = raw.value
    if value is None or type(value) is not bytes:  # deferred, or already converted
        return None
    if not value:
        return {"vr": vr}
    if vr in _NUMBERS:
        return _numbers_json(raw, vr, value)
    if not value.isascii():
        return None
    text = value.decode("ascii")
    if vr == "UI":
        text = text.rstrip("\x00 ")
    elif "\x00" in text:
        return None
    if not text.isprintable():
        return None
    text = text.rstrip(" ")
    if not text:
        return {"vr": vr}
    if vr in _SINGLE_STRINGS:
        return {"vr": vr, "Value": [text]}
    parts = text.split("\\")
    for part in parts:
        if part != part.strip(" "):
            return None
    if vr in _MULTI_STRINGS:
        return {"vr": vr, "Value": [part or None for part in parts]}
    return _number_strings_json(vr, parts, numbers_as_strings)


def _numbers_json(raw: RawDataElement, vr: str, value: bytes) -> dict[str, Any] | None:
    size = _SIZES[vr]
    if len(value) % size or raw.tag in _LUT_DESCRIPTORS:
        return None
    order = "<" if raw.is_little_endian else ">"
    numbers = struct.unpack(f"{order}{len(value) // size}{_NUMBERS[vr]}", value)
    encode: Callable[[Any], Any] = ENCODERS[vr]
    return {"vr": vr, "Value": [encode(number) for number in numbers]}


def _number_strings_json(vr: str, parts: list[str], as_strings: bool) -> dict[str, Any] | None:
    if vr == "IS":
        if any(len(part) > _IS_MAX or not IS_RE.match(part) for part in parts):
            return None
        return {"vr": vr, "Value": parts if as_strings else [int(part) for part in parts]}
    if any(not DS_RE.match(part) for part in parts):
        return None
    return {"vr": vr, "Value": parts if as_strings else [ds_to_json(part) for part in parts]}
