"""The study browser at ``/``, driven in headless Chromium: search, a study, a thumbnail, an upload.

The second test serves the mock under a proxy path (``/pacs/``) with authentication on, the way a
person opens it: credentials in the address, the browser's own HTTP authentication afterwards.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Iterator

import pydicom
import pytest
from pydicom.uid import generate_uid
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from tests.helpers.browser import chrome, console_errors
from dicomweb_mock.app import create_app
from dicomweb_mock.config import parse_config
from dicomweb_mock.threaded import serve_in_thread

WAIT = 30  # seconds; generous for a loaded CI machine (a ceiling, never a measured time)


def wait_until(driver, condition) -> Any:
    """Poll ``condition(driver)`` until it is truthy (at most WAIT seconds); its value."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, WAIT, poll_frequency=0.1).until(condition)


def wait_for(driver, script: str) -> Any:
    """Poll a JavaScript function body until it returns a truthy value."""
    return wait_until(driver, lambda d: d.execute_script(script))


def loaded_thumbnails(driver) -> int:
    return driver.execute_script(
        "return [...document.querySelectorAll('img.thumbnail')].filter(i => i.complete && i.naturalWidth > 0).length")


@pytest.fixture
def new_instance(files, tmp_path) -> Path:
    """A fixture instance under new UIDs and a new patient, so that the upload is a new study."""
    ds = pydicom.dcmread(files["wang-ct-001.dcm"])
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.PatientName, ds.PatientID, ds.StudyDescription = "UPLOAD^TEST", "UP-0001", "UPLOADED BY SELENIUM"
    path = tmp_path / "upload.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_search_open_study_thumbnail_and_upload(new_instance, tmp_path):
    app = create_app(parse_config({}))
    try:
        with serve_in_thread(app) as server, chrome() as driver:
            driver.get(server.url + "/")
            wait_for(driver, "return document.querySelector('#summary')")
            assert "7 studies" in driver.find_element("id", "summary").text

            # search: patient name (case-insensitive, contains)
            field = driver.find_element("css selector", "#search input[name=name]")
            field.send_keys("doe")
            driver.find_element("css selector", "#search button").click()
            wait_for(driver, "return /2 studies of 2 patient/.test(document.querySelector('#summary')?.textContent)")
            rows = driver.find_elements("css selector", "tr.patient")
            assert sorted(r.text.split(" - ")[0].upper() for r in rows) == ["DOE, JANE", "DOE, JOHN"]
            requests = driver.find_element("id", "requests").text
            assert "PatientName=*doe*" in requests.replace("%2A", "*")

            # open a study: its series with thumbnails
            driver.find_element("link text", "MR BRAIN").click()
            wait_for(driver, "return document.querySelectorAll('#series .card').length === 2")
            wait_until(driver, lambda d: loaded_thumbnails(d) == 2)
            assert "/thumbnail" in driver.find_element("id", "requests").text

            # an instance: metadata table and a rendered frame
            driver.find_elements("css selector", "a.instance-link")[0].click()
            wait_for(driver, "return document.querySelectorAll('#metadata tbody tr').length > 20")
            wait_for(driver, "const i = document.querySelector('#frames img'); "
                             "return i && i.complete && i.naturalWidth > 0")
            assert "PatientName" in driver.find_element("id", "metadata").text

            # upload (STOW-RS), then find the new study
            driver.find_element("id", "upload-files").send_keys(str(new_instance))
            driver.find_element("css selector", "#upload button").click()
            wait_for(driver, "return /stored/.test(document.querySelector('#upload-result').textContent)")
            assert driver.find_element("id", "upload-result").text.startswith("HTTP 200: 1 stored, 0 refused")
            driver.get(server.url + "/#/?name=upload")
            wait_for(driver, "return /1 study of 1 patient/.test(document.querySelector('#summary')?.textContent)")
            assert "UPLOADED BY SELENIUM" in driver.find_element("id", "studies").text
            assert not [e for e in console_errors(driver) if "favicon" not in e]
            assert app.store.study_exists(pydicom.dcmread(new_instance).StudyInstanceUID)
    finally:
        app.store.close()


@pytest.fixture
def proxied_auth_server() -> Iterator[str]:
    """The mock with authentication on, mounted at ``/pacs`` as a reverse proxy would (SCRIPT_NAME)."""
    app = create_app(parse_config({"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "s3cret"}}))
    outside = DispatcherMiddleware(Response("not the mock\n", status=404, content_type="text/plain"), {"/pacs": app})
    server = make_server("127.0.0.1", 0, outside, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        app.store.close()


def test_works_behind_a_proxy_path_with_authentication(proxied_auth_server, new_instance):
    with chrome() as driver:
        driver.get(f"http://alice:s3cret@{proxied_auth_server}/pacs/")
        wait_for(driver, "return document.querySelector('#summary') || document.querySelector('.error')")
        assert "7 studies" in driver.find_element("id", "summary").text
        assert driver.execute_script("return document.getElementById('root-link').textContent") == \
            f"http://{proxied_auth_server}/pacs/dicom-web/"
        driver.find_element("link text", "CT CHEST ABDOMEN").click()
        wait_for(driver, "return document.querySelectorAll('#series .card').length === 2")
        wait_until(driver, lambda d: loaded_thumbnails(d) == 2)
        driver.find_element("id", "upload-files").send_keys(str(new_instance))
        driver.find_element("css selector", "#upload button").click()
        wait_for(driver, "return /stored|failed/.test(document.querySelector('#upload-result').textContent)")
        assert driver.find_element("id", "upload-result").text.startswith("HTTP 200: 1 stored")
