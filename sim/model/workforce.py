"""The engineers' state, held as numpy arrays with one row per engineer position (slot).

A slot is filled by one engineer at a time; when an engineer leaves the slot
stays vacant for the hiring delay, then a new hire takes it (and its team).
Rows are never compacted, so an engineer's row never moves and draws per slot
stay aligned between compared scenarios.
"""

from __future__ import annotations

import numpy as np

from . import bundles, kernels
from .params import SENIORITY_LEVELS, Behaviour
from .state import STATE, EngineerState, OrgArrays, OrgTables, StateVar  # noqa: F401  (declared there, re-exported)


class Workforce:
    """State of all engineer slots: one array per declared state variable (``STATE``), plus the fixed team layout."""

    def __init__(self, n: int, team_size: int, tables: OrgTables, behaviour: Behaviour, params=None):
        self.n = n
        self.tables = tables
        self.behaviour = behaviour
        self.team = np.arange(n, dtype=np.int64) // team_size  # teams are contiguous runs of slots
        self.n_teams = int(self.team[-1]) + 1
        self.team_starts = np.arange(0, n, team_size, dtype=np.int64)
        sizes = {"engineer": n, "tool": tables.n_tools, "task": tables.n_tasks, "team": self.n_teams, "tool_task": tables.n_tools * tables.n_tasks}
        bundles.allocate(self, STATE, sizes)
        self._bundle = None
        self.org_bundle = tables.bundle()  # what hiring reads, as the kernels read it
        self.params = params if params is not None else bundles.params(behaviour)  # the behaviour as the hiring kernel reads it

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
        return 3 + 2 * (3 * T + T * K + 4)  # level, tenure, spare; pairs of uniforms for each normal (Box-Muller)

    def fill(self, slots: np.ndarray, source: "np.random.Generator | int", *, new_hire: bool) -> None:
        """Put new engineers in ``slots``: seniority, skill, tenure, task mix, tool state, trust and morale drawn from the organisation."""
        if slots.size == 0:
            return
        u = self.draws_for(slots, source)
        kernels.fill_engineers(slots.astype(np.int64), u, new_hire, self.bundle(), self.org_bundle, self.params)

    def bundle(self):
        """The state as the kernels read it (the ``EngineerState`` bundle: views on these arrays, built once)."""
        if self._bundle is None:
            self._bundle = bundles.make(EngineerState, self)
        return self._bundle

    def vacate(self, slots: np.ndarray, week: int, delay: int) -> None:
        """Engineers in ``slots`` leave; each slot is refilled ``delay`` weeks after the next one."""
        self.is_present[slots] = False
        self.t_hire[slots] = week + 1 + delay

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
