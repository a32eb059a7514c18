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

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ..dicomweb.dicom_json import dataset_to_json
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


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword, "")
    if value is None:
        return ""
    return str(value).strip()


def extract(ds: Dataset) -> Extracted:
    """Compute the index rows of ``ds``; raises :class:`InvalidInstance` when unusable."""
    for tag, keyword in _REQUIRED.items():
        if not _text(ds, keyword):
            raise InvalidInstance(f"the instance has no {keyword} ({Tag(tag)})", 0xA900 if tag == 0x00080016 else 0xC000)
    for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID"):
        value = _text(ds, keyword)
        if not is_uid(value):
            raise InvalidInstance(f"{keyword} {value[:70]!r} is not a valid UID", 0xC000)
    meta = getattr(ds, "file_meta", None)
    ts = str(getattr(meta, "TransferSyntaxUID", "") or IMPLICIT_VR_LE)
    study_uid = _text(ds, "StudyInstanceUID")
    series_uid = _text(ds, "SeriesInstanceUID")
    sop_uid = _text(ds, "SOPInstanceUID")
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
    if "PixelData" in ds or _PIXEL_DATA in ds:
        try:
            frames = int(ds.get("NumberOfFrames", 1) or 1)
        except (TypeError, ValueError):
            frames = 1
    return Extracted(
        sop_instance_uid=sop_uid,
        sop_class_uid=_text(ds, "SOPClassUID"),
        series_instance_uid=series_uid,
        study_instance_uid=study_uid,
        patient_id=_text(ds, "PatientID"),
        transfer_syntax_uid=ts,
        number_of_frames=frames,
        study_json=study_json,
        series_json=series_json,
        instance_json=instance_json,
        metadata_text=json.dumps(full, ensure_ascii=False, separators=(",", ":")),
        study_date=_text(ds, "StudyDate"),
        study_time=_text(ds, "StudyTime"),
        modality=_text(ds, "Modality"),
        patient_json=patient_json,
    )


def instance_number(data: dict[str, Any]) -> int | None:
    """The Instance Number (0020,0013) of an instance's DICOM JSON, None when absent."""
    value = data.get("00200013", {}).get("Value")
    if value and isinstance(value[0], (int, float)):
        return int(value[0])
    return None
