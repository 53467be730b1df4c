"""What-if lab: every policy lever and the main organisation parameters as controls built from the declarations;
each change reruns and shows the result against a pinned baseline (paired seeds)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, dcc, html, no_update

from sim.errors import InputError
from sim.model.scenarios import builtin_scenarios

from .. import controls
from ..compute import lab_task
from ..context import current, current_user, share_box
from ..inputs import MAX_REPLICATES, check_whole, gate
from ..jobs import check_work, queue_text, request_key, work_of
from ..state import LAB_DEFAULTS, lab_query, lab_state


def base_scenario(name: str, n: int, w: int):
    """The built-in scenario the lab starts from, at the chosen size and horizon (through the gate)."""
    return gate(name, engineers=n, weeks=w, label="base scenario")


def lab_specs(state: dict) -> list:
    """The pinned baseline and the what-if variant, named for the charts."""
    n = check_whole(state["n"], "engineers", 10, 100_000, "engineers")
    w = check_whole(state["w"], "weeks", 1, 260, "weeks")
    check_whole(state["r"], "replicates", 1, MAX_REPLICATES, "replicates")
    pin = state.get("pin") if isinstance(state.get("pin"), dict) else {"base": state["base"], "sets": {}}
    baseline = gate(pin.get("base"), sets=pin.get("sets"), engineers=n, weeks=w, label="pinned baseline")
    variant = gate(state["base"], sets=state.get("sets"), engineers=n, weeks=w, label="base scenario")
    return [baseline.model_copy(update={"name": "baseline"}), variant.model_copy(update={"name": "what-if"})]


def lab_controls(name: str, n: int, w: int, sets: dict[str, Any]) -> Any:
    """The lab's controls for a base scenario: its values, with the overrides on top."""
    sc = base_scenario(name, n, w)
    rows = controls.lab_rows(sc)
    policy = [r for r in rows if r.path.startswith("policy.")]
    org = [r for r in rows if not r.path.startswith("policy.")]
    return html.Div([
        html.H6("Policy levers"),
        controls.accordion(policy, "lab-param", sc, sets, open_first=True, id="lab-policy-accordion"),
        html.H6("Organisation", className="mt-2"),
        controls.accordion(org, "lab-param", sc, sets, open_first=False, id="lab-org-accordion"),
    ])


def layout(**params: Any) -> html.Div:
    """The lab, set from the link's query."""
    error = None
    try:
        state = lab_state(params)
        ctl = lab_controls(state["base"], state["n"], state["w"], state["sets"])
    except InputError as e:
        error = str(e)
        state = lab_state({})
        ctl = lab_controls(state["base"], state["n"], state["w"], {})
    side = [
        html.H5("Start from"),
        dcc.Dropdown(id="lab-base", options=builtin_scenarios(), value=state["base"], clearable=False),
        dbc.Row([
            dbc.Col([dbc.Label("Engineers", className="small fw-semibold mb-0"), dbc.Input(id="lab-n", type="number", min=10, max=100_000, step=1, value=state["n"], size="sm", debounce=True)]),
            dbc.Col([dbc.Label("Weeks", className="small fw-semibold mb-0"), dbc.Input(id="lab-w", type="number", min=1, max=260, step=1, value=state["w"], size="sm", debounce=True)]),
        ], className="my-2"),
        dbc.Row([
            dbc.Col([dbc.Label("Replicates", className="small fw-semibold mb-0"), dbc.Input(id="lab-r", type="number", min=1, max=MAX_REPLICATES, step=1, value=state["r"], size="sm", debounce=True)]),
            dbc.Col([dbc.Label("Seed", className="small fw-semibold mb-0"), dbc.Input(id="lab-seed", type="number", min=0, step=1, value=state["seed"], size="sm", debounce=True)]),
        ], className="mb-2"),
        dbc.ButtonGroup([
            dbc.Button("Pin as baseline", id="lab-pin-btn", size="sm", color="secondary"),
            dbc.Button("Reset levers", id="lab-reset", size="sm", color="secondary", outline=True),
        ], className="mb-2"),
        html.Div(id="lab-pin-label", className="small text-muted mb-2"),
        share_box("lab"),
        html.Div(ctl, id="lab-controls", className="lab-controls"),
        dcc.Store(id="lab-pin", data=state["pin"]),
        dcc.Store(id="lab-job"),
        dcc.Interval(id="lab-poll", interval=250, disabled=True),
    ]
    main = [
        dbc.Alert(error or "", id="lab-error", color="danger", is_open=bool(error), style={"whiteSpace": "pre-wrap"}),
        html.Div(id="lab-status", className="small text-muted"),
        html.Div(id="lab-table"),
        dbc.Row([
            dbc.Col(dcc.Graph(id="lab-key", config={"displaylogo": False}), lg=12),
            dbc.Col(dcc.Graph(id="lab-gap", config={"displaylogo": False}), lg=6),
            dbc.Col(dcc.Graph(id="lab-adoption", config={"displaylogo": False}), lg=6),
        ]),
    ]
    return dbc.Row([dbc.Col(side, md=4, lg=3), dbc.Col(main, md=8, lg=9)], className="lab-page")


def _pin_text(pin: dict) -> str:
    sets = pin.get("sets") or {}
    extra = "; " + ", ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in sorted(sets.items())) if sets else ""
    return f"Baseline: {pin['base']}{extra}"


def register_callbacks(app: Dash) -> None:
    """The lab's callbacks."""

    @app.callback(
        Output("lab-controls", "children"), Input("lab-base", "value"), Input("lab-reset", "n_clicks"),
        State("lab-n", "value"), State("lab-w", "value"), prevent_initial_call=True,
    )
    def rebuild(base, _reset, n, w):
        """A new base scenario (or a reset) brings its own lever values."""
        try:
            return lab_controls(base, int(n or LAB_DEFAULTS["n"]), int(w or LAB_DEFAULTS["w"]), {})
        except (InputError, ValueError, TypeError) as e:
            return dbc.Alert(str(e), color="danger")

    @app.callback(
        Output("lab-pin", "data"), Input("lab-pin-btn", "n_clicks"), State("lab-base", "value"),
        State({"type": "lab-param", "path": ALL}, "id"), State({"type": "lab-param", "path": ALL}, "value"),
        State("lab-n", "value"), State("lab-w", "value"), prevent_initial_call=True,
    )
    def pin(_n, base, ids, values, n, w):
        """Pin the current settings as the baseline."""
        sc = base_scenario(base, int(n), int(w))
        return {"base": base, "sets": controls.changed(ids, values, sc)}

    @app.callback(Output("lab-pin-label", "children"), Input("lab-pin", "data"))
    def pin_label(pin):
        return _pin_text(pin or {"base": "?"})

    @app.callback(
        Output("lab-job", "data"), Output({"type": "url-state", "page": "lab"}, "data"), Output("lab-error", "children"), Output("lab-error", "is_open"),
        Input({"type": "lab-param", "path": ALL}, "value"), Input("lab-pin", "data"), Input("lab-n", "value"), Input("lab-w", "value"),
        Input("lab-r", "value"), Input("lab-seed", "value"),
        State({"type": "lab-param", "path": ALL}, "id"), State("lab-base", "value"),
    )
    def run(values, pin, n, w, r, seed, ids, base):
        """Any change reruns the baseline and the what-if with the same seeds."""
        ctx = current()
        try:
            n = check_whole(n, "engineers", 10, 100_000, "engineers")
            w = check_whole(w, "weeks", 1, 260, "weeks")
            r = check_whole(r, "replicates", 1, MAX_REPLICATES, "replicates")
            seed = check_whole(seed if seed is not None else 0, "seed", 0, 2**63 - 1, "seed")
            sc = base_scenario(base, n, w)
            sets = controls.changed(ids, values, sc)
            state = {"base": base, "n": n, "w": w, "r": r, "seed": seed, "sets": sets, "pin": pin or {"base": base, "sets": {}}}
            specs = lab_specs(state)
            check_work(specs, r, ctx.config.max_work)
            key = request_key("lab", specs, seed, r)
            ctx.jobs.submit(key, lab_task, specs, seed, r, user=current_user(), work=work_of(specs, r))
        except InputError as e:
            return no_update, no_update, f"error: {e}", True
        ctx.jobs.wait(key, ctx.config.wait_seconds)
        return {"key": key}, lab_query(state), "", False

    @app.callback(
        Output("lab-key", "figure"), Output("lab-gap", "figure"), Output("lab-adoption", "figure"), Output("lab-table", "children"),
        Output("lab-status", "children"), Output("lab-poll", "disabled"),
        Input("lab-job", "data"), Input("lab-poll", "n_intervals"), prevent_initial_call=True,
    )
    def show(job, _tick):
        """The finished run against the baseline, or its progress."""
        if not job:
            return (no_update,) * 6
        st = current().jobs.status(job["key"])
        if st["state"] == "queued":
            return no_update, no_update, no_update, no_update, queue_text(st), False
        if st["state"] == "running":
            return no_update, no_update, no_update, no_update, f"running: {st.get('done') or 0} of {st.get('total') or '?'} runs", False
        if st["state"] == "failed":
            return no_update, no_update, no_update, dbc.Alert(f"error: {st['error']}", color="danger"), "", True
        bundle = current().jobs.cached(job["key"])
        if bundle is None:
            return no_update, no_update, no_update, no_update, "results expired: change a value to rerun", True
        t = bundle.table
        table = dbc.Table.from_dataframe(t, size="sm", striped=True, hover=True, id="lab-summary") if len(t) else html.Div()
        return bundle.figures["key"], bundle.figures["gap"], bundle.figures["adoption"], html.Div([html.H5("End of horizon: what-if against baseline"), table]), "", True
