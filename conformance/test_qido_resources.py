"""QIDO-RS resources and the attributes of their results (PS3.18-2019a 10.6.1.1, 10.6.3.3).

* each of the six search resources of table 10.6.1-1 returns exactly the run's
  entities it should (scoped by PatientID, a Patient IE key allowed on every
  resource, 10.6.1.2.1, or by the study/series in the path);
* a search under a study or series that does not exist;
* the attributes every result holds (tables 10.6.3-3/4/5) with the values of the
  stored instances, and the parent-level attributes of relational searches;
* the Retrieve URL (0008,1190) of each result, which must reference the matched
  resource and resolve with WADO-RS.

Expected values come from ``fixtures/manifest.json`` through ``truth``.
"""

from __future__ import annotations

import io
from typing import Any, Callable
from urllib.parse import urljoin, urlsplit

import pydicom
import pytest

import dicomweb_fixtures as fixtures
from dicomweb_conformance.checks.qido import (JSON, LEVEL_KEY, LEVEL_PATH, expect_no_match, keys_of, pn_text, scope, search,
                                     tag, tm_seconds, value, values)
from dicomweb_conformance.preconditions import blocked

_MANIFEST = fixtures.load_manifest()
_PATIENTS = [p["PatientID"] for p in _MANIFEST["patients"]]
_STUDIES = [s["StudyInstanceUID"] for s in _MANIFEST["studies"]]
_SERIES = [s["key"] for s in _MANIFEST["series"]]
_ROOT = _MANIFEST["uid_root"]


def _short(uid: str) -> str:
    """A readable test ID for a fixture UID (the part after the fixture root)."""
    return uid[len(_ROOT) + 1:]


# -- 10.6.1.1: the six resources -------------------------------------------------------------------------------
@pytest.mark.requirement("QIDO-001", "QIDO-005", "QIDO-006", "QIDO-007", "QIDO-012")
@pytest.mark.parametrize("level", ["study", "series", "instance"])
@pytest.mark.parametrize("fixture_pid", _PATIENTS)
def test_all_resources_return_exactly_the_patients_entities(client, truth, expect, level, fixture_pid):
    """/studies, /series and /instances with PatientID (Patient IE key, allowed everywhere: 10.6.1.2.1)."""
    pid = truth.ids.patient_id(fixture_pid)
    entries = [e for e in {"study": truth.studies, "series": truth.series, "instance": truth.instances}[level]
               if e["PatientID"] == pid]
    path, key = LEVEL_PATH[level], LEVEL_KEY[level]
    req = {"study": "QIDO-005", "series": "QIDO-006", "instance": "QIDO-007"}[level]
    response, results = search(client, path, {"PatientID": pid}, req=["QIDO-001", req], expect_matches=True)
    found = keys_of(results, level)
    expect.same_set(found, [e[key] for e in entries], req=[req, "QIDO-012"],
                    what=f"{key}s of GET /{path}?PatientID={pid}", response=response)
    expect.equal(len(found), len(entries), req=req, what=f"number of results (each {key} once)", response=response)


@pytest.mark.requirement("QIDO-001", "QIDO-006", "QIDO-007", "QIDO-036")
@pytest.mark.parametrize("resource", ["series", "instances"])
@pytest.mark.parametrize("fixture_study", _STUDIES, ids=_short)
def test_study_scoped_resources_return_exactly_the_studys_entities(client, truth, expect, resource, fixture_study):
    """/studies/{study}/series and /studies/{study}/instances without other keys: everything of that study."""
    study = truth.uid(fixture_study)
    level, req = ("series", "QIDO-006") if resource == "series" else ("instance", "QIDO-007")
    entries = truth.series_in_study(study) if level == "series" else truth.instances_in_study(study)
    key = "SeriesInstanceUID" if level == "series" else "SOPInstanceUID"
    response, results = search(client, f"studies/{study}/{resource}", req=["QIDO-001", req], expect_matches=True)
    found = keys_of(results, level)
    expect.same_set(found, [e[key] for e in entries], req="QIDO-036",
                    what=f"{key}s of GET /studies/{{study}}/{resource}", response=response)
    expect.equal(len(found), len(entries), req="QIDO-036", what=f"number of results (each {key} once)",
                 response=response)


@pytest.mark.requirement("QIDO-001", "QIDO-007", "QIDO-036")
@pytest.mark.parametrize("series_key", _SERIES)
def test_series_instances_resource_returns_exactly_the_series_instances(client, truth, expect, series_key):
    """/studies/{study}/series/{series}/instances: every instance of that series and nothing else."""
    series = truth.series_by_key(series_key)
    path = f"studies/{series['StudyInstanceUID']}/series/{series['SeriesInstanceUID']}/instances"
    response, results = search(client, path, req=["QIDO-001", "QIDO-007"], expect_matches=True)
    found = keys_of(results, "instance")
    expected = [i["SOPInstanceUID"] for i in truth.instances_in_series(series["SeriesInstanceUID"])]
    expect.same_set(found, expected, req="QIDO-036", what="SOPInstanceUIDs of GET .../series/{series}/instances",
                    response=response)
    expect.equal(len(found), len(expected), req="QIDO-036", what="number of results (each instance once)",
                 response=response)


@pytest.mark.requirement("QIDO-050")
@pytest.mark.parametrize("resource", ["study-series", "study-instances", "series-instances"])
def test_search_under_unknown_study_or_series(client, truth, expect, resource):
    """Unknown parent: 2019a defines no status for it; 404 (8.5) or no match (8.3.4.4.1) are both honest."""
    unknown = f"{truth.uid_root}.999.999"  # under the run's root: stored by nobody
    known = truth.studies[0]["StudyInstanceUID"]
    path = {"study-series": f"studies/{unknown}/series", "study-instances": f"studies/{unknown}/instances",
            "series-instances": f"studies/{known}/series/{unknown}/instances"}[resource]
    response = client.get(path, headers={"Accept": JSON})
    if response.status_code != 404:
        expect_no_match(response, req="QIDO-050")


# -- 10.6.3.3: the attributes of each result, with the stored values -----------------------------------------------
def _same_tm(a: Any, b: Any) -> bool:
    return a is not None and b is not None and tm_seconds(str(a)) == tm_seconds(str(b))


def _text(dataset: dict, name: str) -> Any:
    return value(dataset, name)


def _pn(dataset: dict, name: str) -> str:
    return pn_text(value(dataset, name))


def _int(dataset: dict, name: str) -> int | None:
    found = value(dataset, name)
    try:
        return None if found is None else int(found)
    except (TypeError, ValueError):
        return found


#: keyword -> (read the result, read the manifest entry, compare); None manifest value = empty (type 2).
Check = tuple[Callable[[dict, str], Any], Callable[[dict, str], Any], Callable[[Any, Any], bool]]


def _field(entry: dict, name: str) -> Any:
    return entry[name]


def _EQ(a: Any, b: Any) -> bool:
    return a == b

_STUDY_ATTRS: dict[str, Check] = {
    "StudyDate": (_text, _field, _EQ),
    "StudyTime": (_text, _field, _same_tm),
    "AccessionNumber": (_text, _field, _EQ),
    "ModalitiesInStudy": (lambda d, k: sorted(values(d, k)), lambda e, k: sorted(e[k]), _EQ),
    "ReferringPhysicianName": (_pn, lambda e, k: pn_text(e[k]), _EQ),
    "PatientName": (_pn, lambda e, k: pn_text(e[k]), _EQ),
    "PatientID": (_text, _field, _EQ),
    "PatientBirthDate": (_text, _field, _EQ),
    "PatientSex": (_text, _field, _EQ),
    "StudyInstanceUID": (_text, _field, _EQ),
    "StudyID": (_text, _field, _EQ),
    "NumberOfStudyRelatedSeries": (_int, _field, _EQ),
    "NumberOfStudyRelatedInstances": (_int, _field, _EQ),
}
_RAS_IDS = ("RequestedProcedureID", "ScheduledProcedureStepID")
_SERIES_ATTRS: dict[str, Check] = {
    "Modality": (_text, _field, _EQ),
    "SeriesInstanceUID": (_text, _field, _EQ),
    "SeriesNumber": (_int, _field, _EQ),
    "NumberOfSeriesRelatedInstances": (_int, _field, _EQ),
    "SeriesDescription": (_text, _field, _EQ),
    "PerformedProcedureStepStartDate": (_text, _field, _EQ),
    "PerformedProcedureStepStartTime": (_text, _field, _same_tm),
    "RequestAttributesSequence": (
        lambda d, k: sorted(tuple(str(value(item, n)) for n in _RAS_IDS) for item in values(d, k)),
        lambda e, k: sorted(tuple(item[n] for n in _RAS_IDS) for item in e[k]) or None, _EQ),
}
#: Conditional attributes of table 10.6.3-4 ("shall be present if known"): checked where the data has them.
_SERIES_CONDITIONAL = {"SeriesDescription", "PerformedProcedureStepStartDate", "PerformedProcedureStepStartTime",
                       "RequestAttributesSequence"}
_INSTANCE_ATTRS: dict[str, Check] = {
    "SOPClassUID": (_text, _field, _EQ),
    "SOPInstanceUID": (_text, _field, _EQ),
    "InstanceNumber": (_int, _field, _EQ),
    "Rows": (_int, _field, _EQ),
    "Columns": (_int, _field, _EQ),
    "BitsAllocated": (_int, _field, _EQ),
    "NumberOfFrames": (_int, lambda e, k: e[k] if "multiframe" in e["features"] else None, _EQ),
}
#: Table 10.6.3-5 asks for these "if present in the Instance": NumberOfFrames is only in the multi-frame files.
_INSTANCE_CONDITIONAL = {"NumberOfFrames"}


def _check_attribute(expect: Any, result: dict, entry: dict, name: str, check: Check, *, req: Any, what: str,
                     response: Any, conditional: bool) -> None:
    """One attribute of one result against the manifest entry (absent/empty rules of type R and C keys)."""
    read_result, read_entry, same = check
    reqs = [req] if isinstance(req, str) else list(req)
    # one check, one requirement: presence is the result-attribute table's rule (the first ID), the
    # value is QIDO-047's (returned values are those of the stored instances) when the test cites it
    req, value_req = reqs[0], ("QIDO-047" if "QIDO-047" in reqs else reqs[0])
    want = read_entry(entry, name)
    key = tag(name)
    if want is None or want == "":
        if conditional:
            if name == "NumberOfFrames" and value(result, name) is not None:
                # a single-frame instance reported with a Number of Frames: only 1 is true
                expect.equal(_int(result, name), 1, req=value_req, what=f"{name} of {what}", response=response)
            return
        # type R (required) key without a value: present and empty (DICOM JSON F.2.5)
        expect.that(key in result, req=req, what=f"{name} ({key}) in {what}", expected="present (empty value)",
                    actual="absent", response=response)
        expect.that(not values(result, name), req=value_req, what=f"{name} of {what}", expected="no value (empty in "
                    "the stored instances)", actual=values(result, name), response=response)
        return
    expect.that(key in result, req=req, what=f"{name} ({key}) in {what}", expected=f"present: {want!r}",
                actual="absent", response=response)
    got = read_result(result, name)
    expect.that(same(got, want), req=value_req, what=f"{name} of {what}", expected=want, actual=got,
                response=response)


def _study_entry(truth: Any, study_uid: str) -> dict:
    """The manifest study entry with its patient's attributes (PatientBirthDate, PatientSex...)."""
    study = truth.study(study_uid)
    return {**truth.patient(study["PatientID"]), **study}


def _by_key(expect: Any, results: list[dict], expected: list[str], level_key: str, *, req: Any,
            response: Any) -> dict[str, dict]:
    """Results indexed by their unique key; every expected entity must be there."""
    found = {str(value(ds, level_key)): ds for ds in results}
    expect.same_set([k for k in found if k in set(expected)], expected, req=req,
                    what=f"{level_key}s of the results", response=response)
    return found


@pytest.mark.requirement("QIDO-019", "QIDO-047")
@pytest.mark.parametrize("attribute", list(_STUDY_ATTRS))
def test_study_results_hold_required_attributes_with_stored_values(client, truth, expect, attribute):
    """Table 10.6.3-3: every study result holds the attribute (type R), equal to the stored value."""
    response, results = search(client, "studies", scope(truth), req="QIDO-019", expect_matches=True)
    studies = {s["StudyInstanceUID"]: _study_entry(truth, s["StudyInstanceUID"]) for s in truth.studies}
    found = _by_key(expect, results, list(studies), "StudyInstanceUID", req="QIDO-019", response=response)
    for uid, study in studies.items():
        _check_attribute(expect, found[uid], study, attribute, _STUDY_ATTRS[attribute], response=response,
                         req=["QIDO-019", "QIDO-047"],
                         what=f"the result of study {uid}", conditional=False)


@pytest.mark.requirement("QIDO-020", "QIDO-047")
@pytest.mark.parametrize("attribute", list(_SERIES_ATTRS))
def test_series_results_hold_required_attributes_with_stored_values(client, truth, expect, attribute):
    """Table 10.6.3-4: R attributes always, C attributes ("if known") where the stored instances hold them."""
    response, results = search(client, "series", scope(truth), req="QIDO-020", expect_matches=True)
    series = {s["SeriesInstanceUID"]: s for s in truth.series}
    found = _by_key(expect, results, list(series), "SeriesInstanceUID", req="QIDO-020", response=response)
    for uid, entry in series.items():
        _check_attribute(expect, found[uid], entry, attribute, _SERIES_ATTRS[attribute], response=response,
                         req=["QIDO-020", "QIDO-047"], what=f"the result of series {uid}",
                         conditional=attribute in _SERIES_CONDITIONAL)


@pytest.mark.requirement("QIDO-021")
@pytest.mark.parametrize("attribute", list(_INSTANCE_ATTRS))
def test_instance_results_hold_required_attributes_with_stored_values(client, truth, expect, attribute):
    """Table 10.6.3-5: each attribute "if present in the Instance", equal to the stored value."""
    response, results = search(client, "instances", scope(truth), req="QIDO-021", expect_matches=True)
    instances = {i["SOPInstanceUID"]: i for i in truth.instances}
    found = _by_key(expect, results, list(instances), "SOPInstanceUID", req="QIDO-021", response=response)
    for uid, entry in instances.items():
        _check_attribute(expect, found[uid], entry, attribute, _INSTANCE_ATTRS[attribute], response=response,
                         req="QIDO-021", what=f"the result of instance {uid} ({entry['file']})",
                         conditional=attribute in _INSTANCE_CONDITIONAL)


_PARENT_CASES = {
    # resource: (path builder, result level, parent levels whose attributes each result must hold, requirement)
    "all-series": (lambda t: "series", "series", ("study",), "QIDO-045"),
    "all-instances": (lambda t: "instances", "instance", ("study", "series"), "QIDO-046"),
    "study-instances": (lambda t: f"studies/{t.series_by_key('doe-mr-t2')['StudyInstanceUID']}/instances",
                        "instance", ("series",), "QIDO-046"),
}


@pytest.mark.requirement("QIDO-045", "QIDO-046")
@pytest.mark.parametrize("resource", list(_PARENT_CASES))
def test_relational_results_hold_parent_level_attributes(client, truth, expect, resource):
    """10.6.3.3.2/3: /series adds the Study attributes; /instances the Study and Series ones;
    /studies/{study}/instances the Series ones (Retrieve URL excluded: each result has its own)."""
    path_of, level, parents, req = _PARENT_CASES[resource]
    path = path_of(truth)
    params = scope(truth) if "/" not in path else None
    response, results = search(client, path, params, req=req, expect_matches=True)
    if level == "series":
        entries = {s["SeriesInstanceUID"]: s for s in truth.series}
        key = "SeriesInstanceUID"
    else:
        study_uid = path.split("/")[1] if "/" in path else None
        entries = {i["SOPInstanceUID"]: i for i in truth.instances
                   if study_uid is None or i["StudyInstanceUID"] == study_uid}
        key = "SOPInstanceUID"
    found = _by_key(expect, results, list(entries), key, req=req, response=response)
    for uid, entry in entries.items():
        for parent in parents:
            if parent == "study":
                source, table, conditional = _study_entry(truth, entry["StudyInstanceUID"]), _STUDY_ATTRS, set()
            else:
                source, table, conditional = truth.series_by_uid(entry["SeriesInstanceUID"]), _SERIES_ATTRS, \
                    _SERIES_CONDITIONAL
            for name, check in table.items():
                _check_attribute(expect, found[uid], source, name, check, req=req, response=response,
                                 what=f"the {level} result {uid} ({parent}-level attribute)",
                                 conditional=name in conditional)


# -- Retrieve URL (0008,1190) ---------------------------------------------------------------------------------------
def _resource_path(entry: dict, level: str) -> str:
    path = f"studies/{entry['StudyInstanceUID']}"
    if level in ("series", "instance"):
        path += f"/series/{entry['SeriesInstanceUID']}"
    if level == "instance":
        path += f"/instances/{entry['SOPInstanceUID']}"
    return path


_ENTRIES = {"study": lambda t: t.studies, "series": lambda t: t.series, "instance": lambda t: t.instances}


@pytest.mark.requirement("QIDO-022")
@pytest.mark.parametrize("level", ["study", "series", "instance"])
def test_every_result_has_a_retrieve_url_of_its_resource(client, truth, expect, level):
    """10.6.3.3: the Retrieve URL references the matched study, series or instance (WADO-RS URI template,
    10.4.1): its path ends with studies/{study}[/series/{series}[/instances/{instance}]]."""
    response, results = search(client, LEVEL_PATH[level], scope(truth), req="QIDO-022", expect_matches=True)
    entries = {e[LEVEL_KEY[level]]: e for e in _ENTRIES[level](truth)}
    found = _by_key(expect, results, list(entries), LEVEL_KEY[level], req="QIDO-022", response=response)
    for uid, entry in entries.items():
        url = value(found[uid], "RetrieveURL")
        expect.that(url, req="QIDO-022", what=f"Retrieve URL (0008,1190) of the {level} result {uid}",
                    expected="present", actual="absent or empty", response=response)
        absolute = urljoin(response.url, str(url))
        expect.that(urlsplit(absolute).path.rstrip("/").endswith("/" + _resource_path(entry, level)),
                    req="QIDO-022", what=f"Retrieve URL of the {level} result {uid}",
                    expected=f".../{_resource_path(entry, level)}", actual=url, response=response)


@pytest.mark.requirement("QIDO-022", "WADO-001", "WADO-002", "WADO-003")
@pytest.mark.parametrize("level", ["study", "series", "instance"])
def test_retrieve_url_resolves_with_wado_rs(client, truth, expect, level):
    """The Retrieve URL of a (one-instance) study's results retrieves that resource (PS3.18 10.4)."""
    series = truth.series_by_key("vix-sc-rgb")
    study = series["StudyInstanceUID"]
    path = {"study": "studies", "series": f"studies/{study}/series",
            "instance": f"studies/{study}/series/{series['SeriesInstanceUID']}/instances"}[level]
    params = {"StudyInstanceUID": study} if level == "study" else None
    response, results = search(client, path, params, req="QIDO-022", expect_matches=True)
    expect.equal(len(results), 1, req="QIDO-022", what="number of results", response=response)
    url = value(results[0], "RetrieveURL")
    expect.that(url, req="QIDO-022", what="Retrieve URL (0008,1190)", expected="present", actual="absent",
                response=response)
    retrieved = client.get(urljoin(response.url, str(url)),
                           headers={"Accept": 'multipart/related; type="application/dicom"'})
    wado = {"study": "WADO-001", "series": "WADO-002", "instance": "WADO-003"}[level]
    expect.status(retrieved, 200, req=["QIDO-022", wado])
    expect.content_type(retrieved, 'multipart/related; type="application/dicom"', req=wado)
    sop = truth.instances_in_series(series["SeriesInstanceUID"])[0]["SOPInstanceUID"]
    expect.that(sop.encode("ascii") in retrieved.content, req="QIDO-022", what="the retrieved payload",
                expected=f"holds the study's only instance {sop}", actual="it does not", response=retrieved)


# -- attributes "shall be present if known" (tables 10.6.3-3/4/5) ----------------------------------------------
@pytest.mark.requirement("QIDO-054")
@pytest.mark.mutates
def test_timezone_offset_is_returned_when_known(client, fresh_truth, expect):
    """Timezone Offset From UTC (0008,0201) "Shall be present if known": an instance stored with +0900 gives
    study, series and instance results holding +0900."""
    fresh = fresh_truth()
    inst = fresh.instance_by_file("wang-ct-001.dcm")
    ds = pydicom.dcmread(io.BytesIO(fresh.file_bytes(inst["SOPInstanceUID"])))
    ds.TimezoneOffsetFromUTC = "+0900"
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    stored = client.stow([out.getvalue()])
    if stored.status_code != 200:
        blocked("STOW-001", f"storing the instance answered {stored.status_code}, not 200")
    for level, path, key in (("study", "studies", "StudyInstanceUID"), ("series", "series", "SeriesInstanceUID"),
                             ("instance", "instances", "SOPInstanceUID")):
        response, results = search(client, path, {"StudyInstanceUID": inst["StudyInstanceUID"],
                                                  **({key: inst[key]} if key != "StudyInstanceUID" else {})},
                                   req="QIDO-054", expect_matches=True)
        expect.equal([values(ds_, "TimezoneOffsetFromUTC") for ds_ in results], [["+0900"]],
                     what=f"Timezone Offset From UTC (0008,0201) of the {level} result", response=response)


_AVAILABILITY = {"ONLINE", "NEARLINE", "OFFLINE", "UNAVAILABLE"}


@pytest.mark.requirement("QIDO-055")
@pytest.mark.parametrize("level", ["study", "instance"])
def test_instance_availability_is_returned(client, truth, expect, level):
    """Instance Availability (0008,0056) "Shall be present if known" (tables 10.6.3-3 and 10.6.3-5)."""
    study = truth.series_by_key("doe-mr-t2")
    params = {"StudyInstanceUID": study["StudyInstanceUID"]}
    response, results = search(client, LEVEL_PATH[level], params, req="QIDO-055", expect_matches=True)
    for ds_ in results:
        got = values(ds_, "InstanceAvailability")
        expect.that(len(got) == 1 and got[0] in _AVAILABILITY, response=response,
                    what=f"Instance Availability (0008,0056) of the {level} result {value(ds_, LEVEL_KEY[level])}",
                    expected=" or ".join(sorted(_AVAILABILITY)), actual=got or "absent")
