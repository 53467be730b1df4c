"""The named channels through which a policy's effect travels, declared once (docs/MODEL.md, section 8).

A channel is one behavioural mechanism that can carry a policy's effect on the outcomes. Each can be *held*
at its no-policy value (switched off) without touching the others: ``EngineeringOrg(scenario, held={...})``.
A channel is held in one or more of three ways, all declared here, so the model, the explanation
(sim/experiments/explain.py), the CLI's help, the docs and the figures' labels read one list:

``metrics`` names the only outputs a channel can reach, where that is narrow (leadership's stake only slants
what engineers report), so an explanation of any other outcome need not hold it.

* ``parameters``: behaviour parameters held at the value that removes the mechanism (``choice.token_propensity``
  at 0: nobody makes a token use), set in the parameter bundles the kernels read;
* ``policy``: fields of the week's ``PolicyChannels`` held at their blank (no-policy) values after the levers act
  (the climate of feedback safety and enforcement, leadership's stake, training hours);
* ``levers``: what a lever itself does differently (it reads ``LeverSetup.held``): the approved-tools and pilot
  levers narrow no permission, the usage target does not escalate; and, for leadership's reaction, the model
  holds endorsements at zero and lets nobody hear a publication.

``used_by(scenario)`` says whether a policy can engage the channel at all, whatever else is held (holding the tool
restriction approves every tool, so a policy that restricts tools engages fatigue even when it approves none).
Where it cannot, holding the channel changes no output, bit for bit, alone or beside any other held channel
(tests/test_explain.py checks every built-in scenario), which is what lets an explanation skip the runs that would
only repeat others.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

from sim.errors import InputError

from .params import Policy, Scenario


def _usage_lever(p: Policy) -> bool:
    return p.usage_target > 0 and p.usage_enforcement > 0


def _restricts_tools(sc: Scenario) -> bool:
    return set(sc.approved_tools()) != set(sc.organisation.tools) or sc.policy.pilot.share > 0


def _any_tool(sc: Scenario) -> bool:
    return bool(sc.approved_tools())


def _pushes(p: Policy) -> bool:
    return _usage_lever(p) or p.generate_share > 0


def _no_policy_feedback_safety() -> float:
    return Policy.model_fields["feedback_safety"].default


@dataclass(frozen=True)
class Channel:
    """One mechanism a policy's effect can travel through, and how it is held at its no-policy value."""

    name: str
    label: str  # what figures and sentences call it
    description: str  # one line: the mechanism, and what holding it means
    used_by: Callable[[Scenario], bool]  # whether a scenario's policy can engage it (where not, holding it changes nothing)
    parameters: dict[str, float] = field(default_factory=dict)  # "section.name" -> the value held
    policy: tuple[str, ...] = ()  # PolicyChannels fields held at their blank values after the levers act
    levers: str = ""  # what the levers (or the model after they react) do differently, in words, for the docs
    #: The only metrics holding it can change (empty: any). Explanations of any other metric skip its runs.
    metrics: tuple[str, ...] = ()

    def reaches(self, metric: str) -> bool:
        """Whether holding this channel can change ``metric``."""
        return not self.metrics or metric in self.metrics


#: Every channel, in the order explanations list them.
CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in [
        Channel(
            "tool_restriction", "a restricted tool list (task fit)",
            "Only some tools are approved (or only for pilot teams, or rolled back after a pilot), so engineers lose the tool "
            "that fits their task; held: every tool is approved for everyone in the programme (the pilot still measures and publishes).",
            _restricts_tools, levers="ApprovedTools approves every tool; Pilot narrows no permission"),
        Channel(
            "pressured_use", "pressured use on ill-fitting tasks",
            "Usage pressure and the generate-don't-write norm make engineers use AI where they judge it does not help (forced use); "
            "held: the choice ignores pressure and the norm.",
            lambda sc: _pushes(sc.policy), parameters={"choice.pressure_weight": 0.0, "choice.norm_weight": 0.0}),
        Channel(
            "token_use", "token use",
            "Engineers with no real use make a cheap use to satisfy the usage metric (time lost, fatigue, spend); held: nobody makes a token use.",
            lambda sc: _usage_lever(sc.policy), parameters={"choice.token_propensity": 0.0}),
        Channel(
            "shadow_use", "shadow use of unapproved tools",
            "Engineers use a barred tool they believe is clearly better (risk, and work done with a tool leadership cannot see); "
            "held: nobody uses a tool that is not approved for them.",
            lambda sc: _any_tool(sc) and _restricts_tools(sc), parameters={"choice.shadow_gap": math.inf}),
        Channel(
            "fatigue", "fatigue from verification load",
            "Reviewing and fixing generated output wears engineers out (fewer focus hours, fewer defects caught, less use, lower morale, "
            "more leaving); held: AI fatigue stays at zero.",
            # a restricted list engages it too: holding the restriction approves every tool
            lambda sc: _any_tool(sc) or _restricts_tools(sc), parameters={"people.fatigue_rate": 0.0}),
        Channel(
            "role_norm", "the role norm's own costs",
            "Engineers told to generate rather than write verify more and the skilled among them lose morale; held: neither happens "
            "(the norm's push on the choice is pressured use).",
            lambda sc: sc.policy.generate_share > 0, parameters={"work.generate_verification": 0.0, "people.morale_norm": 0.0}),
        Channel(
            "safety_climate", "the climate of safety and enforcement",
            "Feedback safety and enforcement set how safe teams feel: honest reports and retrospectives, voice, declining pressure, "
            "punished dissent, the fear that deters shadow use; held: the no-policy climate (feedback safety 0.5, no enforcement).",
            lambda sc: sc.policy.feedback_safety != _no_policy_feedback_safety() or _usage_lever(sc.policy)
            or (sc.policy.generate_share > 0 and sc.policy.norm_enforcement > 0),
            policy=("feedback_safety", "enforcement")),
        Channel(
            "slanted_reports", "slanted reports (lost feedback)",
            "Leadership's stake in hearing that AI helps makes engineers who do not feel safe overstate their gain; held: no stake, "
            "so reports are honest.",
            lambda sc: _pushes(sc.policy), policy=("stake",), metrics=("reported_gain", "measurement_gap")),
        Channel(
            "trust_in_leadership", "trust in leadership and departures",
            "Forced use, barred tools and ignored pushback cost trust in leadership (response and transparency win it back), and low trust "
            "drives departures, of the skilled most; held: trust in leadership stays at its initial level.",
            lambda sc: _pushes(sc.policy) or _restricts_tools(sc) or sc.policy.outcome_goals.enabled,
            parameters={"trust.forced_cost": 0.0, "trust.restriction_cost": 0.0, "trust.ignored_cost": 0.0, "trust.response_gain": 0.0,
                        "trust.transparency_gain": 0.0}),
        Channel(
            "training", "training",
            "Training hours on the approved tools raise proficiency and take time from tasks; held: no training.",
            lambda sc: sc.policy.training_hours > 0, policy=("training_hours",)),
        Channel(
            "leadership_reaction", "leadership's reaction",
            "Leadership escalates pressure while usage is under target, backs or advises against tools, and publishes measured results "
            "that move beliefs; held: no escalation, no endorsement, nothing published.",
            lambda sc: (_usage_lever(sc.policy) and sc.policy.escalation > 0) or sc.policy.outcome_goals.enabled or sc.policy.pilot.share > 0,
            levers="UsageTarget does not escalate; the model holds endorsements at zero and drops publications after the levers react"),
    ]
}


def check(held: Iterable[str], source: str = "channels") -> frozenset[str]:
    """The held channels as a set; an unknown name is an error naming it and the channels there are."""
    out = frozenset(held)
    unknown = sorted(out - set(CHANNELS))
    if unknown:
        raise InputError("is not a channel", source=source, value=unknown[0], allowed=", ".join(CHANNELS))
    return out


def used_by(scenario: Scenario) -> frozenset[str]:
    """The channels a scenario's policy can engage (holding any other changes none of its outputs)."""
    return frozenset(name for name, c in CHANNELS.items() if c.used_by(scenario))


def hold_parameters(params, held: frozenset[str]):
    """The behaviour's parameter bundles (``bundles.params``) with the held channels' parameters at their held values."""
    changes: dict[str, dict[str, float]] = {}
    for name in held:
        for path, value in CHANNELS[name].parameters.items():
            section, key = path.split(".")
            changes.setdefault(section, {})[key] = float(value)
    if not changes:
        return params
    return params._replace(**{s: getattr(params, s)._replace(**kv) for s, kv in changes.items()})


def held_policy_fields(held: frozenset[str]) -> tuple[str, ...]:
    """The PolicyChannels fields held at their blank values after the levers act."""
    return tuple(f for name in CHANNELS if name in held for f in CHANNELS[name].policy)


def markdown_table() -> str:
    """The channels as docs/MODEL.md shows them (section 8; a test checks the copy there is current)."""

    def how(c: Channel) -> str:
        bits = [f"`behaviour.{p}` = {v}" for p, v in c.parameters.items()]
        bits += [f"`PolicyChannels.{f}` blank" for f in c.policy]
        if c.levers:
            bits.append(c.levers)
        if c.metrics:
            bits.append("reaches only " + ", ".join(f"`{m}`" for m in c.metrics))
        return "; ".join(bits)

    lines = ["| channel | label | the mechanism, and what holding it means | held by |", "|---|---|---|---|"]
    lines += [f"| `{c.name}` | {c.label} | {c.description} | {how(c)} |" for c in CHANNELS.values()]
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
