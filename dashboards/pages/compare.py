"""Compare: two to four policies on one organisation, side by side with 90% bands, a table, takeaways and downloads."""

from __future__ import annotations

import io
import time
import zipfile
from typing import Any

import dash_bootstrap_components as dbc
import yaml
from dash import ALL, Dash, Input, Output, State, callback_context, dcc, html, no_update

from sim.analysis.figures import scenario_colours
from sim.errors import InputError
from sim.model.metrics import title as metric_title
from sim.model.scenarios import builtin_orgs, builtin_scenarios, scenario_summary

from .. import controls, why
from ..compute import compare_from_parts, compare_task, simulate_task, split_parts
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
from ..state import compare_query, compare_request

#: Order and width of the standard figures on the page.
FIGURE_ORDER = [
    ("adoption", 12), ("weekly_active", 6), ("gap", 6), ("performance", 12), ("people", 12), ("wellbeing", 12),
    ("risk", 12), ("gain_by_seniority", 4), ("gain_by_task", 4), ("ai_by_task", 4),
]
OWN_ORG = "-"
#: How often the page asks about its run (milliseconds): while it runs, and while it waits in the queue.
RUNNING_POLL_MS, QUEUED_POLL_MS = 200, 1000


def _policy_options(files: list[dict]) -> list[dict]:
    opts = [{"label": f"{n} — {scenario_summary(n)[0]}", "value": n} for n in builtin_scenarios()]
    opts += [{"label": f"{f['name']} (uploaded {f['filename']})", "value": UPLOAD_PREFIX + f["id"]} for f in files if f["kind"] == "scenario"]
    return opts


def _org_options(files: list[dict]) -> list[dict]:
    opts = [{"label": n, "value": n} for n in builtin_orgs()]
    opts.append({"label": "as in each scenario file", "value": OWN_ORG})
    opts += [{"label": f"{f['name']} (uploaded {f['filename']})", "value": UPLOAD_PREFIX + f["id"]} for f in files if f["kind"] == "org"]
    return opts


def org_editor(org: str, files: list[dict], sets: dict[str, Any]) -> Any:
    """The organisation editor: every organisation parameter of the chosen profile, generated from the declarations."""
    ctx = current()
    try:
        sc = org_scenario(org, files, ctx.uploads)
    except InputError as e:
        return dbc.Alert(str(e), color="warning")
    values = {p: v for p, v in sets.items() if p.startswith("organisation.")}
    return controls.accordion(controls.org_rows(sc), "org-param", sc, values, compact=True, open_first=False, id="cmp-org-accordion")


def _number(id_: str, label: str, value: int, lo: int, hi: int, help_: str) -> html.Div:
    return html.Div([
        dbc.Label(html.Span(label, title=help_), html_for=id_, className="small fw-semibold mb-0"),
        dbc.Input(id=id_, type="number", min=lo, max=hi, step=1, value=value, size="sm"),
    ], className="mb-2")


def layout(**params: Any) -> html.Div:
    """The compare page, its controls set from the link's query (defaults where it says nothing)."""
    link_error = None
    try:
        req = compare_request(params)
    except InputError as e:
        req, link_error = CompareRequest(), str(e)
    org_value = req.org or OWN_ORG
    side = [
        html.H5("Policies"),
        dcc.Dropdown(id="cmp-policies", options=_policy_options(req.files), value=req.policies, multi=True, placeholder="two to four policies"),
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
            dbc.Col(_number("cmp-n", "Engineers", req.engineers, 10, 100_000, "Engineer positions (organisation.size)")),
            dbc.Col(_number("cmp-w", "Weeks", req.weeks, 1, 260, "Weeks to simulate")),
        ]),
        dbc.Row([
            dbc.Col(_number("cmp-r", "Replicates", req.replicates, 1, MAX_REPLICATES, "Runs per policy with different seeds (the same seeds for every policy)")),
            dbc.Col(_number("cmp-seed", "Seed", req.seed, 0, 2**31 - 1, "Seed of the whole comparison")),
        ]),
        dbc.Button("Run", id="cmp-run", color="primary", className="w-100 my-2"),
        dbc.Progress(id="cmp-progress", value=0, striped=True, animated=True, className="mb-1", style={"height": "1.2rem", "visibility": "hidden"}),
        html.Div(id="cmp-status", className="small text-muted mb-2"),
        dcc.Interval(id="cmp-poll", interval=RUNNING_POLL_MS, disabled=True),
        dcc.Store(id="cmp-job"),
        dcc.Store(id="cmp-files", data=req.files),
        share_box("compare"),
        html.Div([
            html.Div("Downloads", className="small fw-semibold"),
            dbc.ButtonGroup([
                dbc.Button("Data (CSV)", id="cmp-dl-csv", size="sm", outline=True, color="secondary"),
                dbc.Button("Scenario files", id="cmp-dl-yaml", size="sm", outline=True, color="secondary"),
            ], className="mb-1"),
            dcc.Download(id="cmp-download"),
            html.Div("Charts: the camera button in each chart's toolbar saves it as", className="small"),
            dbc.RadioItems(id="cmp-img-format", options=[{"label": "PNG", "value": "png"}, {"label": "SVG", "value": "svg"}], value="png", inline=True, className="small"),
        ]),
    ]
    main = [
        dbc.Alert(link_error or "", id="cmp-error", color="danger", is_open=bool(link_error), style={"whiteSpace": "pre-wrap"}),
        html.Div(id="cmp-takeaways"),
        why.block(),
        dbc.Row([dbc.Col(dcc.Graph(id={"type": "cmp-graph", "name": name}, config=graph_config(name, "png"), className="cmp-graph"), lg=width, className="mb-3")
                 for name, width in FIGURE_ORDER], id="cmp-graphs", style={"display": "none"}),
        html.Div(id="cmp-table"),
    ]
    return dbc.Row([dbc.Col(side, md=3, className="compare-side"), dbc.Col(main, md=9)], className="compare-page")


def graph_config(name: str, fmt: str) -> dict:
    """Chart toolbar: no logo; the camera button saves PNG or SVG."""
    return {"displaylogo": False, "toImageButtonOptions": {"format": fmt, "filename": f"mandate-sim-{name}", "scale": 2 if fmt == "png" else 1}}


def render(bundle: Any) -> tuple[list, Any, Any]:
    """The figures (in FIGURE_ORDER), the end-of-horizon table and the takeaways of a finished comparison.

    The graphs stay in the page and only their figures change, which plotly redraws faster than new graphs.
    """
    graphs = [bundle.figures.get(name, {}) for name, _ in FIGURE_ORDER]
    colours = scenario_colours([s.name for s in bundle.specs])
    table = bundle.table
    header = html.Thead(html.Tr([html.Th("metric (end of horizon, mean [5%, 95%])")] + [
        html.Th(c, style={"color": colours.get(c, "#222")}) for c in table.columns]))
    body = html.Tbody([html.Tr([html.Td(metric_title(idx))] + [html.Td(v) for v in row]) for idx, row in zip(table.index, table.values.tolist())])
    reps = bundle.replicates
    sc = bundle.specs[0]
    caption = html.P(
        f"{sc.organisation.size} engineers ({sc.organisation.name}), {sc.weeks} weeks, {reps} replicate(s) per policy, seed {bundle.seed}. "
        "Lines are means over replicates; bands and bracketed ranges span 5% to 95% of replicates. True gain is measured against the no-AI "
        "counterfactual run with the same seed.", className="small text-muted")
    table_div = html.Div([html.H4("End of horizon"), caption, dbc.Table([header, body], size="sm", striped=True, hover=True, responsive=True, id="cmp-summary")])
    takeaways = html.Div([html.H4("Takeaways"), html.Ul([html.Li(t) for t in bundle.takeaways], id="cmp-takeaway-list", className="takeaways")])
    return graphs, table_div, takeaways


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
        Output("cmp-job", "data"), Output({"type": "url-state", "page": "compare"}, "data"),
        Output("cmp-error", "children", allow_duplicate=True), Output("cmp-error", "is_open", allow_duplicate=True),
        Input("cmp-run", "n_clicks"),
        State("cmp-policies", "value"), State("cmp-org", "value"), State("cmp-n", "value"), State("cmp-w", "value"),
        State("cmp-r", "value"), State("cmp-seed", "value"), State("cmp-files", "data"),
        State({"type": "org-param", "path": ALL}, "id"), State({"type": "org-param", "path": ALL}, "value"),
        prevent_initial_call="initial_duplicate",
    )
    def run(_n, policies, org, n, w, r, seed, files, ids, values):
        """Validate the request, start its run (or find it cached) and wait briefly so a fast run shows at once."""
        ctx = current()
        try:
            org = "" if org == OWN_ORG else (org or "")
            sets = controls.changed(ids, values, org_scenario(org or "default", files or [], ctx.uploads)) if ids else {}
            req = CompareRequest(list(policies or []), org, n, w, r, seed if seed is not None else 0, sets, list(files or []))
            specs = build_specs(req, ctx.uploads)
            req.engineers, req.weeks = int(n), int(w)
            req.replicates = check_whole(r, "replicates", 1, MAX_REPLICATES, "replicates per policy")
            req.seed = check_whole(req.seed, "seed", 0, 2**63 - 1, "seed")
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
            return no_update, no_update, f"error: {e}", True
        ctx.jobs.wait(key, ctx.config.wait_seconds)
        return {"key": key, "clicked": time.time()}, compare_query(req), "", False

    @app.callback(
        *[Output({"type": "cmp-graph", "name": name}, "figure") for name, _ in FIGURE_ORDER], Output("cmp-graphs", "style"),
        Output("cmp-table", "children"), Output("cmp-takeaways", "children"),
        Output("cmp-progress", "value"), Output("cmp-progress", "style"), Output("cmp-status", "children"),
        Output("cmp-poll", "disabled"), Output("cmp-poll", "interval"), Output("cmp-error", "children"), Output("cmp-error", "is_open"),
        Input("cmp-job", "data"), Input("cmp-poll", "n_intervals"),
        prevent_initial_call=True,
    )
    def show(job, _tick):
        """Render a finished run, or show the progress of a running one (or its place in the queue)."""
        keep = [no_update] * len(FIGURE_ORDER)
        gone = {"display": "none"}
        if not job:
            return (*keep, no_update, *(no_update,) * 9)
        ctx = current()
        st = ctx.jobs.status(job["key"])
        hidden, shown = {"height": "1.2rem", "visibility": "hidden"}, {"height": "1.2rem"}
        if st["state"] == "queued":  # polled less often while it waits
            return (*keep, no_update, no_update, no_update, 0, shown, queue_text(st), False, QUEUED_POLL_MS, no_update, no_update)
        if st["state"] == "running":
            total = max(st.get("total") or 0, 1)
            pct = 100.0 * (st.get("done") or 0) / total
            text = f"running: {st.get('done') or 0} of {st.get('total') or '?'} runs, {st['seconds']:.0f} s"
            return (*keep, no_update, no_update, no_update, pct, shown, text, False, RUNNING_POLL_MS, no_update, no_update)
        if st["state"] == "failed":
            return (*keep, gone, "", "", 0, hidden, "", True, no_update, f"error: {st['error']}", True)
        bundle = ctx.jobs.cached(job["key"])
        if bundle is None:
            return (*keep, gone, "", "", 0, hidden, "", True, no_update, "These results are no longer held by the server: press Run.", True)
        graphs, table, takeaways = render(bundle)
        return (*graphs, {}, table, takeaways, 100, hidden, "", True, no_update, "", False)

    @app.callback(
        Output({"type": "cmp-graph", "name": ALL}, "config"), Input("cmp-img-format", "value"), State({"type": "cmp-graph", "name": ALL}, "id"),
        prevent_initial_call=True,
    )
    def image_format(fmt, ids):
        return [graph_config(i["name"], fmt) for i in ids]

    @app.callback(
        Output("cmp-download", "data"), Input("cmp-dl-csv", "n_clicks"), Input("cmp-dl-yaml", "n_clicks"), State("cmp-job", "data"),
        prevent_initial_call=True,
    )
    def download(_csv, _yaml, job):
        """The tidy results as CSV, or the scenario files exactly as run."""
        bundle = current().jobs.cached(job["key"]) if job else None
        if bundle is None:
            return no_update
        if callback_context.triggered_id == "cmp-dl-csv":
            return dcc.send_data_frame(bundle.results.to_csv, "mandate-sim-results.csv", index=False)
        return dcc.send_bytes(_files_used(bundle), "mandate-sim-scenarios.zip")
