"""Every parameter of mandate-sim, declared once.

Each numeric field carries its default, bounds, unit and description; YAML
validation, `mandate-sim params`, the JSON schema, the app's sliders, sweep
bounds and docs/PARAMETERS.md are all derived from these declarations.

A scenario has four sections:

* ``organisation``: who works here (size, teams, seniority, task mix) and
  which AI tools exist, with their true effects per task type;
* ``policy``: the management levers;
* ``behaviour``: how engineers decide, perceive, learn, trust and leave
  (one set shared by every scenario and every calibration study);
* ``weeks``: the horizon.
"""

from __future__ import annotations

import functools
import numbers
import types
import typing
import warnings
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from sim.errors import excerpt

SENIORITY_LEVELS: tuple[str, ...] = ("junior", "mid", "senior")

#: Policy keys of the first edition that still load: each sets the keys that replaced it.
DEPRECATED_POLICY_KEYS: dict[str, tuple[str, ...]] = {"enforcement": ("usage_enforcement", "norm_enforcement")}

#: Tolerance for shares that must sum to one.
SUM_TOLERANCE = 1e-6


def P(default: float, lo: float, hi: float, unit: str, description: str, source: str | None = None) -> Any:
    """Declare one bounded numeric parameter with its unit, description and evidence.

    Strict: a number must be written as a number. ``true`` or ``'0.5'`` is refused (pydantic's lax mode took them
    as 1.0 and 0.5); a whole number is accepted where a number is declared (``weeks: 52``, ``focus_hours: 28``),
    and a whole-number parameter takes only whole numbers (``size: 200``, not ``200.5`` or ``200.0``).
    """
    extra: dict[str, Any] = {"unit": unit}
    if source:
        extra["source"] = source
    return Field(default, ge=lo, le=hi, strict=True, description=description, json_schema_extra=extra)


def _number_kind(annotation: Any) -> str | None:
    """'float' or 'int' for a numeric annotation (optional included), 'float map' / 'int map' for a mapping of names
    to numbers, 'float list' / 'int list' for a list of numbers; None for anything else."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)] if typing.get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]
    if len(args) != 1:
        return None
    ann = args[0]
    if ann in (float, int):
        return ann.__name__
    origin, inner = typing.get_origin(ann), typing.get_args(ann)
    if origin is dict and len(inner) == 2 and inner[1] in (float, int):
        return f"{inner[1].__name__} map"
    if origin is list and len(inner) == 1 and inner[0] in (float, int):
        return f"{inner[0].__name__} list"
    return None


def _not_a_number(value: Any, kind: str, where: str = "") -> ValueError:
    what = "a whole number" if kind == "int" else "a number"
    said = "true or false" if isinstance(value, bool) else "text" if isinstance(value, str) else f"a {type(value).__name__}"
    return ValueError(f"{where}is {said}, not {what}")


def _strict_number(value: Any, kind: str, where: str = "") -> Any:
    """``value`` if it is a number of the declared kind (numpy numbers become Python ones); else the error that says why."""
    if isinstance(value, bool) or isinstance(value, (str, bytes)):
        raise _not_a_number(value, kind, where)
    if kind == "int" and isinstance(value, numbers.Integral) and type(value) is not int:
        return int(value)
    if kind == "float" and isinstance(value, numbers.Real) and not isinstance(value, (int, float)):
        return float(value)
    return value


class Strict(BaseModel):
    """Base for every section: unknown keys are errors, values are checked on assignment too, and a number must be
    a number (true/false and text are refused for every numeric field, plain or in a mapping or list of numbers)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    @field_validator("*", mode="before")
    @classmethod
    def _numbers_are_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        kind = _number_kinds(cls).get(info.field_name or "")
        if kind is None or value is None:
            return value
        if kind in ("float", "int"):
            return _strict_number(value, kind)
        base = kind.split()[0]
        if kind.endswith("map") and isinstance(value, dict):
            return {k: _strict_number(v, base, f"the entry {excerpt(k, 40)} ") for k, v in value.items()}
        if kind.endswith("list") and isinstance(value, list):
            return [_strict_number(v, base, f"item {i} ") for i, v in enumerate(value)]
        return value


@functools.cache
def _number_kinds(model: type[BaseModel]) -> dict[str, str]:
    """The numeric fields of a section, by name, with their kind (``_number_kind``)."""
    return {name: kind for name, info in model.model_fields.items() if (kind := _number_kind(info.annotation)) is not None}


# ---------------------------------------------------------------------------
# Organisation
# ---------------------------------------------------------------------------


class TaskType(Strict):
    """One kind of engineering work."""

    task_hours: float = P(6.0, 0.25, 200.0, "hours", "Baseline focus hours one task of this type takes a standard engineer without AI.")
    defect_rate: float = P(0.06, 0.0, 1.0, "defects per hour", "Defects introduced per baseline hour of this work, before review.")
    context_dependence: float = P(0.5, 0.0, 1.0, "share", "How much doing this work well depends on knowing the codebase (0: greenfield, 1: deep change in a mature system).")
    codable_share: float = P(0.7, 0.0, 1.0, "share of task time", "Share of the task's time spent writing, reading and changing code, the part AI tools act on (the rest: clarifying, waiting on CI, deploying, coordinating).")


class ToolEffect(Strict):
    """True effect of one AI tool on one task type, for a novice on unfamiliar code at full proficiency."""

    time_saving: float = P(0.3, 0.0, 0.95, "share of task time", "Share of baseline task time the tool's output can replace.")
    verification: float = P(0.1, 0.0, 2.0, "share of task time", "Time spent reviewing, correcting and integrating the tool's output, as a share of baseline task time.")
    defect_change: float = P(0.1, -0.9, 3.0, "relative change", "Relative change in defects introduced when this tool does the work (0.2 = 20% more).")


class Tool(Strict):
    """An AI coding assistant."""

    title: str = Field("", max_length=80, description="What charts, sentences and the app call the tool (its name, underscores as spaces, when empty).")
    reputation: float = P(1.0, 0.0, 2.0, "multiplier", "How strongly the hype attaches to this tool: engineers' prior belief is hype_prior x reputation.")
    data_risk: float = P(1.0, 0.0, 10.0, "exposure units per task", "Data and security exposure from one task done with this tool while it is NOT approved (vetted tools expose a tenth of it).")
    seat_cost: float = P(40.0, 0.0, 10_000.0, "currency per engineer-month", "Licence cost of one engineer's access to the tool for a month, paid for every engineer it is approved for.", "2025-2026 list prices of coding assistants, about 20-60 US$ a seat a month (assumption: 40).")
    usage_cost: float = P(2.0, 0.0, 1_000.0, "currency per AI-assisted hour", "Usage-priced cost (model tokens) of an hour of work done with the tool; token uses pay it too.", "Assumption: agentic coding sessions cost a few dollars an hour in tokens.")
    effects: dict[str, ToolEffect] = Field(..., description="True effect per task type.")


class SeniorityLevel(Strict):
    """One seniority level of the organisation."""

    share: float = P(0.33, 0.0, 1.0, "share of engineers", "Share of engineers at this level.")
    skill_mean: float = P(0.5, 0.0, 1.0, "skill index", "Mean skill (0: novice, 1: top expert).")
    skill_sd: float = P(0.08, 0.0, 0.5, "skill index", "Spread of skill within the level.")
    tenure_years: float = P(3.0, 0.0, 30.0, "years", "Mean time at this company (drives familiarity with the codebase).")
    task_mix: dict[str, float] = Field(..., description="Share of baseline work hours per task type; sums to 1.")

    @field_validator("task_mix")
    @classmethod
    def _mix_is_distribution(cls, v: dict[str, float]) -> dict[str, float]:
        for k, x in v.items():
            if not (0.0 <= x <= 1.0):
                raise ValueError(f"task share {k}={x} must lie in [0, 1]")
        total = sum(v.values())
        if abs(total - 1.0) > 1e-3:
            raise ValueError(f"task shares must sum to 1 (they sum to {total:.4g})")
        return v


def _default_task_types() -> dict[str, TaskType]:
    return {
        "boilerplate": TaskType(task_hours=4.0, defect_rate=0.05, context_dependence=0.1, codable_share=0.8),
        "tests_docs": TaskType(task_hours=3.0, defect_rate=0.02, context_dependence=0.3, codable_share=0.8),
        "debugging": TaskType(task_hours=6.0, defect_rate=0.08, context_dependence=0.7, codable_share=0.6),
        "complex_change": TaskType(task_hours=12.0, defect_rate=0.12, context_dependence=0.9, codable_share=0.7),
        "design_review": TaskType(task_hours=8.0, defect_rate=0.04, context_dependence=0.8, codable_share=0.4),
    }


def _effects(table: dict[str, tuple[float, float, float]]) -> dict[str, ToolEffect]:
    return {k: ToolEffect(time_saving=a, verification=b, defect_change=c) for k, (a, b, c) in table.items()}


def _default_tools() -> dict[str, Tool]:
    """Two tools comparable on average that differ by task type (docs/MODEL.md, 'The default tools'): an in-house tool built
    on the company's code and conventions (better where context matters: tests, debugging, design and review), and a
    frontier third-party tool (better at greenfield and generic code: boilerplate, large changes). The third-party
    tool's values are the ones the virtual studies check (METR-2025, PENG-2023); the in-house differences are assumptions."""
    return {
        "inhouse": Tool(
            title="in-house assistant",
            reputation=0.75,
            data_risk=0.0,
            seat_cost=25.0,
            usage_cost=2.0,
            effects=_effects(
                {
                    "boilerplate": (0.75, 0.06, 0.15),
                    "tests_docs": (0.70, 0.05, 0.00),
                    "debugging": (0.45, 0.16, 0.10),
                    "complex_change": (0.32, 0.25, 0.25),
                    "design_review": (0.25, 0.09, 0.05),
                }
            ),
        ),
        "thirdparty": Tool(
            title="third-party assistant",
            reputation=1.0,
            data_risk=1.0,
            seat_cost=40.0,
            usage_cost=3.0,
            effects=_effects(
                {
                    "boilerplate": (0.90, 0.05, 0.10),
                    "tests_docs": (0.65, 0.06, 0.00),
                    "debugging": (0.40, 0.18, 0.10),
                    "complex_change": (0.35, 0.24, 0.25),
                    "design_review": (0.20, 0.10, 0.05),
                }
            ),
        ),
    }


def _default_seniority() -> dict[str, SeniorityLevel]:
    return {
        "junior": SeniorityLevel(
            share=0.30, skill_mean=0.30, skill_sd=0.08, tenure_years=1.0,
            task_mix={"boilerplate": 0.35, "tests_docs": 0.25, "debugging": 0.20, "complex_change": 0.10, "design_review": 0.10},
        ),
        "mid": SeniorityLevel(
            share=0.45, skill_mean=0.55, skill_sd=0.08, tenure_years=3.0,
            task_mix={"boilerplate": 0.20, "tests_docs": 0.20, "debugging": 0.25, "complex_change": 0.25, "design_review": 0.10},
        ),
        "senior": SeniorityLevel(
            share=0.25, skill_mean=0.80, skill_sd=0.07, tenure_years=6.0,
            task_mix={"boilerplate": 0.10, "tests_docs": 0.10, "debugging": 0.20, "complex_change": 0.35, "design_review": 0.25},
        ),
    }


class Organisation(Strict):
    """Who works here, on what, with which tools."""

    name: str = Field("default", description="Name of the organisation profile.")
    description: str = Field("", description="One line about this organisation.")
    size: int = P(200, 10, 100_000, "engineers", "Number of engineer positions (headcount when fully staffed).")
    team_size: int = P(8, 2, 50, "engineers", "Engineers per team (the unit of peer influence and psychological safety).")
    seniority: dict[str, SeniorityLevel] = Field(default_factory=_default_seniority, description="The three seniority levels: junior, mid, senior.")
    task_types: dict[str, TaskType] = Field(default_factory=_default_task_types, description="Kinds of work, by name.")
    tools: dict[str, Tool] = Field(default_factory=_default_tools, description="AI coding tools that exist, by name.")
    vetted_risk: float = P(0.1, 0.0, 1.0, "share", "Exposure of an approved (vetted) tool relative to the same tool used unapproved.")
    top_skill_share: float = P(0.2, 0.01, 1.0, "share of engineers", "Share of the initial engineers, the most skilled, counted as top engineers (the attrition of top engineers follows them).", "Definition (assumption): the top fifth.")
    year: float = P(2026.0, 2020.0, 2040.0, "calendar year", "When the simulated period starts (tools get better at code engineers know well with calendar time: behaviour.work.context_improvement).")

    @model_validator(mode="after")
    def _consistent(self) -> "Organisation":
        if set(self.seniority) != set(SENIORITY_LEVELS):
            raise ValueError(f"seniority must have exactly the levels {list(SENIORITY_LEVELS)} (got {sorted(self.seniority)})")
        total = sum(level.share for level in self.seniority.values())
        if abs(total - 1.0) > 1e-3:
            raise ValueError(f"seniority shares must sum to 1 (they sum to {total:.4g})")
        if not self.task_types:
            raise ValueError("at least one task type is needed")
        if not self.tools:
            raise ValueError("at least one tool is needed")
        tasks = set(self.task_types)
        for lname, level in self.seniority.items():
            if set(level.task_mix) != tasks:
                raise ValueError(
                    f"seniority.{lname}.task_mix must name every task type {sorted(tasks)} (got {sorted(level.task_mix)})"
                )
        for tname, tool in self.tools.items():
            if set(tool.effects) != tasks:
                raise ValueError(f"tools.{tname}.effects must name every task type {sorted(tasks)} (got {sorted(tool.effects)})")
        return self

    def tool_title(self, name: str) -> str:
        """What people read for the tool ``name``: its declared title, else its name with spaces for underscores."""
        tool = self.tools.get(name)
        return tool.title if tool is not None and tool.title else name.replace("_", " ")

    @property
    def task_names(self) -> list[str]:
        return list(self.task_types)

    @property
    def tool_names(self) -> list[str]:
        return list(self.tools)


# ---------------------------------------------------------------------------
# Policy levers
# ---------------------------------------------------------------------------


class OutcomeGoals(Strict):
    """Leadership sets outcome targets and backs what measurably works."""

    enabled: bool = Field(False, description="Leadership watches measured cycle time and quality, not usage.")
    cycle_time_target: float = P(0.15, 0.0, 0.8, "relative reduction", "Targeted reduction of cycle time against the start.")
    defect_target: float = P(0.0, -0.5, 0.8, "relative reduction", "Targeted reduction of escaped defects (negative: tolerated increase).")
    review_every_weeks: int = P(6, 1, 52, "weeks", "How often leadership reviews measured outcomes and publishes what works.")
    min_gain: float = P(0.05, -0.5, 0.8, "share of task time", "Measured time saving at which leadership backs a tool for a task type (below zero it advises against).")
    urgency: float = P(0.5, 0.0, 5.0, "endorsement per shortfall", "How much more strongly leadership backs what works per unit of cycle-time shortfall (1: no reduction at all against the target).", "Assumption.")
    defect_ratio_limit: float = P(1.2, 1.0, 5.0, "ratio", "Defect rate of a tool's work, relative to work without AI, above which leadership advises against the tool for that task type when the quality goal is missed.", "Assumption.")


class Pilot(Strict):
    """Pilot-and-measure: a time-boxed randomised trial, then scale or roll back."""

    share: float = P(0.0, 0.0, 1.0, "share of engineers", "Share of engineers (whole teams) in the pilot group; 0 means no pilot.")
    weeks: int = P(12, 1, 104, "weeks", "Length of the pilot.")
    task_types: list[str] | Literal["all"] = Field("all", description="Task types in the pilot's scope ('all' or a list).")
    min_gain: float = P(0.05, -0.5, 0.8, "share of task time", "Decision rule: a tool is scaled to a task type when the pilot measured at least this time saving there; otherwise rolled back.")


class Policy(Strict):
    """The management levers. They compose: a scenario is a set of lever values."""

    start_week: int = P(0, 0, 259, "week", "Week the policy starts; before it no AI tool is approved and no lever acts.")
    allowed_tools: list[str] | Literal["all"] = Field("all", description="Approved tools ('all' or a list of tool names; [] approves none).")
    usage_target: float = P(0.0, 0.0, 1.0, "share of engineers", "Target share of engineers using an approved AI tool each week (0: no target).")
    usage_enforcement: float = P(0.0, 0.0, 1.0, "index", "How hard the usage target is enforced (dashboards, performance reviews): the pressure it starts with, and part of the climate of enforcement.")
    escalation: float = P(0.1, 0.0, 1.0, "pressure per week", "How fast leadership raises pressure while measured usage is under target.")
    max_pressure: float = P(2.0, 0.0, 5.0, "index", "Ceiling on usage pressure after escalation.")
    generate_share: float = P(0.0, 0.0, 1.0, "share of engineers", "Share of the most skilled engineers told to only generate and supervise code (the role norm).")
    norm_enforcement: float = P(0.0, 0.0, 1.0, "index", "How hard the generate-don't-write norm is enforced: part of the climate of enforcement while anyone is under the norm.")
    outcome_goals: OutcomeGoals = Field(default_factory=OutcomeGoals, description="Outcome goals lever.")
    feedback_safety: float = P(0.5, 0.0, 1.0, "index", "How safe it is to say 'this doesn't help': 0 dissent is punished, 1 it is invited and acted on.")
    pilot: Pilot = Field(default_factory=Pilot, description="Pilot-and-measure lever.")
    training_hours: float = P(0.0, 0.0, 200.0, "hours per engineer", "Training time given to each engineer on the approved tools, spread over the training period.")
    training_weeks: int = P(4, 1, 52, "weeks", "Weeks over which the training hours are spread, from the policy start.")

    @model_validator(mode="before")
    @classmethod
    def _split_enforcement(cls, data: Any) -> Any:
        """The first edition's ``enforcement`` drove both the usage target and the norm: it sets both (with a warning)."""
        if isinstance(data, dict) and "enforcement" in data:
            data = dict(data)
            value = data.pop("enforcement")
            for key in DEPRECATED_POLICY_KEYS["enforcement"]:
                data.setdefault(key, value)
            warnings.warn(
                f"policy.enforcement is split into policy.usage_enforcement and policy.norm_enforcement; {value!r} was used for both",
                FutureWarning, stacklevel=2,
            )
        return data


# ---------------------------------------------------------------------------
# Behaviour (shared by every scenario; what calibration fits)
# ---------------------------------------------------------------------------


class Work(Strict):
    """How hours turn into delivered work."""

    focus_hours: float = P(28.0, 5.0, 60.0, "hours per week", "Hours per week an engineer spends on task work (the rest is meetings and overhead).", "Typical maker time in surveys (e.g. 60-70% of a 40 h week).")
    speed_min: float = P(0.7, 0.1, 2.0, "multiplier", "Work speed of a skill-0 engineer relative to a standard engineer.")
    speed_skill: float = P(0.6, 0.0, 3.0, "multiplier per skill", "Added work speed per unit of skill.")
    expert_discount: float = P(0.5, 0.0, 1.0, "share", "How much of the tool's time saving an engineer with full mastery of the task forgoes (experts on code they know are already fast).", "METR-2025 vs PENG-2023: gains shrink with skill x familiarity.")
    greenfield_mastery: float = P(0.3, 0.0, 1.0, "share", "Mastery an engineer brings to context-free work, relative to code they know fully.")
    novice_realisation: float = P(0.75, 0.0, 1.0, "share", "Share of the tool's saving a zero-proficiency user realises (the rest comes with proficiency).")
    expert_scrutiny: float = P(2.2, 0.0, 5.0, "multiplier per mastery", "Extra verification per unit of mastery: experts on mature code hold output to a higher bar.", "METR-2025: developers rejected or rewrote much AI output in mature repositories.")
    proficiency_verification_saving: float = P(0.6, 0.0, 1.0, "share", "Share of verification time a fully proficient user saves (knowing what to check).")
    learning_overhead: float = P(0.09, 0.0, 1.0, "share of task time", "Extra task time (prompting, waiting, wrangling) for a zero-proficiency user; falls with proficiency (the J-curve).")
    task_time_sd: float = P(0.6, 0.0, 2.0, "log hours", "Spread of individual task durations around their expectation (log scale; used by virtual studies).")
    token_use_hours: float = P(0.5, 0.0, 8.0, "hours", "Time one token use takes (a cheap use that satisfies a usage metric and adds nothing).")
    fatigue_drag: float = P(0.3, 0.0, 1.0, "share of focus hours", "Share of focus hours lost at full AI fatigue.")
    generate_verification: float = P(0.5, 0.0, 3.0, "multiplier", "Extra verification for engineers told to generate everything (they supervise output they would have written).")
    min_time_multiplier: float = P(0.05, 0.01, 1.0, "share of task time", "Shortest time a task can take with a tool, relative to without it (a floor on the time multiplier).", "Assumption.")
    scrutiny_learning: float = P(0.95, 0.0, 1.0, "share", "Share of the extra scrutiny experts give generated output that a fully proficient user no longer needs (they learn what to check and what to trust).", "METR 2026 update: returning developers became faster with AI (assumption for the size).")
    context_improvement: float = P(0.075, 0.0, 0.9, "share per year", "Share of the tools' handicap on code an engineer knows well (expert_discount, expert_scrutiny) that disappears each year as tools improve (agents that read the codebase).", "METR 2026 update attributes part of the change from slowdown to speed-up to better, agentic tools (assumption for the rate).")
    configuration_effect: float = P(0.5, 0.0, 1.0, "share", "Share of the tools' handicap on code engineers know well (expert_discount, expert_scrutiny) that a team's fully configured tool no longer has on that team's code.", "Assumption (tools given a codebase's conventions and context need less correction: the METR 2026 update credits part of its change to tools that use context better).")
    calibration_year: float = P(2025.3, 2020.0, 2040.0, "calendar year", "When the tools were whose handicap expert_discount and expert_scrutiny describe.", "METR-2025 ran from February to June 2025.")
    tool_fit_sd: float = P(0.25, 0.0, 1.5, "log multiplier", "Spread between engineers of how well a tool suits their stack and habits: each engineer's time saving with a tool is multiplied by exp(this x z - this^2 / 2).", "Assumption (the article: one tool ignores task fit and preference).")


class Quality(Strict):
    """Defects, review and rework."""

    catch_base: float = P(0.55, 0.0, 1.0, "probability", "Share of defects caught in review by a skill-0, rested engineer.")
    catch_skill: float = P(0.3, 0.0, 1.0, "probability per skill", "Extra catch rate per unit of skill.")
    catch_fatigue: float = P(0.3, 0.0, 1.0, "probability", "Catch rate lost at full fatigue.")
    skill_defect_reduction: float = P(0.5, 0.0, 1.0, "share", "Fewer defects introduced by a skill-1 engineer than by a skill-0 one.")
    fix_hours: float = P(3.0, 0.0, 40.0, "hours", "Hours of rework to fix one escaped defect.", "Industry rule of thumb: a defect found in production costs several hours.")
    rework_due: float = P(0.25, 0.01, 1.0, "share per week", "Share of the pending rework that comes due each week.")
    review_wait_days: float = P(1.0, 0.0, 20.0, "days", "Mean wait for review per task at a normal review load.")
    review_load_wait: float = P(3.0, 0.0, 50.0, "multiplier", "How much the review wait grows per unit of the organisation's verification share.", "DORA 2024-2025: more AI output, longer reviews, lower delivery stability.")


class Learning(Strict):
    """Proficiency with tools and familiarity with the codebase."""

    initial_proficiency: float = P(0.1, 0.0, 1.0, "share", "Mean proficiency with a tool never used at work.")
    initial_proficiency_sd: float = P(0.05, 0.0, 0.5, "share", "Spread of initial proficiency.")
    learning_rate: float = P(0.08, 0.0, 1.0, "share per week", "Proficiency gained per week of using a tool on all one's work (of the distance left to full proficiency).")
    forgetting: float = P(0.01, 0.0, 0.5, "share per week", "Proficiency lost per week of not using a tool.")
    transfer: float = P(1.0, 0.0, 1.0, "share", "Share of the learning from using one AI tool that also counts for the others (prompting, knowing what to check and what to trust carry over; the tool's own commands and quirks do not).", "Assumption.")
    token_learning: float = P(0.1, 0.0, 1.0, "share", "Learning from a token use, relative to real use of a whole task type.")
    training_effect: float = P(0.02, 0.0, 0.5, "share per hour", "Proficiency gained per hour of training (of the distance left).")
    familiarity_years: float = P(2.0, 0.1, 20.0, "years", "Time to learn most of the codebase: familiarity = 1 - exp(-tenure / this).")
    new_hire_tenure_years: float = P(0.0, 0.0, 10.0, "years", "Tenure-equivalent familiarity of a new hire.")


class Perception(Strict):
    """How engineers judge AI's benefit and update their beliefs."""

    hype_prior: float = P(0.24, -0.5, 0.9, "share of task time", "Time saving engineers expect before using a tool (times its reputation).", "METR-2025: developers forecast 24% less time.")
    prior_sd: float = P(0.08, 0.0, 0.5, "share of task time", "Spread of prior expectations between engineers.")
    prior_shared: float = P(0.7, 0.0, 1.0, "share of variance", "Share of the spread of an engineer's prior expectations that is common to all AI tools and task types (their optimism about AI in general); the rest is particular to each tool and task type.", "Assumption (hype is about AI in general; with independent priors, the best of two equivalent tools always looks better than either: a winner's curse).")
    effort_discount: float = P(0.8, 0.0, 1.0, "share", "Share of verification and waiting time engineers do not count as time spent when judging speed (it feels easy).", "METR-2025: felt 20% faster while 19% slower.")
    optimism: float = P(0.08, -0.5, 0.5, "share of task time", "Constant optimism in judging one's own speed-up.")
    anchoring: float = P(0.5, 0.0, 0.99, "share", "Weight of the current belief in what an engineer perceives after a task (perception is anchored on expectation).")
    noise_sd: float = P(0.15, 0.0, 1.0, "share of task time", "Noise in one week's perception of the speed-up.")
    belief_update: float = P(0.15, 0.0, 1.0, "share per week", "How far one week's perception moves the belief.")
    outside_word: float = P(0.02, 0.0, 1.0, "share per week", "How far beliefs about a tool one does not use at work this week move toward what one would perceive using it (word of mouth, use outside work).")
    peer_influence: float = P(0.05, 0.0, 1.0, "share per week", "How far beliefs move toward the team's mean belief each week.")
    publication_weight: float = P(0.3, 0.0, 1.0, "share", "How far a result published by leadership (outcome review, pilot) moves beliefs toward it.")
    trust_ai_rate: float = P(0.19, 0.0, 1.0, "share per week", "How fast trust in AI output rises toward what a better week supports.")
    trust_ai_loss_rate: float = P(0.57, 0.0, 1.0, "share per week", "How fast trust in AI output falls toward what a worse week supports (faster than it rises).", "Negativity bias in trust in automation: trust falls after failures faster than it grows with successes (Lee & See 2004; Dietvorst, Simmons & Massey 2015, algorithm aversion); assumption for the value.")
    error_noise_sd: float = P(0.78, 0.0, 2.0, "log-sd", "Week-to-week spread of the errors an engineer runs into in AI output around what is expected for their tasks (lognormal).", "Assumption.")
    initial_trust_ai: float = P(0.6, 0.0, 1.0, "index", "Trust in the accuracy of AI output before using it at work (optimistic: the hype).", "Assumption; METR-2025 developers expected a 24% saving.")
    error_weight: float = P(6.5, 0.0, 10.0, "trust per verification share", "How much the errors one finds in generated output (verification time as a share of one's AI-assisted hours) lower the trust in its accuracy that a week of use supports: the target is 1 - this x that share.", "Stack Overflow Developer Surveys 2024-2025: trust in AI accuracy fell from 43% to 33% while use spread.")
    experience_rate: float = P(0.44, 0.0, 1.0, "share per week", "How fast an engineer's running experience of AI's saving follows each week's perceived saving.", "Assumption.")


class Choice(Strict):
    """The weekly discrete choice of whether and which tool to use, per task type."""

    affinity_sd: float = P(4.5, 0.0, 10.0, "utility", "Spread between engineers of a lasting personal inclination for or against using AI.")
    tool_taste_sd: float = P(0.5, 0.0, 10.0, "utility", "Spread of engineers' personal liking for each tool (editor integration, habits).", "Assumption (the article: preference).")
    taste_fit_correlation: float = P(0.5, 0.0, 1.0, "correlation", "How much an engineer's liking for a tool reflects how well it suits their stack and habits (correlation of liking and fit when hired); 0: liking whatever the effect.", "Assumption: what developers like in a tool is partly how it fits their editor, language and workflow (the article: task fit and preference); half by default.")
    tool_nesting: float = P(0.3, 0.05, 1.0, "share", "Nesting of the tools in the choice of whether to use AI (nested logit): 1 treats each tool as one more alternative to doing without, so more approved tools mean more AI use; near 0 only the best tool decides whether AI is used, and the others only which tool.", "McFadden 1978 (nested logit); Train 2009, ch. 4 (it removes the independence of irrelevant alternatives of the plain logit); assumption for the value.")
    novelty_weight: float = P(12.8, 0.0, 20.0, "utility", "Extra appeal of a tool an engineer has only just started using (curiosity); it fades with weeks of use.", "Novelty effect in technology adoption; a voluntary roll-out's adoption peaked and settled lower (arXiv:2509.19708).")
    novelty_weeks: float = P(8.7, 0.5, 104.0, "weeks", "Weeks of use over which the novelty appeal falls to 1/e of its start.", "Assumption.")
    fatigue_weight: float = P(5.7, 0.0, 20.0, "utility per fatigue", "How much AI fatigue (the wear of reviewing and fixing generated code) puts an engineer off using AI.", "Howdy.com 2025: a third of workers say fixing AI's mistakes takes as long as not using it (assumption for the weight).")
    safe_decline: float = P(0.58, 0.0, 1.0, "share", "Share of the usage pressure an engineer resists when their team is safe enough for them to say 'this doesn't help': they decline ill-fitting and token uses.", "Edmondson 1999 (voice needs psychological safety); Howdy.com 2025: pretending to use AI is a response to pressure.")
    benefit_weight: float = P(4.3, 0.0, 100.0, "utility per share of time", "Weight of the believed net time saving.")
    hurdle: float = P(0.058, -0.5, 0.5, "share of task time", "Believed saving needed before using a tool is worth the bother.")
    trust_weight: float = P(11.0, 0.0, 20.0, "utility per trust", "Weight of trust in AI output (centred at 0.5).")
    peer_weight: float = P(1.9, 0.0, 20.0, "utility per share", "Weight of the team's use of AI (any tool) on this task type last week (centred at 0.5).")
    habit_weight: float = P(0.97, 0.0, 20.0, "utility", "Utility of having used the tool for this task type last week.")
    trial_barrier: float = P(3.2, 0.0, 20.0, "utility", "Cost of trying a tool on a task type for the first time (learning a new way of working).")
    pressure_weight: float = P(5.5, 0.0, 20.0, "utility per pressure", "Weight of usage pressure.")
    endorsement_weight: float = P(2.0, 0.0, 20.0, "utility per endorsement", "Weight of leadership's published backing (+) or advice against (-).")
    norm_weight: float = P(12.0, 0.0, 20.0, "utility", "Weight of the generate-don't-write norm on those it targets.")
    shadow_gap: float = P(0.1, 0.0, 1.0, "share of task time", "Believed advantage of an unapproved tool over the best approved one before anyone uses it unapproved.")
    shadow_penalty: float = P(2.0, 0.0, 20.0, "utility", "Utility cost of using an unapproved tool (fear of being caught); multiplied by 1 + enforcement.")
    token_propensity: float = P(0.58, 0.0, 1.0, "probability per pressure", "Chance per unit of pressure that an engineer with no real use this week makes a token use.")
    adoption_innovation: float = P(0.044, 0.0, 1.0, "probability per week", "Weekly chance that an engineer starts working with AI on their own, whatever their team does (before the appeal).", "Bass 1969 (innovation coefficient); assumption for the value.")
    adoption_imitation: float = P(0.93, 0.0, 2.0, "probability per week per share", "Extra weekly chance of starting to work with AI per share of one's team already working with it (before the appeal).", "Bass 1969 (imitation coefficient); Rogers 2003 (peers as the main channel of adoption); assumption for the value.")
    engagement_barrier: float = P(9.4, 0.0, 20.0, "utility", "Cost of using AI on a task for an engineer who has not made it part of their way of working (set-up, switching habits); pressure can outweigh it.", "Assumption.")
    discontinue_rate: float = P(0.68, 0.0, 1.0, "probability per week", "Weekly chance that an engineer working with AI gives it up when keeping it has no appeal at all (scaled by the logistic of minus the continuance utility).", "Rogers 2003 (discontinuance by disenchantment); a voluntary roll-out's use peaked and settled lower (arXiv:2509.19708); assumption for the value.")
    confirmation_weight: float = P(2.6, 0.0, 5.0, "multiplier", "Weight of the shortfall of the experienced saving against the expectation held when starting, beside the saving itself, in keeping AI.", "Bhattacherjee 2001 (expectation-confirmation model of continuance); assumption for the value.")


class Trust(Strict):
    """Trust in leadership, psychological safety, reporting, voice."""

    initial_trust_leadership: float = P(0.65, 0.0, 1.0, "index", "Trust in leadership at the start and of new hires.")
    trust_drift: float = P(0.02, 0.0, 1.0, "share per week", "How fast trust in leadership drifts back to its initial level.")
    forced_cost: float = P(0.025, 0.0, 1.0, "trust per forced share", "Trust lost per week per share of one's AI tasks done under pressure against one's judgement.")
    restriction_cost: float = P(0.015, 0.0, 1.0, "trust per share of time", "Trust lost per week per unit of believed advantage of a tool one is not allowed.")
    ignored_cost: float = P(0.08, 0.0, 1.0, "trust", "Trust lost when one's voiced pushback is ignored.")
    response_gain: float = P(0.04, 0.0, 1.0, "trust", "Trust gained when one's voiced pushback gets a visible response.")
    transparency_gain: float = P(0.02, 0.0, 1.0, "trust", "Trust gained when leadership publishes measured results (outcome review, pilot decision).")
    initial_safety: float = P(0.6, 0.0, 1.0, "index", "Teams' psychological safety at the start.")
    safety_rate: float = P(0.05, 0.0, 1.0, "share per week", "How fast team safety moves toward what the policy climate supports.")
    safety_from_feedback: float = P(0.35, 0.0, 1.0, "index", "Safety the climate gains from feedback safety (centred at 0.5).")
    safety_from_enforcement: float = P(0.25, 0.0, 1.0, "index", "Safety the climate loses at full usage enforcement.")
    punishment_cost: float = P(0.3, 0.0, 2.0, "safety per punished share", "Safety a team loses per share of its members punished for dissent in a week.")
    honesty_threshold: float = P(0.5, 0.0, 1.0, "index", "Mean safety an engineer needs before reporting honestly.")
    team_learning: float = P(0.23, 0.0, 1.0, "share per week", "How far beliefs move each week toward the time savings the team's honest members actually saw (task times compared in retrospectives); in an unsafe team slowdowns are not admitted, so there is less to learn from.", "Edmondson 1999: team learning behaviour needs psychological safety (assumption for the rate).")
    configuration_rate: float = P(0.05, 0.0, 1.0, "share per week per reporting share", "How fast a team configures a tool for its own code (rules files, context, examples, guidance per task type), per share of its members who honestly report working with it on a task type; where people do not feel safe to say what goes badly, nothing is fixed.", "The article: honest feedback is what fixes task fit, verification cost and tool choice; Edmondson 1999 (team learning needs psychological safety); assumption for the rate.")
    honesty_threshold_sd: float = P(0.15, 0.0, 0.5, "index", "Spread of that threshold between engineers.")
    wanted_gain: float = P(0.3, -0.5, 0.9, "relative change", "The productivity gain leadership wants to hear when it pushes AI; slanted reports lean toward it.")
    voice_gap: float = P(0.1, 0.0, 1.0, "share of task time", "Believed harm from the policy (a better tool barred, or forced use) before an engineer considers speaking up.")
    voice_threshold: float = P(0.45, 0.0, 1.0, "index", "Team safety at which a dissatisfied engineer's weekly chance of speaking up is half the voice rate.")
    voice_slope: float = P(10.0, 0.1, 100.0, "per index", "Steepness of voicing around the threshold.")
    voice_rate: float = P(0.15, 0.0, 1.0, "probability per week", "Weekly chance that a dissatisfied engineer in a fully safe team speaks up.")


class People(Strict):
    """Fatigue, morale, attrition and hiring."""

    fatigue_rate: float = P(0.1, 0.0, 1.0, "share per week", "How fast fatigue follows the review load.")
    fatigue_saturation: float = P(0.35, 0.01, 1.0, "share of hours", "Verification share of one's hours at which fatigue reaches 1.")
    initial_morale: float = P(0.65, 0.0, 1.0, "index", "Morale at the start and of new hires.")
    morale_rate: float = P(0.1, 0.0, 1.0, "share per week", "How fast morale follows its drivers.")
    morale_fatigue: float = P(0.3, 0.0, 1.0, "morale per fatigue", "Morale lost at full fatigue.")
    morale_forced: float = P(0.25, 0.0, 1.0, "morale per forced share", "Morale lost when all one's AI work is forced.")
    morale_norm: float = P(0.15, 0.0, 1.0, "morale", "Morale lost by a skilled engineer told to stop writing code.")
    morale_gain: float = P(0.3, 0.0, 2.0, "morale per perceived saving", "Morale gained per unit of perceived time saving.")
    annual_attrition: float = P(0.12, 0.0, 0.8, "share per year", "Yearly attrition at neutral trust, morale and fatigue.", "Typical software-industry voluntary attrition, 10-15% a year.")
    attrition_trust: float = P(1.5, 0.0, 10.0, "log hazard per trust", "Rise of the log hazard per unit of trust in leadership below its initial level.")
    attrition_fatigue: float = P(1.0, 0.0, 10.0, "log hazard per fatigue", "Rise of the log hazard at full fatigue.")
    attrition_morale: float = P(1.5, 0.0, 10.0, "log hazard per morale", "Rise of the log hazard per unit of morale below its initial level.")
    attrition_skill: float = P(0.6, 0.0, 5.0, "log hazard per skill", "How much more the dissatisfied skilled leave (they have options): multiplies the rises above by 1 + this x skill.")
    hiring_delay_weeks: int = P(10, 0, 52, "weeks", "Weeks from a departure to the replacement's first week.")


class Measurement(Strict):
    """How leadership measures what a tool does (outcome reviews and pilots)."""

    measurement_sd: float = P(0.3, 0.0, 2.0, "share of task time", "Standard error of leadership's measurement of a time saving from one task-week of data.", "Assumption.")
    min_evidence: int = P(5, 1, 1000, "task-weeks", "Task-weeks of data leadership needs before it publishes or acts on a result for one tool, task type and seniority level.", "Assumption.")


class Behaviour(Strict):
    """How engineers work, perceive, decide, trust and leave. Shared by all scenarios."""

    work: Work = Field(default_factory=Work)
    quality: Quality = Field(default_factory=Quality)
    learning: Learning = Field(default_factory=Learning)
    perception: Perception = Field(default_factory=Perception)
    choice: Choice = Field(default_factory=Choice)
    trust: Trust = Field(default_factory=Trust)
    people: People = Field(default_factory=People)
    measurement: Measurement = Field(default_factory=Measurement)


# ---------------------------------------------------------------------------
# Scenario
# ---------------------------------------------------------------------------


class Scenario(Strict):
    """An organisation under a policy, with the shared behaviour, over a horizon."""

    name: str = Field("custom", description="Short name of the scenario.")
    title: str = Field("", description="One line shown in lists.")
    description: str = Field("", description="What this scenario represents.")
    weeks: int = P(52, 1, 260, "weeks", "Simulated horizon.")
    organisation: Organisation = Field(default_factory=Organisation)
    policy: Policy = Field(default_factory=Policy)
    behaviour: Behaviour = Field(default_factory=Behaviour)

    @model_validator(mode="after")
    def _names_exist(self) -> "Scenario":
        tools = set(self.organisation.tools)
        tasks = set(self.organisation.task_types)
        if self.policy.allowed_tools != "all":
            unknown = [t for t in self.policy.allowed_tools if t not in tools]
            if unknown:
                raise ValueError(f"policy.allowed_tools names unknown tools {unknown}; the organisation has {sorted(tools)}")
        if self.policy.pilot.task_types != "all":
            unknown = [t for t in self.policy.pilot.task_types if t not in tasks]
            if unknown:
                raise ValueError(f"policy.pilot.task_types names unknown task types {unknown}; the organisation has {sorted(tasks)}")
        return self

    def approved_tools(self) -> list[str]:
        """Names of the tools the policy approves."""
        if self.policy.allowed_tools == "all":
            return list(self.organisation.tools)
        return list(self.policy.allowed_tools)

    def counterfactual(self) -> "Scenario":
        """The same organisation and behaviour with no AI tool approved and no lever acting."""
        return Scenario(
            name="no_ai",
            title="No AI (counterfactual)",
            weeks=self.weeks,
            organisation=self.organisation,
            policy=Policy(allowed_tools=[], start_week=self.policy.start_week),
            behaviour=self.behaviour,
        )
