"""A real browser for the end-to-end tests: Debian's headless Chromium driven by Selenium through
Debian's ``chromedriver`` (given explicitly, so Selenium Manager never runs and nothing goes to the
network). Tests that need it call :func:`chromium` — it skips with the reason when the browser is
not installed on a developer's machine, and fails when ``ALBMTLS_REQUIRE_BROWSER`` is set (``.ci/run``
installs the browser and sets it: in CI the browser tests must run)."""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


def require_browser() -> None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if not missing:
        return
    why = (f"{', '.join(missing)} not installed: `apt-get install chromium chromium-driver` (Debian; .ci/run "
           "does it)")
    if os.environ.get("ALBMTLS_REQUIRE_BROWSER"):
        pytest.fail(f"the browser tests must run here (ALBMTLS_REQUIRE_BROWSER is set) but {why}")
    pytest.skip(why)


@contextmanager
def chromium(download_dir: Path) -> Iterator[Any]:
    """A headless Chromium whose downloads land in ``download_dir``."""
    require_browser()
    os.environ.setdefault("SE_OFFLINE", "true")          # Selenium Manager: no network, no statistics
    os.environ.setdefault("SE_AVOID_STATS", "true")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--no-first-run", "--no-default-browser-check", "--window-size=1280,900"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                           "download.prompt_for_download": False,
                                           "download.directory_upgrade": True,
                                           "safebrowsing.enabled": False})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=opts)
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def wait_for_download(download_dir: Path, timeout: float = 20.0) -> Path:
    """The first finished file in ``download_dir`` (bounded wait)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        done = [p for p in download_dir.iterdir()   # not a partial file, nor Chromium's hidden temporary one
                if not p.name.endswith((".crdownload", ".tmp")) and not p.name.startswith(".")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError(f"no download arrived in {download_dir} within {timeout:.0f} s")
