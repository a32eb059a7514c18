"""``--cleanup``: delete from the target what the run stored, where the target offers a way.

A run stores the fixtures under its own UIDs and PatientIDs (seeding), and
the STOW-RS tests store more under brand-new ones (``fresh_truth``).  Every
PatientID involved is unique to the run, so deleting the run's patients
removes exactly its data and nothing else.  DICOMweb has no delete; Orthanc's
REST API has ``DELETE /patients/{id}`` (the identifier is the SHA-1 of the
PatientID, see :func:`conformance.test_servers.orthanc_id`), and so has the
reference mock.  On any other server nothing is deleted and the summary says
what was left.

Workers record the ``RunIds`` of each fresh truth a test made; they reach the
controller in the teardown report's ``user_properties``.
"""

from __future__ import annotations

import json
from typing import Any

from .http import TransportError
from .truth import RunIds, Truth

__all__ = ["note_fresh", "attach_stored", "collect_stored", "run_cleanup", "delete_patients"]

STORED_PROPERTY = "stored_run_ids"
_fresh: list[RunIds] = []  # this process, the running test: the fresh truths it made


def note_fresh(truth: Truth) -> Truth:
    """Remember a fresh truth's UIDs and PatientIDs: the test may store them."""
    _fresh.append(truth.ids)
    return truth


def attach_stored(report: Any) -> None:
    """Move the fresh truths of the test that just ended into its report (teardown)."""
    if _fresh:
        report.user_properties.append((STORED_PROPERTY, json.dumps([ids.to_json() for ids in _fresh])))
        _fresh.clear()


def collect_stored(report: Any, into: list[RunIds]) -> None:
    """Controller: the RunIds a report says its test may have stored."""
    for key, value in getattr(report, "user_properties", ()):
        if key == STORED_PROPERTY:
            into.extend(RunIds.from_json(d) for d in json.loads(value))


def _patient_ids(all_ids: list[RunIds]) -> list[str]:
    import dicomweb_fixtures as fixtures

    originals = [p["PatientID"] for p in fixtures.load_manifest()["patients"]]
    return list(dict.fromkeys(ids.patient_id(pid) for ids in all_ids for pid in originals))


def delete_patients(client: Any, origin: str, patient_ids: list[str]) -> tuple[int, int, str]:
    """``DELETE {origin}/patients/{orthanc id}`` of each; (deleted, absent, why it stopped or '')."""
    from .test_servers import orthanc_id

    deleted = absent = 0
    for pid in patient_ids:
        url = f"{origin}/patients/{orthanc_id(pid)}"
        try:
            response = client.delete(url)
        except TransportError as exc:
            return deleted, absent, f"DELETE {url} failed: {exc.exchange.error}"
        if response.status_code in (200, 204):
            deleted += 1
        elif response.status_code == 404:
            absent += 1
        else:
            return deleted, absent, f"DELETE {url} answered {response.status_code} {response.reason or ''}".strip()
    return deleted, absent, ""


def run_cleanup(state: Any) -> list[str]:
    """Delete the run's patients on the target; lines for the terminal summary."""
    from .target import make_client

    if state.options.preloaded:
        return ["cleanup: nothing to delete (--preloaded: the run stored nothing)"]
    if state.target.embedded:
        return ["cleanup: the embedded mock's temporary store is deleted when the run ends"]
    patients = _patient_ids([state.ids, *state.fresh_ids])
    client = make_client(state.options, state.target, state.session)
    deleted, absent, problem = delete_patients(client, state.target.origin, patients)
    if problem:
        return [f"cleanup: stopped after deleting {deleted} patients: {problem}; the target offers no "
                f"deletion the suite knows (Orthanc REST DELETE): the run's data stays (UID root "
                f"{state.ids.uid_root}, PatientIDs ending {state.ids.patient_suffix})"]
    return [f"cleanup: deleted {deleted} patients the run stored, with their studies "
            f"({absent} of the run's possible patients were not on the target)"]
