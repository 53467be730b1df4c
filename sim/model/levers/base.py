"""What a lever may see and what it may write: the narrow interface between the policy and the rest of the model.

A lever is built from its parameter section (``Lever.build``), learns the organisation's fixed facts once
(``setup(LeverSetup)``), and then, every week from the policy's start week:

* ``act(obs, channels)`` (step 1 of the weekly story): writes this week's instructions into the policy
  channels (``PolicyChannels``): permissions, pressure, the norm, stakes, training hours, the climate;
* ``react(obs, channels)`` (step 7, after the week's work): leadership watches what this lever cares about
  (``Observations``: telemetry, measured work, outcomes) and adjusts; it may publish measured results
  (``channels.publish``), which the model then applies to engineers' beliefs and trust.

A lever never reads or writes the model's internals: adding one touches its own file, its parameters in
sim/model/params.py (``Policy``) and the registry (sim/model/levers/__init__.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

import numpy as np

from .. import bundles
from ..params import Behaviour, Policy


@dataclass
class PolicyChannels:
    """What the policy says this week, as arrays the engineers' phases read (the ``Channels`` bundle)."""

    permit: np.ndarray  # [N,T,K] bool: tool approved for this engineer and task type
    pressure: np.ndarray  # [N] usage pressure on approved tools
    norm: np.ndarray  # [N] bool: told to generate, not write
    endorsement: np.ndarray  # [3,T,K] leadership's published backing (+) or advice against (-), per seniority level
    stake: np.ndarray  # [N] how much leadership wants to hear that AI helps (0..1)
    training_hours: np.ndarray  # [N] hours of training this week
    in_programme: np.ndarray  # [N] bool: has any approved tool (set by the model after the levers act)
    approved_tool: np.ndarray  # [N,T] bool: tool approved for any task type (set by the model)
    enforcement: float = 0.0  # climate of enforcement (0..1)
    feedback_safety: float = 0.5  # how safe dissent is, and how much leadership responds (0..1)
    publications: list = field(default_factory=list)  # this week's published results, in order: (measured [3,T,K], mask [3,T,K])

    @classmethod
    def blank(cls, n: int, n_tools: int, n_tasks: int) -> "PolicyChannels":
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
        self.publications.clear()

    def publish(self, measured: np.ndarray, mask: np.ndarray) -> None:
        """Publish measured savings per seniority level, tool and task type [3,T,K] where ``mask``: engineers hear them this week."""
        if mask.any():
            self.publications.append((measured, mask))

    @property
    def published(self) -> bool:
        """Whether leadership published measured results this week."""
        return bool(self.publications)

    def __setattr__(self, name: str, value) -> None:
        # Rebinding a field other than the two numbers (checked in ``bundle``) makes the kernels' bundle stale.
        if name in _CHANNEL_ARRAYS:
            self.__dict__.pop("_bundle", None)
        object.__setattr__(self, name, value)

    def bundle(self):
        """This week's channels as the kernels read them (the same bundle object while no field has changed)."""
        last = self.__dict__.get("_bundle")
        if last is None or last.enforcement is not self.enforcement or last.feedback_safety is not self.feedback_safety:
            last = self._bundle = bundles.make(Channels, self)
        return last


#: The policy channels as a kernel bundle (publications are applied by the model, not read by kernels).
Channels = bundles.bundle_type("Channels", [f for f in PolicyChannels.__dataclass_fields__ if f != "publications"], __name__)
_CHANNEL_ARRAYS = frozenset(Channels._fields) - {"enforcement", "feedback_safety"}


@dataclass(frozen=True)
class LeverSetup:
    """What a lever may know when the model is built: the organisation's fixed facts and its own random streams."""

    tool_names: tuple[str, ...]
    task_names: tuple[str, ...]
    team: np.ndarray  # [N] team of each slot
    n_teams: int
    present: np.ndarray  # [N] the initial staff
    skill: np.ndarray  # [N] initial skills
    rng: Callable[[str], np.random.Generator]  # the generator of one named decision (common random numbers)
    held: frozenset = frozenset()  # the channels held at their no-policy values (sim/model/channels.py)


@dataclass
class WorkRecord:
    """The week's work as leadership's measurements see it (read-only views)."""

    present: np.ndarray  # [N] worked this week
    choice: np.ndarray  # [N,K] option used: 0 no AI, j+1 tool j
    shadow: np.ndarray  # [N,K] the use was of an unapproved tool: invisible to leadership, so in neither measured group
    multiplier: np.ndarray  # [N,K] task time relative to no AI
    delivered: np.ndarray  # [N,K] work delivered (baseline hours)
    hours: np.ndarray  # [N,K] focus hours
    escaped: np.ndarray  # [N,K] escaped defects

    @cached_property
    def approved_use(self) -> np.ndarray:
        """[N,K] task types done with an approved tool by engineers who worked (what leadership can measure as AI use)."""
        return (self.choice > 0) & ~self.shadow & self.present[:, None]

    @cached_property
    def no_ai(self) -> np.ndarray:
        """[N,K] task types done without AI by engineers who worked (leadership's baseline)."""
        return (self.choice == 0) & self.present[:, None]


@dataclass(slots=True)
class Observations:
    """What leadership can see in a week: who works here, telemetry and (at react time) the measured work and outcomes."""

    week: int
    present: np.ndarray  # [N] employed now
    skill: np.ndarray  # [N] (leadership knows who its skilled engineers are)
    seniority: np.ndarray  # [N] level index
    weekly_active: float = float("nan")  # telemetry: share of engineers counted active (react only)
    work: WorkRecord | None = None  # the week's measured work (react only)
    cycle_time: float = float("nan")  # the organisation's cycle time this week, days (react only)
    escaped_total: float = float("nan")  # defects escaped this week (react only)


class Lever:
    """Base lever: does nothing. A lever overrides ``build`` and what it needs of ``setup``, ``act`` and ``react``."""

    name = "lever"

    @classmethod
    def build(cls, policy: Policy, behaviour: Behaviour, approved: list[str]) -> "Lever | None":
        """This lever with its parameters from the policy, or None when the policy does not switch it on."""
        return None

    def setup(self, org: LeverSetup) -> None:
        """Called once when the model is built."""

    def act(self, obs: Observations, channels: PolicyChannels) -> None:
        """Step 1: write this week's instructions."""

    def react(self, obs: Observations, channels: PolicyChannels) -> None:
        """Step 7: leadership watches and adjusts."""
