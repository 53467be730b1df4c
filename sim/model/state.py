"""What the model's state is made of, declared once: the organisation's tables and the engineers' state variables.

From these declarations derive the arrays ``Workforce`` allocates, the bundles the kernels read
(``OrgArrays``, ``EngineerState``) and the state table of docs/MODEL.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import bundles
from .params import SENIORITY_LEVELS, Organisation


@dataclass(frozen=True)
class OrgTables:
    """The organisation's constant tables as arrays (tools x task types)."""

    task_names: tuple[str, ...]
    tool_names: tuple[str, ...]
    task_hours: np.ndarray  # [K] hours
    defect_rate: np.ndarray  # [K] defects per baseline hour
    context: np.ndarray  # [K] share
    codable: np.ndarray  # [K] share of task time AI acts on
    time_saving: np.ndarray  # [T,K]
    verification: np.ndarray  # [T,K]
    defect_change: np.ndarray  # [T,K]
    data_risk: np.ndarray  # [T]
    seat_cost: np.ndarray  # [T] currency per engineer-month
    usage_cost: np.ndarray  # [T] currency per AI-assisted hour
    vetted_risk: float
    level_share: np.ndarray  # [3]
    level_skill_mean: np.ndarray  # [3]
    level_skill_sd: np.ndarray  # [3]
    level_tenure_years: np.ndarray  # [3]
    level_mix: np.ndarray  # [3,K] share of baseline hours
    level_cdf: np.ndarray  # [3] cumulative level shares (for drawing a level)
    reputation: np.ndarray  # [T]

    @classmethod
    def from_organisation(cls, org: Organisation) -> "OrgTables":
        tasks = tuple(org.task_types)
        tools = tuple(org.tools)
        levels = [org.seniority[name] for name in SENIORITY_LEVELS]

        def tk(attr: str) -> np.ndarray:
            return np.array([[getattr(org.tools[j].effects[k], attr) for k in tasks] for j in tools], dtype=float)

        return cls(
            task_names=tasks,
            tool_names=tools,
            task_hours=np.array([org.task_types[k].task_hours for k in tasks]),
            defect_rate=np.array([org.task_types[k].defect_rate for k in tasks]),
            context=np.array([org.task_types[k].context_dependence for k in tasks]),
            codable=np.array([org.task_types[k].codable_share for k in tasks]),
            time_saving=tk("time_saving"),
            verification=tk("verification"),
            defect_change=tk("defect_change"),
            data_risk=np.array([org.tools[j].data_risk for j in tools]),
            seat_cost=np.array([org.tools[j].seat_cost for j in tools]),
            usage_cost=np.array([org.tools[j].usage_cost for j in tools]),
            vetted_risk=org.vetted_risk,
            level_share=np.array([lv.share for lv in levels]),
            level_skill_mean=np.array([lv.skill_mean for lv in levels]),
            level_skill_sd=np.array([lv.skill_sd for lv in levels]),
            level_tenure_years=np.array([lv.tenure_years for lv in levels]),
            level_mix=np.array([[lv.task_mix[k] for k in tasks] for lv in levels]),
            level_cdf=np.cumsum([lv.share for lv in levels]),
            reputation=np.array([org.tools[j].reputation for j in tools]),
        )

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    @property
    def n_tools(self) -> int:
        return len(self.tool_names)

    def bundle(self):
        """The tables as the kernels read them (the ``OrgArrays`` bundle)."""
        return bundles.make(OrgArrays, self)


#: The organisation's tables as a kernel bundle: every array of ``OrgTables`` and the vetted-risk share.
OrgArrays = bundles.bundle_type(
    "OrgArrays", [name for name, kind in OrgTables.__annotations__.items() if kind in ("np.ndarray", "float")], __name__
)


StateVar = bundles.ArrayVar


#: The engineers' state, one row per engineer position (slot); the kernels read it as the ``EngineerState`` bundle.
STATE: tuple[StateVar, ...] = (
    StateVar("is_present", bool, ("engineer",), "An engineer fills the slot (false while it is vacant)."),
    StateVar("t_hire", np.int64, ("engineer",), "Week the vacancy is filled (-1: none pending).", -1),
    StateVar("seniority", np.int64, ("engineer",), "Seniority level (index into junior, mid, senior)."),
    StateVar("skill", float, ("engineer",), "Skill index (0: novice, 1: top expert)."),
    StateVar("tenure_weeks", float, ("engineer",), "Weeks at this company (familiarity with the codebase)."),
    StateVar("task_mix", float, ("engineer", "task"), "Share of baseline work hours per task type."),
    StateVar("proficiency", float, ("engineer", "tool"), "Proficiency with each tool (share)."),
    StateVar("belief", float, ("engineer", "tool", "task"), "Believed time saving of each tool on each task type (share of task time)."),
    StateVar("trust_ai", float, ("engineer",), "Trust in AI output (index)."),
    StateVar("trust_leadership", float, ("engineer",), "Trust in leadership (index)."),
    StateVar("fatigue", float, ("engineer",), "AI fatigue: the load of reviewing and fixing generated code (index)."),
    StateVar("morale", float, ("engineer",), "Morale (index)."),
    StateVar("honesty_threshold", float, ("engineer",), "Team safety this engineer needs before reporting honestly (index)."),
    StateVar("affinity", float, ("engineer",), "Lasting personal inclination toward AI (utility)."),
    StateVar("tool_fit", float, ("engineer", "tool"), "How well each tool suits this engineer's stack and habits (multiplier on its time saving, mean 1)."),
    StateVar("tool_taste", float, ("engineer", "tool"), "Personal liking for each tool, whatever its effect (utility)."),
    StateVar("weeks_used", float, ("engineer", "tool"), "Weeks in which the engineer used each tool (the novelty fades with them)."),
    StateVar("habit", float, ("engineer", "tool", "task"), "1 where the tool was used on the task type last week."),
    StateVar("tried", bool, ("engineer", "tool", "task"), "The tool was ever used on the task type."),
    StateVar("ever_used", bool, ("engineer",), "Ever used an approved tool (token uses included)."),
    StateVar("engaged", bool, ("engineer",), "AI is part of this engineer's way of working (adopted and not given up)."),
    StateVar("weeks_with_ai", float, ("engineer",), "Weeks in which the engineer used AI on real work, any tool (the novelty of AI fades with them)."),
    StateVar("ever_engaged", bool, ("engineer",), "Has worked with AI at this company (then judges it by experience, not by the hype)."),
    StateVar("expectation", float, ("engineer",), "Saving the engineer expected when they started working with AI (share of task time)."),
    StateVar("experience", float, ("engineer",), "Running mean of the saving the engineer has perceived since starting (share of task time)."),
    StateVar("rework_pending", float, ("engineer",), "Hours of rework waiting from escaped defects (stays with the slot)."),
    StateVar("n_hired", np.int64, ("engineer",), "Times the slot was filled by a hire."),
    StateVar("safety", float, ("team",), "Psychological safety of each team (index)."),
    StateVar("team_config", float, ("team", "tool_task"), "How far each team has configured each tool for its own code on each task type (share; rules.configured_handicap)."),
)


#: The engineers' state as a kernel bundle: every declared state variable, and the team of each slot and each team's first slot.
EngineerState = bundles.bundle_type("EngineerState", [v.name for v in STATE] + ["team", "team_starts"], __name__)
