"""CORS: browser pages of another origin may call the mock (preflight, simple requests, auth)."""

from __future__ import annotations

import base64
from typing import Any, Iterator

import pytest

from dicomweb_mock.__main__ import main as mock_main
from dicomweb_mock.app import MockApp, create_app
from dicomweb_mock.config import ConfigError, parse_config
from dicomweb_mock.cors import EXPOSED
from tests.helpers.http import MockClient

VIEWER = "http://localhost:3000"
STUDIES = "/dicom-web/studies"
USERS = {"alice": "secret"}


def app_with(raw: dict[str, Any]) -> Iterator[MockApp]:
    app = create_app(parse_config(raw), fixtures=False)
    yield app
    app.store.close()


@pytest.fixture
def default_app() -> Iterator[MockApp]:
    yield from app_with({})


@pytest.fixture
def listed_app() -> Iterator[MockApp]:
    yield from app_with({"CorsAllowedOrigins": [VIEWER, "https://viewer.example.org"]})


@pytest.fixture
def auth_app() -> Iterator[MockApp]:
    yield from app_with({"AuthenticationEnabled": True, "RegisteredUsers": USERS,
                         "CorsAllowedOrigins": ["*", VIEWER]})


def preflight(client: MockClient, path: str = STUDIES, origin: str = VIEWER, method: str = "GET",
              headers: str = "accept, authorization") -> Any:
    return client.open(path, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers})


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# ---------------------------------------------------------------------------------------------- preflight

@pytest.mark.parametrize("path,method", [
    (STUDIES, "GET"), (STUDIES, "POST"),
    ("/dicom-web/studies/1.2.3/series/4.5/instances/6.7/frames/1", "GET"),
    ("/dicom-web/studies/1.2.3/rendered", "GET"),
    ("/dicom-web/servers/x", "PUT"),
    ("/_mock/faults", "PUT"),
    ("/wado", "GET"),
    ("/", "GET"),
    ("/no/such/path", "GET"),
])
def test_preflight_is_answered_on_every_route(default_app, path, method):
    r = preflight(MockClient(default_app), path, method=method, headers="Accept, Content-Type, Authorization")
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert method in [m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")]
    allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"accept", "content-type", "authorization"} <= allowed
    assert "Content-Type" not in r.headers and r.get_data() == b""


def test_preflight_lists_the_methods_of_the_path(default_app):
    r = preflight(MockClient(default_app), "/dicom-web/studies/1.2.3/metadata")
    methods = {m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")}
    assert "GET" in methods and "POST" not in methods and "DELETE" not in methods


def test_preflight_needs_no_credentials(auth_app):
    # Browsers never send credentials on a preflight: it must not be answered 401.
    r = preflight(MockClient(auth_app), method="POST", headers="content-type, authorization")
    assert r.status_code == 204
    assert "authorization" in r.headers["Access-Control-Allow-Headers"].lower()


def test_plain_options_is_retrieve_capabilities_with_allow(default_app):
    # Not a preflight (no Origin, no Access-Control-Request-Method): PS3.18 8.9 Retrieve Capabilities.
    r = MockClient(default_app).open(STUDIES, method="OPTIONS")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/vnd.sun.wadl+xml"
    assert {"GET", "POST", "OPTIONS"} <= {m.strip() for m in r.headers["Allow"].split(",")}
    assert "Access-Control-Allow-Origin" not in r.headers


def test_plain_options_outside_dicomweb_answers_allow(default_app):
    r = MockClient(default_app).open("/system", method="OPTIONS")
    assert r.status_code == 204
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "HEAD", "OPTIONS"}


def test_plain_options_needs_credentials_when_auth_is_on(auth_app):
    assert MockClient(auth_app).open(STUDIES, method="OPTIONS").status_code == 401


def test_preflight_from_a_remote_address_refused_without_remote_access():
    for app in app_with({"RemoteAccessAllowed": False}):
        r = MockClient(app).open(STUDIES, method="OPTIONS", environ_base={"REMOTE_ADDR": "192.0.2.7"}, headers={
            "Origin": VIEWER, "Access-Control-Request-Method": "GET"})
        assert r.status_code == 403 and "RemoteAccessAllowed" in r.get_data(as_text=True)


# ----------------------------------------------------------------------------------------- simple requests

def test_simple_request_from_any_origin_by_default(default_app):
    r = MockClient(default_app).get(STUDIES, headers={"Origin": VIEWER, "Accept": "application/dicom+json"})
    assert r.status_code == 204  # empty store
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    exposed = {h.strip() for h in r.headers["Access-Control-Expose-Headers"].split(",")}
    assert {"Content-Type", "Content-Location", "Location", "Warning", "Content-Length"} <= exposed


def test_error_responses_carry_cors_headers(default_app):
    # A viewer must be able to read the reason of a 4xx, not a CORS failure.
    r = MockClient(default_app).get("/dicom-web/studies/1.2.3/metadata", headers={"Origin": VIEWER})
    assert r.status_code == 404
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert r.headers["Content-Type"].startswith("text/plain")


def test_no_origin_no_cors_headers(default_app):
    r = MockClient(default_app).get(STUDIES)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_listed_origin_is_echoed(listed_app):
    r = MockClient(listed_app).get(STUDIES, headers={"Origin": VIEWER})
    assert r.headers["Access-Control-Allow-Origin"] == VIEWER
    assert "Origin" in r.headers["Vary"]
    assert r.headers["Access-Control-Expose-Headers"] == EXPOSED


# -------------------------------------------------------------------------------------------- refused origin

def test_refused_origin_preflight_is_403(listed_app):
    r = preflight(MockClient(listed_app), origin="http://evil.example.com")
    assert r.status_code == 403
    assert r.headers["Content-Type"].startswith("text/plain")
    assert "evil.example.com" in r.get_data(as_text=True)
    assert "Access-Control-Allow-Origin" not in r.headers


def test_refused_origin_simple_request_gets_no_cors_headers(listed_app):
    r = MockClient(listed_app).get(STUDIES, headers={"Origin": "http://evil.example.com"})
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Expose-Headers" not in r.headers


def test_empty_list_turns_cors_off():
    for app in app_with({"CorsAllowedOrigins": []}):
        c = MockClient(app)
        assert preflight(c).status_code == 403
        assert "Access-Control-Allow-Origin" not in c.get(STUDIES, headers={"Origin": VIEWER}).headers


# ------------------------------------------------------------------------------------------------- auth

def test_auth_listed_origin_gets_credentials(auth_app):
    c = MockClient(auth_app)
    r = c.get(STUDIES, headers={"Origin": VIEWER, "Authorization": basic("alice", "secret")})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == VIEWER
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    p = preflight(c)
    assert p.headers["Access-Control-Allow-Origin"] == VIEWER
    assert p.headers["Access-Control-Allow-Credentials"] == "true"


def test_auth_unlisted_origin_never_gets_credentials(auth_app):
    r = MockClient(auth_app).get(STUDIES, headers={"Origin": "http://other.test:8080",
                                               "Authorization": basic("alice", "secret")})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers


def test_auth_401_is_readable_cross_origin(auth_app):
    r = MockClient(auth_app).get(STUDIES, headers={"Origin": VIEWER})
    assert r.status_code == 401
    assert r.headers["Access-Control-Allow-Origin"] == VIEWER
    assert "WWW-Authenticate" in r.headers["Access-Control-Expose-Headers"]


def test_wildcard_and_credentials_never_together():
    for app in app_with({"AuthenticationEnabled": True, "RegisteredUsers": USERS}):
        r = MockClient(app).get(STUDIES, headers={"Origin": VIEWER, "Authorization": basic("alice", "secret")})
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert "Access-Control-Allow-Credentials" not in r.headers


# ----------------------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("value", ["localhost:3000", "http://localhost:3000/app", "ftp://x", 3000])
def test_bad_origin_in_config_names_the_key(value):
    with pytest.raises(ConfigError, match=r"CorsAllowedOrigins\[0\]"):
        parse_config({"CorsAllowedOrigins": [value]})


def test_config_origin_is_normalised():
    assert parse_config({"CorsAllowedOrigins": ["HTTP://LocalHost:3000/"]}).cors_allowed_origins == [VIEWER]


def test_cli_refuses_a_bad_origin(capsys):
    assert mock_main(["--cors-origin", "localhost:3000", "--port", "0"]) == 2
    assert "--cors-origin" in capsys.readouterr().err
