"""The app in a real headless chromium: pages load cleanly and offline, a comparison renders its charts, a lab slider
changes a result, the classroom steps advance, a shared link reproduces the view, an invalid upload shows the CLI's
message, and the sweep explorer opens a real sweep folder. One server (``mandate-sim app``: gunicorn, in its own process
group) and one browser serve the whole module."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from browser_support import browser_session, chart_clashes, console_errors, css, external_requests, served_app, wait_for

from sim.analysis.figures import policy_labels
from sim.model.metrics import METRICS

pytestmark = pytest.mark.browser

SMALL = "n=40&w=12&seed=2"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data-root")


@pytest.fixture(scope="module")
def server(data_root):
    with served_app(data_root) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(server):
    with browser_session() as b:
        yield b


def graph_data(b, selector: str) -> str:
    """The plotted data of a chart, as JSON (x and y of every trace, decoded as plotly.js draws them)."""
    return b.execute_script(
        "const g = document.querySelector(arguments[0] + ' .js-plotly-plot'); if (!g || !g._fullData) return null;"
        "return JSON.stringify(g._fullData.map(t => [t.name, Array.from(t.x || []), Array.from(t.y || [])]));", selector)


def comparison_ready(b, count: int = 10):
    """True once every chart of a comparison is drawn with data."""
    n = b.execute_script(
        "return Array.from(document.querySelectorAll('.cmp-graph .js-plotly-plot')).filter(g => g.data && g.data.length > 0).length;")
    return n >= count


def test_every_page_loads_without_console_errors_or_outside_requests(server, browser):
    ready = {
        "/": "a.btn",
        "/compare?p=mandate_single_tool,free_choice&r=2&" + SMALL: None,
        "/lab?r=2&" + SMALL: "#lab-trajectory .js-plotly-plot .scatterlayer .trace",  # the baseline alone until a lever moves
        "/info": "#info-mechanisms p",
        "/classroom": "#cls-graph .js-plotly-plot .bars",
        "/model": "#model-doc .mechanism",
        "/sweeps": "#react-entry-point",
    }
    console_errors(browser)
    for path, selector in ready.items():
        browser.get(server.url + path)
        if selector is None:
            wait_for(lambda: comparison_ready(browser), 90, message=f"the charts of {path}")
        else:
            wait_for(lambda: css(browser, selector), 60, message=f"{selector} on {path}")
        assert console_errors(browser) == [], path
        assert external_requests(browser, server.url) == [], path
        endless = browser.execute_script("return document.getAnimations().filter(a => a.playState === 'running' && a.effect "
                                         "&& a.effect.getComputedTiming().iterations === Infinity).map(a => a.animationName || 'animation')")
        assert endless == [], f"{path}: endless animations while nothing runs ({endless}); a hidden striped progress bar kept a core busy"


def test_a_comparison_renders_the_expected_charts_table_and_takeaways(server, browser):
    names = ["mandate_single_tool", "free_choice", "outcome_goals"]
    browser.get(server.url + f"/compare?p={','.join(names)}&r=3&" + SMALL)
    wait_for(lambda: comparison_ready(browser), 90, message="ten charts")
    legends = set(browser.execute_script(
        "return Array.from(document.querySelectorAll('.cmp-graph .legendtext')).map(e => e.textContent);"))
    titles = {"80% weekly-usage mandate, in-house tool only", "Free choice of vetted tools", "Outcome goals, tool choice and safe feedback"}
    assert titles <= legends and not set(names) & legends, "policies by title"
    assert {METRICS[m].label for m in ("genuine_use_share", "forced_use_share", "token_use_share")} <= legends
    titles = " ".join(e.text for e in css(browser, ".cmp-graph .gtitle"))
    for words in ("genuine, forced and token", "measurement gap", "cycle time", "trust, safety", "fatigue and attrition", "by seniority", "by task type"):
        assert words in titles.lower()
    headers = [th.text for th in css(browser, "#cmp-summary th")]
    assert headers[1:] == ["80% weekly-usage mandate, in-house tool only", "Free choice of vetted tools", "Outcome goals, tool choice and safe feedback"]
    rows = [td.text for td in css(browser, "#cmp-summary tbody tr td:first-child")]
    assert METRICS["trust_leadership"].title in rows and not set(rows) & set(METRICS), "rows are named by label with unit"
    assert 3 <= len(css(browser, "#cmp-takeaway-list li")) <= 8


def test_a_shared_link_reproduces_the_view(server, browser):
    browser.get(server.url + "/compare?p=mandate_single_tool,free_choice&r=2&" + SMALL)
    wait_for(lambda: comparison_ready(browser), 90, message="the first comparison")
    before = graph_data(browser, "[id*='weekly_active']")
    seed = css(browser, "#cmp-seed")[0]
    seed.clear()
    seed.send_keys("7")
    css(browser, "#cmp-run")[0].click()
    link = wait_for(lambda: (v := css(browser, ".share-link")[0].get_attribute("value")) and "seed=7" in v and v, 60, message="a link with seed 7")
    wait_for(lambda: graph_data(browser, "[id*='weekly_active']") not in (None, before), 90, message="the rerun's charts")
    wait_for(lambda: comparison_ready(browser), 90, message="all charts of the rerun")
    shown = {name: graph_data(browser, f"[id*='{name}']") for name in ("weekly_active", "gap", "people")}
    assert browser.current_url == link
    browser.get("about:blank")
    browser.get(link)
    wait_for(lambda: comparison_ready(browser), 90, message="the shared view")
    assert css(browser, "#cmp-seed")[0].get_attribute("value") == "7"
    assert {name: graph_data(browser, f"[id*='{name}']") for name in shown} == shown


def test_a_lab_slider_changes_the_result(server, browser):
    from selenium.webdriver.common.keys import Keys

    browser.get(server.url + "/lab?base=mandate_single_tool&r=2&" + SMALL)

    def what_if_use():
        rows = [[td.text for td in tr.find_elements("css selector", "td")] for tr in css(browser, "#lab-summary tbody tr")]
        return next((r[2] for r in rows if r and r[0] == METRICS["weekly_active_share"].title), None)

    def baseline_use():
        rows = [[td.text for td in tr.find_elements("css selector", "td")] for tr in css(browser, "#lab-summary tbody tr")]
        return next((r[1] for r in rows if r and r[0] == METRICS["weekly_active_share"].title), None)

    wait_for(lambda: css(browser, "#lab-trajectory .js-plotly-plot .scatterlayer .trace"), 60, message="the baseline's trajectory")
    thumb = wait_for(lambda: css(browser, '[data-path="policy.usage_target"] [role="slider"]'), 30, message="the usage target's slider")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", thumb)
    thumb.click()
    thumb.send_keys(Keys.HOME)
    wait_for(lambda: "policy.usage_target%3D0" in css(browser, ".share-link")[0].get_attribute("value"), 30, message="the link to carry the new target")
    after = wait_for(what_if_use, 60, message="the what-if result against the baseline")
    assert float(after.rstrip("%")) < float(baseline_use().rstrip("%"))


def test_the_classroom_steps_advance_and_the_weeks_play(server, browser):
    from selenium.webdriver.common.keys import Keys

    browser.get(server.url + "/classroom")
    title = lambda: css(browser, "#cls-title")[0].text  # noqa: E731
    wait_for(lambda: title().startswith("1."), 30, message="step 1")
    body = css(browser, "body")[0]
    body.send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: title().startswith("2."), 30, message="step 2 by the right arrow")
    css(browser, "#cls-next")[0].click()
    wait_for(lambda: title().startswith("3."), 30, message="step 3 by the button")
    body.send_keys(Keys.ARROW_LEFT)
    wait_for(lambda: title().startswith("2."), 30, message="back to step 2")
    body.send_keys(Keys.ARROW_RIGHT)  # step 3 (step 2 first asks for the class's prediction)
    wait_for(lambda: title().startswith("3."), 30, message="step 3 again")
    wait_for(lambda: "Week 52" in css(browser, "#cls-numbers")[0].text, 60, message="the numbers of week 52")
    week = lambda: int(css(browser, "#cls-week [role='slider']")[0].get_attribute("aria-valuenow"))  # noqa: E731
    body.send_keys(Keys.SPACE)
    wait_for(lambda: 1 <= week() < 52 and "Pause" in css(browser, "#cls-play")[0].text, 30, message="the weeks to play")
    first = week()
    wait_for(lambda: week() > first, 30, message="the next week")
    body.send_keys(Keys.SPACE)
    wait_for(lambda: "Play" in css(browser, "#cls-play")[0].text, 30, message="pause")
    wait_for(lambda: f"Week {week()}:" in css(browser, "#cls-numbers")[0].text, 10, message="the numbers of the week shown")
    assert "step=3" in browser.current_url


def test_an_invalid_upload_shows_the_cli_message(server, browser, tmp_path, monkeypatch, capsys):
    from sim.cli import main

    bad = tmp_path / "too_keen.yaml"
    bad.write_text("extends: mandate_single_tool\npolicy:\n  usage_target: 1.5\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["compare", bad.name, "free_choice"]) == 2
    cli_message = capsys.readouterr().err.strip()
    browser.get(server.url + "/compare?p=mandate_single_tool,free_choice&r=1&" + SMALL)
    wait_for(lambda: css(browser, "#cmp-upload-scenario input[type=file]"), 30, message="the upload box")
    css(browser, "#cmp-upload-scenario input[type=file]")[0].send_keys(str(bad))
    shown = wait_for(lambda: css(browser, ".upload-error")[0].text.strip(), 30, message="the upload's error")
    assert shown == cli_message
    assert "too_keen.yaml: field 'policy.usage_target' value 1.5" in shown


def test_the_sweep_explorer_opens_a_sweep_folder_under_the_root_only(server, browser, data_root):
    try:
        import sim.analysis  # noqa: F401
        import sim.experiments.sweeps  # noqa: F401
    except ModuleNotFoundError:
        pytest.skip("sim.sweep and sim.analysis are not there yet")
    spec = data_root / "spec.yaml"
    spec.write_text(
        "scenario: mandate_single_tool\ndesign: sobol\nsamples: 4\nreplicates: 1\nseed: 1\nengineers: 20\nweeks: 6\n"
        "parameters:\n  policy.usage_enforcement: [0.0, 1.0]\n  policy.feedback_safety: [0.0, 1.0]\noutputs: [true_gain, trust_leadership]\n",
        encoding="utf-8",
    )
    cli = str(Path(sys.executable).with_name("mandate-sim"))
    done = subprocess.run([cli, "sweep", str(spec), "--out", str(data_root / "sw"), "--workers", "1"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    browser.get(server.url + "/sweeps?folder=sw")
    wait_for(lambda: graph_data(browser, "#sweep-heatmap") not in (None, "[]"), 60, message="the heatmap")
    wait_for(lambda: graph_data(browser, "#sweep-parallel") not in (None, "[]"), 60, message="the parallel coordinates")
    assert "policy.usage_enforcement" in css(browser, "#sweep-info")[0].text
    browser.get(server.url + "/sweeps?folder=..")
    shown = wait_for(lambda: css(browser, "#sweep-error")[0].text.strip(), 30, message="the refusal")
    assert "outside the data root" in shown


def test_why_explains_the_pair_the_user_picks_with_progress_and_a_cached_answer(server, browser):
    browser.get(server.url + "/compare?p=mandate_single_tool,free_choice&r=2&" + SMALL)
    wait_for(lambda: comparison_ready(browser), 90, message="the comparison")
    wait_for(lambda: css(browser, "#why-box") and css(browser, "#why-box")[0].is_displayed(), 30, message="the Why? box")
    css(browser, "#why-run")[0].click()
    reading = lambda: css(browser, "#why-reading")[0].text  # noqa: E731
    titles = policy_labels(["mandate_single_tool", "free_choice"])  # the policies by title, as everywhere else on the page
    wait_for(lambda: f"“{titles['free_choice']}”" in reading() and f"“{titles['mandate_single_tool']}”" in reading(), 90, message="the reading")
    bars = graph_data(browser, "#why-graph")
    x = json.loads(bars)[0][1]
    assert x[0] == titles["mandate_single_tool"] and x[-1] == titles["free_choice"] and len(x) >= 4, x
    assert "Shapley" in css(browser, "#why-method")[0].text
    browser.execute_script("document.getElementById('why-graph').scrollIntoView({block: 'center'});")
    assert chart_clashes(browser, "#why-graph") == []  # the long titles of the policies wrap in the subtitle; the toolbar covers nothing
    first = reading()
    css(browser, "#why-run")[0].click()  # the same pair again: from the cache, the same answer
    wait_for(lambda: reading() == first, 10, message="the cached reading")
    assert console_errors(browser) == []
