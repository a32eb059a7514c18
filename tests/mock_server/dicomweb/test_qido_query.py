"""QIDO-RS query parameters (PS3.18 2019a 8.3.4, 10.6.1) and attribute tables (10.6.1, 10.6.3.3)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from dicomweb_mock.dicomweb.matching import dataset_matches
from dicomweb_mock.dicomweb import qido_attributes as qa
from dicomweb_mock.dicomweb.qido_query import QidoQueryError, parse_qido

STUDIES, SERIES, INSTANCES = "all-studies", "all-series", "all-instances"
STUDY_SERIES, STUDY_INSTANCES, SERIES_INSTANCES = "study-series", "study-instances", "study-series-instances"


def parse(resource: str, query: str):
    """Parse ``a=b&c=d`` (already decoded) like the HTTP layer hands it over."""
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")] if query else []
    return parse_qido(resource, pairs)


def error(resource: str, query: str) -> str:
    with pytest.raises(QidoQueryError) as info:
        parse(resource, query)
    assert info.value.status == 400 and "\n" not in info.value.reason
    return info.value.reason


# ---------------------------------------------------------------- the standard's own examples (10.6.1.2.1)

@pytest.mark.parametrize("query", [
    "PatientID=11235813",
    "PatientID=11235813&StudyDate=20130509",
    "00100010=SMITH*&00101002.00100020=11235813&limit=25",
    "00100010=SMITH*&OtherPatientIDsSequence.00100020=11235813",
    "PatientID=11235813&includefield=00081048,00081049,00081060",
    "PatientID=11235813&includefield=00081048&includefield=00081049&includefield=00081060",
    "PatientID=11235813&StudyDate=20130509-20130510",
    "StudyInstanceUID=1.2.392.200036.9116.2.2.2.2162893313.1029997326.94587,"
    "1.2.392.200036.9116.2.2.2.2162893313.1029997326.94583",
    "00230010=AcmeCompany&includefield=00231002&includefield=00231003",
    "00230010=AcmeCompany&00231001=001239&includefield=00231002&includefield=00231003",
])
def test_examples_of_valid_search_uris_parse(query):
    q = parse(STUDIES, query)
    assert q.resource == STUDIES and q.level == "study"


def test_example_queries_give_the_expected_keys():
    q = parse(STUDIES, "00100010=SMITH*&00101002.00100020=11235813&limit=25")
    assert [(f.path, f.kind) for f in q.filters] == [((0x00100010,), "wildcard"), ((0x00101002,), "sequence")]
    child = q.filters[1].children[0]
    assert (child.path, child.vr, child.kind, child.values) == ((0x00101002, 0x00100020), "LO", "single",
                                                                  ("11235813",))
    assert q.limit == 25 and q.offset == 0
    q = parse(STUDIES, "PatientID=11235813&includefield=00081048&includefield=00081049,00081060")
    assert q.includefields == {0x00081048, 0x00081049, 0x00081060}
    q = parse(STUDIES, "StudyInstanceUID=1.2.3,1.2.4")
    assert q.filters[0].kind == "uid_list" and q.filters[0].values == ("1.2.3", "1.2.4")
    q = parse(STUDIES, "00230010=AcmeCompany&00231001=001239&includefield=00231002")
    assert q.private_creators == {0x00230010: "AcmeCompany"}
    assert [(f.path, f.vr, f.creators) for f in q.filters] == [((0x00231001,), "UN", ("AcmeCompany",))]
    assert q.includefields == {0x00231002}


def test_defaults():
    q = parse(STUDIES, "")
    assert (q.filters, q.includefields, q.limit, q.offset, q.fuzzy) == ([], set(), None, 0, False)


# ---------------------------------------------------------------- attribute names (8.3.4.1)

@pytest.mark.parametrize("name", ["PatientID", "00100020"])
def test_keyword_and_tag_name_the_same_attribute(name):
    assert parse(STUDIES, f"{name}=X").filters[0].path == (0x00100020,)


@pytest.mark.parametrize("name", ["0020000d", "0020000D", "StudyInstanceUID"])
def test_tags_are_case_insensitive_hex(name):
    assert parse(STUDIES, f"{name}=1.2.3").filters[0].path == (0x0020000D,)


@pytest.mark.parametrize("name", ["OtherPatientIDsSequence.PatientID", "00101002.00100020",
                                  "OtherPatientIDsSequence.00100020", "00101002.PatientID"])
def test_dotted_sequence_paths(name):
    f = parse(STUDIES, f"{name}=X").filters[0]
    assert f.kind == "sequence" and f.children[0].path == (0x00101002, 0x00100020)


@pytest.mark.parametrize("name", ["foo", "patientname",              # keywords are case-sensitive
                                  "PatientNam", "OtherPatientIDsSequence.Bogus",
                                  "0010001",                        # 7 hex digits
                                  "PatientName."])
def test_unsupported_parameter_names_are_ignored_with_a_reason(name):
    """PS3.18 8.3: "The origin server shall ignore any unsupported Query Parameters"."""
    query = parse(STUDIES, f"{name}=1&PatientID=X")
    assert [f.path for f in query.filters] == [(0x00100020,)]
    assert len(query.ignored) == 1 and repr(name) in query.ignored[0] and "\n" not in query.ignored[0]


@pytest.mark.parametrize("name", ["00020010", "00100000", "FFFEE000", "00000900", "00030010"])
def test_tags_that_are_no_data_set_attribute_are_rejected(name):
    assert name in error(STUDIES, f"{name}=1")


def test_path_through_a_non_sequence_is_rejected():
    assert "not a sequence" in error(STUDIES, "PatientName.PatientID=1")


@pytest.mark.parametrize("query", ["PatientName=A&PatientName=B", "PatientName=A&00100010=B",
                                   "00100010=A&00100010=A", "StudyDate=20130101&StudyDate=20130102"])
def test_an_attribute_appears_at_most_once(query):
    # 8.3.4.1 requirement 2: "Each attribute in the Query Parameter shall be not be repeated."
    assert "more than once" in error(STUDIES, query)


# ---------------------------------------------------------------- includefield (8.3.4.3)

def test_includefield_all():
    assert parse(STUDIES, "includefield=all").includefields == "all"
    assert parse(STUDIES, "includefield=ALL&PatientID=1").includefields == "all"


@pytest.mark.parametrize("query", ["includefield=all&includefield=PatientID", "includefield=PatientID,all",
                                   "includefield=all,StudyDate"])
def test_includefield_all_excludes_other_includefields(query):
    assert "all" in error(STUDIES, query)


def test_includefield_keywords_tags_and_paths():
    q = parse(INSTANCES, "includefield=PatientAge,00280010&includefield=RequestAttributesSequence.RequestedProcedureID")
    assert q.includefields == {0x00101010, 0x00280010, 0x00400275}


@pytest.mark.parametrize("query", ["includefield=", "includefield=PatientID,", "includefield=NoSuchKeyword",
                                   "includefield=00231002", "includefield=00020010"])
def test_invalid_includefield(query):
    assert error(STUDIES, query)


def test_private_includefield_needs_its_creator():
    assert "Private Creator" in error(STUDIES, "includefield=00231002")
    assert parse(STUDIES, "includefield=00231002&00230010=AcmeCompany").includefields == {0x00231002}


# ---------------------------------------------------------------- limit, offset, fuzzymatching (8.3.4.2, 8.3.4.4)

def test_limit_and_offset():
    q = parse(STUDIES, "limit=10&offset=20")
    assert (q.limit, q.offset) == (10, 20)
    assert parse(STUDIES, "limit=0").limit == 0


@pytest.mark.parametrize("query", ["limit=-1", "limit=abc", "limit=1.5", "limit=", "offset=-3", "offset=x",
                                   "offset=+1", "limit=1&limit=2", "offset=1&offset=1", "limit= 5"])
def test_invalid_limit_and_offset(query):
    assert query.split("=")[0] in error(STUDIES, query)


@pytest.mark.parametrize("value, expected", [("true", True), ("false", False), ("TRUE", True)])
def test_fuzzymatching(value, expected):
    assert parse(STUDIES, f"fuzzymatching={value}").fuzzy is expected


@pytest.mark.parametrize("query", ["fuzzymatching=yes", "fuzzymatching=", "fuzzymatching=1",
                                   "fuzzymatching=true&fuzzymatching=false"])
def test_invalid_fuzzymatching(query):
    assert "fuzzymatching" in error(STUDIES, query)


# ---------------------------------------------------------------- keys allowed per resource (10.6.1.2.1)

@pytest.mark.parametrize("resource, name, value, allowed", [
    (STUDIES, "StudyDate", "20130509", True),
    (STUDY_SERIES, "StudyDate", "20130509", False),      # Study IE only for all studies/series/instances
    (STUDY_INSTANCES, "AccessionNumber", "A", False),
    (SERIES_INSTANCES, "StudyID", "1", False),
    (SERIES, "StudyDate", "20130509", True),
    (INSTANCES, "StudyDate", "20130509", True),
    (STUDIES, "Modality", "CT", False),                   # Series IE not on all studies
    (STUDY_SERIES, "Modality", "CT", True),
    (SERIES, "Modality", "CT", True),
    (STUDY_INSTANCES, "Modality", "CT", True),
    (SERIES_INSTANCES, "Modality", "CT", False),
    (INSTANCES, "SeriesNumber", "1", True),
    (STUDIES, "SOPInstanceUID", "1.2.3", False),          # Instance IE only on instance resources
    (SERIES, "SOPInstanceUID", "1.2.3", False),
    (STUDY_SERIES, "InstanceNumber", "1", False),
    (STUDY_INSTANCES, "SOPClassUID", "1.2.3", True),
    (SERIES_INSTANCES, "InstanceNumber", "1", True),
    (INSTANCES, "InstanceNumber", "1", True),
    (STUDY_SERIES, "PatientID", "X", True),                # Patient IE attributes: no restriction
    (SERIES_INSTANCES, "PatientName", "X*", True),
    (STUDY_SERIES, "ModalitiesInStudy", "CT", True),       # Additional Query/Retrieve Attributes
    (SERIES_INSTANCES, "TimezoneOffsetFromUTC", "+0100", True),
    (STUDY_SERIES, "RequestAttributesSequence.RequestedProcedureID", "RP1", True),
    (STUDIES, "RequestAttributesSequence.RequestedProcedureID", "RP1", False),
])
def test_attribute_levels_allowed_per_resource(resource, name, value, allowed):
    if allowed:
        parse(resource, f"{name}={value}")
    else:
        assert name in error(resource, f"{name}={value}")


@pytest.mark.parametrize("level", ["study", "series", "instance"])
def test_required_matching_attributes_are_accepted(level):
    # Table 10.6.1-5, on the resource that queries every level (All Instances).
    for path in qa.REQUIRED_MATCHING[level]:
        name = ".".join(f"{t:08X}" for t in path)
        f = parse(INSTANCES, f"{name}=").filters[0]
        assert f.level == level


# ---------------------------------------------------------------- values per VR (8.3.4.1 #3, #5; PS3.4 C.2.2.2)

@pytest.mark.parametrize("query", [
    "StudyDate=2013-05-09",          # ISO form is no DA
    "StudyDate=20131340",            # month 13
    "StudyDate=20130230",            # no 30 February
    "StudyDate=2013-",               # partial date in a range
    "StudyDate=-",                   # both ends open
    "StudyDate=20131231-20130101",   # start after end
    "StudyDate=2013*",               # no wild cards on DA
    "StudyDate=20130101\\20130102",  # single value only
    "StudyDate=201305",
    "StudyTime=25",
    "StudyTime=1060",
    "StudyTime=10:15",
    "StudyTime=1800-1000",           # range matching crossing midnight is not supported
    "StudyTime=101530.1234567",
    "AcquisitionDateTime=2013130",
    "AcquisitionDateTime=20130101+2500",
    "AcquisitionDateTime=2014-2013",
    "StudyInstanceUID=1.2.abc",      # UID with letters
    "StudyInstanceUID=1.2.*",
    "StudyInstanceUID=1..2",
    "StudyInstanceUID=1.2.3,",
    "StudyInstanceUID=" + "1." * 32 + "1",   # more than 64 characters
    "NumberOfStudyRelatedSeries=x",  # IS
    "NumberOfStudyRelatedSeries=1.5",
    "NumberOfStudyRelatedSeries=1*",
    "PatientWeight=heavy",           # DS
    "PatientAge=45",                 # AS
    "PatientID=A\\B",                # multiple values
    "ModalitiesInStudy=CT\\MR",
    "PatientName=A=B=C=D",           # at most three component groups
    "OtherPatientIDsSequence=X",     # a sequence takes no value
    "TimezoneOffsetFromUTC=0500",
])
def test_invalid_values_are_rejected(query):
    reason = error(STUDIES if "Acquisition" not in query else INSTANCES, query)
    assert query.split("=")[0].split(".")[0] in reason


@pytest.mark.parametrize("resource, query", [
    (INSTANCES, "Rows=65536"), (INSTANCES, "Rows=-1"), (INSTANCES, "Rows=1?"),
    (INSTANCES, "PixelData=abc"), (INSTANCES, "00291008=X"),
])
def test_invalid_values_on_instance_keys(resource, query):
    assert error(resource, query)


@pytest.mark.parametrize("query, kind", [
    ("PatientName=", "universal"),
    ("PatientName=*", "universal"),
    ("PatientName=DOE^JOHN", "single"),
    ("PatientName=DOE^*", "wildcard"),
    ("PatientName=D?E", "wildcard"),
    ("ModalitiesInStudy=C*", "wildcard"),        # wild card matching is defined for CS
    ("StudyDate=20130509", "single"),
    ("StudyDate=20130509-", "range"),
    ("StudyDate=-20130509", "range"),
    ("StudyInstanceUID=1.2.3", "single"),
    ("StudyInstanceUID=1.2.3\\1.2.4", "uid_list"),
    ("OtherPatientIDsSequence=", "universal"),
    ("StudyDescription=100% sure, a,b", "single"),   # commas in text values are literal
])
def test_matching_type_of_values(query, kind):
    name, value = query.split("=", 1)
    assert parse_qido(STUDIES, [(name, value)]).filters[0].kind == kind


def test_ranges_keep_their_ends():
    f = parse(STUDIES, "StudyDate=20130101-20131231").filters[0]
    assert (f.kind, f.low, f.high) == ("range", "20130101", "20131231")
    f = parse(INSTANCES, "AcquisitionDateTime=20130101120000-0500-").filters[0]
    assert (f.low, f.high) == ("20130101120000-0500", None)


def test_combined_date_time_only_for_the_same_range_form():
    q = parse(STUDIES, "StudyDate=20060705-20060707&StudyTime=1000-1800")
    assert len(q.filters) == 1
    f = q.filters[0]
    assert (f.path, f.time_tag, f.vr, f.low, f.time_high) == ((0x00080020,), 0x00080030, "DT", "20060705", "1800")
    assert q.matched_tags() == {0x00080020, 0x00080030}
    q = parse(STUDIES, "StudyDate=20060705-20060707&StudyTime=1000-")
    assert [f.vr for f in q.filters] == ["DA", "TM"] and all(f.time_tag is None for f in q.filters)
    q = parse(STUDIES, "StudyDate=20060705&StudyTime=1000-1800")
    assert len(q.filters) == 2


def test_timezone_offset_from_utc_is_a_query_setting():
    # 8.3.4.1.1: dates and times in the request are interpreted in the given time zone.
    q = parse(INSTANCES, "TimezoneOffsetFromUTC=-0500&AcquisitionDateTime=2013-")
    assert q.timezone_offset == -300
    assert [f.tz_offset for f in q.filters] == [-300]


def test_specific_character_set_is_never_matched():
    assert parse(STUDIES, "SpecificCharacterSet=ISO_IR 100").filters == []


# ---------------------------------------------------------------- private data elements (8.3.4.1 #4)

def test_private_element_needs_its_creator():
    assert "(0023,0010)" in error(STUDIES, "00231001=001239")
    assert "(0023,0011)" in error(STUDIES, "00230010=AcmeCompany&00231101=1")


@pytest.mark.parametrize("query", ["00230010=", "00230010=Acme*", "00230010=A&00230010=B"])
def test_invalid_private_creator(query):
    assert "00230010" in error(STUDIES, query)


@pytest.mark.parametrize("name", ["00230100", "00230001", "00230FFF"])
def test_invalid_private_tags(name):
    assert name in error(STUDIES, f"00230010=Acme&{name}=1")


def test_private_vr_from_known_creator():
    f = parse(INSTANCES, "00290010=SIEMENS CSA HEADER&00291008=IMAGE NUM 4").filters[0]
    assert (f.vr, f.kind, f.creators) == ("CS", "single", ("SIEMENS CSA HEADER",))


def test_private_element_inside_a_sequence():
    q = parse(STUDIES, "OtherPatientIDsSequence.00230010=Acme&OtherPatientIDsSequence.00231001=7")
    seq = q.filters[0]
    assert seq.kind == "sequence" and seq.children[0].creators == (None, "Acme")
    assert q.private_creators == {}
    assert "Private Creator" in error(STUDIES, "00230010=Acme&OtherPatientIDsSequence.00231001=7")


# ---------------------------------------------------------------- attribute tables

def test_levels_of_attributes():
    assert qa.level_of(0x00100010) == "patient" and qa.qido_level_of(0x00100010) == "study"
    assert qa.qido_level_of(0x00080020) == "study"        # StudyDate
    assert qa.qido_level_of(0x00080060) == "series"       # Modality
    assert qa.qido_level_of(0x00400275) == "series"       # RequestAttributesSequence
    assert qa.qido_level_of(0x00080018) == "instance"     # SOPInstanceUID
    assert qa.qido_level_of(0x00280010) == "instance"     # Rows
    assert qa.qido_level_of(0x00191001) == "instance"     # private: other attributes are instance level
    assert qa.level_of(0x00020010) is None and qa.level_of(0x00100000) is None


def test_resources_and_their_query_levels():
    # Table 10.6.1-4
    expected = {STUDIES: {"study"}, STUDY_SERIES: {"series"}, STUDY_INSTANCES: {"series", "instance"},
                SERIES: {"study", "series"}, SERIES_INSTANCES: {"instance"},
                INSTANCES: {"study", "series", "instance"}}
    assert {name: set(info.query_levels) for name, info in qa.RESOURCES.items()} == expected
    assert qa.resource_for("instance", study_uid=True, series_uid=True) == SERIES_INSTANCES
    assert qa.resource_for("series") == SERIES
    with pytest.raises(ValueError):
        qa.resource_for("study", study_uid=True)
    with pytest.raises(ValueError):
        parse_qido("patients", [])


STUDY_TABLE = {0x00080020, 0x00080030, 0x00080050, 0x00080056, 0x00080061, 0x00080090, 0x00080201, 0x00081190,
               0x00100010, 0x00100020, 0x00100030, 0x00100040, 0x0020000D, 0x00200010, 0x00201206, 0x00201208}
SERIES_TABLE = {0x00080060, 0x00080201, 0x0008103E, 0x00081190, 0x0020000E, 0x00200011, 0x00201209, 0x00400244,
                0x00400245, 0x00400275}
INSTANCE_TABLE = {0x00080016, 0x00080018, 0x00080056, 0x00080201, 0x00081190, 0x00200013, 0x00280010,
                  0x00280011, 0x00280100, 0x00280008}


@pytest.mark.parametrize("resource, expected", [
    (STUDIES, STUDY_TABLE),                                          # table 10.6.3-3
    (STUDY_SERIES, SERIES_TABLE),                                    # table 10.6.3-4
    (SERIES, SERIES_TABLE | STUDY_TABLE),                            # "If the Target Resource is All Series"
    (SERIES_INSTANCES, INSTANCE_TABLE),                              # table 10.6.3-5
    (STUDY_INSTANCES, INSTANCE_TABLE | SERIES_TABLE),
    (INSTANCES, INSTANCE_TABLE | SERIES_TABLE | STUDY_TABLE),
])
def test_default_return_tags(resource, expected):
    tags = qa.default_return_tags(resource)
    assert set(tags) == expected and tags == sorted(tags)


def test_includable_levels():
    # 10.6.3.3.1: series/instance includefields are not returned for studies, etc.
    assert qa.includable_levels(STUDIES) == {"study"}
    assert qa.includable_levels(STUDY_SERIES) == {"study", "series"}
    assert qa.includable_levels(INSTANCES) == {"study", "series", "instance"}


# ---------------------------------------------------------------- robustness

_NAMES = st.sampled_from(["PatientName", "StudyDate", "StudyTime", "StudyInstanceUID", "00230010", "00231001",
                          "OtherPatientIDsSequence.PatientID", "includefield", "limit", "offset",
                          "fuzzymatching", "AcquisitionDateTime", "Rows", "ModalitiesInStudy",
                          "TimezoneOffsetFromUTC"]) | st.text(max_size=12)
_VALUES = st.sampled_from(["", "*", "-", "1.2.3", "20130101-", "-0500", "10-", "A*?", "all", "+0100",
                           "20130101-0500-", "=", "\\"]) | st.text(max_size=12)
_DATASET = {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "DOE^JOHN"}]},
            "00080020": {"vr": "DA", "Value": ["20130101"]}, "00080030": {"vr": "TM", "Value": ["1015"]},
            "0008002A": {"vr": "DT", "Value": ["20130101101500-0500"]},
            "0020000D": {"vr": "UI", "Value": ["1.2.3"]}, "00280010": {"vr": "US", "Value": [512]},
            "00101002": {"vr": "SQ", "Value": [{"00100020": {"vr": "LO", "Value": ["X"]}}]},
            "00230010": {"vr": "LO", "Value": ["A"]}, "00231001": {"vr": "UN", "InlineBinary": "QQ=="}}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_NAMES, _VALUES), max_size=4))
def test_any_query_parses_or_raises_query_error(args):
    """Bad input raises QidoQueryError only; what parses can be matched without error."""
    try:
        q = parse_qido(INSTANCES, args)
    except QidoQueryError as exc:
        assert exc.reason
        return
    assert isinstance(dataset_matches(q.filters, _DATASET), bool)
    assert isinstance(dataset_matches(q.filters, _DATASET, fuzzy=True, match_empty=True), bool)
