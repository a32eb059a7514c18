"""HTTP error behaviour, authentication and RemoteAccessAllowed (PS3.18 2019a 8.5; RFC 7231, RFC 7617).

Every error answer carries a Content-Type and a one-line reason; wrong methods get
405 with Allow (RFC 7231 6.5.5); with ``AuthenticationEnabled`` every route asks for
HTTP Basic credentials (401 + WWW-Authenticate, RFC 7235 3.1).
"""

from __future__ import annotations

import base64
import json

import pytest

import dicomweb_fixtures as fixtures
from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config
from tests.helpers.http import MockClient

USER, PASSWORD = "alice", "Pa55-w0rd-zq8"


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def assert_error(r, status: int) -> None:
    assert r.status_code == status, (r.status_code, r.get_data(as_text=True))
    assert r.headers.get("Content-Type", "").startswith("text/plain")
    body = r.get_data(as_text=True)
    assert body.strip() and len(body.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------- 405 / 404 / 406

@pytest.mark.parametrize("method,path,allowed", [
    ("DELETE", "/dicom-web/studies", {"GET", "POST"}),
    ("PUT", "/dicom-web/studies", {"GET", "POST"}),
    ("PUT", "/dicom-web/studies/1.2.3/metadata", {"GET"}),
    ("POST", "/dicom-web/studies/1.2.3/series/4.5/metadata", {"GET"}),
    ("DELETE", "/dicom-web/instances", {"GET"}),
    ("POST", "/dicom-web/series", {"GET"}),
    ("PATCH", "/dicom-web/studies/1.2.3", {"GET", "POST"}),
    ("POST", "/wado", {"GET"}),
    ("POST", "/system", {"GET"}),
    ("GET", "/_mock/reset", {"POST"}),
    ("POST", "/_mock/status", {"GET"}),
    ("GET", "/dicom-web/", {"OPTIONS"}),  # the Base URI: Retrieve Capabilities only (PS3.18 8.9)
])
def test_wrong_method_is_405_with_allow(client, method, path, allowed):
    r = client.open(path, method=method)
    assert_error(r, 405)
    listed = {m.strip() for m in r.headers["Allow"].split(",")}
    assert allowed <= listed and method not in listed


@pytest.mark.parametrize("path", ["/nope", "/dicom-web/patients", "/dicom-web/studies/1.2/frames/1",
                                  "/dicom-web/studies/1.2/series/3.4/instances/5.6/frames/1/x", "/_mock/nope"])
def test_unknown_path_is_404(client, path):
    assert_error(client.get(path), 404)


@pytest.mark.parametrize("path", ["/dicom-web/studies/1.2.3/metadata", "/dicom-web/studies/1.2.3",
                                  "/dicom-web/studies/1.2.3/series", "/instances/abc"])
def test_unknown_resource_is_404(client, path):
    assert_error(client.get(path), 404)


@pytest.mark.parametrize("path,accept", [
    ("/dicom-web/studies", "image/png"),
    ("/dicom-web/studies", "application/dicom+xml"),  # 2019a: XML search results are multipart/related
    ("/dicom-web/instances", "text/html"),
])
def test_unacceptable_media_type_is_406(client, path, accept):
    assert_error(client.get(path, headers={"Accept": accept}), 406)


def test_body_too_large_is_413():
    app = create_app(parse_config({"MaximumBodySize": 1000}), fixtures=False)
    try:
        c = MockClient(app)
        data = fixtures.instance_files()[0].read_bytes()
        body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--b--"
        assert_error(c.post("/dicom-web/studies", data=body,
                            headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=b'}), 413)
        assert_error(c.post("/instances", data=data), 413)
        assert app.store.counts()["instances"] == 0
    finally:
        app.store.close()


def test_no_match_answer_has_no_body(client):
    r = client.get("/dicom-web/studies?PatientID=NOBODY")
    assert r.status_code == 204 and r.get_data() == b""


# ---------------------------------------------------------------------------------------- authentication

PEER_PASSWORD = "peer-secret-4x9"


@pytest.fixture(scope="module")
def auth_app(fixture_app):
    """A writable mock holding the fixtures, with authentication on (a copy of the shared store)."""
    return create_app(store=fixture_app.store.copy(), settings=parse_config({
        "AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD}, "RecordRequests": True,
        "DicomWeb": {"Servers": {"peer": ["http://127.0.0.1:9/dicom-web/", "bob", PEER_PASSWORD]}}}))


def secrets_in(r) -> list[str]:
    """Which password (plain or inside a Basic token) a response reveals."""
    text = r.get_data().decode("latin-1") + "".join(f"{k}: {v}" for k, v in r.headers.items())
    found = []
    for secret, user in ((PASSWORD, USER), (PEER_PASSWORD, "bob")):
        if secret in text or base64.b64encode(f"{user}:{secret}".encode()).decode() in text:
            found.append(secret)
    return found


def _routes(manifest) -> list[tuple[str, str]]:
    inst = manifest["instances"][0]
    st, se, sop = inst["StudyInstanceUID"], inst["SeriesInstanceUID"], inst["SOPInstanceUID"]
    return [
        ("GET", "/dicom-web/studies"),
        ("GET", "/dicom-web/series"),
        ("GET", f"/dicom-web/studies/{st}/series/{se}/instances"),
        ("GET", f"/dicom-web/studies/{st}/metadata"),
        ("GET", f"/dicom-web/studies/{st}/series/{se}/instances/{sop}/frames/1"),
        ("GET", f"/wado?requestType=WADO&studyUID={st}&seriesUID={se}&objectUID={sop}&contentType=application/dicom"),
        ("GET", "/system"),
        ("GET", "/patients"),
        ("GET", "/_mock/status"),
        ("GET", "/_mock/faults"),
        ("GET", "/_mock/requests"),
        ("GET", "/dicom-web/servers"),
        ("GET", "/dicom-web/servers?expand"),
        ("GET", "/no/such/path"),
        ("POST", "/dicom-web/studies"),
        ("POST", "/instances"),
        ("POST", "/_mock/reset"),
    ]


def test_every_route_needs_credentials(auth_app, manifest):
    c = MockClient(auth_app)
    for method, path in _routes(manifest):
        for headers in ({}, basic(USER, "wrong"), basic("mallory", PASSWORD), {"Authorization": "Bearer x"},
                        {"Authorization": "Basic !!!notbase64"}):
            r = c.open(path, method=method, headers=headers)
            assert_error(r, 401)
            challenge = r.headers.get("WWW-Authenticate", "")
            assert challenge.lower().startswith("basic ") and "realm=" in challenge, (method, path)
            assert secrets_in(r) == []
    assert auth_app.store.counts()["instances"] == len(manifest["instances"])  # reset was refused


def test_routes_work_with_credentials_and_never_echo_the_password(auth_app, manifest):
    c = MockClient(auth_app)
    for method, path in _routes(manifest):
        if method == "POST":
            continue
        r = c.open(path, method=method, headers=basic(USER, PASSWORD))
        expected = 404 if path == "/no/such/path" else 200
        assert r.status_code == expected, (path, r.status_code, r.get_data(as_text=True))
        assert secrets_in(r) == [], path
    system = json.loads(c.get("/system", headers=basic(USER, PASSWORD)).get_data())
    assert PASSWORD not in json.dumps(system) and USER not in json.dumps(system)


def test_authenticated_stow_and_reset(manifest):
    app = create_app(parse_config({"AuthenticationEnabled": True, "RegisteredUsers": {USER: PASSWORD}}),
                     fixtures=False)
    try:
        c = MockClient(app)
        data = fixtures.instance_files()[-1].read_bytes()
        body = b"--b\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--b--"
        ct = {"Content-Type": 'multipart/related; type="application/dicom"; boundary=b'}
        assert_error(c.post("/dicom-web/studies", data=body, headers=ct), 401)
        assert app.store.counts()["instances"] == 0
        r = c.post("/dicom-web/studies", data=body, headers={**ct, **basic(USER, PASSWORD)})
        assert r.status_code == 200 and PASSWORD.encode() not in r.get_data()
        assert c.post("/_mock/reset?empty", headers=basic(USER, PASSWORD)).status_code == 200
        assert app.store.counts()["instances"] == 0
    finally:
        app.store.close()


# ---------------------------------------------------------------------------------------- remote access

@pytest.fixture(scope="module")
def local_only_app():
    app = create_app(parse_config({"RemoteAccessAllowed": False}), fixtures=False)
    yield app
    app.store.close()


@pytest.mark.parametrize("addr", ["10.1.2.3", "192.168.0.7", "8.8.8.8", "2001:db8::1", "not-an-address"])
def test_remote_client_is_refused_with_403(local_only_app, addr):
    c = MockClient(local_only_app)
    for path in ("/dicom-web/studies", "/system", "/_mock/status", "/wado?requestType=WADO"):
        assert_error(c.get(path, environ_base={"REMOTE_ADDR": addr}), 403)


@pytest.mark.parametrize("addr", ["127.0.0.1", "127.8.9.10", "::1"])
def test_loopback_client_is_served(local_only_app, addr):
    c = MockClient(local_only_app)
    assert c.get("/system", environ_base={"REMOTE_ADDR": addr}).status_code == 200
    assert c.get("/dicom-web/studies", environ_base={"REMOTE_ADDR": addr}).status_code == 204


def test_remote_access_allowed_by_default(client):
    assert client.get("/system", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 200


# ------------------------------------------------------------------------------ errors are always one line

def test_internal_errors_are_500_with_one_line(empty_app, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("multi\nline\ninternal detail")
    monkeypatch.setattr(empty_app.store, "orthanc_ids", boom)
    r = MockClient(empty_app).get("/patients")
    assert_error(r, 500)
    assert "internal detail" not in r.get_data(as_text=True)
