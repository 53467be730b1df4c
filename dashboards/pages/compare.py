"""Compare: two to four policies on one organisation. A reference policy and a week ("at week N") give each other
policy's difference table (paired change with its 90% interval, in units and %); then takeaways, "Why?", charts with
90% bands, the end-of-horizon table and downloads.

Policies are called by their titles, metrics by their labels with units (the CSV downloads keep the ids beside
them). Whatever the form sets over the files (the organisation's size, the horizon) is shown, never silent; results
that no longer match the form are greyed and marked out of date.
"""

from __future__ import annotations

import dataclasses
import io
import time
import zipfile
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
import yaml
from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update
from dash.exceptions import PreventUpdate

from sim.analysis.differences import DIFFERENCE_METRICS, differences, percent, signed
from sim.analysis.figures import group_label, policy_labels, scenario_colours
from sim.errors import InputError
from sim.model.metrics import METRICS
from sim.model.metrics import title as metric_title
from sim.model.scenarios import builtin_orgs, builtin_scenarios

from .. import controls, why
from ..compare_form import (
    form_overrides,
    mix_sums,
    normalised,
    org_editor,
    own_specs,
    plain_message,
    with_size_note,
)
from ..compute import compare_from_parts, compare_task, simulate_task, spec_labels, split_parts
from ..context import current, current_user, share_box
from ..inputs import (
    MAX_POLICIES,
    MAX_REPLICATES,
    MAX_UPLOADS,
    UPLOAD_PREFIX,
    CompareRequest,
    build_specs,
    check_upload,
    check_whole,
    decode_contents,
    org_scenario,
)
from ..jobs import check_work, queue_text, request_key, work_of
from ..polling import QUEUED_POLL_MS, RUNNING_POLL_MS, job_status
from ..state import compare_query, compare_request

#: Order and width of the standard figures on the page (of 12 columns, on a large screen and on one of 1400 px or more).
FIGURE_ORDER = [
    ("adoption", 12), ("weekly_active", 6), ("gap", 6), ("performance", 12), ("people", 12), ("wellbeing", 12),
    ("risk", 12), ("gain_by_seniority", 4), ("gain_by_task", 4), ("ai_by_task", 4),
]
#: Width on a large screen (under 1400 px: room for the legends) of the charts that share a row on a wider one.
NARROW = {6: 12, 4: 6}
#: The contents bar: (anchor, text).
SECTIONS = [("sec-diff", "Differences"), ("sec-takeaways", "Takeaways"), ("why-box", "Why?"), ("sec-adoption", "Adoption"),
            ("sec-performance", "Performance"), ("sec-people", "People"), ("sec-risk", "Risk"), ("sec-breakdowns", "Breakdowns"),
            ("sec-table", "End of horizon")]
ANCHORS = {"adoption": "sec-adoption", "performance": "sec-performance", "people": "sec-people", "risk": "sec-risk",
           "gain_by_seniority": "sec-breakdowns"}
OWN_ORG = "-"
BUILDING = "Building charts…"


# -- labels -------------------------------------------------------------------


def _title_of(name: str, files: list[dict]) -> str:
    if name.startswith(UPLOAD_PREFIX):
        f = next((f for f in files if UPLOAD_PREFIX + f.get("id", "") == name), None)
        return f"{f['title']} (uploaded {f['filename']})" if f else name
    return policy_labels([name])[name]


def _policy_options(files: list[dict]) -> list[dict]:
    """Policies by title (the dropdown's chips); the name shows on hover."""
    opts = [{"label": _title_of(n, files), "value": n, "title": n} for n in builtin_scenarios()]
    opts += [{"label": _title_of(UPLOAD_PREFIX + f["id"], files), "value": UPLOAD_PREFIX + f["id"], "title": f["filename"]}
             for f in files if f["kind"] == "scenario"]
    return opts


def chips(policies: list[str], files: list[dict]) -> list:
    """The chosen policies as short chips, by title, in their colours on the charts (the name shows on hover)."""
    names = {f"{UPLOAD_PREFIX}{f.get('id')}": f.get("name", "") for f in files}
    runs_as = [names.get(p, p) for p in policies]  # what the charts call each (an upload by its scenario's name)
    colours = scenario_colours(runs_as)
    return [html.Span(_title_of(p, files), title=p, className="cmp-chip", style={"borderColor": colours.get(n, "#999")})
            for p, n in zip(policies, runs_as)]


def _org_options(files: list[dict]) -> list[dict]:
    opts = [{"label": n.replace("_", " "), "value": n} for n in builtin_orgs()]
    opts.append({"label": "as in each scenario file", "value": OWN_ORG})
    opts += [{"label": f"{f['name']} (uploaded {f['filename']})", "value": UPLOAD_PREFIX + f["id"]} for f in files if f["kind"] == "org"]
    return opts


# -- layout -------------------------------------------------------------------


def _number(id_: str, label: str, value: int, lo: int, hi: int, help_: str) -> html.Div:
    return html.Div([
        dbc.Label(html.Span(label, title=help_), html_for=id_, className="small fw-semibold mb-0"),
        dbc.Input(id=id_, type="number", min=lo, max=hi, step=1, value=value, size="sm"),
    ], className="mb-2")


def _org_size(org: str, files: list[dict]) -> int | None:
    try:
        return org_scenario(org or "default", files, current().uploads).organisation.size
    except InputError:
        return None


HELP = (
    "Pick two to four policies and one organisation, then Run. Every policy runs on the same seeds (paired replicates), so "
    "the difference table compares like with like: each policy's change against the one chosen under “Compared against”, "
    "at the week chosen under “At week”, with a 90% interval of the mean paired difference. Within noise: the interval "
    "contains 0. % change is the change divided by the reference's mean."
)


def layout(**params: Any) -> html.Div:
    """The compare page, its controls set from the link's query (defaults where it says nothing; without an Engineers
    value, the organisation's own size)."""
    link_error = None
    try:
        req = compare_request(params)
    except InputError as e:
        req, link_error = CompareRequest(), plain_message(e)
    org_value = req.org or OWN_ORG
    if "n" not in params and req.org:
        req.engineers = _org_size(req.org, req.files) or req.engineers
    side = [
        html.H5("Policies"),
        dcc.Dropdown(id="cmp-policies", options=_policy_options(req.files), value=req.policies, multi=True, placeholder="two to four policies",
                     optionHeight=50),
        html.Div(chips(req.policies, req.files), id="cmp-chips", className="cmp-chips"),
        dcc.Upload(id="cmp-upload-scenario", children=html.Div(["Drop or ", html.A("choose a scenario file", href="#")]),
                   className="upload-box my-2", max_size=-1, accept=".yaml,.yml,text/yaml,text/plain"),
        html.H5("Organisation", className="mt-3"),
        dcc.Dropdown(id="cmp-org", options=_org_options(req.files), value=org_value, clearable=False),
        dcc.Upload(id="cmp-upload-org", children=html.Div(["Drop or ", html.A("choose an organisation file", href="#")]),
                   className="upload-box my-2", max_size=-1, accept=".yaml,.yml,text/yaml,text/plain"),
        dbc.Alert(id="cmp-upload-error", color="danger", is_open=False, className="small upload-error", style={"whiteSpace": "pre-wrap"}),
        dbc.Button("Edit organisation", id="cmp-org-toggle", color="secondary", outline=True, size="sm", className="mb-2"),
        dbc.Collapse(html.Div(org_editor(org_value if org_value != OWN_ORG else "default", req.files, req.sets), id="cmp-org-editor"),
                     id="cmp-org-collapse", is_open=bool(req.sets)),
        dbc.Row([
            dbc.Col(_number("cmp-n", "Engineers", req.engineers, 10, 100_000, "Engineer positions (the organisation's size; a file's own by default)")),
            dbc.Col(_number("cmp-w", "Weeks", req.weeks, 1, 260, "Weeks to simulate")),
        ]),
        html.Div(id="cmp-overrides", className="small text-warning-emphasis mb-2"),
        dbc.Row([
            dbc.Col(_number("cmp-r", "Replicates", req.replicates, 1, MAX_REPLICATES, "Runs per policy with different seeds (the same seeds for every policy)")),
            dbc.Col(_number("cmp-seed", "Seed", req.seed, 0, 2**31 - 1, "Seed of the whole comparison")),
        ]),
        dbc.Button("Run", id="cmp-run", color="primary", className="w-100 my-2"),
        dbc.Progress(id="cmp-progress", value=0, striped=True, className="mb-1", style={"height": "1.2rem", "visibility": "hidden"}),
        html.Div(id="cmp-status", className="small text-muted mb-2"),
        dcc.Interval(id="cmp-poll", interval=RUNNING_POLL_MS, disabled=True),
        dcc.Store(id="cmp-job"),
        dcc.Store(id="cmp-shown"),
        dcc.Store(id="cmp-files", data=req.files),
        share_box("compare"),
        html.Div([
            html.Div("Downloads", className="small fw-semibold"),
            dbc.ButtonGroup([
                dbc.Button("Data (CSV)", id="cmp-dl-csv", size="sm", outline=True, color="secondary", title="Every run's weekly values; id and label columns"),
                dbc.Button("Differences (CSV)", id="cmp-dl-diff", size="sm", outline=True, color="secondary", title="The difference tables as shown"),
                dbc.Button("Scenario files", id="cmp-dl-yaml", size="sm", outline=True, color="secondary"),
            ], className="mb-1 flex-wrap"),
            dcc.Download(id="cmp-download"),
            html.Div("Charts: the camera button in each chart's toolbar saves it as", className="small"),
            dbc.RadioItems(id="cmp-img-format", options=[{"label": "PNG", "value": "png"}, {"label": "SVG", "value": "svg"}], value="png", inline=True, className="small"),
        ]),
    ]
    graphs = []
    for name, width in FIGURE_ORDER:
        graphs.append(dbc.Col(dcc.Graph(id={"type": "cmp-graph", "name": name}, config=graph_config(name, "png"), className="cmp-graph chart-strip"),
                              lg=NARROW.get(width, width), xxl=width, className="mb-3", id=ANCHORS.get(name, f"sec-{name}")))
    results = html.Div([
        html.Nav([html.A(text, href=f"#{anchor}", className="cmp-contents-link") for anchor, text in SECTIONS], id="cmp-contents", className="cmp-contents"),
        html.Section([
            html.H4("Differences"),
            dbc.Row([
                dbc.Col([dbc.Label("Compared against", html_for="cmp-ref", className="small fw-semibold mb-0"),
                         dcc.Dropdown(id="cmp-ref", options=[], value=req.reference or None, clearable=False, placeholder="the reference policy")], md=6),
                dbc.Col([dbc.Label(id="cmp-week-label", children="At week", html_for="cmp-week", className="small fw-semibold mb-0"),
                         dcc.Slider(id="cmp-week", min=1, max=max(req.weeks, 2), step=1, value=req.week or req.weeks, marks=None,
                                    tooltip={"placement": "bottom", "always_visible": False}, updatemode="mouseup")], md=6),
            ], className="g-2 mb-2"),
            html.Div(id="cmp-diff"),
        ], id="sec-diff", className="mb-3"),
        html.Section(id="cmp-takeaways", className="mb-2"),
        html.Div(why.block(), id="sec-why"),
        dbc.Row(graphs, id="cmp-graphs", style={"display": "none"}),
        html.Section(id="cmp-table"),
    ], id="cmp-results", className="cmp-results", style={"display": "none"})
    main = [
        html.P(HELP, className="small text-muted cmp-help"),
        dbc.Alert(link_error or "", id="cmp-error", color="danger", is_open=bool(link_error), style={"whiteSpace": "pre-wrap"}),
        dbc.Alert("These results are out of date: the form has changed since they ran. Press Run to update them.", id="cmp-stale",
                  color="warning", is_open=False, className="cmp-stale-note py-2"),
        results,
    ]
    return dbc.Row([dbc.Col(side, md=3, className="compare-side"), dbc.Col(main, md=9, className="compare-main")], className="compare-page")


def graph_config(name: str, fmt: str) -> dict:
    """Chart toolbar: no logo; the camera button saves PNG or SVG."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": f"mandate-sim-{name}", "scale": 2 if fmt == "png" else 1}}


# -- rendering ----------------------------------------------------------------


def caption(bundle: Any, notes: list[str] | None = None) -> str:
    sc = bundle.specs[0]
    text = (f"{sc.organisation.size:,} engineers ({sc.organisation.name}), {sc.weeks} weeks, {bundle.replicates} replicate(s) per policy, "
            f"seed {bundle.seed}.")
    return text + (" Set by the form over the files: " + "; ".join(notes) + "." if notes else "")


def difference_outputs(bundle: Any, shown: dict, ref: str, week: Any, files: list | None) -> tuple[Any, Any, Any]:
    """The difference tables of a finished run against ``ref`` at ``week``, the week's label, and the link that shows them
    (or an error message in place of the tables)."""
    weeks = int(bundle.results["week"].max())
    try:
        week = check_whole(week if week is not None else weeks, "week", 1, weeks, f"a week of these runs, 1 to {weeks}")
        tables, _ = difference_tables(bundle, ref, week)
    except InputError as e:
        return dbc.Alert(plain_message(e), color="danger"), no_update, no_update
    link = no_update
    if shown.get("req"):
        req = CompareRequest(**{**shown["req"], "files": list(files or [])})
        req.reference = ref if ref != req.policies[0] else ""
        req.week = week if week != weeks else 0
        link = compare_query(req)
    return tables, f"At week {week} of {weeks}", link


def render(bundle: Any, notes: list[str] | None = None) -> tuple[list, Any, Any]:
    """The figures (in FIGURE_ORDER), the end-of-horizon table and the takeaways of a finished comparison.

    The graphs stay in the page and only their figures change, which plotly redraws faster than new graphs.
    """
    graphs = [bundle.figures.get(name, {}) for name, _ in FIGURE_ORDER]
    colours = scenario_colours(list(bundle.table.columns))
    labels = spec_labels(bundle.specs)
    table = bundle.table
    header = html.Thead(html.Tr([html.Th("Outcome (end of horizon: mean [5%, 95%] of replicates)")] + [
        html.Th(labels.get(c, c), title=c, style={"color": colours.get(c, "#222")}) for c in table.columns]))
    body = html.Tbody([html.Tr([html.Td(metric_title(idx))] + [html.Td(v) for v in row]) for idx, row in zip(table.index, table.values.tolist())])
    note = html.P(
        caption(bundle, notes) + " Lines are means over replicates; bands and bracketed ranges span 5% to 95% of replicates (a line without "
        "a band: every replicate gives the same value there). True gain is measured against the no-AI counterfactual run with the same seed.",
        className="small text-muted")
    table_div = html.Div([html.H4("End of horizon"), note, dbc.Table([header, body], size="sm", striped=True, hover=True, responsive=True, id="cmp-summary")],
                         id="sec-table")
    takeaways = html.Div([html.H4("Takeaways"), html.Ul([html.Li(t) for t in bundle.takeaways], id="cmp-takeaway-list", className="takeaways")],
                         id="sec-takeaways")
    return graphs, table_div, takeaways


def _cell(text: str, value: float, cls: str = "", interval: str | None = None) -> html.Td:
    """A number (its full value in data-value, for scripts and tests), with its interval on a line of its own."""
    body = text if interval is None else [html.Div(text), html.Div(interval, className="ci")]
    return html.Td(body, className=cls, **{"data-value": "" if value != value else repr(float(value))})


def bounds(fmt: Any, low: float, high: float) -> str:
    """'[+1.2, +3.4]': an interval's bounds without the unit (the change above them has it); '' without an interval."""
    if low != low:
        return ""
    return f"[{fmt(low).replace(' pts', '')}, {fmt(high).replace(' pts', '')}]"


def _verdict(row: pd.Series) -> str:
    if row["low"] != row["low"]:
        return "no interval (1 replicate)"
    if row["change"] == 0.0 and row["low"] == row["high"]:
        return "the same in every replicate"
    if row["within_noise"]:
        return "within noise"
    return "higher" if row["change"] > 0 else "lower"


def difference_tables(bundle: Any, reference: str, week: int) -> tuple[Any, pd.DataFrame]:
    """One table per policy other than ``reference``: each outcome's paired change at ``week`` (``sim.differences``)."""
    table = differences(bundle.results, reference, week=week, metrics=DIFFERENCE_METRICS)
    labels = spec_labels(bundle.specs)
    colours = scenario_colours([s.name for s in bundle.specs])
    blocks = [html.P(f"Each row: the policy's mean minus the reference's ({labels.get(reference, reference)}), paired by replicate, at week {week} of "
                     f"{int(bundle.results['week'].max())}; [90% interval of the mean over {bundle.replicates} paired replicates]. "
                     "Percentage metrics change in points (pts). % change: the change divided by the reference's mean (not given for gains, "
                     "already % against no AI).", className="small text-muted")]
    for name, rows in table.groupby("scenario", sort=False):
        head = html.Thead(html.Tr([html.Th("Outcome"), html.Th("Reference", title=labels.get(reference, reference)),
                                   html.Th("This policy", title=labels.get(name, name)), html.Th("Change [90% interval]"),
                                   html.Th("% change [90% interval]"), html.Th("")]))
        body = []
        for _, r in rows.iterrows():
            m = r["metric"]
            fmt = METRICS[m].format
            verdict = _verdict(r)
            cls = "noise" if verdict in ("within noise", "no interval (1 replicate)", "the same in every replicate") else "clear"
            body.append(html.Tr([
                html.Td(metric_title(m), **{"data-metric": m}),
                _cell(fmt(r["reference_mean"]), r["reference_mean"]),
                _cell(fmt(r["mean"]), r["mean"]),
                _cell(signed(m, r["change"]), r["change"], "diff-change", bounds(lambda x: signed(m, x), r["low"], r["high"])),
                _cell(percent(r["pct_change"]), r["pct_change"], "diff-pct", bounds(percent, r["pct_low"], r["pct_high"]))
                if r["pct_change"] == r["pct_change"] else html.Td("—", className="diff-pct", title="not given for gains or a zero reference"),
                html.Td(verdict, className=f"diff-verdict {cls}"),
            ], className=f"diff-row {cls}"))
        blocks.append(html.Div([
            html.H5([html.Span("●", style={"color": colours.get(name, "#222")}, className="me-1"), labels.get(name, name),
                     html.Span(f" against {labels.get(reference, reference)}", className="text-muted fw-normal")], className="diff-title"),
            html.Div(html.Table([head, html.Tbody(body)], className="table table-sm table-hover diff-table", **{"data-policy": name}),
                     className="table-responsive"),
        ], className="diff-block mb-2"))
    return html.Div(blocks), table


def labelled_results(bundle: Any) -> pd.DataFrame:
    """The tidy results for download: the id columns scripts read, and label columns people read."""
    df = bundle.results
    labels = spec_labels(bundle.specs)
    out = df.copy()
    out["policy"] = df["scenario"].astype(str).map(lambda n: labels.get(n, n))
    out["outcome"] = df["metric"].astype(str).map(metric_title)
    out["breakdown"] = df["group"].astype(str).map(lambda g: group_label(g) or "all engineers")
    return out


def labelled_differences(bundle: Any, table: pd.DataFrame) -> pd.DataFrame:
    """The difference table for download: ids, labels and numbers (fractions for percentages and % changes)."""
    labels = spec_labels(bundle.specs)
    out = table.copy()
    out.insert(1, "policy", out["scenario"].map(lambda n: labels.get(n, n)))
    out.insert(3, "reference_policy", out["reference"].map(lambda n: labels.get(n, n)))
    out["outcome"] = out["metric"].map(metric_title)
    return out.drop(columns=["label"])


def _files_used(bundle: Any) -> bytes:
    """A zip of the scenarios exactly as run, and the command that reruns them."""
    buf = io.BytesIO()
    names = []
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for s in bundle.specs:
            fname = f"{s.name.replace('#', '_')}.yaml"
            names.append(fname)
            z.writestr(fname, yaml.safe_dump(s.model_dump(mode="json"), sort_keys=False, allow_unicode=True))
        z.writestr("README.txt", "Rerun this comparison with the command line:\n\n  mandate-sim compare "
                   + " ".join(names) + f" --replicates {bundle.replicates} --seed {bundle.seed}\n")
    return buf.getvalue()


def progress(st: dict) -> tuple[float, str]:
    """The progress bar's value and the status under it for a running job: the runs done, then "Building charts…" once
    they are all done (the bar is never full without a word)."""
    done, total = st.get("done") or 0, st.get("total") or 0
    if total and done >= total:
        return 100.0, BUILDING
    return 100.0 * done / max(total, 1), f"running: {done} of {total or '?'} runs, {st.get('seconds', 0):.0f} s"


def _form(policies, org, n, w, r, seed, values) -> list:
    """The form as the results were asked for (the stale check compares the page's form with it, in the browser)."""
    return [list(policies or []), org, n, w, r, seed, list(values or [])]


# -- callbacks ----------------------------------------------------------------


def register_callbacks(app: Dash) -> None:
    """The compare page's callbacks (and its "Why?", dashboards/why.py)."""
    why.register_callbacks(app)

    @app.callback(
        Output("cmp-files", "data"), Output("cmp-policies", "options"), Output("cmp-policies", "value"),
        Output("cmp-org", "options"), Output("cmp-org", "value"),
        Output("cmp-upload-error", "children"), Output("cmp-upload-error", "is_open"),
        Input("cmp-upload-scenario", "contents"), Input("cmp-upload-org", "contents"),
        State("cmp-upload-scenario", "filename"), State("cmp-upload-org", "filename"),
        State("cmp-files", "data"), State("cmp-policies", "value"), State("cmp-org", "value"),
        prevent_initial_call=True,
    )
    def upload(scen_contents, org_contents, scen_name, org_name, files, policies, org):
        """Check an uploaded scenario or organisation file like the CLI does; add it, or show the CLI's message."""
        trigger = callback_context.triggered_id
        kind, contents, filename = ("scenario", scen_contents, scen_name) if trigger == "cmp-upload-scenario" else ("org", org_contents, org_name)
        files = list(files or [])
        policies = list(policies or [])
        try:
            record = check_upload(kind, filename, decode_contents(contents, filename), current().uploads)
        except InputError as e:
            return no_update, no_update, no_update, no_update, no_update, f"error: {e}", True
        files = [f for f in files if f["id"] != record["id"]] + [record]
        files = files[-MAX_UPLOADS:]
        ref = UPLOAD_PREFIX + record["id"]
        if kind == "scenario":
            if ref not in policies:
                policies = (policies + [ref])[-MAX_POLICIES:]
        else:
            org = ref
        return files, _policy_options(files), policies, _org_options(files), org, "", False

    @app.callback(Output("cmp-chips", "children"), Input("cmp-policies", "value"), State("cmp-files", "data"), prevent_initial_call=True)
    def policy_chips(policies, files):
        return chips(list(policies or []), files or [])

    @app.callback(Output("cmp-n", "value"), Input("cmp-org", "value"), State("cmp-files", "data"), prevent_initial_call=True)
    def org_size(org, files):
        """A new organisation brings its own size into Engineers (the form may then set another, which the page shows)."""
        if not org or org == OWN_ORG:
            return no_update
        return _org_size(org, files or []) or no_update

    @app.callback(
        Output("cmp-overrides", "children"),
        Input("cmp-n", "value"), Input("cmp-w", "value"), Input("cmp-org", "value"), Input("cmp-policies", "value"), Input("cmp-files", "data"),
    )
    def overrides(n, w, org, policies, files):
        """Whatever Engineers and Weeks set over the files, shown under them."""
        try:
            req = CompareRequest(list(policies or []), "" if org == OWN_ORG else (org or ""), check_whole(n, "engineers", 1, 10**9, ""),
                                 check_whole(w, "weeks", 1, 10**6, ""), files=list(files or []))
        except InputError:
            return ""
        return [html.Div(t, className="cmp-override") for t in form_overrides(req)]

    app.clientside_callback(
        """function(n) { return n ? 'running…' : window.dash_clientside.no_update; }""",
        Output("cmp-status", "children", allow_duplicate=True), Input("cmp-run", "n_clicks"), prevent_initial_call=True,
    )

    @app.callback(Output("cmp-org-collapse", "is_open"), Input("cmp-org-toggle", "n_clicks"), State("cmp-org-collapse", "is_open"), prevent_initial_call=True)
    def toggle(_n, is_open):
        return not is_open

    @app.callback(Output("cmp-org-editor", "children"), Input("cmp-org", "value"), State("cmp-files", "data"), prevent_initial_call=True)
    def editor(org, files):
        """A new organisation profile brings its own values into the editor."""
        return org_editor(org if org != OWN_ORG else "default", files or [], {})

    @app.callback(
        Output({"type": "mix-sum", "group": ALL}, "children"), Output({"type": "mix-sum", "group": ALL}, "className"),
        Input({"type": "org-param", "path": ALL}, "value"), State({"type": "org-param", "path": ALL}, "id"),
        State({"type": "mix-sum", "group": ALL}, "id"),
    )
    def mix_sum(values, ids, sum_ids):
        """Each task mix's running sum; in red while it is not 1 (within the model's tolerance, 0.001)."""
        sums = mix_sums(ids, values, [s["group"] for s in sum_ids])
        ok = [abs(t - 1.0) <= 1e-3 for t in sums]
        return ([f"sum {t:.3f}" + ("" if good else " — must be 1") for t, good in zip(sums, ok)],
                ["mix-sum small " + ("text-success" if good else "text-danger fw-semibold") for good in ok])

    @app.callback(
        Output({"type": "org-param", "path": ALL}, "value"),
        Input({"type": "mix-norm", "group": ALL}, "n_clicks"), State({"type": "org-param", "path": ALL}, "id"),
        State({"type": "org-param", "path": ALL}, "value"), prevent_initial_call=True,
    )
    def normalise(clicks, ids, values):
        trigger = callback_context.triggered_id
        if not trigger or not any(clicks or []):
            raise PreventUpdate
        return normalised(ids, values, trigger["group"])

    @app.callback(
        Output("cmp-job", "data"), Output({"type": "url-state", "page": "compare"}, "data"),
        Output("cmp-error", "children", allow_duplicate=True), Output("cmp-error", "is_open", allow_duplicate=True),
        Input("cmp-run", "n_clicks"),
        State("cmp-policies", "value"), State("cmp-org", "value"), State("cmp-n", "value"), State("cmp-w", "value"),
        State("cmp-r", "value"), State("cmp-seed", "value"), State("cmp-files", "data"),
        State({"type": "org-param", "path": ALL}, "id"), State({"type": "org-param", "path": ALL}, "value"),
        State("cmp-ref", "value"), State("cmp-week", "value"),
        prevent_initial_call="initial_duplicate",
    )
    def run(_n, policies, org, n, w, r, seed, files, ids, values, ref, week):
        """Validate the request, start its run (or find it cached) and wait briefly so a fast run shows at once."""
        ctx = current()
        form = _form(policies, org, n, w, r, seed, values)
        try:
            org_ref = "" if org == OWN_ORG else (org or "")
            sets = controls.changed(ids, values, org_scenario(org_ref or "default", files or [], ctx.uploads)) if ids else {}
            req = CompareRequest(list(policies or []), org_ref, n, w, r, seed if seed is not None else 0, sets, list(files or []))
            specs = build_specs(req, ctx.uploads)
            req.engineers, req.weeks = int(n), int(w)
            req.replicates = check_whole(r, "replicates", 1, MAX_REPLICATES, "replicates per policy")
            req.seed = check_whole(req.seed, "seed", 0, 2**63 - 1, "seed")
            req.reference = ref if ref in req.policies[1:] else ""  # the first policy is the default reference
            req.week = int(week) if isinstance(week, (int, float)) and 1 <= week < req.weeks else 0
            own = own_specs(req)
            specs = [with_size_note(s, o.organisation.size) for s, o in zip(specs, own)]
            check_work(specs, req.replicates, ctx.config.max_work)
            key = request_key("compare", specs, req.seed, req.replicates)
            parts = split_parts(req.replicates, ctx.config.workers)
            work = work_of(specs, req.replicates)
            if len(parts) > 1:
                ctx.jobs.submit_split(key, [(simulate_task, (specs, req.seed, req.replicates, p)) for p in parts],
                                      compare_from_parts, specs, req.seed, req.replicates, user=current_user(), work=work)
            else:
                ctx.jobs.submit(key, compare_task, specs, req.seed, req.replicates, user=current_user(), work=work)
        except InputError as e:
            return no_update, no_update, f"error: {plain_message(e)}", True
        ctx.jobs.wait(key, ctx.config.wait_seconds)
        saved = {k: v for k, v in dataclasses.asdict(req).items() if k != "files"}
        return ({"key": key, "clicked": time.time(), "form": form, "notes": form_overrides(req, own), "req": saved, "policies": req.policies},
                compare_query(req), "", False)

    @app.callback(
        *[Output({"type": "cmp-graph", "name": name}, "figure") for name, _ in FIGURE_ORDER], Output("cmp-graphs", "style"),
        Output("cmp-table", "children"), Output("cmp-takeaways", "children"),
        Output("cmp-progress", "value"), Output("cmp-progress", "style"), Output("cmp-status", "children"),
        Output("cmp-poll", "disabled"), Output("cmp-poll", "interval"), Output("cmp-error", "children"), Output("cmp-error", "is_open"),
        Output("cmp-results", "style"), Output("cmp-ref", "options"), Output("cmp-ref", "value"), Output("cmp-week", "max"),
        Output("cmp-week", "value"), Output("cmp-week", "marks"), Output("cmp-shown", "data"),
        Output("cmp-diff", "children", allow_duplicate=True), Output("cmp-week-label", "children", allow_duplicate=True),
        Output({"type": "url-state", "page": "compare"}, "data", allow_duplicate=True),
        Input("cmp-job", "data"), Input("cmp-poll", "n_intervals"), State("cmp-ref", "value"), State("cmp-week", "value"),
        State("cmp-files", "data"),
        prevent_initial_call=True,
    )
    def show(job, _tick, ref, week, files):
        """Render a finished run with its difference tables (in one answer: the tables do not wait for the charts to be
        drawn), or show the progress of a running one (or its place in the queue)."""
        keep = [no_update] * len(FIGURE_ORDER)
        rest = (no_update,) * 10
        gone = {"display": "none"}
        if not job:
            return (*keep, no_update, *(no_update,) * 9, *rest)
        ctx = current()
        st = job_status(ctx.jobs, job["key"], "cmp-poll")
        hidden, shown = {"height": "1.2rem", "visibility": "hidden"}, {"height": "1.2rem"}
        if st["state"] == "queued":  # polled less often while it waits
            return (*keep, no_update, no_update, no_update, 0, shown, queue_text(st), False, QUEUED_POLL_MS, no_update, no_update, *rest)
        if st["state"] == "running":
            pct, text = progress(st)
            return (*keep, no_update, no_update, no_update, pct, shown, text, False, RUNNING_POLL_MS, no_update, no_update, *rest)
        if st["state"] == "failed":
            return (*keep, gone, "", "", 0, hidden, "", True, no_update, f"error: {st['error']}", True, gone, *rest[1:])
        bundle = ctx.jobs.cached(job["key"])
        if bundle is None:
            return (*keep, gone, "", "", 0, hidden, "", True, no_update, "These results are no longer held by the server: press Run.", True, gone,
                    *rest[1:])
        graphs, table, takeaways = render(bundle, job.get("notes"))
        names = [s.name for s in bundle.specs]
        labels = spec_labels(bundle.specs)
        wanted = (job.get("req") or {}).get("reference") or ref
        reference = wanted if wanted in names else names[0]
        weeks = int(bundle.results["week"].max())
        at = (job.get("req") or {}).get("week") or 0
        at = int(at) if 1 <= int(at) <= weeks else weeks
        marks = {w: str(w) for w in sorted({1, *range(0, weeks + 1, 13 if weeks > 26 else 4), weeks}) if w >= 1}
        shown_data = {"key": job["key"], "form": job.get("form"), "req": job.get("req"), "at": time.time(), "diff": [reference, at]}
        diff_outputs = difference_outputs(bundle, shown_data, reference, at, files)
        return (*graphs, {}, table, takeaways, 100, hidden, "", True, no_update, "", False, {},
                [{"label": labels[n], "value": n} for n in names], reference, weeks, at, marks, shown_data, *diff_outputs)

    @app.callback(
        Output("cmp-diff", "children"), Output("cmp-week-label", "children"),
        Output({"type": "url-state", "page": "compare"}, "data", allow_duplicate=True),
        Input("cmp-shown", "data"), Input("cmp-ref", "value"), Input("cmp-week", "value"), State("cmp-files", "data"),
        prevent_initial_call=True,
    )
    def diff(shown, ref, week, files):
        """The difference tables when the user picks another reference or week (the run's own come with its charts)."""
        if not shown or shown.get("diff") == [ref, week]:  # what `show` has just sent with the charts
            return no_update, no_update, no_update
        bundle = current().jobs.cached(shown["key"])
        if bundle is None:
            return dbc.Alert("These results are no longer held by the server: press Run.", color="warning"), no_update, no_update
        return difference_outputs(bundle, shown, ref, week, files)

    # Results that no longer match the form are greyed and marked out of date (compared in the browser: no round trip).
    app.clientside_callback(
        """
        function(policies, org, n, w, r, seed, values, shown) {
            if (!shown || !shown.form) { return ['cmp-results', false]; }
            const now = [policies || [], org, n, w, r, seed, values || []];
            const same = JSON.stringify(now) === JSON.stringify(shown.form);
            return [same ? 'cmp-results' : 'cmp-results stale', !same];
        }
        """,
        Output("cmp-results", "className"), Output("cmp-stale", "is_open"),
        Input("cmp-policies", "value"), Input("cmp-org", "value"), Input("cmp-n", "value"), Input("cmp-w", "value"), Input("cmp-r", "value"),
        Input("cmp-seed", "value"), Input({"type": "org-param", "path": ALL}, "value"), Input("cmp-shown", "data"),
    )

    @app.callback(
        Output({"type": "cmp-graph", "name": ALL}, "config"), Input("cmp-img-format", "value"), State({"type": "cmp-graph", "name": ALL}, "id"),
        prevent_initial_call=True,
    )
    def image_format(fmt, ids):
        return [graph_config(i["name"], fmt) for i in ids]

    @app.callback(
        Output("cmp-download", "data"), Input("cmp-dl-csv", "n_clicks"), Input("cmp-dl-diff", "n_clicks"), Input("cmp-dl-yaml", "n_clicks"),
        State("cmp-shown", "data"), State("cmp-ref", "value"), State("cmp-week", "value"),
        prevent_initial_call=True,
    )
    def download(_csv, _diff, _yaml, shown, ref, week):
        """The tidy results as CSV (ids and labels), the difference tables as shown, or the scenario files exactly as run."""
        bundle = current().jobs.cached(shown["key"]) if shown else None
        if bundle is None:
            return no_update
        trigger = callback_context.triggered_id
        if trigger == "cmp-dl-csv":
            return dcc.send_data_frame(labelled_results(bundle).to_csv, "mandate-sim-results.csv", index=False)
        if trigger == "cmp-dl-diff":
            try:
                _, table = difference_tables(bundle, ref, int(week) if week else int(bundle.results["week"].max()))
            except (InputError, TypeError, ValueError):
                return no_update
            return dcc.send_data_frame(labelled_differences(bundle, table).to_csv, "mandate-sim-differences.csv", index=False)
        return dcc.send_bytes(_files_used(bundle), "mandate-sim-scenarios.zip")


