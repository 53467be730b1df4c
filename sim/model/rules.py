"""The behavioural rules of mandate-sim: one rule, one small pure function.

Every rule is elementwise: it takes numbers or numpy arrays that broadcast
against each other (the caller lines up the engineer, tool and task axes), so
the same function serves the vectorised numpy code of the virtual studies and,
compiled by numba, the fused weekly kernels of the organisation model
(sim/model/kernels.py). Shares and indices lie in [0, 1]; times are in hours or in
shares of a task's baseline time; one step is one working week. A parameter is a
float argument, except where a rule weighs many parameters of one section: it
then takes the section (``choice_params``, ``work_params``: ``Behaviour.choice``,
``Behaviour.work`` or their bundles) and names the fields it reads.
docs/MODEL.md gives each rule's equation and the evidence behind it.
"""

from __future__ import annotations

import numpy as np

WEEKS_PER_YEAR = 52.0
WORKDAYS_PER_WEEK = 5.0
#: The range of a believed time saving (share of task time): at most 95% saved (as a tool's true saving), at worst twice as slow.
BELIEF_MIN = -1.0
BELIEF_MAX = 0.95


def clip(x, lo, hi):
    """x limited to [lo, hi] (elementwise; works on numbers too). Rules inline this expression so each compiles on its own."""
    return np.minimum(np.maximum(x, lo), hi)


# --- New engineers ---------------------------------------------------------------


def drawn_share(mean, sd, z):
    """A share or index drawn around its mean with a standard normal ``z``, kept in [0, 1] (skill, initial proficiency)."""
    return np.minimum(np.maximum(mean + sd * z, 0.0), 1.0)


def prior_noise(z_shared, z_own, prior_shared: float):
    """A standard normal for one prior belief: a part shared by all of an engineer's priors about AI tools (their optimism about AI) and a part of its own."""
    return np.sqrt(prior_shared) * z_shared + np.sqrt(1.0 - prior_shared) * z_own


def prior_belief(hype_prior: float, reputation, prior_sd: float, z):
    """A new engineer's belief about a tool's time saving before using it: the hype times the tool's reputation, plus a personal spread."""
    return np.minimum(np.maximum(hype_prior * reputation + prior_sd * z, BELIEF_MIN), BELIEF_MAX)


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


def time_components(time_saving, verification, codable, mast, proficiency, extra_verification, fit, handicap, work_params):
    """Gain, verification and overhead (shares of baseline task time) of doing a task with a tool.

    ``time_saving`` and ``verification`` are the tool's true effects on the codable
    part of the task type, ``codable`` that part's share of task time, ``mast`` the
    engineer's mastery of the task type, ``proficiency`` with the tool,
    ``extra_verification`` the added supervision load of an engineer under the
    generate-don't-write norm, ``fit`` how well the tool suits this engineer
    (``tool_fit``) and ``handicap`` how much of the tools' handicap on known code
    is left in the current year (``context_handicap``). The task's time multiplier
    is ``1 - gain + verify + overhead``. ``work_params`` holds the parameters (``Behaviour.work``): ``expert_discount``,
    ``novice_realisation``, ``expert_scrutiny``, ``scrutiny_learning``, ``proficiency_verification_saving`` and
    ``learning_overhead``.
    """
    w = work_params
    p = proficiency
    realised = w.novice_realisation + (1.0 - w.novice_realisation) * p
    discount = np.minimum(w.expert_discount * handicap, 1.0)
    scrutiny = w.expert_scrutiny * handicap * (1.0 - w.scrutiny_learning * p)
    gain = codable * time_saving * fit * (1.0 - discount * mast) * realised
    verify = codable * verification * (1.0 + scrutiny * mast) * (1.0 - w.proficiency_verification_saving * p) * (1.0 + extra_verification)
    overhead = codable * w.learning_overhead * (1.0 - p)
    return gain, verify, overhead


def context_handicap(years_since_calibration, context_improvement: float):
    """Share of the tools' handicap on code an engineer knows well left after some years of tool improvement (1 at calibration)."""
    return (1.0 - context_improvement) ** years_since_calibration


def configured_handicap(handicap, config, configuration_effect: float):
    """Share of the tools' handicap on known code left for a team (share): the calendar's share, less what the team's configuration of the tool removes."""
    return handicap * (1.0 - configuration_effect * config)


def configuration_growth(config, reporting_share, configuration_rate: float):
    """A team's configuration of a tool for a task type after a retrospective (share): grows with the share of members who honestly reported working with it."""
    return config + configuration_rate * reporting_share * (1.0 - config)


def tool_fit(z, tool_fit_sd: float):
    """How well a tool suits one engineer's stack and habits: a multiplier on its time saving, mean 1 (lognormal from a standard normal z)."""
    return np.exp(tool_fit_sd * z - 0.5 * tool_fit_sd * tool_fit_sd)


def time_multiplier(gain, verify, overhead, min_multiplier: float):
    """Task time with the tool relative to without it (1 = no change; below 1 faster), never below ``min_multiplier``."""
    return np.maximum(1.0 - gain + verify + overhead, min_multiplier)


# --- The weekly choice --------------------------------------------------------


def tool_taste(z_fit, z_own, tool_taste_sd: float, taste_fit_correlation: float):
    """An engineer's lasting liking for a tool (utility, mean 0, sd ``tool_taste_sd``), correlated with how well it fits them (``z_fit``: the fit's normal draw)."""
    rho = taste_fit_correlation
    return tool_taste_sd * (rho * z_fit + np.sqrt(1.0 - rho * rho) * z_own)


def tool_utility(belief, affinity, trust_ai, peer_share, habit, tried, endorsement, taste, novel, fatigue, choice_params):
    """Utility of using a tool on a task type, before policy pressure (doing without AI has utility 0).

    ``taste`` is the engineer's liking for this tool (utility), ``novel`` its novelty (``novelty``, 0 to 1) and
    ``fatigue`` the engineer's AI fatigue (the wear of reviewing and fixing generated code). ``choice_params`` holds
    the weights (``Behaviour.choice``): ``benefit_weight``, ``hurdle``, ``trust_weight``, ``peer_weight``,
    ``habit_weight``, ``trial_barrier``, ``endorsement_weight``, ``novelty_weight`` and ``fatigue_weight``."""
    c = choice_params
    return (
        c.benefit_weight * (belief - c.hurdle)
        + affinity
        + taste
        + c.trust_weight * (trust_ai - 0.5)
        + c.peer_weight * (peer_share - 0.5)
        + c.habit_weight * habit
        - c.trial_barrier * (1.0 - tried)
        + c.endorsement_weight * endorsement
        + c.novelty_weight * novel
        - c.fatigue_weight * fatigue
    )


def choice_weight(utility):
    """Logit weight exp(utility) of an available option (utility capped at +-50 so it stays finite)."""
    return np.exp(np.minimum(np.maximum(utility, -50.0), 50.0))


def pressure_utility(pressure, norm, pressure_weight: float, norm_weight: float):
    """Utility that usage pressure and the generate-don't-write norm add to every approved tool (``norm``: 1 if under it)."""
    return pressure_weight * pressure + norm_weight * norm


def felt_pressure(pressure, safe, safe_decline: float):
    """The part of the policy's push an engineer gives in to: all of it, or less where they feel safe to say 'this doesn't help' (``safe``: 1 or 0)."""
    return pressure * (1.0 - safe_decline * safe)


def novelty(weeks_used, tried, novelty_weeks: float):
    """Novelty appeal of a tool (0 to 1): full when first tried, fading with weeks of use; none before it is tried."""
    return tried * np.exp(-weeks_used / novelty_weeks)


def nested_weights(utilities, available, nesting: float, weights):
    """Fills ``weights`` [T] with the tools' nested-logit weights from their utilities [T] (no AI keeps weight 1; unavailable: 0).

    The tools share one nest (McFadden 1978): tool j's weight is exp(V_j / nesting) · S^(nesting − 1), S the sum of
    exp(V / nesting) over available tools, so the chance of using AI at all follows the nest's log-sum, nesting · log S,
    and a second tool like the first barely raises it. With one tool available this is exp(V) exactly, computed as such
    (one exponential, no power); with nesting 1 it is the plain logit. The model's kernels compile this function, and the
    reference model calls it on Python lists.
    """
    T = len(utilities)
    n = 0
    only = -1
    for j in range(T):
        weights[j] = 0.0
        if available[j]:
            n += 1
            only = j
    if n == 1:
        weights[only] = np.exp(np.minimum(np.maximum(utilities[only], -50.0), 50.0))  # choice_weight, inlined
    elif n > 1:
        total = 0.0
        for j in range(T):
            if available[j]:
                weights[j] = np.exp(np.minimum(np.maximum(utilities[j] / nesting, -50.0), 50.0))
                total += weights[j]
        scale = total ** (nesting - 1.0)
        for j in range(T):
            weights[j] = weights[j] * scale


def pick(u, weights):
    """The logit choice for one decision: 0 (no AI) or tool j+1, from tool weights ``[T]`` (exp(utility); 0: unavailable) and a uniform draw.

    Doing without AI has weight 1. The option chosen is the first whose cumulative probability
    exceeds ``u``; the cumulative sums and their denominator come from the same additions, so an
    unavailable last tool ends the distribution at exactly 1 and is never chosen. The model's
    kernels compile this function, and the reference model calls it on Python lists.
    """
    T = len(weights)
    total = 0.0
    for j in range(T):
        total += weights[j]
    denom = 1.0 + total
    c = 1 if u >= 1.0 / denom else 0
    cs = 0.0
    for j in range(T - 1):
        cs += weights[j]
        if u >= (1.0 + cs) / denom:
            c += 1
    return c


def shadow_probability(advantage, affinity, enforcement, barrier, benefit_weight: float, shadow_gap: float, shadow_penalty: float):
    """Chance of doing a task with a barred tool believed better by ``advantage`` (share of time) than the best approved option (logistic; 0 below the gap).

    ``barrier``: the engagement barrier (utility) of one who does not work with AI, 0 for one who does (7.7a).
    """
    u = benefit_weight * (np.maximum(advantage, shadow_gap) - shadow_gap) + affinity - shadow_penalty * (1.0 + enforcement) - barrier
    p = 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(u, -50.0), 50.0)))
    return (advantage > shadow_gap) * p


# --- Working with AI: adoption and discontinuance ----------------------------


def logistic(u):
    """The logistic function 1 / (1 + exp(-u)) of a utility (probability), with u capped at +-50."""
    return 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(u, -50.0), 50.0)))


def adoption_appeal(expected, affinity, trust_ai, endorsement, novel, peer_engaged, choice_params):
    """Utility of making AI part of one's way of working: the expected saving over the hurdle (share of task time), inclination, trust in AI, leadership's backing, curiosity while AI is new to one, and the team's example.

    ``choice_params`` (``Behaviour.choice``): ``benefit_weight``, ``hurdle``, ``trust_weight``, ``endorsement_weight``, ``novelty_weight``, ``peer_weight``."""
    c = choice_params
    return (c.benefit_weight * (expected - c.hurdle) + affinity + c.trust_weight * (trust_ai - 0.5) + c.endorsement_weight * endorsement
            + c.novelty_weight * novel + c.peer_weight * (peer_engaged - 0.5))


def adoption_probability(appeal, peer_engaged, innovation: float, imitation: float):
    """Weekly chance of starting to work with AI (probability): a Bass hazard (innovation + imitation x the team's share working with AI) times the logistic of the appeal."""
    hazard = np.minimum(np.maximum(innovation + imitation * peer_engaged, 0.0), 1.0)
    return hazard * (1.0 / (1.0 + np.exp(-np.minimum(np.maximum(appeal, -50.0), 50.0))))


def continuance_utility(experience, expectation, affinity, trust_ai, fatigue, novel, choice_params):
    """Utility of keeping AI in one's way of working (expectation-confirmation): the experienced saving over the hurdle, its shortfall against the expectation held when starting, inclination, trust in AI, the novelty while it lasts, less fatigue.

    ``choice_params`` (``Behaviour.choice``): ``benefit_weight``, ``hurdle``, ``confirmation_weight``, ``trust_weight``, ``fatigue_weight``, ``novelty_weight``."""
    c = choice_params
    return (c.benefit_weight * ((experience - c.hurdle) + c.confirmation_weight * (experience - expectation)) + affinity
            + c.trust_weight * (trust_ai - 0.5) + c.novelty_weight * novel - c.fatigue_weight * fatigue)


def discontinue_probability(continuance, discontinue_rate: float):
    """Weekly chance of giving AI up (probability): the rate times the logistic of minus the continuance utility."""
    return discontinue_rate * (1.0 - 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(continuance, -50.0), 50.0))))


def token_probability(pressure, token_propensity: float):
    """Chance that an engineer with no real AI use this week makes a token use (probability)."""
    return np.minimum(np.maximum(token_propensity * pressure, 0.0), 1.0)


def study_use_probability(belief, affinity, benefit_weight: float, hurdle: float):
    """Chance that a study participant allowed AI on a task uses it, when the study lets them choose (logit on the believed saving)."""
    u = benefit_weight * (belief - hurdle) + affinity
    return 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(u, -50.0), 50.0)))


# --- Work, defects, rework ----------------------------------------------------


def task_hours_left(capacity, rework, token_hours, training_hours):
    """Hours left for task work this week after rework, token uses and training (hours, never negative)."""
    return np.maximum(capacity - rework - token_hours - training_hours, 0.0)


def hours_per_day(task_hours_week):
    """Hours of task work per working day (at least one hour a week, so a task's touch time stays finite)."""
    return np.maximum(task_hours_week, 1.0) / WORKDAYS_PER_WEEK


def delivered_work(speed, hours, multiplier):
    """Work delivered (baseline hours) by ``hours`` of focus at ``speed``, with tasks taking ``multiplier`` of their usual time."""
    return speed * hours / multiplier


def verification_hours(hours, verification, multiplier):
    """Hours of those spent verifying generated output (``verification``: share of baseline task time)."""
    return hours * verification / multiplier


def touch_days(task_hours, multiplier, speed, daily_hours):
    """Working days one task takes from start to finished code, at this week's pace (days)."""
    return task_hours * multiplier / speed / daily_hours


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


def defects_escaped(introduced, caught):
    """Defects that escape review, of those introduced (``caught``: the catch rate)."""
    return introduced * (1.0 - caught)


def rework_added(escaped, fix_hours: float):
    """Hours of rework that escaped defects add to an engineer's pending rework."""
    return escaped * fix_hours


def review_wait(review_wait_days: float, review_load_wait: float, verification_share):
    """Days a task waits for review, growing with the organisation's verification share of focus hours."""
    return review_wait_days * (1.0 + review_load_wait * verification_share)


def cycle_time_days(touch_days_total, engineers, wait_days):
    """Mean days from start to merge of a task: the engineers' mean touch time plus the review wait."""
    return touch_days_total / engineers + wait_days


def weighted_cycle_time(task_weights, cycle_time_task):
    """The organisation's cycle time (days): the task types' cycle times weighted by their share of tasks, summed in order.

    A plain loop rather than a BLAS dot product, whose summation order (and so the last bit) depends on the CPU."""
    total = 0.0
    for k in range(len(task_weights)):
        total += task_weights[k] * cycle_time_task[k]
    return total


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


def transferred_intensity(own, other, transfer: float):
    """Learning intensity for one tool (share of work): its own use plus the part of one's other AI use that carries over."""
    return own + transfer * other


def trained_proficiency(p, hours, training_effect: float):
    """Proficiency after ``hours`` of training: each hour closes a share of the distance to 1."""
    return 1.0 - (1.0 - p) * (1.0 - training_effect) ** hours


def token_intensity(token_learning: float, n_tools):
    """Use intensity one token use adds for each approved tool (share of one's work), the token learning spread over the tools."""
    return token_learning / n_tools


def errors_seen(error_share, z, error_noise_sd: float):
    """Share of one's AI-assisted time spent on its errors as one lives it this week: the expected share times a mean-one lognormal (luck: which outputs were wrong)."""
    return error_share * np.exp(error_noise_sd * z - 0.5 * error_noise_sd * error_noise_sd)


def trust_ai_update(trust, target, gain_rate: float, loss_rate: float):
    """Trust in AI moves toward the week's target, faster down than up (negativity bias: one bad experience weighs more than a good one)."""
    rate = loss_rate if target < trust else gain_rate
    return trust + rate * (target - trust)


def trust_ai_target(error_share, error_weight: float):
    """Trust in the accuracy of AI output that one week of use supports (index): the less of one's AI-assisted time goes to finding
    and fixing its errors (``error_share``: verification hours over AI-assisted hours), the more one trusts it."""
    return np.minimum(np.maximum(1.0 - error_weight * error_share, 0.0), 1.0)


# --- Fatigue, morale ----------------------------------------------------------


def fatigue_target(review_hours, focus_hours: float, saturation: float):
    """Fatigue (index) that a week's review and verification load sustains."""
    return np.minimum(np.maximum(review_hours / (focus_hours * saturation), 0.0), 1.0)


def norm_morale_loss(skill, morale_norm: float):
    """Morale an engineer under the generate-don't-write norm loses: more, the more skilled (they are told to stop writing code)."""
    return morale_norm * skill


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


def is_dissatisfied(restriction_gap, forced_share, voice_gap: float):
    """Whether an engineer believes the policy harms their work enough to consider speaking up (barred tools' advantage plus forced use)."""
    return restriction_gap + forced_share > voice_gap


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


def punishment(voiced, enforcement, feedback_safety):
    """How much an engineer who spoke up is punished this week: enforcement where feedback is unsafe (index)."""
    return voiced * enforcement * (1.0 - feedback_safety)


def safety_climate(initial: float, feedback_safety, enforcement, from_feedback: float, from_enforcement: float):
    """Psychological safety (index) the policy climate supports: up with feedback safety, down with enforcement."""
    return np.minimum(np.maximum(initial + from_feedback * (feedback_safety - 0.5) - from_enforcement * enforcement, 0.0), 1.0)


def safety_change(safety, climate, punished_share, rate: float, punishment_cost: float):
    """Team safety after a week: toward the climate, minus the share of the team punished for dissent."""
    return np.minimum(np.maximum(safety + rate * (climate - safety) - punishment_cost * punished_share, 0.0), 1.0)


def weekly_seat_cost(seat_cost_per_month: float):
    """A tool seat's cost for one week (currency): a month's price times 12 months over 52 weeks."""
    return seat_cost_per_month * 12.0 / WEEKS_PER_YEAR


def after_transparency(trust, transparency_gain: float):
    """Trust in leadership after it publishes measured results (capped at 1)."""
    return np.minimum(1.0, trust + transparency_gain)


# --- Leadership: measuring and backing what works --------------------------------


def measured_saving(saving_sum, n, z, measurement_sd: float):
    """Mean time saving leadership measures from ``n`` task-weeks (``n`` at least 1): the true mean plus noise of ``measurement_sd / sqrt(n)``."""
    return saving_sum / n + z * measurement_sd / np.sqrt(n)


def defect_ratio(rate_ai, rate_base):
    """Defect rate of work done with a tool relative to work without AI (1 where there is no baseline to compare)."""
    return np.where(rate_base > 0, rate_ai / np.maximum(rate_base, 1e-12), 1.0)


def relative_reduction(now, baseline):
    """How far a quantity fell against its baseline (share; negative if it rose)."""
    return 1.0 - now / baseline


def goal_shortfall(target, achieved):
    """How far an outcome is from its targeted reduction (0: met, 1: no reduction at all); 0 when there is no target."""
    if target <= 0:
        return 0.0
    return float(np.clip((target - achieved) / target, 0.0, 1.0))


def backing(saving, min_gain: float, strength):
    """Leadership's endorsement of a tool for a task type from its measured saving: ``strength`` at or above the bar, -1 if it slows work, else 0."""
    return np.where(saving >= min_gain, strength, np.where(saving < 0.0, -1.0, 0.0))


def backing_strength(shortfall, urgency: float):
    """How strongly leadership backs what works: 1, raised by ``urgency`` per unit of shortfall against its cycle-time goal."""
    return 1.0 + urgency * shortfall


def quality_advice(endorsement, ratio, defect_ratio_limit: float):
    """Endorsements after a missed quality goal: advise against (-1 at most) the uses whose defect ratio exceeds the limit."""
    return np.where(ratio > defect_ratio_limit, np.minimum(endorsement, -1.0), endorsement)


def pilot_saving(time_per_unit_pilot, time_per_unit_control):
    """Time saved per unit of work by the pilot teams against the control teams (share; intention to treat)."""
    return 1.0 - time_per_unit_pilot / np.maximum(time_per_unit_control, 1e-12)


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
