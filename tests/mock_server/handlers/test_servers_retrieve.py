"""``POST {root}servers/{name}/retrieve`` (seed: "Retrieving DICOM resources from a WADO-RS server").

The seed: ``Resources`` holds ``{Study}``, ``{Study, Series}`` or ``{Study,
Series, Instance}`` (DICOM UIDs, not Orthanc ids); the instances are
downloaded into the local Orthanc, which replies with "the list of the Orthanc
identifiers of all the DICOM instances that were downloaded"; ``HttpHeaders``
and ``HttpArguments`` are available.  Expected identifiers come from the
manifest and the SHA-1 formula (``tests.helpers.servers.orthanc_id``).
"""

from __future__ import annotations

import io
import json
import time
from typing import Any, Iterator

import pydicom
import pytest

from tests.helpers.part10 import assert_kept
from tests.helpers.servers import (module_peer, PEER_PASSWORD, PEER_USER, Dataset, Node, Peer, StallingServer, assert_no_secret,
                             closed_port, peer_entry, start_local)

IMPLICIT_VR_LE, EXPLICIT_VR_LE = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1"


@pytest.fixture(scope="module")
def data(manifest) -> Dataset:
    return Dataset.load(manifest)


peer = module_peer(fixtures=True)


@pytest.fixture(scope="module")
def local_node(peer: Peer) -> Iterator[Node]:
    servers = {"peer": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
               "headers": peer_entry(peer, HttpHeaders={"X-Configured": "yes"}),
               "wrong": [peer.dicomweb_url, PEER_USER, "wrong-Pw-5a5a5a"],
               "down": [f"http://127.0.0.1:{closed_port()}/dicom-web/", PEER_USER, PEER_PASSWORD]}
    node = start_local(servers, fixtures=False)
    yield node
    node.close()


@pytest.fixture
def local(local_node: Node, peer: Peer) -> Node:
    """The local server, emptied; the peer's log cleared."""
    local_node.reset(empty=True)
    peer.clear()
    return local_node


def retrieve(local: Node, resources: Any, server: str = "peer", **extra: Any):
    return local.dw("POST", f"servers/{server}/retrieve", data=json.dumps({"Resources": resources, **extra}))


def multi_series_study(data: Dataset) -> dict[str, Any]:
    """An instance of a study holding several series, one of which has several instances."""
    return next(i for i in data.instances
                if len(data.under("series", i)) > 1 and len(data.under("studies", i)) > len(data.under("series", i)))


def assert_stored_locally(local: Node, data: Dataset, expected: list[dict[str, Any]]) -> None:
    """Every expected instance is stored locally, as the peer holds it.

    With ``transfer-syntax=*`` (PS3.18 8.7.3.5.2) the peer need not transcode: the data sets are
    identical (each store writes its own File Meta Information), except for the Implicit VR Little Endian files of the data set, which 8.7.3
    forbids on the wire: those arrive in Explicit VR Little Endian with the same data elements.
    """
    assert sorted(local.sop_uids()) == sorted(i["SOPInstanceUID"] for i in expected)
    for inst in expected:
        r = local.rest("GET", f"/instances/{data.instance_oid(inst)}/file")
        assert r.status_code == 200
        original = data.path(inst).read_bytes()
        if inst["TransferSyntaxUID"] != IMPLICIT_VR_LE:
            assert_kept(original, r.content)
        else:
            got, want = (pydicom.dcmread(io.BytesIO(b)) for b in (r.content, original))
            assert got.file_meta.TransferSyntaxUID == EXPLICIT_VR_LE
            assert [(e.tag, e.value) for e in got] == [(e.tag, e.value) for e in want]


@pytest.mark.parametrize("level", ["studies", "series", "instances"])
def test_retrieve_one_resource(local: Node, peer: Peer, data: Dataset, level: str) -> None:
    # A 7-instance study for the study level; the VIX localizer series (Implicit VR files) below it.
    inst = multi_series_study(data) if level != "studies" else next(
        i for i in data.instances if 1 < len(data.under("series", i)) < len(data.under("studies", i)) < 10)
    item = {"Study": inst["StudyInstanceUID"]}
    if level in ("series", "instances"):
        item["Series"] = inst["SeriesInstanceUID"]
    if level == "instances":
        item["Instance"] = inst["SOPInstanceUID"]
    r = retrieve(local, [item])
    assert r.status_code == 200, r.text
    expected = data.under(level, inst)
    assert sorted(r.json()) == sorted(data.instance_oid(i) for i in expected)
    assert_stored_locally(local, data, expected)
    (request,) = peer.dicomweb_requests()
    assert request["Method"] == "GET" and request["Status"] == 200
    assert "transfer-syntax=*" in request["Headers"]["Accept"]
    assert request["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"


def test_retrieve_the_seeds_three_forms_together(local: Node, data: Dataset) -> None:
    """Overlapping resources: each downloaded instance is listed once."""
    inst = multi_series_study(data)
    other = next(i for i in data.instances if i["StudyInstanceUID"] != inst["StudyInstanceUID"])
    resources = [{"Study": other["StudyInstanceUID"]},
                 {"Study": inst["StudyInstanceUID"], "Series": inst["SeriesInstanceUID"]},
                 {"Study": inst["StudyInstanceUID"], "Series": inst["SeriesInstanceUID"],
                  "Instance": inst["SOPInstanceUID"]}]
    r = retrieve(local, resources)
    assert r.status_code == 200, r.text
    expected = data.under("studies", other) + data.under("series", inst)
    assert sorted(r.json()) == sorted(data.instance_oid(i) for i in expected)
    assert_stored_locally(local, data, expected)


@pytest.mark.parametrize("key", ["Arguments", "HttpArguments"])
def test_headers_and_arguments_reach_the_remote(local: Node, peer: Peer, data: Dataset, key: str) -> None:
    inst = data.instances[-1]
    r = retrieve(local, [{"Study": inst["StudyInstanceUID"]}], server="headers",
                 HttpHeaders={"X-Session": "s 1"}, **{key: {"trace": "a b"}})
    assert r.status_code == 200, r.text
    (request,) = peer.dicomweb_requests()
    assert request["Path"] == f"/dicom-web/studies/{inst['StudyInstanceUID']}"
    assert request["Query"] == "trace=a%20b"
    assert request["Headers"]["X-Session"] == "s 1" and request["Headers"]["X-Configured"] == "yes"


def test_unknown_study_is_404(local: Node, peer: Peer, data: Dataset) -> None:
    r = retrieve(local, [{"Study": data.instances[0]["StudyInstanceUID"] + ".404"}])
    assert r.status_code == 404
    (request,) = peer.dicomweb_requests()
    assert request["Status"] == 404
    assert local.sop_uids() == []


def test_unknown_instance_is_404(local: Node, data: Dataset) -> None:
    inst = data.instances[0]
    r = retrieve(local, [{"Study": inst["StudyInstanceUID"], "Series": inst["SeriesInstanceUID"],
                          "Instance": inst["SOPInstanceUID"] + ".9"}])
    assert r.status_code == 404


@pytest.mark.parametrize("resources", [
    [], "1.2.3", [{"Series": "1.2.3"}], [{"Study": ""}], [{"Study": "1.2.3/../../x"}],
    [{"Study": "1.2", "Instance": "1.2.3"}], [{"Study": "1.2", "Series": "http://evil/"}], ["1.2.3"]])
def test_malformed_resources_are_400(local: Node, peer: Peer, resources: Any) -> None:
    r = retrieve(local, resources)
    assert r.status_code == 400
    assert r.text.strip()
    assert peer.recorded() == []


def test_wrong_remote_password_is_reported(local: Node, peer: Peer, data: Dataset) -> None:
    r = retrieve(local, [{"Study": data.instances[0]["StudyInstanceUID"]}], server="wrong")
    assert r.status_code == 502
    assert "401" in r.text
    (request,) = peer.dicomweb_requests()
    assert request["Status"] == 401
    assert_no_secret(r.text)
    assert local.sop_uids() == []


def test_remote_down_is_502(local: Node, data: Dataset) -> None:
    r = retrieve(local, [{"Study": data.instances[0]["StudyInstanceUID"]}], server="down")
    assert r.status_code == 502
    assert "down" in r.text


@pytest.mark.parametrize("drop, status", [(False, 504), (True, 502)])
def test_remote_failing_in_the_middle_of_the_body(local: Node, drop: bool, status: int) -> None:
    """Headers and part of a multipart answer, then silence (Timeout 1) or a closed connection."""
    server = StallingServer(drop)
    try:
        assert local.dw("PUT", "servers/stalls", json={"Url": server.url, "Timeout": 1}).status_code == 200
        started = time.monotonic()
        r = retrieve(local, [{"Study": "1.2.3"}], server="stalls")
        assert r.status_code == status, r.text
        assert "stalls" in r.text
        assert time.monotonic() - started < 5
        assert local.sop_uids() == []
    finally:
        local.dw("DELETE", "servers/stalls")
        server.close()
