"""Running scenarios: replicates with reproducible seeds, the paired no-AI counterfactual, tidy results and summaries.

Every replicate ``r`` of a run with seed ``S`` uses the seed
``SeedSequence(S).spawn(...)[r]``, whatever the number of replicates, so adding
replicates never changes the earlier ones. Each scenario's replicate ``r`` is
paired with the no-AI counterfactual of the same organisation run with the same
seed: ``true_gain = throughput / counterfactual throughput - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from sim.model.limits import check_runs
from sim.model.metrics import series_list
from sim.model.params import Scenario
from sim.model.scenarios import load_scenario

from .replicates import BAND, bands, replicate_seeds, summarise  # noqa: F401  (their home before; imported from here too)

ProgressFn = Callable[[int, int], None]


def simulate(scenario: Scenario, seed: int) -> np.ndarray:
    """One run: the [weeks, series] array of recorded outputs."""
    from sim.model.org import EngineeringOrg  # here: what only reads results imports this module without the model

    model = EngineeringOrg(scenario, seed=seed).run()
    return model.recorder.values[: model.recorder.n_weeks]


@dataclass
class _Layout:
    """Column positions shared by the model's recorded series and the runner's derived ones."""

    series: list[tuple[str, str]]

    def __post_init__(self):
        self.col = {s: i for i, s in enumerate(self.series)}
        self.throughput_groups = [g for (m, g) in self.series if m == "throughput"]


def _derive(values: np.ndarray, cf_values: np.ndarray, layout: _Layout) -> tuple[np.ndarray, list[tuple[str, str]]]:
    """Append true_gain (per throughput group), measurement_gap and gain_per_spend columns from the paired counterfactual."""
    col = layout.col
    extra, names = [], []
    for g in layout.throughput_groups:
        t = values[:, col[("throughput", g)]]
        c = cf_values[:, col[("throughput", g)]]
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(c > 0, t / c - 1.0, 0.0)
        extra.append(gain)
        names.append(("true_gain", g))
    gap = values[:, col[("reported_gain", "all")]] - extra[0]
    extra.append(gap)
    names.append(("measurement_gap", "all"))
    spend = values[:, col[("ai_spend", "all")]]
    with np.errstate(divide="ignore", invalid="ignore"):
        extra.append(np.where(spend > 0, 100.0 * extra[0] / (spend / 10.0), 0.0))  # gain points per 10 spent a position-week
    names.append(("gain_per_spend", "all"))
    return np.column_stack([values] + extra), layout.series + names


def tidy(blocks: Sequence[tuple[str, int, np.ndarray]], series: list[tuple[str, str]]) -> pd.DataFrame:
    """Long table (scenario, replicate, week, metric, group, value) from [weeks, series] arrays."""
    if not blocks:
        return pd.DataFrame({c: [] for c in ("scenario", "replicate", "week", "metric", "group", "value")})
    S = len(series)
    metric_codes = pd.Categorical([s[0] for s in series])
    group_codes = pd.Categorical([s[1] for s in series])
    scen_names = list(dict.fromkeys(b[0] for b in blocks))
    parts = {k: [] for k in ("scenario", "replicate", "week", "m", "g", "value")}
    for name, rep, vals in blocks:
        W = vals.shape[0]
        parts["scenario"].append(np.full(W * S, scen_names.index(name), dtype=np.int32))
        parts["replicate"].append(np.full(W * S, rep, dtype=np.int32))
        parts["week"].append(np.repeat(np.arange(1, W + 1, dtype=np.int32), S))
        parts["m"].append(np.tile(metric_codes.codes, W))
        parts["g"].append(np.tile(group_codes.codes, W))
        parts["value"].append(vals.ravel())
    cat = np.concatenate
    return pd.DataFrame(
        {
            "scenario": pd.Categorical.from_codes(cat(parts["scenario"]), categories=scen_names),
            "replicate": cat(parts["replicate"]),
            "week": cat(parts["week"]),
            "metric": pd.Categorical.from_codes(cat(parts["m"]), categories=metric_codes.categories),
            "group": pd.Categorical.from_codes(cat(parts["g"]), categories=group_codes.categories),
            "value": cat(parts["value"]),
        }
    )


def _as_scenario(ref: Any, org: str | None, overrides: dict | None, engineers: int | None, weeks: int | None) -> Scenario:
    if isinstance(ref, Scenario) and org is None and not overrides and engineers is None and weeks is None:
        return ref
    return load_scenario(ref, org=org, overrides=overrides, engineers=engineers, weeks=weeks)


def run_scenarios(
    scenarios: Iterable[Any],
    *,
    replicates: int = 1,
    seed: int = 0,
    engineers: int | None = None,
    weeks: int | None = None,
    overrides: dict[str, Any] | None = None,
    org: str | None = None,
    progress: ProgressFn | None = None,
    replicate_ids: Sequence[int] | None = None,
) -> pd.DataFrame:
    """Run several scenarios with the same seeds (paired) and return one tidy table.

    Scenarios sharing an organisation, behaviour and horizon share their no-AI counterfactual runs.
    ``replicate_ids`` runs only those replicates of the ``replicates`` (for splitting one comparison
    over workers): the rows are exactly those of the full run.
    """
    specs = [_as_scenario(s, org, overrides, engineers, weeks) for s in scenarios]
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        # Same name twice (e.g. two files called alike): number them so rows stay apart.
        seen: dict[str, int] = {}
        for i, n in enumerate(names):
            seen[n] = seen.get(n, 0) + 1
            if names.count(n) > 1:
                specs[i] = specs[i].model_copy(update={"name": f"{n}#{seen[n]}"})
    all_seeds = replicate_seeds(seed, replicates)
    ids = list(range(replicates)) if replicate_ids is None else [int(r) for r in replicate_ids]
    if any(not 0 <= r < replicates for r in ids):
        raise ValueError(f"replicate_ids must lie in [0, {replicates})")
    seeds = [(r, all_seeds[r]) for r in ids]
    check_runs(specs, len(ids))  # every model and the results within the memory limits, before the first run
    cf_cache: dict[tuple[str, int], np.ndarray] = {}
    total = len(specs) * len(seeds)
    done = 0
    blocks = []
    series = None
    for spec in specs:
        layout = _Layout(series_list(tuple(spec.organisation.task_types)))
        cf = spec.counterfactual()
        cf_key = cf.model_dump_json()
        for r, s in seeds:
            values = simulate(spec, s)
            key = (cf_key, s)
            if spec.policy == cf.policy:
                cf_values = values
            else:
                if key not in cf_cache:
                    cf_cache[key] = simulate(cf, s)
                cf_values = cf_cache[key]
            full, series_now = _derive(values, cf_values, layout)
            if series is not None and series_now != series:
                raise ValueError("compared scenarios must share their task types to be tabulated together")
            series = series_now
            blocks.append((spec.name, r, full))
            done += 1
            if progress:
                progress(done, total)
    return tidy(blocks, series or [])


def run(
    scenario: Any = "free_choice",
    *,
    replicates: int = 1,
    seed: int = 0,
    engineers: int | None = None,
    weeks: int | None = None,
    overrides: dict[str, Any] | None = None,
    org: str | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Run one scenario (built-in name, file path, mapping or Scenario) and return the tidy results.

    Columns: scenario, replicate, week, metric, group, value. ``group`` is ``all`` or a
    breakdown such as ``seniority=senior`` or ``task=debugging``.
    """
    return run_scenarios([scenario], replicates=replicates, seed=seed, engineers=engineers, weeks=weeks, overrides=overrides, org=org, progress=progress)


def compare(
    scenarios: Iterable[Any],
    *,
    replicates: int = 20,
    seed: int = 0,
    engineers: int | None = None,
    weeks: int | None = None,
    overrides: dict[str, Any] | None = None,
    org: str | None = None,
    groups: Sequence[str] = ("all",),
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Run scenarios side by side (paired seeds) and return end-of-horizon means with 90% bands per scenario and metric."""
    results = run_scenarios(scenarios, replicates=replicates, seed=seed, engineers=engineers, weeks=weeks, overrides=overrides, org=org, progress=progress)
    return summarise(results, groups=groups)
