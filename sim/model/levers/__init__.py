"""Policy levers: composable pieces that write what engineers are told each week (see ``base`` for the interface).

A scenario's policy is the list of levers its values switch on, built in ``REGISTRY`` order (the order they act
and react each week). To add a lever: write its class in its own file here, declare its parameters in
``sim.model.params.Policy``, and add it to ``REGISTRY``.
"""

from __future__ import annotations

from ..params import Behaviour, Policy
from .approved_tools import ApprovedTools
from .base import Channels, Lever, LeverSetup, Observations, PolicyChannels, WorkRecord
from .evidence import Evidence
from .feedback_safety import FeedbackSafety
from .generate_norm import GenerateNorm
from .outcome_goals import OutcomeGoals
from .pilot import Pilot
from .training import Training
from .usage_target import UsageTarget

#: Every lever, in the order they act and react.
REGISTRY: tuple[type[Lever], ...] = (ApprovedTools, FeedbackSafety, Pilot, UsageTarget, GenerateNorm, OutcomeGoals, Training)


def build_levers(policy: Policy, behaviour: Behaviour, approved: list[str]) -> list[Lever]:
    """The levers a policy switches on, in the order they act."""
    return [lever for cls in REGISTRY if (lever := cls.build(policy, behaviour, approved)) is not None]


__all__ = [
    "REGISTRY", "ApprovedTools", "Channels", "Evidence", "FeedbackSafety", "GenerateNorm", "Lever", "LeverSetup", "Observations",
    "OutcomeGoals", "Pilot", "PolicyChannels", "Training", "UsageTarget", "WorkRecord", "build_levers",
]
