"""Parameter sweeps: experiment designs run in parallel (a local process pool or Dask), resumable Parquet results.

A sweep spec (YAML or a mapping) names a scenario, a design, the swept parameter
ranges and the outputs to keep. Each design point is one *run* (``run_id`` 0, 1,
...), made of ``replicates`` model runs. A run's model seeds derive from the
sweep seed through ``numpy.random.SeedSequence`` (``seeds: common``, the
default: replicate r of every run uses the seed ``mandate-sim run --seed SEED``
gives replicate r, so runs are paired like compared scenarios; ``seeds:
per_run``: from the sweep seed and the run id), never from a worker, a chunk or
the order, so results are bit-identical whatever executes them.

Runs go to workers in chunks. Workers return only the requested outputs. The
parent writes each finished chunk as a Parquet part (temporary name, fsync,
rename) under ``DIR/parts/`` and keeps ``DIR/manifest.json`` (spec, design
matrix, seeds, package version, finished run ids; also written atomically).
The parts are the record of what is finished: re-running on the same folder
skips every run found in a part, so a sweep killed at any moment resumes to
the result of an uninterrupted one, with no run lost or duplicated.

The model is one *evaluator* (``ModelEvaluator``); a plain function is another
(``FunctionEvaluator``, e.g. the Ishigami test function used to check the
sensitivity analysis), and both go through the same code path.

Python: ``sweep(spec, out)`` runs (the module itself is callable too:
``sim.sweep(spec, out)``), ``load_sweep(out)`` gives the tidy table,
``read_manifest(out)`` the manifest.
"""

from __future__ import annotations

import collections
import copy
import datetime as _dt
import difflib
import hashlib
import inspect
import json
import math
import os
import sys
import time
import traceback
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .. import designs
from ..designs import Axis
from sim.errors import InputError, InputErrors

MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".lock"
#: Version of the folder layout written by this module.
FORMAT = 1
#: Largest number of model runs (design points x replicates) one sweep may ask for.
MAX_MODEL_RUNS = 20_000_000
#: Target wall time of one chunk of runs on a worker (seconds); chunks adapt to it.
CHUNK_SECONDS = 2.0
#: Largest chunk, in runs.
MAX_CHUNK = 2000
#: Seconds to wait for a Dask scheduler to answer before giving up with a clear error.
SCHEDULER_TIMEOUT_S = 15
#: Times a chunk is sent to a Dask cluster before its runs count as failed (the scheduler also reruns it when a worker dies).
DASK_ATTEMPTS = 3
#: The manifest's list of finished runs is rewritten at most this often (seconds); the parts are always current.
MANIFEST_EVERY_S = 1.0

ProgressCallback = Callable[["SweepProgress"], None]


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
# The spec
# ---------------------------------------------------------------------------


class SweepSpec(BaseModel):
    """A sweep spec as written (YAML or a mapping); see docs/SWEEPS.md."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    description: str = ""
    scenario: str | dict[str, Any] | None = None
    function: str | None = None
    org: str | None = None
    design: Literal["grid", "lhs", "sobol", "morris"]
    samples: int | None = Field(None, ge=1, le=designs.MAX_POINTS)
    replicates: int = Field(1, ge=1, le=1000)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    seeds: Literal["common", "per_run"] = "common"
    engineers: int | None = None
    weeks: int | None = None
    levels: int = Field(4, ge=2, le=20)
    second_order: bool = False
    parameters: dict[str, Any] = Field(..., min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    outputs: list[str] = Field(..., min_length=1)
    keep: Literal["final", "series"] = "final"


FIELD_ALLOWED = {
    "name": "text",
    "description": "text",
    "scenario": "a built-in scenario name or a scenario YAML file",
    "function": "one of: " + ", ".join(TEST_FUNCTIONS),
    "org": "a built-in organisation profile name or a YAML file",
    "design": "grid, lhs, sobol or morris",
    "samples": f"a whole number from 1 to {designs.MAX_POINTS:,} (grid: points per range; lhs: points; sobol: base sample, a power of 2; morris: trajectories)",
    "replicates": "a whole number from 1 to 1000",
    "seed": "a whole number from 0 to 2^63-1",
    "seeds": "common (every run uses the same replicate seeds: paired runs) or per_run (seeds from the run id)",
    "engineers": "a whole number (overrides organisation.size)",
    "weeks": "a whole number (the horizon)",
    "levels": "an even whole number from 2 to 20 (morris grid levels)",
    "second_order": "true or false (sobol: also second-order indices, at (2D+2)/(D+2) times the runs)",
    "parameters": "a mapping of parameter path to a range such as [0, 1] (low, high), a list of values (grid) or bounds",
    "fixed": "a mapping of parameter path to value, applied to every run",
    "outputs": "a non-empty list of metric names, optionally metric/group (e.g. true_gain/seniority=senior)",
    "keep": "final (end-of-horizon values) or series (every week)",
}

_TYPE_MESSAGES = {
    "int_parsing": "is not a whole number",
    "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "bool_parsing": "is not true or false",
    "bool_type": "is not true or false",
    "string_type": "is not text",
    "list_type": "is not a list",
    "dict_type": "is not a mapping of keys to values",
    "greater_than_equal": "is below the minimum",
    "less_than_equal": "is above the maximum",
    "too_short": "is empty",
    "literal_error": "is not one of the allowed values",
}


def _spec_errors(e: ValidationError, source: str) -> InputError:
    """One clear InputError (or several at once) from pydantic's errors on a spec."""
    out: list[InputError] = []
    seen: set[str] = set()
    for err in e.errors():
        loc = [str(x) for x in err["loc"]]
        name = loc[0] if loc else ""
        if name in seen:
            continue  # a union reports one error per member: keep the first
        seen.add(name)
        kind = err["type"]
        if kind == "extra_forbidden":
            keys = list(SweepSpec.model_fields)
            hint = difflib.get_close_matches(name, keys, n=1)
            out.append(InputError("unknown key" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field=name, allowed=", ".join(keys)))
        elif kind == "missing":
            out.append(InputError("is required but missing", source=source, field=name, allowed=FIELD_ALLOWED.get(name)))
        else:
            msg = _TYPE_MESSAGES.get(kind, err["msg"])
            out.append(InputError(msg, source=source, field=name, value=err.get("input"), allowed=FIELD_ALLOWED.get(name)))
    return out[0] if len(out) == 1 else InputErrors(out)


def _rewrap(e: InputError, source: str, field: str | None = None, note: str = "", *, where: bool = True) -> InputError:
    """The same problem, named in terms of the sweep spec (``where``: also name the file it came from)."""
    if isinstance(e, InputErrors):
        return InputErrors([_rewrap(x, source, field, note, where=where) for x in e.errors])
    detail = e.detail
    if where and e.source and e.source != source and not e.source.startswith("scenario") and not e.source.startswith("--set"):
        detail = f"{detail} (in {e.source})"
    return InputError(detail + note, source=source, field=field or e.field, value=e.value, allowed=e.allowed)


def read_spec(spec: "Mapping | str | Path") -> tuple[dict, str, Path | None]:
    """The raw spec mapping, the source named in messages, and the folder relative paths start from."""
    from sim.model.scenarios import read_yaml

    if isinstance(spec, Mapping):
        return copy.deepcopy(dict(spec)), "sweep spec", None
    path = Path(spec)
    return read_yaml(path, "sweep spec"), str(path), path.parent


@dataclass
class Plan:
    """A validated sweep: what to run, with which seeds, and how to evaluate one run."""

    spec: dict
    source: str
    axes: list[Axis]
    design: np.ndarray
    evaluator: Any
    outputs: list[str]
    scenario: dict | None
    seed_table: np.ndarray  # [runs, replicates] model seeds

    @property
    def runs(self) -> int:
        return int(self.design.shape[0])

    @property
    def replicates(self) -> int:
        return int(self.seed_table.shape[1])

    def point(self, run_id: int) -> dict[str, Any]:
        """The overrides of one run (integer parameters rounded)."""
        row = self.design[run_id]
        return {a.path: (int(round(float(x))) if a.integer else float(x)) for a, x in zip(self.axes, row)}

    def seeds_manifest(self) -> dict:
        """How the seeds were made, and the seeds themselves, for the manifest."""
        s = {"scheme": self.spec["seeds"], "sweep_seed": self.spec["seed"]}
        if self.spec["seeds"] == "common":
            s["rule"] = "replicate r of every run: sim.runner.replicate_seeds(sweep_seed, replicates)[r] (as `mandate-sim run --seed`)"
            s["by_replicate"] = [int(x) for x in self.seed_table[0]] if self.runs else []
        else:
            s["rule"] = "SeedSequence(sweep_seed, spawn_key=(run_id, replicate)).generate_state(1, uint64)[0] >> 1"
            s["by_run"] = self.seed_table.tolist()
        return s


def seed_table(seed: int, runs: int, replicates: int, scheme: str) -> np.ndarray:
    """The [runs, replicates] model seeds of a sweep, derived from the sweep seed (and the run id for ``per_run``)."""
    from ..runner import replicate_seeds

    if scheme == "common":
        row = np.array(replicate_seeds(seed, replicates), dtype=np.uint64)
        return np.tile(row, (runs, 1))
    out = np.empty((runs, replicates), dtype=np.uint64)
    for i in range(runs):
        for r in range(replicates):
            out[i, r] = np.random.SeedSequence(int(seed), spawn_key=(i, r)).generate_state(1, dtype=np.uint64)[0] >> np.uint64(1)
    return out


def _parse_axis(path: str, raw: Any, row: Any, design: str, source: str) -> Axis:
    """One swept parameter from its spec entry, checked against the declaration ``row`` (None for plain functions)."""
    fld = f"parameters.{path}"
    integer = row is not None and row.kind == "integer"
    lo_decl = None if row is None else row.min
    hi_decl = None if row is None else row.max
    unit = "" if row is None or not row.unit else f" ({row.unit})"
    bounds_text = f"values from {lo_decl:g} to {hi_decl:g}{unit}" if lo_decl is not None and hi_decl is not None else None
    shape_help = "a range such as [0, 1] (low, high), a list of values (grid only) or bounds"
    if isinstance(raw, str) and raw.strip() == "bounds":
        if lo_decl is None or hi_decl is None:
            raise InputError("has no declared bounds; give a range such as [0, 1] (low, high)", source=source, field=fld, value=raw)
        return Axis(path, float(lo_decl), float(hi_decl), integer=integer)
    if not isinstance(raw, list) or not raw:
        raise InputError("must be a range or values", source=source, field=fld, value=raw, allowed=shape_help)
    for x in raw:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            raise InputError("must hold finite numbers only", source=source, field=fld, value=raw, allowed=shape_help)
    vals = [float(x) for x in raw]
    if (lo_decl is not None and min(vals) < lo_decl) or (hi_decl is not None and max(vals) > hi_decl):
        raise InputError("is outside the declared bounds", source=source, field=fld, value=raw, allowed=bounds_text)
    if len(vals) == 2:
        lo, hi = vals
        if not lo < hi:
            raise InputError("is not a range: low must be below high", source=source, field=fld, value=raw, allowed="a range such as [0, 1]: low, then high")
        return Axis(path, lo, hi, integer=integer)
    if design != "grid":
        raise InputError(f"is a list of {len(vals)} values; a {design} design needs a range (low, high)", source=source, field=fld, value=raw,
                         allowed="a range such as [0, 1] (low, high) or bounds; lists of values are for design: grid")
    if integer and any(v != round(v) for v in vals):
        raise InputError("must hold whole numbers (the parameter is a whole number)", source=source, field=fld, value=raw, allowed=bounds_text)
    if len(set(vals)) != len(vals):
        raise InputError("lists a value twice", source=source, field=fld, value=raw)
    return Axis(path, values=tuple(vals), integer=integer)


def _output_columns(task_names: Sequence[str]) -> list[tuple[str, str]]:
    """Every (metric, group) a model sweep can keep: the recorded series and the counterfactual-derived ones."""
    from sim.model.metrics import series_list
    from ..runner import _Layout

    layout = _Layout(series_list(tuple(task_names)))
    return layout.series + [("true_gain", g) for g in layout.throughput_groups] + [("measurement_gap", "all")]


def parse_output(name: str) -> tuple[str, str]:
    """'metric' or 'metric/group' as (metric, group)."""
    metric, _, group = name.partition("/")
    return metric.strip(), (group.strip() or "all")


def _check_outputs(outputs: list[str], available: list[tuple[str, str]], source: str) -> None:
    metrics = list(dict.fromkeys(m for m, _ in available))
    if len(set(outputs)) != len(outputs):
        dup = next(o for o in outputs if outputs.count(o) > 1)
        raise InputError("names an output twice", source=source, field="outputs", value=dup)
    for o in outputs:
        m, g = parse_output(o)
        if m not in metrics:
            hint = difflib.get_close_matches(m, metrics, n=1)
            raise InputError("is not a metric" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field="outputs", value=o,
                             allowed=", ".join(metrics))
        if (m, g) not in available:
            groups = [gg for mm, gg in available if mm == m]
            raise InputError(f"has no group '{g}'", source=source, field="outputs", value=o, allowed=", ".join(f"{m}/{gg}" if gg != "all" else m for gg in groups))


def _resolve_ref(ref: str, base: Path | None) -> str:
    """A scenario or organisation reference: relative file paths are tried against the spec's folder too."""
    p = Path(ref)
    if base is not None and (p.suffix in (".yaml", ".yml") or "/" in ref) and not p.is_absolute() and not p.exists() and (base / p).exists():
        return str(base / p)
    return ref


def _function_name(fn: Any) -> str:
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def load_spec(spec: "Mapping | str | Path", *, org: str | None = None, function: Callable | None = None) -> Plan:
    """Validate a sweep spec (file or mapping) and build its design: every problem is one clear InputError.

    ``org`` overrides the spec's organisation profile (as ``--org``); ``function`` (Python only) sweeps a plain
    top-level function instead of the model: it takes the parameters as keyword arguments and returns a number or a
    mapping of output name to number.
    """
    raw, source, base_dir = read_spec(spec)
    if function is not None:
        raw = {**raw, "function": _function_name(function)}
        raw.pop("scenario", None)
    if org is not None:
        raw["org"] = org
    try:
        s = SweepSpec.model_validate(raw)
    except ValidationError as e:
        raise _spec_errors(e, source) from None

    model = s.function is None
    if model and s.scenario is None:
        raise InputError("is required but missing (or give function: for a test function)", source=source, field="scenario", allowed=FIELD_ALLOWED["scenario"])
    if not model and s.scenario is not None:
        raise InputError("and function: are both given; a sweep runs one of them", source=source, field="scenario", value=s.scenario)
    if not model:
        for k in ("org", "engineers", "weeks"):
            if getattr(s, k) is not None:
                raise InputError("only applies to model sweeps (scenario:), not to a function", source=source, field=k, value=getattr(s, k))
        if s.fixed:
            raise InputError("only applies to model sweeps (scenario:), not to a function", source=source, field="fixed", value=s.fixed)
        if s.keep != "final":
            raise InputError("must be final for a function sweep", source=source, field="keep", value=s.keep)
    if s.design == "morris" and s.levels % 2:
        raise InputError("must be even", source=source, field="levels", value=s.levels, allowed=FIELD_ALLOWED["levels"])

    # The evaluator and what it can vary.
    base_scenario = None
    rows: dict[str, Any] = {}
    if model:
        from sim.model.scenarios import load_scenario, parameter_paths

        ref = s.scenario if isinstance(s.scenario, dict) else _resolve_ref(s.scenario, base_dir)
        org_ref = None if s.org is None else _resolve_ref(s.org, base_dir)
        try:
            base_scenario = load_scenario(ref, org=org_ref, engineers=s.engineers, weeks=s.weeks)
        except InputError as e:
            if e.field == "organisation.size" and s.engineers is not None:
                field = "engineers"
            elif e.field == "weeks" and s.weeks is not None:
                field = "weeks"
            elif (e.source or "").startswith("organisation profile"):
                field = "org"
            else:
                field = e.field or "scenario"
            raise _rewrap(e, source, field, where=field not in ("engineers", "weeks", "scenario", "org")) from None
        rows = {r.path: r for r in parameter_paths(base_scenario)}
        for path in list(s.fixed) + list(s.parameters):
            where = "fixed" if path in s.fixed else "parameters"
            if path not in rows:
                numeric = sorted(p for p, r in rows.items() if r.kind in ("number", "integer"))
                hint = difflib.get_close_matches(path, numeric, n=1)
                raise InputError("is not a parameter path" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field=f"{where}.{path}",
                                 allowed="a numeric path that `mandate-sim params` lists")
        for path in s.parameters:
            if rows[path].kind not in ("number", "integer"):
                raise InputError(f"is not a numeric parameter (it is {rows[path].kind}); a sweep varies numbers", source=source, field=f"parameters.{path}",
                                 allowed="a numeric path that `mandate-sim params` lists")
        clash = set(s.fixed) & set(s.parameters)
        if clash:
            raise InputError("is both fixed and swept", source=source, field=f"fixed.{sorted(clash)[0]}")
        if s.fixed:
            try:
                base_scenario = load_scenario(base_scenario, overrides=dict(s.fixed))
            except InputError as e:
                raise _rewrap(e, source, f"fixed.{e.field}" if e.field else "fixed") from None
        _check_outputs(list(s.outputs), _output_columns(base_scenario.organisation.task_names), source)
        evaluator: Any = ModelEvaluator(base_scenario.model_dump(mode="json"), list(s.outputs), s.keep)
    else:
        fn = function
        if fn is None:
            if s.function not in TEST_FUNCTIONS:
                hint = difflib.get_close_matches(s.function, list(TEST_FUNCTIONS), n=1)
                raise InputError("is not a known test function" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field="function",
                                 value=s.function, allowed=FIELD_ALLOWED["function"])
            fn = TEST_FUNCTIONS[s.function]
        evaluator = FunctionEvaluator(fn, list(s.outputs), s.function)

    axes = [_parse_axis(p, v, rows.get(p) if model else None, s.design, source) for p, v in s.parameters.items()]
    has_range = any(a.is_range for a in axes)
    if s.design != "grid" and s.samples is None:
        raise InputError(f"is required for design: {s.design}", source=source, field="samples", allowed=FIELD_ALLOWED["samples"])
    if s.design == "grid" and has_range and s.samples is not None and s.samples < 2:
        raise InputError("must be at least 2 for a grid over a range", source=source, field="samples", value=s.samples)
    if s.design == "sobol" and not designs.is_power_of_two(s.samples):
        lower = 1 << (s.samples.bit_length() - 1)
        raise InputError(f"must be a power of 2 for design: sobol (Sobol' sequences balance only then); try {lower} or {lower * 2}", source=source,
                         field="samples", value=s.samples, allowed="1, 2, 4, ..., 256, 512, ...")
    if s.design == "morris" and s.samples < 2:
        raise InputError("must be at least 2 trajectories for design: morris", source=source, field="samples", value=s.samples)
    if s.design == "lhs" and s.samples < 2:
        raise InputError("must be at least 2 for design: lhs", source=source, field="samples", value=s.samples)
    n = designs.n_points(s.design, axes, s.samples, second_order=s.second_order)
    if n > designs.MAX_POINTS or n * s.replicates > MAX_MODEL_RUNS:
        raise InputError(f"asks for {n:,} design points x {s.replicates} replicates; the most one sweep may run is {MAX_MODEL_RUNS:,} model runs",
                         source=source, field="samples", value=s.samples)
    design = designs.build(s.design, axes, s.samples, s.seed, levels=s.levels, second_order=s.second_order)

    spec_dict = s.model_dump(mode="json")
    plan = Plan(spec=_jsonable(spec_dict), source=source, axes=axes, design=design, evaluator=evaluator, outputs=list(s.outputs),
                scenario=None if base_scenario is None else _jsonable(base_scenario.model_dump(mode="json")),
                seed_table=seed_table(s.seed, design.shape[0], s.replicates, s.seeds))
    if model:
        _check_corners(plan, base_scenario, source)
    else:
        _check_function(plan, source)
    return plan


def _check_corners(plan: Plan, base: Any, source: str) -> None:
    """Validate the design's extreme points up front, so a combination the model refuses is one clear error now, not failed runs later."""
    from sim.model.scenarios import load_scenario

    if not plan.axes:
        return
    ends = {"low": [], "high": []}
    for a in plan.axes:
        vals = [a.low, a.high] if a.is_range else [min(a.values), max(a.values)]
        ends["low"].append(vals[0])
        ends["high"].append(vals[1])
    for end, vals in ends.items():
        point = {a.path: (int(round(v)) if a.integer else float(v)) for a, v in zip(plan.axes, vals)}
        try:
            load_scenario(base, overrides=point)
        except InputError as e:
            raise _rewrap(e, source, f"parameters.{e.field}" if e.field else "parameters", f" (with every swept parameter at its {end} end)") from None


def _check_function(plan: Plan, source: str) -> None:
    """Call a function evaluator once, so missing outputs are a clear error before the sweep starts."""
    try:
        plan.evaluator.check(plan.point(0))
    except InputError as e:
        raise _rewrap(e, source) from None


def _jsonable(obj: Any) -> Any:
    """The JSON round trip of ``obj`` (what the manifest stores and compares)."""
    return json.loads(json.dumps(obj, sort_keys=False, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


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

    def __init__(self, base: dict, outputs: list[str], keep: str):
        self.base = base
        self.outputs = list(outputs)
        self.keep = keep
        self.token = hashlib.sha256(json.dumps([base, self.outputs, keep], sort_keys=True).encode()).hexdigest()[:16]
        self._state: dict | None = None

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d["_state"] = None
        return d

    def _setup(self) -> dict:
        from sim.model.metrics import COUNTERFACTUAL_METRICS, series_list
        from sim.model.params import Scenario
        from ..runner import _Layout

        scenario = Scenario.model_validate(self.base)
        layout = _Layout(series_list(tuple(scenario.organisation.task_names)))
        columns = _output_columns(scenario.organisation.task_names)
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
        if len(cache) > self.CF_CACHE:
            cache.popitem(last=False)
        return values

    def __call__(self, point: Mapping[str, Any], seeds: Sequence[int]) -> np.ndarray:
        """[replicates, weeks (1 for keep: final), outputs] for one design point."""
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
        return np.array([[self._one(point, s)] for s in seeds], dtype=float)


# ---------------------------------------------------------------------------
# Worker side: one chunk of runs
# ---------------------------------------------------------------------------

_WORKER_EVALUATORS: "collections.OrderedDict[str, Any]" = collections.OrderedDict()


def _evaluator_here(evaluator: Any) -> Any:
    """This process's copy of an evaluator (kept across chunks so its caches live on)."""
    ev = _WORKER_EVALUATORS.get(evaluator.token)
    if ev is None:
        ev = _WORKER_EVALUATORS[evaluator.token] = evaluator
        while len(_WORKER_EVALUATORS) > 4:
            _WORKER_EVALUATORS.popitem(last=False)
    return ev


def run_chunk(evaluator: Any, run_ids: Sequence[int], points: Sequence[Mapping[str, Any]], seeds: Sequence[Sequence[int]]) -> dict:
    """Evaluate a chunk of runs; return only the kept outputs, and a message per failed run."""
    from sim.model.kernels import single_threaded

    t0, c0 = time.perf_counter(), time.process_time()
    ev = _evaluator_here(evaluator)
    ok: list[int] = []
    values: list[np.ndarray] = []
    failed: dict[int, tuple[str, str]] = {}
    with single_threaded():  # the sweep's workers are its parallelism: one thread each
        for rid, point, s in zip(run_ids, points, seeds):
            try:
                values.append(np.asarray(ev(point, s), dtype=float))
                ok.append(int(rid))
            except InputError as e:
                failed[int(rid)] = ("input", str(e))
            except Exception:  # a run that crashes is reported and retried on resume; the rest of the chunk goes on
                failed[int(rid)] = ("error", traceback.format_exc(limit=8))
    return {"run_ids": ok, "values": values, "failed": failed, "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "pid": os.getpid()}


def _worker_info() -> dict:
    """What a Dask worker runs (checked before a sweep is sent to a cluster)."""
    from sim.version import __version__

    return {"version": __version__, "python": sys.version.split()[0], "numpy": np.__version__}


# ---------------------------------------------------------------------------
# The folder: manifest, parts, lock
# ---------------------------------------------------------------------------


def _package_version() -> str:
    from sim.version import __version__

    return __version__


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over ``path``."""
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _manifest_bytes(m: dict) -> bytes:
    """The manifest as JSON, one top-level key per line (the design matrix and run lists stay compact)."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, default=_json_default)}" for k, v in m.items()]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")


def _manifest_path(path: str | Path) -> Path:
    p = Path(path)
    return p / MANIFEST if p.is_dir() or p.suffix != ".json" else p


def _read_manifest_file(folder: Path) -> dict:
    mp = folder / MANIFEST
    try:
        m = json.loads(mp.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("is not a sweep folder (no manifest.json)", source=str(folder), allowed="a folder written by `mandate-sim sweep`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"manifest.json is unreadable ({e})", source=str(folder)) from None
    if not isinstance(m, dict) or "spec" not in m or "design" not in m:
        raise InputError("manifest.json is not a sweep manifest", source=str(folder))
    return m


def _part_files(folder: Path) -> list[Path]:
    return sorted((folder / PARTS).glob("part-*.parquet"))


def _finished_from_parts(folder: Path) -> dict[int, Path]:
    """Run id -> the part holding it, read from the parts themselves (the record of what is finished)."""
    import pyarrow.parquet as pq

    where: dict[int, Path] = {}
    for part in _part_files(folder):
        try:
            ids = np.unique(pq.read_table(part, columns=["run_id"]).column("run_id").to_numpy())
        except Exception as e:
            raise InputError(f"holds an unreadable part {part.name} ({type(e).__name__}: {e}); delete that file and run the sweep again to recompute its runs",
                             source=str(folder)) from None
        for rid in ids.tolist():
            if rid in where:
                raise InputError(f"holds run {rid} twice (in {where[rid].name} and {part.name}); delete one of the two files", source=str(folder))
            where[rid] = part
    return where


def read_manifest(path: str | Path) -> dict:
    """The manifest of a sweep folder (or its manifest.json), with ``finished`` read from the parts on disk.

    Keys: spec, design, parameters, outputs, runs, replicates, finished, failed, package_version, seeds and more.
    """
    folder = _manifest_path(path).parent
    m = _read_manifest_file(folder)
    m["finished"] = sorted(_finished_from_parts(folder))
    done = set(m["finished"])
    m["failed"] = {k: v for k, v in (m.get("failed") or {}).items() if int(k) not in done}
    m["complete"] = len(done) == int(m.get("runs", -1))
    return m


class _Lock:
    """An exclusive lock on a sweep folder (released by the OS if the process dies)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no locking
            return
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = os.pread(self.fd, 64, 0).decode(errors="replace").strip()
            os.close(self.fd)
            self.fd = None
            raise InputError(f"is in use by another sweep process{f' (pid {other})' if other else ''}; wait for it to finish or stop it",
                             source=str(self.path.parent)) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _diff_keys(a: Any, b: Any, prefix: str = "", limit: int = 4) -> list[str]:
    """Dotted paths where two JSON values differ (at most ``limit``)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(dict.fromkeys(list(a) + list(b))):
            if a.get(k, "<absent>") != b.get(k, "<absent>"):
                out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.", limit)
            if len(out) >= limit:
                break
        return out[:limit]
    return [prefix.rstrip(".") or "(whole)"] if a != b else []


def _new_manifest(plan: Plan) -> dict:
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return {
        "format": FORMAT,
        "package_version": _package_version(),
        "created": now,
        "updated": now,
        "spec": plan.spec,
        "design": plan.spec["design"],
        "parameters": {a.path: a.describe() for a in plan.axes},
        "integer_parameters": [a.path for a in plan.axes if a.integer],
        "outputs": plan.outputs,
        "keep": plan.spec["keep"],
        "runs": plan.runs,
        "replicates": plan.replicates,
        "seeds": plan.seeds_manifest(),
        "scenario": plan.scenario,
        "problem": designs.problem(plan.axes) if all(a.is_range for a in plan.axes) else None,
        "design_matrix": plan.design.tolist(),
        "finished": [],
        "failed": {},
        "complete": False,
    }


def _open_folder(out: Path, plan: Plan, resume: bool) -> tuple[dict, dict[int, Path]]:
    """Create or reopen the sweep folder; refuse a different spec; return the manifest and what is finished."""
    source = str(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", source=source, allowed="a new or empty folder, or a sweep folder to resume")
    out.mkdir(parents=True, exist_ok=True)
    (out / PARTS).mkdir(exist_ok=True)
    if not (out / MANIFEST).exists():
        stray = [p.name for p in out.iterdir() if p.name != PARTS and not p.name.startswith(".")]
        if stray or _part_files(out):
            raise InputError(f"is not empty and holds no sweep (found {', '.join(sorted(stray)[:3]) or 'parts without a manifest'})", source=source,
                             allowed="a new or empty folder, or a sweep folder to resume")
        m = _new_manifest(plan)
        _atomic_write_bytes(out / MANIFEST, _manifest_bytes(m))
        return m, {}
    m = _read_manifest_file(out)
    if not resume:
        raise InputError("already holds a sweep; run again without --no-resume to continue it, or choose a new folder", source=source)
    if m.get("spec") != plan.spec:
        diff = _diff_keys(m.get("spec"), plan.spec)
        raise InputError(f"holds a different sweep (its spec differs in: {', '.join(diff)}); use a new --out folder, or delete this one to start again",
                         source=source)
    if m.get("scenario") != plan.scenario:
        diff = _diff_keys(m.get("scenario"), plan.scenario)
        raise InputError(f"was started with a different scenario (it has changed since in: {', '.join(diff)}); use a new --out folder", source=source)
    if m.get("package_version") != _package_version():
        raise InputError(f"was started with mandate-sim {m.get('package_version')}; this is {_package_version()}, and results from two versions "
                         "must not mix; use a new --out folder", source=source)
    stored = np.asarray(m.get("design_matrix"), dtype=float).reshape(-1, len(plan.axes))
    if stored.shape != plan.design.shape:
        raise InputError(f"holds a design of {stored.shape[0]} runs; this spec makes {plan.runs}; use a new --out folder", source=source)
    plan.design = stored  # run ids are defined by the stored design, even if a library now samples differently
    # Leftovers of a process killed mid-write.
    for tmp in list(out.glob(".tmp-*")) + list((out / PARTS).glob(".tmp-*")):
        tmp.unlink(missing_ok=True)
    return m, _finished_from_parts(out)


def _part_name(run_ids: Sequence[int]) -> str:
    h = hashlib.sha256(np.asarray(run_ids, dtype=np.int64).tobytes()).hexdigest()[:10]
    return f"part-{min(run_ids):07d}-{max(run_ids):07d}-{h}.parquet"


def _chunk_table(plan: Plan, applied: list[np.ndarray], result: dict) -> Any:
    """The Parquet part of one chunk: run_id, replicate, parameters..., [week], metric, value."""
    import pyarrow as pa

    series = plan.spec["keep"] == "series"
    cols: dict[str, list[np.ndarray]] = {"run_id": [], "replicate": [], "week": [], "metric": [], "value": []}
    params: dict[str, list[np.ndarray]] = {a.path: [] for a in plan.axes}
    for rid, arr in zip(result["run_ids"], result["values"]):
        R, W, O = arr.shape
        n = R * W * O
        cols["run_id"].append(np.full(n, rid, dtype=np.int64))
        cols["replicate"].append(np.repeat(np.arange(R, dtype=np.int32), W * O))
        cols["week"].append(np.tile(np.repeat(np.arange(1, W + 1, dtype=np.int32), O), R))
        cols["metric"].append(np.tile(np.arange(O, dtype=np.int32), R * W))
        cols["value"].append(arr.reshape(-1))
        for a, col in zip(plan.axes, applied):
            params[a.path].append(np.full(n, col[rid], dtype=col.dtype))
    cat = np.concatenate
    data: dict[str, Any] = {"run_id": cat(cols["run_id"]), "replicate": cat(cols["replicate"])}
    for path, parts in params.items():
        data[path] = cat(parts)
    if series:
        data["week"] = cat(cols["week"])
    codes = cat(cols["metric"])
    data["metric"] = pa.array(np.asarray(plan.outputs, dtype=object)[codes], type=pa.string())
    data["value"] = cat(cols["value"])
    return pa.table(data)


def _write_part(folder: Path, table: Any, run_ids: Sequence[int]) -> Path:
    """Write one part atomically: a temporary name, fsync, rename."""
    import pyarrow.parquet as pq

    final = folder / PARTS / _part_name(run_ids)
    tmp = folder / PARTS / f".tmp-{final.name}-{os.getpid()}"
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    return final


# ---------------------------------------------------------------------------
# Chunks and executors
# ---------------------------------------------------------------------------


class _Feeder:
    """Hands out chunks of unfinished run ids; without a fixed size, chunks grow to about CHUNK_SECONDS of work."""

    def __init__(self, todo: Sequence[int], workers: int, chunk_size: int | None):
        self.todo = collections.deque(todo)
        self.workers = max(1, workers)
        self.fixed = chunk_size
        self.per_run: float | None = None

    def observe(self, runs: int, seconds: float) -> None:
        if runs > 0 and seconds > 0:
            x = seconds / runs
            self.per_run = x if self.per_run is None else 0.7 * self.per_run + 0.3 * x

    def size(self) -> int:
        if self.fixed:
            return self.fixed
        if self.per_run is None:
            return 1
        by_time = int(CHUNK_SECONDS / max(self.per_run, 1e-9))
        balance = math.ceil(len(self.todo) / (4 * self.workers))  # keep several chunks per worker until the end
        return max(1, min(MAX_CHUNK, by_time, balance))

    def next(self) -> list[int] | None:
        if not self.todo:
            return None
        n = min(self.size(), len(self.todo))
        return [self.todo.popleft() for _ in range(n)]


def _task_args(plan: Plan, chunk: Sequence[int]) -> tuple:
    return (plan.evaluator, list(chunk), [plan.point(i) for i in chunk], [plan.seed_table[i].tolist() for i in chunk])


def _failed_chunk(chunk: Sequence[int], message: str) -> dict:
    return {"run_ids": [], "values": [], "failed": {int(i): ("error", message) for i in chunk}, "seconds": 0.0, "cpu_s": 0.0, "pid": None}


def _run_serial(plan: Plan, feeder: _Feeder) -> Iterator[tuple[list[int], dict]]:
    """Every chunk in this process, one after the other."""
    while (chunk := feeder.next()) is not None:
        yield chunk, run_chunk(*_task_args(plan, chunk))


def _mp_context():
    import multiprocessing as mp

    if sys.platform.startswith("linux"):
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.experiments.sweeps", "sim.experiments.runner", "sim.experiments._warm"])  # workers fork with the model imported and its kernels loaded
        return ctx
    return mp.get_context("spawn")


def _run_pool(plan: Plan, feeder: _Feeder, workers: int) -> Iterator[tuple[list[int], dict]]:
    """A local process pool; a pool broken by a dying worker is rebuilt and its chunks sent again (up to 3 times)."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    retry: list[list[int]] = []
    restarts = 0
    ctx = _mp_context()
    while True:
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
        inflight: dict[Any, list[int]] = {}
        broken = False
        clean = False
        try:
            def fill() -> None:
                while len(inflight) < 2 * workers:
                    chunk = retry.pop() if retry else feeder.next()
                    if chunk is None:
                        return
                    inflight[pool.submit(run_chunk, *_task_args(plan, chunk))] = chunk

            fill()
            while inflight:
                done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = inflight.pop(fut)
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken = True
                        retry.append(chunk)
                        continue
                    yield chunk, res
                if broken:
                    retry.extend(inflight.values())
                    inflight.clear()
                    break
                fill()
            clean = not broken
        finally:
            pool.shutdown(wait=clean, cancel_futures=True)
        if not broken:
            return
        restarts += 1
        if restarts > 3:
            for chunk in retry:
                yield chunk, _failed_chunk(chunk, "the local worker process died (pool rebuilt 3 times)")
            retry.clear()
            while (chunk := feeder.next()) is not None:
                yield chunk, _failed_chunk(chunk, "the local worker process died (pool rebuilt 3 times)")
            return


def _dask_client(scheduler: str | None, dask_local: int | None):
    """A Dask client on an existing scheduler, or on a new LocalCluster bound to 127.0.0.1; and the cluster to close (or None)."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        if "://" not in scheduler:
            raise InputError("is not a scheduler address", source="--scheduler", value=scheduler, allowed="tcp://HOST:PORT (as printed by `dask scheduler`)")
        try:
            client = Client(scheduler, timeout=f"{SCHEDULER_TIMEOUT_S}s")
        except Exception as e:
            raise InputError(f"cannot be reached ({type(e).__name__}: {e})", source="--scheduler", value=scheduler,
                             allowed="the address of a running `dask scheduler`, e.g. tcp://10.0.0.5:8786") from None
        return client, None
    cluster = LocalCluster(n_workers=int(dask_local), threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0")
    return Client(cluster), cluster


def _check_cluster(client: Any, wait_s: float = 60.0) -> int:
    """Wait for at least one worker and check every worker runs this mandate-sim version; return the worker count."""
    try:
        client.wait_for_workers(1, timeout=wait_s)
    except Exception:
        raise InputError(f"has no workers after {wait_s:.0f} s; start some with `dask worker SCHEDULER_ADDRESS`", source="--scheduler",
                         value=getattr(client, "scheduler", None) and client.scheduler.address) from None
    try:
        info = client.run(_worker_info)
    except Exception as e:
        raise InputError(f"has workers that cannot run mandate-sim ({type(e).__name__}: {e}); install the same mandate-sim in the workers' environment",
                         source="--scheduler") from None
    mine = _package_version()
    for addr, i in info.items():
        if i["version"] != mine:
            raise InputError(f"has a worker ({addr}) running mandate-sim {i['version']}; this is {mine}: install the same version everywhere",
                             source="--scheduler")
    return len(info)


def _run_dask(plan: Plan, feeder: _Feeder, client: Any) -> Iterator[tuple[list[int], dict]]:
    """Chunks on a Dask cluster; a worker that dies has its chunks rerun elsewhere by the scheduler."""
    from distributed import as_completed

    ac = as_completed()
    inflight: dict[str, list[int]] = {}
    futures: dict[str, Any] = {}
    attempts: dict[int, int] = {}  # first run id of a chunk -> times it was sent
    state = {"workers": max(1, len(client.scheduler_info().get("workers", {}))), "checked": time.monotonic()}

    def fill() -> None:
        if time.monotonic() - state["checked"] > 5:
            state["workers"] = max(1, len(client.scheduler_info().get("workers", {})))
            state["checked"] = time.monotonic()
        while len(inflight) < 2 * state["workers"]:
            chunk = feeder.next()
            if chunk is None:
                return
            send(chunk)

    def send(chunk: list[int]) -> None:
        attempts[chunk[0]] = attempts.get(chunk[0], 0) + 1
        fut = client.submit(run_chunk, *_task_args(plan, chunk), pure=False)
        inflight[fut.key] = chunk
        futures[fut.key] = fut
        ac.add(fut)

    try:
        fill()
        for fut in ac:
            chunk = inflight.pop(fut.key)
            futures.pop(fut.key, None)
            try:
                res = fut.result()
            except Exception as e:  # KilledWorker after repeated worker deaths, results lost with a worker, a broken connection...
                fut.release()
                if attempts[chunk[0]] < DASK_ATTEMPTS:
                    send(chunk)  # runs are deterministic: sending a chunk again cannot change its result
                    continue
                res = _failed_chunk(chunk, f"{type(e).__name__}: {e} (sent {attempts[chunk[0]]} times)")
            else:
                fut.release()
            yield chunk, res
            fill()
    finally:
        if futures:
            try:
                client.cancel(list(futures.values()))
            except Exception:  # the cluster may already be gone
                pass


# ---------------------------------------------------------------------------
# Running a sweep
# ---------------------------------------------------------------------------


@dataclass
class SweepProgress:
    """What a sweep has done so far (passed to the ``progress`` callback after every chunk)."""

    done: int  # runs finished, including those finished before a resume
    failed: int  # runs that failed in this session
    total: int  # runs in the design
    skipped: int  # runs already finished when this session started
    elapsed_s: float
    workers: int
    executor: str
    worker_cpu_s: float = 0.0  # CPU seconds the workers spent on this session's chunks

    @property
    def rate(self) -> float:
        """Runs finished per second in this session."""
        return (self.done - self.skipped) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate (None before the first chunk)."""
        left = self.total - self.done - self.failed
        return left / self.rate if self.rate > 0 else None


class SweepFailed(RuntimeError):
    """Some runs raised errors; the finished ones are saved, and running the sweep again retries the failed ones."""


def _default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover
        return max(1, os.cpu_count() or 1)


def sweep(
    spec: "Mapping | str | Path",
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    dask_local: int | None = None,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    chunk_size: int | None = None,
    org: str | None = None,
    function: Callable[..., Any] | None = None,
) -> Path:
    """Run a sweep into folder ``out`` and return it; run it again on the same folder to resume.

    Executors: ``workers`` local processes (default: all cores; 1 runs in this process), or ``scheduler``
    (an existing Dask scheduler, ``tcp://HOST:PORT``), or ``dask_local`` workers of a new Dask LocalCluster on
    127.0.0.1. ``progress(SweepProgress)`` is called after every chunk. ``chunk_size`` fixes the runs per chunk
    (default: adaptive, about 2 s of work); results never depend on it. ``org`` overrides the spec's organisation;
    ``function`` sweeps a plain function instead of the model (see ``load_spec``).
    """
    if scheduler is not None and dask_local is not None:
        raise InputError("cannot be combined with --dask-local: pick one executor", source="--scheduler", value=scheduler)
    if workers is not None and (scheduler is not None or dask_local is not None):
        raise InputError("is for the local process pool; with Dask the cluster's workers run the sweep", source="--workers", value=workers)
    if workers is not None and not (1 <= int(workers) <= 1024):
        raise InputError("is out of range", source="--workers", value=workers, allowed="a whole number from 1 to 1024")
    if dask_local is not None and not (1 <= int(dask_local) <= 1024):
        raise InputError("is out of range", source="--dask-local", value=dask_local, allowed="a whole number from 1 to 1024")
    if chunk_size is not None and not (1 <= int(chunk_size) <= 1_000_000):
        raise InputError("is out of range", source="--chunk-size", value=chunk_size, allowed="a whole number from 1 to 1,000,000")

    plan = load_spec(spec, org=org, function=function)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", source=str(out), allowed="a new or empty folder, or a sweep folder to resume")
    out.mkdir(parents=True, exist_ok=True)
    lock = _Lock(out)
    lock.acquire()
    try:
        manifest, finished_parts = _open_folder(out, plan, resume)
        return _execute(plan, out, manifest, set(finished_parts), workers=workers, scheduler=scheduler, dask_local=dask_local,
                        progress=progress, chunk_size=chunk_size)
    finally:
        lock.release()


def _execute(plan: Plan, out: Path, manifest: dict, finished: set[int], *, workers, scheduler, dask_local, progress, chunk_size) -> Path:
    todo = [i for i in range(plan.runs) if i not in finished]
    skipped = len(finished)
    failed: dict[int, tuple[str, str]] = {}
    applied = designs.applied(plan.design, plan.axes)
    client = cluster = None
    if todo and (scheduler is not None or dask_local is not None):
        executor = "dask"
        client, cluster = _dask_client(scheduler, dask_local)
    else:
        executor = "local"
    try:
        if executor == "dask":
            n_workers = _check_cluster(client)
        else:
            n_workers = min(_default_workers() if workers is None else int(workers), max(1, len(todo)))
        feeder = _Feeder(todo, n_workers, chunk_size)
        if executor == "dask":
            stream = _run_dask(plan, feeder, client)
        elif n_workers <= 1:
            stream = _run_serial(plan, feeder)
        else:
            stream = _run_pool(plan, feeder, n_workers)

        t0 = time.perf_counter()
        last_manifest = 0.0
        cpu = [0.0]

        def save(final: bool = False) -> None:
            manifest["finished"] = sorted(finished)
            manifest["failed"] = {str(k): v[1] for k, v in sorted(failed.items()) if k not in finished}
            manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            manifest["complete"] = len(finished) == plan.runs
            _atomic_write_bytes(out / MANIFEST, _manifest_bytes(manifest))

        def report() -> None:
            if progress is not None:
                progress(SweepProgress(len(finished), len(failed), plan.runs, skipped, time.perf_counter() - t0, n_workers, executor, cpu[0]))

        report()
        try:
            for chunk, res in stream:
                if res["run_ids"]:
                    _write_part(out, _chunk_table(plan, applied, res), res["run_ids"])
                    finished.update(res["run_ids"])
                failed.update(res["failed"])
                feeder.observe(len(chunk), res["seconds"])
                cpu[0] += res.get("cpu_s", 0.0)
                if time.perf_counter() - last_manifest > MANIFEST_EVERY_S:
                    save()
                    last_manifest = time.perf_counter()
                report()
        finally:
            stream.close()  # stops a pool or cancels queued Dask chunks now, while the client is still open
            save(final=True)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    if failed:
        first_id, (kind, message) = next(iter(sorted(failed.items())))
        n = len(failed)
        if all(k == "input" for k, _ in failed.values()):
            raise InputError(f"{n} of {plan.runs} runs were refused by the model's validation (first, run {first_id}: {message}); "
                             "narrow the ranges so every combination is valid", source=plan.source, field="parameters")
        raise SweepFailed(f"{n} of {plan.runs} runs failed; the {len(finished)} finished runs are saved in {out} and running the sweep again "
                          f"retries the failed ones. First failure (run {first_id}):\n{message}")
    return out


# ---------------------------------------------------------------------------
# Reading results
# ---------------------------------------------------------------------------


def load_sweep(path: str | Path) -> "Any":
    """The tidy results of a sweep folder: run_id, replicate, one column per swept parameter, [week], metric, value.

    Sorted by run_id, replicate, metric (in the spec's output order) and week. Holds the finished runs only
    (``read_manifest(path)["finished"]``); a sweep in progress can be read at any time.
    """
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = _manifest_path(path).parent
    m = _read_manifest_file(folder)
    params = list(m["parameters"])
    series = m.get("keep") == "series"
    columns = ["run_id", "replicate", *params, *(["week"] if series else []), "metric", "value"]
    tables = [pq.read_table(p, columns=columns) for p in _part_files(folder)]
    if tables:
        df = pa.concat_tables(tables).to_pandas()
    else:
        empty = {"run_id": "int64", "replicate": "int32", "week": "int32", "metric": "object", "value": "float64"}
        ints = set(m.get("integer_parameters", []))
        df = pd.DataFrame({c: pd.Series(dtype=empty.get(c, "int64" if c in ints else "float64")) for c in columns})
    df["metric"] = pd.Categorical(df["metric"].astype(str), categories=list(m["outputs"]))
    keys = ["run_id", "replicate", "metric"] + (["week"] if series else [])
    df = df.sort_values(keys, kind="stable").reset_index(drop=True)
    if df.duplicated(keys).any():
        raise InputError("holds some runs twice; delete the duplicated part files and resume", source=str(folder))
    df = df[columns]
    df.attrs["sweep_dir"] = str(folder)
    return df


# ``sim.sweep(...)``: the module is callable, so ``import sim; sim.sweep(spec, out)`` runs a sweep while
# ``sim.sweep.load_sweep`` and friends stay reachable.
class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "FunctionEvaluator", "ModelEvaluator", "Plan", "SweepFailed", "SweepProgress", "SweepSpec", "TEST_FUNCTIONS",
    "ishigami", "ishigami_indices", "load_spec", "load_sweep", "read_manifest", "run_chunk", "seed_table", "sweep",
]
