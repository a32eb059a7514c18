"""Turn one DICOM instance into the rows the index keeps.

The index holds, per level, the DICOM JSON (PS3.18 Annex F) of the
attributes QIDO-RS can match and return (PS3.18 10.6), and per instance the
complete metadata with ``BulkDataURI`` placeholders, so that searches and
metadata requests never parse files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import Tag

from ..dicomweb.dicom_json import dataset_to_json
from ..dicomweb.dicom_json_raw import raw_attribute_json, raw_fast_path_usable
from ..dicomweb.qido_attributes import level_of
from ..dicomweb.resource_urls import BASE_PLACEHOLDER, bulk_path_segment, instance_path
from ..dicomweb.uids import IMPLICIT_VR_LE, is_uid
from .base import InvalidInstance

__all__ = ["Extracted", "extract", "instance_number"]

#: Binary elements (other than pixel data) at least this long go out as BulkDataURI.
BULK_THRESHOLD = 64

_PIXEL_DATA = 0x7FE00010
_REQUIRED = {
    0x00080016: "SOPClassUID",
    0x00080018: "SOPInstanceUID",
    0x0020000D: "StudyInstanceUID",
    0x0020000E: "SeriesInstanceUID",
}


@dataclass
class Extracted:
    """Index rows for one instance."""

    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    patient_id: str
    transfer_syntax_uid: str
    number_of_frames: int
    study_json: dict[str, Any]
    series_json: dict[str, Any]
    instance_json: dict[str, Any]
    metadata_text: str
    study_date: str
    study_time: str
    modality: str
    patient_json: dict[str, Any]
    #: Why the Pixel Data cannot be decoded (None: it can, or it was not tried); set by the store.
    pixel_problem: str | None = None
    #: Where native frames lie (:func:`~mock_server.dicomweb.native_pixels.frames_layout`): the
    #: offset of the Pixel Data value, from the start of the data set once checked, in the kept
    #: file once staged; and bytes per frame.  None when frames cannot be read by range.
    pixel_offset: int | None = None
    frame_length: int | None = None


def _index_text(ds: Dataset, tag: int, keyword: str) -> str:
    """A value the index keeps, as text (several values joined by a backslash): from its
    bytes when they settle it (:mod:`..dicomweb.dicom_json_raw`), else as pydicom reads it
    (which raises when it cannot: the instance is refused)."""
    element = ds.get_item(tag, keep_deferred=True)
    if isinstance(element, RawDataElement) and raw_fast_path_usable():
        attribute = raw_attribute_json(element)
        if attribute is not None:
            return "\\".join("" if value is None else str(value) for value in attribute.get("Value", ()))
    return _text(ds, keyword)


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, MultiValue):
        return "\\".join(str(item) for item in value).strip()
    return str(value).strip()


def extract(ds: Dataset) -> Extracted:
    """Compute the index rows of ``ds``; raises :class:`InvalidInstance` when unusable."""
    uids = {keyword: _index_text(ds, tag, keyword) for tag, keyword in _REQUIRED.items()}
    for tag, keyword in _REQUIRED.items():
        if not uids[keyword]:
            raise InvalidInstance(f"the instance has no {keyword} ({Tag(tag)})", 0xA900 if tag == 0x00080016 else 0xC000)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"):
        if not is_uid(uids[keyword]):
            raise InvalidInstance(f"{keyword} {uids[keyword][:70]!r} is not a valid UID", 0xC000)
    meta = getattr(ds, "file_meta", None)
    ts = str(getattr(meta, "TransferSyntaxUID", "") or IMPLICIT_VR_LE)
    study_uid, series_uid = uids["StudyInstanceUID"], uids["SeriesInstanceUID"]
    sop_uid = uids["SOPInstanceUID"]
    base_instance = BASE_PLACEHOLDER + instance_path(study_uid, series_uid, sop_uid)

    def bulk_uri(path: tuple[int, ...]) -> str | None:
        return f"{base_instance}/bulk/{bulk_path_segment(path)}"

    try:
        full = dataset_to_json(ds, bulk_data_uri=bulk_uri, bulk_threshold=BULK_THRESHOLD)
    except (ValueError, TypeError, KeyError, UnicodeError, OverflowError) as exc:
        raise InvalidInstance(f"the instance cannot be encoded as DICOM JSON: {exc}", 0xC000) from None
    patient_json: dict[str, Any] = {}
    study_json: dict[str, Any] = {}
    series_json: dict[str, Any] = {}
    instance_json: dict[str, Any] = {}
    for key, element in full.items():
        tag = int(key, 16)
        level = level_of(tag)
        if level == "patient":
            patient_json[key] = element
            study_json[key] = element
        elif level == "study":
            study_json[key] = element
        elif level == "series":
            series_json[key] = element
        elif "BulkDataURI" not in element:
            instance_json[key] = element
    charset = full.get("00080005")
    if charset is not None:
        # Index content is Unicode: results say so (PS3.18 Annex F.2: JSON is UTF-8).
        utf8 = {"vr": "CS", "Value": ["ISO_IR 192"]}
        for level_json in (patient_json, study_json, series_json, instance_json):
            level_json["00080005"] = utf8
    frames = 0
    if _PIXEL_DATA in ds:
        try:
            frames = int(_index_text(ds, 0x00280008, "NumberOfFrames") or 1)
        except (TypeError, ValueError):
            frames = 1
    return Extracted(
        sop_instance_uid=sop_uid,
        sop_class_uid=uids["SOPClassUID"],
        series_instance_uid=series_uid,
        study_instance_uid=study_uid,
        patient_id=_index_text(ds, 0x00100020, "PatientID"),
        transfer_syntax_uid=ts,
        number_of_frames=frames,
        study_json=study_json,
        series_json=series_json,
        instance_json=instance_json,
        metadata_text=json.dumps(full, ensure_ascii=False, separators=(",", ":")),
        study_date=_index_text(ds, 0x00080020, "StudyDate"),
        study_time=_index_text(ds, 0x00080030, "StudyTime"),
        modality=_index_text(ds, 0x00080060, "Modality"),
        patient_json=patient_json,
    )


def instance_number(data: dict[str, Any]) -> int | None:
    """The Instance Number (0020,0013) of an instance's DICOM JSON, None when absent."""
    value = data.get("00200013", {}).get("Value")
    if value and isinstance(value[0], (int, float)):
        return int(value[0])
    return None
