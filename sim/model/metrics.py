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
    from .org import EngineeringOrg


@dataclass(frozen=True)
class Metric:
    """One output: its id, how people read it (label, unit, format), what it means, and its breakdowns."""

    name: str  # id, in tables and files
    unit: str  # what it is measured in, in words ("share of engineers")
    kind: str  # 'share' (in [0,1]), 'index' (in [0,1]), 'gain', 'level', 'count'
    category: str  # adoption, performance, risk, people, gap
    description: str
    by_seniority: bool = False
    by_task: bool = False
    label: str = ""  # what charts and tables call it ("Trust in AI")
    symbol: str = ""  # the unit as charts show it after the label ("0–1", "days", "% of engineers")
    fmt: str = ""  # format spec of one value; empty: from the kind (percent for shares and gains)

    @property
    def title(self) -> str:
        """Label with unit, as charts and tables show it: "Trust in AI (0–1)", "Cycle time (days)"."""
        return f"{self.label} ({self.symbol})" if self.symbol else self.label

    @property
    def format_spec(self) -> str:
        """The format spec of one value (percent for shares and gains, with a sign for gains)."""
        if self.fmt:
            return self.fmt
        return {"gain": "+.1%", "share": ".1%"}.get(self.kind, ".2f")

    @property
    def percent(self) -> bool:
        """Whether values are shown as percentages."""
        return self.format_spec.endswith("%")

    def format(self, x: float) -> str:
        """One value as people read it ("61.2%", "+4.0%", "3.41")."""
        return format(x, self.format_spec)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        # adoption
        Metric("weekly_active_share", "share of engineers", "share", "adoption", "Engineers counted active by telemetry (any approved-tool use, token uses included).", by_seniority=True, label="Weekly active", symbol="% of engineers"),
        Metric("ever_used_share", "share of engineers", "share", "adoption", "Engineers who have ever used an approved tool (the 'have tried it' figure).", label="Ever used an approved tool", symbol="% of engineers"),
        Metric("genuine_use_share", "share of engineers", "share", "adoption", "Engineers with at least one use they chose on its merits this week.", label="Genuine use", symbol="% of engineers"),
        Metric("forced_use_share", "share of engineers", "share", "adoption", "Engineers whose approved-tool use this week was all made under pressure, against their own judgement.", label="Pressured use only", symbol="% of engineers"),
        Metric("token_use_share", "share of engineers", "share", "adoption", "Engineers whose only use this week was a token use to satisfy the metric.", label="Token use only", symbol="% of engineers"),
        Metric("shadow_use_share", "share of engineers", "share", "adoption", "Engineers using a tool that is not approved for them (hidden from telemetry).", label="Shadow use", symbol="% of engineers"),
        Metric("pushback_share", "share of engineers", "share", "adoption", "Engineers voicing pushback against the policy this week.", label="Voicing pushback", symbol="% of engineers"),
        Metric("ai_task_share", "share of work", "share", "adoption", "Share of work (baseline hours) done with an AI tool, approved or not.", by_seniority=True, by_task=True, label="Work done with AI", symbol="% of work"),
        Metric("forced_task_share", "share of work", "share", "adoption", "Share of work done with AI only because of pressure or the norm.", by_seniority=True, by_task=True, label="Work done with AI under pressure", symbol="% of work"),
        Metric("shadow_task_share", "share of work", "share", "adoption", "Share of work done with unapproved tools.", by_task=True, label="Work done with unapproved tools", symbol="% of work"),
        Metric("usage_pressure", "index", "level", "adoption", "Mean usage pressure on engineers (0: none).", label="Usage pressure", symbol="index"),
        # performance
        Metric("throughput", "baseline hours per position per week", "level", "performance", "Work delivered, in hours a standard engineer would need without AI, per engineer position.", by_seniority=True, by_task=True, label="Throughput", symbol="baseline hours per position-week"),
        Metric("true_gain", "relative change", "gain", "performance", "Throughput relative to the no-AI counterfactual run with the same seed, minus 1.", by_seniority=True, by_task=True, label="True gain", symbol="% vs no AI"),
        Metric("cycle_time", "working days", "level", "performance", "Mean days from start to merge of a task (touch time at the week's pace plus review wait).", by_task=True, label="Cycle time", symbol="days"),
        Metric("escaped_defects", "defects per engineer per week", "level", "performance", "Defects that escaped review this week.", by_task=True, label="Escaped defects", symbol="per engineer-week"),
        Metric("rework_share", "share of focus hours", "share", "performance", "Share of focus hours spent fixing escaped defects.", label="Rework", symbol="% of focus hours"),
        Metric("verification_share", "share of focus hours", "share", "performance", "Share of focus hours spent reviewing and correcting generated output.", label="Verification", symbol="% of focus hours"),
        # risk
        Metric("risk_exposure", "exposure units per engineer per week", "level", "risk", "Data and security exposure from AI tools: unapproved use counts fully, vetted use a tenth.", label="Data-risk exposure", symbol="units per engineer-week"),
        # people
        Metric("trust_leadership", "index", "index", "people", "Mean trust in leadership.", by_seniority=True, label="Trust in leadership", symbol="0–1"),
        Metric("trust_ai", "index", "index", "people", "Mean trust in AI output.", by_seniority=True, label="Trust in AI", symbol="0–1"),
        Metric("psych_safety", "index", "index", "people", "Mean psychological safety of engineers' teams.", label="Psychological safety", symbol="0–1"),
        Metric("honest_reporting_share", "share of engineers", "share", "people", "Engineers whose team is safe enough for them to report AI's benefit honestly.", label="Honest reporting", symbol="% of engineers"),
        Metric("fatigue", "index", "index", "people", "Mean AI fatigue (the load of reviewing and fixing generated code).", by_seniority=True, label="AI fatigue", symbol="0–1"),
        Metric("morale", "index", "index", "people", "Mean morale.", by_seniority=True, label="Morale", symbol="0–1"),
        Metric("headcount", "engineers", "count", "people", "Engineers present (positions minus vacancies).", by_seniority=True, label="Headcount", symbol="engineers", fmt=",.1f"),
        Metric("attrition_cumulative", "share of positions", "share", "people", "Leavers since the start, per position (per initial engineer of the level for breakdowns).", by_seniority=True, label="Attrition since start", symbol="% of positions"),
        Metric("attrition_top_skill_cumulative", "share of top engineers", "share", "people", "Leavers since the start with skill in the initial top fifth, per initial top-fifth engineer.", label="Attrition of top engineers", symbol="% of the initial top fifth"),
        Metric("hires_cumulative", "share of positions", "share", "people", "New hires since the start, per position.", label="Hires since start", symbol="% of positions"),
        # the gap
        Metric("reported_gain", "relative change", "gain", "gap", "Productivity gain leadership hears: self-reported gains of engineers counted active, per engineer.", label="Reported gain", symbol="% claimed"),
        Metric("measurement_gap", "relative change", "gain", "gap", "Reported gain minus true gain.", label="Measurement gap", symbol="reported − true, points"),
    ]
}



def title(metric: str) -> str:
    """A metric's label with unit for charts and tables; an unknown id is shown as words."""
    m = METRICS.get(metric)
    return m.title if m is not None else metric.replace("_", " ").capitalize()


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


class Sums:
    """Layout of the weekly sums the recorder kernel fills; every metric is one sum divided by another."""

    SCALARS = (
        "one", "size", "top_initial", "leavers", "leavers_top", "hires", "cycle_time",
        "n", "reporting", "ever_used", "genuine", "forced_only", "token_only", "shadow_users", "voiced", "pressure",
        "mix", "ai_w", "forced_w", "shadow_w", "delivered", "escaped", "capacity", "rework", "verify", "risk",
        "trust_leadership", "trust_ai", "fatigue", "morale", "safety", "honest", "reported", "now",
    )
    LEVEL = ("level_initial", "leavers_level", "n", "reporting", "mix", "ai_w", "forced_w", "delivered",
             "trust_leadership", "trust_ai", "fatigue", "morale", "now")
    TASK = ("cycle_time", "mix", "ai_w", "forced_w", "shadow_w", "delivered", "escaped")

    def __init__(self, n_tasks: int):
        self.K = n_tasks
        self.index: dict[str, int] = {}
        i = 0
        for name in self.SCALARS:
            self.index[name] = i
            i += 1
        for name in self.LEVEL:
            self.index[f"L:{name}"] = i
            i += 3
        for name in self.TASK:
            self.index[f"K:{name}"] = i
            i += n_tasks
        self.size = i
        self.index_array = np.array([self.index[k] for k in self.kernel_order()], dtype=np.int64)

    def kernel_order(self) -> list[str]:
        """The sums the recorder kernel fills, in the order of its index argument."""
        return [
            "n", "reporting", "ever_used", "genuine", "forced_only", "token_only", "shadow_users", "voiced", "pressure",
            "mix", "ai_w", "forced_w", "shadow_w", "delivered", "escaped", "capacity", "rework", "verify", "risk",
            "trust_leadership", "trust_ai", "fatigue", "morale", "safety", "honest", "reported", "now",
            "L:n", "L:reporting", "L:mix", "L:ai_w", "L:forced_w", "L:delivered", "L:trust_leadership", "L:trust_ai", "L:fatigue",
            "L:morale", "L:now", "K:mix", "K:ai_w", "K:forced_w", "K:shadow_w", "K:delivered", "K:escaped",
        ]

    def __getitem__(self, key: str) -> int:
        return self.index[key]


#: For each metric: (numerator, denominator) sums for the whole organisation, and the prefix of the
#: per-level (``L:``) and per-task (``K:``) sums for breakdowns; value = numerator / denominator.
RATIOS: dict[str, tuple[str, str]] = {
    "weekly_active_share": ("reporting", "n"),
    "ever_used_share": ("ever_used", "n"),
    "genuine_use_share": ("genuine", "n"),
    "forced_use_share": ("forced_only", "n"),
    "token_use_share": ("token_only", "n"),
    "shadow_use_share": ("shadow_users", "n"),
    "pushback_share": ("voiced", "n"),
    "ai_task_share": ("ai_w", "mix"),
    "forced_task_share": ("forced_w", "mix"),
    "shadow_task_share": ("shadow_w", "mix"),
    "usage_pressure": ("pressure", "n"),
    "throughput": ("delivered", "size"),
    "cycle_time": ("cycle_time", "one"),
    "escaped_defects": ("escaped", "n"),
    "rework_share": ("rework", "capacity"),
    "verification_share": ("verify", "capacity"),
    "risk_exposure": ("risk", "n"),
    "trust_leadership": ("trust_leadership", "n"),
    "trust_ai": ("trust_ai", "n"),
    "psych_safety": ("safety", "n"),
    "honest_reporting_share": ("honest", "n"),
    "fatigue": ("fatigue", "n"),
    "morale": ("morale", "n"),
    "headcount": ("now", "one"),
    "attrition_cumulative": ("leavers", "size"),
    "attrition_top_skill_cumulative": ("leavers_top", "top_initial"),
    "hires_cumulative": ("hires", "size"),
    "reported_gain": ("reported", "n"),
}
#: Denominators of breakdowns that differ from the organisation's (e.g. throughput stays per position).
LEVEL_DENOMINATOR = {"throughput": "size", "headcount": "one", "attrition_cumulative": "L:level_initial", "cycle_time": "one"}
LEVEL_NUMERATOR = {"attrition_cumulative": "L:leavers_level"}
TASK_DENOMINATOR = {"throughput": "size", "cycle_time": "one", "escaped_defects": "n"}


def _plan(series: list[tuple[str, str]], sums: Sums, task_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator sum index of every recorded series."""
    num, den = [], []
    for metric, group in series:
        n_name, d_name = RATIOS[metric]
        if group == "all":
            num.append(sums[n_name])
            den.append(sums[d_name])
        elif group.startswith("seniority="):
            lv = SENIORITY_LEVELS.index(group.split("=", 1)[1])
            n_key = LEVEL_NUMERATOR.get(metric, f"L:{n_name}")
            num.append(sums[n_key] + lv)
            d_key = LEVEL_DENOMINATOR.get(metric, f"L:{d_name}")
            den.append(sums[d_key] + (lv if d_key.startswith("L:") else 0))
        else:
            k = task_names.index(group.split("=", 1)[1])
            num.append(sums[f"K:{n_name}"] + k)
            d_key = TASK_DENOMINATOR.get(metric, f"K:{d_name}")
            den.append(sums[d_key] + (k if d_key.startswith("K:") else 0))
    return np.array(num, dtype=np.int64), np.array(den, dtype=np.int64)


class Recorder:
    """Preallocated [weeks, series] store filled once per week from one pass of weekly sums."""

    def __init__(self, model: "EngineeringOrg"):
        self.task_names = model.tables.task_names
        self.series = series_list(self.task_names)
        self.col = {s: i for i, s in enumerate(self.series)}
        self.values = np.full((model.weeks, len(self.series)), np.nan)
        self.n_weeks = 0
        self.sums_layout = Sums(len(self.task_names))
        self.sums = np.zeros(self.sums_layout.size)
        self.num, self.den = _plan(self.series, self.sums_layout, self.task_names)
        L = self.sums_layout
        self.sums[L["one"]] = 1.0
        self.sums[L["size"]] = model.workforce.n
        self.sums[L["top_initial"]] = max(model.is_top_skill_initial, 1)
        self.sums[L["L:level_initial"] : L["L:level_initial"] + 3] = np.maximum(model.level_initial, 1)

    def latest(self, metric: str, group: str = "all") -> float:
        return float(self.values[self.n_weeks - 1, self.col[(metric, group)]])

    def record(self, model: "EngineeringOrg") -> None:
        wf, wk, st, tb = model.workforce, model.wk, model.policy_state, model.tables
        if self.n_weeks >= self.values.shape[0]:
            self.values = np.vstack([self.values, np.full_like(self.values, np.nan)])
        S, L = self.sums, self.sums_layout
        model.passes.week_sums(
            wk.present, wf.is_present, wf.seniority, wf.task_mix, wk.choice, wk.shadow, wk.forced, wk.token, wk.reporting,
            wf.ever_used, wk.voiced, st.pressure, wk.delivered, wk.escaped, wk.capacity, wk.rework_hours, wk.verify_hours,
            tb.task_hours, tb.data_risk, tb.vetted_risk, wf.trust_leadership, wf.trust_ai, wf.fatigue, wf.morale, wf.safety, wf.team,
            wk.honest, wk.reported_gain, L.index_array, S,
        )
        c = model.counters
        S[L["leavers"]], S[L["leavers_top"]], S[L["hires"]] = c.leavers, c.leavers_top, c.hires
        S[L["L:leavers_level"] : L["L:leavers_level"] + 3] = c.leavers_level
        S[L["cycle_time"]] = wk.cycle_time
        S[L["K:cycle_time"] : L["K:cycle_time"] + L.K] = wk.cycle_time_task
        self.values[self.n_weeks] = S[self.num] / np.maximum(S[self.den], 1e-12)
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
