"""A few real conformance checks that prove the plumbing end to end.

Seeding (STOW-RS of the fixtures under the run's UIDs) has already happened
when these run; expected values come from the manifest via ``truth``.
"""

from __future__ import annotations

import pytest

import dicomweb_fixtures as fixtures
JSON = "application/dicom+json"
STUDY_UID = "0020000D"
_PATIENT_IDS = sorted(p["PatientID"] for p in fixtures.load_manifest()["patients"])


def _values(dataset: dict, tag: str) -> list:
    return (dataset.get(tag) or {}).get("Value") or []


_JSON_MODEL = ["MODEL-001", "MODEL-002", "MODEL-003"]  # what the DICOM JSON validation checks (F.2.1-F.2.3)


@pytest.mark.requirement("QIDO-001", "QIDO-005", *_JSON_MODEL)
def test_all_studies_search_returns_the_seeded_studies(client, truth, expect):
    response = client.get("studies", headers={"Accept": JSON})
    expect.status(response, 200, req="QIDO-001")
    expect.content_type(response, JSON, req="QIDO-001")
    results = expect.dicom_json(response, req=_JSON_MODEL)
    found = [_values(ds, STUDY_UID)[0] for ds in truth.owned(results) if _values(ds, STUDY_UID)]
    expect.same_set(found, [s["StudyInstanceUID"] for s in truth.studies], req="QIDO-005",
                    what="StudyInstanceUIDs of this run's studies in GET /studies", response=response)


@pytest.mark.requirement("QIDO-008", "QIDO-012")
@pytest.mark.parametrize("fixture_patient_id", _PATIENT_IDS)
def test_patient_id_matching_returns_exactly_the_patients_studies(client, truth, expect, fixture_patient_id):
    patient_id = truth.ids.patient_id(fixture_patient_id)
    response = client.get("studies", params={"PatientID": patient_id}, headers={"Accept": JSON})
    expect.status(response, 200, req="QIDO-012")
    results = expect.json_body(response, req="QIDO-012")
    found = [_values(ds, STUDY_UID)[0] for ds in results if _values(ds, STUDY_UID)]
    expected = [s["StudyInstanceUID"] for s in truth.studies_of_patient(patient_id)]
    everything = {s["StudyInstanceUID"] for s in truth.studies}
    # every study of the run returned: PatientID, a Study-level matching key (10.6.1.2.3), was ignored
    expect.that(len(expected) == len(everything) or not everything <= set(found), req="QIDO-008",
                response=response, what=f"studies matched by PatientID={patient_id}",
                expected=f"the {len(expected)} of the patient", actual=f"all {len(everything)} studies of the run")
    expect.same_set(found, expected, req="QIDO-012", what=f"studies matched by PatientID={patient_id}",
                    response=response)


@pytest.mark.requirement("QIDO-004")
def test_search_without_match_answers_no_content_or_an_empty_array(client, truth, expect):
    # 2019a table 10.6.3-1 answers 204; later editions answer 200 with an empty array (QIDO-004).
    response = client.get("studies", params={"PatientID": "NO-SUCH-PATIENT" + (truth.patient_suffix or "-X")},
                          headers={"Accept": JSON})
    expect.status(response, (200, 204))
    if response.status_code == 204:
        expect.equal(response.content, b"", what="payload of the 204 response", response=response)
    else:
        expect.equal(expect.json_body(response), [], what="payload of the 200 response", response=response)


@pytest.mark.requirement("QIDO-037")
def test_person_name_matching_ignores_case(client, truth, expect):
    study = truth.studies_where(lambda s: s["PatientName"].get("Alphabetic") == "DOE^JOHN")[0]
    response = client.get("studies", params={"PatientName": "doe^john", "PatientID": study["PatientID"]},
                          headers={"Accept": JSON})
    expect.status(response, 200)
    found = [_values(ds, STUDY_UID)[0] for ds in expect.json_body(response)]
    expect.same_set(found, [study["StudyInstanceUID"]], what="studies matched by PatientName=doe^john",
                    response=response)
