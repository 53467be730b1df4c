"""The behavioural rules of mandate-sim: one rule, one small pure function.

Every rule is elementwise: it takes numbers or numpy arrays that broadcast
against each other (the caller lines up the engineer, tool and task axes), so
the same function serves the vectorised numpy code of the virtual studies and,
compiled by numba, the fused weekly kernels of the organisation model
(sim/kernels.py). Shares and indices lie in [0, 1]; times are in hours or in
shares of a task's baseline time; one step is one working week.
docs/MODEL.md gives each rule's equation and the evidence behind it.
"""

from __future__ import annotations

import numpy as np

WEEKS_PER_YEAR = 52.0
WORKDAYS_PER_WEEK = 5.0


def clip(x, lo, hi):
    """x limited to [lo, hi] (elementwise; works on numbers too). Rules inline this expression so each compiles on its own."""
    return np.minimum(np.maximum(x, lo), hi)


# --- Skill, familiarity and the true effect of a tool -----------------------


def familiarity(tenure_weeks: np.ndarray, familiarity_years: float) -> np.ndarray:
    """Familiarity with the codebase (share) after a tenure (weeks): 1 - exp(-tenure / time constant)."""
    return 1.0 - np.exp(-tenure_weeks / (familiarity_years * WEEKS_PER_YEAR))


def mastery(skill, famil, context_dependence, greenfield_mastery):
    """Mastery of a task type (share): skill x (familiarity where the work needs context, greenfield mastery where it does not)."""
    return skill * (context_dependence * famil + (1.0 - context_dependence) * greenfield_mastery)


def work_speed(skill: np.ndarray, speed_min: float, speed_skill: float) -> np.ndarray:
    """Baseline hours of work an engineer delivers per focus hour without AI (multiplier)."""
    return speed_min + speed_skill * skill


def time_components(
    time_saving,
    verification,
    codable,
    mast,
    proficiency,
    extra_verification,
    expert_discount: float,
    novice_realisation: float,
    expert_scrutiny: float,
    proficiency_verification_saving: float,
    learning_overhead: float,
):
    """Gain, verification and overhead (shares of baseline task time) of doing a task with a tool.

    ``time_saving`` and ``verification`` are the tool's true effects on the codable
    part of the task type, ``codable`` that part's share of task time, ``mast`` the
    engineer's mastery of the task type, ``proficiency`` with the tool, and
    ``extra_verification`` the added supervision load of an engineer under the
    generate-don't-write norm. The task's time multiplier is ``1 - gain + verify + overhead``.
    """
    p = proficiency
    realised = novice_realisation + (1.0 - novice_realisation) * p
    gain = codable * time_saving * (1.0 - expert_discount * mast) * realised
    verify = codable * verification * (1.0 + expert_scrutiny * mast) * (1.0 - proficiency_verification_saving * p) * (1.0 + extra_verification)
    overhead = codable * learning_overhead * (1.0 - p)
    return gain, verify, overhead


def time_multiplier(gain: np.ndarray, verify: np.ndarray, overhead: np.ndarray) -> np.ndarray:
    """Task time with the tool relative to without it (1 = no change; below 1 faster)."""
    return np.maximum(1.0 - gain + verify + overhead, 0.05)


# --- The weekly choice --------------------------------------------------------


def tool_utility(
    belief,
    affinity,
    trust_ai,
    peer_share,
    habit,
    tried,
    endorsement,
    benefit_weight: float,
    hurdle: float,
    trust_weight: float,
    peer_weight: float,
    habit_weight: float,
    trial_barrier: float,
    endorsement_weight: float,
):
    """Utility of using a tool on a task type, before policy pressure (doing without AI has utility 0)."""
    return (
        benefit_weight * (belief - hurdle)
        + affinity
        + trust_weight * (trust_ai - 0.5)
        + peer_weight * (peer_share - 0.5)
        + habit_weight * habit
        - trial_barrier * (1.0 - tried)
        + endorsement_weight * endorsement
    )


def choice_weight(utility):
    """Logit weight exp(utility) of an available option (utility capped at +-50 so it stays finite)."""
    return np.exp(np.minimum(np.maximum(utility, -50.0), 50.0))


def choose(utility: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Discrete logit choice [N,K] among no AI (0) and tools 1..T, from utilities [N,T,K] (-inf: unavailable) and uniforms [N,K].

    No AI has weight 1, tool j weight exp(utility); the option is the first whose cumulative
    probability exceeds the uniform draw (sim/kernels.py ``pick`` does the same for one decision).
    """
    e = np.where(np.isfinite(utility), choice_weight(np.where(np.isfinite(utility), utility, 0.0)), 0.0)
    cs = np.cumsum(e, axis=1)
    denom = 1.0 + cs[:, -1, :]  # from the same sums, so an unavailable last tool ends the cdf at exactly 1
    cdf = (1.0 + cs) / denom[:, None, :]  # P(choice <= tool j), j = 1..T
    choice = (u >= 1.0 / denom).astype(np.int64)
    # Advance past every tool whose cumulative probability u exceeds.
    choice += (u[:, None, :] >= cdf[:, :-1, :]).sum(axis=1)
    return choice


def shadow_probability(advantage, affinity, enforcement, benefit_weight: float, shadow_gap: float, shadow_penalty: float):
    """Chance of doing a task with a barred tool believed better by ``advantage`` (share of time) than the best approved option (logistic; 0 below the gap)."""
    u = benefit_weight * (np.maximum(advantage, shadow_gap) - shadow_gap) + affinity - shadow_penalty * (1.0 + enforcement)
    p = 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(u, -50.0), 50.0)))
    return (advantage > shadow_gap) * p


def token_probability(pressure, token_propensity: float):
    """Chance that an engineer with no real AI use this week makes a token use (probability)."""
    return np.minimum(np.maximum(token_propensity * pressure, 0.0), 1.0)


# --- Work, defects, rework ----------------------------------------------------


def available_hours(focus_hours: float, fatigue, fatigue_drag: float):
    """Focus hours an engineer can work this week, after fatigue (hours)."""
    return focus_hours * (1.0 - fatigue_drag * fatigue)


def rework_due(pending, rework_due_share: float, capacity):
    """Rework hours done this week: the share that comes due, capped by the hours there are."""
    return np.minimum(pending * rework_due_share, capacity)


def catch_rate(skill, fatigue, catch_base: float, catch_skill: float, catch_fatigue: float):
    """Probability that review catches a defect before it escapes."""
    return np.minimum(np.maximum(catch_base + catch_skill * skill - catch_fatigue * fatigue, 0.0), 1.0)


def defects_introduced(delivered, defect_rate, skill, skill_defect_reduction: float, defect_change):
    """Defects introduced by the work delivered (baseline hours), with the tool's defect change where AI did it."""
    return delivered * defect_rate * (1.0 - skill_defect_reduction * skill) * (1.0 + defect_change)


# --- Perception and learning -------------------------------------------------


def felt_saving(true_saving, hidden, effort_discount: float, optimism: float):
    """The time saving one feels (share): the true saving plus the verification and waiting time one does not count, plus optimism."""
    return true_saving + effort_discount * hidden + optimism


def perceived_saving(felt, belief, z, anchoring: float, noise_sd: float):
    """Time saving an engineer believes they got (share): what they felt (``felt_saving``), anchored on their belief, noisy."""
    return anchoring * belief + (1.0 - anchoring) * felt + noise_sd * z


def update_toward(x, target, rate):
    """Move x a share ``rate`` of the way toward target (exponential smoothing)."""
    return x + rate * (target - x)


def learn_proficiency(p, intensity, learning_rate: float, forgetting: float):
    """Proficiency after a week of use at ``intensity`` (share of one's work): learning curve up, slow forgetting when unused."""
    learned = p + learning_rate * intensity * (1.0 - p)
    active = intensity > 0.0
    return active * learned + np.logical_not(active) * (p * (1.0 - forgetting))


def trained_proficiency(p, hours, training_effect: float):
    """Proficiency after ``hours`` of training: each hour closes a share of the distance to 1."""
    return 1.0 - (1.0 - p) * (1.0 - training_effect) ** hours


def trust_ai_target(perceived):
    """Trust in AI output that one week's perceived saving supports (index)."""
    return np.minimum(np.maximum(0.5 + perceived, 0.0), 1.0)


# --- Fatigue, morale ----------------------------------------------------------


def fatigue_target(review_hours, focus_hours: float, saturation: float):
    """Fatigue (index) that a week's review and verification load sustains."""
    return np.minimum(np.maximum(review_hours / (focus_hours * saturation), 0.0), 1.0)


def morale_target(initial: float, fatigue, forced_share, norm_loss, felt_gain, morale_fatigue: float, morale_forced: float, morale_gain: float):
    """Morale (index) that this week's fatigue, forced work, role norm and felt gains support."""
    t = initial - morale_fatigue * fatigue - morale_forced * forced_share - norm_loss + morale_gain * felt_gain
    return np.minimum(np.maximum(t, 0.0), 1.0)


# --- Reporting, voice, trust and safety -------------------------------------------------


def is_honest(safety, threshold):
    """An engineer reports honestly when their team's safety reaches their personal threshold."""
    return safety >= threshold


def slanted_report(honest_report, honest, stake, wanted: float):
    """Reported gain: honest, or leaning toward what leadership wants to hear by its stake in the answer."""
    lean = stake * np.maximum(wanted - honest_report, 0.0)
    return honest_report + np.logical_not(honest) * lean


def implied_gain(ai_share, saving):
    """Productivity gain (share) implied by saving a share of time on a share of one's work."""
    s = np.minimum(np.maximum(saving, -0.9), 0.9)
    return ai_share * s / (1.0 - s)


def voice_probability(safety, threshold: float, slope: float, rate: float):
    """Weekly chance that a dissatisfied engineer speaks up: a rate scaled by a logistic rise with team safety."""
    return rate / (1.0 + np.exp(-slope * (safety - threshold)))


def trust_leadership_change(
    trust,
    initial: float,
    forced_share,
    restriction_gap,
    voiced,
    responsiveness: float,
    drift: float,
    forced_cost: float,
    restriction_cost: float,
    ignored_cost: float,
    response_gain: float,
):
    """Trust in leadership after a week: drift to its level, losses from forced use, barred tools and ignored pushback, gains from a visible response."""
    delta = (
        drift * (initial - trust)
        - forced_cost * forced_share
        - restriction_cost * restriction_gap
        + voiced * (response_gain * responsiveness - ignored_cost * (1.0 - responsiveness))
    )
    return np.minimum(np.maximum(trust + delta, 0.0), 1.0)


def safety_climate(initial: float, feedback_safety, enforcement, from_feedback: float, from_enforcement: float):
    """Psychological safety (index) the policy climate supports: up with feedback safety, down with enforcement."""
    return np.minimum(np.maximum(initial + from_feedback * (feedback_safety - 0.5) - from_enforcement * enforcement, 0.0), 1.0)


def safety_change(safety, climate, punished_share, rate: float, punishment_cost: float):
    """Team safety after a week: toward the climate, minus the share of the team punished for dissent."""
    return np.minimum(np.maximum(safety + rate * (climate - safety) - punishment_cost * punished_share, 0.0), 1.0)


# --- Attrition ----------------------------------------------------------------


def leave_probability(
    trust,
    fatigue,
    morale,
    skill,
    annual_attrition: float,
    initial_trust: float,
    initial_morale: float,
    attrition_trust: float,
    attrition_fatigue: float,
    attrition_morale: float,
    attrition_skill: float,
):
    """Weekly chance of leaving: a base hazard raised by low trust, fatigue and low morale, more so for the skilled."""
    base = -np.log1p(-annual_attrition) / WEEKS_PER_YEAR
    push = attrition_trust * (initial_trust - trust) + attrition_fatigue * fatigue + attrition_morale * (initial_morale - morale)
    push = push * (1.0 + attrition_skill * skill)
    return -np.expm1(-base * np.exp(np.minimum(np.maximum(push, -20.0), 20.0)))
