"""Headless Chromium for the browser tests (Debian's chromium and chromium-driver, selenium from PyPI).

``chrome()`` skips the calling test, with the reason, when one of the three is missing.
"""

from __future__ import annotations

import shutil
from contextlib import contextmanager
from typing import Iterator

import pytest

_BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def _which(*names: str) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


@contextmanager
def chrome(width: int = 1400, height: int = 900) -> Iterator["object"]:
    """A headless Chromium WebDriver, quit at the end of the ``with`` block."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = _which(*_BROWSERS), _which("chromedriver")
    if binary is None or driver_path is None:
        pytest.skip("headless browser tests need chromium and chromedriver (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}", "--disable-extensions", "--no-first-run"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def console_errors(driver) -> list[str]:
    """The page's console messages of level SEVERE (JavaScript errors, failed loads)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
