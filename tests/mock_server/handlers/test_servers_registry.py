"""The registry of remote DICOMweb servers (seed: "Client-related options", "Listing the available servers").

``DicomWeb.Servers`` accepts the seed's forms: ``[url]``, ``[url, username,
password]`` and an object with ``Url``, ``Username``/``Password``,
``CertificateFile``/``CertificateKeyFile``/``CertificateKeyPassword``,
``HttpHeaders``, ``Timeout``; ``Pkcs11`` is refused (no PKCS#11 here).  At run
time ``PUT``/``DELETE {root}servers/{name}`` edit the registry with the same
validation; ``GET {root}servers`` lists the names (``?expand`` the settings,
never a password).
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest

from dicomweb_mock.__main__ import main
from dicomweb_mock.config import ConfigError, parse_config
from tests.helpers.servers import (module_peer, LOCAL_PASSWORD, PEER_PASSWORD, PEER_USER, Node, Peer, assert_no_secret, peer_entry,
                             start_local)

OPERATIONS = {"get", "stow", "retrieve"}


peer = module_peer(fixtures=False)


@pytest.fixture(scope="module")
def local(peer: Peer) -> Iterator[Node]:
    servers = {
        "plain": [peer.dicomweb_url],
        "basic": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
        "full": peer_entry(peer, CertificateFile="/tmp/client.crt", CertificateKeyFile="/tmp/client.key",
                           CertificateKeyPassword="key-Pw-77c1d0",
                           HttpHeaders={"X-Session": "cookie-42", "Authorization-Extra": PEER_PASSWORD},
                           Timeout=7),
    }
    node = start_local(servers, fixtures=False)
    yield node
    node.close()


# -- configuration forms -------------------------------------------------------------------------------
def test_list_names_of_every_form(local: Node) -> None:
    r = local.dw("GET", "servers")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    assert sorted(r.json()) == ["basic", "full", "plain"]


def test_expand_describes_servers_without_passwords(local: Node, peer: Peer) -> None:
    r = local.dw("GET", "servers?expand")
    assert r.status_code == 200
    info = r.json()
    assert set(info) == {"plain", "basic", "full"}
    for name in info:
        assert info[name]["Url"] == peer.dicomweb_url
    assert "Username" not in info["plain"]
    assert info["basic"]["Username"] == PEER_USER
    assert info["full"]["Username"] == PEER_USER
    assert info["full"]["CertificateFile"] == "/tmp/client.crt"
    assert info["full"]["Timeout"] == 7
    for entry in info.values():
        assert "Password" not in entry and "CertificateKeyPassword" not in entry
    assert_no_secret(r.text)  # not the header value holding a password, nor a Basic token


@pytest.mark.parametrize("name", ["plain", "basic", "full"])
def test_get_one_server_lists_its_operations(local: Node, name: str) -> None:
    r = local.dw("GET", f"servers/{name}")
    assert r.status_code == 200
    assert OPERATIONS <= set(r.json())
    assert_no_secret(r.text)


@pytest.mark.parametrize("method, path", [
    ("GET", "servers/nope"), ("DELETE", "servers/nope"), ("POST", "servers/nope/get"),
    ("POST", "servers/nope/stow"), ("POST", "servers/nope/retrieve")])
def test_unknown_server_is_404(local: Node, peer: Peer, method: str, path: str) -> None:
    peer.clear()
    r = local.dw(method, path, json={"Uri": "/studies", "Resources": [{"Study": "1.2.3"}]})
    assert r.status_code == 404
    assert "nope" in r.text
    assert peer.dicomweb_requests() == []


def test_local_authentication_is_required_before_any_remote_call(local: Node, peer: Peer) -> None:
    peer.clear()
    import requests
    r = requests.post(local.dicomweb_url + "servers/basic/get", json={"Uri": "/studies"}, timeout=10)
    assert r.status_code == 401
    r = requests.post(local.dicomweb_url + "servers/basic/get", json={"Uri": "/studies"}, timeout=10,
                      auth=("alice", PEER_PASSWORD))
    assert r.status_code == 401
    assert peer.dicomweb_requests() == []


# -- Pkcs11 and invalid entries at start-up ------------------------------------------------------------
def test_pkcs11_refused_at_start_up() -> None:
    with pytest.raises(ConfigError, match="Pkcs11.*PKCS#11.*not supported"):
        parse_config({"DicomWeb": {"Servers": {"hsm": {"Url": "https://pacs.example/dicom-web/",
                                                       "Pkcs11": True}}}})


def test_pkcs11_refused_by_the_command_line(tmp_path, capsys) -> None:
    config = tmp_path / "orthanc.json"
    config.write_text(json.dumps({"DicomWeb": {"Servers": {"hsm": {"Url": "https://pacs.example/",
                                                                   "Pkcs11": True}}}}))
    assert main(["--config", str(config), "--no-fixtures"]) == 2
    err = capsys.readouterr().err
    assert "DicomWeb.Servers.hsm.Pkcs11" in err and "PKCS#11" in err


BAD_ENTRIES: list[tuple[Any, str]] = [
    (["http://pacs/", "user"], r"\[url\] or \[url, username, password\]"),
    ([], r"\[url\] or \[url, username, password\]"),
    ("http://pacs/", "a list or an object"),
    (["ftp://pacs/"], "invalid URL"),
    (["pacs/dicom-web/"], "invalid URL"),
    ({"Username": "u", "Password": "p"}, "needs a 'Url'"),
    ({"Url": "http://pacs/", "Colour": "red"}, "unknown field 'Colour'"),
    ({"Url": "http://pacs/", "Username": "u"}, "Username without a Password"),
    ({"Url": "http://pacs/", "CertificateFile": "c.pem"}, "both CertificateFile and CertificateKeyFile"),
    ({"Url": "http://pacs/", "Timeout": 0}, "Timeout.*> 0"),
    ({"Url": "http://pacs/", "Timeout": "10"}, "Timeout.*number|Timeout.*int"),
    ({"Url": "http://pacs/", "HttpHeaders": {"X": 1}}, r"HttpHeaders\.X"),
    ({"Url": "http://pacs/", "HttpHeaders": ["X: 1"]}, "HttpHeaders"),
    ({"Url": "http://pacs/", "Pkcs11": True}, "PKCS#11"),
    ({"Url": 42}, r"Url.*str"),
    (["http://user:secret@pacs/"], "Username and Password"),
    ({"Url": "http://pacs/", "HttpHeaders": {"X": "a\r\nInjected: 1"}}, "control character"),
    ({"Url": "http://pacs/", "HttpHeaders": {"X Y": "1"}}, "invalid header name"),
    ({"Url": "http://pacs/", "HttpHeaders": {"Content-Length": "1"}}, "set by the HTTP client"),
]


@pytest.mark.parametrize("entry, reason", BAD_ENTRIES)
def test_invalid_entry_refused_at_start_up(entry: Any, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as info:
        parse_config({"DicomWeb": {"Servers": {"pacs": entry}}})
    assert "DicomWeb.Servers.pacs" in str(info.value)
    assert "secret" not in str(info.value)


# -- run-time edits ------------------------------------------------------------------------------------
@pytest.mark.parametrize("entry, reason", BAD_ENTRIES)
def test_put_validates_like_the_configuration(local: Node, entry: Any, reason: str) -> None:
    r = local.dw("PUT", "servers/new", json=entry)
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert re.search(reason, r.text), r.text
    assert "secret" not in r.text
    assert "new" not in local.dw("GET", "servers").json()


@pytest.mark.parametrize("body", [b"not json", b"[1,", b"\xff\xfe"])
def test_put_with_an_unparsable_body_is_400(local: Node, body: bytes) -> None:
    r = local.dw("PUT", "servers/new", data=body, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert "JSON" in r.text


@pytest.mark.parametrize("form", ["list", "list3", "object"])
def test_put_then_use_then_delete(local: Node, peer: Peer, form: str) -> None:
    entry: Any = {"list": [peer.dicomweb_url], "list3": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
                  "object": peer_entry(peer, HttpHeaders={"X-Added": "yes"})}[form]
    r = local.dw("PUT", "servers/added", json=entry)
    assert r.status_code == 200, r.text
    assert "added" in local.dw("GET", "servers").json()
    assert OPERATIONS <= set(local.dw("GET", "servers/added").json())
    expanded = local.dw("GET", "servers?expand")
    assert expanded.json()["added"]["Url"] == peer.dicomweb_url
    assert_no_secret(expanded.text)

    peer.clear()
    r = local.dw("POST", "servers/added/get", json={"Uri": "/studies"})
    # The list form without credentials meets the peer's authentication: its 401 is relayed.
    assert r.status_code == (401 if form == "list" else 204)
    (seen,) = peer.dicomweb_requests()
    assert seen["Headers"].get("Authorization") == (None if form == "list" else f"Basic {PEER_USER}:***")
    if form == "object":
        assert seen["Headers"]["X-Added"] == "yes"

    assert local.dw("DELETE", "servers/added").status_code == 200
    assert "added" not in local.dw("GET", "servers").json()
    assert local.dw("GET", "servers/added").status_code == 404
    assert local.dw("POST", "servers/added/get", json={"Uri": "/studies"}).status_code == 404


def test_put_replaces_an_existing_entry(local: Node, peer: Peer) -> None:
    assert local.dw("PUT", "servers/moving", json=["http://127.0.0.1:9/first/"]).status_code == 200
    assert local.dw("PUT", "servers/moving", json=[peer.dicomweb_url, PEER_USER, PEER_PASSWORD]).status_code == 200
    assert local.dw("GET", "servers?expand").json()["moving"]["Url"] == peer.dicomweb_url
    assert local.dw("POST", "servers/moving/get", json={"Uri": "/studies"}).status_code == 204
    assert local.dw("DELETE", "servers/moving").status_code == 200


def test_passwords_never_in_any_answer_nor_the_recorder(local: Node, peer: Peer) -> None:
    texts = [local.dw("GET", "servers?expand").text, local.dw("GET", "servers/full").text]
    local.dw("PUT", "servers/wrong", json=peer_entry(peer, password="wrong-Pw-5a5a5a"))
    for name in ("basic", "full", "wrong"):
        r = local.dw("POST", f"servers/{name}/get", json={"Uri": "/studies"})
        texts += [r.text, json.dumps(dict(r.headers))]
    local.dw("DELETE", "servers/wrong")
    texts.append(json.dumps(peer.recorded()))
    texts.append(local.rest("GET", "/_mock/requests").text)
    for text in texts:
        assert_no_secret(text)
    assert LOCAL_PASSWORD not in "".join(texts)
