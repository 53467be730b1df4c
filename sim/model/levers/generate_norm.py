"""The role norm: the most skilled engineers are told to only generate and supervise code."""

from __future__ import annotations

import numpy as np

from .base import Lever, LeverSetup, Observations, PolicyChannels


class GenerateNorm(Lever):
    """Puts the top share of engineers by skill under the norm (with leadership's full stake in it working)."""

    name = "generate_norm"

    def __init__(self, share: float, enforcement: float):
        self.share, self.enforcement = share, enforcement

    @classmethod
    def build(cls, policy, behaviour, approved):
        return cls(policy.generate_share, policy.norm_enforcement) if policy.generate_share > 0 else None

    def setup(self, org: LeverSetup) -> None:
        skills = org.skill[org.present]
        n_target = int(np.floor(self.share * skills.size + 1e-9))
        # Threshold fixed at the start: the top `share` by skill (new hires above it join the norm).
        self.threshold = np.inf if n_target == 0 else float(np.sort(skills)[-n_target])

    def act(self, obs: Observations, channels: PolicyChannels) -> None:
        target = obs.present & (obs.skill >= self.threshold)
        channels.norm |= target
        channels.stake[target] = 1.0
        if target.any():
            channels.enforcement = max(channels.enforcement, self.enforcement)
