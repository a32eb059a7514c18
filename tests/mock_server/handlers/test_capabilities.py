"""Retrieve Capabilities over HTTP (PS3.18 8.9): plain OPTIONS answers the WADL document, a CORS
preflight is still answered as a preflight."""

from __future__ import annotations

from typing import Any, Iterator

import pytest
from lxml import etree

from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import parse_config
from tests.helpers.http import MockClient

WADL = "application/vnd.sun.wadl+xml"
NS = {"w": "http://wadl.dev.java.net/2009/02"}


def _app(raw: dict[str, Any]) -> Iterator[MockApp]:
    app = create_app(parse_config(raw), fixtures=False)
    yield app
    app.store.close()


@pytest.fixture
def app() -> Iterator[MockApp]:
    yield from _app({})


@pytest.fixture
def auth_app() -> Iterator[MockApp]:
    yield from _app({"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "secret"}})


def _paths(document: bytes) -> dict[str, set[str]]:
    """Full resource path -> methods of a WADL document."""
    found: dict[str, set[str]] = {}

    def walk(element: Any, prefix: str) -> None:
        for resource in element.findall("w:resource", NS):
            path = f"{prefix}/{resource.get('path')}".lstrip("/")
            found.setdefault(path, set()).update(m.get("name") for m in resource.findall("w:method", NS))
            walk(resource, path)

    walk(etree.fromstring(document).find("w:resources", NS), "")
    return found


@pytest.mark.parametrize("path", ["/dicom-web/", "/dicom-web", "/dicom-web/studies"])
def test_plain_options_returns_the_capabilities_description(app, path):
    r = MockClient(app).open(path, method="OPTIONS", headers={"Accept": WADL})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == WADL
    root = etree.fromstring(r.data)
    assert root.tag == "{http://wadl.dev.java.net/2009/02}application"
    assert root.find("w:resources", NS).get("base") == "http://localhost/dicom-web/"


def test_the_description_lists_every_dicomweb_route_with_its_methods(app):
    found = _paths(MockClient(app).open("/dicom-web/", method="OPTIONS").data)
    expected: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/dicom-web/") and rule.rule != "/dicom-web/":
            path = rule.rule[len("/dicom-web/"):].replace("<path:bulk>", "{bulk}")
            for name in ("study", "series", "instance", "frames", "name"):
                path = path.replace(f"<{name}>", f"{{{name}}}")
            expected.setdefault(path, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    assert {p: m for p, m in expected.items() if m} == {p: m for p, m in found.items() if m}
    assert found["studies"] == {"GET", "POST"}
    assert found["studies/{study}/series/{series}/instances/{instance}/frames/{frames}"] == {"GET"}


def test_an_accept_without_wadl_is_406(app):
    # 8.9.2: "in an Acceptable Media Type"; the mock writes WADL only
    r = MockClient(app).open("/dicom-web/", method="OPTIONS", headers={"Accept": "application/json"})
    assert r.status_code == 406 and r.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("accept", ["*/*", "application/*", None])
def test_any_or_no_accept_gets_wadl(app, accept):
    r = MockClient(app).open("/dicom-web/", method="OPTIONS", headers={"Accept": accept})
    assert r.status_code == 200 and r.headers["Content-Type"] == WADL


def test_strict_mode_wants_an_accept():
    for app in _app({"DicomWeb": {"Strict": True}}):
        assert MockClient(app).open("/dicom-web/", method="OPTIONS", headers={"Accept": None}).status_code == 406


def test_the_capabilities_answer_carries_the_path_methods(app):
    r = MockClient(app).open("/dicom-web/studies", method="OPTIONS")
    assert {"GET", "POST", "OPTIONS"} <= {m.strip() for m in r.headers["Allow"].split(",")}


def test_options_below_the_root_on_no_resource_answers_allow_only(app):
    r = MockClient(app).open("/dicom-web/no-such-resource", method="OPTIONS")
    assert r.status_code == 204 and r.data == b"" and "Allow" in r.headers


def test_a_preflight_is_still_answered_as_a_preflight(app):
    r = MockClient(app).open("/dicom-web/studies", method="OPTIONS", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204 and r.data == b""
    assert "POST" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Content-Type" not in r.headers


def test_retrieve_capabilities_needs_credentials_a_preflight_does_not(auth_app):
    client = MockClient(auth_app)
    assert client.open("/dicom-web/", method="OPTIONS").status_code == 401
    assert client.open("/dicom-web/", method="OPTIONS", headers={
        "Origin": "http://localhost:3000", "Access-Control-Request-Method": "GET"}).status_code == 204
    ok = client.open("/dicom-web/", method="OPTIONS", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert ok.status_code == 200 and ok.headers["Content-Type"] == WADL


def test_the_base_follows_the_configured_root():
    for app in _app({"DicomWeb": {"Root": "/dw/"}}):
        r = MockClient(app).open("/dw/", method="OPTIONS")
        assert r.status_code == 200
        assert etree.fromstring(r.data).find("w:resources", NS).get("base") == "http://localhost/dw/"
        assert "studies" in _paths(r.data)


def test_without_dicomweb_there_is_no_capabilities_description():
    for app in _app({"DicomWeb": {"Enable": False}}):
        r = MockClient(app).open("/dicom-web/", method="OPTIONS")
        assert r.status_code == 204 and r.data == b""
