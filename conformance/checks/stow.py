"""The Store Instances Response Module of STOW-RS (PS3.18 2019a 10.5.3, Annex I), read and checked."""

from __future__ import annotations

import json
from typing import Any

from dicomweb_conformance.schemas import SchemaValidationError, validate_json

JSON = "application/dicom+json"
RETRIEVE_URL = "00081190"
FAILED_SOP_SEQUENCE = "00081198"
REFERENCED_SOP_SEQUENCE = "00081199"
OTHER_FAILURES_SEQUENCE = "0008119A"
REFERENCED_SOP_CLASS = "00081150"
REFERENCED_SOP_INSTANCE = "00081155"
FAILURE_REASON = "00081197"


def values(dataset: dict[str, Any], tag: str) -> list[Any]:
    return (dataset.get(tag) or {}).get("Value") or []


def store_module(response: Any, expect: Any, *, req: Any) -> dict[str, Any]:
    """The Store Instances Response Module of a DICOM JSON response (one object, or an array of one)."""
    expect.content_type(response, JSON, req=req)
    data = expect.json_body(response, req=req)
    if isinstance(data, list) and len(data) == 1:
        data = data[0]
    if not isinstance(data, dict):
        expect.fail(req=req, what="STOW-RS response payload", expected="one DICOM JSON object (Annex I module)",
                    actual=type(data).__name__, response=response)
    try:
        # attribute order (F.2.2) is MODEL-002's rule, checked on STOW responses by test_model.py
        validate_json(data, check_order=False)
    except SchemaValidationError as exc:
        expect.fail(req=req, what="Store Instances Response Module (DICOM JSON, Annex F)", expected="valid",
                    actual="; ".join(exc.problems[:5]), response=response)
    return data


def items(module: dict[str, Any], tag: str) -> list[dict[str, Any]]:
    return [i for i in values(module, tag) if isinstance(i, dict)]


def referenced_uids(module: dict[str, Any]) -> list[str]:
    return [values(i, REFERENCED_SOP_INSTANCE)[0] for i in items(module, REFERENCED_SOP_SEQUENCE)
            if values(i, REFERENCED_SOP_INSTANCE)]


def check_referenced(module: dict[str, Any], sent: list[dict[str, Any]], expect: Any, response: Any, req: Any) -> None:
    """I.1: one ReferencedSOPSequence item per stored instance: SOP Class, SOP Instance and Retrieve URL."""
    by_uid = {values(i, REFERENCED_SOP_INSTANCE)[0]: i for i in items(module, REFERENCED_SOP_SEQUENCE)
              if values(i, REFERENCED_SOP_INSTANCE)}
    expect.same_set(by_uid, [i["SOPInstanceUID"] for i in sent], req=req, response=response,
                    what="ReferencedSOPInstanceUID (0008,1155) of the ReferencedSOPSequence (0008,1199) items")
    for instance in sent:
        item = by_uid[instance["SOPInstanceUID"]]
        expect.equal(values(item, REFERENCED_SOP_CLASS), [instance["SOPClassUID"]], req=req, response=response,
                     what=f"ReferencedSOPClassUID (0008,1150) of {instance['SOPInstanceUID']}")
        # Annex I: >Retrieve URL (0008,1190) is Type 2: present, and when it has a value, the instance's URL
        expect.that(RETRIEVE_URL in item, req=req, response=response,
                    what=f"RetrieveURL (0008,1190) of {instance['SOPInstanceUID']}",
                    expected="present (Type 2, Annex I)", actual="absent")
        url = values(item, RETRIEVE_URL)
        expect.that(not url or (len(url) == 1 and str(url[0]).startswith(("http://", "https://"))
                    and url[0].rstrip("/").endswith(instance["SOPInstanceUID"])), req=req, response=response,
                    what=f"RetrieveURL (0008,1190) of {instance['SOPInstanceUID']}",
                    expected="empty (Type 2) or the instance's WADO-RS URL", actual=url)


def failed_uids(module: dict[str, Any]) -> list[str]:
    return [values(i, REFERENCED_SOP_INSTANCE)[0] for i in items(module, FAILED_SOP_SEQUENCE)
            if values(i, REFERENCED_SOP_INSTANCE)]


def check_failure_reasons(module: dict[str, Any], expect: Any, response: Any, req: Any,
                          tags: tuple[str, ...] = (FAILED_SOP_SEQUENCE,)) -> None:
    """Every failure item carries a Failure Reason (0008,1197), a US number (I.2.2)."""
    found = [i for tag in tags for i in items(module, tag)]
    expect.that(found, req=req, what=f"items of {' or '.join(tags)}", expected="at least one", actual="none",
                response=response)
    for item in found:
        reason = values(item, FAILURE_REASON)
        expect.that(len(reason) == 1 and isinstance(reason[0], int), req=req, response=response,
                    what="FailureReason (0008,1197) of a failure item", expected="one US value", actual=reason)


def not_stored(client: Any, expect: Any, sop_uid: str, req: Any) -> None:
    """QIDO-RS finds no instance with this SOP Instance UID (204, or 200 with an empty array)."""
    response = client.get("instances", params={"SOPInstanceUID": sop_uid}, headers={"Accept": JSON})
    expect.status(response, (200, 204), req=req)
    found = json.loads(response.content) if response.status_code == 200 and response.content else []
    expect.equal(found, [], req=req, response=response, what=f"QIDO-RS results for the refused instance {sop_uid}")


def stored_nothing(client: Any, expect: Any, good: dict, bad: dict | None, response: Any) -> None:
    """A 400/409 answer says no instance was stored (Table 10.5.3-1): the good one must not be found."""
    found = client.get("instances", params={"SOPInstanceUID": good["SOPInstanceUID"]}, headers={"Accept": JSON})
    stored = found.status_code == 200 and bool(found.content) and json.loads(found.content) != []
    expect.that(not stored, req="STOW-008", response=response,
                what=f"{response.status_code} answer although the good instance {good['SOPInstanceUID']} was stored",
                expected="202 (Accepted) when some instances were stored (Table 10.5.3-1)",
                actual=f"{response.status_code}, and QIDO-RS finds the instance")
    if bad is not None:
        not_stored(client, expect, bad["SOPInstanceUID"], "STOW-005")


def check_partly_stored(client: Any, expect: Any, response: Any, good: dict, bad: dict, bad_req: str,
                        nothing_stored: tuple[int, ...]) -> None:
    """A request of one good and one bad instance: 202 with the good one referenced and the bad one failed
    (Table 10.5.3-1, Annex I), or a ``nothing_stored`` status (400 bad syntax, 409 conflict) with nothing
    stored; the bad one is never found (``bad_req``)."""
    if response.status_code in nothing_stored:
        stored_nothing(client, expect, good, bad, response)
        return
    expect.status(response, 202, req="STOW-008")
    module = store_module(response, expect, req="STOW-004")
    check_referenced(module, [good], expect, response, "STOW-003")
    expect.equal(failed_uids(module), [bad["SOPInstanceUID"]], req="STOW-004", response=response,
                 what="ReferencedSOPInstanceUID of the FailedSOPSequence (0008,1198) items")
    check_failure_reasons(module, expect, response, "STOW-004")
    not_stored(client, expect, bad["SOPInstanceUID"], bad_req)
