"""The Native DICOM Model (PS3.19 2019a A.1) in WADO-RS metadata: schema, names, character sets, private tags.

Instance metadata requested as ``multipart/related; type="application/dicom+xml"``
(PS3.18 10.4.4) must be one document per instance, valid against the A.1.6
schema (RELAX NG via ``expect.dicom_xml``), with ``xml:space="preserve"``,
PS3.6 keywords on standard attributes, ``privateCreator`` on private data
elements whose tag is ``gggg00ee`` (A.1.5 Table A.1.5-2), Person Names split
into groups and components, and every value in the document's Unicode
encoding whatever the instance's Specific Character Set (A.1.5: "any necessary
translation ... shall have been performed").  Expected names and texts are the
manifest's.
"""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree
from pydicom.datadict import keyword_for_tag

from dicomweb_conformance.checks.multipart import expect_multipart
from dicomweb_conformance.schemas import NATIVE_DICOM_NS

XML = "application/dicom+xml"
NS = {"d": NATIVE_DICOM_NS}
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_GROUPS = ("Alphabetic", "Ideographic", "Phonetic")
CASES = ["vix-ct-axial-001.dcm", "doe-mr-t2-001.dcm", "jane-us-cine-001.dcm", "yamada-cr-001.dcm",
         "sato-mr-cine-001.dcm", "wang-ct-001.dcm"]
IDS = ("WADO-010", "MODEL-008", "MODEL-011", "MODEL-012", "MODEL-013", "MODEL-014", "MODEL-015")


def _metadata_xml(client: Any, expect: Any, instance: dict[str, Any]) -> tuple[Any, bytes]:
    path = (f"studies/{instance['StudyInstanceUID']}/series/{instance['SeriesInstanceUID']}/instances/"
            f"{instance['SOPInstanceUID']}/metadata")
    response = client.get(path, headers={"Accept": f'multipart/related; type="{XML}"'})
    expect.status(response, 200, req="WADO-010")
    mp = expect_multipart(response, req="WADO-010", root_type=XML, part_types=XML)
    expect.equal(len(mp.parts), 1, req="WADO-010", what="parts of the instance metadata", response=response)
    return response, mp.parts[0].body


def _attribute(root: Any, tag: str) -> Any:
    found = root.xpath(f"d:DicomAttribute[@tag='{tag}']", namespaces=NS)
    return found[0] if found else None


def _person_name_groups(attribute: Any) -> dict[str, str]:
    """The groups of the first PersonName, each as its components joined by '^' (trailing empties dropped)."""
    groups: dict[str, str] = {}
    for group in _GROUPS:
        element = attribute.find(f"d:PersonName[@number='1']/d:{group}", namespaces=NS)
        if element is None:
            continue
        parts = [element.findtext(f"d:{c}", default="", namespaces=NS) for c in _COMPONENTS]
        while parts and not parts[-1]:
            parts.pop()
        groups[group] = "^".join(parts)
    return groups


def _keyword_problems(root: Any) -> list[str]:
    """MODEL-013: standard attributes carry their PS3.6 keyword and no privateCreator."""
    problems = []
    for element in root.iter(f"{{{NATIVE_DICOM_NS}}}DicomAttribute"):
        tag = element.get("tag", "")
        group = int(tag[:4], 16)
        if group % 2:
            if int(tag[4:], 16) >= 0x0100 and element.get("privateCreator") is None:
                problems.append(f"line {element.sourceline}: private data element {tag} without privateCreator")
            continue
        if element.get("privateCreator") is not None:
            problems.append(f"line {element.sourceline}: standard attribute {tag} with privateCreator")
        expected = keyword_for_tag(int(tag, 16))
        if expected and element.get("keyword") != expected:
            problems.append(f"line {element.sourceline}: {tag} keyword {element.get('keyword')!r}, PS3.6 says "
                            f"{expected!r}")
    return problems


def _private_problems(root: Any, instance: dict[str, Any]) -> list[str]:
    """MODEL-015: each private data element of the manifest as tag gggg00ee + privateCreator, same VR and value."""
    problems = []
    for private in instance["private"]:
        tag = private["tag"]
        if int(tag[4:], 16) < 0x1000:
            continue  # the Private Creator element itself
        xml_tag = tag[:4] + "00" + tag[6:]
        found = root.xpath(f"d:DicomAttribute[@tag='{xml_tag}'][@privateCreator='{private['creator']}']",
                           namespaces=NS)
        if not found:
            problems.append(f"({tag[:4]},{tag[4:]}) of {private['creator']!r}: no DicomAttribute tag='{xml_tag}' "
                            f"privateCreator='{private['creator']}'")
            continue
        if found[0].get("vr") != private["vr"]:
            problems.append(f"{xml_tag}: vr {found[0].get('vr')}, stored {private['vr']}")
        if "value" in private:
            got = [v.text or "" for v in found[0].findall("d:Value", namespaces=NS)]
            if got != [str(v) for v in private["value"]]:
                problems.append(f"{xml_tag}: values {got}, stored {private['value']}")
    return problems


@pytest.mark.requirement(*IDS)
@pytest.mark.parametrize("name", CASES)
def test_metadata_xml_follows_the_native_dicom_model(client, truth, expect, name):
    instance = truth.instance_by_file(name)
    study = truth.study(instance["StudyInstanceUID"])
    response, document = _metadata_xml(client, expect, instance)
    expect.dicom_xml(document, req="MODEL-008", response=response)
    root = etree.fromstring(document)
    expect.equal(root.get(_XML_SPACE), "preserve", req="MODEL-014", response=response,
                 what='xml:space of the NativeDicomModel element (A.1.5: "shall be included")')
    expect.equal(_keyword_problems(root)[:8], [], req="MODEL-013", response=response,
                 what="keyword/privateCreator attributes of the DicomAttribute elements")
    expect.equal(_private_problems(root, instance), [], req="MODEL-015", response=response,
                 what="private data elements of the instance")
    for keyword, tag in (("PatientName", "00100010"), ("ReferringPhysicianName", "00080090")):
        attribute = _attribute(root, tag)
        expect.that(attribute is not None, req="MODEL-011", response=response, what=f"{keyword} ({tag})",
                    expected="present (a Type 2 attribute of the stored instance)", actual="absent")
        if study[keyword] is None:
            expect.equal([child.tag.split("}")[-1] for child in attribute], [], req="MODEL-011", response=response,
                         what=f"children of the empty {keyword} ({tag})")
            continue
        expect.that(attribute.find("d:Value", namespaces=NS) is None and
                    attribute.find("d:PersonName", namespaces=NS) is not None, req="MODEL-011", response=response,
                    what=f"{keyword} ({tag}) element", expected="PersonName elements, no Value",
                    actual=etree.tostring(attribute, encoding="unicode")[:200])
        expect.equal(_person_name_groups(attribute), study[keyword], req="MODEL-012", response=response,
                     what=f"{keyword} ({tag}) groups rebuilt from the PersonName components")
    description = _attribute(root, "00081030")
    texts = [v.text for v in description.findall("d:Value", namespaces=NS)] if description is not None else None
    expect.equal(texts, [study["StudyDescription"]], req="MODEL-012", response=response,
                 what="StudyDescription (0008,1030) Value text")
