"""Pilot-and-measure: approved tools only for a randomly chosen set of teams and task types, then scale or roll back."""

from __future__ import annotations

import numpy as np

from .. import rules
from .base import Lever, LeverSetup, Observations, PolicyChannels
from .evidence import Evidence


class Pilot(Lever):
    """A randomised pilot of whole teams; at its end, each tool is scaled to the task types where the pilot teams beat the
    control teams and its users measured a saving, and rolled back elsewhere; the results are published."""

    name = "pilot"

    def __init__(self, pilot, measurement, start_week: int):
        self.share, self.weeks, self.scope_names, self.min_gain = pilot.share, pilot.weeks, pilot.task_types, pilot.min_gain
        self.measurement, self.start = measurement, start_week
        self.decided = None  # [T,K] bool once decided

    @classmethod
    def build(cls, policy, behaviour, approved):
        return cls(policy.pilot, behaviour.measurement, policy.start_week) if policy.pilot.share > 0 else None

    def setup(self, org: LeverSetup) -> None:
        self.narrows = "tool_restriction" not in org.held  # held: the pilot measures and publishes but limits nobody's tools
        # Exactly the declared share of whole teams (at least one), chosen by a seeded permutation;
        # at least one team stays in control unless the share is 1.
        n_pilot = int(round(self.share * org.n_teams))
        n_pilot = max(1, min(n_pilot, org.n_teams if self.share >= 1.0 else org.n_teams - 1))
        order = org.rng("policy/pilot_teams").permutation(org.n_teams)
        is_pilot_team = np.zeros(org.n_teams, dtype=bool)
        is_pilot_team[order[:n_pilot]] = True
        self.member = is_pilot_team[org.team]
        self.scope = np.array([self.scope_names == "all" or k in self.scope_names for k in org.task_names], dtype=bool)
        self.evidence = Evidence(len(org.tool_names), len(org.task_names), self.measurement)
        self.rng = org.rng("leadership/pilot_review")
        K = len(org.task_names)
        # Hours and delivered work per task type, pilot teams (row 0) against control teams (row 1).
        self.hours = np.zeros((2, K))
        self.delivered = np.zeros((2, K))
        self.itt_saving = None

    @property
    def end_week(self) -> int:
        return self.start + self.weeks

    def act(self, obs: Observations, channels: PolicyChannels) -> None:
        if not self.narrows:
            return
        if obs.week < self.end_week:
            # During the pilot only members use the approved tools, only on in-scope tasks.
            channels.permit &= self.member[:, None, None] & self.scope[None, None, :]
        else:
            channels.permit &= self.decided[None, :, :]

    def react(self, obs: Observations, channels: PolicyChannels) -> None:
        work = obs.work
        if self.start <= obs.week < self.end_week:
            self.evidence.add(work, obs.seniority, members=self.member)
            for g, members in enumerate((self.member, ~self.member)):
                sel = (work.present & members)[:, None]
                self.hours[g] += (work.hours * sel).sum(axis=0)
                self.delivered[g] += (work.delivered * sel).sum(axis=0)
        if obs.week == self.end_week - 1:
            # Pilot against control teams (randomised): time per unit of work on each task type.
            per_unit = self.hours / np.maximum(self.delivered, 1e-12)
            measured = (self.delivered > 0).all(axis=0)
            self.itt_saving = np.where(measured, rules.pilot_saving(per_unit[0], per_unit[1]), 0.0)
            if not self.member.any() or self.member.all():
                works = self.scope.copy()  # no control group (a pilot of everyone): the users' measurements alone decide
            else:
                works = measured & (self.itt_saving >= self.min_gain) & self.scope
            # Scale a tool to a task type where the pilot beat control there and the tool's users measured a saving.
            pooled, enough_pooled, _ = self.evidence.measured(self.rng, pooled=True)
            self.decided = works[None, :] & enough_pooled & (pooled >= self.min_gain)
            channels.endorsement[:, enough_pooled] = np.where(self.decided[enough_pooled], 1.0, -1.0)
            by_level, enough, _ = self.evidence.measured(self.rng)
            channels.publish(by_level, enough)
