"""QIDO-RS over HTTP (PS3.18 2019a 10.6, 8.3.4; PS3.4 C.2.2.2 matching) against the fixture manifest.

Expected values come from ``fixtures/manifest.json`` and the standard's tables
10.6.3-3/4/5, never from the server's own output.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import pytest
from lxml import etree

from dicomweb_conformance.schemas import NATIVE_DICOM_NS, validate_json, validate_xml
from dicomweb_mock.config import parse_config
from dicomweb_mock.dicomweb.media_types import parse_media_type
from dicomweb_mock.dicomweb.multipart import get_boundary, iter_multipart
from tests.helpers.http import MockClient

ROOT = "/dicom-web/"
JSON_TYPE = "application/dicom+json"
XML_ACCEPT = 'multipart/related; type="application/dicom+xml"'

# PS3.18 2019a table 10.6.3-3 (Type R, plus Study Instance UID (U) and Retrieve URL (C, retrievable here)).
STUDY_REQUIRED = ["00080020", "00080030", "00080050", "00080061", "00080090", "00081190", "00100010",
                  "00100020", "00100030", "00100040", "0020000D", "00200010", "00201206", "00201208"]
# Table 10.6.3-4 (Type R/U; Retrieve URL is R here).
SERIES_REQUIRED = ["00080060", "00081190", "0020000E", "00200011", "00201209"]
# Table 10.6.3-5 (Type R/U).
INSTANCE_REQUIRED = ["00080016", "00080018", "00081190", "00200013"]


# ------------------------------------------------------------------------------------------------ helpers

def get(client: MockClient, path: str, params: Any = None, accept: str | None = None):
    """GET ``ROOT + path`` with ``params`` (dict or pairs) percent-encoded as UTF-8."""
    query = urlencode(params or {}, quote_via=quote, safe="") if not isinstance(params, str) else params
    headers = {"Accept": accept} if accept else {}
    return client.get(ROOT + path + (f"?{query}" if query else ""), headers=headers)


def search(client: MockClient, path: str, params: Any = None, accept: str | None = None) -> list[dict[str, Any]]:
    """Run a search expected to match: 200, DICOM JSON media type, valid F.2.1 array."""
    r = get(client, path, params, accept)
    assert r.status_code == 200, (r.status_code, r.get_data(as_text=True))
    mime, _ = parse_media_type(r.headers["Content-Type"])
    assert mime == (accept or JSON_TYPE)
    rows = json.loads(r.get_data())
    assert isinstance(rows, list) and rows
    check_json(rows)
    return rows


_VALID: set[str] = set()


def check_json(rows: list[dict[str, Any]]) -> None:
    """validate_json on each object (F.2.1 array items), skipping objects already validated."""
    for row in rows:
        key = json.dumps(row, ensure_ascii=False)
        if key not in _VALID:
            validate_json(row)
            _VALID.add(key)


def count(client: MockClient, path: str, params: Any = None) -> int:
    """Number of matches; 0 when the server answers 204 (PS3.18 2019a table 10.6.3-1)."""
    r = get(client, path, params)
    if r.status_code == 204:
        assert r.get_data() == b""
        return 0
    return len(search(client, path, params))


def value(row: dict[str, Any], tag: str) -> Any:
    """First value of ``tag`` in a DICOM JSON object (None when empty)."""
    values = row[tag].get("Value") or [None]
    return values[0]


def uids(rows: list[dict[str, Any]], tag: str) -> list[str]:
    return [value(r, tag) for r in rows]


def assert_bad_request(r) -> None:
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    body = r.get_data(as_text=True)
    assert body.strip() and "\n" not in body.strip()


def wildcard(pattern: str, text: str, ignore_case: bool = False) -> bool:
    """PS3.4 C.2.2.2.4 wild card semantics, written independently of the server."""
    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, text, re.IGNORECASE if ignore_case else 0) is not None


@pytest.fixture(scope="module")
def studies(manifest):
    return {s["StudyInstanceUID"]: s for s in manifest["studies"]}


# ------------------------------------------------------------------------------------ counts per resource

def test_counts_of_the_three_top_level_resources(client, manifest):
    assert count(client, "studies") == len(manifest["studies"])
    assert count(client, "series") == len(manifest["series"])
    assert count(client, "instances") == len(manifest["instances"])


def test_counts_of_the_scoped_resources(client, manifest):
    for study in manifest["studies"]:
        suid = study["StudyInstanceUID"]
        series = [s for s in manifest["series"] if s["StudyInstanceUID"] == suid]
        instances = [i for i in manifest["instances"] if i["StudyInstanceUID"] == suid]
        assert sorted(uids(search(client, f"studies/{suid}/series"), "0020000E")) == \
            sorted(s["SeriesInstanceUID"] for s in series)
        assert sorted(uids(search(client, f"studies/{suid}/instances"), "00080018")) == \
            sorted(i["SOPInstanceUID"] for i in instances)
        for s in series:
            rows = search(client, f"studies/{suid}/series/{s['SeriesInstanceUID']}/instances")
            assert sorted(uids(rows, "00080018")) == sorted(
                i["SOPInstanceUID"] for i in instances if i["SeriesInstanceUID"] == s["SeriesInstanceUID"])


# ------------------------------------------------------------------------------- return attributes

def test_study_results_carry_table_10_6_3_3_with_manifest_values(client, manifest):
    rows = search(client, "studies")
    by_uid = {value(r, "0020000D"): r for r in rows}
    assert set(by_uid) == {s["StudyInstanceUID"] for s in manifest["studies"]}
    for study in manifest["studies"]:
        row = by_uid[study["StudyInstanceUID"]]
        assert set(STUDY_REQUIRED) <= set(row)
        assert value(row, "00080020") == study["StudyDate"]
        assert value(row, "00080050") == study["AccessionNumber"]
        assert value(row, "00100020") == study["PatientID"]
        assert value(row, "00100010") == study["PatientName"]
        assert value(row, "00080090") == study["ReferringPhysicianName"]
        assert value(row, "00200010") == study["StudyID"]
        assert sorted(row["00080061"]["Value"]) == sorted(study["ModalitiesInStudy"])
        assert int(value(row, "00201206")) == study["NumberOfStudyRelatedSeries"]
        assert int(value(row, "00201208")) == study["NumberOfStudyRelatedInstances"]
        assert value(row, "00081190").endswith(f"{ROOT}studies/{study['StudyInstanceUID']}")


def test_series_results_carry_table_10_6_3_4_with_manifest_values(client, manifest):
    for s in manifest["series"]:
        rows = search(client, f"studies/{s['StudyInstanceUID']}/series", {"SeriesInstanceUID": s["SeriesInstanceUID"]})
        assert len(rows) == 1
        row = rows[0]
        assert set(SERIES_REQUIRED) <= set(row)
        assert value(row, "00080060") == s["Modality"]
        assert int(value(row, "00200011")) == s["SeriesNumber"]
        assert value(row, "0008103E") == s["SeriesDescription"]
        assert int(value(row, "00201209")) == s["NumberOfSeriesRelatedInstances"]
        assert value(row, "00081190").endswith(f"studies/{s['StudyInstanceUID']}/series/{s['SeriesInstanceUID']}")
        if s["PerformedProcedureStepStartDate"]:  # "shall be present if known"
            assert value(row, "00400244") == s["PerformedProcedureStepStartDate"]
            assert value(row, "00400245") == s["PerformedProcedureStepStartTime"]
        if s["RequestAttributesSequence"]:
            items = row["00400275"]["Value"]
            got = [(value(i, "00401001"), value(i, "00400009")) for i in items]
            assert got == [(e["RequestedProcedureID"], e["ScheduledProcedureStepID"])
                           for e in s["RequestAttributesSequence"]]


def test_instance_results_carry_table_10_6_3_5_with_manifest_values(client, manifest):
    rows = {value(r, "00080018"): r for r in search(client, "instances")}
    for inst in manifest["instances"]:
        row = rows[inst["SOPInstanceUID"]]
        assert set(INSTANCE_REQUIRED) <= set(row)
        assert value(row, "00080016") == inst["SOPClassUID"]
        assert int(value(row, "00200013")) == inst["InstanceNumber"]
        assert value(row, "00280010") == inst["Rows"]
        assert value(row, "00280011") == inst["Columns"]
        assert value(row, "00280100") == inst["BitsAllocated"]
        if "multiframe" in inst["features"]:
            assert int(value(row, "00280008")) == inst["NumberOfFrames"]
        assert value(row, "00081190").endswith(
            f"studies/{inst['StudyInstanceUID']}/series/{inst['SeriesInstanceUID']}/instances/{inst['SOPInstanceUID']}")


def test_parent_level_attributes_follow_10_6_3_3(client, manifest):
    study = manifest["studies"][0]
    suid = study["StudyInstanceUID"]
    # All Series: also the study attributes of table 10.6.3-3.
    for row in search(client, "series"):
        assert set(STUDY_REQUIRED) <= set(row)
    # All Instances: study and series attributes.
    for row in search(client, "instances", {"StudyInstanceUID": suid}):
        assert set(STUDY_REQUIRED) | set(SERIES_REQUIRED) - {"00081190"} <= set(row)
    # Study's Instances: the series attributes.
    for row in search(client, f"studies/{suid}/instances"):
        assert set(SERIES_REQUIRED) <= set(row)
        assert value(row, "0020000E") in {s["SeriesInstanceUID"] for s in manifest["series"]}


def test_retrieve_url_is_resolvable(client, manifest):
    inst = manifest["instances"][0]
    row = search(client, "instances", {"SOPInstanceUID": inst["SOPInstanceUID"]})[0]
    url = urlsplit(value(row, "00081190"))
    r = client.get(url.path + "/metadata")
    assert r.status_code == 200
    assert json.loads(r.get_data())[0]["00080018"]["Value"] == [inst["SOPInstanceUID"]]


# ----------------------------------------------------------------------------------------- includefield

def test_includefield_list_and_repeated(client, studies):
    # Study Description and Other Patient IDs Sequence are not default return keys.
    for params in ("includefield=StudyDescription,OtherPatientIDsSequence",
                   "includefield=00081030&includefield=00101002"):
        rows = search(client, "studies", params)
        for row in rows:
            study = studies[value(row, "0020000D")]
            assert value(row, "00081030") == study["StudyDescription"]
            if study["PatientID"] == "VIX-0001":
                assert [value(i, "00100020") for i in row["00101002"]["Value"]] == ["VHM-1994", "0001-VIX"]
        plain = search(client, "studies")
        assert all("00081030" not in r for r in plain)


def test_includefield_all_returns_study_level_attributes_only(client, studies):
    rows = search(client, "studies", {"includefield": "all"})
    for row in rows:
        assert value(row, "00081030") == studies[value(row, "0020000D")]["StudyDescription"]
        # Series and instance attributes are never returned for studies (10.6.3.3.1).
        assert not {"00080060", "0020000E", "00080018", "00080016", "00280010"} & set(row)


def test_includefield_of_a_lower_level_is_not_returned(client, manifest):
    assert all("00080060" not in r for r in search(client, "studies", {"includefield": "Modality"}))
    suid = manifest["studies"][0]["StudyInstanceUID"]
    rows = search(client, f"studies/{suid}/series", {"includefield": "Rows"})
    assert all("00280010" not in r for r in rows)
    # ... while instances may include attributes of any level (10.6.3.3.3).
    rows = search(client, f"studies/{suid}/instances", {"includefield": "StudyDescription"})
    assert {value(r, "00081030") for r in rows} == {manifest["studies"][0]["StudyDescription"]}


def test_private_includefield_returns_element_and_its_creator(client, manifest):
    inst = next(i for i in manifest["instances"] if i["private"])
    wanted = {p["tag"]: p for p in inst["private"]}
    rows = search(client, "instances", [("SOPInstanceUID", inst["SOPInstanceUID"]),
                                        ("00290010", "DICOMWEB-CONFORMANCE"), ("includefield", "00291010")])
    row = rows[0]
    assert row["00291010"]["Value"] == wanted["00291010"]["value"]
    assert row["00290010"]["Value"] == ["DICOMWEB-CONFORMANCE"]  # 10.6.3.3.3: "and its Private Creator"


# ----------------------------------------------------------------------------------------------- matching

def test_single_value_and_uid_list_matching(client, manifest):
    assert uids(search(client, "studies", {"PatientID": "DOE-0002"}), "00100020") == ["DOE-0002"]
    a, b = manifest["studies"][0]["StudyInstanceUID"], manifest["studies"][3]["StudyInstanceUID"]
    for sep in (",", "\\"):
        assert sorted(uids(search(client, "studies", {"StudyInstanceUID": a + sep + b}), "0020000D")) == sorted([a, b])
    series = [s["SeriesInstanceUID"] for s in manifest["series"][:3]]
    assert sorted(uids(search(client, "series", {"SeriesInstanceUID": ",".join(series)}), "0020000E")) == sorted(series)


def test_universal_matching_returns_the_attribute(client, manifest):
    rows = search(client, "studies", "StudyDescription=")
    assert len(rows) == len(manifest["studies"])
    assert all("00081030" in r for r in rows)  # a matching key is returned (10.6.3.3.1)


@pytest.mark.parametrize("pattern", ["*ABDOMEN", "*CHEST*", "?? ABDOMEN", "MR BRAI?", "*"])
def test_wildcard_matching(client, manifest, pattern):
    expected = {s["StudyInstanceUID"] for s in manifest["studies"] if wildcard(pattern, s["StudyDescription"])}
    assert count(client, "studies", {"StudyDescription": pattern}) == len(expected)
    if expected:
        assert set(uids(search(client, "studies", {"StudyDescription": pattern}), "0020000D")) == expected


@pytest.mark.parametrize("pattern", ["VIX20?900?", "ACC2020*", "*0228", "NOPE*"])
def test_question_mark_and_star_on_accession_number(client, manifest, pattern):
    expected = sum(wildcard(pattern, s["AccessionNumber"]) for s in manifest["studies"])
    assert count(client, "studies", {"AccessionNumber": pattern}) == expected


@pytest.mark.parametrize("query", ["20180101-20201231", "20200101-", "-20171231", "20190315", "20190315-20190315"])
def test_date_ranges(client, manifest, query):
    low, _, high = query.partition("-") if "-" in query else (query, "", query)
    low, high = low or "00000000", high or "99999999"
    expected = {s["StudyInstanceUID"] for s in manifest["studies"] if low <= s["StudyDate"] <= high}
    rows = search(client, "studies", {"StudyDate": query})
    assert set(uids(rows, "0020000D")) == expected


@pytest.mark.parametrize("query", ["090000-120000", "230000-", "-0900", "1015-1016"])
def test_time_ranges(client, manifest, query):
    low, high = query.split("-")
    low = (low or "000000").ljust(6, "0")
    high = (high or "235959").ljust(6, "9")
    expected = {s["StudyInstanceUID"] for s in manifest["studies"] if low <= s["StudyTime"][:6] <= high}
    assert count(client, "studies", {"StudyTime": query}) == len(expected)
    if expected:
        assert set(uids(search(client, "studies", {"StudyTime": query}), "0020000D")) == expected


def test_date_and_time_ranges_combine_into_one_datetime_range(client, manifest):
    # PS3.18 8.3.4.1.1 / PS3.4 C.2.2.2.5.4: 20190315 101530 .. 20200612 143012 as one DT range.
    low, high = "20190315101530", "20200612143012"
    expected = {s["StudyInstanceUID"] for s in manifest["studies"]
                if low <= s["StudyDate"] + s["StudyTime"][:6] <= high}
    rows = search(client, "studies", {"StudyDate": "20190315-20200612", "StudyTime": "101530-143012"})
    assert set(uids(rows, "0020000D")) == expected
    assert any(s["StudyTime"] < "101530" for s in manifest["studies"]
               if s["StudyInstanceUID"] in expected)  # the case separate matching would miss


def test_person_name_matching_is_case_insensitive_by_default(client, manifest):
    names = [s["PatientName"]["Alphabetic"] for s in manifest["studies"]]
    assert count(client, "studies", {"PatientName": "doe^john"}) == names.count("DOE^JOHN")
    assert count(client, "studies", {"PatientName": "DOE^J*"}) == \
        sum(wildcard("DOE^J*", n, ignore_case=True) for n in names)
    assert count(client, "studies", {"PatientName": "DOE^J*"}) == 2  # README: DOE^JOHN and doe^jane


def test_person_name_matching_case_sensitive_when_configured(fixture_copy, manifest):
    app = fixture_copy(parse_config({"DicomWeb": {"QidoCaseSensitive": True}}))
    c = MockClient(app)
    names = [s["PatientName"]["Alphabetic"] for s in manifest["studies"]]
    assert count(c, "studies", {"PatientName": "doe^john"}) == 0
    assert count(c, "studies", {"PatientName": "DOE^J*"}) == sum(wildcard("DOE^J*", n) for n in names) == 1
    assert count(c, "studies", {"PatientName": "doe*"}) == sum(wildcard("doe*", n) for n in names) == 1


def test_sequence_matching(client, manifest):
    vix = [p for p in manifest["patients"] if p["OtherPatientIDsSequence"]][0]
    other = vix["OtherPatientIDsSequence"][0]["PatientID"]
    rows = search(client, "studies", {"OtherPatientIDsSequence.PatientID": other})
    assert {value(r, "00100020") for r in rows} == {vix["PatientID"]}
    assert len(rows) == vix["NumberOfPatientRelatedStudies"]

    def series_with(pred):
        return {s["SeriesInstanceUID"] for s in manifest["series"]
                if any(pred(i) for i in s["RequestAttributesSequence"])}
    rows = search(client, "series", {"RequestAttributesSequence.ScheduledProcedureStepID": "SPS-DOE-7B"})
    assert set(uids(rows, "0020000E")) == series_with(lambda i: i["ScheduledProcedureStepID"] == "SPS-DOE-7B")
    # Two keys in the same sequence must match within one item (PS3.4 C.2.2.2.6).
    both = {"RequestAttributesSequence.RequestedProcedureID": "RP-DOE-7",
            "RequestAttributesSequence.ScheduledProcedureStepID": "SPS-DOE-7A"}
    assert count(client, "series", both) == 1
    both["RequestAttributesSequence.ScheduledProcedureStepID"] = "SPS-VIX-1"
    assert count(client, "series", both) == 0


def test_percent_encoded_names_and_values(client, manifest):
    target = next(s for s in manifest["studies"] if s["PatientID"] == "DOE-0002")
    for query in ("%50atientID=DOE%2D0002", "00100020=DOE-0002", "PatientName=DOE%5EJOHN",
                  "PatientName=DOE%5EJ%4F%2A", "Patient%4Eame=%64oe%5Ejohn"):
        assert uids(search(client, "studies", query), "0020000D") == [target["StudyInstanceUID"]], query


def test_additional_query_retrieve_attributes_via_includefield(client, manifest):
    # PS3.4 C.3.4: SOP Classes in Study, Number of Patient Related Studies/Series/Instances.
    patients = {p["PatientID"]: p for p in manifest["patients"]}
    params = {"includefield": "SOPClassesInStudy,NumberOfPatientRelatedStudies,00201202,00201204"}
    for row in search(client, "studies", params):
        suid, pid = value(row, "0020000D"), value(row, "00100020")
        classes = {s["SOPClassUID"] for s in manifest["series"] if s["StudyInstanceUID"] == suid}
        assert set(row["00080062"]["Value"]) == classes
        p = patients[pid]
        assert [int(value(row, t)) for t in ("00201200", "00201202", "00201204")] == [
            p["NumberOfPatientRelatedStudies"], p["NumberOfPatientRelatedSeries"], p["NumberOfPatientRelatedInstances"]]


@pytest.mark.parametrize("modality", ["CT", "MR", "OT", "US", "CR", "XA"])
def test_modalities_in_study_matching(client, manifest, modality):
    expected = {s["StudyInstanceUID"] for s in manifest["studies"] if modality in s["ModalitiesInStudy"]}
    assert count(client, "studies", {"ModalitiesInStudy": modality}) == len(expected)


def test_fuzzymatching(client, manifest):
    # Fuzzy matching may only widen the result set (PS3.18 8.3.4.2).
    for name in ("DOE^JOHN", "Yamada^Tarou", "doe^jane"):
        exact = count(client, "studies", {"PatientName": name})
        assert count(client, "studies", {"PatientName": name, "fuzzymatching": "true"}) >= exact >= 1
        assert count(client, "studies", {"PatientName": name, "fuzzymatching": "false"}) == exact
    # Documented behaviour (matching.py): accent- and case-insensitive prefix matching of components.
    expected = sum("Müller" in (s["ReferringPhysicianName"] or {}).get("Alphabetic", "") for s in manifest["studies"])
    assert count(client, "studies", {"ReferringPhysicianName": "muller", "fuzzymatching": "true"}) == expected == 1
    assert count(client, "studies", {"ReferringPhysicianName": "muller"}) == 0


# --------------------------------------------------------------------------------- paging: limit / offset

#: RFC 7234 5.5: warn-code SP warn-agent SP warn-text [SP warn-date].
WARNING_RE = re.compile(r'[0-9]{3} \S+ "(?:[^"\\]|\\.)*"( "[^"]*")?')


def test_limit_offset_and_warning(client, manifest):
    total = len(manifest["instances"])
    r = get(client, "instances", {"limit": 10})
    assert r.status_code == 200 and len(json.loads(r.get_data())) == 10
    assert WARNING_RE.fullmatch(r.headers.get("Warning", ""))
    seen: list[str] = []
    for offset in range(0, total, 20):
        r = get(client, "instances", {"limit": 20, "offset": offset})
        page = json.loads(r.get_data())
        seen += uids(page, "00080018")
        assert ("Warning" in r.headers) == (offset + 20 < total)
    assert sorted(seen) == sorted(i["SOPInstanceUID"] for i in manifest["instances"])
    assert len(search(client, "instances", {"offset": total - 3})) == 3
    assert count(client, "instances", {"offset": total}) == 0
    assert "Warning" not in get(client, "studies", {"limit": len(manifest["studies"])}).headers


def test_maximum_results_caps_the_page(fixture_copy):
    app = fixture_copy(parse_config({"MaximumResults": 4}))
    r = MockClient(app).get(ROOT + "series")
    assert len(json.loads(r.get_data())) == 4 and WARNING_RE.fullmatch(r.headers["Warning"])


# ------------------------------------------------------------------------------------------ media types

def test_application_json_is_accepted(client, manifest):
    rows = search(client, "studies", accept="application/json")
    assert len(rows) == len(manifest["studies"])


def _xml_parts(r) -> list[bytes]:
    ctype = r.headers["Content-Type"]
    mime, params = parse_media_type(ctype)
    assert mime == "multipart/related" and params["type"] == "application/dicom+xml"
    parts = []
    for part in iter_multipart(io.BytesIO(r.get_data()), get_boundary(ctype)):
        assert part.media_type == "application/dicom+xml"
        parts.append(part.read())
        part.close()
    return parts


def test_xml_results_are_valid_native_dicom_model(client, manifest):
    r = get(client, "studies", accept=XML_ACCEPT)
    assert r.status_code == 200
    parts = _xml_parts(r)
    assert len(parts) == len(manifest["studies"])
    for body in parts:
        validate_xml(body)


def test_xml_non_ascii_person_name(client, manifest):
    study = next(s for s in manifest["studies"] if s["PatientID"] == "JP-0004")
    r = get(client, "studies", {"StudyInstanceUID": study["StudyInstanceUID"]}, accept=XML_ACCEPT)
    (body,) = _xml_parts(r)
    validate_xml(body)
    root = etree.fromstring(body)
    ns = {"d": NATIVE_DICOM_NS}
    pn = root.find("d:DicomAttribute[@tag='00100010']/d:PersonName", ns)
    family = pn.find("d:Ideographic/d:FamilyName", ns).text
    assert family + "^" + pn.find("d:Ideographic/d:GivenName", ns).text == study["PatientName"]["Ideographic"]


@pytest.mark.parametrize("pid", ["JP-0004", "JP-0005", "CN-0006"])
def test_non_ascii_names_round_trip_and_match(client, manifest, pid):
    study = next(s for s in manifest["studies"] if s["PatientID"] == pid)
    rows = search(client, "studies", {"PatientID": pid, "includefield": "StudyDescription,ReferringPhysicianName"})
    assert value(rows[0], "00100010") == study["PatientName"]
    assert value(rows[0], "00080090") == study["ReferringPhysicianName"]
    assert value(rows[0], "00081030") == study["StudyDescription"]
    ideographic = study["PatientName"]["Ideographic"]
    for key in (ideographic, ideographic.split("^")[0] + "*", "=" + ideographic):
        assert uids(search(client, "studies", {"PatientName": key}), "00100020") == [pid], key
    description = study["StudyDescription"]
    key = description[:2] + "*"
    expected = sorted(s["PatientID"] for s in manifest["studies"] if wildcard(key, s["StudyDescription"]))
    assert pid in expected
    assert sorted(uids(search(client, "studies", {"StudyDescription": key}), "00100020")) == expected


# -------------------------------------------------------------------------------------- failure answers

@pytest.mark.parametrize("path,query", [
    ("studies", "limit=-1"),
    ("studies", "limit=ten"),
    ("studies", "offset=1.5"),
    ("studies", "fuzzymatching=maybe"),
    ("studies", "StudyDate=2019"),
    ("studies", "StudyDate=20190230"),
    ("studies", "StudyDate=20200101-20190101"),
    ("studies", "StudyTime=25"),
    ("studies", "StudyInstanceUID=abc"),
    ("studies", "PatientID=A&PatientID=B"),
    ("studies", "includefield=NotAKeyword"),
    ("studies", "00291010=x"),  # private element without its creator (8.3.4.1)
    ("instances", "InstanceNumber=one"),
    ("series", "Modality=C%5CM"),  # two values: single value only
    ("studies", "PatientName=%FF"),  # not UTF-8
    ("studies", "PatientName=%E5%B1"),  # truncated UTF-8 sequence
])
def test_invalid_parameters_answer_400(client, path, query):
    assert_bad_request(get(client, path, query))


def test_unsupported_parameters_are_ignored_with_a_warning(client, manifest):
    """PS3.18 8.3: unsupported Query Parameters are ignored; the response may warn about them."""
    patient = manifest["studies"][0]["PatientID"]
    expected = count(client, "studies", {"PatientID": patient})
    r = get(client, "studies", [("PatientID", patient), ("vendorExtension", "1"), ("PatientNam", "X")])
    assert r.status_code == 200
    assert len(json.loads(r.get_data())) == expected
    warnings = r.headers.getlist("Warning")
    assert len(warnings) == 2 and all(w.startswith("299 ") for w in warnings)
    assert "'vendorExtension'" in warnings[0] and "'PatientNam'" in warnings[1]


def test_no_match_is_204_without_body(client):
    r = get(client, "studies", {"PatientID": "NO-SUCH-PATIENT"})
    assert r.status_code == 204 and r.get_data() == b""


def test_unknown_scope_is_404(client, manifest):
    study = manifest["studies"][0]["StudyInstanceUID"]
    other = manifest["series"][-1]["SeriesInstanceUID"]  # exists, but in another study
    for path in ("studies/1.2.3.4/series", "studies/1.2.3.4/instances",
                 f"studies/{study}/series/1.2.3.4/instances", f"studies/{study}/series/{other}/instances"):
        r = get(client, path)
        assert r.status_code == 404, path
        assert r.headers["Content-Type"].startswith("text/plain")


# ------------------------------------------------------------------ "+" in a query value (PS3.18 8.3.1)

def test_a_plus_in_a_query_value_is_a_literal_plus(client):
    """``qp-special`` includes "+" (PS3.18 8.3.1, RFC 3986 3.4): ``+0100`` is the offset +0100,
    not " 0100" as HTML form decoding would read it."""
    plus = client.get(f"{ROOT}studies?TimezoneOffsetFromUTC=+0100", headers={"Accept": JSON_TYPE})
    encoded = client.get(f"{ROOT}studies?TimezoneOffsetFromUTC=%2B0100", headers={"Accept": JSON_TYPE})
    assert plus.status_code == encoded.status_code == 200, plus.get_data()[:300]
    assert plus.get_json() == encoded.get_json()


def test_query_pairs_keep_plus_and_decode_percent_escapes():
    from dicomweb_mock.dicomweb.query_string import query_pairs, query_values
    assert query_pairs(b"PatientID=A+B&PatientName=A%20B&&x=%2B1") == [
        ("PatientID", "A+B"), ("PatientName", "A B"), ("x", "+1")]
    assert query_values(b"accept=application/dicom+json&accept=image/png&other=%FF", "accept") == [
        "application/dicom+json", "image/png"]


def test_a_plus_matches_a_stored_plus(empty_app, files):
    import pydicom
    ds = pydicom.dcmread(files["wang-ct-001.dcm"])
    ds.PatientID = "WANG+1"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    c = MockClient(empty_app)
    body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + out.getvalue() + b"\r\n--b--\r\n"
    r = c.post(f"{ROOT}studies", data=body, headers={"Content-Type": 'multipart/related; type="application/dicom"; '
                                                                     "boundary=b"})
    assert r.status_code == 200
    found = c.get(f"{ROOT}studies?PatientID=WANG+1", headers={"Accept": JSON_TYPE})
    assert found.status_code == 200
    assert [m["00100020"]["Value"] for m in found.get_json()] == [["WANG+1"]]
