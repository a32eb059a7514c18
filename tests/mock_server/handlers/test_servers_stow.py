"""``POST {root}servers/{name}/stow`` (seed: "Sending DICOM resources to a STOW-RS server").

The seed: ``Resources`` lists Orthanc identifiers of patients, studies, series
and/or instances; ``HttpHeaders`` may be added; one call "will possibly result
in several HTTP requests", limited by ``DicomWeb.StowMaxInstances`` (instances
per request) and ``DicomWeb.StowMaxSize`` (MB per body), 0 meaning no limit.
What the peer received is read from its request recorder and its QIDO-RS.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any, Iterator

import pydicom
import pytest

from tests.helpers.servers import (module_peer, PEER_PASSWORD, PEER_USER, Dataset, Node, Peer, assert_no_secret, closed_port,
                             peer_entry, start_local)

MB = 1024 * 1024


@pytest.fixture(scope="module")
def data(manifest) -> Dataset:
    return Dataset.load(manifest)


peer = module_peer(fixtures=False)


@pytest.fixture(scope="module")
def local(peer: Peer) -> Iterator[Node]:
    servers = {"peer": [peer.dicomweb_url, PEER_USER, PEER_PASSWORD],
               "wrong": [peer.dicomweb_url, PEER_USER, "wrong-Pw-5a5a5a"],
               "down": [f"http://127.0.0.1:{closed_port()}/dicom-web/", PEER_USER, PEER_PASSWORD],
               "headers": peer_entry(peer, HttpHeaders={"X-Configured": "yes"})}
    node = start_local(servers, fixtures=True)
    yield node
    node.close()


@pytest.fixture
def fresh(peer: Peer, local: Node) -> Iterator[Peer]:
    """An empty, unrecorded peer; the local's limits back to 0/0 afterwards."""
    peer.reset(empty=True)
    peer.clear()
    yield peer
    local.settings.dicomweb.stow_max_instances = 0
    local.settings.dicomweb.stow_max_size = 0


def stow(local: Node, resources: list[Any], server: str = "peer", **extra: Any):
    return local.dw("POST", f"servers/{server}/stow", data=json.dumps({"Resources": resources, **extra}))


def stow_requests(peer: Peer) -> list[dict[str, Any]]:
    return [e for e in peer.dicomweb_requests() if e["Method"] == "POST"]


def assert_received_once(peer: Peer, expected: list[dict[str, Any]]) -> None:
    """The peer stores exactly the expected SOP instances, and received each in one part only."""
    uids = peer.sop_uids()
    assert Counter(uids) == Counter(i["SOPInstanceUID"] for i in expected)
    assert sum(e["Parts"] for e in stow_requests(peer)) == len(expected)


# -- resources of every level --------------------------------------------------------------------------
@pytest.mark.parametrize("level", ["patients", "studies", "series", "instances"])
def test_resources_of_each_level(local: Node, fresh: Peer, data: Dataset, level: str) -> None:
    # A patient with one study of several series, one of them holding several instances.
    inst = next(i for i in data.instances if len(data.under("series", i)) > 1
                and len(data.under("series", i)) < len(data.under("patients", i)) < 10)
    r = stow(local, [data.oid(level, inst)])
    assert r.status_code == 200, r.text
    expected = data.under(level, inst)
    assert r.json()["Instances"] == len(expected)
    assert_received_once(fresh, expected)


def test_mixed_and_overlapping_resources(local: Node, fresh: Peer, data: Dataset) -> None:
    one = next(i for i in data.instances if 1 < len(data.under("series", i)) < len(data.under("patients", i)) < 10)
    other = next(i for i in data.instances if data.chain(i)[0] != data.chain(one)[0])
    resources = [data.oid("instances", one), data.oid("series", one), data.oid("patients", one),
                 data.oid("studies", one), data.oid("instances", other), data.oid("series", other),
                 data.oid("instances", one)]
    r = stow(local, resources)
    assert r.status_code == 200, r.text
    expected = data.under("patients", one) + data.under("series", other)
    assert_received_once(fresh, expected)


# -- chunking on the wire ------------------------------------------------------------------------------
def part_overhead_bounds(boundary: str) -> tuple[int, int]:
    """Bytes a part adds beyond its data: at least ``--b CRLF Content-Type CRLF CRLF ... CRLF``.

    The upper bound leaves 64 bytes for further part headers (Content-Length...).
    """
    least = len(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n\r\n")
    return least, least + 64


def expected_chunks(sizes: list[int], max_instances: int, max_mb: int, overhead: int, close: int) -> list[list[int]]:
    """In-order grouping: a new request whenever the next part would break a limit (0 = none)."""
    chunks: list[list[int]] = []
    for index, size in enumerate(sizes):
        if chunks:
            current = chunks[-1]
            body = sum(sizes[i] + overhead for i in current) + close
            if not ((max_instances and len(current) >= max_instances)
                    or (max_mb and body + size + overhead > max_mb * MB)):
                current.append(index)
                continue
        chunks.append([index])
    return chunks


def check_chunking(peer: Peer, sizes: list[int], max_instances: int, max_mb: int) -> list[tuple[int, int]]:
    """Compare the requests the peer received with the grouping the limits imply; returns (parts, bytes)."""
    requests = stow_requests(peer)
    boundary = requests[0]["Headers"]["Content-Type"].split("boundary=")[1].split(";")[0].strip('"')
    close = len(f"--{boundary}--")
    low, high = part_overhead_bounds(boundary)
    expected = expected_chunks(sizes, max_instances, max_mb, low, close)
    # The grouping must not depend on the exact part headers the client writes.
    assert expected == expected_chunks(sizes, max_instances, max_mb, high, close + 2)
    assert [e["Parts"] for e in requests] == [len(c) for c in expected]
    for request, chunk in zip(requests, expected):
        data = sum(sizes[i] for i in chunk)
        assert data + len(chunk) * low + close <= request["BodyBytes"] <= data + len(chunk) * high + close + 2
        assert request["BodyBytes"] == int(request["Headers"]["Content-Length"])
        if max_instances:
            assert request["Parts"] <= max_instances
        if max_mb and request["Parts"] > 1:
            assert request["BodyBytes"] <= max_mb * MB
        assert request["Status"] == 200
    return [(e["Parts"], e["BodyBytes"]) for e in requests]


@pytest.mark.parametrize("max_instances, max_mb", [(0, 0), (10, 0), (0, 1), (3, 1), (1, 0), (0, 3)])
def test_chunking_within_the_limits(local: Node, fresh: Peer, data: Dataset, max_instances: int,
                                    max_mb: int) -> None:
    local.settings.dicomweb.stow_max_instances = max_instances
    local.settings.dicomweb.stow_max_size = max_mb
    ordered = data.instances  # manifest order: sent in the order of Resources
    r = stow(local, [data.instance_oid(i) for i in ordered])
    assert r.status_code == 200, r.text
    wire = check_chunking(fresh, [data.size(i) for i in ordered], max_instances, max_mb)
    assert len(r.json()["Requests"]) == len(wire)
    if not max_instances and not max_mb:  # seed: "set both options to 0 to send one single" request
        assert wire == [(len(ordered), wire[0][1])]
    assert_received_once(fresh, ordered)


@pytest.fixture(scope="module")
def big_instance(local: Node, data: Dataset) -> dict[str, Any]:
    """A 1.5 MB instance (3x the rows of a 512x512 CT slice), uploaded to the local store only."""
    source = next(i for i in data.instances if i["Rows"] == 512 and i["BitsAllocated"] == 16
                  and i["NumberOfFrames"] == 1 and i["TransferSyntaxUID"] == "1.2.840.10008.1.2.1")
    ds = pydicom.dcmread(data.path(source))
    ds.Rows = 3 * ds.Rows
    ds.PixelData = ds.PixelData * 3
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = source["SOPInstanceUID"] + ".3"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert buffer.tell() > 1.5 * MB
    r = local.rest("POST", "/instances", data=buffer.getvalue(), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text
    return {**source, "SOPInstanceUID": ds.SOPInstanceUID, "size": buffer.tell(), "id": r.json()["ID"]}


def test_instance_bigger_than_the_size_limit_travels_alone(local: Node, fresh: Peer, data: Dataset,
                                                           big_instance: dict[str, Any]) -> None:
    local.settings.dicomweb.stow_max_size = 1
    small = sorted(data.instances, key=data.size)[:4]
    ordered = small[:2] + [big_instance] + small[2:]
    sizes = [data.size(i) for i in small[:2]] + [big_instance["size"]] + [data.size(i) for i in small[2:]]
    r = stow(local, [data.instance_oid(i) for i in small[:2]] + [big_instance["id"]]
             + [data.instance_oid(i) for i in small[2:]])
    assert r.status_code == 200, r.text
    wire = check_chunking(fresh, sizes, 0, 1)
    assert wire[1][0] == 1 and wire[1][1] > 1.5 * MB  # alone, over the limit
    assert [parts for parts, _ in wire] == [2, 1, 2]
    assert_received_once(fresh, ordered)


def test_http_headers_reach_every_request(local: Node, fresh: Peer, data: Dataset) -> None:
    local.settings.dicomweb.stow_max_instances = 2
    series = data.under("studies", data.instances[0])[:5]
    r = stow(local, [data.instance_oid(i) for i in series], server="headers",
             HttpHeaders={"X-Session": "s-123"})
    assert r.status_code == 200, r.text
    requests = stow_requests(fresh)
    assert len(requests) == 3
    for request in requests:
        assert request["Headers"]["X-Session"] == "s-123"
        assert request["Headers"]["X-Configured"] == "yes"
        assert request["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"
        assert request["Headers"]["Content-Type"].startswith("multipart/related")
        assert 'type="application/dicom"' in request["Headers"]["Content-Type"]


# -- errors --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("resources, status", [
    (["0123abcd-0123abcd-0123abcd-0123abcd-0123abcd"], 404), (["not-an-id"], 400), ([], 400),
    ("0123abcd-0123abcd-0123abcd-0123abcd-0123abcd", 400), ([{"Study": "1.2"}], 400)])
def test_bad_resources(local: Node, fresh: Peer, resources: Any, status: int) -> None:
    r = stow(local, resources)
    assert r.status_code == status
    assert r.text.strip()
    assert fresh.recorded() == []


def test_unknown_resource_among_known_ones_sends_nothing(local: Node, fresh: Peer, data: Dataset) -> None:
    r = stow(local, [data.instance_oid(data.instances[0]), "0123abcd-0123abcd-0123abcd-0123abcd-0123abcd"])
    assert r.status_code == 404
    assert "0123abcd-0123abcd-0123abcd-0123abcd-0123abcd" in r.text
    assert fresh.recorded() == []


def test_wrong_remote_password_is_reported(local: Node, fresh: Peer, data: Dataset) -> None:
    r = stow(local, [data.instance_oid(data.instances[0])], server="wrong")
    assert r.status_code == 502
    assert "401" in r.json()["Error"] and r.json()["Instances"] == 0
    (request,) = stow_requests(fresh)
    assert request["Status"] == 401 and request["Headers"]["Authorization"] == f"Basic {PEER_USER}:***"
    assert fresh.sop_uids() == []
    assert_no_secret(r.text + json.dumps(fresh.recorded()))


def test_remote_down_is_502(local: Node, data: Dataset) -> None:
    r = stow(local, [data.instance_oid(data.instances[0])], server="down")
    assert r.status_code == 502
    assert "down" in r.text


def test_remote_conflicts_are_reported_with_the_failed_uids(local: Node, fresh: Peer, data: Dataset) -> None:
    """The peer holds X in another series: it answers 409 for X alone, 202 for X with Y."""
    x, y = data.instances[0], data.instances[1]
    ds = pydicom.dcmread(data.path(x))
    ds.SeriesInstanceUID = x["SeriesInstanceUID"] + ".77"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    assert fresh.rest("POST", "/instances", data=buffer.getvalue()).status_code == 200
    fresh.clear()

    r = stow(local, [data.instance_oid(x)])
    assert r.status_code == 502
    assert "409" in r.json()["Error"]
    assert r.json()["Requests"][0]["FailedInstances"] == [x["SOPInstanceUID"]]

    r = stow(local, [data.instance_oid(x), data.instance_oid(y)])
    assert r.status_code == 502
    assert "202" in r.json()["Error"]
    assert r.json()["Requests"][0]["FailedInstances"] == [x["SOPInstanceUID"]]
    assert y["SOPInstanceUID"] in fresh.sop_uids()

    # One instance per request: the failure stops the call, the instances after it are not sent.
    local.settings.dicomweb.stow_max_instances = 1
    z = data.instances[2]
    fresh.clear()
    r = stow(local, [data.instance_oid(y), data.instance_oid(x), data.instance_oid(z)])
    assert r.status_code == 502
    assert [(q["Instances"], q["Status"]) for q in r.json()["Requests"]] == [(1, 200), (1, 409)]
    assert r.json()["Instances"] == 1
    assert [q["Status"] for q in stow_requests(fresh)] == [200, 409]
    assert z["SOPInstanceUID"] not in fresh.sop_uids()
