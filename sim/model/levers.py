"""Policy levers: composable pieces that write what engineers are told each week.

A lever has ``act(model, week, state)`` (step 1 of the weekly story: it writes
permissions, pressure, norms, endorsements or training into ``PolicyState``)
and ``react(model, week, state)`` (step 7: leadership watches what this lever
cares about and adjusts). No lever changes shared parameters; a scenario's
policy is the list of levers its values switch on (see ``build_levers``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .params import Policy
from .streams import named_rng

if TYPE_CHECKING:  # pragma: no cover
    from .org import EngineeringOrg

#: Standard error of leadership's measurement of a time saving from one task-week of data.
MEASUREMENT_SD = 0.3
#: Minimum task-weeks of data before leadership publishes a result for a tool and task type.
MIN_EVIDENCE = 5


@dataclass
class PolicyState:
    """What the policy says this week, as arrays the behaviour step reads."""

    permit: np.ndarray  # [N,T,K] bool: tool approved for this engineer and task type
    pressure: np.ndarray  # [N] usage pressure on approved tools
    norm: np.ndarray  # [N] bool: told to generate, not write
    endorsement: np.ndarray  # [3,T,K] leadership's published backing (+) or advice against (-), per seniority level
    stake: np.ndarray  # [N] how much leadership wants to hear that AI helps (0..1)
    training_hours: np.ndarray  # [N] hours of training this week
    enforcement: float = 0.0  # climate of enforcement (0..1)
    feedback_safety: float = 0.5  # responsiveness to dissent (0..1)
    published: bool = False  # leadership published measured results this week
    in_programme: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # [N] has any approved tool
    approved_tool: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))  # [N,T] tool approved for any task type

    @classmethod
    def blank(cls, n: int, n_tools: int, n_tasks: int) -> "PolicyState":
        return cls(
            permit=np.zeros((n, n_tools, n_tasks), dtype=bool),
            pressure=np.zeros(n),
            norm=np.zeros(n, dtype=bool),
            endorsement=np.zeros((3, n_tools, n_tasks)),
            stake=np.zeros(n),
            training_hours=np.zeros(n),
            in_programme=np.zeros(n, dtype=bool),
            approved_tool=np.zeros((n, n_tools), dtype=bool),
        )

    def reset_week(self) -> None:
        """Clear the weekly instructions (levers rewrite them); endorsements persist until revised."""
        self.permit.fill(False)
        self.pressure.fill(0.0)
        self.norm.fill(False)
        self.stake.fill(0.0)
        self.training_hours.fill(0.0)
        self.enforcement = 0.0
        self.published = False


class Lever:
    """Base lever: does nothing. Subclasses override what they need."""

    name = "lever"

    def setup(self, model: "EngineeringOrg") -> None:
        """Called once when the model is built."""

    def act(self, model: "EngineeringOrg", week: int, state: PolicyState) -> None:
        """Step 1: write this week's instructions."""

    def react(self, model: "EngineeringOrg", week: int, state: PolicyState) -> None:
        """Step 7: leadership watches and adjusts."""


class ApprovedTools(Lever):
    """Only approved tools may be used; an engineer with any approved tool is in the AI programme."""

    name = "approved_tools"

    def __init__(self, approved: list[str]):
        self.approved_names = approved

    def setup(self, model):
        names = model.tables.tool_names
        self.mask = np.array([t in self.approved_names for t in names], dtype=bool)

    def act(self, model, week, state):
        np.logical_or(state.permit, self.mask[None, :, None], out=state.permit)


class UsageTarget(Lever):
    """A usage mandate: pressure on everyone to use approved tools, escalating while measured weekly use is under target."""

    name = "usage_target"

    def __init__(self, target: float, enforcement: float, escalation: float, max_pressure: float):
        self.target, self.enforcement, self.escalation, self.max_pressure = target, enforcement, escalation, max_pressure
        self.level = 0.0

    def pressure_now(self) -> float:
        return min(self.max_pressure, self.enforcement * (1.0 + self.level))

    def act(self, model, week, state):
        p = self.pressure_now()
        present = model.workforce.is_present
        state.pressure += p * present
        np.minimum(1.0, state.stake + p * present, out=state.stake)
        state.enforcement = max(state.enforcement, self.enforcement)

    def react(self, model, week, state):
        # Watches usage telemetry and nothing else.
        if model.telemetry_weekly_active < self.target:
            self.level += self.escalation


class GenerateNorm(Lever):
    """The role norm: the most skilled engineers are told to only generate and supervise code."""

    name = "generate_norm"

    def __init__(self, share: float, enforcement: float):
        self.share, self.enforcement = share, enforcement

    def setup(self, model):
        wf = model.workforce
        skills = wf.skill[wf.is_present]
        n_target = int(np.floor(self.share * skills.size + 1e-9))
        # Threshold fixed at the start: the top `share` by skill (new hires above it join the norm).
        self.threshold = np.inf if n_target == 0 else float(np.sort(skills)[-n_target])

    def act(self, model, week, state):
        wf = model.workforce
        target = wf.is_present & (wf.skill >= self.threshold)
        state.norm |= target
        state.stake[target] = 1.0
        if target.any():
            state.enforcement = max(state.enforcement, self.enforcement)


class FeedbackSafety(Lever):
    """How safe it is to say 'this doesn't help', and how much leadership responds to it."""

    name = "feedback_safety"

    def __init__(self, level: float):
        self.level = level

    def act(self, model, week, state):
        state.feedback_safety = self.level


class Training(Lever):
    """Training hours on the approved tools, spread over the first weeks of the policy."""

    name = "training"

    def __init__(self, hours: float, weeks: int, start_week: int):
        self.hours_per_week = hours / weeks
        self.weeks, self.start = weeks, start_week

    def act(self, model, week, state):
        # Acts after the levers that decide who has an approved tool: only they are trained.
        if self.start <= week < self.start + self.weeks:
            state.training_hours += self.hours_per_week * (state.permit.any(axis=(1, 2)) & model.workforce.is_present)


class _Evidence:
    """Accumulates measured time savings and defects per seniority level, tool and task type from the weeks' work."""

    def __init__(self, n_tools: int, n_tasks: int):
        self.T, self.K = n_tools, n_tasks
        self.clear()

    def clear(self):
        shape = (3, self.T, self.K)
        self.saving = np.zeros(shape)
        self.n = np.zeros(shape)
        self.defects_ai = np.zeros(shape)
        self.delivered_ai = np.zeros(shape)
        self.defects_base = np.zeros(self.K)
        self.delivered_base = np.zeros(self.K)

    def add(self, model: "EngineeringOrg", members: np.ndarray | None = None) -> None:
        wk = model.wk
        ch = wk.choice
        sel = wk.present if members is None else (wk.present & members)
        used = (ch > 0) & ~wk.shadow & sel[:, None]  # unapproved (shadow) use is invisible to leadership
        level = model.workforce.seniority[:, None]
        idx = (level * self.T + (ch - 1)) * self.K + np.arange(self.K)[None, :]
        size = 3 * self.T * self.K
        shape = (3, self.T, self.K)
        i = idx[used]
        self.saving += np.bincount(i, weights=(1.0 - wk.multiplier)[used], minlength=size).reshape(shape)
        self.n += np.bincount(i, minlength=size).reshape(shape)
        self.defects_ai += np.bincount(i, weights=wk.escaped[used], minlength=size).reshape(shape)
        self.delivered_ai += np.bincount(i, weights=wk.delivered[used], minlength=size).reshape(shape)
        base = (ch == 0) & sel[:, None]
        self.defects_base += (wk.escaped * base).sum(axis=0)
        self.delivered_base += (wk.delivered * base).sum(axis=0)

    def measured(self, rng: np.random.Generator, pooled: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Measured mean saving (with measurement error), where evidence suffices, and defect ratio; per [level,T,K], or per [T,K] pooled over levels."""
        saving_sum, n, d_ai, v_ai = self.saving, self.n, self.defects_ai, self.delivered_ai
        if pooled:
            saving_sum, n, d_ai, v_ai = (a.sum(axis=0) for a in (saving_sum, n, d_ai, v_ai))
        enough = n >= MIN_EVIDENCE
        n1 = np.maximum(n, 1.0)
        noise = rng.standard_normal(n.shape) * MEASUREMENT_SD / np.sqrt(n1)
        saving = saving_sum / n1 + noise
        rate_ai = d_ai / np.maximum(v_ai, 1e-9)
        rate_base = self.defects_base / np.maximum(self.delivered_base, 1e-9)
        ratio = np.where(rate_base > 0, rate_ai / np.maximum(rate_base, 1e-12), 1.0)
        return saving, enough, ratio


def publish(model: "EngineeringOrg", measured: np.ndarray, mask: np.ndarray, state: PolicyState) -> None:
    """Leadership publishes measured savings per seniority level [3,T,K]: beliefs move toward the result for one's level; trust gains from transparency."""
    if not mask.any():
        return
    wf = model.workforce
    w = model.behaviour.perception.publication_weight
    target = measured[wf.seniority]  # [N,T,K]
    use = mask[wf.seniority] & wf.is_present[:, None, None]
    wf.belief[...] = np.where(use, wf.belief + w * (target - wf.belief), wf.belief)
    gain = model.behaviour.trust.transparency_gain
    wf.trust_leadership[wf.is_present] = np.minimum(1.0, wf.trust_leadership[wf.is_present] + gain)
    state.published = True


class OutcomeGoals(Lever):
    """Outcome goals: leadership watches measured cycle time and quality, publishes what works and backs it."""

    name = "outcome_goals"

    def __init__(self, cycle_time_target: float, defect_target: float, review_every: int, start_week: int, min_gain: float = 0.05):
        self.cycle_time_target, self.defect_target = cycle_time_target, defect_target
        self.review_every, self.start, self.min_gain = review_every, start_week, min_gain
        self.baseline_cycle_time = None
        self.baseline_defects = None

    def setup(self, model):
        self.evidence = _Evidence(model.tables.n_tools, model.tables.n_tasks)
        self.rng = named_rng(model.entropy, "leadership/outcome_review")

    def react(self, model, week, state):
        if week < self.start:
            return
        self.evidence.add(model)
        if self.baseline_cycle_time is None:
            self.baseline_cycle_time = model.wk.cycle_time
            self.baseline_defects = max(model.wk.escaped_total, 1e-9)
            return
        if (week - self.start + 1) % self.review_every:
            return
        saving, enough, defect_ratio = self.evidence.measured(self.rng)
        achieved = 1.0 - model.wk.cycle_time / self.baseline_cycle_time
        shortfall = 0.0 if self.cycle_time_target <= 0 else float(np.clip((self.cycle_time_target - achieved) / self.cycle_time_target, 0.0, 1.0))
        urgency = 1.0 + 0.5 * shortfall
        endorse = np.where(saving >= self.min_gain, urgency, np.where(saving < 0.0, -1.0, 0.0))
        defect_drop = 1.0 - model.wk.escaped_total / self.baseline_defects
        if defect_drop < self.defect_target:
            # Quality goal missed: advise against the uses that add defects.
            endorse = np.where(defect_ratio > 1.2, np.minimum(endorse, -1.0), endorse)
        state.endorsement[enough] = endorse[enough]
        publish(model, saving, enough, state)
        self.evidence.clear()


class Pilot(Lever):
    """Pilot-and-measure: approved tools only for a randomly chosen set of teams and task types, then scale or roll back per tool and task type."""

    name = "pilot"

    def __init__(self, share: float, weeks: int, task_types: list[str] | str, min_gain: float, start_week: int):
        self.share, self.weeks, self.scope_names, self.min_gain, self.start = share, weeks, task_types, min_gain, start_week
        self.decided = None  # [T,K] bool once decided

    def setup(self, model):
        wf = model.workforce
        # Exactly the declared share of whole teams (at least one), chosen by a seeded permutation;
        # at least one team stays in control unless the share is 1.
        n_pilot = int(round(self.share * wf.n_teams))
        n_pilot = max(1, min(n_pilot, wf.n_teams if self.share >= 1.0 else wf.n_teams - 1))
        order = named_rng(model.entropy, "policy/pilot_teams").permutation(wf.n_teams)
        is_pilot_team = np.zeros(wf.n_teams, dtype=bool)
        is_pilot_team[order[:n_pilot]] = True
        self.member = is_pilot_team[wf.team]
        names = model.tables.task_names
        self.scope = np.array([self.scope_names == "all" or k in self.scope_names for k in names], dtype=bool)
        self.evidence = _Evidence(model.tables.n_tools, model.tables.n_tasks)
        self.rng = named_rng(model.entropy, "leadership/pilot_review")
        K = model.tables.n_tasks
        # Hours and delivered work per task type, pilot teams (row 0) against control teams (row 1).
        self.hours = np.zeros((2, K))
        self.delivered = np.zeros((2, K))
        self.itt_saving = None

    @property
    def end_week(self) -> int:
        return self.start + self.weeks

    def act(self, model, week, state):
        if week < self.end_week:
            # During the pilot only members use the approved tools, only on in-scope tasks.
            state.permit &= self.member[:, None, None] & self.scope[None, None, :]
        else:
            state.permit &= self.decided[None, :, :]

    def react(self, model, week, state):
        if self.start <= week < self.end_week:
            wk = model.wk
            self.evidence.add(model, members=self.member)
            for g, members in enumerate((self.member, ~self.member)):
                sel = (wk.present & members)[:, None]
                self.hours[g] += (wk.hours * sel).sum(axis=0)
                self.delivered[g] += (wk.delivered * sel).sum(axis=0)
        if week == self.end_week - 1:
            # Pilot against control teams (randomised): time per unit of work on each task type.
            per_unit = self.hours / np.maximum(self.delivered, 1e-12)
            measured = (self.delivered > 0).all(axis=0)
            self.itt_saving = np.where(measured, 1.0 - per_unit[0] / np.maximum(per_unit[1], 1e-12), 0.0)
            if not self.member.any() or self.member.all():
                works = self.scope.copy()  # no control group (a pilot of everyone): the users' measurements alone decide
            else:
                works = measured & (self.itt_saving >= self.min_gain) & self.scope
            # Scale a tool to a task type where the pilot beat control there and the tool's users measured a saving.
            pooled, enough_pooled, _ = self.evidence.measured(self.rng, pooled=True)
            self.decided = works[None, :] & enough_pooled & (pooled >= self.min_gain)
            state.endorsement[:, enough_pooled] = np.where(self.decided[enough_pooled], 1.0, -1.0)
            by_level, enough, _ = self.evidence.measured(self.rng)
            publish(model, by_level, enough, state)


def build_levers(policy: Policy, approved: list[str]) -> list[Lever]:
    """The levers a policy switches on, in the order they act."""
    levers: list[Lever] = [ApprovedTools(approved), FeedbackSafety(policy.feedback_safety)]
    if policy.pilot.share > 0:
        p = policy.pilot
        levers.append(Pilot(p.share, p.weeks, p.task_types, p.min_gain, policy.start_week))
    if policy.usage_target > 0 and policy.enforcement > 0:
        levers.append(UsageTarget(policy.usage_target, policy.enforcement, policy.escalation, policy.max_pressure))
    if policy.generate_share > 0:
        levers.append(GenerateNorm(policy.generate_share, policy.enforcement))
    if policy.outcome_goals.enabled:
        g = policy.outcome_goals
        levers.append(OutcomeGoals(g.cycle_time_target, g.defect_target, g.review_every_weeks, policy.start_week, g.min_gain))
    if policy.training_hours > 0:
        levers.append(Training(policy.training_hours, policy.training_weeks, policy.start_week))
    return levers
