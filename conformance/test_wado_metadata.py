"""WADO-RS Retrieve Metadata: study, series and instance metadata as DICOM JSON and DICOM XML
(PS3.18-2019a 10.4.1.1.2, 8.7.3.2, Annex F; PS3.19-2019a A.1).

Every attribute the manifest lists for a patient, study, series and instance must
come back with the stored value; binary values as BulkDataURI or InlineBinary.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from lxml import etree
from pydicom.datadict import dictionary_VR, tag_for_keyword

import dicomweb_fixtures as fixtures
from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.checks.wado import element_at, instance_path, series_path, sha256, study_path

JSON = "application/dicom+json"
XML = 'multipart/related; type="application/dicom+xml"'
SOP_UID = "00080018"
PIXEL_DATA = "7FE00010"
_MANIFEST = fixtures.load_manifest()
_STUDIES = [s["StudyInstanceUID"] for s in _MANIFEST["studies"]]
_SERIES_KEYS = [s["key"] for s in _MANIFEST["series"]]
_INSTANCE_FILES = sorted({i["file"] for i in _MANIFEST["instances"]
                          if not i["file"].startswith("vix-ct-axial-") or i["file"] == "vix-ct-axial-001.dcm"})
_BULK_FILES = sorted(i["file"] for i in _MANIFEST["instances"] if i["bulk"]
                     and (not i["file"].startswith("vix-ct-axial-") or i["file"] == "vix-ct-axial-001.dcm"))
#: Manifest keys that are not attributes of the stored instances (QIDO-computed or File Meta).
_NOT_STORED = {"NumberOfPatientRelatedStudies", "NumberOfPatientRelatedSeries", "NumberOfPatientRelatedInstances",
               "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances", "NumberOfSeriesRelatedInstances",
               "ModalitiesInStudy", "TransferSyntaxUID"}
#: The one rule on Specific Character Set shared with the STOW round trip (test_stow_roundtrip.py): the stored
#: value, or ISO_IR 192 when the server transcoded the text to UTF-8 (every decoded value is compared anyway).
UTF8_CHARSET = "ISO_IR 192"


def _study_id(uid: str) -> str:
    return next(s["PatientID"] for s in _MANIFEST["studies"] if s["StudyInstanceUID"] == uid) + "-" + uid[-5:]


def _tag(keyword: str) -> str | None:
    tag = tag_for_keyword(keyword)
    return None if tag is None else f"{tag:08X}"


def _sop(dataset: dict[str, Any]) -> str | None:
    values = (dataset.get(SOP_UID) or {}).get("Value") or [None]
    return values[0]


def _expected_attributes(truth, inst: dict[str, Any]) -> dict[str, Any]:
    """keyword -> manifest value, for the patient, study, series and instance of ``inst``."""
    out: dict[str, Any] = {}
    study = truth.study(inst["StudyInstanceUID"])
    for entry in (truth.patient(study["PatientID"]), study, truth.series_by_uid(inst["SeriesInstanceUID"]), inst):
        for keyword, value in entry.items():
            if keyword not in _NOT_STORED and _tag(keyword) is not None:
                out[keyword] = value
    if inst["NumberOfFrames"] == 1:  # a single-frame IOD has no Number of Frames: the manifest's 1 is implied
        del out["NumberOfFrames"]
    return out


def _has_value(element: dict[str, Any] | None) -> bool:
    return bool(element) and any(k in element for k in ("Value", "BulkDataURI", "InlineBinary")) \
        and element.get("Value") != []


#: PS3.18-2019a 10.4.1.1.2: "For Data Elements having a Value Representation (VR) of DS, FL, FD, IS, LT, OB, OD, OF,
#: OL, OV, OW, SL, SS, ST, SV, UC, UL, UN, US, UT and UV, the origin server is permitted to replace the Value Field
#: of the Data Element with a Bulkdata URI."
BULK_REPLACEABLE_VRS = frozenset("DS FL FD IS LT OB OD OF OL OV OW SL SS ST SV UC UL UN US UT UV".split())


def _value_problem(element: dict[str, Any] | None, keyword: str, expected: Any) -> str | None:
    """None if the DICOM JSON ``element`` holds the manifest value ``expected`` of ``keyword``, else why not."""
    vr = dictionary_VR(keyword)
    if expected is None or expected == []:  # empty (type 2) or absent in the stored instance
        return None if not _has_value(element) else f"{keyword}: expected empty or absent, got {element}"
    if keyword == "SpecificCharacterSet" and element is not None and element.get("Value") == [UTF8_CHARSET]:
        return None  # transcoded to UTF-8: the text values themselves are compared decoded
    if element is None:
        return f"{keyword} ({_tag(keyword)}) is missing"
    if vr in BULK_REPLACEABLE_VRS and isinstance(element.get("BulkDataURI"), str) and "Value" not in element:
        return None  # 10.4.1.1.2: the origin server "is permitted to replace the Value Field ... with a Bulkdata URI"
    values = element.get("Value")
    if values is None:
        return f"{keyword}: no Value in {element}"
    if vr == "SQ":
        if len(values) != len(expected):
            return f"{keyword}: {len(values)} item(s), expected {len(expected)}"
        for index, (item, want) in enumerate(zip(values, expected)):
            for key, value in want.items():
                problem = _value_problem((item or {}).get(_tag(key)), key, value)
                if problem:
                    return f"{keyword}[{index}].{problem}"
        return None
    want = expected if isinstance(expected, list) else [expected]
    if vr == "PN":
        got = [{k: v for k, v in (p or {}).items() if v} for p in values]
        return None if got == want else f"{keyword}: {values} != {want}"
    if isinstance(want[0], (int, float)):
        try:
            same = [float(v) for v in values] == [float(w) for w in want]
        except (TypeError, ValueError):
            same = False
        return None if same else f"{keyword}: {values} != {want}"
    # F.2.5: an empty value within a multi-valued element is null in DICOM JSON
    return None if ["" if v is None else v for v in values] == want else f"{keyword}: {values} != {want}"


def _private_problem(element: dict[str, Any] | None, private: dict[str, Any]) -> str | None:
    """None if a private element (manifest ``private`` entry) kept its VR and value, else why not."""
    where = f"private {private['tag']} ({private['creator']}, {private['vr']})"
    if element is None:
        return f"{where} is missing"
    if element.get("vr") != private["vr"]:
        return f"{where}: vr {element.get('vr')!r}"
    if "value" not in private:  # binary: checked by value in the bulk tests
        return None if {"BulkDataURI", "InlineBinary"} & set(element) else f"{where}: no BulkDataURI or InlineBinary"
    values = element.get("Value")
    if private["vr"] in ("US", "UL", "SS", "SL"):
        try:
            return None if [float(v) for v in values or []] == [float(v) for v in private["value"]] \
                else f"{where}: {values} != {private['value']}"
        except (TypeError, ValueError):
            return f"{where}: {values} are not numbers"
    return None if values == private["value"] else f"{where}: {values} != {private['value']}"


def _get_json(client, expect, path: str, req: str, *, validate: Any = None):
    """GET DICOM JSON metadata: (response, datasets); ``validate``: the requirement(s) a JSON Model check
    (slow for big studies) is reported under, None for no such check."""
    response = client.get(path, headers={"Accept": JSON})
    expect.status(response, 200, req=req)
    expect.content_type(response, JSON, req=req)
    if validate:
        return response, expect.dicom_json(response, req=validate)
    datasets = expect.json_body(response, req=req)
    expect.that(isinstance(datasets, list) and all(isinstance(ds, dict) for ds in datasets), req=req,
                what="DICOM JSON payload", expected="an array of dataset objects (F.2.1)",
                actual=type(datasets).__name__, response=response)
    return response, datasets


def _level_paths(truth, level: str, key: str) -> tuple[str, list[dict[str, Any]]]:
    if level == "study":
        study = truth.study(truth.uid(key))
        return f"{study_path(study)}/metadata", truth.instances_in_study(study["StudyInstanceUID"])
    if level == "series":
        series = truth.series_by_key(key)
        return f"{series_path(series)}/metadata", truth.instances_in_series(series["SeriesInstanceUID"])
    inst = truth.instance_by_file(key)
    return f"{instance_path(inst)}/metadata", [inst]


_LEVEL_CASES = ([pytest.param("study", s, id=f"study-{_study_id(s)}") for s in _STUDIES]
                + [pytest.param("series", k, id=f"series-{k}") for k in _SERIES_KEYS]
                + [pytest.param("instance", f, id=f"instance-{f}") for f in _INSTANCE_FILES])


@pytest.mark.requirement("WADO-009", "WADO-030")
@pytest.mark.parametrize("level, key", _LEVEL_CASES)
def test_metadata_returns_one_dataset_per_instance(client, truth, expect, level, key):
    path, instances = _level_paths(truth, level, key)
    response, datasets = _get_json(client, expect, path, "WADO-009")
    expect.equal(len(datasets), len(instances), req="WADO-030", what="number of datasets (one per instance)",
                 response=response)
    expect.same_set([_sop(ds) for ds in datasets], [i["SOPInstanceUID"] for i in instances], req="WADO-030",
                    what="SOP Instance UIDs of the metadata datasets", response=response)


_JSON_MODEL = ["MODEL-001", "MODEL-002", "MODEL-003"]  # what the DICOM JSON validation checks (F.2.1-F.2.3)


@pytest.mark.requirement("WADO-009", *_JSON_MODEL)
@pytest.mark.parametrize("file", _INSTANCE_FILES)
def test_instance_metadata_is_valid_dicom_json(client, truth, expect, file):
    path, _ = _level_paths(truth, "instance", file)
    _get_json(client, expect, path, "WADO-009", validate=_JSON_MODEL)


@pytest.mark.requirement("WADO-011")
@pytest.mark.parametrize("fixture_study", _STUDIES, ids=_study_id)
def test_study_metadata_holds_every_stored_attribute(client, truth, expect, fixture_study):
    path, instances = _level_paths(truth, "study", fixture_study)
    response, datasets = _get_json(client, expect, path, "WADO-011")
    by_sop = {_sop(ds): ds for ds in datasets}
    for inst in instances:
        dataset = by_sop.get(inst["SOPInstanceUID"])
        expect.that(dataset is not None, what=f"metadata of {inst['file']}", expected="present", actual="missing",
                    response=response)
        problems = [p for keyword, value in _expected_attributes(truth, inst).items()
                    if (p := _value_problem(dataset.get(_tag(keyword)), keyword, value))]
        problems += [p for private in inst["private"] if (p := _private_problem(dataset.get(private["tag"]), private))]
        expect.that(not problems, what=f"attributes of {inst['file']} in study metadata",
                    expected="every manifest attribute with its stored value", actual="; ".join(problems[:6]),
                    response=response)


@pytest.mark.requirement("WADO-031")
@pytest.mark.parametrize("series_key", _SERIES_KEYS)
def test_pixel_data_is_given_as_a_bulk_data_uri(client, truth, expect, series_key):
    path, instances = _level_paths(truth, "series", series_key)
    response, datasets = _get_json(client, expect, path, "WADO-031")
    for ds in datasets:
        element = ds.get(PIXEL_DATA)
        expect.that(element is not None and isinstance(element.get("BulkDataURI"), str)
                    and "Value" not in element and "InlineBinary" not in element,
                    what=f"Pixel Data (7FE0,0010) of {_sop(ds)}", expected='{"vr": "OB"|"OW", "BulkDataURI": "..."}',
                    actual=element if element is None else {k: (v if k != "InlineBinary" else v[:40] + "...")
                                                            for k, v in element.items()},
                    response=response)


@pytest.mark.requirement("WADO-032")
@pytest.mark.parametrize("file", _BULK_FILES)
def test_binary_values_are_bulk_data_uris_or_inline_binary(client, truth, expect, file):
    inst = truth.instance_by_file(file)
    response, datasets = _get_json(client, expect, f"{instance_path(inst)}/metadata", "WADO-032")
    expect.equal(len(datasets), 1, what="number of datasets of an instance", response=response)
    for bulk in inst["bulk"]:
        element = element_at(datasets[0], bulk["path"])
        expect.that(element is not None and ({"BulkDataURI", "InlineBinary"} & set(element)),
                    what=f"{bulk['vr']} element at {bulk['path']} ({bulk['length']} bytes)",
                    expected="a BulkDataURI or an InlineBinary", actual=element, response=response)
        if "InlineBinary" in element:
            try:
                data = base64.b64decode(element["InlineBinary"], validate=True)
            except (ValueError, TypeError) as exc:
                expect.fail(what=f"InlineBinary at {bulk['path']}", expected="base64 (F.2.7)", actual=str(exc),
                            response=response)
            expect.equal(sha256(data), bulk["sha256"], what=f"SHA-256 of the InlineBinary at {bulk['path']}",
                         response=response)


def _xml_sop(document: bytes) -> str | None:
    root = etree.fromstring(document)
    found = root.xpath("/*[local-name()='NativeDicomModel']/*[local-name()='DicomAttribute'][@tag='00080018']"
                       "/*[local-name()='Value']/text()")
    return found[0].strip() if found else None


@pytest.mark.requirement("WADO-010", "MODEL-008")
@pytest.mark.parametrize("level, key", [("study", _MANIFEST["studies"][2]["StudyInstanceUID"]),
                                        ("series", "jane-us-cine"), ("instance", "sato-mr-cine-001.dcm"),
                                        ("instance", "vix-ct-axial-001.dcm")], ids=["study", "series", "instance",
                                                                                    "instance-private"])
def test_metadata_as_dicom_xml(client, truth, expect, level, key):
    path, instances = _level_paths(truth, level, key)
    response = client.get(path, headers={"Accept": XML})
    expect.status(response, 200, req="WADO-010")
    mp = expect_multipart(response, req="WADO-010", root_type="application/dicom+xml",
                          part_types="application/dicom+xml")
    sops = []
    for part in mp.parts:
        expect.dicom_xml(part.body, req="MODEL-008", response=response)
        sops.append(_xml_sop(part.body))
    expect.equal(len(sops), len(instances), req="WADO-010", what="number of XML parts (one per instance)",
                 response=response)
    expect.same_set(sops, [i["SOPInstanceUID"] for i in instances], req="WADO-010",
                    what="SOP Instance UIDs of the XML parts", response=response)


@pytest.mark.requirement("HTTP-007", "HTTP-008", "WADO-010")
def test_xml_metadata_has_the_multipart_syntax_of_8_6_1_2(client, truth, expect):
    path, _ = _level_paths(truth, "series", "doe-mr-t2")
    response = client.get(path, headers={"Accept": XML})
    expect.status(response, 200, req="WADO-010")
    expect.content_type(response, XML, req="HTTP-008")
    expect_multipart(response, req="HTTP-007", strict=True, root_type="application/dicom+xml")


@pytest.mark.requirement("WADO-008")
@pytest.mark.parametrize("level", ["study", "series", "instance"])
def test_metadata_of_a_resource_that_does_not_exist_is_404(client, truth, expect, level):
    inst = truth.instance_by_file("wang-ct-001.dcm")
    unknown = f"{truth.uid_root}.999.7"
    path = {"study": f"studies/{unknown}", "series": f"{study_path(inst)}/series/{unknown}",
            "instance": f"{series_path(inst)}/instances/{unknown}"}[level]
    response = client.get(f"{path}/metadata", headers={"Accept": JSON})
    expect.status(response, 404)
