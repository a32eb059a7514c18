"""The checks every store runs on a received Part 10 instance before keeping it.

A store keeps an instance only when pydicom reads it whole (nothing truncated,
no element of a group that may not appear in a data set) and it carries the
identifiers the index needs (:func:`~mock_server.store.extract.extract`).
"""

from __future__ import annotations

import io
import struct
from typing import BinaryIO

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.errors import InvalidDicomError
from pydicom.tag import Tag

from ..dicomweb.native_pixels import frames_layout, pixel_data_element
from ..dicomweb.pixel_check import pixel_data_problem
from ..dicomweb.qido_attributes import RESERVED_GROUPS
from ..dicomweb.uids import DEFLATED_EXPLICIT_VR_LE
from .base import InstanceConflict, InvalidInstance, StoreError
from .extract import Extracted, extract
from .file_meta import inflate, read_header

__all__ = ["DEFER_SIZE", "check_instance", "check_size", "kept_behind"]

#: Elements longer than this stay on disk while an instance is indexed.
DEFER_SIZE = 64 * 1024
#: A deflated data set may inflate to at most this many bytes.
_INFLATED_MAX = 1 << 30
#: Groups whose elements may not appear in a stored data set, and why.
_NOT_IN_DATA_SETS = {
    0x0000: "Command elements (group 0000) belong to DIMSE messages (PS3.7 annex E), not to data sets",
    0x0002: "File Meta Information elements (group 0002) belong in the File Meta header (PS3.10 7.1)",
    **{group: f"group {group:04X} may not be used (PS3.5 7.8.1)" for group in RESERVED_GROUPS},
}

def _encapsulated_end(fh: BinaryIO, offset: int, size: int) -> int | None:
    """End offset of undefined-length encapsulated data (PS3.5 A.4), None when cut short."""
    pos = offset
    while pos + 8 <= size:
        fh.seek(pos)
        group, element, length = struct.unpack("<HHL", fh.read(8))
        if (group, element) == (0xFFFE, 0xE0DD):
            return pos + 8
        if (group, element) != (0xFFFE, 0xE000) or length == 0xFFFFFFFF:
            return None
        pos += 8 + length
    return None


def _check_complete(ds: pydicom.Dataset, fh: BinaryIO, size: int) -> None:
    """Refuse a truncated file (PS3.18 I.2.2 failure 0xC000).

    pydicom does not read elements longer than ``defer_size`` while indexing (nor
    complain when one is cut short), and on a short read of the top-level data set it
    drops every element with a warning; both must not end in a stored instance.
    ``fh`` is the file object ``ds`` was read from.
    """
    if len(ds) == 0:
        raise InvalidInstance("the data set is empty or truncated", 0xC000)
    for raw in ds._dict.values():
        tell = getattr(raw, "value_tell", None)
        length = getattr(raw, "length", None)
        if not isinstance(raw, RawDataElement) or tell is None or length is None:
            continue
        if length == 0xFFFFFFFF:
            if raw.tag != 0x7FE00010:
                continue  # a sequence: pydicom parses it and fails on a short read
            # Encapsulated Pixel Data: read or deferred, its items must end with the
            # Sequence Delimitation Item (pydicom only warns when it is missing).
            end = _encapsulated_end(fh, tell, size)
        else:
            end = tell + length
        if end is None or end > size:
            raise InvalidInstance(f"the file is truncated: element {Tag(raw.tag)} ends past its "
                                  f"{size} bytes", 0xC000)


def check_instance(fh: BinaryIO, size: int, *, expected_study_uid: str | None,
                   check_pixels: bool, refuse_undecodable: bool) -> tuple[Extracted, int]:
    """Parse and check the Part 10 stream ``fh`` of ``size`` bytes: its index rows and
    the offset of its data set.  Long elements are left unread unless a check needs them.

    Raises :class:`InvalidInstance` (not storable, PS3.18 I.2.2 failure 0xC000/0xA900) or
    :class:`InstanceConflict` (another study than ``expected_study_uid``).
    ``refuse_undecodable`` refuses an instance whose Pixel Data cannot be decoded.
    """
    ts, data_start = read_header(fh)
    deflated = ts == DEFLATED_EXPLICIT_VR_LE
    fh.seek(0)
    try:
        # Long values are left unread (the Pixel Data is copied as received, and checked by
        # arithmetic when uncompressed).  pydicom inflates a deflated data set into memory
        # whole: nothing is deferred then.
        ds = pydicom.dcmread(fh, defer_size=None if deflated else DEFER_SIZE)
    except (InvalidDicomError, EOFError) as exc:
        raise InvalidInstance(f"not a DICOM Part 10 instance: {exc}".splitlines()[0], 0xC000) from None
    except Exception as exc:  # pydicom raises many types on corrupt input
        raise InvalidInstance(f"cannot parse the DICOM instance: {type(exc).__name__}: {exc}"
                              .splitlines()[0][:300], 0xC000) from None
    pixels = pixel_data_element(ds)  # as read: encoding the data set may convert it
    misplaced = next((tag for tag in ds.keys() if tag.group in _NOT_IN_DATA_SETS), None)
    if misplaced is not None:
        raise InvalidInstance(f"the data set holds element {Tag(misplaced)}: "
                              f"{_NOT_IN_DATA_SETS[misplaced.group]}", 0xC000)
    try:
        if deflated:  # element offsets count in the inflated data set
            fh.seek(data_start)
            inflated = inflate(fh.read(), _INFLATED_MAX)
            _check_complete(ds, io.BytesIO(inflated), len(inflated))
        else:
            _check_complete(ds, fh, size)
        extracted = extract(ds)
    except StoreError:
        raise
    except Exception as exc:  # pydicom converts values lazily: unknown VR, bad lengths...
        raise InvalidInstance(f"cannot read the DICOM instance: {type(exc).__name__}: {exc}"
                              .splitlines()[0][:300], 0xC000) from None
    extracted.transfer_syntax_uid = ts
    if expected_study_uid is not None and extracted.study_instance_uid != expected_study_uid:
        # A conflict with the request (PS3.18 table 10.5.3-1: 409 "Study Instance UID
        # mismatch"), not a malformed instance.
        raise InstanceConflict(
            f"StudyInstanceUID {extracted.study_instance_uid} does not match the target study "
            f"{expected_study_uid}", 0xA900)
    extracted.pixel_problem = pixel_data_problem(ds, size, extracted.instance_json) if check_pixels else None
    layout = frames_layout(pixels, ts, extracted.instance_json, extracted.number_of_frames)
    if layout is not None:
        extracted.pixel_offset, extracted.frame_length = layout[0] - data_start, layout[1]
    if extracted.pixel_problem and refuse_undecodable:
        raise InvalidInstance(extracted.pixel_problem.splitlines()[0][:300], 0xC000)
    return extracted, data_start



def kept_behind(extracted: Extracted, header: bytes) -> None:
    """The data set of ``extracted`` is kept behind ``header`` (the store's File Meta
    Information): its Pixel Data offset now counts from the start of the kept file."""
    if extracted.pixel_offset is not None:
        extracted.pixel_offset += len(header)


def check_size(size: int, max_instance_size: int | None) -> None:
    """Refuse an instance larger than ``max_instance_size`` bytes (PS3.18 I.2.2 failure 0xA700)."""
    if max_instance_size is not None and size > max_instance_size:
        raise InvalidInstance(f"the instance exceeds the maximum size of {max_instance_size} bytes", 0xA700)
