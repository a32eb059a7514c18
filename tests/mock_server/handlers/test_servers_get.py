"""``POST {root}servers/{name}/get`` (seed: "Making a call to QIDO-RS or WADO-RS").

The seed: the call is a GET below the remote's URL (``Uri``), the GET
arguments go in ``Arguments`` and "Orthanc will take care of properly
encoding it to a URL", extra ``HttpHeaders`` are sent, and Orthanc
authenticates the client.  The global ``HttpProxy`` and ``HttpTimeout`` and the
server's ``Timeout`` apply.  Query encoding follows PS3.18 8.3.1: non-ASCII
and characters outside qp-char are percent-encoded, and ``+`` is a literal
qp-char (so a space may not be sent as ``+``).
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Iterator
from urllib.parse import unquote

import pytest

from tests.helpers.servers import (module_peer, JSON_ACCEPT, PEER_PASSWORD, PEER_USER, Dataset, HangingServer, Node, Peer, assert_no_secret,
                             closed_port, peer_entry, recording_proxy, start_local)


peer = module_peer(fixtures=True)


@pytest.fixture(scope="module")
def hanging() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def local(peer: Peer, hanging: HangingServer) -> Iterator[Node]:
    servers = {
        "peer": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
        "headers": peer_entry(peer, HttpHeaders={"X-Configured": "from-config", "Cookie": "session=abc"}),
        "anonymous": [peer.dicomweb_url],
        "wrong": [peer.dicomweb_url, PEER_USER, "wrong-Pw-5a5a5a"],
        "down": [f"http://127.0.0.1:{closed_port()}/dicom-web/", PEER_USER, PEER_PASSWORD],
        "hangs": {"Url": hanging.url, "Timeout": 1},
    }
    node = start_local(servers, fixtures=False)
    yield node
    node.close()


def get(local: Node, body: dict, server: str = "peer"):
    return local.dw("POST", f"servers/{server}/get", data=json.dumps(body))


def decoded_query(query: str) -> list[tuple[str, str]]:
    """RFC 3986 decoding (no ``+`` to space, PS3.18 8.3.1 makes ``+`` a literal qp-char)."""
    pairs = []
    for item in query.split("&"):
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


# -- relaying ------------------------------------------------------------------------------------------
def test_qido_through_the_remote(local: Node, peer: Peer, manifest) -> None:
    peer.clear()
    r = get(local, {"Uri": "/studies", "HttpHeaders": JSON_ACCEPT})
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/dicom+json")
    uids = {item["0020000D"]["Value"][0] for item in r.json()}
    assert uids == {s["StudyInstanceUID"] for s in manifest["studies"]}
    (seen,) = peer.dicomweb_requests()
    assert seen["Method"] == "GET" and seen["Path"] == "/dicom-web/studies"
    assert seen["Headers"]["Accept"] == "application/dicom+json"
    assert seen["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"


def test_wado_rs_answer_is_relayed_byte_for_byte(local: Node, peer: Peer, manifest) -> None:
    study = manifest["studies"][1]["StudyInstanceUID"]
    direct = peer.dw("GET", f"studies/{study}/metadata", headers=JSON_ACCEPT)
    r = get(local, {"Uri": f"studies/{study}/metadata", "HttpHeaders": JSON_ACCEPT})
    assert r.status_code == direct.status_code == 200
    assert r.headers["Content-Type"] == direct.headers["Content-Type"]
    assert r.content == direct.content


def test_remote_error_status_and_body_are_relayed(local: Node, peer: Peer) -> None:
    r = get(local, {"Uri": "/studies/1.2.3.999/metadata", "HttpHeaders": JSON_ACCEPT})
    assert r.status_code == 404
    direct = peer.dw("GET", "studies/1.2.3.999/metadata", headers=JSON_ACCEPT)
    assert r.text == direct.text and r.headers["Content-Type"] == direct.headers["Content-Type"]


ARGUMENTS = [
    {"00100010": "*JODOGNE*"},
    {"PatientName": "Doe^John"},
    {"PatientName": "VIX Visible"},
    {"PatientName": "a+b"},
    {"PatientName": "山田^太郎", "StudyDescription": "Éte*"},
    {"StudyDate": "20190101-20191231", "limit": "5", "includefield": "00081030"},
    {"PatientID": "x&y=z,#[]"},
]


@pytest.mark.parametrize("arguments", ARGUMENTS)
def test_arguments_are_url_encoded(local: Node, peer: Peer, arguments: dict[str, str]) -> None:
    peer.clear()
    r = get(local, {"Uri": "/studies", "Arguments": arguments, "HttpHeaders": JSON_ACCEPT})
    assert r.status_code in (200, 204), r.text
    (seen,) = peer.dicomweb_requests()
    query = seen["Query"]
    assert query.isascii() and " " not in query  # 8.3.4: non-ASCII and spaces percent-encoded
    assert decoded_query(query) == list(arguments.items())


def test_arguments_select_what_the_remote_returns(local: Node, manifest) -> None:
    r = get(local, {"Uri": "/studies", "Arguments": {"PatientID": "VIX-0001"}, "HttpHeaders": JSON_ACCEPT})
    assert r.status_code == 200
    expected = {s["StudyInstanceUID"] for s in manifest["studies"] if s["PatientID"] == "VIX-0001"}
    assert {item["0020000D"]["Value"][0] for item in r.json()} == expected


def test_query_in_uri_is_kept_with_arguments(local: Node, peer: Peer) -> None:
    peer.clear()
    assert get(local, {"Uri": "/studies?limit=1", "Arguments": {"offset": "1"}}).status_code == 200
    (seen,) = peer.dicomweb_requests()
    assert decoded_query(seen["Query"]) == [("limit", "1"), ("offset", "1")]


def test_http_headers_of_the_call_and_of_the_configuration(local: Node, peer: Peer) -> None:
    peer.clear()
    r = get(local, {"Uri": "/studies", "HttpHeaders": {"X-Request": "per-call", "Accept": "application/json"}},
            server="headers")
    assert r.status_code == 200
    (seen,) = peer.dicomweb_requests()
    assert seen["Headers"]["X-Request"] == "per-call"
    assert seen["Headers"]["X-Configured"] == "from-config"
    assert seen["Headers"]["Cookie"] == "session=abc"
    assert seen["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"


# -- authentication towards the remote -----------------------------------------------------------------
def test_wrong_remote_password_gives_the_remotes_401(local: Node, peer: Peer) -> None:
    peer.clear()
    r = get(local, {"Uri": "/studies"}, server="wrong")
    assert r.status_code == 401
    assert "credentials" in r.text
    # The remote's challenge is not passed on: it would ask the local user for the remote's password.
    assert "WWW-Authenticate" not in r.headers
    (seen,) = peer.dicomweb_requests()
    assert seen["Headers"]["Authorization"] == f"Basic {PEER_USER}:***" and seen["Status"] == 401
    assert_no_secret(r.text + json.dumps(seen))


def test_no_credentials_gives_the_remotes_401(local: Node, peer: Peer) -> None:
    peer.clear()
    assert get(local, {"Uri": "/studies"}, server="anonymous").status_code == 401
    (seen,) = peer.dicomweb_requests()
    assert "Authorization" not in seen["Headers"] and seen["Status"] == 401


# -- SSRF guard ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("uri", [
    "http://evil/", "//evil/x", "/../../x", "studies/../../../x", "\\\\evil", "/%2e%2e/%2e%2e/x",
    "/..%2f..%2fx", "https://127.0.0.1/dicom-web/studies", "HTTP://evil/studies", "evil:8080/x",
    "/studies\r\nHost: evil", "/stud ies"])
def test_uri_cannot_leave_the_remotes_root(local: Node, peer: Peer, uri: str) -> None:
    peer.clear()
    r = get(local, {"Uri": uri})
    assert r.status_code == 400
    assert "Uri" in r.text
    assert peer.recorded() == []


def test_absolute_url_of_the_remote_itself_is_refused(local: Node, peer: Peer) -> None:
    peer.clear()
    assert get(local, {"Uri": peer.dicomweb_url + "studies"}).status_code == 400
    assert peer.recorded() == []


@pytest.mark.parametrize("body", [
    {}, {"Uri": 7}, {"Uri": "/studies", "Arguments": {"limit": 5}}, {"Uri": "/studies", "Arguments": ["a"]},
    {"Uri": "/studies", "HttpHeaders": {"X": 1}}, {"Uri": "/studies", "HttpHeaders": "X: 1"},
    {"Uri": "/studies", "HttpHeaders": {"X": "a\r\nInjected: 1"}}, {"Uri": "/studies", "HttpHeaders": {"A B": "1"}},
    {"Uri": "/studies", "HttpHeaders": {"Transfer-Encoding": "chunked"}},
    {"Uri": "/studies", "HttpHeaders": {"Content-Length": "10"}}])
def test_malformed_get_body_is_400(local: Node, peer: Peer, body: dict) -> None:
    peer.clear()
    r = get(local, body)
    assert r.status_code == 400
    assert r.text.strip()
    assert peer.recorded() == []


def test_remote_down_is_502(local: Node) -> None:
    r = get(local, {"Uri": "/studies"}, server="down")
    assert r.status_code == 502
    assert "down" in r.text
    assert_no_secret(r.text)


# -- timeouts ------------------------------------------------------------------------------------------
def test_server_timeout_gives_504(local: Node) -> None:
    started = time.monotonic()
    r = get(local, {"Uri": "/studies"}, server="hangs")
    assert r.status_code == 504
    assert time.monotonic() - started < 5
    assert re.search(r"\b1(\.0)? s\b", r.text), r.text  # the reason names the server's Timeout


def test_global_http_timeout_gives_504(peer: Peer, hanging: HangingServer) -> None:
    node = start_local({"hangs": [hanging.url]}, fixtures=False, HttpTimeout=1)
    try:
        started = time.monotonic()
        r = get(node, {"Uri": "/studies"}, server="hangs")
        assert r.status_code == 504
        assert time.monotonic() - started < 5
    finally:
        node.close()


# -- HttpProxy -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("form", ["{host}", "http://{host}", "proxyuser:proxy-Pw-31f0aa@{host}",
                                  "http://proxyuser:proxy-Pw-31f0aa@{host}"])
def test_calls_go_through_the_http_proxy(peer: Peer, manifest, form: str) -> None:
    """``HttpProxy`` as libcurl (Orthanc) takes it: ``[scheme://][user:password@]host:port``."""
    data = Dataset.load(manifest)
    with recording_proxy() as (proxy_url, seen):
        node = start_local({"peer": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD]}, fixtures=False,
                           HttpProxy=form.format(host=proxy_url.split("://")[1]))
        try:
            peer.clear()
            r = get(node, {"Uri": "/studies", "HttpHeaders": JSON_ACCEPT})
            assert r.status_code == 200
            assert len(r.json()) == len(manifest["studies"])
            oid = node.rest("POST", "/instances", data=data.path(data.instances[0]).read_bytes()).json()["ID"]
            r = node.dw("POST", "servers/peer/stow", json={"Resources": [oid]})
            assert r.status_code == 200, r.text
            assert_no_secret(r.text)
        finally:
            node.close()
    assert [(s["Method"], s["Target"]) for s in seen] == [
        ("GET", peer.dicomweb_url + "studies"), ("POST", peer.dicomweb_url + "studies")]
    for request in seen:
        if "proxyuser" in form:
            assert request["ProxyAuthorization"] == "Basic " + base64.b64encode(
                b"proxyuser:proxy-Pw-31f0aa").decode()
        else:
            assert request["ProxyAuthorization"] is None
    assert [e["Method"] for e in peer.dicomweb_requests()] == ["GET", "POST"]  # the peer got both


def test_proxy_that_is_down_gives_502_without_its_password(peer: Peer) -> None:
    proxy = f"http://proxyuser:proxy-Pw-31f0aa@127.0.0.1:{closed_port()}"
    node = start_local({"peer": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD]}, fixtures=False, HttpProxy=proxy)
    try:
        peer.clear()
        r = get(node, {"Uri": "/studies"})
        assert r.status_code == 502
        assert "proxy" in r.text
        assert_no_secret(r.text)
        assert peer.recorded() == []
    finally:
        node.close()
