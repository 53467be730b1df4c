"""Training hours on the approved tools, spread over the first weeks of the policy."""

from __future__ import annotations

from .base import Lever, Observations, PolicyChannels


class Training(Lever):
    """Trains the engineers who have an approved tool (so it acts after the levers that decide who has one)."""

    name = "training"

    def __init__(self, hours: float, weeks: int, start_week: int):
        self.hours_per_week = hours / weeks
        self.weeks, self.start = weeks, start_week

    @classmethod
    def build(cls, policy, behaviour, approved):
        return cls(policy.training_hours, policy.training_weeks, policy.start_week) if policy.training_hours > 0 else None

    def act(self, obs: Observations, channels: PolicyChannels) -> None:
        if self.start <= obs.week < self.start + self.weeks:
            channels.training_hours += self.hours_per_week * (channels.permit.any(axis=(1, 2)) & obs.present)
