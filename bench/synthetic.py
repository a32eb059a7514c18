"""Synthetic CT data for the benchmarks: many studies, large series, deterministic.

Every data set is a CT Image Storage instance in Explicit VR Little Endian with
16-bit pixels, written as a DICOM Part 10 file (PS3.10).  Names, dates and UIDs
follow from the arguments only, so the mock and Orthanc can be loaded with the
very same bytes and queried with keys whose answers are known in advance:

* :func:`study_population` lays out ``n`` one-series studies; patient names are
  ``SURNAME^GIVEN`` drawn from :data:`SURNAMES` in turn, study dates step one day
  from 2015-01-01, so a prefix or a date range selects a known number of studies.
* :func:`ct_instance` makes one slice; :func:`series_files` one series of slices.
* :class:`InstanceFactory` makes tiny instances fast (a template patched in place;
  every varying value has a fixed length) for the scale runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

__all__ = ["SURNAMES", "UID_ROOT", "InstanceFactory", "StudyPlan", "ct_instance", "marker_population", "series_files",
           "study_population", "uid", "write_files"]

#: Root of every benchmark UID (a UUID-derived root, PS3.5 B.2).
UID_ROOT = "2.25.30588720946451285201379104437616264233"

#: Surnames of the synthetic patients: a prefix query "SURNAME*" picks 1/len(SURNAMES) of them.
SURNAMES = ("ADAMS", "BAKER", "CLARK", "DAVIS", "EVANS", "FISHER", "GARCIA", "HARRIS", "IRWIN", "JONES",
            "KING", "LEWIS", "MILLER", "NELSON", "OWEN", "PARKER", "QUINN", "ROBERTS", "SMITH", "TAYLOR")
_GIVEN = ("ALICE", "BOB", "CAROL", "DAVE", "ERIN", "FRANK", "GRACE", "HEIDI", "IVAN", "JUDY", "MALLORY")
_FIRST_DAY = dt.date(2015, 1, 1)


def uid(*parts: object) -> str:
    """A UID under :data:`UID_ROOT` derived from ``parts`` (stable across runs, exactly 64 chars)."""
    digest = int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "big") % 10**19
    return f"{UID_ROOT}.1{digest:019d}"  # always 64 characters, so templates can be patched in place


@dataclass(frozen=True)
class StudyPlan:
    """One synthetic study: who, when, and its single series."""

    index: int
    patient_id: str
    patient_name: str
    study_date: str
    study_uid: str
    series_uid: str


def study_population(n_studies: int, *, tag: str = "bench") -> list[StudyPlan]:
    """``n_studies`` studies, one per patient, names cycling through :data:`SURNAMES`.

    Study ``k`` is dated ``2015-01-01 + k days``; its patient is
    ``SURNAMES[k % 20]^GIVEN``.  ``tag`` keeps populations of different runs apart.
    """
    plans = []
    for k in range(n_studies):
        surname = SURNAMES[k % len(SURNAMES)]
        given = _GIVEN[(k // len(SURNAMES)) % len(_GIVEN)]
        day = _FIRST_DAY + dt.timedelta(days=k)
        plans.append(StudyPlan(k, f"{tag.upper()}-{k:06d}", f"{surname}^{given}", day.strftime("%Y%m%d"),
                               uid(tag, "study", k), uid(tag, "series", k)))
    return plans


def marker_population(n_studies: int, *, surname: str = "ZYZZYVA", tag: str = "marker") -> list[StudyPlan]:
    """``n_studies`` studies whose patients share ``surname`` (absent from :data:`SURNAMES`).

    Added to a :func:`study_population`, they make a name query whose answer has
    the same size whatever the population: ``SURNAME*`` or ``*URNAME*`` selects
    exactly them.  Patient IDs are ``MARKR-kkkkkk`` (the width of the population's
    IDs, so :class:`InstanceFactory` can make them), dates step one day from 1990-01-01,
    outside the population's dates.
    """
    if surname.upper() in SURNAMES or any(s.startswith(surname.upper()) for s in SURNAMES):
        raise ValueError(f"marker surname {surname!r} is also a prefix of the population's surnames")
    first = dt.date(1990, 1, 1)
    plans = []
    for k in range(n_studies):
        day = first + dt.timedelta(days=k)
        plans.append(StudyPlan(9_000_000 + k, f"MARKR-{k:06d}", f"{surname}^{_GIVEN[k % len(_GIVEN)]}",
                               day.strftime("%Y%m%d"), uid(tag, "study", k), uid(tag, "series", k)))
    return plans


def _pixels(rows: int, columns: int, seed: int) -> bytes:
    """A smooth 16-bit image that differs per ``seed`` (cheap to make, not constant)."""
    y = np.arange(rows, dtype=np.uint16)[:, None]
    x = np.arange(columns, dtype=np.uint16)[None, :]
    image = (x * 3 + y * 5 + np.uint16(seed * 7)) % np.uint16(4096)
    return image.astype("<u2").tobytes()


def ct_instance(plan: StudyPlan, number: int, *, rows: int = 512, columns: int = 512,
                sop_uid: str | None = None) -> bytes:
    """Part 10 bytes of slice ``number`` (1-based) of ``plan``'s series."""
    sop = sop_uid or uid(plan.study_uid, "instance", number)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = plan.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "101500"
    ds.AccessionNumber = f"A{plan.index:07d}"
    ds.Modality = "CT"
    ds.Manufacturer = "Synthetic"
    ds.ReferringPhysicianName = "REFERRER^RITA"
    ds.StudyDescription = "Benchmark CT"
    ds.SeriesDescription = "Axial"
    ds.PatientName = plan.patient_name
    ds.PatientID = plan.patient_id
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyInstanceUID = plan.study_uid
    ds.SeriesInstanceUID = plan.series_uid
    ds.StudyID = str(plan.index)
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.ImagePositionPatient = [0.0, 0.0, float(number)]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.SliceThickness = 1.0
    ds.PixelSpacing = [0.7, 0.7]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, columns
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    ds.WindowCenter, ds.WindowWidth = 40, 400
    ds.PixelData = _pixels(rows, columns, number + plan.index)
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def series_files(plan: StudyPlan, slices: int, *, rows: int = 512, columns: int = 512) -> Iterator[bytes]:
    """The ``slices`` instances of ``plan``'s series, numbered from 1."""
    for number in range(1, slices + 1):
        yield ct_instance(plan, number, rows=rows, columns=columns)


def write_files(blobs: Iterator[bytes], directory: Path) -> list[Path]:
    """Write Part 10 blobs as ``00000.dcm``, ``00001.dcm``... under ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for k, blob in enumerate(blobs):
        path = directory / f"{k:05d}.dcm"
        path.write_bytes(blob)
        paths.append(path)
    return paths


class InstanceFactory:
    """Tiny instances at ~10 µs each: one template, its fixed-length values replaced.

    UIDs are always 64 characters (:func:`uid`), patient IDs, dates and the
    accession number have fixed widths and names are padded to 16 characters, so
    patching the template's bytes keeps every element length right.
    """

    _NAME_WIDTH = 16

    def __init__(self, *, rows: int = 8, columns: int = 8):
        probe = StudyPlan(0, "BENCH-999999", "Z" * self._NAME_WIDTH, "19990909",
                          uid("template", "study"), uid("template", "series"))
        self._probe = probe
        self._sop = uid("template", "instance")
        self._template = ct_instance(probe, 7, rows=rows, columns=columns, sop_uid=self._sop)
        self._accession = b"A0000000"
        for needle in (probe.study_uid, probe.series_uid, self._sop, probe.patient_id, probe.patient_name):
            if needle.encode() not in self._template:
                raise AssertionError(f"template lacks {needle!r}")

    def __call__(self, plan: StudyPlan, number: int) -> bytes:
        """Part 10 bytes of instance ``number`` of ``plan`` (UIDs as :func:`ct_instance`; InstanceNumber stays 7)."""
        if len(plan.patient_id) != len(self._probe.patient_id) or len(plan.patient_name) > self._NAME_WIDTH:
            raise ValueError(f"plan {plan.index} does not fit the template's fixed widths")
        blob = self._template
        swaps = ((self._probe.study_uid, plan.study_uid), (self._probe.series_uid, plan.series_uid),
                 (self._sop, uid(plan.study_uid, "instance", number)), (self._probe.patient_id, plan.patient_id),
                 (self._probe.patient_name, plan.patient_name.ljust(self._NAME_WIDTH)),
                 (self._probe.study_date, plan.study_date),
                 (self._accession.decode(), f"A{plan.index % 10**7:07d}"))
        for old, new in swaps:
            blob = blob.replace(old.encode(), new.encode())
        return blob
