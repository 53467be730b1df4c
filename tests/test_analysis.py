"""Sensitivity analysis of sweeps: known indices come out right through the sweep and analysis code path.

The Ishigami function (known Sobol' indices) and a linear function (exact Morris effects) are swept as
plain-function evaluators through the same spec validation, design, chunked execution, Parquet parts,
load_sweep and SALib analysis as the model. About 10 s on 2 cores.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import yaml

import sim
from sim.analysis import correlations, heatmap, index_bars, parallel_coordinates, run_means, scatter_matrix, sensitivity, summary
from sim.analysis.figures import standard_figures
from sim.analysis.sensitivity import shown_summary
from sim.cli import main
from sim.errors import InputError
from sim.experiments.sweeps import ishigami_indices, load_sweep, read_manifest, sweep
from sim.model.metrics import METRICS

#: Sobol' estimates with N = 2048 (10,240 evaluations) fall this close to the analytic indices.
ISHIGAMI_TOLERANCE = 0.03


def test_ishigami_sobol_indices_through_the_command_line(tmp_path, capsys):
    spec = {
        "function": "ishigami", "design": "sobol", "samples": 2048, "seed": 1,
        "parameters": {"x1": [-np.pi, np.pi], "x2": [-np.pi, np.pi], "x3": [-np.pi, np.pi]}, "outputs": ["y"],
    }
    path = tmp_path / "ishigami.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "ish"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 0
    capsys.readouterr()
    assert read_manifest(out)["runs"] == 2048 * 5
    assert main(["analyze", str(out), "--json"]) == 0
    rows = pd.DataFrame(json.loads(capsys.readouterr().out))
    assert list(rows.columns) == ["metric", "parameter", "index", "value", "conf"]
    truth = ishigami_indices()
    # Analytic: S1 = 0.314, 0.442, 0.0; ST = 0.558, 0.442, 0.244.
    np.testing.assert_allclose(truth["S1"], [0.314, 0.442, 0.0], atol=1e-3)
    np.testing.assert_allclose(truth["ST"], [0.558, 0.442, 0.244], atol=1e-3)
    for index in ("S1", "ST"):
        got = rows[rows["index"] == index].set_index("parameter").loc[["x1", "x2", "x3"]]
        np.testing.assert_allclose(got["value"], truth[index], atol=ISHIGAMI_TOLERANCE, err_msg=index)
        assert (got["conf"] > 0).all() and (got["conf"] < 0.1).all()


def linear(x1: float, x2: float, x3: float) -> dict:
    """A linear test function: Morris effects are exactly its coefficients, with no spread."""
    return {"y": 2.0 * x1 + 0.5 * x2 + 0.0 * x3, "z": -x3}


def test_morris_effects_of_a_linear_function_are_exact(tmp_path):
    spec = {"design": "morris", "samples": 10, "levels": 4, "seed": 3, "parameters": {"x1": [0, 1], "x2": [0, 1], "x3": [0, 1]}, "outputs": ["y", "z"]}
    out = sweep(spec, tmp_path / "m", workers=1, function=linear)
    idx = sensitivity(out)
    assert set(idx["index"]) == {"mu_star", "sigma", "mu"}
    y = idx[idx.metric == "y"].pivot(index="parameter", columns="index", values="value").loc[["x1", "x2", "x3"]]
    np.testing.assert_allclose(y["mu_star"], [2.0, 0.5, 0.0], atol=1e-9)
    np.testing.assert_allclose(y["sigma"], [0.0, 0.0, 0.0], atol=1e-9)
    z = idx[idx.metric == "z"].pivot(index="parameter", columns="index", values="value").loc[["x1", "x2", "x3"]]
    np.testing.assert_allclose(z["mu"], [0.0, 0.0, -1.0], atol=1e-9)
    fig = index_bars(idx, "y")
    assert isinstance(fig, go.Figure) and [t.name for t in fig.data] == ["mean |effect| (mu*)", "spread of effects (sigma)"]
    assert list(fig.data[0].x) == ["x1", "x2", "x3"]  # most important first


def test_indices_need_a_complete_sweep(tmp_path):
    spec = {"function": "ishigami", "design": "sobol", "samples": 8, "parameters": {"x1": [-3, 3], "x2": [-3, 3], "x3": [-3, 3]}, "outputs": ["y"]}
    out = sweep(spec, tmp_path / "s", workers=1)
    for part in sorted((out / "parts").glob("part-*.parquet"))[-1:]:
        part.unlink()  # as if the sweep had been stopped before its last chunk
    with pytest.raises(InputError, match="incomplete"):
        sensitivity(out)
    assert len(read_manifest(out)["finished"]) < 40


def test_grid_sweep_of_the_model_gives_tables_figures_and_a_report(tmp_path, capsys):
    spec = {
        "scenario": "mandate_single_tool", "design": "grid", "samples": 3, "replicates": 2, "seed": 5, "engineers": 20, "weeks": 8,
        "parameters": {"policy.usage_enforcement": [0.0, 1.0], "policy.feedback_safety": [0.1, 0.9]},
        "outputs": ["weekly_active_share", "trust_leadership"],
    }
    out = sweep(spec, tmp_path / "g", workers=1)
    df = load_sweep(out)
    assert sensitivity(df).empty  # indices are for sobol and morris designs
    assert index_bars(sensitivity(df), "weekly_active_share").layout.title.text.startswith("No sensitivity indices")
    rm = run_means(df, "weekly_active_share")
    assert len(rm) == 9 and set(rm["policy.usage_enforcement"]) == {0.0, 0.5, 1.0}
    expected = df[df.metric == "weekly_active_share"].groupby("run_id")["value"].mean().to_numpy()
    np.testing.assert_array_equal(rm["value"].to_numpy(), expected)
    # Usage under a mandate rises with enforcement (the rank correlation says so too).
    corr = correlations(df).set_index(["metric", "parameter"])["spearman"]
    assert corr[("weekly_active_share", "policy.usage_enforcement")] > 0.5
    s = summary(df).set_index("metric")
    assert s.loc["weekly_active_share", "runs"] == 9

    hm = heatmap(df, "policy.usage_enforcement", "policy.feedback_safety", "weekly_active_share")
    z = np.asarray(hm.data[0].z, dtype=float)
    assert z.shape == (3, 3) and np.isfinite(z).all()
    pivot = rm.pivot(index="policy.feedback_safety", columns="policy.usage_enforcement", values="value").to_numpy()
    np.testing.assert_allclose(z, pivot)
    sm = scatter_matrix(df, "trust_leadership")
    assert len(sm.data) == 2 and len(sm.data[0].x) == 9
    pc = parallel_coordinates(df, "trust_leadership")
    assert [d.label for d in pc.data[0].dimensions] == ["policy.usage_enforcement", "policy.feedback_safety", METRICS["trust_leadership"].title]

    report = tmp_path / "report.html"
    assert main(["analyze", str(out), "--html", str(report), "--out", str(tmp_path / "corr.csv")]) == 0
    printed = capsys.readouterr().out
    assert "Spearman" in printed and "Weekly active" in printed and "weekly_active_share" not in printed
    text = report.read_text()
    assert text.count("plotly.js") >= 1 and f"{METRICS['weekly_active_share'].title}: mean by policy.usage_enforcement and policy.feedback_safety" in text
    corr = pd.read_csv(tmp_path / "corr.csv")
    assert corr.shape == (4, 3) and set(corr["metric"]) == {"weekly_active_share", "trust_leadership"}  # files keep the ids


def test_analyze_of_a_folder_that_is_not_a_sweep_is_a_clear_error(tmp_path, capsys):
    assert main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a sweep folder" in err and "Traceback" not in err


# --- What people see: labels with units, reports from templates -----------------------------------------------------------

REPORT_CSS = Path(sim.__file__).resolve().parent / "analysis" / "templates" / "report.css"
EVIL = "<script>alert('mandate')</script>"


def shown_texts(fig) -> list[str]:
    """Every text a figure shows: titles (figure, axes, colour bars), subplot titles, legend entries, dimension labels."""
    out: list[str] = []

    def walk(node, key=""):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("hovertemplate", "legendgroup", "uid", "customdata", "x", "y", "z", "values", "meta"):
                    continue
                walk(v, k)
        elif isinstance(node, (list, tuple)):
            for v in node:
                walk(v, key)
        elif isinstance(node, str) and key in ("text", "name", "label", "title"):
            out.append(node)

    walk(fig.to_plotly_json())
    return out


def raw_ids(texts: list[str]) -> list[str]:
    """Metric ids (those with an underscore: no label has one) that appear as words in the texts."""
    joined = "\n".join(texts)
    return sorted(m for m in METRICS if "_" in m and re.search(rf"(?<![\w.]){m}(?![\w])", joined))


def test_charts_name_metrics_by_label_with_unit_never_by_id():
    results = sim.run_scenarios(["mandate_single_tool", "free_choice"], replicates=2, seed=1, engineers=20, weeks=6)
    figs = standard_figures(results)
    shown = {name: shown_texts(f) for name, f in figs.items()}
    for name, texts in shown.items():
        assert not raw_ids(texts), f"{name} shows raw ids {raw_ids(texts)}: {texts}"
    people = " ".join(shown["people"])
    for m in ("trust_leadership", "trust_ai", "psych_safety", "honest_reporting_share"):
        assert METRICS[m].title in people  # e.g. "Trust in leadership (0–1)"
    assert METRICS["cycle_time"].title in " ".join(shown["performance"])
    assert {METRICS[m].label for m in ("genuine_use_share", "forced_use_share", "token_use_share")} <= set(shown["adoption"])
    wau = figs["weekly_active"]
    assert wau.layout.yaxis.title.text == METRICS["weekly_active_share"].symbol  # the axis carries the unit
    assert figs["gain_by_seniority"].layout.title.text.startswith(METRICS["true_gain"].title)


def test_sweep_figures_name_outputs_by_title(tmp_path):
    spec = {
        "scenario": "free_choice", "design": "grid", "samples": 2, "replicates": 1, "seed": 2, "engineers": 20, "weeks": 4,
        "parameters": {"policy.feedback_safety": [0.1, 0.9], "policy.training_hours": [0, 16]},
        "outputs": ["trust_leadership", "true_gain/seniority=senior"],
    }
    df = load_sweep(sweep(spec, tmp_path / "g", workers=1))
    for fig in (heatmap(df, "policy.feedback_safety", "policy.training_hours", "trust_leadership"), parallel_coordinates(df, "trust_leadership"),
                scatter_matrix(df, "trust_leadership"), index_bars(sensitivity(df), "trust_leadership"), scatter_matrix(df, "true_gain/seniority=senior")):
        texts = shown_texts(fig)
        assert not raw_ids(texts), texts
    heat = heatmap(df, "policy.feedback_safety", "policy.training_hours", "trust_leadership")
    assert heat.layout.title.text.startswith(METRICS["trust_leadership"].title) and heat.data[0].colorbar.title.text == METRICS["trust_leadership"].title
    assert any(t.startswith(f"{METRICS['true_gain'].title} — senior engineers") for t in shown_texts(scatter_matrix(df, "true_gain/seniority=senior")))
    shown = shown_summary(summary(df)).set_index("metric")  # what tables show: titles, values in each metric's format
    assert list(shown.index) == [METRICS["trust_leadership"].title, f"{METRICS['true_gain'].title} — senior engineers"]
    assert shown.iloc[1]["mean"].endswith("%") and not shown.iloc[0]["mean"].endswith("%")
    assert set(summary(df)["metric"]) == {"trust_leadership", "true_gain/seniority=senior"}  # the data keeps the ids


def _outside_scripts(html: str) -> str:
    return re.sub(r"<script\b.*?</script>", "", html, flags=re.S)


def test_both_reports_inline_the_one_stylesheet_and_escape_what_users_wrote(tmp_path, capsys):
    scenario = tmp_path / "evil.yaml"
    scenario.write_text(yaml.safe_dump({"extends": "free_choice", "name": EVIL, "title": EVIL}), encoding="utf-8")
    compare_html = tmp_path / "compare.html"
    assert main(["compare", "mandate_single_tool", str(scenario), "-r", "1", "-n", "20", "-w", "4", "--html", str(compare_html)]) == 0
    spec = {"name": EVIL, "function": "ishigami", "design": "grid", "samples": 2, "parameters": {"x1": [-3, 3], "x2": [-3, 3], "x3": [-3, 3]},
            "outputs": ["y"]}
    out = sweep(spec, tmp_path / "sw", workers=1)
    analyze_html = tmp_path / "analyze.html"
    assert main(["analyze", str(out), "--html", str(analyze_html)]) == 0
    capsys.readouterr()
    rules = [line.strip() for line in REPORT_CSS.read_text(encoding="utf-8").splitlines() if "{" in line]
    assert len(rules) >= 5
    for report in (compare_html, analyze_html):
        html = report.read_text(encoding="utf-8")
        page = _outside_scripts(html)
        assert html.lstrip().lower().startswith("<!doctype html>") and html.rstrip().endswith("</html>")
        for rule in rules:
            assert html.count(rule) == 1, f"{report.name}: {rule!r} inlined {html.count(rule)} times"
        assert page.count("<style>") == 1 and "<link" not in page, "one inlined stylesheet, nothing fetched"
        assert html.count("* plotly.js v") == 1, "plotly.js inlined once"
        for leftover in ("{{", "}}", "{%", "%}", "{#", "#}"):
            assert leftover not in page, f"{report.name}: template syntax {leftover!r} left in the page"
        assert "<script>alert" not in html, f"{report.name}: a name from a user's file reached the page unescaped"
        assert "&lt;script&gt;alert(" in page
        assert "Generated " in page and "by mandate-sim" in page
        assert (report.stat().st_mode & 0o777) == 0o644
    assert "<h1>mandate-sim sweep: &lt;script&gt;" in _outside_scripts(analyze_html.read_text(encoding="utf-8"))
