"""The Classroom's story never contradicts its numbers: every figure a sentence cites is recomputed here from the results
table (or the organisation, the scenario, the per-engineer table) and must equal the value and the text in the sentence,
with direction words that agree with the signs; and no number appears in a sentence that is not one of its cited
figures (or a week). Run on each built-in organisation and on two random organisations drawn inside the declared
bounds. Also: the per-engineer table reproduces the run's adoption metrics exactly (it only reads the model), the agent
grid changes with the week, and the charts keep the axes of the whole horizon."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from dashboards import story
from dashboards.story import MANDATE, STEPS, STORY, StoryData
from sim.analysis.agents import agent_animation, agent_grid
from sim.experiments.engineers import ACTIVITIES, engineer_weeks
from sim.experiments.runner import BAND, run_scenarios
from sim.model.metrics import METRICS
from sim.model.params import SENIORITY_LEVELS, Organisation
from sim.model.scenarios import builtin_orgs, load_org, load_scenario, parameter_paths

ENGINEERS, WEEKS, REPLICATES, SEED = 80, 52, 3, 5
SHOWN_WEEKS = (1, 13, 30, 52)


def random_org(seed: int) -> Organisation:
    """An organisation with every declared parameter drawn inside its bounds (shares normalised to sum to 1 where they must)."""
    rng = np.random.default_rng(seed)
    data = load_org("default").model_dump()
    for row in parameter_paths(load_scenario(MANDATE)):
        if not row.path.startswith("organisation.") or row.min is None or row.max is None or row.path in ("organisation.size",):
            continue
        keys = row.path.split(".")[1:]
        if keys == ["team_size"]:
            value = int(rng.integers(2, 21))
        elif isinstance(row.value, int) and not isinstance(row.value, bool):
            value = int(rng.integers(int(row.min), int(row.max) + 1))
        else:
            value = float(rng.uniform(row.min, row.max))
        target = data
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    total = sum(data["seniority"][lv]["share"] for lv in SENIORITY_LEVELS)
    for lv in SENIORITY_LEVELS:
        data["seniority"][lv]["share"] /= total
        mix = data["seniority"][lv]["task_mix"]
        mix_total = sum(mix.values())
        data["seniority"][lv]["task_mix"] = {k: v / mix_total for k, v in mix.items()}
    data["name"] = f"random_{seed}"
    return Organisation.model_validate(data)


CASES = list(builtin_orgs()) + ["random:1", "random:2"]


@pytest.fixture(scope="module")
def runs():
    """Each case's story runs and per-engineer tables, run once for the module."""
    out = {}
    for case in CASES:
        org = random_org(int(case.split(":")[1])) if case.startswith("random:") else case
        specs = [load_scenario(s, org=org, engineers=ENGINEERS, weeks=WEEKS) for s in STORY]
        results = run_scenarios(specs, replicates=REPLICATES, seed=SEED)
        engineers = pd.concat([engineer_weeks(s, SEED, replicate=0) for s in specs[:2]], ignore_index=True)
        out[case] = (specs, results, engineers)
    return out


# -- recomputing a cited figure from the tables, without the story's code ------------------------------------------------


_INDEX: dict[int, dict] = {}


def values(results: pd.DataFrame, scenario: str, metric: str, week: int) -> np.ndarray:
    """The organisation-wide values of one scenario, metric and week, by replicate (the table indexed once)."""
    if id(results) not in _INDEX:
        df = results[results["group"] == "all"].sort_values("replicate", kind="stable")
        _INDEX[id(results)] = {(str(s), str(m), int(w)): g["value"].to_numpy()
                               for (s, m, w), g in df.groupby(["scenario", "metric", "week"], observed=True)}
    return _INDEX[id(results)][(scenario, metric, week)]


def path_value(data: dict, path: str):
    for k in path.split("."):
        data = data[k]
    return data


def difference_text(metric: str, d: float) -> str:
    m = METRICS[metric]
    return f"{abs(d) * 100:.1f} points" if m.format(0.0).endswith("%") else format(abs(d), m.format_spec.replace("+", ""))


def check(cite: story.Cite, sentence: str, specs, results, engineers) -> None:
    by_name = {s.name: s for s in specs}
    org = specs[0].organisation
    assert cite.text in sentence, (cite, sentence)
    if cite.word:
        assert cite.word in sentence, (cite, sentence)
    if cite.stat == "mean":
        v = values(results, cite.scenario, cite.metric, cite.week)
        assert np.isclose(cite.value, v.mean(), rtol=1e-12, atol=1e-12)
        assert cite.text == METRICS[cite.metric].format(v.mean())
        if cite.direction:
            lo, hi = np.quantile(v, BAND)
            assert cite.direction == ("same" if lo <= 0 <= hi else "up" if v.mean() > 0 else "down"), (cite, sentence)
    elif cite.stat == "mean_size":
        v = values(results, cite.scenario, cite.metric, cite.week)
        assert np.isclose(cite.value, v.mean()) and cite.text == difference_text(cite.metric, v.mean())
        lo, hi = np.quantile(v, BAND)
        assert cite.direction == ("same" if lo <= 0 <= hi else "up" if v.mean() > 0 else "down"), (cite, sentence)
    elif cite.stat == "difference":
        d = values(results, cite.scenario, cite.metric, cite.week) - values(results, cite.other, cite.metric, cite.week)
        assert np.isclose(cite.value, d.mean(), rtol=1e-12, atol=1e-12)
        assert cite.text == difference_text(cite.metric, d.mean())
        lo, hi = np.quantile(d, BAND)
        zero = lo <= 0 <= hi or float(cite.text.split()[0]) == 0.0
        assert cite.direction == ("same" if zero else "up" if d.mean() > 0 else "down"), (cite, sentence)
        if cite.direction != "same":
            for wrong in {"up": ("lower", "fewer"), "down": ("higher", "more")}[cite.direction]:
                assert f"{cite.text} {wrong}" not in sentence
    elif cite.stat == "vs_target":
        target = by_name[cite.scenario].policy.usage_target
        d = values(results, cite.scenario, cite.metric, cite.week).mean() - target
        assert np.isclose(cite.value, d) and cite.text == difference_text(cite.metric, d)
        assert cite.word == ("at" if round(abs(d) * 1000) == 0 else "above" if d > 0 else "below")
    elif cite.stat in ("peak", "peak_week"):
        means = np.array([values(results, cite.scenario, cite.metric, w).mean() for w in range(1, cite.week + 1)])
        k = int(np.argmax(means))
        if cite.stat == "peak":
            assert np.isclose(cite.value, means[k]) and cite.text == METRICS[cite.metric].format(means[k])
        else:
            assert cite.value == k + 1 and cite.text == str(k + 1)
    elif cite.stat == "declared":
        assert cite.value == path_value(by_name[cite.scenario].model_dump(), cite.metric)
    elif cite.stat == "organisation":
        v = path_value(org.model_dump(), cite.metric)
        assert cite.value == v and cite.text in (f"{v:.0%}", f"{v:,}")
    elif cite.stat == "net_saving":
        e = path_value(org.model_dump(), cite.metric)
        v = e["time_saving"] - e["verification"]
        assert np.isclose(cite.value, v) and cite.text == f"{abs(v):.0%}"
        assert cite.word == ("costs" if v < 0 else "saves")
    elif cite.stat in ("count", "present"):
        now = engineers[(engineers["scenario"] == cite.scenario) & (engineers["week"] == cite.week)]
        v = now["present"].sum() if cite.stat == "present" else (now["activity"].astype(str) == cite.metric).sum()
        assert cite.value == v and cite.text == f"{int(v):,}"
    else:
        raise AssertionError(f"unknown statistic {cite.stat}")


def uncited_numbers(sentence: story.Sentence) -> list[str]:
    """Numbers in a sentence that are neither a cited figure nor a week or step number."""
    text = sentence.text.replace(story.title_of(MANDATE), " ")
    text = re.sub(r"\b([Ww]eek|step) \d+\b", " ", text)
    for c in sorted(sentence.cites, key=lambda c: -len(c.text)):
        text = re.sub(r"(?<![\d.])" + re.escape(c.text) + r"(?![\d])", " ", text)
    return re.findall(r"\d", text)


@pytest.mark.parametrize("case", CASES)
def test_every_sentence_states_the_figures_it_cites(runs, case):
    specs, results, engineers = runs[case]
    data = StoryData(results, specs, engineers)
    seen = 0
    for step in STEPS:
        for week in SHOWN_WEEKS:
            for s in story.step_sentences(step, data, specs[0].organisation, week):
                assert s.cites, f"{step.title}: a sentence cites nothing: {s.text}"
                assert uncited_numbers(s) == [], f"{step.title}: a number is not a cited figure: {s.text}"
                for c in s.cites:
                    check(c, s.text, specs, results, engineers)
                    seen += 1
    assert seen > 100


def test_the_leads_state_no_numbers():
    for step in STEPS[:-1]:  # the closing step names its method's 90% intervals
        assert not re.search(r"\d", step.lead), step.title


def test_directions_follow_the_data_in_both_ways(runs):
    """Across the cases the comparisons do not always come out the same way: the words follow the data, not the script."""
    words = set()
    for case in CASES:
        specs, results, engineers = runs[case]
        data = StoryData(results, specs, engineers)
        for step in STEPS:
            for s in story.step_sentences(step, data, specs[0].organisation, 52):
                words |= {c.direction for c in s.cites if c.stat == "difference"}
    assert {"up", "down", "same"} <= words


def test_a_prediction_is_read_against_the_runs(runs):
    specs, results, engineers = runs["default"]
    data = StoryData(results, specs, engineers)
    step = next(s for s in STEPS if s.predict and s.predict.metric == "true_gain")
    actual = values(results, MANDATE, "true_gain", WEEKS).mean()
    for guess, word in ((actual - 0.1, "above"), (actual + 0.1, "below")):
        s = story.prediction_sentence(step, data, guess)
        assert METRICS["true_gain"].format(actual) in s.text and f"10.0 points {word} your prediction" in s.text


def test_the_prediction_canvas_offers_a_line_to_drag_from_the_middle():
    step = next(s for s in STEPS if s.predict and s.predict.metric == "weekly_active_share")
    lo, hi = story.prediction_range(step, {"yaxis": [0.1, 0.7]})
    assert (lo, hi) == (0.0, 1.0)  # a share: the whole 0..1, whatever the runs reached
    fresh = story.prediction_canvas(step, {"yaxis": [0.1, 0.7]}, WEEKS, None)
    line = fresh.layout.shapes[story.GUESS_SHAPE]
    assert line.editable and line.type == "line" and line.y0 == line.y1 == 0.5 and line.label.text == story.DRAG_ME
    assert [t.name for t in fresh.data] == ["click to predict"]  # a click anywhere still places it
    placed = story.prediction_canvas(step, {"yaxis": [0.1, 0.7]}, WEEKS, 0.62)
    line = placed.layout.shapes[story.GUESS_SHAPE]
    assert line.y0 == line.y1 == 0.62 and story.fmt("weekly_active_share", 0.62) in line.label.text and "your prediction" in [t.name for t in placed.data]
    gain = next(s for s in STEPS if s.predict and s.predict.metric == "true_gain")
    lo, hi = story.prediction_range(gain, {"yaxis": [-0.02, 0.08]})
    assert lo == -hi == -0.08 and story.prediction_canvas(gain, {"yaxis": [-0.02, 0.08]}, WEEKS, None).layout.shapes[0].y0 == 0.0


def test_a_dragged_line_gives_the_guess_held_on_the_axis():
    bounds = (0.0, 1.0)
    moved = {"shapes[0].x0": 0.1, "shapes[0].x1": 1.1, "shapes[0].y0": 0.3, "shapes[0].y1": 0.3}
    assert story.dragged_guess(moved, bounds) == 0.3  # the whole line moved
    assert story.dragged_guess({"shapes[0].x0": 0.0, "shapes[0].y0": 0.4}, bounds) == 0.4  # one end dragged
    assert story.dragged_guess({"shapes[0].y1": 0.7}, bounds) == 0.7
    assert story.dragged_guess({"shapes": [{"type": "line", "y0": 0.25, "y1": 0.25}]}, bounds) == 0.25  # a whole list
    assert story.dragged_guess({"shapes[0].y0": 1.4, "shapes[0].y1": 1.4}, bounds) == 1.0  # dropped above the axes: its top
    assert story.dragged_guess({"shapes[0].y0": -3, "shapes[0].y1": -3}, (-0.2, 0.2)) == -0.2
    for nothing in (None, {}, {"autosize": True}, {"xaxis.range[0]": 3}, {"shapes[1].y0": 0.5}, {"shapes": []}, {"shapes[0].y0": None},
                    {"shapes[0].y0": "high"}, {"shapes[0].y0": float("nan")}, {"shapes[0].y0": True}, "shapes[0].y0", [0.5]):
        assert story.dragged_guess(nothing, bounds) is None, nothing
    assert story.clicked_guess({"points": [{"x": 52, "y": 0.45}]}, bounds) == 0.45
    assert story.clicked_guess({"points": [{"x": 52, "y": 2.0}]}, bounds) == 1.0
    for nothing in (None, {}, {"points": []}, {"points": [{"x": 3}]}, {"points": ["y"]}):
        assert story.clicked_guess(nothing, bounds) is None, nothing


# -- the per-engineer table and its grid ----------------------------------------------------------------------------------


def test_the_engineer_table_reproduces_the_runs_adoption_metrics_exactly(runs):
    specs, results, engineers = runs["default"]
    kinds = {"genuine": "genuine_use_share", "pressured": "forced_use_share", "token": "token_use_share", "shadow": "shadow_use_share"}
    for spec in specs[:2]:
        run = engineers[engineers["scenario"] == spec.name]
        weekly = run.groupby("week")
        for column, metric in kinds.items():
            share = (weekly[column].sum() / weekly["present"].sum()).to_numpy()
            r = results[(results["scenario"] == spec.name) & (results["replicate"] == 0) & (results["metric"] == metric) & (results["group"] == "all")]
            assert np.array_equal(share, r.sort_values("week")["value"].to_numpy()), (spec.name, metric)
        leavers = weekly["leaves"].sum().cumsum().to_numpy() / spec.organisation.size
        r = results[(results["scenario"] == spec.name) & (results["replicate"] == 0) & (results["metric"] == "attrition_cumulative") & (results["group"] == "all")]
        assert np.allclose(leavers, r.sort_values("week")["value"].to_numpy())
    assert set(engineers["activity"].astype(str)) <= set(ACTIVITIES)
    assert {"genuine", "token", "left"} <= set(engineers["activity"].astype(str))


def test_the_agent_grid_changes_with_the_week_and_carries_the_hover_card(runs):
    _, _, engineers = runs["default"]
    anim = agent_animation(engineers)
    assert [f["name"] for f in anim["frames"]] == [str(w) for w in range(1, WEEKS + 1)]
    early, late = story.plain(agent_grid(engineers, 2)), story.plain(agent_grid(engineers, 40))
    assert early["data"][0]["marker"]["color"] != late["data"][0]["marker"]["color"]
    assert len(early["data"][0]["x"]) == ENGINEERS and "Trust in AI" in early["data"][0]["hovertemplate"]
    assert len(early["data"][0]["customdata"]) == ENGINEERS and "week 40" in late["layout"]["title"]["text"]


def test_the_charts_keep_the_axes_of_the_whole_horizon(runs):
    specs, results, _ = runs["default"]
    for step in STEPS:
        if step.figure is None:
            continue
        full = step.figure(results, specs[0], WEEKS)
        ranges = story.axis_ranges(full)
        early = story.freeze_axes(step.figure(results, specs[0], 5), ranges)
        for axis, r in ranges.items():
            if axis.startswith("x"):
                assert list(early.layout[axis].range) == [1, WEEKS], (step.title, axis)
            else:
                got = list(early.layout[axis].range)
                assert got[0] <= r[0] + 1e-9 and got[1] >= r[1] - 1e-9 or got == [0, 1], (step.title, axis)
        xs = [x for t in story.plain(early)["data"] for x in (t.get("x") or []) if isinstance(x, (int, float))]
        assert max(xs) <= 5
