"""``POST {root}servers/{name}/stow``: the target sends its own resources by STOW-RS (seed: "Sending DICOM
resources to a STOW-RS server"; limits: seed "Server-related options", StowMaxInstances and StowMaxSize).

The resources are the run's data on the target, named by their Orthanc
identifiers.  The suite computes those identifiers from the ground truth
(:func:`conformance.test_servers.orthanc_id`).  Each test sends a different part
of the data, so the tests do not depend on each other.  The peer's request log
shows what arrived: one entry per STOW-RS request, with the number of multipart
parts and of body bytes.  The peer's QIDO-RS shows what it stored.  The limits
are the target's configuration: ``--stow-max-instances`` and
``--stow-max-size-mb``, else ``stow_max_instances`` and ``stow_max_size_mb`` of
the profile (default 10 and 10, the plugin's documented defaults).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from dicomweb_conformance.peer import Peer, header_of, require_log
from dicomweb_conformance.test_servers import held_sops, instance_id, orthanc_id, spy_requests

MIB = 1024 * 1024
PART_OVERHEAD = 1024  # delimiter and part headers: generously more than any STOW-RS client writes per part


def _resource(truth: Any, level: str) -> tuple[str, list[dict[str, Any]]]:
    """(Orthanc identifier, instances) of one resource of ``level``; levels never share instances."""
    if level == "patient":
        pid = truth.ids.patient_id("DOE-0003")
        return orthanc_id(pid), truth.instances_where(lambda i: i["PatientID"] == pid)
    if level == "study":
        study = truth.studies_of_patient(truth.ids.patient_id("DOE-0002"))[0]
        return orthanc_id(study["PatientID"], study["StudyInstanceUID"]), \
            truth.instances_in_study(study["StudyInstanceUID"])
    if level == "series":
        series = truth.series_by_key("vix-ct-localizer")
        return orthanc_id(series["PatientID"], series["StudyInstanceUID"], series["SeriesInstanceUID"]), \
            truth.instances_in_series(series["SeriesInstanceUID"])
    inst = truth.instance_by_file("wang-ct-001.dcm")
    return instance_id(inst), [inst]


def _stow(client: Any, peer: Peer, body: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    """POST servers/{name}/stow; the STOW-RS requests the peer then received (empty without a log)."""
    mark = peer.mark() if peer.recording else 0
    response = client.post(f"servers/{peer.name}/stow", json=body)
    sent = spy_requests(peer, mark, "POST", peer.root_path + "studies") if peer.recording else []
    return response, sent


def _on_peer(peer: Peer, instances: list[dict[str, Any]]) -> set[str]:
    """The instances' SOP Instance UIDs that the peer holds (QIDO-RS per series)."""
    found: set[str] = set()
    for study, series in sorted({(i["StudyInstanceUID"], i["SeriesInstanceUID"]) for i in instances}):
        found |= held_sops(peer.client(), study, series)
    return found & {i["SOPInstanceUID"] for i in instances}


@pytest.mark.requirement("SRV-010")
@pytest.mark.parametrize("level", ["patient", "study", "series", "instance"])
def test_stow_sends_every_instance_once(client, expect, peer, truth, level):
    oid, instances = _resource(truth, level)
    response, sent = _stow(client, peer, {"Resources": [oid]})
    expect.status(response, (200, 201, 204))
    expect.same_set(_on_peer(peer, instances), [i["SOPInstanceUID"] for i in instances], response=response,
                    what=f"instances of the {level} {oid} that the remote server holds after the stow call")
    if peer.recording:
        parts = [e.get("Parts") for e in sent]
        expect.that(sum(p or 0 for p in parts) == len(instances), response=response,
                    what="multipart parts in the STOW-RS requests the remote server received",
                    expected=f"{len(instances)} in all (each instance once)", actual=f"parts per request: {parts}")


@pytest.mark.requirement("SRV-019")
def test_stow_of_mixed_resources_sends_every_instance_once(client, expect, peer, truth):
    """Seed: Resources is a list of "patients, studies, series and/or instances": a study, a series of another
    study and an instance of a third, in one call, all reach the remote server, each once."""
    study = truth.studies_of_patient(truth.ids.patient_id("JP-0005"))[0]
    series = truth.series_by_key("vix-sc-rgb")
    inst = truth.instance_by_file("yamada-cr-001.dcm")
    resources = [orthanc_id(study["PatientID"], study["StudyInstanceUID"]),
                 orthanc_id(series["PatientID"], series["StudyInstanceUID"], series["SeriesInstanceUID"]),
                 instance_id(inst)]
    instances = (truth.instances_in_study(study["StudyInstanceUID"])
                 + truth.instances_in_series(series["SeriesInstanceUID"]) + [inst])
    response, sent = _stow(client, peer, {"Resources": resources})
    expect.status(response, (200, 201, 204))
    expect.same_set(_on_peer(peer, instances), [i["SOPInstanceUID"] for i in instances], response=response,
                    what="instances of the study, the series and the instance that the remote server holds")
    if peer.recording:
        parts = [e.get("Parts") for e in sent]
        expect.that(sum(p or 0 for p in parts) == len(instances), response=response,
                    what="multipart parts in the STOW-RS requests the remote server received",
                    expected=f"{len(instances)} in all (each instance once)", actual=f"parts per request: {parts}")


def _expected_requests(sizes: list[int], max_instances: int, max_mb: int) -> tuple[int, int | None, str]:
    """(least, exact or None, why) number of STOW-RS requests the limits imply for instances of ``sizes``."""
    n = len(sizes)
    if max_instances == 0 and max_mb == 0:
        return 1, 1, "both limits are 0: one single request"
    least = max(math.ceil(n / max_instances) if max_instances else 1,
                math.ceil(sum(sizes) / (max_mb * MIB)) if max_mb else 1)
    biggest = max(sizes) + PART_OVERHEAD
    if max_instances and (max_mb == 0 or max_instances * biggest <= max_mb * 1_000_000):
        return least, least, f"{max_instances} instances always fit in {max_mb or 'unlimited'} MB"
    return least, None, "the size limit binds: at least the total size over the limit"


@pytest.mark.requirement("SRV-010", "SRV-011")
def test_stow_keeps_within_the_limits(client, expect, peer, truth, run_options):
    require_log(peer)
    max_instances, max_mb = run_options.stow_max_instances, run_options.stow_max_size_mb
    series = truth.series_by_key("vix-ct-axial")  # 40 instances, about 21 MB: more than the default limits
    instances = truth.instances_in_series(series["SeriesInstanceUID"])
    oid = orthanc_id(series["PatientID"], series["StudyInstanceUID"], series["SeriesInstanceUID"])
    response, sent = _stow(client, peer, {"Resources": [oid]})
    expect.status(response, (200, 201, 204), req="SRV-010")
    parts = [e.get("Parts") or 0 for e in sent]
    sizes = [e.get("BodyBytes") or 0 for e in sent]
    expect.equal(sum(parts), len(instances), req="SRV-010", response=response,
                 what="instances received by the remote server in all the STOW-RS requests")
    limits = f"StowMaxInstances {max_instances}, StowMaxSize {max_mb} MB"
    if max_instances:
        expect.that(max(parts) <= max_instances, req="SRV-011", response=response, expected=f"<= {max_instances}",
                    what=f"instances per STOW-RS request ({limits})", actual=f"parts per request: {parts}")
    if max_mb:
        expect.that(max(sizes) <= max_mb * MIB, req="SRV-011", response=response, expected=f"<= {max_mb * MIB}",
                    what=f"body bytes per STOW-RS request ({limits})", actual=f"bytes per request: {sizes}")
    file_sizes = [truth.file_path(i["SOPInstanceUID"]).stat().st_size for i in instances]
    least, exact, why = _expected_requests(file_sizes, max_instances, max_mb)
    if exact is not None:
        expect.equal(len(sent), exact, req="SRV-011", response=response, note=why,
                     what=f"STOW-RS requests for {len(instances)} instances ({limits})")
    else:
        expect.that(len(sent) >= least, req="SRV-011", response=response, expected=f">= {least}", note=why,
                    what=f"STOW-RS requests for {len(instances)} instances ({limits})", actual=len(sent))


@pytest.mark.requirement("SRV-012")
def test_stow_adds_the_http_headers(client, expect, peer, truth):
    require_log(peer)
    token = f"stow{truth.patient_suffix}"
    inst = truth.instance_by_file("yamada-cr-001.dcm")
    response, sent = _stow(client, peer, {"Resources": [instance_id(inst)],
                                          "HttpHeaders": {"X-Conformance-Probe": token}})
    expect.that(sent, response=response, what="STOW-RS requests the remote server received",
                expected="at least one", actual="none")
    got = [header_of(e, "X-Conformance-Probe") for e in sent]
    expect.that(all(v == token for v in got), response=response, expected=f"{token!r} in every request",
                what="X-Conformance-Probe header (given in HttpHeaders) of the STOW-RS requests", actual=got)


def _unknown(truth: Any) -> str:
    return orthanc_id(f"NO-SUCH-PATIENT{truth.patient_suffix}")


@pytest.mark.requirement("SRV-013")
def test_stow_of_an_unknown_resource_fails_and_sends_nothing(client, expect, peer, truth):
    response, sent = _stow(client, peer, {"Resources": [_unknown(truth)]})
    expect.that(response.status_code >= 400, response=response, what="status code",
                expected="an error status (4xx or 5xx)", actual=f"{response.status_code} {response.reason}")
    if peer.recording:
        expect.equal(sent, [], response=response, what="STOW-RS requests the remote server received")


@pytest.mark.requirement("SRV-014")
def test_stow_of_an_unknown_resource_is_404(client, expect, peer, truth):
    response, _ = _stow(client, peer, {"Resources": [_unknown(truth)]})
    expect.status(response, 404)
