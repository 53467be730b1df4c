"""The sweep explorer in a real headless chromium: a Latin hypercube sweep shows its scatter matrix and its Spearman
rank correlations (the numbers of sim.analysis), opens on true gain with parameters named by their declarations, downloads
its tables; a small sweep started from the page shows its progress and then opens; a range outside the declared bounds
gets a message naming the field; nothing overflows 1280x720. One server (``mandate-sim app``, in its own process group)
and one browser serve the whole module."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pandas as pd
import pytest

from browser_support import browser_session, console_errors, css, require_browser, served_app, wait_for

import sim
from sim.analysis.sensitivity import SPEARMAN_COLUMNS, format_p, parameter_title, spearman_table
from sim.experiments.sweeps import load_sweep
from sim.model.metrics import METRICS

pytestmark = pytest.mark.browser

PARAMS = {"policy.usage_enforcement": [0.0, 1.0], "policy.feedback_safety": [0.0, 1.0], "behaviour.people.attrition_trust": [0.5, 3.0]}
#: A small Latin hypercube; true gain is not the first output, so opening on it is the page's choice.
LHS = {"scenario": "mandate_single_tool", "design": "lhs", "samples": 10, "replicates": 2, "seed": 3, "engineers": 40, "weeks": 12,
       "parameters": PARAMS, "outputs": ["trust_leadership", "true_gain", "cycle_time"]}


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("sweep-root")


@pytest.fixture(scope="module")
def server(data_root):
    """The app, and the lhs sweep under its data root (written here while the server starts)."""
    require_browser()
    written: list[BaseException | None] = []
    writer = threading.Thread(target=lambda: written.append(_write(data_root)))
    writer.start()
    try:
        with served_app(data_root, server_workers=1) as srv:
            writer.join()
            if written != [None]:
                raise AssertionError(f"the lhs sweep was not written: {written}")
            yield srv
    finally:
        writer.join()


def _write(root: Path) -> BaseException | None:
    try:
        sim.sweep(LHS, root / "lhs", workers=1)
    except BaseException as e:  # reported by the fixture
        return e
    return None


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    with browser_session((1280, 720), downloads=tmp_path_factory.mktemp("downloads")) as b:  # a projector: every check in a 1280x720 viewport
        yield b


def by_id(b, id_: dict):
    """A pattern-matching component by its id (Dash writes it as JSON with sorted keys)."""
    return b.execute_script("return document.getElementById(arguments[0]);", json.dumps(id_, sort_keys=True, separators=(",", ":")))


def traces(b, selector: str) -> list | None:
    """The plotted traces of a chart: [name, x, y] each, as plotly.js draws them."""
    raw = b.execute_script(
        "const g = document.querySelector(arguments[0] + ' .js-plotly-plot'); if (!g || !g._fullData) return null;"
        "return JSON.stringify(g._fullData.map(t => [t.name, Array.from(t.x || []), Array.from(t.y || [])]));", selector)
    return None if raw is None else json.loads(raw)


def title_of(b, selector: str) -> str:
    return b.execute_script("const t = document.querySelector(arguments[0] + ' .gtitle'); return t ? t.textContent : '';", selector)


def overflow(b) -> list[str]:
    """The page's own horizontal overflow, and visible elements reaching past the viewport's right edge (an element
    clipped by an ancestor that ends inside the viewport, such as a dropdown's hidden values, is not visible there)."""
    return b.execute_script(
        "const w = document.documentElement.clientWidth; const out = [];"
        "if (document.documentElement.scrollWidth > w + 1) out.push('page ' + document.documentElement.scrollWidth + ' > ' + w);"
        "const clipped = e => { for (let a = e.parentElement; a; a = a.parentElement) {"
        "  if (['hidden', 'clip', 'auto', 'scroll'].includes(getComputedStyle(a).overflowX) && a.getBoundingClientRect().right <= w + 1) return true; }"
        "  return false; };"
        "for (const e of document.querySelectorAll('body *')) { const r = e.getBoundingClientRect();"
        "  if (r.width > 0 && r.height > 0 && r.right > w + 1 && getComputedStyle(e).visibility !== 'hidden' && !clipped(e))"
        "    out.push((e.id || e.className || e.tagName).toString().slice(0, 60) + ' ' + Math.round(r.right)); }"
        "return out.slice(0, 10);")


def chosen(b, dropdown: str) -> str:
    """The text a dropdown shows for its value."""
    return b.execute_script("const e = document.querySelector(arguments[0] + ' .dash-dropdown-value'); return e ? e.textContent : '';", dropdown)


def click(b, selector: str) -> None:
    """Click a button as a user does after scrolling to it (the page is taller than a 720 px viewport)."""
    e = css(b, selector)[0]
    b.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", e)
    e.click()


def type_into(element, text: str) -> None:
    element.clear()
    element.send_keys(text)


def open_lhs(b, url: str) -> None:
    b.get(url + "/sweeps?folder=lhs")
    wait_for(lambda: (t := traces(b, "#sweep-scatter")) and len(t) == len(PARAMS), 60, message="the scatter matrix")
    wait_for(lambda: css(b, "#sweep-table-grid tbody tr"), 30, message="the rank-correlation table")


def test_an_lhs_sweep_shows_its_scatter_matrix_and_spearman_table_on_true_gain(server, browser, data_root):
    console_errors(browser)
    open_lhs(browser, server.url)
    true_gain = METRICS["true_gain"].title
    assert chosen(browser, "#sweep-metric") == true_gain  # the default outcome
    assert title_of(browser, "#sweep-scatter").startswith(true_gain)
    frame = load_sweep(data_root / "lhs")
    scatter = traces(browser, "#sweep-scatter")
    assert all(len(x) == LHS["samples"] and len(y) == LHS["samples"] for _, x, y in scatter)
    shown_labels = " ".join(e.text for e in css(browser, "#sweep-scatter .annotation-text")).replace("\n", " ")
    for p in PARAMS:  # panels and dropdowns name parameters by their declarations, not by path
        assert parameter_title(p).split(" (")[0] in shown_labels
    assert chosen(browser, "#sweep-x") == parameter_title(next(iter(PARAMS)))
    # The Spearman table holds the numbers of sim.analysis, strongest first; the bars plot the same rho.
    expected = spearman_table(frame, ["true_gain"]).set_index("parameter")
    rows = [[td.text for td in tr.find_elements("css selector", "td")] for tr in css(browser, "#sweep-table-grid tbody tr")]
    assert [r[0] for r in rows] == [parameter_title(p) for p in expected["spearman"].abs().sort_values(ascending=False).index]
    by_label = {parameter_title(p): p for p in PARAMS}
    for label, rho, interval, pvalue, runs in rows:
        e = expected.loc[by_label[label]]
        assert rho == f"{e['spearman']:+.2f}" and interval == f"{e['low']:+.2f} to {e['high']:+.2f}" and pvalue == format_p(e["p_value"])
        assert int(runs) == LHS["samples"]
    bars = traces(browser, "#sweep-indices")[0]
    assert sorted(round(v, 6) for v in bars[1]) == sorted(round(v, 6) for v in expected["spearman"])
    assert "Rank correlation" in title_of(browser, "#sweep-indices")
    # Heatmap and parallel coordinates are there too.
    assert traces(browser, "#sweep-heatmap") and browser.execute_script("return document.querySelectorAll('#sweep-parallel .parcoords').length") > 0
    assert console_errors(browser) == []

    # Downloads: the tidy table and the correlations, ids in the columns.
    click(browser, "#sweep-dl-results")
    results = wait_for(lambda: (p := browser.downloads / "lhs-results.csv").is_file() and p.stat().st_size > 0 and p, 30, message="the results CSV")
    got = pd.read_csv(results)
    assert len(got) == len(frame) and set(PARAMS) <= set(got.columns) and set(got["metric"]) == set(LHS["outputs"])
    click(browser, "#sweep-dl-table")
    table = wait_for(lambda: (p := browser.downloads / "lhs-rank-correlations.csv").is_file() and p.stat().st_size > 0 and p, 30,
                     message="the correlations CSV")
    corr = pd.read_csv(table)
    assert list(corr.columns) == SPEARMAN_COLUMNS and len(corr) == len(PARAMS) * len(LHS["outputs"])
    # Nothing reaches past a 1280x720 viewport, with the start form open too.
    assert browser.execute_script("return [window.innerWidth, window.innerHeight]") == [1280, 720]
    assert overflow(browser) == []
    click(browser, "#swp-toggle")
    wait_for(lambda: css(browser, "#swp-name")[0].is_displayed(), 10, message="the form")
    assert overflow(browser) == []


def test_a_sweep_started_from_the_page_shows_progress_then_opens(server, browser, data_root):
    browser.get(server.url + "/sweeps")
    wait_for(lambda: css(browser, "#swp-toggle"), 30, message="the start button")
    click(browser, "#swp-toggle")
    wait_for(lambda: css(browser, "#swp-name")[0].is_displayed(), 10, message="the form")
    # A range outside the declared bounds is refused with a message naming the field as the form labels it.
    type_into(by_id(browser, {"type": "swp-high", "i": 0}), "1.5")
    click(browser, "#swp-start")
    shown = wait_for(lambda: css(browser, "#swp-error")[0].text.strip(), 30, message="the refusal")
    assert shown.startswith("error: Parameter 1: the range 0 to 1.5 lies outside the declared bounds of " + parameter_title("policy.usage_enforcement"))
    assert "(allowed: from 0 to 1" in shown and str(data_root) not in shown
    assert not (data_root / "app-sweeps").exists()  # nothing was started
    type_into(by_id(browser, {"type": "swp-high", "i": 0}), "1")
    for field, value in (("#swp-name", "from-page"), ("#swp-samples", "10"), ("#swp-engineers", "100"), ("#swp-weeks", "20"), ("#swp-replicates", "2")):
        type_into(css(browser, field)[0], value)
    wait_for(lambda: "10 design points x 2 replicates x 100 engineers x 20 weeks" in css(browser, "#swp-size")[0].text, 10, message="the size")
    browser.execute_script(  # record every status the page shows while the sweep runs
        "window.seen = []; new MutationObserver(() => window.seen.push(document.getElementById('swp-status').textContent))"
        ".observe(document.getElementById('swp-status'), {childList: true, subtree: true, characterData: true});")
    click(browser, "#swp-start")
    wait_for(lambda: chosen(browser, "#sweep-folder") == "app-sweeps/from-page", 120, message="the new sweep opened in the explorer")
    wait_for(lambda: (t := traces(browser, "#sweep-scatter")) and len(t) == 2 and len(t[0][1]) == 10, 60, message="its scatter matrix")
    seen = browser.execute_script("return window.seen;")
    assert any(s.startswith("running the sweep:") and "of 10 design points" in s for s in seen), seen
    assert "done: 10 design points written to app-sweeps/from-page" in css(browser, "#swp-status")[0].text
    folder = data_root / "app-sweeps" / "from-page"
    assert len(load_sweep(folder)["run_id"].unique()) == 10
    # A second start under the same name is refused: nothing is written over a sweep.
    type_into(css(browser, "#swp-name")[0], "from-page")
    click(browser, "#swp-start")
    shown = wait_for(lambda: css(browser, "#swp-error")[0].text.strip(), 30, message="the refusal")
    assert shown.startswith("error: Folder name: value 'from-page' exists already")
    assert overflow(browser) == []
