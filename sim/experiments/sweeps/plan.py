"""The plan of a sweep: a validated spec, its design matrix, its seeds and its evaluator (``load_spec``).

``load_spec`` checks a spec (see spec.py for the schema and its messages) against the parameter declarations and
the scenario, builds the design (sim/experiments/designs.py) and the [runs, replicates] model seeds
(``seed_table``), and returns a ``Plan``. Run ``i`` of a plan is design row ``i`` with seed row ``i``, whatever
executes it.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
from pydantic import ValidationError

from sim.errors import InputError, InputErrors
from sim.model import limits

from .. import designs
from ..designs import Axis
from .evaluators import TEST_FUNCTIONS, FunctionEvaluator, ModelEvaluator, output_columns
from .spec import FIELD_ALLOWED, SweepSpec, check_outputs, parse_axis, read_spec, resolve_ref, rewrap, spec_errors

#: Largest number of model runs (design points x replicates) one sweep may ask for, by default; the environment variable
#: MANDATE_SIM_MAX_SWEEP_RUNS (or ``sweep --max-runs``) sets another.
MAX_MODEL_RUNS = 2_000_000
ENV_MAX_RUNS = "MANDATE_SIM_MAX_SWEEP_RUNS"
OPTION_MAX_RUNS = "--max-runs"
#: Planning announces itself (``status``) when it is about to build more seeds than this, one by one (seeds: per_run, about 10 us each).
ANNOUNCE_SEEDS = 100_000
#: Bytes per row of a sweep's results as ``load_sweep`` builds them (run_id, replicate, week, metric, value: 32 bytes;
#: 8 per parameter), times 3 for the copies held at once while reading, converting and sorting.
SWEEP_ROW_BYTES, SWEEP_ROW_BYTES_PER_PARAMETER, SWEEP_ROW_COPIES = 32, 8, 3


def max_sweep_runs() -> int:
    """The most model runs one sweep may ask for: $MANDATE_SIM_MAX_SWEEP_RUNS, else ``MAX_MODEL_RUNS``."""
    raw = os.environ.get(ENV_MAX_RUNS, "").strip().replace("_", "").replace(",", "")
    if not raw:
        return MAX_MODEL_RUNS
    if not raw.isdigit() or int(raw) < 1:
        raise InputError("is not a whole number of at least 1", source=f"environment variable {ENV_MAX_RUNS}", value=os.environ[ENV_MAX_RUNS])
    return int(raw)


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
        """Design points (run ids 0 to runs - 1)."""
        return int(self.design.shape[0])

    @property
    def replicates(self) -> int:
        """Model runs per design point."""
        return int(self.seed_table.shape[1])

    def point(self, run_id: int) -> dict[str, Any]:
        """The overrides of one run (integer parameters rounded)."""
        row = self.design[run_id]
        return {a.path: (int(round(float(x))) if a.integer else float(x)) for a, x in zip(self.axes, row)}

    def chunk_args(self, run_ids: Sequence[int]) -> tuple:
        """The arguments of ``worker.run_chunk`` for these runs: the evaluator, the run ids, their points and their seeds."""
        return (self.evaluator, list(run_ids), [self.point(i) for i in run_ids], [self.seed_table[i].tolist() for i in run_ids])

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


def _function_name(fn: Any) -> str:
    """``module:qualname`` of a function (how the spec and manifest name a swept function)."""
    return f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', repr(fn))}"


def load_spec(spec: "Mapping | str | Path", *, org: str | None = None, function: Callable | None = None,
              status: Callable[[str], None] | None = None) -> Plan:
    """Validate a sweep spec (file or mapping) and build its design: every problem is one clear InputError.

    ``org`` overrides the spec's organisation profile (as ``--org``); ``function`` (Python only) sweeps a plain
    top-level function instead of the model: it takes the parameters as keyword arguments and returns a number or a
    mapping of output name to number.

    Before anything is built, the sweep's size is checked against the limits (docs/ROBUSTNESS.md): its model runs
    (design points x replicates, ``max_sweep_runs()``), the memory of one model run at the design's corners
    (``sim.model.limits.max_model_bytes()``) and of its results as ``load_sweep`` reads them (``max_table_bytes()``).
    ``status(message)`` is told when planning will take noticeable time (many seeds to build).
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
        raise spec_errors(e, source) from None

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

        ref = s.scenario if isinstance(s.scenario, dict) else resolve_ref(s.scenario, base_dir)
        org_ref = None if s.org is None else resolve_ref(s.org, base_dir)
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
            err = rewrap(e, source, field, where=field not in ("engineers", "weeks", "scenario", "org"))
            if field in ("scenario", "org") and err.value is None and not isinstance(err, InputErrors):
                err = InputError(err.detail, source=source, field=field, value=s.scenario if field == "scenario" else s.org, allowed=err.allowed)
            raise err from None
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
                raise rewrap(e, source, f"fixed.{e.field}" if e.field else "fixed") from None
        check_outputs(list(s.outputs), output_columns(base_scenario.organisation.task_names), source)
        evaluator: Any = ModelEvaluator(base_scenario.model_dump(mode="json"), list(s.outputs), s.keep, max_model_bytes=limits.max_model_bytes())
    else:
        fn = function
        if fn is None:
            if s.function not in TEST_FUNCTIONS:
                hint = difflib.get_close_matches(s.function, list(TEST_FUNCTIONS), n=1)
                raise InputError("is not a known test function" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field="function",
                                 value=s.function, allowed=FIELD_ALLOWED["function"])
            fn = TEST_FUNCTIONS[s.function]
        evaluator = FunctionEvaluator(fn, list(s.outputs), s.function)

    axes = [parse_axis(p, v, rows.get(p) if model else None, s.design, source) for p, v in s.parameters.items()]
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
    most = max_sweep_runs()
    if n > designs.MAX_POINTS or n * s.replicates > most:
        raise InputError(f"asks for {n:,} design points x {s.replicates} replicates = {n * s.replicates:,} model runs; the most one sweep may run "
                         f"is {most:,} model runs: lower samples or replicates (or split the sweep), or raise the limit with {OPTION_MAX_RUNS} or "
                         f"the environment variable {ENV_MAX_RUNS} (e.g. {ENV_MAX_RUNS}={n * s.replicates})",
                         source=source, field="samples", value=s.samples)
    corners = _corner_scenarios(axes, base_scenario, source) if model else []
    if corners:
        # The largest model of the design: most engineers and weeks, smallest teams (tools and task types are not swept).
        orgs = [sc.organisation for _, sc in corners]
        worst = limits.model_estimate(max(o.size for o in orgs), len(orgs[0].tools), len(orgs[0].task_types), max(sc.weeks for _, sc in corners),
                                      min(o.team_size for o in orgs))
        field = "parameters" if any(a.path in ("organisation.size", "weeks", "organisation.team_size") for a in axes) else (
            "engineers" if s.engineers is not None else "scenario")
        limits.check_estimate(worst, source=source, field=field)
    weeks = max((sc.weeks for _, sc in corners), default=1) if s.keep == "series" else 1
    rows_out = n * s.replicates * len(s.outputs) * weeks
    row_bytes = SWEEP_ROW_COPIES * (SWEEP_ROW_BYTES + SWEEP_ROW_BYTES_PER_PARAMETER * len(axes))
    limits.check_table(rows_out, what=f"its results ({n:,} runs x {s.replicates} replicates x {len(s.outputs)} outputs"
                                      + (f" x {weeks} weeks)" if s.keep == "series" else ")"),
                       lower="lower samples, replicates or outputs" + (", or keep: final" if s.keep == "series" else ""),
                       source=source, row_bytes=row_bytes)
    if status is not None and s.seeds == "per_run" and n * s.replicates > ANNOUNCE_SEEDS:
        status(f"building the seeds of {n * s.replicates:,} model runs (seeds: per_run), about {n * s.replicates / 100_000:.0f} s")
    design = designs.build(s.design, axes, s.samples, s.seed, levels=s.levels, second_order=s.second_order)

    spec_dict = s.model_dump(mode="json")
    plan = Plan(spec=jsonable(spec_dict), source=source, axes=axes, design=design, evaluator=evaluator, outputs=list(s.outputs),
                scenario=None if base_scenario is None else jsonable(base_scenario.model_dump(mode="json")),
                seed_table=seed_table(s.seed, design.shape[0], s.replicates, s.seeds))
    if not model:
        _check_function(plan, source)
    return plan


def _corner_scenarios(axes: list[Axis], base: Any, source: str) -> list[tuple[str, Any]]:
    """The scenarios at the design's extreme points (every swept parameter at its low end, then its high end), validated up
    front, so a combination the model refuses is one clear error now, not failed runs later; their memory is checked too."""
    from sim.model.scenarios import load_scenario

    if not axes:
        return [("base", base)]
    ends = {"low": [], "high": []}
    for a in axes:
        vals = [a.low, a.high] if a.is_range else [min(a.values), max(a.values)]
        ends["low"].append(vals[0])
        ends["high"].append(vals[1])
    out = []
    for end, vals in ends.items():
        point = {a.path: (int(round(v)) if a.integer else float(v)) for a, v in zip(axes, vals)}
        try:
            out.append((end, load_scenario(base, overrides=point)))
        except InputError as e:
            raise rewrap(e, source, f"parameters.{e.field}" if e.field else "parameters", f" (with every swept parameter at its {end} end)") from None
    return out


def _check_function(plan: Plan, source: str) -> None:
    """Call a function evaluator once, so missing outputs are a clear error before the sweep starts."""
    try:
        plan.evaluator.check(plan.point(0))
    except InputError as e:
        raise rewrap(e, source) from None


def jsonable(obj: Any) -> Any:
    """The JSON round trip of ``obj`` (what the manifest stores and compares)."""
    return json.loads(json.dumps(obj, sort_keys=False, default=json_default))


def json_default(o: Any) -> Any:
    """JSON for numpy scalars and arrays (``json.dumps(default=...)``)."""
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")

