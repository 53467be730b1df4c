"""What-if lab: every policy lever, the main organisation parameters and the task mix as controls built from the
declarations, on a chosen or uploaded organisation; each change reruns and shows the whole trajectory against a pinned
baseline (paired seeds), the cumulative delivered work with its breakeven week, and the end-of-horizon changes.

Number fields apply on Enter or when they lose focus (``debounce``); sliders when released. Shares that must sum to 1
(the seniority mix, each level's task mix) show their running sum and a "normalise" button. "Save as scenario"
downloads the what-if as a scenario file ``mandate-sim run`` takes.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import yaml
from dash import ALL, MATCH, Dash, Input, Output, State, dcc, html, no_update

from sim.errors import InputError, InputErrors
from sim.model.params import SENIORITY_LEVELS, Scenario
from sim.model.scenarios import builtin_orgs, builtin_scenarios, load_scenario, parameter_paths, scenario_summary

from .. import controls
from ..context import current, current_user, share_box
from ..inputs import MAX_REPLICATES, MAX_UPLOADS, UPLOAD_PREFIX, check_upload, check_whole, decode_contents, gate
from ..jobs import check_work, queue_text, request_key, work_of
from ..polling import RUNNING_POLL_MS, job_status
from ..lab_results import BASELINE, WHAT_IF, lab_task
from ..state import lab_query, lab_state

#: Request kind of the lab's runs in the result cache (bumped when what a lab result holds changes).
KIND = "lab2"
#: How far a group of shares may be from 1 (the declarations' own tolerance, sim/model/params.py's validators).
SHARE_TOLERANCE = 1e-3
#: Metadata keys of a scenario that do not change what runs.
META = ("name", "title", "description")
OWN_ORG = ""


# ---------------------------------------------------------------------------
# Groups of shares that must sum to 1
# ---------------------------------------------------------------------------


def share_groups(sc: Scenario) -> dict[str, tuple[str, list]]:
    """Groups of shares that must sum to 1, by group key: (label as the form shows it, the rows of its shares)."""
    rows = {r.path: r for r in parameter_paths(sc)}
    groups = {"organisation.seniority.share": ("Seniority mix (share of engineers per level)",
                                               [rows[f"organisation.seniority.{lv}.share"] for lv in SENIORITY_LEVELS])}
    for lv in SENIORITY_LEVELS:
        prefix = f"organisation.seniority.{lv}.task_mix."
        groups[prefix[:-1]] = (f"Task mix of {lv} engineers (share of their work hours)", [r for p, r in rows.items() if p.startswith(prefix)])
    return groups


def share_label(group: str, path: str) -> str:
    """One share's label: the level for the seniority mix, the task type for a task mix."""
    parts = path.split(".")
    return parts[2] if group == "organisation.seniority.share" else parts[-1].replace("_", " ")


def share_block(group: str, label: str, rows: list, values: dict[str, Any]) -> html.Div:
    """Number fields for one group of shares, their running sum and a "normalise" button."""
    fields = [
        dbc.Col([
            dbc.Label(html.Span(share_label(group, r.path), title=r.description), className="small mb-0 text-nowrap"),
            dbc.Input(id={"type": "lab-share", "group": group, "path": r.path}, type="number", min=0, max=1, step="any", size="sm",
                      value=values.get(r.path, r.value), debounce=True),
        ], xs=6, className="mb-1")
        for r in rows
    ]
    return html.Div([
        html.Div(label, className="small fw-semibold"),
        dbc.Row(fields, className="g-1"),
        html.Div([
            html.Span(id={"type": "lab-share-sum", "group": group}, className="small me-2"),
            dbc.Button("normalise", id={"type": "lab-share-norm", "group": group}, size="sm", color="link", className="p-0 small"),
        ], className="d-flex align-items-center mb-2"),
    ], className="share-group", **{"data-group": group})


def share_sets(ids: list[dict], values: list[Any], sc: Scenario) -> dict[str, Any]:
    """Overrides from the share fields: each changed share by its path (a partial task mix, as the CLI's --set takes it);
    an empty field is 0. Raises InputError naming the group as the form does when its shares do not sum to 1."""
    groups = share_groups(sc)
    values = [0.0 if v is None or v == "" else v for v in values]  # an emptied field: none of that work (or of that level)
    given = {cid["path"]: v for cid, v in zip(ids, values)}
    for key, (label, rows) in groups.items():
        shown = [(r, given.get(r.path, r.value)) for r in rows]
        for r, v in shown:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
                raise InputError("is not a share from 0 to 1", source=f"{label}, {share_label(key, r.path)}", value=v)
        total = sum(float(v) for _, v in shown)
        if abs(total - 1.0) > SHARE_TOLERANCE:
            raise InputError(f"the shares sum to {total:.4g}; they must sum to 1 (press \u201cnormalise\u201d or change a share)", source=label)
    return controls.changed(ids, values, sc)


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


def base_scenario(name: str, n: int, w: int, org: str = OWN_ORG, files: Any = ()) -> Scenario:
    """The scenario the lab starts from, on the chosen organisation, at the chosen size and horizon (through the gate)."""
    return gate(name, files, org=org or None, engineers=n, weeks=w, label="start from")


def lab_specs(state: dict) -> list[Scenario]:
    """The pinned baseline and the what-if on the chosen organisation, named for the charts; the baseline alone while they are
    the same scenario."""
    n = check_whole(state["n"], "engineers", 10, 100_000, "engineers")
    w = check_whole(state["w"], "weeks", 1, 260, "weeks")
    check_whole(state["r"], "replicates", 1, MAX_REPLICATES, "replicates")
    files = state.get("files") or []
    pin = state.get("pin") if isinstance(state.get("pin"), dict) else {}
    baseline = gate(pin.get("base", state["base"]), files, org=state.get("org") or None, sets=pin.get("sets"), engineers=n, weeks=w,
                    label="pinned baseline")
    variant = gate(state["base"], files, org=state.get("org") or None, sets=state.get("sets"), engineers=n, weeks=w, label="start from")
    baseline = baseline.model_copy(update={"name": BASELINE})
    if same_run(baseline, variant):
        return [baseline]
    return [baseline, variant.model_copy(update={"name": WHAT_IF})]


def same_run(a: Scenario, b: Scenario) -> bool:
    """Whether two scenarios run the same (their names, titles and descriptions aside)."""
    def core(s: Scenario) -> dict:
        d = s.model_dump(mode="json", exclude=set(META))
        d["organisation"].pop("name", None), d["organisation"].pop("description", None)
        return d

    return core(a) == core(b)


def _nest(paths: dict[str, Any]) -> dict:
    out: dict = {}
    for path, value in paths.items():
        *parents, last = path.split(".")
        node = out
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return out


def _at(data: dict, path: str) -> Any:
    for p in path.split("."):
        data = data[p]
    return data


def scenario_file(state: dict) -> tuple[str, str]:
    """The what-if as a scenario file (file name, YAML text) that ``mandate-sim run`` takes: ``extends:`` its base scenario
    with the lab's changes on top (a changed share of a task mix writes the level's whole mix, as a file gives it); a
    chosen or uploaded organisation is written out whole, and so is anything a short file would not reproduce exactly."""
    n = check_whole(state["n"], "engineers", 10, 100_000, "engineers")
    w = check_whole(state["w"], "weeks", 1, 260, "weeks")
    base, org, sets, files = state["base"], state.get("org") or OWN_ORG, state.get("sets") or {}, state.get("files") or []
    spec = gate(base, files, org=org or None, sets=sets, engineers=n, weeks=w, label="start from")
    full = spec.model_dump(mode="json")
    changes: dict[str, Any] = {}
    for path in sets:
        parent = path.rsplit(".", 1)[0]
        whole = _at(full, parent) if "." in path else None
        if isinstance(whole, dict) and whole and not any(isinstance(v, dict) for v in whole.values()) and path.split(".")[0] != "policy":
            changes[parent] = whole  # a mapping of plain numbers (a task mix): a file gives it whole
        else:
            changes[path] = _at(full, path)
    title, _ = scenario_summary(base) if base in builtin_scenarios() else (spec.title, "")
    words = "; ".join(f"{controls.label_of(p)} = {v}" for p, v in sorted(sets.items())) or "no lever changed"
    data: dict[str, Any] = {"extends": base, "title": f"What-if: {title or base}", "description": f"Saved from the what-if lab. Changes: {words}.", "weeks": w}
    data.update(_nest(changes))
    if org:
        data["organisation"] = full["organisation"]
    else:
        data.setdefault("organisation", {})["size"] = n
    short_ok = base in builtin_scenarios()
    if short_ok:
        try:
            short_ok = same_run(load_scenario(data, source="saved scenario"), spec)
        except InputError:
            short_ok = False
    if not short_ok:  # an uploaded base, or a merge that would not give the same scenario: the scenario exactly as run
        data = {k: v for k, v in full.items() if k != "name"}
        data["title"], data["description"] = f"What-if: {title or base}", f"Saved from the what-if lab. Changes: {words}."
    stem = "whatif_" + (base if base in builtin_scenarios() else "scenario")
    head = (f"# A scenario saved from the mandate-sim what-if lab.\n# Run it: mandate-sim run {stem}.yaml --replicates {state['r']} "
            f"--seed {state['seed']}\n")
    return f"{stem}.yaml", head + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


# ---------------------------------------------------------------------------
# Messages in the form's words
# ---------------------------------------------------------------------------


def form_message(e: InputError, sc: Scenario | None = None) -> str:
    """A problem as the form names it: the control's label for a parameter (no `--set` syntax, no server path)."""
    errors = e.errors if isinstance(e, InputErrors) else [e]
    sc = sc or Scenario()
    groups = share_groups(sc)
    rows = {r.path: r for r in parameter_paths(sc)}
    lines = []
    for err in errors:
        if not err.field:
            lines.append(str(err))
            continue
        field = err.field
        label = next((g[0] for k, g in groups.items() if field == k or field.startswith(k + ".")), None)
        if label is None:
            row = rows.get(field)
            label = controls.label_of(field) + (f" ({row.unit})" if row is not None and row.unit else "")
        lines.append(f"\u201c{label}\u201d {err.detail}" + (f" (allowed: {err.allowed})" if err.allowed else ""))
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# Layout
# ---------------------------------------------------------------------------


def _scenario_options() -> list[dict]:
    return [{"label": f"{n} \u2014 {scenario_summary(n)[0]}", "value": n} for n in builtin_scenarios()]


def _org_options(files: list[dict]) -> list[dict]:
    opts = [{"label": "as in the scenario", "value": OWN_ORG}] + [{"label": n, "value": n} for n in builtin_orgs()]
    return opts + [{"label": f"{f['name']} (uploaded {f['filename']})", "value": UPLOAD_PREFIX + f["id"]} for f in files if f["kind"] == "org"]


def lab_controls(name: str, n: int, w: int, sets: dict[str, Any], org: str = OWN_ORG, files: Any = ()) -> Any:
    """The lab's controls for a base scenario on an organisation: its values, with the overrides on top."""
    sc = base_scenario(name, n, w, org, files)
    groups = share_groups(sc)
    in_groups = {r.path for _, rows in groups.values() for r in rows}
    rows = [r for r in controls.lab_rows(sc) if r.path not in in_groups]
    policy = [r for r in rows if r.path.startswith("policy.")]
    org_rows = [r for r in rows if not r.path.startswith("policy.")]
    mixes = [share_block(k, label, g, sets) for k, (label, g) in groups.items()]
    return html.Div([
        html.H6("Policy levers"),
        controls.accordion(policy, "lab-param", sc, sets, open_first=True, id="lab-policy-accordion"),
        html.H6("Organisation", className="mt-2"),
        controls.accordion(org_rows, "lab-param", sc, sets, open_first=False, id="lab-org-accordion"),
        dbc.Accordion([dbc.AccordionItem(mixes, title="seniority and task mix", item_id="mix")], start_collapsed=True, always_open=True, flush=True,
                      id="lab-mix-accordion"),
    ])


def _number(id_: str, label: str, value: int, lo: int, hi: int, help_: str) -> dbc.Col:
    return dbc.Col([
        dbc.Label(html.Span(label, title=help_), html_for=id_, className="small fw-semibold mb-0"),
        dbc.Input(id=id_, type="number", min=lo, max=hi, step=1, value=value, size="sm", debounce=True),
    ])


INTRO = [
    html.H5("How the lab works"),
    html.P("The charts show the pinned baseline: the scenario you start from, as it is. Change a lever on the left and the lab "
           "reruns it as the what-if, with the same random seeds as the baseline, so every difference you see is the lever's."),
    html.Ul([
        html.Li("Number fields apply when you press Enter or leave the field; sliders when you let go."),
        html.Li("The charts then follow the main outcomes week by week, baseline against what-if, and the cumulative delivered work shows "
                "when a lever that costs time at first (training, a pilot) pays it back: its breakeven week."),
        html.Li("\u201cPin as baseline\u201d makes the current settings the new reference; \u201cSave as scenario\u201d downloads them as a "
                "file the command line runs."),
        html.Li("Choose or upload an organisation to try the levers on it: the baseline and the what-if both run on it, and its size "
                "becomes the number of engineers."),
    ]),
]


def layout(**params: Any) -> html.Div:
    """The lab, set from the link's query."""
    error = None
    try:
        state = lab_state(params)
        ctl = lab_controls(state["base"], state["n"], state["w"], state["sets"], state["org"], state["files"])
    except InputError as e:
        error = form_message(e)
        state = lab_state({})
        ctl = lab_controls(state["base"], state["n"], state["w"], {})
    side = [
        html.H5("Start from"),
        dcc.Dropdown(id="lab-base", options=_scenario_options(), value=state["base"], clearable=False, className="lab-dropdown"),
        html.Div("Organisation", className="small fw-semibold mt-2"),
        dcc.Dropdown(id="lab-org", options=_org_options(state["files"]), value=state["org"], clearable=False, className="lab-dropdown"),
        dcc.Upload(id="lab-upload-org", children=html.Div(["Drop or ", html.A("choose an organisation file", href="#")]),
                   className="upload-box my-2", max_size=-1, accept=".yaml,.yml,text/yaml,text/plain"),
        dbc.Alert(id="lab-upload-error", color="danger", is_open=False, className="small upload-error", style={"whiteSpace": "pre-wrap"}),
        html.Div(id="lab-org-note", className="small text-muted"),
        dbc.Row([
            _number("lab-n", "Engineers", state["n"], 10, 100_000, "Engineer positions (organisation size)"),
            _number("lab-w", "Weeks", state["w"], 1, 260, "Weeks to simulate"),
        ], className="my-2 g-2"),
        dbc.Row([
            _number("lab-r", "Replicates", state["r"], 1, MAX_REPLICATES, "Runs of each side with different seeds (the same seeds for both)"),
            _number("lab-seed", "Seed", state["seed"], 0, 2**31 - 1, "Seed of the runs"),
        ], className="mb-2 g-2"),
        html.Div([
            dbc.Button("Pin as baseline", id="lab-pin-btn", size="sm", color="secondary", className="me-1 mb-1"),
            dbc.Button("Reset levers", id="lab-reset", size="sm", color="secondary", outline=True, className="me-1 mb-1"),
            dbc.Button("Save as scenario", id="lab-save", size="sm", color="primary", outline=True, className="mb-1",
                       title="Download the what-if's settings as a scenario file for mandate-sim run"),
        ], className="mb-1"),
        dcc.Download(id="lab-download"),
        html.Div(id="lab-pin-label", className="small text-muted mb-2"),
        share_box("lab"),
        html.Div(ctl, id="lab-controls", className="lab-controls"),
        dcc.Store(id="lab-pin", data=state["pin"]),
        dcc.Store(id="lab-files", data=state["files"]),
        dcc.Store(id="lab-job"),
        dcc.Interval(id="lab-poll", interval=RUNNING_POLL_MS, disabled=True),
    ]
    main = [
        dbc.Alert(error or "", id="lab-error", color="danger", is_open=bool(error), style={"whiteSpace": "pre-wrap"}),
        html.Div(id="lab-status", className="small text-muted"),
        dbc.Card(dbc.CardBody(INTRO), id="lab-intro", className="mb-3 lab-intro"),
        html.Div(id="lab-breakeven", className="lab-breakeven mb-2"),
        html.Div(dcc.Graph(id="lab-trajectory", config={"displaylogo": False}, className="lab-graph chart-strip"), id="lab-trajectory-box"),
        html.Div(dcc.Graph(id="lab-cumulative", config={"displaylogo": False}, className="lab-graph chart-strip"), id="lab-cumulative-box",
                 style={"display": "none"}),
        html.Div(id="lab-table"),
        dbc.Row([  # side by side only where half the page holds their titles (1400 px and wider)
            dbc.Col(dcc.Graph(id="lab-gap", config={"displaylogo": False}, className="lab-graph chart-strip"), xxl=6),
            dbc.Col(dcc.Graph(id="lab-adoption", config={"displaylogo": False}, className="lab-graph chart-strip"), xxl=6),
        ]),
    ]
    return dbc.Row([dbc.Col(side, md=4, lg=3, className="lab-side"), dbc.Col(main, md=8, lg=9, className="lab-main")], className="lab-page")


def _pin_text(pin: dict) -> str:
    sets = pin.get("sets") or {}
    extra = "; " + ", ".join(f"{controls.label_of(k)} = {v}" for k, v in sorted(sets.items())) if sets else ""
    return f"Baseline: {pin.get('base', '?')}{extra}"


def render_table(table: Any) -> Any:
    """The end-of-horizon table: metrics by title, baseline, what-if and the paired change."""
    head = html.Thead(html.Tr([html.Th("metric (end of horizon)"), html.Th(BASELINE), html.Th(WHAT_IF), html.Th("change, mean [5%, 95%]")]))
    body = html.Tbody([html.Tr([html.Td(r["metric"]), html.Td(r[BASELINE]), html.Td(r[WHAT_IF]), html.Td(r["change"])],
                               **{"data-metric": r["id"]}) for r in table.to_dict("records")])
    return html.Div([html.H5("End of horizon: what-if against baseline"),
                     dbc.Table([head, body], size="sm", striped=True, hover=True, responsive=True, id="lab-summary")])


# ---------------------------------------------------------------------------
# Callbacks
# ---------------------------------------------------------------------------


def _state(base, org, n, w, r, seed, files, pin, sets) -> dict:
    return {"base": base, "org": org or OWN_ORG, "n": n, "w": w, "r": r, "seed": seed, "files": list(files or []), "sets": sets,
            "pin": pin or {"base": base, "sets": {}}}


def _form(base, org, n, w, ids, values, share_ids, share_values, files) -> tuple[Scenario, dict, int, int]:
    """The lab's form read and checked: the base scenario on its organisation and the overrides."""
    n = check_whole(n, "engineers", 10, 100_000, "engineers")
    w = check_whole(w, "weeks", 1, 260, "weeks")
    sc = base_scenario(base, n, w, org, files or [])
    sets = controls.changed(ids, values, sc)
    sets.update(share_sets(share_ids, share_values, sc))
    return sc, sets, n, w


FORM = [
    State("lab-base", "value"), State("lab-org", "value"), State("lab-files", "data"),
    State({"type": "lab-param", "path": ALL}, "id"), State({"type": "lab-share", "group": ALL, "path": ALL}, "id"),
]


def register_callbacks(app: Dash) -> None:
    """The lab's callbacks."""

    @app.callback(
        Output("lab-files", "data"), Output("lab-org", "options"), Output("lab-org", "value"), Output("lab-n", "value"),
        Output("lab-org-note", "children"), Output("lab-upload-error", "children"), Output("lab-upload-error", "is_open"),
        Input("lab-upload-org", "contents"), State("lab-upload-org", "filename"), State("lab-files", "data"), prevent_initial_call=True,
    )
    def upload(contents, filename, files):
        """Check an uploaded organisation like the CLI does; choose it, and take its size as the number of engineers."""
        try:
            record = check_upload("org", filename, decode_contents(contents, filename), current().uploads)
            size = gate(UPLOAD_PREFIX + record["id"], [record], kind="org").size
        except InputError as e:
            return no_update, no_update, no_update, no_update, no_update, f"error: {e}", True
        files = [f for f in (files or []) if f["id"] != record["id"]] + [record]
        files = files[-MAX_UPLOADS:]
        note = f"Engineers: {size:,}, the size the file gives."
        return files, _org_options(files), UPLOAD_PREFIX + record["id"], size, note, "", False

    @app.callback(
        Output("lab-n", "value", allow_duplicate=True), Output("lab-org-note", "children", allow_duplicate=True),
        Input("lab-org", "value"), State("lab-files", "data"), prevent_initial_call=True,
    )
    def org_size(org, files):
        """A built-in organisation brings its size into the engineers field (an upload's is set by ``upload``)."""
        if not org or str(org).startswith(UPLOAD_PREFIX):
            return no_update, no_update
        try:
            size = gate(org, files or [], kind="org").size
        except InputError:
            return no_update, no_update
        return size, f"Engineers: {size:,}, the size of {org}."

    @app.callback(
        Output("lab-controls", "children"), Input("lab-base", "value"), Input("lab-org", "value"), Input("lab-reset", "n_clicks"),
        State("lab-n", "value"), State("lab-w", "value"), State("lab-files", "data"), prevent_initial_call=True,
    )
    def rebuild(base, org, _reset, n, w, files):
        """A new base scenario or organisation (or a reset) brings its own lever values."""
        try:
            n = check_whole(n, "engineers", 10, 100_000, "engineers")
            w = check_whole(w, "weeks", 1, 260, "weeks")
            return lab_controls(base, n, w, {}, org or OWN_ORG, files or [])
        except InputError as e:
            return dbc.Alert(form_message(e), color="danger")

    @app.callback(
        Output("lab-pin", "data"), Output("lab-error", "children", allow_duplicate=True), Output("lab-error", "is_open", allow_duplicate=True),
        Input("lab-pin-btn", "n_clicks"),
        *FORM, State({"type": "lab-param", "path": ALL}, "value"), State({"type": "lab-share", "group": ALL, "path": ALL}, "value"),
        State("lab-n", "value"), State("lab-w", "value"), prevent_initial_call=True,
    )
    def pin(_n, base, org, files, ids, share_ids, values, share_values, n, w):
        """Pin the current settings as the baseline."""
        try:
            _, sets, _, _ = _form(base, org, n, w, ids, values, share_ids, share_values, files)
        except InputError as e:
            return no_update, form_message(e), True
        return {"base": base, "sets": sets}, no_update, no_update

    @app.callback(Output("lab-pin-label", "children"), Input("lab-pin", "data"))
    def pin_label(pin):
        return _pin_text(pin or {})

    @app.callback(
        Output("lab-job", "data"), Output({"type": "url-state", "page": "lab"}, "data"), Output("lab-error", "children"), Output("lab-error", "is_open"),
        Input({"type": "lab-param", "path": ALL}, "value"), Input({"type": "lab-share", "group": ALL, "path": ALL}, "value"), Input("lab-pin", "data"),
        Input("lab-n", "value"), Input("lab-w", "value"), Input("lab-r", "value"), Input("lab-seed", "value"),
        *FORM,
    )
    def run(values, share_values, pin, n, w, r, seed, base, org, files, ids, share_ids):
        """Any change reruns the baseline and the what-if with the same seeds."""
        ctx = current()
        try:
            _, sets, n, w = _form(base, org, n, w, ids, values, share_ids, share_values, files)
            r = check_whole(r, "replicates", 1, MAX_REPLICATES, "replicates")
            seed = check_whole(seed if seed is not None else 0, "seed", 0, 2**63 - 1, "seed")
            state = _state(base, org, n, w, r, seed, files, pin, sets)
            specs = lab_specs(state)
            check_work(specs, r, ctx.config.max_work)
            key = request_key(KIND, specs, seed, r)
            ctx.jobs.submit(key, lab_task, specs, seed, r, user=current_user(), work=work_of(specs, r))
        except InputError as e:
            return no_update, no_update, form_message(e), True
        ctx.jobs.wait(key, ctx.config.wait_seconds)
        return {"key": key}, lab_query(state), "", False

    @app.callback(
        Output("lab-trajectory", "figure"), Output("lab-cumulative", "figure"), Output("lab-cumulative-box", "style"),
        Output("lab-gap", "figure"), Output("lab-adoption", "figure"), Output("lab-table", "children"), Output("lab-breakeven", "children"),
        Output("lab-intro", "style"), Output("lab-status", "children"), Output("lab-poll", "disabled"),
        Input("lab-job", "data"), Input("lab-poll", "n_intervals"), prevent_initial_call=True,
    )
    def show(job, _tick):
        """The finished run against the baseline (or the baseline alone, with the explanation), or its progress."""
        keep = (no_update,) * 8
        if not job:
            return (*keep, no_update, no_update)
        st = job_status(current().jobs, job["key"], "lab-poll")
        if st["state"] == "queued":
            return (*keep, queue_text(st), False)
        if st["state"] == "running":
            return (*keep, f"running: {st.get('done') or 0} of {st.get('total') or '?'} runs", False)
        if st["state"] == "failed":
            return (*keep[:5], dbc.Alert(f"error: {st['error']}", color="danger"), "", no_update, "", True)
        bundle = current().jobs.cached(job["key"])
        if bundle is None:
            return (*keep, "results expired: change a value to rerun", True)
        f = bundle.figures
        if getattr(bundle, "breakeven", None) is None:  # the baseline alone: nothing differs yet
            return (f["trajectory"], {}, {"display": "none"}, f["gap"], f["adoption"], html.Div(), "", {}, "", True)
        be = bundle.breakeven
        note = html.Div(dbc.Alert([html.Strong("Cumulative delivered work. "), be.text()], color="info", className="py-2 mb-2"),
                        id="lab-breakeven-text", **{"data-kind": be.kind, "data-week": str(be.week or "")})
        return (f["trajectory"], f["cumulative"], {}, f["gap"], f["adoption"], render_table(bundle.table), note, {"display": "none"}, "", True)

    @app.callback(
        Output("lab-download", "data"), Output("lab-error", "children", allow_duplicate=True), Output("lab-error", "is_open", allow_duplicate=True),
        Input("lab-save", "n_clicks"),
        *FORM, State({"type": "lab-param", "path": ALL}, "value"), State({"type": "lab-share", "group": ALL, "path": ALL}, "value"),
        State("lab-n", "value"), State("lab-w", "value"), State("lab-r", "value"), State("lab-seed", "value"), prevent_initial_call=True,
    )
    def save(_n, base, org, files, ids, share_ids, values, share_values, n, w, r, seed):
        """The what-if's settings as a scenario file."""
        try:
            _, sets, n, w = _form(base, org, n, w, ids, values, share_ids, share_values, files)
            name, text = scenario_file(_state(base, org, n, w, r, seed if seed is not None else 0, files, None, sets))
        except InputError as e:
            return no_update, form_message(e), True
        return {"content": text, "filename": name, "type": "application/yaml"}, no_update, no_update

    app.clientside_callback(
        """
        function(values) {
            let total = 0;
            for (const v of values) { total += (v === null || v === undefined || v === '') ? 0 : Number(v); }
            const ok = Math.abs(total - 1) <= %s;
            return ['sum ' + total.toFixed(3) + (ok ? ' \u2713' : ' (must be 1)'), 'small me-2 ' + (ok ? 'text-success' : 'text-danger')];
        }
        """ % SHARE_TOLERANCE,
        Output({"type": "lab-share-sum", "group": MATCH}, "children"), Output({"type": "lab-share-sum", "group": MATCH}, "className"),
        Input({"type": "lab-share", "group": MATCH, "path": ALL}, "value"),
    )

    app.clientside_callback(
        """
        function(n, values) {
            const nums = values.map(v => (v === null || v === undefined || v === '') ? 0 : Number(v));
            const total = nums.reduce((a, b) => a + b, 0);
            if (!n || !(total > 0)) { return window.dash_clientside.no_update; }
            return nums.map(v => Math.round(v / total * 10000) / 10000);
        }
        """,
        Output({"type": "lab-share", "group": MATCH, "path": ALL}, "value"),
        Input({"type": "lab-share-norm", "group": MATCH}, "n_clicks"), State({"type": "lab-share", "group": MATCH, "path": ALL}, "value"),
        prevent_initial_call=True,
    )
