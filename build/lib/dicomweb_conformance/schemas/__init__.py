"""Validation schemas for DICOM JSON (PS3.18 2019a Annex F) and DICOM XML (PS3.19 A.1.6).

``dicom_json.schema.json`` is a JSON Schema (draft 2020-12) whose root is one
DICOM JSON Model object and whose ``$defs/datasetArray`` is the top-level array
of F.2.1.  ``native_dicom_model.rng`` is the RELAX NG (XML syntax) translation
of the A.1.6 compact schema.  The validators add the two rules the schemas
cannot express: ascending attribute order (F.2.2) and, on request, the
``xml:space="preserve"`` directive (A.1.5).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
from lxml import etree

__all__ = [
    "SCHEMA_DIR", "JSON_SCHEMA_PATH", "XML_SCHEMA_PATH", "NATIVE_DICOM_NS",
    "SchemaValidationError", "json_schema", "json_array_schema", "xml_schema",
    "json_problems", "validate_json", "xml_problems", "validate_xml",
]

SCHEMA_DIR = Path(__file__).resolve().parent
JSON_SCHEMA_PATH = SCHEMA_DIR / "dicom_json.schema.json"
XML_SCHEMA_PATH = SCHEMA_DIR / "native_dicom_model.rng"
NATIVE_DICOM_NS = "http://dicom.nema.org/PS3.19/models/NativeDICOM"
_XML_SPACE = "{http://www.w3.org/XML/1998/namespace}space"
MAX_REPORTED = 5


class SchemaValidationError(AssertionError, ValueError):
    """A document does not conform; ``problems`` lists what was found (first ones first).

    An AssertionError so that pytest reports a test failure, and a ValueError
    so that server code can map it to a 4xx response.
    """

    def __init__(self, kind: str, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_REPORTED]
        more = f" (+{len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        super().__init__(f"invalid {kind}: " + "; ".join(shown) + more)


@lru_cache(maxsize=None)
def _json_schema_text() -> str:
    return JSON_SCHEMA_PATH.read_text(encoding="utf-8")


def json_schema() -> dict[str, Any]:
    """Return the DICOM JSON Model object schema (a fresh copy)."""
    return json.loads(_json_schema_text())


def json_array_schema() -> dict[str, Any]:
    """Return the schema of a top-level array of DICOM JSON objects (F.2.1)."""
    schema = json_schema()
    schema["$id"] = schema["$id"].replace(".schema.json", ".array.schema.json")
    schema["$ref"] = "#/$defs/datasetArray"
    schema["title"] = "Array of DICOM JSON Model objects (PS3.18 2019a F.2.1)"
    return schema


@lru_cache(maxsize=None)
def _json_validator(array: bool) -> jsonschema.Draft202012Validator:
    schema = json_array_schema() if array else json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _order_problems(obj: Any, where: str) -> list[str]:
    """F.2.2: attribute objects are ordered by name, ascending (nested datasets too)."""
    problems: list[str] = []
    if isinstance(obj, list):
        for index, item in enumerate(obj):
            problems += _order_problems(item, f"{where}[{index}]")
        return problems
    if not isinstance(obj, dict):
        return problems
    keys = list(obj)
    for before, after in zip(keys, keys[1:]):
        if isinstance(before, str) and isinstance(after, str) and before >= after:
            problems.append(f"{where or '/'}: attribute {after} follows {before} "
                            "(F.2.2 requires ascending order)")
            break
    for key, attr in obj.items():
        if isinstance(attr, dict) and attr.get("vr") == "SQ" and isinstance(attr.get("Value"), list):
            problems += _order_problems(attr["Value"], f"{where}/{key}/Value")
    return problems


def json_problems(obj: Any, *, check_order: bool = True) -> list[str]:
    """List the ways *obj* (one object, or a list for F.2.1) breaks Annex F; [] if none."""
    validator = _json_validator(isinstance(obj, list))
    errors = sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    problems = [f"/{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
    if check_order:
        problems += _order_problems(obj, "")
    return problems


def validate_json(obj: Any, *, check_order: bool = True) -> None:
    """Raise SchemaValidationError unless *obj* is a valid DICOM JSON object or array.

    A list is validated as the F.2.1 top-level array; anything else as one
    F.2.2 object.  *check_order* also enforces ascending attribute order.
    """
    problems = json_problems(obj, check_order=check_order)
    if problems:
        raise SchemaValidationError("DICOM JSON", problems)


@lru_cache(maxsize=None)
def _xml_schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(XML_SCHEMA_PATH)))


def xml_schema() -> etree.RelaxNG:
    """Return the compiled Native DICOM Model RELAX NG schema (PS3.19 A.1.6)."""
    return _xml_schema()


def _as_tree(document: bytes | str | etree._Element | etree._ElementTree) -> etree._ElementTree:
    if isinstance(document, etree._ElementTree):
        return document
    if isinstance(document, etree._Element):
        return document.getroottree()
    if isinstance(document, str):
        document = document.encode("utf-8")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    try:
        return etree.ElementTree(etree.fromstring(document, parser))
    except etree.XMLSyntaxError as exc:
        raise SchemaValidationError("DICOM XML", [f"not well-formed XML: {exc}"]) from exc


_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?\Z")
_WHITESPACE = re.compile(r"[ \t\r\n]+")


def _base64_problems(tree: etree._ElementTree) -> list[str]:
    """xsd:base64Binary of InlineBinary, checked again: libxml2 lets e.g. '!!!' pass."""
    problems = []
    for element in tree.getroot().iter(f"{{{NATIVE_DICOM_NS}}}InlineBinary"):
        text = _WHITESPACE.sub("", element.text or "")
        if not _BASE64.match(text):
            problems.append(f"line {element.sourceline} {tree.getpath(element)}: "
                            f"InlineBinary is not base64Binary: {text[:20]!r}")
    return problems


def xml_problems(document: bytes | str | etree._Element | etree._ElementTree, *,
                 require_xml_space: bool = False) -> list[str]:
    """List the ways *document* breaks the A.1.6 schema (and A.1.5 xml:space); [] if none."""
    tree = _as_tree(document)
    schema = xml_schema()
    problems: list[str] = []
    if not schema.validate(tree):
        problems = [f"line {e.line} {e.path}: {e.message}" for e in schema.error_log]
    problems += _base64_problems(tree)
    if require_xml_space and tree.getroot().get(_XML_SPACE) != "preserve":
        problems.append('NativeDicomModel lacks xml:space="preserve" (PS3.19 A.1.5)')
    return problems


def validate_xml(document: bytes | str | etree._Element | etree._ElementTree, *,
                 require_xml_space: bool = False) -> None:
    """Raise SchemaValidationError unless *document* is a valid Native DICOM Model.

    *document* is XML bytes/text, an element or a tree.  RELAX NG validation
    reports the first error libxml2 finds.
    """
    problems = xml_problems(document, require_xml_space=require_xml_space)
    if problems:
        raise SchemaValidationError("DICOM XML", problems)
