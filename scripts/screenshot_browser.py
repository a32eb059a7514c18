"""Screenshots of the study browser for the README (docs/study-browser*.png), in headless Chromium.

    python scripts/screenshot_browser.py [--out docs]

Starts the mock with its fixtures on a free port, opens the three views of the study browser and
saves one PNG per view. Needs selenium, chromium and chromedriver (as the browser tests do).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository: tests.helpers

from tests.helpers.browser import chrome  # noqa: E402
from dicomweb_mock.app import create_app  # noqa: E402
from dicomweb_mock.config import parse_config  # noqa: E402
from dicomweb_mock.threaded import serve_in_thread  # noqa: E402


def _settle(driver, script: str, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > end:
            raise SystemExit(f"the page did not get ready: {script}")
        time.sleep(0.1)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("docs"))
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    images = "return [...document.images].every(i => i.complete)"
    app = create_app(parse_config({}))
    try:
        with serve_in_thread(app) as server, chrome(1400, 1040) as driver:
            driver.get(server.url + "/#/")
            _settle(driver, "return document.querySelector('#summary')")
            driver.save_screenshot(str(args.out / "study-browser.png"))
            driver.get(server.url + "/#/")
            _settle(driver, "return document.querySelector('a.study-link')")
            driver.find_element("link text", "MR BRAIN").click()
            _settle(driver, "return document.querySelectorAll('img.thumbnail').length === 2")
            _settle(driver, images)
            driver.save_screenshot(str(args.out / "study-browser-study.png"))
            driver.find_elements("css selector", "a.instance-link")[0].click()
            _settle(driver, "return document.querySelector('#metadata')")
            _settle(driver, images)
            driver.save_screenshot(str(args.out / "study-browser-instance.png"))
    finally:
        app.store.close()
    for name in ("study-browser.png", "study-browser-study.png", "study-browser-instance.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
