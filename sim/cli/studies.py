"""`mandate-sim validate` and `mandate-sim calibrate`: virtual studies against published results (registered in sim/cli/__init__.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from .common import ProgressAfter, check_extension, check_range, console


def _fmt(x: float, measure: str) -> str:
    return f"{x:+.1%}" if measure == "time_change" else f"{x:.1%}"


def study_table(df, title: str = "Virtual studies: simulated against published") -> Table:
    """A rich table of a validate/calibrate result frame."""
    t = Table(title=title, header_style="bold")
    for c in ("study", "measure", "published", "simulated (95% interval)", "tolerance", "result"):
        t.add_column(c, justify="left" if c in ("study", "measure") else "right")
    for _, r in df.iterrows():
        m = r["measure"]
        t.add_row(
            r["study"], m, _fmt(r["published"], m),
            f"{_fmt(r['simulated'], m)} [{_fmt(r['sim_low'], m)}, {_fmt(r['sim_high'], m)}]",
            f"[{_fmt(r['tol_low'], m)}, {_fmt(r['tol_high'], m)}]",
            "[green]pass[/green]" if r["pass"] else "[red]FAIL[/red]",
        )
    return t


def validate(
    studies: Optional[Path] = typer.Option(None, "--studies", help="Folder of study files (default: the built-in studies)."),
    scenario: Optional[str] = typer.Option(None, "--scenario", help="Scenario or overlay whose behaviour and organisation to use (default: the defaults)."),
    replicates: int = typer.Option(200, "--replicates", "-r", help="Replicates of each virtual study."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed."),
    json_: bool = typer.Option(False, "--json", help="Print the result as JSON instead of a table."),
) -> None:
    """Run every virtual study and compare simulated with published results; exit 0 only when all pass."""
    from sim.model.scenarios import load_scenario
    from sim.experiments.studies import validate as run_validate

    check_range("--replicates", replicates, 2, 100_000, "replicates per study")
    sc = load_scenario(scenario) if scenario else None
    df = run_validate(studies, sc, replicates=replicates, seed=seed)
    if json_:
        sys.stdout.write(json.dumps(json.loads(df.to_json(orient="records")), indent=1) + "\n")
    else:
        console.print(study_table(df))
        n_fail = int((~df["pass"]).sum())
        console.print(f"{len(df) - n_fail} of {len(df)} measures within tolerance ({replicates} replicates, seed {seed}).")
    if not bool(df["pass"].all()):
        raise typer.Exit(1)


def calibrate(
    studies: Path = typer.Option(..., "--studies", help="Folder of study files to fit (e.g. your own pilot's)."),
    params: str = typer.Option(..., "--params", help="Comma-separated parameter paths to fit within their declared bounds."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the fitted values as a scenario overlay YAML."),
    base: Optional[str] = typer.Option(None, "--base", help="Scenario or overlay to start from (default: the defaults)."),
    replicates: int = typer.Option(100, "--replicates", "-r", help="Replicates of each study per evaluation."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the studies and of the optimiser."),
    maxiter: int = typer.Option(40, "--maxiter", help="Generations of differential evolution."),
) -> None:
    """Fit parameters to studies (seeded differential evolution), print the fit and residuals, write an overlay."""
    from sim.experiments.calibration import calibrate as run_calibrate, write_overlay
    from sim.experiments.studies import load_studies

    check_range("--replicates", replicates, 2, 100_000, "replicates per study")
    check_range("--maxiter", maxiter, 1, 10_000, "generations")
    check_extension("--out", out, (".yaml", ".yml"), "a path ending in .yaml")
    paths = [p.strip() for p in params.split(",") if p.strip()]
    loaded = [s for _, s in load_studies(studies)]
    with ProgressAfter("calibrating") as progress:
        fit = run_calibrate(loaded, paths, base=base, replicates=replicates, seed=seed, maxiter=maxiter, progress=progress)
    t = Table(title="Fitted parameters", header_style="bold")
    for c in ("parameter", "start", "fitted"):
        t.add_column(c, justify="left" if c == "parameter" else "right")
    for p, v in fit.params.items():
        t.add_row(p, f"{fit.start[p]:.4g}", f"{v:.4g}")
    console.print(t)
    console.print(study_table(fit.residuals, title="Residuals after the fit"))
    console.print(f"objective (sum of squared standardised residuals): {fit.start_objective:.4g} -> {fit.objective:.4g}, {fit.evaluations} evaluations")
    if out is not None:
        write_overlay(fit, out, base=base)
        console.print(f"Wrote the overlay to {out} (use it with `mandate-sim run {out}` or `extends: [<scenario>, {out}]`).")
