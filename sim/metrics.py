"""Weekly outputs: recorded into preallocated arrays during a run, returned as a tidy table.

Every metric has a definition in ``METRICS`` (shown by the CLI, the app and
docs/MODEL.md). ``group`` is ``all`` or a breakdown such as ``seniority=senior``
or ``task=debugging``. Metrics that need the paired no-AI counterfactual
(``true_gain``, ``measurement_gap``) are added by the runner (sim/runner.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .params import SENIORITY_LEVELS

if TYPE_CHECKING:  # pragma: no cover
    from .model import EngineeringOrg


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    kind: str  # 'share' (in [0,1]), 'index' (in [0,1]), 'gain', 'level', 'count'
    category: str  # adoption, performance, risk, people, gap
    description: str
    by_seniority: bool = False
    by_task: bool = False


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        # adoption
        Metric("weekly_active_share", "share of engineers", "share", "adoption", "Engineers counted active by telemetry (any approved-tool use, token uses included).", by_seniority=True),
        Metric("ever_used_share", "share of engineers", "share", "adoption", "Engineers who have ever used an approved tool (the 'have tried it' figure)."),
        Metric("genuine_use_share", "share of engineers", "share", "adoption", "Engineers with at least one use they chose on its merits this week."),
        Metric("forced_use_share", "share of engineers", "share", "adoption", "Engineers whose approved-tool use this week was all made under pressure, against their own judgement."),
        Metric("token_use_share", "share of engineers", "share", "adoption", "Engineers whose only use this week was a token use to satisfy the metric."),
        Metric("shadow_use_share", "share of engineers", "share", "adoption", "Engineers using a tool that is not approved for them (hidden from telemetry)."),
        Metric("pushback_share", "share of engineers", "share", "adoption", "Engineers voicing pushback against the policy this week."),
        Metric("ai_task_share", "share of work", "share", "adoption", "Share of work (baseline hours) done with an AI tool, approved or not.", by_seniority=True, by_task=True),
        Metric("forced_task_share", "share of work", "share", "adoption", "Share of work done with AI only because of pressure or the norm.", by_seniority=True, by_task=True),
        Metric("shadow_task_share", "share of work", "share", "adoption", "Share of work done with unapproved tools.", by_task=True),
        Metric("usage_pressure", "index", "level", "adoption", "Mean usage pressure on engineers (0: none)."),
        # performance
        Metric("throughput", "baseline hours per position per week", "level", "performance", "Work delivered, in hours a standard engineer would need without AI, per engineer position.", by_seniority=True, by_task=True),
        Metric("true_gain", "relative change", "gain", "performance", "Throughput relative to the no-AI counterfactual run with the same seed, minus 1.", by_seniority=True, by_task=True),
        Metric("cycle_time", "working days", "level", "performance", "Mean days from start to merge of a task (touch time at the week's pace plus review wait).", by_task=True),
        Metric("escaped_defects", "defects per engineer per week", "level", "performance", "Defects that escaped review this week.", by_task=True),
        Metric("rework_share", "share of focus hours", "share", "performance", "Share of focus hours spent fixing escaped defects."),
        Metric("verification_share", "share of focus hours", "share", "performance", "Share of focus hours spent reviewing and correcting generated output."),
        # risk
        Metric("risk_exposure", "exposure units per engineer per week", "level", "risk", "Data and security exposure from AI tools: unapproved use counts fully, vetted use a tenth."),
        # people
        Metric("trust_leadership", "index", "index", "people", "Mean trust in leadership.", by_seniority=True),
        Metric("trust_ai", "index", "index", "people", "Mean trust in AI output.", by_seniority=True),
        Metric("psych_safety", "index", "index", "people", "Mean psychological safety of engineers' teams."),
        Metric("honest_reporting_share", "share of engineers", "share", "people", "Engineers whose team is safe enough for them to report AI's benefit honestly."),
        Metric("fatigue", "index", "index", "people", "Mean AI fatigue (the load of reviewing and fixing generated code).", by_seniority=True),
        Metric("morale", "index", "index", "people", "Mean morale.", by_seniority=True),
        Metric("headcount", "engineers", "count", "people", "Engineers present (positions minus vacancies).", by_seniority=True),
        Metric("attrition_cumulative", "share of positions", "share", "people", "Leavers since the start, per position (per initial engineer of the level for breakdowns).", by_seniority=True),
        Metric("attrition_top_skill_cumulative", "share of top engineers", "share", "people", "Leavers since the start with skill in the initial top fifth, per initial top-fifth engineer."),
        Metric("hires_cumulative", "share of positions", "share", "people", "New hires since the start, per position."),
        # the gap
        Metric("reported_gain", "relative change", "gain", "gap", "Productivity gain leadership hears: self-reported gains of engineers counted active, per engineer."),
        Metric("measurement_gap", "relative change", "gain", "gap", "Reported gain minus true gain."),
    ]
}

#: Metrics that the runner derives from the paired counterfactual.
COUNTERFACTUAL_METRICS = ("true_gain", "measurement_gap")


def series_list(task_names: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every (metric, group) recorded by the model, in column order."""
    out = []
    for m in METRICS.values():
        if m.name in COUNTERFACTUAL_METRICS:
            continue
        out.append((m.name, "all"))
        if m.by_seniority:
            out += [(m.name, f"seniority={lv}") for lv in SENIORITY_LEVELS]
        if m.by_task:
            out += [(m.name, f"task={k}") for k in task_names]
    return out


class Recorder:
    """Preallocated [weeks, series] store filled once per week."""

    def __init__(self, model: "EngineeringOrg"):
        self.series = series_list(model.tables.task_names)
        self.col = {s: i for i, s in enumerate(self.series)}
        self.values = np.full((model.weeks, len(self.series)), np.nan)
        self.n_weeks = 0
        self.task_names = model.tables.task_names

    def _put(self, metric: str, value: float) -> None:
        self.values[self.n_weeks, self.col[(metric, "all")]] = value

    def _put_levels(self, metric: str, values: np.ndarray) -> None:
        c = self.col[(metric, "seniority=junior")]
        self.values[self.n_weeks, c : c + 3] = values

    def _put_tasks(self, metric: str, values: np.ndarray) -> None:
        c = self.col[(metric, f"task={self.task_names[0]}")]
        self.values[self.n_weeks, c : c + len(values)] = values

    def latest(self, metric: str, group: str = "all") -> float:
        return float(self.values[self.n_weeks - 1, self.col[(metric, group)]])

    def record(self, model: "EngineeringOrg") -> None:
        wf, wk, st = model.workforce, model.wk, model.policy_state
        tb = model.tables
        if self.n_weeks >= self.values.shape[0]:
            self.values = np.vstack([self.values, np.full_like(self.values, np.nan)])
        pres = wk.present
        presf = pres.astype(float)
        n = max(presf.sum(), 1.0)
        size = float(wf.n)
        mix = wf.task_mix * presf[:, None]
        is_ai = wk.choice > 0
        approved_use = is_ai & ~wk.shadow
        genuine = approved_use & ~wk.forced
        any_genuine = genuine.any(axis=1) & pres
        any_forced = wk.forced.any(axis=1) & pres & ~any_genuine
        token_only = wk.token & ~any_genuine & ~any_forced
        level = wf.seniority
        n_level = np.maximum(np.bincount(level, weights=presf, minlength=3), 1.0)
        mix_level = np.maximum(np.bincount(level, weights=mix.sum(axis=1), minlength=3), 1e-12)
        mix_task = np.maximum(mix.sum(axis=0), 1e-12)

        def lv(x):
            return np.bincount(level, weights=x * presf, minlength=3)

        P, PL, PT = self._put, self._put_levels, self._put_tasks
        # adoption
        P("weekly_active_share", wk.reporting.sum() / n)
        PL("weekly_active_share", lv(wk.reporting.astype(float)) / n_level)
        P("ever_used_share", (wf.ever_used & pres).sum() / n)
        P("genuine_use_share", any_genuine.sum() / n)
        P("forced_use_share", any_forced.sum() / n)
        P("token_use_share", token_only.sum() / n)
        P("shadow_use_share", (wk.shadow.any(axis=1) & pres).sum() / n)
        P("pushback_share", wk.voiced.sum() / n)
        ai_w = mix * is_ai
        forced_w = mix * wk.forced
        P("ai_task_share", ai_w.sum() / mix.sum() if mix.sum() > 0 else 0.0)
        PL("ai_task_share", lv(ai_w.sum(axis=1)) / mix_level)
        PT("ai_task_share", ai_w.sum(axis=0) / mix_task)
        P("forced_task_share", forced_w.sum() / max(mix.sum(), 1e-12))
        PL("forced_task_share", lv(forced_w.sum(axis=1)) / mix_level)
        PT("forced_task_share", forced_w.sum(axis=0) / mix_task)
        shadow_w = mix * wk.shadow
        P("shadow_task_share", shadow_w.sum() / max(mix.sum(), 1e-12))
        PT("shadow_task_share", shadow_w.sum(axis=0) / mix_task)
        P("usage_pressure", (st.pressure * presf).sum() / n)
        # performance
        delivered = wk.delivered * presf[:, None]
        P("throughput", delivered.sum() / size)
        PL("throughput", np.bincount(level, weights=delivered.sum(axis=1), minlength=3) / size)
        PT("throughput", delivered.sum(axis=0) / size)
        P("cycle_time", wk.cycle_time)
        PT("cycle_time", wk.cycle_time_task)
        P("escaped_defects", wk.escaped.sum() / n)
        PT("escaped_defects", wk.escaped.sum(axis=0) / n)
        cap = max(wk.capacity.sum(), 1e-9)
        P("rework_share", wk.rework_hours.sum() / cap)
        P("verification_share", wk.verify_hours.sum() / cap)
        # risk: tasks done with each tool, unapproved fully exposed, vetted a fraction
        tasks = delivered / tb.task_hours[None, :]
        tool = np.maximum(wk.choice - 1, 0)
        risk = tb.data_risk[tool] * np.where(wk.shadow, 1.0, tb.vetted_risk) * is_ai
        P("risk_exposure", (tasks * risk).sum() / n)
        # people
        for name, arr in (("trust_leadership", wf.trust_leadership), ("trust_ai", wf.trust_ai), ("fatigue", wf.fatigue), ("morale", wf.morale)):
            P(name, (arr * presf).sum() / n)
            PL(name, lv(arr) / n_level)
        P("psych_safety", (wf.safety[wf.team] * presf).sum() / n)
        P("honest_reporting_share", (wk.honest & pres).sum() / n)
        now = wf.is_present
        P("headcount", float(now.sum()))
        PL("headcount", np.bincount(level[now], minlength=3).astype(float))
        c = model.counters
        P("attrition_cumulative", c.leavers / size)
        PL("attrition_cumulative", c.leavers_level / np.maximum(model.level_initial, 1))
        P("attrition_top_skill_cumulative", c.leavers_top / max(model.is_top_skill_initial, 1))
        P("hires_cumulative", c.hires / size)
        # the gap
        P("reported_gain", (wk.reported_gain * wk.reporting).sum() / n)
        self.n_weeks += 1

    def frame(self) -> pd.DataFrame:
        """Tidy table: one row per week, metric and group."""
        w = self.n_weeks
        S = len(self.series)
        metric = np.array([s[0] for s in self.series], dtype=object)
        group = np.array([s[1] for s in self.series], dtype=object)
        return pd.DataFrame(
            {
                "week": np.repeat(np.arange(1, w + 1), S),
                "metric": np.tile(metric, w),
                "group": np.tile(group, w),
                "value": self.values[:w].ravel(),
            }
        )
