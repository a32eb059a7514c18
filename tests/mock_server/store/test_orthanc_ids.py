"""Orthanc identifiers: SHA-1 of the identifier chain, 5 groups of 8 hex digits."""

from __future__ import annotations

from dicomweb_mock.store.orthanc_ids import ORTHANC_ID_RE, instance_id, patient_id, series_id, study_id

# pydicom's CT_small.dcm as Orthanc 1.10.1 named it after POST /instances.
PID = "1CT1"
STUDY = "1.3.6.1.4.1.5962.1.2.1.20040119072730.12322"
SERIES = "1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322"
SOP = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


def test_identifiers_are_those_orthanc_gives():
    assert instance_id(PID, STUDY, SERIES, SOP) == "f689ddd2-662f8fe1-8b18180d-ec2a2cee-937917af"
    assert series_id(PID, STUDY, SERIES) == "93034833-163e42c3-bc9a428b-194620cf-2c5799e5"
    assert study_id(PID, STUDY) == "8a8cf898-ca27c490-d0c7058c-929d0581-2bbf104d"
    assert patient_id(PID) == "fa558bce-587a86d3-ad0da9b3-9d043d9d-4f5c5718"


def test_format_is_five_groups_of_eight_hex_digits():
    assert ORTHANC_ID_RE.match(patient_id("VIX"))
    assert not ORTHANC_ID_RE.match("f689ddd2662f8fe1")
