"""DICOM JSON Model encoding and decoding (PS3.18 2019a Annex F).

Our converter is the source of truth; pydicom's ``Dataset.to_json_dict`` is not
used.  Encoding rules (F.2.2-F.2.7):

* attribute keys are the 8-character uppercase hex tag, in ascending order;
  group length (gggg,0000) and File Meta (0002,eeee) elements are left out;
* an empty attribute keeps only ``"vr"``; empty values inside a multi-valued
  string attribute are ``null``; an empty sequence item is ``{}``;
* PN values are objects holding the non-empty groups ``Alphabetic``,
  ``Ideographic``, ``Phonetic``; AT values are ``"GGGGEEEE"`` strings;
* IS/DS are JSON numbers when the number is exact in a JSON (IEEE double)
  number, otherwise the original string (Table F.2.3-1 allows "Number or
  String" and its note names precision and invalid text as the reason);
  SV/UV are numbers up to 2**53 and decimal strings beyond that;
* OB, OD, OF, OL, OV, OW, UN and the pixel data are ``BulkDataURI`` when the
  caller's callback gives a URI, otherwise ``InlineBinary`` (base64);
* FL/FD values that are NaN or infinite cannot be JSON numbers: they become
  ``null`` (documented loss).
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any, Callable, Iterable

from pydicom.charset import convert_encodings
from pydicom.dataelem import (
    DataElement,
    RawDataElement,
    convert_raw_data_element,
    empty_value_for_VR,
)
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import correct_ambiguous_vr_element
from pydicom.multival import MultiValue
from pydicom.tag import Tag
from pydicom.valuerep import format_number_as_ds

from .dicom_json_raw import raw_attribute_json, raw_fast_path_usable
from .dicom_json_values import (
    ALL_VRS, ATTR_MEMBERS, BINARY_VRS, BULK_ALLOWED_VRS, DS_RE, ENCODERS, INT_RANGES, IS_RE, KEY_RE, PIXEL_DATA_TAGS,
    PN_GROUPS, TEXT_VRS, DicomJsonError, ds_to_json, is_to_json, parse_tag_key, pn_from_json, pn_to_json,
)

__all__ = [
    "ALL_VRS", "BINARY_VRS", "BULK_ALLOWED_VRS", "PIXEL_DATA_TAGS", "PN_GROUPS",
    "BulkDataURICallback", "BulkDataLoader", "DicomJsonError",
    "parse_tag_key", "pn_to_json", "pn_from_json", "ds_to_json",
    "is_to_json", "element_json", "attribute_json",
    "dataset_to_json", "json_to_dataset",
]

BulkDataURICallback = Callable[[tuple[int, ...]], "str | None"]
BulkDataLoader = Callable[[str], bytes]


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, MultiValue)):
        return list(value)
    return [value]


def attribute_json(vr: str, values: Iterable[Any] | Any | None) -> dict[str, Any]:
    """Build one attribute object from plain Python values (fast path for QIDO).

    *values* are DICOM-level values: str for string VRs and PN (``A=I=P``),
    int tags for AT, numbers (or DS/IS strings) for numeric VRs.  None or an
    empty list gives the F.2.5 empty attribute.  Not for SQ or binary VRs.
    """
    if vr not in ENCODERS:
        raise DicomJsonError(f"attribute_json does not handle VR {vr!r}")
    items = _as_list(values)
    if not items:
        return {"vr": vr}
    encode = ENCODERS[vr]
    return {"vr": vr, "Value": [None if v is None else encode(v) for v in items]}


def element_json(tag: int, vr: str, values: Iterable[Any] | Any | None) -> dict[str, Any]:
    """Return ``{"GGGGEEEE": attribute_json(vr, values)}`` for ``obj.update(...)``."""
    return {f"{int(tag):08X}": attribute_json(vr, values)}


# --------------------------------------------------------------------------
# Dataset -> JSON
# --------------------------------------------------------------------------

class _Options:
    __slots__ = ("bulk", "threshold", "pixels", "numeric_strings", "raw")

    def __init__(self, bulk: BulkDataURICallback | None, threshold: int,
                 pixels: bool, numeric_strings: bool) -> None:
        self.bulk = bulk
        self.threshold = threshold
        self.pixels = pixels
        self.numeric_strings = numeric_strings
        self.raw = raw_fast_path_usable()


def dataset_to_json(
    ds: Dataset,
    *,
    bulk_data_uri: BulkDataURICallback | None = None,
    bulk_threshold: int = 1024,
    include_pixel_data: bool = False,
    numeric_strings: bool = False,
) -> dict[str, Any]:
    """Convert *ds* to a DICOM JSON Model object (PS3.18 F.2).

    ``bulk_data_uri(path)`` is asked for every binary-VR element of at least
    *bulk_threshold* bytes and for every pixel data element; *path* is the tag
    path from the root, e.g. ``(0x7FE00010,)`` or ``(seq_tag, item_index, tag)``
    with 0-based item indexes.  A returned URI gives ``BulkDataURI``; None gives
    ``InlineBinary``, except that pixel data (7FE0,0008/0009/0010) with no URI
    is left out unless *include_pixel_data*.  *numeric_strings* keeps IS/DS as
    their original strings (allowed by Table F.2.3-1), as the XML writer needs.
    """
    return _encode_dataset(ds, (), _Options(bulk_data_uri, bulk_threshold,
                                            include_pixel_data, numeric_strings))


def _encode_dataset(ds: Dataset, path: tuple[int, ...], opts: _Options) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag in sorted(ds.keys()):
        number = int(tag)
        if not number & 0xFFFF or number >> 16 == 0x0002:
            continue
        attr = _encode_element(ds, tag, path + (number,), opts)
        if attr is not None:
            out[f"{number:08X}"] = attr
    return out


_UNDEFINED_LENGTH = 0xFFFFFFFF


def _raw_bulk(raw: RawDataElement, path: tuple[int, ...], opts: _Options) -> dict[str, Any] | None:
    """``BulkDataURI`` of a still-raw binary element, without reading its value (it may be deferred)."""
    vr = raw.VR
    if vr is None and path[-1] == 0x7FE00010:  # Implicit VR: OW, or OB when encapsulated (PS3.5 A.1, A.4)
        vr = "OB" if raw.length == _UNDEFINED_LENGTH else "OW"
    if vr not in BINARY_VRS or vr == "UN" or not raw.length:
        return None
    if path[-1] in PIXEL_DATA_TAGS or (raw.length != _UNDEFINED_LENGTH and raw.length >= opts.threshold):
        uri = opts.bulk(path)  # type: ignore[misc]
        if uri:
            return {"vr": vr, "BulkDataURI": uri}
    return None


def _encode_element(ds: Dataset, tag: Any, path: tuple[int, ...],
                    opts: _Options) -> dict[str, Any] | None:
    raw = ds.get_item(tag, keep_deferred=True)
    if isinstance(raw, RawDataElement):
        if opts.bulk is not None:
            bulk = _raw_bulk(raw, path, opts)
            if bulk is not None:
                return bulk
        if opts.raw:
            attribute = raw_attribute_json(raw, numbers_as_strings=opts.numeric_strings)
            if attribute is not None:
                return attribute
    try:
        elem = ds[tag]
    except Exception:  # value not decodable: keep its bytes as UN (F.2.7)
        raw = ds.get_item(tag)
        return _encode_binary("UN", raw.value, path, opts)
    vr = elem.VR
    if vr not in ALL_VRS:
        vr = _resolve_vr(elem, ds)
    value = elem.value
    if vr == "SQ":
        items = [_encode_dataset(item, path + (index,), opts)
                 for index, item in enumerate(value or ())]
        return {"vr": "SQ", "Value": items} if items else {"vr": "SQ"}
    if vr in BINARY_VRS or path[-1] in PIXEL_DATA_TAGS:
        return _encode_binary(vr, value, path, opts)
    items = _as_list(value)
    if not items:
        return {"vr": vr}
    if opts.numeric_strings and vr in ("DS", "IS"):
        encode: Callable[[Any], Any] = _numeric_string
    else:
        encode = ENCODERS[vr]
    try:
        return {"vr": vr, "Value": [None if v is None else encode(v) for v in items]}
    except (TypeError, ValueError) as exc:
        raise DicomJsonError(f"({path[-1]:08X}) {vr} value cannot be encoded: {exc}") from exc


def _numeric_string(value: Any) -> str | None:
    text = getattr(value, "original_string", None)
    text = str(value) if text is None else text
    return text.strip(" ") or None


def _resolve_vr(elem: DataElement, ds: Dataset) -> str:
    """Resolve an ambiguous dictionary VR such as 'US or SS' (PS3.5 6.2)."""
    try:
        resolved = correct_ambiguous_vr_element(elem, ds, True).VR
    except Exception:
        resolved = elem.VR
    resolved = str(resolved or "UN")
    if resolved in ALL_VRS:
        return resolved
    if isinstance(elem.value, (bytes, bytearray)):
        return "OW" if "OW" in resolved else "OB"
    first = resolved.split(" or ")[0]
    if first not in ALL_VRS:
        raise DicomJsonError(f"({int(elem.tag):08X}) has unknown VR {elem.VR!r}")
    return first


def _encode_binary(vr: str, value: Any, path: tuple[int, ...],
                   opts: _Options) -> dict[str, Any] | None:
    if value is None:
        return {"vr": vr}
    if hasattr(value, "read"):  # pydicom buffered element
        value.seek(0)
        value = value.read()
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise DicomJsonError(f"({path[-1]:08X}) {vr} value must be bytes, got {type(value).__name__}")
    if not len(value):
        return {"vr": vr}
    is_pixels = path[-1] in PIXEL_DATA_TAGS
    if opts.bulk is not None and (is_pixels or len(value) >= opts.threshold):
        uri = opts.bulk(path)
        if uri:
            return {"vr": vr, "BulkDataURI": uri}
    if is_pixels and not opts.pixels:
        return None
    return {"vr": vr, "InlineBinary": base64.b64encode(value).decode("ascii")}


# --------------------------------------------------------------------------
# JSON -> Dataset
# --------------------------------------------------------------------------

def json_to_dataset(obj: Any, *, bulk_data_loader: BulkDataLoader | None = None) -> Dataset:
    """Convert a DICOM JSON Model object to a pydicom Dataset (PS3.18 F.2).

    Raises DicomJsonError for malformed input.  ``BulkDataURI`` values are
    fetched with *bulk_data_loader(uri) -> bytes* (little endian Value Field);
    without a loader they are an error.  (0002,eeee) attributes go to
    ``ds.file_meta``; group length attributes are ignored.
    """
    return _decode_dataset(obj, "", bulk_data_loader)


def _decode_dataset(obj: Any, where: str, loader: BulkDataLoader | None) -> Dataset:
    if not isinstance(obj, dict):
        raise DicomJsonError(f"{where or 'dataset'}: a DICOM JSON dataset must be an object, "
                             f"got {type(obj).__name__}")
    ds = Dataset()
    meta: FileMetaDataset | None = None
    charset = _charset_of(obj)
    for key, attr in obj.items():
        try:
            tag = parse_tag_key(key)
        except DicomJsonError as exc:
            raise DicomJsonError(f"{where}{exc}") from None
        if not tag & 0xFFFF:
            continue
        elem = _decode_attribute(tag, attr, f"{where}{key}", loader, charset)
        if tag >> 16 == 0x0002:
            meta = FileMetaDataset() if meta is None else meta
            meta.add(elem)
        else:
            ds.add(elem)
    if meta is not None:
        ds.file_meta = meta
    return ds


def _charset_of(obj: dict[str, Any]) -> list[str]:
    """Python codecs for this object's Specific Character Set (for bulk text values)."""
    attr = obj.get("00080005")
    values = attr.get("Value") if isinstance(attr, dict) else None
    if not isinstance(values, list) or not all(isinstance(v, (str, type(None))) for v in values):
        values = []
    try:
        return convert_encodings([v or "" for v in values] or ["ISO_IR 6"])
    except Exception:
        return convert_encodings(["ISO_IR 6"])


def _decode_attribute(tag: int, attr: Any, where: str, loader: BulkDataLoader | None,
                      charset: list[str]) -> DataElement:
    if not isinstance(attr, dict):
        raise DicomJsonError(f"{where}: attribute must be an object, got {type(attr).__name__}")
    vr = attr.get("vr")
    if vr is None:
        raise DicomJsonError(f"{where}: attribute has no \"vr\"")
    if vr not in ALL_VRS:
        raise DicomJsonError(f"{where}: unknown VR {vr!r}")
    unknown = set(attr) - ATTR_MEMBERS
    if unknown:
        raise DicomJsonError(f"{where}: unexpected member(s) {sorted(unknown)}")
    present = [name for name in ("Value", "BulkDataURI", "InlineBinary") if name in attr]
    if len(present) > 1:
        raise DicomJsonError(f"{where}: has both {present[0]} and {present[1]} (F.2.2 allows one)")
    if not present:
        return DataElement(tag, vr, empty_value_for_VR(vr))
    member = present[0]
    payload = attr[member]
    if member == "InlineBinary":
        return DataElement(tag, vr, _decode_inline(vr, payload, where))
    if member == "BulkDataURI":
        return _decode_bulk(tag, vr, payload, where, loader, charset)
    if not isinstance(payload, list):
        raise DicomJsonError(f"{where}: Value must be an array, got {type(payload).__name__}")
    if vr in BINARY_VRS:
        raise DicomJsonError(f"{where}: VR {vr} cannot have a Value (use InlineBinary or BulkDataURI)")
    if vr == "SQ":
        items = [_decode_dataset(item, f"{where}[{index}].", loader)
                 for index, item in enumerate(payload)]
        return DataElement(tag, "SQ", items)
    values = [_decode_value(vr, value, f"{where} Value[{index}]")
              for index, value in enumerate(payload)]
    if not values:
        return DataElement(tag, vr, empty_value_for_VR(vr))
    try:
        return DataElement(tag, vr, values[0] if len(values) == 1 else values)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DicomJsonError(f"{where}: invalid {vr} value: {exc}") from exc


def _decode_inline(vr: str, payload: Any, where: str) -> bytes:
    if vr not in BINARY_VRS:
        raise DicomJsonError(f"{where}: InlineBinary is only allowed for {sorted(BINARY_VRS)}, not {vr}")
    if not isinstance(payload, str):
        raise DicomJsonError(f"{where}: InlineBinary must be a base64 string, got {type(payload).__name__}")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise DicomJsonError(f"{where}: InlineBinary is not valid base64: {exc}") from exc


def _decode_bulk(tag: int, vr: str, uri: Any, where: str, loader: BulkDataLoader | None,
                 charset: list[str]) -> DataElement:
    if vr not in BULK_ALLOWED_VRS:
        raise DicomJsonError(f"{where}: BulkDataURI is not allowed for VR {vr}")
    if not isinstance(uri, str) or not uri:
        raise DicomJsonError(f"{where}: BulkDataURI must be a non-empty string")
    if loader is None:
        raise DicomJsonError(f"{where}: BulkDataURI {uri!r} given but no bulk data is available")
    data = loader(uri)
    if not isinstance(data, (bytes, bytearray)):
        raise DicomJsonError(f"{where}: bulk data for {uri!r} is not bytes")
    if vr in BINARY_VRS:
        return DataElement(tag, vr, bytes(data))
    raw = RawDataElement(Tag(tag), vr, len(data), bytes(data), 0, False, True)
    try:
        return convert_raw_data_element(raw, encoding=charset)
    except Exception as exc:
        raise DicomJsonError(f"{where}: bulk data for {uri!r} is not a valid {vr} value: {exc}") from exc


def _decode_value(vr: str, value: Any, where: str) -> Any:
    if vr == "PN":
        return pn_from_json(value, where)
    if vr in TEXT_VRS:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise DicomJsonError(f"{where}: {vr} value must be a string or null, got {type(value).__name__}")
        return value
    if vr == "AT":
        if not isinstance(value, str) or not KEY_RE.match(value):
            raise DicomJsonError(f"{where}: AT value must be 8 uppercase hex digits, got {value!r}")
        return int(value, 16)
    if isinstance(value, bool):
        raise DicomJsonError(f"{where}: {vr} value must not be a boolean")
    if vr == "IS":
        return _decode_is(value, where)
    if vr == "DS":
        return _decode_ds(value, where)
    if vr in ("FL", "FD"):
        if not isinstance(value, (int, float)):
            raise DicomJsonError(f"{where}: {vr} value must be a number, got {type(value).__name__}")
        return float(value)
    return _decode_int(vr, value, where)


def _decode_is(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and (not value.strip(" ") or IS_RE.match(value.strip(" "))):
        return value.strip(" ")
    raise DicomJsonError(f"{where}: IS value must be an integer or an IS string, got {value!r}")


def _decode_ds(value: Any, where: str) -> str:
    if value is None:
        return ""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DicomJsonError(f"{where}: DS value must be finite")
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        text = repr(value)
        if len(text) > 16:
            text = format_number_as_ds(value)
        return text
    if isinstance(value, str) and (not value.strip(" ") or DS_RE.match(value.strip(" "))):
        return value.strip(" ")
    raise DicomJsonError(f"{where}: DS value must be a number or a DS string, got {value!r}")


def _decode_int(vr: str, value: Any, where: str) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and vr in ("SV", "UV") and IS_RE.match(value):
        value = int(value)
    if not isinstance(value, int):
        raise DicomJsonError(f"{where}: {vr} value must be an integer, got {value!r}")
    low, high = INT_RANGES[vr]
    if not low <= value <= high:
        raise DicomJsonError(f"{where}: {vr} value {value} is outside [{low}, {high}]")
    return value
