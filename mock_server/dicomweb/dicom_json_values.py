"""The values of the DICOM JSON Model (PS3.18 2019a Annex F.2): VR sets and one encoder per VR.

Shared by the data set encoder (:mod:`.dicom_json`), its fast path for values
still in their encoded form (:mod:`.dicom_json_raw`) and the QIDO result rows.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any, Callable

__all__ = [
    "ALL_VRS", "ATTR_MEMBERS", "BINARY_VRS", "BULK_ALLOWED_VRS", "DS_RE", "ENCODERS", "INT_RANGES", "IS_RE", "KEY_RE", "MAX_SAFE_INT", "PIXEL_DATA_TAGS",
    "PN_GROUPS", "TEXT_VRS", "DicomJsonError", "ds_to_json", "is_to_json", "parse_tag_key", "pn_from_json",
    "pn_to_json",
]

#: The 34 VRs of the 2019a edition (PS3.5 Table 6.2-1, PS3.19 A.1.6 schema).
ALL_VRS = frozenset(
    "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST "
    "SV TM UC UI UL UN UR US UT UV".split()
)
#: VRs whose value is only ever InlineBinary or BulkDataURI (F.2.2).
BINARY_VRS = frozenset("OB OD OF OL OV OW UN".split())
#: VRs that may carry a BulkDataURI (F.2.2).
BULK_ALLOWED_VRS = frozenset(
    "DS FL FD IS LT OB OD OF OL OV OW SL SS ST SV UC UL UN US UT UV".split()
)
TEXT_VRS = frozenset("AE AS CS DA DT LO LT SH ST TM UC UI UR UT".split())
INT_RANGES: dict[str, tuple[int, int]] = {
    "US": (0, 0xFFFF), "SS": (-0x8000, 0x7FFF),
    "UL": (0, 0xFFFFFFFF), "SL": (-(2**31), 2**31 - 1),
    "SV": (-(2**63), 2**63 - 1), "UV": (0, 2**64 - 1),
}
PIXEL_DATA_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})
PN_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
MAX_SAFE_INT = 2**53
ATTR_MEMBERS = frozenset({"vr", "Value", "BulkDataURI", "InlineBinary"})

KEY_RE = re.compile(r"[0-9A-F]{8}\Z")
IS_RE = re.compile(r"[+-]?[0-9]+\Z")
DS_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\Z")


class DicomJsonError(ValueError):
    """Malformed DICOM JSON (PS3.18 Annex F); the message names the tag."""


# --------------------------------------------------------------------------
# Value helpers (also used to build QIDO rows quickly)
# --------------------------------------------------------------------------

def parse_tag_key(key: Any) -> int:
    """Parse an F.2.2 attribute name; raise DicomJsonError if it is not 8 uppercase hex."""
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise DicomJsonError(f"attribute name {key!r} is not 8 uppercase hex digits (F.2.2)")
    return int(key, 16)


def pn_to_json(value: Any) -> dict[str, str] | None:
    """Encode one PN value (str or PersonName) as an F.2.2 object; None if empty."""
    if value is None:
        return None
    text = str(value)
    if not text:
        return None
    out = {name: group for name, group in zip(PN_GROUPS, text.split("=", 2)) if group}
    return out or None


def pn_from_json(value: Any, where: str) -> str:
    """Decode one F.2.2 PN object (or null) to the DICOM string form."""
    if value is None:
        return ""
    if not isinstance(value, dict):
        raise DicomJsonError(f"{where}: PN value must be an object or null, got {type(value).__name__}")
    groups = []
    for name, group in value.items():
        if name not in PN_GROUPS:
            raise DicomJsonError(f"{where}: PN value has unknown member {name!r}")
        if not isinstance(group, str):
            raise DicomJsonError(f"{where}: PN {name} must be a string")
    for name in PN_GROUPS:
        groups.append(value.get(name, ""))
    return "=".join(groups).rstrip("=")


def ds_to_json(value: Any) -> int | float | str | None:
    """Encode one DS value: a JSON number when exact, else the original string."""
    if value is None:
        return None
    text = getattr(value, "original_string", None)
    if text is None:
        text = value if isinstance(value, str) else repr(float(value))
    text = text.strip(" ")
    if not text:
        return None
    if IS_RE.match(text):
        number = int(text)
        return number if abs(number) <= MAX_SAFE_INT else text
    if DS_RE.match(text):
        real = float(text)
        if math.isfinite(real) and Decimal(repr(real)) == Decimal(text):
            return real
    return text


def is_to_json(value: Any) -> int | str | None:
    """Encode one IS value: a JSON number, or the text when it is not a valid IS."""
    if value is None:
        return None
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip(" ")
    if not text:
        return None
    return int(text) if IS_RE.match(text) else text


def _very_long_to_json(value: Any) -> int | str:
    number = int(value)
    return number if abs(number) <= MAX_SAFE_INT else str(number)


def _float_to_json(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def _text_to_json(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):  # undecoded text: best effort
        return value.decode("utf-8", "replace") or None
    return str(value)


def _at_to_json(value: Any) -> str:
    return f"{int(value):08X}"


ENCODERS: dict[str, Callable[[Any], Any]] = {vr: _text_to_json for vr in TEXT_VRS}
ENCODERS.update({
    "PN": pn_to_json, "DS": ds_to_json, "IS": is_to_json, "AT": _at_to_json,
    "FL": _float_to_json, "FD": _float_to_json,
    "US": int, "SS": int, "UL": int, "SL": int,
    "SV": _very_long_to_json, "UV": _very_long_to_json,
})
