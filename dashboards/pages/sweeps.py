"""Sweep explorer: open a folder written by `mandate-sim sweep` under the server's data root; heatmaps over two
parameters, parallel coordinates and sensitivity index bars (from sim.sweep and sim.analysis).

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
from dash import Dash, Input, Output, State, dcc, html, no_update

from sim.analysis.figures import series_title
from sim.errors import InputError

from ..context import current, share_box
from ..state import query

#: How deep under the data root the page looks for sweep folders, and how many folders it looks at.
SCAN_DEPTH, SCAN_LIMIT = 3, 2000
_cache: OrderedDict[tuple, Any] = OrderedDict()
_cache_lock = threading.Lock()


def sweep_modules():
    """sim.sweep and sim.analysis, or None when this installation lacks them."""
    try:
        return importlib.import_module("sim.experiments.sweeps"), importlib.import_module("sim.analysis")
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
        raise InputError("lies outside the data root this server was started with", source="sweep folder", value=str(folder), allowed=f"a folder under {root}")
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


def load(path: Path) -> dict:
    """The sweep's table, manifest and sensitivity indices (cached by folder and modification time)."""
    mods = sweep_modules()
    if mods is None:
        raise InputError("cannot be read: this installation has no sweep support (sim.sweep)", source=str(path))
    sweep, analysis = mods
    stamp = max((p.stat().st_mtime_ns for p in path.iterdir()), default=0)
    key = (str(path), stamp)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    frame = sweep.load_sweep(path)
    manifest = sweep.read_manifest(path)
    try:
        indices, index_error = analysis.sensitivity(path), None
    except InputError as e:
        indices, index_error = None, str(e)
    except Exception as e:  # a design without indices (a grid) must not break the page
        indices, index_error = None, f"no sensitivity indices for this sweep: {e}"
    out = {"frame": frame, "manifest": manifest, "indices": indices, "index_error": index_error}
    with _cache_lock:
        _cache[key] = out
        while len(_cache) > 4:
            _cache.popitem(last=False)
    return out


def parameters_of(data: dict) -> list[str]:
    """The swept parameter paths."""
    params = list((data["manifest"].get("parameters") or {}).keys())
    return [p for p in params if p in data["frame"].columns] or params


def layout(folder: Any = None, metric: Any = None, x: Any = None, y: Any = None, **_: Any) -> html.Div:
    """The explorer, opening the folder the link names."""
    ctx = current()
    mods = sweep_modules()
    if mods is None:
        return dbc.Alert("This installation has no sweep support yet (sim.sweep and sim.analysis).", color="warning", id="sweep-missing")
    found = find_sweeps(ctx.data_root)
    if folder and folder not in found:
        found.append(str(folder))  # a linked folder is checked (and refused if outside the root) when opened
    return html.Div([
        html.P(["Sweep folders under ", html.Code(str(ctx.data_root)), " (write one with ", html.Code("mandate-sim sweep"), ")."], className="mb-2"),
        dbc.Row([
            dbc.Col([dbc.Label("Sweep folder", className="small fw-semibold mb-0"),
                     dcc.Dropdown(id="sweep-folder", options=found, value=folder if folder else (found[0] if found else None), placeholder="choose or type a folder",
                                  searchable=True)], md=4),
            dbc.Col([dbc.Label("Or type a folder under the data root", className="small fw-semibold mb-0"),
                     dbc.Input(id="sweep-path", type="text", value=folder or "", debounce=True, size="sm")], md=3),
            dbc.Col([dbc.Label("Outcome", className="small fw-semibold mb-0"), dcc.Dropdown(id="sweep-metric", value=metric, clearable=False)], md=2),
            dbc.Col([dbc.Label("x", className="small fw-semibold mb-0"), dcc.Dropdown(id="sweep-x", value=x, clearable=False)], md=1, lg=1),
            dbc.Col([dbc.Label("y", className="small fw-semibold mb-0"), dcc.Dropdown(id="sweep-y", value=y, clearable=False)], md=2, lg=2),
        ], className="mb-2 g-2"),
        dbc.Alert(id="sweep-error", color="danger", is_open=False, style={"whiteSpace": "pre-wrap"}),
        html.Div(id="sweep-info", className="small text-muted mb-2"),
        dbc.Row([
            dbc.Col(dcc.Graph(id="sweep-heatmap", config={"displaylogo": False}), lg=6),
            dbc.Col(dcc.Graph(id="sweep-indices", config={"displaylogo": False}), lg=6),
            dbc.Col(dcc.Graph(id="sweep-parallel", config={"displaylogo": False}), lg=12),
        ]),
        html.Div(share_box("sweeps"), style={"maxWidth": "40rem"}),
    ])


def register_callbacks(app: Dash) -> None:
    """The explorer's callbacks (none when this installation has no sweep support)."""
    if sweep_modules() is None:
        return

    @app.callback(Output("sweep-folder", "value"), Input("sweep-path", "value"), prevent_initial_call=True)
    def typed(text):
        return text or no_update

    @app.callback(
        Output("sweep-metric", "options"), Output("sweep-metric", "value"), Output("sweep-x", "options"), Output("sweep-x", "value"),
        Output("sweep-y", "options"), Output("sweep-y", "value"), Output("sweep-info", "children"),
        Output("sweep-error", "children", allow_duplicate=True), Output("sweep-error", "is_open", allow_duplicate=True),
        Input("sweep-folder", "value"), State("sweep-metric", "value"), State("sweep-x", "value"), State("sweep-y", "value"),
        prevent_initial_call="initial_duplicate",
    )
    def open_folder(folder, metric, x, y):
        """Open a sweep folder inside the data root: its outcomes and swept parameters."""
        if not folder:
            return [], None, [], None, [], None, "", "", False
        try:
            data = load(resolve_inside(current().data_root, folder))
        except InputError as e:
            return [], None, [], None, [], None, "", f"error: {e}", True
        metrics = sorted(map(str, data["frame"]["metric"].unique()))
        metric_options = [{"label": series_title(m), "value": m} for m in metrics]
        params = parameters_of(data)
        metric = metric if metric in metrics else (metrics[0] if metrics else None)
        x = x if x in params else (params[0] if params else None)
        y = y if y in params and y != x else next((p for p in params if p != x), x)
        man = data["manifest"]
        info = f"{man.get('design', '?')} design, {man.get('runs', '?')} runs x {man.get('replicates', '?')} replicates, parameters: {', '.join(params)}"
        if not man.get("complete", True):
            info += " (unfinished: resume it with mandate-sim sweep)"
        return metric_options, metric, params, x, params, y, info, "", False

    @app.callback(
        Output("sweep-heatmap", "figure"), Output("sweep-parallel", "figure"), Output("sweep-indices", "figure"),
        Output({"type": "url-state", "page": "sweeps"}, "data"), Output("sweep-error", "children"), Output("sweep-error", "is_open"),
        Input("sweep-metric", "value"), Input("sweep-x", "value"), Input("sweep-y", "value"), State("sweep-folder", "value"),
        prevent_initial_call=True,
    )
    def figures(metric, x, y, folder):
        """The outcome over two parameters, all parameters at once, and which parameters matter."""
        if not (folder and metric and x and y):
            return no_update, no_update, no_update, no_update, no_update, no_update
        try:
            data = load(resolve_inside(current().data_root, folder))
        except InputError as e:
            return no_update, no_update, no_update, no_update, f"error: {e}", True
        _, analysis = sweep_modules()
        frame = data["frame"]
        empty = {"layout": {"title": {"text": "no sensitivity indices"}, "annotations": [{"text": data["index_error"] or "", "showarrow": False}]}}
        heat = analysis.heatmap(frame, x, y, metric)
        par = analysis.parallel_coordinates(frame, metric)
        bars = analysis.index_bars(data["indices"], metric) if data["indices"] is not None else empty
        return heat, par, bars, query([("folder", folder), ("metric", metric), ("x", x), ("y", y)]), "", False
