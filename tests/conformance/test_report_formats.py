"""The reports of one faulted run agree with each other: HTML report, results JSON, terminal, JUnit, Allure.

The mock runs with faults that break QIDO-RS name matching, ``limit`` and the
405 ``Allow`` header; the suite runs against it in a subprocess (with
pytest-xdist, as a vendor runs it).  Every format must name the same failed
requirements and count the same tests.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from dicomweb_conformance.results_json import validate_results
from tests.helpers.report_runs import FAULTS, FILES, closing_block, html_failed_ids, mock_server, run_suite, stats_line

#: The mock reads the malformed instances some STOW tests send (its own warnings, not the suite's).
pytestmark = pytest.mark.filterwarnings("ignore:Expected implicit VR:UserWarning")

#: Requirements each fault breaks (from tests/robustness/test_fault_kill.py) that this run must report as failed.
# qido-ignore-patient-name: an ignored key is reported under the key table (QIDO-008), not QIDO-012
MUST_FAIL = {"QIDO-008", "QIDO-026", "HTTP-013"}


@pytest.fixture(scope="module")
def faulted(tmp_path_factory):
    with mock_server(FAULTS) as server:
        run = run_suite(server.dicomweb_url, tmp_path_factory.mktemp("faulted") / "reports", *FILES, "-n", "2")
    assert run.returncode == 1, run.stdout[-3000:]
    return run


def _failed_requirements(results: dict) -> set[str]:
    return {rid for rid, r in results["requirements"].items() if r["outcome"] == "failed"}


def test_results_json_follows_its_schema_and_explains_every_failure(faulted):
    results = faulted.results
    assert validate_results(results) == []
    assert results["suite"]["version"] and results["meta"]["target.dicomweb_url"].endswith("/dicom-web/")
    failed = {n: t for n, t in results["tests"].items() if t["outcome"] == "failed"}
    assert failed
    for nodeid, test in failed.items():
        assert test["reason"] and "\n" not in test["reason"], nodeid
        assert test["expected"] and test["actual"], nodeid
    limit = results["tests"]["conformance/test_qido_params.py::test_paging_all_studies"]
    assert limit["failed_requirements"] == ["QIDO-026"]
    assert limit["expected"].startswith("3 ") and "limit" in limit["expected"] and limit["actual"] == "7"
    assert limit["exchange"].startswith("> GET ") and "limit=3" in limit["exchange"]
    assert MUST_FAIL <= _failed_requirements(results)


def test_the_schema_rejects_a_failure_without_a_reason(faulted):
    broken = copy.deepcopy(faulted.results)
    nodeid = next(n for n, t in broken["tests"].items() if t["outcome"] == "failed")
    broken["tests"][nodeid]["reason"] = ""
    del broken["tests"][nodeid]["actual"]
    problems = validate_results(broken)
    assert any("actual" in p for p in problems) and any("reason" in p or "short" in p for p in problems)


def test_every_format_names_the_same_failed_requirements(faulted):
    results = faulted.results
    from_json = _failed_requirements(results)
    block = closing_block(faulted.stdout)
    from_terminal = set(block.get("Failed SHALL requirements", []) + block.get("Failed SHOULD requirements", []))
    assert from_terminal == from_json
    assert set(html_failed_ids(faulted.html)) == from_json
    shall = [rid for rid in from_json if results["requirements"][rid]["level"] == "SHALL"]
    assert f'{len(from_json)} requirement{"s" if len(from_json) > 1 else ""} failed ({len(shall)} SHALL' \
        in faulted.html


def test_every_format_counts_the_same_tests(faulted):
    tests = faulted.results["tests"]
    by_outcome = {o: sum(1 for t in tests.values() if t["outcome"] == o) for o in ("passed", "failed", "skipped")}
    stats = stats_line(faulted.stdout)
    assert {k: stats.get(k, 0) for k in by_outcome} == by_outcome
    junit = faulted.junit()
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert int(suite.get("failures")) == by_outcome["failed"]
    assert int(suite.get("tests")) == len(tests)
    allure = faulted.allure()
    assert len(allure) == len(tests)
    assert sum(1 for r in allure if r["status"] == "failed") == by_outcome["failed"]


def test_allure_files_each_test_under_one_requirement(faulted):
    catalogue = {rid: r for rid, r in faulted.results["requirements"].items()}
    stories = {}
    for result in faulted.allure():
        labels = {}
        for label in result["labels"]:
            labels.setdefault(label["name"], []).append(label["value"])
        assert len(labels["epic"]) == len(labels["feature"]) == len(labels["story"]) == 1, result["fullName"]
        story_id = labels["story"][0].split()[0]
        assert labels["epic"] == [catalogue[story_id]["service"]]
        assert labels["feature"] == [catalogue[story_id]["feature"]]
        if catalogue[story_id]["url"]:  # sections of the standard; the seed's have no link
            assert any(link["url"] == catalogue[story_id]["url"] for link in result["links"])
        stories[story_id] = stories.get(story_id, 0) + 1
    assert sum(stories.values()) == len(faulted.results["tests"])  # the tree counts each test once


def _junit_failure(run, name: str) -> str:
    for case in run.junit().iter("testcase"):
        if case.get("name") == name:
            return case.find("failure").text or case.find("failure").get("message")
    raise AssertionError(f"no test case {name}")


def test_failure_text_puts_the_key_first_and_names_unexpected_studies(faulted):
    text = _junit_failure(faulted, "test_single_value_matching[PatientName]")
    checked = next(line for line in text.splitlines() if line.strip().startswith("checked:"))
    assert checked.split("checked:", 1)[1].strip().startswith("StudyInstanceUIDs matched by PatientName=DOE^JOHN")
    assert "2.25." not in checked and "among the run's 7 studies" in checked
    # the fault ignores PatientName outright: reported as an ignored key (every run study came back)
    actual = next(line for line in text.splitlines() if line.strip().startswith("actual:"))
    assert "all 7: the key was ignored" in actual and "2.25." not in actual
    request = next(line for line in text.splitlines() if line.startswith("> GET "))
    assert re.search(r"/studies\?PatientName=DOE%5EJOHN&StudyInstanceUID=", request), request


def test_deselected_tests_are_not_missing_coverage(tmp_path):
    with mock_server() as server:
        run = run_suite(server.dicomweb_url, tmp_path / "reports", "conformance", "-n", "2",
                        "-k", "test_paging_all_studies")
    assert run.returncode == 0, run.stdout[-3000:]
    requirements = run.results["requirements"]
    assert requirements["QIDO-026"]["outcome"] == "passed"
    assert requirements["HTTP-002"]["outcome"] == "deselected"  # test_http.py covers it
    assert requirements["HTTP-002"]["detail"].startswith("deselected")
    not_tested = {rid for rid, r in requirements.items() if r["outcome"] == "not tested"}
    assert all(not r["tests"] for rid, r in requirements.items() if rid in not_tested)
    shall = run.results["summary"]["by_level"]["SHALL"]
    assert shall["deselected"] == sum(1 for r in requirements.values()
                                      if r["level"] == "SHALL" and r["outcome"] == "deselected") > 100
    assert re.search(r'id">HTTP-002</td>.*?<span class=.tag c-deselected.>Not run \(deselected\)</span>', run.html)
    assert re.search(r"SHALL +\d+ requirements: .*\d+ not run \(deselected\)", run.stdout)


def test_a_run_that_cannot_test_the_target_leaves_no_older_report(tmp_path):
    reports = tmp_path / "reports"
    reports.mkdir()
    old = ["conformance-matrix.md", "conformance-matrix.html", "conformance-results.json", "conformance-report.html"]
    for name in old:
        (reports / name).write_text("from an earlier run", encoding="utf-8")
    with mock_server() as server:
        url = server.dicomweb_url
    run = run_suite(url, reports, "conformance/test_http.py")  # the server is gone
    assert run.returncode == 1 and "cannot reach the target" in run.stdout
    assert (reports / "junit.xml").is_file()
    assert [name for name in old if (reports / name).exists()] == []


def _instances(server) -> int:
    import requests

    return requests.get(server.dicomweb_url.replace("/dicom-web/", "/_mock/status"), timeout=10).json()["instances"]


@pytest.mark.parametrize("cleanup", [False, True])
def test_cleanup_deletes_what_the_run_stored(tmp_path, cleanup):
    with mock_server() as server:
        args = ["conformance/test_stow.py", "-p", "no:xdist", "-k", "store_one_instance or several_instances"]
        run = run_suite(server.dicomweb_url, tmp_path / "reports", *args, *(["--cleanup"] if cleanup else []))
        left = _instances(server)
    assert run.returncode == 0, run.stdout[-3000:]
    if cleanup:
        assert left == 0
        assert re.search(r"cleanup: deleted \d+ patients the run stored", run.stdout)
    else:
        assert left > 55  # the fixtures the run seeded and what its STOW tests stored
        assert "cleanup:" not in run.stdout


# -- the HTML report in a browser ---------------------------------------------------------------------------
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--hide-scrollbars"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 1400, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    yield driver
    driver.quit()


def test_report_is_self_contained(faulted):
    page = faulted.html
    assert not re.search(r"<(link|img|iframe)\b|<script[^>]+src=|url\(", page)
    assert set(re.findall(r'href="(https?://[^/"]+)', page)) <= {"https://dicom.nema.org"}


def test_a_failed_requirement_is_visible_without_scrolling(faulted, browser, tmp_path):
    import os
    from selenium.webdriver.common.by import By

    browser.get((faulted.reports / "conformance-report.html").resolve().as_uri())
    assert browser.execute_script("return [window.innerWidth, window.innerHeight, window.scrollY]") == [1400, 1000, 0]
    card = browser.find_element(By.CSS_SELECTOR, "#failed article.card")
    top, bottom = browser.execute_script("var r=arguments[0].getBoundingClientRect(); return [r.top, r.bottom]", card)
    assert 0 <= top and bottom <= 1000, (top, bottom)
    req_id = card.find_element(By.CSS_SELECTOR, ".id").text
    assert faulted.results["requirements"][req_id]["outcome"] == "failed"
    reason = card.find_element(By.CSS_SELECTOR, ".reason")
    assert reason.is_displayed() and reason.text == faulted.results["requirements"][req_id]["detail"]
    shot = tmp_path / "conformance-report.png"
    browser.save_screenshot(str(shot))
    if os.environ.get("DICOMWEB_REPORT_SCREENSHOT"):  # how docs/conformance-report.png is made
        browser.save_screenshot(os.environ["DICOMWEB_REPORT_SCREENSHOT"])
    from PIL import Image
    assert Image.open(shot).size == (1400, 1000)


def test_filter_box_and_evidence(faulted, browser):
    from selenium.webdriver.common.by import By

    browser.get((faulted.reports / "conformance-report.html").resolve().as_uri())
    browser.find_element(By.ID, "filter").send_keys("HTTP-013")
    cards = [c for c in browser.find_elements(By.CSS_SELECTOR, "#failed article.card") if c.is_displayed()]
    assert [c.find_element(By.CSS_SELECTOR, ".id").text for c in cards] == ["HTTP-013"]
    rows = [r for r in browser.find_elements(By.CSS_SELECTOR, "section.service tr.filterable") if r.is_displayed()]
    assert [r.find_element(By.CSS_SELECTOR, "td.id").text for r in rows] == ["HTTP-013"]
    cards[0].find_element(By.CSS_SELECTOR, "details.evidence > summary").click()
    evidence = cards[0].find_element(By.CSS_SELECTOR, "details.evidence dl")
    assert evidence.is_displayed() and "Allow header" in evidence.text and "(absent)" in evidence.text
