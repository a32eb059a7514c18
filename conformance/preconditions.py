"""Preconditions shared by many tests, probed once per process, so one missing capability is one failure.

* **Search scope.**  QIDO tests keep their searches to the run's own data.  The
  first choice is a List of UID Matching key naming the run's studies; a server
  that does not match UID lists (a failure of QIDO-013, reported by its own
  tests) is scoped by the run's PatientID suffix with a wild card
  (``PatientID=*-R12345678``); a server that matches neither is searched
  unscoped and its results are filtered client-side against the run's UIDs
  (:func:`owned_only`).  No test other than those of List of UID Matching
  depends on it.
* **Mandatory resources.**  A probe per resource of Table 10.3-2 that many
  tests use (metadata, frames, rendered; and WADO-URI when claimed).  When the
  probe fails, the resource's own requirement fails in its own tests, and every
  other test that needs the resource is skipped as *blocked by* that
  requirement (its ID in the reason), instead of failing under its own ID.
* :func:`blocked`: a test whose precondition rests on another requirement the
  target fails skips itself with the same wording.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

import pytest

from .features import requires

__all__ = ["BLOCKED_PREFIX", "Capability", "CAPABILITIES", "OWN_TEST", "install", "search_scope", "scope_strategy",
           "owned_only", "blocked", "blocker_for", "capability_of"]

BLOCKED_PREFIX = "blocked by"
#: The test that reports a missing resource under the resource's own requirement (test_resources.py).
OWN_TEST = "test_mandatory_resource_is_served"
_JSON = "application/dicom+json"
_SINGLE = "doe-mr-t2-002.dcm"  # single-frame, Explicit VR Little Endian: every server can serve it as it is


@dataclass(frozen=True)
class Capability:
    """A resource many tests use: its own requirement, and a probe (None: available, else the problem)."""

    feature: str
    req_id: str
    what: str
    probe: Callable[[Any, Any], str | None]


def _instance_path(truth: Any) -> str:
    i = truth.instance_by_file(_SINGLE)
    return f"studies/{i['StudyInstanceUID']}/series/{i['SeriesInstanceUID']}/instances/{i['SOPInstanceUID']}"


def _status_problem(response: Any, what: str) -> str | None:
    if response.status_code == 200:
        return None
    return f"{what} answered {response.status_code} {response.reason or ''}".strip()


def _probe_metadata(client: Any, truth: Any) -> str | None:
    path = f"{_instance_path(truth)}/metadata"
    return _status_problem(client.get(path, headers={"Accept": _JSON}), f"GET {path}")


def _probe_frames(client: Any, truth: Any) -> str | None:
    path = f"{_instance_path(truth)}/frames/1"
    accept = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    return _status_problem(client.get(path, headers={"Accept": accept}), f"GET {path}")


def _probe_rendered(client: Any, truth: Any) -> str | None:
    path = f"{_instance_path(truth)}/rendered"
    return _status_problem(client.get(path, headers={"Accept": "image/jpeg"}), f"GET {path}")


def _probe_wado_uri(client: Any, truth: Any) -> str | None:
    i = truth.instance_by_file(_SINGLE)
    params = {"requestType": "WADO", "studyUID": i["StudyInstanceUID"], "seriesUID": i["SeriesInstanceUID"],
              "objectUID": i["SOPInstanceUID"], "contentType": "application/dicom"}
    return _status_problem(client.uri_get(params), "WADO-URI requestType=WADO&contentType=application/dicom")


#: Resources probed once; the tests citing ``req_id`` report the failure, the others are blocked.
CAPABILITIES: dict[str, Capability] = {c.feature: c for c in [
    Capability("wado-metadata", "WADO-009", "the Instance Metadata resource (Table 10.3-2: M)", _probe_metadata),
    Capability("frames", "WADO-012", "the Frames resource (Table 10.3-2: M)", _probe_frames),
    Capability("wado-rendered", "WADO-015", "the Rendered Instance resource (Table 10.3-2: M)", _probe_rendered),
    Capability("wado-uri", "URI-001", "WADO-URI retrieval of an instance as application/dicom (9.4.3.3)",
               _probe_wado_uri),
]}
#: Features whose tests need another feature's resource.
_NEEDS = {"wado-metadata-xml": "wado-metadata", "bulkdata": "wado-metadata", "frames-compressed": "frames",
          "frames-2014a": "frames"}


def capability_of(feature: str) -> Capability | None:
    """The probed resource a test of ``feature`` needs, if any."""
    name = _NEEDS.get(feature) or (feature if feature in CAPABILITIES else requires(feature))
    return CAPABILITIES.get(name) if name else None


# -- per-process state ------------------------------------------------------------------------------------
_lock = threading.Lock()
_client_factory: Callable[[], Any] | None = None
_truth_of: Callable[[], Any] | None = None
_probes: dict[str, str | None] = {}
_scope: dict[str, tuple[str, dict[str, Any]]] = {}


def install(client_factory: Callable[[], Any], truth: Callable[[], Any]) -> None:
    """Plugin use: how to make a client on the target (exchanges not logged) and get the run's truth."""
    global _client_factory, _truth_of
    _client_factory, _truth_of = client_factory, truth
    _probes.clear()
    _scope.clear()


def _probe(capability: Capability) -> str | None:
    with _lock:
        if capability.feature not in _probes:
            problem: str | None
            try:
                problem = capability.probe(_client_factory(), _truth_of()) if _client_factory else None
            except Exception as exc:  # transport errors: the tests themselves will meet and report them
                problem = None if "Transport" in type(exc).__name__ else f"{type(exc).__name__}: {exc}"
            _probes[capability.feature] = problem
        return _probes[capability.feature]


def blocker_for(features: list[str], test_name: str) -> str | None:
    """The skip reason of a test of ``features`` whose resource is missing, or None (:data:`OWN_TEST`,
    which reports the missing resource, is never blocked)."""
    if test_name.split("[", 1)[0] == OWN_TEST:
        return None
    seen = set()
    for feature in features:
        capability = capability_of(feature)
        if capability is None or capability.feature in seen:
            continue
        seen.add(capability.feature)
        problem = _probe(capability)
        if problem:
            return (f"{BLOCKED_PREFIX} {capability.req_id}: {capability.what} is not served ({problem}); "
                    f"{OWN_TEST} reports it")
    return None


def blocked(req_id: str, why: str) -> None:
    """Skip the running test: its precondition rests on ``req_id``, which the target fails."""
    pytest.skip(f"{BLOCKED_PREFIX} {req_id}: {why}")


# -- search scope -------------------------------------------------------------------------------------------
def _keys(response: Any, key: str) -> set[str] | None:
    if response.status_code == 204:
        return set()
    if response.status_code != 200:
        return None
    try:
        data = response.json()
        return {str(((ds.get(key) or {}).get("Value") or [None])[0]) for ds in data}
    except (ValueError, AttributeError, TypeError):
        return None


def scope_strategy(truth: Any) -> tuple[str, dict[str, Any]]:
    """("uid-list" | "patient-suffix" | "client-side", the scoping parameters) for this run's target."""
    with _lock:
        cached = _scope.get(truth.uid_root)
        if cached is not None:
            return cached
    studies = [s["StudyInstanceUID"] for s in truth.studies]
    uid_list = {"StudyInstanceUID": studies}
    chosen: tuple[str, dict[str, Any]] = ("uid-list", uid_list)
    if _client_factory is not None:
        key = "0020000D"
        try:
            client = _client_factory()
            found = _keys(client.get("studies", params=uid_list, headers={"Accept": _JSON}), key)
            if found != set(studies):
                chosen = ("client-side", {})
                if truth.patient_suffix:
                    by_pid = {"PatientID": f"*{truth.patient_suffix}"}
                    found = _keys(client.get("studies", params=by_pid, headers={"Accept": _JSON}), key)
                    if found == set(studies):
                        chosen = ("patient-suffix", by_pid)
        except Exception:  # a broken target: keep UID lists; the tests report what breaks
            chosen = ("uid-list", uid_list)
    with _lock:
        _scope[truth.uid_root] = chosen
    return chosen


def search_scope(truth: Any) -> dict[str, Any]:
    """Query parameters keeping a search to the run's studies ({} when results are filtered client-side)."""
    return dict(scope_strategy(truth)[1])


def owned_only(truth: Any, keys: list[str]) -> list[str]:
    """``keys`` (UIDs of results) restricted to the run's own entities (a no-op when the search was scoped)."""
    if scope_strategy(truth)[0] != "client-side":
        return keys
    return [k for k in keys if truth.is_ours(k)]


def owned_datasets(datasets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Search results restricted to the run's own entities when searches cannot be scoped server-side."""
    if _truth_of is None:
        return datasets
    truth = _truth_of()
    if scope_strategy(truth)[0] != "client-side":
        return datasets
    return truth.owned(datasets)
