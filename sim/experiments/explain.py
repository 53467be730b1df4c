"""Why one policy did better than another: the difference in an outcome, attributed to the model's named channels.

For a pair of policies A and B, let ``g(S) = f(B, S) - f(A, S)`` be the difference in the chosen outcome when the
channels in ``S`` are active and every other channel is held at its no-policy value (sim/model/channels.py).
``g(all)`` is the plain difference B - A; ``g(none)`` is what is left when every channel is held, the *remainder*
the channels do not cover. Each channel's contribution is its Shapley value over ``g``: its marginal effect
averaged over every order in which channels can be switched on, so the order does not matter and, whatever the
interactions, ``sum(contributions) + remainder = total`` (docs/MODEL.md, section 8).

* Exact Shapley values when the runs it needs are few (every coalition of the channels either policy uses);
  otherwise sampled permutations, a different one per replicate, each odd one the reverse of the one before
  (antithetic: what one order gives a channel early, the other gives it late). Their sampling error is part of the
  spread over replicates, hence of the stated standard error and interval (treating the antithetic pairs as
  independent only widens the interval: their errors are negatively correlated).
* Every replicate runs A, B and every coalition on the same seed (common random numbers: each named decision has
  its own random stream), so a contribution is a paired difference; the intervals are 90% Student-t intervals of
  the mean over replicates.
* A run of policy P with channels ``H`` held is the run with only ``H & used_by(P)`` held (holding a channel P
  never uses changes nothing, bit for bit), so coalitions collapse and runs are shared between pairs; the no-AI
  counterfactual of ``true_gain`` is run once per replicate.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from sim.errors import InputError
from sim.model.channels import CHANNELS, used_by
from sim.model.metrics import METRICS, series_list
from sim.model.params import Scenario

from .runner import _as_scenario, _derive, _Layout, replicate_seeds

ProgressFn = Callable[[int, int], None]

#: Confidence of the intervals.
LEVEL = 0.90
#: Exact Shapley values when the pair needs at most this many runs per replicate (or no more than sampling would).
EXACT_RUNS = 32
#: Sampled permutations per replicate (consecutive ones, within a replicate or across two, are a permutation and its reverse).
PERMUTATIONS = 1
#: Rough seconds per engineer-week of one run, to decide whether a process pool pays for its start.
SECONDS_PER_ENGINEER_WEEK = 4e-6
#: Below this many estimated seconds of runs, everything runs in this process.
POOL_MIN_SECONDS = 6.0

#: The rows that are not channels: what no channel covers, and the whole difference.
REMAINDER, TOTAL = "remainder", "total"
LABELS = {REMAINDER: "not covered by the channels (remainder)", TOTAL: "total difference"}
COLUMNS = ["a", "b", "metric", "week", "channel", "label", "contribution", "low", "high", "se", "used",
           "outcome_a", "outcome_a_low", "outcome_a_high", "outcome_b", "outcome_b_low", "outcome_b_high", "method", "replicates", "runs"]


@dataclass(frozen=True)
class Run:
    """One simulation: a policy with some of its channels held, on one replicate's seed (None: the no-AI counterfactual)."""

    policy: str | None
    held: frozenset[str]
    replicate: int


def simulate_week(scenario: Scenario, seed: int, held: frozenset[str], week: int) -> np.ndarray:
    """The recorded outputs of week ``week`` of one run with ``held`` channels held (the run stops there)."""
    from sim.model.org import EngineeringOrg  # here: the app's web server plans an explanation without the model

    model = EngineeringOrg(scenario, seed=seed, held=held)
    for _ in range(week):
        model.step()
    return model.recorder.values[week - 1].copy()


def _run_group(specs: dict[str | None, Scenario], seeds: list[int], week: int, runs: list[Run]) -> list[np.ndarray]:
    """A group of runs (in a worker process or here)."""
    return [simulate_week(specs[r.policy], seeds[r.replicate], r.held, week) for r in runs]


def _permutation(seed: int, j: int) -> tuple[str, ...]:
    """The ``j``-th sampled order of the channels: each even one drawn at random, each odd one the reverse of the one before (antithetic)."""
    if j % 2:
        return tuple(reversed(_permutation(seed, j - 1)))
    rng = np.random.default_rng([int(seed), int(j), 0x5A4B])
    names = list(CHANNELS)
    return tuple(names[i] for i in rng.permutation(len(names)))


def _permutations(seed: int, replicate: int, count: int) -> list[tuple[str, ...]]:
    """The ``count`` orders sampled for one replicate (orders ``replicate * count`` onwards of the sequence)."""
    return [_permutation(seed, replicate * count + k) for k in range(count)]


def _weights(n: int) -> list[float]:
    """Shapley weight of a coalition of size s not containing the channel: s! (n-s-1)! / n!."""
    return [math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n) for s in range(n)]


class _Pair:
    """One comparison: the channels either policy uses, the method, and the coalitions (sets of active channels) it needs."""

    def __init__(self, a: str, b: str, used: dict[str, frozenset[str]], metric: str, replicates: int, seed: int, permutations: int,
                 exact_runs: int):
        self.a, self.b = a, b
        # The channels either policy uses and that can reach the metric (any other contributes exactly nothing).
        reach = frozenset(c for c, ch in CHANNELS.items() if ch.reaches(metric))
        used = {p: u & reach for p, u in used.items()}
        self.channels = tuple(c for c in CHANNELS if c in used[a] | used[b])
        self.used = used
        n = len(self.channels)
        exact_cost = 2 ** len(used[a]) + 2 ** len(used[b])
        sampled_cost = permutations * (len(used[a]) + len(used[b])) + 4
        self.exact = exact_cost <= max(exact_runs, sampled_cost)
        self.permutations = 0 if self.exact else permutations
        if self.exact:
            subsets = [frozenset(s) for k in range(n + 1) for s in itertools.combinations(self.channels, k)]
            self.orders = {r: None for r in range(replicates)}
            self.coalitions = {r: subsets for r in range(replicates)}
        else:
            self.orders = {r: [tuple(c for c in p if c in self.channels) for p in _permutations(seed, r, permutations)] for r in range(replicates)}
            self.coalitions = {r: list({frozenset(p[:j]) for p in self.orders[r] for j in range(n + 1)}) for r in range(replicates)}

    def run(self, policy: str, active: frozenset[str], replicate: int) -> Run:
        return Run(policy, frozenset(set(self.channels) - active) & self.used[policy], replicate)

    def runs(self) -> Iterable[Run]:
        for r, coalitions in self.coalitions.items():
            for s in coalitions:
                yield self.run(self.a, s, r)
                yield self.run(self.b, s, r)

    def contributions(self, value: Callable[[Run], float], replicate: int) -> tuple[np.ndarray, float, float]:
        """Each channel's Shapley value, the remainder and the total difference, in one replicate."""
        g = {s: value(self.run(self.b, s, replicate)) - value(self.run(self.a, s, replicate)) for s in self.coalitions[replicate]}
        n = len(self.channels)
        phi = np.zeros(n)
        if self.exact:
            w = _weights(n) if n else []
            for i, c in enumerate(self.channels):
                phi[i] = sum(w[len(s)] * (g[s | {c}] - g[s]) for s in g if c not in s)
        else:
            orders = self.orders[replicate]
            for order in orders:
                for j, c in enumerate(order):
                    phi[self.channels.index(c)] += g[frozenset(order[: j + 1])] - g[frozenset(order[:j])]
            phi /= len(orders)
        everything = frozenset(self.channels)
        return phi, g[frozenset()], g[everything]


def _interval(x: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, 90% Student-t interval and standard error of the mean over replicates."""
    m = float(np.mean(x))
    if x.size < 2:
        return m, float("nan"), float("nan"), float("nan")
    from scipy import stats  # here: the app's web server plans an explanation without loading scipy.stats

    se = float(np.std(x, ddof=1) / math.sqrt(x.size))
    half = float(stats.t.ppf(0.5 + LEVEL / 2, x.size - 1)) * se
    return m, m - half, m + half, se


def check_metric(metric: str, source: str = "metric") -> None:
    if metric not in METRICS:
        raise InputError("is not a metric", source=source, value=metric, allowed=", ".join(METRICS))


def _pool_workers(workers: int | None, seconds: float) -> int:
    from .sweeps.executors import default_workers

    n = default_workers() if workers is None else max(1, int(workers))
    return n if n > 1 and seconds >= POOL_MIN_SECONDS else 1


def _execute(groups: list[list[Run]], specs, seeds, week, workers: int, progress: ProgressFn | None) -> dict[Run, np.ndarray]:
    """Every group of runs, in a process pool of ``workers`` (1: here); the rows by run. The bits do not depend on ``workers``."""
    total = sum(len(g) for g in groups)
    done = 0
    rows: dict[Run, np.ndarray] = {}
    if progress:
        progress(0, total)
    if workers <= 1:
        for group in groups:
            for run, row in zip(group, _run_group(specs, seeds, week, group)):
                rows[run] = row
            done += len(group)
            if progress:
                progress(done, total)
        return rows
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures import ProcessPoolExecutor as Pool

    from .sweeps import lifeline
    from .sweeps.executors import _mp_context

    # This process works through the groups too while the pool starts (a worker's start costs seconds): workers - 1 helpers.
    pool = Pool(max_workers=workers - 1, mp_context=_mp_context(), initializer=lifeline.worker_init, initargs=(os.getpid(),))
    todo = list(groups)
    pending: dict = {}

    def collect(group: list[Run], result: list[np.ndarray]) -> None:
        nonlocal done
        for run, row in zip(group, result):
            rows[run] = row
        done += len(group)
        if progress:
            progress(done, total)

    try:
        while todo or pending:
            while todo and len(pending) < workers - 1:
                group = todo.pop()
                pending[pool.submit(_run_group, specs, seeds, week, group)] = group
            if todo:
                group = todo.pop(0)
                collect(group, _run_group(specs, seeds, week, group))
            finished, _ = wait(list(pending), timeout=0 if todo else None, return_when=FIRST_COMPLETED)
            for fut in finished:
                collect(pending.pop(fut), fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return rows


@dataclass
class Plan:
    """Every run an explanation needs, counted before any runs (the app's work estimate reads ``n_runs``)."""

    specs: dict[str, Scenario]
    pairs: list[tuple[str, str]]
    plans: list[_Pair]
    used: dict[str, frozenset[str]]
    week: int
    metric: str
    replicates: int
    seed: int
    run_specs: dict[str | None, Scenario]
    groups: list[list[Run]]

    @property
    def n_runs(self) -> int:
        return sum(len(g) for g in self.groups)

    @property
    def engineer_weeks(self) -> int:
        """What the runs simulate, in engineer-weeks."""
        return self.n_runs * next(iter(self.specs.values())).organisation.size * self.week


def plan(
    pairs: Sequence[tuple[Any, Any]],
    *,
    metric: str = "true_gain",
    week: int | None = None,
    replicates: int = 20,
    seed: int = 0,
    org: str | None = None,
    engineers: int | None = None,
    weeks: int | None = None,
    overrides: dict[str, Any] | None = None,
    permutations: int = PERMUTATIONS,
    exact_runs: int = EXACT_RUNS,
) -> Plan:
    """Check the request and lay out its runs: per replicate, every coalition each pair needs, collapsed and shared."""
    check_metric(metric)
    if replicates < 2:
        raise InputError("is too few to give intervals", source="replicates", value=replicates, allowed="a whole number of at least 2")
    if permutations < 1:
        raise InputError("is out of range", source="permutations", value=permutations, allowed="a whole number of at least 1")
    if not pairs:
        raise InputError("names no pair of policies to explain", source="explain")
    specs: dict[str, Scenario] = {}
    keys = []
    for pair in pairs:
        names = []
        for ref in pair:
            spec = _as_scenario(ref, org, overrides, engineers, weeks)
            specs.setdefault(spec.name, spec)
            names.append(spec.name)
        keys.append(tuple(names))
    first = next(iter(specs.values()))
    horizon = first.weeks
    for s in specs.values():
        if s.weeks != horizon or s.organisation != first.organisation or s.behaviour != first.behaviour:
            raise InputError("compares policies in different organisations, behaviours or horizons; an explanation compares policies only",
                             source="explain", value=s.name)
    week = horizon if week is None else int(week)
    if not 1 <= week <= horizon:
        raise InputError("is out of range", source="week", value=week, allowed=f"a whole number from 1 to {horizon} (the horizon)")
    used = {name: used_by(s) for name, s in specs.items()}
    plans = [_Pair(a, b, used, metric, replicates, seed, permutations, exact_runs) for a, b in keys]

    wanted: dict[int, set[Run]] = defaultdict(set)
    for pair_plan in plans:
        for run in pair_plan.runs():
            wanted[run.replicate].add(run)
    derived = METRICS[metric].derived
    run_specs: dict[str | None, Scenario] = dict(specs)
    if derived:
        run_specs[None] = first.counterfactual()
        for r in range(replicates):
            wanted[r].add(Run(None, frozenset(), r))
    groups = [sorted(wanted[r], key=lambda x: (x.policy or "", sorted(x.held))) for r in range(replicates)]
    return Plan(specs, keys, plans, used, week, metric, replicates, seed, run_specs, groups)


def explain_pairs(
    pairs: Sequence[tuple[Any, Any]],
    *,
    metric: str = "true_gain",
    week: int | None = None,
    replicates: int = 20,
    seed: int = 0,
    org: str | None = None,
    engineers: int | None = None,
    weeks: int | None = None,
    overrides: dict[str, Any] | None = None,
    permutations: int = PERMUTATIONS,
    exact_runs: int = EXACT_RUNS,
    workers: int | None = None,
    progress: ProgressFn | None = None,
) -> pd.DataFrame:
    """Explain several differences at once (e.g. A vs B and A vs C), sharing every run they have in common.

    Returns one tidy table (``COLUMNS``): per pair, one row per channel (``used``: whether either policy uses it;
    an unused channel contributes exactly 0), the remainder and the total; every row of a pair also carries both
    outcomes with their intervals, the method, the replicates and the runs of the whole call.
    """
    p = plan(pairs, metric=metric, week=week, replicates=replicates, seed=seed, org=org, engineers=engineers, weeks=weeks,
             overrides=overrides, permutations=permutations, exact_runs=exact_runs)
    specs, keys, plans, used, week, groups, run_specs = p.specs, p.pairs, p.plans, p.used, p.week, p.groups, p.run_specs
    first = next(iter(specs.values()))
    derived = METRICS[metric].derived
    seeds = replicate_seeds(seed, replicates)
    n_runs = p.n_runs
    seconds = n_runs * first.organisation.size * week * SECONDS_PER_ENGINEER_WEEK
    rows = _execute(groups, run_specs, seeds, week, _pool_workers(workers, seconds), progress)

    layout = _Layout(series_list(tuple(first.organisation.task_types)))

    def value(run: Run) -> float:
        row, names = rows[run][None, :], layout.series
        if derived:
            row, names = _derive(row, rows[Run(None, frozenset(), run.replicate)][None, :], layout)
        return float(row[0, names.index((metric, "all"))])

    out = []
    for (a, b), pair_plan in zip(keys, plans):
        per_rep = [pair_plan.contributions(value, r) for r in range(replicates)]
        phi = np.array([p[0] for p in per_rep]).reshape(replicates, len(pair_plan.channels))
        remainder = np.array([p[1] for p in per_rep])
        total = np.array([p[2] for p in per_rep])
        everything = frozenset(pair_plan.channels)
        oa = _interval(np.array([value(pair_plan.run(a, everything, r)) for r in range(replicates)]))
        ob = _interval(np.array([value(pair_plan.run(b, everything, r)) for r in range(replicates)]))
        base = dict(a=a, b=b, metric=metric, week=week)
        pair = dict(outcome_a=oa[0], outcome_a_low=oa[1], outcome_a_high=oa[2], outcome_b=ob[0], outcome_b_low=ob[1], outcome_b_high=ob[2],
                    method="exact" if pair_plan.exact else f"sampled ({pair_plan.permutations * replicates} permutations)", replicates=replicates, runs=n_runs)
        either = used[a] | used[b]
        for name, c in CHANNELS.items():
            if name in pair_plan.channels:
                m, lo, hi, se = _interval(phi[:, pair_plan.channels.index(name)])
                out.append({**base, "channel": name, "label": c.label, "contribution": m, "low": lo, "high": hi, "se": se, "used": True, **pair})
            else:
                out.append({**base, "channel": name, "label": c.label, "contribution": 0.0, "low": 0.0, "high": 0.0, "se": 0.0,
                            "used": name in either, **pair})
        for name, x in ((REMAINDER, remainder), (TOTAL, total)):
            m, lo, hi, se = _interval(x)
            out.append({**base, "channel": name, "label": LABELS[name], "contribution": m, "low": lo, "high": hi, "se": se, "used": True, **pair})
    return pd.DataFrame(out, columns=COLUMNS)


def explain(a: Any, b: Any, **kwargs: Any) -> pd.DataFrame:
    """Why policy ``b`` did better (or worse) than ``a`` in ``metric`` at ``week``: the difference attributed to the named channels.

    Keyword arguments as ``explain_pairs`` (metric, week, replicates, seed, org, engineers, weeks, overrides,
    workers, progress). Returns the tidy table: channel, label, contribution, low, high (90% interval), se, used,
    with the rows ``remainder`` and ``total``; contributions and remainder add up to the total.
    """
    return explain_pairs([(a, b)], **kwargs)
