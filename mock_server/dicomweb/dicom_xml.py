"""DICOM XML: the Native DICOM Model (PS3.19 A.1) and its mapping to DICOM JSON (PS3.18 F.3.1).

Writing goes dataset -> DICOM JSON object -> XML, so one traversal decides
bulk data, empty values and VR handling for both media types.  Choices:

* the root is ``<NativeDicomModel xmlns="http://dicom.nema.org/PS3.19/models/NativeDICOM"
  xml:space="preserve">`` (A.1.5 requires the directive, A.1.6 the namespace);
* a Private Data Element (gggg,XXee) is written as tag ``gggg00ee`` with its
  ``privateCreator`` (A.1.5 Table A.1.5-2); when the JSON object lacks the
  Private Creator (gggg,00XX) the full tag is kept and no privateCreator given;
* PN values become PersonName/Alphabetic|Ideographic|Phonetic with the five
  components FamilyName..NameSuffix, empty components left out;
* characters XML 1.0 cannot hold (e.g. FF allowed in LT) become U+FFFD.

Reading accepts the namespace or none, maps ``gggg00ee`` + privateCreator back
to a block (reusing the Private Creator found at the same level or allocating
the first free block), and a ``BulkData uuid`` to ``urn:uuid:<uuid>``.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from .dicom_json import BulkDataLoader, BulkDataURICallback, dataset_to_json, json_to_dataset
from .dicom_json_values import (
    ALL_VRS, BINARY_VRS, PN_GROUPS, TEXT_VRS, DicomJsonError, ds_to_json, parse_tag_key,
)

__all__ = [
    "NATIVE_DICOM_NS", "DicomXmlError", "dataset_to_xml_element", "dataset_to_xml",
    "json_to_xml_element", "json_to_xml", "xml_to_json", "xml_to_dataset",
]

NATIVE_DICOM_NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
PN_COMPONENTS = ("FamilyName", "GivenName", "MiddleName", "NamePrefix", "NameSuffix")
_INVALID_XML_CHARS = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_HEX8 = re.compile(r"[0-9A-F]{8}\Z")


class DicomXmlError(ValueError):
    """Malformed Native DICOM Model XML (PS3.19 A.1); the message names the tag."""


def _q(name: str) -> str:
    return f"{{{NATIVE_DICOM_NS}}}{name}"


# --------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------

def dataset_to_xml_element(
    ds: Dataset,
    *,
    bulk_data_uri: BulkDataURICallback | None = None,
    bulk_threshold: int = 1024,
    include_pixel_data: bool = False,
) -> etree._Element:
    """Convert *ds* to a ``NativeDicomModel`` element (PS3.19 A.1).

    Bulk data arguments are those of :func:`dicom_json.dataset_to_json`;
    IS/DS keep their original text.
    """
    obj = dataset_to_json(ds, bulk_data_uri=bulk_data_uri, bulk_threshold=bulk_threshold,
                          include_pixel_data=include_pixel_data, numeric_strings=True)
    return json_to_xml_element(obj)


def dataset_to_xml(
    ds: Dataset,
    *,
    bulk_data_uri: BulkDataURICallback | None = None,
    bulk_threshold: int = 1024,
    include_pixel_data: bool = False,
) -> bytes:
    """Serialize *ds* as a UTF-8 Native DICOM Model document with XML declaration."""
    return _serialize(dataset_to_xml_element(
        ds, bulk_data_uri=bulk_data_uri, bulk_threshold=bulk_threshold,
        include_pixel_data=include_pixel_data))


def json_to_xml(obj: dict[str, Any]) -> bytes:
    """Convert a DICOM JSON Model object to a UTF-8 Native DICOM Model document (F.3.1)."""
    return _serialize(json_to_xml_element(obj))


def _serialize(root: etree._Element) -> bytes:
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def json_to_xml_element(obj: dict[str, Any]) -> etree._Element:
    """Convert a DICOM JSON Model object to a ``NativeDicomModel`` element (F.3.1).

    Raises DicomJsonError when *obj* is not a well-formed DICOM JSON object.
    """
    root = etree.Element(_q("NativeDicomModel"), nsmap={None: NATIVE_DICOM_NS})
    root.set(_XML_SPACE, "preserve")
    _write_dataset(root, obj, "")
    return root


def _set_text(element: etree._Element, text: str) -> None:
    try:
        element.text = text
    except ValueError:
        element.text = _INVALID_XML_CHARS.sub("\ufffd", text)


def _write_dataset(parent: etree._Element, obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        raise DicomJsonError(f"{where or 'dataset'}: a DICOM JSON dataset must be an object")
    sub = etree.SubElement
    for key in sorted(obj):
        tag = parse_tag_key(key)
        if not tag & 0xFFFF:
            continue
        attr = obj[key]
        here = f"{where}{key}"
        vr = attr.get("vr") if isinstance(attr, dict) else None
        if vr not in ALL_VRS:
            raise DicomJsonError(f"{here}: missing or unknown vr {vr!r}")
        element = sub(parent, _q("DicomAttribute"))
        group, elem_no = tag >> 16, tag & 0xFFFF
        creator = None
        if group & 1 and elem_no >= 0x1000:
            creator = _creator_of(obj, group, elem_no >> 8)
        if creator is not None:
            element.set("tag", f"{group:04X}00{elem_no & 0xFF:02X}")
        else:
            element.set("tag", key)
        element.set("vr", vr)
        if not group & 1:
            keyword = keyword_for_tag(tag)
            if keyword:
                element.set("keyword", keyword)
        if creator is not None:
            _set_text_attr(element, "privateCreator", creator)
        present = [name for name in ("Value", "BulkDataURI", "InlineBinary") if name in attr]
        if len(present) > 1:
            raise DicomJsonError(f"{here}: has both {present[0]} and {present[1]} (F.2.2 allows one)")
        if "BulkDataURI" in attr:
            sub(element, _q("BulkData")).set("uri", str(attr["BulkDataURI"]))
        elif "InlineBinary" in attr:
            element_text = attr["InlineBinary"]
            if not isinstance(element_text, str):
                raise DicomJsonError(f"{here}: InlineBinary must be a string")
            sub(element, _q("InlineBinary")).text = element_text
        elif "Value" in attr:
            values = attr["Value"]
            if not isinstance(values, list):
                raise DicomJsonError(f"{here}: Value must be an array")
            _write_values(element, vr, values, here)


def _set_text_attr(element: etree._Element, name: str, value: str) -> None:
    try:
        element.set(name, value)
    except ValueError:
        element.set(name, _INVALID_XML_CHARS.sub("\ufffd", value))


def _creator_of(obj: dict[str, Any], group: int, block: int) -> str | None:
    attr = obj.get(f"{group:04X}00{block:02X}")
    if not isinstance(attr, dict):
        return None
    values = attr.get("Value")
    if isinstance(values, list) and values and isinstance(values[0], str) and values[0]:
        return values[0]
    return None


def _write_values(element: etree._Element, vr: str, values: list[Any], where: str) -> None:
    sub = etree.SubElement
    if vr == "SQ":
        for index, item in enumerate(values, 1):
            item_el = sub(element, _q("Item"))
            item_el.set("number", str(index))
            _write_dataset(item_el, item, f"{where}[{index - 1}].")
        return
    if vr == "PN":
        for index, value in enumerate(values, 1):
            name_el = sub(element, _q("PersonName"))
            name_el.set("number", str(index))
            if value is None:
                continue
            if not isinstance(value, dict):
                raise DicomJsonError(f"{where}: PN value must be an object or null")
            for group in PN_GROUPS:
                text = value.get(group)
                if not text:
                    continue
                if not isinstance(text, str):
                    raise DicomJsonError(f"{where}: PN {group} must be a string")
                group_el = sub(name_el, _q(group))
                for component, part in zip(PN_COMPONENTS, text.split("^", 4)):
                    if part:
                        _set_text(sub(group_el, _q(component)), part)
        return
    if vr in BINARY_VRS:
        raise DicomJsonError(f"{where}: VR {vr} cannot have a Value")
    for index, value in enumerate(values, 1):
        value_el = sub(element, _q("Value"))
        value_el.set("number", str(index))
        if value is not None:
            _set_text(value_el, _value_text(vr, value, where))


def _value_text(vr: str, value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DicomJsonError(f"{where}: {vr} value {value!r} has the wrong JSON type")
    if isinstance(value, int):
        return str(value)
    if vr == "DS":
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = repr(value)
        if len(text) > 16:
            text = format_number_as_ds(value)
        return text
    if vr in ("FL", "FD"):
        return repr(value)
    if value.is_integer():
        return str(int(value))
    raise DicomJsonError(f"{where}: {vr} value {value!r} is not an integer")


# --------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------

def _parse(data: bytes | str | etree._Element) -> etree._Element:
    if isinstance(data, etree._Element):
        return data
    if isinstance(data, str):
        data = data.encode("utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             remove_comments=True, remove_pis=True, huge_tree=False)
    try:
        return etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise DicomXmlError(f"not well-formed XML: {exc}") from exc


def _local(element: etree._Element, where: str) -> str:
    if not isinstance(element.tag, str):
        raise DicomXmlError(f"{where}: unexpected XML node")
    qname = etree.QName(element)
    if qname.namespace not in (None, NATIVE_DICOM_NS):
        raise DicomXmlError(f"{where}: element {element.tag} is not in the Native DICOM namespace")
    return str(qname.localname)


def xml_to_json(data: bytes | str | etree._Element, *,
                numeric_strings: bool = False) -> dict[str, Any]:
    """Convert a Native DICOM Model document to a DICOM JSON Model object (F.3.1).

    IS/DS become JSON numbers when exact (as in ``dataset_to_json``) unless
    *numeric_strings*.  Raises DicomXmlError on malformed input.
    """
    root = _parse(data)
    if _local(root, "root") != "NativeDicomModel":
        raise DicomXmlError(f"root element is {etree.QName(root).localname!r}, not NativeDicomModel")
    return _read_dataset(root, "", numeric_strings)


def xml_to_dataset(data: bytes | str | etree._Element, *,
                   bulk_data_loader: BulkDataLoader | None = None) -> Dataset:
    """Convert a Native DICOM Model document to a pydicom Dataset (PS3.19 A.1).

    BulkData URIs are read with *bulk_data_loader*; raises DicomXmlError.
    """
    obj = xml_to_json(data, numeric_strings=True)
    try:
        return json_to_dataset(obj, bulk_data_loader=bulk_data_loader)
    except DicomJsonError as exc:
        raise DicomXmlError(str(exc)) from exc


def _numbered(children: list[etree._Element], kind: str, where: str) -> list[etree._Element]:
    """Order *children* by their ``number`` XML attribute, which must be 1..n."""
    numbered = []
    for child in children:
        number = child.get("number")
        if number is None or not number.strip().isdigit():
            raise DicomXmlError(f"{where}: {kind} has a missing or invalid number {number!r}")
        numbered.append((int(number), child))
    numbered.sort(key=lambda pair: pair[0])
    if [n for n, _ in numbered] != list(range(1, len(numbered) + 1)):
        raise DicomXmlError(f"{where}: {kind} numbers are not 1..{len(numbered)}")
    return [child for _, child in numbered]


def _read_dataset(parent: etree._Element, where: str, numeric_strings: bool) -> dict[str, Any]:
    attributes = []
    for child in parent:
        if not isinstance(child.tag, str):
            continue
        if _local(child, where or "dataset") != "DicomAttribute":
            raise DicomXmlError(f"{where or 'dataset'}: unexpected element {etree.QName(child).localname!r}")
        attributes.append(child)
    # Private Creators at this level: (group, name) -> block and back (PS3.5 7.8.1)
    blocks: dict[tuple[int, str], int] = {}
    names: dict[tuple[int, int], str] = {}
    parsed = []
    for element in attributes:
        tag_text = element.get("tag")
        if tag_text is None or not _HEX8.match(tag_text):
            raise DicomXmlError(f"{where}DicomAttribute: tag {tag_text!r} is not 8 uppercase hex digits")
        tag = int(tag_text, 16)
        creator = element.get("privateCreator")
        parsed.append((tag, creator, element))
        group, elem_no = tag >> 16, tag & 0xFFFF
        if creator is None and group & 1 and 0x10 <= elem_no <= 0xFF:
            name = _first_value_text(element, where).strip(" ")
            blocks.setdefault((group, name), elem_no)
            names[(group, elem_no)] = name
    out: dict[str, Any] = {}
    for tag, creator, element in parsed:
        if creator is not None:
            tag = _private_tag(tag, creator, blocks, names, out, where)
        key = f"{tag:08X}"
        if key in out:
            raise DicomXmlError(f"{where}{key}: attribute appears twice")
        if tag & 0xFFFF:
            out[key] = _read_attribute(tag, element, f"{where}{key}", numeric_strings)
    return dict(sorted(out.items()))


def _first_value_text(element: etree._Element, where: str) -> str:
    for child in element:
        if isinstance(child.tag, str) and _local(child, where) == "Value" and child.get("number") == "1":
            return child.text or ""
    return ""


def _private_tag(tag: int, creator: str, blocks: dict[tuple[int, str], int],
                 names: dict[tuple[int, int], str], out: dict[str, Any], where: str) -> int:
    """Map an XML private tag ``gggg00ee`` + privateCreator to ``ggggXXee`` (A.1.5)."""
    group, elem_no = tag >> 16, tag & 0xFFFF
    if not group & 1:
        raise DicomXmlError(f"{where}{tag:08X}: privateCreator is only allowed on private (odd group) tags")
    if elem_no > 0xFF:  # full tag given (not the A.1.5 form): keep its block
        block = elem_no >> 8
        known = names.get((group, block))
        if known is not None and known != creator:
            raise DicomXmlError(f"{where}{tag:08X}: block {block:02X} belongs to Private Creator {known!r}")
    else:
        block = blocks.get((group, creator), -1)
        if block < 0:
            free = [b for b in range(0x10, 0x100) if (group, b) not in names]
            if not free:
                raise DicomXmlError(f"{where}{tag:08X}: no free private block in group {group:04X}")
            block = free[0]
    if (group, block) not in names:
        names[(group, block)] = creator
        blocks.setdefault((group, creator), block)
        out[f"{group:04X}00{block:02X}"] = {"vr": "LO", "Value": [creator]}
    return (group << 16) | (block << 8) | (elem_no & 0xFF)


def _read_attribute(tag: int, element: etree._Element, where: str,
                    numeric_strings: bool) -> dict[str, Any]:
    vr = element.get("vr")
    if vr is None:
        vr = _dictionary_vr(tag, where)
    if vr not in ALL_VRS:
        raise DicomXmlError(f"{where}: unknown vr {vr!r}")
    children = [c for c in element if isinstance(c.tag, str)]
    kinds = {_local(c, where) for c in children}
    if not children:
        return {"vr": vr}
    if len(kinds) > 1:
        raise DicomXmlError(f"{where}: mixes {sorted(kinds)} children (A.1.6 allows one kind)")
    kind = kinds.pop()
    if kind == "BulkData":
        if len(children) > 1:
            raise DicomXmlError(f"{where}: more than one BulkData")
        uri, uuid = children[0].get("uri"), children[0].get("uuid")
        if (uri is None) == (uuid is None):
            raise DicomXmlError(f"{where}: BulkData needs exactly one of uri and uuid")
        return {"vr": vr, "BulkDataURI": uri if uri is not None else f"urn:uuid:{uuid}"}
    if kind == "InlineBinary":
        if len(children) > 1:
            raise DicomXmlError(f"{where}: more than one InlineBinary")
        if vr not in BINARY_VRS:
            raise DicomXmlError(f"{where}: InlineBinary is not allowed for VR {vr}")
        return {"vr": vr, "InlineBinary": "".join((children[0].text or "").split())}
    expected = {"SQ": "Item", "PN": "PersonName"}.get(vr, "Value")
    if kind != expected or vr in BINARY_VRS:
        raise DicomXmlError(f"{where}: VR {vr} cannot hold {kind} elements")
    ordered = _numbered(children, kind, where)
    if vr == "SQ":
        values: list[Any] = [_read_dataset(item, f"{where}[{i}].", numeric_strings)
                             for i, item in enumerate(ordered)]
    elif vr == "PN":
        values = [_read_person_name(child, where) for child in ordered]
    else:
        values = [_read_value(vr, child.text or "", where, numeric_strings) for child in ordered]
    return {"vr": vr, "Value": values}


def _dictionary_vr(tag: int, where: str) -> str:
    try:
        vr = dictionary_VR(tag)
    except KeyError:
        return "UN"
    if vr not in ALL_VRS:
        raise DicomXmlError(f"{where}: vr is missing and the dictionary VR {vr!r} is ambiguous")
    return vr


def _read_person_name(element: etree._Element, where: str) -> dict[str, str] | None:
    out: dict[str, str] = {}
    for group_el in element:
        if not isinstance(group_el.tag, str):
            continue
        group = _local(group_el, where)
        if group not in PN_GROUPS:
            raise DicomXmlError(f"{where}: unexpected PersonName child {group!r}")
        parts = {name: "" for name in PN_COMPONENTS}
        for comp in group_el:
            if not isinstance(comp.tag, str):
                continue
            name = _local(comp, where)
            if name not in parts:
                raise DicomXmlError(f"{where}: unexpected name component {name!r}")
            parts[name] = comp.text or ""
        text = "^".join(parts[name] for name in PN_COMPONENTS).rstrip("^")
        if text:
            out[group] = text
    return out or None


def _read_value(vr: str, text: str, where: str, numeric_strings: bool) -> Any:
    if vr in TEXT_VRS:
        return text or None
    stripped = text.strip()
    if not stripped:
        if vr in ("IS", "DS"):
            return None
        raise DicomXmlError(f"{where}: empty {vr} Value")
    if vr == "AT":
        if not _HEX8.match(stripped):
            raise DicomXmlError(f"{where}: AT value {text!r} is not 8 uppercase hex digits")
        return stripped
    if vr in ("IS", "DS"):
        return stripped if numeric_strings else ds_to_json(stripped)
    try:
        if vr in ("FL", "FD"):
            return float(stripped)
        number = int(stripped)
    except ValueError:
        raise DicomXmlError(f"{where}: {vr} value {text!r} is not a number") from None
    if vr in ("SV", "UV") and abs(number) > 2**53:
        return str(number)
    return number
