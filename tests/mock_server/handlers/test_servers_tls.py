"""HTTPS towards remote DICOMweb servers (seed: "Client-related options" and its "Important remark").

The local server verifies the peer with ``HttpsVerifyPeers`` and the CAs of
``HttpsCACertificates``, and presents the client certificate of a server entry
(``CertificateFile``, ``CertificateKeyFile``, ``CertificateKeyPassword``).  The
peer serves HTTPS as Orthanc does: ``SslCertificate`` (one PEM with the
certificate and its key), and with ``SslVerifyPeers`` it demands a client
certificate signed by ``SslTrustedClientCertificates``.  Certificates are made
here with ``trustme`` (never committed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import trustme
from cryptography.hazmat.primitives import serialization

from dicomweb_mock.config import ConfigError, parse_config
from dicomweb_mock.tls import server_ssl_context
from tests.helpers.servers import (PEER_PASSWORD, PEER_USER, JSON_ACCEPT, Dataset, Node, Peer, assert_no_secret, peer_entry,
                             start_local, start_peer)

KEY_PASSWORD = "key-Pw-77c1d0"
# The tests' own calls, and the local with HttpsVerifyPeers false, skip verification on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


class Pki:
    """Two CAs (trusted, untrusted), server certificates and client certificates as files."""

    def __init__(self, root: Path):
        self.root = root
        self.ca, self.rogue_ca, self.client_ca = trustme.CA(), trustme.CA(), trustme.CA()
        self.ca_file = self._write("ca.pem", self.ca.cert_pem.bytes())
        self.client_ca_file = self._write("client-ca.pem", self.client_ca.cert_pem.bytes())
        self.server = self._leaf("server.pem", self.ca.issue_cert("127.0.0.1", "localhost"))
        self.rogue_server = self._leaf("rogue.pem", self.rogue_ca.issue_cert("127.0.0.1"))
        self.misnamed_server = self._leaf("misnamed.pem", self.ca.issue_cert("pacs.example"))
        client = self.client_ca.issue_cert("client.example")
        self.client_cert = self._write("client.crt", b"".join(c.bytes() for c in client.cert_chain_pems))
        self.client_key = self._write("client.key", client.private_key_pem.bytes())
        key = serialization.load_pem_private_key(client.private_key_pem.bytes(), password=None)
        self.client_key_encrypted = self._write("client-encrypted.key", key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_PASSWORD.encode())))
        rogue_client = self.rogue_ca.issue_cert("client.example")
        self.rogue_client_cert = self._write("rogue-client.crt", rogue_client.cert_chain_pems[0].bytes())
        self.rogue_client_key = self._write("rogue-client.key", rogue_client.private_key_pem.bytes())

    def _write(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.write_bytes(data)
        return str(path)

    def _leaf(self, name: str, leaf: trustme.LeafCert) -> str:
        return self._write(name, leaf.private_key_and_cert_chain_pem.bytes())


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def https_peer(certificate: str, **config: Any) -> Peer:
    return start_peer(fixtures=False, SslEnabled=True, SslCertificate=certificate, **config)


@pytest.fixture(scope="module")
def peer(pki: Pki) -> Iterator[Peer]:
    node = https_peer(pki.server)
    yield node
    node.close()


@pytest.fixture(scope="module")
def rogue_peer(pki: Pki) -> Iterator[Peer]:
    node = https_peer(pki.rogue_server)
    yield node
    node.close()


@pytest.fixture(scope="module")
def misnamed_peer(pki: Pki) -> Iterator[Peer]:
    node = https_peer(pki.misnamed_server)
    yield node
    node.close()


@pytest.fixture(scope="module")
def mtls_peer(pki: Pki) -> Iterator[Peer]:
    node = https_peer(pki.server, SslVerifyPeers=True, SslTrustedClientCertificates=pki.client_ca_file,
                      cert=(pki.client_cert, pki.client_key))
    yield node
    node.close()


@pytest.fixture(scope="module")
def local(pki: Pki, peer: Peer, rogue_peer: Peer, misnamed_peer: Peer, mtls_peer: Peer) -> Iterator[Node]:
    servers = {
        "trusted": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
        "trusted-wrong": [peer.dicomweb_url, PEER_USER, "wrong-Pw-5a5a5a"],
        "trusted-anonymous": [peer.dicomweb_url],
        "rogue": [rogue_peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
        "misnamed": [misnamed_peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
        "mtls-none": [mtls_peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
        "mtls": peer_entry(mtls_peer, CertificateFile=pki.client_cert, CertificateKeyFile=pki.client_key),
        "mtls-encrypted": peer_entry(mtls_peer, CertificateFile=pki.client_cert,
                                     CertificateKeyFile=pki.client_key_encrypted,
                                     CertificateKeyPassword=KEY_PASSWORD),
        "mtls-bad-key-password": peer_entry(mtls_peer, CertificateFile=pki.client_cert,
                                            CertificateKeyFile=pki.client_key_encrypted,
                                            CertificateKeyPassword="wrong-Pw-5a5a5a"),
        "mtls-rogue-client": peer_entry(mtls_peer, CertificateFile=pki.rogue_client_cert,
                                        CertificateKeyFile=pki.rogue_client_key),
    }
    node = start_local(servers, fixtures=True, HttpsCACertificates=pki.ca_file,
                       DicomWeb={"StowMaxInstances": 0, "StowMaxSize": 0})
    yield node
    node.close()


def get(local: Node, server: str):
    return local.dw("POST", f"servers/{server}/get", data=json.dumps({"Uri": "/studies", "HttpHeaders": JSON_ACCEPT}))


def test_peer_is_verified_with_the_configured_ca(local: Node, peer: Peer) -> None:
    peer.reset(empty=True)
    peer.clear()
    assert peer.url.startswith("https://")
    assert get(local, "trusted").status_code == 204  # empty peer
    first = local.rest("GET", "/instances").json()[0]
    r = local.dw("POST", "servers/trusted/stow", json={"Resources": [first]})
    assert r.status_code == 200, r.text
    assert len(peer.sop_uids()) == 1
    assert [e["Method"] for e in peer.dicomweb_requests()] == ["GET", "POST", "GET"]


@pytest.mark.parametrize("server", ["rogue", "misnamed"])
def test_verification_failure_is_502_with_a_tls_reason(local: Node, server: str, request) -> None:
    remote = request.getfixturevalue({"rogue": "rogue_peer", "misnamed": "misnamed_peer"}[server])
    remote.clear()
    r = get(local, server)
    assert r.status_code == 502
    assert "TLS" in r.text and "certificate" in r.text.lower()
    assert remote.recorded() == []  # no request got through


def test_verification_can_be_switched_off(pki: Pki, rogue_peer: Peer) -> None:
    node = start_local({"rogue": [rogue_peer.dicomweb_url, PEER_USER, PEER_PASSWORD]}, fixtures=False,
                       HttpsVerifyPeers=False)
    try:
        rogue_peer.clear()
        assert get(node, "rogue").status_code == 204
        (seen,) = rogue_peer.dicomweb_requests()
        assert seen["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"
    finally:
        node.close()


def test_system_cas_do_not_trust_a_private_ca(peer: Peer) -> None:
    node = start_local({"trusted": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD]}, fixtures=False)
    try:
        r = get(node, "trusted")
        assert r.status_code == 502 and "TLS" in r.text
    finally:
        node.close()


# -- client certificates -------------------------------------------------------------------------------
@pytest.mark.parametrize("server", ["mtls-none", "mtls-rogue-client"])
def test_peer_demanding_a_client_certificate_refuses_others(local: Node, mtls_peer: Peer, server: str) -> None:
    mtls_peer.clear()
    r = get(local, server)
    assert r.status_code == 502
    assert "TLS" in r.text
    assert mtls_peer.recorded() == []


@pytest.mark.parametrize("server", ["mtls", "mtls-encrypted"])
def test_client_certificate_is_presented(local: Node, mtls_peer: Peer, server: str) -> None:
    mtls_peer.clear()
    r = get(local, server)
    assert r.status_code == 204, r.text
    (seen,) = mtls_peer.dicomweb_requests()
    assert seen["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"


def test_client_certificate_with_verification_off(pki: Pki, mtls_peer: Peer) -> None:
    entry = peer_entry(mtls_peer, CertificateFile=pki.client_cert, CertificateKeyFile=pki.client_key_encrypted,
                       CertificateKeyPassword=KEY_PASSWORD)
    node = start_local({"mtls": entry}, fixtures=False, HttpsVerifyPeers=False)
    try:
        assert get(node, "mtls").status_code == 204
    finally:
        node.close()


def test_wrong_key_password_is_502_without_the_password(local: Node, mtls_peer: Peer) -> None:
    mtls_peer.clear()
    r = get(local, "mtls-bad-key-password")
    assert r.status_code == 502
    assert "client certificate" in r.text and "mtls-bad-key-password" in r.text
    assert_no_secret(r.text)
    assert mtls_peer.recorded() == []


def test_retrieve_over_mutual_tls(local: Node, mtls_peer: Peer, manifest) -> None:
    """A study sent with STOW-RS comes back with WADO-RS, both over mutual TLS."""
    mtls_peer.reset(empty=True)
    study = manifest["studies"][-1]
    oid = next(s["ID"] for s in local.rest("GET", "/studies?expand").json()
               if s["MainDicomTags"]["StudyInstanceUID"] == study["StudyInstanceUID"])
    assert local.dw("POST", "servers/mtls/stow", json={"Resources": [oid]}).status_code == 200
    assert local.rest("DELETE", f"/studies/{oid}").status_code == 200
    r = local.dw("POST", "servers/mtls-encrypted/retrieve", json={"Resources": [{"Study": study["StudyInstanceUID"]}]})
    assert r.status_code == 200, r.text
    assert len(r.json()) == study["NumberOfStudyRelatedInstances"]


# -- server side configuration -------------------------------------------------------------------------
def test_bad_ssl_files_are_reported_by_key(pki: Pki, tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="SslCertificate"):
        server_ssl_context(parse_config({"SslEnabled": True, "SslCertificate": missing}))
    with pytest.raises(ConfigError, match="SslCertificate"):
        server_ssl_context(parse_config({"SslEnabled": True, "SslCertificate": pki.ca_file}))  # no key
    with pytest.raises(ConfigError, match="SslTrustedClientCertificates"):
        server_ssl_context(parse_config({"SslEnabled": True, "SslCertificate": pki.server, "SslVerifyPeers": True,
                                         "SslTrustedClientCertificates": missing}))
    with pytest.raises(ConfigError, match="SslTrustedClientCertificates"):
        parse_config({"SslEnabled": True, "SslCertificate": pki.server, "SslVerifyPeers": True})


# -- the auth modes x endpoints matrix -----------------------------------------------------------------
OK, REMOTE_401, TLS_FAILS, KEY_FAILS = "ok", "remote-401", "tls", "client-key"
MODES = {"trusted": OK, "trusted-wrong": REMOTE_401, "trusted-anonymous": REMOTE_401, "rogue": TLS_FAILS,
         "misnamed": TLS_FAILS, "mtls-none": TLS_FAILS, "mtls-rogue-client": TLS_FAILS, "mtls": OK,
         "mtls-encrypted": OK, "mtls-bad-key-password": KEY_FAILS}
PEER_OF = {"trusted": "peer", "trusted-wrong": "peer", "trusted-anonymous": "peer", "rogue": "rogue_peer",
           "misnamed": "misnamed_peer"}


@pytest.mark.parametrize("endpoint", ["get", "stow", "retrieve"])
@pytest.mark.parametrize("server", sorted(MODES))
def test_auth_modes_by_endpoint(local: Node, manifest, request, server: str, endpoint: str) -> None:
    """get relays the remote's answer; stow and retrieve report a remote failure as 502."""
    remote: Peer = request.getfixturevalue(PEER_OF.get(server, "mtls_peer"))
    inst = manifest["instances"][-1]
    data = Dataset.load(manifest)
    assert remote.rest("POST", "/instances", data=data.path(inst).read_bytes()).status_code == 200
    remote.clear()
    if endpoint == "get":
        body: dict[str, Any] = {"Uri": "/studies", "HttpHeaders": JSON_ACCEPT}
    elif endpoint == "stow":
        body = {"Resources": [data.instance_oid(inst)]}
    else:
        body = {"Resources": [{"Study": inst["StudyInstanceUID"], "Series": inst["SeriesInstanceUID"]}]}
    r = local.dw("POST", f"servers/{server}/{endpoint}", data=json.dumps(body))
    mode = MODES[server]
    if mode == OK:
        assert r.status_code == 200, r.text
        if endpoint == "retrieve":
            assert r.json() == [data.instance_oid(inst)]
        (seen,) = remote.dicomweb_requests()
        assert seen["Status"] == 200 and seen["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"
    elif mode == REMOTE_401:
        assert r.status_code == (401 if endpoint == "get" else 502)
        assert endpoint == "get" or "401" in r.text
        (seen,) = remote.dicomweb_requests()
        assert seen["Status"] == 401
    else:
        assert r.status_code == 502
        assert ("TLS" if mode == TLS_FAILS else "client certificate") in r.text
        assert remote.recorded() == []
    assert_no_secret(r.text)
