"""Replicates without the model: each replicate's seed, and the summaries over replicates (means and 90% bands), computed
once for the charts and the table of one results table inside ``sharing``.

Kept apart from ``runner`` so that what only reads results (figures, reports, the app's web server) does not load
the model (Mesa, the compiled kernels) to draw them.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Sequence

import numpy as np
import pandas as pd
from pandas.api.typing import SeriesGroupBy

from sim.model.metrics import METRICS

#: Quantiles of the band shown around means (a 90% band).
BAND = (0.05, 0.95)


def replicate_seeds(seed: int, replicates: int) -> list[int]:
    """The model seed of each replicate, derived from the run seed (stable as replicates are added)."""
    children = np.random.SeedSequence(int(seed)).spawn(int(replicates))
    return [int(c.generate_state(1, dtype=np.uint64)[0] >> 1) for c in children]


#: The columns a band table (``bands``: one row per line point) and a summary (``summarise``: one row per cell) group rows by.
LINE_KEYS = ["scenario", "metric", "group", "week"]
CELL_KEYS = ["scenario", "metric", "group"]


def _chosen(results: pd.DataFrame, metrics: Sequence[str] | None = None, groups: Sequence[str] | None = None) -> np.ndarray:
    """Which rows are of ``metrics`` and of ``groups`` (every one when None)."""
    keep = np.ones(len(results), dtype=bool)
    if metrics is not None:
        keep &= results["metric"].isin(list(metrics)).to_numpy()
    if groups is not None:
        keep &= results["group"].isin(list(groups)).to_numpy()
    return keep


def select(results: pd.DataFrame, metrics: Sequence[str] | None = None, groups: Sequence[str] | None = None) -> pd.DataFrame:
    """The rows of ``metrics`` and of ``groups`` (every one when None), in the table's order."""
    return results if metrics is None and groups is None else results[_chosen(results, metrics, groups)]


def _band_table(g: SeriesGroupBy) -> pd.DataFrame:
    """The band table of values grouped by LINE_KEYS (``g``)."""
    out = pd.DataFrame({"mean": g.mean(), "low": g.quantile(BAND[0]), "high": g.quantile(BAND[1])}).reset_index()
    for c in ("scenario", "metric", "group"):
        out[c] = out[c].astype(str)
    return out


def _summary_table(g: SeriesGroupBy, w: int) -> pd.DataFrame:
    """The summary of week ``w``'s values grouped by CELL_KEYS (``g``), metrics in their declaration order."""
    out = pd.DataFrame({"mean": g.mean(), "low": g.quantile(BAND[0]), "high": g.quantile(BAND[1]), "replicates": g.size()}).reset_index()
    out.insert(3, "week", w)
    order = {m: i for i, m in enumerate(METRICS)}
    out["_o"] = out["metric"].map(lambda m: order.get(str(m), 999))
    out = out.sort_values(["scenario", "_o", "group"]).drop(columns="_o").reset_index(drop=True)
    for c in ("scenario", "metric", "group"):
        out[c] = out[c].astype(str)
    return out


def _week_rows(results: pd.DataFrame, week: int | None, groups: Sequence[str] | None) -> tuple[pd.DataFrame, int]:
    """The rows of ``groups`` in ``week`` (the last week of those rows when None), and that week."""
    df = select(results, groups=groups)
    w = int(df["week"].max()) if week is None else int(week)
    return df[df["week"] == w], w


def summarise(results: pd.DataFrame, *, week: int | None = None, groups: Sequence[str] = ("all",)) -> pd.DataFrame:
    """End-of-horizon (or ``week``) mean with a 90% band over replicates, per scenario, metric and group."""
    rows, w = _week_rows(results, week, groups)
    return _summary_table(rows.groupby(CELL_KEYS, observed=True)["value"], w)


def bands(results: pd.DataFrame, metrics: Sequence[str] | None = None, groups: Sequence[str] = ("all",)) -> pd.DataFrame:
    """Per scenario, metric, group and week: mean and 90% band over replicates (for charts)."""
    return _band_table(select(results, metrics, groups).groupby(LINE_KEYS, observed=True)["value"])


def summary_cells(summary: pd.DataFrame, keys: Sequence[str]) -> dict[tuple, tuple[float, float, float]]:
    """A summary's (``summarise``) mean, low and high, by the values of its columns ``keys``."""
    return dict(zip(zip(*(summary[k] for k in keys)), zip(*(summary[c].to_numpy() for c in ("mean", "low", "high")))))


# ---------------------------------------------------------------------------
# Summaries shared by the charts and the table of one results table
# ---------------------------------------------------------------------------


def _compensated(ids: np.ndarray, missing: np.ndarray) -> bool:
    """Whether pandas surely averages these rows group by group with its compensated (Kahan) sum (``ids``: each row's
    group number): it does when a value is missing or a group number falls. Rows sorted by group and without a missing
    value pandas 3.1 sums plainly instead (``np.add.reduceat``), which can change a mean's last bit."""
    return bool(missing.any()) or bool((np.diff(ids) < 0).any())


class _Computed:
    """A summary (a band table or ``summarise``'s table) computed from ``rows`` grouped as ``g``, and the parts of it that
    are what computing them from their own rows gives."""

    def __init__(self, table: pd.DataFrame, rows: pd.DataFrame, g: SeriesGroupBy):
        self.table = table
        self.ids = g.ngroup().to_numpy()
        self.missing = rows["value"].isna().to_numpy()
        self.compensated = _compensated(self.ids, self.missing)
        self.at = rows.groupby(["metric", "group"], observed=True, sort=False).indices  # (metric, group) -> row positions

    def part(self, metrics: Sequence[str] | None, groups: Sequence[str] | None) -> pd.DataFrame | None:
        """The summary's rows of ``metrics`` and ``groups`` (every one when None); None when computing them from their own
        rows might average differently (each group's values, quantiles and count are its own either way)."""
        ms, gs = (None if names is None else set(names) for names in (metrics, groups))
        wanted = [p for (m, g), p in self.at.items() if (ms is None or m in ms) and (gs is None or g in gs)]
        rows = np.sort(np.concatenate(wanted)) if wanted else np.zeros(0, dtype=np.intp)
        if not (self.compensated and _compensated(self.ids[rows], self.missing[rows])):
            return None
        return select(self.table, metrics, groups).reset_index(drop=True)


def _covers(kept: frozenset | None, wanted: Sequence[str] | None) -> bool:
    """Whether a selection of ``kept`` (every one when None) holds all of ``wanted`` (every one when None)."""
    return kept is None or (wanted is not None and kept.issuperset(wanted))


def _key(names: Sequence[str] | None) -> frozenset | None:
    """A selection's key in ``Shared.band_tables``."""
    return None if names is None else frozenset(names)


class Shared:
    """The summaries over replicates of one results table, each computed once for the charts and the table drawn from it
    (``sharing``): a request is cut from a larger summary computed before when the cut is what computing it gives."""

    def __init__(self, results: pd.DataFrame):
        self.results = results
        self.band_tables: dict[tuple[frozenset | None, frozenset | None], _Computed] = {}

    def bands(self, metrics: Sequence[str] | None = None, groups: Sequence[str] | None = ("all",)) -> pd.DataFrame:
        """``bands(results, metrics, groups)``: cut from a band table computed before, else computed (and kept)."""
        for (ms, gs), done in self.band_tables.items():
            part = done.part(metrics, groups) if _covers(ms, metrics) and _covers(gs, groups) else None
            if part is not None:
                return part
        rows = select(self.results, metrics, groups)
        g = rows.groupby(LINE_KEYS, observed=True)["value"]
        done = self.band_tables[_key(metrics), _key(groups)] = _Computed(_band_table(g), rows, g)
        return done.table.copy()

    @functools.cached_property
    def end(self) -> _Computed:
        """The summary of every metric and group in the table's last week."""
        rows, w = _week_rows(self.results, None, None)
        g = rows.groupby(CELL_KEYS, observed=True)["value"]
        return _Computed(_summary_table(g, w), rows, g)

    def summary(self, metrics: Sequence[str] | None = None, *, week: int | None = None,
                groups: Sequence[str] | None = ("all",)) -> pd.DataFrame:
        """``summarise(select(results, metrics), week=week, groups=groups)``: in the last week (``week`` None) cut from
        ``end`` when it holds some of it (the selection's last week is then the table's), else computed."""
        part = self.end.part(metrics, groups) if week is None else None
        if part is not None and len(part):
            return part
        return summarise(select(self.results, metrics), week=week, groups=groups)


_SHARED: ContextVar[Shared | None] = ContextVar("shared_summaries", default=None)


def _shared(results: pd.DataFrame) -> Shared | None:
    """The ``Shared`` of ``results`` inside ``sharing(results)``, else None."""
    current = _SHARED.get()
    return current if current is not None and current.results is results else None


@contextmanager
def sharing(results: pd.DataFrame) -> Iterator[Shared]:
    """Inside the block, ``shared_bands`` and ``shared_summary`` of ``results`` answer from one ``Shared`` (``results`` must
    not change meanwhile); a block inside one for the same table adds nothing."""
    current = _shared(results)
    if current is not None:
        yield current
        return
    token = _SHARED.set(Shared(results))
    try:
        yield _SHARED.get()
    finally:
        _SHARED.reset(token)


def shared_bands(results: pd.DataFrame, metrics: Sequence[str] | None = None, groups: Sequence[str] = ("all",)) -> pd.DataFrame:
    """``bands(results, metrics, groups)``, from the shared summaries inside ``sharing(results)``."""
    shared = _shared(results)
    return shared.bands(metrics, groups) if shared is not None else bands(results, metrics, groups)


def shared_summary(results: pd.DataFrame, metrics: Sequence[str] | None = None, *, week: int | None = None,
                   groups: Sequence[str] = ("all",)) -> pd.DataFrame:
    """``summarise(select(results, metrics), week=week, groups=groups)``, from the shared summaries inside ``sharing(results)``."""
    shared = _shared(results)
    if shared is not None:
        return shared.summary(metrics, week=week, groups=groups)
    return summarise(select(results, metrics), week=week, groups=groups)
