"""Outcome goals: leadership watches measured cycle time and quality, publishes what works and backs it."""

from __future__ import annotations

import numpy as np

from .. import rules
from .base import Lever, LeverSetup, Observations, PolicyChannels
from .evidence import Evidence


class OutcomeGoals(Lever):
    """Every review period: measure each tool's saving per level and task type, back what works (more urgently when the
    cycle-time goal is missed), advise against what slows work or, when the quality goal is missed, adds defects; publish."""

    name = "outcome_goals"

    def __init__(self, goals, measurement, start_week: int):
        self.cycle_time_target, self.defect_target = goals.cycle_time_target, goals.defect_target
        self.review_every, self.min_gain = goals.review_every_weeks, goals.min_gain
        self.urgency, self.defect_ratio_limit = goals.urgency, goals.defect_ratio_limit
        self.measurement, self.start = measurement, start_week
        self.baseline_cycle_time = None
        self.baseline_defects = None

    @classmethod
    def build(cls, policy, behaviour, approved):
        return cls(policy.outcome_goals, behaviour.measurement, policy.start_week) if policy.outcome_goals.enabled else None

    def setup(self, org: LeverSetup) -> None:
        self.evidence = Evidence(len(org.tool_names), len(org.task_names), self.measurement)
        self.rng = org.rng("leadership/outcome_review")

    def react(self, obs: Observations, channels: PolicyChannels) -> None:
        if obs.week < self.start:
            return
        self.evidence.add(obs.work, obs.seniority)
        if self.baseline_cycle_time is None:
            self.baseline_cycle_time = obs.cycle_time
            self.baseline_defects = max(obs.escaped_total, 1e-9)
            return
        if (obs.week - self.start + 1) % self.review_every:
            return
        saving, enough, defect_ratio = self.evidence.measured(self.rng)
        achieved = rules.relative_reduction(obs.cycle_time, self.baseline_cycle_time)
        strength = rules.backing_strength(rules.goal_shortfall(self.cycle_time_target, achieved), self.urgency)
        endorse = rules.backing(saving, self.min_gain, strength)
        if rules.relative_reduction(obs.escaped_total, self.baseline_defects) < self.defect_target:
            endorse = rules.quality_advice(endorse, defect_ratio, self.defect_ratio_limit)
        channels.endorsement[enough] = endorse[enough]
        channels.publish(saving, enough)
        self.evidence.clear()
