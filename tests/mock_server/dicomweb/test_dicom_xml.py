"""Tests of the Native DICOM Model writer/reader (PS3.19 A.1) and its RELAX NG schema.

Expected structures come from PS3.19 A.1.5 (Tables A.1.5-1/-2 and their
examples), the A.1.6 schema and the XML/JSON mapping of PS3.18 F.3.1.
"""

from __future__ import annotations

import base64
import struct

import pytest
from lxml import etree
from pydicom.dataset import Dataset

from dicomweb_conformance.schemas import SchemaValidationError, validate_xml, xml_problems, xml_schema
from dicomweb_mock.dicomweb.dicom_json import DicomJsonError, dataset_to_json, json_to_dataset
from dicomweb_mock.dicomweb.dicom_xml import (
    NATIVE_DICOM_NS, DicomXmlError, dataset_to_xml, dataset_to_xml_element, json_to_xml,
    xml_to_dataset, xml_to_json,
)
from tests.helpers.part10 import reread

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
NS = {"d": NATIVE_DICOM_NS}
YAMADA = "Yamada^Tarou=山田^太郎=やまだ^たろう"  # PS3.5 H.3.1 example 1




def sample() -> Dataset:
    """Every VR family, A.1.5's multi-value examples, 3-level SQ, privates, bulk."""
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    add = ds.add_new
    add(0x00080008, "CS", ["MPG", "", "XR3"])  # A.1.5 example "MPG\\XR3"
    add(0x00080012, "DA", "20190101")
    add(0x00080054, "AE", "STORESCP")
    add(0x00080070, "LO", "")
    add(0x00080090, "PN", "^Bob^^Dr.")
    add(0x00080108, "LT", "page one\fpage two")  # FF is allowed in LT, not in XML 1.0
    add(0x0008040C, "UV", 2**60)
    add(0x00081163, "FD", [0.25, -1.5e-10])
    add(0x00089459, "FL", 29.5)
    add(0x00100010, "PN", YAMADA)
    add(0x0008009C, "PN", ["Wang^XiaoDong", "", "Lee^Ann^B^Ms^III"])
    add(0x00140202, "AT", 0x0020000D)
    add(0x00181310, "US", [0, 256, 256, 0])
    add(0x00186020, "SL", -70000)
    add(0x00189219, "SS", -5)
    add(0x00200012, "IS", "5")
    add(0x00280030, "DS", ["0.5", "0.4"])  # A.1.5 example "0.5\\0.4"
    add(0x00720082, "SV", [-3, 4])
    add(0x00080119, "UC", "long code")
    add(0x0008010E, "UR", "http://example.com/x")
    add(0x0008030E, "UT", "text")
    add(0x00081110, "SQ", [_nested(), Dataset()])
    add(0x00081111, "SQ", [])
    add(0x00090010, "LO", "ACME 1.0")
    add(0x00090011, "LO", "OTHER")
    add(0x00091010, "LO", "acme value")
    add(0x00091011, "UN", b"\x01\x02\x03\x04")
    add(0x00091110, "SH", "other value")
    add(0x0008041B, "OB", b"\x00\x01\x02\x03")
    add(0x00181638, "OF", struct.pack("<2f", 1.5, -2.0))
    add(0x00281201, "OW", b"\x01\x00" * 1024)
    add(0x7FE00010, "OW", b"\x00\x10" * 8)
    return reread(ds)


def _nested() -> Dataset:
    level3 = Dataset()
    level3.CodeValue = "L3"
    level2 = Dataset()
    level2.add_new(0x00400008, "SQ", [level3])
    level1 = Dataset()
    level1.ReferencedSOPInstanceUID = "1.2.3"
    level1.add_new(0x00081032, "SQ", [level2])
    return level1


@pytest.fixture(scope="module")
def real() -> Dataset:
    return sample()


def uri_for(path: tuple[int, ...]) -> str:
    return "https://mock/bulk/" + "/".join(f"{part:X}" for part in path)


def attr(root: etree._Element, tag: str, creator: str | None = None) -> etree._Element:
    if creator is None:
        found = root.xpath(f"d:DicomAttribute[@tag='{tag}' and not(@privateCreator)]", namespaces=NS)
    else:
        found = root.xpath(f"d:DicomAttribute[@tag='{tag}' and @privateCreator='{creator}']",
                           namespaces=NS)
    assert len(found) == 1, f"{tag}: {len(found)} matches"
    return found[0]


def values(element: etree._Element) -> list[tuple[str, str]]:
    return [(v.get("number"), v.text or "") for v in element.findall("d:Value", NS)]


# ---------------------------------------------------------------------------
# Writing (A.1.5)
# ---------------------------------------------------------------------------

def test_document_root_declaration_and_namespace(real: Dataset) -> None:
    data = dataset_to_xml(real)
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(data)
    assert root.tag == f"{{{NATIVE_DICOM_NS}}}NativeDicomModel"
    assert root.get("{http://www.w3.org/XML/1998/namespace}space") == "preserve"
    validate_xml(data, require_xml_space=True)


def test_attributes_carry_tag_vr_keyword(real: Dataset) -> None:
    root = dataset_to_xml_element(real)
    name = attr(root, "00100010")
    assert (name.get("vr"), name.get("keyword")) == ("PN", "PatientName")
    assert name.get("privateCreator") is None
    assert attr(root, "00280030").get("keyword") == "PixelSpacing"


def test_multi_values_are_numbered_and_empty_values_kept(real: Dataset) -> None:
    root = dataset_to_xml_element(real)
    assert values(attr(root, "00280030")) == [("1", "0.5"), ("2", "0.4")]
    assert values(attr(root, "00080008")) == [("1", "MPG"), ("2", ""), ("3", "XR3")]
    assert values(attr(root, "00181310")) == [("1", "0"), ("2", "256"), ("3", "256"), ("4", "0")]
    assert values(attr(root, "00140202")) == [("1", "0020000D")]  # AT: uppercase hex
    assert len(attr(root, "00080070")) == 0  # zero length: no Value elements


def test_person_name_components(real: Dataset) -> None:
    root = dataset_to_xml_element(real)
    pn = attr(root, "00100010").find("d:PersonName", NS)
    assert pn.get("number") == "1"
    groups = {g.tag.split("}")[1]: [(c.tag.split("}")[1], c.text) for c in g] for g in pn}
    assert groups == {
        "Alphabetic": [("FamilyName", "Yamada"), ("GivenName", "Tarou")],
        "Ideographic": [("FamilyName", "山田"), ("GivenName", "太郎")],
        "Phonetic": [("FamilyName", "やまだ"), ("GivenName", "たろう")],
    }
    names = attr(root, "0008009C").findall("d:PersonName", NS)
    assert [n.get("number") for n in names] == ["1", "2", "3"]
    assert len(names[1]) == 0
    full = names[2].find("d:Alphabetic", NS)
    assert [c.tag.split("}")[1] for c in full] == [
        "FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix"]
    bob = attr(root, "00080090").find("d:PersonName/d:Alphabetic", NS)
    assert [(c.tag.split("}")[1], c.text) for c in bob] == [("GivenName", "Bob"), ("NamePrefix", "Dr.")]


def test_sequences_are_numbered_items(real: Dataset) -> None:
    root = dataset_to_xml_element(real)
    items = attr(root, "00081110").findall("d:Item", NS)
    assert [i.get("number") for i in items] == ["1", "2"]
    assert len(items[1]) == 0
    path = ("d:DicomAttribute[@tag='00081032']/d:Item[@number='1']/"
            "d:DicomAttribute[@tag='00400008']/d:Item[@number='1']/"
            "d:DicomAttribute[@keyword='CodeValue']/d:Value[@number='1']")
    assert [v.text for v in items[0].xpath(path, namespaces=NS)] == ["L3"]
    assert len(attr(root, "00081111")) == 0


def test_private_elements_use_gggg00ee_with_private_creator(real: Dataset) -> None:
    root = dataset_to_xml_element(real)
    acme = attr(root, "00090010", "ACME 1.0")
    assert values(acme) == [("1", "acme value")] and acme.get("keyword") is None
    assert attr(root, "00090011", "ACME 1.0").find("d:InlineBinary", NS).text == "AQIDBA=="
    assert values(attr(root, "00090010", "OTHER")) == [("1", "other value")]
    assert values(attr(root, "00090010")) == [("1", "ACME 1.0")]  # the creator element itself


def test_binary_values_inline_or_bulk(real: Dataset) -> None:
    root = dataset_to_xml_element(real, bulk_data_uri=uri_for)
    assert attr(root, "0008041B").find("d:InlineBinary", NS).text == "AAECAw=="
    bulk = attr(root, "00281201").find("d:BulkData", NS)
    assert bulk.get("uri") == "https://mock/bulk/281201"
    assert attr(root, "7FE00010").find("d:BulkData", NS).get("uri") == "https://mock/bulk/7FE00010"
    plain = dataset_to_xml_element(real)
    assert plain.xpath("d:DicomAttribute[@tag='7FE00010']", namespaces=NS) == []
    inline = attr(plain, "00281201").find("d:InlineBinary", NS).text
    assert base64.b64decode(inline) == b"\x01\x00" * 1024


def test_characters_outside_xml_are_replaced(real: Dataset) -> None:
    root = etree.fromstring(dataset_to_xml(real))
    assert values(attr(root, "00080108")) == [("1", "page one\ufffdpage two")]


def test_outputs_validate_against_the_rng(real: Dataset) -> None:
    for kwargs in ({}, {"bulk_data_uri": uri_for}, {"include_pixel_data": True}):
        validate_xml(dataset_to_xml(real, **kwargs), require_xml_space=True)
    assert xml_schema().validate(etree.ElementTree(dataset_to_xml_element(real)))


# ---------------------------------------------------------------------------
# JSON <-> XML (F.3.1) and round trips
# ---------------------------------------------------------------------------

def test_json_to_xml_f21_example() -> None:
    obj = {"0020000D": {"vr": "UI", "Value": [
        "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873"]}}
    root = etree.fromstring(json_to_xml(obj))
    element = attr(root, "0020000D")
    assert (element.get("vr"), element.get("keyword")) == ("UI", "StudyInstanceUID")
    assert values(element) == [("1", "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873")]


def test_json_to_xml_person_name_table_f31() -> None:
    obj = {"00100010": {"vr": "PN", "Value": [
        {"Alphabetic": "SB1^SB2^SB3^SB4^SB5", "Ideographic": "ID1^ID2^ID3^ID4^ID5",
         "Phonetic": "PH1^PH2^PH3^PH4^PH5"}, {"Alphabetic": "SB6"}]}}
    root = etree.fromstring(json_to_xml(obj))
    first, second = attr(root, "00100010").findall("d:PersonName", NS)
    assert [c.text for c in first.find("d:Ideographic", NS)] == ["ID1", "ID2", "ID3", "ID4", "ID5"]
    assert first.find("d:Phonetic/d:NameSuffix", NS).text == "PH5"
    assert [(c.tag.split("}")[1], c.text) for c in second.find("d:Alphabetic", NS)] == [
        ("FamilyName", "SB6")]
    assert xml_to_json(json_to_xml(obj)) == obj


def test_json_to_xml_to_json_is_identity(real: Dataset) -> None:
    for kwargs in ({}, {"bulk_data_uri": uri_for}, {"include_pixel_data": True}):
        obj = dataset_to_json(real, **kwargs)
        del obj["00080108"]  # holds FF, which XML 1.0 cannot carry (see the test below)
        assert xml_to_json(json_to_xml(obj)) == obj


def test_round_trip_dataset_xml_dataset(real: Dataset) -> None:
    data = dataset_to_xml(real, include_pixel_data=True)
    back = xml_to_dataset(data)
    expected = Dataset({e.tag: e for e in real})
    expected[0x00080108].value = "page one\ufffdpage two"  # the documented FF replacement
    assert back == expected
    assert str(back[0x00280030].value[0]) == "0.5"
    assert back.PatientName == YAMADA


def test_round_trip_with_bulk_loader(real: Dataset) -> None:
    data = dataset_to_xml(real, bulk_data_uri=uri_for)
    store = {uri_for((0x00281201,)): real[0x00281201].value, uri_for((0x7FE00010,)): real.PixelData}
    back = xml_to_dataset(data, bulk_data_loader=store.__getitem__)
    assert back.PixelData == real.PixelData and back[0x00281201].value == real[0x00281201].value


def test_reader_allocates_a_block_for_unknown_private_creator() -> None:
    doc = f"""<NativeDicomModel xmlns="{NATIVE_DICOM_NS}">
      <DicomAttribute tag="00290010" vr="LO"><Value number="1">FIRST</Value></DicomAttribute>
      <DicomAttribute tag="00290003" vr="SH" privateCreator="SECOND"><Value number="1">b</Value></DicomAttribute>
      <DicomAttribute tag="00290003" vr="SH" privateCreator="FIRST"><Value number="1">a</Value></DicomAttribute>
    </NativeDicomModel>""".encode()
    ds = xml_to_dataset(doc)
    assert ds[0x00291003].value == "a"
    assert ds[0x00290011].value == "SECOND" and ds[0x00291103].value == "b"
    assert ds.private_block(0x0029, "SECOND")[0x03].value == "b"


def test_reader_accepts_pretty_printed_and_unnamespaced_documents() -> None:
    doc = b"""<?xml version="1.0" encoding="UTF-8"?>
    <NativeDicomModel xml:space="preserve">
      <DicomAttribute tag="00280030" vr="DS" keyword="PixelSpacing">
        <Value number="2">0.4</Value>
        <Value number="1">0.5</Value>
      </DicomAttribute>
      <DicomAttribute tag="00100010" vr="PN">
        <PersonName number="1">
          <Alphabetic><FamilyName>Doe</FamilyName><GivenName>John</GivenName></Alphabetic>
        </PersonName>
      </DicomAttribute>
    </NativeDicomModel>"""
    assert xml_to_json(doc) == {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^John"}]},
                                "00280030": {"vr": "DS", "Value": [0.5, 0.4]}}
    assert xml_problems(doc)  # but without the namespace it is not valid per A.1.6


def _doc(body: str) -> bytes:
    return f'<NativeDicomModel xmlns="{NATIVE_DICOM_NS}">{body}</NativeDicomModel>'.encode()


@pytest.mark.parametrize("data, fragment", [
    (b"<NativeDicomModel>", "well-formed"),
    (b"<Other/>", "NativeDicomModel"),
    (_doc('<DicomAttribute tag="0010001a" vr="PN"/>'), "0010001a"),
    (_doc('<DicomAttribute vr="PN"/>'), "tag"),
    (_doc('<DicomAttribute tag="00100010" vr="XX"/>'), "00100010"),
    (_doc('<DicomAttribute tag="00280010" vr="US"><Value number="1">x</Value></DicomAttribute>'),
     "00280010"),
    (_doc('<DicomAttribute tag="00280010" vr="US"><Value number="2">1</Value></DicomAttribute>'),
     "00280010"),
    (_doc('<DicomAttribute tag="00280010" vr="US"><Value>1</Value></DicomAttribute>'), "00280010"),
    (_doc('<DicomAttribute tag="00081110" vr="SQ"><Value number="1">1</Value></DicomAttribute>'),
     "00081110"),
    (_doc('<DicomAttribute tag="00080070" vr="LO"><InlineBinary>AA==</InlineBinary></DicomAttribute>'),
     "00080070"),
    (_doc('<DicomAttribute tag="00091010" vr="OB"><BulkData uri="http://a" uuid="1"/></DicomAttribute>'),
     "00091010"),
    (_doc('<DicomAttribute tag="00091010" vr="OB"><InlineBinary>!!</InlineBinary></DicomAttribute>'),
     "00091010"),
    (_doc('<DicomAttribute tag="00100010" vr="LO" privateCreator="X"/>'), "00100010"),
    (_doc('<DicomAttribute tag="00100010" vr="LO"/><DicomAttribute tag="00100010" vr="LO"/>'),
     "00100010"),
    (_doc('<DicomAttribute tag="00100010" vr="PN"><PersonName number="1"><Kanji/></PersonName>'
          '</DicomAttribute>'), "00100010"),
    (_doc('<Attribute tag="00100010" vr="PN"/>'), "Attribute"),
    (_doc('<DicomAttribute tag="00081110" vr="SQ"><Item number="1">'
          '<DicomAttribute tag="00081155" vr="UI"><Value number="0">1</Value></DicomAttribute>'
          '</Item></DicomAttribute>'), "00081155"),
])
def test_malformed_xml_raises(data: bytes, fragment: str) -> None:
    with pytest.raises(DicomXmlError) as info:
        xml_to_dataset(data)
    assert fragment in str(info.value)


def test_external_entities_are_not_resolved(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    doc = (f'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://{secret}">]>'
           f'<NativeDicomModel xmlns="{NATIVE_DICOM_NS}"><DicomAttribute tag="00100020" vr="LO">'
           f'<Value number="1">&x;</Value></DicomAttribute></NativeDicomModel>').encode()
    try:
        result = xml_to_json(doc)
    except DicomXmlError:
        return
    assert "TOP-SECRET" not in str(result)


# ---------------------------------------------------------------------------
# The RELAX NG schema (A.1.6)
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    '<DicomAttribute tag="0010001a" vr="PN"/>',
    '<DicomAttribute tag="100010" vr="PN"/>',
    '<DicomAttribute tag="00100010"/>',
    '<DicomAttribute tag="00100010" vr="XX"/>',
    '<DicomAttribute tag="00100010" vr="pn"/>',
    '<DicomAttribute tag="00280010" vr="US"><Value>1</Value></DicomAttribute>',
    '<DicomAttribute tag="00280010" vr="US"><Value number="0">1</Value></DicomAttribute>',
    '<DicomAttribute tag="00280010" vr="US"><Value number="1">1</Value><Item number="1"/></DicomAttribute>',
    '<DicomAttribute tag="00091010" vr="OB"><BulkData/></DicomAttribute>',
    '<DicomAttribute tag="00091010" vr="OB"><BulkData uri="a" uuid="b"/></DicomAttribute>',
    '<DicomAttribute tag="00091010" vr="OB"><InlineBinary>!!!</InlineBinary></DicomAttribute>',
    '<DicomAttribute tag="00091010" vr="OB"><InlineBinary>AA==</InlineBinary>'
    '<InlineBinary>AA==</InlineBinary></DicomAttribute>',
    '<DicomAttribute tag="00100010" vr="PN"><PersonName number="1"><Phonetic/><Alphabetic/>'
    '</PersonName></DicomAttribute>',
    '<DicomAttribute tag="00100010" vr="PN"><PersonName number="1"><Alphabetic>'
    '<GivenName>a</GivenName><FamilyName>b</FamilyName></Alphabetic></PersonName></DicomAttribute>',
    '<DicomAttribute tag="00100010" vr="PN" colour="red"/>',
    '<Unknown/>',
])
def test_broken_xml_fails_the_schema(body: str) -> None:
    with pytest.raises(SchemaValidationError) as info:
        validate_xml(_doc(body))
    assert info.value.problems


def test_schema_accepts_minimal_valid_forms() -> None:
    validate_xml(_doc(""))
    validate_xml(_doc('<DicomAttribute tag="00091010" vr="OB" privateCreator="X">'
                      '<BulkData uuid="5f0e8a2c-0000-4000-8000-000000000000"/></DicomAttribute>'))
    validate_xml(_doc('<DicomAttribute tag="00100010" vr="PN" keyword="PatientName">'
                      '<PersonName number="1"/></DicomAttribute>'))


def test_missing_xml_space_is_reported_on_request() -> None:
    validate_xml(_doc(""))
    with pytest.raises(SchemaValidationError, match="xml:space"):
        validate_xml(_doc(""), require_xml_space=True)
    with pytest.raises(SchemaValidationError, match="well-formed"):
        validate_xml(b"<NativeDicomModel")


@pytest.mark.parametrize("obj", [
    {"0010001a": {"vr": "PN"}},
    {"00100010": {"Value": []}},
    {"00091010": {"vr": "OB", "InlineBinary": "AA==", "BulkDataURI": "http://x/1"}},
    {"00100010": {"vr": "PN", "Value": ["Doe^John"]}},
    {"00280010": {"vr": "US", "Value": [[1]]}},
])
def test_json_to_xml_rejects_malformed_json(obj: dict) -> None:
    with pytest.raises(DicomJsonError):
        json_to_xml(obj)


def test_json_dataset_to_xml_from_decoded_json(real: Dataset) -> None:
    # a dataset that came from JSON (e.g. STOW-RS metadata) writes the same XML
    obj = dataset_to_json(real, include_pixel_data=True)
    assert json_to_xml(dataset_to_json(json_to_dataset(obj), include_pixel_data=True)) == \
        json_to_xml(obj)
