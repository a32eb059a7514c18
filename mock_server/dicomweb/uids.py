"""UIDs: the one validator, and the Transfer Syntax UIDs the mock names (PS3.5 9, annex A)."""

from __future__ import annotations

import re

__all__ = [
    "is_uid", "IMPLICIT_VR_LE", "EXPLICIT_VR_LE", "DEFLATED_EXPLICIT_VR_LE", "EXPLICIT_VR_BE",
    "JPEG_BASELINE", "JPEG_EXTENDED_12BIT", "JPEG_LOSSLESS", "JPEG_LOSSLESS_SV1",
    "JPEG_LS_LOSSLESS", "JPEG_LS_NEAR_LOSSLESS", "JPEG_2000_LOSSLESS", "JPEG_2000",
    "JPEG_2000_MC_LOSSLESS", "JPEG_2000_MC", "MPEG2_MAIN_PROFILE_MAIN_LEVEL",
    "MPEG2_MAIN_PROFILE_HIGH_LEVEL", "MPEG4_HP41", "MPEG4_HP41_BD", "MPEG4_HP42_2D",
    "MPEG4_HP42_3D", "MPEG4_HP42_STEREO", "RLE_LOSSLESS",
]

#: PS3.5 9.1: components of digits separated by ".", at most 64 characters.  A leading zero in
#: a component (which 9.1 forbids) is accepted: instances in the field carry such UIDs.
_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")

#: Transfer Syntax UIDs (PS3.5 annex A, PS3.6; the ones PS3.18 8.7.3 lists).
IMPLICIT_VR_LE = "1.2.840.10008.1.2"
EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_EXTENDED_12BIT = "1.2.840.10008.1.2.4.51"
JPEG_LOSSLESS = "1.2.840.10008.1.2.4.57"
JPEG_LOSSLESS_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS_LOSSLESS = "1.2.840.10008.1.2.4.80"
JPEG_LS_NEAR_LOSSLESS = "1.2.840.10008.1.2.4.81"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"
JPEG_2000 = "1.2.840.10008.1.2.4.91"
JPEG_2000_MC_LOSSLESS = "1.2.840.10008.1.2.4.92"
JPEG_2000_MC = "1.2.840.10008.1.2.4.93"
MPEG2_MAIN_PROFILE_MAIN_LEVEL = "1.2.840.10008.1.2.4.100"
MPEG2_MAIN_PROFILE_HIGH_LEVEL = "1.2.840.10008.1.2.4.101"
MPEG4_HP41 = "1.2.840.10008.1.2.4.102"
MPEG4_HP41_BD = "1.2.840.10008.1.2.4.103"
MPEG4_HP42_2D = "1.2.840.10008.1.2.4.104"
MPEG4_HP42_3D = "1.2.840.10008.1.2.4.105"
MPEG4_HP42_STEREO = "1.2.840.10008.1.2.4.106"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"


def is_uid(value: str) -> bool:
    """Whether ``value`` is a UID (PS3.5 9.1, leading zeros allowed)."""
    return len(value) <= 64 and _UID_RE.fullmatch(value) is not None
