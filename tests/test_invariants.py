"""Invariants that hold in every run: bounded shares, finite outputs, headcount accounting, use shares that add up, and levers that target nobody changing nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import check_outputs, series

import sim
from sim.model.metrics import METRICS

SMALL = dict(engineers=60, weeks=20, replicates=3, seed=21)


@pytest.fixture(scope="module")
def all_builtin_runs():
    """Every built-in scenario on every built-in organisation profile, small, in one table per organisation."""
    return {org: sim.run_scenarios(sim.builtin_scenarios(), org=org, **SMALL) for org in sim.builtin_orgs()}


def test_every_share_and_index_in_unit_interval_and_every_value_finite(all_builtin_runs):
    for org, df in all_builtin_runs.items():
        check_outputs(df, f"org={org}")
        bounded = {name for name, m in METRICS.items() if m.kind in ("share", "index")}
        assert bounded <= set(df["metric"].astype(str)), "every bounded metric is recorded"


def test_genuine_forced_and_token_use_add_up_to_weekly_active_share(all_builtin_runs):
    for org, df in all_builtin_runs.items():
        for scenario in df["scenario"].cat.categories:
            parts = sum(series(df, m, scenario=scenario).to_numpy() for m in ("genuine_use_share", "forced_use_share", "token_use_share"))
            active = series(df, "weekly_active_share", scenario=scenario).to_numpy()
            np.testing.assert_allclose(parts, active, rtol=0, atol=1e-12, err_msg=f"{org}/{scenario}")


def test_adoption_shares_are_consistent(all_builtin_runs):
    for org, df in all_builtin_runs.items():
        for scenario in df["scenario"].cat.categories:
            s = lambda m: series(df, m, scenario=scenario).to_numpy()  # noqa: E731
            where = f"{org}/{scenario}"
            assert (s("ever_used_share") >= s("weekly_active_share") - 1e-12).all(), f"{where}: more active this week than ever used"
            assert (s("forced_task_share") <= s("ai_task_share") + 1e-12).all(), where
            assert (s("shadow_task_share") <= s("ai_task_share") + 1e-12).all(), where
            for cum in ("attrition_cumulative", "hires_cumulative", "attrition_top_skill_cumulative"):
                assert (np.diff(s(cum), axis=1) >= 0).all(), f"{where}: {cum} fell"


def test_headcount_is_size_minus_leavers_plus_hires_every_week():
    spec = sim.load_scenario("mandate_single_tool", engineers=80, weeks=40,
                             overrides={"behaviour.people.annual_attrition": 0.6, "behaviour.people.hiring_delay_weeks": 3})
    model = sim.EngineeringOrg(spec, seed=5)
    size = spec.organisation.size
    seen_leavers = False
    for _ in range(spec.weeks):
        model.step()
        c = model.counters
        recorded = model.recorder.latest("headcount")
        assert recorded == size - c.leavers + c.hires
        assert sum(model.recorder.latest("headcount", f"seniority={lv}") for lv in ("junior", "mid", "senior")) == recorded
        assert len(model.agents) == recorded
        seen_leavers |= c.leavers > 0
    assert seen_leavers and model.counters.hires > 0


def test_headcount_accounting_in_the_results_table():
    df = sim.run("free_choice", engineers=50, weeks=30, replicates=3, seed=3,
                 overrides={"behaviour.people.annual_attrition": 0.5, "behaviour.people.hiring_delay_weeks": 2})
    size = 50
    head = series(df, "headcount").to_numpy()
    left = series(df, "attrition_cumulative").to_numpy() * size
    hired = series(df, "hires_cumulative").to_numpy() * size
    np.testing.assert_allclose(head, size - left + hired, rtol=0, atol=1e-9)
    assert (left[:, -1] > 0).all()


def test_counterfactual_metrics_are_paired_and_consistent():
    df = sim.run_scenarios(["no_ai", "free_choice"], engineers=40, weeks=10, replicates=2, seed=1)
    assert (series(df, "true_gain", scenario="no_ai").to_numpy() == 0).all(), "no AI gains nothing against itself"
    for scenario in ("no_ai", "free_choice"):
        gap = series(df, "measurement_gap", scenario=scenario).to_numpy()
        reported = series(df, "reported_gain", scenario=scenario).to_numpy()
        true = series(df, "true_gain", scenario=scenario).to_numpy()
        np.testing.assert_allclose(gap, reported - true, rtol=0, atol=1e-12)
    base = series(df, "throughput", scenario="no_ai").to_numpy()
    ai = series(df, "throughput", scenario="free_choice").to_numpy()
    np.testing.assert_allclose(series(df, "true_gain", scenario="free_choice").to_numpy(), ai / base - 1, rtol=1e-12)


# --- Levers that target nobody change nothing -------------------------------------------------


def _values(scenario, overrides=None, *, engineers=60, weeks=16, seed=9, replicates=2) -> pd.DataFrame:
    return sim.run(scenario, overrides=overrides, engineers=engineers, weeks=weeks, replicates=replicates, seed=seed)


def assert_identical(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    """Bit-identical tables (the same numbers, bit for bit)."""
    pd.testing.assert_frame_equal(a, b, check_exact=True, obj=what)
    assert a["value"].to_numpy().tobytes() == b["value"].to_numpy().tobytes(), what


@pytest.mark.parametrize(
    "scenario,inert",
    [
        # 0.001 of 60 engineers is no engineer: the role norm targets nobody.
        ("free_choice", {"policy.generate_share": 0.001}),
        ("mandate_any_tool", {"policy.generate_share": 0.001}),
        # Zero training hours (with any spread) trains nobody.
        ("free_choice", {"policy.training_hours": 0, "policy.training_weeks": 12}),
        # A usage target without enforcement, or enforcement without a target, puts pressure on nobody.
        ("free_choice", {"policy.usage_target": 0.8, "policy.usage_enforcement": 0.0}),
        ("free_choice", {"policy.usage_target": 0.0, "policy.usage_enforcement": 0.9}),
        # Enforcement of a norm that is off, or that targets nobody (stronger than the mandate's, so it would show).
        ("free_choice", {"policy.generate_share": 0.0, "policy.norm_enforcement": 0.9}),
        ("mandate_any_tool", {"policy.generate_share": 0.001, "policy.norm_enforcement": 0.9}),
        # How leadership measures, when nobody measures; how outcome goals back tools, when they are off.
        ("free_choice", {"behaviour.measurement.measurement_sd": 1.5, "behaviour.measurement.min_evidence": 50}),
        ("mandate_single_tool", {"policy.outcome_goals.urgency": 3.0, "policy.outcome_goals.defect_ratio_limit": 1.01}),
        # A pilot of nobody's teams is no pilot; its other settings are inert.
        ("free_choice", {"policy.pilot.share": 0.0, "policy.pilot.weeks": 3, "policy.pilot.task_types": ["debugging"]}),
        # Outcome-goal settings with the goals switched off.
        ("free_choice", {"policy.outcome_goals.cycle_time_target": 0.5, "policy.outcome_goals.review_every_weeks": 2}),
        # Nothing is published under free choice, so how far publications move beliefs does not matter.
        ("free_choice", {"behaviour.perception.publication_weight": 0.9, "behaviour.trust.transparency_gain": 0.5}),
        # Every tool approved: no tool is barred, so shadow-use settings do not matter.
        ("free_choice", {"behaviour.choice.shadow_penalty": 0.0, "behaviour.choice.shadow_gap": 0.0}),
    ],
)
def test_a_lever_that_targets_nobody_changes_nothing(scenario, inert):
    assert_identical(_values(scenario), _values(scenario, inert), f"{scenario} with {inert}")


def test_training_with_no_approved_tool_changes_nothing():
    """Training is on the approved tools; with none approved there is nothing to train on and nobody to train."""
    assert_identical(_values("no_ai"), _values("no_ai", {"policy.training_hours": 40}), "no_ai with 40 training hours")


def test_a_policy_starting_after_the_horizon_is_the_no_ai_counterfactual():
    weeks = 12
    for scenario in ("mandate_single_tool", "generate_and_supervise", "outcome_goals", "pilot_and_measure"):
        late = _values(scenario, {"policy.start_week": weeks + 5}, weeks=weeks)
        base = _values("no_ai", {"policy.start_week": weeks + 5}, weeks=weeks)
        late_v = late.drop(columns="scenario").reset_index(drop=True)
        base_v = base.drop(columns="scenario").reset_index(drop=True)
        assert_identical(late_v, base_v, f"{scenario} starting after the horizon")
