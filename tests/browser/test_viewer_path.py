"""A web viewer's path: the npm ``dicomweb-client`` in headless Chromium, on another origin.

``python -m dicomweb_mock`` runs with its default configuration; a page served from a second
local port (another origin) loads the JavaScript client and does what a viewer such as OHIF does:
search studies and series, read series metadata, a frame and a rendered image, read response
headers, store an instance (STOW-RS without an Accept header, as the client sends it) and find
it. With CORS turned off, the browser blocks every one of them (the test can fail).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import pydicom
import pytest
from pydicom.uid import generate_uid
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from tests.helpers.browser import chrome
from tests.helpers.js_client import dicomweb_client_js

OPERATIONS = ["QIDO studies", "QIDO series", "series metadata", "frame", "rendered", "response headers", "STOW",
              "QIDO of the stored study"]
PAGE = Path(__file__).with_name("viewer_page.html")
WAIT = 60  # seconds: a ceiling for the page's eight operations on a loaded machine


@pytest.fixture(scope="module")
def client_js() -> Path:
    return dicomweb_client_js()


@pytest.fixture(scope="module")
def target(manifest) -> dict:
    """A native single-frame image: its frame's size is known without decoding."""
    inst = next(i for i in manifest["instances"] if i["NumberOfFrames"] == 1 and i["SamplesPerPixel"] == 1
                and i["TransferSyntaxUID"] in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1"))
    return {"study": inst["StudyInstanceUID"], "series": inst["SeriesInstanceUID"], "sop": inst["SOPInstanceUID"],
            "frame_bytes": inst["Rows"] * inst["Columns"] * inst["BitsAllocated"] // 8, "file": inst["file"]}


def upload_bytes(files, name: str) -> tuple[bytes, str]:
    """A fixture instance under new UIDs (so that the STOW adds a study); the bytes and the study UID."""
    from io import BytesIO

    ds = pydicom.dcmread(files[name])
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue(), ds.StudyInstanceUID


class PageServer:
    """The second origin: the test page, the client's build and the file to upload."""

    def __init__(self, client_js: Path, upload: bytes):
        self.client_js, self.upload, self.page = client_js.read_bytes(), upload, ""
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.origin = f"http://localhost:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def app(self, environ, start_response):
        path = Request(environ).path
        bodies = {"/": (self.page, "text/html; charset=utf-8"),
                  "/dicomweb-client.js": (self.client_js, "text/javascript"),
                  "/upload.dcm": (self.upload, "application/dicom")}
        body, ctype = bodies.get(path, ("not found\n", "text/plain"))
        return Response(body, status=200 if path in bodies else 404, content_type=ctype)(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def page_server(client_js, files, target) -> Iterator[PageServer]:
    data, study = upload_bytes(files, target["file"])
    server = PageServer(client_js, data)
    server.stored_study = study
    yield server
    server.stop()


def start_mock(*args: str) -> tuple[subprocess.Popen, str]:
    """``python -m dicomweb_mock --port 0 ARGS``; the process and its DICOMweb root (from the banner)."""
    proc = subprocess.Popen([sys.executable, "-m", "dicomweb_mock", "--port", "0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen.append(lines.get(timeout=1))
        except queue.Empty:
            continue
        if "DICOMweb root:" in seen[-1]:
            return proc, seen[-1].split("DICOMweb root:")[1].strip().rstrip("/")
    proc.kill()
    pytest.fail("the mock did not start: " + "".join(seen)[-500:])


def run_page(page_server: PageServer, mock_url: str, target: dict) -> dict[str, dict]:
    """Open the test page in headless Chromium; each operation's result by name."""
    from selenium.webdriver.support.ui import WebDriverWait

    page = PAGE.read_text(encoding="utf-8")
    page_server.page = page.replace("{{mock}}", mock_url).replace(
        "{{target}}", json.dumps({**target, "stored_study": page_server.stored_study}))
    with chrome() as driver:
        driver.get(page_server.origin + "/")
        WebDriverWait(driver, WAIT, poll_frequency=0.2).until(lambda d: d.execute_script("return window.__done"))
        results = driver.execute_script("return window.__results")
    return {r["name"]: r for r in results}


@pytest.mark.parametrize("cors,expected_ok", [("default", len(OPERATIONS)), ("listed", len(OPERATIONS)),
                                              ("off", 0)])
def test_dicomweb_client_js_from_another_origin(page_server, target, cors, expected_ok):
    args = {"default": [], "listed": ["--cors-origin", page_server.origin], "off": ["--cors-origin", "none"]}[cors]
    proc, mock_url = start_mock(*args)
    try:
        results = run_page(page_server, mock_url, target)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert list(results) == OPERATIONS
    passed = [name for name, r in results.items() if r["ok"]]
    unexpected = {name: r["detail"] for name, r in results.items() if r["ok"] != bool(expected_ok)}
    assert len(passed) == expected_ok, unexpected
    if not expected_ok:  # blocked by the browser (CORS), not refused by the mock
        assert all(r["detail"].startswith("HTTP status 0") or "Failed to fetch" in r["detail"]
                   for r in results.values()), results
