"""Replicates without the model: each replicate's seed, and the summaries over replicates (means and 90% bands).

Kept apart from ``runner`` so that what only reads results (figures, reports, the app's web server) does not load
the model (Mesa, the compiled kernels) to draw them.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from sim.model.metrics import METRICS

#: Quantiles of the band shown around means (a 90% band).
BAND = (0.05, 0.95)


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """The model seed of each replicate, derived from the run seed (stable as replicates are added)."""
    children = np.random.SeedSequence(int(seed)).spawn(int(replicates))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> 1) for c in children]


def summarise(results: pd.DataFrame, *, week: int | None = None, groups: Sequence[str] = ("all",)) -> pd.DataFrame:
    """End-of-horizon (or ``week``) mean with a 90% band over replicates, per scenario, metric and group."""
    df = results
    if groups is not None:
        df = df[df["group"].isin(list(groups))]
    w = int(df["week"].max()) if week is None else int(week)
    df = df[df["week"] == w]
    g = df.groupby(["scenario", "metric", "group"], observed=True)["value"]
    out = pd.DataFrame({"mean": g.mean(), "low": g.quantile(BAND[0]), "high": g.quantile(BAND[1]), "replicates": g.size()}).reset_index()
    out.insert(3, "week", w)
    order = {m: i for i, m in enumerate(METRICS)}
    out["_o"] = out["metric"].map(lambda m: order.get(str(m), 999))
    out = out.sort_values(["scenario", "_o", "group"]).drop(columns="_o").reset_index(drop=True)
    for c in ("scenario", "metric", "group"):
        out[c] = out[c].astype(str)
    return out


def bands(results: pd.DataFrame, metrics: Sequence[str] | None = None, groups: Sequence[str] = ("all",)) -> pd.DataFrame:
    """Per scenario, metric, group and week: mean and 90% band over replicates (for charts)."""
    df = results
    if metrics is not None:
        df = df[df["metric"].isin(list(metrics))]
    if groups is not None:
        df = df[df["group"].isin(list(groups))]
    g = df.groupby(["scenario", "metric", "group", "week"], observed=True)["value"]
    out = pd.DataFrame({"mean": g.mean(), "low": g.quantile(BAND[0]), "high": g.quantile(BAND[1])}).reset_index()
    for c in ("scenario", "metric", "group"):
        out[c] = out[c].astype(str)
    return out
