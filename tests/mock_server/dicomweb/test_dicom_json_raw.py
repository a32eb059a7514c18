"""The DICOM JSON of elements still in their encoded form (:mod:`dicom_json_raw`).

Two kinds of checks:

* the values it gives are those of PS3.5 (6.2 padding, 6.4 the backslash between
  values, Table 6.2-1 binary numbers) and PS3.18 F.2 (empty values, IS/DS as numbers);
* on any data set, :func:`dataset_to_json` gives the same object with the fast path as
  through pydicom's value conversion alone (the fixtures, pydicom's own test files with
  their character sets and byte orders, and generated elements full of padding, escape
  sequences and wrong lengths).
"""

from __future__ import annotations

import io
import struct
import warnings
from pathlib import Path
from typing import Any

import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import DicomDictionary
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import Tag

from dicomweb_fixtures import instance_files
from dicomweb_mock.dicomweb import dicom_json
from dicomweb_mock.dicomweb.dicom_json import dataset_to_json
from dicomweb_mock.dicomweb.dicom_json_raw import raw_attribute_json, raw_fast_path_usable

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

STRING_VRS = "AE AS CS DA DT TM UI SH LO UC ST LT UT IS DS".split()
NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "L", "SL": "l", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
LUT_DESCRIPTOR = 0x00283002
#: VRs with a 4-byte length in Explicit VR (PS3.5 Table 7.1-1).
LONG_LENGTH_VRS = frozenset("OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())


def raw(vr: str | None, value: bytes | None, *, tag: int = 0x00080008, little: bool = True,
        length: int | None = None) -> RawDataElement:
    size = len(value) if value is not None else (length or 0)
    return RawDataElement(Tag(tag), vr, size, value, 0, vr is None, little)


# -- values from PS3.5 and PS3.18 F.2 ---------------------------------------------------------

@pytest.mark.parametrize("vr, value, expected", [
    ("CS", b"ORIGINAL\\PRIMARY\\AXIAL ", ["ORIGINAL", "PRIMARY", "AXIAL"]),  # 6.4, 6.2 padding
    ("CS", b"A\\\\B ", ["A", None, "B"]),  # an empty value among others is null
    ("UI", b"1.2.840.10008.5.1.4.1.1.2\x00", ["1.2.840.10008.5.1.4.1.1.2"]),  # UI pads with NUL
    ("DA", b"20240131", ["20240131"]),
    ("LO", b"Head^Neck ", ["Head^Neck"]),
    ("ST", b"Main St. \\ 3rd floor  ", ["Main St. \\ 3rd floor"]),  # backslash is text in ST
    ("IS", b"12\\-3\\+7 ", [12, -3, 7]),
    ("DS", b"0.5\\-1.25e2", [0.5, -125.0]),
    ("DS", b"0.1000000000000000055511", ["0.1000000000000000055511"]),  # no exact double: text
])
def test_string_values(vr: str, value: bytes, expected: list[Any]) -> None:
    assert raw_attribute_json(raw(vr, value)) == {"vr": vr, "Value": expected}


@pytest.mark.parametrize("vr, value, little, expected", [
    ("US", b"\x00\x02", True, [512]),
    ("US", b"\x00\x02", False, [2]),
    ("SS", b"\xff\xff\x01\x00", True, [-1, 1]),
    ("UL", b"\x01\x00\x00\x00", True, [1]),
    ("FD", struct.pack("<d", 2.5), True, [2.5]),
    ("FL", struct.pack("<f", float("nan")), True, [None]),  # not a JSON number
    ("UV", struct.pack("<Q", 2**60), True, [str(2**60)]),  # beyond 2**53: a string
])
def test_binary_numbers(vr: str, value: bytes, little: bool, expected: list[Any]) -> None:
    assert raw_attribute_json(raw(vr, value, little=little)) == {"vr": vr, "Value": expected}


@pytest.mark.parametrize("vr, value", [("CS", b""), ("CS", b"    "), ("UI", b"\x00"), ("US", b""), ("IS", b" ")])
def test_empty_values_have_no_value_member(vr: str, value: bytes) -> None:
    assert raw_attribute_json(raw(vr, value)) == {"vr": vr}


def test_numbers_as_strings_keep_the_text() -> None:
    assert raw_attribute_json(raw("DS", b"1.50\\2"), numbers_as_strings=True) == {"vr": "DS", "Value": ["1.50", "2"]}


@pytest.mark.parametrize("element", [
    raw("LO", b"\x1b$B"),  # ISO 2022 escape sequence
    raw("LO", "Müller".encode("latin-1")),  # beyond ASCII: depends on the character set
    raw("CS", b" LEADING"),
    raw("AE", b"AE\x00"),
    raw("ST", b"line\r\nline"),
    raw("US", b"\x00\x02\x00"),  # not a whole number of values
    raw("US", b"\x00\x10\x00\x00\x10\x00", tag=LUT_DESCRIPTOR),
    raw("IS", b"1234567890123"),  # longer than IS allows
    raw("IS", b"1.0"),
    raw("IS", b"1\\"),  # an empty IS value
    raw("DS", b"abc"),
    raw("PN", b"Doe^John"),
    raw("SQ", b""),
    raw("OB", b"\x00\x01"),
    raw("UN", b"ABCD"),
    raw("CS", None, length=8),  # deferred: not read
    raw(None, b"ABCD", tag=0x00090010),  # implicit VR private element
])
def test_values_it_leaves_to_pydicom(element: RawDataElement) -> None:
    assert raw_attribute_json(element) is None


def test_implicit_vr_takes_the_dictionary_vr() -> None:
    assert raw_attribute_json(raw(None, b"\x00\x02", tag=0x00280010)) == {"vr": "US", "Value": [512]}


def test_not_used_when_pydicom_is_configured_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    assert raw_fast_path_usable()
    monkeypatch.setattr(pydicom.config, "datetime_conversion", True)
    assert not raw_fast_path_usable()


# -- the same JSON as through pydicom alone ---------------------------------------------------

def to_json_both_ways(data: bytes, monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[Any, Any]:
    """dataset_to_json of ``data`` read twice: with the fast paths for still-encoded elements
    (values, and bulk data left unread), and without them."""
    def encode() -> Any:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        try:
            return dataset_to_json(ds, **options)
        except Exception as exc:  # the same failure both ways is the same outcome
            return type(exc).__name__
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = encode()
        with monkeypatch.context() as m:
            m.setattr(dicom_json, "raw_fast_path_usable", lambda: False)
            m.setattr(dicom_json, "_raw_bulk", lambda *args: None)  # bulk data found from the converted value
            slow = encode()
    return fast, slow


def _bulk(path: tuple[int, ...]) -> str:
    return "bulk/" + "/".join(f"{p:X}" for p in path)


PYDICOM_FILES = sorted(p for p in (Path(pydicom.__file__).parent / "data" / "test_files").glob("*.dcm")
                       if p.stat().st_size < 4_000_000)


@pytest.mark.parametrize("path", [Path(f) for f in instance_files()] + PYDICOM_FILES, ids=lambda p: p.name)
def test_files_give_the_same_json(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = path.read_bytes()
    fast, slow = to_json_both_ways(data, monkeypatch, bulk_data_uri=_bulk, bulk_threshold=64)
    assert fast == slow
    fast, slow = to_json_both_ways(data, monkeypatch, numeric_strings=True)
    assert fast == slow


def _tag_of(vr: str) -> int:
    """A public, current dictionary tag of ``vr`` (for implicit VR data sets as well)."""
    return min(tag for tag, entry in DicomDictionary.items()
               if entry[0] == vr and entry[3] == "" and tag >> 16 not in (0, 2) and tag & 0xFFFF
               and tag not in (0x00281101, 0x00281102, 0x00281103, LUT_DESCRIPTOR))


TAGS = {vr: _tag_of(vr) for vr in STRING_VRS + list(NUMBER_FORMATS)}
#: Values are built as DICOM writes them: values separated by a backslash (PS3.5 6.4), each
#: with padding or control characters around a core that is text, a number or neither.
CORES = [b"", b"A", b"AB C", b"1", b"-12", b"+0", b"3.5", b"1e3", b".5", b"1.", b"007", b"1e999", b"9999999999999", b"12345678901234567",
         b"A^B=C", b"1.2.840", b"\x1b$BA", b"\xe9", b"\xc3\xa9", b"A\tB"]
PADS = [b"", b"", b"", b" ", b"  ", b"\x00", b"\t", b"\r\n"]
value_parts = st.tuples(st.sampled_from(PADS), st.sampled_from(CORES), st.sampled_from(PADS)).map(b"".join)
string_values = st.lists(value_parts, max_size=4).map(b"\\".join)
#: Padding and separators where the rules of the VRs differ (PS3.5 6.2: leading spaces are
#: significant in some VRs, trailing NUL pads UI only, ST/LT/UT have no value separator).
EDGES = [b"A \\B ", b" A", b"A\x00", b"1.2\x00\x00", b"A\\\\", b"\\", b"  ", b"A\tB", b"A \x00", b"1\\ 2",
         b"+1\\-0", b"1.\\.5", b"1E3 ", b"A\\B\\ ", b"\x00A", b"12345678901234567"]


@pytest.mark.parametrize("syntax", ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"])
@pytest.mark.parametrize("vr", STRING_VRS)
def test_padding_and_separators_give_the_same_json(vr: str, syntax: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for value in EDGES:
        for numeric_strings in (False, True):
            fast, slow = to_json_both_ways(part10({TAGS[vr]: (vr, value)}, syntax), monkeypatch,
                                           numeric_strings=numeric_strings)
            assert fast == slow, value
CHARSETS = [None, b"ISO_IR 100", b"ISO_IR 192", b"ISO 2022 IR 87", b"ISO_IR 13", b"GB18030", b"\\ISO 2022 IR 149"]


def _element(tag: int, vr: str, value: bytes, explicit: bool, little: bool) -> bytes:
    order = "<" if little else ">"
    head = struct.pack(f"{order}HH", tag >> 16, tag & 0xFFFF)
    if not explicit:
        return head + struct.pack(f"{order}L", len(value)) + value
    if vr in LONG_LENGTH_VRS:
        return head + vr.encode() + b"\x00\x00" + struct.pack(f"{order}L", len(value)) + value
    return head + vr.encode() + struct.pack(f"{order}H", len(value)) + value


def part10(elements: dict[int, tuple[str, bytes]], syntax: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    meta.TransferSyntaxUID = syntax
    buffer = io.BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    explicit, little = syntax != "1.2.840.10008.1.2", syntax != "1.2.840.10008.1.2.2"
    for tag in sorted(elements):
        vr, value = elements[tag]
        buffer.write(_element(tag, vr, value, explicit, little))
    return buffer.getvalue()


@st.composite
def data_sets(draw: st.DrawFn) -> dict[int, tuple[str, bytes]]:
    elements: dict[int, tuple[str, bytes]] = {}
    charset = draw(st.sampled_from(CHARSETS))
    if charset is not None:
        elements[0x00080005] = ("CS", charset + b" " * (len(charset) % 2))
    for vr in draw(st.lists(st.sampled_from(sorted(TAGS)), min_size=1, max_size=6, unique=True)):
        if vr in NUMBER_FORMATS:
            value = draw(st.binary(max_size=20))
        else:
            value = draw(string_values)
        elements[TAGS[vr]] = (vr, value)
    if draw(st.booleans()):
        elements[LUT_DESCRIPTOR] = (draw(st.sampled_from(["US", "SS"])), draw(st.binary(min_size=6, max_size=6)))
    return elements


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(elements=data_sets(), syntax=st.sampled_from(["1.2.840.10008.1.2.1", "1.2.840.10008.1.2",
                                                      "1.2.840.10008.1.2.2"]),
       numeric_strings=st.booleans())
def test_generated_elements_give_the_same_json(elements: dict[int, tuple[str, bytes]], syntax: str,
                                               numeric_strings: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    fast, slow = to_json_both_ways(part10(elements, syntax), monkeypatch, numeric_strings=numeric_strings)
    assert fast == slow


def test_the_generated_data_sets_reach_the_fast_path() -> None:
    """The comparison above is only worth something if the fast path answers for many of them."""
    elements = {TAGS[vr]: (vr, b"12\\3.5 " if vr in ("IS", "DS") else b"A\\Z ") for vr in STRING_VRS}
    elements.update({TAGS[vr]: (vr, b"\x00" * 8) for vr in NUMBER_FORMATS})
    ds = pydicom.dcmread(io.BytesIO(part10(elements, "1.2.840.10008.1.2.1")))
    answered = [tag for tag in elements if raw_attribute_json(ds.get_item(tag, keep_deferred=True)) is not None]
    assert len(answered) == len(elements) - 1  # all but IS "3.5"


def test_dataset_built_in_memory_is_unaffected() -> None:
    ds = Dataset()
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    assert dataset_to_json(ds) == {"00080008": {"vr": "CS", "Value": ["ORIGINAL", "PRIMARY"]}}
