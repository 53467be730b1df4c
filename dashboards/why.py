"""The app's "Why?": an explanation of the difference between two policies (sim.explain), as a job with progress.

``submit`` queues (or finds cached) the explanation of a pair; ``status_view`` turns the job's state into what a
page shows (the waterfall figure and the reading, or the progress). Used under the Compare page's takeaways
(``block`` and ``register_callbacks``) and by the Classroom story's closing step.
"""

from __future__ import annotations

import time
from typing import Sequence

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update

from sim.errors import InputError
from sim.experiments.explain import plan
from sim.model.metrics import title as metric_title
from sim.model.params import Scenario

from .compute import EXPLAINED_METRICS, explain_task, spec_labels
from .context import current, current_user
from .jobs import queue_text, request_key
from .polling import RUNNING_POLL_MS, job_status


def submit(specs: Sequence[Scenario], seed: int, replicates: int, metric: str) -> str:
    """Queue the explanation of specs[1] against specs[0] (at least 2 replicates) unless cached; its job key."""
    ctx = current()
    replicates = max(int(replicates), 2)
    if metric not in EXPLAINED_METRICS:
        raise InputError("is not an outcome the app explains", source="metric", value=metric, allowed=", ".join(EXPLAINED_METRICS))
    if specs[0].name == specs[1].name:
        raise InputError("names the same policy twice: pick two different policies", source="Why?", value=specs[0].name)
    work = plan([(specs[0], specs[1])], metric=metric, replicates=replicates, seed=seed).engineer_weeks
    if work > ctx.config.max_work:
        raise InputError(f"asks for {work:,} engineer-weeks (every coalition of channels x {replicates} replicates); this server allows at most "
                         f"{ctx.config.max_work:,} per request: lower the replicates, engineers or weeks", source="request")
    key = request_key(f"explain:{metric}", list(specs[:2]), seed, replicates)
    ctx.jobs.submit(key, explain_task, list(specs[:2]), seed, replicates, metric, user=current_user(), work=work)
    return key


def status_view(key: str) -> dict:
    """What a page shows of an explanation job: state, progress text and percent, or the figure and the reading."""
    jobs = current().jobs
    st = job_status(jobs, key, "why-poll")
    if st["state"] == "queued":
        return {"state": "queued", "text": queue_text(st), "pct": 0}
    if st["state"] == "running":
        done, total = st.get("done") or 0, st.get("total") or 0
        return {"state": "running", "text": f"explaining: {done} of {total or '?'} runs, {st['seconds']:.0f} s", "pct": 100.0 * done / max(total, 1)}
    if st["state"] == "failed":
        return {"state": "failed", "text": f"error: {st['error']}", "pct": 0}
    bundle = jobs.cached(key)
    if bundle is None:
        return {"state": "failed", "text": "This explanation is no longer held by the server: ask again.", "pct": 0}
    return {"state": "done", "figure": bundle.figures["waterfall"], "reading": bundle.takeaways[0], "method": str(bundle.table["method"].iloc[0]),
            "replicates": bundle.replicates, "pct": 100}


def block() -> html.Div:
    """The Compare page's "Why?" (hidden until a comparison has finished)."""
    return html.Div([
        html.H4("Why?"),
        html.P("Pick two of the compared policies: the difference in the outcome at the end of the horizon is split between the model's named "
               "channels (Shapley values over the same paired replicates, at least 2; 90% intervals as error bars).", className="small text-muted"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="why-a", clearable=False, placeholder="A: compared against"), md=4),
            dbc.Col(dcc.Dropdown(id="why-b", clearable=False, placeholder="B: explained"), md=4),
            dbc.Col(dcc.Dropdown(id="why-metric", options=[{"label": metric_title(m), "value": m} for m in EXPLAINED_METRICS], value="true_gain",
                                 clearable=False), md=3),
            dbc.Col(dbc.Button("Explain", id="why-run", color="primary", size="sm", className="w-100"), md=1),
        ], className="g-2 mb-2"),
        dbc.Progress(id="why-progress", value=0, striped=True, style={"height": "1rem", "visibility": "hidden"}),
        html.Div(id="why-status", className="small text-muted"),
        html.P(id="why-reading", className="fw-semibold mt-2"),
        dcc.Graph(id="why-graph", config={"displaylogo": False}, style={"display": "none"}),
        html.Div(id="why-method", className="small text-muted"),
        dcc.Store(id="why-job"),
        dcc.Interval(id="why-poll", interval=RUNNING_POLL_MS, disabled=True),
    ], id="why-box", className="mb-4", style={"display": "none"})


def register_callbacks(app: Dash) -> None:
    """The Compare page's "Why?": offered once a comparison has finished, for the pair the user picks."""

    @app.callback(
        Output("why-box", "style"), Output("why-a", "options"), Output("why-a", "value"), Output("why-b", "options"), Output("why-b", "value"),
        Input("cmp-takeaways", "children"), State("cmp-job", "data"), prevent_initial_call=True,
    )
    def offer(_takeaways, job):
        bundle = current().jobs.cached(job["key"]) if job else None
        if bundle is None or len(bundle.specs) < 2:
            return {"display": "none"}, no_update, no_update, no_update, no_update
        names = [s.name for s in bundle.specs]
        labels = spec_labels(bundle.specs)
        options = [{"label": labels[n], "value": n} for n in names]  # policies by title
        return {}, options, names[0], options, names[1]

    @app.callback(
        Output("why-job", "data"), Output("why-status", "children", allow_duplicate=True), Output("why-poll", "disabled", allow_duplicate=True),
        Input("why-run", "n_clicks"), State("why-a", "value"), State("why-b", "value"), State("why-metric", "value"), State("cmp-job", "data"),
        prevent_initial_call=True,
    )
    def run(_n, a, b, metric, job):
        ctx = current()
        bundle = ctx.jobs.cached(job["key"]) if job else None
        if bundle is None:
            return no_update, "The comparison is no longer held by the server: press Run.", True
        by_name = {s.name: s for s in bundle.specs}
        try:
            if a not in by_name or b not in by_name:
                raise InputError("is not one of the compared policies", source="Why?", value=a if a not in by_name else b, allowed=", ".join(by_name))
            key = submit([by_name[a], by_name[b]], bundle.seed, bundle.replicates, metric)
        except InputError as e:
            return no_update, f"error: {e}", True
        ctx.jobs.wait(key, ctx.config.wait_seconds)
        return {"key": key, "clicked": time.time()}, "", False

    @app.callback(
        Output("why-graph", "figure"), Output("why-graph", "style"), Output("why-reading", "children"), Output("why-method", "children"),
        Output("why-progress", "value"), Output("why-progress", "style"), Output("why-status", "children"), Output("why-poll", "disabled"),
        Input("why-job", "data"), Input("why-poll", "n_intervals"), prevent_initial_call=True,
    )
    def show(job, _tick):
        if not job:
            return (no_update,) * 8
        v = status_view(job["key"])
        shown, hidden = {"height": "1rem"}, {"height": "1rem", "visibility": "hidden"}
        if v["state"] in ("queued", "running"):
            return no_update, no_update, no_update, no_update, v["pct"], shown, v["text"], False
        if v["state"] == "failed":
            return no_update, {"display": "none"}, "", "", 0, hidden, v["text"], True
        method = f"{v['method']} Shapley values over {v['replicates']} paired replicates."
        return v["figure"], {}, v["reading"], method, 100, hidden, "", True
