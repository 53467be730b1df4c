"""Sweep explorer: open a folder written by `mandate-sim sweep` (or started here) under the server's data root.

For every design: each parameter against the chosen outcome (a scatter matrix), a heatmap over two parameters and
parallel coordinates; which parameters matter, as Sobol' or Morris indices (sobol and morris designs) or as Spearman
rank correlations with 95% intervals and p-values (grid and lhs designs, which have no indices); downloads of the
sweep's tidy table and of the indices or correlations. Parameters are named by their declarations (words and unit),
outcomes by their titles; ids stay in the values and the downloads. A small sweep can be started from the page
(dashboards/sweep_start.py). The figures and tables are functions of the tidy tables in sim/analysis/sensitivity.py.

Only folders inside the data root (``--data-root``) can be opened: a path that
resolves outside it, through ``..`` or a link, is refused.
"""

from __future__ import annotations

import importlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from sim.analysis.figures import series_title
from sim.analysis.sensitivity import (
    INDEX_COLUMNS,
    correlation_bars,
    heatmap,
    index_bars,
    indices_wide,
    parallel_coordinates,
    parameter_title,
    parameter_titles,
    scatter_matrix,
    short_titles,
    shown_spearman,
    wrapped,
)
from sim.errors import InputError
from sim.model.scenarios import scenario_summary

from .. import sweep_start
from ..context import current, share_box
from ..state import query

#: How deep under the data root the page looks for sweep folders, and how many folders it looks at.
SCAN_DEPTH, SCAN_LIMIT = 3, 2000
#: The outcome the explorer opens with when the sweep recorded it: true gain, all engineers.
DEFAULT_OUTCOME = "true_gain"
#: Designs whose sweeps have sensitivity indices (the others get rank correlations).
INDEX_DESIGNS = ("sobol", "morris")
_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()

HELP = ("Each dot of the scatter matrix is one design point (its outcome averaged over replicates, at the end of the horizon). "
        "Which parameters matter: Sobol' indices (share of the outcome's variance a parameter explains, alone S1 and with its interactions ST) "
        "or Morris effects (mu*: mean size of a parameter's effect, sigma: how much it depends on the others) for those designs; "
        "for grid and Latin hypercube (lhs) sweeps, Spearman's rank correlation rho: near +1 the outcome rises steadily with the parameter, "
        "near -1 it falls, near 0 no steady trend; the 95% interval and the p-value say how sure that is with this many runs.")


def sweep_modules():
    """The sweep package and the sweep analysis module (sim.analysis.sensitivity), or None when this installation lacks them."""
    try:
        return importlib.import_module("sim.experiments.sweeps"), importlib.import_module("sim.analysis.sensitivity")
    except ModuleNotFoundError:
        return None


def resolve_inside(root: Path, folder: str) -> Path:
    """The folder ``folder`` (relative to ``root``) if it lies inside the root, else an InputError."""
    root = root.resolve()
    if folder is None or str(folder).strip() == "":
        raise InputError("is empty", source="sweep folder", allowed="a folder under the data root")
    raw = Path(str(folder))
    p = (raw if raw.is_absolute() else root / raw).resolve()
    if p != root and root not in p.parents:
        raise InputError("lies outside the data root this server was started with", source="sweep folder", value=str(folder),
                         allowed="a folder under the data root")
    if not p.is_dir():
        raise InputError("is not a folder", source="sweep folder", value=str(folder))
    return p


def is_sweep(path: Path) -> bool:
    """Whether a folder holds a sweep's manifest."""
    return (path / "manifest.json").is_file()


def find_sweeps(root: Path) -> list[str]:
    """Sweep folders under the root (relative paths), breadth first, within the scan limits."""
    root = root.resolve()
    found, seen = [], 0
    level = [root]
    for _ in range(SCAN_DEPTH + 1):
        nxt = []
        for d in level:
            if is_sweep(d):
                found.append(str(d.relative_to(root)) if d != root else ".")
                continue
            try:
                children = sorted(c for c in d.iterdir() if c.is_dir() and not c.name.startswith(".") and not c.is_symlink())
            except OSError:
                continue
            for c in children:
                seen += 1
                if seen > SCAN_LIMIT:
                    return found
                nxt.append(c)
        level = nxt
    return found


def _clean(message: str, root: Path) -> str:
    """A message with the server's paths under the data root shown relative to it."""
    r = str(root.resolve())
    return message.replace(r + "/", "").replace(r, "the data root")


def load(path: Path) -> dict:
    """The sweep's table, manifest, sensitivity indices and rank correlations (cached by folder and modification time)."""
    mods = sweep_modules()
    if mods is None:
        raise InputError("cannot be read: this installation has no sweep support (sim.sweep)", source="sweep folder")
    sweep, analysis = mods
    stamp = max((p.stat().st_mtime_ns for p in path.iterdir()), default=0)
    key = (str(path), stamp)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    frame = sweep.load_sweep(path)
    manifest = sweep.read_manifest(path)
    indices, index_error = None, None
    if manifest.get("design") in INDEX_DESIGNS:
        try:
            indices = analysis.sensitivity(frame, manifest)
        except InputError as e:
            index_error = str(e)
        except Exception as e:  # indices that cannot be estimated must not break the page
            index_error = f"no sensitivity indices for this sweep: {e}"
    out = {"frame": frame, "manifest": manifest, "indices": indices, "index_error": index_error, "correlations": analysis.spearman_table(frame)}
    with _cache_lock:
        _cache[key] = out
        while len(_cache) > 4:
            _cache.popitem(last=False)
    return out


def open_data(root: Path, folder: str) -> dict:
    """``load`` of a folder under the root; an InputError (without the server's paths) otherwise."""
    try:
        return load(resolve_inside(root, folder))
    except InputError as e:
        raise InputError(_clean(str(e), root)) from None


def parameters_of(data: dict) -> list[str]:
    """The swept parameter paths."""
    params = list((data["manifest"].get("parameters") or {}).keys())
    return [p for p in params if p in data["frame"].columns] or params


def outcomes_of(data: dict) -> list[str]:
    """The sweep's outputs ('metric' or 'metric/group'), in the order the sweep recorded them."""
    present = set(map(str, data["frame"]["metric"].unique()))
    recorded = [o for o in data["manifest"].get("outputs") or [] if o in present]
    return recorded + sorted(present - set(recorded))


def default_outcome(outcomes: list[str]) -> str | None:
    """True gain of all engineers when the sweep recorded it, else true gain of some group, else the first outcome."""
    if DEFAULT_OUTCOME in outcomes:
        return DEFAULT_OUTCOME
    return next((o for o in outcomes if o.partition("/")[0] == DEFAULT_OUTCOME), outcomes[0] if outcomes else None)


def describe(data: dict) -> list:
    """What the sweep is: design, runs, scenario, size and its parameters (by label, with the path a spec uses)."""
    man = data["manifest"]
    spec = man.get("spec") or {}
    scenario = spec.get("scenario")
    if isinstance(scenario, str):
        try:
            scenario = scenario_summary(scenario)[0] or scenario
        except InputError:
            pass
    what = [f"{man.get('design', '?')} design", f"{len(man.get('finished') or [])} of {man.get('runs', '?')} design points x {man.get('replicates', '?')} replicates"]
    if isinstance(scenario, str):
        what.append(f"scenario: {scenario}")
    elif spec.get("function"):
        what.append(f"function: {spec['function']}")
    for k, unit in (("engineers", "engineers"), ("weeks", "weeks")):
        if spec.get(k):
            what.append(f"{spec[k]} {unit}")
    text = ", ".join(what) + (" (unfinished: run the same mandate-sim sweep command again to finish it)" if not man.get("complete", True) else "")
    ranges = man.get("parameters") or {}
    params = [html.Li([parameter_title(p), " ", html.Span(f"{_range(ranges.get(p))} ", className="text-body"), html.Code(p, className="swp-path")])
              for p in parameters_of(data)]
    return [html.Div(text), html.Ul(params, className="swp-param-list mb-0")]


def _range(r: Any) -> str:
    if isinstance(r, (list, tuple)) and len(r) == 2:
        return f"{r[0]:g} to {r[1]:g}"
    if isinstance(r, (list, tuple)):
        return ", ".join(f"{v:g}" for v in r)
    return ""


#: The charts' toolbar: download, zoom, pan and reset only (a short toolbar covers no title).
GRAPH_CONFIG = {"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}


#: What the page says where its charts would be while no sweep is open.
NO_SWEEP = "No sweep is open: choose a sweep folder above, type one, or start a small sweep. Its charts appear here."
SHOWN, HIDDEN = {}, {"display": "none"}


def _graph(id_: str) -> dcc.Graph:
    return dcc.Graph(id=id_, config=GRAPH_CONFIG, className="swp-graph")


def layout(folder: Any = None, metric: Any = None, x: Any = None, y: Any = None, **_: Any) -> html.Div:
    """The explorer, opening the folder the link names."""
    ctx = current()
    mods = sweep_modules()
    if mods is None:
        return dbc.Alert("This installation has no sweep support yet (sim.sweep and sim.analysis).", color="warning", id="sweep-missing")
    found = find_sweeps(ctx.data_root)
    if folder and folder not in found:
        found.append(str(folder))  # a linked folder is checked (and refused if outside the root) when opened
    chosen = folder if folder else (found[0] if found else None)
    return html.Div([
        html.P(["Sweep folders under the data root ", html.Code(str(ctx.data_root)), ": write one with ", html.Code("mandate-sim sweep"),
                " (docs/SWEEPS.md) or start a small one here."], className="mb-2"),
        dbc.Row([
            dbc.Col([dbc.Label("Sweep folder", className="small fw-semibold mb-0", html_for="sweep-folder"),
                     dcc.Dropdown(id="sweep-folder", options=found, value=chosen, placeholder="choose or type a folder",
                                  searchable=True)], md=5),
            dbc.Col([dbc.Label("Or type a folder under the data root", className="small fw-semibold mb-0", html_for="sweep-path"),
                     dbc.Input(id="sweep-path", type="text", value=folder or "", debounce=True, size="sm")], md=3),
            dbc.Col([html.Div("Downloads", className="small fw-semibold"),
                     dbc.ButtonGroup([
                         dbc.Button("Results (CSV)", id="sweep-dl-results", size="sm", color="secondary", outline=True, disabled=not chosen,
                                    title="the sweep's tidy table: one row per run, replicate and outcome"),
                         dbc.Button("Indices or correlations (CSV)", id="sweep-dl-table", size="sm", color="secondary", outline=True, disabled=not chosen,
                                    title="Sobol'/Morris indices, or Spearman rank correlations with their intervals and p-values"),
                     ], size="sm"),
                     dcc.Download(id="sweep-download")], md=4),
        ], className="mb-2 g-2"),
        sweep_start.start_form(ctx.data_root),
        dbc.Alert(id="sweep-error", color="danger", is_open=False, style={"whiteSpace": "pre-wrap"}),
        html.Div(id="sweep-info", className="small text-muted mb-2"),
        html.P(NO_SWEEP, id="sweep-none", className="text-muted border rounded p-3", style=HIDDEN if chosen else SHOWN),
        html.Div(id="sweep-results", style=SHOWN if chosen else HIDDEN, children=[
        dbc.Row([
            dbc.Col([dbc.Label("Outcome", className="small fw-semibold mb-0", html_for="sweep-metric"),
                     dcc.Dropdown(id="sweep-metric", value=metric, clearable=False)], md=4),
            dbc.Col([dbc.Label("Heatmap across", className="small fw-semibold mb-0", html_for="sweep-x"),
                     dcc.Dropdown(id="sweep-x", value=x, clearable=False, optionHeight=45)], md=4),
            dbc.Col([dbc.Label("Heatmap up", className="small fw-semibold mb-0", html_for="sweep-y"),
                     dcc.Dropdown(id="sweep-y", value=y, clearable=False, optionHeight=45)], md=4),
        ], className="mb-2 g-2"),
        html.Details([html.Summary("How to read these charts", className="small"), html.P(HELP, className="small text-muted mb-1")], className="mb-2"),
        dbc.Row([dbc.Col(_graph("sweep-scatter"), lg=12)]),
        dbc.Row([
            dbc.Col(_graph("sweep-indices"), lg=6),
            dbc.Col([html.Div(id="sweep-table-title", className="small fw-semibold mt-2"), html.Div(id="sweep-table", className="swp-table")], lg=6),
        ]),
        dbc.Row([
            dbc.Col(_graph("sweep-heatmap"), lg=5),
            dbc.Col(_graph("sweep-parallel"), lg=7),
        ]),
        ]),
        html.Div(share_box("sweeps"), style={"maxWidth": "40rem"}),
    ], className="sweeps-page")


def importance(data: dict, metric: str, labels: dict[str, str]) -> tuple[Any, str, pd.DataFrame]:
    """Which parameters matter for ``metric``: the figure, the table's title and the table as people read it.
    Sobol' or Morris indices for those designs; Spearman rank correlations for the others (grid, lhs)."""
    name = series_title(metric)
    design = data["manifest"].get("design")
    if design in INDEX_DESIGNS:
        if data["indices"] is None or data["indices"].empty:
            fig = index_bars(pd.DataFrame(columns=INDEX_COLUMNS), metric)
            if data["index_error"]:
                fig.update_layout(annotations=[dict(text=data["index_error"][:160], showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")])
            return fig, f"No {design} indices yet", pd.DataFrame()
        wide = indices_wide(data["indices"][data["indices"]["metric"] == metric]).drop(columns="metric")
        wide["parameter"] = [labels.get(p, p) for p in wide["parameter"]]
        what = "Sobol' indices (S1 first order, ST total; ± 95% interval)" if design == "sobol" else "Morris effects (mu* ± 95% interval, sigma, mu)"
        return index_bars(data["indices"], metric, wrapped(labels, 24)), f"{what}: {name}", wide
    table = data["correlations"]
    return (correlation_bars(table, metric, wrapped(labels, 30)), f"Spearman rank correlation with {name} (95% interval, p-value)",
            shown_spearman(table, metric, labels))


def register_callbacks(app: Dash) -> None:
    """The explorer's callbacks (none when this installation has no sweep support)."""
    if sweep_modules() is None:
        return
    sweep_start.register_callbacks(app)

    @app.callback(Output("sweep-folder", "value"), Input("sweep-path", "value"), prevent_initial_call=True)
    def typed(text):
        return text or no_update

    @app.callback(
        Output("sweep-metric", "options"), Output("sweep-metric", "value"), Output("sweep-x", "options"), Output("sweep-x", "value"),
        Output("sweep-y", "options"), Output("sweep-y", "value"), Output("sweep-info", "children"),
        Output("sweep-error", "children", allow_duplicate=True), Output("sweep-error", "is_open", allow_duplicate=True),
        Output("sweep-results", "style"), Output("sweep-none", "style"), Output("sweep-dl-results", "disabled"), Output("sweep-dl-table", "disabled"),
        Input("sweep-folder", "value"), State("sweep-metric", "value"), State("sweep-x", "value"), State("sweep-y", "value"),
        prevent_initial_call="initial_duplicate",
    )
    def open_folder(folder, metric, x, y):
        """Open a sweep folder inside the data root: its outcomes and swept parameters, labelled for people (the charts
        and downloads only while one is open)."""
        closed = (HIDDEN, SHOWN, True, True)
        if not folder:
            return [], None, [], None, [], None, "", "", False, *closed
        try:
            data = open_data(current().data_root, folder)
        except InputError as e:
            return [], None, [], None, [], None, "", f"error: {e}", True, *closed
        outcomes = outcomes_of(data)
        metric_options = [{"label": series_title(m), "value": m} for m in outcomes]
        params = parameters_of(data)
        param_options = [{"label": parameter_title(p), "value": p, "title": p} for p in params]
        metric = metric if metric in outcomes else default_outcome(outcomes)
        x = x if x in params else (params[0] if params else None)
        y = y if y in params and y != x else next((p for p in params if p != x), x)
        return metric_options, metric, param_options, x, param_options, y, describe(data), "", False, SHOWN, HIDDEN, False, False

    @app.callback(
        Output("sweep-scatter", "figure"), Output("sweep-indices", "figure"), Output("sweep-table-title", "children"), Output("sweep-table", "children"),
        Output("sweep-heatmap", "figure"), Output("sweep-parallel", "figure"),
        Output({"type": "url-state", "page": "sweeps"}, "data"), Output("sweep-error", "children"), Output("sweep-error", "is_open"),
        Input("sweep-metric", "value"), Input("sweep-x", "value"), Input("sweep-y", "value"), State("sweep-folder", "value"),
        prevent_initial_call=True,
    )
    def figures(metric, x, y, folder):
        """The outcome against each parameter, which parameters matter, the outcome over two parameters and all at once."""
        if not (folder and metric and x and y):
            return (no_update,) * 9
        try:
            data = open_data(current().data_root, folder)
        except InputError as e:
            return (*(no_update,) * 7, f"error: {e}", True)
        frame = data["frame"]
        labels = parameter_titles(parameters_of(data))
        bars, title, table = importance(data, metric, labels)
        shown = dbc.Table.from_dataframe(table, striped=True, bordered=False, hover=True, size="sm", id="sweep-table-grid") if len(table) else html.Div()
        return (scatter_matrix(frame, metric, wrapped(labels)), bars, title, shown, heatmap(frame, x, y, metric, labels),
                parallel_coordinates(frame, metric, short_titles(parameters_of(data))), query([("folder", folder), ("metric", metric), ("x", x), ("y", y)]), "", False)

    @app.callback(
        Output("sweep-download", "data"), Input("sweep-dl-results", "n_clicks"), Input("sweep-dl-table", "n_clicks"), State("sweep-folder", "value"),
        prevent_initial_call=True,
    )
    def download(_results, _table, folder):
        """The sweep's tidy table, or its indices (sobol, morris) or rank correlations (grid, lhs), as CSV with ids in the columns."""
        if not folder:
            return no_update
        try:
            data = open_data(current().data_root, folder)
        except InputError:
            return no_update
        stem = Path(str(folder)).name if str(folder) not in (".", "") else "sweep"
        if callback_context.triggered_id == "sweep-dl-results":
            return dcc.send_data_frame(data["frame"].to_csv, f"{stem}-results.csv", index=False)
        if data["indices"] is not None and not data["indices"].empty:
            return dcc.send_data_frame(data["indices"].to_csv, f"{stem}-indices.csv", index=False)
        return dcc.send_data_frame(data["correlations"].to_csv, f"{stem}-rank-correlations.csv", index=False)
