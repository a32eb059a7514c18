"""Tests of the DICOM JSON Model converter (PS3.18 2019a Annex F) and its JSON Schema.

Expected values come from Annex F (F.2.2-F.2.7, the F.4 example) and from
PS3.5 Annex H (the ISO 2022 IR 87 person name example), not from the code.
"""

from __future__ import annotations

import base64
import io
import json
import struct

import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from dicomweb_conformance.schemas import (
    SchemaValidationError, json_array_schema, json_problems, json_schema, validate_json,
)
from dicomweb_mock.dicomweb.dicom_json import (
    DicomJsonError, attribute_json, dataset_to_json, element_json, json_to_dataset,
)
from tests.helpers.part10 import reread

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

YAMADA = "Yamada^Tarou=山田^太郎=やまだ^たろう"  # PS3.5 H.3.1 example 1




def item(**keywords: object) -> Dataset:
    ds = Dataset()
    for keyword, value in keywords.items():
        setattr(ds, keyword, value)
    return ds


def all_vr_dataset() -> Dataset:
    """One attribute of each of the 34 VRs, multi-valued and empty cases, 3-level SQ, privates."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    add = ds.add_new
    add(0x00080000, "UL", 123)  # group length: must not appear (F.2.2)
    add(0x00080008, "CS", ["ORIGINAL", "", "AXIAL"])
    add(0x00080012, "DA", "20130409")
    add(0x00080013, "TM", "131600.0000")
    add(0x00080015, "DT", "20130409131600")
    add(0x00080054, "AE", ["AE_ONE", "AE_TWO"])
    add(0x00080070, "LO", "")
    add(0x00080081, "ST", "1 Main Street")
    add(0x00080090, "PN", "^Bob^^Dr.")
    add(0x0008009C, "PN", ["Wang^XiaoDong=王^小東", "", "Müller^Jürgen"])
    add(0x00080108, "LT", "line one\r\nline two")
    add(0x0008010E, "UR", "http://example.com/codes")
    add(0x00080119, "UC", "a long code value")
    add(0x0008030E, "UT", "private element description")
    add(0x0008040C, "UV", 2**60)
    add(0x00081160, "IS", ["1", "2", "-3"])
    add(0x00082130, "DS", ["0.50", "-1e3", "9007199254740993"])
    add(0x00089459, "FL", 29.5)
    add(0x00081163, "FD", [0.25, -1.5e-10])
    add(0x00101010, "AS", "045Y")
    add(0x00140202, "AT", 0x0020000D)
    add(0x00280009, "AT", [0x00181063, 0x7FE00010])
    add(0x00189219, "SS", -5)
    add(0x00186020, "SL", -70000)
    add(0x00280010, "US", 512)
    add(0x00080304, "US", [1, 65535])
    add(0x00720082, "SV", [-(2**62), 7])
    add(0x00280030, "DS", None)
    add(0x0020000D, "UI", "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873")
    add(0x0008041B, "OB", b"\x00\x01\x02\x03")
    add(0x003A032E, "OD", struct.pack("<2d", 1.5, -2.0))
    add(0x00181638, "OF", struct.pack("<2f", 1.5, -2.0))
    add(0x00660040, "OL", struct.pack("<2L", 1, 2))
    add(0x00720081, "OV", struct.pack("<Q", 2**40))
    add(0x00281201, "OW", bytes(range(256)) * 8)  # 2048 bytes: above the bulk threshold
    add(0x0072006D, "UN", b"\x10\x20")
    level3 = item(CodeValue="L3", CodingSchemeDesignator="DCM")
    level2 = item(CodeValue="L2")
    level2.add_new(0x00400008, "SQ", [level3])
    level1 = item(CodeValue="L1")
    level1.add_new(0x00081032, "SQ", [level2])
    add(0x00081110, "SQ", [level1, Dataset(), item(ReferencedSOPInstanceUID="1.2.3")])
    add(0x00081111, "SQ", [])
    add(0x00090010, "LO", "ACME 1.0")
    add(0x00091001, "LO", "not in a block")  # odd-group element below 0x10: kept as-is
    add(0x00091002, "UN", b"z0x9c8v7")
    add(0x00091010, "LO", "acme value")
    add(0x00091011, "OB", b"\x01" * 3000)
    add(0x7FE00010, "OB", b"\xFF\x00" * 8)
    return reread(ds)


@pytest.fixture(scope="module")
def real() -> Dataset:
    return all_vr_dataset()


def uri_for(path: tuple[int, ...]) -> str:
    return "http://mock/bulk/" + "/".join(f"{part:X}" for part in path)


# ---------------------------------------------------------------------------
# Dataset -> JSON facts (F.2.2 - F.2.7)
# ---------------------------------------------------------------------------

def test_keys_are_uppercase_hex_in_ascending_order_without_group_length(real: Dataset) -> None:
    obj = dataset_to_json(real)
    keys = list(obj)
    assert keys == sorted(keys)
    assert all(len(k) == 8 and k == k.upper() for k in keys)
    assert "00080000" not in obj
    assert "0020000D" in obj and "0020000d" not in obj


def test_group_length_read_from_a_file_is_excluded() -> None:
    raw = (struct.pack("<HH2sHL", 0x0008, 0x0000, b"UL", 4, 10)
           + struct.pack("<HH2sH", 0x0008, 0x0060, b"CS", 2) + b"CT")
    ds = pydicom.dcmread(io.BytesIO(raw), force=True)
    assert 0x00080000 in ds
    assert dataset_to_json(ds) == {"00080060": {"vr": "CS", "Value": ["CT"]}}


def test_file_meta_group_is_excluded() -> None:
    ds = item(PatientID="1")
    ds.add_new(0x00020010, "UI", "1.2.840.10008.1.2.1")
    assert list(dataset_to_json(ds)) == ["00100020"]


def test_person_name_objects_follow_f22(real: Dataset) -> None:
    obj = dataset_to_json(real)
    assert obj["00080090"] == {"vr": "PN", "Value": [{"Alphabetic": "^Bob^^Dr."}]}  # F.4
    assert obj["0008009C"]["Value"] == [
        {"Alphabetic": "Wang^XiaoDong", "Ideographic": "王^小東"},  # F.4 example value
        None,  # empty value in a multi-valued attribute (F.2.5)
        {"Alphabetic": "Müller^Jürgen"},
    ]


def test_person_name_iso_2022_ir_87_three_groups() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = YAMADA
    obj = dataset_to_json(reread(ds))
    assert obj["00100010"] == {"vr": "PN", "Value": [
        {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}]}
    assert obj["00080005"] == {"vr": "CS", "Value": [None, "ISO 2022 IR 87"]}


def test_person_name_with_only_ideographic_group_omits_empty_groups() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = "=山田^太郎"
    assert dataset_to_json(reread(ds))["00100010"]["Value"] == [{"Ideographic": "山田^太郎"}]


def test_latin1_text_is_decoded_with_specific_character_set() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.PatientName = "Buc^Jérôme"
    ds.InstitutionName = "Hôpital Saint-Éloi"
    obj = dataset_to_json(reread(ds))
    assert obj["00100010"]["Value"] == [{"Alphabetic": "Buc^Jérôme"}]
    assert obj["00080080"]["Value"] == ["Hôpital Saint-Éloi"]


def test_numbers_are_json_numbers(real: Dataset) -> None:
    obj = dataset_to_json(real)
    assert obj["00081160"] == {"vr": "IS", "Value": [1, 2, -3]}  # F.4 shows IS as numbers
    assert obj["00280010"] == {"vr": "US", "Value": [512]}
    assert obj["00080304"]["Value"] == [1, 65535]
    assert obj["00189219"]["Value"] == [-5]
    assert obj["00186020"]["Value"] == [-70000]
    assert obj["00089459"]["Value"] == [29.5]
    assert obj["00081163"]["Value"] == [0.25, -1.5e-10]
    for key in ("00081160", "00280010", "00089459", "00081163"):
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool)
                   for v in obj[key]["Value"])


def test_decimal_strings_are_numbers_unless_precision_would_be_lost(real: Dataset) -> None:
    # Table F.2.3-1 note: a string may be used to avoid losing precision of a DS.
    values = dataset_to_json(real)["00082130"]["Value"]
    assert values[:2] == [0.5, -1000.0]
    assert values[2] == "9007199254740993"  # 2**53 + 1 has no exact IEEE double
    assert int(values[2]) == 9007199254740993


def test_very_long_integers_beyond_2_53_are_strings(real: Dataset) -> None:
    obj = dataset_to_json(real)
    assert obj["0008040C"] == {"vr": "UV", "Value": [str(2**60)]}
    assert obj["00720082"] == {"vr": "SV", "Value": [str(-(2**62)), 7]}


def test_invalid_integer_and_decimal_strings_are_kept_as_strings() -> None:
    raw = (struct.pack("<HH2sH", 0x0020, 0x0013, b"IS", 4) + b"abc "
           + struct.pack("<HH2sH", 0x0028, 0x0030, b"DS", 6) + b"1.5.6 ")
    ds = pydicom.dcmread(io.BytesIO(raw), force=True)
    obj = dataset_to_json(ds)
    assert obj["00200013"]["Value"] == ["abc"]
    assert obj["00280030"]["Value"] == ["1.5.6"]
    assert json_problems(obj)  # and the schema says such data is not valid


def test_attribute_tags_are_uppercase_hex_strings(real: Dataset) -> None:
    obj = dataset_to_json(real)
    assert obj["00140202"] == {"vr": "AT", "Value": ["0020000D"]}
    assert obj["00280009"] == {"vr": "AT", "Value": ["00181063", "7FE00010"]}


def test_empty_values_follow_f25(real: Dataset) -> None:
    obj = dataset_to_json(real)
    assert obj["00080070"] == {"vr": "LO"}
    assert obj["00280030"] == {"vr": "DS"}
    assert obj["00081111"] == {"vr": "SQ"}
    assert obj["00080008"] == {"vr": "CS", "Value": ["ORIGINAL", None, "AXIAL"]}


def test_sequences_nest_three_levels_and_keep_empty_items(real: Dataset) -> None:
    seq = dataset_to_json(real)["00081110"]
    assert seq["vr"] == "SQ" and len(seq["Value"]) == 3
    first, empty, third = seq["Value"]
    assert empty == {}
    assert third == {"00081155": {"vr": "UI", "Value": ["1.2.3"]}}
    level2 = first["00081032"]["Value"][0]
    level3 = level2["00400008"]["Value"][0]
    assert level3 == {"00080100": {"vr": "SH", "Value": ["L3"]},
                      "00080102": {"vr": "SH", "Value": ["DCM"]}}


def test_private_creator_and_private_elements(real: Dataset) -> None:
    obj = dataset_to_json(real)
    assert obj["00090010"] == {"vr": "LO", "Value": ["ACME 1.0"]}
    assert obj["00091010"] == {"vr": "LO", "Value": ["acme value"]}
    assert obj["00091001"] == {"vr": "LO", "Value": ["not in a block"]}
    assert obj["00091002"] == {"vr": "UN", "InlineBinary": base64.b64encode(b"z0x9c8v7").decode()}


def test_binary_values_inline_as_one_base64_string(real: Dataset) -> None:
    obj = dataset_to_json(real)
    assert obj["0008041B"] == {"vr": "OB", "InlineBinary": "AAECAw=="}
    assert base64.b64decode(obj["003A032E"]["InlineBinary"]) == struct.pack("<2d", 1.5, -2.0)
    assert base64.b64decode(obj["00281201"]["InlineBinary"]) == bytes(range(256)) * 8
    assert "7FE00010" not in obj  # pixel data: neither URI nor include_pixel_data


def test_bulk_data_uri_callback_gets_tag_paths(real: Dataset) -> None:
    asked: list[tuple[int, ...]] = []

    def callback(path: tuple[int, ...]) -> str | None:
        asked.append(path)
        return None if path == (0x00091011,) else uri_for(path)

    obj = dataset_to_json(real, bulk_data_uri=callback)
    assert obj["00281201"] == {"vr": "OW", "BulkDataURI": "http://mock/bulk/281201"}
    assert obj["7FE00010"] == {"vr": "OB", "BulkDataURI": "http://mock/bulk/7FE00010"}
    assert obj["00091011"]["InlineBinary"] == base64.b64encode(b"\x01" * 3000).decode()
    assert obj["0008041B"] == {"vr": "OB", "InlineBinary": "AAECAw=="}  # below the threshold
    assert sorted(asked) == sorted([(0x00091011,), (0x00281201,), (0x7FE00010,)])


def test_bulk_data_path_inside_sequences() -> None:
    inner = Dataset()
    inner.add_new(0x00281201, "OW", b"\x00\x01" * 10)
    ds = Dataset()
    ds.add_new(0x00081110, "SQ", [Dataset(), inner])
    obj = dataset_to_json(ds, bulk_data_uri=uri_for, bulk_threshold=4)
    attr = obj["00081110"]["Value"][1]["00281201"]
    assert attr == {"vr": "OW", "BulkDataURI": "http://mock/bulk/81110/1/281201"}


def test_pixel_data_inline_when_asked(real: Dataset) -> None:
    obj = dataset_to_json(real, include_pixel_data=True)
    assert obj["7FE00010"] == {"vr": "OB", "InlineBinary": base64.b64encode(b"\xFF\x00" * 8).decode()}


def test_output_is_strict_json(real: Dataset) -> None:
    obj = dataset_to_json(real, include_pixel_data=True)
    assert json.loads(json.dumps(obj, allow_nan=False, ensure_ascii=False)) == obj


def test_non_finite_floats_become_null() -> None:
    ds = Dataset()
    ds.add_new(0x00081163, "FD", [float("nan"), 1.0])
    assert dataset_to_json(ds)["00081163"]["Value"] == [None, 1.0]


def test_helpers_build_qido_attributes() -> None:
    assert element_json(0x00100010, "PN", YAMADA) == {"00100010": {"vr": "PN", "Value": [
        {"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}]}}
    assert attribute_json("IS", ["4"]) == {"vr": "IS", "Value": [4]}
    assert attribute_json("DS", "0.5") == {"vr": "DS", "Value": [0.5]}
    assert attribute_json("CS", ["CT", "PET"]) == {"vr": "CS", "Value": ["CT", "PET"]}
    assert attribute_json("AT", 0x0020000D) == {"vr": "AT", "Value": ["0020000D"]}
    assert attribute_json("DA", None) == {"vr": "DA"}
    assert attribute_json("LO", "") == {"vr": "LO"}
    with pytest.raises(DicomJsonError):
        attribute_json("SQ", [])


# ---------------------------------------------------------------------------
# Round trips and JSON -> dataset
# ---------------------------------------------------------------------------

def test_round_trip_dataset_json_dataset(real: Dataset) -> None:
    expected = Dataset({e.tag: e for e in real if e.tag != 0x00080000})
    back = json_to_dataset(dataset_to_json(real, include_pixel_data=True))
    assert back == expected
    # and once more through a file: the decoded dataset encodes back to the same JSON
    assert dataset_to_json(reread(back), include_pixel_data=True) == dataset_to_json(
        real, include_pixel_data=True)


def test_round_trip_iso_2022_ir_87() -> None:
    ds = Dataset()
    ds.SpecificCharacterSet = ["", "ISO 2022 IR 87"]
    ds.PatientName = YAMADA
    real = reread(ds)
    back = reread(json_to_dataset(json.loads(json.dumps(dataset_to_json(real)))))
    assert back.PatientName == YAMADA and back == real


def test_bulk_data_uris_are_resolved_with_a_loader(real: Dataset) -> None:
    store: dict[str, bytes] = {}

    def callback(path: tuple[int, ...]) -> str:
        store[uri_for(path)] = bytes(real[path[0]].value)
        return uri_for(path)

    obj = dataset_to_json(real, bulk_data_uri=callback)
    back = json_to_dataset(obj, bulk_data_loader=store.__getitem__)
    assert back.PixelData == b"\xFF\x00" * 8
    assert back[0x00281201].value == bytes(range(256)) * 8


def test_bulk_data_for_numeric_vr_is_little_endian_value_field() -> None:
    obj = {"00081163": {"vr": "FD", "BulkDataURI": "http://mock/bulk/1"}}
    ds = json_to_dataset(obj, bulk_data_loader=lambda uri: struct.pack("<2d", 0.25, 8.0))
    assert list(ds[0x00081163].value) == [0.25, 8.0]


def test_bulk_text_is_decoded_with_the_object_character_set() -> None:
    obj = {"00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
           "00080108": {"vr": "LT", "BulkDataURI": "http://mock/bulk/2"}}
    ds = json_to_dataset(obj, bulk_data_loader=lambda uri: "Jérôme 山田".encode("utf-8"))
    assert ds[0x00080108].value == "Jérôme 山田"


def test_file_meta_attributes_go_to_file_meta() -> None:
    ds = json_to_dataset({"00020010": {"vr": "UI", "Value": ["1.2.840.10008.1.2.1"]},
                          "00020012": {"vr": "UI", "Value": ["1.2.3.4"]},
                          "00100020": {"vr": "LO", "Value": ["PID"]}})
    assert ds.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds.file_meta.ImplementationClassUID == "1.2.3.4"
    assert [int(t) for t in ds.keys()] == [0x00100020]


def test_f21_example_decodes() -> None:
    example = [{"0020000D": {"vr": "UI", "Value": [
        "1.2.392.200036.9116.2.2.2.1762893313.1029997326.945873"]}}]
    validate_json(example)
    assert json_to_dataset(example[0]).StudyInstanceUID.endswith("945873")


@pytest.mark.parametrize("obj, fragment", [
    ({"0010001a": {"vr": "PN"}}, "0010001a"),
    ({"(0010,0010)": {"vr": "PN"}}, "(0010,0010)"),
    ({"00100010": {"vr": "XX"}}, "00100010"),
    ({"00100010": {}}, "00100010"),
    ({"00100010": "Doe^John"}, "00100010"),
    ({"00091010": {"vr": "OB", "Value": [], "InlineBinary": "AA=="}}, "00091010"),
    ({"00091010": {"vr": "OB", "InlineBinary": "AA==", "BulkDataURI": "http://x/1"}}, "00091010"),
    ({"00280010": {"vr": "US", "Value": ["512"]}}, "00280010"),
    ({"00280010": {"vr": "US", "Value": [70000]}}, "00280010"),
    ({"00280010": {"vr": "US", "Value": [True]}}, "00280010"),
    ({"00280010": {"vr": "US", "Value": 512}}, "00280010"),
    ({"00200013": {"vr": "IS", "Value": [1.5]}}, "00200013"),
    ({"00200013": {"vr": "IS", "Value": ["x1"]}}, "00200013"),
    ({"00280030": {"vr": "DS", "Value": ["one"]}}, "00280030"),
    ({"00100010": {"vr": "PN", "Value": ["Doe^John"]}}, "00100010"),
    ({"00100010": {"vr": "PN", "Value": [{"Alphabetical": "Doe"}]}}, "00100010"),
    ({"00280009": {"vr": "AT", "Value": ["0018106a"]}}, "00280009"),
    ({"00080070": {"vr": "LO", "Value": [5]}}, "00080070"),
    ({"00080070": {"vr": "LO", "InlineBinary": "AA=="}}, "00080070"),
    ({"00091010": {"vr": "OB", "Value": ["AA=="]}}, "00091010"),
    ({"00091010": {"vr": "OB", "InlineBinary": "not base64!"}}, "00091010"),
    ({"00091010": {"vr": "OB", "InlineBinary": ["AA=="]}}, "00091010"),
    ({"00091010": {"vr": "OB", "BulkDataURI": "http://x/1"}}, "00091010"),
    ({"00100010": {"vr": "PN", "BulkDataURI": "http://x/1"}}, "00100010"),
    ({"00100010": {"vr": "PN", "value": []}}, "00100010"),
    ({"00081110": {"vr": "SQ", "Value": ["item"]}}, "00081110"),
    ({"00081110": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [1]}}]}}, "00081155"),
])
def test_malformed_json_raises_a_reason_naming_the_tag(obj: dict, fragment: str) -> None:
    with pytest.raises(DicomJsonError) as info:
        json_to_dataset(obj)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_json_to_dataset_rejects_non_objects() -> None:
    with pytest.raises(DicomJsonError):
        json_to_dataset([{"00100010": {"vr": "PN"}}])


@settings(max_examples=60, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, width=64))
def test_decimal_string_round_trip_keeps_the_number(number: float) -> None:
    ds = Dataset()
    ds.add_new(0x00280030, "DS", pydicom.valuerep.format_number_as_ds(number))
    original = reread(ds)
    obj = json.loads(json.dumps(dataset_to_json(original)))
    validate_json(obj)
    assert float(json_to_dataset(obj)[0x00280030].value) == float(original[0x00280030].value)


# ---------------------------------------------------------------------------
# The JSON Schema
# ---------------------------------------------------------------------------

def test_all_outputs_validate(real: Dataset) -> None:
    plain = dataset_to_json(real, include_pixel_data=True)
    bulk = dataset_to_json(real, bulk_data_uri=uri_for)
    for obj in (plain, bulk, dataset_to_json(real, numeric_strings=True)):
        validate_json(obj)
    validate_json([plain, bulk])
    assert json_schema()["$defs"]["datasetArray"]["type"] == "array"
    assert json_array_schema()["$ref"] == "#/$defs/datasetArray"


@pytest.mark.parametrize("obj", [
    {"7FE00010": {"vr": "OB", "Value": [1], "BulkDataURI": "http://x/1"}},
    {"7FE00010": {"vr": "OB", "InlineBinary": "AA==", "BulkDataURI": "http://x/1"}},
    {"0020000d": {"vr": "UI", "Value": ["1.2"]}},
    {"00280010": {"vr": "US", "Value": ["512"]}},
    {"00280010": {"vr": "US", "Value": [512.5]}},
    {"00280010": {"vr": "US", "Value": [-1]}},
    {"00280010": {"Value": [512]}},
    {"00280010": {"vr": "us", "Value": [512]}},
    {"00080000": {"vr": "UL", "Value": [4]}},
    {"00100010": {"vr": "PN", "Value": ["Doe^John"]}},
    {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe", "Kanji": "x"}]}},
    {"00100010": {"vr": "PN", "Value": [{}]}},
    {"00280009": {"vr": "AT", "Value": ["0018106a"]}},
    {"00280009": {"vr": "AT", "Value": [1577059]}},
    {"00080070": {"vr": "LO", "Value": [42]}},
    {"00080070": {"vr": "LO", "Value": []}},
    {"00080070": {"vr": "LO", "InlineBinary": "AA=="}},
    {"00091010": {"vr": "OB", "Value": ["AA=="]}},
    {"00091010": {"vr": "OB", "InlineBinary": "AA="}},
    {"00091010": {"vr": "OB", "InlineBinary": ["AA=="]}},
    {"00091010": {"vr": "OB", "BulkDataURI": "not a uri"}},
    {"00100010": {"vr": "PN", "BulkDataURI": "http://x/1"}},
    {"00280030": {"vr": "DS", "Value": ["abc"]}},
    {"00200013": {"vr": "IS", "Value": [1.5]}},
    {"00081110": {"vr": "SQ", "Value": [None]}},
    {"00081110": {"vr": "SQ", "Value": [{"00081155": {"vr": "UI", "Value": [1]}}]}},
    {"00100010": {"vr": "PN", "Extra": 1}},
    {"00200010": {"vr": "SH"}, "00100010": {"vr": "PN"}},  # F.2.2 ascending order
    {"00081110": {"vr": "SQ", "Value": [{"00200010": {"vr": "SH"}, "00100010": {"vr": "PN"}}]}},
])
def test_broken_documents_fail_validation(obj: dict) -> None:
    with pytest.raises(SchemaValidationError) as info:
        validate_json(obj)
    assert info.value.problems
    with pytest.raises(SchemaValidationError):
        validate_json([obj])


def test_strings_allowed_for_is_ds_sv_uv_by_table_f23_1() -> None:
    validate_json({"00200013": {"vr": "IS", "Value": ["42"]},
                   "00280030": {"vr": "DS", "Value": ["0.50", 0.4, None]},
                   "00720082": {"vr": "SV", "Value": ["-9223372036854775808", 1]},
                   "00720083": {"vr": "UV", "Value": ["18446744073709551615"]}})
