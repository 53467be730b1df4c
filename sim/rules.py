"""The behavioural rules of mandate-sim: one rule, one small pure function over arrays.

Shapes: ``N`` engineer slots, ``T`` tools, ``K`` task types. Shares and indices
lie in [0, 1]; times are in hours or in shares of a task's baseline time; one
step is one working week. These functions are shared by the organisation model
(sim/model.py) and the virtual studies, so both run the same mechanisms.
docs/MODEL.md gives each rule's equation and the evidence behind it.
"""

from __future__ import annotations

import numpy as np

WEEKS_PER_YEAR = 52.0
WORKDAYS_PER_WEEK = 5.0


# --- Skill, familiarity and the true effect of a tool -----------------------


def familiarity(tenure_weeks: np.ndarray, familiarity_years: float) -> np.ndarray:
    """Familiarity with the codebase (share) after a tenure (weeks): 1 - exp(-tenure / time constant)."""
    return 1.0 - np.exp(-tenure_weeks / (familiarity_years * WEEKS_PER_YEAR))


def mastery(skill: np.ndarray, famil: np.ndarray, context_dependence: np.ndarray, greenfield_mastery: float) -> np.ndarray:
    """Mastery of each task type [N,K] (share): skill x (context-weighted familiarity)."""
    c = context_dependence[None, :]
    return skill[:, None] * (c * famil[:, None] + (1.0 - c) * greenfield_mastery)


def work_speed(skill: np.ndarray, speed_min: float, speed_skill: float) -> np.ndarray:
    """Baseline hours of work an engineer delivers per focus hour without AI (multiplier)."""
    return speed_min + speed_skill * skill


def time_components(
    time_saving: np.ndarray,
    verification: np.ndarray,
    codable: np.ndarray,
    mast: np.ndarray,
    proficiency: np.ndarray,
    *,
    expert_discount: float,
    novice_realisation: float,
    expert_scrutiny: float,
    proficiency_verification_saving: float,
    learning_overhead: float,
    extra_verification: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gain, verification and overhead [N,T,K] (shares of baseline task time) of using each tool.

    ``time_saving`` and ``verification`` are the tools' true effects [T,K] on
    the codable part of a task, ``codable`` [K] that part's share of task time,
    ``mast`` is mastery [N,K], ``proficiency`` [N,T]; ``extra_verification`` [N]
    is the added supervision load of engineers under the generate-don't-write norm.
    The time multiplier of a task done with the tool is ``1 - gain + verify + overhead``.
    """
    p = proficiency[:, :, None]
    m = mast[:, None, :]
    c = codable[None, None, :]
    realised = novice_realisation + (1.0 - novice_realisation) * p
    gain = c * time_saving[None, :, :] * (1.0 - expert_discount * m) * realised
    extra = np.asarray(extra_verification, dtype=float)
    if extra.ndim == 1:
        extra = extra[:, None, None]
    verify = c * verification[None, :, :] * (1.0 + expert_scrutiny * m) * (1.0 - proficiency_verification_saving * p) * (1.0 + extra)
    overhead = c * learning_overhead * (1.0 - p) * np.ones_like(m)
    return gain, verify, overhead


def time_multiplier(gain: np.ndarray, verify: np.ndarray, overhead: np.ndarray) -> np.ndarray:
    """Task time with the tool relative to without it (1 = no change; below 1 faster)."""
    return np.maximum(1.0 - gain + verify + overhead, 0.05)


# --- The weekly choice --------------------------------------------------------


def tool_utility(
    belief: np.ndarray,
    affinity: np.ndarray,
    trust_ai: np.ndarray,
    peer_share: np.ndarray,
    habit: np.ndarray,
    tried: np.ndarray,
    endorsement: np.ndarray,
    *,
    benefit_weight: float,
    hurdle: float,
    trust_weight: float,
    peer_weight: float,
    habit_weight: float,
    trial_barrier: float,
    endorsement_weight: float,
) -> np.ndarray:
    """Utility [N,T,K] of using each tool on each task type, before policy pressure (no-AI has utility 0)."""
    return (
        benefit_weight * (belief - hurdle)
        + affinity[:, None, None]
        + trust_weight * (trust_ai[:, None, None] - 0.5)
        + peer_weight * (peer_share - 0.5)
        + habit_weight * habit
        - trial_barrier * ~tried
        + endorsement_weight * endorsement
    )


def choose(utility: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Discrete logit choice [N,K] among no AI (0) and tools 1..T, from utilities [N,T,K] (-inf: unavailable) and uniforms [N,K]."""
    e = np.exp(np.clip(utility, -50.0, 50.0))
    e[~np.isfinite(utility)] = 0.0
    cs = np.cumsum(e, axis=1)
    denom = 1.0 + cs[:, -1, :]  # from the same sums, so an unavailable last tool ends the cdf at exactly 1
    cdf = (1.0 + cs) / denom[:, None, :]  # P(choice <= tool j), j = 1..T
    p_none = 1.0 / denom
    choice = (u >= p_none).astype(np.int64)
    # Advance past every tool whose cumulative probability u exceeds.
    choice += (u[:, None, :] >= cdf[:, :-1, :]).sum(axis=1)
    return choice


def shadow_probability(advantage: np.ndarray, affinity: np.ndarray, enforcement: float, *, benefit_weight: float, shadow_gap: float, shadow_penalty: float) -> np.ndarray:
    """Chance [N,K] of doing a task with a barred tool believed better by ``advantage`` (share of time) than the best approved option (logistic; 0 below the gap)."""
    u = benefit_weight * (advantage - shadow_gap) + affinity[:, None] - shadow_penalty * (1.0 + enforcement)
    p = 1.0 / (1.0 + np.exp(-np.clip(u, -50.0, 50.0)))
    return np.where(advantage > shadow_gap, p, 0.0)


def token_probability(pressure: np.ndarray, token_propensity: float) -> np.ndarray:
    """Chance that an engineer with no real AI use this week makes a token use (probability)."""
    return np.clip(token_propensity * pressure, 0.0, 1.0)


# --- Work, defects, rework ----------------------------------------------------


def available_hours(focus_hours: float, fatigue: np.ndarray, fatigue_drag: float) -> np.ndarray:
    """Focus hours an engineer can work this week, after fatigue (hours)."""
    return focus_hours * (1.0 - fatigue_drag * fatigue)


def rework_due(pending: np.ndarray, rework_due_share: float, capacity: np.ndarray) -> np.ndarray:
    """Rework hours done this week: the share that comes due, capped by the hours there are."""
    return np.minimum(pending * rework_due_share, capacity)


def catch_rate(skill: np.ndarray, fatigue: np.ndarray, catch_base: float, catch_skill: float, catch_fatigue: float) -> np.ndarray:
    """Probability that review catches a defect before it escapes."""
    return np.clip(catch_base + catch_skill * skill - catch_fatigue * fatigue, 0.0, 1.0)


def defects_introduced(
    delivered: np.ndarray, defect_rate: np.ndarray, skill: np.ndarray, skill_defect_reduction: float, defect_change: np.ndarray
) -> np.ndarray:
    """Defects introduced [N,K] by the work delivered (baseline hours), with the tool's defect change where AI did it."""
    return delivered * defect_rate[None, :] * (1.0 - skill_defect_reduction * skill)[:, None] * (1.0 + defect_change)


# --- Perception and learning -------------------------------------------------


def felt_saving(true_saving: np.ndarray, hidden: np.ndarray, *, effort_discount: float, optimism: float) -> np.ndarray:
    """The time saving one feels (share): the true saving plus the verification and waiting time one does not count, plus optimism."""
    return true_saving + effort_discount * hidden + optimism


def perceived_saving(
    true_saving: np.ndarray,
    hidden: np.ndarray,
    belief: np.ndarray,
    z: np.ndarray,
    *,
    effort_discount: float,
    optimism: float,
    anchoring: float,
    noise_sd: float,
) -> np.ndarray:
    """Time saving an engineer believes they got (share): anchored on belief, blind to part of the verification and waiting time, noisy."""
    felt = felt_saving(true_saving, hidden, effort_discount=effort_discount, optimism=optimism)
    return anchoring * belief + (1.0 - anchoring) * felt + noise_sd * z


def update_toward(x: np.ndarray, target: np.ndarray, rate: np.ndarray | float) -> np.ndarray:
    """Move x a share ``rate`` of the way toward target (exponential smoothing)."""
    return x + rate * (target - x)


def learn_proficiency(p: np.ndarray, intensity: np.ndarray, learning_rate: float, forgetting: float) -> np.ndarray:
    """Proficiency after a week of use at ``intensity`` (share of one's work): learning curve up, slow forgetting when unused."""
    learned = p + learning_rate * intensity * (1.0 - p)
    return np.where(intensity > 0, learned, p * (1.0 - forgetting))


def trained_proficiency(p: np.ndarray, hours: np.ndarray, training_effect: float) -> np.ndarray:
    """Proficiency after ``hours`` of training: each hour closes a share of the distance to 1."""
    return 1.0 - (1.0 - p) * (1.0 - training_effect) ** hours


def trust_ai_target(perceived: np.ndarray) -> np.ndarray:
    """Trust in AI output that one week's perceived saving supports (index)."""
    return np.clip(0.5 + perceived, 0.0, 1.0)


# --- Fatigue, morale ----------------------------------------------------------


def fatigue_target(review_hours: np.ndarray, focus_hours: float, saturation: float) -> np.ndarray:
    """Fatigue (index) that a week's review and verification load sustains."""
    return np.clip(review_hours / (focus_hours * saturation), 0.0, 1.0)


def morale_target(
    initial: float,
    fatigue: np.ndarray,
    forced_share: np.ndarray,
    norm_loss: np.ndarray,
    felt_gain: np.ndarray,
    *,
    morale_fatigue: float,
    morale_forced: float,
    morale_gain: float,
) -> np.ndarray:
    """Morale (index) that this week's fatigue, forced work, role norm and felt gains support."""
    t = initial - morale_fatigue * fatigue - morale_forced * forced_share - norm_loss + morale_gain * felt_gain
    return np.clip(t, 0.0, 1.0)


# --- Reporting, voice, trust and safety -------------------------------------------------


def is_honest(safety: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """An engineer reports honestly when their team's safety reaches their personal threshold."""
    return safety >= threshold


def slanted_report(honest_report: np.ndarray, honest: np.ndarray, stake: np.ndarray, wanted: float) -> np.ndarray:
    """Reported gain: honest, or leaning toward what leadership wants to hear by its stake in the answer."""
    lean = stake * np.maximum(wanted - honest_report, 0.0)
    return np.where(honest, honest_report, honest_report + lean)


def implied_gain(ai_share: np.ndarray, saving: np.ndarray) -> np.ndarray:
    """Productivity gain (share) implied by saving a share of time on a share of one's work."""
    s = np.clip(saving, -0.9, 0.9)
    return ai_share * s / (1.0 - s)


def voice_probability(safety: np.ndarray, threshold: float, slope: float, rate: float) -> np.ndarray:
    """Weekly chance that a dissatisfied engineer speaks up: a rate scaled by a logistic rise with team safety."""
    return rate / (1.0 + np.exp(-slope * (safety - threshold)))


def trust_leadership_change(
    trust: np.ndarray,
    initial: float,
    forced_share: np.ndarray,
    restriction_gap: np.ndarray,
    voiced: np.ndarray,
    responsiveness: float,
    *,
    drift: float,
    forced_cost: float,
    restriction_cost: float,
    ignored_cost: float,
    response_gain: float,
) -> np.ndarray:
    """Trust in leadership after a week: drift to its level, losses from forced use, barred tools and ignored pushback, gains from a visible response."""
    delta = (
        drift * (initial - trust)
        - forced_cost * forced_share
        - restriction_cost * restriction_gap
        + voiced * (response_gain * responsiveness - ignored_cost * (1.0 - responsiveness))
    )
    return np.clip(trust + delta, 0.0, 1.0)


def safety_climate(initial: float, feedback_safety: float, enforcement: float, from_feedback: float, from_enforcement: float) -> float:
    """Psychological safety (index) the policy climate supports: up with feedback safety, down with enforcement."""
    return float(np.clip(initial + from_feedback * (feedback_safety - 0.5) - from_enforcement * enforcement, 0.0, 1.0))


def safety_change(safety: np.ndarray, climate: float, punished_share: np.ndarray, rate: float, punishment_cost: float) -> np.ndarray:
    """Team safety after a week: toward the climate, minus the share of the team punished for dissent."""
    return np.clip(safety + rate * (climate - safety) - punishment_cost * punished_share, 0.0, 1.0)


# --- Attrition ----------------------------------------------------------------


def leave_probability(
    trust: np.ndarray,
    fatigue: np.ndarray,
    morale: np.ndarray,
    skill: np.ndarray,
    *,
    annual_attrition: float,
    initial_trust: float,
    initial_morale: float,
    attrition_trust: float,
    attrition_fatigue: float,
    attrition_morale: float,
    attrition_skill: float,
) -> np.ndarray:
    """Weekly chance of leaving: a base hazard raised by low trust, fatigue and low morale, more so for the skilled."""
    base = -np.log1p(-annual_attrition) / WEEKS_PER_YEAR
    push = attrition_trust * (initial_trust - trust) + attrition_fatigue * fatigue + attrition_morale * (initial_morale - morale)
    push = push * (1.0 + attrition_skill * skill)
    return -np.expm1(-base * np.exp(np.clip(push, -20.0, 20.0)))
