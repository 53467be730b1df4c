"""The levers' narrow interface: a lever sees Observations and writes PolicyChannels, and a new one needs only its
class (its own file), its parameters and a place in the registry."""

from __future__ import annotations

import numpy as np

import sim
from sim.model import levers
from sim.model.levers import Lever, Observations, PolicyChannels


class WeeklyTraining(Lever):
    """A toy lever, written as a user would: two hours of training a week for every engineer with an approved tool."""

    name = "weekly_training"
    seen: list = []

    @classmethod
    def build(cls, policy, behaviour, approved):
        return cls()

    def act(self, obs, channels):
        self.seen.append((type(obs), type(channels)))
        channels.training_hours += 2.0 * (channels.permit.any(axis=(1, 2)) & obs.present)

    def react(self, obs, channels):
        self.seen.append((type(obs), type(channels), obs.work is not None, np.isfinite(obs.weekly_active)))


def test_a_new_lever_needs_only_its_class_and_the_registry(monkeypatch):
    spec = sim.load_scenario("free_choice", engineers=40, weeks=8)
    before = sim.run(spec, seed=4)
    monkeypatch.setattr(levers, "REGISTRY", levers.REGISTRY + (WeeklyTraining,))
    WeeklyTraining.seen = []
    after = sim.run(spec, seed=4)
    assert WeeklyTraining.seen, "the registered lever acted"
    assert all(s[0] is Observations and s[1] is PolicyChannels for s in WeeklyTraining.seen), "it saw observations and channels only"
    assert all(s[2] and s[3] for s in WeeklyTraining.seen if len(s) == 4), "after the week's work it sees the measured work and telemetry"
    merged = before.merge(after, on=["scenario", "replicate", "week", "metric", "group"], suffixes=("_before", "_after"))
    rows = merged[merged.metric == "throughput"]
    assert (rows.value_after.to_numpy() != rows.value_before.to_numpy()).any(), "training hours changed the work"


def test_levers_are_built_in_registry_order_from_the_policy():
    spec = sim.load_scenario("mandate_single_tool")
    built = levers.build_levers(spec.policy, spec.behaviour, spec.approved_tools())
    names = [type(lever).__name__ for lever in built]
    assert names == ["ApprovedTools", "FeedbackSafety", "UsageTarget"]
    assert [c.__name__ for c in levers.REGISTRY].index("UsageTarget") < [c.__name__ for c in levers.REGISTRY].index("Training")
