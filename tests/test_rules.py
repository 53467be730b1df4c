"""The behavioural rules (sim/rules.py) one by one: monotone where the story says so, bounded, and deterministic at degenerate parameters.

Each rule is a pure array function, so these tests sweep grids of inputs and
check the direction of every mechanism exactly; stochastic rules are checked
against their analytic probabilities with binomial standard errors.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from sim.model import rules
from sim.model.params import Behaviour

B = Behaviour()
W, Q, L, PR, CH, TR, PE = B.work, B.quality, B.learning, B.perception, B.choice, B.trust, B.people
GRID = np.linspace(0.0, 1.0, 11)


def nondecreasing(a: np.ndarray, axis: int = -1) -> bool:
    """True when ``a`` never falls along ``axis`` (allowing float rounding)."""
    return bool((np.diff(a, axis=axis) >= -1e-12).all())


def nonincreasing(a: np.ndarray, axis: int = -1) -> bool:
    return nondecreasing(-a, axis)


def components(time_saving=0.5, verification=0.2, codable=0.8, mast=0.3, prof=0.5, extra=0.0, fit=1.0, handicap=1.0, **kw):
    """time_components for one engineer, one tool, one task type, returning scalars (gain, verify, overhead)."""
    g, v, o = rules.time_components(time_saving, verification, codable, mast, prof, extra_verification=extra, fit=fit, handicap=handicap,
                                    work_params=W.model_copy(update=kw))
    return float(g), float(v), float(o)


def multiplier(**kw) -> float:
    g, v, o = components(**kw)
    return float(rules.time_multiplier(np.array(g), np.array(v), np.array(o), W.min_time_multiplier))


# --- Skill, familiarity and the true effect of a tool -------------------------


def test_familiarity_rises_with_tenure_from_zero_toward_one():
    weeks = np.linspace(0, 1000, 101)
    f = rules.familiarity(weeks, L.familiarity_years)
    assert f[0] == 0.0
    assert nondecreasing(f) and (f < 1.0).all() and f[-1] > 0.99
    # After one time constant, 1 - 1/e of the codebase is familiar.
    assert rules.familiarity(np.array([L.familiarity_years * rules.WEEKS_PER_YEAR]), L.familiarity_years)[0] == pytest.approx(1 - math.exp(-1))


def test_mastery_rises_with_skill_and_familiarity_and_is_familiarity_free_on_greenfield_work():
    skill, fam = np.meshgrid(GRID, GRID, indexing="ij")
    context = np.array([0.0, 0.5, 1.0])
    m = rules.mastery(skill[:, :, None], fam[:, :, None], context[None, None, :], W.greenfield_mastery)
    assert nondecreasing(m, axis=0) and nondecreasing(m, axis=1)
    assert ((m >= 0) & (m <= 1)).all()
    # Context-free work: familiarity does not matter; fully context-bound work: mastery = skill x familiarity.
    assert np.allclose(m[:, :, 0], (skill * W.greenfield_mastery))
    assert np.allclose(m[:, :, 2], skill * fam)


def test_work_speed_rises_with_skill():
    s = rules.work_speed(GRID, W.speed_min, W.speed_skill)
    assert s[0] == W.speed_min and nondecreasing(s) and s[-1] == pytest.approx(W.speed_min + W.speed_skill)


@pytest.mark.parametrize("mast", [0.0, 0.4, 0.9])
@pytest.mark.parametrize("prof", [0.0, 0.5, 1.0])
def test_a_worse_fitting_tool_is_never_faster(mast, prof):
    """Lower time_saving or higher verification never lowers the time multiplier (never raises the true gain)."""
    savings = np.linspace(0.0, 0.95, 20)
    m_saving = np.array([multiplier(time_saving=s, mast=mast, prof=prof) for s in savings])
    assert nonincreasing(m_saving), "more time saving must never make the task slower"
    verifs = np.linspace(0.0, 2.0, 21)
    m_verif = np.array([multiplier(verification=v, mast=mast, prof=prof) for v in verifs])
    assert nondecreasing(m_verif), "more verification must never make the task faster"


def test_expertise_discount_experts_on_familiar_code_gain_less_and_verify_more():
    masts = GRID
    g = np.array([components(mast=m)[0] for m in masts])
    v = np.array([components(mast=m)[1] for m in masts])
    assert nonincreasing(g) and g[-1] < g[0]
    assert nondecreasing(v) and v[-1] > v[0]
    # Full mastery forgoes exactly expert_discount of the saving.
    assert g[-1] == pytest.approx(g[0] * (1 - W.expert_discount))
    # No expert discount and no scrutiny: mastery does not matter.
    flat = [components(mast=m, expert_discount=0.0, expert_scrutiny=0.0) for m in masts]
    assert all(np.allclose(f, flat[0]) for f in flat)


def test_novices_on_boilerplate_gain_most_experts_on_mature_code_can_be_slower():
    """The default best-of-breed tool: a novice on boilerplate is much faster; a seasoned expert on a complex change in code they know is slower."""
    from sim.model.params import Organisation

    org = Organisation()
    tp = org.tools["thirdparty"].effects
    bp, cc = org.task_types["boilerplate"], org.task_types["complex_change"]
    novice_mast = float(rules.mastery(0.3, 0.0, bp.context_dependence, W.greenfield_mastery))
    expert_mast = float(rules.mastery(0.9, 0.95, cc.context_dependence, W.greenfield_mastery))
    novice = multiplier(time_saving=tp["boilerplate"].time_saving, verification=tp["boilerplate"].verification, codable=bp.codable_share, mast=novice_mast, prof=L.initial_proficiency)
    expert = multiplier(time_saving=tp["complex_change"].time_saving, verification=tp["complex_change"].verification, codable=cc.codable_share, mast=expert_mast, prof=L.initial_proficiency)
    assert novice < 0.8
    assert expert > 1.0


def test_learning_curve_proficiency_lowers_task_time_and_can_turn_a_loss_into_a_gain():
    """The J-curve at the level of one task: at zero proficiency the tool costs time, at full proficiency it saves time."""
    profs = GRID
    m = np.array([multiplier(time_saving=0.3, verification=0.1, codable=0.8, mast=0.2, prof=p, learning_overhead=0.5) for p in profs])
    assert nonincreasing(m)
    assert m[0] > 1.0 > m[-1]
    g = np.array([components(prof=p)[0] for p in profs])
    v = np.array([components(prof=p)[1] for p in profs])
    o = np.array([components(prof=p)[2] for p in profs])
    assert nondecreasing(g) and nonincreasing(v) and nonincreasing(o) and o[-1] == 0.0


def test_generate_norm_supervision_raises_verification_only():
    g0, v0, o0 = components(extra=0.0)
    g1, v1, o1 = components(extra=W.generate_verification)
    assert v1 > v0 and g1 == g0 and o1 == o0


def test_time_multiplier_is_floored():
    assert float(rules.time_multiplier(np.array(2.0), np.array(0.0), np.array(0.0), W.min_time_multiplier)) == W.min_time_multiplier == 0.05
    assert float(rules.time_multiplier(np.array(2.0), np.array(0.0), np.array(0.0), 0.2)) == 0.2


# --- The weekly choice --------------------------------------------------------


def _utility(**over):
    n, t, k = 4, 2, 3
    args = dict(
        belief=np.full((n, t, k), 0.2), affinity=np.zeros((n, 1, 1)), trust_ai=np.full((n, 1, 1), 0.5), peer_share=np.full((n, t, k), 0.5),
        habit=np.zeros((n, t, k)), tried=np.ones((n, t, k), dtype=bool), endorsement=np.zeros((n, t, k)),
        taste=np.zeros((n, t, 1)), novel=np.zeros((n, t, 1)), fatigue=np.zeros((n, 1, 1)),
    )
    args.update(over)
    return rules.tool_utility(**args, choice_params=CH)


def test_utility_rises_with_belief_trust_peers_habit_endorsement_and_falls_for_untried_tools():
    base = _utility()
    assert (_utility(belief=np.full((4, 2, 3), 0.4)) > base).all()
    assert (_utility(trust_ai=np.full((4, 1, 1), 0.9)) > base).all()
    assert (_utility(affinity=np.full((4, 1, 1), 1.0)) > base).all()
    assert (_utility(peer_share=np.full((4, 2, 3), 0.9)) > base).all()
    assert (_utility(habit=np.ones((4, 2, 3))) > base).all()
    assert (_utility(endorsement=np.ones((4, 2, 3))) > base).all()
    assert (_utility(tried=np.zeros((4, 2, 3), dtype=bool)) < base).all()


def choose(utility: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Choices [N,K] from utilities [N,T,K] (-inf: unavailable) and uniforms [N,K], by the logit choice production uses (rules.pick, compiled)."""
    from sim.model import kernels

    N, T, K = utility.shape
    available = np.isfinite(utility)
    weights = np.where(available, rules.choice_weight(np.where(available, utility, 0.0)), 0.0)
    out = np.empty((N, K), dtype=np.int64)
    for i in range(N):
        for k in range(K):
            out[i, k] = kernels.pick(float(u[i, k]), np.ascontiguousarray(weights[i, :, k]))
    return out


def test_the_logit_choice_is_one_function_in_python_and_compiled():
    """rules.pick on a Python list (as the reference model calls it) and compiled (as the kernels call it) choose the same option."""
    from sim.model import kernels

    rng = np.random.default_rng(3)
    for _ in range(2000):
        t = int(rng.integers(1, 5))
        w = np.where(rng.random(t) < 0.3, 0.0, np.exp(rng.normal(0, 2, t)))
        u = float(rng.random())
        assert rules.pick(u, w.tolist()) == kernels.pick(u, w)


def test_choose_degenerate_cases_are_deterministic():
    n, t, k = 5, 3, 2
    u = np.random.default_rng(0).random((n, k))
    none = np.full((n, t, k), -np.inf)
    assert (choose(none, u) == 0).all(), "no tool available: nobody uses AI"
    only_second = none.copy()
    only_second[:, 1, :] = 60.0  # overwhelming utility (clipped at 50)
    c = choose(only_second, np.clip(u, 1e-12, 1 - 1e-12))
    assert (c == 2).all(), "one overwhelmingly good tool: everybody picks it"
    # u = 0 always picks no AI (its probability is positive); u just below 1 the last available tool.
    assert (choose(np.zeros((n, t, k)), np.zeros((n, k))) == 0).all()
    last_avail = np.zeros((n, t, k))
    last_avail[:, 2, :] = -np.inf
    assert (choose(last_avail, np.full((n, k), 1 - 1e-12)) == 2).all(), "an unavailable last tool is never chosen"


def test_choose_matches_logit_probabilities_within_binomial_error():
    rng = np.random.default_rng(12345)
    utilities = np.array([0.5, -1.0, 1.5])  # three tools; no AI has utility 0
    n = 200_000
    util = np.broadcast_to(utilities[None, :, None], (n, 3, 1)).copy()
    c = choose(util, rng.random((n, 1)))[:, 0]
    e = np.exp(np.concatenate([[0.0], utilities]))
    p = e / e.sum()
    for j in range(4):
        freq = (c == j).mean()
        se = math.sqrt(p[j] * (1 - p[j]) / n)
        assert abs(freq - p[j]) < 4 * se, f"option {j}: frequency {freq:.4f}, logit probability {p[j]:.4f} (se {se:.4f})"


def test_pressure_never_turns_a_chosen_use_into_no_use():
    """With the same draws, adding pressure to every available tool keeps every engineer who chose AI on AI (so 'forced' is well defined)."""
    rng = np.random.default_rng(7)
    n, t, k = 2000, 2, 5
    base = rng.normal(0, 3, (n, t, k))
    base[rng.random((n, t, k)) < 0.2] = -np.inf
    u = rng.random((n, k))
    free = choose(base, u)
    for push in (0.5, 2.0, 6.0):
        pushed = choose(base + push, u)
        assert not ((free > 0) & (pushed == 0)).any()
        assert (pushed > 0).mean() >= (free > 0).mean()


def test_shadow_use_only_above_the_gap_rises_with_advantage_and_falls_with_enforcement():
    adv = np.linspace(-0.5, 1.0, 31)[None, :].repeat(3, axis=0)
    aff = np.array([-3.0, 0.0, 3.0])[:, None]
    p = rules.shadow_probability(adv, aff, 0.0, 0.0, benefit_weight=CH.benefit_weight, shadow_gap=CH.shadow_gap, shadow_penalty=CH.shadow_penalty)
    assert ((p >= 0) & (p <= 1)).all()
    assert (p[adv <= CH.shadow_gap] == 0).all()
    assert nondecreasing(p, axis=1)
    assert nondecreasing(p, axis=0), "more affinity for AI, more shadow use"
    for e0, e1 in ((0.0, 0.5), (0.5, 1.0)):
        p0 = rules.shadow_probability(adv, aff, e0, 0.0, benefit_weight=CH.benefit_weight, shadow_gap=CH.shadow_gap, shadow_penalty=CH.shadow_penalty)
        p1 = rules.shadow_probability(adv, aff, e1, 0.0, benefit_weight=CH.benefit_weight, shadow_gap=CH.shadow_gap, shadow_penalty=CH.shadow_penalty)
        assert (p1 <= p0).all()
    outside = rules.shadow_probability(adv, aff, 0.0, CH.engagement_barrier, benefit_weight=CH.benefit_weight, shadow_gap=CH.shadow_gap,
                                       shadow_penalty=CH.shadow_penalty)
    assert (outside <= p).all() and (outside[p > 0] < p[p > 0]).all(), "one who does not work with AI rarely turns to a barred tool"


def test_token_use_rises_with_pressure_from_zero_and_is_a_probability():
    pressure = np.linspace(0, 5, 51)
    p = rules.token_probability(pressure, CH.token_propensity)
    assert p[0] == 0 and nondecreasing(p) and ((p >= 0) & (p <= 1)).all() and p[-1] == 1.0
    assert (rules.token_probability(pressure, 0.0) == 0).all()


# --- Work, defects, rework ----------------------------------------------------


def test_fatigue_drains_hours_and_catch_rate():
    h = rules.available_hours(W.focus_hours, GRID, W.fatigue_drag)
    assert h[0] == W.focus_hours and nonincreasing(h) and h[-1] == pytest.approx(W.focus_hours * (1 - W.fatigue_drag))
    skill, fat = np.meshgrid(GRID, GRID, indexing="ij")
    c = rules.catch_rate(skill, fat, Q.catch_base, Q.catch_skill, Q.catch_fatigue)
    assert ((c >= 0) & (c <= 1)).all()
    assert nondecreasing(c, axis=0) and nonincreasing(c, axis=1)


def test_rework_comes_due_as_a_share_capped_by_capacity():
    pending = np.array([0.0, 10.0, 100.0, 1000.0])
    cap = np.array([20.0, 20.0, 20.0, 20.0])
    r = rules.rework_due(pending, Q.rework_due, cap)
    assert (r <= cap).all() and (r <= pending * Q.rework_due + 1e-12).all() and r[0] == 0
    assert np.allclose(r, np.minimum(pending * Q.rework_due, cap))


def test_defects_rise_with_work_rate_and_the_tools_defect_change_and_fall_with_skill():
    delivered = np.array([[10.0, 5.0]])
    rate = np.array([0.1, 0.05])
    d = [rules.defects_introduced(delivered, rate, np.array([0.5]), Q.skill_defect_reduction, np.full((1, 2), dc)) for dc in (-0.5, 0.0, 0.5, 2.0)]
    assert all((b >= a).all() for a, b in zip(d, d[1:]))
    by_skill = [rules.defects_introduced(delivered, rate, np.array([s]), Q.skill_defect_reduction, np.zeros((1, 2))) for s in GRID]
    assert all((b <= a + 1e-15).all() for a, b in zip(by_skill, by_skill[1:]))
    assert (rules.defects_introduced(np.zeros((1, 2)), rate, np.array([0.5]), 0.5, np.zeros((1, 2))) == 0).all()


# --- Perception and learning -------------------------------------------------


def _perceived(true, hidden, belief, z, *, effort_discount, optimism, anchoring, noise_sd):
    """What an engineer perceives: the felt saving (true saving, uncounted effort, optimism), anchored on belief, noisy."""
    felt = rules.felt_saving(true, hidden, effort_discount=effort_discount, optimism=optimism)
    return rules.perceived_saving(felt, belief, z, anchoring=anchoring, noise_sd=noise_sd)


def test_perceived_saving_is_biased_upward_by_optimism_and_uncounted_effort():
    true = np.linspace(-0.3, 0.6, 10)
    hidden = np.full(10, 0.2)
    belief = np.zeros(10)
    z = np.zeros(10)
    # No anchoring, no noise, no bias: perception is the truth.
    exact = _perceived(true, hidden, belief, z, effort_discount=0.0, optimism=0.0, anchoring=0.0, noise_sd=0.0)
    assert np.allclose(exact, true)
    prev = None
    for opt in (-0.2, 0.0, 0.1, 0.3):
        p = _perceived(true, hidden, belief, z, effort_discount=PR.effort_discount, optimism=opt, anchoring=PR.anchoring, noise_sd=PR.noise_sd)
        if prev is not None:
            assert (p > prev).all()
        prev = p
    prev = None
    for ed in (0.0, 0.4, 0.8, 1.0):
        p = _perceived(true, hidden, belief, z, effort_discount=ed, optimism=PR.optimism, anchoring=PR.anchoring, noise_sd=PR.noise_sd)
        if prev is not None:
            assert (p > prev).all()
        prev = p
    # Anchoring weight pulls perception toward the belief; noise adds noise_sd per unit of z.
    b = np.full(10, 0.5)
    anchored = _perceived(true, hidden, b, z, effort_discount=0.0, optimism=0.0, anchoring=0.9, noise_sd=0.0)
    assert np.allclose(anchored, 0.9 * 0.5 + 0.1 * true)
    noisy = _perceived(true, hidden, belief, np.ones(10), effort_discount=0.0, optimism=0.0, anchoring=0.0, noise_sd=0.15)
    assert np.allclose(noisy, true + 0.15)


def test_update_toward_moves_a_share_of_the_way():
    x, t = np.array([0.0, 1.0, 0.5]), np.array([1.0, 0.0, 0.5])
    assert np.allclose(rules.update_toward(x, t, 0.0), x)
    assert np.allclose(rules.update_toward(x, t, 1.0), t)
    y = rules.update_toward(x, t, 0.25)
    assert (np.abs(t - y) <= np.abs(t - x)).all()


def test_proficiency_rises_with_use_and_training_and_decays_unused():
    p0 = np.linspace(0, 1, 11)
    prev = p0
    for intensity in (0.1, 0.5, 1.0):
        p = rules.learn_proficiency(p0, np.full(11, intensity), L.learning_rate, L.forgetting)
        assert (p >= prev).all() and ((p >= 0) & (p <= 1)).all()
        prev = p
    unused = rules.learn_proficiency(p0, np.zeros(11), L.learning_rate, L.forgetting)
    assert (unused <= p0).all() and np.allclose(unused, p0 * (1 - L.forgetting))
    # Repeated use approaches full proficiency (a learning curve).
    p = np.zeros(1)
    curve = []
    for _ in range(200):
        p = rules.learn_proficiency(p, np.ones(1), L.learning_rate, L.forgetting)
        curve.append(p[0])
    assert nondecreasing(np.array(curve)) and curve[-1] > 0.99
    assert np.diff(curve)[0] > np.diff(curve)[-1], "the learning curve flattens"
    hours = np.linspace(0, 100, 11)
    trained = rules.trained_proficiency(np.full(11, 0.1), hours, L.training_effect)
    assert trained[0] == pytest.approx(0.1) and nondecreasing(trained) and (trained <= 1).all()


def test_trust_in_ai_falls_with_the_errors_one_finds():
    t = rules.trust_ai_target(np.linspace(0, 1, 21), PR.error_weight)
    assert nonincreasing(t) and t[0] == 1 and t[-1] == 0 and ((t >= 0) & (t <= 1)).all()


# --- Fatigue, morale -------------------------------------------------------------


def test_fatigue_follows_review_load_and_saturates():
    review = np.linspace(0, 40, 41)
    f = rules.fatigue_target(review, W.focus_hours, PE.fatigue_saturation)
    assert f[0] == 0 and nondecreasing(f) and f[-1] == 1.0 and ((f >= 0) & (f <= 1)).all()


def test_morale_falls_with_fatigue_forced_work_and_the_norm_and_rises_with_felt_gain():
    def m(fat=0.2, forced=0.2, norm=0.0, felt=0.1):
        return float(rules.morale_target(PE.initial_morale, np.array(fat), np.array(forced), np.array(norm), np.array(felt),
                                         morale_fatigue=PE.morale_fatigue, morale_forced=PE.morale_forced, morale_gain=PE.morale_gain))

    assert m(fat=0.6) < m(fat=0.2) and m(forced=0.8) < m(forced=0.2) and m(norm=0.15) < m(norm=0.0) and m(felt=0.4) > m(felt=0.1)
    assert m(fat=1, forced=1, norm=1, felt=-1) == 0.0 and m(fat=0, forced=0, felt=5) == 1.0


# --- Reporting, voice, trust and safety -------------------------------------------


def test_honest_reporting_is_monotone_in_safety():
    thr = np.random.default_rng(1).normal(TR.honesty_threshold, TR.honesty_threshold_sd, 1000)
    shares = [rules.is_honest(np.full(1000, s), thr).mean() for s in GRID]
    assert nondecreasing(np.array(shares))
    assert rules.is_honest(np.array([0.5]), np.array([0.5]))[0]


def test_slanted_reports_lean_toward_the_wanted_gain_only_when_not_honest():
    honest_report = np.linspace(-0.2, 0.6, 9)
    stake = np.ones(9)
    same = rules.slanted_report(honest_report, np.ones(9, dtype=bool), stake, TR.wanted_gain)
    assert np.array_equal(same, honest_report)
    slanted = rules.slanted_report(honest_report, np.zeros(9, dtype=bool), stake, TR.wanted_gain)
    assert (slanted >= honest_report).all()
    assert np.allclose(slanted, np.maximum(honest_report, TR.wanted_gain))
    no_stake = rules.slanted_report(honest_report, np.zeros(9, dtype=bool), np.zeros(9), TR.wanted_gain)
    assert np.array_equal(no_stake, honest_report)
    half = rules.slanted_report(honest_report, np.zeros(9, dtype=bool), np.full(9, 0.5), TR.wanted_gain)
    assert ((half >= honest_report) & (half <= slanted)).all()


def test_implied_gain_rises_with_ai_share_and_saving():
    share, saving = np.meshgrid(GRID, np.linspace(-0.5, 0.8, 14), indexing="ij")
    g = rules.implied_gain(share, saving)
    assert nondecreasing(g, axis=1) and (g[0] == 0).all()
    assert np.isfinite(rules.implied_gain(np.array([1.0]), np.array([1.0]))).all()


def test_pushback_voicing_rises_with_safety():
    p = rules.voice_probability(GRID, TR.voice_threshold, TR.voice_slope, TR.voice_rate)
    assert nondecreasing(p) and p[-1] > p[0] and ((p >= 0) & (p <= TR.voice_rate)).all()
    assert float(rules.voice_probability(np.array([TR.voice_threshold]), TR.voice_threshold, TR.voice_slope, TR.voice_rate)[0]) == pytest.approx(TR.voice_rate / 2)


def _trust(trust=0.6, forced=0.0, gap=0.0, voiced=False, resp=0.5):
    return float(rules.trust_leadership_change(
        np.array([trust]), TR.initial_trust_leadership, np.array([forced]), np.array([gap]), np.array([voiced]), resp,
        drift=TR.trust_drift, forced_cost=TR.forced_cost, restriction_cost=TR.restriction_cost,
        ignored_cost=TR.ignored_cost, response_gain=TR.response_gain,
    )[0])


def test_trust_in_leadership_falls_with_forced_use_barred_tools_and_ignored_pushback():
    forced = [_trust(forced=f) for f in GRID]
    gaps = [_trust(gap=g) for g in GRID]
    assert nonincreasing(np.array(forced)) and forced[-1] < forced[0]
    assert nonincreasing(np.array(gaps)) and gaps[-1] < gaps[0]
    assert _trust(voiced=True, resp=0.0) < _trust(voiced=False, resp=0.0), "ignored pushback costs trust"
    assert _trust(voiced=True, resp=1.0) > _trust(voiced=False, resp=1.0), "a visible response earns trust"
    voiced = [_trust(voiced=True, resp=r) for r in GRID]
    assert nondecreasing(np.array(voiced))
    # Nothing happening: trust drifts back toward its initial level.
    assert _trust(trust=0.3) > 0.3 and _trust(trust=0.9) < 0.9
    assert 0.0 <= _trust(trust=0.0, forced=1, gap=1, voiced=True, resp=0.0) <= 1.0


def test_safety_climate_falls_with_enforcement_and_rises_with_feedback_safety():
    c = np.array([[rules.safety_climate(TR.initial_safety, fs, e, TR.safety_from_feedback, TR.safety_from_enforcement) for e in GRID] for fs in GRID])
    assert nonincreasing(c, axis=1), "more enforcement never raises the safety climate"
    assert nondecreasing(c, axis=0), "more feedback safety never lowers it"
    assert ((c >= 0) & (c <= 1)).all()


def test_team_safety_moves_toward_the_climate_and_falls_with_punishment():
    s = np.linspace(0, 1, 11)
    up = rules.safety_change(s, 0.8, np.zeros(11), TR.safety_rate, TR.punishment_cost)
    assert (up[s < 0.8] > s[s < 0.8]).all() and (up[s > 0.8] < s[s > 0.8]).all()
    punished = [rules.safety_change(s, 0.6, np.full(11, p), TR.safety_rate, TR.punishment_cost) for p in GRID]
    assert all((b <= a).all() for a, b in zip(punished, punished[1:]))
    assert all(((p >= 0) & (p <= 1)).all() for p in punished)


# --- Attrition ------------------------------------------------------------------


def _leave(trust=None, fatigue=0.0, morale=None, skill=0.5, **over):
    kw = dict(
        annual_attrition=PE.annual_attrition, initial_trust=TR.initial_trust_leadership, initial_morale=PE.initial_morale,
        attrition_trust=PE.attrition_trust, attrition_fatigue=PE.attrition_fatigue, attrition_morale=PE.attrition_morale,
        attrition_skill=PE.attrition_skill,
    )
    kw.update(over)
    trust = TR.initial_trust_leadership if trust is None else trust
    morale = PE.initial_morale if morale is None else morale
    return rules.leave_probability(np.atleast_1d(np.asarray(trust, float)), np.atleast_1d(np.asarray(fatigue, float)),
                                   np.atleast_1d(np.asarray(morale, float)), np.atleast_1d(np.asarray(skill, float)), **kw)


def test_neutral_hazard_reproduces_the_annual_attrition():
    for a in (0.0, 0.05, 0.12, 0.5, 0.8):
        p = float(_leave(annual_attrition=a)[0])
        assert 1 - (1 - p) ** rules.WEEKS_PER_YEAR == pytest.approx(a, abs=1e-12)


def test_leaving_rises_with_base_attrition_low_trust_fatigue_and_low_morale():
    assert nondecreasing(np.array([_leave(annual_attrition=a)[0] for a in np.linspace(0, 0.8, 9)]))
    assert nonincreasing(_leave(trust=GRID, fatigue=np.zeros(11), morale=np.full(11, PE.initial_morale), skill=np.full(11, 0.5)))
    assert nondecreasing(_leave(fatigue=GRID, trust=np.full(11, 0.65), morale=np.full(11, PE.initial_morale), skill=np.full(11, 0.5)))
    assert nonincreasing(_leave(morale=GRID, trust=np.full(11, 0.65), fatigue=np.zeros(11), skill=np.full(11, 0.5)))
    extreme = _leave(trust=0.0, fatigue=1.0, morale=0.0, skill=1.0, attrition_trust=10, attrition_fatigue=10, attrition_morale=10, attrition_skill=5, annual_attrition=0.8)
    assert 0.0 <= extreme[0] <= 1.0


def test_attrition_is_weighted_toward_the_skilled_when_dissatisfied():
    skill = GRID
    n = skill.size
    unhappy = _leave(trust=np.full(n, 0.3), fatigue=np.full(n, 0.5), morale=np.full(n, 0.4), skill=skill)
    assert nondecreasing(unhappy) and unhappy[-1] > unhappy[0]
    neutral = _leave(trust=np.full(n, TR.initial_trust_leadership), fatigue=np.zeros(n), morale=np.full(n, PE.initial_morale), skill=skill)
    assert np.allclose(neutral, neutral[0]), "at neutral trust, morale and fatigue skill does not matter"
    no_weight = _leave(trust=np.full(n, 0.3), fatigue=np.full(n, 0.5), morale=np.full(n, 0.4), skill=skill, attrition_skill=0.0)
    assert np.allclose(no_weight, no_weight[0])


# --- Small helpers and the compiled rules -----------------------------------------------------


def test_clip_and_choice_weight():
    x = np.linspace(-2, 2, 9)
    assert np.array_equal(rules.clip(x, -1.0, 1.0), np.clip(x, -1.0, 1.0))
    assert rules.clip(5.0, 0.0, 1.0) == 1.0
    w = rules.choice_weight(np.array([-1e9, -50.0, 0.0, 1.0, 50.0, 1e9]))
    assert np.isfinite(w).all() and (w > 0).all() and nondecreasing(w)
    assert w[2] == 1.0 and w[3] == pytest.approx(math.e) and w[0] == w[1] and w[-1] == w[-2]


def _compiled_rules() -> list[str]:
    """Names of the rules the organisation model compiles (sim/kernels.py), if it compiles any."""
    import inspect

    try:
        from sim.model import kernels
    except ImportError:  # pragma: no cover - a model without compiled kernels
        return []
    names = [name for name, f in inspect.getmembers(rules, inspect.isfunction) if f.__module__ == rules.__name__]
    # pick and nested_weights take arrays of weights: tested on their own.
    return [n for n in names if hasattr(getattr(kernels, n, None), "py_func") and n not in ("pick", "nested_weights")]


@pytest.mark.parametrize("name", _compiled_rules())
def test_the_model_s_compiled_rules_compute_what_the_rules_say(name):
    """The organisation model's kernels compile the rules of sim/rules.py as they are: same numbers for the same scalar inputs."""
    import inspect

    from sim.model import kernels

    from types import SimpleNamespace

    from sim.model import bundles

    compiled = getattr(kernels, name)
    f = getattr(rules, name)
    names = list(inspect.signature(f).parameters)
    rng = np.random.default_rng(zlib.crc32(name.encode()))

    def value(param: str, x: float):
        """A scalar, or for a parameter section (``choice_params``: ``Behaviour.choice``) its bundle, with every field drawn."""
        key = param.removesuffix("_params")
        if not param.endswith("_params") or key not in bundles.PARAM_TYPES:
            return x
        fields = bundles.PARAM_TYPES[key]._fields
        return bundles.section(key, SimpleNamespace(**dict(zip(fields, rng.uniform(0.01, 1.0, len(fields))))))

    # Positive inputs (divisors such as the saturation or the familiarity time constant are bounded away from 0).
    n = len(names)
    draws = [rng.uniform(0.01, 1.0, n) for _ in range(20)] + [np.full(n, 0.01), np.full(n, 0.8), np.full(n, 0.5)]
    for draw in draws:
        args = [value(p, float(a)) for p, a in zip(names, draw)]
        expected = np.asarray(f(*args), dtype=float)
        got = np.asarray(compiled(*args), dtype=float)
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15, err_msg=f"{name}{tuple(args)}")


# --- Work accounting, voice and leadership's measurements -------------------------------


def test_task_hours_left_are_never_negative_and_fall_with_each_use_of_time():
    cap = np.linspace(0, 30, 7)[:, None]
    left = rules.task_hours_left(cap, 5.0, 0.5, np.linspace(0, 40, 5)[None, :])
    assert (left >= 0).all() and nonincreasing(left, axis=1)
    assert rules.task_hours_left(28.0, 2.0, 0.5, 1.5) == 24.0
    assert rules.hours_per_day(0.0) == 1.0 / rules.WORKDAYS_PER_WEEK, "a week with no task time still has a finite pace"


def test_delivered_work_and_touch_time_follow_the_multiplier():
    faster, slower = rules.delivered_work(1.0, 10.0, 0.5), rules.delivered_work(1.0, 10.0, 2.0)
    assert faster == 20.0 and slower == 5.0
    assert rules.touch_days(6.0, 0.5, 1.0, 4.0) < rules.touch_days(6.0, 1.0, 1.0, 4.0) < rules.touch_days(6.0, 1.0, 0.5, 4.0)
    assert rules.defects_escaped(2.0, 1.0) == 0.0 and rules.defects_escaped(2.0, 0.0) == 2.0


def test_review_wait_grows_with_the_verification_load_and_cycle_time_adds_it():
    w = rules.review_wait(1.0, 3.0, GRID)
    assert w[0] == 1.0 and nondecreasing(w)
    assert rules.cycle_time_days(np.array([10.0, 20.0]), 5, 1.5).tolist() == [3.5, 5.5]


def test_dissent_is_punished_only_when_voiced_under_enforcement_and_unsafe_feedback():
    assert rules.punishment(0.0, 1.0, 0.0) == 0.0, "silence is never punished"
    assert rules.punishment(1.0, 0.0, 0.0) == 0.0, "no enforcement, no punishment"
    assert rules.punishment(1.0, 1.0, 1.0) == 0.0, "fully safe feedback, no punishment"
    p = np.array([[rules.punishment(1.0, e, fs) for e in GRID] for fs in GRID])
    assert nondecreasing(p, axis=1) and nonincreasing(p, axis=0)
    assert rules.is_dissatisfied(0.06, 0.05, 0.1) and not rules.is_dissatisfied(0.05, 0.05, 0.1)


def test_leadership_backs_what_measurably_works_and_advises_against_what_slows_work():
    saving = np.array([-0.1, 0.0, 0.04, 0.05, 0.3])
    b = rules.backing(saving, 0.05, 1.5)
    assert b.tolist() == [-1.0, 0.0, 0.0, 1.5, 1.5]
    assert rules.backing_strength(0.0, 0.5) == 1.0 and rules.backing_strength(1.0, 0.5) == 1.5
    assert rules.goal_shortfall(0.0, -1.0) == 0.0, "no target, no shortfall"
    assert rules.goal_shortfall(0.15, 0.2) == 0.0 and rules.goal_shortfall(0.15, -0.5) == 1.0
    advice = rules.quality_advice(b, np.array([2.0, 2.0, 1.0, 1.3, 1.1]), 1.2)
    assert (advice <= b).all() and advice.tolist() == [-1.0, -1.0, 0.0, -1.0, 1.5]
    assert rules.after_transparency(0.99, 0.02) == 1.0


def test_measured_savings_are_unbiased_and_sharper_with_more_evidence():
    rng = np.random.default_rng(11)
    for n in (1.0, 25.0):
        z = rng.standard_normal(200_000)
        m = rules.measured_saving(0.2 * n, n, z, 0.3)
        assert abs(m.mean() - 0.2) < 4 * 0.3 / math.sqrt(n) / math.sqrt(z.size)
        assert m.std() == pytest.approx(0.3 / math.sqrt(n), rel=0.01)
    assert rules.defect_ratio(np.array([0.2, 0.2]), np.array([0.1, 0.0])).tolist() == [2.0, 1.0], "no baseline to compare: ratio 1"
    assert rules.pilot_saving(1.0, 1.0) == 0.0 and rules.pilot_saving(0.8, 1.0) == pytest.approx(0.2)
    assert rules.relative_reduction(8.0, 10.0) == pytest.approx(0.2)


# --- Second edition: fit, novelty, pressure resisted, tools improving, study choices, cost ------------------


def test_tools_lose_their_handicap_on_known_code_year_by_year():
    h = rules.context_handicap(np.array([-2.0, 0.0, 1.0, 2.0, 5.0]), 0.3)
    assert h[1] == 1.0 and (np.diff(h) < 0).all() and h[0] > 1.0, "older tools were more handicapped"
    assert rules.context_handicap(3.0, 0.0) == 1.0, "no improvement, no change"
    slow = multiplier(mast=0.9, prof=0.3, handicap=1.0)
    assert multiplier(mast=0.9, prof=0.3, handicap=0.5) < slow, "a smaller handicap makes an expert faster with the tool"


def test_personal_fit_averages_one_and_a_better_fit_saves_more_time():
    z = np.random.default_rng(1).standard_normal(400_000)
    assert rules.tool_fit(z, 0.4).mean() == pytest.approx(1.0, abs=0.005)
    assert (rules.tool_fit(z, 0.0) == 1.0).all()
    fits = np.linspace(0.5, 1.5, 11)
    assert nonincreasing(np.array([multiplier(fit=f) for f in fits]))


def test_proficiency_lowers_the_scrutiny_experts_give_generated_output():
    v = np.array([components(mast=0.9, prof=p, scrutiny_learning=0.8)[1] for p in GRID])
    assert nonincreasing(v)
    v0 = np.array([components(mast=0.9, prof=p, scrutiny_learning=0.0)[1] for p in GRID])
    assert (v <= v0 + 1e-15).all()


def test_novelty_only_after_trying_and_fading_with_use():
    assert rules.novelty(0.0, 0.0, 8.0) == 0.0
    n = rules.novelty(np.arange(0, 60.0), 1.0, 8.0)
    assert n[0] == 1.0 and (np.diff(n) < 0).all() and n[-1] < 0.001


def test_a_safe_engineer_gives_in_to_less_pressure():
    assert rules.felt_pressure(2.0, 0.0, 0.6) == 2.0
    assert rules.felt_pressure(2.0, 1.0, 0.6) == pytest.approx(0.8)
    assert rules.felt_pressure(2.0, 1.0, 0.0) == 2.0


def test_study_participants_who_may_choose_use_ai_where_they_believe_it_helps():
    span = 10.0 / CH.benefit_weight  # beliefs from 10 utility units below the hurdle to 10 above
    p = rules.study_use_probability(np.linspace(CH.hurdle - span, CH.hurdle + span, 27), 0.0, CH.benefit_weight, CH.hurdle)
    assert nondecreasing(p) and p[0] < 0.001 and p[-1] > 0.999
    assert rules.study_use_probability(CH.hurdle, 0.0, CH.benefit_weight, CH.hurdle) == pytest.approx(0.5)


def test_a_seat_costs_a_month_s_price_spread_over_its_weeks():
    assert rules.weekly_seat_cost(52.0) == pytest.approx(12.0)


# --- Working with AI: adoption and discontinuance --------------------------------


def _appeal(expected=0.25, affinity=0.0, trust=0.5, backing=0.0, novel=0.0, peers=0.5):
    return rules.adoption_appeal(expected, affinity, trust, backing, novel, peers, CH)


def test_adoption_is_more_appealing_with_more_expected_saving_trust_backing_curiosity_and_peers():
    base = _appeal()
    for kw in ({"expected": 0.4}, {"affinity": 1.0}, {"trust": 0.8}, {"backing": 1.0}, {"novel": 1.0}, {"peers": 0.9}):
        assert _appeal(**kw) > base, kw


def test_adoption_probability_is_a_bass_hazard_scaled_by_the_appeal():
    p = rules.adoption_probability(np.linspace(-10, 10, 41), 0.5, 0.02, 0.3)
    assert nondecreasing(p) and p[0] < 1e-5 and p[-1] == pytest.approx(0.02 + 0.3 * 0.5, rel=1e-4)
    q = rules.adoption_probability(2.0, np.linspace(0, 1, 11), 0.02, 0.3)
    assert nondecreasing(q) and q[0] > 0.0  # innovators start even where nobody else has
    assert rules.adoption_probability(50.0, 1.0, 0.5, 2.0) == 1.0  # a hazard is a probability
    assert rules.adoption_probability(50.0, 0.0, 0.0, 0.3) == 0.0  # no innovation and no peers: nobody starts


def _cont(experience=0.25, expectation=0.25, affinity=0.0, trust=0.5, fatigue=0.0, novel=0.0):
    return rules.continuance_utility(experience, expectation, affinity, trust, fatigue, novel, CH)


def test_keeping_ai_falls_with_disappointment_lost_trust_and_fatigue_and_novelty_wearing_off():
    base = _cont()
    assert _cont(experience=0.15) < base  # less saving than before
    assert _cont(expectation=0.4) < base  # less than one expected when starting
    assert _cont(trust=0.3) < base
    assert _cont(fatigue=0.5) < base
    assert _cont(novel=1.0) > base
    p = rules.discontinue_probability(np.linspace(-10, 10, 41), 0.2)
    assert nonincreasing(p) and p[0] == pytest.approx(0.2, rel=1e-4) and p[-1] < 1e-5


def test_errors_seen_average_the_expected_share():
    z = np.random.default_rng(3).standard_normal(400_000)
    seen = rules.errors_seen(0.2, z, 0.5)
    assert seen.mean() == pytest.approx(0.2, rel=0.01) and (seen > 0).all()
    assert rules.errors_seen(0.2, 1.7, 0.0) == 0.2  # no spread: exactly the expected share


def test_trust_in_ai_falls_faster_than_it_rises():
    up = rules.trust_ai_update(0.5, 0.7, 0.1, 0.3)
    down = rules.trust_ai_update(0.5, 0.3, 0.1, 0.3)
    assert up == pytest.approx(0.52) and down == pytest.approx(0.44)
    # With good and bad weeks alternating around 0.5, trust settles below 0.5 (negativity bias).
    def settled(gain, loss):
        t, path = 0.5, []
        for w in range(400):
            t = rules.trust_ai_update(t, 0.7 if w % 2 else 0.3, gain, loss)
            path.append(t)
        return float(np.mean(path[-2:]))  # the mean over the last good and bad week

    assert settled(0.1, 0.3) < 0.45
    assert settled(0.2, 0.2) == pytest.approx(0.5, abs=1e-9)  # symmetric rates: no bias


def _nested(utilities, nesting, available=None, compiled=False):
    from sim.model import kernels

    v = np.asarray(utilities, dtype=float)
    avail = np.ones(len(v), dtype=bool) if available is None else np.asarray(available, dtype=bool)
    w = np.full(len(v), np.nan)
    (kernels.nested_weights if compiled else rules.nested_weights)(v, avail, nesting, w)
    return w


def test_nesting_keeps_a_second_identical_tool_from_raising_ai_use():
    """Nested logit: with nesting 1 a duplicate tool raises P(AI) from e/(1+e) to 2e/(1+2e); near 0 it barely moves it."""

    def p_ai(utilities, nesting):
        w = _nested(utilities, nesting)
        assert _nested(utilities, nesting, compiled=True) == pytest.approx(w, rel=1e-12)
        return w.sum() / (1.0 + w.sum())

    one, two = p_ai([0.5], 1.0), p_ai([0.5, 0.5], 1.0)
    assert one == pytest.approx(np.exp(0.5) / (1 + np.exp(0.5))) and two == pytest.approx(2 * np.exp(0.5) / (1 + 2 * np.exp(0.5)))
    assert p_ai([0.5], 0.2) == pytest.approx(one)  # one tool: nesting changes nothing
    for nesting in (0.05, 0.2, 0.6):  # a duplicate raises the nest's log-sum by nesting * ln 2 only
        assert p_ai([0.5, 0.5], nesting) == pytest.approx(1.0 / (1.0 + np.exp(-(0.5 + nesting * np.log(2.0)))), rel=1e-12)
    assert p_ai([0.5, 0.5], 0.05) - one < 0.01
    # Within the nest, the better tool is chosen more often the smaller the nesting.
    w = _nested([0.5, 0.0], 0.3)
    assert w[0] / w.sum() > np.exp(0.5) / (np.exp(0.5) + 1.0)


def test_nested_weights_of_unavailable_tools():
    """An unavailable tool has weight 0; a lone available tool has exactly the plain logit weight exp(V); nothing available: all 0."""
    assert list(_nested([0.4, 0.9], 0.3, available=[False, False])) == [0.0, 0.0]
    for compiled in (False, True):
        w = _nested([0.4, 9.0], 0.3, available=[True, False], compiled=compiled)
        assert w[1] == 0.0 and w[0] == pytest.approx(np.exp(0.4), rel=1e-15)
        # Two available tools, one of them far worse: close to the lone tool's weight, never above the plain logit's sum.
        w2 = _nested([0.4, -30.0], 0.3, compiled=compiled)
        assert w2.sum() == pytest.approx(np.exp(0.4), rel=1e-9) and w2.sum() <= np.exp(0.4) + np.exp(-30.0)


def test_tool_taste_has_its_spread_and_leans_to_the_tool_that_fits():
    """Liking keeps its declared spread whatever the correlation, and correlates with the fit's draw as declared (0: not at all)."""
    rng = np.random.default_rng(3)
    z_fit, z_own = rng.standard_normal(200_000), rng.standard_normal(200_000)
    for rho in (0.0, 0.5, 1.0):
        t = rules.tool_taste(z_fit, z_own, 0.5, rho)
        assert t.std() == pytest.approx(0.5, rel=0.01) and abs(t.mean()) < 0.01
        assert np.corrcoef(t, z_fit)[0, 1] == pytest.approx(rho, abs=0.01)
