"""QIDO-RS response media types (PS3.18-2019a 10.6.4, 8.7.7, 8.3.4.4.1; PS3.19 A.1; Annex F).

* ``application/dicom+json`` (the default): Content-Type, a valid DICOM JSON
  array (Annex F), one object per match; ``Accept: */*`` selects it (8.7.7);
* ``multipart/related; type="application/dicom+xml"``: one valid Native DICOM
  Model document per match (10.6.4, PS3.19 A.1.6);
* no match: 204 with an empty payload (2019a) or 200 ``[]`` (later editions).

2019a lists no ``application/json`` for QIDO-RS (table 10.6.4-1), so the suite
does not ask for it.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.qido import JSON, LEVEL_KEY, LEVEL_PATH, XML, expect_no_match, keys_of, scope, tag
from dicomweb_conformance.preconditions import owned_only, scope_strategy

_NS = {"d": "http://dicom.nema.org/PS3.19/models/NativeDICOM"}
LEVELS = ["study", "series", "instance"]


def _studies(truth: Any, level: str) -> list[str]:
    """The run's studies; for instance results all but the 42-instance CT study (schema checks are slow)."""
    big = truth.series_by_key("vix-ct-axial")["StudyInstanceUID"]
    return [s["StudyInstanceUID"] for s in truth.studies if level != "instance" or s["StudyInstanceUID"] != big]


def _scope(truth: Any, level: str) -> dict[str, Any]:
    """The run's studies of ``_studies`` as a UID list where the target matches UID lists, else the run's scope
    (:func:`_in_subset` then drops the results outside ``_studies``)."""
    if scope_strategy(truth)[0] == "uid-list":
        return {"StudyInstanceUID": _studies(truth, level)}
    return scope(truth)


def _in_subset(truth: Any, level: str, keys: list[str]) -> list[str]:
    """``keys`` without the run's entities outside ``_studies`` (and, unscoped, without other data)."""
    allowed = set(_studies(truth, level))
    lookup = {"study": lambda k: k, "series": lambda k: truth.series_by_uid(k)["StudyInstanceUID"],
              "instance": lambda k: truth.instance(k)["StudyInstanceUID"]}[level]
    out = []
    for key in owned_only(truth, keys):
        try:
            study = lookup(key)
        except KeyError:
            out.append(key)  # not one of the run's entities: the comparison reports it
            continue
        if study in allowed:
            out.append(key)
    return out


def _expected(truth: Any, level: str) -> list[str]:
    entries = {"study": truth.studies, "series": truth.series, "instance": truth.instances}[level]
    studies = set(_studies(truth, level))
    return [e[LEVEL_KEY[level]] for e in entries if e["StudyInstanceUID"] in studies]


@pytest.mark.requirement("QIDO-002", "QIDO-052")
def test_any_media_type_selects_dicom_json(client, truth, expect):
    """8.7.7: "*/*" matches the default media type of the Resource Category: application/dicom+json (10.6.4)."""
    response = client.get("studies", params=scope(truth), headers={"Accept": "*/*"})
    expect.status(response, 200, req="QIDO-052")
    expect.content_type(response, JSON, req=["QIDO-002", "QIDO-052"])
    data = expect.json_body(response, req="QIDO-002")
    expect.same_set(_in_subset(truth, "study", keys_of(data, "study")), _expected(truth, "study"), req="QIDO-002",
                    what="StudyInstanceUIDs of the JSON results", response=response)


@pytest.mark.requirement("QIDO-001", "QIDO-002", "MODEL-001", "MODEL-002", "MODEL-003")
@pytest.mark.parametrize("level", LEVELS)
def test_dicom_json_results_are_valid(client, truth, expect, level):
    """10.6.3.3 / Annex F: a JSON array with one valid DICOM JSON Model object per match."""
    response = client.get(LEVEL_PATH[level], params=_scope(truth, level), headers={"Accept": JSON})
    expect.status(response, 200, req="QIDO-001")
    expect.content_type(response, JSON, req="QIDO-002")
    data = expect.dicom_json(response, req=["MODEL-001", "MODEL-002", "MODEL-003"])
    found = _in_subset(truth, level, keys_of(data, level))
    expect.same_set(found, _expected(truth, level), req="QIDO-001", what=f"{LEVEL_KEY[level]}s of the results",
                    response=response)
    expect.equal(len(found), len(set(found)), req="QIDO-001", what="one object per match", response=response)


def _xml_value(document: bytes, keyword_tag: str) -> str | None:
    root = etree.fromstring(document)
    found = root.xpath(f"/d:NativeDicomModel/d:DicomAttribute[@tag='{keyword_tag}']/d:Value/text()", namespaces=_NS)
    if not found:  # a document without the namespace is invalid anyway; still read it for the report
        found = root.xpath(f"/NativeDicomModel/DicomAttribute[@tag='{keyword_tag}']/Value/text()")
    return found[0].strip() if found else None


@pytest.mark.requirement("QIDO-003", "MODEL-008")
@pytest.mark.parametrize("level", LEVELS)
def test_dicom_xml_results_one_valid_part_per_match(client, truth, expect, level):
    """10.6.4: multipart/related; type="application/dicom+xml", each part a Native DICOM Model document."""
    response = client.get(LEVEL_PATH[level], params=_scope(truth, level), headers={"Accept": XML})
    expect.status(response, 200, req="QIDO-003")
    expect.content_type(response, XML, req="QIDO-003")
    payload = expect_multipart(response, req="QIDO-003", root_type="application/dicom+xml",
                               part_types="application/dicom+xml")
    found = []
    for part in payload:
        expect.dicom_xml(part.body, req="MODEL-008", response=response)
        found.append(_xml_value(part.body, tag(LEVEL_KEY[level])))
    found = _in_subset(truth, level, found)
    expect.same_set(found, _expected(truth, level), req="QIDO-003",
                    what=f"{LEVEL_KEY[level]}s of the XML parts", response=response)
    expect.equal(len(found), len(set(found)), req="QIDO-003", what="one part per match", response=response)


@pytest.mark.requirement("QIDO-003", "MODEL-008")
def test_dicom_xml_results_carry_non_ascii_names(client, truth, expect):
    """PS3.19 A.1: the XML document holds the UTF-8 Person Name groups of a GB18030 instance."""
    pid = truth.ids.patient_id("CN-0006")
    response = client.get("studies", params={"PatientID": pid}, headers={"Accept": XML})
    expect.status(response, 200, req="QIDO-003")
    payload = expect_multipart(response, req="QIDO-003", root_type="application/dicom+xml",
                               part_types="application/dicom+xml")
    expect.equal(len(payload), 1, req="QIDO-003", what="number of parts", response=response)
    document = payload.parts[0].body
    expect.dicom_xml(document, req="MODEL-008", response=response)
    root = etree.fromstring(document)
    ideographic = root.xpath("/d:NativeDicomModel/d:DicomAttribute[@tag='00100010']/d:PersonName/d:Ideographic",
                             namespaces=_NS)
    groups = {child.tag.split("}")[-1]: (child.text or "") for child in (ideographic[0] if ideographic else [])}
    want = truth.patient(pid)["PatientName"]["Ideographic"].split("^")
    expect.equal([groups.get("FamilyName", ""), groups.get("GivenName", "")], want, req="QIDO-003",
                 what="Ideographic FamilyName and GivenName of PatientName (0010,0010) in the XML part",
                 response=response)


@pytest.mark.requirement("QIDO-004")
@pytest.mark.parametrize("level", LEVELS)
def test_search_without_match(client, truth, expect, level):
    """8.3.4.4.1: no match is 204 with an empty payload; later editions answer 200 with [] (both accepted)."""
    params = {"PatientID": "NO-SUCH-PATIENT" + (truth.patient_suffix or "-0")}
    response = client.get(LEVEL_PATH[level], params=params, headers={"Accept": JSON})
    expect_no_match(response, req="QIDO-004")
    if response.status_code == 200:
        expect.content_type(response, JSON, req="QIDO-004")
