"""The conformance suite against servers that break HTTP/1.1 message framing (RFC 9112).

A server that hangs, resets, answers junk, announces a wrong Content-Length, stalls or
trickles its answer must never hang the suite or crash it (INTERNALERROR, tracebacks of
the plugin): each exchange ends within ``--request-timeout`` and says what went wrong.

* Whole runs (subprocesses, in parallel): against a server broken for the tests only
  (``GET /system`` and STOW-RS answered properly, so the target is reached and seeded),
  every selected test FAILS with a clear message and pytest exits 1.  Broken from the
  first request, or for seeding, the run stops before any test with the suite's one-line
  message and its documented exit status 1 (``conformance.run.EXIT_TARGET_FAILURE``).
* In process, per behaviour: the client gives up within its timeout with one readable
  line, and seeding turns a broken STOW-RS into one :class:`~conformance.seeding.SeedError`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

import dicomweb_fixtures as fixtures
from dicomweb_conformance.http import RecordingClient, TransportError
from dicomweb_conformance.seeding import SeedError, seed
from dicomweb_conformance.truth import RunIds
from tests.helpers.broken_servers import BEHAVIOURS, BrokenServer
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
REQUEST_TIMEOUT = 2
RUN_TIMEOUT = 120
#: Five SHALL-level tests: QIDO-RS, WADO-RS and STOW-RS (its POST is answered, its QIDO check not).
SELECTION = [
    "conformance/test_framework_smoke.py::test_all_studies_search_returns_the_seeded_studies",
    "conformance/test_framework_smoke.py::test_search_without_match_answers_no_content_or_an_empty_array",
    "conformance/test_wado_retrieve.py::test_retrieving_a_resource_that_does_not_exist_is_404[series]",
    "conformance/test_qido_resources.py::test_search_under_unknown_study_or_series[study-series]",
    "conformance/test_stow.py::test_stored_instance_is_found_by_qido",
]
EXIT_TESTS_FAILED = EXIT_TARGET_FAILURE = 1  # README: a failed check and an untestable target both exit 1
#: A 200 answer with a cut body and junk after it: no transport error for the first exchange.
CUT_BODY = "short-length"


@dataclass
class Run:
    """One suite run: what the server did, exit status (None: killed), output, seconds, reports."""

    behaviour: str
    phase: str  # where the server breaks: "tests", "probe" or "seeding"
    returncode: int | None
    output: str
    seconds: float
    reports: Path

    def describe(self) -> str:
        return (f"[{self.behaviour} at {self.phase}] exit {self.returncode} after {self.seconds:.1f} s:\n"
                f"{self.output[-4000:]}")

    def test_times(self) -> dict[str, float]:
        """Seconds per test from the run's JUnit XML."""
        tree = ET.parse(self.reports / "junit.xml")
        return {f"{c.get('classname')}::{c.get('name')}": float(c.get("time", 0)) for c in tree.iter("testcase")}


_HEALTHY = {"tests": ("system", "stow"), "probe": (), "seeding": ("system",)}


def run_suite(behaviour: str, phase: str, reports: Path) -> Run:
    """The suite's selection against a :class:`BrokenServer`, in a subprocess with a hard timeout."""
    with BrokenServer(behaviour, healthy=_HEALTHY[phase]) as server:
        cmd = [sys.executable, "-m", "pytest", *SELECTION, "-p", "no:cacheprovider", "-q", "--dicomweb-url",
               server.url, "--request-timeout", str(REQUEST_TIMEOUT), "--reports-dir", str(reports)]
        start = time.monotonic()
        try:
            done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                                  errors="replace")
            return Run(behaviour, phase, done.returncode, done.stdout + done.stderr, time.monotonic() - start,
                       reports)
        except subprocess.TimeoutExpired as exc:
            out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else exc.stdout or ""
            return Run(behaviour, phase, None, out, time.monotonic() - start, reports)


def summary_counts(output: str) -> dict[str, int]:
    """``5 failed, 1 skipped in 3.2s`` -> {"failed": 5, "skipped": 1}."""
    line = [ln for ln in output.splitlines() if re.search(r" in [\d.]+s", ln)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", line.split(" in ")[0])}


def check_ran_clean(run: Run) -> None:
    """Ended in time by itself, without an internal error or a traceback outside the test reports."""
    assert run.returncode is not None, f"the suite hung (killed after {RUN_TIMEOUT} s): " + run.describe()
    assert "INTERNALERROR" not in run.output, run.describe()
    assert "Traceback (most recent call last)" not in run.output, run.describe()


def check_tests_failed(run: Run) -> None:
    """Exit 1; every selected test failed, each within about one request timeout, with a clear reason."""
    assert run.returncode == EXIT_TESTS_FAILED, run.describe()
    counts = summary_counts(run.output)
    assert counts == {"failed": len(SELECTION)}, f"every selected test fails: {counts}\n" + run.describe()
    if run.behaviour != CUT_BODY:
        reasons = re.findall(r"^transport failure: (GET|POST) http", run.output, flags=re.M)
        assert len(reasons) == len(SELECTION), "each failure is named a transport failure\n" + run.describe()
    else:
        assert run.output.count("DICOMweb conformance failure") >= len(SELECTION) - 1, run.describe()
    slow = {test: t for test, t in run.test_times().items() if t > 2 * REQUEST_TIMEOUT + 3}
    assert not slow, f"tests that outlived their request timeout: {slow}\n" + run.describe()


def check_stopped(run: Run, message: str) -> None:
    """Exit 1 before any test, with the suite's message on one readable line."""
    assert run.returncode == EXIT_TARGET_FAILURE, run.describe()
    lines = [ln for ln in run.output.splitlines() if message in ln]
    assert len(lines) == 1 and len(lines[0]) < 1000 and lines[0].isascii(), (
        f"one readable line with {message!r}\n" + run.describe())
    assert "no tests ran" in run.output, run.describe()


def test_whole_runs_against_broken_servers_fail_or_stop_cleanly(tmp_path: Path) -> None:
    jobs = [(b, "tests") for b in sorted(BEHAVIOURS)]
    jobs += [("trickle-headers", "probe"), ("garbage", "seeding")]
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(run_suite, b, phase, tmp_path / f"{phase}-{b}") for b, phase in jobs]
        runs = [f.result() for f in futures]
    problems = []
    for run in runs:
        try:
            check_ran_clean(run)
            if run.phase == "tests":
                check_tests_failed(run)
            elif run.phase == "probe":
                check_stopped(run, "dicomweb conformance: cannot reach the target (GET ")
            else:
                check_stopped(run, "dicomweb conformance: seeding the target failed: STOW-RS request 1/")
        except AssertionError as exc:
            problems.append(str(exc))
    assert not problems, f"{len(problems)} of {len(runs)} runs misbehaved:\n\n" + "\n\n".join(problems)


def _one_readable_line(text: str) -> None:
    assert "\n" not in text and text.isascii() and len(text) < 1000, f"not one readable line: {text!r}"
    assert all(32 <= ord(c) < 127 for c in text), f"control characters in {text!r}"


@pytest.mark.parametrize("behaviour", sorted(set(BEHAVIOURS) - {CUT_BODY}))
def test_client_gives_up_within_its_timeout_with_one_readable_line(behaviour: str) -> None:
    timeout = 0.5
    with BrokenServer(behaviour) as server:
        client = RecordingClient(server.url, server.url + "wado", timeout=timeout)
        start = time.monotonic()
        with pytest.raises(TransportError) as caught:
            client.get("studies")
        assert time.monotonic() - start < timeout + 1, "the client waited past its timeout"
        _one_readable_line(client.last.error)
        failing = RecordingClient(server.url, server.url + "wado", timeout=timeout, fail_on_transport_error=True)
        with pytest.raises(pytest.fail.Exception) as failed:
            failing.get("studies")
    assert str(caught.value).startswith("transport failure: GET ")
    # raised outside any except block: pytest prints no chain of requests/urllib3 exceptions
    assert failed.value.__context__ is None and failed.value.__cause__ is None


def test_client_keeps_to_content_length_and_drops_the_junk_after_it() -> None:
    """RFC 9112 6.3: Content-Length frames the body; what follows is not the next response."""
    with BrokenServer(CUT_BODY) as server:
        client = RecordingClient(server.url, server.url + "wado", timeout=1.0)
        for _ in range(3):
            response = client.get("studies")
            assert (response.status_code, response.content) == (200, b'[{"0')


@pytest.mark.parametrize("behaviour", sorted(set(BEHAVIOURS) - {CUT_BODY}))
def test_seeding_turns_a_broken_stow_into_one_seed_error(behaviour: str) -> None:
    smallest = min(fixtures.instance_files(), key=lambda p: p.stat().st_size)
    with BrokenServer(behaviour, healthy=("system",)) as server:
        client = RecordingClient(server.url, server.url + "wado", timeout=1.0)
        start = time.monotonic()
        with pytest.raises(SeedError) as caught:
            seed(client, RunIds.new(fixtures.UID_ROOT), [smallest])
        assert time.monotonic() - start < 4
    message = str(caught.value)
    assert message.startswith("STOW-RS request 1/1 (1 instances") and " failed: " in message, message
    _one_readable_line(message)
