"""Orthanc resource identifiers.

Orthanc names each patient, study, series and instance by the SHA-1 of the
``|``-joined chain of its DICOM identifiers (``PatientID``,
``StudyInstanceUID``, ``SeriesInstanceUID``, ``SOPInstanceUID``), written as
five dash-separated groups of eight hexadecimal digits.  The seed's
``/servers/{name}/stow`` takes such identifiers and ``/retrieve`` returns them.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["orthanc_id", "patient_id", "study_id", "series_id", "instance_id", "ORTHANC_ID_RE"]

ORTHANC_ID_RE = re.compile(r"^[0-9a-f]{8}(-[0-9a-f]{8}){4}$")


def orthanc_id(*parts: str) -> str:
    """Hash the ``|``-joined identifiers and format them as Orthanc does."""
    digest = hashlib.sha1("|".join(parts).encode("utf-8")).hexdigest()
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


def patient_id(pid: str) -> str:
    return orthanc_id(pid)


def study_id(pid: str, study_uid: str) -> str:
    return orthanc_id(pid, study_uid)


def series_id(pid: str, study_uid: str, series_uid: str) -> str:
    return orthanc_id(pid, study_uid, series_uid)


def instance_id(pid: str, study_uid: str, series_uid: str, sop_uid: str) -> str:
    return orthanc_id(pid, study_uid, series_uid, sop_uid)
