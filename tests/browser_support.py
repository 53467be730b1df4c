"""A real app server on loopback and a real headless Debian chromium for the app's browser tests and benchmark.

``AppServer`` serves ``dashboards.app.create_app`` with the threaded server on a
free port of 127.0.0.1; ``start_browser`` starts chromium through chromedriver
with the flags this closed network needs. When ``CI`` is set, a missing
browser fails the tests instead of skipping them.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import pytest

CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1500,1100",
)


def find_browser() -> tuple[str | None, str | None]:
    """Paths of chromium and chromedriver (Debian's packages), or None each."""
    chromium = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    driver = os.environ.get("CHROMEDRIVER") or shutil.which("chromedriver")
    exists = lambda p: p if p and os.access(p, os.X_OK) else None  # noqa: E731
    return exists(chromium), exists(driver)


def require_browser() -> tuple[str, str]:
    """Chromium and its driver; skip without them, but fail when CI is set (CI installs them)."""
    chromium, driver = find_browser()
    try:
        import selenium  # noqa: F401
    except ImportError:
        chromium = None
    if not chromium or not driver:
        message = "headless chromium, chromedriver and selenium are needed for the browser tests (apt-get install chromium chromium-driver; pip install -e '.[dev]')"
        if os.environ.get("CI"):
            pytest.fail(message + " and CI is set", pytrace=False)
        pytest.skip(message)
    return chromium, driver


def start_browser(chromium: str, driver: str):
    """A headless chromium with a fresh profile, recording console messages."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="mandate-sim-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(options=options, service=Service(driver))
    browser.set_page_load_timeout(60)
    browser._mandate_profile = profile  # removed on quit by stop_browser
    return browser


def stop_browser(browser) -> None:
    profile = getattr(browser, "_mandate_profile", None)
    try:
        browser.quit()
    finally:
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


class AppServer:
    """The app served on a free loopback port in a background thread of this process."""

    def __init__(self, **config: Any):
        import logging

        from werkzeug.serving import make_server

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request

        from dashboards.app import AppConfig, create_app

        self.app = create_app(AppConfig(**config))
        self.context = self.app.server.config["MANDATE_SIM"]
        self.server = make_server("127.0.0.1", 0, self.app.server, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="mandate-sim-test-server", daemon=True)

    def __enter__(self) -> "AppServer":
        self.context.jobs.warm()
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.context.jobs.close()


def wait_for(condition: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05, message: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; its value, or an AssertionError after ``timeout`` seconds."""
    end = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < end:
        try:
            value = condition()
            if value:
                return value
        except Exception as e:  # the element may not exist yet
            last_exc = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {message}" + (f" (last error: {last_exc})" if last_exc else ""))


def console_errors(browser) -> list[dict]:
    """Severe console messages since the last call (the log is drained by reading it)."""
    return [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]


def external_requests(browser, origin: str) -> list[str]:
    """Resources the page loaded from anywhere but the app's own server."""
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);")
    return [u for u in urls if not (u.startswith(origin) or u.startswith("data:") or u.startswith("blob:"))]


