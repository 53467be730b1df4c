"""Self-contained HTML reports: a comparison (`mandate-sim compare --html`) here, a sweep's (`analyze --html`) in sensitivity.py.

Both render Jinja2 templates from ``templates/`` (``base.html.j2`` holds the shared layout, ``report.css`` the one
stylesheet, inlined) with autoescaping: only HTML the code builds itself (plotly divs, tables pandas writes with
escaping) is marked safe. plotly.js is inlined once, so a report opens offline. Files are written atomically.
"""

from __future__ import annotations

import datetime as _dt
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Mapping

import jinja2
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio
from markupsafe import Markup

from sim.atomic import atomic_write_text
from sim.experiments.replicates import shared_summary, sharing, summarise, summary_cells
from sim.model.metrics import METRICS
from sim.model.metrics import title as metric_title
from sim.version import __version__

from .figures import standard_figures
from .takeaways import takeaways

TABLE_METRICS = [
    "weekly_active_share", "ai_task_share", "genuine_use_share", "forced_use_share", "token_use_share", "shadow_use_share",
    "true_gain", "reported_gain", "measurement_gap", "cycle_time", "escaped_defects", "rework_share",
    "trust_leadership", "trust_ai", "psych_safety", "honest_reporting_share", "fatigue",
    "attrition_cumulative", "attrition_top_skill_cumulative", "risk_exposure",
]
#: How every report's figures behave: no logo, the camera button saves SVG.
FIGURE_CONFIG = {"displaylogo": False, "toImageButtonOptions": {"format": "svg"}}


def format_value(metric: str, x: float) -> str:
    """A metric value as people read it (``Metric.format``: shares and gains in percent, ...); two decimals for an unknown id."""
    m = METRICS.get(metric)
    return m.format(x) if m is not None else f"{x:.2f}"


def summary_table(results: pd.DataFrame, metrics=TABLE_METRICS) -> pd.DataFrame:
    """Metrics (ids) as rows, scenarios as columns, cells 'mean [5%, 95%]' at the end of the horizon.

    The index holds metric ids; what is shown to people renames it with ``metric_title``.
    """
    s = shared_summary(results, metrics) if results["metric"].isin(list(metrics)).any() else summarise(results)
    s = s[s["metric"].isin(metrics)]
    scen = list(dict.fromkeys(s["scenario"]))
    cells = {k: f"{format_value(k[0], mean)} [{format_value(k[0], low)}, {format_value(k[0], high)}]"
             for k, (mean, low, high) in summary_cells(s, ("metric", "scenario")).items()}
    rows = {m: [cells.get((m, n), "") for n in scen] for m in metrics if any((m, n) in cells for n in scen)}
    return pd.DataFrame.from_dict(rows, orient="index", columns=scen)


# ---------------------------------------------------------------------------
# Rendering and writing (shared with the sweep report)
# ---------------------------------------------------------------------------


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The reports' Jinja2 environment: templates from this package, everything escaped unless marked safe."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("sim.analysis", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "htm", "xml", "j2"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def figures_html(figures: Iterable[go.Figure]) -> list[Markup]:
    """Each figure as a plotly div (trusted HTML); plotly.js is inlined with the first only."""
    return [Markup(pio.to_html(f, full_html=False, include_plotlyjs=(i == 0), config=FIGURE_CONFIG)) for i, f in enumerate(figures)]


def table_html(df: pd.DataFrame, **kwargs: Any) -> Markup:
    """A table written by pandas with its cells escaped (so it may be marked safe)."""
    return Markup(df.to_html(escape=True, border=0, **kwargs))


def render(template: str, *, title: str, heading: str | None = None, settings: dict | None = None, **context: Any) -> str:
    """One report page: ``template`` (extending base.html.j2) with the shared layout, stylesheet and generated-by line."""
    return environment().get_template(template).render(
        title=title, heading=title if heading is None else heading, settings=dict(settings or {}),
        generated=_dt.datetime.now().strftime("%Y-%m-%d %H:%M"), version=__version__, **context,
    )


def write_atomic(path: str | Path, text: str, prefix: str = "") -> Path:
    """Write ``text`` to ``path`` atomically (``sim.atomic``: a temporary file in the same folder, then a rename; nothing is
    left behind on failure, and an OS error is an ``OutputError`` naming the path). ``prefix`` is ignored (kept for callers)."""
    return atomic_write_text(path, text)


# ---------------------------------------------------------------------------
# The comparison report
# ---------------------------------------------------------------------------


def render_html(results: pd.DataFrame, *, title: str = "mandate-sim comparison", settings: dict | None = None,
                labels: Mapping[str, str] | None = None) -> str:
    """The comparison report as one HTML document: takeaways, the end-of-horizon table and the standard figures;
    ``labels``: what they call each scenario (``policy_labels``: built-in titles by default)."""
    with sharing(results):  # the table and the figures share their summaries
        table = summary_table(results)
        figures = standard_figures(results, labels=labels)
    return render(
        "compare.html.j2", title=title, settings=settings,
        replicates=int(results["replicate"].nunique()), weeks=int(results["week"].max()),
        takeaways=takeaways(results, labels=labels), table=table_html(table.rename(index=metric_title)),
        figures=figures_html(figures.values()),
    )


def write_html(results: pd.DataFrame, path: str | Path, *, title: str = "mandate-sim comparison", settings: dict | None = None,
               labels: Mapping[str, str] | None = None) -> Path:
    """Write the report (plotly.js inlined once, so it opens offline) atomically to ``path``."""
    return write_atomic(path, render_html(results, title=title, settings=settings, labels=labels), prefix=".report-")


# ---------------------------------------------------------------------------
# The explanation report
# ---------------------------------------------------------------------------


def explanation_table(table: pd.DataFrame) -> pd.DataFrame:
    """The rows people read, one pair's: each channel either policy uses (that can reach the metric), the remainder and the total."""
    from .takeaways import _amount

    from sim.model.channels import CHANNELS

    metric = str(table["metric"].iloc[0])
    rows = table[table["used"] & table["channel"].map(lambda c: c not in CHANNELS or CHANNELS[c].reaches(metric))]
    fmt = lambda x: ("+" if x >= 0 else "−") + _amount(metric, x)  # noqa: E731
    return pd.DataFrame({
        "channel": rows["label"].to_numpy(),
        "contribution": [fmt(x) for x in rows["contribution"]],
        "90% interval": [f"{fmt(lo)} to {fmt(hi)}" if lo == lo else "" for lo, hi in zip(rows["low"], rows["high"])],
    })


def render_explain_html(table: pd.DataFrame, *, title: str = "mandate-sim explanation", settings: dict | None = None,
                        labels: Mapping[str, str] | None = None) -> str:
    """The explanation report: the reading, the waterfall figure and the table of contributions, per explained pair;
    ``labels``: what it calls each policy (``policy_labels``: built-in titles by default)."""
    from .figures import policy_labels, waterfall
    from .takeaways import why

    pairs = list(table.groupby(["a", "b"], sort=False).groups)
    sections, figures = [], []
    for a, b in pairs:
        rows = table[(table["a"] == a) & (table["b"] == b)]
        names = policy_labels([a, b], labels)
        figures.append(waterfall(rows, labels=labels))
        sections.append({"a": names[a], "b": names[b], "reading": why(rows, labels=labels), "method": str(rows["method"].iloc[0]),
                         "table": table_html(explanation_table(rows), index=False)})
    for s, f in zip(sections, figures_html(figures)):
        s["figure"] = f
    first = table.iloc[0]
    return render("explain.html.j2", title=title, settings=settings, sections=sections, replicates=int(first["replicates"]),
                  week=int(first["week"]), metric=metric_title(str(first["metric"])))


def write_explain_html(table: pd.DataFrame, path: str | Path, *, title: str = "mandate-sim explanation", settings: dict | None = None,
                       labels: Mapping[str, str] | None = None) -> Path:
    """Write the explanation report (plotly.js inlined once) atomically to ``path``."""
    return write_atomic(path, render_explain_html(table, title=title, settings=settings, labels=labels))
