"""Differences against a reference policy: for each other policy and outcome, the paired change at a chosen week.

Replicates of compared policies share their seeds (``sim.run_scenarios``), so replicate r of policy B and replicate
r of the reference A differ only by the policy: the change is the mean over replicates of the paired differences
``B_r - A_r``, with a 90% Student-t interval of that mean (the same interval ``sim.explain`` gives). When the interval
contains 0 the difference is *within noise*: more replicates may tell, these do not.

The change is given in the metric's units (percentage points for metrics shown in percent) and as a % change,
``change / reference mean`` (its interval scaled alike). A % change is not given for gains (they are already a
percentage against the no-AI counterfactual) nor when the reference's mean is 0.

    table = sim.differences(sim.run_scenarios(["free_choice", "mandate_single_tool"], replicates=10), "free_choice", week=26)

A pure function of the tidy results table: the app's Compare page and the Python API compute the same table.

``signed``, ``percent`` and ``change_text`` write a change as people read it, with at least two significant digits
(a real change never reads as zero): Compare's tables, the takeaways, the lab and the waterfall use them.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from sim.errors import InputError
from sim.model.metrics import METRICS

#: Confidence of the intervals (as sim.explain's).
LEVEL = 0.90
#: The outcomes a difference table shows by default, in this order (metric ids; labelled by their declarations).
DIFFERENCE_METRICS = (
    "true_gain", "weekly_active_share", "cycle_time", "escaped_defects", "attrition_cumulative", "attrition_top_skill_cumulative",
    "trust_leadership", "measurement_gap",
)
COLUMNS = ["scenario", "reference", "metric", "label", "unit", "week", "replicates", "reference_mean", "mean", "change", "low", "high",
           "pct_change", "pct_low", "pct_high", "within_noise"]


def scenario_order(results: pd.DataFrame) -> list[str]:
    """Scenario names in the table's order (category order when categorical)."""
    col = results["scenario"]
    present = {str(x) for x in col.unique()}
    cats = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else pd.unique(col)
    return [str(c) for c in cats if str(c) in present]


def interval(x: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Mean and ``level`` Student-t interval of the mean of ``x`` (NaN bounds for fewer than two values; the mean itself
    for values that do not vary)."""
    x = np.asarray(x, dtype=float)
    m = float(np.mean(x)) if x.size else float("nan")
    if x.size < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1)) * float(np.std(x, ddof=1)) / math.sqrt(x.size)
    return m, m - half, m + half


def _relative_base(metric: str, reference_mean: float) -> float:
    """What a % change divides by: the reference's mean, or NaN for gains and a zero mean."""
    m = METRICS.get(metric)
    if (m is not None and m.kind == "gain") or not math.isfinite(reference_mean) or abs(reference_mean) < 1e-12:
        return float("nan")
    return abs(reference_mean)


def differences(results: pd.DataFrame, reference: str | None = None, *, week: int | None = None,
                metrics: Sequence[str] = DIFFERENCE_METRICS, group: str = "all") -> pd.DataFrame:
    """Each other policy's paired change against ``reference`` (default: the first scenario) at ``week`` (default: the last).

    One row per policy and metric (policies in the table's order, metrics in ``metrics``' order; a metric absent from
    ``results`` is left out); columns ``COLUMNS``: ``change`` with its 90% interval ``low``/``high`` in the metric's
    units, ``pct_change``/``pct_low``/``pct_high`` as fractions (0.05 is +5%), ``within_noise`` when the interval
    contains 0. Raises InputError for a reference or week the results do not have.
    """
    names = scenario_order(results)
    reference = names[0] if reference is None else str(reference)
    if reference not in names:
        raise InputError("is not one of the compared policies", source="reference policy", value=reference, allowed=", ".join(names))
    weeks = results["week"]
    first, last = int(weeks.min()), int(weeks.max())
    week = last if week is None else week
    if isinstance(week, bool) or not isinstance(week, (int, np.integer)) or not first <= int(week) <= last:
        raise InputError("is not a week of these runs", source="week", value=week, allowed=f"a whole number from {first} to {last}")
    week = int(week)
    df = results[(results["week"] == week) & (results["group"] == group) & results["metric"].isin(list(metrics))]
    wide = df.pivot_table(index=["metric", "replicate"], columns="scenario", values="value", observed=True, aggfunc="first")
    present = set(wide.index.get_level_values(0)) if len(wide) else set()
    rows = []
    for name in names:
        if name == reference:
            continue
        for metric in metrics:
            if metric not in present:
                continue
            sub = wide.loc[metric]
            pair = sub[[reference, name]].dropna()
            d = (pair[name] - pair[reference]).to_numpy()
            change, low, high = interval(d)
            ref_mean = float(pair[reference].mean())
            base = _relative_base(metric, ref_mean)
            m = METRICS.get(metric)
            rows.append({
                "scenario": name, "reference": reference, "metric": metric, "label": m.label if m else metric,
                "unit": ("points" if m.percent else m.symbol) if m else "", "week": week, "replicates": int(d.size),
                "reference_mean": ref_mean, "mean": float(pair[name].mean()), "change": change, "low": low, "high": high,
                "pct_change": change / base, "pct_low": low / base, "pct_high": high / base,
                "within_noise": bool(low <= 0.0 <= high) if math.isfinite(low) else True,
            })
    return pd.DataFrame(rows, columns=COLUMNS)


#: Significant digits a change shows at least (a real change never reads as zero: '+0.040 pts', not '+0.0 pts').
SIGNIFICANT = 2
#: The most decimals a change is shown with (below this it is shown in scientific notation).
MAX_DECIMALS = 8


def _spec_decimals(spec: str) -> int:
    m = re.search(r"\.(\d+)", spec)
    return int(m.group(1)) if m else 0


def decimals_for(x: float, at_least: int) -> int:
    """Decimals that show ``x`` with at least SIGNIFICANT significant digits (and never fewer than ``at_least``)."""
    if x == 0 or not math.isfinite(x):
        return at_least
    needed = SIGNIFICANT - 1 - math.floor(math.log10(abs(x)))
    return max(at_least, min(needed, MAX_DECIMALS))


def _number(x: float, decimals: int, thousands: bool) -> str:
    if x != 0 and abs(x) < 10 ** -MAX_DECIMALS:
        return f"{x:+.{SIGNIFICANT - 1}e}"
    return format(x, f"+{',' if thousands else ''}.{decimals}f")


def signed(metric: str, x: float, decimals: int | None = None) -> str:
    """A change in ``metric`` as people read it, with its sign and in its units ('pts': percentage points, for metrics
    shown in percent), with the metric's own decimals or more, so that it has at least two significant digits: 0.0004
    of a share is '+0.040 pts', never '+0.0 pts'; exactly zero is '0', NaN ''."""
    if x != x:
        return ""
    m = METRICS.get(metric)
    in_percent = m is not None and m.percent
    value = x * 100 if in_percent else x
    unit = " pts" if in_percent else ""  # other units are in the metric's title beside it
    if value == 0:
        return "0" + unit
    spec = m.format_spec if m is not None else ".2f"
    d = decimals if decimals is not None else decimals_for(value, _spec_decimals(spec))
    return _number(value, d, "," in spec) + unit


def percent(x: float) -> str:
    """A % change with its sign ('+12.3%'), with at least two significant digits ('-0.042%'); '' for NaN."""
    if x != x:
        return ""
    if x == 0:
        return "0%"
    return _number(x * 100, decimals_for(x * 100, 1), False) + "%"


def change_text(metric: str, mean: float, low: float, high: float) -> str:
    """'mean [5%, 95%]' of a paired difference: the mean with its own significant digits, each bound with at least as many
    decimals (more where it would otherwise round to zero); 'no change' when every replicate is identical."""
    if mean == 0 and low == 0 and high == 0:
        return "no change (identical in every replicate)"
    m = METRICS.get(metric)
    scale = 100 if m is not None and m.percent else 1
    base = _spec_decimals(m.format_spec if m is not None else ".2f")
    d = decimals_for(mean * scale, base)
    bounds = [signed(metric, b, max(d, decimals_for(b * scale, base))) for b in (low, high)]
    return f"{signed(metric, mean, d)} [{bounds[0]}, {bounds[1]}]"
