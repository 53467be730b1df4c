"""The app as deployed on loopback, a client that drives it as the browser does, and a real headless Debian chromium,
for the app's tests and benchmarks.

``start_browser`` starts chromium through chromedriver with the flags this closed network needs. When ``CI`` is set,
a missing browser fails the tests instead of skipping them.

``AppProcess`` starts ``mandate-sim app`` as deployed (gunicorn) in its own process group and, on exit (also after
a failure), ends that whole group: SIGTERM, then SIGKILL for anything left. ``ComparePage`` calls the compare page's
callbacks through POST /_dash-update-component, with the request bodies the Dash renderer builds from GET
/_dash-dependencies, as one user (one ``mandate_sim_user`` cookie). Used by tests/test_app_server.py,
tests/test_app_browser.py and benchmarks/loadtest.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import pytest
import requests

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


@contextlib.contextmanager
def browser_session(viewport: tuple[int, int] | None = None, downloads: Path | None = None):
    """A started headless chromium for a test module, stopped afterwards (also after a failure). ``viewport``: the
    page's width and height in CSS pixels (the window is sized so the viewport, not the window, has them);
    ``downloads``: a folder the browser saves downloads into (``browser.downloads``)."""
    chromium, driver = require_browser()
    b = start_browser(chromium, driver)
    try:
        if viewport:
            width, height = viewport
            b.set_window_size(width, height)
            inner = b.execute_script("return [window.innerWidth, window.innerHeight]")
            b.set_window_size(2 * width - inner[0], 2 * height - inner[1])
        if downloads is not None:
            b.downloads = downloads
            b.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
        yield b
    finally:
        stop_browser(b)


def css(browser, selector: str) -> list:
    """The elements a CSS selector finds."""
    return browser.find_elements("css selector", selector)


def served_app(root: Path, *args: str, server_workers: int = 2) -> "AppProcess":
    """``mandate-sim app`` on a data root as the browser tests start it (one run worker); its terminal in root's parent."""
    require_browser()
    return AppProcess("--workers", "1", "--server-workers", str(server_workers), "--data-root", str(root), *args,
                      log=root.parent / f"{root.name}-app.log")


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


#: What clashes in the charts under a CSS selector, as plotly.js drew them: text that meets other text (the title,
#: subplot titles, axis titles, notes), the legend or the chart's toolbar, and text cut off by the chart's edge. Tick
#: labels are left out (rotated ones have boxes that meet while their letters do not).
CHART_CLASHES = """
const meet = (a, b) => a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
const out = [];
document.querySelectorAll(arguments[0]).forEach(box => box.querySelectorAll('.js-plotly-plot').forEach(g => {
    const name = box.id || g.id || box.className;
    const edge = g.getBoundingClientRect();
    const boxes = sel => Array.from(g.querySelectorAll(sel)).map(e => [e.textContent.slice(0, 40), e.getBoundingClientRect()])
        .filter(([t, r]) => r.width > 0 && r.height > 0);
    const texts = boxes('.gtitle, .g-gtitle text, .annotation-text, .infolayer .g-xtitle, .infolayer .g-ytitle');
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++)
        if (meet(texts[i][1], texts[j][1])) out.push(name + ': ' + texts[i][0] + ' | ' + texts[j][0]);
    [['the legend', '.legend .bg'], ['the toolbar', '.modebar']].forEach(([what, sel]) => boxes(sel).forEach(([_, l]) =>
        texts.forEach(([t, r]) => { if (meet(l, r)) out.push(name + ': ' + what + ' | ' + t); })));
    const outside = r => r.left < edge.left - 1 || r.right > edge.right + 1 || r.top < edge.top - 1 || r.bottom > edge.bottom + 1;
    texts.forEach(([t, r]) => { if (outside(r)) out.push(name + ': cut off: ' + t); });
    boxes('.legend .bg').forEach(([_, r]) => { if (outside(r)) out.push(name + ': cut off: the legend'); });
}));
return out;
"""


def chart_clashes(browser, selector: str, settle: float = 5.0) -> list[str]:
    """What ``CHART_CLASHES`` finds in the charts under ``selector`` once plotly has laid them out at their size: nothing,
    or what still clashes after ``settle`` seconds."""
    try:
        wait_for(lambda: browser.execute_script(CHART_CLASHES, selector) == [], settle, message="charts without clashes")
    except AssertionError:
        pass
    return browser.execute_script(CHART_CLASHES, selector)


def console_errors(browser) -> list[dict]:
    """Severe console messages since the last call (the log is drained by reading it)."""
    return [e for e in browser.get_log("browser") if e.get("level") == "SEVERE"]


def external_requests(browser, origin: str) -> list[str]:
    """Resources the page loaded from anywhere but the app's own server."""
    urls = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name).concat([location.href]);")
    return [u for u in urls if not (u.startswith(origin) or u.startswith("data:") or u.startswith("blob:"))]


# -- the app as deployed, and a client of its compare page ------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
CLI = REPO / ".venv" / "bin" / "mandate-sim"
#: The defaults of the compare page (dashboards.inputs.CompareRequest): 3 policies x 10 replicates x 200 engineers x 52 weeks.
DEFAULT_COMPARISON = {"policies": ["mandate_single_tool", "free_choice", "outcome_goals"], "org": "default", "engineers": 200, "weeks": 52,
                      "replicates": 10}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command_line(pid: int) -> str:
    """A process's command line as ``ps`` shows it (the program's name, then its arguments), or '' once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            parts = f.read().split(b"\0")
        return " ".join(Path(parts[0].decode()).name if i == 0 else p.decode() for i, p in enumerate(parts) if p)[:200]
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie counts as gone)."""
    from sim.experiments.sweeps.lifeline import _alive

    return _alive(pid)


def group_pids(pgid: int) -> list[int]:
    """Live processes of process group ``pgid`` (zombies excluded)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        if fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid:
            out.append(int(d))
    return out


def rss_bytes(pids: list[int]) -> int:
    """Resident memory of these processes together (bytes)."""
    total = 0
    page = os.sysconf("SC_PAGE_SIZE")
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total


class AppProcess:
    """``mandate-sim app ARGS`` on a free loopback port, in its own process group; the whole group ends on exit."""

    def __init__(self, *args: str, log: Path, start_timeout: float = 180.0, env: dict[str, str] | None = None):
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = [str(CLI), "app", "--host", "127.0.0.1", "--port", str(self.port), *args]
        self.log_path = Path(log)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "AppProcess":
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, cwd=REPO, env=self.env, start_new_session=True)
        try:
            self.wait_ready()
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        end = time.monotonic() + self.start_timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError(f"mandate-sim app stopped with {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if requests.get(self.url + "/", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise AssertionError(f"mandate-sim app did not answer within {self.start_timeout:.0f} s:\n{self.log()[-3000:]}")

    def pids(self) -> list[int]:
        """Every live process of the app's group (the app, its run workers, gunicorn and its workers)."""
        return group_pids(self.pid)

    def stop_group(self, grace: float = 10.0) -> list[int]:
        """SIGTERM the whole group, then SIGKILL what is left after ``grace`` seconds; the pids that needed SIGKILL."""
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
            left = self.pids()
            if not left:
                return []
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return []
            end = time.monotonic() + wait
            while self.pids() and time.monotonic() < end:
                time.sleep(0.1)
            if sig == signal.SIGTERM and not self.pids():
                return []
        return left

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None:
            self.stop_group()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        if getattr(self, "_log", None):
            self._log.close()


def _parse_id(raw: str) -> Any:
    return json.loads(raw) if raw.startswith("{") else raw


def _outputs(spec: str) -> list[dict]:
    """The outputs of a callback from its dependency string ('..a.b...c.d..' or 'a.b')."""
    parts = spec[2:-2].split("...") if spec.startswith("..") else [spec]
    outs = []
    for p in parts:
        cid, prop = p.rsplit(".", 1)
        outs.append({"id": _parse_id(cid), "property": prop.split("@")[0]})
    return outs


class ComparePage:
    """One user of the compare page: run a comparison, poll it until it shows its charts or its error."""

    def __init__(self, url: str, user: str, *, keep_alive: bool = True, timeout: float = 60.0):
        self.url = url
        self.timeout = timeout
        self.session = requests.Session()
        self.session.cookies.set("mandate_sim_user", f"user-{user}-token"[:40], domain="127.0.0.1")
        if not keep_alive:  # every request on a fresh connection: any server worker may take it
            self.session.headers["Connection"] = "close"
        self.deps = self.session.get(url + "/_dash-dependencies", timeout=timeout).json()
        self.run_cb = self._find("cmp-job.data", "cmp-run")
        self.show_cb = self._find("cmp-status.children", "cmp-job")

    def _find(self, output: str, first_input: str) -> dict:
        for cb in self.deps:
            if output in cb["output"] and cb["inputs"] and cb["inputs"][0]["id"] == first_input:
                return cb
        raise AssertionError(f"no callback {output} <- {first_input}")

    def _call(self, cb: dict, values: dict[str, Any], changed: str | None = None) -> requests.Response:
        """POST one callback as the renderer does; ``changed``: the input that fired it ('id.property'; the first by default)."""
        def dep(d: dict) -> Any:
            name = f"{d['id']}.{d['property']}"
            if '["ALL"]' in d["id"]:
                return values.get(name, [])
            return {"id": _parse_id(d["id"]), "property": d["property"], "value": values.get(name)}

        outs = _outputs(cb["output"])
        body = {"output": cb["output"], "outputs": outs if len(outs) > 1 else outs[0], "inputs": [dep(d) for d in cb["inputs"]],
                "state": [dep(d) for d in cb.get("state", [])], "changedPropIds": [changed or f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}"]}
        return self.session.post(self.url + "/_dash-update-component", json=body, timeout=self.timeout)

    def load(self, path: str = "/compare") -> float:
        """Load a page as a browser's first request does (its HTML); seconds. Raises on a status other than 200."""
        t0 = time.perf_counter()
        r = self.session.get(self.url + path, timeout=self.timeout)
        r.raise_for_status()
        return time.perf_counter() - t0

    def submit(self, *, seed: int, policies: list[str] | None = None, engineers: int | None = None, weeks: int | None = None,
               replicates: int | None = None) -> tuple[int, dict | None, str]:
        """Press Run: (HTTP status, the job (None when refused), the error shown ('' when none))."""
        d = DEFAULT_COMPARISON
        values = {"cmp-run.n_clicks": 1, "cmp-policies.value": policies or d["policies"], "cmp-org.value": d["org"],
                  "cmp-n.value": engineers or d["engineers"], "cmp-w.value": weeks or d["weeks"], "cmp-r.value": replicates or d["replicates"],
                  "cmp-seed.value": seed, "cmp-files.data": []}
        r = self._call(self.run_cb, values)
        if r.status_code != 200:
            return r.status_code, None, r.text[:500]
        resp = r.json()["response"]
        error = resp.get("cmp-error", {}).get("children") or ""
        job = resp.get("cmp-job", {}).get("data")
        return 200, job, error if not job else ""

    def poll(self, job: dict, tick: int = 1) -> tuple[int, str, str]:
        """Ask once, as the page's interval does (a running job's poll is held until it ends, at most
        dashboards.polling.HOLD_S): (HTTP status, 'done' | 'failed' | 'waiting', the status or error text)."""
        r = self._call(self.show_cb, {"cmp-job.data": job, "cmp-poll.n_intervals": tick}, changed="cmp-poll.n_intervals")
        if r.status_code != 200:
            return r.status_code, "failed", r.text[:500]
        resp = r.json()["response"]
        err = resp.get("cmp-error", {})
        if err.get("is_open"):
            return 200, "failed", str(err.get("children"))
        if resp.get("cmp-poll", {}).get("disabled") is True:
            return 200, "done", ""
        return 200, "waiting", str(resp.get("cmp-status", {}).get("children") or "")

    def wait(self, job: dict, timeout: float, every: float = 0.5) -> tuple[str, str, list[str]]:
        """Poll until done or failed: (state, text, the status texts seen while waiting)."""
        end = time.monotonic() + timeout
        seen: list[str] = []
        tick = 0
        while True:
            tick += 1
            status, state, text = self.poll(job, tick)
            if status != 200:
                return f"http {status}", text, seen
            if state != "waiting":
                return state, text, seen
            seen.append(text)
            if time.monotonic() > end:
                return "timeout", text, seen
            time.sleep(every)
