"""Helpers of the report tests: a mock with injected faults, and the suite run against it as a vendor runs
it (a subprocess), with every report it writes read back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from dicomweb_mock.app import create_app
from dicomweb_mock.config import Settings
from dicomweb_mock.store.disk import DiskStore
from dicomweb_mock.threaded import serve_in_thread
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
#: Faults of the faulted run (the whole suite runs against them).
FAULTS = ["qido-ignore-patient-name", "http-405-no-allow", "qido-ignore-limit"]
FILES = ["conformance"]


@contextmanager
def mock_server(faults: list[str] | None = None) -> Iterator[Any]:
    """A mock with an empty store (and the given faults) in a thread; yields the server."""
    settings = Settings()
    settings.faults = list(faults or [])
    settings.dicomweb.strict = True  # measured as the suite's embedded target is: PS3.18 as written
    store = DiskStore.temporary()
    try:
        with serve_in_thread(create_app(settings, store, fixtures=False)) as server:
            yield server
    finally:
        store.close()


@dataclass
class Run:
    """One run of the suite: its exit status, terminal output and reports directory."""

    returncode: int
    stdout: str
    reports: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.reports / "conformance-results.json").read_text(encoding="utf-8"))

    @property
    def html(self) -> str:
        return (self.reports / "conformance-report.html").read_text(encoding="utf-8")

    def junit(self) -> ET.Element:
        return ET.parse(self.reports / "junit.xml").getroot()

    def allure(self) -> list[dict[str, Any]]:
        return [json.loads(p.read_text(encoding="utf-8"))
                for p in (self.reports / "allure-results").glob("*-result.json")]


def run_suite(url: str, reports: Path, *args: str) -> Run:
    """``python -m pytest <args> --dicomweb-url URL --reports-dir REPORTS`` in a clean environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DICOMWEB_", "PYTEST_XDIST"))}
    env["COLUMNS"] = "160"
    cmd = [sys.executable, "-m", "pytest", *args, "-p", "no:cacheprovider", "-o", "addopts=",
           "--dicomweb-url", url, "--reports-dir", str(reports)]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return Run(done.returncode, done.stdout + done.stderr, reports)


def closing_block(stdout: str) -> dict[str, list[str]]:
    """The terminal's closing block: {heading: [requirement IDs or node IDs]}."""
    block = stdout.split("DICOMweb conformance: failed requirements", 1)[1]
    out: dict[str, list[str]] = {}
    heading = ""
    for line in block.splitlines()[1:]:
        if line and not line.startswith(" "):
            heading = line.split(" (", 1)[0]
            out[heading] = []
        elif line.strip() and heading:
            out[heading].append(line.split()[0].rstrip(":"))
    return out


def stats_line(stdout: str) -> dict[str, int]:
    """pytest's last line: {'failed': 3, 'passed': 10, ...}."""
    line = [ln for ln in stdout.splitlines() if re.search(r"\d+ (passed|failed)", ln)][-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", line)}


def html_failed_ids(page: str) -> list[str]:
    """Requirement IDs of the report's failed cards, in page order."""
    section = page.split('<section id="failed">', 1)[1].split("</section>", 1)[0]
    return re.findall(r'<article class="card[^"]*"[^>]*><h3><span class="id">([A-Z]+-\d+)</span>', section)
