"""The DICOM JSON Model (PS3.18 2019a Annex F) in QIDO-RS, WADO-RS metadata and STOW-RS responses.

:func:`json_model_problems` walks a payload and sorts what breaks Annex F by
requirement: object structure and key order (F.2.1, F.2.2), the JSON type of
each value per Table F.2.3-1, Person Name objects (F.2.2), at most one of
Value/BulkDataURI/InlineBinary (F.2.2), and the VR of each standard attribute
per the PS3.6 data dictionary (pydicom.datadict) -- private attributes against
the VR the fixture stored them with.  The tests then check values from the
fixture manifest: names and descriptions in Latin-1, ISO_IR 192, ISO 2022 IR
87 and GB18030 decoded to the same Unicode text (F.2: UTF-8), empty Type 2
attributes kept without Value (F.2.5), and InlineBinary that decodes to the
stored bytes (F.2.7).  The Native DICOM Model (XML) is in test_model_xml.py.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import pytest
from pydicom.datadict import dictionary_VR

JSON = "application/dicom+json"
_STRING_VRS = {"AE", "AS", "CS", "DA", "DT", "LO", "LT", "SH", "ST", "TM", "UC", "UI", "UR", "UT"}
_NUMBER_VRS = {"FL", "FD", "SL", "SS", "UL", "US"}
_NUMBER_OR_STRING_VRS = {"DS", "IS", "SV", "UV"}
_BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
#: F.2.2: the VRs whose Value Field a BulkDataURI may describe.
_BULK_VRS = {"DS", "FL", "FD", "IS", "LT", "OB", "OD", "OF", "OL", "OV", "OW", "SL", "SS", "ST", "SV", "UC",
             "UL", "UN", "US", "UT", "UV"}
_PN_GROUPS = {"Alphabetic", "Ideographic", "Phonetic"}
_MEMBERS = ("Value", "BulkDataURI", "InlineBinary")
_TAG = re.compile(r"[0-9A-F]{8}")
_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
MODEL_IDS = ("MODEL-001", "MODEL-002", "MODEL-003", "MODEL-004", "MODEL-005", "MODEL-007", "MODEL-009", "MODEL-010")
CASES = ["vix-ct-axial-001.dcm", "vix-sc-rgb-001.dcm", "doe-mr-t2-003.dcm", "doe-sc-palette-001.dcm",
         "jane-us-cine-001.dcm", "yamada-cr-001.dcm", "sato-mr-cine-001.dcm", "wang-ct-001.dcm"]
STUDY_CASES = ["vix-ct-axial-001.dcm", "doe-mr-t2-001.dcm", "jane-us-cine-001.dcm", "yamada-cr-001.dcm",
               "sato-mr-cine-001.dcm", "wang-ct-001.dcm"]


# -- the walker ---------------------------------------------------------------------------------------
def json_model_problems(payload: Any, private_vrs: dict[str, str] | None = None) -> dict[str, list[str]]:
    """What breaks Annex F in ``payload`` (an array of datasets or one dataset), by requirement ID."""
    out: dict[str, list[str]] = defaultdict(list)
    if isinstance(payload, list):
        for n, dataset in enumerate(payload):
            _dataset(dataset, f"[{n}]", out, private_vrs or {})
    else:
        _dataset(payload, "", out, private_vrs or {})
    return out


def _dataset(dataset: Any, where: str, out: dict[str, list[str]], private_vrs: dict[str, str]) -> None:
    if not isinstance(dataset, dict):
        out["MODEL-001"].append(f"{where or '/'}: a {type(dataset).__name__}, not a DICOM JSON Model object")
        return
    keys = list(dataset)
    for key in keys:
        if not isinstance(key, str) or not _TAG.fullmatch(key):
            out["MODEL-002"].append(f"{where}/{key}: not eight upper-case hexadecimal digits")
        elif key[4:] == "0000":
            out["MODEL-002"].append(f"{where}/{key}: Group Length attributes shall not be included")
    for before, after in zip(keys, keys[1:]):
        if str(before) >= str(after):
            out["MODEL-002"].append(f"{where or '/'}: {after} follows {before} (ascending order required)")
            break
    for key, attr in dataset.items():
        if isinstance(key, str) and _TAG.fullmatch(key):
            _attribute(key, attr, f"{where}/{key}", out, private_vrs)


def _allowed_vrs(key: str, private_vrs: dict[str, str]) -> set[str] | None:
    tag = int(key, 16)
    group, element = tag >> 16, tag & 0xFFFF
    if group % 2:
        if 0x0010 <= element <= 0x00FF:
            return {"LO"}  # Private Creator (PS3.5 7.8.1)
        return {private_vrs[key]} if key in private_vrs else None
    try:
        return set(dictionary_VR(tag).split(" or "))
    except KeyError:  # not in the dictionary pydicom ships: nothing to compare with
        return None


def _attribute(key: str, attr: Any, where: str, out: dict[str, list[str]], private_vrs: dict[str, str]) -> None:
    if not isinstance(attr, dict) or not isinstance(attr.get("vr"), str):
        out["MODEL-003"].append(f"{where}: attribute object without a vr string: {str(attr)[:60]}")
        return
    vr = attr["vr"]
    unknown = set(attr) - {"vr", *_MEMBERS}
    if unknown:
        out["MODEL-003"].append(f"{where}: unexpected members {sorted(unknown)}")
    present = [m for m in _MEMBERS if m in attr]
    if len(present) > 1:
        out["MODEL-010"].append(f"{where}: holds {' and '.join(present)}")
    allowed = _allowed_vrs(key, private_vrs)
    if allowed is not None and vr not in allowed:
        out["MODEL-009"].append(f"{where}: vr {vr}, the data dictionary gives {' or '.join(sorted(allowed))}")
    if "Value" in attr:
        _value(vr, attr["Value"], where, out, private_vrs)
    if "BulkDataURI" in attr:
        uri = attr["BulkDataURI"]
        if vr not in _BULK_VRS:
            out["MODEL-003"].append(f"{where}: BulkDataURI on an attribute of VR {vr}")
        if not isinstance(uri, str) or not uri or any(c.isspace() for c in uri):
            out["MODEL-007"].append(f"{where}: BulkDataURI {uri!r} is not a URI")
    if "InlineBinary" in attr:
        data = attr["InlineBinary"]
        if vr not in _BINARY_VRS:
            out["MODEL-003"].append(f"{where}: InlineBinary on an attribute of VR {vr}")
        if not isinstance(data, str) or not _BASE64.fullmatch(data):
            out["MODEL-007"].append(f"{where}: InlineBinary is not a base64 string: {str(data)[:40]!r}")


def _value(vr: str, values: Any, where: str, out: dict[str, list[str]], private_vrs: dict[str, str]) -> None:
    if not isinstance(values, list):
        out["MODEL-003"].append(f"{where}: Value is a {type(values).__name__}, not an array")
        return
    if not values:
        out["MODEL-005"].append(f"{where}: empty Value array (F.2.5: an empty attribute has no Value)")
    if vr in _BINARY_VRS:
        out["MODEL-003"].append(f"{where}: Value on a {vr} attribute (F.2.2: InlineBinary or BulkDataURI)")
        return
    for n, value in enumerate(values):
        at = f"{where}/Value[{n}]"
        if vr == "SQ":
            if isinstance(value, dict):
                _dataset(value, at, out, private_vrs)
            else:
                out["MODEL-003"].append(f"{at}: a sequence item must be an object, got {value!r:.40}")
        elif value is None:
            continue  # an empty value of a multi-valued attribute (F.2.5)
        elif vr == "PN":
            if not isinstance(value, dict) or not value or set(value) - _PN_GROUPS \
                    or not all(isinstance(v, str) for v in value.values()):
                out["MODEL-004"].append(f"{at}: {value!r:.60} is not an object of Alphabetic/Ideographic/Phonetic "
                                        "strings")
        elif vr == "AT":
            if not isinstance(value, str) or not _TAG.fullmatch(value):
                out["MODEL-003"].append(f"{at}: AT value {value!r} is not eight upper-case hexadecimal digits")
        elif vr in _STRING_VRS:
            if not isinstance(value, str):
                out["MODEL-003"].append(f"{at}: {vr} value {value!r:.40} is not a JSON string")
        elif vr in _NUMBER_VRS:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                out["MODEL-003"].append(f"{at}: {vr} value {value!r:.40} is not a JSON number")
        elif vr in _NUMBER_OR_STRING_VRS:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                out["MODEL-003"].append(f"{at}: {vr} value {value!r:.40} is neither a number nor a string")
        else:
            out["MODEL-003"].append(f"{at}: unknown vr {vr!r}")


def check_model(payload: Any, expect: Any, response: Any, private_vrs: dict[str, str] | None = None) -> None:
    """Fail with the first requirement whose rule ``payload`` breaks, listing what breaks it."""
    problems = json_model_problems(payload, private_vrs)
    for req in MODEL_IDS:
        found = problems.get(req, [])
        expect.equal(found[:8], [], req=req, response=response,
                     what=f"DICOM JSON Model rule violations ({len(found)} in all)")


# -- fetching ------------------------------------------------------------------------------------------
def values(dataset: dict[str, Any], tag: str) -> list[Any]:
    return (dataset.get(tag) or {}).get("Value") or []


def _utf8_json(response: Any, expect: Any, req: str) -> Any:
    """The payload decoded as UTF-8 (F.2: the default repertoire is UTF-8) and parsed."""
    try:
        response.content.decode("utf-8")
    except UnicodeDecodeError as exc:
        expect.fail(req="MODEL-006", what="DICOM JSON payload", expected="UTF-8 text", actual=str(exc),
                    response=response)
    return expect.json_body(response, req=req)


def instance_metadata(client: Any, expect: Any, instance: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    path = (f"studies/{instance['StudyInstanceUID']}/series/{instance['SeriesInstanceUID']}/instances/"
            f"{instance['SOPInstanceUID']}/metadata")
    response = client.get(path, headers={"Accept": JSON})
    expect.status(response, 200, req="WADO-009")
    data = _utf8_json(response, expect, "WADO-009")
    expect.that(isinstance(data, list) and len(data) == 1, req="MODEL-001", response=response,
                what="instance metadata payload", expected="an array of one dataset", actual=str(data)[:80])
    return response, data[0]


def private_vrs_of(instance: dict[str, Any]) -> dict[str, str]:
    return {p["tag"]: p["vr"] for p in instance.get("private", [])}


# -- structure -------------------------------------------------------------------------------------------
@pytest.mark.requirement("QIDO-001", *MODEL_IDS)
@pytest.mark.parametrize("level", ["studies", "series", "instances"])
@pytest.mark.parametrize("name", STUDY_CASES)
def test_qido_results_follow_the_json_model(client, truth, expect, level, name):
    study = truth.instance_by_file(name)["StudyInstanceUID"]
    if level == "studies":
        response = client.get("studies", params={"StudyInstanceUID": study, "includefield": "all"},
                              headers={"Accept": JSON})
    else:
        response = client.get(f"studies/{study}/{level}", params={"includefield": "all"}, headers={"Accept": JSON})
    expect.status(response, 200, req="QIDO-001")
    check_model(_utf8_json(response, expect, "MODEL-001"), expect, response)


@pytest.mark.requirement("WADO-009", *MODEL_IDS)
@pytest.mark.parametrize("name", CASES)
def test_metadata_follows_the_json_model(client, truth, expect, name):
    instance = truth.instance_by_file(name)
    response, dataset = instance_metadata(client, expect, instance)
    check_model([dataset], expect, response, private_vrs_of(instance))


@pytest.mark.requirement("STOW-002", *MODEL_IDS)
def test_stow_response_follows_the_json_model(client, fresh_truth, expect):
    fresh = fresh_truth()
    good = fresh.instance_by_file("wang-ct-001.dcm")
    response = client.stow([fresh.file_bytes(good["SOPInstanceUID"])])  # one good instance: the answer is 200
    expect.status(response, 200, req="STOW-002")
    payload = _utf8_json(response, expect, "STOW-002")
    check_model(payload, expect, response)


# -- values -----------------------------------------------------------------------------------------------
_NAME_TAGS = {"PatientName": "00100010", "ReferringPhysicianName": "00080090"}


@pytest.mark.requirement("QIDO-001", "WADO-009", "MODEL-004", "MODEL-006")
@pytest.mark.parametrize("name", STUDY_CASES)
def test_names_and_text_are_decoded_to_unicode(client, truth, expect, name):
    """PN groups and LO text of every character set come back as the manifest's Unicode text."""
    instance = truth.instance_by_file(name)
    study = truth.study(instance["StudyInstanceUID"])
    response = client.get("studies", params={"StudyInstanceUID": study["StudyInstanceUID"],
                                             "includefield": "StudyDescription"}, headers={"Accept": JSON})
    expect.status(response, 200, req="QIDO-001")
    found = _utf8_json(response, expect, "QIDO-001")
    metadata_response, metadata = instance_metadata(client, expect, instance)
    for where, dataset, resp in (("QIDO-RS study result", found[0] if found else {}, response),
                                 ("instance metadata", metadata, metadata_response)):
        for keyword, tag in _NAME_TAGS.items():
            if study[keyword] is None:
                continue
            found_names = values(dataset, tag)
            expect.that(all(isinstance(v, dict) for v in found_names), req="MODEL-004", response=resp,
                        what=f"{keyword} ({tag}) in the {where}", actual=found_names,
                        expected="Person Name values as objects of component groups (F.2.2)")
            expect.equal(found_names, [study[keyword]], req="MODEL-006", response=resp,
                         what=f"{keyword} ({tag}) in the {where}")
        expect.equal(values(dataset, "00081030"), [study["StudyDescription"]], req="MODEL-006", response=resp,
                     what=f"StudyDescription (0008,1030) in the {where}")


@pytest.mark.requirement("QIDO-001", "WADO-009", "MODEL-005")
def test_empty_type2_attributes_are_kept_without_value(client, truth, expect):
    """F.2.5: ReferringPhysicianName and StudyID are present but empty in the jane study."""
    instance = truth.instance_by_file("jane-us-cine-001.dcm")
    response = client.get("studies", params={"StudyInstanceUID": instance["StudyInstanceUID"]},
                          headers={"Accept": JSON})
    expect.status(response, 200, req="QIDO-001")
    found = expect.json_body(response, req="QIDO-001")
    metadata_response, metadata = instance_metadata(client, expect, instance)
    for where, dataset, resp in (("QIDO-RS study result", found[0] if found else {}, response),
                                 ("instance metadata", metadata, metadata_response)):
        for keyword, (tag, vr) in {"ReferringPhysicianName": ("00080090", "PN"), "StudyID": ("00200010", "SH")}.items():
            expect.equal(dataset.get(tag), {"vr": vr}, response=resp, req="MODEL-005",
                         what=f"{keyword} ({tag}), present and empty in the stored instance, in the {where}")


def _walk_path(dataset: dict[str, Any], path: str) -> Any:
    node: Any = dataset
    for step in path.split("/"):
        if len(step) == 8:  # a tag; otherwise an item index
            node = node.get(step) if isinstance(node, dict) else None
        else:
            node = node[int(step)] if isinstance(node, list) and int(step) < len(node) else None
        if node is None:
            return None
        if isinstance(node, dict) and "vr" in node and node.get("vr") == "SQ":
            node = node.get("Value") or []
    return node


@pytest.mark.requirement("WADO-009", "MODEL-007")
@pytest.mark.parametrize("name", ["vix-ct-axial-001.dcm", "vix-sc-rgb-001.dcm", "doe-sc-palette-001.dcm"])
def test_binary_values_are_inline_base64_or_bulk_data_uris(client, truth, expect, name):
    """F.2.7: InlineBinary decodes to the stored bytes; F.2.6: otherwise a BulkDataURI."""
    instance = truth.instance_by_file(name)
    response, dataset = instance_metadata(client, expect, instance)
    for bulk in instance["bulk"]:
        attr = _walk_path(dataset, bulk["path"])
        expect.that(isinstance(attr, dict), req="MODEL-007", response=response,
                    what=f"attribute {bulk['path']} in the metadata", expected="present", actual=attr)
        if "InlineBinary" in attr:
            try:
                data = base64.b64decode(attr["InlineBinary"], validate=True)
            except ValueError as exc:
                expect.fail(req="MODEL-007", what=f"InlineBinary of {bulk['path']}", expected="base64",
                            actual=str(exc), response=response)
            expect.equal((len(data), hashlib.sha256(data).hexdigest()), (bulk["length"], bulk["sha256"]),
                         req="MODEL-007", response=response,
                         what=f"(length, SHA-256) of the decoded InlineBinary of {bulk['path']}")
        else:
            uri = attr.get("BulkDataURI")
            parts = urlsplit(uri) if isinstance(uri, str) else None
            expect.that(parts is not None and (parts.scheme in ("http", "https") or not parts.scheme)
                        and parts.path, req="MODEL-007", response=response,
                        what=f"value of {bulk['path']} ({bulk['vr']}, {bulk['length']} bytes)",
                        expected="InlineBinary or a BulkDataURI", actual=str(attr)[:120])
