"""Classroom: a guided story for a class on a projector, one step per mechanism, week by week.

The page fits one screen (1280x720 and up) without scrolling: the chart and the step's sentences fill the space
between the title and a fixed footer holding the controls (back, next, the steps, play, speed, the week). Keys:
right/left arrows (or page down/up) change step, space plays or pauses the weeks, Enter reveals a step's chart, F
toggles the full-screen presentation mode (dashboards/assets/classroom_keys.js). The steps, their charts and their
sentences (every number computed from the runs) are in dashboards/story.py; while the weeks play, the axes stay those
of the whole horizon, so the lines grow. Before some steps reveal their chart the class commits a prediction by
dragging a line on the empty axes to its guess (or clicking at that height); the reveal shows it against the runs.
"""

from __future__ import annotations

import functools
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from sim.errors import InputError
from sim.model.scenarios import builtin_orgs

from .. import story, why
from ..compute import engineers_task, results_task
from ..context import current, current_user, share_box
from ..figures_extra import org_profile
from ..inputs import gate
from ..jobs import queue_text, request_key, work_of
from ..polling import RUNNING_POLL_MS, job_status
from ..state import _int, query
from ..story import GOALS, MANDATE, FREE, STEPS, STORY

#: The story's size and its replicates (small enough to run in a moment).
ENGINEERS, WEEKS, REPLICATES, SEED = 200, 52, 10, 0
#: Playback speeds offered (weeks per second) and the default.
SPEEDS, SPEED = (1, 2, 4, 8), 4
#: The replicate the engineer-by-engineer step shows.
SHOWN_REPLICATE = 0


def blank_figure(message: str = "") -> dict:
    """An empty chart with no axes, and ``message`` in its middle: what the chart area shows while a step's runs are on
    their way (not plotly's default empty axes, nor the previous step's chart under this step's title) or after an error."""
    notes = [{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.55,
              "font": {"size": 20, "color": "#6c757d"}}] if message else []
    return {"data": [], "layout": {"xaxis": {"visible": False}, "yaxis": {"visible": False}, "annotations": notes, "autosize": True,
                                   "margin": {"l": 10, "r": 10, "t": 10, "b": 10}, "plot_bgcolor": "#fff", "paper_bgcolor": "#fff"}}


#: What the chart area says while a step's runs are on their way (the line above it says how far they are).
WAITING = "The chart appears here when the runs are done."


def story_specs(org: str) -> list:
    """The story's scenarios on the chosen organisation profile."""
    if not isinstance(org, str) or org not in builtin_orgs():
        raise InputError("is not a built-in organisation profile", source="Organisation", value=org, allowed=", ".join(builtin_orgs()))
    return [gate(s, org=org, engineers=ENGINEERS, weeks=WEEKS) for s in STORY]


def engineers_specs(org: str) -> list:
    """The two scenarios the engineer-by-engineer step shows: the mandate and free choice."""
    specs = story_specs(org)
    return [specs[STORY.index(MANDATE)], specs[STORY.index(FREE)]]


def engineers_key(org: str) -> str:
    return request_key("classroom-engineers", engineers_specs(org), SEED, SHOWN_REPLICATE + 1)


# -- what the web process keeps of a finished story (small: the story's metrics only) ---------------------------------


@functools.lru_cache(maxsize=8)
def story_data(key: str) -> tuple[pd.DataFrame, story.StoryData, Any] | None:
    """The story's results (its metrics, organisation-wide), read once per job, ready for every step and week."""
    bundle = current().jobs.cached(key)
    if bundle is None:
        return None
    r = bundle.results
    small = r[(r["group"] == "all") & r["metric"].isin(story.STORY_METRICS)].copy()
    small["metric"] = small["metric"].astype(str)
    small["group"] = small["group"].astype(str)
    return small, story.StoryData(r, bundle.specs), bundle.specs


@functools.lru_cache(maxsize=8)
def engineers_table(key: str) -> pd.DataFrame | None:
    bundle = current().jobs.cached(key)
    return None if bundle is None else bundle.results


@functools.lru_cache(maxsize=64)
def full_ranges(key: str, step: int) -> dict:
    """The axes of a step's chart over the whole horizon (the chart keeps them while the weeks play)."""
    small, data, specs = story_data(key)
    return story.axis_ranges(STEPS[step - 1].figure(small, specs[STORY.index(MANDATE)], data.weeks))


@functools.lru_cache(maxsize=32)
def step_view(key: str, step: int) -> dict:
    """What the page needs to show a step at any week without asking the server again: the chart over the whole horizon
    with the axes fixed (the page cuts its lines at the week shown: mode 'slice') and the sentences of every week."""
    small, data, specs = story_data(key)
    st = STEPS[step - 1]
    fig = story.freeze_axes(st.figure(small, specs[STORY.index(MANDATE)], data.weeks), full_ranges(key, step))
    sentences = [[x.text for x in story.step_sentences(st, data, None, w)] for w in range(1, data.weeks + 1)]
    return {"mode": "slice", "figure": story.plain(_fit(fig)), "weeks": data.weeks, "sentences": sentences}


@functools.lru_cache(maxsize=8)
def engineers_view(key: str) -> dict | None:
    """Step 7 at any week: the grid's animation frames (mode 'frames') and the sentences of every week."""
    bundle = current().jobs.cached(key)
    if bundle is None:
        return None
    table = bundle.results
    data = story.StoryData(None, bundle.specs, table)
    fig = story.engineers_figure(table)
    fig["layout"].pop("height", None)
    fig["layout"]["autosize"] = True
    sentences = [[x.text for x in story.agents_sentences(data, w)] for w in range(1, data.weeks + 1)]
    title = fig["layout"]["title"]["text"].replace("Engineer by engineer", "Engineer by engineer, week {week}")
    return {"mode": "frames", "figure": fig, "weeks": data.weeks, "sentences": sentences, "title": title}


def _fit(fig: go.Figure) -> go.Figure:
    """A figure that takes the height of its box (the page sizes the box to the screen)."""
    fig.layout.height = None
    fig.update_layout(autosize=True)
    return fig


def static_view(fig: go.Figure, sentences: list[str] = ()) -> dict:
    """A chart that does not change with the week."""
    return {"mode": "static", "figure": story.plain(_fit(fig)) if isinstance(fig, go.Figure) else fig, "sentences": [list(sentences)]}


# -- layout -----------------------------------------------------------------------------------------------------------


def layout(step: Any = None, week: Any = None, org: Any = None, **_: Any) -> html.Div:
    """The classroom, at the step and week the link names."""
    error = None
    try:
        s = min(max(_int(step, "step", 1), 1), len(STEPS))
        w = min(max(_int(week, "week", WEEKS), 1), WEEKS)
    except InputError as e:
        s, w, error = 1, WEEKS, str(e)
    org = org if org in builtin_orgs() else "default"
    button = {"size": "md", "className": "text-nowrap"}
    footer = html.Div([
        dbc.ButtonGroup([
            dbc.Button("◀ Back", id="cls-prev", color="secondary", title="previous step (←)", **button),
            dbc.Button("Next ▶", id="cls-next", color="primary", title="next step (→)", **button),
        ]),
        dbc.Pagination(id="cls-pages", max_value=len(STEPS), active_page=s, fully_expanded=True, size="sm", className="mb-0"),
        dbc.Button("Reveal", id="cls-reveal", color="warning", title="show the chart against the class's prediction (Enter)",
                   style={"display": "none"}, **button),
        dbc.Button("▶ Play", id="cls-play", color="success", title="play or pause the weeks (space)", **button),
        html.Div(dbc.Select(id="cls-speed", options=[{"label": f"{v} wk/s", "value": str(v)} for v in SPEEDS], value=str(SPEED), size="sm"),
                 className="cls-speed", title="playback speed: weeks per second"),
        html.Div(dcc.Slider(id="cls-week", min=1, max=WEEKS, step=1, value=w, marks={1: "1", WEEKS: str(WEEKS)},
                            tooltip={"placement": "top", "always_visible": True}, updatemode="drag"), className="cls-slider"),
        dbc.Button("Full screen", id="cls-present", color="light", title="full-screen presentation (F)", **button),
        dbc.Button("Link", id="cls-share-toggle", color="light", title="the link to this view", **button),
    ], className="cls-footer")
    return html.Div([
        html.Div([
            html.H2(STEPS[s - 1].title, id="cls-title"),
            html.Div([dbc.Label("Organisation", className="me-2 mb-0 small", html_for="cls-org"),
                      dcc.Dropdown(id="cls-org", options=builtin_orgs(), value=org, clearable=False, style={"minWidth": "13rem"})],
                     className="d-flex align-items-center"),
        ], className="cls-head"),
        dbc.Alert(error or "", id="cls-error", color="danger", is_open=bool(error), className="py-1 my-1"),
        html.Div([
            html.Div([
                html.Div(id="cls-status", className="text-muted small"),
                dcc.Graph(id="cls-graph", figure=blank_figure(WAITING), config={"displaylogo": False, "displayModeBar": False, "responsive": True},
                          responsive=True, className="cls-graph", style={"height": "100%", "width": "100%"}),
            ], className="cls-chart"),
            html.Div([
                html.P(STEPS[s - 1].lead, id="cls-text", className="cls-text"),
                html.Ul(id="cls-numbers", className="cls-numbers"),
                html.P(id="cls-prediction", className="cls-prediction"),
                html.Div("Keys: → next, ← back, space plays the weeks, Enter reveals, F full screen.", className="small text-muted cls-keys"),
            ], className="cls-side"),
        ], className="cls-main"),
        footer,
        dbc.Collapse(html.Div(share_box("classroom"), className="cls-share-box"), id="cls-share", is_open=False, className="cls-share"),
        dcc.Store(id="cls-step", data=s),
        dcc.Store(id="cls-job"),
        dcc.Store(id="cls-view"),
        dcc.Store(id="cls-predictions", data={}),
        dcc.Store(id="cls-revealed", data=[]),
        dcc.Interval(id="cls-poll", interval=RUNNING_POLL_MS, disabled=True),
        dcc.Interval(id="cls-timer", interval=1000 // SPEED, disabled=True),
    ], className="classroom", id="cls-root")


# -- callbacks --------------------------------------------------------------------------------------------------------


def register_callbacks(app: Dash) -> None:
    """The classroom's callbacks."""

    @app.callback(
        Output("cls-step", "data"), Output("cls-pages", "active_page"), Output("cls-week", "value", allow_duplicate=True),
        Input("cls-prev", "n_clicks"), Input("cls-next", "n_clicks"), Input("cls-pages", "active_page"), State("cls-step", "data"),
        prevent_initial_call=True,
    )
    def move(_p, _n, page, step):
        """Back, next or a step number; a step opens on the whole horizon (play replays it week by week)."""
        trigger = callback_context.triggered_id
        step = int(step or 1)
        if trigger == "cls-prev":
            new = max(step - 1, 1)
        elif trigger == "cls-next":
            new = min(step + 1, len(STEPS))
        else:
            new = int(page or step)
        if new == step and trigger == "cls-pages":
            return no_update, no_update, no_update
        return new, new, WEEKS

    @app.callback(
        Output("cls-timer", "disabled"), Output("cls-play", "children"), Output("cls-week", "value", allow_duplicate=True),
        Input("cls-play", "n_clicks"), State("cls-timer", "disabled"), State("cls-week", "value"), prevent_initial_call=True,
    )
    def play(_n, disabled, week):
        """Play (from week 1 when at the end) or pause the weeks."""
        if disabled:
            return False, "❚❚ Pause", (1 if int(week or WEEKS) >= WEEKS else no_update)
        return True, "▶ Play", no_update

    @app.callback(
        Output("cls-week", "value", allow_duplicate=True), Output("cls-timer", "disabled", allow_duplicate=True),
        Output("cls-play", "children", allow_duplicate=True),
        Input("cls-timer", "n_intervals"), State("cls-week", "value"), prevent_initial_call=True,
    )
    def tick(_n, week):
        """One week further; stop at the end."""
        week = int(week or 0) + 1
        if week >= WEEKS:
            return WEEKS, True, "▶ Play"
        return week, no_update, no_update

    @app.callback(Output("cls-timer", "interval"), Input("cls-speed", "value"))
    def speed(value):
        """Weeks per second -> the timer's interval."""
        v = int(value) if str(value) in {str(s) for s in SPEEDS} else SPEED
        return 1000 // v

    @app.callback(Output("cls-share", "is_open"), Input("cls-share-toggle", "n_clicks"), State("cls-share", "is_open"), prevent_initial_call=True)
    def share(_n, is_open):
        return not is_open

    @app.callback(Output("cls-job", "data"), Output("cls-error", "children"), Output("cls-error", "is_open"), Input("cls-org", "value"))
    def run(org):
        """The story's runs for the chosen organisation (cached after the first class)."""
        ctx = current()
        try:
            specs = story_specs(org)
            key = request_key("classroom", specs, SEED, REPLICATES)
            ctx.jobs.submit(key, results_task, specs, SEED, REPLICATES, user=current_user(), work=work_of(specs, REPLICATES))
        except InputError as e:
            return no_update, f"error: {e}", True
        ctx.jobs.wait(key, ctx.config.wait_seconds)
        return {"key": key, "org": org}, "", False

    @app.callback(
        Output("cls-predictions", "data"), Input("cls-graph", "clickData"), Input("cls-graph", "relayoutData"), State("cls-step", "data"),
        State("cls-revealed", "data"), State("cls-predictions", "data"), State("cls-job", "data"), prevent_initial_call=True,
    )
    def predict(click, relayout, step, revealed, predictions, job):
        """The class's guess on a step that asks for a prediction: where it dragged the line, or the y of a click."""
        step = int(step or 1)
        st = STEPS[step - 1]
        if (st.predict is None or step in (revealed or []) or not job or current().jobs.status(job["key"])["state"] != "done"
                or story_data(job["key"]) is None):  # (the canvas is drawn only once the story's runs are done)
            return no_update
        bounds = story.prediction_range(st, full_ranges(job["key"], step))
        dragged = any(t["prop_id"] == "cls-graph.relayoutData" for t in callback_context.triggered)
        guess = story.dragged_guess(relayout, bounds) if dragged else story.clicked_guess(click, bounds)
        if guess is None:
            return no_update
        return {**(predictions or {}), str(step): guess}

    @app.callback(
        Output("cls-revealed", "data"), Input("cls-reveal", "n_clicks"), State("cls-step", "data"), State("cls-revealed", "data"),
        prevent_initial_call=True,
    )
    def reveal(_n, step, revealed):
        step = int(step or 1)
        return sorted(set(revealed or []) | {step})

    @app.callback(
        Output("cls-view", "data"), Output("cls-title", "children"), Output("cls-text", "children"),
        Output("cls-prediction", "children"), Output("cls-status", "children"), Output("cls-poll", "disabled"), Output("cls-reveal", "style"),
        Input("cls-step", "data"), Input("cls-job", "data"), Input("cls-poll", "n_intervals"),
        Input("cls-predictions", "data"), Input("cls-revealed", "data"), State("cls-org", "value"),
    )
    def show(step, job, _tick, predictions, revealed, org_name):
        """The step's chart over the whole horizon (axes fixed), its lead, its sentences for every week and the class's
        prediction; the page shows the week (``render``, in the browser)."""
        step = min(max(int(step or 1), 1), len(STEPS))
        st = STEPS[step - 1]
        org_name = org_name if org_name in builtin_orgs() else "default"
        hidden, shown = {"display": "none"}, {}
        base = (st.title, st.lead)

        def out(view=None, prediction="", status="", poll_off=True, reveal=hidden, numbers=None):
            if numbers is not None:  # an error or a message instead of the chart
                view = {"mode": "static", "figure": blank_figure(), "sentences": [numbers]}
            elif view is None:  # the step's runs are on their way: no chart yet (not the previous step's)
                view = {"mode": "static", "figure": blank_figure(WAITING), "sentences": [[]]}
            return view, *base, prediction, status, poll_off, reveal

        try:
            if st.kind == "organisation":
                org = story_specs(org_name)[0].organisation
                return out(static_view(org_profile(org, big=True), [x.text for x in story.org_sentences(org)]))
            if st.kind == "explained":  # asked for when the class reaches this step (then cached); the same request each time
                specs = story_specs(org_name)
                v = why.status_view(why.submit([specs[STORY.index(MANDATE)], specs[STORY.index(GOALS)]], SEED, REPLICATES, "true_gain"))
                if v["state"] in ("queued", "running"):
                    return out(status=v["text"], poll_off=False)
                if v["state"] == "failed":
                    return out(numbers=[v["text"]])
                fig = dict(v["figure"])
                fig["layout"] = {**fig.get("layout", {}), "height": None, "autosize": True}
                return out(static_view(fig, [v["reading"]]))
            if st.kind == "engineers":
                ctx = current()
                key = engineers_key(org_name)
                specs = engineers_specs(org_name)
                ctx.jobs.submit(key, engineers_task, specs, SEED, SHOWN_REPLICATE, user=current_user(), work=work_of(specs, 1))
                waiting = _waiting(key, "the engineers' weeks")
                if waiting is not None:
                    return out(**waiting)
                view = engineers_view(key)
                if view is None:
                    engineers_view.cache_clear()
                    return out(status="results expired: reload the page")
                return out(view)
        except InputError as e:
            return out(numbers=[f"error: {e}"])
        if not job:
            return out(status="starting the story's runs", poll_off=True)
        waiting = _waiting(job["key"], "the story")
        if waiting is not None:
            return out(**waiting)
        got = story_data(job["key"])
        if got is None:
            story_data.cache_clear()
            return out(status="results expired: reload the page")
        small, data, specs = got
        guess = (predictions or {}).get(str(step))
        if st.predict is not None and step not in (revealed or []):
            canvas = story.prediction_canvas(st, full_ranges(job["key"], step), data.weeks, guess)
            return out({"mode": "static", "figure": story.plain(_fit(canvas)), "sentences": [[]], "drag": True},  # its guess line drags
                       "Commit the class's prediction: drag the line (or click) to the class's guess, then press Reveal." if guess is None else
                       f"The class predicts {story.fmt(st.predict.metric, guess)}. Press Reveal.", reveal=shown)
        view = step_view(job["key"], step)
        prediction = ""
        if st.predict is not None and guess is not None:
            view = {**view, "figure": {**view["figure"], "data": view["figure"]["data"] + [story.plain(go.Figure(story.prediction_trace(
                guess, data.weeks, st.predict.metric, xaxis=st.predict.xaxis, yaxis=st.predict.yaxis)))["data"][0]]}}
            prediction = story.prediction_sentence(st, data, guess).text
        return out(view, prediction)

    @app.callback(Output({"type": "url-state", "page": "classroom"}, "data"), Input("cls-step", "data"), Input("cls-week", "value"),
                  Input("cls-org", "value"))
    def url(step, week, org):
        """The address that reopens this view."""
        return query([("step", step or 1), ("week", week or WEEKS), ("org", org if org in builtin_orgs() else "default")])

    app.clientside_callback(RENDER, Output("cls-graph", "figure"), Output("cls-numbers", "children"), Output("cls-graph", "config"),
                            Input("cls-week", "value"), Input("cls-view", "data"), State("cls-graph", "config"))


#: The chart and the sentences at the week shown, in the browser (no round trip while the weeks play): lines cut at the
#: week on axes of the whole horizon ('slice'), the week's frame of the engineer grid ('frames'), or a fixed chart; and
#: the chart's shapes made draggable only where the view asks for it (the prediction canvas's guess line: 'drag').
RENDER = """
function(week, view, config) {
    var nu = window.dash_clientside.no_update;
    if (!view) { return [nu, nu, nu]; }
    var drag = !!view.drag;
    var edits = (config && config.edits) || {};
    var cfg = !!edits.shapePosition === drag ? nu : Object.assign({}, config, {edits: Object.assign({}, edits, {shapePosition: drag})});
    var weeks = view.weeks || 1;
    var w = Math.max(1, Math.min(parseInt(week || weeks, 10), weeks));
    var fig = view.figure;
    if (view.mode === "slice") {
        fig = {layout: view.figure.layout, data: view.figure.data.map(function (t) {
            if (t.meta === "static" || !Array.isArray(t.x)) { return t; }
            var keep = [];
            for (var i = 0; i < t.x.length; i++) { if (typeof t.x[i] !== "number" || t.x[i] <= w) { keep.push(i); } }
            var out = Object.assign({}, t);
            ["x", "y", "customdata", "text", "hovertext"].forEach(function (k) {
                if (Array.isArray(t[k]) && t[k].length === t.x.length) { out[k] = keep.map(function (i) { return t[k][i]; }); }
            });
            return out;
        })};
    } else if (view.mode === "frames") {
        var frame = view.figure.frames[w - 1];
        var data = view.figure.data.slice();
        frame.traces.forEach(function (ti, j) { data[ti] = Object.assign({}, data[ti], frame.data[j]); });
        var title = Object.assign({}, view.figure.layout.title, {text: view.title.replace("{week}", String(w))});
        fig = {data: data, layout: Object.assign({}, view.figure.layout, {title: title})};
    } else {
        w = 1;
    }
    var sentences = (view.sentences && view.sentences[Math.min(w, view.sentences.length) - 1]) || [];
    var items = sentences.map(function (s) {
        return {type: "Li", namespace: "dash_html_components", props: {children: s, className: "cls-sentence"}};
    });
    return [fig, items, cfg];
}
"""


def _waiting(key: str, what: str) -> dict | None:
    """What the page shows while a job waits, runs or failed (None once it is done)."""
    status = job_status(current().jobs, key, "cls-poll")
    if status["state"] == "queued":
        return {"status": queue_text(status), "poll_off": False}
    if status["state"] == "running":
        return {"status": f"running {what}: {status.get('done') or 0} of {status.get('total') or '?'} runs", "poll_off": False}
    if status["state"] == "failed":
        return {"numbers": [html.Li(f"error: {status['error']}")]}
    if status["state"] == "unknown":
        return {"status": f"starting {what}", "poll_off": False}
    return None

