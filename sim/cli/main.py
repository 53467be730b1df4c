"""The `mandate-sim` command line.

Every user error (a bad file, flag or value) prints one message naming the
file or flag, the field, the value and what is allowed, and exits with code 2;
no traceback. Commands of later parts (studies, sweeps, the app) register
themselves from their own modules (see ``_register_extensions``).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sim.errors import InputError
from sim.model.scenarios import describe_allowed, field_at, parse_override

app = typer.Typer(
    name="mandate-sim",
    help="Simulate an engineering organisation adopting AI coding tools under different management policies.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
console = Console()
err_console = Console(stderr=True)

KEY_METRICS = [
    "weekly_active_share", "ai_task_share", "genuine_use_share", "forced_use_share", "token_use_share", "shadow_use_share",
    "true_gain", "reported_gain", "measurement_gap", "cycle_time", "escaped_defects",
    "trust_leadership", "psych_safety", "honest_reporting_share", "fatigue", "attrition_cumulative", "attrition_top_skill_cumulative",
]


# ---------------------------------------------------------------------------
# Shared option handling
# ---------------------------------------------------------------------------


def check_flag(flag: str, path: str, value: Any) -> None:
    """Check a numeric flag against the bounds declared for ``path``."""
    if value is None:
        return
    info = field_at(path)
    lo = hi = None
    for meta in info.metadata if info else []:
        lo = getattr(meta, "ge", lo) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", hi) if getattr(meta, "le", None) is not None else hi
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError("is out of range", source=flag, value=value, allowed=describe_allowed(info))


def check_range(flag: str, value: int, lo: int, hi: int, what: str) -> None:
    if not (lo <= value <= hi):
        raise InputError("is out of range", source=flag, value=value, allowed=f"a whole number from {lo} to {hi} ({what})")


def check_org(org: str | None) -> None:
    """An --org that names no profile or file gets a message naming the flag."""
    if org is None:
        return
    from sim.model.scenarios import load_org_data

    try:
        load_org_data(org)
    except InputError as e:
        if e.source and e.source.startswith("organisation profile '"):
            raise InputError(e.detail, source="--org", value=org, allowed=e.allowed) from None
        raise


def parse_sets(items: Optional[List[str]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        k, v = parse_override(item)
        out[k] = v
    return out


class ProgressAfter:
    """A progress callback that shows a rich progress bar once the work has taken more than ``delay`` seconds."""

    def __init__(self, label: str, delay: float = 1.0):
        self.label, self.delay = label, delay
        self.start = time.perf_counter()
        self.progress: Progress | None = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None and time.perf_counter() - self.start > self.delay and done < total:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=err_console, transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total)
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total)
            if done >= total:
                self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __enter__(self) -> "ProgressAfter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_table(df, out: Path) -> Path:
    """Write a tidy table as Parquet or CSV, by extension, atomically."""
    write_table_check(out)
    suffix = out.suffix.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out


def _run_common(refs: list[str], org, replicates, seed, engineers, weeks, sets, label: str):
    from sim.experiments.runner import run_scenarios
    from sim.model.scenarios import load_scenario

    check_range("--replicates", replicates, 1, 1000, "replicates per scenario")
    check_flag("--engineers", "organisation.size", engineers)
    check_flag("--weeks", "weeks", weeks)
    overrides = parse_sets(sets)
    check_org(org)
    specs = [load_scenario(r, org=org, overrides=overrides, engineers=engineers, weeks=weeks) for r in refs]
    with ProgressAfter(label) as progress:
        results = run_scenarios(specs, replicates=replicates, seed=seed, progress=progress)
    return specs, results


def _summary_rich(results, metrics=KEY_METRICS, title: str = "") -> Table:
    from sim.analysis.reports import format_value
    from sim.experiments.runner import summarise

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
        table.add_row(m, *cells)
    return table


# ---------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------

ORG_HELP = "Organisation profile (built-in name such as 'default' or 'junior_boilerplate', or a YAML file) put under every policy."
SET_HELP = "Override one parameter, PATH=VALUE (repeatable); `mandate-sim params` lists the paths."


@app.command()
def scenarios() -> None:
    """List the built-in scenarios and organisation profiles."""
    from sim.model.scenarios import ORG_DIR, builtin_orgs, builtin_scenarios, read_yaml, scenario_summary

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


@app.command()
def run(
    scenario: str = typer.Argument(..., help="Built-in scenario name or a scenario YAML file."),
    org: Optional[str] = typer.Option(None, "--org", help=ORG_HELP),
    replicates: int = typer.Option(5, "--replicates", "-r", help="Replicates (runs with different seeds)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the whole run; each replicate's seed derives from it."),
    engineers: Optional[int] = typer.Option(None, "--engineers", "-n", help="Engineer positions (overrides organisation.size)."),
    weeks: Optional[int] = typer.Option(None, "--weeks", "-w", help="Weeks to simulate."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the tidy results to FILE.parquet or FILE.csv."),
) -> None:
    """Run one scenario and print a short summary (end of horizon, mean and 90% band over replicates)."""
    if out is not None:
        write_table_check(out)
    specs, results = _run_common([scenario], org, replicates, seed, engineers, weeks, set_, "running")
    sc = specs[0]
    console.print(
        f"[bold]{sc.name}[/bold] — {sc.title or sc.description[:80]}\n"
        f"{sc.organisation.size} engineers ({sc.organisation.name}), {sc.weeks} weeks, {replicates} replicate(s), seed {seed}"
    )
    console.print(_summary_rich(results))
    if out is not None:
        write_table(results, out)
        console.print(f"Wrote {len(results):,} rows to {out}")


def write_table_check(out: Path) -> None:
    """--out must name a Parquet or CSV file (checked before any run, so a typo costs nothing)."""
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise InputError("has an unknown extension", source="--out", value=str(out), allowed="a path ending in .parquet or .csv")


@app.command()
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
) -> None:
    """Compare scenarios side by side with paired seeds; print end-of-horizon outcomes with 90% bands."""
    from sim.analysis.reports import write_html
    from sim.analysis.takeaways import takeaways

    if out is not None:
        write_table_check(out)
    if html_ is not None and html_.suffix.lower() not in (".html", ".htm"):
        raise InputError("has an unknown extension", source="--html", value=str(html_), allowed="a path ending in .html")
    specs, results = _run_common(list(scenarios_), org, replicates, seed, engineers, weeks, set_, "comparing")
    sc = specs[0]
    console.print(f"{sc.organisation.size} engineers ({sc.organisation.name}), {sc.weeks} weeks, {replicates} replicate(s) per scenario, seed {seed}")
    console.print(_summary_rich(results))
    for t in takeaways(results):
        console.print(f"• {t}")
    if out is not None:
        write_table(results, out)
        console.print(f"Wrote {len(results):,} rows to {out}")
    if html_ is not None:
        settings = {"scenarios": ", ".join(s.name for s in specs), "organisation": sc.organisation.name, "engineers": sc.organisation.size,
                    "weeks": sc.weeks, "replicates": replicates, "seed": seed}
        if set_:
            settings["overrides"] = ", ".join(set_)
        write_html(results, html_, settings=settings)
        console.print(f"Wrote the report to {html_}")


@app.command()
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


@app.command()
def schema(out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write to this file instead of standard output.")) -> None:
    """Write the JSON Schema of the scenario file format (for editors)."""
    from sim.model.scenarios import json_schema

    text = json.dumps(json_schema(), indent=2)
    if out is None:
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
        console.print(f"Wrote the schema to {out}")


# ---------------------------------------------------------------------------


def _register_extensions() -> None:
    """Commands from later parts of the project live in their own modules, each with a ``register(app)``."""
    import importlib

    for name in ("sim.cli.studies", "sim.cli.sweeps", "sim.cli.app"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue
            raise
        module.register(app)


_register_extensions()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app; user errors become one message and exit code 2."""
    try:
        rv = app(args=argv, prog_name="mandate-sim", standalone_mode=False)
        if isinstance(rv, int) and not isinstance(rv, bool):
            return rv  # a command's typer.Exit(code), returned by the parser in non-standalone mode
    except InputError as e:
        from rich.markup import escape

        err_console.print(f"[bold red]error:[/bold red] {escape(str(e))}", highlight=False, soft_wrap=True)
        return 2
    except typer.Exit as e:
        return e.exit_code
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as e:
        # Usage errors from the command-line parser (unknown option, a flag of the wrong type) show their own message.
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            return e.exit_code
        raise
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
