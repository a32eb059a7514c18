"""The Capabilities Description (PS3.18 Annex H): a WADL document of the served resources.

PS3.18 8.9: ``OPTIONS`` on the Base URI of a RESTful service returns a machine-readable
description of the transactions, resources and representations it supports; Annex H makes it a
WADL document with one top-level ``application`` element holding one ``resources`` element whose
``base`` is the service's base URL, and a ``resource`` element for the target resource with all
its methods and child resources (Table H-1 gives the tree of the Studies Service).

:func:`capabilities_wadl` builds it from route entries (path below the base, method, the name of
the transaction that answers it), so the document lists what the route table serves: one nested
``resource`` per path segment, ``{name}`` template parameters, each method with its query
parameters.  8.8: the Retrieve Capabilities response documents the
supported character sets (a ``doc`` element; WADL has no element of its own for them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable
from xml.etree import ElementTree as ET

from .charsets import SUPPORTED_CHARSETS

__all__ = ["WADL_NS", "WADL_MEDIA_TYPE", "QUERY_PARAMETERS", "RouteEntry", "capabilities_wadl", "template_path"]

WADL_NS = "http://wadl.dev.java.net/2009/02"
#: The media type the Capabilities Description is served in (one of those of PS3.18 8.9.4).
WADL_MEDIA_TYPE = "application/vnd.sun.wadl+xml"

_CONVERTER = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")

_RETRIEVE = ("accept", "charset")
#: The query parameters (PS3.18 8.3.3-8.3.5, 10.4.1.2, 10.6.1.2) of each transaction the mock answers, by
#: name; a search also takes attribute matching keys ({attributeID}), which are not listed one by one.
QUERY_PARAMETERS: dict[str, tuple[str, ...]] = {
    "search": ("limit", "offset", "includefield", "fuzzymatching", "charset"),
    "store": (),
    "retrieve-instances": _RETRIEVE,
    "retrieve-metadata": _RETRIEVE,
    "retrieve-frames": _RETRIEVE,
    "retrieve-bulkdata": _RETRIEVE,
    "retrieve-rendered": _RETRIEVE + ("quality", "viewport", "window"),  # annotation: none is burnt in
    "retrieve-thumbnail": _RETRIEVE + ("viewport",),
}


@dataclass(frozen=True)
class RouteEntry:
    """One method of one path: ``path`` below the base URL in route syntax (``studies/<study>``),
    ``transaction`` a key of :data:`QUERY_PARAMETERS` (or another name: no query parameters)."""
    path: str
    method: str
    transaction: str


@dataclass
class _Node:
    children: dict[str, "_Node"] = field(default_factory=dict)
    methods: list[RouteEntry] = field(default_factory=list)


def template_path(path: str) -> str:
    """Route syntax to WADL template syntax: ``studies/<study>/bulk/<path:bulk>`` -> ``studies/{study}/bulk/{bulk}``."""
    return _CONVERTER.sub(r"{\1}", path)


def _tree(entries: Iterable[RouteEntry]) -> _Node:
    root = _Node()
    seen: set[tuple[str, str]] = set()
    for entry in entries:
        segments = [s for s in template_path(entry.path).split("/") if s]
        if not segments or (entry.path, entry.method) in seen:
            continue
        seen.add((entry.path, entry.method))
        node = root
        for segment in segments:
            node = node.children.setdefault(segment, _Node())
        node.methods.append(entry)
    return root


def _q(name: str) -> str:
    return f"{{{WADL_NS}}}{name}"


def _method(parent: ET.Element, entry: RouteEntry) -> None:
    method = ET.SubElement(parent, _q("method"), name=entry.method)
    params = QUERY_PARAMETERS.get(entry.transaction, ())
    if params:
        request = ET.SubElement(method, _q("request"))
        for name in params:
            ET.SubElement(request, _q("param"), name=name, style="query")


def _resource(parent: ET.Element, segment: str, node: _Node) -> None:
    element = ET.SubElement(parent, _q("resource"), path=segment)
    name = re.fullmatch(r"\{([^}]+)\}", segment)
    if name:
        ET.SubElement(element, _q("param"), name=name.group(1), style="template", required="true")
    for entry in sorted(node.methods, key=lambda e: e.method):
        _method(element, entry)
    for child_segment, child in node.children.items():
        _resource(element, child_segment, child)


def capabilities_wadl(base_url: str, entries: Iterable[RouteEntry], title: str = "DICOMweb") -> bytes:
    """The WADL document (UTF-8 XML) of ``entries`` served under ``base_url``."""
    ET.register_namespace("", WADL_NS)
    application = ET.Element(_q("application"))
    doc = ET.SubElement(application, _q("doc"), title=f"{title}: supported character sets")
    doc.text = ", ".join(sorted(set(SUPPORTED_CHARSETS.values())))
    resources = ET.SubElement(application, _q("resources"), base=base_url)
    for segment, node in _tree(entries).children.items():
        _resource(resources, segment, node)
    return bytes(ET.tostring(application, encoding="utf-8", xml_declaration=True))
