"""A usage mandate: pressure on everyone to use approved tools, escalating while measured weekly use is under target."""

from __future__ import annotations

import numpy as np

from .base import Lever, LeverSetup, Observations, PolicyChannels


class UsageTarget(Lever):
    """Pressure (and leadership's stake in hearing that AI helps) on every engineer; escalation watches telemetry only."""

    name = "usage_target"

    def __init__(self, target: float, enforcement: float, escalation: float, max_pressure: float):
        self.target, self.enforcement, self.escalation, self.max_pressure = target, enforcement, escalation, max_pressure
        self.level = 0.0

    @classmethod
    def build(cls, policy, behaviour, approved):
        if policy.usage_target > 0 and policy.usage_enforcement > 0:
            return cls(policy.usage_target, policy.usage_enforcement, policy.escalation, policy.max_pressure)
        return None

    def setup(self, org: LeverSetup) -> None:
        self.escalates = "leadership_reaction" not in org.held  # held: pressure stays at the enforcement it starts with

    def pressure_now(self) -> float:
        """This week's pressure: the enforcement, raised by each escalation, up to the ceiling."""
        return min(self.max_pressure, self.enforcement * (1.0 + self.level))

    def act(self, obs: Observations, channels: PolicyChannels) -> None:
        p = self.pressure_now()
        channels.pressure += p * obs.present
        np.minimum(1.0, channels.stake + p * obs.present, out=channels.stake)
        channels.enforcement = max(channels.enforcement, self.enforcement)

    def react(self, obs: Observations, channels: PolicyChannels) -> None:
        # Watches usage telemetry and nothing else.
        if self.escalates and obs.weekly_active < self.target:
            self.level += self.escalation
