"""The Classroom in a real headless chromium at 1280x720: every step fits without scrolling (and in presentation mode),
the sentences on the page are those computed from the story's runs, the engineer grid animates with the weeks, play
stops at the end with the axes of the whole horizon, and a prediction dragged (or clicked) into place is shown against
the result. One server (``mandate-sim app``, in its own process group) and one browser serve the whole module."""

from __future__ import annotations

import json

import pytest

from browser_support import browser_session, chart_clashes, console_errors, css, served_app, wait_for

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 1280, 720


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("classroom-root")) as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(server):
    with browser_session((WIDTH, HEIGHT)) as b:  # the viewport, not the window, is 1280x720
        yield b


def sentences(b) -> list[str]:
    return [e.text for e in css(b, "#cls-numbers .cls-sentence")]


def week(b) -> int:
    return int(css(b, "#cls-week [role='slider']")[0].get_attribute("aria-valuenow"))


def graph(b) -> dict:
    """The chart as plotly.js draws it: each trace's name, x, marker colours; and the axes' ranges."""
    return json.loads(b.execute_script(
        "const g = document.querySelector('#cls-graph .js-plotly-plot'); if (!g || !g._fullData) return 'null';"
        "return JSON.stringify({traces: g._fullData.map(t => ({name: t.name, x: Array.from(t.x || []), colour: t.marker ? t.marker.color : null})),"
        " x: g._fullLayout.xaxis ? g._fullLayout.xaxis.range : null, y: g._fullLayout.yaxis ? g._fullLayout.yaxis.range : null,"
        " title: g._fullLayout.title ? g._fullLayout.title.text : '',"
        " sentence: (document.querySelector('#cls-numbers .cls-sentence') || {}).textContent || ''});"))


def fits(b) -> dict:
    """What scrolls or sticks out of the 1280x720 viewport."""
    return b.execute_script("""
        const d = document.documentElement, f = document.querySelector('.cls-footer').getBoundingClientRect();
        const g = document.querySelector('#cls-graph').getBoundingClientRect();
        return {scrollX: d.scrollWidth > innerWidth, scrollY: d.scrollHeight > innerHeight, footer: f.bottom > innerHeight + 0.5 || f.top < 0,
                chart: g.bottom > f.top + 0.5 || g.height < 200, wide: d.scrollWidth, high: d.scrollHeight};""")


def open_step(b, server, step: int, extra: str = "", ready: str = ".cls-sentence") -> None:
    b.get(f"{server.url}/classroom?step={step}{extra}")
    wait_for(lambda: css(b, "#cls-title")[0].text.startswith(f"{step}."), 30, message=f"step {step}")
    if ready:
        wait_for(lambda: css(b, ready), 90, message=f"{ready} on step {step}")


def test_every_step_fits_the_screen_without_scrolling(server, browser):
    from selenium.webdriver.common.keys import Keys

    console_errors(browser)
    open_step(browser, server, 1)
    for step in range(1, 9):  # step 9 last of all (test_the_closing_step_fits): its explanation keeps the run worker busy
        if step > 1:  # the right arrow key moves on
            css(browser, "body")[0].send_keys(Keys.ARROW_RIGHT)
            wait_for(lambda: css(browser, "#cls-title")[0].text.startswith(f"{step}."), 30, message=f"step {step}")
        ready = "#cls-reveal:not([style*='none'])" if step in (2, 4, 5, 6) else ".cls-sentence"
        wait_for(lambda: css(browser, ready), 90, message=f"{ready} on step {step}")
        got = fits(browser)
        assert not (got["scrollX"] or got["scrollY"] or got["footer"] or got["chart"]), (step, got)
        assert chart_clashes(browser, "#cls-graph") == [], step
    open_step(browser, server, 3)
    css(browser, "body")[0].send_keys("f")
    wait_for(lambda: browser.execute_script("return document.body.classList.contains('cls-present')"), 10, message="presentation mode")
    wait_for(lambda: not css(browser, "nav.navbar")[0].is_displayed(), 10, message="the navigation bar hidden")
    got = fits(browser)
    assert not (got["scrollX"] or got["scrollY"] or got["footer"] or got["chart"]), got
    css(browser, "body")[0].send_keys("f")
    wait_for(lambda: css(browser, "nav.navbar")[0].is_displayed(), 10, message="the navigation bar back")
    css(browser, "body")[0].send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: css(browser, "#cls-title")[0].text.startswith("4."), 30, message="step 4 by the arrow key")
    assert console_errors(browser) == []


def test_the_sentences_on_the_page_are_those_of_the_runs(server, browser):
    from dashboards import story
    from dashboards.pages.classroom import REPLICATES, SEED, story_specs
    from sim.experiments.runner import run_scenarios

    specs = story_specs("default")[:2]  # the mandate and free choice: paired seeds, so the same runs as in the story's three
    data = story.StoryData(run_scenarios(specs, replicates=REPLICATES, seed=SEED), specs)
    for step, at in ((3, 52), (3, 20)):
        open_step(browser, server, step, f"&week={at}")
        expected = [s.text for s in story.step_sentences(story.STEPS[step - 1], data, None, at)]
        assert wait_for(lambda: sentences(browser) == expected and expected, 30, message=f"the sentences of step {step} at week {at}")
    open_step(browser, server, 1)
    assert sentences(browser) == [s.text for s in story.org_sentences(specs[0].organisation)]


def test_the_engineer_grid_animates_with_the_weeks(server, browser):
    open_step(browser, server, 7, "&week=40")
    wait_for(lambda: graph(browser) and "week 40" in graph(browser)["title"], 30, message="the grid at week 40")
    late = graph(browser)["traces"][0]["colour"]
    text = sentences(browser)
    from selenium.webdriver.common.keys import Keys

    handle = css(browser, "#cls-week [role='slider']")[0]
    handle.click()
    handle.send_keys(Keys.HOME)
    wait_for(lambda: "week 1" in graph(browser)["title"], 30, message="the grid at week 1")
    early = graph(browser)["traces"][0]["colour"]
    assert early != late and len(early) == len(late) > 100
    assert sentences(browser) != text and "Week 1," in sentences(browser)[0]


def test_play_stops_at_the_end_with_the_axes_of_the_whole_horizon(server, browser):
    open_step(browser, server, 3, "&week=36")
    from selenium.webdriver.support.ui import Select

    Select(css(browser, "#cls-speed")[0]).select_by_value("8")
    wait_for(lambda: graph(browser)["x"] is not None, 30, message="the chart")
    css(browser, "#cls-play")[0].click()
    seen = []
    wait_for(lambda: (seen.append(graph(browser)) or "Play" in css(browser, "#cls-play")[0].text and week(browser) == 52), 60,
             interval=0.15, message="play to stop at week 52")
    shown = [(int(g["sentence"].split(":")[0].split()[-1]), g) for g in seen if g["sentence"].startswith("Week ")]  # chart and sentences drawn together
    playing = [(w, g) for w, g in shown if 36 < w < 52]
    assert playing, "no week between the start and the end was seen"
    for w, g in playing:
        assert [round(v, 6) for v in g["x"]] == [1, 52], (w, g["x"])
        assert g["y"] == seen[-1]["y"], (w, g["y"])
        assert max(max(t["x"], default=0) for t in g["traces"]) == w  # the lines grow on fixed axes
    assert "Play" in css(browser, "#cls-play")[0].text and week(browser) == 52


def guess_axis(b) -> dict:
    """The prediction canvas as plotly.js draws it: the y axis's range and length in pixels, the guess line's height and
    label, and whether the chart's shapes can be dragged."""
    return json.loads(b.execute_script(
        "const g = document.querySelector('#cls-graph .js-plotly-plot'), ya = g._fullLayout.yaxis, s = g._fullLayout.shapes[0] || {};"
        "return JSON.stringify({range: ya.range, pixels: ya._length, y: s.y0, label: s.label ? s.label.text : null,"
        " drag: !!(g._context.edits || {}).shapePosition});"))


def test_a_prediction_is_dragged_into_place_and_shown_against_the_result(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    open_step(browser, server, 4, ready="#cls-reveal:not([style*='none'])")
    assert sentences(browser) == []  # nothing given away before the reveal
    status = lambda: css(browser, "#cls-prediction")[0].text  # noqa: E731
    assert "drag the line (or click) to the class's guess, then press Reveal" in status()
    handle = wait_for(lambda: css(browser, "#cls-graph .shapelayer path[style*='move']"), 30, message="the guess line's drag handle")[0]
    start = guess_axis(browser)
    (low, high), per_pixel = start["range"], (start["range"][1] - start["range"][0]) / start["pixels"]
    assert start["drag"] and "drag me" in start["label"] and start["y"] == pytest.approx((low + high) / 2)  # in the middle at first
    ActionChains(browser, duration=50).click_and_hold(handle).move_by_offset(0, -40).move_by_offset(0, -60).release().perform()  # 100 px up
    dragged = wait_for(lambda: "The class predicts" in (t := status()) and t, 30, message="the dragged guess")
    value = float(dragged.split("predicts ")[1].split("%")[0]) / 100  # step 4 predicts the true gain, in percent
    assert value == pytest.approx(start["y"] + 100 * per_pixel, abs=3 * per_pixel + 0.001), (dragged, start)
    assert wait_for(lambda: guess_axis(browser)["y"] == pytest.approx(value, abs=0.001), 10, message="the line where it was dropped")
    plot = css(browser, "#cls-graph .nsewdrag")[0]  # a click at another height (below the middle) still places the guess
    ActionChains(browser).move_to_element_with_offset(plot, 10, plot.size["height"] // 4).click().perform()
    predicted = wait_for(lambda: "The class predicts" in (t := status()) and t != dragged and t, 30, message="the clicked guess")
    assert float(predicted.split("predicts ")[1].split("%")[0]) / 100 < start["y"]
    css(browser, "#cls-reveal")[0].click()
    shown = wait_for(lambda: "Your prediction for week 52" in (t := status()) and t, 30, message="the reveal")
    guess = predicted.split("predicts ")[1].rstrip(". Press Reveal")
    assert guess in shown and "the runs:" in shown
    assert any(t["name"] == "your prediction" for t in graph(browser)["traces"])
    assert sentences(browser) and not guess_axis(browser)["drag"]  # the revealed chart's shapes stay where they are


def test_the_closing_step_fits_the_screen_too(server, browser):
    from selenium.webdriver.common.keys import Keys

    open_step(browser, server, 8)  # then on to the last step, whose explanation starts only when the class gets there
    css(browser, "body")[0].send_keys(Keys.ARROW_RIGHT)
    wait_for(lambda: css(browser, "#cls-title")[0].text.startswith("9."), 30, message="step 9")
    # while the explanation runs: an empty chart that says so, not step 8's chart under step 9's title, nor bare axes
    chart = browser.execute_script("const g = document.querySelector('#cls-graph .js-plotly-plot');"
                                   "return [g._fullData.length, g._fullLayout.xaxis.visible, g.querySelector('.annotation-text').textContent];")
    assert chart == [0, False, "The chart appears here when the runs are done."], chart
    assert wait_for(lambda: css(browser, "#cls-status")[0].text, 10, message="the status line").startswith(("explaining", "waiting"))
    wait_for(lambda: css(browser, "#cls-numbers .cls-sentence"), 180, message="the explanation")
    got = fits(browser)
    assert not (got["scrollX"] or got["scrollY"] or got["footer"] or got["chart"]), got
    assert chart_clashes(browser, "#cls-graph") == []
