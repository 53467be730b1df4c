"""The sweep explorer without a browser: Spearman rank correlations (values, intervals, p-values) and their figure and
table, parameter labels from the declarations, the start form's checks (bounds, folder names, size), the sweep task,
and the page's callbacks through the app's HTTP endpoint (default outcome, labelled options, downloads, a sweep
started and opened, folders outside the data root). The browser checks are tests/test_browser_sweeps.py."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from browser_support import _outputs, _parse_id

import sim
from sim.analysis.sensitivity import (
    SPEARMAN_COLUMNS,
    correlation_bars,
    correlations,
    format_p,
    parameter_title,
    run_means,
    shown_spearman,
    spearman_interval,
    spearman_table,
)
from sim.errors import InputError
from sim.model.metrics import METRICS
from sim.model.scenarios import parameter_paths

from dashboards import sweep_start
from dashboards.app import AppConfig, create_app
from dashboards.pages import sweeps as page

DECLARED = {r.path: r for r in parameter_paths()}


def synthetic(runs: int, seed: int = 0) -> pd.DataFrame:
    """A tidy sweep table: 'a' drives the output, 'b' is noise, 'c' does not vary; two replicates per run."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(0, 1, runs), rng.uniform(0, 1, runs)
    rows = []
    for r in range(runs):
        for rep in range(2):
            rows.append((r, rep, a[r], b[r], 0.5, "true_gain", a[r] ** 3 + 0.05 * rng.normal()))
            rows.append((r, rep, a[r], b[r], 0.5, "trust_leadership", rng.uniform()))
    return pd.DataFrame(rows, columns=["run_id", "replicate", "policy.usage_enforcement", "policy.feedback_safety", "policy.usage_target", "metric", "value"])


def test_spearman_table_is_scipys_rho_with_an_interval_around_it():
    df = synthetic(30)
    table = spearman_table(df)
    assert list(table.columns) == SPEARMAN_COLUMNS and len(table) == 6
    rm = run_means(df, "true_gain")
    for p in ("policy.usage_enforcement", "policy.feedback_safety"):
        row = table[(table.metric == "true_gain") & (table.parameter == p)].iloc[0]
        ref = spearmanr(rm[p], rm["value"])
        assert row["spearman"] == pytest.approx(ref.statistic) and row["p_value"] == pytest.approx(ref.pvalue) and row["runs"] == 30
        assert row["low"] < row["spearman"] < row["high"]
    strong = table.set_index(["metric", "parameter"]).loc[("true_gain", "policy.usage_enforcement")]
    assert strong["spearman"] > 0.9 and strong["p_value"] < 1e-6 and strong["low"] > 0.7
    constant = table.set_index(["metric", "parameter"]).loc[("true_gain", "policy.usage_target")]
    assert np.isnan(constant["spearman"]) and np.isnan(constant["low"]) and np.isnan(constant["p_value"])
    # The CLI's table is the same rho; more runs give a narrower interval; too few give none.
    np.testing.assert_array_equal(correlations(df)["spearman"].to_numpy(), table["spearman"].to_numpy())
    lo20, hi20 = spearman_interval(0.5, 20)
    lo80, hi80 = spearman_interval(0.5, 80)
    assert lo20 < lo80 < 0.5 < hi80 < hi20 and np.isnan(spearman_interval(0.5, 3)[0])


def test_the_correlation_chart_and_table_show_the_strongest_first_by_label():
    table = spearman_table(synthetic(25))
    labels = {p: parameter_title(p) for p in ("policy.usage_enforcement", "policy.feedback_safety", "policy.usage_target")}
    fig = correlation_bars(table, "true_gain", labels)
    bar = fig.data[0]
    sub = table[table.metric == "true_gain"].set_index("parameter")
    assert list(bar.y)[-1] == labels["policy.usage_enforcement"]  # strongest on top (plotly draws the last bar highest)
    for label, x, plus, minus in zip(bar.y, bar.x, bar.error_x.array, bar.error_x.arrayminus):
        row = sub.loc[next(p for p, v in labels.items() if v == label)]
        if np.isnan(row["spearman"]):
            continue
        assert x == pytest.approx(row["spearman"]) and plus == pytest.approx(row["high"] - x) and minus == pytest.approx(x - row["low"])
    assert METRICS["true_gain"].title in fig.layout.title.text
    shown = shown_spearman(table, "true_gain", labels)
    assert shown["parameter"].tolist()[0] == labels["policy.usage_enforcement"] and shown["parameter"].tolist()[-1] == labels["policy.usage_target"]
    assert shown.iloc[-1]["Spearman's rho"] == "n/a" and shown.iloc[-1]["95% interval"] == "no variation"
    first = sub.loc["policy.usage_enforcement"]
    assert shown.iloc[0]["95% interval"] == f"{first['low']:+.2f} to {first['high']:+.2f}"
    assert format_p(0.0004) == "<0.001" and format_p(0.0123) == "0.012" and format_p(float("nan")) == ""


def test_parameters_are_named_by_their_declarations():
    for path in ("policy.usage_enforcement", "behaviour.people.attrition_trust", "organisation.team_size"):
        row = DECLARED[path]
        assert parameter_title(path).endswith(f"({row.unit})")
    assert parameter_title("weeks") == "weeks"  # a unit that only repeats the name is left out
    assert parameter_title("policy.usage_enforcement").startswith("policy: usage enforcement")
    assert parameter_title("organisation.tools.mytool.usage_cost") == "organisation tools mytool: usage cost"  # undeclared: words only
    options = sweep_start.parameter_options()
    assert {o["value"] for o in options} == {p for p, r in DECLARED.items() if r.kind in ("number", "integer") and r.min is not None}
    assert all(o["label"] == parameter_title(o["value"]) and o["value"] in o["search"] for o in options)


# -- the start form --------------------------------------------------------------------------------------


def form(root, **changes):
    args = dict(name="s1", scenario="mandate_single_tool", design="lhs", samples=4, engineers=20, weeks=4, replicates=1, seed=0,
                outputs=["trust_leadership", "true_gain"], params=["policy.usage_enforcement", "behaviour.people.hiring_delay_weeks", None],
                lows=[0, 2, None], highs=[1, 8, None])
    args.update(changes)
    return {"root": root, "form": sweep_start.SweepForm(**args)}


def test_the_form_checks_each_field_and_names_it_as_labelled(tmp_path):
    req = sweep_start.request_from_form(**form(tmp_path))
    assert req.out == tmp_path.resolve() / sweep_start.APP_FOLDER / "s1" and req.points == 4 and req.work == 4 * 1 * 20 * 4
    assert req.spec["parameters"] == {"policy.usage_enforcement": [0.0, 1.0], "behaviour.people.hiring_delay_weeks": [2, 8]}
    label = parameter_title("policy.usage_enforcement")
    cases = {
        "Parameter 1: the range 0 to 1.5 lies outside the declared bounds of " + label: dict(highs=[1.5, 8, None]),
        "Parameter 2: the range 2 to 80 lies outside the declared bounds": dict(highs=[1, 80, None]),
        "Parameter 1: the range of " + label + " is 1 to 0": dict(lows=[1, 2, None], highs=[0, 8, None]),
        "Parameter 1: 'from' is empty": dict(lows=[None, 2, None]),
        "Parameter 2: " + label + " is chosen twice": dict(params=["policy.usage_enforcement", "policy.usage_enforcement", None]),
        "Parameter 1: none is chosen": dict(params=[None, None, None]),
        "Folder name: value '../x' is not a plain folder name": dict(name="../x"),
        "Folder name: value 'a/b' is not a plain folder name": dict(name="a/b"),
        "Folder name: is empty": dict(name=" "),
        "Engineers: value 0 is out of range": dict(engineers=0),
        "Samples: must be a power of 2": dict(design="sobol", samples=6),
        "Outcomes to record: is empty": dict(outputs=[]),
        "Size: the sweep asks for 20,000,000 engineer-weeks": dict(samples=1000, engineers=400, weeks=50),
    }
    for start, change in cases.items():
        with pytest.raises(InputError) as e:
            sweep_start.request_from_form(**form(tmp_path, **change))
        assert str(e.value).startswith(start), (start, str(e.value))
        assert str(tmp_path) not in str(e.value)
    (tmp_path / sweep_start.APP_FOLDER / "taken").mkdir(parents=True)
    with pytest.raises(InputError, match="^Folder name: value 'taken' exists already"):
        sweep_start.request_from_form(**form(tmp_path, name="taken"))
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / sweep_start.APP_FOLDER).symlink_to(outside)
    with pytest.raises(InputError, match="lies outside the data root"):
        sweep_start.target_folder(tmp_path / "root", "new")
    assert sweep_start.suggest_name(tmp_path) == "sweep-1"
    assert "= 320 engineer-weeks (within the limit of 2,000,000)" in sweep_start.size_text(sweep_start.SweepForm(
        design="lhs", samples=4, engineers=20, weeks=4, replicates=1, params=["policy.usage_enforcement"], lows=[0], highs=[1]))
    assert "Size: not yet known" in sweep_start.size_text(sweep_start.SweepForm(design="lhs", samples=4, engineers=20, weeks=4, replicates=1))


def test_the_sweep_task_writes_a_new_folder_with_progress_and_never_over_another(tmp_path):
    req = sweep_start.request_from_form(**form(tmp_path))
    seen = []
    result = sweep_start.sweep_task(req.spec, str(req.out), progress=lambda done, total: seen.append((done, total)))
    assert result == {"folder": f"{sweep_start.APP_FOLDER}/s1", "runs": 4}
    assert seen[0] == (0, 4) and seen[-1] == (4, 4) and [d for d, _ in seen] == sorted(d for d, _ in seen) and len(seen) == 5
    frame = sim.load_sweep(req.out)
    assert sorted(frame["run_id"].unique()) == [0, 1, 2, 3] and set(frame["metric"]) == {"trust_leadership", "true_gain"}
    with pytest.raises(InputError, match="exists already"):
        sweep_start.sweep_task(req.spec, str(req.out))


# -- the page's callbacks, through the app ------------------------------------------------------------------


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("root")
    sim.sweep({"scenario": "mandate_single_tool", "design": "lhs", "samples": 6, "replicates": 1, "seed": 1, "engineers": 20, "weeks": 4,
               "parameters": {"policy.usage_enforcement": [0, 1], "policy.feedback_safety": [0, 1]}, "outputs": ["trust_leadership", "true_gain"]},
              root / "tiny", workers=1)
    app = create_app(AppConfig(workers=0, data_root=root))
    client = app.server.test_client()
    deps = client.get("/_dash-dependencies").get_json()
    yield root, app, client, deps
    app.server.config["MANDATE_SIM"].jobs.close()


def call(served, output: str, first_input: str, values: dict, changed: str | None = None) -> dict:
    """POST one callback as the Dash renderer does; its response, by component id and property."""
    _, _, client, deps = served
    cb = next(c for c in deps if output in c["output"] and c["inputs"] and c["inputs"][0]["id"] == first_input)

    def dep(d):
        name = f"{d['id']}.{d['property']}"
        if '["ALL"]' in d["id"]:
            return values.get(name, [])
        return {"id": _parse_id(d["id"]), "property": d["property"], "value": values.get(name)}

    outs = _outputs(cb["output"])
    trigger = changed or f"{cb['inputs'][0]['id']}.{cb['inputs'][0]['property']}"
    body = {"output": cb["output"], "outputs": outs if len(outs) > 1 else outs[0], "inputs": [dep(d) for d in cb["inputs"]],
            "state": [dep(d) for d in cb.get("state", [])], "changedPropIds": [trigger]}
    r = client.post("/_dash-update-component", json=body)
    assert r.status_code in (200, 204), r.get_data(as_text=True)[:500]
    return r.get_json()["response"] if r.status_code == 200 else {}


def test_the_explorer_opens_on_true_gain_with_labelled_parameters(served):
    root, app, *_ = served
    with app.server.test_request_context("/"):
        assert "tiny" in page.find_sweeps(root)
    resp = call(served, "sweep-metric.options", "sweep-folder", {"sweep-folder.value": "tiny"})
    assert resp["sweep-metric"]["value"] == "true_gain"
    assert [o["label"] for o in resp["sweep-metric"]["options"]] == [METRICS["trust_leadership"].title, METRICS["true_gain"].title]
    assert [o["label"] for o in resp["sweep-x"]["options"]] == [parameter_title("policy.usage_enforcement"), parameter_title("policy.feedback_safety")]
    assert [o["value"] for o in resp["sweep-x"]["options"]] == ["policy.usage_enforcement", "policy.feedback_safety"]
    figs = call(served, "sweep-scatter.figure", "sweep-metric", {"sweep-metric.value": "true_gain", "sweep-x.value": "policy.usage_enforcement",
                                                                 "sweep-y.value": "policy.feedback_safety", "sweep-folder.value": "tiny"})
    assert len(figs["sweep-scatter"]["figure"]["data"]) == 2 and "Rank correlation" in figs["sweep-indices"]["figure"]["layout"]["title"]["text"]
    assert "Spearman" in figs["sweep-table-title"]["children"]
    refused = call(served, "sweep-metric.options", "sweep-folder", {"sweep-folder.value": ".."})
    assert "outside the data root" in refused["sweep-error"]["children"] and str(root) not in refused["sweep-error"]["children"]
    assert page.default_outcome(["cycle_time", "true_gain/seniority=senior"]) == "true_gain/seniority=senior"
    assert page.default_outcome(["cycle_time"]) == "cycle_time"


def test_with_no_sweep_open_the_page_says_so_instead_of_empty_charts(served):
    """No folder chosen, or one refused: the charts and downloads are hidden and a line says what to do; a folder opened shows them."""
    for folder in (None, ".."):
        resp = call(served, "sweep-metric.options", "sweep-folder", {"sweep-folder.value": folder})
        assert resp["sweep-results"]["style"] == {"display": "none"} and resp["sweep-none"]["style"] == {}
        assert resp["sweep-dl-results"]["disabled"] is True and resp["sweep-dl-table"]["disabled"] is True
    resp = call(served, "sweep-metric.options", "sweep-folder", {"sweep-folder.value": "tiny"})
    assert resp["sweep-results"]["style"] == {} and resp["sweep-none"]["style"] == {"display": "none"}
    assert resp["sweep-dl-results"]["disabled"] is False and resp["sweep-dl-table"]["disabled"] is False
    assert "choose a sweep folder" in page.NO_SWEEP


def test_downloads_are_the_tidy_table_and_the_correlations(served):
    root = served[0]
    for button, name, columns in (("sweep-dl-results", "tiny-results.csv", None), ("sweep-dl-table", "tiny-rank-correlations.csv", SPEARMAN_COLUMNS)):
        resp = call(served, "sweep-download.data", "sweep-dl-results", {f"{button}.n_clicks": 1, "sweep-folder.value": "tiny"}, changed=f"{button}.n_clicks")
        data = resp["sweep-download"]["data"]
        assert data["filename"] == name
        text = base64.b64decode(data["content"]).decode() if data.get("base64") else data["content"]
        got = pd.read_csv(io.StringIO(text))
        if columns is None:
            assert len(got) == len(sim.load_sweep(root / "tiny")) and "policy.usage_enforcement" in got.columns
        else:
            assert list(got.columns) == columns and len(got) == 4


def test_a_sweep_started_through_the_page_runs_as_a_job_and_opens(served):
    root, app = served[0], served[1]
    rows = {f'{{"i":["ALL"],"type":"swp-{k}"}}.value': [{"id": {"type": f"swp-{k}", "i": i}, "property": "value", "value": v} for i, v in enumerate(vals)]
            for k, vals in (("param", ["policy.usage_enforcement", None, None]), ("low", [0, None, None]), ("high", [1, None, None]))}
    values = {"swp-start.n_clicks": 1, "swp-name.value": "started", "swp-scenario.value": "mandate_single_tool", "swp-design.value": "lhs",
              "swp-samples.value": 4, "swp-engineers.value": 20, "swp-weeks.value": 4, "swp-replicates.value": 1, "swp-seed.value": 0,
              "swp-outputs.value": ["true_gain"], **rows}
    bad = dict(values, **{'{"i":["ALL"],"type":"swp-high"}.value': [{"id": {"type": "swp-high", "i": 0}, "property": "value", "value": 2}]})
    resp = call(served, "swp-job.data", "swp-start", bad)
    assert resp["swp-error"]["children"].startswith("error: Parameter 1: the range 0 to 2 lies outside the declared bounds")
    resp = call(served, "swp-job.data", "swp-start", values)
    job = resp["swp-job"]["data"]
    assert job["folder"] == "app-sweeps/started" and resp["swp-error"]["is_open"] is False
    assert app.server.config["MANDATE_SIM"].jobs.wait(job["key"], 120)["state"] == "done"
    shown = call(served, "swp-status.children", "swp-job", {"swp-job.data": job, "swp-poll.n_intervals": 1, "sweep-folder.options": ["tiny"]})
    assert shown["sweep-folder"]["value"] == "app-sweeps/started" and "app-sweeps/started" in shown["sweep-folder"]["options"]
    assert shown["swp-status"]["children"].startswith("done: 4 design points written to app-sweeps/started")
    assert shown["swp-name"]["value"] == "sweep-1"
    assert sorted(sim.load_sweep(root / "app-sweeps" / "started")["run_id"].unique()) == [0, 1, 2, 3]
    assert json.dumps(shown).count(str(root)) == 0
