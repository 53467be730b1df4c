"""Classroom: a guided story for a class on a projector, one step per mechanism, week by week.

Steps advance with the buttons or the keyboard (right/left arrows, space plays and
pauses the weeks). The charts are the app's usual figures in large type, cut
at the week being shown; every number in the text is computed from the runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, callback_context, dcc, html, no_update

from sim.errors import InputError
from sim.analysis.figures import adoption_split, measurement_gap, metric_over_time, panel
from sim.model.scenarios import builtin_orgs

from .. import why
from ..compute import results_task
from ..context import current, current_user, share_box
from ..figures_extra import org_profile
from ..inputs import gate
from ..jobs import queue_text, request_key, work_of
from ..state import _int, query

#: The story's policies, its size and its replicates (small enough to run in a moment).
STORY = ("mandate_single_tool", "free_choice", "outcome_goals")
ENGINEERS, WEEKS, REPLICATES, SEED = 200, 52, 10, 0
MANDATE, FREE, GOALS = STORY


def _sub(results: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    return results[results["scenario"].isin(names)]


def mean_at(results: pd.DataFrame, scenario: str, metric: str, week: int, group: str = "all") -> float:
    """Mean over replicates of a metric in one week."""
    df = results[(results["scenario"] == scenario) & (results["metric"] == metric) & (results["group"] == group) & (results["week"] == week)]
    return float(df["value"].mean()) if len(df) else float("nan")


@dataclass(frozen=True)
class Step:
    """One step of the story: a title, what to say, the chart, and a sentence of numbers at the week shown."""

    title: str
    text: str
    figure: Callable[[pd.DataFrame | None, Any, int], go.Figure]
    numbers: Callable[[pd.DataFrame, int], str] | None = None
    animated: bool = True
    explained: bool = False  # the closing step: shows the explanation of the mandate against outcome goals (dashboards/why.py)


def _pct(x: float, signed: bool = False) -> str:
    return f"{x:+.0%}" if signed else f"{x:.0%}"


STEPS: list[Step] = [
    Step(
        "1. The organisation before",
        "Two hundred engineers in teams of eight: juniors do more boilerplate and tests, seniors more complex change in a mature codebase "
        "and design review. Two AI tools exist, an in-house one and a third-party one; what each truly saves depends on the task type "
        "(right). Before any policy nobody is told to use either.",
        lambda r, org, w: org_profile(org, big=True),
        animated=False,
    ),
    Step(
        "2. The mandate lands",
        "Leadership requires 80% of engineers to use the in-house tool every week and watches the usage dashboard. While usage is below "
        "target, pressure escalates: reminders, dashboards in reviews, questions from managers.",
        lambda r, org, w: metric_over_time(_sub(r, (MANDATE, FREE)), "usage_pressure", until_week=w, big=True, title="Usage pressure on engineers"),
        lambda r, w: f"Week {w}: usage pressure under the mandate is {mean_at(r, MANDATE, 'usage_pressure', w):.2f} (free choice: {mean_at(r, FREE, 'usage_pressure', w):.2f}).",
    ),
    Step(
        "3. Usage climbs",
        "The dashboard fills up. But look at what kind of use it counts: genuine use (chosen on its merits), forced use on tasks where the "
        "engineer believes it does not help, and token uses that satisfy the metric and add nothing. The dotted line is shadow use of an "
        "unapproved tool, which telemetry cannot see.",
        lambda r, org, w: adoption_split(_sub(r, (MANDATE, FREE)), until_week=w, big=True),
        lambda r, w: f"Week {w}: the dashboard counts {_pct(mean_at(r, MANDATE, 'weekly_active_share', w))} weekly active under the mandate; "
                     f"only {_pct(mean_at(r, MANDATE, 'genuine_use_share', w))} use it by their own choice.",
    ),
    Step(
        "4. The gap opens",
        "Engineers feel faster than they are (waiting and checking generated code does not feel like work), and where it is unsafe to say "
        "'this doesn't help', self-reports lean toward what leadership wants to hear. Dashed: the gain leadership hears; solid: the true "
        "change in delivered work against the same organisation without AI.",
        lambda r, org, w: measurement_gap(_sub(r, (MANDATE,)), until_week=w, big=True),
        lambda r, w: f"Week {w}: leadership hears {_pct(mean_at(r, MANDATE, 'reported_gain', w), True)}; the true change is "
                     f"{_pct(mean_at(r, MANDATE, 'true_gain', w), True)}.",
    ),
    Step(
        "5. Trust and safety erode",
        "Being pushed onto a tool you believe is worse, having pushback ignored and seeing dissent punished lower trust in leadership and the "
        "team's psychological safety; with less safety, fewer engineers report honestly, and the gap widens.",
        lambda r, org, w: panel(_sub(r, (MANDATE, FREE)), ("trust_leadership", "psych_safety", "honest_reporting_share"), "Trust, safety and honest reporting",
                                until_week=w, big=True),
        lambda r, w: f"Week {w}: trust in leadership {mean_at(r, MANDATE, 'trust_leadership', w):.2f} under the mandate against "
                     f"{mean_at(r, FREE, 'trust_leadership', w):.2f} under free choice.",
    ),
    Step(
        "6. Who leaves",
        "Low trust, fatigue from reviewing generated code and low morale raise the chance of leaving, most for the most skilled, who have "
        "options. Replacements arrive weeks later, new to the codebase and the tools.",
        lambda r, org, w: panel(_sub(r, (MANDATE, FREE)), ("attrition_cumulative", "attrition_top_skill_cumulative", "fatigue"), "Who leaves",
                                until_week=w, big=True),
        lambda r, w: f"By week {w}: {_pct(mean_at(r, MANDATE, 'attrition_top_skill_cumulative', w))} of the most skilled engineers have left under "
                     f"the mandate, {_pct(mean_at(r, FREE, 'attrition_top_skill_cumulative', w))} under free choice.",
    ),
    Step(
        "7. What outcome goals would have done",
        "The same organisation with outcome goals instead: cycle time down, no more defects, any vetted tool, safe feedback, and leadership "
        "reviewing measured results and backing what works. Less use, but more of it where it helps.",
        lambda r, org, w: panel(r, ("weekly_active_share", "true_gain", "trust_leadership", "attrition_top_skill_cumulative"), "Three policies side by side",
                                until_week=w, big=True, cols=2),
        lambda r, w: f"Week {w}: true change {_pct(mean_at(r, GOALS, 'true_gain', w), True)} with outcome goals, "
                     f"{_pct(mean_at(r, MANDATE, 'true_gain', w), True)} under the mandate, {_pct(mean_at(r, FREE, 'true_gain', w), True)} with free choice.",
    ),
    Step(
        "8. Why: where the difference comes from",
        "The model can replay every run with one mechanism held at what it would be without the policy, on the same random numbers. "
        "Each bar is one mechanism's share of the difference in true gain between the mandate and outcome goals at the end of the year "
        "(averaged over every order of switching them on, so the bars add up to the whole difference; the whiskers are 90% intervals).",
        lambda r, org, w: go.Figure(),
        animated=False,
        explained=True,
    ),
]


def story_specs(org: str) -> list:
    """The story's scenarios on the chosen organisation profile."""
    if not isinstance(org, str) or org not in builtin_orgs():
        raise InputError("is not a built-in organisation profile", source="organisation", value=org, allowed=", ".join(builtin_orgs()))
    return [gate(s, org=org, engineers=ENGINEERS, weeks=WEEKS) for s in STORY]


def layout(step: Any = None, week: Any = None, org: Any = None, **_: Any) -> html.Div:
    """The classroom, at the step and week the link names."""
    error = None
    try:
        s = min(max(_int(step, "step", 1), 1), len(STEPS))
        w = min(max(_int(week, "week", WEEKS), 1), WEEKS)
    except InputError as e:
        s, w, error = 1, WEEKS, str(e)
    org = org if org in builtin_orgs() else "default"
    nav = dbc.Pagination(id="cls-pages", max_value=len(STEPS), active_page=s, fully_expanded=True, className="mb-0")
    return html.Div([
        dbc.Row([
            dbc.Col(html.H2(STEPS[s - 1].title, id="cls-title"), md=7),
            dbc.Col([dbc.Label("Organisation", className="me-2 small"), dcc.Dropdown(id="cls-org", options=builtin_orgs(), value=org, clearable=False,
                                                                                     style={"minWidth": "14rem"})],
                    md=5, className="d-flex align-items-center justify-content-end"),
        ], className="align-items-center"),
        dbc.Alert(error or "", id="cls-error", color="danger", is_open=bool(error)),
        html.P(STEPS[s - 1].text, id="cls-text", className="cls-text"),
        html.P(id="cls-numbers", className="cls-numbers fw-semibold"),
        html.Div(id="cls-status", className="text-muted"),
        dcc.Graph(id="cls-graph", config={"displaylogo": False}, style={"height": "58vh"}),
        dbc.Row([
            dbc.Col(dbc.ButtonGroup([
                dbc.Button("◀ Back", id="cls-prev", color="secondary", size="lg"),
                dbc.Button("Next ▶", id="cls-next", color="primary", size="lg"),
            ]), width="auto"),
            dbc.Col(nav, width="auto"),
            dbc.Col(dbc.Button("▶ Play weeks", id="cls-play", color="success", size="lg"), width="auto"),
            dbc.Col(dcc.Slider(id="cls-week", min=1, max=WEEKS, step=1, value=w, marks={1: "week 1", WEEKS: f"week {WEEKS}"},
                               tooltip={"placement": "top", "always_visible": True}, updatemode="drag"), className="pt-3"),
        ], className="align-items-center g-3"),
        html.Div("Keys: → next step, ← previous step, space plays or pauses the weeks.", className="small text-muted mt-2"),
        html.Div(share_box("classroom"), className="mt-2", style={"maxWidth": "40rem"}),
        dcc.Store(id="cls-step", data=s),
        dcc.Store(id="cls-job"),
        dcc.Interval(id="cls-poll", interval=250, disabled=True),
        dcc.Interval(id="cls-timer", interval=450, disabled=True),
    ], className="classroom")


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
        return True, "▶ Play weeks", no_update

    @app.callback(
        Output("cls-week", "value", allow_duplicate=True), Output("cls-timer", "disabled", allow_duplicate=True), Output("cls-play", "children", allow_duplicate=True),
        Input("cls-timer", "n_intervals"), State("cls-week", "value"), prevent_initial_call=True,
    )
    def tick(_n, week):
        """One week further; stop at the end."""
        week = int(week or 0) + 1
        if week >= WEEKS:
            return WEEKS, True, "▶ Play weeks"
        return week, no_update, no_update

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
        Output("cls-graph", "figure"), Output("cls-title", "children"), Output("cls-text", "children"), Output("cls-numbers", "children"),
        Output("cls-status", "children"), Output("cls-poll", "disabled"), Output({"type": "url-state", "page": "classroom"}, "data"),
        Input("cls-step", "data"), Input("cls-week", "value"), Input("cls-job", "data"), Input("cls-poll", "n_intervals"), State("cls-org", "value"),
    )
    def show(step, week, job, _tick, org_name):
        """The step's chart at the week shown, its text and its numbers."""
        step = int(step or 1)
        week = int(week or WEEKS)
        st = STEPS[step - 1]
        org_name = org_name or "default"
        url = query([("step", step), ("week", week), ("org", org_name)])
        if st.explained:  # the closing step: the explanation job's figure and reading
            try:  # asked for when the class reaches this step (then cached); the same request each time, so it runs once
                specs = story_specs(org_name)
                v = why.status_view(why.submit([specs[STORY.index(MANDATE)], specs[STORY.index(GOALS)]], SEED, REPLICATES, "true_gain"))
            except InputError as e:
                return no_update, st.title, st.text, f"error: {e}", "", True, url
            if v["state"] in ("queued", "running"):
                return no_update, st.title, st.text, "", v["text"], False, url
            if v["state"] == "failed":
                return no_update, st.title, st.text, v["text"], "", True, url
            return v["figure"], st.title, st.text, v["reading"], "", True, url
        if not st.animated:  # the organisation before: no runs needed
            try:
                org = gate(org_name, kind="org")
            except InputError as e:
                return no_update, st.title, st.text, f"error: {e}", "", True, url
            return st.figure(None, org, week), st.title, st.text, "", "", True, url
        if not job:
            return no_update, st.title, st.text, "", "", True, url
        status = current().jobs.status(job["key"])
        if status["state"] == "queued":
            return no_update, st.title, st.text, "", queue_text(status), False, url
        if status["state"] == "running":
            return no_update, st.title, st.text, "", f"running the story: {status.get('done') or 0} of {status.get('total') or '?'} runs", False, url
        if status["state"] == "failed":
            return no_update, st.title, st.text, f"error: {status['error']}", "", True, url
        bundle = current().jobs.cached(job["key"])
        if bundle is None:
            return no_update, st.title, st.text, "", "results expired: reload the page", True, url
        results = bundle.results
        fig = st.figure(results, bundle.specs[0].organisation, week)
        numbers = st.numbers(results, week) if st.numbers else ""
        return fig, st.title, st.text, numbers, "", True, url
