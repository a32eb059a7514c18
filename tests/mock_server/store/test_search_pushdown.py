"""The SQL narrowing of searches (store/search_keys.py) never loses a match.

Each search through the store (UID, Patient's Name and Study Date keys narrowed
through indexes) must return exactly the rows the matcher (PS3.4 C.2.2.2)
accepts when it is run over every row of the level without any narrowing.
"""

from __future__ import annotations

import shutil
from typing import Any

import pydicom
import pytest

from dicomweb_mock.dicomweb.matching import dataset_matches
from dicomweb_mock.dicomweb.qido_query import parse_qido
from dicomweb_mock.store.base import SearchScope
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.store.search_keys import date_key, name_keys, pushdown


@pytest.fixture(scope="module")
def store(fixture_store_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("pushdown") / "store"
    shutil.copytree(fixture_store_dir, root)
    s = DiskStore(root)
    yield s
    s.close()


def _uids(matches: list[dict[str, Any]], tag: str) -> list[str]:
    return [m[tag]["Value"][0] for m in matches]


NAME_KEYS = ["doe*", "DOE*", "Doe^J*", "doe^john", "DOE^JOHN^", "do?^*", "*doe*", "d*e", "yamada*", "山田*",
             "山田^太郎", "やまだ^たろう", "Yamada^Tarou=山田*", "=山田^太郎", "wang^xiao*", "王*", "x*", "VIX^*",
             "vix^visible^human", "  doe*", "doe^^*", "d", "*", "?*", "sato^hanako", "SATO^HANAKO^^",
             "*OE*", "*oe^j*", "*OE^^*", "*HN", "?OE^JOHN", "*ible^hu*", "*山田^*", "*まだ^た*", "*xiao*",
             "*isible*uman*", "*doe^jane^^^", "*z*", "**sato**", "*hanako^*", "*Human^*"]
DATE_KEYS = ["20190315", "20200101-20201231", "-20180101", "20200612-", "20160101-20181231", "20171104-20171104",
             "19000101-19991231"]


@pytest.mark.parametrize("level,resource,tag", [("study", "all-studies", "0020000D"),
                                                ("series", "all-series", "0020000E"),
                                                ("instance", "all-instances", "00080018")])
@pytest.mark.parametrize("case_sensitive", [False, True])
@pytest.mark.parametrize("fuzzy", [False, True])
def test_name_keys_select_what_the_matcher_accepts(store, level, resource, tag, case_sensitive, fuzzy):
    everything = store.search(SearchScope(level), [], limit=None, offset=0).matches
    for key in NAME_KEYS:
        query = parse_qido(resource, [("PatientName", key)])
        found = store.search(SearchScope(level), query.filters, limit=None, offset=0,
                             case_sensitive_pn=case_sensitive, fuzzy=fuzzy).matches
        expected = [m for m in everything
                    if dataset_matches(query.filters, m, case_sensitive_pn=case_sensitive, fuzzy=fuzzy)]
        assert _uids(found, tag) == _uids(expected, tag), key


@pytest.mark.parametrize("extra", [[], [("StudyTime", "000000-235959")], [("StudyTime", "-1200")]])
def test_date_keys_select_what_the_matcher_accepts(store, extra):
    everything = store.search(SearchScope("study"), [], limit=None, offset=0).matches
    for key in DATE_KEYS:
        args = [("StudyDate", key)] + extra  # combined into one DT key when the range forms agree
        query = parse_qido("all-studies", args)
        found = store.search(SearchScope("study"), query.filters, limit=None, offset=0).matches
        expected = [m for m in everything if dataset_matches(query.filters, m)]
        assert _uids(found, "0020000D") == _uids(expected, "0020000D"), args


def test_known_answers_come_through_the_index(store, manifest):
    """Two fixed facts of the manifest, so the equality above is not vacuous."""
    doe = store.search(SearchScope("study"), parse_qido("all-studies", [("PatientName", "doe*")]).filters,
                       limit=None, offset=0).matches
    expected = {s["StudyInstanceUID"] for s in manifest["studies"] if s["PatientID"].startswith("DOE-")}
    assert set(_uids(doe, "0020000D")) == expected and expected
    year = store.search(SearchScope("study"),
                        parse_qido("all-studies", [("StudyDate", "20200101-20201231")]).filters,
                        limit=None, offset=0).matches
    assert set(_uids(year, "0020000D")) == {s["StudyInstanceUID"] for s in manifest["studies"]
                                            if s["StudyDate"].startswith("2020")}


def test_keys_of_stored_values():
    element = {"vr": "PN", "Value": [{"Alphabetic": "Yamada^Tarou^^", "Ideographic": "山田^太郎",
                                      "Phonetic": " やまだ^たろう "}, "Doe^John=ドウ"]}
    assert name_keys(element) == sorted({"yamada^tarou", "山田^太郎", "やまだ^たろう", "doe^john", "ドウ"})
    assert name_keys({"vr": "PN"}) == [] and name_keys(None) == []
    assert date_key({"vr": "DA", "Value": ["20200102"]}) == "20200102"
    # The ACR-NEMA form (PS3.5 6.2 DA note) is a date to the matcher too, so it is keyed like one.
    assert date_key({"vr": "DA", "Value": ["2020.01.02"]}) == "20200102"
    assert date_key({"vr": "DA", "Value": ["20200102", "20200103"]}) == ""  # multi-valued: always a candidate
    assert date_key({"vr": "DA", "Value": ["bad"]}) == "" and date_key({"vr": "DA"}) == ""


def test_only_narrowable_keys_are_pushed_down():
    def filt(key: str, value: str):
        return parse_qido("all-studies", [(key, value)]).filters[0]
    assert pushdown(filt("PatientName", "*do"), fuzzy=False) is None  # no prefix, no run of 3
    assert pushdown(filt("PatientName", "*doe^*"), fuzzy=False)[1] == ["doe"]  # a contains-search: 3-grams
    grams = pushdown(filt("PatientName", "*visible^hu*"), fuzzy=False)[1]
    assert len(grams) == 4 and grams[0] == "vis" and grams[-1] == "^hu"  # a few, spread over the run
    assert all(g in "visible^hu" and len(g) == 3 for g in grams)
    assert pushdown(filt("PatientName", "doe*"), fuzzy=True) is None  # fuzzy matches inside components
    assert pushdown(filt("PatientName", "doe*=山田*"), fuzzy=False) is None  # group by group
    assert pushdown(filt("PatientName", "doe*"), fuzzy=False)[1][0] == "doe"
    assert pushdown(filt("PatientName", "DOE^^*"), fuzzy=False)[1][0] == "doe"
    assert pushdown(filt("StudyDate", "20200101-"), fuzzy=False)[1] == ["20200101", "99999999"]
    assert pushdown(filt("StudyDescription", "x*"), fuzzy=False) is None


def test_date_pushdown_in_a_query_time_zone_is_widened():
    """A stored date may differ from the key's by up to two days between two time zones (-12:00..+14:00)."""
    query = parse_qido("all-studies", [("StudyDate", "20200101-20200101"), ("StudyTime", "000000-010000"),
                                       ("TimezoneOffsetFromUTC", "+1400")])
    assert pushdown(query.filters[0], fuzzy=False)[1] == ["20191230", "20200103"]
    plain = parse_qido("all-studies", [("StudyDate", "20200101-20200101"), ("StudyTime", "000000-010000")])
    assert pushdown(plain.filters[0], fuzzy=False)[1] == ["20200101", "20200101"]


def test_a_study_in_another_time_zone_is_found_through_the_index(tmp_path, files):
    """03:00 on 1 January 2020 at +0900 is 18:00 UTC on 31 December 2019: a UTC key of that day finds it."""
    ds = pydicom.dcmread(files["vix-sc-rgb-001.dcm"])
    ds.StudyDate, ds.StudyTime, ds.TimezoneOffsetFromUTC = "20200101", "030000", "+0900"
    path = tmp_path / "tz.dcm"
    ds.save_as(path, enforce_file_format=True)
    s = DiskStore(tmp_path / "store")
    try:
        s.add(path)
        query = parse_qido("all-studies", [("StudyDate", "20191231-20191231"), ("StudyTime", "170000-190000"),
                                           ("TimezoneOffsetFromUTC", "+0000")])
        found = s.search(SearchScope("study"), query.filters, limit=None, offset=0).matches
        assert _uids(found, "0020000D") == [ds.StudyInstanceUID]
    finally:
        s.close()
