"""UIDs: the one validator, and the Transfer Syntax UIDs the mock names (PS3.5 9, annex A)."""

from __future__ import annotations

import re

__all__ = [
    "is_uid", "IMPLICIT_VR_LE", "EXPLICIT_VR_LE", "DEFLATED_EXPLICIT_VR_LE", "EXPLICIT_VR_BE",
    "RLE_LOSSLESS", "JPEG_BASELINE", "JPEG_LS_LOSSLESS", "JPEG_2000_LOSSLESS",
]

#: PS3.5 9.1: components of digits separated by ".", at most 64 characters.  A leading zero in
#: a component (which 9.1 forbids) is accepted: instances in the field carry such UIDs.
_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"


def is_uid(value: str) -> bool:
    """Whether ``value`` is a UID (PS3.5 9.1, leading zeros allowed)."""
    return len(value) <= 64 and _UID_RE.fullmatch(value) is not None
