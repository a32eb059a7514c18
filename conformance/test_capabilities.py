"""Retrieve Capabilities (PS3.18-2019a 8.9, 10.2) and the Capabilities Description (Annex H).

10.2: an origin server of the Studies Service "shall support the Retrieve Capabilities
Transaction"; 8.9.1: the request is ``OPTIONS`` on the Base URI of the service; 8.9.2: "The
origin server shall return a Capabilities Description, as defined in Capabilities Description,
in an Acceptable Media Type"; Annex H: a WADL document with one top-level ``application``
element, one ``resources`` element whose ``base`` is the base URL of the service, and a
``resource`` element for the Target Resource "describing all methods and child resources for
the specified resource and each of its children" (the tree of Table H-1).

The tests of the document's content ask for it once more and are blocked by HTTP-011 when the
target does not answer Retrieve Capabilities at all.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from lxml import etree

from dicomweb_conformance.preconditions import blocked

WADL_NS = "http://wadl.dev.java.net/2009/02"
WADL = "application/vnd.sun.wadl+xml"
#: 8.9.4: "The media types supported by the Retrieve Capabilities service are
#: application/vnd.sun.wadl+xml (Web Application Description Language) or application/json."
CAPABILITIES_MEDIA_TYPES = (WADL, "application/json")
_W = f"{{{WADL_NS}}}"

#: The Studies Service resources of Table H-1 with the HTTP method of each transaction listed there
#: (Search and Retrieve: GET, 10.6.1 and 10.4.1; Store: POST, 10.5.1); ``{}`` is a template segment.
#: Rows naming a resource chapter 10 does not define (``series/{SeriesInstance}/instances``) or no
#: path at all (``{BulkDataReference}``) are not required.
STUDIES_RESOURCES = [
    ("GET", "studies", "Search for Studies"),
    ("POST", "studies", "Store Instances"),
    ("GET", "studies/{}", "Retrieve Study"),
    ("POST", "studies/{}", "Store Study Instances"),
    ("GET", "studies/{}/metadata", "Retrieve Study Metadata"),
    ("GET", "studies/{}/series", "Search for Study Series"),
    ("GET", "studies/{}/series/{}", "Retrieve Series"),
    ("GET", "studies/{}/series/{}/metadata", "Retrieve Series Metadata"),
    ("GET", "studies/{}/series/{}/instances", "Search for Study Series Instances"),
    ("GET", "studies/{}/series/{}/instances/{}", "Retrieve Instance"),
    ("GET", "studies/{}/series/{}/instances/{}/metadata", "Retrieve Instance Metadata"),
    ("GET", "studies/{}/series/{}/instances/{}/frames/{}", "Retrieve Frames"),
    ("GET", "studies/{}/instances", "Search for Study Instances"),
    ("GET", "series", "Search for Series"),
    ("GET", "instances", "Search for Instances"),
]


def _retrieve(client: Any, accept: str) -> Any:
    """8.9.1: ``OPTIONS`` on the Base URI ("/") of the service."""
    return client.options(client.dicomweb_url, headers={"Accept": accept})


def _media_type(response: Any) -> str:
    return (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()


def _description(client: Any) -> tuple[Any, Any]:
    """(response, parsed WADL root) of a Retrieve Capabilities asking for WADL; blocked by HTTP-011 when
    the target answers no Capabilities Description at all."""
    response = _retrieve(client, WADL)
    if response.status_code != 200 or _media_type(response) != WADL:
        blocked("HTTP-011", f"OPTIONS {client.dicomweb_url} (Accept: {WADL}) answered {response.status_code} "
                            f"{response.headers.get('Content-Type') or '(no Content-Type)'}")
    try:
        root = etree.fromstring(response.content, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        root = None
        error = str(exc)
    return response, (root if root is not None else error)


def _segments(path: str | None) -> list[str]:
    """The segments of a WADL ``path`` attribute, template parameters as ``{}``."""
    return [re.sub(r"^\{[^}]*\}$", "{}", s) for s in (path or "").split("/") if s]


def _by_id(root: Any, tag: str) -> dict[str, Any]:
    return {e.get("id"): e for e in root.iter(f"{_W}{tag}") if e.get("id")}


def _method_names(resource: Any, methods: dict[str, Any], types: dict[str, Any]) -> set[str]:
    """A resource's methods: its own (``name``, or ``href`` to a method defined elsewhere) and those of
    the resource types it names in ``type`` (WADL 2.6, 2.8)."""
    holders = [resource] + [types[t.lstrip("#")] for t in (resource.get("type") or "").split()
                            if t.lstrip("#") in types]
    names = set()
    for holder in holders:
        for method in holder.findall(f"{_W}method"):
            target = methods.get((method.get("href") or "").lstrip("#"), method)
            if target.get("name"):
                names.add(target.get("name").upper())
    return names


def _children(resource: Any, types: dict[str, Any]) -> list[Any]:
    holders = [resource] + [types[t.lstrip("#")] for t in (resource.get("type") or "").split()
                            if t.lstrip("#") in types]
    return [child for holder in holders for child in holder.findall(f"{_W}resource")]


def resource_methods(root: Any) -> dict[str, set[str]]:
    """``{"studies/{}/metadata": {"GET"}, ...}``: every resource of the document's ``resources`` elements
    by its full path (the ``path`` attributes of its ancestors joined), with its methods."""
    methods, types = _by_id(root, "method"), _by_id(root, "resource_type")
    found: dict[str, set[str]] = {}

    def walk(resource: Any, prefix: list[str], depth: int) -> None:
        path = prefix + _segments(resource.get("path"))
        found.setdefault("/".join(path), set()).update(_method_names(resource, methods, types))
        if depth < 32:  # resource types may name each other: a bound against cycles
            for child in _children(resource, types):
                walk(child, path, depth + 1)

    for resources in root.findall(f"{_W}resources"):
        for resource in resources.findall(f"{_W}resource"):
            walk(resource, [], 0)
    return found


@pytest.mark.requirement("HTTP-011")
def test_retrieve_capabilities_returns_a_capabilities_description(client, expect):
    response = _retrieve(client, WADL)
    expect.status(response, 200)
    expect.content_type(response, WADL)


@pytest.mark.requirement("CAP-001")
def test_capabilities_description_is_a_wadl_document(client, expect):
    response, root = _description(client)
    expect.that(not isinstance(root, str), what="the Capabilities Description is well-formed XML",
                expected="a WADL document", actual=root, response=response)
    expect.equal(root.tag, f"{_W}application", what="top-level element of the Capabilities Description",
                 response=response)


@pytest.mark.requirement("CAP-002")
def test_resources_element_has_the_base_url_of_the_service(client, expect):
    response, root = _description(client)
    if isinstance(root, str):
        blocked("CAP-001", f"the Capabilities Description is not well-formed XML: {root}")
    resources = root.findall(f"{_W}resources")
    expect.equal(len(resources), 1, what="resources elements in the application element", response=response)
    base = resources[0].get("base")
    expect.that(base, what="base attribute of the resources element", expected="the base URL of the service",
                actual="(absent)", response=response)
    resolved = urlsplit(urljoin(client.dicomweb_url, base))
    # Scheme, host and port may be the server's own view of itself (a proxy in between): the path names the service.
    expect.that(resolved.scheme in ("http", "https"), what="protocol of the resources base URL",
                expected="http or https", actual=base, response=response)
    expect.equal(resolved.path.rstrip("/"), urlsplit(client.dicomweb_url).path.rstrip("/"),
                 what=f"path of the resources base URL {base!r}", response=response)


@pytest.mark.requirement("CAP-003")
@pytest.mark.parametrize("method, path, transaction", STUDIES_RESOURCES,
                         ids=[f"{m} {p}" for m, p, _ in STUDIES_RESOURCES])
def test_capabilities_describe_the_studies_service_resources(client, expect, method, path, transaction):
    response, root = _description(client)
    if isinstance(root, str):
        blocked("CAP-001", f"the Capabilities Description is not well-formed XML: {root}")
    found = resource_methods(root)
    expect.that(path in found, what=f"a resource element for {path} ({transaction})", expected=path,
                actual=sorted(found)[:40], response=response)
    expect.that(method in found[path], what=f"method of {path} ({transaction})", expected=method,
                actual=sorted(found[path]), response=response)


@pytest.mark.requirement("CAP-004")
def test_any_media_range_gets_a_capabilities_media_type(client, expect):
    if _retrieve(client, WADL).status_code != 200:
        blocked("HTTP-011", "Retrieve Capabilities with Accept: application/vnd.sun.wadl+xml is not answered 200")
    response = _retrieve(client, "*/*")
    expect.status(response, 200)
    expect.that(_media_type(response) in CAPABILITIES_MEDIA_TYPES, what="media type of the Capabilities Description",
                expected=" or ".join(CAPABILITIES_MEDIA_TYPES), actual=response.headers.get("Content-Type"),
                response=response)
