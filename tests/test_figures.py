"""Figures built as plain dicts (``sim.analysis.figure_spec``) draw what plotly's own objects draw.

The app sends the figure functions' dicts to the browser unvalidated (``as_dict=True``); the CLI report and
notebooks get validated ``go.Figure`` objects. These tests hold the two to the same chart, and ``FigureSpec``'s
grid, cell addressing, axis updates and lines to what ``make_subplots`` and ``go.Figure`` do.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio
import pytest
from plotly.subplots import make_subplots

import sim
from sim.analysis import figures as F
from sim.analysis.figure_spec import FigureSpec, merge


def plain(v):
    """JSON values with plotly's packed arrays unpacked and every number a float, to compare two figures' data."""
    if isinstance(v, dict):
        if "bdata" in v and "dtype" in v:
            return [float(x) for x in np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"])).ravel()]
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    return v


def as_json(fig) -> dict:
    return plain(json.loads(pio.to_json(fig, validate=False)))


@pytest.fixture(scope="module")
def results():
    specs = [sim.load_scenario(p, engineers=40, weeks=8) for p in ("mandate_single_tool", "free_choice", "outcome_goals")]
    return sim.run_scenarios(specs, replicates=3, seed=11)


def test_every_standard_figure_as_a_dict_draws_what_its_validated_figure_draws(results):
    labels = {"free_choice": "Our own way"}
    figures = F.standard_figures(results, big=True, labels=labels)
    dicts = F.standard_figures(results, big=True, labels=labels, as_dict=True)
    assert list(figures) == list(dicts)
    for name, fig in figures.items():
        assert isinstance(fig, go.Figure) and isinstance(dicts[name], dict)
        assert as_json(fig) == as_json(dicts[name]), name
        assert dicts[name]["layout"]["template"]["layout"], "the dict carries its template (plotly.js knows no template names)"
    assert "Our own way" in pio.to_json(dicts["adoption"], validate=False) and "Our own way" in pio.to_json(dicts["people"], validate=False)


def test_figures_of_one_replicate_and_of_part_of_the_horizon_agree_too(results):
    one = results[results["replicate"] == results["replicate"].min()]
    for build in (lambda **k: F.metric_over_time(one, "true_gain", group="seniority=senior", height=300, **k),
                  lambda **k: F.panel(results, ("cycle_time", "fatigue", "trust_ai"), "Three", cols=2, until_week=5, **k),
                  lambda **k: F.measurement_gap(results, until_week=4, **k),
                  lambda **k: F.breakdown(results, "ai_task_share", "task", week=6, **k)):
        assert as_json(build()) == as_json(build(as_dict=True))
    assert "One replicate per policy" in F.metric_over_time(one, "true_gain").layout.title.subtitle.text


@pytest.mark.parametrize("rows, cols, titles, shared, h, v", [
    (1, 3, 3, True, 0.03, None), (2, 2, 4, False, 0.07, 0.22), (2, 2, 3, False, 0.07, 0.22), (1, 1, 1, False, None, None), (3, 1, 0, False, None, None),
])
def test_a_grid_is_laid_out_and_addressed_as_make_subplots_does(rows, cols, titles, shared, h, v):
    names = [f"panel {i}" for i in range(titles)]
    ours = FigureSpec(rows=rows, cols=cols, subplot_titles=names or None, shared_yaxes=shared, horizontal_spacing=h, vertical_spacing=v, grid=True)
    theirs = make_subplots(rows=rows, cols=cols, subplot_titles=names or None, shared_yaxes=shared, horizontal_spacing=h, vertical_spacing=v)
    for r in range(1, rows + 1):
        for c in range(1, cols + 1):
            trace = {"type": "scatter", "x": [1, 2], "y": [r, c], "name": f"{r},{c}"}
            ours.add_trace(trace, row=r, col=c)
            theirs.add_trace(go.Scatter(trace), row=r, col=c)
    ours.update_yaxes({"tickformat": ".0%"}, row=rows, col=cols)
    theirs.update_yaxes(tickformat=".0%", row=rows, col=cols)
    ours.update_xaxes({"title": {"text": "week"}})
    theirs.update_xaxes(title_text="week")
    theirs.update_layout(template=None)
    assert as_json(ours.figure().update_layout(template=None)) == as_json(theirs)


def test_a_horizontal_line_and_layout_updates_are_what_plotly_makes():
    ours = FigureSpec().add_hline(0.0, line={"color": "#444", "width": 1}).update_layout({"title": {"text": "T"}}).update_layout(
        {"title": {"subtitle": {"text": "S"}}}, height=300)
    theirs = go.Figure(layout={"template": "plotly_white"}).add_hline(y=0.0, line={"color": "#444", "width": 1}).update_layout(title={"text": "T"}).update_layout(
        title={"subtitle": {"text": "S"}}, height=300)
    assert as_json(ours.figure()) == as_json(theirs)
    with pytest.raises(ValueError):
        FigureSpec(rows=1, cols=2).add_hline(0.0)
    with pytest.raises(ValueError, match="no cell"):
        FigureSpec(rows=1, cols=2).add_trace({"type": "scatter"}, row=2, col=1)


def test_merge_is_plotlys_update_nested_dicts_merge_lists_and_values_replace_nones_are_left_out():
    layout = {"title": {"text": "A", "font": {"size": 12}}, "annotations": [{"text": "x"}], "height": 400}
    merge(layout, {"title": {"font": {"color": "red"}, "x": None}, "annotations": [{"text": "y"}], "height": 300, "width": None})
    assert layout == {"title": {"text": "A", "font": {"size": 12, "color": "red"}}, "annotations": [{"text": "y"}], "height": 300}


def test_the_validated_figure_still_refuses_what_plotly_does_not_know():
    with pytest.raises(ValueError):
        FigureSpec().add_trace({"type": "scatter", "not_a_property": 1}).figure()
