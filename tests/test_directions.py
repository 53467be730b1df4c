"""One direction test per mechanism of the weekly story, on the whole model with paired seeds.

Compared runs share their seeds (common random numbers), so each replicate's
difference between two lever or parameter values is a paired difference.
A grid of values is checked step by step: no step may move the metric the
wrong way by more than Z=3 paired standard errors, and the whole grid, first to
last value, must move it the right way by more than Z standard errors. Where
the mechanism is strong enough that no replicate moves the wrong way, that is
asserted too (``every_replicate``). Mechanisms that are exact in structure
(e.g. nobody leaves at zero attrition) are asserted exactly.

Unless a test says otherwise runs have 100 engineers, 26 weeks and 8 replicates (seed 11),
and a replicate's value is the metric's mean over the weeks.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_falls, assert_not_below, assert_rises, end_values, per_replicate, series

import sim
from sim.model.levers import Pilot

RISES, FALLS = +1, -1


# The few places that read the model's week-by-week internals (per-engineer choices of the last week and
# the levers' own state), kept here so a change of internals is fixed in one spot.


def last_week_use(model: sim.EngineeringOrg) -> dict[str, np.ndarray]:
    """Per-engineer AI use in the week just simulated: choice [N,K] (0 none, j tool j-1), shadow [N,K], token [N], counted by telemetry [N]."""
    wk = model.last_week
    return {"choice": np.asarray(wk.choice), "shadow": np.asarray(wk.shadow, dtype=bool), "token": np.asarray(wk.token, dtype=bool),
            "reporting": np.asarray(wk.reporting, dtype=bool)}


def lever(model: sim.EngineeringOrg, kind: type):
    """The model's lever of a kind."""
    return next(lv for lv in model.levers if isinstance(lv, kind))


def present_states(model: sim.EngineeringOrg) -> dict[int, dict]:
    """State of every engineer present, by slot, through the public agent view."""
    return {a.slot: a.state() for a in model.agents}


def mean_proficiency(model: sim.EngineeringOrg, tools=None) -> float:
    """Mean proficiency over present engineers and the given tools (all when None)."""
    vals = [v for s in present_states(model).values() for t, v in s["proficiency"].items() if tools is None or t in tools]
    return float(np.mean(vals))


def check_grid(small_runs, scenario, path, values, metric, direction, *, group="all", weeks=None, every_replicate=True, end=False, **run_kw):
    """Step through ``values`` of ``path``: never a significant move against ``direction``, a significant move with it overall."""
    per = []
    for v in values:
        df = small_runs(scenario, {path: v}, **run_kw)
        per.append(end_values(df, metric, group) if end else per_replicate(df, metric, group, weeks=weeks))
    what = f"{scenario}: {metric}[{group}] as {path} goes {values}"
    for (a, va), (b, vb) in zip(zip(per, values), zip(per[1:], values[1:])):
        step = f"{what}, step {va} -> {vb}"
        if direction == RISES:
            assert_not_below(a, b, step)
            if every_replicate:
                assert (b >= a - 1e-12).all(), f"{step}: a replicate moved the wrong way: {b - a}"
        else:
            assert_not_below(-a, -b, step)
            if every_replicate:
                assert (b <= a + 1e-12).all(), f"{step}: a replicate moved the wrong way: {b - a}"
    (assert_rises if direction == RISES else assert_falls)(per[0], per[-1], what, every_replicate=every_replicate)
    return per


# --- 1. The policy acts / 6. trust and safety -----------------------------------------


@pytest.mark.parametrize("scenario,path", [("mandate_single_tool", "policy.usage_enforcement"), ("mandate_any_tool", "policy.usage_enforcement"),
                                           ("generate_and_supervise", "policy.norm_enforcement")])
def test_more_enforcement_never_raises_psychological_safety(small_runs, scenario, path):
    check_grid(small_runs, scenario, path, [0.1, 0.4, 0.7, 1.0], "psych_safety", FALLS)


def test_higher_feedback_safety_never_lowers_honest_reporting_under_free_choice_exactly(small_runs):
    """Without enforcement nobody is punished, so team safety is set by the climate alone: honest reporting is monotone week by week."""
    tables = [series(small_runs("free_choice", {"policy.feedback_safety": v}), "honest_reporting_share").to_numpy() for v in (0.0, 0.3, 0.6, 1.0)]
    for a, b in zip(tables, tables[1:]):
        assert (b >= a).all()
    assert tables[-1].mean() > tables[0].mean()


@pytest.mark.parametrize("scenario", ["mandate_single_tool", "generate_and_supervise"])
def test_higher_feedback_safety_never_lowers_honest_reporting_under_pressure(small_runs, scenario):
    check_grid(small_runs, scenario, "policy.feedback_safety", [0.0, 0.3, 0.6, 1.0], "honest_reporting_share", RISES)
    check_grid(small_runs, scenario, "policy.feedback_safety", [0.0, 0.3, 0.6, 1.0], "psych_safety", RISES)


def test_pushback_voicing_rises_with_safety(small_runs):
    # Initial safety also decides who reports honestly from week 1, so beliefs, choices and the people who stay follow other
    # paths: asked of the mean (never a significant move down), not of every replicate (one moved down 0.08 points of 2.4
    # between 0.8 and 1.0 once tool liking followed fit).
    check_grid(small_runs, "mandate_single_tool", "behaviour.trust.initial_safety", [0.2, 0.5, 0.8, 1.0], "pushback_share", RISES, every_replicate=False)
    check_grid(small_runs, "mandate_single_tool", "policy.feedback_safety", [0.0, 0.3, 0.6, 1.0], "pushback_share", RISES)


def test_responding_to_pushback_keeps_trust_in_leadership(small_runs):
    """Ignored pushback costs trust: the less leadership responds (lower feedback safety), the lower trust under a mandate."""
    check_grid(small_runs, "mandate_single_tool", "policy.feedback_safety", [0.0, 0.3, 0.6, 1.0], "trust_leadership", RISES)


# --- 2. Choice: usage targets, restrictions, shadow use, the role norm -------------------


def test_usage_target_raises_weekly_active_share_and_token_and_forced_use(small_runs):
    free = small_runs("free_choice")
    mandated = small_runs("free_choice", {"policy.usage_target": 0.8, "policy.usage_enforcement": 0.7})
    for metric in ("weekly_active_share", "forced_use_share", "token_use_share", "forced_task_share", "usage_pressure"):
        assert_rises(per_replicate(free, metric), per_replicate(mandated, metric), metric, every_replicate=True)
    # Without a usage target nobody is forced and nobody makes token uses.
    for metric in ("forced_use_share", "token_use_share", "forced_task_share", "usage_pressure"):
        assert (series(free, metric).to_numpy() == 0).all(), metric


def test_more_enforcement_raises_weekly_active_share_forced_work_and_pressure(small_runs):
    grid = [0.2, 0.5, 0.8, 1.0]
    check_grid(small_runs, "mandate_single_tool", "policy.usage_enforcement", grid, "weekly_active_share", RISES)
    check_grid(small_runs, "mandate_single_tool", "policy.usage_enforcement", grid, "forced_task_share", RISES)
    check_grid(small_runs, "mandate_single_tool", "policy.usage_enforcement", grid, "usage_pressure", RISES)


@pytest.mark.parametrize("target,enforcement", [(1.0, 0.7), (0.95, 0.2), (0.01, 0.7)])
def test_a_mandate_escalates_pressure_while_usage_is_under_target_and_only_then(target, enforcement):
    """Leadership watches telemetry only: pressure rises by enforcement x escalation after each week under target, up to its ceiling, and holds otherwise."""
    spec = sim.load_scenario("mandate_single_tool", engineers=40, weeks=30, overrides={"policy.usage_target": target, "policy.usage_enforcement": enforcement})
    df = sim.run(spec, replicates=3, seed=2)
    pressure = series(df, "usage_pressure").to_numpy()
    active = series(df, "weekly_active_share").to_numpy()
    pol = spec.policy
    for p, a in zip(pressure, active):
        level = np.concatenate([[0.0], np.cumsum(pol.escalation * (a[:-1] < target))])
        expected = np.minimum(pol.max_pressure, pol.usage_enforcement * (1.0 + level))
        assert np.allclose(p, expected, rtol=0, atol=1e-9), f"pressure {np.round(p, 3)} but telemetry {np.round(a, 3)}"
    if target == 0.01:
        assert np.allclose(pressure, enforcement), "a met target is never escalated"
    else:
        assert (pressure[:, -1] > pressure[:, 0]).all(), "an unmet target escalates"


def test_restricting_approved_tools_to_the_worse_tool_raises_shadow_use_and_risk_and_lowers_trust(small_runs):
    for scenario in ("free_choice", "mandate_single_tool"):
        vetted = small_runs(scenario, {"policy.allowed_tools": "all"})
        restricted = small_runs(scenario, {"policy.allowed_tools": ["inhouse"]})
        # Vetted free choice removes shadow use altogether: no tool is barred.
        assert (series(vetted, "shadow_use_share").to_numpy() == 0).all()
        assert (series(vetted, "shadow_task_share").to_numpy() == 0).all()
        assert_rises(per_replicate(vetted, "shadow_use_share"), per_replicate(restricted, "shadow_use_share"), f"{scenario} shadow", every_replicate=True)
        if scenario == "free_choice":
            # Under free choice vetted use is the only exposure, so barring a tool raises it in every replicate. Under a
            # mandate, widespread vetted use of the barred tool carried exposure too, and barring it trades that for
            # shadow exposure by those who work with AI (7.8): the net is not determined, so it is not asserted.
            assert_rises(per_replicate(vetted, "risk_exposure"), per_replicate(restricted, "risk_exposure"), f"{scenario} risk", every_replicate=True)
        assert_falls(per_replicate(vetted, "trust_leadership"), per_replicate(restricted, "trust_leadership"), f"{scenario} trust", every_replicate=True)


def test_free_choice_leaves_trust_in_leadership_where_it_started(small_runs):
    """Nothing forced, nothing barred, nothing voiced: trust in leadership stays at its initial level."""
    t = series(small_runs("free_choice"), "trust_leadership").to_numpy()
    assert np.allclose(t, sim.Scenario().behaviour.trust.initial_trust_leadership)


def test_shadow_use_is_hidden_from_telemetry(tiny_scenario):
    sc = tiny_scenario("free_choice", engineers=80, weeks=15, overrides={"policy.allowed_tools": ["inhouse"]})
    model = sim.EngineeringOrg(sc, seed=4)
    seen_shadow_only = 0
    for _ in range(sc.weeks):
        model.step()
        use = last_week_use(model)
        approved_use = ((use["choice"] > 0) & ~use["shadow"]).any(axis=1)
        shadow_only = use["shadow"].any(axis=1) & ~approved_use & ~use["token"]
        seen_shadow_only += int(shadow_only.sum())
        assert not (use["reporting"] & shadow_only).any(), "an engineer using only unapproved tools was counted by telemetry"
    assert seen_shadow_only > 0, "the test needs engineers whose only AI use is unapproved"


def test_generate_dont_write_norm_raises_fatigue_of_the_targeted(tiny_scenario):
    """The engineers the norm targets (the most skilled quarter) are more fatigued than the same engineers without it (same seed, same people)."""
    n, share = 120, 0.25
    base = tiny_scenario("free_choice", engineers=n, weeks=20)
    normed = tiny_scenario("free_choice", engineers=n, weeks=20, overrides={"policy.generate_share": share, "policy.norm_enforcement": 0.6})
    diffs = []
    for seed in range(6):
        a, b = sim.EngineeringOrg(base, seed=seed), sim.EngineeringOrg(normed, seed=seed)
        skills = np.array([b.engineer(i).state()["skill"] for i in range(n)])
        assert np.array_equal(skills, [a.engineer(i).state()["skill"] for i in range(n)]), "same seed, same engineers"
        targeted = set(np.argsort(-skills, kind="stable")[: int(share * n)].tolist())
        first_a = {i: a.engineer(i) for i in range(n)}
        first_b = {i: b.engineer(i) for i in range(n)}
        a.run()
        b.run()
        # Engineers still in post in both runs (the same agent in the slot as at the start).
        stayed = [i for i in range(n) if a.engineer(i) is first_a[i] and b.engineer(i) is first_b[i]]
        fa = {i: a.engineer(i).state()["fatigue"] for i in stayed}
        fb = {i: b.engineer(i).state()["fatigue"] for i in stayed}
        hit = [i for i in stayed if i in targeted]
        rest = [i for i in stayed if i not in targeted]
        assert len(hit) >= 10
        diffs.append(np.mean([fb[i] for i in hit]) - np.mean([fa[i] for i in hit]))
        # Within the normed run the targeted are the tired ones.
        assert np.mean([fb[i] for i in hit]) > np.mean([fb[i] for i in rest])
    assert_rises(np.zeros(len(diffs)), np.array(diffs), "fatigue of the targeted", every_replicate=True)


def test_generate_share_raises_senior_fatigue(small_runs):
    check_grid(small_runs, "free_choice", "policy.generate_share", [0.0, 0.1, 0.25], "fatigue", RISES, group="seniority=senior")


# --- 3. Work: tool fit, expertise, rework ------------------------------------------------


def test_a_worse_fitting_tool_never_raises_true_gain(small_runs):
    check_grid(small_runs, "free_choice", "organisation.tools.thirdparty.effects.boilerplate.time_saving", [0.95, 0.7, 0.4, 0.1], "true_gain", FALLS)
    check_grid(small_runs, "mandate_single_tool", "organisation.tools.inhouse.effects.debugging.verification", [0.0, 0.3, 0.8, 2.0], "true_gain", FALLS)


def test_expertise_discount_experts_gain_less(small_runs):
    for scenario in ("free_choice", "mandate_any_tool"):
        df = small_runs(scenario)
        junior, senior = per_replicate(df, "true_gain", "seniority=junior"), per_replicate(df, "true_gain", "seniority=senior")
        assert_falls(junior, senior, f"{scenario}: seniors gain less than juniors", every_replicate=True)
    check_grid(small_runs, "mandate_any_tool", "behaviour.work.expert_discount", [0.0, 0.3, 0.6, 0.9], "true_gain", FALLS, group="seniority=senior")


def test_rework_follows_escaped_defects(small_runs):
    check_grid(small_runs, "mandate_any_tool", "behaviour.quality.fix_hours", [0, 1, 5, 20], "rework_share", RISES)
    # Worse tool output means more escaped defects and more rework.
    worse = {f"organisation.tools.inhouse.effects.{k}.defect_change": 2.0 for k in ("boilerplate", "tests_docs", "debugging", "complex_change", "design_review")}
    base, bad = small_runs("mandate_single_tool"), small_runs("mandate_single_tool", worse)
    assert_rises(per_replicate(base, "escaped_defects"), per_replicate(bad, "escaped_defects"), "escaped defects", every_replicate=True)
    assert_rises(per_replicate(base, "rework_share"), per_replicate(bad, "rework_share"), "rework", every_replicate=True)


def test_no_escaped_defects_means_no_rework(small_runs):
    """Degenerate quality: review catches every defect (catch rate 1), so nothing escapes and no rework ever comes due."""
    perfect = {"behaviour.quality.catch_base": 1.0, "behaviour.quality.catch_fatigue": 0.0}
    df = small_runs("mandate_any_tool", perfect, replicates=2)
    assert (series(df, "escaped_defects").to_numpy() == 0).all()
    assert (series(df, "rework_share").to_numpy() == 0).all()
    free = small_runs("mandate_any_tool", {"behaviour.quality.fix_hours": 0.0}, replicates=2)
    assert (series(free, "rework_share").to_numpy() == 0).all()
    assert (series(free, "escaped_defects").to_numpy() > 0).any()


# --- 4. Perception and learning -----------------------------------------------------------


@pytest.mark.parametrize(
    "path,grid",
    [("behaviour.perception.optimism", [-0.2, 0.0, 0.2, 0.4]), ("behaviour.perception.effort_discount", [0.0, 0.3, 0.6, 1.0])],
)
def test_perception_bias_raises_reported_gain_and_the_measurement_gap(small_runs, path, grid):
    check_grid(small_runs, "free_choice", path, grid, "reported_gain", RISES)
    check_grid(small_runs, "free_choice", path, grid, "measurement_gap", RISES)


def test_more_training_raises_proficiency_and_true_gain_after_the_training_weeks(small_runs, tiny_scenario):
    base, trained = small_runs("free_choice"), small_runs("free_choice", {"policy.training_hours": 40})
    after = range(5, 13)  # the four training weeks are over; the early weeks of use
    assert_rises(per_replicate(base, "true_gain", weeks=after), per_replicate(trained, "true_gain", weeks=after), "true gain after training", every_replicate=True)
    sc0 = tiny_scenario("free_choice", engineers=100, weeks=4)
    sc1 = tiny_scenario("free_choice", engineers=100, weeks=4, overrides={"policy.training_hours": 40})
    for seed in range(3):
        a, b = sim.EngineeringOrg(sc0, seed=seed).run(), sim.EngineeringOrg(sc1, seed=seed).run()
        assert mean_proficiency(b) > mean_proficiency(a) + 0.2


def test_learning_curve_proficiency_rises_with_use_and_decays_without(tiny_scenario):
    """Where AI is used, mean proficiency climbs week after week; where no tool is approved (no use, no training), it only decays."""
    for name, direction in (("mandate_any_tool", RISES), ("no_ai", FALLS)):
        sc = tiny_scenario(name, engineers=80, weeks=20, overrides={"behaviour.people.annual_attrition": 0.0})
        model = sim.EngineeringOrg(sc, seed=1)
        curve = [mean_proficiency(model)]
        for _ in range(sc.weeks):
            model.step()
            curve.append(mean_proficiency(model))
        steps = np.diff(curve)
        if direction == RISES:
            assert (steps > 0).all(), f"{name}: proficiency fell in some week: {np.round(curve, 3)}"
            assert curve[-1] > curve[0] + 0.2
        else:
            assert (steps < 0).all(), f"{name}: proficiency rose without use: {np.round(curve, 3)}"


def test_j_curve_gains_dip_before_they_rise(small_runs):
    """Zero initial proficiency and a heavy learning overhead: the true gain starts negative, dips further, then turns positive."""
    slow_start = {
        "behaviour.work.learning_overhead": 0.5,
        "behaviour.learning.initial_proficiency": 0.0,
        "behaviour.learning.initial_proficiency_sd": 0.0,
    }
    df = small_runs("mandate_any_tool", slow_start, replicates=4, weeks=40)
    g = series(df, "true_gain").mean(axis=0).to_numpy()
    assert g[0] < 0
    low = int(np.argmin(g))
    assert 0 < low < len(g) - 1 and g[low] < g[0], f"expected a dip after week 1: {np.round(g, 3)}"
    assert g[-1] > 0 and g[-1] > g[0]
    # The same organisation starting proficient shows no such dip below zero.
    proficient = small_runs("mandate_any_tool", {"behaviour.learning.initial_proficiency": 1.0, "behaviour.learning.initial_proficiency_sd": 0.0}, replicates=4, weeks=40)
    assert (series(proficient, "true_gain").mean(axis=0).to_numpy() > 0).all()


# --- 5. Reporting / 7. leadership: outcome goals publish what they measure ----------------


def test_publishing_moves_beliefs_toward_the_measured_values(tiny_scenario):
    model = sim.EngineeringOrg(tiny_scenario("outcome_goals"), seed=5)
    model.step()
    wf = model.workforce
    before, trust_before = wf.belief.copy(), wf.trust_leadership.copy()
    rng = np.random.default_rng(0)
    measured = rng.uniform(-0.2, 0.6, (3,) + wf.belief.shape[1:])
    mask = rng.random(measured.shape) < 0.5
    model.hear_published(measured, mask)
    w = model.behaviour.perception.publication_weight
    target = measured[wf.seniority]
    use = mask[wf.seniority] & wf.is_present[:, None, None]
    assert np.allclose(wf.belief[use], before[use] + w * (target[use] - before[use]))
    assert np.array_equal(wf.belief[~use], before[~use])
    assert (np.abs(wf.belief - target)[use] <= np.abs(before - target)[use] + 1e-12).all()
    assert (wf.trust_leadership[wf.is_present] >= trust_before[wf.is_present]).all()


def test_levers_publish_through_the_channels_and_engineers_hear_it_the_same_week():
    """A lever never writes beliefs: it publishes on its channel, and the model applies what was published after leadership reacts."""
    spec = sim.load_scenario("outcome_goals", engineers=60, weeks=13, overrides={"policy.outcome_goals.review_every_weeks": 6})
    model = sim.EngineeringOrg(spec, seed=3)
    published_weeks = []
    for week in range(spec.weeks):
        model.step()
        if model.channels.published:
            published_weeks.append(week)
    # The first reacting week sets the baseline; reviews follow every 6 weeks after the start.
    assert published_weeks == [5, 11]


def test_outcome_goals_publishing_lowers_the_measurement_gap(small_runs):
    # Published measurements and honest retrospectives (7.21a) both correct inflated beliefs, so each is tested with the
    # other channel closed: here no team learns from its retrospectives.
    quiet = {"behaviour.trust.team_learning": 0.0}
    off, on = small_runs("outcome_goals", {**quiet, "policy.outcome_goals.enabled": False}), small_runs("outcome_goals", quiet)
    assert_falls(per_replicate(off, "measurement_gap"), per_replicate(on, "measurement_gap"), "outcome goals")
    grid = [0.0, 0.3, 0.6, 1.0]
    per = [per_replicate(small_runs("outcome_goals", {**quiet, "behaviour.perception.publication_weight": w}), "measurement_gap") for w in grid]
    for (a, wa), (b, wb) in zip(zip(per, grid), zip(per[1:], grid[1:])):
        assert_not_below(-a, -b, f"measurement gap as publication_weight goes {wa} -> {wb}")
    assert_falls(per[0], per[-1], "measurement gap as publication_weight goes 0 -> 1")


# --- Pilot-and-measure ---------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["all", ["boilerplate", "tests_docs"]])
def test_pilot_restricts_ai_to_the_pilot_group_and_scope_during_the_pilot(tiny_scenario, scope):
    sc = tiny_scenario("pilot_and_measure", engineers=120, weeks=20, overrides={"policy.pilot.task_types": scope, "policy.pilot.share": 0.4})
    model = sim.EngineeringOrg(sc, seed=8)
    pilot = lever(model, Pilot)
    in_scope = np.array([scope == "all" or k in scope for k in model.tables.task_names])
    assert 0 < pilot.member.sum() < sc.organisation.size
    member_use = 0
    outsiders_after = 0
    for week in range(sc.weeks):
        model.step()
        use = last_week_use(model)
        ai = use["choice"] > 0
        if week < pilot.end_week:
            assert not ai[~pilot.member].any(), f"week {week}: an engineer outside the pilot used AI"
            assert not ai[:, ~in_scope].any(), f"week {week}: AI used on a task type outside the pilot's scope"
            member_use += int(ai.sum())
        else:
            approved = ai & ~use["shadow"]
            tool = np.maximum(use["choice"] - 1, 0)
            k = np.broadcast_to(np.arange(ai.shape[1]), ai.shape)
            assert pilot.decided[tool[approved], k[approved]].all(), "after the pilot only scaled tool/task pairs are used"
            outsiders_after += int(ai[~pilot.member].sum())
    assert member_use > 0, "the pilot group used AI"
    if pilot.decided.any():
        assert outsiders_after > 0, "after scaling up, engineers outside the pilot use AI too"


def test_the_pilot_group_is_the_declared_share_of_engineers_in_whole_teams():
    """policy.pilot.share is the share of engineers (whole teams) in the pilot: the group is that share, to within one team, never empty."""
    n, share = 200, 0.25
    spec = sim.load_scenario("pilot_and_measure", engineers=n, overrides={"policy.pilot.share": share})
    team = spec.organisation.team_size
    for seed in range(10):
        model = sim.EngineeringOrg(spec, seed=seed)
        member = lever(model, Pilot).member
        teams = {s["team"] for s in present_states(model).values() if member[s["slot"]]}
        assert all(member[s["slot"]] == (s["team"] in teams) for s in present_states(model).values()), "whole teams"
        assert abs(member.mean() - share) <= team / n + 1e-9, f"seed {seed}: pilot group is {member.mean():.3f} of engineers, declared {share}"


# --- 8. Attrition and hiring ------------------------------------------------------------------


def test_higher_annual_attrition_raises_attrition(small_runs):
    per = check_grid(small_runs, "free_choice", "behaviour.people.annual_attrition", [0.0, 0.1, 0.3, 0.8], "attrition_cumulative", RISES, end=True)
    assert (per[0] == 0).all(), "nobody leaves at zero base attrition"
    check_grid(small_runs, "mandate_single_tool", "behaviour.people.annual_attrition", [0.0, 0.1, 0.3, 0.8], "attrition_cumulative", RISES, end=True)


def test_longer_hiring_delay_lowers_headcount(small_runs):
    tables = [series(small_runs("free_choice", {"behaviour.people.hiring_delay_weeks": d, "behaviour.people.annual_attrition": 0.3}), "headcount")
              for d in (0, 4, 12, 40)]
    assert (tables[0].to_numpy() == 100).all(), "with no delay every leaver is replaced the same week"
    means = [t.mean(axis=1).to_numpy() for t in tables]
    for a, b in zip(means, means[1:]):
        assert (b <= a).all()
    assert_falls(means[0], means[-1], "headcount", every_replicate=True)


def test_attrition_is_weighted_toward_the_skilled(small_runs):
    """Under a mandate (trust below its start), a stronger skill weighting makes more of the top fifth leave."""
    check_grid(small_runs, "mandate_single_tool", "behaviour.people.attrition_skill", [0.0, 1.0, 3.0, 5.0], "attrition_top_skill_cumulative", RISES,
               end=True, every_replicate=False, engineers=200)


# --- 2a. Working with AI: adoption, discontinuance, trust, feedback (the model's second edition) ----------------


def test_more_imitation_spreads_voluntary_use_faster(small_runs):
    check_grid(small_runs, "free_choice", "behaviour.choice.adoption_imitation", [0.0, 0.3, 1.0], "weekly_active_share", RISES, every_replicate=False)


def test_a_higher_discontinuance_rate_lowers_voluntary_use(small_runs):
    check_grid(small_runs, "free_choice", "behaviour.choice.discontinue_rate", [0.0, 0.3, 1.0], "weekly_active_share", FALLS, every_replicate=False)


def test_a_higher_engagement_barrier_turns_mandated_use_into_token_use(small_runs):
    check_grid(small_runs, "mandate_single_tool", "behaviour.choice.engagement_barrier", [0.0, 4.0, 12.0], "token_use_share", RISES,
               every_replicate=False)


@pytest.mark.parametrize("path,values", [("behaviour.perception.trust_ai_loss_rate", [0.08, 0.3, 0.8]),
                                         ("behaviour.perception.error_weight", [1.0, 3.0, 8.0])])
def test_trust_in_ai_falls_with_errors_and_negativity_bias(small_runs, path, values):
    check_grid(small_runs, "free_choice", path, values, "trust_ai", FALLS, every_replicate=False)


def test_safe_teams_decline_more_of_the_pushed_use(small_runs):
    check_grid(small_runs, "mandate_single_tool", "behaviour.choice.safe_decline", [0.0, 0.5, 1.0], "pressured_use_share", FALLS,
               every_replicate=False)


@pytest.mark.parametrize("metric", ["token_use_share", "pressured_use_share"])
def test_compliance_theatre_rises_with_enforcement_and_falls_with_feedback_safety(small_runs, metric):
    """Item 2 of the second edition: token use and pressured use on ill-fitting tasks rise with enforcement and fall with feedback safety."""
    check_grid(small_runs, "mandate_single_tool", "policy.usage_enforcement", [0.2, 0.5, 0.8, 1.0], metric, RISES, every_replicate=False)
    check_grid(small_runs, "mandate_single_tool", "policy.feedback_safety", [0.0, 0.3, 0.6, 1.0], metric, FALLS, every_replicate=False)


def test_honest_retrospectives_cut_use_where_ai_slows_the_engineer_faster(small_runs):
    """Item 5 of the second edition: same policy, higher feedback safety -> less AI use on tasks where it truly slows that
    engineer. Tested where slowdowns do not fade by themselves (no scrutiny learning, no tool improvement), so that the
    retrospectives (7.21a) are what corrects them."""
    lasting = {"behaviour.work.scrutiny_learning": 0.0, "behaviour.work.context_improvement": 0.0}
    grid = [0.0, 0.5, 1.0]
    per = [per_replicate(small_runs("outcome_goals", {**lasting, "policy.feedback_safety": v}), "slowdown_task_share") for v in grid]
    for (a, va), (b, vb) in zip(zip(per, grid), zip(per[1:], grid[1:])):
        assert_not_below(-a, -b, f"slowdown_task_share as feedback_safety goes {va} -> {vb}")
    assert_falls(per[0], per[-1], "slowdown_task_share as feedback_safety goes 0 -> 1")
