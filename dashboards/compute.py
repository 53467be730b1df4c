"""What a worker process computes for a page: the paired runs (sim.run_scenarios) and the figures, table and takeaways.

Functions here are picklable entry points for ``JobManager``; each returns a plain
``Bundle`` the page renders without further work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import pandas as pd

from sim.figures import standard_figures
from sim.params import Scenario
from sim.report import summary_table
from sim.runner import run_scenarios, summarise
from sim.takeaways import takeaways


@dataclass
class Bundle:
    """A finished run: the tidy results and what the page shows of them."""

    results: pd.DataFrame
    figures: dict[str, dict] = field(default_factory=dict)  # name -> plotly figure as a dict
    table: pd.DataFrame | None = None
    takeaways: list[str] = field(default_factory=list)
    specs: list[Scenario] = field(default_factory=list)
    seed: int = 0
    replicates: int = 1


def _run(specs: Sequence[Scenario], seed: int, replicates: int, progress: Callable | None) -> pd.DataFrame:
    return run_scenarios(list(specs), replicates=replicates, seed=seed, progress=progress)


def compare_task(specs: Sequence[Scenario], seed: int, replicates: int, *, progress: Callable | None = None) -> Bundle:
    """Run a comparison and build the standard figures, the end-of-horizon table and the takeaways."""
    results = _run(specs, seed, replicates, progress)
    figures = {k: f.to_dict() for k, f in standard_figures(results).items()}
    return Bundle(results, figures, summary_table(results), takeaways(results), list(specs), seed, replicates)


LAB_METRICS = (
    "weekly_active_share", "true_gain", "reported_gain", "measurement_gap", "cycle_time", "escaped_defects",
    "trust_leadership", "psych_safety", "honest_reporting_share", "fatigue", "attrition_cumulative",
    "attrition_top_skill_cumulative", "shadow_use_share", "risk_exposure",
)


def lab_task(specs: Sequence[Scenario], seed: int, replicates: int, *, progress: Callable | None = None) -> Bundle:
    """Run the pinned baseline and the what-if variant (paired seeds); figures and a table of differences."""
    from sim.figures import adoption_split, measurement_gap, panel, scenario_colours

    results = _run(specs, seed, replicates, progress)
    names = [s.name for s in specs]
    colours = scenario_colours(names)
    figures = {
        "key": panel(results, ("weekly_active_share", "true_gain", "trust_leadership", "attrition_top_skill_cumulative"), "Baseline and what-if", colours=colours, cols=2).to_dict(),
        "gap": measurement_gap(results, colours=colours).to_dict(),
        "adoption": adoption_split(results, colours=colours).to_dict(),
    }
    return Bundle(results, figures, lab_table(results, names), takeaways(results), list(specs), seed, replicates)


def lab_table(results: pd.DataFrame, names: Sequence[str]) -> pd.DataFrame:
    """End-of-horizon baseline, what-if and their paired difference (mean and 90% band over replicates)."""
    from sim.report import format_value

    base, var = names[0], names[1]
    df = results[(results["group"] == "all") & (results["week"] == results["week"].max()) & results["metric"].isin(LAB_METRICS)]
    wide = df.pivot_table(index=["metric", "replicate"], columns="scenario", values="value", observed=True)
    rows = []
    s = summarise(results)
    for m in LAB_METRICS:
        if m not in wide.index.get_level_values(0):
            continue
        sub = wide.loc[m]
        diff = sub[var] - sub[base]
        mb = s[(s["metric"] == m) & (s["scenario"] == base)]["mean"].iloc[0]
        mv = s[(s["metric"] == m) & (s["scenario"] == var)]["mean"].iloc[0]
        lo, hi = diff.quantile(0.05), diff.quantile(0.95)
        rows.append({
            "metric": m, "baseline": format_value(m, mb), "what-if": format_value(m, mv),
            "change": f"{_signed(m, diff.mean())} [{_signed(m, lo)}, {_signed(m, hi)}]",
        })
    return pd.DataFrame(rows)


def _signed(metric: str, x: float) -> str:
    from sim.metrics import METRICS

    m = METRICS.get(metric)
    if m is not None and m.kind in ("share", "gain"):
        return f"{x * 100:+.1f} pts"
    return f"{x:+.2f}"


def results_task(specs: Sequence[Scenario], seed: int, replicates: int, *, progress: Callable | None = None) -> Bundle:
    """Just the runs (the classroom builds its figures week by week)."""
    return Bundle(_run(specs, seed, replicates, progress), specs=list(specs), seed=seed, replicates=replicates)
