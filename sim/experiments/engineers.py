"""One run, engineer by engineer: a tidy per-engineer, per-week table read from the model's own arrays.

``engineer_weeks(scenario, seed, replicate=r)`` steps ``EngineeringOrg`` with the seed of replicate ``r`` of a run
with ``seed`` (``runner.replicate_seeds``: the same run as replicate ``r`` of ``run_scenarios``) and, after each
week, reads the engineers' state (``model.workforce``) and what happened to each of them that week (the week's
scratch, ``model.wk``). It only reads: the model steps exactly as in any other run, so the table describes the
very runs whose metrics the charts show. Each engineer's use of AI this week is classified as the adoption metrics
classify it (sim/model/metrics.py ``engineer_tallies``):

``genuine``   at least one use chosen on its merits (``genuine_use_share``);
``pressured`` approved-tool use, all of it only because of pressure or the norm (``forced_use_share``);
``token``     a token use and nothing else approved (``token_use_share``);
``shadow``    used a tool not approved for them (``shadow_use_share``; a boolean column, whatever else they did).

``activity`` is one word per engineer and week for pictures, first that applies of: ``left`` (the position is
vacant, or its engineer leaves at the end of this week), ``new_hire`` (in their first ``NEW_HIRE_WEEKS`` weeks),
``genuine``, ``pressured``, ``token``, ``shadow`` (AI only through an unapproved tool), ``no_ai``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.model.metrics import METRICS
from sim.model.params import SENIORITY_LEVELS, Scenario
from sim.model.scenarios import load_scenario

from .replicates import replicate_seeds

if TYPE_CHECKING:
    from sim.model.org import EngineeringOrg

#: The activities in the order ``activity`` picks them and pictures show them.
ACTIVITIES = ("no_ai", "genuine", "pressured", "token", "shadow", "left", "new_hire")
#: How each activity is called: the adoption metrics' labels where one exists.
ACTIVITY_LABELS = {
    "no_ai": "No AI",
    "genuine": METRICS["genuine_use_share"].label,
    "pressured": METRICS["forced_use_share"].label,
    "token": METRICS["token_use_share"].label,
    "shadow": METRICS["shadow_use_share"].label + " only",
    "left": "Left (position vacant)",
    "new_hire": "New hire",
}
#: Weeks a new hire is shown as one.
NEW_HIRE_WEEKS = 4
#: The per-engineer state the table carries (arrays of ``model.workforce``).
STATE_COLUMNS = ("skill", "trust_ai", "trust_leadership", "fatigue", "morale")


def _week_rows(model: EngineeringOrg, before: dict[str, np.ndarray], first_week: np.ndarray, week: int) -> dict[str, np.ndarray]:
    """What each slot's engineer did in the week just stepped (``week``, from 1), and their state at its end."""
    wf, wk = model.workforce, model.wk
    present = wk.present.copy()
    used = wk.choice > 0
    unapproved = used & wk.shadow
    approved_use = used & ~unapproved
    genuine = (approved_use & ~wk.forced).any(axis=1) & present
    any_forced = (approved_use & wk.forced).any(axis=1)
    pressured = present & ~genuine & any_forced
    token = present & ~genuine & ~any_forced & wk.token
    shadow = present & unapproved.any(axis=1)
    leaves = present & wk.leavers
    new_hire = present & (first_week >= 0) & (week - first_week < NEW_HIRE_WEEKS)
    activity = np.zeros(wf.n, dtype=np.int8)  # no_ai
    order = [(shadow, "shadow"), (token, "token"), (pressured, "pressured"), (genuine, "genuine"), (new_hire, "new_hire"),
             (~present | leaves, "left")]
    for mask, name in order:  # later ones win: the first in the docstring's order
        activity[mask] = ACTIVITIES.index(name)
    # A leaver's slot may be refilled in the same step: their own state is then the one from before the step.
    replaced = wf.n_hired != before["n_hired"]
    rows = {
        "slot": np.arange(wf.n), "team": wf.team.copy(), "present": present,
        "hire": np.where(replaced, before["n_hired"], wf.n_hired),
        "seniority": np.where(replaced, before["seniority"], wf.seniority),
        "activity": activity, "genuine": genuine, "pressured": pressured, "token": token, "shadow": shadow, "leaves": leaves,
        "new_hire": new_hire,
    }
    for col in STATE_COLUMNS:
        value = np.where(replaced, before[col], getattr(wf, col))
        rows[col] = np.where(present, value, np.nan)
    rows["week"] = np.full(wf.n, week)
    return rows


def engineer_weeks(scenario: Any, seed: int = 0, *, replicate: int = 0, engineers: int | None = None, weeks: int | None = None,
                   org: Any = None) -> pd.DataFrame:
    """Replicate ``replicate`` of a run with ``seed``, one row per engineer position (slot) and week.

    Columns: scenario, replicate, week, slot, hire (how many hires filled the slot before this engineer: slot and
    hire name one person), team, seniority, present, activity (``ACTIVITIES``), the booleans genuine, pressured,
    token, shadow, leaves and new_hire, and the engineer's skill, trust in AI, trust in leadership, fatigue and morale
    at the end of the week (empty while the position is vacant).
    """
    spec = scenario if isinstance(scenario, Scenario) and org is None and engineers is None and weeks is None else load_scenario(
        scenario, org=org, engineers=engineers, weeks=weeks)
    from sim.model.org import EngineeringOrg  # here: the agent view's figures read ACTIVITIES without the model

    model = EngineeringOrg(spec, seed=replicate_seeds(seed, int(replicate) + 1)[int(replicate)])
    wf = model.workforce
    first_week = np.full(wf.n, -1, dtype=np.int64)  # the first week a hired engineer works in each slot (-1: an initial engineer)
    frames = []
    while model.week < model.weeks:
        before = {"n_hired": wf.n_hired.copy(), "seniority": wf.seniority.copy(), **{c: getattr(wf, c).copy() for c in STATE_COLUMNS}}
        model.step()
        frames.append(_week_rows(model, before, first_week, model.week))
        first_week[wf.n_hired != before["n_hired"]] = model.week + 1  # hired at the end of this week: first works in the next
    table = pd.DataFrame({k: np.concatenate([f[k] for f in frames]) for k in frames[0]})
    table["seniority"] = pd.Categorical.from_codes(table["seniority"].astype(np.int64), categories=list(SENIORITY_LEVELS))
    table["activity"] = pd.Categorical.from_codes(table["activity"].astype(np.int64), categories=list(ACTIVITIES))
    table.insert(0, "replicate", int(replicate))
    table.insert(0, "scenario", spec.name)
    first = ["scenario", "replicate", "week", "slot", "hire", "team", "seniority", "present", "activity"]
    return table[first + [c for c in table.columns if c not in first]]
