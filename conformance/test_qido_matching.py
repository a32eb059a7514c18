"""QIDO-RS attribute matching (PS3.18-2019a 8.3.4.1, 10.6.1.2; PS3.4-2019a C.2.2.2).

Every kind of matching of PS3.4 C.2.2.2 on the required matching attributes of
table 10.6.1-5: Single Value, List of UID, Universal, Wild Card, Range (dates,
times, combined date-time), Sequence, and multi-valued attributes
(ModalitiesInStudy).  Each case states its query; the expected entities are
computed from the manifest by the oracle of :mod:`conformance.checks.qido`
(written from PS3.4, never from a server's answer).  Searches on /studies,
/series and /instances carry a List of UID key naming the run's studies, so they
only see the run's data on a server holding other data.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from dicomweb_conformance.checks.qido import (LEVEL_KEY, Case, Pred, datetime_in_range, in_range, pn_text, tag, tm_seconds,
                                     value, values, wildcard_matches)


def _ids(cases: list[Case]) -> list[str]:
    return [c.id for c in cases]


def _eq(field: str, wanted: Callable[[Any], Any]) -> Pred:
    return lambda t, e: e.get(field) == wanted(t)


def _study(t: Any, file: str) -> dict:
    return t.study(t.instance_by_file(file)["StudyInstanceUID"])


def _series(key: str) -> Callable[[Any], dict]:
    return lambda t: t.series_by_key(key)


# -- Single Value Matching (C.2.2.2.1) on the keys of table 10.6.1-5 ---------------------------------------------
SINGLE = [
    Case("StudyDate", "study", lambda t: {"StudyDate": "20190315"}, _eq("StudyDate", lambda t: "20190315")),
    Case("StudyTime", "study", lambda t: {"StudyTime": "143012"}, _eq("StudyTime", lambda t: "143012")),
    Case("AccessionNumber", "study", lambda t: {"AccessionNumber": "ACC20171104"},
         _eq("AccessionNumber", lambda t: "ACC20171104")),
    # C.2.2.2.1: except for PN, matching is case-sensitive
    Case("AccessionNumber-case", "study", lambda t: {"AccessionNumber": "acc20171104"},
         _eq("AccessionNumber", lambda t: "acc20171104")),
    Case("ReferringPhysicianName", "study", lambda t: {"ReferringPhysicianName": "House^Gregory^^Dr"},
         lambda t, e: pn_text(e["ReferringPhysicianName"]) == "House^Gregory^^Dr"),
    Case("PatientName", "study", lambda t: {"PatientName": "DOE^JOHN"},
         lambda t, e: pn_text(e["PatientName"]) == "DOE^JOHN"),
    Case("PatientID", "study", lambda t: {"PatientID": t.ids.patient_id("VIX-0001")},
         lambda t, e: e["PatientID"] == t.ids.patient_id("VIX-0001")),
    Case("StudyInstanceUID", "study", lambda t: {"StudyInstanceUID": t.studies[2]["StudyInstanceUID"]},
         lambda t, e: e["StudyInstanceUID"] == t.studies[2]["StudyInstanceUID"]),
    Case("StudyID", "study", lambda t: {"StudyID": "MR612"}, _eq("StudyID", lambda t: "MR612")),
    Case("Modality", "series", lambda t: {"Modality": "MR"}, _eq("Modality", lambda t: "MR")),
    Case("SeriesInstanceUID", "series",
         lambda t: {"SeriesInstanceUID": t.series_by_key("wang-ct")["SeriesInstanceUID"]},
         lambda t, e: e["key"] == "wang-ct"),
    Case("SeriesNumber", "series", lambda t: {"SeriesNumber": "2"}, _eq("SeriesNumber", lambda t: 2)),
    Case("PerformedProcedureStepStartDate", "series", lambda t: {"PerformedProcedureStepStartDate": "20200612"},
         _eq("PerformedProcedureStepStartDate", lambda t: "20200612")),
    Case("PerformedProcedureStepStartTime", "series", lambda t: {"PerformedProcedureStepStartTime": "092000"},
         _eq("PerformedProcedureStepStartTime", lambda t: "092000")),
    Case("SOPClassUID", "instance", lambda t: {"SOPClassUID": "1.2.840.10008.5.1.4.1.1.3.1"},
         _eq("SOPClassUID", lambda t: "1.2.840.10008.5.1.4.1.1.3.1")),
    Case("SOPInstanceUID", "instance", lambda t: {"SOPInstanceUID": t.instance_by_file("doe-mr-t2-004.dcm")
                                                  ["SOPInstanceUID"]},
         lambda t, e: e["file"] == "doe-mr-t2-004.dcm"),
    Case("InstanceNumber", "instance", lambda t: {"InstanceNumber": "3"}, _eq("InstanceNumber", lambda t: 3)),
    # hierarchical resources (table 10.6.1-4): keys of the levels below the path
    Case("study-series-Modality", "series", lambda t: {"Modality": "OT"},
         lambda t, e: e["key"] == "doe-sc-palette",
         path=lambda t: f"studies/{_study(t, 'doe-mr-t2-001.dcm')['StudyInstanceUID']}/series"),
    Case("study-instances-SeriesNumber", "instance", lambda t: {"SeriesNumber": "99"},
         lambda t, e: e["file"] == "doe-sc-palette-001.dcm",
         path=lambda t: f"studies/{_study(t, 'doe-mr-t2-001.dcm')['StudyInstanceUID']}/instances"),
    Case("series-instances-InstanceNumber", "instance", lambda t: {"InstanceNumber": "5"},
         lambda t, e: e["file"] == "doe-mr-t2-005.dcm",
         path=lambda t: "studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances".format(
             **t.series_by_key("doe-mr-t2"))),
]
_LEVEL_REQ = {"study": "QIDO-008", "series": "QIDO-009", "instance": "QIDO-010"}


@pytest.mark.requirement("QIDO-012", "QIDO-008", "QIDO-009", "QIDO-010")
@pytest.mark.parametrize("case", SINGLE, ids=_ids(SINGLE))
def test_single_value_matching(client, truth, expect, case):
    """C.2.2.2.1: exactly the entities whose value equals the key (case-sensitive except PN)."""
    case.run(client, truth, expect, req="QIDO-012", ignored_req=_LEVEL_REQ[case.level])


# -- List of UID Matching (C.2.2.2.2): comma-separated in the URL (8.3.4.1 #3) ----------------------------------
def _uids(level: str, picks: Callable[[Any], list[dict]]) -> Case:
    key = LEVEL_KEY[level]

    def params(t: Any) -> dict:
        return {key: [e[key] for e in picks(t)] + [f"{t.uid_root}.999.999"]}  # plus one UID nobody stored

    return Case(f"{key}-list", level, params, lambda t, e: e[key] in {p[key] for p in picks(t)})


UID_LISTS = [
    _uids("study", lambda t: [t.studies[0], t.studies[6]]),
    _uids("series", lambda t: [t.series_by_key(k) for k in ("vix-ct-axial", "jane-us-doppler", "yamada-cr")]),
    _uids("instance", lambda t: [t.instance_by_file(f) for f in ("vix-ct-axial-007.dcm", "sato-mr-cine-001.dcm")]),
    Case("series-instances-SOPInstanceUID-list", "instance",
         lambda t: {"SOPInstanceUID": [t.instance_by_file(f"doe-mr-t2-00{n}.dcm")["SOPInstanceUID"] for n in (2, 6)]},
         lambda t, e: e["file"] in ("doe-mr-t2-002.dcm", "doe-mr-t2-006.dcm"),
         path=lambda t: "studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances".format(
             **t.series_by_key("doe-mr-t2"))),
]


@pytest.mark.requirement("QIDO-013")
@pytest.mark.parametrize("case", UID_LISTS, ids=_ids(UID_LISTS))
def test_uid_list_matching(client, truth, expect, case):
    """C.2.2.2.2: each UID of the comma-separated list may generate a match."""
    case.run(client, truth, expect, req="QIDO-013")


# -- Universal Matching (C.2.2.2.3): empty value ------------------------------------------------------------------
UNIVERSAL = [
    Case("AccessionNumber", "study", lambda t: {"AccessionNumber": ""}, lambda t, e: True),
    # one study has an empty ReferringPhysicianName: universal matching still matches it
    Case("ReferringPhysicianName", "study", lambda t: {"ReferringPhysicianName": ""}, lambda t, e: True),
    Case("StudyID", "study", lambda t: {"StudyID": ""}, lambda t, e: True),
    Case("Modality", "series", lambda t: {"Modality": ""}, lambda t, e: True),
    Case("InstanceNumber", "instance", lambda t: {"InstanceNumber": ""}, lambda t, e: True),
]


@pytest.mark.requirement("QIDO-038")
@pytest.mark.parametrize("case", UNIVERSAL, ids=_ids(UNIVERSAL))
def test_universal_matching(client, truth, expect, case):
    """C.2.2.2.3: an empty value matches every entity and asks for the attribute to be returned."""
    results = case.run(client, truth, expect, req="QIDO-038")
    name = next(iter(case.params(truth)))
    for ds in results:
        expect.that(tag(name) in ds, req="QIDO-038", what=f"{name} in the result {value(ds, LEVEL_KEY[case.level])}",
                    expected="present (universal matching returns the attribute)", actual="absent")


# -- Wild Card Matching (C.2.2.2.4) -------------------------------------------------------------------------------
def _wild(field: str, pattern: Callable[[Any], str], *, pn: bool = False) -> Pred:
    def pred(t: Any, e: dict) -> bool:
        text = pn_text(e[field]) if pn else e[field]
        return bool(text) and wildcard_matches(pattern(t), str(text))
    return pred


def _wildcase(name: str, level: str, pattern: str | Callable[[Any], str], *, pn: bool = False) -> Case:
    pat = pattern if callable(pattern) else (lambda t, p=pattern: p)
    return Case(f"{name}={pattern if isinstance(pattern, str) else 'pattern'}", level, lambda t: {name: pat(t)},
                _wild(name, pat, pn=pn))


# PN patterns are chosen so that case-sensitive and case-insensitive PN matching give the same set.
WILDCARDS = [
    _wildcase("PatientName", "study", "VIX*", pn=True),
    _wildcase("PatientName", "study", "DOE^JO?N", pn=True),
    _wildcase("ReferringPhysicianName", "study", "House*", pn=True),
    _wildcase("ReferringPhysicianName", "study", "*^Hans", pn=True),
    _wildcase("AccessionNumber", "study", "ACC2020*"),
    _wildcase("AccessionNumber", "study", "JP2021022?"),
    _wildcase("AccessionNumber", "study", "*1104"),
    _wildcase("AccessionNumber", "study", "*2018*"),
    _wildcase("AccessionNumber", "study", "acc*"),  # C.2.2.2.4: case-sensitive except PN: no match
    _wildcase("StudyID", "study", "100?"),
    _wildcase("PatientID", "study", "*"),
    Case("PatientID=DOE-000?{suffix}", "study", lambda t: {"PatientID": f"DOE-000?{t.patient_suffix}"},
         lambda t, e: e["PatientID"] in (t.ids.patient_id("DOE-0002"), t.ids.patient_id("DOE-0003"))),
    _wildcase("Modality", "series", "C?"),
    _wildcase("Modality", "series", "M*"),
]


@pytest.mark.requirement("QIDO-014")
@pytest.mark.parametrize("case", WILDCARDS, ids=_ids(WILDCARDS))
def test_wildcard_matching(client, truth, expect, case):
    """C.2.2.2.4: '*' matches any sequence of characters (also none), '?' exactly one."""
    case.run(client, truth, expect, req="QIDO-014")


# -- Range Matching (C.2.2.2.5) ------------------------------------------------------------------------------------
def _date_range(field: str, key: str, level: str = "study") -> Case:
    return Case(f"{field}={key}", level, lambda t: {field: key}, lambda t, e: in_range(e.get(field), key))


def _time_range(key: str) -> Case:
    return Case(f"StudyTime={key}", "study", lambda t: {"StudyTime": key},
                lambda t, e: in_range(e["StudyTime"], key, tm_seconds))


DATE_RANGES = [
    _date_range("StudyDate", "20180101-20200131"),   # closed
    _date_range("StudyDate", "20200612-20200612"),   # closed, one day
    _date_range("StudyDate", "-20171104"),           # open start, inclusive
    _date_range("StudyDate", "20200612-"),           # open end, inclusive
    _date_range("PerformedProcedureStepStartDate", "20190101-20201231", "series"),
    # a Study-level range on /instances (relational, table 10.6.1-4)
    Case("instances-StudyDate=20200101-20201231", "instance", lambda t: {"StudyDate": "20200101-20201231"},
         lambda t, e: in_range(e["StudyDate"], "20200101-20201231")),
]
TIME_RANGES = [
    _time_range("090000-120000"),   # closed, 120000 inclusive
    _time_range("-100000"),         # open start (083000.25 has a fraction)
    _time_range("160000-"),         # open end, 160000 inclusive
]


@pytest.mark.requirement("QIDO-015")
@pytest.mark.parametrize("case", DATE_RANGES + TIME_RANGES, ids=_ids(DATE_RANGES + TIME_RANGES))
def test_date_and_time_range_matching(client, truth, expect, case):
    """C.2.2.2.5.1/2: A-B, -B and A- match inclusively."""
    case.run(client, truth, expect, req="QIDO-015")


DATETIME = [("20190315-20200612", "101530-143012"),   # 20200102 083000 is inside as one range only
            ("-20190315", "-120000"),                 # 20181225 235959 likewise
            ("20200102-", "090000-")]


@pytest.mark.requirement("QIDO-016")
@pytest.mark.parametrize("date_key,time_key", DATETIME, ids=[f"{d}&{t}" for d, t in DATETIME])
def test_combined_date_time_range_matching(client, truth, expect, date_key, time_key):
    """8.3.4.1.1 / C.2.2.2.5.4: StudyDate and StudyTime ranges of the same form match as one DT range."""
    case = Case("datetime", "study", lambda t: {"StudyDate": date_key, "StudyTime": time_key},
                lambda t, e: datetime_in_range(e["StudyDate"], e["StudyTime"], date_key, time_key))
    case.run(client, truth, expect, req="QIDO-016")


# -- Sequence Matching (C.2.2.2.6) ---------------------------------------------------------------------------------
def _ras(name: str, key: str, pattern: str) -> Case:
    return Case(f"{name}={pattern}", "series", lambda t: {name: pattern},
                lambda t, e: any(wildcard_matches(pattern, item[key]) for item in e["RequestAttributesSequence"]))


SEQUENCES = [
    _ras("RequestAttributesSequence.ScheduledProcedureStepID", "ScheduledProcedureStepID", "SPS-DOE-7B"),  # 2nd item
    _ras("RequestAttributesSequence.ScheduledProcedureStepID", "ScheduledProcedureStepID", "SPS-VIX-1"),
    _ras("RequestAttributesSequence.ScheduledProcedureStepID", "ScheduledProcedureStepID", "SPS-DOE-7?"),
    _ras("RequestAttributesSequence.RequestedProcedureID", "RequestedProcedureID", "RP-VIX-1"),
    _ras("00400275.00400009", "ScheduledProcedureStepID", "SPS-VIX-0"),
    _ras("RequestAttributesSequence.ScheduledProcedureStepID", "ScheduledProcedureStepID", "SPS-NONE"),
    Case("study-series-ScheduledProcedureStepID", "series",
         lambda t: {"RequestAttributesSequence.ScheduledProcedureStepID": "SPS-VIX-1"},
         lambda t, e: e["key"] == "vix-ct-axial",
         path=lambda t: f"studies/{t.series_by_key('vix-ct-axial')['StudyInstanceUID']}/series"),
]


@pytest.mark.requirement("QIDO-039", "QIDO-034", "QIDO-009")
@pytest.mark.parametrize("case", SEQUENCES, ids=_ids(SEQUENCES))
def test_sequence_matching_request_attributes(client, truth, expect, case):
    """Table 10.6.1-5 RequestAttributesSequence keys: a series matches if one item matches (C.2.2.2.6)."""
    case.run(client, truth, expect, req="QIDO-039", status_req="QIDO-034", ignored_req="QIDO-009")


OTHER_IDS = ["VHM-1994", "0001-VIX", "NO-SUCH-OTHER-ID"]


@pytest.mark.requirement("QIDO-051")
@pytest.mark.parametrize("attribute", ["OtherPatientIDsSequence.PatientID", "00101002.00100020"])
@pytest.mark.parametrize("other_id", OTHER_IDS)
def test_sequence_matching_other_patient_ids(client, truth, expect, attribute, other_id):
    """10.6.1.2.1's example key: the second item matches as well as the first; an unknown ID matches nothing.

    OtherPatientIDsSequence is an Optional Key: a server that does not support matching on it ignores
    the value (PS3.4 C.2.2.1.3), so every study returned is conformant too."""
    case = Case("other-ids", "study", lambda t: {attribute: other_id},
                lambda t, e: any(item["PatientID"] == other_id for item in e["OtherPatientIDsSequence"]))
    case.run(client, truth, expect, req="QIDO-051", may_ignore=True)


# -- multi-valued attributes (C.2.2.3): ModalitiesInStudy ----------------------------------------------------------
@pytest.mark.requirement("QIDO-040", "QIDO-008")
@pytest.mark.parametrize("modality", ["OT", "MR", "CT", "US", "SR"])
def test_modalities_in_study_matching(client, truth, expect, modality):
    """A study with MR and OT series matches both MR and OT, and its result lists both."""
    case = Case(f"ModalitiesInStudy={modality}", "study", lambda t: {"ModalitiesInStudy": modality},
                lambda t, e: modality in e["ModalitiesInStudy"])
    results = case.run(client, truth, expect, req="QIDO-040", ignored_req="QIDO-008")
    for ds in results:
        uid = value(ds, "StudyInstanceUID")
        if truth.is_ours(str(uid)):
            expect.equal(sorted(values(ds, "ModalitiesInStudy")), sorted(truth.study(uid)["ModalitiesInStudy"]),
                         req="QIDO-040", what=f"ModalitiesInStudy of study {uid} (every value is returned)")


# -- relational keys (table 10.6.1-4): higher-level keys on /series and /instances --------------------------------
RELATIONAL = [
    Case("series-PatientName", "series", lambda t: {"PatientName": "DOE^JOHN"},
         lambda t, e: e["PatientID"] == t.ids.patient_id("DOE-0002")),
    Case("series-StudyDate", "series", lambda t: {"StudyDate": "20171104"}, _eq("StudyDate", lambda t: "20171104")),
    Case("series-AccessionNumber", "series", lambda t: {"AccessionNumber": "VIX2019001"},
         _eq("AccessionNumber", lambda t: "VIX2019001")),
    Case("instances-AccessionNumber-Modality", "instance", lambda t: {"AccessionNumber": "ACC20200612",
                                                                     "Modality": "OT"},
         lambda t, e: e["file"] == "doe-sc-palette-001.dcm"),
    Case("instances-SeriesNumber-StudyID", "instance", lambda t: {"StudyID": "1001", "SeriesNumber": "1"},
         lambda t, e: e["file"].startswith("vix-ct-localizer")),
    Case("study-instances-Modality-SeriesNumber", "instance", lambda t: {"Modality": "CT", "SeriesNumber": "1"},
         lambda t, e: e["file"].startswith("vix-ct-localizer"),
         path=lambda t: f"studies/{t.series_by_key('vix-ct-localizer')['StudyInstanceUID']}/instances"),
]


@pytest.mark.requirement("QIDO-011")
@pytest.mark.parametrize("case", RELATIONAL, ids=_ids(RELATIONAL))
def test_relational_search_with_higher_level_keys(client, truth, expect, case):
    """/series takes Study keys, /instances Study and Series keys, /studies/{study}/instances Series keys."""
    case.run(client, truth, expect, req="QIDO-011")


# -- Person Name case (C.2.2.2.1.1, C.2.2.2.4): implementation-defined, hence SHOULD -------------------------------
PN_CASE = [
    Case("doe^john", "study", lambda t: {"PatientName": "doe^john"},
         lambda t, e: e["PatientID"] == t.ids.patient_id("DOE-0002")),
    Case("vix^visible^human", "study", lambda t: {"PatientName": "vix^visible^human"},
         lambda t, e: e["PatientID"] == t.ids.patient_id("VIX-0001")),
    Case("DOE^J*", "study", lambda t: {"PatientName": "DOE^J*"},
         lambda t, e: wildcard_matches("DOE^J*", pn_text(e["PatientName"]), case_sensitive=False)),
    Case("house^gregory*", "study", lambda t: {"ReferringPhysicianName": "house^gregory*"},
         lambda t, e: e["PatientID"] == t.ids.patient_id("VIX-0001")),
]


@pytest.mark.requirement("QIDO-037")
@pytest.mark.parametrize("case", PN_CASE, ids=_ids(PN_CASE))
def test_person_name_matching_is_case_insensitive(client, truth, expect, case):
    """PN literal matching may ignore case (C.2.2.2.1.1); this suite expects it (doe^jane is lower case)."""
    case.run(client, truth, expect, req="QIDO-037")


# -- how names and values are written in the URL (8.3.1, 8.3.4.1) ------------------------------------------------
TAG_FORMS = [
    Case("00100020", "study", lambda t: {"00100020": t.ids.patient_id("DOE-0003")},
         lambda t, e: e["PatientID"] == t.ids.patient_id("DOE-0003")),
    Case("00080020-range", "study", lambda t: {"00080020": "20180101-20200131"},
         lambda t, e: in_range(e["StudyDate"], "20180101-20200131")),
    Case("00080050-wildcard", "study", lambda t: {"00080050": "ACC2020*"},
         lambda t, e: wildcard_matches("ACC2020*", e["AccessionNumber"])),
    # a single UID: naming by tag is QIDO-033's rule; UID lists are QIDO-013's (test_uid_list_matching)
    Case("0020000D", "study", lambda t: {"0020000D": t.studies[1]["StudyInstanceUID"]},
         lambda t, e: e["StudyInstanceUID"] == t.studies[1]["StudyInstanceUID"]),
    Case("00080060", "series", lambda t: {"00080060": "US"}, _eq("Modality", lambda t: "US")),
    Case("00080018", "instance", lambda t: {"00080018": t.instance_by_file("wang-ct-001.dcm")["SOPInstanceUID"]},
         lambda t, e: e["file"] == "wang-ct-001.dcm"),
]


@pytest.mark.requirement("QIDO-033")
@pytest.mark.parametrize("case", TAG_FORMS, ids=_ids(TAG_FORMS))
def test_attributes_named_by_tag(client, truth, expect, case):
    """8.3.1: an attribute is a keyword or eight hex digits: the tag form matches like the keyword."""
    case.run(client, truth, expect, req="QIDO-033")


def _pid_is(fixture_pid: str) -> Pred:
    return lambda t, e: e["PatientID"] == t.ids.patient_id(fixture_pid)


PERCENT = [
    Case("VIX%2A", "study", lambda t: {}, _pid_is("VIX-0001"), raw=lambda t: "PatientName=VIX%2A"),
    Case("ACC2020%2A", "study", lambda t: {}, lambda t, e: e["AccessionNumber"].startswith("ACC2020"),
         raw=lambda t: "AccessionNumber=ACC2020%2A"),
    Case("DOE%5EJO%3FN", "study", lambda t: {}, _pid_is("DOE-0002"), raw=lambda t: "PatientName=DOE%5EJO%3FN"),
    Case("00100010=DOE%5EJOHN", "study", lambda t: {}, _pid_is("DOE-0002"), raw=lambda t: "00100010=DOE%5EJOHN"),
    Case("M%C3%BCller%5EHans", "study", lambda t: {}, _pid_is("DOE-0002"),
         raw=lambda t: "ReferringPhysicianName=M%C3%BCller%5EHans"),
    Case("M%c3%bcller%5eHans", "study", lambda t: {}, _pid_is("DOE-0002"),  # RFC 3986 2.1: hex digits any case
         raw=lambda t: "ReferringPhysicianName=M%c3%bcller%5eHans"),
    # (no whole multi-group name A=I=P as a key: PS3.4 C.2.2.2.1.1 note, such a key "may give unexpected
    # results if the SCP does not support matching on separate components")
]


@pytest.mark.requirement("QIDO-041", "QIDO-012", "QIDO-014")
@pytest.mark.parametrize("case", PERCENT, ids=_ids(PERCENT))
def test_percent_encoded_values(client, truth, expect, case):
    """8.3.4.1 #5: values are percent-encoded (non-ASCII as UTF-8); the decoded value is what is matched."""
    case.run(client, truth, expect, req="QIDO-041")


GROUPS = [
    Case("*山田^太郎*", "study", lambda t: {"PatientName": "*山田^太郎*"}, _pid_is("JP-0004")),
    Case("*やまだ*", "study", lambda t: {"PatientName": "*やまだ*"}, _pid_is("JP-0004")),
    Case("*佐藤^花子*", "study", lambda t: {"PatientName": "*佐藤^花子*"}, _pid_is("JP-0005")),
    Case("*王^小东*", "study", lambda t: {"PatientName": "*王^小东*"}, _pid_is("CN-0006")),
    Case("*鈴木*", "study", lambda t: {"ReferringPhysicianName": "*鈴木*"}, _pid_is("JP-0004")),
]


@pytest.mark.requirement("QIDO-042")
@pytest.mark.parametrize("case", GROUPS, ids=_ids(GROUPS))
def test_wildcard_on_ideographic_and_phonetic_groups(client, truth, expect, case):
    """PS3.4 C.2.2.2.1.1 note: '*王^小東*' without '=' is how to reach a component group (implementation-defined)."""
    case.run(client, truth, expect, req="QIDO-042")
