"""`mandate-sim sweep` and `mandate-sim analyze`: parameter sweeps from the command line (registered in sim/cli/__init__.py)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Optional

import typer

from .common import MODEL_MEMORY_HELP, TABLE_MEMORY_HELP, check_extension, check_html, console, err_console, memory_limits, write_table

ORG_HELP = "Organisation profile (built-in name or YAML file) under the swept scenario; overrides the spec's org."


def _progress_display():
    """A rich progress bar showing runs done, failed, rate and time left; returns (callback, progress)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
        TextColumn("[red]{task.fields[failed]} failed[/red]"), TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(), TextColumn("{task.fields[left]}"), console=err_console, transient=False,
    )
    state: dict = {"task": None}

    def callback(p) -> None:
        rate = p.rate
        left = p.eta_s
        fields = dict(failed=p.failed, rate=f"{rate:.1f} runs/s" if rate else "", left="" if left is None else f"{_clock(left)} left")
        if state["task"] is None:
            state["task"] = progress.add_task(f"sweep ({p.executor}, {p.workers} worker{'s' if p.workers != 1 else ''})", total=p.total,
                                              completed=p.done, **fields)
        progress.update(state["task"], completed=p.done, **fields)

    return callback, progress


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def sweep_command(
    spec: str = typer.Argument(..., help="Sweep spec (YAML): scenario, design, samples, replicates, seed, parameters, outputs. See docs/SWEEPS.md."),
    out: Path = typer.Option(..., "--out", "-o", help="Results folder (Parquet parts + manifest.json). Running again on it resumes."),
    workers: Optional[int] = typer.Option(None, "--workers", "-j", help="Local worker processes (default: the cores this process may use, a container's CPU quota included; 1 runs in this process)."),
    scheduler: Optional[str] = typer.Option(None, "--scheduler", help="Send the runs to a running Dask scheduler, tcp://HOST:PORT."),
    scheduler_timeout: Optional[float] = typer.Option(None, "--scheduler-timeout", help="Seconds to wait for --scheduler to answer before giving up (default 15)."),
    dask_local: Optional[int] = typer.Option(None, "--dask-local", help="Start a Dask LocalCluster of N single-threaded workers on 127.0.0.1."),
    resume: bool = typer.Option(True, "--resume/--no-resume", help="Continue a sweep already in --out (default); --no-resume refuses an existing sweep."),
    org: Optional[str] = typer.Option(None, "--org", help=ORG_HELP),
    chunk_size: Optional[int] = typer.Option(None, "--chunk-size", help="Runs per chunk (default: adaptive, about 2 s of work each). Results never depend on it."),
    max_runs: Optional[int] = typer.Option(None, "--max-runs", help="Most model runs (design points x replicates) the sweep may ask for (default 2,000,000, or $MANDATE_SIM_MAX_SWEEP_RUNS)."),
    max_model_memory: Optional[str] = typer.Option(None, "--max-model-memory", help=MODEL_MEMORY_HELP),
    max_table_memory: Optional[str] = typer.Option(None, "--max-table-memory", help=TABLE_MEMORY_HELP),
) -> None:
    """Run a parameter sweep: every design point x replicate, in parallel, into resumable Parquet parts."""
    from sim.experiments.sweeps import SweepFailed, read_manifest, sweep

    callback, progress = _progress_display()
    t0 = time.perf_counter()

    def status(message: str) -> None:
        err_console.print(message, highlight=False)

    try:
        with memory_limits(max_model_memory, max_table_memory, max_runs), progress:
            sweep(spec, out, workers=workers, scheduler=scheduler, scheduler_timeout=scheduler_timeout, dask_local=dask_local, resume=resume, progress=callback, chunk_size=chunk_size, org=org,
                  status=status)
    except SweepFailed as e:
        err_console.print(f"[bold red]error:[/bold red] {e}", highlight=False, soft_wrap=True, markup=False)
        raise typer.Exit(1)
    except KeyboardInterrupt:
        err_console.print(f"interrupted: finished runs are saved; run the same command again to resume ({out})")
        raise
    m = read_manifest(out)
    console.print(f"{len(m['finished'])} of {m['runs']} runs x {m['replicates']} replicate(s) finished in {out} "
                  f"({time.perf_counter() - t0:.1f} s). Next: mandate-sim analyze {out}")


def analyze_command(
    folder: Path = typer.Argument(..., help="A sweep folder written by `mandate-sim sweep`."),
    html_: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report with tables and figures."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the indices (sobol, morris) or rank correlations (grid, lhs) to FILE.csv or FILE.parquet."),
    json_: bool = typer.Option(False, "--json", help="Print the indices or correlations as JSON records instead of tables."),
) -> None:
    """Sensitivity analysis of a sweep: Sobol' (S1, ST) or Morris (mu*, sigma) indices per output, summaries, figures."""
    from rich import box
    from rich.table import Table

    from sim.errors import InputError
    from sim.experiments.sweeps import load_sweep, read_manifest

    check_html("--html", html_)
    check_extension("--out", out, (".csv", ".parquet"), "a path ending in .parquet or .csv")
    if not folder.is_dir():
        raise InputError("is not a folder" if folder.exists() else "not found", source=str(folder), allowed="a sweep folder written by `mandate-sim sweep`")
    m = read_manifest(folder)
    frame = load_sweep(folder)
    from sim.analysis.sensitivity import correlations, indices_wide, sensitivity, shown_summary, summary, titled, write_report

    spec = m["spec"]
    design = spec["design"]
    complete = len(m["finished"]) == m["runs"]
    if design in ("sobol", "morris") and complete:
        table = sensitivity(frame, m)
    elif design in ("sobol", "morris"):
        table = None
    else:
        table = correlations(frame)
    if json_:
        sys.stdout.write(json.dumps([] if table is None else json.loads(table.to_json(orient="records")), indent=1) + "\n")
    else:
        what = spec.get("scenario") or f"function {spec.get('function')}"
        console.print(f"[bold]{spec.get('name') or folder.name}[/bold]: {what}, design {design}, {len(m['finished'])} of {m['runs']} runs "
                      f"x {m['replicates']} replicate(s), seed {spec['seed']}")
        s = shown_summary(summary(frame).drop(columns=["min", "max"]))
        t = Table(title="Outputs over runs (mean over replicates, end of horizon)", header_style="bold", box=box.SIMPLE_HEAD)
        for c in s.columns:
            t.add_column(c, justify="left" if c == "metric" else "right", no_wrap=c != "metric", overflow="fold")
        for _, r in s.iterrows():
            t.add_row(str(r["metric"]), str(r["runs"]), *[str(r[c]) for c in s.columns[2:]])
        console.print(t)
        if table is None:
            console.print(f"[yellow]{design} indices need every run: {len(m['finished'])} of {m['runs']} are finished. "
                          "Run the same sweep command again to finish it.[/yellow]")
        elif design in ("sobol", "morris"):
            wide = titled(indices_wide(table))
            t = Table(box=box.SIMPLE_HEAD, title=("Sobol' indices (S1 first order, ST total; ± 95% interval)" if design == "sobol"
                             else "Morris elementary effects (mu* importance ± 95% interval, sigma non-linearity/interactions)"), header_style="bold")
            for c in wide.columns:
                t.add_column(str(c), justify="left" if c in ("metric", "parameter") else "right", overflow="fold")
            for _, r in wide.iterrows():
                t.add_row(*[str(v) for v in r])
            console.print(t)
        else:
            t = Table(title="Spearman rank correlation of each parameter with each output", header_style="bold", box=box.SIMPLE_HEAD)
            shown = titled(table)
            wide = shown.pivot(index="parameter", columns="metric", values="spearman")
            wide = wide.reindex(index=list(dict.fromkeys(shown["parameter"])), columns=list(dict.fromkeys(shown["metric"])))
            t.add_column("parameter", overflow="fold")
            for c in wide.columns:
                t.add_column(str(c), justify="right", overflow="fold")
            for p, r in wide.iterrows():
                t.add_row(str(p), *["" if v != v else f"{v:+.2f}" for v in r])
            console.print(t)
    if out is not None and table is not None:
        write_table(table, out)
        (err_console if json_ else console).print(f"Wrote {len(table):,} rows to {out}", highlight=False)
    if html_ is not None:
        write_report(folder, html_)
        (err_console if json_ else console).print(f"Wrote the report to {html_}", highlight=False)

