"""What the what-if lab computes in a run worker: the pinned baseline and the what-if (paired seeds), their trajectories
week by week, the cumulative delivered work with its breakeven week, and a table of end-of-horizon changes shown with
enough significant digits that a real change never reads as zero.

Figures here are functions from the tidy results table to plotly figures, like sim/analysis/figures.py's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sim.analysis.differences import change_text, decimals_for
from sim.analysis.figures import _layout, _rgba, adoption_split, measurement_gap, panel, scenario_colours
from sim.analysis.reports import format_value
from sim.experiments.replicates import BAND, sharing, summarise
from sim.model.metrics import METRICS
from sim.model.metrics import title as metric_title
from sim.model.params import Scenario

from .compute import Bundle, figures_json

#: Names the lab gives its two runs (charts and tables show them).
BASELINE, WHAT_IF = "baseline", "what-if"
#: Outcomes the trajectory chart follows week by week, baseline against what-if.
TRAJECTORY_METRICS = ("true_gain", "cycle_time", "escaped_defects", "weekly_active_share", "trust_leadership", "attrition_top_skill_cumulative")
#: Outcomes of the end-of-horizon table.
LAB_METRICS = (
    "weekly_active_share", "true_gain", "reported_gain", "measurement_gap", "throughput", "cycle_time", "escaped_defects",
    "trust_leadership", "psych_safety", "honest_reporting_share", "fatigue", "attrition_cumulative",
    "attrition_top_skill_cumulative", "shadow_use_share", "risk_exposure",
)
#: The weekly metric whose running sum is the cumulative delivered work (work per position, in baseline hours).
DELIVERED = "throughput"


def delivered_label() -> tuple[str, str]:
    """What the cumulative chart calls its quantity and its unit, from the declaration of ``DELIVERED``."""
    m = METRICS[DELIVERED]
    unit = re.sub(r"(-| per )week$", "", m.symbol or m.unit)  # "baseline hours per position-week" -> "... per position"
    return f"Cumulative {m.label.lower()}", unit


# ---------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------


def _what_if_minus_baseline(rows: pd.DataFrame, index: list[str]) -> pd.Series:
    """What-if minus baseline of ``rows``, paired by ``index`` (the pairs share their seeds)."""
    wide = rows.pivot_table(index=index, columns="scenario", values="value", observed=True)
    return wide[WHAT_IF] - wide[BASELINE]


def paired_differences(results: pd.DataFrame, metric: str, *, group: str = "all") -> pd.DataFrame:
    """What-if minus baseline of one metric, per replicate (rows) and week (columns)."""
    rows = results[(results["metric"] == metric) & (results["group"] == group)]
    return _what_if_minus_baseline(rows, ["replicate", "week"]).unstack("week").sort_index(axis=1)


def final_differences(results: pd.DataFrame, metrics: Sequence[str], *, group: str = "all") -> dict[str, pd.Series]:
    """What-if minus baseline in the last week, per replicate, of each metric (``paired_differences``' last column, for
    many metrics at once: one filter and one pivot of the last week's rows)."""
    last = results[(results["week"] == results["week"].max()) & (results["group"] == group) & results["metric"].isin(list(metrics))]
    diff = _what_if_minus_baseline(last, ["metric", "replicate"])
    return {str(m): d.droplevel("metric") for m, d in diff.groupby(level="metric", observed=True)}


def lab_table(results: pd.DataFrame) -> pd.DataFrame:
    """End-of-horizon baseline, what-if and their paired difference (mean [5%, 95%] over replicates); metrics by title,
    ids kept in the ``id`` column."""
    s = summarise(results).set_index(["metric", "scenario"])
    finals = final_differences(results, LAB_METRICS)
    rows = []
    for metric in LAB_METRICS:
        if (metric, BASELINE) not in s.index or (metric, WHAT_IF) not in s.index:
            continue
        diff = finals[metric]
        low, high = diff.quantile(BAND[0]), diff.quantile(BAND[1])
        rows.append({
            "id": metric, "metric": metric_title(metric), BASELINE: format_value(metric, s.at[(metric, BASELINE), "mean"]),
            WHAT_IF: format_value(metric, s.at[(metric, WHAT_IF), "mean"]), "change": change_text(metric, float(diff.mean()), float(low), float(high)),
        })
    return pd.DataFrame(rows, columns=["id", "metric", BASELINE, WHAT_IF, "change"])


# ---------------------------------------------------------------------------
# Cumulative delivered work and the breakeven week
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Breakeven:
    """When a lever's cumulative delivered work overtakes the baseline's for good.

    ``kind``: 'after_cost' (it costs first, then stays ahead from ``week``), 'ahead' (never behind; ahead from
    ``week``), 'never' (behind, or not ahead, at the end of the horizon) or 'same' (no difference at any week).
    ``deepest`` is the lowest cumulative difference (per position, baseline hours) and ``deepest_week`` its week.
    """

    kind: str
    week: int | None
    deepest: float
    deepest_week: int
    final: float
    horizon: int

    def text(self) -> str:
        """The breakeven in words (numbers from this run)."""
        if self.kind == "same":
            return f"The what-if delivers the same work as the baseline in every one of the {self.horizon} weeks."
        if self.kind == "never":
            at_end = f"{_amount(self.final)} behind the baseline" if self.final < 0 else "level with the baseline"
            return (f"Breakeven: never within the horizon of {self.horizon} weeks. At week {self.horizon} the what-if's cumulative "
                    f"delivered work is {at_end}.")
        gained = f"{_amount(self.final)} ahead by week {self.horizon}"
        if self.kind == "ahead":
            return f"No cost to recover: the what-if is never behind the baseline, ahead from week {self.week} on ({gained})."
        return (f"Breakeven at week {self.week}: the lever costs first (at worst {_amount(self.deepest)} behind, at week "
                f"{self.deepest_week}), then its cumulative delivered work stays above the baseline's from week {self.week} on ({gained}).")


def _amount(x: float) -> str:
    """An amount of cumulative delivered work, without its sign, with at least two significant digits and its unit."""
    return f"{abs(x):,.{decimals_for(abs(x), 1)}f} {delivered_label()[1]}"


def breakeven(cumulative_difference: pd.Series) -> Breakeven:
    """The breakeven of a mean cumulative difference indexed by week: the first week from which it stays above zero."""
    d = cumulative_difference.sort_index()
    weeks = [int(w) for w in d.index]
    values = d.to_numpy(dtype=float)
    low_at = int(np.argmin(values))
    deepest, deepest_week, final, horizon = float(values[low_at]), weeks[low_at], float(values[-1]), weeks[-1]
    if np.all(values == 0):
        return Breakeven("same", None, 0.0, deepest_week, 0.0, horizon)
    if final <= 0:
        return Breakeven("never", None, deepest, deepest_week, final, horizon)
    not_above = np.flatnonzero(values <= 0)
    week = weeks[int(not_above[-1]) + 1] if len(not_above) else weeks[0]
    return Breakeven("after_cost" if deepest < 0 else "ahead", week, deepest, deepest_week, final, horizon)


def cumulative_delivered(results: pd.DataFrame) -> pd.DataFrame:
    """The what-if's cumulative delivered work minus the baseline's, per week: mean and 90% band over replicates
    (per position, in baseline hours)."""
    cum = paired_differences(results, DELIVERED).cumsum(axis=1)
    return pd.DataFrame({"week": cum.columns.astype(int), "mean": cum.mean().to_numpy(), "low": cum.quantile(BAND[0]).to_numpy(),
                         "high": cum.quantile(BAND[1]).to_numpy()})


def cumulative_figure(results: pd.DataFrame, *, colours: dict | None = None) -> tuple[go.Figure, Breakeven]:
    """The cumulative delivered work of the what-if against the baseline's (their difference, with its 90% band over
    replicates), a zero line for the baseline and the breakeven week marked."""
    c = cumulative_delivered(results)
    be = breakeven(c.set_index("week")["mean"])
    colour = (colours or scenario_colours([BASELINE, WHAT_IF]))[WHAT_IF]
    label, unit = delivered_label()
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=list(c["week"]) + list(c["week"])[::-1], y=list(c["high"]) + list(c["low"])[::-1], fill="toself",
                             fillcolor=_rgba(colour, 0.18), line={"width": 0}, hoverinfo="skip", name="90% band", showlegend=False))
    fig.add_trace(go.Scatter(x=c["week"], y=c["mean"], mode="lines", line={"color": colour, "width": 2.5}, name=f"{WHAT_IF} minus {BASELINE}"))
    fig.add_hline(y=0, line={"color": "#555", "dash": "dot"}, annotation_text=BASELINE, annotation_position="bottom left")
    if be.week is not None and be.kind == "after_cost":
        fig.add_vline(x=be.week, line={"color": "#333", "dash": "dash"}, annotation_text=f"breakeven: week {be.week}", annotation_position="top left")
    _layout(fig, f"{label}: {WHAT_IF} minus {BASELINE}", height=360, ytitle=unit)
    return fig, be


# ---------------------------------------------------------------------------
# The task
# ---------------------------------------------------------------------------


@dataclass
class LabBundle(Bundle):
    """A finished lab run: a Bundle, and the breakeven of the cumulative delivered work (None without a what-if)."""

    breakeven: Breakeven | None = None
    extra: dict = field(default_factory=dict)


def lab_task(specs: Sequence[Scenario], seed: int, replicates: int, *, progress: Callable | None = None) -> LabBundle:
    """Run the pinned baseline and the what-if with the same seeds (or the baseline alone when they are the same
    scenario): trajectory figures, the cumulative delivered work and its breakeven, and the end-of-horizon table."""
    from sim.experiments.runner import run_scenarios  # the model loads in the run worker, not in the web server

    results = run_scenarios(list(specs), replicates=replicates, seed=seed, progress=progress)
    names = [s.name for s in specs]
    colours = scenario_colours(names)
    be = None
    table = None
    with sharing(results):  # the charts share their summaries over replicates
        figures = {
            "trajectory": panel(results, TRAJECTORY_METRICS, "Week by week: " + " and ".join(names), colours=colours, cols=2, as_dict=True),
            "gap": measurement_gap(results, colours=colours, as_dict=True),
            "adoption": adoption_split(results, colours=colours, as_dict=True),
        }
    if WHAT_IF in names:
        figures["cumulative"], be = cumulative_figure(results, colours=colours)
        table = lab_table(results)
    return LabBundle(results, figures_json(figures), table, [], list(specs), seed, replicates, breakeven=be)
