"""Feedback safety: how safe it is to say 'this doesn't help', and how much leadership responds to it."""

from __future__ import annotations

from .base import Lever, Observations, PolicyChannels


class FeedbackSafety(Lever):
    """Sets the feedback climate every week."""

    name = "feedback_safety"

    def __init__(self, level: float):
        self.level = level

    @classmethod
    def build(cls, policy, behaviour, approved):
        return cls(policy.feedback_safety)

    def act(self, obs: Observations, channels: PolicyChannels) -> None:
        channels.feedback_safety = self.level
