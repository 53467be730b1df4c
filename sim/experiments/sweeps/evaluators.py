"""Evaluators: what one run of a sweep computes, from a design point and its replicate seeds.

An evaluator is called as ``evaluator(point, seeds)`` and returns an array [replicates, weeks (1 for
``keep: final``), outputs]. ``ModelEvaluator`` runs the model; ``FunctionEvaluator`` calls a plain function, such
as the Ishigami test function (``TEST_FUNCTIONS``) whose known Sobol' indices check the sensitivity analysis.
Both carry a ``token`` that names them in a worker's cache (see ``worker.py``). Also here: the outputs a model
sweep can keep (``output_columns``) and how an output name is read (``parse_output``).
"""

from __future__ import annotations

import collections
import hashlib
import inspect
import json
import math
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from pydantic import ValidationError

from sim.errors import InputError

# ---------------------------------------------------------------------------
# Test functions with known sensitivity indices (a plain-function evaluator)
# ---------------------------------------------------------------------------


def ishigami(x1: float, x2: float, x3: float, a: float = 7.0, b: float = 0.1) -> float:
    """The Ishigami function on [-pi, pi]^3 (unitless): sin x1 + a sin^2 x2 + b x3^4 sin x1; Sobol' indices are known analytically."""
    return math.sin(x1) + a * math.sin(x2) ** 2 + b * x3**4 * math.sin(x1)


def ishigami_indices(a: float = 7.0, b: float = 0.1) -> dict[str, list[float]]:
    """Analytic first-order (S1) and total (ST) Sobol' indices of ``ishigami`` for x1, x2, x3."""
    v1 = 0.5 * (1 + b * math.pi**4 / 5) ** 2
    v2 = a**2 / 8
    v13 = b**2 * math.pi**8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return {"S1": [v1 / v, v2 / v, 0.0], "ST": [(v1 + v13) / v, v2 / v, v13 / v]}


#: Plain functions a spec may name with ``function:`` (a fixed list: a spec never imports code).
TEST_FUNCTIONS: dict[str, Callable[..., Any]] = {"ishigami": ishigami}


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------


def parse_output(name: str) -> tuple[str, str]:
    """'metric' or 'metric/group' as (metric, group)."""
    metric, _, group = name.partition("/")
    return metric.strip(), (group.strip() or "all")


def output_columns(task_names: Sequence[str]) -> list[tuple[str, str]]:
    """Every (metric, group) a model sweep can keep: the recorded series and the counterfactual-derived ones."""
    from sim.model.metrics import series_list
    from ..runner import _Layout

    layout = _Layout(series_list(tuple(task_names)))
    return layout.series + [("true_gain", g) for g in layout.throughput_groups] + [("measurement_gap", "all")]


# ---------------------------------------------------------------------------
# Evaluators: one run = one design point x its replicate seeds -> [replicates, weeks, outputs]
# ---------------------------------------------------------------------------


class ModelEvaluator:
    """Runs the model at one design point for each replicate seed and keeps the requested outputs.

    The paired no-AI counterfactual (for ``true_gain`` and ``measurement_gap``) is cached per process: it depends
    only on the organisation, behaviour, weeks and policy start week and on the seed, so with common seeds and
    policy-only parameters each worker computes it once per replicate.
    """

    CF_CACHE = 256
    #: The counterfactual cache also holds at most this many bytes (long horizons and many task types make each entry larger).
    CF_CACHE_BYTES = 64 * 1024 * 1024

    def __init__(self, base: dict, outputs: list[str], keep: str, max_model_bytes: int | None = None):
        self.base = base
        self.outputs = list(outputs)
        self.keep = keep
        #: The memory limit of one model run, as the planner checked it: applied wherever this evaluator runs (a Dask worker
        #: on another machine included), so every run is held to the limit the sweep was admitted under.
        self.max_model_bytes = max_model_bytes
        self.token = hashlib.sha256(json.dumps([base, self.outputs, keep, max_model_bytes], sort_keys=True).encode()).hexdigest()[:16]
        self._state: dict | None = None

    def __getstate__(self) -> dict:
        """Pickled without the per-process state (the scenario, layout and counterfactual cache are rebuilt where it runs)."""
        d = self.__dict__.copy()
        d["_state"] = None
        return d

    def _setup(self) -> dict:
        """Build the per-process state: the base scenario, the output layout and the counterfactual cache."""
        from sim.model.metrics import COUNTERFACTUAL_METRICS, series_list
        from sim.model.params import Scenario
        from ..runner import _Layout

        scenario = Scenario.model_validate(self.base)
        layout = _Layout(series_list(tuple(scenario.organisation.task_names)))
        columns = output_columns(scenario.organisation.task_names)
        wanted = [columns.index(parse_output(o)) for o in self.outputs]
        need_cf = any(parse_output(o)[0] in COUNTERFACTUAL_METRICS for o in self.outputs)
        self._state = {"scenario": scenario, "dump": scenario.model_dump(), "layout": layout, "cols": np.array(wanted), "need_cf": need_cf,
                       "cf": collections.OrderedDict()}
        return self._state

    def scenario_at(self, point: Mapping[str, Any]) -> Any:
        """The scenario of one design point: the base with the point's values, validated by the declarations.

        Equal to ``load_scenario(base, overrides=point)`` (the paths were checked when the spec was read), about
        20x faster; a value the declarations refuse goes through ``load_scenario`` for its standard clear InputError.
        """
        from sim.model.params import Scenario
        from sim.model.scenarios import load_scenario

        st = self._state or self._setup()
        if not point:
            return st["scenario"]
        data = dict(st["dump"])
        for path, value in point.items():
            node = data
            parts = path.split(".")
            for part in parts[:-1]:
                node[part] = dict(node[part])  # copy the spine only: the base stays untouched
                node = node[part]
            node[parts[-1]] = value
        try:
            return Scenario.model_validate(data)
        except ValidationError:
            return load_scenario(st["scenario"], overrides=dict(point))

    def _counterfactual(self, scenario: Any, seed: int) -> np.ndarray:
        """The no-AI counterfactual's series for ``scenario`` and ``seed``, from this process's cache when it holds them."""
        from ..runner import simulate

        st = self._state
        cf = scenario.counterfactual()
        key = (cf.model_dump_json(), seed)
        cache = st["cf"]
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        values = simulate(cf, seed)
        cache[key] = values
        while len(cache) > 1 and (len(cache) > self.CF_CACHE or sum(v.nbytes for v in cache.values()) > self.CF_CACHE_BYTES):
            cache.popitem(last=False)
        return values

    def __call__(self, point: Mapping[str, Any], seeds: Sequence[int]) -> np.ndarray:
        """[replicates, weeks (1 for keep: final), outputs] for one design point."""
        if self.max_model_bytes is None:
            return self._evaluate(point, seeds)
        from sim.model.limits import limited

        with limited(model=self.max_model_bytes, environ=False):
            return self._evaluate(point, seeds)

    def _evaluate(self, point: Mapping[str, Any], seeds: Sequence[int]) -> np.ndarray:
        from ..runner import _derive, simulate

        st = self._state or self._setup()
        scenario = self.scenario_at(point)
        out = []
        for seed in seeds:
            seed = int(seed)
            values = simulate(scenario, seed)
            if st["need_cf"]:
                cf_values = values if scenario.policy == scenario.counterfactual().policy else self._counterfactual(scenario, seed)
                values, _ = _derive(values, cf_values, st["layout"])
            kept = values[:, st["cols"]]
            out.append(kept if self.keep == "series" else kept[-1:])
        return np.stack(out)


class FunctionEvaluator:
    """Evaluates a plain function at one design point: ``fn(**parameters)`` (plus ``seed=`` if it takes one)."""

    def __init__(self, fn: Callable[..., Any], outputs: list[str], name: str):
        self.fn = fn
        self.outputs = list(outputs)
        self.name = name
        self.takes_seed = "seed" in inspect.signature(fn).parameters
        self.token = hashlib.sha256(json.dumps([name, self.outputs]).encode()).hexdigest()[:16]

    def _one(self, point: Mapping[str, Any], seed: int) -> list[float]:
        """The outputs of one call, in the spec's order."""
        kwargs = dict(point)
        if self.takes_seed:
            kwargs["seed"] = int(seed)
        y = self.fn(**kwargs)
        if isinstance(y, Mapping):
            missing = [o for o in self.outputs if o not in y]
            if missing:
                raise InputError(f"returned no value for {missing}", source=f"function {self.name}", field="outputs", allowed=", ".join(map(str, y)))
            return [float(y[o]) for o in self.outputs]
        if len(self.outputs) != 1:
            raise InputError("returns one number, so the spec may name only one output", source=f"function {self.name}", field="outputs", value=self.outputs)
        return [float(y)]

    def check(self, point: Mapping[str, Any]) -> None:
        """Call once at a point; missing outputs or a wrong signature become InputErrors."""
        try:
            self._one(point, 0)
        except TypeError as e:
            raise InputError(f"cannot be called with the swept parameters: {e}", source=f"function {self.name}", field="parameters") from None

    def __call__(self, point: Mapping[str, Any], seeds: Sequence[int]) -> np.ndarray:
        """[replicates, 1, outputs] for one design point."""
        return np.array([[self._one(point, s)] for s in seeds], dtype=float)
