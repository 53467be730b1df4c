"""The engineers' state, held as numpy arrays with one row per engineer position (slot).

A slot is filled by one engineer at a time; when an engineer leaves the slot
stays vacant for the hiring delay, then a new hire takes it (and its team).
Rows are never compacted, so an engineer's row never moves and draws per slot
stay aligned between compared scenarios.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import kernels
from .params import SENIORITY_LEVELS, Behaviour, Organisation


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
    vetted_risk: float
    level_share: np.ndarray  # [3]
    level_skill_mean: np.ndarray  # [3]
    level_skill_sd: np.ndarray  # [3]
    level_tenure_years: np.ndarray  # [3]
    level_mix: np.ndarray  # [3,K] share of baseline hours
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
            vetted_risk=org.vetted_risk,
            level_share=np.array([lv.share for lv in levels]),
            level_skill_mean=np.array([lv.skill_mean for lv in levels]),
            level_skill_sd=np.array([lv.skill_sd for lv in levels]),
            level_tenure_years=np.array([lv.tenure_years for lv in levels]),
            level_mix=np.array([[lv.task_mix[k] for k in tasks] for lv in levels]),
            reputation=np.array([org.tools[j].reputation for j in tools]),
        )

    @property
    def n_tasks(self) -> int:
        return len(self.task_names)

    @property
    def n_tools(self) -> int:
        return len(self.tool_names)


class Workforce:
    """State of all engineer slots (see docs/MODEL.md, 'State variables')."""

    def __init__(self, n: int, team_size: int, tables: OrgTables, behaviour: Behaviour):
        self.n = n
        self.tables = tables
        self.behaviour = behaviour
        T, K = tables.n_tools, tables.n_tasks
        self.team = np.arange(n, dtype=np.int64) // team_size
        self.n_teams = int(self.team[-1]) + 1
        # Teams are contiguous runs of slots: boundaries for np.add.reduceat.
        self.team_starts = np.arange(0, n, team_size, dtype=np.int64)

        self.is_present = np.zeros(n, dtype=bool)
        self.t_hire = np.full(n, -1, dtype=np.int64)  # week a vacancy is filled (-1: none pending)
        self.seniority = np.zeros(n, dtype=np.int64)  # index into SENIORITY_LEVELS
        self.skill = np.zeros(n)
        self.tenure_weeks = np.zeros(n)
        self.task_mix = np.zeros((n, K))
        self.proficiency = np.zeros((n, T))
        self.belief = np.zeros((n, T, K))
        self.trust_ai = np.zeros(n)
        self.trust_leadership = np.zeros(n)
        self.fatigue = np.zeros(n)
        self.morale = np.zeros(n)
        self.honesty_threshold = np.zeros(n)
        self.affinity = np.zeros(n)  # lasting inclination toward AI (utility)
        self.habit = np.zeros((n, T, K))  # 1 where the tool was used on the task type last week
        self.tried = np.zeros((n, T, K), dtype=bool)  # ever used the tool on the task type
        self.ever_used = np.zeros(n, dtype=bool)  # ever used an approved tool (incl. token use)
        self.rework_pending = np.zeros(n)  # hours
        self.n_hired = np.zeros(n, dtype=np.int64)  # times the slot was filled by a hire
        self.safety = np.zeros(self.n_teams)  # per team

    # -- filling slots -------------------------------------------------------

    def draws_for(self, slots: np.ndarray, source: "np.random.Generator | int") -> np.ndarray:
        """Uniforms [m, width] for new engineers in ``slots``: from a generator (initial staff), or, for hires, from a
        counter-based stream keyed by (entropy, slot, times the slot was filled), so a slot's k-th hire is the same person
        in every compared scenario whenever they arrive."""
        width = self.draw_width
        if isinstance(source, np.random.Generator):
            return source.random((slots.size, width))
        from .streams import counter_uniforms

        return counter_uniforms(source, slots, self.n_hired[slots], width)

    @property
    def draw_width(self) -> int:
        T, K = self.tables.n_tools, self.tables.n_tasks
        return 3 + 2 * (T + T * K + 3)  # level, tenure, spare; pairs of uniforms for each normal (Box-Muller)

    def fill(self, slots: np.ndarray, source: "np.random.Generator | int", *, new_hire: bool) -> None:
        """Put new engineers in ``slots``: seniority, skill, tenure, task mix, tool state, trust and morale drawn from the organisation."""
        if slots.size == 0:
            return
        tb, bh = self.tables, self.behaviour
        T, K = tb.n_tools, tb.n_tasks
        u = self.draws_for(slots, source)
        lp, pr, tr = bh.learning, bh.perception, bh.trust
        kernels.fill_engineers(
            slots.astype(np.int64), u, new_hire, T, K,
            np.cumsum(tb.level_share), tb.level_skill_mean, tb.level_skill_sd, tb.level_tenure_years, tb.level_mix, tb.reputation,
            lp.new_hire_tenure_years, lp.initial_proficiency, lp.initial_proficiency_sd, pr.hype_prior, pr.prior_sd,
            pr.initial_trust_ai, tr.initial_trust_leadership, bh.people.initial_morale, tr.honesty_threshold, tr.honesty_threshold_sd,
            bh.choice.affinity_sd,
            self.is_present, self.t_hire, self.seniority, self.skill, self.tenure_weeks, self.task_mix, self.proficiency, self.belief,
            self.trust_ai, self.trust_leadership, self.fatigue, self.morale, self.honesty_threshold, self.affinity, self.habit,
            self.tried, self.ever_used, self.n_hired,
        )

    def vacate(self, slots: np.ndarray, week: int, delay: int) -> None:
        """Engineers in ``slots`` leave; each slot is refilled ``delay`` weeks after the next one."""
        self.is_present[slots] = False
        self.t_hire[slots] = week + 1 + delay

    # -- team aggregates ------------------------------------------------------

    def team_sum(self, x: np.ndarray) -> np.ndarray:
        """Sum of a per-slot array over each team (contiguous slots), along axis 0."""
        return np.add.reduceat(x, self.team_starts, axis=0)

    def team_mean_present(self, x: np.ndarray) -> np.ndarray:
        """Mean over each team's present engineers of a per-slot array, broadcast back to slots."""
        pres = self.is_present.astype(float)
        shape = (-1,) + (1,) * (x.ndim - 1)
        num = self.team_sum(x * pres.reshape(shape))
        den = np.maximum(self.team_sum(pres), 1.0).reshape(shape)
        return (num / den)[self.team]

    # -- views ---------------------------------------------------------------

    def row(self, i: int) -> dict:
        """One slot's state as plain Python values (for inspecting one engineer)."""
        tb = self.tables
        return {
            "slot": int(i),
            "present": bool(self.is_present[i]),
            "team": int(self.team[i]),
            "seniority": SENIORITY_LEVELS[int(self.seniority[i])],
            "skill": float(self.skill[i]),
            "tenure_weeks": float(self.tenure_weeks[i]),
            "task_mix": {k: float(v) for k, v in zip(tb.task_names, self.task_mix[i])},
            "proficiency": {j: float(v) for j, v in zip(tb.tool_names, self.proficiency[i])},
            "belief": {j: {k: float(self.belief[i, a, b]) for b, k in enumerate(tb.task_names)} for a, j in enumerate(tb.tool_names)},
            "trust_ai": float(self.trust_ai[i]),
            "trust_leadership": float(self.trust_leadership[i]),
            "psych_safety": float(self.safety[self.team[i]]),
            "fatigue": float(self.fatigue[i]),
            "morale": float(self.morale[i]),
            "rework_pending_hours": float(self.rework_pending[i]),
        }
