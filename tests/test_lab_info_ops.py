"""The what-if lab's results and forms, the Info and Model pages' content, and how `mandate-sim app` starts, without a
browser (tests/test_browser_lab.py drives the same pages in chromium and starts the app as deployed)."""

from __future__ import annotations

import http.server
import os
import re
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from sim.errors import InputError
from sim.model.channels import CHANNELS
from sim.model.metrics import METRICS
from sim.model.org import EngineeringOrg
from sim.model.scenarios import load_scenario

from dashboards.inputs import check_upload
from dashboards.lab_results import BASELINE, WHAT_IF, breakeven, cumulative_delivered, lab_task
from sim.analysis.differences import change_text
from sim.analysis.differences import signed as signed_change
from dashboards.pages import info, lab, model
from dashboards.server import wait_answering
from dashboards.state import compare_request, lab_query, lab_state

SMALL = {"n": 40, "w": 30, "r": 2, "seed": 3}


def _state(base="free_choice", sets=None, org="", files=(), pin=None) -> dict:
    return {"base": base, "org": org, **SMALL, "sets": dict(sets or {}), "pin": pin or {"base": base, "sets": {}}, "files": list(files)}


def _query(link: str) -> dict:
    parsed = parse_qs(urlsplit(link).query, keep_blank_values=True)
    return {k: v[0] if len(v) == 1 else v for k, v in parsed.items()}


# -- changes are never shown as zero ------------------------------------------------------------------------


@pytest.mark.parametrize("metric", sorted(METRICS))
def test_a_nonzero_change_always_shows_a_nonzero_digit_and_its_sign(metric):
    for x in (3e-9, -4e-7, 2.5e-5, -0.0004, 0.003, -0.049, 0.5, -7.25, 1234.5):
        text = signed_change(metric, x)
        assert text[0] == ("+" if x > 0 else "-"), text
        assert re.search(r"[1-9]", text.split(" ")[0].split("e")[0]), f"{metric}: {x} shown as {text}"
    assert signed_change(metric, 0.0).startswith("0")
    assert change_text(metric, 0.0, 0.0, 0.0).startswith("no change")


def test_a_percent_change_never_reads_as_zero_either():
    """Compare's % changes, as its changes: two significant digits at least ('-0.042%', not '-0.0%')."""
    from sim.analysis.differences import percent

    assert percent(0.1234) == "+12.3%" and percent(-0.00042) == "-0.042%" and percent(0.0) == "0%" and percent(float("nan")) == ""
    for x in (3e-11, -2e-6, 0.0004, -0.049):
        assert re.search(r"[1-9]", percent(x).split("e")[0]), percent(x)


def test_a_change_keeps_the_metrics_own_precision_when_it_is_large_enough():
    assert signed_change("weekly_active_share", 0.1234) == "+12.3 pts"
    assert signed_change("weekly_active_share", 0.0004) == "+0.040 pts"
    assert signed_change("cycle_time", -1.5) == "-1.50"
    assert change_text("weekly_active_share", 0.0004, -0.001, 0.002) == "+0.040 pts [-0.100 pts, +0.200 pts]"


# -- breakeven -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, kind, week", [
    ([-1, -2, -1, 0.5, 1, 2], "after_cost", 4),
    ([-1, 0.5, -0.1, 0.3, 0.4], "after_cost", 4),  # dips again: the breakeven is where it stays above
    ([0, 0, 0.1, 0.2], "ahead", 3),
    ([-1, -2, -0.5], "never", None),
    ([-1, 1, 0], "never", None),
    ([0, 0, 0], "same", None),
])
def test_the_breakeven_is_the_first_week_from_which_the_cumulative_difference_stays_above_zero(values, kind, week):
    b = breakeven(pd.Series(values, index=range(1, len(values) + 1)))
    assert (b.kind, b.week) == (kind, week)
    text = b.text()
    if kind == "never":
        assert "never within the horizon" in text
    if kind == "after_cost":
        assert f"Breakeven at week {week}" in text and f"week {b.deepest_week}" in text


@pytest.fixture(scope="module")
def training_bundle():
    """Free choice against free choice with 16 training hours: training costs hours before it pays."""
    specs = lab.lab_specs(_state(sets={"policy.training_hours": 16}))
    assert [s.name for s in specs] == [BASELINE, WHAT_IF]
    return lab_task(specs, SMALL["seed"], SMALL["r"])


def test_a_lever_that_costs_before_it_pays_shows_its_breakeven_week_from_the_runs(training_bundle):
    b = training_bundle
    cum = cumulative_delivered(b.results).set_index("week")["mean"]
    assert b.breakeven.kind == "after_cost", b.breakeven
    week = b.breakeven.week
    assert (cum.loc[week:] > 0).all() and cum.loc[week - 1] <= 0 and cum.min() < 0
    assert b.breakeven.deepest == pytest.approx(cum.min())
    fig = b.figures["cumulative"]
    line = next(t for t in fig["data"] if t.get("name") == f"{WHAT_IF} minus {BASELINE}")
    assert line["y"] is not None and any(s.get("x0") == week for s in fig["layout"]["shapes"]), "the breakeven week is marked"
    assert {BASELINE, WHAT_IF} <= {t.get("name") for t in b.figures["trajectory"]["data"]}


def test_the_table_shows_each_change_as_the_paired_mean_of_the_runs(training_bundle):
    t = training_bundle.table.set_index("id")
    df = training_bundle.results
    last = df[(df["metric"] == "true_gain") & (df["group"] == "all") & (df["week"] == SMALL["w"])]
    wide = last.pivot_table(index="replicate", columns="scenario", values="value", observed=True)
    mean = float((wide[WHAT_IF] - wide[BASELINE]).mean())
    shown = t.at["true_gain", "change"].split(" ")[0]
    assert float(shown) == pytest.approx(round(mean * 100, len(shown.split(".")[-1])), abs=1e-12) and mean != 0
    assert set(t["metric"]) <= {m.title for m in METRICS.values()}


def test_nothing_changed_runs_the_baseline_alone_and_shows_no_table():
    specs = lab.lab_specs(_state(base="mandate_single_tool", pin={"base": "mandate_single_tool", "sets": {}}))
    assert [s.name for s in specs] == [BASELINE]
    specs[0] = specs[0].model_copy(update={"weeks": 4, "organisation": specs[0].organisation.model_copy(update={"size": 20})})
    b = lab_task(specs, 0, 1)
    assert b.table is None and b.breakeven is None and "cumulative" not in b.figures and b.figures["trajectory"]["data"]


# -- shares, messages and the saved scenario ------------------------------------------------------------------


def test_a_partial_task_mix_is_accepted_as_the_cli_accepts_it_and_a_wrong_sum_is_named_as_the_form_names_it():
    sc = lab.base_scenario("free_choice", 40, 6)
    ids = [{"group": "organisation.seniority.junior.task_mix", "path": f"organisation.seniority.junior.task_mix.{k}"} for k in ("boilerplate", "tests_docs")]
    sets = lab.share_sets(ids, [0.25, 0.35], sc)
    assert sets == {"organisation.seniority.junior.task_mix.boilerplate": 0.25, "organisation.seniority.junior.task_mix.tests_docs": 0.35}
    cli = load_scenario("free_choice", overrides=sets, engineers=40, weeks=6)  # what `--set` does with the same two shares
    assert lab.gate("free_choice", sets=sets, engineers=40, weeks=6).organisation == cli.organisation
    with pytest.raises(InputError) as e:
        lab.share_sets(ids, [0.6, 0.35], sc)
    assert str(e.value).startswith("Task mix of junior engineers") and "sum to 1.35" in str(e.value)
    with pytest.raises(InputError) as e:
        lab.gate("free_choice", sets={"organisation.seniority.junior.skill_mean": 1.5})
    shown = lab.form_message(e.value, sc)
    assert shown.startswith("\u201cseniority junior: skill mean (skill index)\u201d") and "--set" not in shown and "/" not in shown.split("(allowed")[0]


@pytest.mark.parametrize("case", ["levers and a partial task mix", "an uploaded organisation"])
def test_save_as_scenario_writes_a_file_mandate_sim_run_takes_and_that_runs_the_what_if(case, tmp_path, capsys):
    from sim.cli import main

    if case == "an uploaded organisation":
        record = check_upload("org", "small team.yaml", b"extends: junior_boilerplate\nsize: 60\nteam_size: 5\n")
        state = _state(base="mandate_single_tool", sets={"policy.usage_target": 0.5}, org="upload:" + record["id"], files=[record])
    else:
        state = _state(sets={"policy.training_hours": 16, "policy.allowed_tools": ["inhouse"],
                             "organisation.seniority.senior.task_mix.complex_change": 0.25, "organisation.seniority.senior.task_mix.design_review": 0.35})
    name, text = lab.scenario_file(state)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    what_if = lab.lab_specs(state)[-1]
    assert lab.same_run(load_scenario(str(path)), what_if)  # the CLI's scenario reader gives the what-if, exactly
    assert main(["run", str(path), "--weeks", "3", "--engineers", "20", "--replicates", "1"]) == 0
    assert "error" not in capsys.readouterr().err.lower()


# -- the lab's link ---------------------------------------------------------------------------------------------


def test_a_lab_link_on_an_uploaded_organisation_reopens_the_same_runs():
    record = check_upload("org", "org.yaml", b"extends: default\nsize: 120\n")
    state = _state(sets={"policy.feedback_safety": 0.8}, org="upload:" + record["id"], files=[record])
    back = lab_state(_query(lab_query(state)))
    assert [s.model_dump() for s in lab.lab_specs(back)] == [s.model_dump() for s in lab.lab_specs(state)]


# -- Info and Model ---------------------------------------------------------------------------------------------


def test_info_reads_its_mechanisms_and_weekly_story_from_the_model():
    assert [name for name, _ in info.phases()] == list(EngineeringOrg.PHASES)
    assert all(text and not re.match(r"^\d", text) for _, text in info.phases())
    # read from the source (the web server does not import the model class), the same sentences as the class's own docstrings
    assert [text for _, text in info.phases()] == [re.sub(r"^\d+[a-z]?\.\s*", "", " ".join(getattr(EngineeringOrg, n).__doc__.split())) for n in EngineeringOrg.PHASES]
    mechs = info.mechanisms()
    assert len(mechs) == len(CHANNELS)
    for (label, text), ch in zip(mechs, CHANNELS.values()):
        assert label.lower() == ch.label.lower() and "held:" not in text and text.endswith(".")
        assert text[:40] in ch.description


def test_info_links_open_views_set_up_as_the_text_says():
    links = {what: href for what, _, href in info.things_to_try()}
    compares = [compare_request(_query(h)) for h in links.values() if h.startswith("/compare")]
    assert ["mandate_single_tool", "free_choice", "outcome_goals"] in [r.policies for r in compares]
    assert any(r.org == "junior_boilerplate" for r in compares)
    labs = [lab_state(_query(h)) for h in links.values() if h.startswith("/lab")]
    assert labs and all(len(lab.lab_specs(s)) == 2 for s in labs), "each lab link changes a lever against its baseline"
    assert {"/classroom"} <= {h.split("?")[0] for h in links.values()}
    assert {"/model"} <= {h.split("?")[0] for h in links.values()}


def test_the_model_document_escapes_brackets_that_are_not_links_and_its_contents_link_every_heading(app_context):
    text = model.model_doc_path().read_text(encoding="utf-8")
    assert "[0, 1]" in text
    sections = model.parse_model(text)
    escaped = [model.escape_brackets(model._local_links(s.body)) for s in sections]
    prose = "\n".join(re.sub(r"```.*?```|`[^`]*`", "", e, flags=re.S) for e in escaped)
    assert "\\[0, 1\\]" in prose and not re.search(r"(?<!\\)\[0, 1\\?\]", prose)
    assert model.escape_brackets("see [the docs](http://example.org) and `[a, b]` in [0, 1]") == "see [the docs](http://example.org) and `[a, b]` in \\[0, 1\\]"
    toc = model.contents(sections)
    hrefs = [li.children.href for li in toc.children[1].children]
    anchors = {"#" + model.anchor(s.heading) for s in sections if s.level in (2, 3) and s.heading}
    assert hrefs and set(hrefs) == anchors and len(hrefs) == len(anchors)


@pytest.fixture(scope="module")
def app_context(tmp_path_factory):
    from dashboards.app import AppConfig, create_app

    app = create_app(AppConfig(workers=0, cache_dir=tmp_path_factory.mktemp("cache")))
    with app.server.app_context():
        yield app
    app.server.config["MANDATE_SIM"].jobs.close()


# -- operations --------------------------------------------------------------------------------------------------


def test_the_address_waits_for_an_answer_and_a_server_that_stops_first_is_reported():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert wait_answering(sleeper, "127.0.0.1", server.server_address[1]) is True
    finally:
        sleeper.kill(), sleeper.wait()
        server.shutdown()
    quitter = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    assert wait_answering(quitter, "127.0.0.1", server.server_address[1]) is False
    assert quitter.wait() == 3


WARM_CHECK = textwrap.dedent("""
    import sys
    from dashboards import jobs
    from dashboards.lab_results import lab_task
    from dashboards.pages import lab
    from sim.model import kernel_calls
    def loaded():
        import numba
        seen = set()
        for mod in [m for name, m in list(sys.modules.items()) if name.startswith("sim.") and m is not None]:
            for obj in vars(mod).values():
                if isinstance(obj, numba.core.registry.CPUDispatcher):
                    seen.add(obj)
        seen |= {k.compiled for k in kernel_calls._ALL}
        return sum(len(d.overloads) for d in seen)
    assert loaded() == 0, "nothing is compiled before the warm-up"
    jobs._warm_up()
    after_warm = loaded()
    state = {"base": "outcome_goals", "org": "junior_boilerplate", "n": 60, "w": 6, "r": 2, "seed": 1, "files": [],
             "sets": {"policy.training_hours": 8, "policy.pilot.share": 0.2}, "pin": {"base": "mandate_single_tool", "sets": {}}}
    lab_task(lab.lab_specs(state), 1, 2)
    print(after_warm, loaded())
""")


def test_after_the_run_workers_warm_up_a_lab_click_compiles_nothing():
    """What ``mandate-sim app``'s run workers do before the address is printed (jobs._warm_up) loads every compiled kernel
    a lab run needs (one thread, as in a run worker)."""
    env = {"MANDATE_SIM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    done = subprocess.run([sys.executable, "-c", WARM_CHECK], capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    warm, after = map(int, done.stdout.split())
    assert warm > 0 and after == warm, (warm, after)
