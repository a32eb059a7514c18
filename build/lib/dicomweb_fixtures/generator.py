"""Generate the fixture DICOM files (PS3.10 Part 10) and their manifest.

The files are written from the declarative table in :mod:`fixtures.spec`; the
manifest (``fixtures/manifest.json``) records the patient / study / series /
instance attributes that QIDO-RS (PS3.18 §10.6, Tables 6.7.1-1/2/2a) and
WADO-RS (PS3.18 §10.4) tests match against, in DICOM JSON forms where one
exists (PN objects of PS3.18 §F.2.2).

Developer command: ``python -m dicomweb_fixtures.generator [--out DIR] [--encode] [--manifest]``
(see fixtures/README.md: it changes the committed ground truth).
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import codestreams, spec
from .build import build_instance, file_name
from .spec import Patient, Series, Study

MANIFEST_PATH = Path(__file__).resolve().parent / "manifest.json"


def iter_instances() -> Iterator[tuple[Patient, Study, Series, int]]:
    """Every instance of the specification, in manifest order."""
    for patient in spec.PATIENTS:
        for study in patient.studies:
            for series in study.series:
                for index in range(len(series.syntaxes)):
                    yield patient, study, series, index


def person_name(value: str) -> dict[str, str] | None:
    """DICOM JSON PN object (PS3.18 §F.2.2) of a PN value; None when empty."""
    if not value:
        return None
    groups = value.split("=")
    names = ("Alphabetic", "Ideographic", "Phonetic")
    return {key: group for key, group in zip(names, groups) if group}


def _charset(patient: Patient) -> list[str] | None:
    return list(patient.charset) if patient.charset is not None else None


def _series_entry(patient: Patient, study: Study, series: Series) -> dict[str, Any]:
    performed = series.performed_start or (None, None)
    return {
        "key": series.key,
        "SeriesInstanceUID": spec.series_uid(patient.number, study.number, series.number),
        "StudyInstanceUID": spec.study_uid(patient.number, study.number),
        "PatientID": patient.patient_id,
        "Modality": series.modality,
        "SeriesNumber": series.number,
        "SeriesDescription": series.description,
        "SeriesDate": series.date,
        "SeriesTime": series.time,
        "SOPClassUID": series.sop_class,
        "NumberOfSeriesRelatedInstances": len(series.syntaxes),
        "PerformedProcedureStepStartDate": performed[0],
        "PerformedProcedureStepStartTime": performed[1],
        "RequestAttributesSequence": [
            {"RequestedProcedureID": r.requested_procedure_id,
             "ScheduledProcedureStepID": r.scheduled_procedure_step_id}
            for r in series.request_attributes
        ],
    }


def _study_entry(patient: Patient, study: Study) -> dict[str, Any]:
    return {
        "StudyInstanceUID": spec.study_uid(patient.number, study.number),
        "PatientID": patient.patient_id,
        "PatientName": person_name(patient.name),
        "StudyDate": study.date,
        "StudyTime": study.time,
        "AccessionNumber": study.accession,
        "ReferringPhysicianName": person_name(study.referring),
        "StudyID": study.study_id or None,
        "StudyDescription": study.description,
        "ModalitiesInStudy": sorted({s.modality for s in study.series}),
        "NumberOfStudyRelatedSeries": len(study.series),
        "NumberOfStudyRelatedInstances": sum(len(s.syntaxes) for s in study.series),
        "SpecificCharacterSet": _charset(patient),
    }


def _patient_entry(patient: Patient) -> dict[str, Any]:
    return {
        "PatientID": patient.patient_id,
        "PatientName": person_name(patient.name),
        "PatientBirthDate": patient.birth_date,
        "PatientSex": patient.sex,
        "SpecificCharacterSet": _charset(patient),
        "OtherPatientIDsSequence": [
            {"PatientID": pid, "IssuerOfPatientID": issuer, "TypeOfPatientID": kind}
            for pid, issuer, kind in patient.other_ids
        ],
        "NumberOfPatientRelatedStudies": len(patient.studies),
        "NumberOfPatientRelatedSeries": sum(len(st.series) for st in patient.studies),
        "NumberOfPatientRelatedInstances": sum(
            len(se.syntaxes) for st in patient.studies for se in st.series),
    }


def generate(out_dir: Path, encode: bool = False) -> dict[str, Any]:
    """Write every fixture instance into the existing directory ``out_dir``; return the manifest.

    With ``encode`` the compressed frames are encoded anew and committed to
    ``fixtures/codestreams/`` (developer command); otherwise the committed ones are used.
    """
    out_dir = Path(out_dir)
    instances = []
    index: dict[str, Any] | None = {} if encode else None
    if encode:
        shutil.rmtree(codestreams.DIRECTORY, ignore_errors=True)
    for patient, study, series, number in iter_instances():
        ds, entry = build_instance(patient, study, series, number, index)
        ds.save_as(out_dir / file_name(series, number), enforce_file_format=True)
        instances.append(entry)
    if index is not None:
        codestreams.write_index(index)
    return {
        "version": spec.DATASET_VERSION,
        "uid_root": spec.UID_ROOT,
        "implementation_class_uid": spec.IMPLEMENTATION_CLASS_UID,
        "patients": [_patient_entry(p) for p in spec.PATIENTS],
        "studies": [_study_entry(p, st) for p in spec.PATIENTS for st in p.studies],
        "series": [_series_entry(p, st, se) for p in spec.PATIENTS for st in p.studies for se in st.series],
        "instances": instances,
    }


def manifest_bytes(manifest: dict[str, Any]) -> bytes:
    """Canonical serialisation of a manifest (what is committed as manifest.json)."""
    return (json.dumps(manifest, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


def main(argv: list[str] | None = None) -> int:
    """Developer command: regenerate the data set; ``--encode`` and ``--manifest`` rewrite committed truth."""
    from .cache import default_cache_dir, regenerate

    parser = argparse.ArgumentParser(prog="python -m dicomweb_fixtures.generator",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="data set directory (default: the user's cache, see dicomweb_fixtures.cache)")
    parser.add_argument("--encode", action="store_true",
                        help=f"encode the compressed frames anew into {codestreams.DIRECTORY} (developers only)")
    parser.add_argument("--manifest", action="store_true", help=f"rewrite {MANIFEST_PATH} (developers only)")
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else default_cache_dir()
    start = time.perf_counter()
    data = regenerate(out, encode=args.encode)
    elapsed = time.perf_counter() - start
    files = sorted(out.glob("*.dcm"))
    size = sum(f.stat().st_size for f in files)
    print(f"{len(files)} instances, {size / 1e6:.1f} MB, generated in {elapsed:.2f} s into {out}")
    if args.manifest:
        MANIFEST_PATH.write_bytes(data)
        print(f"wrote {MANIFEST_PATH}")
    elif not MANIFEST_PATH.exists() or MANIFEST_PATH.read_bytes() != data:
        print(f"{MANIFEST_PATH} does not match the data generated here; see fixtures/README.md", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
