"""Approved tools: only approved tools may be used; an engineer with any approved tool is in the AI programme."""

from __future__ import annotations

import numpy as np

from .base import Lever, LeverSetup, Observations, PolicyChannels


class ApprovedTools(Lever):
    """Permits the approved tools on every task type (other levers may then narrow the permission)."""

    name = "approved_tools"

    def __init__(self, approved: list[str]):
        self.approved_names = approved

    @classmethod
    def build(cls, policy, behaviour, approved):
        return cls(approved)

    def setup(self, org: LeverSetup) -> None:
        # With the tool_restriction channel held, every tool is approved (docs/MODEL.md, section 8).
        every = "tool_restriction" in org.held
        self.mask = np.array([every or t in self.approved_names for t in org.tool_names], dtype=bool)

    def act(self, obs: Observations, channels: PolicyChannels) -> None:
        np.logical_or(channels.permit, self.mask[None, :, None], out=channels.permit)
