"""The what-if lab, the Info and the Model pages in a real headless chromium at 1280x720, and `mandate-sim app` as a
teacher starts it: a lab value applies on Enter, the trajectory and the breakeven show, "Save as scenario" downloads a
file the CLI runs, the lab explains itself before anything differs, the Info page's links open their views, the Model
page's "[0, 1]" is not a link, and no page is wider than the window.

One server and one browser serve the module. The server's terminal is under test too: it counts as started when it
prints its address (rather than when GET / first answers), and GET / must answer then; the requests the browser makes
must print nothing there (no access log unless asked, no development-server warning)."""

from __future__ import annotations

import re
import time

import pytest
import requests

from browser_support import AppProcess, browser_session, chart_clashes, console_errors, css, wait_for


pytestmark = pytest.mark.browser

#: A lever that costs before it pays: 16 training hours under free choice, against free choice.
TRAINING = "/lab?base=free_choice&pin=free_choice&n=40&w=30&r=2&seed=2&set=policy.training_hours%3D16"
URL_LINE = re.compile(r"mandate-sim app on (http://\S+)")


class TeacherApp(AppProcess):
    """``mandate-sim app`` as browser_support.AppProcess starts it (its own process group, its terminal in a file), ready
    when its terminal prints the address rather than when GET / first answers: at that moment GET / must answer."""

    def wait_ready(self) -> None:
        end = time.monotonic() + self.start_timeout
        while time.monotonic() < end:
            text = self.log()
            if m := URL_LINE.search(text):
                self.first_answer = requests.get(m.group(1), timeout=10).status_code
                self.announced_at = len(text)
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"mandate-sim app stopped with {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.05)
        raise AssertionError(f"mandate-sim app printed no address within {self.start_timeout:.0f} s:\n{self.log()[-3000:]}")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("teacher")
    with TeacherApp("--workers", "1", "--server-workers", "2", "--data-root", str(folder), log=folder / "terminal.txt") as app:
        yield app
        left = app.stop_group()
    assert not left, f"still running after SIGTERM to the app's group: {left}"  # tests/test_app_stopping.py checks each way of stopping


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
    with browser_session((1280, 720), downloads=tmp_path_factory.mktemp("downloads")) as b:
        yield b


#: The lab's charts.
CHARTS = "#lab-trajectory, #lab-cumulative, #lab-gap, #lab-adoption"


def graph_traces(b, selector: str) -> list:
    """(name, x, y) of every trace of a chart as plotly.js draws it."""
    return b.execute_script(
        "const g = document.querySelector(arguments[0] + ' .js-plotly-plot'); if (!g || !g._fullData) return null;"
        "return g._fullData.map(t => [t.name, Array.from(t.x || []), Array.from(t.y || [])]);", selector)


def table_rows(b) -> dict[str, list[str]]:
    return {tr.get_attribute("data-metric"): [td.text for td in tr.find_elements("css selector", "td")] for tr in css(b, "#lab-summary tbody tr")}


def overflow(b) -> list[str]:
    """Elements that reach past the window's right edge (none may: no horizontal scrollbar)."""
    return b.execute_script("""
        const vw = document.documentElement.clientWidth;
        const wide = document.documentElement.scrollWidth > vw ? ['document ' + document.documentElement.scrollWidth] : [];
        return wide.concat(Array.from(document.querySelectorAll('body *')).filter(e => {
            if (e.closest('svg, .js-plotly-plot, .table-responsive, .lab-controls, .model-toc')) return false;
            const r = e.getBoundingClientRect(); return r.width > 0 && r.right > vw + 1;
        }).slice(0, 5).map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)));
    """)


def test_the_address_is_printed_once_the_app_answers(server):
    assert server.first_answer == 200
    assert "development server" not in server.log().lower()


def test_before_anything_differs_the_lab_explains_itself_instead_of_a_table_of_zeros(server, browser):
    browser.get(server.url + "/lab?base=mandate_single_tool&n=40&w=12&r=2&seed=2")
    wait_for(lambda: graph_traces(browser, "#lab-trajectory"), 60, message="the baseline's trajectory")
    intro = css(browser, "#lab-intro")[0]
    assert intro.is_displayed() and "Change a lever" in intro.text and "Enter" in intro.text
    assert not css(browser, "#lab-summary") and not css(browser, "#lab-breakeven-text")
    assert {t[0].removesuffix(" band") for t in graph_traces(browser, "#lab-trajectory") if t[0]} == {"baseline"}
    assert overflow(browser) == []


def test_an_uploaded_organisation_is_chosen_with_its_size(server, browser, tmp_path):
    org = tmp_path / "small_team.yaml"
    org.write_text("extends: junior_boilerplate\nsize: 50\nteam_size: 5\n", encoding="utf-8")
    css(browser, "#lab-upload-org input[type=file]")[0].send_keys(str(org))
    wait_for(lambda: css(browser, "#lab-n")[0].get_attribute("value") == "50", 30, message="the file's size in the engineers field")
    assert "small_team.yaml" in css(browser, "#lab-org")[0].text and "50" in css(browser, "#lab-org-note")[0].text
    wait_for(lambda: re.search(r"org=upload%3A[0-9a-f]+&n=50&", css(browser, ".share-link")[0].get_attribute("value")), 30,
             message="the link to carry the uploaded organisation")


def test_a_lever_that_costs_first_shows_its_trajectory_and_breakeven(server, browser):
    browser.get(server.url + TRAINING)
    wait_for(lambda: css(browser, "#lab-summary"), 90, message="the lab's table")
    names = {t[0] for t in graph_traces(browser, "#lab-trajectory")}
    assert {"baseline", "what-if"} <= names
    note = wait_for(lambda: css(browser, "#lab-breakeven-text"), 30, message="the breakeven")[0]
    week = int(note.get_attribute("data-week"))
    assert note.get_attribute("data-kind") == "after_cost" and f"Breakeven at week {week}" in note.text
    line = next(t for t in graph_traces(browser, "#lab-cumulative") if t[0] == "what-if minus baseline")
    cum = dict(zip(line[1], line[2]))
    assert all(v > 0 for w, v in cum.items() if w >= week) and cum[week - 1] <= 0, "the week from which it stays above the baseline"
    assert not css(browser, "#lab-intro")[0].is_displayed()
    for g in css(browser, f"{CHARTS} .js-plotly-plot"):  # hovering shows the toolbar
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", g)
    assert chart_clashes(browser, CHARTS) == []  # no title under another, under the toolbar or cut off at 1280 px
    changes = [row[3] for row in table_rows(browser).values()]
    assert changes and not [c for c in changes if re.match(r"[+-]0(\.0+)?( |$)", c)], changes
    assert overflow(browser) == []


def test_a_lab_value_applies_on_enter_without_leaving_the_field(server, browser):
    from selenium.webdriver.common.keys import Keys

    browser.get(server.url + TRAINING)
    wait_for(lambda: css(browser, "#lab-summary"), 90, message="the lab's table")
    before = table_rows(browser)
    field = css(browser, "#lab-n")[0]
    field.click()
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys("60")
    time.sleep(0.5)
    assert "n=40" in css(browser, ".share-link")[0].get_attribute("value"), "nothing applies while typing"
    field.send_keys(Keys.ENTER)
    wait_for(lambda: "n=60" in css(browser, ".share-link")[0].get_attribute("value"), 30, message="the link to carry 60 engineers")
    wait_for(lambda: (rows := table_rows(browser)) and rows != before, 90, message="the result to change")
    assert browser.switch_to.active_element.get_attribute("id") == "lab-n", "the field kept the focus"


def test_save_as_scenario_downloads_a_file_the_cli_runs(server, browser, capsys):
    from sim.cli import main
    from sim.model.scenarios import load_scenario

    browser.get(server.url + TRAINING)
    wait_for(lambda: css(browser, "#lab-summary"), 90, message="the lab")
    css(browser, "#lab-save")[0].click()
    path = wait_for(lambda: [p for p in browser.downloads.glob("*.yaml")], 30, message="the download")[0]
    sc = load_scenario(str(path))
    assert (sc.policy.training_hours, sc.weeks, sc.organisation.size) == (16, 30, 40)
    assert sc.policy.model_dump(exclude={"training_hours"}) == load_scenario("free_choice").policy.model_dump(exclude={"training_hours"})
    assert main(["run", str(path), "--weeks", "3", "--engineers", "20", "--replicates", "1"]) == 0
    capsys.readouterr()


def test_the_info_page_links_into_the_app(server, browser):
    browser.get(server.url + "/info")
    wait_for(lambda: css(browser, "#info-mechanisms p"), 30, message="the Info page")
    assert len(css(browser, "#info-phases li")) >= 9 and overflow(browser) == []
    links = [a.get_attribute("href") for a in css(browser, "#info-try-list a")]
    assert len(links) >= 5
    training = next(h for h in links if "training_hours" in h)
    anchor = next(a for a in css(browser, "#info-try-list a") if a.get_attribute("href") == training)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", anchor)
    anchor.click()
    wait_for(lambda: css(browser, "#lab-breakeven-text"), 90, message="the lab opened from Info, with its breakeven")
    assert "/lab?" in browser.current_url
    for href, selector in ((next(h for h in links if "/classroom" in h), "#cls-title"), (next(h for h in links if "/model" in h), "#model-toc")):
        browser.get(href)
        wait_for(lambda: css(browser, selector), 30, message=selector)
    assert [h for h in links if "/compare?" in h]  # what they set up is checked in tests/test_lab_info_ops.py (no run started here)
    assert console_errors(browser) == []


def test_the_model_page_has_contents_and_no_bracket_becomes_a_link(server, browser):
    browser.get(server.url + "/model")
    wait_for(lambda: css(browser, "#model-doc .mechanism"), 60, message="the document")
    texts = lambda: browser.execute_script("return Array.from(document.querySelectorAll('#model-doc p')).map(p => p.textContent)")  # noqa: E731
    wait_for(lambda: any("[0, 1]" in t for t in texts()), 30, message="the text with [0, 1] (dcc.Markdown renders after its script loads)")
    assert browser.execute_script("return Array.from(document.querySelectorAll('#model-doc a')).filter(a => /\\[|\\d, \\d/.test(a.textContent)).length") == 0
    link = css(browser, "#model-toc a[href='#m-7-26-attrition-and-hiring']")[0]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});", link)
    link.click()
    wait_for(lambda: abs(browser.execute_script("return document.getElementById('m-7-26-attrition-and-hiring').getBoundingClientRect().top")) < 80, 10,
             message="the heading scrolled into view")
    assert css(browser, "#model-doc .mechanism") and overflow(browser) == []


def test_the_teachers_terminal_shows_no_request_lines(server):
    for path in ("/", "/lab", "/info", "/model"):
        assert requests.get(server.url + path, timeout=30).status_code == 200
    time.sleep(0.5)
    after = server.log()[server.announced_at:].splitlines()
    assert not [line for line in after if re.search(r'"(GET|POST) |HTTP/1\.1', line)], after[:5]
    assert "development server" not in "".join(after).lower()
