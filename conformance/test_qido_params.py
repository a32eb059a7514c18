"""QIDO-RS search parameters other than matching (PS3.18-2019a 8.3, 8.3.4.2-8.3.4.4, 10.6.3.3).

* ``includefield``: list and repeated forms, ``all``, attributes of other levels;
  matching keys are returned;
* ``fuzzymatching``: literal matching with the 299 warning, or fuzzy matching;
* ``limit`` / ``offset``: page sizes, reassembly of the whole ordered list,
  the 299 warning on remaining results, invalid values;
* invalid values of matching keys and unknown attribute keywords.

Expected values come from the manifest through ``truth``.
"""

from __future__ import annotations

from typing import Any

import pytest

from dicomweb_conformance.checks.qido import (JSON, LEVEL_KEY, expect_no_match, keys_of, remaining_warning, results_of, scope,
                                     scoped, search, tag, tm_seconds, value, values, warning_texts)
from dicomweb_conformance.preconditions import blocked, owned_datasets


def _vix_ct_study(truth: Any) -> str:
    return truth.series_by_key("vix-ct-axial")["StudyInstanceUID"]


def _scope_pairs(truth: Any) -> list[tuple[str, Any]]:
    return list(scope(truth).items())


# -- includefield (8.3.4.3, 10.6.3.3) -------------------------------------------------------------------------------
def _include_target(truth: Any, level: str) -> tuple[str, list[tuple[str, Any]], dict[str, dict]]:
    """(resource path, scoping parameters, manifest entries by unique key with their parents' fields)."""
    if level == "study":
        entries = {s["StudyInstanceUID"]: {**truth.patient(s["PatientID"]), **s} for s in truth.studies}
        return "studies", _scope_pairs(truth), entries
    if level == "series":
        return "series", _scope_pairs(truth), {s["SeriesInstanceUID"]: s for s in truth.series}
    series = truth.series_by_key("doe-mr-t2")
    entries = {i["SOPInstanceUID"]: {**truth.study(i["StudyInstanceUID"]), **series, **i}
               for i in truth.instances_in_series(series["SeriesInstanceUID"])}
    return f"studies/{series['StudyInstanceUID']}/series/{series['SeriesInstanceUID']}/instances", [], entries


#: Attributes held by the stored instances that are not default return attributes of the level.
INCLUDE = {"study": ["StudyDescription", "NumberOfPatientRelatedStudies"],
           "series": ["SeriesDate", "SeriesTime"],
           "instance": ["PhotometricInterpretation", "SamplesPerPixel", "StudyDescription", "SeriesDate"]}


@pytest.mark.requirement("QIDO-043", "QIDO-033")
@pytest.mark.parametrize("level", list(INCLUDE))
def test_includefield_list_repeated_and_tag_forms_are_equivalent(client, truth, expect, level):
    """8.3.4.3: includefield=A,B, includefield=A&includefield=B and the tag form (8.3.1) ask for the same
    attributes."""
    path, base, _ = _include_target(truth, level)
    names = INCLUDE[level]
    _, listed = search(client, path, base + [("includefield", names)], req="QIDO-043", expect_matches=True)
    expected = {value(ds, LEVEL_KEY[level]): sorted(ds) for ds in listed}
    forms = {"repeated": ("QIDO-043", base + [("includefield", n) for n in names]),
             "tag": ("QIDO-033", base + [("includefield", [tag(n) for n in names])])}
    for form, (req, params) in forms.items():
        response, results = search(client, path, params, req=req, expect_matches=True)
        got = {value(ds, LEVEL_KEY[level]): sorted(ds) for ds in results}
        expect.equal(sorted(got), sorted(expected), req=req, what=f"results of the {form} form", response=response)
        for uid, tags in expected.items():
            expect.equal(got[uid], tags, req=req, what=f"attributes returned for {uid}: {form} form vs "
                         "the comma-separated keyword form", response=response)


def _check_included(expect: Any, result: dict, entry: dict, name: str, *, req: str, response: Any,
                    optional: bool = False) -> None:
    """``name`` is in ``result`` with the manifest's value (TM compared by meaning).  ``optional``: an
    attribute the origin server need not support, so its absence is conformant (10.6.3.3)."""
    want = entry[name]
    key = tag(name)
    uid = next((value(result, k) for k in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID")
                if value(result, k)), "?")
    if optional and key not in result:
        return
    expect.that(key in result, req=req, what=f"{name} ({key}) in the result {uid}",
                expected=f"present: {want!r}", actual="absent", response=response)
    got = value(result, name)
    if name.endswith("Time"):
        same = got is not None and tm_seconds(str(got)) == tm_seconds(str(want))
    else:
        same = got is not None and str(got) == str(want)
    expect.that(same, req=req, what=f"{name} returned for includefield", expected=want, actual=got,
                response=response)


@pytest.mark.requirement("QIDO-044")
@pytest.mark.parametrize("level", list(INCLUDE))
def test_includefield_returns_the_named_attributes(client, truth, expect, level):
    """10.6.3.3: attributes named in includefield are returned, when the origin server supports them (2019a
    returns only supported optional attributes; an unsupported one is absent), with the stored values; on an
    instance resource also Study- and Series-level ones (10.6.3.3.3)."""
    path, base, entries = _include_target(truth, level)
    response, results = search(client, path, base + [("includefield", INCLUDE[level])], req="QIDO-044",
                               expect_matches=True)
    found = {value(ds, LEVEL_KEY[level]): ds for ds in results}
    expect.same_set([k for k in found if k in entries], entries, req="QIDO-044", what="results",
                    response=response)
    for uid, entry in entries.items():
        for name in INCLUDE[level]:
            _check_included(expect, found[uid], entry, name, req="QIDO-044", response=response, optional=True)


#: Hierarchical resources (no parent-level attributes by default) and required attributes of the levels
#: above them, which every origin server supports (table 10.6.1-5).
SUPPORTED_INCLUDES = {
    "study-series": (lambda t: f"studies/{t.series_by_key('doe-mr-t2')['StudyInstanceUID']}/series", "series",
                     ["StudyDate", "AccessionNumber", "PatientID"]),
    "series-instances": (lambda t: "studies/{StudyInstanceUID}/series/{SeriesInstanceUID}/instances".format(
        **t.series_by_key("jane-us-cine")), "instance", ["StudyDate", "AccessionNumber", "Modality", "SeriesNumber"]),
}


@pytest.mark.requirement("QIDO-017")
@pytest.mark.parametrize("resource", list(SUPPORTED_INCLUDES))
def test_includefield_returns_supported_higher_level_attributes(client, truth, expect, resource):
    """10.6.3.3.2/3: Study (and Series) attributes named in includefield on a series or instance resource are
    returned when supported -- as these required matching attributes are -- with their stored values."""
    path_of, level, names = SUPPORTED_INCLUDES[resource]
    response, results = search(client, path_of(truth), {"includefield": names}, req="QIDO-017",
                               expect_matches=True)
    expect.that(results, req="QIDO-017", what="results", expected="at least one", actual="none", response=response)
    for ds in results:
        uid = str(value(ds, LEVEL_KEY[level]))
        expect.that(truth.is_ours(uid), req="QIDO-017", what=f"{LEVEL_KEY[level]} of a result", expected="one "
                    "of the searched resource's", actual=uid, response=response)
        entry = {"series": lambda u: truth.series_by_uid(u), "instance": lambda u: truth.instance(u)}[level](uid)
        merged = {**truth.study(entry["StudyInstanceUID"]), **truth.series_by_uid(entry["SeriesInstanceUID"])}
        for name in names:
            _check_included(expect, ds, merged, name, req="QIDO-017", response=response)


ALL_LEVEL_ATTRS = {"study": ["StudyDescription"],
                   "series": ["SeriesDescription", "SeriesDate", "SeriesTime"],
                   "instance": ["PhotometricInterpretation", "SamplesPerPixel", "BitsStored", "HighBit",
                                "PixelRepresentation"]}


@pytest.mark.requirement("QIDO-018")
@pytest.mark.parametrize("level", list(ALL_LEVEL_ATTRS))
def test_includefield_all_returns_the_levels_stored_attributes(client, truth, expect, level):
    """8.3.4.3 / 10.6.3.3: includefield=all returns all available attributes of the level."""
    path, base, entries = _include_target(truth, level)
    response, results = search(client, path, base + [("includefield", "all")], req="QIDO-018", expect_matches=True)
    found = {value(ds, LEVEL_KEY[level]): ds for ds in results}
    expect.same_set([k for k in found if k in entries], entries, req="QIDO-018", what="results", response=response)
    for uid, entry in entries.items():
        for name in ALL_LEVEL_ATTRS[level]:
            _check_included(expect, found[uid], entry, name, req="QIDO-018", response=response)


LOWER_LEVEL = {"study": ("studies", ["SeriesDescription", "SeriesDate", "Rows", "PhotometricInterpretation"],
                         "QIDO-023"),
               "series": ("series", ["Rows", "Columns", "PhotometricInterpretation", "InstanceCreationDate"],
                          "QIDO-024")}


@pytest.mark.requirement("QIDO-023", "QIDO-024")
@pytest.mark.parametrize("level", list(LOWER_LEVEL))
def test_includefield_of_a_lower_level_is_not_returned(client, truth, expect, level):
    """10.6.3.3.1/2: Series/Instance attributes in includefield are not returned in study results,
    Instance attributes not in series results."""
    path, names, req = LOWER_LEVEL[level]
    response, results = search(client, path, _scope_pairs(truth) + [("includefield", names)], req=req,
                               expect_matches=True)
    for ds in results:
        present = [n for n in names if tag(n) in ds]
        expect.equal(present, [], req=req, what=f"lower-level attributes in the {level} result "
                     f"{value(ds, LEVEL_KEY[level])}", response=response)


@pytest.mark.requirement("QIDO-025")
@pytest.mark.parametrize("key,pattern,series_key", [
    ("PerformedProcedureStepStartDate", "20190315", "vix-ct-axial"),
    ("RequestAttributesSequence.ScheduledProcedureStepID", "SPS-DOE-7B", "doe-mr-t2")])
def test_matching_keys_are_returned(client, truth, expect, key, pattern, series_key):
    """10.6.3.3.2: Series attributes passed as match parameters are returned; a sequence key returns
    the sequence with the matching item (PS3.4 C.2.2.2.6)."""
    series = truth.series_by_key(series_key)
    response, results = search(client, "series", {**scope(truth), key: pattern}, req="QIDO-025",
                               expect_matches=True)
    found = {value(ds, "SeriesInstanceUID"): ds for ds in results}
    expect.that(series["SeriesInstanceUID"] in found, req="QIDO-025", what=f"series {series_key} in the results",
                expected="present", actual="absent", response=response)
    result = found[series["SeriesInstanceUID"]]
    if "." not in key:
        expect.equal(value(result, key), pattern, req="QIDO-025", what=f"{key} of the result", response=response)
        return
    sequence, item_key = key.split(".")
    items = [value(item, item_key) for item in values(result, sequence)]
    expect.that(pattern in items, req="QIDO-025", what=f"{key} values of the result", expected=f"holds {pattern}",
                actual=items, response=response)


# -- fuzzymatching (8.3.4.2) ---------------------------------------------------------------------------------------
FUZZY_TEXT = "The fuzzymatching parameter is not supported. Only literal matching has been performed."


def _doe_john(truth: Any) -> str:
    return truth.studies_of_patient(truth.ids.patient_id("DOE-0002"))[0]["StudyInstanceUID"]


@pytest.mark.requirement("QIDO-030")
def test_fuzzymatching_false_is_literal_matching(client, truth, expect):
    """8.3.4.2: fuzzymatching=false (the default) performs the search without fuzzy matching."""
    response, results = search(client, "studies", {**scope(truth), "PatientName": "DOE^JOHN",
                                                   "fuzzymatching": "false"}, req="QIDO-030", expect_matches=True)
    expect.same_set(keys_of(results, "study"), [_doe_john(truth)], req="QIDO-030",
                    what="studies matched by PatientName=DOE^JOHN&fuzzymatching=false", response=response)


@pytest.mark.requirement("QIDO-031")
def test_fuzzymatching_true_is_fuzzy_or_warned_literal(client, truth, expect, target_profile):
    """8.3.4.2: without Fuzzy Matching the search is literal and answers the 299 warning; a server that
    performs fuzzy matching still returns the literal matches."""
    response, results = search(client, "studies", {**scope(truth), "PatientName": "DOE^JOHN",
                                                   "fuzzymatching": "true"}, req="QIDO-031", expect_matches=True)
    found = keys_of(results, "study")
    warned = any(FUZZY_TEXT in text for text in warning_texts(response))
    expect.that(_doe_john(truth) in found, req="QIDO-031", what="studies matched by PatientName=DOE^JOHN"
                "&fuzzymatching=true", expected="the literal match", actual=found, response=response)
    if warned:
        expect.same_set(found, [_doe_john(truth)], req="QIDO-031", what="results of a literal search "
                        "(the server warned that it does not support fuzzy matching)", response=response)
    elif not target_profile.claims_feature("qido-fuzzy"):
        expect.fail(req="QIDO-031", what="Warning header field", response=response,
                    expected=f'299 <service>: "{FUZZY_TEXT}" (the profile does not claim qido-fuzzy)',
                    actual=response.headers.get("Warning", "(absent)"))


@pytest.mark.requirement("QIDO-032")
@pytest.mark.parametrize("key,pattern,fixture_pid", [("PatientName", "doe^john", "DOE-0002"),
                                                     ("ReferringPhysicianName", "muller^hans", "DOE-0002"),
                                                     ("PatientName", "Vix^Visible^Human", "VIX-0001")])
def test_fuzzymatching_ignores_case_and_accents(client, truth, expect, key, pattern, fixture_pid):
    """PS3.4 C.2.2.2.1.1: fuzzy PN matching may ignore case and accents (Müller ~ muller)."""
    response, results = search(client, "studies", {**scope(truth), key: pattern, "fuzzymatching": "true"},
                               req="QIDO-032", expect_matches=True)
    expected = [s["StudyInstanceUID"] for s in truth.studies_of_patient(truth.ids.patient_id(fixture_pid))]
    found = keys_of(results, "study")
    expect.that(set(expected) <= set(found), req="QIDO-032", what=f"studies matched by {key}={pattern} fuzzily",
                expected=expected, actual=found, response=response)


# -- limit and offset (8.3.4.4) -------------------------------------------------------------------------------------
def _instances_of_vix(client: Any, truth: Any, params: dict | None = None, **kw: Any) -> tuple[Any, list[str]]:
    response, results = search(client, f"studies/{_vix_ct_study(truth)}/instances", params, **kw)
    return response, keys_of(results, "instance")


@pytest.mark.requirement("QIDO-026", "QIDO-027", "QIDO-029")
@pytest.mark.parametrize("limit,offset", [(5, None), (10, 35), (None, 40), (42, None), (1, 41)])
def test_limit_and_offset_select_the_page(client, truth, expect, limit, offset):
    """8.3.4.4.1: results = min(max(0, matches - offset), maxResults, limit); remaining matches are announced in
    a 299 warning.  maxResults is the origin server's own cap, unknown to the suite: fewer results than
    min(matches - offset, limit) are conformant, and the Warning then announces the rest."""
    matches = len(truth.instances_in_study(_vix_ct_study(truth)))  # 42
    params = {k: v for k, v in (("limit", limit), ("offset", offset)) if v is not None}
    response, found = _instances_of_vix(client, truth, params, req=["QIDO-026", "QIDO-027"], expect_matches=True)
    start = offset or 0
    most = min(matches - start, limit if limit is not None else matches)
    # the bound rests on limit (QIDO-026) and offset (QIDO-027), on both when both are given
    bound_req = [r for r, given in (("QIDO-026", limit), ("QIDO-027", offset)) if given is not None]
    expect.that(0 < len(found) <= most, req=bound_req, response=response,
                what=f"number of results with {params} ({matches} matches)", actual=len(found),
                expected=f"min(matches - offset, maxResults, limit): {most}, or fewer if the server's maxResults is lower")
    results = len(found)
    expect.equal(len(set(found)), len(found), req="QIDO-026", what="distinct results", response=response)
    remaining = matches - start - results
    announced = remaining_warning(response)
    if remaining > 0:
        expect.equal(announced, remaining, req="QIDO-029", response=response,
                     what='<remaining> in "Warning: 299 <service>: There are <remaining> additional results '
                          'that can be requested"')
    else:
        expect.that(not announced, req="QIDO-029", what="Warning header field", expected="no additional results "
                    "announced (none remain)", actual=response.headers.get("Warning"), response=response)


@pytest.mark.requirement("QIDO-026", "QIDO-027", "QIDO-028")
def test_pages_reassemble_the_whole_ordered_list(client, truth, expect):
    """8.3.4.4.1: searches are idempotent, so pages of limit=10 at offsets 0..40 rebuild the full list."""
    whole_response, whole = _instances_of_vix(client, truth, req="QIDO-028", expect_matches=True)
    again_response, again = _instances_of_vix(client, truth, req="QIDO-028", expect_matches=True)
    expect.equal(again, whole, req="QIDO-028", what="ordered results of the same search repeated",
                 response=again_response)
    pages: list[str] = []
    for offset in range(0, len(whole), 10):
        response, page = _instances_of_vix(client, truth, {"limit": 10, "offset": offset}, req="QIDO-026",
                                           expect_matches=True)
        expect.equal(page, whole[offset:offset + 10], req=["QIDO-026", "QIDO-027", "QIDO-028"],
                     what=f"page limit=10&offset={offset} vs the same slice of the unpaged results", response=response)
        pages += page
    expect.equal(len(set(pages)), len(pages), req="QIDO-028", what="results over all pages (no duplicates)")
    expect.same_set(pages, [i["SOPInstanceUID"] for i in truth.instances_in_study(_vix_ct_study(truth))],
                    req="QIDO-028", what="instances over all pages")


@pytest.mark.requirement("QIDO-027", "QIDO-004")
def test_offset_past_the_last_match_returns_no_match(client, truth, expect):
    """8.3.4.4.1: results <= 0 is a response without match."""
    response = client.get(f"studies/{_vix_ct_study(truth)}/instances", params={"offset": 100},
                          headers={"Accept": JSON})
    expect_no_match(response, req=["QIDO-027", "QIDO-004"])


@pytest.mark.requirement("QIDO-026", "QIDO-029")
def test_paging_all_studies(client, truth, expect):
    """limit on /studies: 3 of the run's 7 studies (fewer if the server's maxResults is lower, 8.3.4.4.1), and
    the others announced."""
    response, results = search(client, "studies", {**scope(truth), "limit": 3}, req="QIDO-026", expect_matches=True)
    expect.that(0 < len(results) <= 3, req="QIDO-026", what="number of results with limit=3", response=response,
                expected="3 (min(matches, maxResults, limit))", actual=len(results))
    expect.equal(remaining_warning(response), len(truth.studies) - len(results), req="QIDO-029", response=response,
                 what='<remaining> in "Warning: 299 <service>: There are <remaining> additional results that can '
                      'be requested"')


# -- invalid values (8.3) and unknown attributes -------------------------------------------------------------
@pytest.mark.requirement("QIDO-035")
@pytest.mark.parametrize("name,bad", [("limit", "abc"), ("limit", "-1"), ("limit", "1.5"), ("offset", "abc"),
                                      ("offset", "-5"), ("offset", "2e1")])
def test_invalid_limit_or_offset_is_rejected(client, truth, expect, name, bad):
    """8.3.4.4: limit and offset are unsigned integers; a supported parameter with an invalid value is a 400 (8.3)."""
    response = client.get(f"studies/{_vix_ct_study(truth)}/instances", params={name: bad}, headers={"Accept": JSON})
    expect.status(response, 400)


INVALID = [("studies", "StudyDate", "20191345"), ("studies", "StudyDate", "yesterday"),
           ("studies", "StudyDate", "2019031"), ("studies", "StudyTime", "256000"),
           ("studies", "StudyTime", "10h15"), ("studies", "StudyInstanceUID", "1.2.abc"),
           ("series", "SeriesInstanceUID", "not-a-uid"), ("series", "SeriesNumber", "1.5"),
           ("instances", "InstanceNumber", "three"), ("instances", "SOPInstanceUID", "1..2")]


#: A valid value of each attribute that matches nothing of the run: tells an ignored key from an unvalidated one.
_NO_MATCH = {"StudyDate": lambda t: "19000101", "StudyTime": lambda t: "000001",
             "StudyInstanceUID": lambda t: f"{t.uid_root}.999.1", "SeriesInstanceUID": lambda t: f"{t.uid_root}.999.2",
             "SeriesNumber": lambda t: "99999", "InstanceNumber": lambda t: "99999",
             "SOPInstanceUID": lambda t: f"{t.uid_root}.999.3"}
_KEY_TABLE = {"studies": "QIDO-008", "series": "QIDO-009", "instances": "QIDO-010"}


@pytest.mark.requirement("QIDO-048")
@pytest.mark.parametrize("path,name,bad", INVALID, ids=[f"{p}-{n}={b}" for p, n, b in INVALID])
def test_value_not_matching_the_vr_is_rejected(client, truth, expect, path, name, bad):
    """8.3: "If a supported Query Parameter has an invalid value, the origin server shall return a 400 (Bad
    Request)"; values satisfy the attribute's VR (PS3.5 6.2: DA YYYYMMDD, TM HHMMSS, UI digits and dots, IS
    integer).  A server that ignores the key altogether breaks the matching key table (QIDO-008/009/010), not
    this rule: the test is then reported as blocked by that requirement."""
    response = client.get(path, params={name: bad}, headers={"Accept": JSON})
    if response.status_code != 400:
        _, found = search(client, path, scoped(truth, {name: _NO_MATCH[name](truth)}), req="QIDO-048")
        if found:
            blocked(_KEY_TABLE[path], f"{name} is ignored as a matching key ({name}={_NO_MATCH[name](truth)} "
                                      f"matched {len(found)} of the run's entities), so its values are never checked")
    expect.status(response, 400)


@pytest.mark.requirement("QIDO-049")
@pytest.mark.parametrize("name,bad", [("PatientNme", "DOE^JOHN"), ("includefield", "NoSuchAttributeKeyword")])
def test_unknown_attribute_keyword_is_ignored_or_rejected(client, truth, expect, name, bad):
    """8.3: an unsupported parameter is ignored; a server may also reject a name that is not a keyword (400)."""
    response = client.get("studies", params={**scope(truth), name: bad}, headers={"Accept": JSON})
    if response.status_code == 400:
        return
    results = owned_datasets(results_of(response, req="QIDO-049", expect_matches=True))
    expect.same_set(keys_of(results, "study"), [s["StudyInstanceUID"] for s in truth.studies], req="QIDO-049",
                    what=f"studies found with the unknown {name}={bad} (processed as if it were absent)",
                    response=response)
