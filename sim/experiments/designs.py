"""Experiment designs for sweeps: full grids, Latin hypercubes, Sobol'/Saltelli and Morris samples.

A design turns the swept parameters (``Axis``) into a design matrix: one row per
design point ("run"), one column per parameter, in the parameters' order. The
matrix depends only on the axes, the sample size and the sweep seed, never on
how the runs are later executed. Latin hypercubes come from scipy
(``scipy.stats.qmc.LatinHypercube``); Sobol' and Morris samples come from SALib
so that its analysers (sim/analysis/sensitivity.py) read them back unchanged.
"""

from __future__ import annotations

import itertools
import math
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

#: Largest number of design points a sweep may ask for.
MAX_POINTS = 5_000_000


@dataclass(frozen=True)
class Axis:
    """One swept parameter: a range [low, high] or an explicit list of values; ``integer`` values are rounded when applied."""

    path: str
    low: float | None = None
    high: float | None = None
    values: tuple[float, ...] | None = None
    integer: bool = False

    @property
    def is_range(self) -> bool:
        return self.values is None

    def describe(self) -> list[float]:
        """The manifest's view: [low, high] for a range, else the list of values."""
        return [self.low, self.high] if self.is_range else list(self.values)

    def grid_values(self, samples: int) -> np.ndarray:
        """The values a grid visits on this axis (``samples`` evenly spaced points for a range)."""
        if not self.is_range:
            return np.asarray(self.values, dtype=float)
        v = np.linspace(self.low, self.high, int(samples))
        if self.integer:
            v = np.unique(np.rint(v))
        return v


def problem(axes: Sequence[Axis]) -> dict:
    """The SALib problem dict of ranged axes (names are the parameter paths)."""
    return {"num_vars": len(axes), "names": [a.path for a in axes], "bounds": [[float(a.low), float(a.high)] for a in axes]}


def n_points(design: str, axes: Sequence[Axis], samples: int | None, *, second_order: bool = False) -> int:
    """Number of design points the design will produce (checked before anything is built)."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}")
    return DESIGNS[design].n_points(axes, samples, second_order)


def build(design: str, axes: Sequence[Axis], samples: int | None, seed: int, *, levels: int = 4, second_order: bool = False) -> np.ndarray:
    """The [points, parameters] design matrix (raw: integer axes are rounded only when applied)."""
    if design not in DESIGNS:
        raise ValueError(f"unknown design {design!r}")
    return DESIGNS[design].build(axes, samples, seed, levels, second_order)


def grid(axes: Sequence[Axis], samples: int | None) -> np.ndarray:
    """Full factorial: every combination, the last parameter varying fastest."""
    columns = [a.grid_values(samples or 2) for a in axes]
    return np.array(list(itertools.product(*columns)), dtype=float).reshape(-1, len(axes))


def lhs(axes: Sequence[Axis], samples: int, seed: int) -> np.ndarray:
    """A Latin hypercube of ``samples`` points scaled to the ranges: each range cut in ``samples`` equal strata, one point in each.

    scipy's ``LatinHypercube``: strata paired at random and each point placed at random in its stratum, seeded from the sweep seed.
    """
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(axes), rng=np.random.default_rng(int(seed))).random(int(samples))
    return qmc.scale(unit, [float(a.low) for a in axes], [float(a.high) for a in axes])


def sobol(axes: Sequence[Axis], samples: int, seed: int, *, second_order: bool = False) -> np.ndarray:
    """Saltelli's sample for Sobol' indices: ``samples`` x (D + 2) points, or x (2D + 2) with second-order indices."""
    from SALib.sample import sobol as salib_sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SALib warns about sample sizes we already checked
        return salib_sobol.sample(problem(axes), samples, calc_second_order=second_order, scramble=True, seed=int(seed))


def morris(axes: Sequence[Axis], samples: int, seed: int, *, levels: int = 4) -> np.ndarray:
    """Morris trajectories: ``samples`` trajectories of D + 1 points on a ``levels``-level grid."""
    from SALib.sample import morris as salib_morris

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return salib_morris.sample(problem(axes), samples, num_levels=levels, seed=int(seed))


@dataclass(frozen=True)
class Design:
    """One kind of design: how many points it makes, and how it builds them (docs/SWEEPS.md says what each is for)."""

    n_points: Callable[[Sequence[Axis], int | None, bool], int]  # (axes, samples, second order)
    build: Callable[[Sequence[Axis], int | None, int, int, bool], np.ndarray]  # (axes, samples, seed, levels, second order)


#: Every design a sweep spec may name (``design:``). To add one, write its function above and add it here.
DESIGNS: dict[str, Design] = {
    "grid": Design(
        lambda axes, samples, so: math.prod(len(a.grid_values(samples or 2)) for a in axes),
        lambda axes, samples, seed, levels, so: grid(axes, samples),
    ),
    "lhs": Design(
        lambda axes, samples, so: int(samples),
        lambda axes, samples, seed, levels, so: lhs(axes, int(samples), seed),
    ),
    "sobol": Design(
        lambda axes, samples, so: int(samples) * (2 * len(axes) + 2 if so else len(axes) + 2),
        lambda axes, samples, seed, levels, so: sobol(axes, int(samples), seed, second_order=so),
    ),
    "morris": Design(
        lambda axes, samples, so: int(samples) * (len(axes) + 1),
        lambda axes, samples, seed, levels, so: morris(axes, int(samples), seed, levels=levels),
    ),
}

def applied(design: np.ndarray, axes: Sequence[Axis]) -> list[np.ndarray]:
    """The values the runs use, per axis: integer axes rounded to whole numbers."""
    out = []
    for j, a in enumerate(axes):
        col = design[:, j]
        out.append(np.rint(col).astype(np.int64) if a.integer else col.astype(float))
    return out


def is_power_of_two(n: int) -> bool:
    """True for 1, 2, 4, 8, ..."""
    return n >= 1 and (n & (n - 1)) == 0
