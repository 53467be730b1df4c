"""Shared fixtures and helpers for the core-simulation tests.

Helpers that compare scenarios work on the tidy results table
(``scenario, replicate, week, metric, group, value``). Compared runs share
their seeds, so differences are paired per replicate; statistical checks use
the standard error of those paired differences.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim
from sim.model.metrics import METRICS

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
#: The console script installed beside the interpreter running the tests.
MANDATE_SIM = str(Path(sys.executable).with_name("mandate-sim"))

#: ``make fuzz`` sets MANDATE_SIM_FUZZ=1: property tests then draw FUZZ_FACTOR times more examples, fresh every run.
FUZZ = os.environ.get("MANDATE_SIM_FUZZ") == "1"
FUZZ_FACTOR = int(os.environ.get("MANDATE_SIM_FUZZ_FACTOR", "25"))


#: The test files that take longest, longest first (their summed durations with ``--durations=0``, 3 December 2026). The
#: suite runs them first and the many short files after, so the two workers of ``make test`` (``--dist loadfile
#: --no-loadscope-reorder``) finish together instead of one running a long file alone at the end. Only the order changes.
LONGEST_FIRST = (
    "test_app_server.py", "test_app_browser.py", "test_browser_classroom.py", "test_browser_compare.py", "test_sweep_cluster.py",
    "test_app_stopping.py", "test_studies.py", "test_sweep.py", "test_browser_lab.py", "test_browser_sweeps.py", "test_input_safety.py",
    "test_limits.py", "test_bad_inputs.py", "test_defaults_show.py", "test_web_gate.py",
)


#: A few tiny runs of every built-in scenario (serial kernels) and one of 600 engineers (the multi-threaded ones).
WARM_KERNELS = """
from sim.model.org import EngineeringOrg
from sim.model.scenarios import builtin_scenarios, load_scenario
for name in builtin_scenarios():
    EngineeringOrg(load_scenario(name, engineers=10, weeks=2), seed=0).run()
EngineeringOrg(load_scenario("mandate_single_tool", engineers=600, weeks=2), seed=0).run()
"""


def pytest_configure(config):
    """Under pytest-xdist, the controller fills numba's on-disk cache for this checkout before any worker starts.

    Numba keys its cache by the sources' folder, so a fresh clone (CI) starts cold. Without this, the first test
    files (the app's, which start several processes each) compiled the same kernels in every process at once, which
    cost minutes on two cores. Compiles once (about a minute here when cold), a few seconds when warm."""
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    subprocess.run([PYTHON, "-c", WARM_KERNELS], cwd=REPO, timeout=900, capture_output=True, check=False)


def pytest_collection_modifyitems(config, items):
    """Run the longest files first (a stable sort: the tests of a file, and the other files, keep their order)."""
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


def fuzz_settings(examples: int):
    """Hypothesis settings of a property test: ``examples`` examples, derandomized, in the suite; under ``make fuzz``,
    FUZZ_FACTOR times as many, drawn afresh each run (a failure prints the example and how to reproduce it)."""
    from hypothesis import HealthCheck, settings

    return settings(deadline=None, max_examples=examples * FUZZ_FACTOR if FUZZ else examples, derandomize=not FUZZ,
                    suppress_health_check=[HealthCheck.too_slow], print_blob=True)


#: Metrics whose values are shares or indices and must lie in [0, 1].
BOUNDED_METRICS = tuple(name for name, m in METRICS.items() if m.kind in ("share", "index"))

#: z-score for one-sided statistical checks: 3 standard errors (a false alarm about once in 700 runs for a normal statistic).
Z = 3.0


def series(df: pd.DataFrame, metric: str, group: str = "all", scenario: str | None = None) -> pd.DataFrame:
    """One metric as a [replicate x week] table (values as recorded)."""
    d = df[(df["metric"] == metric) & (df["group"] == group)]
    if scenario is not None:
        d = d[d["scenario"] == scenario]
    if d.empty:
        raise KeyError(f"no rows for metric={metric!r}, group={group!r}, scenario={scenario!r}")
    return d.pivot(index="replicate", columns="week", values="value").sort_index()


def per_replicate(df: pd.DataFrame, metric: str, group: str = "all", scenario: str | None = None, weeks=None) -> np.ndarray:
    """A metric averaged over ``weeks`` (all weeks when None), one value per replicate."""
    s = series(df, metric, group, scenario)
    if weeks is not None:
        s = s[[w for w in weeks]]
    return s.mean(axis=1).to_numpy()


def end_values(df: pd.DataFrame, metric: str, group: str = "all", scenario: str | None = None) -> np.ndarray:
    """A metric at the last recorded week, one value per replicate."""
    s = series(df, metric, group, scenario)
    return s[s.columns.max()].to_numpy()


@dataclass(frozen=True)
class Paired:
    """Paired differences (after - before) per replicate, with their mean and standard error."""

    diffs: np.ndarray

    @property
    def mean(self) -> float:
        return float(self.diffs.mean())

    @property
    def se(self) -> float:
        n = self.diffs.size
        return float(self.diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0

    def __repr__(self) -> str:
        return f"Paired(mean={self.mean:+.5f}, se={self.se:.5f}, min={self.diffs.min():+.5f}, max={self.diffs.max():+.5f}, n={self.diffs.size})"


def paired(before: np.ndarray, after: np.ndarray) -> Paired:
    """Paired differences of two per-replicate arrays run with the same seeds."""
    before, after = np.asarray(before, dtype=float), np.asarray(after, dtype=float)
    assert before.shape == after.shape
    return Paired(after - before)


def assert_rises(before: np.ndarray, after: np.ndarray, what: str = "", *, every_replicate: bool = False) -> Paired:
    """``after`` exceeds ``before`` by more than Z paired standard errors (and, if asked, in every replicate)."""
    p = paired(before, after)
    assert p.mean > 0 and p.mean > Z * p.se, f"{what}: expected a significant rise, got {p}"
    if every_replicate:
        assert (p.diffs >= 0).all(), f"{what}: expected no replicate to fall, got {p} diffs={p.diffs}"
    return p


def assert_falls(before: np.ndarray, after: np.ndarray, what: str = "", *, every_replicate: bool = False) -> Paired:
    """``after`` is below ``before`` by more than Z paired standard errors (and, if asked, in every replicate)."""
    p = paired(before, after)
    assert p.mean < 0 and -p.mean > Z * p.se, f"{what}: expected a significant fall, got {p}"
    if every_replicate:
        assert (p.diffs <= 0).all(), f"{what}: expected no replicate to rise, got {p} diffs={p.diffs}"
    return p


def assert_not_below(before: np.ndarray, after: np.ndarray, what: str = "") -> Paired:
    """``after`` is not significantly below ``before`` (paired, Z standard errors)."""
    p = paired(before, after)
    assert p.mean >= -Z * p.se and not (p.se == 0 and p.mean < 0), f"{what}: expected no significant fall, got {p}"
    return p


def check_outputs(df: pd.DataFrame, where: str = "") -> None:
    """No NaN or infinity anywhere, and every share or index metric within [0, 1]."""
    values = df["value"].to_numpy()
    bad = ~np.isfinite(values)
    assert not bad.any(), f"{where}: non-finite values in {df[bad][['scenario', 'week', 'metric', 'group']].drop_duplicates().head(10).to_dict('records')}"
    bounded = df[df["metric"].isin(BOUNDED_METRICS)]
    v = bounded["value"].to_numpy()
    out = (v < 0.0) | (v > 1.0)
    assert not out.any(), f"{where}: shares outside [0, 1]: {bounded[out].head(10).to_dict('records')}"


def run_python(code: str, *, env_extra: dict | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -c code`` in a fresh interpreter from the repository root."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([PYTHON, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the installed ``mandate-sim`` command as a subprocess."""
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    return subprocess.run([MANDATE_SIM, *args], cwd=cwd or REPO, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="session")
def small_runs():
    """Memoised small runs: ``small_runs(scenario, overrides=None, **kw)`` -> tidy table (same arguments, same table)."""
    cache: dict = {}

    def get(scenario: str, overrides: dict | None = None, *, replicates: int = 8, seed: int = 11, engineers: int = 100, weeks: int = 26, org: str | None = None):
        key = (scenario, tuple(sorted((overrides or {}).items(), key=lambda kv: kv[0])).__repr__(), replicates, seed, engineers, weeks, org)
        if key not in cache:
            cache[key] = sim.run(scenario, replicates=replicates, seed=seed, engineers=engineers, weeks=weeks, overrides=overrides, org=org)
        return cache[key]

    return get


@pytest.fixture
def tiny_scenario():
    """A small built-in scenario loader: ``tiny_scenario(name, engineers=40, weeks=12, **kw)``."""

    def make(name: str = "free_choice", *, engineers: int = 40, weeks: int = 12, **kw) -> sim.Scenario:
        return sim.load_scenario(name, engineers=engineers, weeks=weeks, **kw)

    return make
