"""What a worker process computes for a page: the paired runs (sim.run_scenarios) and the figures, table and takeaways.

Functions here are picklable entry points for ``JobManager``; each returns a plain
``Bundle`` the page renders without further work.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
import plotly.io as pio

from sim.analysis.figures import PEOPLE, PERFORMANCE, WELLBEING, standard_figures
from sim.analysis.reports import TABLE_METRICS, summary_table
from sim.analysis.takeaways import takeaways
from sim.experiments.replicates import sharing
from sim.model.params import Scenario


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


def _run(specs: Sequence[Scenario], seed: int, replicates: int, progress: Callable | None, replicate_ids: Sequence[int] | None = None) -> pd.DataFrame:
    from sim.experiments.runner import run_scenarios  # the model loads in the run workers, not in the web server

    return run_scenarios(list(specs), replicates=replicates, seed=seed, progress=progress, replicate_ids=replicate_ids)


#: Metrics the standard figures, the table and the takeaways read, and the metrics whose breakdowns the figures show.
SHOWN_METRICS = frozenset(TABLE_METRICS) | frozenset(PEOPLE + PERFORMANCE + WELLBEING) | {
    "weekly_active_share", "genuine_use_share", "forced_use_share", "token_use_share", "shadow_use_share", "true_gain", "reported_gain",
    "risk_exposure", "pushback_share", "ai_task_share", "honest_reporting_share", "attrition_top_skill_cumulative", "trust_leadership",
}
BROKEN_DOWN = frozenset({"true_gain", "ai_task_share"})


def shown_rows(results: pd.DataFrame) -> pd.DataFrame:
    """Only the rows the page's figures, table and takeaways read (a third of the table: they build faster)."""
    metric = results["metric"]
    keep = metric.isin(SHOWN_METRICS) & ((results["group"] == "all") | metric.isin(BROKEN_DOWN))
    return results[keep]


def figures_json(figures: dict[str, Any]) -> dict[str, dict]:
    """Figures (``go.Figure`` or plain figure dicts) as JSON-ready dicts, so the web process only forwards them."""
    return {k: json.loads(pio.to_json(f, validate=False)) for k, f in figures.items()}


def spec_labels(specs: Sequence[Scenario]) -> dict[str, str]:
    """What the pages call each scenario: its title (an uploaded file's own), by name (``scenario_labels``)."""
    from sim.analysis.figures import scenario_labels

    return scenario_labels(specs)


def _compare_bundle(results: pd.DataFrame, specs: Sequence[Scenario], seed: int, replicates: int) -> Bundle:
    shown = shown_rows(results)
    labels = spec_labels(specs)
    with sharing(shown):  # the figures and the table share their summaries
        figures, table = standard_figures(shown, labels=labels, as_dict=True), summary_table(shown)
    return Bundle(results, figures_json(figures), table, takeaways(shown, labels=labels), list(specs), seed, replicates)


def compare_task(specs: Sequence[Scenario], seed: int, replicates: int, *, progress: Callable | None = None) -> Bundle:
    """Run a comparison and build the standard figures, the end-of-horizon table and the takeaways."""
    return _compare_bundle(_run(specs, seed, replicates, progress), specs, seed, replicates)


def simulate_task(specs: Sequence[Scenario], seed: int, replicates: int, replicate_ids: Sequence[int] | None = None, *,
                  progress: Callable | None = None) -> pd.DataFrame:
    """The paired runs of some replicates of a comparison (one part of a split comparison)."""
    return _run(specs, seed, replicates, progress, replicate_ids)


def split_parts(replicates: int, workers: int) -> list[list[int]]:
    """Replicate ids per worker for a split comparison: every part runs all scenarios (and their no-AI runs) for its replicates.

    One part (no split) with fewer than two workers or replicates.
    """
    if workers < 2 or replicates < 2:
        return [list(range(replicates))]
    k = min(workers, replicates)
    return [list(range(replicates))[i::k] for i in range(k)]


def merge_parts(frames: Sequence[pd.DataFrame], specs: Sequence[Scenario]) -> pd.DataFrame:
    """The tidy table run_scenarios gives for the whole comparison, from the tables of the parts (scenario, then replicate order)."""
    df = pd.concat(frames, ignore_index=True)
    names = list(frames[0]["scenario"].cat.categories) if isinstance(frames[0]["scenario"].dtype, pd.CategoricalDtype) else [s.name for s in specs]
    kept = df["scenario"].dtype
    if not (isinstance(kept, pd.CategoricalDtype) and list(kept.categories) == names):  # the parts agree (the usual case): kept as it is
        df["scenario"] = pd.Categorical(df["scenario"].astype(str), categories=names)
    order = np.lexsort((df["replicate"].to_numpy(), df["scenario"].cat.codes.to_numpy()))
    return df.iloc[order].reset_index(drop=True)


def compare_from_parts(frames: Sequence[pd.DataFrame], specs: Sequence[Scenario], seed: int, replicates: int, *, progress: Callable | None = None) -> Bundle:
    """Join the parts of a split comparison and build its figures, table and takeaways."""
    return _compare_bundle(merge_parts(frames, specs), specs, seed, replicates)


def results_task(specs: Sequence[Scenario], seed: int, replicates: int, *, progress: Callable | None = None) -> Bundle:
    """Just the runs (the classroom builds its figures week by week)."""
    return Bundle(_run(specs, seed, replicates, progress), specs=list(specs), seed=seed, replicates=replicates)


#: The outcomes the app offers to explain (metric ids; labelled by their titles).
EXPLAINED_METRICS = ("true_gain", "cycle_time", "escaped_defects", "reported_gain", "trust_leadership", "attrition_top_skill_cumulative")


def explain_task(specs: Sequence[Scenario], seed: int, replicates: int, metric: str = "true_gain", *, progress: Callable | None = None) -> Bundle:
    """Why specs[1] differs from specs[0] (sim.explain, in this run worker): the waterfall figure and the reading."""
    from sim.analysis.figures import waterfall
    from sim.analysis.takeaways import why
    from sim.experiments.explain import explain_pairs

    table = explain_pairs([(specs[0], specs[1])], metric=metric, replicates=replicates, seed=seed, workers=1, progress=progress)
    labels = spec_labels(specs)
    return Bundle(table, figures_json({"waterfall": waterfall(table, big=False, labels=labels)}), table, [why(table, labels=labels)], list(specs),
                  seed, replicates)


def engineers_task(specs: Sequence[Scenario], seed: int, replicate: int, *, progress: Callable | None = None) -> Bundle:
    """One replicate of each scenario, engineer by engineer (sim.experiments.engineers.engineer_weeks; the Classroom's agent view)."""
    from sim.experiments.engineers import engineer_weeks

    tables = []
    for i, spec in enumerate(specs):
        tables.append(engineer_weeks(spec, seed, replicate=replicate))
        if progress:
            progress(i + 1, len(specs))
    return Bundle(pd.concat(tables, ignore_index=True), specs=list(specs), seed=seed, replicates=1)
