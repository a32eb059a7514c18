"""STOW-RS round trip: what is stored comes back as it was sent (PS3.18 2019a 10.5.2, 8.7.3.5.2).

Each fixture instance is stored under new UIDs and retrieved with
``Accept: multipart/related; type="application/dicom"; transfer-syntax=*``
(the server's choice of Transfer Syntax, normally the stored one); the two
datasets are compared element by element with pydicom, nested sequences,
private elements and text in non-ASCII character sets included.

What the standard lets a server change, and is therefore not compared:

* File Meta Information that describes the writer, not the data (PS3.10 7.1):
  Group Length, File Meta Information Version, Implementation Class UID and
  Version Name, Source/Sending/Receiving AE Titles and Presentation
  Addresses, Private Information.  Media Storage SOP Class/Instance UID must
  still match the dataset and Transfer Syntax UID the part's Content-Type.
* Attributes the server coerced (10.5.2): allowed only when they are listed
  in the Original Attributes Sequence (0400,0561) that it then shall add.
* When the server returns another Transfer Syntax than the one sent: the
  encoding of Pixel Data (compared decoded instead; exactly for lossless
  sources, within decoder rounding for the lossy JPEG Baseline one -- a
  re-compression would exceed it, 10.5.2 / STOW-010), Photometric
  Interpretation and Planar Configuration, and VRs when the sent file was
  Implicit VR (where pydicom guessed them from the dictionary).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.wado import LOSSY_MAX_ABS_DIFF, LOSSY_MAX_MEAN_DIFF
from dicomweb_conformance.test_wado_metadata import UTF8_CHARSET

ANY_SYNTAX = 'multipart/related; type="application/dicom"; transfer-syntax=*'
IMPLICIT_LE = "1.2.840.10008.1.2"
_NATIVE = {IMPLICIT_LE, "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"}
PIXEL_DATA = 0x7FE00010
ORIGINAL_ATTRIBUTES = 0x04000561
MODIFIED_ATTRIBUTES = 0x04000550
_PIXEL_ENCODING = {0x00280004, 0x00280006}  # Photometric Interpretation, Planar Configuration
_BINARY_VRS = {"OB", "OW", "OD", "OF", "OL", "OV", "UN"}

CASES = [
    "vix-ct-axial-001.dcm",      # private block with LO/US/OB, four-level nested sequence
    "vix-ct-localizer-001.dcm",  # sent in Implicit VR Little Endian
    "vix-sc-rgb-001.dcm",        # Icon Image Sequence with nested pixel data
    "doe-mr-t2-001.dcm",         # ISO_IR 100 (Latin-1) names
    "doe-sc-palette-001.dcm",    # 16-bit palette LUTs (OW), RLE
    "jane-us-cine-001.dcm",      # lossy JPEG Baseline, 12 frames, empty Type 2 attributes
    "jane-us-doppler-001.dcm",   # RGB RLE multi-frame, empty Basic Offset Table
    "yamada-cr-001.dcm",         # ISO_IR 192 three-group names, JPEG 2000
    "sato-mr-cine-001.dcm",      # ISO 2022 IR 87 escape sequences
    "wang-ct-001.dcm",           # GB18030, JPEG-LS
]


SPECIFIC_CHARACTER_SET = 0x00080005


def _coerced(got: Dataset) -> set[int]:
    """Tags listed in the Modified Attributes Sequence of each Original Attributes Sequence item."""
    tags: set[int] = set()
    for item in got.get(ORIGINAL_ATTRIBUTES, None) or []:
        for modified in item.get(MODIFIED_ATTRIBUTES, None) or []:
            tags.update(int(e.tag) for e in modified)
    return tags


def _value(element: Any) -> Any:
    """A comparable value: decoded text for PN, bytes for binary VRs, lists for multi-valued."""
    value = element.value
    if element.VR == "PN":
        return [str(v) for v in value] if element.VM > 1 else str(value or "")
    if element.VR in _BINARY_VRS:
        return bytes(value or b"")
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return list(value)
    return value


def _diff(sent: Dataset, got: Dataset, *, compare_vr: bool, skip: set[int], path: str = "") -> list[str]:
    problems: list[str] = []
    for element in sent:
        tag = int(element.tag)
        if tag in skip:
            continue
        where = f"{path}({element.tag.group:04X},{element.tag.element:04X}) {element.keyword or 'private'}"
        if tag not in got:
            problems.append(f"{where}: missing")
            continue
        other = got[tag]
        if compare_vr and element.VR != other.VR:
            problems.append(f"{where}: VR {other.VR}, sent {element.VR}")
        if element.VR == "SQ":
            sent_items, got_items = list(element.value or []), list(other.value or [])
            if len(sent_items) != len(got_items):
                problems.append(f"{where}: {len(got_items)} items, sent {len(sent_items)}")
                continue
            for n, (a, b) in enumerate(zip(sent_items, got_items), 1):
                problems += _diff(a, b, compare_vr=compare_vr, skip=set(), path=f"{where} item {n} > ")
            continue
        if _value(element) != _value(other):
            problems.append(f"{where}: {_value(other)!r:.80}, sent {_value(element)!r:.80}")
    return problems


def _frames(ds: Dataset) -> list[bytes]:
    count = int(ds.get("NumberOfFrames", 1) or 1)
    return list(generate_frames(ds.PixelData, number_of_frames=count))


def _pixel_problems(sent: Dataset, got: Dataset, lossy: bool) -> list[str]:
    sent_ts, got_ts = str(sent.file_meta.TransferSyntaxUID), str(got.file_meta.TransferSyntaxUID)
    if PIXEL_DATA not in got:
        return ["(7FE0,0010) PixelData: missing"]
    if sent_ts == got_ts and sent_ts not in _NATIVE:
        if _frames(sent) != _frames(got):
            return [f"(7FE0,0010) PixelData: the compressed frames differ from those sent ({got_ts})"]
        return []
    if sent_ts in _NATIVE and got_ts in _NATIVE:
        size = len(sent.PixelData)
        if bytes(got.PixelData[:size]) != bytes(sent.PixelData) or len(got.PixelData) > size + 1:
            return ["(7FE0,0010) PixelData: the native pixel bytes differ from those sent"]
        return []
    a, b = sent.pixel_array.astype(float), got.pixel_array.astype(float)
    if a.shape != b.shape:
        return [f"(7FE0,0010) PixelData: decoded shape {b.shape}, sent {a.shape} (sent {sent_ts}, got {got_ts})"]
    diff = np.abs(a - b)
    # the lossy instance: the same decoder tolerance as the WADO-RS pixel checks (checks/wado.py)
    tolerance_exceeded = diff.max() > LOSSY_MAX_ABS_DIFF or diff.mean() > LOSSY_MAX_MEAN_DIFF
    if (not lossy and diff.max() > 0) or (lossy and tolerance_exceeded):
        return [f"(7FE0,0010) PixelData: decoded pixels differ (max {diff.max():g}, mean {diff.mean():.3f}; "
                f"sent {sent_ts}, got {got_ts})"]
    return []


@pytest.mark.requirement("STOW-013", "STOW-009", "STOW-010")
@pytest.mark.parametrize("name", CASES)
def test_stored_instance_comes_back_as_sent(client, fresh_truth, expect, name):
    fresh = fresh_truth()
    instance = fresh.instance_by_file(name)
    sent_bytes = fresh.file_bytes(instance["SOPInstanceUID"])
    expect.status(client.stow([sent_bytes]), 200, req="STOW-009")
    path = (f"studies/{instance['StudyInstanceUID']}/series/{instance['SeriesInstanceUID']}"
            f"/instances/{instance['SOPInstanceUID']}")
    response = client.get(path, headers={"Accept": ANY_SYNTAX})
    expect.status(response, 200, req="STOW-009")
    mp = expect_multipart(response, req="STOW-009", root_type="application/dicom", part_types="application/dicom")
    expect.equal(len(mp.parts), 1, req="STOW-009", what="parts of the instance retrieval", response=response)
    sent = pydicom.dcmread(io.BytesIO(sent_bytes))
    try:
        got = pydicom.dcmread(io.BytesIO(mp.parts[0].body))
    except Exception as exc:  # pydicom raises several types for a payload that is not Part 10
        expect.fail(req="STOW-009", what="the retrieved part", expected="a DICOM Part 10 file",
                    actual=f"{type(exc).__name__}: {exc}", response=response)
    got_ts = str(got.file_meta.TransferSyntaxUID)
    meta = [f"{keyword} {got.file_meta.get(keyword)}, not {instance[expected]}"
            for keyword, expected in (("MediaStorageSOPClassUID", "SOPClassUID"),
                                      ("MediaStorageSOPInstanceUID", "SOPInstanceUID"))
            if str(got.file_meta.get(keyword, "")) != instance[expected]]
    declared = mp.parts[0].transfer_syntax
    if declared and declared != got_ts:
        meta.append(f"TransferSyntaxUID {got_ts} but the part's Content-Type says transfer-syntax={declared}")
    expect.equal(meta, [], req="STOW-013", what="File Meta Information of the retrieved instance",
                 response=response)
    sent_ts = str(sent.file_meta.TransferSyntaxUID)
    skip = {PIXEL_DATA} | _coerced(got) | (_PIXEL_ENCODING if got_ts != sent_ts else set())
    if got.get("SpecificCharacterSet") == UTF8_CHARSET:  # the rule of the metadata test: transcoded to UTF-8,
        skip.add(SPECIFIC_CHARACTER_SET)                   # the decoded text values are compared below
    problems = _diff(sent, got, compare_vr=sent_ts != IMPLICIT_LE, skip=skip)
    problems += _pixel_problems(sent, got, bool(instance["lossy"]))
    pixel = [p for p in problems if p.startswith("(7FE0,0010)")]
    expect.equal([p for p in problems if p not in pixel], [], req="STOW-013", response=response,
                 what=f"data elements of the retrieved instance that differ from those stored (sent {sent_ts}, "
                      f"got {got_ts})")
    expect.equal(pixel, [], req="STOW-010" if instance["lossy"] else "STOW-013", response=response,
                 what="pixel data of the retrieved instance")
