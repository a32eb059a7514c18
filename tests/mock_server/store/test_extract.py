"""The index rows of one instance (:func:`extract`): the same whether a value is read from
its bytes (the fast path) or converted by pydicom, and DICOM's own text for several values."""

from __future__ import annotations

import io
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset

from dicomweb_fixtures import instance_files
from dicomweb_mock.dicomweb import dicom_json
from dicomweb_mock.store import extract as extract_module
from dicomweb_mock.store.extract import extract

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

FIELDS = ("sop_instance_uid", "sop_class_uid", "series_instance_uid", "study_instance_uid", "patient_id",
          "number_of_frames", "study_date", "study_time", "modality", "metadata_text")


def _rows(data: bytes, fast: bool, monkeypatch: pytest.MonkeyPatch) -> tuple[object, ...]:
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(dicom_json, "raw_fast_path_usable", lambda: False)
            m.setattr(extract_module, "raw_fast_path_usable", lambda: False)
        ex = extract(pydicom.dcmread(io.BytesIO(data)))
    return tuple(getattr(ex, field) for field in FIELDS)


def part10(**keywords: object) -> bytes:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.3", "1.2.3.4"
    for keyword, value in keywords.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    pydicom.dcmwrite(out, ds, enforce_file_format=True)
    return out.getvalue()


@pytest.mark.parametrize("path", [Path(f) for f in instance_files()], ids=lambda p: p.name)
def test_fixture_rows_are_the_same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    assert _rows(data, True, monkeypatch) == _rows(data, False, monkeypatch)


@pytest.mark.parametrize("data", [
    part10(PatientID=["P1", "P2"], Modality="CT", StudyDate="20240101", NumberOfFrames=3),
    part10(SpecificCharacterSet="ISO_IR 100", PatientID=["Müller", "B"], StudyTime="101010.5"),
    part10(PatientID=" LEAD", NumberOfFrames="2\\3"),
], ids=["ascii", "latin-1", "padding"])
def test_several_values_read_as_dicom_writes_them(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several values are one text with backslashes between them (PS3.5 6.4), both ways."""
    fast, slow = _rows(data, True, monkeypatch), _rows(data, False, monkeypatch)
    assert fast == slow
    patient_id = fast[FIELDS.index("patient_id")]
    assert patient_id in ("P1\\P2", "Müller\\B", "LEAD")
