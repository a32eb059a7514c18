"""Locust journeys of the load mode: viewers reading studies and uploaders storing them.

Run by ``dicomweb-conformance load`` (which prepares the target and writes the
plan); Locust's own command line can run it too, on a master and on workers of
other machines (``locust -f <this file> --worker --master-host HOST``): the
master sends the plan (``--dicomweb-plan``, JSON) to every worker.

Viewer: study search for a patient (QIDO-RS) -> the study's series -> the
series' metadata -> one frame (multipart/related octet-stream, any transfer
syntax) or one rendered frame (image/jpeg).  Uploader: STOW-RS of one
fixture study under fresh UIDs.  Every answer is checked with
:mod:`conformance.load.checks`; a wrong status or no answer is an HTTP
failure (:class:`HttpFailure`), a right status with a non-conformant answer a
conformance error (:class:`ConformanceError`).  Locust counts both as
failures; the summary tells them apart by these names.
"""

from __future__ import annotations

import json
import random
from functools import lru_cache
from typing import Any

from locust import HttpUser, events, task

from dicomweb_conformance.load.checks import (Problem, check_dicom_json, check_frames, check_rendered, check_status,
                                              check_stow)

FRAMES_ACCEPT = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'


class ConformanceError(Exception):
    """The answer had the expected status but broke PS3.18."""


class HttpFailure(Exception):
    """The exchange failed: no answer, or a status the journey cannot go on with."""


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    parser.add_argument("--dicomweb-plan", default="{}", include_in_web_ui=False,
                        help="JSON plan written by dicomweb-conformance load (patients, upload study, headers)")
    parser.add_argument("--dicomweb-stats", default="", include_in_web_ui=False,
                        help="write the final statistics (JSON) to this file when Locust quits")


@events.quitting.add_listener
def _write_stats(environment: Any, **_: Any) -> None:
    """The final statistics (after the last user stopped), on the master or the only process.

    Locust's periodic CSV lags behind the requests that finish while users stop; these do not.
    """
    from locust.runners import WorkerRunner
    from locust.stats import StatsError

    path = getattr(environment.parsed_options, "dicomweb_stats", "") if environment.parsed_options else ""
    if not path or isinstance(environment.runner, WorkerRunner):
        return
    stats = environment.stats

    def entry(e: Any) -> dict[str, Any]:
        done = e.num_requests > 0
        return {"method": e.method, "name": e.name, "requests": e.num_requests, "failures": e.num_failures,
                "requests_per_s": e.total_rps, "max_ms": e.max_response_time if done else None,
                "average_bytes": e.avg_content_length if done else None,
                **{f"p{int(q * 100)}_ms": e.get_response_time_percentile(q) if done else None
                   for q in (0.5, 0.95, 0.99)}}

    data = {"entries": [entry(e) for e in stats.entries.values()], "total": entry(stats.total),
            "errors": [{"method": err.method, "name": err.name, "error": StatsError.parse_error(err.error),
                        "occurrences": err.occurrences} for err in stats.errors.values()]}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)


@lru_cache(maxsize=4)
def _parse_plan(text: str) -> dict[str, Any]:
    plan = json.loads(text or "{}")
    if not isinstance(plan, dict):
        raise ValueError("--dicomweb-plan must be a JSON object")
    return plan


def _plan(user: HttpUser) -> dict[str, Any]:
    options = user.environment.parsed_options
    return _parse_plan(getattr(options, "dicomweb_plan", "{}") if options else "{}")


def _value(dataset: dict[str, Any], tag: str) -> Any:
    values = (dataset.get(tag) or {}).get("Value") if isinstance(dataset, dict) else None
    return values[0] if isinstance(values, list) and values else None


def _report(response: Any, problem: Problem | None) -> bool:
    """Mark the Locust response; True when the journey can go on with it."""
    if problem is None:
        response.success()
        return True
    kind, message = problem
    response.failure(HttpFailure(message) if kind == "http" else ConformanceError(message))
    return kind != "http"


class _DicomwebUser(HttpUser):
    abstract = True

    def on_start(self) -> None:
        # A GET sent on a keep-alive connection the server has just closed (its idle timeout) fails
        # before any answer; browsers send it again, and so does this client, once.  A server that
        # drops connections under load still fails the retry.
        from urllib3.util.retry import Retry

        retry = Retry(total=1, connect=1, read=1, status=0, other=0, redirect=0, allowed_methods={"GET"},
                      raise_on_status=False, backoff_factor=0)
        for adapter in self.client.adapters.values():
            adapter.max_retries = retry

    def wait_time(self) -> float:
        return random.uniform(0, float(_plan(self).get("think", 0.5)))

    def _get(self, name: str, path: str, accept: str, params: dict[str, str] | None = None):
        plan = _plan(self)
        headers = {"Accept": accept, "Accept-Encoding": "identity", **plan.get("headers", {})}
        return self.client.get(path, params=params, headers=headers, name=name, catch_response=True,
                               timeout=float(plan.get("timeout", 60)))

    def _json(self, name: str, path: str, params: dict[str, str] | None = None) -> list[Any]:
        """GET a DICOM JSON array; the datasets that could be read ([] when the journey must stop)."""
        with self._get(name, path, "application/dicom+json", params) as response:
            problem = check_status(response.status_code, (200,), getattr(response, "error", None) and
                                   str(response.error))
            doc = None
            if problem is None:
                problem, doc = check_dicom_json(response.headers.get("Content-Type"), response.content)
            _report(response, problem)
        return [ds for ds in doc if isinstance(ds, dict)] if isinstance(doc, list) else []


class Viewer(_DicomwebUser):
    """A viewer opening a patient's study: study list, series list, series metadata, then pixels."""

    weight = 9

    @task
    def open_study(self) -> None:
        patients = _plan(self).get("patients") or []
        if not patients:
            raise RuntimeError("the plan names no patient (run through dicomweb-conformance load)")
        studies = self._json("QIDO studies", "/studies", {"PatientID": random.choice(patients)})
        study = _value(random.choice(studies), "0020000D") if studies else None
        if not study:
            return
        series_list = self._json("QIDO series", f"/studies/{study}/series")
        series = _value(random.choice(series_list), "0020000E") if series_list else None
        if not series:
            return
        metadata = self._json("series metadata", f"/studies/{study}/series/{series}/metadata")
        images = [ds for ds in metadata if _value(ds, "00280010") is not None and _value(ds, "00080018")]
        if not images:
            return
        instance = random.choice(images)
        try:
            frames = max(1, int(str(_value(instance, "00280008") or 1)))
        except ValueError:
            frames = 1
        frame = random.randint(1, frames)
        base = f"/studies/{study}/series/{series}/instances/{_value(instance, '00080018')}/frames/{frame}"
        if random.random() < 0.5:
            self._frames(base)
        else:
            self._rendered(base + "/rendered")

    def _frames(self, path: str) -> None:
        with self._get("frames", path, FRAMES_ACCEPT) as response:
            problem = check_status(response.status_code, (200,), response.error and str(response.error))
            if problem is None:
                problem = check_frames(response.headers.get("Content-Type"), response.content)
            _report(response, problem)

    def _rendered(self, path: str) -> None:
        with self._get("rendered", path, "image/jpeg") as response:
            problem = check_status(response.status_code, (200,), response.error and str(response.error))
            if problem is None:
                problem = check_rendered(response.headers.get("Content-Type"), response.content)
            _report(response, problem)


@lru_cache(maxsize=1)
def _upload_files(names: tuple[str, ...]) -> list[bytes]:
    """The Part 10 bytes of the fixture files to upload (this machine's fixture data set)."""
    import dicomweb_fixtures as fixtures

    by_name = {path.name: path for path in fixtures.instance_files()}
    missing = [name for name in names if name not in by_name]
    if missing:
        raise RuntimeError(f"fixture files not in this machine's data set: {', '.join(missing)}")
    return [by_name[name].read_bytes() for name in names]


class Uploader(_DicomwebUser):
    """An uploader storing one study (the plan's fixture study under fresh UIDs) per STOW-RS request."""

    weight = 1

    @task
    def store_study(self) -> None:
        import dicomweb_fixtures as fixtures
        from dicomweb_conformance.http import multipart_related
        from dicomweb_conformance.seeding import rewrite_bytes
        from dicomweb_conformance.truth import RunIds

        plan = _plan(self)
        names = tuple(plan.get("upload_files") or ())
        if not names:
            return
        ids = RunIds.new(fixtures.UID_ROOT)
        payloads = [rewrite_bytes(data, ids) for data in _upload_files(names)]
        sent = [ids.uid(uid) for uid in plan.get("upload_sop_uids", [])]
        body, content_type = multipart_related(payloads)
        headers = {"Content-Type": content_type, "Accept": "application/dicom+json", **plan.get("headers", {})}
        with self.client.post("/studies", data=body, headers=headers, name="STOW study", catch_response=True,
                              timeout=float(plan.get("timeout", 60))) as response:
            problem = check_status(response.status_code, (200,), response.error and str(response.error))
            if problem is None:
                problem = check_stow(response.headers.get("Content-Type"), response.content, sent)
            _report(response, problem)
