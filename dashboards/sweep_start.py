"""Starting a small sweep from the sweep explorer: the form, its checks, the run and its progress.

The form builds a sweep spec (docs/SWEEPS.md) from choices that come from the declarations: the designs of
sim/experiments/designs.py, the built-in scenarios, the numeric parameters of sim/model/params.py with their bounds
and units, the metrics of sim/model/metrics.py. ``request_from_form`` checks every field (a range must lie inside the
parameter's declared bounds; the sweep's size, design points x replicates x engineers x weeks, must stay within
``MAX_SWEEP_WORK``) and names the field as the form labels it; ``sim.experiments.sweeps.load_spec`` then checks the
rest as the CLI does. The sweep runs as one job of the app's run workers (``JobManager``: ``sweep_task`` runs the sweep
in the worker process itself, ``workers=1``), so it never blocks a server thread and stops with the app; it writes a
new folder ``APP_FOLDER/NAME`` under the data root (the name checked, never outside the root, never over an existing
folder), and the explorer opens it when it is done.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Dash, Input, Output, State, dcc, html, no_update

from sim.analysis.sensitivity import parameter_title
from sim.errors import InputError, InputErrors
from sim.experiments import designs
from sim.model.metrics import METRICS
from sim.model.metrics import title as metric_title
from sim.model.scenarios import builtin_scenarios, parameter_paths, scenario_summary

from .context import current, current_user
from .inputs import check_whole

#: Folder under the data root that sweeps started from the app are written to (one new folder each).
APP_FOLDER = "app-sweeps"
#: The most work a sweep started from the app may ask for: design points x replicates x engineers x weeks.
MAX_SWEEP_WORK = 2_000_000
#: Swept parameters the form offers (rows), and the most samples and replicates it takes.
PARAM_ROWS, MAX_SAMPLES, MAX_REPLICATES = 3, 1000, 50
#: Outcomes a new sweep records unless the user picks others (true gain first: the explorer's default outcome).
DEFAULT_OUTPUTS = ["true_gain", "cycle_time", "trust_leadership", "attrition_cumulative"]
#: The form's first values: a small Latin hypercube.
DEFAULTS = {"scenario": "mandate_single_tool", "design": "lhs", "samples": 10, "engineers": 100, "weeks": 26, "replicates": 2, "seed": 0,
            "params": ["policy.usage_enforcement", "policy.feedback_safety", None]}
#: Runs per chunk of a started sweep: about this many progress steps (results never depend on it).
PROGRESS_STEPS = 20
#: How often the page asks about a running sweep (milliseconds).
POLL_MS = 300
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")
#: What each field is called in the form (messages name fields by these labels).
LABELS = {"name": "Folder name", "scenario": "Scenario", "design": "Design", "samples": "Samples", "engineers": "Engineers", "weeks": "Weeks",
          "replicates": "Replicates", "seed": "Seed", "outputs": "Outcomes to record", "size": "Size"}
DESIGN_HELP = {
    "lhs": "Latin hypercube: samples = points; scatter plots and rank correlations",
    "grid": "every combination: samples = values per range",
    "sobol": "Sobol' indices: samples = base sample N (a power of 2), N x (parameters + 2) points",
    "morris": "Morris screening: samples = trajectories, each of parameters + 1 points",
}


def numeric_rows() -> dict[str, Any]:
    """The numeric parameters a sweep may vary, by path, with their declarations (bounds, unit, description)."""
    return {r.path: r for r in parameter_paths() if r.kind in ("number", "integer") and r.min is not None and r.max is not None}


def parameter_options() -> list[dict]:
    """Dropdown options of the numeric parameters: labelled with words and unit, searchable by path too; the path is the value."""
    return [{"label": parameter_title(p), "value": p, "title": f"{p}: {r.description}", "search": f"{p} {parameter_title(p)}"}
            for p, r in numeric_rows().items()]


def bounds_text(path: str | None) -> str:
    """'declared: 0 to 1 (share)' for a parameter, '' for none."""
    r = numeric_rows().get(path or "")
    if r is None:
        return ""
    return f"declared: {r.min:g} to {r.max:g}" + (f" ({r.unit})" if r.unit else "")


def _declared_int(path: str) -> tuple[int, int]:
    r = numeric_rows()[path]
    return int(r.min), int(r.max)


def suggest_name(root: Path) -> str:
    """The first free 'sweep-N' under the app's sweep folder."""
    base = root / APP_FOLDER
    n = 1
    while (base / f"sweep-{n}").exists():
        n += 1
    return f"sweep-{n}"


def target_folder(root: Path, name: Any) -> Path:
    """The new folder a sweep named ``name`` is written to: ``APP_FOLDER/name`` under ``root``; refuses a name that is not a
    plain folder name, that would lie outside the root, or that exists already."""
    text = "" if name is None else str(name).strip()
    allowed = "letters, digits, - and _ (up to 60), starting with a letter or digit"
    if not text:
        raise InputError("is empty", source=LABELS["name"], allowed=allowed)
    if not _NAME.fullmatch(text):
        raise InputError("is not a plain folder name", source=LABELS["name"], value=text[:60], allowed=allowed)
    root = root.resolve()
    out = root / APP_FOLDER / text
    if root not in out.resolve().parents:  # a link in the way
        raise InputError("lies outside the data root", source=LABELS["name"], value=text)
    if out.exists() or out.is_symlink():
        raise InputError("exists already: pick another name (a sweep is never written over another)", source=LABELS["name"], value=text)
    return out


def _number(value: Any, source: str, what: str) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise InputError(f"'{what}' is empty", source=source, allowed="a number")
    if isinstance(value, bool):
        raise InputError(f"'{what}' is not a number", source=source, value=value)
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"'{what}' is not a number", source=source, value=value) from None
    if not math.isfinite(x):
        raise InputError(f"'{what}' is not a finite number", source=source, value=value)
    return x


def check_ranges(params: list, lows: list, highs: list) -> dict[str, list[float]]:
    """The swept parameters (path -> [low, high]) from the form's rows; each range must lie inside its declared bounds."""
    rows = numeric_rows()
    out: dict[str, list[float]] = {}
    for i, (path, lo, hi) in enumerate(zip(params, lows, highs)):
        if not path:
            continue
        source = f"Parameter {i + 1}"
        r = rows.get(path)
        if r is None:
            raise InputError("is not a numeric parameter a sweep can vary", source=source, value=path)
        label = parameter_title(path)
        if path in out:
            raise InputError(f"{label} is chosen twice", source=source)
        low, high = _number(lo, source, "from"), _number(hi, source, "to")
        if not low < high:
            raise InputError(f"the range of {label} is {low:g} to {high:g}: 'from' must be below 'to'", source=source)
        if low < r.min or high > r.max:
            raise InputError(f"the range {low:g} to {high:g} lies outside the declared bounds of {label}", source=source,
                             allowed=f"from {r.min:g} to {r.max:g}" + (f" ({r.unit})" if r.unit else ""))
        out[path] = [int(low), int(high)] if r.kind == "integer" and low == int(low) and high == int(high) else [low, high]
    if not out:
        raise InputError("none is chosen: pick at least one parameter to vary", source="Parameter 1")
    return out


@dataclass
class SweepRequest:
    """A checked request: the spec, the folder it goes to, its size (engineer-weeks) and its design points."""

    spec: dict
    out: Path
    work: int
    points: int


def size_of(design: str, parameters: dict[str, list[float]], samples: int, replicates: int, engineers: int, weeks: int) -> tuple[int, int]:
    """(design points, engineer-weeks) of a sweep: points x replicates x engineers x weeks, at the largest size or horizon swept."""
    axes = [designs.Axis(p, float(lo), float(hi), integer=numeric_rows()[p].kind == "integer") for p, (lo, hi) in parameters.items()]
    points = designs.n_points(design, axes, samples)
    n = max(engineers, int(parameters.get("organisation.size", [0, 0])[1]))
    w = max(weeks, int(parameters.get("weeks", [0, 0])[1]))
    return points, points * replicates * n * w


@dataclass(frozen=True)
class SweepForm:
    """What the start-sweep form holds, as the browser sends it (unchecked), one field per input in ``FORM_STATES``'s order;
    the parameters, lows and highs are lists, one entry per parameter row."""

    name: Any = None
    scenario: Any = None
    design: Any = None
    samples: Any = None
    engineers: Any = None
    weeks: Any = None
    replicates: Any = None
    seed: Any = 0
    outputs: Any = ()
    params: Any = ()
    lows: Any = ()
    highs: Any = ()


def checked_size(form: SweepForm) -> tuple[dict[str, list[float]], int, int, int, int]:
    """The form's size fields checked: (parameters and ranges, samples, engineers, weeks, replicates)."""
    samples = check_whole(form.samples, LABELS["samples"], 2, MAX_SAMPLES, "samples")
    engineers = check_whole(form.engineers, LABELS["engineers"], *_declared_int("organisation.size"), "engineers")
    weeks = check_whole(form.weeks, LABELS["weeks"], *_declared_int("weeks"), "weeks")
    replicates = check_whole(form.replicates, LABELS["replicates"], 1, MAX_REPLICATES, "model runs per design point")
    parameters = check_ranges(list(form.params or []), list(form.lows or []), list(form.highs or []))
    return parameters, samples, engineers, weeks, replicates


def request_from_form(root: Path, form: SweepForm) -> SweepRequest:
    """Check the form and build the sweep's spec; an InputError names the field as the form labels it."""
    out = target_folder(root, form.name)
    scenario, design = form.scenario, form.design
    if scenario not in builtin_scenarios():
        raise InputError("is not a built-in scenario", source=LABELS["scenario"], value=scenario)
    if design not in designs.DESIGNS:
        raise InputError("is not a design", source=LABELS["design"], value=design, allowed=", ".join(designs.DESIGNS))
    parameters, samples, engineers, weeks, replicates = checked_size(form)
    seed = check_whole(form.seed if form.seed is not None else 0, LABELS["seed"], 0, 2**31 - 1, "the sweep seed")
    outputs = [o for o in (form.outputs or []) if o]
    if not outputs:
        raise InputError("is empty: pick at least one outcome", source=LABELS["outputs"])
    for o in outputs:
        if o not in METRICS:
            raise InputError("is not a metric", source=LABELS["outputs"], value=o)
    points, work = size_of(design, parameters, samples, replicates, engineers, weeks)
    if work > MAX_SWEEP_WORK:
        raise InputError(f"the sweep asks for {work:,} engineer-weeks ({points:,} design points x {replicates} replicates x engineers x weeks); "
                         f"a sweep started here may ask for at most {MAX_SWEEP_WORK:,}: lower the samples, replicates, engineers or weeks "
                         "(or run a larger sweep with mandate-sim sweep)", source=LABELS["size"])
    spec = {"name": out.name, "scenario": scenario, "design": design, "samples": samples, "replicates": replicates, "seed": seed,
            "engineers": engineers, "weeks": weeks, "parameters": parameters, "outputs": outputs}
    check_spec(spec)
    return SweepRequest(spec, out, work, points)


def _form_label(field: str | None) -> str:
    """The form's label of a sweep spec field (load_spec's messages name spec fields)."""
    field = field or ""
    if field.startswith("parameters.") or field == "parameters":
        path = field.partition(".")[2]
        return f"Parameter {parameter_title(path)}" if path else "Parameters"
    return LABELS.get(field, LABELS["scenario"] if field in ("scenario", "org", "fixed") else "Sweep")


def check_spec(spec: dict) -> None:
    """Everything else the CLI checks (sim.experiments.sweeps.load_spec), with the field named as the form labels it."""
    from sim.experiments.sweeps import load_spec

    try:
        load_spec(spec)
    except InputErrors as e:
        first = e.errors[0]
        raise InputError(first.detail, source=_form_label(first.field), allowed=first.allowed) from None
    except InputError as e:
        raise InputError(e.detail, source=_form_label(e.field), allowed=e.allowed) from None


def sweep_task(spec: dict, out: str, *, progress: Any = None) -> dict:
    """Run a checked sweep into the new folder ``out`` in this process (a run worker of the app); what the explorer opens."""
    from sim.experiments.sweeps import SweepFailed, sweep

    folder = Path(out)
    if folder.exists():
        raise InputError("exists already: pick another name (a sweep is never written over another)", source=LABELS["name"], value=folder.name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    runs = [0]

    def report(p: Any) -> None:
        runs[0] = p.total
        if progress is not None:
            progress(p.done, p.total)

    chunk = max(1, designs.n_points(spec["design"], [designs.Axis(p, float(lo), float(hi)) for p, (lo, hi) in spec["parameters"].items()],
                                    spec["samples"]) // PROGRESS_STEPS)
    try:
        sweep(spec, folder, workers=1, resume=False, chunk_size=chunk, progress=report)
    except (InputError, SweepFailed) as e:  # the folder named as the page names it, never by its path on the server
        raise InputError(str(e).replace(str(folder), f"{APP_FOLDER}/{folder.name}")) from None
    return {"folder": f"{APP_FOLDER}/{folder.name}", "runs": runs[0]}


def job_key(spec: dict, out: Path) -> str:
    """A fresh key for one start (a sweep is never served from the result cache: its folder is the result)."""
    payload = json.dumps({"spec": spec, "out": str(out), "at": time.time_ns()}, sort_keys=True)
    return "sweep-" + hashlib.sha256(payload.encode()).hexdigest()[:24]


# ---------------------------------------------------------------------------------------------------------------
# The form
# ---------------------------------------------------------------------------------------------------------------


def _field(label: str, widget: Any, width: int, help_: Any = None) -> dbc.Col:
    return dbc.Col([dbc.Label(label, className="small fw-semibold mb-0", html_for=widget.id), widget,
                    html.Div(help_, className="form-text mt-0") if help_ is not None else None], md=width)


def _param_row(i: int, path: str | None) -> dbc.Row:
    r = numeric_rows().get(path or "")
    return dbc.Row([
        dbc.Col([dbc.Label(f"Parameter {i + 1}", className="small fw-semibold mb-0"),
                 dcc.Dropdown(id={"type": "swp-param", "i": i}, options=parameter_options(), value=path, placeholder="none (pick a parameter to vary)",
                              searchable=True, clearable=True, optionHeight=45, className="swp-param")], md=6),
        dbc.Col([dbc.Label("from", className="small fw-semibold mb-0"),
                 dbc.Input(id={"type": "swp-low", "i": i}, type="number", step="any", value=None if r is None else r.min, size="sm")], md=2),
        dbc.Col([dbc.Label("to", className="small fw-semibold mb-0"),
                 dbc.Input(id={"type": "swp-high", "i": i}, type="number", step="any", value=None if r is None else r.max, size="sm")], md=2),
        dbc.Col(html.Div(bounds_text(path), id={"type": "swp-bounds", "i": i}, className="form-text swp-bounds"), md=2, className="d-flex align-items-end"),
    ], className="g-2 mb-1 swp-param-row")


def start_form(root: Path) -> html.Div:
    """The 'Start a sweep' form (collapsed at first), its progress bar and status."""
    d = DEFAULTS
    scenarios = [{"label": scenario_summary(n)[0] or n, "value": n, "title": scenario_summary(n)[1]} for n in builtin_scenarios()]
    outputs = [{"label": metric_title(m), "value": m} for m in METRICS]
    lo_n, hi_n = _declared_int("organisation.size")
    lo_w, hi_w = _declared_int("weeks")
    form = dbc.Card(dbc.CardBody([
        html.P(["Runs a small sweep on this server and opens it here when it is done. It is written to a new folder ",
                html.Code(f"{APP_FOLDER}/NAME"), " under the data root. Its size (design points x replicates x engineers x weeks) may be at most ",
                html.Strong(f"{MAX_SWEEP_WORK:,} engineer-weeks"), "; larger sweeps run with ", html.Code("mandate-sim sweep"), " (docs/SWEEPS.md)."],
               className="small mb-2"),
        dbc.Row([
            _field(LABELS["name"], dbc.Input(id="swp-name", type="text", value=suggest_name(root), size="sm", maxLength=60), 3),
            _field(LABELS["scenario"], dcc.Dropdown(id="swp-scenario", options=scenarios, value=d["scenario"], clearable=False), 4),
            _field(LABELS["design"], dcc.Dropdown(id="swp-design", options=[{"label": k, "value": k, "title": DESIGN_HELP.get(k, "")} for k in designs.DESIGNS],
                                                  value=d["design"], clearable=False), 2),
            _field(LABELS["samples"], dbc.Input(id="swp-samples", type="number", min=2, max=MAX_SAMPLES, step=1, value=d["samples"], size="sm"), 3,
                   help_=html.Span(DESIGN_HELP[d["design"]], id="swp-design-help")),
        ], className="g-2 mb-1"),
        html.Div([_param_row(i, d["params"][i] if i < len(d["params"]) else None) for i in range(PARAM_ROWS)]),
        dbc.Row([
            _field(LABELS["engineers"], dbc.Input(id="swp-engineers", type="number", min=lo_n, max=hi_n, step=1, value=d["engineers"], size="sm"), 2),
            _field(LABELS["weeks"], dbc.Input(id="swp-weeks", type="number", min=lo_w, max=hi_w, step=1, value=d["weeks"], size="sm"), 2),
            _field(LABELS["replicates"], dbc.Input(id="swp-replicates", type="number", min=1, max=MAX_REPLICATES, step=1, value=d["replicates"], size="sm"), 2),
            _field(LABELS["seed"], dbc.Input(id="swp-seed", type="number", min=0, step=1, value=d["seed"], size="sm"), 1),
            _field(LABELS["outputs"], dcc.Dropdown(id="swp-outputs", options=outputs, value=DEFAULT_OUTPUTS, multi=True), 5),
        ], className="g-2 mb-2"),
        html.Div(id="swp-size", className="small mb-2"),
        dbc.Alert(id="swp-error", color="danger", is_open=False, className="py-2 small", style={"whiteSpace": "pre-wrap"}),
        dbc.Button("Start the sweep", id="swp-start", color="primary", size="sm", className="me-2"),
    ]), className="mb-2 swp-form")
    return html.Div([
        dbc.Button("Start a new sweep…", id="swp-toggle", color="secondary", outline=True, size="sm", className="mb-2"),
        dbc.Collapse(form, id="swp-collapse", is_open=False),
        dbc.Progress(id="swp-progress", value=0, striped=True, className="mb-1", style={"height": "1.1rem", "visibility": "hidden"}),
        html.Div(id="swp-status", className="small text-muted mb-2"),
        dcc.Interval(id="swp-poll", interval=POLL_MS, disabled=True),
        dcc.Store(id="swp-job"),
    ], className="swp-start")


FORM_STATES = [State("swp-name", "value"), State("swp-scenario", "value"), State("swp-design", "value"), State("swp-samples", "value"),
               State("swp-engineers", "value"), State("swp-weeks", "value"), State("swp-replicates", "value"), State("swp-seed", "value"),
               State("swp-outputs", "value"), State({"type": "swp-param", "i": ALL}, "value"), State({"type": "swp-low", "i": ALL}, "value"),
               State({"type": "swp-high", "i": ALL}, "value")]


def size_text(form: SweepForm) -> str:
    """The form's running size: design points x replicates x engineers x weeks against the cap (or what is still missing)."""
    try:
        parameters, samples, engineers, weeks, replicates = checked_size(form)
        points, work = size_of(form.design, parameters, samples, replicates, engineers, weeks)
    except (InputError, ValueError) as e:
        return f"Size: not yet known ({e})"
    verdict = "within" if work <= MAX_SWEEP_WORK else "over"
    return (f"Size: {points:,} design points x {replicates} replicates x {engineers:,} engineers x {weeks} weeks = {work:,} engineer-weeks "
            f"({verdict} the limit of {MAX_SWEEP_WORK:,})")


def register_callbacks(app: Dash) -> None:
    """The form's callbacks: open it, fill a parameter's declared range, show the size, start the sweep and follow it."""

    @app.callback(Output("swp-collapse", "is_open"), Input("swp-toggle", "n_clicks"), State("swp-collapse", "is_open"), prevent_initial_call=True)
    def toggle(_n, is_open):
        return not is_open

    @app.callback(
        Output({"type": "swp-low", "i": MATCH}, "value"), Output({"type": "swp-high", "i": MATCH}, "value"), Output({"type": "swp-bounds", "i": MATCH}, "children"),
        Input({"type": "swp-param", "i": MATCH}, "value"), prevent_initial_call=True,
    )
    def declared_range(path):
        """A newly picked parameter starts at its declared bounds."""
        r = numeric_rows().get(path or "")
        if r is None:
            return None, None, ""
        return r.min, r.max, bounds_text(path)

    @app.callback(Output("swp-design-help", "children"), Input("swp-design", "value"), prevent_initial_call=True)
    def design_help(design):
        return DESIGN_HELP.get(design, "")

    @app.callback(
        Output("swp-size", "children"),
        Input("swp-design", "value"), Input("swp-samples", "value"), Input("swp-engineers", "value"), Input("swp-weeks", "value"),
        Input("swp-replicates", "value"), Input({"type": "swp-param", "i": ALL}, "value"), Input({"type": "swp-low", "i": ALL}, "value"),
        Input({"type": "swp-high", "i": ALL}, "value"),
    )
    def size(design, samples, engineers, weeks, replicates, params, lows, highs):
        return size_text(SweepForm(design=design, samples=samples, engineers=engineers, weeks=weeks, replicates=replicates, params=params,
                                   lows=lows, highs=highs))

    app.clientside_callback(
        """function(n) { return n ? 'starting…' : window.dash_clientside.no_update; }""",
        Output("swp-status", "children", allow_duplicate=True), Input("swp-start", "n_clicks"), prevent_initial_call=True,
    )

    @app.callback(
        Output("swp-job", "data"), Output("swp-error", "children"), Output("swp-error", "is_open"),
        Input("swp-start", "n_clicks"), *FORM_STATES, prevent_initial_call=True,
    )
    def start(_n, *form):
        """Check the form, then queue the sweep as a job of the run workers."""
        ctx = current()
        try:
            req = request_from_form(ctx.data_root, SweepForm(*form))
            key = job_key(req.spec, req.out)
            ctx.jobs.submit(key, sweep_task, req.spec, str(req.out), user=current_user(), work=2 * req.work)
        except InputError as e:
            return no_update, f"error: {e}", True
        return {"key": key, "folder": f"{APP_FOLDER}/{req.out.name}", "points": req.points}, "", False

    @app.callback(
        Output("swp-progress", "value"), Output("swp-progress", "style"), Output("swp-status", "children"), Output("swp-poll", "disabled"),
        Output("swp-error", "children", allow_duplicate=True), Output("swp-error", "is_open", allow_duplicate=True),
        Output("sweep-folder", "options", allow_duplicate=True), Output("sweep-folder", "value", allow_duplicate=True),
        Output("swp-name", "value", allow_duplicate=True),
        Input("swp-job", "data"), Input("swp-poll", "n_intervals"), State("sweep-folder", "options"),
        prevent_initial_call=True,
    )
    def follow(job, _tick, options):
        """The running sweep's progress; when it is done, open its folder in the explorer."""
        hidden, shown = {"height": "1.1rem", "visibility": "hidden"}, {"height": "1.1rem"}
        if not job:
            return 0, hidden, no_update, True, no_update, no_update, no_update, no_update, no_update
        ctx = current()
        st = ctx.jobs.status(job["key"])
        keep = (no_update, no_update, no_update, no_update, no_update)
        if st["state"] == "queued":
            from .jobs import queue_text

            return 0, shown, queue_text(st), False, *keep
        if st["state"] == "running":
            done, total = st.get("done") or 0, st.get("total") or job.get("points") or 0
            pct = 100.0 * done / total if total else 0
            return pct, shown, f"running the sweep: {done} of {total or '?'} design points done, {st['seconds']:.0f} s", False, *keep
        if st["state"] == "failed":
            return 0, hidden, "", True, f"error: {st['error']}", True, no_update, no_update, no_update
        result = ctx.jobs.cached(job["key"]) or {}
        folder = result.get("folder", job["folder"])
        options = list(options or [])
        values = [o["value"] if isinstance(o, dict) else o for o in options]
        if folder not in values:
            options.append(folder)
        text = f"done: {result.get('runs', job.get('points', '?'))} design points written to {folder} under the data root, opened below"
        return 100, hidden, text, True, "", False, options, folder, suggest_name(ctx.data_root)
