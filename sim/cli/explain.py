"""`mandate-sim explain A B`: why policy B did better or worse than policy A, attributed to the model's named channels."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer
from rich.table import Table

from sim.model.channels import CHANNELS

from .common import (
    MODEL_MEMORY_HELP,
    ORG_HELP,
    SET_HELP,
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

#: The command's help, with the channels from their declaration (sim/model/channels.py).
HELP = (
    "Why B did better or worse than A: the difference in one outcome (true gain by default, at the horizon or --week) attributed to "
    "the model's named channels by Shapley values over paired replicates, with 90% intervals and the remainder no channel covers. "
    "The channels: " + "; ".join(f"{name}: {c.label}" for name, c in CHANNELS.items()) + "."
)


def explain(
    a: str = typer.Argument(..., metavar="A", help="The policy compared against: a built-in scenario name or a scenario file."),
    b: str = typer.Argument(..., metavar="B", help="The policy explained: a built-in scenario name or a scenario file."),
    org: Optional[str] = typer.Option(None, "--org", help=ORG_HELP),
    metric: str = typer.Option("true_gain", "--metric", "-m", help="The outcome explained (a metric id, e.g. true_gain, cycle_time, trust_leadership)."),
    week: Optional[int] = typer.Option(None, "--week", help="The week whose outcome is explained (default: the last)."),
    replicates: int = typer.Option(20, "--replicates", "-r", help="Paired replicates (at least 2: the intervals come from their spread)."),
    seed: int = typer.Option(0, "--seed", "-s", help="Seed of the whole explanation."),
    engineers: Optional[int] = typer.Option(None, "--engineers", "-n", help="Engineer positions (overrides organisation.size)."),
    weeks: Optional[int] = typer.Option(None, "--weeks", "-w", help="Weeks to simulate."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
    workers: Optional[int] = typer.Option(None, "--workers", help="Worker processes (default: the cores this process may use, a container's CPU quota included; the results do not depend on it)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Write the tidy table (channel, contribution, low, high, ...) to FILE.parquet or FILE.csv."),
    html_: Optional[Path] = typer.Option(None, "--html", help="Write a self-contained HTML report with the waterfall figure."),
    max_model_memory: Optional[str] = typer.Option(None, "--max-model-memory", help=MODEL_MEMORY_HELP),
) -> None:
    from rich.markup import escape

    from sim.analysis.figures import scenario_labels
    from sim.analysis.reports import explanation_table, write_explain_html
    from sim.analysis.takeaways import why
    from sim.experiments.explain import check_metric, explain_pairs
    from sim.model.metrics import title as metric_title
    from sim.model.scenarios import load_scenario

    check_metric(metric, source="--metric")
    check_range("--replicates", replicates, 2, 1000, "paired replicates")
    check_range("--seed", seed, 0, 2**63 - 1, "the seed")
    if workers is not None:
        check_range("--workers", workers, 1, 256, "worker processes")
    check_flag("--engineers", "organisation.size", engineers)
    check_flag("--weeks", "weeks", weeks)
    write_table_check(out)
    check_html("--html", html_)
    overrides = parse_sets(set_)
    check_org(org)
    specs = [load_scenario(r, org=org, overrides=overrides, engineers=engineers, weeks=weeks) for r in (a, b)]
    if week is not None:
        check_range("--week", week, 1, specs[0].weeks, "a week of the horizon")
    with memory_limits(max_model_memory), ProgressAfter("explaining") as progress:
        table = explain_pairs([(specs[0], specs[1])], metric=metric, week=week, replicates=replicates, seed=seed, workers=workers,
                              progress=progress)
    sc, first = specs[0], table.iloc[0]
    labels = scenario_labels(specs)  # a scenario file's own title, else the built-in's
    console.print(f"{sc.organisation.size} engineers ({sc.organisation.name}), week {int(first['week'])} of {sc.weeks}, "
                  f"{replicates} paired replicates, seed {seed}; {first['method']} Shapley values")
    title = f"{labels.get(str(first['b']), first['b'])} − {labels.get(str(first['a']), first['a'])}: {metric_title(metric)}"
    shown = Table(title=escape(title))  # titles and labels, as in the app and the report; a file's title printed as written
    for col in ("channel", "contribution", "90% interval"):
        shown.add_column(col, justify="left" if col == "channel" else "right")
    for row in explanation_table(table).itertuples(index=False):
        shown.add_row(*[str(x) for x in row])
    console.print(shown)
    console.print(why(table, labels=labels), markup=False)  # a title from a file is printed as written
    if out is not None:
        write_table(table, out)
        console.print(f"Wrote {len(table):,} rows to {out}")
    if html_ is not None:
        settings = {"A": specs[0].name, "B": specs[1].name, "metric": metric, "week": int(first["week"]), "organisation": sc.organisation.name,
                    "engineers": sc.organisation.size, "weeks": sc.weeks, "replicates": replicates, "seed": seed}
        if set_:
            settings["overrides"] = ", ".join(set_)
        write_explain_html(table, html_, settings=settings, labels=labels)
        console.print(f"Wrote the report to {html_}")
