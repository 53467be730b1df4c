"""`mandate-sim validate` and `mandate-sim calibrate`: virtual studies and organisation-level facts against published results (registered in sim/cli/__init__.py)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from sim.errors import InputError

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


def _fact_fmt(x: float, metric: str, statistic: str) -> str:
    """One value of a fact's statistic as people read it: a week number, a relative change, or in the metric's unit."""
    from sim.model.metrics import METRICS

    if x is None or math.isnan(x):
        return "n/a"
    if statistic == "peak_week":
        return f"{x:.1f}" if abs(x - round(x)) > 0.05 else f"{round(x)}"
    if statistic == "relative_change":
        return f"{x:+.1%}"
    m = METRICS.get(metric)
    spec = m.format_spec if m is not None else ".3g"
    if statistic == "slope":
        return f"{x:+.2%}/wk" if spec.endswith("%") else f"{x:+.3g}/wk"
    if statistic == "drop_from_peak":
        return f"{x * 100:.1f} pts" if spec.endswith("%") else f"{x:.3g}"
    return format(x, spec)


def fact_table(df, title: str = "Organisation-level facts: simulated against published") -> Table:
    """A rich table of a ``check_facts`` result frame."""
    from rich.markup import escape

    t = Table(title=title, header_style="bold")
    for c in ("fact", "measure", "weeks", "published", "simulated (95% interval)", "tolerance", "result"):
        t.add_column(c, justify="left" if c in ("fact", "measure") else "right")
    for _, r in df.iterrows():
        def f(x: float, r=r) -> str:
            return _fact_fmt(x, r["metric"], r["statistic"])

        t.add_row(
            escape(r["fact"]), escape(r["measure"]), f"{r['window'][0]}-{r['window'][1]}", f(r["published"]),
            escape(f"{f(r['simulated'])} [{f(r['sim_low'])}, {f(r['sim_high'])}]"),
            escape(f"[{f(r['tol_low'])}, {f(r['tol_high'])}]"),
            "[green]pass[/green]" if r["pass"] else "[red]FAIL[/red]",
        )
    return t


def _records(df, kind: str) -> list[dict]:
    """A result frame as JSON-ready rows, each with its ``kind`` first (NaN as null)."""
    return [{"kind": kind, **row} for row in json.loads(df.to_json(orient="records"))]


def validate(
    studies: Optional[Path] = typer.Option(None, "--studies", help="Folder of study files (default: the built-in studies)."),
    facts: bool = typer.Option(
        True, "--facts/--no-facts",
        help="Also check the organisation-level facts (adoption curves, trust, compliance theatre over a year), each on runs of the whole model.",
    ),
    facts_dir: Optional[Path] = typer.Option(None, "--facts-dir", help="Folder of fact files (default: the built-in facts, studies/facts)."),
    scenario: Optional[str] = typer.Option(
        None, "--scenario",
        help="Scenario or overlay whose behaviour and organisation the studies use (default: the defaults). Facts name their own scenario.",
    ),
    replicates: int = typer.Option(
        200, "--replicates", "-r",
        help="Replicates of each virtual study, and of each fact's organisation runs (each distinct configuration runs once, "
        "all with the same seeds). The facts use the studies' 200 by default: the built-in facts need two policies and "
        "one no-AI counterfactual per replicate (200 engineers x 52 weeks), about 12 s on 2 cores, which keeps the whole "
        "command under a minute.",
    ),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed (studies and facts)."),
    json_: bool = typer.Option(False, "--json", help="Print the result as JSON instead of tables: one list of rows, each with kind 'study' or 'fact'."),
) -> None:
    """Run the virtual studies and the organisation-level facts against published results; exit 0 only if all pass."""
    from sim.experiments.facts import check_facts, count_runs, load_facts
    from sim.experiments.studies import check_against, load_studies, validate as run_validate
    from sim.model.params import Scenario
    from sim.model.scenarios import load_scenario

    check_range("--replicates", replicates, 2, 100_000, "replicates per study and per fact configuration")
    if facts_dir is not None and not facts:
        raise InputError("cannot be used with --no-facts", source="--facts-dir", value=str(facts_dir), allowed="--facts-dir with facts on (the default)")
    sc = load_scenario(scenario) if scenario else None
    # Every input is checked before anything runs.
    loaded = load_studies(studies)
    for path, study in loaded:
        check_against(study, sc or Scenario(), str(path))
    fact_list = load_facts(facts_dir) if facts else []
    total = len(loaded) + count_runs(fact_list, replicates)
    with ProgressAfter("validating") as progress:
        df = run_validate(studies, sc, replicates=replicates, seed=seed)
        progress(len(loaded), total)
        fdf = check_facts(fact_list, replicates=replicates, seed=seed, progress=lambda done, _n: progress(len(loaded) + done, total)) if facts else None
    ok = bool(df["pass"].all()) and (fdf is None or bool(fdf["pass"].all()))
    if json_:
        rows = _records(df, "study") + (_records(fdf, "fact") if fdf is not None else [])
        sys.stdout.write(json.dumps(rows, indent=1) + "\n")
    else:
        console.print(study_table(df))
        n_fail = int((~df["pass"]).sum())
        line = f"{len(df) - n_fail} of {len(df)} study measures within tolerance"
        if fdf is not None:
            console.print(fact_table(fdf))
            f_fail = int((~fdf["pass"]).sum())
            line += f"; {len(fdf) - f_fail} of {len(fdf)} facts within tolerance"
        console.print(f"{line} ({replicates} replicates, seed {seed}).")
    if not ok:
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
