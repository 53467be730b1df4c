"""`mandate-sim scenarios`, `run`, `compare`, `params` and `schema`: the core commands (registered in sim/cli/__init__.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from .common import (
    MODEL_MEMORY_HELP,
    ORG_HELP,
    SET_HELP,
    TABLE_MEMORY_HELP,
    ProgressAfter,
    check_flag,
    check_html,
    check_org,
    check_range,
    console,
    memory_limits,
    parse_sets,
    write_table,
    write_table_check,
)

#: The metrics the run and compare summaries show, in order.
KEY_METRICS = [
    "weekly_active_share", "ai_task_share", "genuine_use_share", "forced_use_share", "token_use_share", "shadow_use_share",
    "true_gain", "reported_gain", "measurement_gap", "cycle_time", "escaped_defects",
    "trust_leadership", "psych_safety", "honest_reporting_share", "fatigue", "attrition_cumulative", "attrition_top_skill_cumulative",
]


def run_specs(refs: list[str], org, replicates, seed, engineers, weeks, sets, label: str):
    """Check the shared flags, load the scenarios, check the memory they need against the limits (before any run starts) and
    run them with paired seeds (a progress bar after a second)."""
    from sim.model.limits import check_runs
    from sim.model.scenarios import load_scenario

    check_range("--replicates", replicates, 1, 1000, "replicates per scenario")
    check_range("--seed", seed, 0, 2**63 - 1, "the seed")
    check_flag("--engineers", "organisation.size", engineers)
    check_flag("--weeks", "weeks", weeks)
    overrides = parse_sets(sets)
    check_org(org)
    specs = [load_scenario(r, org=org, overrides=overrides, engineers=engineers, weeks=weeks) for r in refs]
    check_runs(specs, replicates, source="--replicates" if len(specs) == 1 else "the comparison")
    from sim.experiments.runner import run_scenarios  # the model (Mesa, numba) loads only once the input is known good

    with ProgressAfter(label) as progress:
        results = run_scenarios(specs, replicates=replicates, seed=seed, progress=progress)
    return specs, results


def summary_rich(results, metrics=KEY_METRICS, title: str = "") -> Table:
    """End-of-horizon means (and 90% bands) per scenario, one row per metric shown by its label with unit."""
    from sim.analysis.reports import format_value
    from sim.experiments.runner import summarise
    from sim.model.metrics import title as metric_title

    s = summarise(results)
    scen = list(dict.fromkeys(s["scenario"]))
    table = Table(title=title, show_lines=False, header_style="bold")
    table.add_column("metric (end of horizon)")
    for n in scen:
        table.add_column(n, justify="right")
    for m in metrics:
        sub = s[s["metric"] == m].set_index("scenario")
        if sub.empty:
            continue
        cells = []
        for n in scen:
            if n not in sub.index:
                cells.append("")
                continue
            r = sub.loc[n]
            band = f" [dim][{format_value(m, r['low'])}, {format_value(m, r['high'])}][/dim]" if r["replicates"] > 1 else ""
            cells.append(format_value(m, r["mean"]) + band)
        table.add_row(metric_title(m), *cells)
    return table


def scenarios() -> None:
    """List the built-in scenarios and organisation profiles."""
    from sim.files import read_yaml
    from sim.model.scenarios import ORG_DIR, builtin_orgs, builtin_scenarios, scenario_summary

    table = Table(title="Built-in scenarios", header_style="bold")
    table.add_column("name")
    table.add_column("what it is")
    for name in builtin_scenarios():
        title, _ = scenario_summary(name)
        table.add_row(name, title)
    console.print(table)
    orgs = Table(title="Organisation profiles (--org)", header_style="bold")
    orgs.add_column("name")
    orgs.add_column("what it is")
    for name in builtin_orgs():
        data = read_yaml(ORG_DIR / f"{name}.yaml", "organisation profile")
        orgs.add_row(name, str(data.get("description", "")))
    console.print(orgs)


def run(
    scenario: str = typer.Argument(..., help="Built-in scenario name or a scenario YAML file."),
    org: Optional[str] = typer.Option(None, "--org", help=ORG_HELP),
    replicates: int = typer.Option(5, "--replicates", "-r", help="Replicates (runs with different seeds)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the whole run; each replicate's seed derives from it."),
    engineers: Optional[int] = typer.Option(None, "--engineers", "-n", help="Engineer positions (overrides organisation.size)."),
    weeks: Optional[int] = typer.Option(None, "--weeks", "-w", help="Weeks to simulate."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the tidy results to FILE.parquet or FILE.csv."),
    max_model_memory: Optional[str] = typer.Option(None, "--max-model-memory", help=MODEL_MEMORY_HELP),
    max_table_memory: Optional[str] = typer.Option(None, "--max-table-memory", help=TABLE_MEMORY_HELP),
) -> None:
    """Run one scenario and print a short summary (end of horizon, mean and 90% band over replicates)."""
    write_table_check(out)
    with memory_limits(max_model_memory, max_table_memory):
        specs, results = run_specs([scenario], org, replicates, seed, engineers, weeks, set_, "running")
    sc = specs[0]
    console.print(
        f"[bold]{sc.name}[/bold] — {sc.title or sc.description[:80]}\n"
        f"{sc.organisation.size} engineers ({sc.organisation.name}), {sc.weeks} weeks, {replicates} replicate(s), seed {seed}"
    )
    console.print(summary_rich(results))
    if out is not None:
        write_table(results, out)
        console.print(f"Wrote {len(results):,} rows to {out}")


def compare(
    scenarios_: List[str] = typer.Argument(..., metavar="SCENARIO...", help="Two or more built-in scenario names or scenario files."),
    org: Optional[str] = typer.Option(None, "--org", help=ORG_HELP),
    replicates: int = typer.Option(10, "--replicates", "-r", help="Replicates per scenario (the same seeds for every scenario)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the whole comparison."),
    engineers: Optional[int] = typer.Option(None, "--engineers", "-n", help="Engineer positions (overrides organisation.size)."),
    weeks: Optional[int] = typer.Option(None, "--weeks", "-w", help="Weeks to simulate."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the tidy results to FILE.parquet or FILE.csv."),
    html_: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report with the figures."),
    max_model_memory: Optional[str] = typer.Option(None, "--max-model-memory", help=MODEL_MEMORY_HELP),
    max_table_memory: Optional[str] = typer.Option(None, "--max-table-memory", help=TABLE_MEMORY_HELP),
) -> None:
    """Compare scenarios side by side with paired seeds; print end-of-horizon outcomes with 90% bands."""
    if len(scenarios_) < 2:
        from sim.errors import InputError

        raise InputError(f"names {len(scenarios_)} scenario; compare needs two or more (use `mandate-sim run` for one)", source="compare",
                         value=list(scenarios_), allowed="two or more built-in scenario names or scenario files")
    write_table_check(out)
    check_html("--html", html_)
    with memory_limits(max_model_memory, max_table_memory):
        specs, results = run_specs(list(scenarios_), org, replicates, seed, engineers, weeks, set_, "comparing")
    from sim.analysis.figures import scenario_labels
    from sim.analysis.reports import write_html
    from sim.analysis.takeaways import takeaways

    sc = specs[0]
    console.print(f"{sc.organisation.size} engineers ({sc.organisation.name}), {sc.weeks} weeks, {replicates} replicate(s) per scenario, seed {seed}")
    console.print(summary_rich(results))
    labels = scenario_labels(specs)  # a scenario file's own title names it (built-ins: theirs)
    for t in takeaways(results, labels=labels):
        console.print(f"• {t}", markup=False)
    if out is not None:
        write_table(results, out)
        console.print(f"Wrote {len(results):,} rows to {out}")
    if html_ is not None:
        settings = {"scenarios": ", ".join(s.name for s in specs), "organisation": sc.organisation.name, "engineers": sc.organisation.size,
                    "weeks": sc.weeks, "replicates": replicates, "seed": seed}
        if set_:
            settings["overrides"] = ", ".join(set_)
        write_html(results, html_, settings=settings, labels=labels)
        console.print(f"Wrote the report to {html_}")


def params(
    scenario: Optional[str] = typer.Argument(None, help="Scenario whose values to show (default: the declared defaults)."),
    org: Optional[str] = typer.Option(None, "--org", help=ORG_HELP),
    json_: bool = typer.Option(False, "--json", help="Print a JSON list of {path, value, unit, min, max, description}."),
    grep: Optional[str] = typer.Option(None, "--grep", "-g", help="Only paths containing this text."),
) -> None:
    """List every parameter path with its value, unit, bounds and description."""
    from sim.model.params import Scenario
    from sim.model.scenarios import load_scenario, parameter_paths

    sc = load_scenario(scenario, org=org) if scenario or org else Scenario()
    rows = [r for r in parameter_paths(sc) if not grep or grep in r.path]
    if json_:
        sys.stdout.write(json.dumps([r.as_dict() for r in rows], indent=1) + "\n")
        return
    table = Table(header_style="bold", show_lines=False)
    for c in ("path", "value", "unit", "min", "max", "description"):
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(r.path, str(r.value), r.unit, "" if r.min is None else f"{r.min:g}", "" if r.max is None else f"{r.max:g}", r.description)
    console.print(table)


def schema(out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of standard output.")) -> None:
    """Write the JSON Schema of the scenario file format (for editors)."""
    from sim.atomic import atomic_write_text, check_writable
    from sim.model.scenarios import json_schema

    if out is not None:
        check_writable(out, source=f"--out {out}")
    text = json.dumps(json_schema(), indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        atomic_write_text(out, text + "\n", source=f"--out {out}")
        console.print(f"Wrote the schema to {out}")
