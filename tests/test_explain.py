"""Named channels and the explanation of a difference between policies (issue 12).

The model: holding a channel a policy never uses changes no output, bit for bit (which is what lets an explanation
skip those runs); holding a channel a policy uses changes something (the switch is wired); a channel declared to
reach only some metrics changes no other. The explanation: the parts add up to the total, an unused channel
contributes nothing, swapping A and B flips every sign, a toy where one channel differs puts everything on it, and
the bits do not depend on the number of worker processes. Tiny organisations keep this file to a few seconds.
"""

from __future__ import annotations

import multiprocessing

import numpy as np
import pandas as pd
import pytest

import sim
from sim.analysis.figures import policy_labels, waterfall
from sim.analysis.reports import render_explain_html
from sim.analysis.takeaways import why
from sim.cli import main
from sim.errors import InputError
from sim.experiments import explain as explain_module
from sim.model.channels import CHANNELS, used_by
from sim.model.org import EngineeringOrg

ENGINEERS, WEEKS = 24, 12
#: For each channel, a policy that uses it (built-in scenario, overrides).
USES = {
    "tool_restriction": ("mandate_single_tool", {}),
    "pressured_use": ("mandate_any_tool", {}),
    "token_use": ("mandate_any_tool", {}),
    "shadow_use": ("mandate_single_tool", {}),
    "fatigue": ("free_choice", {}),
    "role_norm": ("generate_and_supervise", {}),
    "safety_climate": ("outcome_goals", {}),
    "slanted_reports": ("mandate_any_tool", {}),
    "trust_in_leadership": ("mandate_single_tool", {}),
    "training": ("free_choice", {"policy.training_hours": 40.0}),
    "leadership_reaction": ("outcome_goals", {"policy.outcome_goals.review_every_weeks": 2}),
}


def _values(scenario, held=frozenset(), seed=5):
    model = EngineeringOrg(scenario, seed=seed, held=held).run()
    return model.recorder.values[: model.recorder.n_weeks]


def test_every_channel_has_a_policy_that_uses_it_here():
    assert set(USES) == set(CHANNELS)
    for name, (scenario, overrides) in USES.items():
        assert name in used_by(sim.load_scenario(scenario, overrides=overrides)), name


@pytest.mark.parametrize("name", sorted(sim.builtin_scenarios()) + ["free_choice+training"])
def test_holding_a_channel_the_policy_never_uses_changes_no_output(name):
    overrides = {"policy.training_hours": 40.0} if name.endswith("+training") else {}
    sc = sim.load_scenario(name.split("+")[0], overrides=overrides, engineers=ENGINEERS, weeks=WEEKS)
    normal = _values(sc)
    unused = [c for c in CHANNELS if c not in used_by(sc)]
    assert unused or name == "mandate_single_tool"
    for channel in unused:
        assert np.array_equal(_values(sc, frozenset([channel])), normal, equal_nan=True), f"{channel} changed {name}"
    assert np.array_equal(_values(sc, frozenset(unused)), normal, equal_nan=True)


@pytest.mark.parametrize("channel", list(CHANNELS))
def test_holding_a_channel_the_policy_uses_changes_something_and_only_what_it_reaches(channel):
    scenario, overrides = USES[channel]
    sc = sim.load_scenario(scenario, overrides=overrides, engineers=40, weeks=20)
    model = EngineeringOrg(sc, seed=3).run()
    normal = model.recorder.values[:20]
    held = _values(sc, frozenset([channel]), seed=3)
    changed = ~np.all(normal == held, axis=0)
    assert changed.any(), f"holding {channel} in {scenario} changed nothing"
    reach = CHANNELS[channel].metrics
    if reach:
        series = model.recorder.series if hasattr(model.recorder, "series") else list(model.recorder.col)
        moved = {series[i][0] for i in np.flatnonzero(changed)}
        assert moved <= set(reach), f"{channel} reached {moved - set(reach)}"


def test_an_unknown_channel_is_refused_by_name():
    with pytest.raises(InputError, match="tool_restrictoin.*allowed: tool_restriction"):
        EngineeringOrg(sim.load_scenario("free_choice", engineers=16, weeks=2), held={"tool_restrictoin"})


# ---------------------------------------------------------------------------
# The explanation
# ---------------------------------------------------------------------------

KW = dict(engineers=ENGINEERS, weeks=WEEKS, replicates=3, workers=1)


@pytest.fixture(scope="module")
def mandate_vs_free():
    return sim.explain("mandate_single_tool", "free_choice", **KW)


def _parts_add_up(table: pd.DataFrame) -> None:
    for (a, b), rows in table.groupby(["a", "b"]):
        rows = rows.set_index("channel")
        parts = rows.drop(index="total")["contribution"]
        assert parts.sum() == pytest.approx(rows.at["total", "contribution"], abs=1e-12, rel=1e-12), (a, b)
        outcome = rows["outcome_b"].iloc[0] - rows["outcome_a"].iloc[0]
        assert outcome == pytest.approx(rows.at["total", "contribution"], abs=1e-12)


def test_contributions_and_remainder_add_up_to_the_difference(mandate_vs_free):
    assert mandate_vs_free["method"].iloc[0].startswith("sampled")
    _parts_add_up(mandate_vs_free)
    exact = sim.explain("free_choice", "outcome_goals", **KW)
    assert exact["method"].iloc[0] == "exact"
    _parts_add_up(exact)


def test_the_total_is_the_comparisons_paired_difference(mandate_vs_free):
    results = sim.run_scenarios(["mandate_single_tool", "free_choice"], replicates=3, engineers=ENGINEERS, weeks=WEEKS)
    last = results[(results.metric == "true_gain") & (results.group == "all") & (results.week == WEEKS)]
    means = last.groupby("scenario", observed=True)["value"].mean()
    total = mandate_vs_free.set_index("channel").at["total", "contribution"]
    assert total == pytest.approx(means["free_choice"] - means["mandate_single_tool"], abs=1e-12)


def test_a_channel_neither_policy_uses_contributes_nothing(mandate_vs_free):
    rows = mandate_vs_free.set_index("channel")
    for c in ("training", "role_norm"):
        assert not rows.at[c, "used"]
        assert rows.at[c, "contribution"] == 0.0 and rows.at[c, "low"] == 0.0 and rows.at[c, "high"] == 0.0


def test_swapping_a_and_b_flips_every_sign(mandate_vs_free):
    swapped = sim.explain("free_choice", "mandate_single_tool", **KW).set_index("channel")
    here = mandate_vs_free.set_index("channel")
    np.testing.assert_allclose(swapped["contribution"], -here["contribution"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(swapped["low"], -here["high"], rtol=0, atol=1e-12)


def test_when_only_one_channel_differs_it_carries_the_whole_difference():
    # Fatigue is switched off by the behaviour itself, so the only mechanism that differs is the climate.
    toy = dict(KW, overrides={"behaviour.people.fatigue_rate": 0.0})
    a = sim.load_scenario("free_choice", **{k: toy[k] for k in ("engineers", "weeks", "overrides")})
    b = sim.load_scenario("free_choice", **{k: toy[k] for k in ("engineers", "weeks")},
                          overrides={**toy["overrides"], "policy.feedback_safety": 0.9})
    b = b.model_copy(update={"name": "safe_feedback"})
    table = sim.explain(a, b, replicates=3, workers=1).set_index("channel")
    total = table.at["total", "contribution"]
    assert total != 0.0
    assert table.at["safety_climate", "contribution"] == pytest.approx(total, abs=1e-12)
    others = table.drop(index=["safety_climate", "total"])["contribution"]
    assert (others.abs() < 1e-12).all(), others[others.abs() >= 1e-12]


def test_the_bits_do_not_depend_on_the_number_of_workers(monkeypatch, mandate_vs_free):
    monkeypatch.setattr(explain_module, "POOL_MIN_SECONDS", 0.0)
    pooled = sim.explain("mandate_single_tool", "free_choice", **dict(KW, workers=2))
    pd.testing.assert_frame_equal(pooled, mandate_vs_free, check_exact=True)
    assert not multiprocessing.active_children(), "the pool's workers were left running"


def test_bad_arguments_name_the_field():
    with pytest.raises(InputError, match="metric.*value 'gain'.*allowed: .*true_gain"):
        sim.explain("free_choice", "outcome_goals", metric="gain", **KW)
    with pytest.raises(InputError, match="week.*13.*from 1 to 12"):
        sim.explain("free_choice", "outcome_goals", week=13, **KW)


# ---------------------------------------------------------------------------
# Reading, figure, report and command line
# ---------------------------------------------------------------------------


def _table(total, lo, hi, parts: dict[str, float], metric="true_gain"):
    rows = [{"channel": c, "label": CHANNELS[c].label if c in CHANNELS else c, "contribution": v, "low": v - 0.01, "high": v + 0.01,
             "used": True} for c, v in parts.items()]
    rows.append({"channel": "total", "label": "total difference", "contribution": total, "low": lo, "high": hi, "used": True})
    df = pd.DataFrame(rows)
    return df.assign(a="A", b="B", metric=metric, week=52, se=0.0, replicates=20, method="exact", outcome_a=0.1, outcome_a_low=0.09,
                     outcome_a_high=0.11, outcome_b=0.1 + total, outcome_b_low=0.09 + total, outcome_b_high=0.11 + total, runs=1)


def test_the_reading_names_the_largest_channels_with_their_signs():
    text = why(_table(-0.09, -0.12, -0.06, {"pressured_use": -0.04, "token_use": -0.03, "trust_in_leadership": -0.03, "shadow_use": 0.01}))
    assert text.startswith("“B” ends 9.0 points below “A” in true gain at week 52")
    assert "Of this 9.0-point shortfall, 4.0 points come from pressured use" in text
    assert "3.0 points from token use" in text  # the three largest, then what the others leave of the total
    assert "The other channels work the other way, 1.0 point in all, most of it from shadow use" in text
    offset = why(_table(0.039, 0.02, 0.056, {"token_use": 0.037, "tool_restriction": 0.036, "safety_climate": 0.032, "pressured_use": -0.030,
                                              "shadow_use": -0.028, "leadership_reaction": -0.025, "fatigue": 0.017}))
    assert "3.7 points come from token use" in offset and "work the other way, 6.6 points in all, most of it from pressured use" in offset
    mixed = why(_table(0.02, 0.01, 0.03, {"tool_restriction": 0.05, "shadow_use": -0.03}))
    assert "5.0 points come from a restricted tool list" in mixed and "shadow use of unapproved tools works the other way (3.0 points" in mixed
    noise = why(_table(0.004, -0.01, 0.018, {"fatigue": 0.03, "safety_climate": -0.026}))
    assert "do not differ clearly" in noise and "(+3.0 points)" in noise and "(−2.6 points)" in noise


def test_the_reading_names_the_policies_by_title():
    table = _table(-0.09, -0.12, -0.06, {"pressured_use": -0.04}).assign(a="mandate_single_tool", b="free_choice")
    titles = policy_labels(["mandate_single_tool", "free_choice"])
    text = why(table)  # built-in titles by default, never the ids
    assert text.startswith(f"“{titles['free_choice']}” ends 9.0 points below “{titles['mandate_single_tool']}”")
    assert "free_choice" not in text and "mandate_single_tool" not in text
    named = why(table, labels={"free_choice": "Our way"})  # a label given (an uploaded scenario's own title) wins
    assert named.startswith(f"“Our way” ends 9.0 points below “{titles['mandate_single_tool']}”")
    noise = why(_table(0.004, -0.01, 0.018, {"fatigue": 0.03}), labels={"A": "Before", "B": "After"})
    assert noise.startswith("“After” and “Before” do not differ clearly") and "in “After” − “Before”: " in noise


def test_the_waterfall_goes_from_a_to_b_with_error_bars(mandate_vs_free):
    fig = waterfall(mandate_vs_free)
    bars, errors = fig.data
    used = mandate_vs_free[mandate_vs_free.used & ~mandate_vs_free.channel.isin(["total", "slanted_reports"])]
    titles = policy_labels(["mandate_single_tool", "free_choice"])
    assert list(bars.x)[0] == titles["mandate_single_tool"] and list(bars.x)[-1] == titles["free_choice"]  # titles, not ids
    assert len(bars.x) == len(used) + 2 and len(errors.error_y.array) == len(bars.x)
    assert f"Why {titles['free_choice']} differs" in render_explain_html(mandate_vs_free)
    named = waterfall(mandate_vs_free, labels={"free_choice": "Our way"})
    assert named.data[0].x[-1] == "Our way" and "to Our way (right)" in named.layout.title.subtitle.text.replace("<br>", " ")


def test_the_command_prints_the_reading_and_writes_the_report(tmp_path, capsys):
    html, csv, mine = tmp_path / "why.html", tmp_path / "why.csv", tmp_path / "mine.yaml"
    mine.write_text("extends: outcome_goals\ntitle: Our [own] goals\n", encoding="utf-8")  # a file's own title names it everywhere
    code = main(["explain", "free_choice", str(mine), "-n", "16", "-w", "6", "-r", "2", "--workers", "1", "--html", str(html), "--out", str(csv)])
    out = " ".join(capsys.readouterr().out.split())  # rich wraps the reading
    assert code == 0, out
    free = policy_labels(["free_choice"])["free_choice"]
    from sim.model.metrics import title as metric_title
    assert "paired replicates" in out and f"“Our [own] goals”" in out and f"“{free}”" in out
    assert f"Our [own] goals − {free}: {metric_title('true_gain')}" in out  # the table's title: titles and the metric's label, no ids
    assert html.read_text().count("plotly") > 0 and f"Why Our [own] goals differs from {free}" in html.read_text()
    assert set(pd.read_csv(csv).columns) >= {"channel", "contribution", "low", "high"}


def test_model_md_carries_the_channel_table_generated_from_the_declarations():
    from pathlib import Path

    from sim.model.channels import markdown_table

    text = (Path(__file__).resolve().parents[1] / "docs" / "MODEL.md").read_text(encoding="utf-8")
    assert markdown_table() in text, "docs/MODEL.md section 8 is stale: paste `python -m sim.model.channels` there"


@pytest.mark.parametrize("name", sorted(sim.builtin_scenarios()))
def test_a_run_with_channels_held_equals_the_run_with_only_the_used_ones_held(name):
    # The collapse explanations rely on: whatever else is held, holding an unused channel adds nothing.
    sc = sim.load_scenario(name, engineers=ENGINEERS, weeks=WEEKS)
    used, unused = used_by(sc), frozenset(CHANNELS) - used_by(sc)
    for held in [frozenset([u]) for u in sorted(used)] + [used]:
        assert np.array_equal(_values(sc, held | unused), _values(sc, held), equal_nan=True), f"{sorted(held)} in {name}"
