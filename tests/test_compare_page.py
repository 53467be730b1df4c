"""The Compare page without a browser: the difference table (``sim.differences``) against hand-computed paired
intervals, the takeaways' within-noise wording, an uploaded organisation's size, what the form overrides, errors in the
form's words, task mixes as the command line takes them, labelled downloads and the progress text."""

from __future__ import annotations

import io
import math
import zipfile
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats

import sim
from sim.analysis.differences import DIFFERENCE_METRICS, differences, interval, signed
from sim.analysis.figures import metric_over_time, policy_labels
from sim.analysis.takeaways import CONTRASTS, takeaways
from sim.errors import InputError
from sim.model.metrics import METRICS
from sim.model.scenarios import load_scenario

from dashboards.app import AppConfig, create_app
from dashboards.compute import Bundle
from dashboards.inputs import CompareRequest, UploadFolder, build_specs, check_upload
from dashboards.pages import compare as page
from dashboards.state import compare_query, compare_request, pack

TINY = dict(engineers=20, weeks=6)
ORG_120 = b"extends: default\nname: small_org\ndescription: 120 engineers in one small company.\nsize: 120\n"


@pytest.fixture(scope="module")
def app():
    a = create_app(AppConfig(workers=0))
    yield a
    a.server.config["MANDATE_SIM"].jobs.close()


@pytest.fixture(scope="module")
def runs():
    return sim.run_scenarios(["mandate_single_tool", "free_choice", "outcome_goals"], replicates=4, seed=3, **TINY)


def _tidy(values: dict[str, list[float]], metric: str = "cycle_time", week: int = 2) -> pd.DataFrame:
    rows = [{"scenario": s, "replicate": r, "week": w, "metric": metric, "group": "all", "value": v + (w - week)}
            for s, vs in values.items() for r, v in enumerate(vs) for w in (1, 2)]
    df = pd.DataFrame(rows)
    df["scenario"] = pd.Categorical(df["scenario"], categories=list(values))
    return df


def test_a_difference_is_the_mean_paired_change_with_a_student_t_interval_in_units_and_percent():
    df = _tidy({"a": [2.0, 3.0, 4.0], "b": [2.5, 3.1, 4.9]})
    row = differences(df, "a", metrics=["cycle_time"]).iloc[0]
    d = np.array([0.5, 0.1, 0.9])
    half = stats.t.ppf(0.95, 2) * d.std(ddof=1) / math.sqrt(3)
    assert (row["scenario"], row["reference"], row["week"], row["replicates"]) == ("b", "a", 2, 3)
    assert row["change"] == pytest.approx(0.5) and row["low"] == pytest.approx(0.5 - half) and row["high"] == pytest.approx(0.5 + half)
    assert row["pct_change"] == pytest.approx(0.5 / 3.0) and row["pct_low"] == pytest.approx((0.5 - half) / 3.0)
    assert row["within_noise"] == (0.5 - half <= 0)
    assert row["label"] == "Cycle time" and row["unit"] == "days"
    # the pairing matters: the same values unpaired would give a different interval
    shuffled = differences(_tidy({"a": [2.0, 3.0, 4.0], "b": [4.9, 2.5, 3.1]}), "a", metrics=["cycle_time"]).iloc[0]
    assert shuffled["change"] == pytest.approx(0.5) and shuffled["high"] - shuffled["low"] > row["high"] - row["low"]
    # an earlier week, and a reference that is not the first policy
    early = differences(df, "b", week=1, metrics=["cycle_time"]).iloc[0]
    assert (early["scenario"], early["week"]) == ("a", 1) and early["change"] == pytest.approx(-0.5)


def test_a_difference_table_refuses_what_the_runs_do_not_have_and_says_when_it_is_noise(runs):
    with pytest.raises(InputError, match="reference policy.*is not one of the compared policies"):
        differences(runs, "no_such_policy")
    with pytest.raises(InputError, match="week.*is not a week of these runs"):
        differences(runs, "free_choice", week=7)
    table = differences(runs, "free_choice", week=4)
    assert list(table["metric"].unique()) == [m for m in DIFFERENCE_METRICS if m in set(runs["metric"])]
    assert set(table["scenario"]) == {"mandate_single_tool", "outcome_goals"} and (table["week"] == 4).all()
    assert (table["within_noise"] == ((table["low"] <= 0) & (table["high"] >= 0))).all()
    gains = table[table["metric"].map(lambda m: METRICS[m].kind == "gain")]
    assert gains["pct_change"].isna().all(), "no % change of a gain"
    # swapping the reference flips the sign of the change and of its interval
    back = differences(runs, "mandate_single_tool", week=4).set_index(["scenario", "metric"])
    there = table[table["scenario"] == "mandate_single_tool"].set_index("metric")
    for m, r in there.iterrows():
        b = back.loc[("free_choice", m)]
        assert b["change"] == pytest.approx(-r["change"]) and b["low"] == pytest.approx(-r["high"])
    assert sim.differences is differences


def test_one_replicate_gives_no_interval_and_counts_as_noise():
    row = differences(_tidy({"a": [2.0], "b": [3.0]}), metrics=["cycle_time"]).iloc[0]
    assert row["change"] == 1.0 and math.isnan(row["low"]) and row["within_noise"]
    assert interval(np.array([1.0, 1.0, 1.0])) == (1.0, 1.0, 1.0)


def test_takeaways_cover_cycle_time_defects_and_attrition_and_say_when_a_difference_is_noise(runs):
    said = takeaways(runs)
    assert 3 <= len(said) <= 8
    ai = ["mandate_single_tool", "free_choice", "outcome_goals"]
    labels = policy_labels(ai)
    for metric, words, _ in CONTRASTS:
        sentence = next(s for s in said if words in s)
        final = runs[(runs["metric"] == metric) & (runs["group"] == "all") & (runs["week"] == 6)].pivot_table(
            index="replicate", columns="scenario", values="value", observed=True)
        means = final[ai].mean()
        change, low, high = interval((final[means.idxmax()] - final[means.idxmin()]).to_numpy())
        if change == 0 and low == high:
            assert "the same under every policy" in sentence
        else:
            assert ("within noise" in sentence) == (low <= 0 <= high), sentence
            assert f"“{labels[means.idxmax()]}”" in sentence and signed(metric, change).lstrip("+") in sentence
    assert not [s for s in said if "mandate_single_tool" in s], "policies by title"


def test_charts_and_tables_name_policies_by_title(runs, tmp_path):
    names = {t.name for t in metric_over_time(runs, "weekly_active_share").data if t.showlegend is not False}
    assert names == {"80% weekly-usage mandate, in-house tool only", "Free choice of vetted tools", "Outcome goals, tool choice and safe feedback"}
    assert policy_labels(["free_choice#2", "mine"], {"mine": "My policy"}) == {"free_choice#2": "Free choice of vetted tools #2", "mine": "My policy"}
    assert policy_labels(["a", "b"], {"a": "Same", "b": "Same"}) == {"a": "Same (a)", "b": "Same (b)"}
    specs = build_specs(CompareRequest(["mandate_single_tool", "free_choice"], engineers=20, weeks=6, replicates=2, seed=5), UploadFolder(tmp_path))
    bundle = Bundle(sim.run_scenarios(specs, replicates=2, seed=5), specs=specs, seed=5, replicates=2)
    csv = page.labelled_results(bundle)
    assert {"scenario", "metric", "group", "value", "policy", "outcome", "breakdown"} <= set(csv.columns)
    row = csv[(csv["metric"] == "cycle_time") & (csv["group"] == "all")].iloc[0]
    assert (row["policy"], row["outcome"], row["breakdown"]) == ("80% weekly-usage mandate, in-house tool only", "Cycle time (days)", "all engineers")
    _, table = page.difference_tables(bundle, "free_choice", 3)
    diff_csv = page.labelled_differences(bundle, table)
    assert {"scenario", "policy", "reference", "reference_policy", "metric", "outcome", "change", "low", "high"} <= set(diff_csv.columns)
    assert set(diff_csv["reference_policy"]) == {"Free choice of vetted tools"} and (diff_csv["week"] == 3).all()


def test_an_uploaded_organisation_keeps_its_size_and_the_form_says_what_it_overrides(app, tmp_path):
    record = check_upload("org", "small_org.yaml", ORG_120)
    org = "upload:" + record["id"]
    with app.server.app_context():
        layout = page.layout(p="mandate_single_tool,free_choice", org=org, file=pack(record))
    box = next(c for c in _walk(layout) if getattr(c, "id", None) == "cmp-n")
    assert box.value == 120, "without an Engineers value in the link, the organisation's own size"
    req = CompareRequest(["mandate_single_tool", "free_choice"], org, 120, 52, files=[record])
    assert page.form_overrides(req) == []
    assert all(s.organisation.size == 120 for s in build_specs(req))
    req.engineers, req.weeks = 200, 26
    assert page.form_overrides(req) == ["Engineers: 200 (the file small_org.yaml says 120)", "Weeks: 26 (the built-in scenarios say 52)"]
    spec = page.with_size_note(build_specs(req)[0], 120)
    assert spec.organisation.size == 200
    assert spec.organisation.description == "200 engineers in one small company. Run with 200 engineers (the organisation file says 120)."
    assert "120 engineers" not in spec.organisation.description
    exported = yaml.safe_load(zipfile.ZipFile(io.BytesIO(page._files_used(Bundle(pd.DataFrame(), specs=[spec])))).read(f"{spec.name}.yaml"))
    assert exported["organisation"]["size"] == 200 and exported["organisation"]["description"].startswith("200 engineers")


def test_errors_name_the_form_fields_without_paths_or_set_syntax():
    with pytest.raises(InputError) as e:
        build_specs(CompareRequest(["mandate_single_tool", "free_choice"], "default", 5, 6, 1))
    assert page.plain_message(e.value) == "Engineers: 5 is out of range (allowed: a whole number from 10 to 100,000)"
    sets = {"organisation.seniority.junior.task_mix.boilerplate": 0.5}
    with pytest.raises(InputError) as e:
        build_specs(CompareRequest(["mandate_single_tool", "free_choice"], "default", 20, 6, 1, sets=sets))
    assert "--set" in str(e.value)  # the command line's words ...
    shown = page.plain_message(e.value)
    assert shown == "Organisation editor › seniority: junior: task mix: task shares must sum to 1 (they sum to 1.15) — press “normalise” beside its sum"
    assert "--set" not in shown and "organisation.seniority" not in shown  # ... but not the page's
    with pytest.raises(InputError) as e:
        compare_request({"n": "many"})
    assert page.plain_message(e.value) == "link parameter 'n': 'many' is not a whole number"


@pytest.mark.parametrize("share,accepted", [(0.3505, True), (0.352, False)])
def test_the_page_takes_a_task_mix_exactly_when_the_command_line_does(share, accepted):
    sets = {"organisation.seniority.junior.task_mix.boilerplate": share}  # the default's 0.35: sums of 1.0005 and 1.002
    try:
        load_scenario("free_choice", overrides=sets)
        cli = True
    except InputError:
        cli = False
    try:
        build_specs(CompareRequest(["free_choice", "outcome_goals"], "default", 20, 6, 1, sets=sets))
        web = True
    except InputError:
        web = False
    assert cli == web == accepted


def test_normalise_scales_one_task_mix_to_sum_to_one_and_the_running_sum_reads_the_form():
    ids = [{"type": "org-param", "path": f"organisation.seniority.junior.task_mix.{k}"} for k in "abc"] + [
        {"type": "org-param", "path": "organisation.team_size"}]
    values = [0.5, 0.4, 0.25, 8]
    assert page.mix_sums(ids, values, ["organisation.seniority.junior.task_mix"]) == [pytest.approx(1.15)]
    out = page.normalised(ids, values, "organisation.seniority.junior.task_mix")
    assert out[3] == 8 and sum(out[:3]) == pytest.approx(1.0, abs=1e-9) and out[0] == pytest.approx(0.5 / 1.15, abs=1e-4)
    assert page.mix_sums(ids, [None, 0.4, 0.25, 8], ["organisation.seniority.junior.task_mix"]) == [pytest.approx(0.65)]


def test_the_progress_bar_is_never_full_without_a_word():
    assert page.progress({"done": 3, "total": 12, "seconds": 2.0}) == (25.0, "running: 3 of 12 runs, 2 s")
    assert page.progress({"done": 12, "total": 12, "seconds": 4.0}) == (100.0, "Building charts…")
    pct, text = page.progress({"done": 0, "total": 0, "seconds": 0.0})
    assert pct < 100 and text


def test_a_link_carries_the_reference_and_the_week():
    req = CompareRequest(["mandate_single_tool", "free_choice"], "default", 40, 12, 3, 2, reference="free_choice", week=8)
    q = compare_query(req)
    assert "ref=free_choice" in q and "at=8" in q
    back = compare_request({k: v[0] if len(v) == 1 else v for k, v in parse_qs(q[1:]).items()})
    assert (back.reference, back.week) == ("free_choice", 8)
    assert "ref=" not in compare_query(CompareRequest()) and "at=" not in compare_query(CompareRequest())


def _walk(component):
    yield component
    children = getattr(component, "children", None)
    for c in children if isinstance(children, (list, tuple)) else [children] if children is not None else []:
        if hasattr(c, "to_plotly_json"):
            yield from _walk(c)


def test_a_line_without_a_band_says_why(runs):
    one = sim.run_scenarios(["free_choice", "outcome_goals"], replicates=1, seed=3, **TINY)
    fig = metric_over_time(one, "weekly_active_share")
    assert fig.layout.title.subtitle.text.startswith("One replicate per policy: lines have no band")
    flat = metric_over_time(runs, "attrition_top_skill_cumulative")  # nobody of the top fifth leaves in 6 weeks of 20 engineers
    top = runs[(runs["metric"] == "attrition_top_skill_cumulative") & (runs["group"] == "all")]
    assert (top["value"] == 0).all()
    assert flat.layout.title.subtitle.text == ("A line without a band: all 4 replicates give the same value (e.g. Attrition of top engineers "
                                               "stays at 0.0%).")
    assert metric_over_time(runs, "weekly_active_share").layout.title.subtitle.text is None
