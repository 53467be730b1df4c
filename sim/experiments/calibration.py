"""Calibration: fit named parameters, within their declared bounds, to the results of virtual studies.

The objective is the sum over studies and measures of the squared residual
(simulated mean - published) divided by the half-width of the tolerance. Every
evaluation runs the studies with the same seeds (common random numbers), so the
objective is a deterministic function of the parameters, and the optimiser
(scipy's differential evolution, seeded) gives the same fit on every machine.
The result is written as a scenario overlay: a partial scenario file that
``run``, ``compare`` and ``extends:`` accept.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import yaml
from scipy.optimize import differential_evolution

from sim.atomic import atomic_write_text
from sim.errors import InputError
from sim.model.params import Scenario
from sim.model.scenarios import load_scenario, parameter_paths
from .studies import Study, check_against, simulate_study, summarise_study


@dataclass
class Fit:
    """The outcome of a calibration."""

    params: dict[str, float]
    start: dict[str, float]
    objective: float
    start_objective: float
    residuals: pd.DataFrame
    evaluations: int
    studies: list[str] = field(default_factory=list)

    def overlay(self) -> dict:
        """The fitted values as a nested scenario mapping (only the fitted paths)."""
        out: dict = {}
        for path, value in self.params.items():
            node = out
            parts = path.split(".")
            for p in parts[:-1]:
                node = node.setdefault(p, {})
            node[parts[-1]] = value
        return out


def check_params(paths: Sequence[str], base: Scenario) -> dict[str, tuple[float, float]]:
    """Bounds of each named parameter; every path must be a numeric parameter with declared bounds."""
    rows = {r.path: r for r in parameter_paths(base)}
    bounds = {}
    for p in paths:
        if p in bounds:
            raise InputError("is listed twice; name each parameter once", source="--params", field=p)
        r = rows.get(p)
        if r is None:
            import difflib

            hint = difflib.get_close_matches(p, list(rows), n=1)
            raise InputError("is not a parameter path" + (f"; did you mean '{hint[0]}'?" if hint else ""), source="--params", field=p,
                             allowed="the paths `mandate-sim params` lists")
        if r.kind not in ("number", "integer") or r.min is None or r.max is None:
            raise InputError("is not a bounded numeric parameter, so it cannot be fitted", source="--params", field=p, value=r.value)
        if r.kind == "integer":
            raise InputError("is a whole-number parameter; calibration fits continuous parameters only", source="--params", field=p, value=r.value)
        bounds[p] = (float(r.min), float(r.max))
    if not bounds:
        raise InputError("names no parameter", source="--params", allowed="a comma-separated list of parameter paths")
    return bounds


def _scenario_with(base_data: dict, values: dict[str, float]) -> Scenario:
    return load_scenario(base_data, overrides=values)


def residual_table(studies: Sequence[Study], scenario: Scenario, replicates: int, seed: int) -> pd.DataFrame:
    """Published against simulated per study and measure, with the standardised residual."""
    frames = []
    for st in studies:
        frames.append(summarise_study(st, simulate_study(st, scenario, replicates=replicates, seed=seed)))
    df = pd.concat(frames, ignore_index=True)
    half = (df["tol_high"] - df["tol_low"]) / 2.0
    df["residual"] = (df["simulated"] - df["published"]) / half.where(half > 0, 1.0)
    return df


def calibrate(
    studies: Sequence[Study],
    params: Sequence[str],
    *,
    base: Scenario | str | None = None,
    replicates: int = 100,
    seed: int = 0,
    maxiter: int = 40,
    popsize: int = 10,
    progress: Callable[[int, int], None] | None = None,
) -> Fit:
    """Fit ``params`` to the studies with seeded differential evolution; returns the fit and its residuals."""
    base_sc = load_scenario(base) if isinstance(base, str) else (base or Scenario())
    for st in studies:
        check_against(st, base_sc, st.id)
    bounds = check_params(params, base_sc)
    base_data = base_sc.model_dump()
    start = {p: float(_get(base_data, p)) for p in bounds}
    names = list(bounds)
    evals = 0

    def objective(x: np.ndarray) -> float:
        nonlocal evals
        evals += 1
        sc = _scenario_with(base_data, dict(zip(names, (float(v) for v in x))))
        r = residual_table(studies, sc, replicates, seed)["residual"].to_numpy()
        return float(np.sum(r * r))

    total = maxiter + 1
    gen = 0

    def callback(*_args, **_kw) -> bool:
        nonlocal gen
        gen += 1
        if progress:
            progress(min(gen, total), total)
        return False

    start_obj = objective(np.array([start[n] for n in names]))
    result = differential_evolution(
        objective, [bounds[n] for n in names], seed=seed, maxiter=maxiter, popsize=popsize, tol=1e-6,
        polish=False, init="sobol", updating="immediate", callback=callback,
        x0=np.array([start[n] for n in names]),
    )
    fitted = {n: float(round(v, 6)) for n, v in zip(names, result.x)}
    sc = _scenario_with(base_data, fitted)
    table = residual_table(studies, sc, replicates, seed)
    if progress:
        progress(total, total)
    return Fit(params=fitted, start=start, objective=float(result.fun), start_objective=start_obj, residuals=table,
               evaluations=evals, studies=[s.id for s in studies])


def _get(data: dict, path: str):
    node = data
    for p in path.split("."):
        node = node[p]
    return node


def write_overlay(fit: Fit, path: str | Path, *, base: str | None = None) -> Path:
    """Write the fit as a scenario overlay YAML (a partial scenario with the fitted values), atomically (``sim.atomic``)."""
    path = Path(path)
    doc: dict = {}
    if base:
        doc["extends"] = base
    doc["title"] = "Calibrated overlay"
    doc["description"] = (
        f"Fitted by mandate-sim calibrate on {_dt.date.today().isoformat()} to {', '.join(fit.studies)}; "
        f"objective {fit.start_objective:.3g} -> {fit.objective:.3g}."
    )
    doc.update(fit.overlay())
    header = "# Scenario overlay written by `mandate-sim calibrate`. Use it with\n#   mandate-sim run THIS.yaml\n# or in a scenario:  extends: [mandate_single_tool, THIS.yaml]\n"
    atomic_write_text(path, header + yaml.safe_dump(doc, sort_keys=False))
    return path


def sensitivity(studies: Sequence[Study], params: Sequence[str], *, base: Scenario | None = None, step: float = 0.1, replicates: int = 200, seed: int = 0) -> pd.DataFrame:
    """One-at-a-time sensitivity: change in each study measure when a parameter moves by ``step`` of its declared range up and down."""
    base_sc = base or Scenario()
    bounds = check_params(params, base_sc)
    data = base_sc.model_dump()
    ref = residual_table(studies, base_sc, replicates, seed).set_index(["study", "measure"])["simulated"]
    rows = []
    for p, (lo, hi) in bounds.items():
        v = float(_get(data, p))
        delta = step * (hi - lo)
        for sign in (-1, 1):
            x = float(np.clip(v + sign * delta, lo, hi))
            sim_ = residual_table(studies, _scenario_with(data, {p: x}), replicates, seed).set_index(["study", "measure"])["simulated"]
            for key in ref.index:
                rows.append({"parameter": p, "value": x, "direction": "+" if sign > 0 else "-", "study": key[0], "measure": key[1],
                             "change": float(sim_[key] - ref[key])})
    df = pd.DataFrame(rows)
    return df.pivot_table(index=["parameter", "direction"], columns=["study", "measure"], values="change")
