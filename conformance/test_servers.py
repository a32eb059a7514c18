"""The target as a DICOMweb client: ``{root}servers`` (seed: "Querying a remote DICOMweb server with Orthanc").

The remote is the suite's own peer (:mod:`conformance.peer`), which records what
it receives. These tests cover the list of servers, ``/get`` (QIDO-RS or
WADO-RS relayed to the remote), ``/retrieve`` (WADO-RS from the remote into the
target) and the errors.  ``/stow`` is in :mod:`conformance.test_servers_stow`.
The expected values come from the seed and from the ground truth: Orthanc
identifiers are computed from the UIDs (:func:`orthanc_id`). The data on the
peer is put there by the suite's own STOW-RS to the peer, under fresh UIDs.
"""

from __future__ import annotations

import hashlib
import socket
from typing import Any, Iterable
from urllib.parse import unquote

import pytest

from dicomweb_conformance.peer import Peer, header_of, require_log

JSON = "application/dicom+json"
STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
# RFC 3986 query characters that PS3.18-2019a 8.3.1 allows unencoded (unreserved and qp-special),
# plus the separators "=" and "&"; anything else in a value must be percent-encoded.
_QUERY_SAFE = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$'()*+;:@/?=&")
_HEX = set("0123456789abcdefABCDEF")


# -- helpers shared with test_servers_stow ----------------------------------------------------------------
def orthanc_id(*keys: str) -> str:
    """Orthanc identifier of a resource (seed: "Orthanc identifiers"), computed from its DICOM identifiers.

    The SHA-1 of ``PatientID|StudyInstanceUID|SeriesInstanceUID|SOPInstanceUID``,
    cut after the level of the resource (patient: the PatientID alone), written as
    five groups of eight hexadecimal digits joined by ``-``.
    """
    digest = hashlib.sha1("|".join(keys).encode("utf-8")).hexdigest()
    return "-".join(digest[i:i + 8] for i in range(0, 40, 8))


def instance_id(instance: dict[str, Any]) -> str:
    """Orthanc identifier of a ground-truth instance."""
    return orthanc_id(instance["PatientID"], instance["StudyInstanceUID"], instance["SeriesInstanceUID"],
                      instance["SOPInstanceUID"])


def seed_peer(peer: Peer, truth: Any, instances: Iterable[dict[str, Any]]) -> None:
    """Store ``instances`` (of ``truth``) on the peer with its own STOW-RS; a refusal stops the test."""
    data = [truth.file_bytes(i["SOPInstanceUID"]) for i in instances]
    answer = peer.client().stow(data)
    if answer.status_code != 200:
        pytest.fail(f"seeding the peer {peer.name} by STOW-RS failed: {answer.status_code} "
                    f"{answer.text[:300]}", pytrace=False)


def held_sops(client: Any, study_uid: str, series_uid: str | None = None) -> set[str]:
    """SOP Instance UIDs that a DICOMweb server (the target or the peer) holds in a study or a series (QIDO-RS)."""
    path = f"studies/{study_uid}" + (f"/series/{series_uid}" if series_uid else "") + "/instances"
    answer = client.get(path, headers={"Accept": JSON})
    if answer.status_code in (204, 404):
        return set()
    if answer.status_code != 200:
        pytest.fail(f"QIDO-RS {path} answered {answer.status_code}; cannot see what is stored", pytrace=False)
    return {ds[SOP_UID]["Value"][0] for ds in answer.json() if ds.get(SOP_UID, {}).get("Value")}


def spy_requests(peer: Peer, since: int, method: str, path: str) -> list[dict[str, Any]]:
    """What the target sent to the peer since ``since``: the requests with this method and path."""
    return [e for e in peer.from_target(since) if e.get("Method") == method and e.get("Path") == path]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the list of servers -----------------------------------------------------------------------------------
@pytest.mark.requirement("SRV-001")
def test_list_names_the_peer(client, expect, peer):
    response = client.get("servers", headers={"Accept": "application/json"})
    expect.status(response, 200)
    names = expect.json_body(response)
    expect.that(isinstance(names, list) and all(isinstance(n, str) for n in names), response=response,
                what="GET servers", expected="a JSON array of server names", actual=names)
    expect.that(peer.name in names, response=response, what="server names", expected=f"includes {peer.name!r}",
                actual=names)


@pytest.mark.requirement("SRV-002")
@pytest.mark.parametrize("query", ["", "?expand"])
def test_list_never_shows_a_password(client, expect, peer, query):
    if not peer.own or not peer.password:
        pytest.skip("the password the target was given for the --peer remote is unknown to the suite")
    response = client.get(f"servers{query}", headers={"Accept": "application/json"})
    expect.status(response, 200)
    expect.that(peer.password not in response.text, response=response, what=f"GET servers{query}",
                expected="no trace of the peer's password", actual="the password appears in the answer")


@pytest.mark.requirement("SRV-003")
def test_server_offers_get_stow_retrieve(client, expect, peer):
    response = client.get(f"servers/{peer.name}", headers={"Accept": "application/json"})
    expect.status(response, 200)
    operations = expect.json_body(response)
    expect.that(isinstance(operations, list) and {"get", "stow", "retrieve"} <= set(operations), response=response,
                what=f"GET servers/{peer.name}", expected="a JSON array holding get, stow and retrieve",
                actual=operations)


# -- get ---------------------------------------------------------------------------------------------------
def _get(client: Any, peer: Peer, body: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """POST servers/{name}/get; the GETs the peer then received (empty without a request log)."""
    mark = peer.mark() if peer.recording else 0
    response = client.post(f"servers/{peer.name}/get", json=body)
    sent = [e for e in peer.from_target(mark) if e.get("Method") == "GET"] if peer.recording else []
    return response, sent


def _one_get(expect: Any, response: Any, sent: list[dict[str, Any]], req: str) -> dict[str, Any]:
    expect.that(len(sent) == 1, req=req, response=response, what="GET requests the peer received for one get call",
                expected=1, actual=sent)
    return sent[0]


@pytest.mark.requirement("SRV-004")
def test_get_sends_uri_and_encoded_arguments(client, expect, peer, fresh_truth):
    require_log(peer)
    fresh = fresh_truth()
    patient = fresh.patient(fresh.ids.patient_id("DOE-0003"))
    arguments = {"00100020": patient["PatientID"], "PatientName": "doe^ja*", "StudyDescription": "US ABDOMEN"}
    response, sent = _get(client, peer, {"Uri": "/studies", "Arguments": arguments, "HttpHeaders": {"Accept": JSON}})
    entry = _one_get(expect, response, sent, "SRV-004")
    expect.equal(entry.get("Path"), peer.root_path + "studies", response=response,
                 what="path of the GET: the server's URL joined with Uri '/studies'")
    raw = entry.get("Query") or ""
    unencoded = sorted({c for i, c in enumerate(raw) if c not in _QUERY_SAFE and not (
        c == "%" and len(raw) > i + 2 and raw[i + 1] in _HEX and raw[i + 2] in _HEX)})
    expect.that(not unencoded, response=response, what="query string of the GET", actual=raw,
                expected="every character outside the PS3.18 8.3.1 qp-chars percent-encoded (a space as %20)",
                note=f"unencoded: {unencoded}")
    received = sorted((unquote(k), unquote(v)) for k, _, v in (p.partition("=") for p in raw.split("&") if p))
    expect.equal(received, sorted(arguments.items()), response=response,
                 what="query parameters of the GET, percent-decoded (RFC 3986)")


@pytest.mark.requirement("SRV-005")
def test_get_sends_http_headers(client, expect, peer, truth):
    require_log(peer)
    token = f"probe{truth.patient_suffix}"
    headers = {"Accept": JSON, "X-Conformance-Probe": token}
    response, sent = _get(client, peer, {"Uri": "/studies", "Arguments": {"00100020": f"NONE{truth.patient_suffix}"},
                                         "HttpHeaders": headers})
    entry = _one_get(expect, response, sent, "SRV-005")
    got = {name: header_of(entry, name) for name in headers}
    expect.equal(got, headers, response=response, what="HttpHeaders as received by the remote server")


@pytest.mark.requirement("SRV-006")
def test_get_authenticates_with_the_servers_credentials(client, expect, peer, truth):
    require_log(peer)
    if not peer.own:
        pytest.skip("the credentials the target was given for the --peer remote are unknown to the suite")
    response, sent = _get(client, peer, {"Uri": "/studies", "Arguments": {"00100020": f"NONE{truth.patient_suffix}"},
                                         "HttpHeaders": {"Accept": JSON}})
    entry = _one_get(expect, response, sent, "SRV-006")
    expect.equal(header_of(entry, "Authorization"), f"Basic {peer.username}:***", response=response,
                 what="Authorization of the GET as logged by the peer (password hidden by the log)")
    expect.that(entry.get("Status") != 401, response=response, what="the peer's answer to the GET",
                expected="not 401 (the password was right)", actual=entry.get("Status"))


@pytest.mark.requirement("SRV-007")
def test_get_relays_the_remote_answer(client, expect, peer, fresh_truth):
    fresh = fresh_truth()
    inst = fresh.instance_by_file("wang-ct-001.dcm")
    seed_peer(peer, fresh, [inst])
    response, _ = _get(client, peer, {"Uri": "/studies", "Arguments": {"00100020": inst["PatientID"]},
                                      "HttpHeaders": {"Accept": JSON}})
    expect.status(response, 200)
    expect.content_type(response, JSON)
    studies = expect.json_body(response)  # the remote's answer, relayed: its JSON Model is the remote's affair
    expect.that(isinstance(studies, list) and all(isinstance(ds, dict) for ds in studies), response=response,
                what="relayed QIDO-RS payload", expected="the peer's JSON array of studies", actual=type(studies).__name__)
    uids = [ds.get(STUDY_UID, {}).get("Value", [None])[0] for ds in studies]
    expect.equal(uids, [inst["StudyInstanceUID"]], response=response,
                 what="studies in the relayed QIDO-RS answer (the peer holds one study of this patient)")


# -- errors ------------------------------------------------------------------------------------------------
def _call_body(truth: Any, operation: str) -> dict[str, Any]:
    inst = truth.instance_by_file("wang-ct-001.dcm")
    if operation == "get":
        return {"Uri": "/studies"}
    if operation == "stow":
        return {"Resources": [instance_id(inst)]}
    return {"Resources": [{"Study": inst["StudyInstanceUID"]}]}


@pytest.mark.requirement("SRV-008")
@pytest.mark.parametrize("operation", ["get", "stow", "retrieve"])
def test_unknown_server_is_404(client, expect, truth, operation):
    response = client.post(f"servers/no-such-server{truth.patient_suffix}/{operation}",
                           json=_call_body(truth, operation))
    expect.status(response, 404)


@pytest.mark.requirement("SRV-009")
def test_unreachable_server_is_a_server_error(client, expect, truth):
    name = f"unreachable{truth.patient_suffix}"
    registered = client.put(f"servers/{name}", json={"Url": f"http://127.0.0.1:{_closed_port()}/dicom-web/"})
    if registered.status_code not in (200, 201, 204):
        pytest.skip(f"the target answered {registered.status_code} to PUT servers/{name}: it cannot register a "
                    "remote at run time (not in the seed), so no unreachable one can be set up")
    try:
        response = client.post(f"servers/{name}/get", json={"Uri": "/studies"})
        expect.that(500 <= response.status_code <= 599, response=response, what="status code",
                    expected="5xx: the remote server cannot be reached",
                    actual=f"{response.status_code} {response.reason}")
    finally:
        client.delete(f"servers/{name}")


# -- retrieve ----------------------------------------------------------------------------------------------
LEVELS = ["study", "series", "instance"]


def _retrieve_case(peer: Peer, fresh: Any, level: str) -> tuple[dict[str, str], list[dict[str, Any]], str]:
    """Seed the peer with a fresh DOE-0002 study (two series); the resource of ``level`` and its instances."""
    pid = fresh.ids.patient_id("DOE-0002")
    study = fresh.studies_of_patient(pid)[0]["StudyInstanceUID"]
    everything = fresh.instances_in_study(study)
    seed_peer(peer, fresh, everything)
    series = fresh.series_by_key("doe-mr-t2")["SeriesInstanceUID"]
    in_series = sorted(fresh.instances_in_series(series), key=lambda i: i["InstanceNumber"])
    if level == "study":
        return {"Study": study}, everything, study
    if level == "series":
        return {"Study": study, "Series": series}, in_series, study
    inst = in_series[len(in_series) // 2]
    return {"Study": study, "Series": series, "Instance": inst["SOPInstanceUID"]}, [inst], study


@pytest.mark.mutates
@pytest.mark.requirement("SRV-015")
@pytest.mark.parametrize("level", LEVELS)
def test_retrieve_stores_the_resource(client, expect, peer, fresh_truth, level):
    resource, expected, study = _retrieve_case(peer, fresh_truth(), level)
    response = client.post(f"servers/{peer.name}/retrieve", json={"Resources": [resource]})
    expect.status(response, 200)
    stored = held_sops(client, study)
    expect.same_set(stored, [i["SOPInstanceUID"] for i in expected], response=response,
                    what=f"instances of the study on the target after retrieving the {level} {resource}")


@pytest.mark.mutates
@pytest.mark.requirement("SRV-016")
@pytest.mark.parametrize("level", LEVELS)
def test_retrieve_answers_the_orthanc_ids(client, expect, peer, fresh_truth, level):
    resource, expected, _ = _retrieve_case(peer, fresh_truth(), level)
    response = client.post(f"servers/{peer.name}/retrieve", json={"Resources": [resource]})
    expect.status(response, 200)
    answer = expect.json_body(response)
    want = sorted(instance_id(i) for i in expected)
    expect.that(isinstance(answer, list) and all(isinstance(x, str) for x in answer), response=response,
                what="answer of /retrieve", expected=f"a JSON array of the {len(want)} Orthanc identifiers of "
                "the downloaded instances (seed)", actual=answer)
    expect.equal(sorted(answer), want, response=response,
                 what=f"Orthanc identifiers of the instances downloaded for the {level} {resource}")


@pytest.mark.requirement("SRV-017")
def test_retrieve_of_a_missing_study_fails(client, expect, peer, fresh_truth):
    study = fresh_truth().studies[0]["StudyInstanceUID"]  # fresh UIDs: neither the peer nor the target holds it
    response = client.post(f"servers/{peer.name}/retrieve", json={"Resources": [{"Study": study}]})
    expect.that(response.status_code >= 400, response=response, what="status code",
                expected="an error status (4xx or 5xx)", actual=f"{response.status_code} {response.reason}")


@pytest.mark.requirement("SRV-018")
def test_retrieve_of_a_missing_study_is_404(client, expect, peer, fresh_truth):
    study = fresh_truth().studies[0]["StudyInstanceUID"]
    response = client.post(f"servers/{peer.name}/retrieve", json={"Resources": [{"Study": study}]})
    expect.status(response, 404)
