"""Figures: functions that take the tidy results table and return plotly figures.

Shared by the CLI's HTML report and the Dash app, so both show the same
charts. Means are lines; the shaded band is the 5-95% range over replicates
(a 90% band). Each scenario keeps one colour everywhere (``scenario_colours``).
Metrics are shown by their title, the label with its unit ("Trust in AI (0–1)",
``sim.model.metrics``), never by their id; scenarios by their title
(``policy_labels``: a built-in's own, or the ``labels`` a caller passes).

Each figure function builds its chart as plain dicts (``figure_spec.FigureSpec``)
and returns a ``plotly.graph_objects.Figure``, or with ``as_dict=True`` the figure
dict itself, unvalidated, which is what the app sends to the browser.
"""

from __future__ import annotations

import functools
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sim.model.channels import CHANNELS
from sim.model.metrics import METRICS
from sim.model.metrics import title as metric_title
from sim.model.params import SENIORITY_LEVELS
from sim.model.scenarios import builtin_scenarios, scenario_summary
from sim.experiments.replicates import shared_bands, shared_summary, sharing, summary_cells

from .differences import signed
from .figure_spec import TEMPLATE, FigureSpec, figure_function

#: Colour-blind-safe palette (Okabe-Ito, then Tol's muted).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#882255", "#117733", "#999933", "#AA4499"]
BUILTIN_COLOURS = {
    "no_ai": "#7F7F7F",
    "mandate_single_tool": "#D55E00",
    "mandate_any_tool": "#E69F00",
    "generate_and_supervise": "#CC79A7",
    "free_choice": "#0072B2",
    "outcome_goals": "#009E73",
    "pilot_and_measure": "#56B4E9",
}
USE_COLOURS = {"genuine_use_share": "#009E73", "forced_use_share": "#D55E00", "token_use_share": "#E69F00", "shadow_use_share": "#7F7F7F"}
#: The kinds of use ``adoption_split`` stacks.
USE_KINDS = ("genuine_use_share", "forced_use_share", "token_use_share")


def scenario_colours(names: Sequence[str]) -> dict[str, str]:
    """One stable colour per scenario: built-ins keep theirs, others take the palette in order."""
    out: dict[str, str] = {}
    spare = [c for c in PALETTE if c not in BUILTIN_COLOURS.values()] + PALETTE
    i = 0
    for n in names:
        base = str(n).split("#")[0]
        if base in BUILTIN_COLOURS and BUILTIN_COLOURS[base] not in out.values():
            out[n] = BUILTIN_COLOURS[base]
        else:
            out[n] = spare[i % len(spare)]
            i += 1
    return out


@functools.lru_cache(maxsize=1)
def _builtin_titles() -> dict[str, str]:
    return {n: scenario_summary(n)[0] or n for n in builtin_scenarios()}


def policy_labels(names: Sequence[str], titles: Mapping[str, str] | None = None) -> dict[str, str]:
    """What charts and tables call each scenario: its title from ``titles`` (name -> title), else a built-in scenario's
    own title ('free_choice#2' is the built-in's title with ' #2'), else the name. Two scenarios never share a label
    (the name is added to a title two of them share)."""
    titles = dict(titles or {})
    builtin = _builtin_titles()
    out: dict[str, str] = {}
    for n in names:
        n = str(n)
        base, sep, num = n.partition("#")
        t = titles.get(n) or (builtin[base] + (f" #{num}" if sep else "") if base in builtin else n)
        out[n] = str(t).strip() or n
    counts: dict[str, int] = {}
    for t in out.values():
        counts[t] = counts.get(t, 0) + 1
    return {n: (f"{t} ({n})" if counts[t] > 1 and t != n else t) for n, t in out.items()}


def scenario_labels(specs: Sequence) -> dict[str, str]:
    """What charts, tables and sentences call each of these scenarios (``Scenario`` objects): its own title (a file's, or
    a built-in's), by name (``policy_labels``)."""
    return policy_labels([s.name for s in specs], {s.name: s.title for s in specs if s.title})


def wrapped_title(metric: str, width: int = 34) -> str:
    """A metric's title for a narrow subplot: the unit on a second line when the whole is longer than ``width``."""
    m = METRICS.get(metric)
    text = metric_title(metric)
    if m is None or not m.symbol or len(text) <= width:
        return text
    return f"{m.label}<br>({m.symbol})"


def _wrap(text: str, width: int) -> str:
    """``text`` on up to two lines of about ``width`` characters (broken at the space nearest the middle), for a narrow title."""
    if len(text) <= width or " " not in text:
        return text
    mid = len(text) // 2
    cut_at = min((i for i, ch in enumerate(text) if ch == " "), key=lambda i: abs(i - mid))
    return text[:cut_at] + "<br>" + text[cut_at + 1:]


def note_flat(fig: FigureSpec, b: pd.DataFrame, results: pd.DataFrame) -> FigureSpec:
    """Say under the title why a line has no band, so that a flat line with a zero-width band reads as intended: one
    replicate, or every replicate giving the same value (with the first such line as an example)."""
    reps = int(results["replicate"].nunique()) if len(results) else 0
    if reps == 1:
        note = "One replicate per policy: lines have no band (run more replicates to see the spread between runs)."
    else:
        mean = b["mean"].to_numpy()
        flat = np.abs(b["high"].to_numpy() - b["low"].to_numpy()) <= 1e-12 * np.maximum(np.abs(mean), 1.0)
        lines = list(zip(b["scenario"].to_numpy(), b["metric"].to_numpy()))
        banded = {k for k, f in zip(lines, flat) if not f}
        same = next((k for k in dict.fromkeys(lines) if k not in banded), None)
        if same is None:
            return fig
        metric = same[1]
        values = pd.unique(mean[[k == same for k in lines]])
        label = METRICS[metric].label if metric in METRICS else metric
        example = f"{label} stays at {format_number(metric, float(values[0]))}" if len(values) == 1 else label
        note = f"A line without a band: all {reps} replicates give the same value (e.g. {example})."
    fig.update_layout(title={"subtitle": {"text": note, "font": {"size": 11, "color": "#555"}}})
    return fit(fig)


def _rgba(hex_colour: str, alpha: float) -> str:
    h = hex_colour.lstrip("#")
    r, g, b = int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)
    return f"rgba({r},{g},{b},{alpha})"


def group_label(group: str) -> str:
    """A breakdown as people read it: 'seniority=senior' -> 'senior engineers', 'task=complex_change' -> 'complex change tasks'; '' for all."""
    if group in ("", "all"):
        return ""
    kind, _, value = str(group).partition("=")
    value = value.replace("_", " ")
    if kind == "seniority":
        return f"{value} engineers"
    if kind == "task":
        return f"{value} tasks"
    return str(group).replace("_", " ")


def series_title(name: str, group: str = "all") -> str:
    """The title of a metric or of a sweep output 'metric/group': "Trust in AI (0–1)", "True gain (% vs no AI) — senior engineers"."""
    metric, _, g = str(name).partition("/")
    extra = group_label(g or group)
    return f"{metric_title(metric)} — {extra}" if extra else metric_title(metric)


def axis_unit(metric: str) -> str | None:
    """The unit of a metric as an axis shows it ("% of engineers", "days"), or None when unknown."""
    m = METRICS.get(metric)
    return (m.symbol or None) if m is not None else None


def _scenarios(results: pd.DataFrame) -> list[str]:
    """Scenario names in the table's order (category order when categorical), without converting the whole column."""
    col = results["scenario"]
    if not isinstance(col.dtype, pd.CategoricalDtype):
        return [str(c) for c in pd.unique(col)]
    cats = col.cat.categories.tolist()
    counts = np.bincount(col.cat.codes.to_numpy().astype(np.intp) + 1, minlength=len(cats) + 1)  # rows per code, missing (-1) first
    present = {str(c) for c, k in zip(cats, counts[1:]) if k} | ({str(np.nan)} if counts[0] else set())
    return [str(c) for c in cats if str(c) in present]


def _lines(b: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    """A band table's rows per (scenario, metric), each in the table's order (one line of a chart each): its runs of rows
    with one key, joined."""
    keys = list(zip(b["scenario"].to_numpy(), b["metric"].to_numpy()))
    starts = [i for i in range(len(keys)) if i == 0 or keys[i] != keys[i - 1]]
    runs: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for i, j in zip(starts, starts[1:] + [len(keys)]):
        runs.setdefault(keys[i], []).append(b.iloc[i:j])
    return {k: v[0] if len(v) == 1 else pd.concat(v) for k, v in runs.items()}


def _by_week(band: pd.DataFrame) -> pd.DataFrame:
    """``band`` sorted by week (itself when its weeks already rise)."""
    week = band["week"].to_numpy()
    return band if (week[1:] > week[:-1]).all() else band.sort_values("week")


def _layout(fig: FigureSpec | go.Figure, title: str, *, height: int = 420, ytitle: str | None = None, percent: bool = False, week_max: int | None = None,
            big: bool = False) -> FigureSpec | go.Figure:
    """The house style: template, title at the top left, legend below, unified hover, font size, axis titles and
    formats, and margins that ``fit`` what is drawn (a ``FigureSpec`` or a ``go.Figure``)."""
    fig.update_layout(
        template=TEMPLATE,
        title={"text": title, "x": 0.01, "xanchor": "left", "yref": "container", "y": 1.0, "yanchor": "top", "pad": {"t": 10}},
        height=height,
        margin={"l": 60, "r": 20, "t": 60, "b": 70},
        legend={"orientation": "h", "yanchor": "top", "y": -0.18, "x": 0},
        hovermode="x unified",
        font={"size": 18 if big else 13},
    )
    fig.update_xaxes({"title": {"text": "week"}})
    if ytitle:
        fig.update_yaxes({"title": {"text": ytitle}})
    if percent:
        fig.update_yaxes({"tickformat": ".0%"})
    if week_max:
        fig.update_xaxes({"range": [1, week_max]})
    return fit(fig)


#: Width (px) a chart is assumed to have when its legend's rows are counted: about half of a 1280 px screen's page.
LEGEND_WIDTH = 430
#: Pixels between the x axis and the legend below it: room for the tick labels and the axis title.
BELOW_AXIS = 58


def fit(fig: FigureSpec | go.Figure) -> FigureSpec | go.Figure:
    """Margins that hold what is drawn in them (``fitted_margins``), set on a ``FigureSpec`` or a ``go.Figure``."""
    if isinstance(fig, FigureSpec):
        layout, data = fig.layout, fig.data
    else:
        layout, data = fig.layout.to_plotly_json(), [t.to_plotly_json() for t in fig.data]
    fig.update_layout(fitted_margins(layout, data))
    return fig


def fitted_margins(layout: Mapping, data: Sequence[Mapping]) -> dict:
    """Margins (px) that hold what is drawn in them, so nothing overlaps: at the top the title, its subtitle and the
    first row of subplot titles (on up to two lines); at the bottom the tick labels, the axis title and the legend,
    whose rows are counted for a chart LEGEND_WIDTH px wide (a wider chart leaves some room free). A layout patch."""
    def get(d: Mapping | None, *path: str):
        for k in path:
            d = d.get(k) if isinstance(d, Mapping) else None
        return d

    size = float(get(layout, "font", "size") or 13)
    line = 1.45 * size
    entries = [str(t["name"]) for t in data if t.get("showlegend") is not False and t.get("name")]
    legend_y = get(layout, "legend", "y")
    below = get(layout, "legend", "orientation") == "h" and (legend_y is None or legend_y < 0)
    rows, used = 0, LEGEND_WIDTH
    for name in entries if below else ():
        w = 44 + 0.62 * size * len(name)
        if used + w > LEGEND_WIDTH:
            rows, used = rows + 1, w
        else:
            used += w
    subtitle = get(layout, "title", "subtitle", "text")
    titles = [a for a in layout.get("annotations") or () if a.get("yanchor") == "bottom" and a.get("yref") == "paper"]
    lines = max((str(a.get("text")).count("<br>") + 1 for a in titles), default=0)
    title_size = float(get(layout, "title", "font", "size") or 1.4 * size)
    note_size = float(get(layout, "title", "subtitle", "font", "size") or size) if subtitle else 0.0
    sub_size = max((float(get(a, "font", "size") or size + 3) for a in titles), default=size)
    note_lines = str(subtitle).count("<br>") + 1 if subtitle else 0
    top = 10 + 1.3 * title_size + (1.35 * note_size * note_lines + 4 if subtitle else 0) + (1.3 * sub_size * lines + 8 if lines else 10)
    bottom = BELOW_AXIS + rows * line + 12 if rows else 70
    patch: dict = {"margin": {"t": int(max(top, 56)), "b": int(bottom)}}
    if rows:  # at the foot of the figure, whatever height the page gives it: below the axis title, never over it
        patch["legend"] = {"yref": "container", "y": 0, "yanchor": "bottom"}
    return patch


def is_percent(name: str) -> bool:
    """Whether a metric's (or a sweep output 'metric/group''s) values are shown as percentages (its ``format`` says so)."""
    m = METRICS.get(str(name).partition("/")[0])
    return m is not None and m.format(0.0).endswith("%")


def format_number(name: str, x: float, digits: int = 3) -> str:
    """A value of a metric or sweep output as people read it (``Metric.format``); ``digits`` decimals for anything else."""
    m = METRICS.get(str(name).partition("/")[0])
    if x != x:
        return ""
    if m is not None:
        return m.format(x)
    return f"{x:.{digits}g}" if abs(x) >= 1e4 or (x != 0 and abs(x) < 1e-3) else f"{x:.{digits}f}"


def add_band_traces(fig: FigureSpec, band: pd.DataFrame, name: str, colour: str, *, row: int | None = None, col: int | None = None, dash: str | None = None, legend: bool = True, label: str | None = None) -> None:
    """A mean line with its shaded 90% band."""
    band = _by_week(band)
    x = band["week"].tolist()
    fig.add_trace({"type": "scatter", "x": x + x[::-1], "y": band["high"].tolist() + band["low"].tolist()[::-1], "fill": "toself",
                   "fillcolor": _rgba(colour, 0.18), "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False,
                   "legendgroup": label or name, "name": f"{label or name} band"}, row=row, col=col)
    fig.add_trace({"type": "scatter", "x": x, "y": band["mean"].to_numpy(), "mode": "lines", "line": {"color": colour, "width": 2.5, "dash": dash},
                   "name": label or name, "legendgroup": label or name, "showlegend": legend}, row=row, col=col)


@figure_function
def metric_over_time(results: pd.DataFrame, metric: str, *, group: str = "all", title: str | None = None, colours: dict | None = None,
                     until_week: int | None = None, big: bool = False, height: int = 420, labels: Mapping[str, str] | None = None) -> FigureSpec:
    """One metric over the weeks: a mean line and 90% band per scenario (``labels``: what the legend calls each, as
    ``policy_labels`` gives)."""
    names = _scenarios(results)
    colours = colours or scenario_colours(names)
    labels = policy_labels(names, labels)
    b = shared_bands(results, metrics=[metric], groups=[group])
    if until_week is not None:
        b = b[b["week"] <= until_week]
    lines = _lines(b)
    fig = FigureSpec()
    for n in names:
        if (n, metric) in lines:
            add_band_traces(fig, lines[n, metric], n, colours[n], label=labels[n])
    wmax = int(results["week"].max()) if len(results) else None
    _layout(fig, title or series_title(metric, group), ytitle=axis_unit(metric), percent=is_percent(metric), week_max=wmax, big=big, height=height)
    return note_flat(fig, b, results)


@figure_function
def adoption_split(results: pd.DataFrame, *, colours: dict | None = None, until_week: int | None = None, big: bool = False,
                   labels: Mapping[str, str] | None = None) -> FigureSpec:
    """Weekly active engineers split into genuine, forced and token use (stacked means), plus shadow use, one panel per scenario."""
    names = _scenarios(results)
    labels = policy_labels(names, labels)
    b = shared_bands(results, metrics=[*USE_KINDS, "shadow_use_share"], groups=["all"])
    if until_week is not None:
        b = b[b["week"] <= until_week]
    lines, none = _lines(b), b.iloc[:0]
    n = len(names)
    fig = FigureSpec(rows=1, cols=n, shared_yaxes=True, subplot_titles=[_wrap(labels[x], 34 if n > 2 else 60) for x in names],
                     horizontal_spacing=0.03)
    for i, name in enumerate(names, start=1):
        for k in USE_KINDS:
            sub = _by_week(lines.get((name, k), none))
            fig.add_trace({"type": "scatter", "x": sub["week"].to_numpy(), "y": sub["mean"].to_numpy(), "stackgroup": f"s{i}", "mode": "lines",
                           "line": {"width": 0.5, "color": USE_COLOURS[k]}, "name": METRICS[k].label, "legendgroup": k, "showlegend": i == 1},
                          row=1, col=i)
        sub = _by_week(lines.get((name, "shadow_use_share"), none))
        fig.add_trace({"type": "scatter", "x": sub["week"].to_numpy(), "y": sub["mean"].to_numpy(), "mode": "lines",
                       "line": {"color": USE_COLOURS["shadow_use_share"], "dash": "dot", "width": 2},
                       "name": f"{METRICS['shadow_use_share'].label} (unapproved, hidden)", "legendgroup": "shadow", "showlegend": i == 1},
                      row=1, col=i)
    fig.update_yaxes({"range": [0, 1], "tickformat": ".0%"})
    _layout(fig, "Weekly active engineers: genuine, forced and token use", percent=True, big=big, height=400)
    return fig


@figure_function
def measurement_gap(results: pd.DataFrame, *, colours: dict | None = None, until_week: int | None = None, big: bool = False,
                    labels: Mapping[str, str] | None = None) -> FigureSpec:
    """What leadership hears (self-reported gain, dashed) against the true gain (solid), per scenario."""
    names = _scenarios(results)
    colours = colours or scenario_colours(names)
    labels = policy_labels(names, labels)
    b = shared_bands(results, metrics=["true_gain", "reported_gain"], groups=["all"])
    if until_week is not None:
        b = b[b["week"] <= until_week]
    lines, none = _lines(b), b.iloc[:0]
    fig = FigureSpec()
    for n in names:
        add_band_traces(fig, lines.get((n, "true_gain"), none), n, colours[n], label=f"{labels[n]}: true")
        add_band_traces(fig, lines.get((n, "reported_gain"), none), n, colours[n], dash="dash", label=f"{labels[n]}: reported")
    fig.add_hline(y=0, line={"color": "#444", "width": 1})
    _layout(fig, "Measurement gap: reported (dashed) vs true gain (solid)", ytitle="productivity vs no AI", percent=True,
            week_max=int(results["week"].max()), big=big)
    return note_flat(fig, b, results)


#: Height (px) of one row of small multiples, and the room (px) between two rows: the upper row's tick labels and the
#: lower row's two-line titles.
PANEL_ROW_PX, ROW_GAP_PX = 380, 120


def row_gap(rows: int) -> float:
    """Space between rows of small multiples as plotly wants it (a share of the plotting height): ``ROW_GAP_PX`` at the
    panel's own height (about 220 px of it are margins), never more than 0.22 (two rows)."""
    return min(0.22, ROW_GAP_PX / max(PANEL_ROW_PX * rows - 220, 1)) if rows > 1 else 0.0


@figure_function
def panel(results: pd.DataFrame, metrics: Sequence[str], title: str, *, group: str = "all", colours: dict | None = None, until_week: int | None = None,
          big: bool = False, cols: int | None = None, labels: Mapping[str, str] | None = None) -> FigureSpec:
    """Several metrics side by side (small multiples), mean and band per scenario."""
    names = _scenarios(results)
    colours = colours or scenario_colours(names)
    labels = policy_labels(names, labels)
    b = shared_bands(results, metrics=list(metrics), groups=[group])
    if until_week is not None:
        b = b[b["week"] <= until_week]
    lines = _lines(b)
    cols = cols or len(metrics)
    rows = (len(metrics) + cols - 1) // cols
    fig = FigureSpec(rows=rows, cols=cols, subplot_titles=[wrapped_title(m, 34 if cols > 2 else 60) for m in metrics],
                     horizontal_spacing=0.07, vertical_spacing=row_gap(rows), grid=True)
    for i, m in enumerate(metrics):
        r, c = i // cols + 1, i % cols + 1
        for n in names:
            if (n, m) in lines:
                add_band_traces(fig, lines[n, m], n, colours[n], row=r, col=c, legend=i == 0, label=labels[n])
        if is_percent(m):
            fig.update_yaxes({"tickformat": ".0%"}, row=r, col=c)
    _layout(fig, title, height=PANEL_ROW_PX * rows, big=big)
    for i in range(len(metrics)):  # "week" under the lowest chart of each column, not between the rows (where the titles are)
        fig.update_xaxes({"title": {"text": "week" if i + cols >= len(metrics) else ""}}, row=i // cols + 1, col=i % cols + 1)
    return note_flat(fig, b, results)


@figure_function
def breakdown(results: pd.DataFrame, metric: str, by: str = "seniority", *, colours: dict | None = None, week: int | None = None, big: bool = False,
              labels: Mapping[str, str] | None = None) -> FigureSpec:
    """End-of-horizon value of a metric by seniority or task type: bars per scenario with 90% band whiskers."""
    names = _scenarios(results)
    colours = colours or scenario_colours(names)
    labels = policy_labels(names, labels)
    prefix = f"{by}="
    groups = sorted({str(g) for g in results.loc[results["metric"] == metric, "group"].unique() if str(g).startswith(prefix)})
    if by == "seniority":
        groups = [f"seniority={lv}" for lv in SENIORITY_LEVELS if f"seniority={lv}" in groups]
    cells = summary_cells(shared_summary(results, [metric], week=week, groups=groups), ("scenario", "group"))
    fig = FigureSpec()
    for n in names:
        cell = [cells.get((n, g), (np.nan,) * 3) for g in groups]  # a group without a value: NaN, as reindex gives
        mean, low, high = (np.array([c[i] for c in cell], dtype=float) for i in range(3))
        fig.add_trace({"type": "bar", "x": [g[len(prefix):].replace("_", "<br>") for g in groups], "y": mean, "name": labels[n],
                       "marker": {"color": colours[n]},
                       "error_y": {"type": "data", "symmetric": False, "array": (high - mean).tolist(),
                                   "arrayminus": (mean - low).tolist()}})
    fig.update_layout(barmode="group")
    week = int(results["week"].max()) if week is None else int(week)
    fig.update_layout(title={"subtitle": {"text": f"Week {week}; whiskers: 90% band over replicates", "font": {"size": 11, "color": "#555"}}})
    _layout(fig, f"{metric_title(metric)} by {'task type' if by == 'task' else by}", percent=is_percent(metric), big=big)
    fig.update_xaxes({"title": {"text": ""}, "tickangle": 0})
    return fig


PEOPLE = ("trust_leadership", "trust_ai", "psych_safety", "honest_reporting_share")
PERFORMANCE = ("cycle_time", "escaped_defects", "rework_share")
WELLBEING = ("fatigue", "attrition_cumulative", "attrition_top_skill_cumulative")
RISK = ("shadow_use_share", "risk_exposure", "pushback_share")
#: The metrics the standard charts draw as lines with bands (of the whole organisation).
BANDED = (*USE_KINDS, "weekly_active_share", "true_gain", "reported_gain", *PERFORMANCE, *PEOPLE, *WELLBEING, *RISK)


def standard_figures(results: pd.DataFrame, *, big: bool = False, labels: Mapping[str, str] | None = None, as_dict: bool = False) -> dict[str, go.Figure | dict]:
    """The standard set of comparison charts, in reading order (used by the HTML report and the app); ``labels``: what
    they call each scenario (``policy_labels``: built-in titles by default); ``as_dict``: plain figure dicts."""
    names = _scenarios(results)
    colours = scenario_colours(names)
    kw = {"colours": colours, "big": big, "labels": policy_labels(names, labels), "as_dict": as_dict}
    with sharing(results) as shared:
        shared.bands(BANDED)  # one band table for the lines of every chart, cut for each
        return {
            "adoption": adoption_split(results, **kw),
            "weekly_active": metric_over_time(results, "weekly_active_share", title="Weekly active users (what the usage dashboard shows)",
                                              **kw),
            "gap": measurement_gap(results, **kw),
            "performance": panel(results, PERFORMANCE, "Cycle time, escaped defects and rework", **kw),
            "people": panel(results, PEOPLE, "Trust, safety and honest reporting", cols=2, **kw),
            "wellbeing": panel(results, WELLBEING, "Fatigue and attrition (all, and the most skilled)", **kw),
            "risk": panel(results, RISK, "Shadow use, risk exposure and pushback", **kw),
            "gain_by_seniority": breakdown(results, "true_gain", "seniority", **kw),
            "gain_by_task": breakdown(results, "true_gain", "task", **kw),
            "ai_by_task": breakdown(results, "ai_task_share", "task", **kw),
        }


def _pair(table: pd.DataFrame, a: str | None, b: str | None) -> pd.DataFrame:
    """The rows of one explained pair (the first when none is named)."""
    first = table.iloc[0]
    a = first["a"] if a is None else a
    b = first["b"] if b is None else b
    return table[(table["a"] == a) & (table["b"] == b)]


@figure_function
def waterfall(table: pd.DataFrame, *, a: str | None = None, b: str | None = None, big: bool = False,
              labels: Mapping[str, str] | None = None) -> FigureSpec:
    """From A's outcome to B's: one bar per channel that either policy uses and that can reach the metric (largest first),
    then the remainder, with 90% intervals as error bars (an explanation table from ``sim.explain``); ``labels``: what it
    calls each policy (``policy_labels``: built-in titles by default)."""
    rows = _pair(table, a, b)
    first = rows.iloc[0]
    metric, a, b = str(first["metric"]), str(first["a"]), str(first["b"])
    parts = rows[rows["used"] & rows["channel"].map(lambda c: c in CHANNELS and CHANNELS[c].reaches(metric))]
    parts = parts.reindex(parts["contribution"].abs().sort_values(ascending=False).index)
    parts = pd.concat([parts, rows[rows["channel"] == "remainder"]])
    names = policy_labels([a, b], labels)
    x = [names[a]] + [str(l) for l in parts["label"]] + [names[b]]
    y = [float(first["outcome_a"])] + [float(v) for v in parts["contribution"]] + [float(first["outcome_b"])]
    text = [format_number(metric, y[0])] + [signed(metric, v) for v in y[1:-1]] + [format_number(metric, y[-1])]
    colours = scenario_colours([a, b])
    fig = FigureSpec().add_trace({
        "type": "waterfall", "x": x, "y": y, "measure": ["absolute"] + ["relative"] * len(parts) + ["total"], "text": text, "textposition": "outside", "constraintext": "none",
        "connector": {"line": {"color": "#BBBBBB"}}, "increasing": {"marker": {"color": "#009E73"}}, "decreasing": {"marker": {"color": "#D55E00"}},
        "totals": {"marker": {"color": colours[b]}}, "showlegend": False, "hoverinfo": "x+text", "name": "contribution",
    })
    # Error bars at each bar's end: the running sum with this part's 90% interval (the outcomes' own intervals at the ends).
    ends, lo, hi, level = [], [], [], y[0]
    for (_, r), v in zip(parts.iterrows(), y[1:-1]):
        level += v
        ends.append(level)
        lo.append(v - float(r["low"]))
        hi.append(float(r["high"]) - v)
    ends = [y[0]] + ends + [y[-1]]
    lo = [y[0] - float(first["outcome_a_low"])] + lo + [y[-1] - float(first["outcome_b_low"])]
    hi = [float(first["outcome_a_high"]) - y[0]] + hi + [float(first["outcome_b_high"]) - y[-1]]
    fig.add_trace({"type": "scatter", "x": x, "y": ends, "mode": "markers", "marker": {"size": 1, "color": "#333333"}, "showlegend": False,
                   "hoverinfo": "skip", "error_y": {"type": "data", "array": hi, "arrayminus": lo, "color": "#333333", "thickness": 1.2, "width": 5}})
    # The policies' titles are long: they go in the subtitle, on two lines where need be, so the title fits a narrow chart.
    fig.update_layout(title={"subtitle": {"text": _wrap(f"from {names[a]} (left) to {names[b]} (right)", 70), "font": {"color": "#555"}}})
    _layout(fig, f"{metric_title(metric)}, week {int(first['week'])}: where the difference comes from", height=460 if big else 420,
            ytitle=metric_title(metric), percent=is_percent(metric), big=big)
    fig.update_xaxes({"title": {"text": ""}, "tickangle": -25})
    fig.update_layout(hovermode="closest", margin={"l": 60, "r": 20, "b": 120})
    return fig
