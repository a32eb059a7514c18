"""C-FIND matching rules (PS3.4 2019a C.2.2.2) as applied by QIDO-RS (PS3.18 8.3.4.1.1)."""

from __future__ import annotations

import base64

import pytest

from dicomweb_mock.dicomweb.matching import (
    dataset_matches, matches, normalize_date, normalize_datetime, normalize_time, range_bounds, split_range,
    wildcard_to_regex,
)
from dicomweb_mock.dicomweb.qido_query import Filter, parse_qido


def key(name: str, value: str, *extra: tuple[str, str]) -> Filter:
    """The matching key a QIDO-RS search on /instances builds for ``name=value``."""
    return parse_qido("all-instances", [*extra, (name, value)]).filters[-1]


def hit(name: str, value: str, element: dict | None, **kw) -> bool:
    return matches(key(name, value), element, **kw)


def pn(*names: str) -> dict:
    return {"vr": "PN", "Value": [{"Alphabetic": n} for n in names]}


def el(vr: str, *values) -> dict:
    return {"vr": vr, "Value": list(values)} if values else {"vr": vr}


# ---------------------------------------------------------------- single value matching (C.2.2.2.1)

@pytest.mark.parametrize("name, query, element, expected", [
    ("Modality", "CT", el("CS", "CT"), True),
    ("Modality", "ct", el("CS", "CT"), False),          # case-sensitive except PN
    ("Modality", "C", el("CS", "CT"), False),           # exact, not prefix
    ("PatientID", "abc", el("LO", "ABC"), False),
    ("PatientID", "ABC", el("LO", "ABC"), True),
    ("AccessionNumber", "A1", el("SH", "A1 "), True),   # trailing padding is not significant
    ("StudyDescription", "Head", el("LO", "Head Neck"), False),
    ("SOPInstanceUID", "1.2.3", el("UI", "1.2.34"), False),
    ("SOPInstanceUID", "1.2.34", el("UI", "1.2.34"), True),
    ("InstanceNumber", "5", el("IS", 5), True),
    ("InstanceNumber", "+5", el("IS", 5), True),        # matched by value, not by text
    ("InstanceNumber", "6", el("IS", 5), False),
    ("SliceThickness", "1.50", el("DS", 1.5), True),
    ("Rows", "512", el("US", 512), True),
    ("Rows", "256", el("US", 512), False),
    ("StudyDate", "20130509", el("DA", "20130509"), True),
    ("StudyDate", "20130509", el("DA", "20130510"), False),
    ("PatientAge", "045Y", el("AS", "045Y"), True),
])
def test_single_value_matching(name, query, element, expected):
    assert hit(name, query, element) is expected


@pytest.mark.parametrize("query, stored, expected", [
    ("2230", "223000", True),       # C.2.2.2.1.3 note 1: TM "2230" matches "223000"
    ("223000", "2230", True),
    ("2230", "223100", False),
    ("101530", "101530.000", True),
])
def test_time_single_value_matched_by_meaning(query, stored, expected):
    assert hit("StudyTime", query, el("TM", stored)) is expected


def test_datetime_single_value_matched_by_meaning():
    # C.2.2.2.1.3 note 1: the DT "19980128103000.0000" matches "19980128103000".
    assert hit("AcquisitionDateTime", "19980128103000.0000", el("DT", "19980128103000"))
    assert hit("AcquisitionDateTime", "19980128103000", el("DT", "19980128103000.0000"))
    assert not hit("AcquisitionDateTime", "19980128103000", el("DT", "19980128103001"))


def test_datetime_offset_is_taken_into_account():
    # C.2.2.2.1.3 note 1: "19980128103000" (UTC, no offset) matches "19980128073000" at "-0300".
    tz = ("TimezoneOffsetFromUTC", "+0000")
    assert matches(key("AcquisitionDateTime", "19980128103000", tz), el("DT", "19980128073000-0300"))
    assert not matches(key("AcquisitionDateTime", "19980128103000", tz), el("DT", "19980128073000-0500"))
    # C.2.2.2.5.3 d: offsets present in both values are compared as moments in time.
    k = key("AcquisitionDateTime", "19980128100000+0000-19980128110000+0000")
    assert matches(k, el("DT", "19980128073000-0300"))
    assert not matches(k, el("DT", "19980128073000-0500"))


def test_datetime_offset_of_the_data_set_applies_to_values_without_offset():
    k = key("AcquisitionDateTime", "19980128100000+0000-19980128110000+0000")
    ds = {"0008002A": el("DT", "19980128073000"), "00080201": el("SH", "-0300")}
    assert dataset_matches([k], ds)
    ds["00080201"] = el("SH", "+0100")
    assert not dataset_matches([k], ds)


# ---------------------------------------------------------------- person names (C.2.2.2.1.1, C.2.2.2.4)

@pytest.mark.parametrize("query, name, expected", [
    ("DOE^JOHN", "DOE^JOHN", True),
    ("doe^john", "DOE^JOHN", True),            # PN: case-insensitive literal matching allowed
    ("DOE^JOHN", "DOE^JOHN^^^", True),         # trailing empty components are not significant
    ("DOE", "DOE^JOHN", False),                # single value: not a prefix match
    ("DOE^*", "DOE^JOHN", True),
    ("doe^*", "DOE^JOHN", True),
    ("DOE^*", "DOE", True),                    # "DOE" is "DOE^" with the given name omitted
    ("DOE^J*", "DOE^JANE", True),
    ("DOE^J*", "SMITH^JOHN", False),
    ("D?E^JOHN", "DOE^JOHN", True),            # "?" matches any single character
    ("D?E^JOHN", "DOOE^JOHN", False),
    ("DOE*", "DOE", True),                     # "*" also matches a zero length value
    ("VIX*", "VIXEN^LINDA", True),             # key without "^" against the whole string
    ("*JOHN*", "DOE^JOHN", True),
    ("*MARY*", "DOE^JOHN", False),
])
def test_person_name_matching(query, name, expected):
    assert hit("PatientName", query, pn(name)) is expected


def test_person_name_case_sensitivity_is_a_flag():
    assert hit("PatientName", "doe^john", pn("DOE^JOHN"), case_sensitive_pn=False)
    assert not hit("PatientName", "doe^john", pn("DOE^JOHN"), case_sensitive_pn=True)
    assert not hit("PatientName", "doe*", pn("DOE^JOHN"), case_sensitive_pn=True)
    assert hit("PatientName", "DOE*", pn("DOE^JOHN"), case_sensitive_pn=True)


@pytest.mark.parametrize("query, expected", [
    ("Wang^XiaoDong=王^小東", True),
    ("Wang^XiaoDong", True),
    ("王^小東", True),
    ("=王^小東", True),
    ("Wang^XiaoDong=李^小東", False),
    ("*=王*", True),
    ("Li^*", False),
])
def test_person_name_component_groups(query, expected):
    # C.2.2.2.1.1 note: the "=" group delimiter in multi-component names.
    element = {"vr": "PN", "Value": [{"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東"}]}
    assert hit("PatientName", query, element) is expected


@pytest.mark.parametrize("query, name, expected", [
    ("joh", "Doe^John", True),         # fuzzy: prefix of any component
    ("JOSE", "García^José", True),     # accent- and case-insensitive
    ("garc^jo", "García^José", True),  # component by component prefixes
    ("jo^garc", "García^José", False),
    ("smi", "Doe^John", False),
])
def test_fuzzy_person_name_matching(query, name, expected):
    assert hit("PatientName", query, pn(name), fuzzy=True) is expected


def test_fuzzy_matching_off_is_literal():
    assert not hit("PatientName", "joh", pn("Doe^John"))
    assert not hit("PatientName", "JOSE", pn("García^José"))


# ---------------------------------------------------------------- wild cards (C.2.2.2.4)

@pytest.mark.parametrize("name, query, value, expected", [
    ("Modality", "C*", "CT", True),
    ("Modality", "c*", "CT", False),          # wild card matching is case-sensitive except for PN
    ("Modality", "?R", "MR", True),
    ("Modality", "?R", "MRI", False),
    ("StudyDescription", "*HEAD*", "CT HEAD W/O", True),
    ("StudyDescription", "A.B*", "AXB", False),  # only * and ? are special
    ("StudyDescription", "100%*", "100% dose", True),
    ("StudyDescription", "a_b", "axb", False),
])
def test_wildcard_matching(name, query, value, expected):
    vr = "CS" if name == "Modality" else "LO"
    assert hit(name, query, el(vr, value)) is expected


def test_wildcard_regex():
    # C.2.2.2.4: "*" is any sequence of characters (also none), "?" any one character; others are literal.
    assert wildcard_to_regex("D?E*").fullmatch("DOE^JOHN")
    assert not wildcard_to_regex("D?E*").fullmatch("DE")
    assert wildcard_to_regex("50%_*").fullmatch("50%_ dose") and not wildcard_to_regex("50%_").fullmatch("50x_")
    assert wildcard_to_regex("a.b").fullmatch("a.b") and not wildcard_to_regex("a.b").fullmatch("axb")


# ---------------------------------------------------------------- universal matching (C.2.2.2.3)

@pytest.mark.parametrize("element", [None, {"vr": "PN"}, pn("DOE^JOHN"), {"vr": "PN", "Value": []}])
@pytest.mark.parametrize("query", ["", "*"])  # C.2.2.2.4 note 1: "*" is equivalent to universal matching
def test_universal_matching_matches_everything(query, element):
    assert hit("PatientName", query, element)


@pytest.mark.parametrize("element", [None, {"vr": "LO"}, {"vr": "LO", "Value": []},
                                     {"vr": "OB", "BulkDataURI": "http://x/bulk"}])
def test_no_value_matches_only_universal(element):
    assert not hit("PatientID", "X", element)
    assert not hit("PatientID", "X*", element)
    # C.2.2.1.2: a zero-length required key is unknown and "shall be considered a successful match".
    assert hit("PatientID", "X", element, match_empty=True)


# ---------------------------------------------------------------- list of UID matching (C.2.2.2.2)

@pytest.mark.parametrize("query", ["1.2.3,1.2.4", "1.2.3\\1.2.4"])
def test_uid_list_matching(query):
    k = key("StudyInstanceUID", query)
    assert k.kind == "uid_list"
    assert matches(k, el("UI", "1.2.4"))
    assert matches(k, el("UI", "1.2.3"))
    assert not matches(k, el("UI", "1.2.5"))


# ---------------------------------------------------------------- range matching (C.2.2.2.5)

@pytest.mark.parametrize("query, value, expected", [
    ("20130101-20131231", "20130615", True),
    ("20130101-20131231", "20130101", True),   # inclusive
    ("20130101-20131231", "20131231", True),
    ("20130101-20131231", "20140101", False),
    ("20130101-20131231", "20121231", False),
    ("-20130101", "20121231", True),           # prior to and including
    ("-20130101", "20130101", True),
    ("-20130101", "20130102", False),
    ("20130101-", "20990101", True),           # date and subsequent dates
    ("20130101-", "20121231", False),
    ("20130509-20130509", "20130509", True),
    ("20130101-20131231", "2013.06.15", True),  # ACR-NEMA stored form
])
def test_date_range(query, value, expected):
    assert hit("StudyDate", query, el("DA", value)) is expected


@pytest.mark.parametrize("query, value, expected", [
    ("10-", "101530.12", True),
    ("10-", "095959.999", False),
    ("1000-1800", "1000", True),
    ("1000-1800", "180000", True),
    ("1000-1800", "180100", False),
    ("-1015", "000000", True),                  # prior: from midnight of the same day
    ("-1015", "101600", False),
    ("101530.5-101530.7", "101530.6", True),
    ("101530.5-101530.7", "101530.8", False),
    # documented choice: a stored value of partial precision names a period (C.2.2.2.1.3
    # note 1, matching "by meaning"), which matches when it overlaps the key's range
    ("1015-1030", "10", True),
    ("1015-1030", "11", False),
])
def test_time_range(query, value, expected):
    assert hit("StudyTime", query, el("TM", value)) is expected


@pytest.mark.parametrize("query, value, expected", [
    ("2013-2014", "20140601120000", True),
    ("2013-2014", "20150101", False),
    ("20130101120000-", "20130101115959.999", False),
    ("20130101120000-", "20130101120000", True),
    ("-201301", "20130131235959", True),
])
def test_datetime_range(query, value, expected):
    assert hit("AcquisitionDateTime", query, el("DT", value)) is expected


@pytest.mark.parametrize("date, time, expected", [
    ("20060706", "080000", True),   # inside 5 July 10am .. 7 July 6pm
    ("20060705", "100000", True),
    ("20060705", "090000", False),
    ("20060707", "180000", True),
    ("20060707", "190000", False),
    ("20060708", "120000", False),
])
def test_combined_date_time_matching(date, time, expected):
    # PS3.4 C.2.2.2.5.4 note: StudyDate 20060705-20060707 with StudyTime 1000-1800 is
    # one period, not three daily periods.  Required by PS3.18 8.3.4.1.1.
    q = parse_qido("all-studies", [("StudyDate", "20060705-20060707"), ("StudyTime", "1000-1800")])
    ds = {"00080020": el("DA", date), "00080030": el("TM", time)}
    assert dataset_matches(q.filters, ds) is expected


# 03:00 on 1 January 2020 at +0900 is 18:00 UTC on 31 December 2019.
@pytest.mark.parametrize("tz, date, time, expected", [
    ("+0000", "20191231-20191231", "170000-190000", True),
    ("+0000", "20200101-20200101", "020000-040000", False),  # the stored digits, not the moment
    ("+0900", "20200101-20200101", "020000-040000", True),   # the stored zone itself
    ("-0500", "20191231-20191231", "120000-140000", True),
    ("+0530", "20191231-20191231", "232900-233100", True),
    ("+0530", "20191231-20191231", "180000-190000", False),
])
def test_combined_date_time_in_the_query_time_zone(tz, date, time, expected):
    # PS3.18 8.3.4.1.1: with Timezone Offset From UTC in the request, its dates and times are in that
    # time zone; the stored date and time are in the data set's own Timezone Offset From UTC.
    q = parse_qido("all-studies", [("StudyDate", date), ("StudyTime", time), ("TimezoneOffsetFromUTC", tz)])
    ds = {"00080020": el("DA", "20200101"), "00080030": el("TM", "030000"), "00080201": el("SH", "+0900")}
    assert dataset_matches(q.filters, ds) is expected


def test_combined_date_time_without_a_stored_offset_compares_the_local_values():
    q = parse_qido("all-studies", [("StudyDate", "20200101-20200101"), ("StudyTime", "020000-040000"),
                                   ("TimezoneOffsetFromUTC", "+0000")])
    assert dataset_matches(q.filters, {"00080020": el("DA", "20200101"), "00080030": el("TM", "030000")})


def test_range_bounds_normalized_for_string_comparison():
    assert range_bounds(key("StudyDate", "20130101-")) == ("20130101", None)
    assert range_bounds(key("StudyDate", "-20131231")) == (None, "20131231")
    low, high = range_bounds(key("StudyTime", "10-1130"))
    assert (low, high) == ("100000.000000", "113059.999999")
    assert low <= normalize_time("101530.12") <= high
    assert not low <= normalize_time("095959") <= high
    assert range_bounds(key("AcquisitionDateTime", "2013-2014")) == ("20130101000000.000000",
                                                                     "20141231235959.999999")
    assert range_bounds(key("StudyDate", "20130509")) == ("20130509", "20130509")
    with pytest.raises(ValueError):
        range_bounds(key("PatientID", "X"))


def test_normalizers():
    assert normalize_date("20130509") == "20130509"
    assert normalize_date("2013.05.09") == "20130509"
    assert normalize_date("2013.05.09", strict=True) is None
    assert normalize_date("20130230") is None          # no 30 February
    assert normalize_date("20240229") == "20240229"    # leap year
    assert normalize_time("1015") == "101500.000000"
    assert normalize_time("10", ceil=True) == "105959.999999"
    assert normalize_time("10:15:30") == "101530.000000"
    assert normalize_time("2400") is None
    assert normalize_datetime("2013") == ("20130101000000.000000", None)
    assert normalize_datetime("201302", ceil=True) == ("20130228235959.999999", None)
    assert normalize_datetime("20130101-0500") == ("20130101000000.000000", -300)
    assert normalize_datetime("20130101+1500") is None  # offsets range -1200..+1400


@pytest.mark.parametrize("vr, raw, bounds", [
    ("DA", "20130101-20131231", ("20130101", "20131231")),
    ("DA", "-20131231", (None, "20131231")),
    ("TM", "10-", ("10", None)),
    ("DT", "20130101-0500-20130102-0500", ("20130101-0500", "20130102-0500")),
    ("DT", "20130101000000-0500-", ("20130101000000-0500", None)),
    ("DT", "-20130102+0100", (None, "20130102+0100")),
])
def test_split_range(vr, raw, bounds):
    assert split_range(vr, raw) == bounds


# ---------------------------------------------------------------- sequences (C.2.2.2.6) and multiple values

OTHER_IDS = {"00101002": {"vr": "SQ", "Value": [
    {"00100020": el("LO", "A"), "00100021": el("LO", "ISSUER-X")},
    {"00100020": el("LO", "B"), "00100021": el("LO", "ISSUER-Y")},
]}}


@pytest.mark.parametrize("pid, issuer, expected", [
    ("A", "ISSUER-X", True),    # both keys match in item 1
    ("B", "ISSUER-Y", True),
    ("A", "ISSUER-Y", False),   # each matches in a different item: no match
    ("C", "ISSUER-X", False),
])
def test_sequence_keys_match_within_one_item(pid, issuer, expected):
    q = parse_qido("all-studies", [("OtherPatientIDsSequence.PatientID", pid),
                                   ("00101002.00100021", issuer)])
    assert len(q.filters) == 1 and q.filters[0].kind == "sequence"
    assert dataset_matches(q.filters, OTHER_IDS) is expected


def test_sequence_key_against_absent_sequence():
    q = parse_qido("all-studies", [("OtherPatientIDsSequence.PatientID", "A")])
    assert not dataset_matches(q.filters, {})
    assert not dataset_matches(q.filters, {"00101002": {"vr": "SQ", "Value": []}})
    # a sequence with only universal item keys is universal-like (C.2.2.2.6)
    q = parse_qido("all-studies", [("OtherPatientIDsSequence.PatientID", "")])
    assert dataset_matches(q.filters, {})


def test_request_attributes_sequence_key():
    ds = {"00400275": {"vr": "SQ", "Value": [
        {"00400009": el("SH", "SPS1"), "00401001": el("SH", "RP1")},
        {"00400009": el("SH", "SPS2"), "00401001": el("SH", "RP2")},
    ]}}
    match = lambda *a: dataset_matches(parse_qido("all-series", list(a)).filters, ds)  # noqa: E731
    assert match(("RequestAttributesSequence.ScheduledProcedureStepID", "SPS2"))
    assert match(("RequestAttributesSequence.ScheduledProcedureStepID", "SPS*"),
                 ("RequestAttributesSequence.RequestedProcedureID", "RP1"))
    assert not match(("RequestAttributesSequence.ScheduledProcedureStepID", "SPS1"),
                     ("RequestAttributesSequence.RequestedProcedureID", "RP2"))


@pytest.mark.parametrize("query, expected", [("CT", True), ("MR", True), ("US", False), ("M*", True)])
def test_multi_valued_attribute_matches_when_any_value_matches(query, expected):
    # C.2.2.3: if any of the values match, the attribute matches.
    assert hit("ModalitiesInStudy", query, el("CS", "CT", "MR")) is expected


def test_keys_are_combined_with_and():
    ds = {"00100010": pn("DOE^JOHN"), "00100020": el("LO", "123")}
    q = parse_qido("all-studies", [("PatientName", "DOE*"), ("PatientID", "123")])
    assert dataset_matches(q.filters, ds)
    q = parse_qido("all-studies", [("PatientName", "DOE*"), ("PatientID", "124")])
    assert not dataset_matches(q.filters, ds)


# ---------------------------------------------------------------- private elements (PS3.5 7.8.1)

def test_private_element_found_through_its_creator():
    # The creator may own a different block in the data set than in the query.
    ds = {"00230011": el("LO", "AcmeCompany"),
          "00231101": {"vr": "UN", "InlineBinary": base64.b64encode(b"001239").decode()},
          "00230010": el("LO", "OtherVendor"), "00231001": el("LO", "999")}
    args = [("00230010", "AcmeCompany"), ("00231001", "001239")]
    assert dataset_matches(parse_qido("all-studies", args).filters, ds)
    args = [("00230010", "AcmeCompany"), ("00231001", "999")]
    assert not dataset_matches(parse_qido("all-studies", args).filters, ds)
    args = [("00230010", "OtherVendor"), ("00231001", "999")]
    assert dataset_matches(parse_qido("all-studies", args).filters, ds)


def test_filter_objects_are_plain_values():
    k = key("PatientName", "DOE*")
    assert (k.path, k.vr, k.kind, k.raw, k.level) == ((0x00100010,), "PN", "wildcard", "DOE*", "study")
    assert k.tag == 0x00100010
