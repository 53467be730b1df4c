"""The organisation as a grid of engineers: one square per engineer position, grouped by team, coloured by what the
engineer did in a week (the per-engineer table of ``sim.experiments.engineers.engineer_weeks``).

``agent_grid(table, week)`` draws one panel per scenario of the table, side by side; the hover card of a square
names the engineer and their seniority, skill, trust in AI, trust in leadership and fatigue that week. Engineers who
also used an unapproved tool that week are ringed. Called week after week, the squares change colour: the
organisation's weeks as an animation.
"""

from __future__ import annotations

import json
import math
from typing import Mapping

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.experiments.engineers import ACTIVITIES, ACTIVITY_LABELS
from sim.model.metrics import METRICS

from .figures import PALETTE, USE_COLOURS, _layout

#: One colour per activity: the adoption chart's colours for the kinds of use it shows too.
ACTIVITY_COLOURS = {
    "no_ai": "#D9D9D9",
    "genuine": USE_COLOURS["genuine_use_share"],
    "pressured": USE_COLOURS["forced_use_share"],
    "token": USE_COLOURS["token_use_share"],
    "shadow": "#4D4D4D",
    "left": "#FFFFFF",
    "new_hire": PALETTE[3],
}


def grid_positions(team: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(x, y) of each slot: each team a compact block (members in rows), blocks in a near-square grid with gaps."""
    team = np.asarray(team)
    n_teams = int(team.max()) + 1 if team.size else 0
    starts = np.searchsorted(team, np.arange(n_teams))
    member = np.arange(team.size) - starts[team]
    size = int(np.bincount(team).max()) if team.size else 1
    w = max(1, math.ceil(math.sqrt(size)))
    h = math.ceil(size / w)
    per_row = max(1, math.ceil(math.sqrt(n_teams * h / w)))
    bx, by = team % per_row, team // per_row
    x = bx * (w + 1) + member % w
    y = -(by * (h + 1) + member // w)
    return x.astype(float), y.astype(float)


def _cards(df: pd.DataFrame) -> np.ndarray:
    """The hover card's values per row: engineer, team, seniority, skill, trust in AI, trust in leadership, fatigue, what they did."""
    act = df["activity"].astype(str).to_numpy()
    label = np.array([ACTIVITY_LABELS[a] for a in ACTIVITIES], dtype=object)[df["activity"].cat.codes.to_numpy()]
    also = np.where(df["shadow"].to_numpy() & (act != "shadow"), " (and an unapproved tool)", "")
    present = df["present"].to_numpy()

    def num(col: str, spec: str) -> np.ndarray:
        return np.array([format(v, spec) if v == v else "" for v in df[col].to_numpy()], dtype=object)

    hire = df["hire"].to_numpy()
    slot = df["slot"].astype(str).to_numpy().astype(object)
    who = np.where(hire > 0, slot + "." + hire.astype(str), slot)
    return np.column_stack([
        who, df["team"].astype(str).to_numpy(), np.where(present, df["seniority"].astype(str).to_numpy(), "vacant"),
        num("skill", ".2f"), num("trust_ai", METRICS["trust_ai"].format_spec), num("trust_leadership", METRICS["trust_leadership"].format_spec),
        num("fatigue", METRICS["fatigue"].format_spec), np.where(present, (label + also).astype(object), "position vacant: the engineer left"),
    ])


HOVER = ("<b>engineer %{customdata[0]}</b>, team %{customdata[1]}<br>%{customdata[2]}, skill %{customdata[3]}<br>"
         f"{METRICS['trust_ai'].label} %{{customdata[4]}}<br>{METRICS['trust_leadership'].label} %{{customdata[5]}}<br>"
         f"{METRICS['fatigue'].label} %{{customdata[6]}}<br>this week: %{{customdata[7]}}<extra></extra>")


def _week_data(run: pd.DataFrame, cards: np.ndarray, week: int, big: bool) -> dict:
    """One scenario's squares at ``week``: colour by activity, a ring for unapproved-tool use, and the hover cards."""
    m = (run["week"] == week).to_numpy()
    now = run[m]
    act = now["activity"].astype(str).to_numpy()
    ring = now["shadow"].to_numpy() & (act != "shadow")
    return {
        "marker.color": [ACTIVITY_COLOURS[a] for a in act],
        "marker.line.width": np.where(ring, 3.0, 1.0).tolist(),
        "marker.line.color": np.where(ring, ACTIVITY_COLOURS["shadow"], "#999999").tolist(),
        "customdata": cards[m].tolist(),
    }


def agent_animation(table: pd.DataFrame, *, titles: Mapping[str, str] | None = None, big: bool = False, height: int = 460) -> dict:
    """Engineers by team, one panel per scenario (the table's first replicate), with one animation frame per week (named by
    the week) that recolours the squares and updates their hover cards (squares ringed dark: the engineer also used an unapproved tool): a plotly figure as a dict (data, layout, frames;
    frames as plain data, since validating thousands of values per week would take seconds). It shows the first week."""
    names = [str(s) for s in pd.unique(table["scenario"].astype(str))]
    titles = dict(titles or {})
    rep = int(table["replicate"].min())
    table = table[table["replicate"] == rep].sort_values(["scenario", "week", "slot"], kind="stable")
    weeks = sorted(int(w) for w in table["week"].unique())
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=[titles.get(n, n) for n in names], horizontal_spacing=0.04)
    runs, cards = [], []
    for i, name in enumerate(names, start=1):
        run = table[table["scenario"].astype(str) == name]
        x, y = grid_positions(run[run["week"] == weeks[0]]["team"].to_numpy())
        runs.append(run)
        cards.append(_cards(run))
        fig.add_trace(go.Scatter(x=x, y=y, mode="markers", name=titles.get(name, name), showlegend=False, hovertemplate=HOVER,
                                 marker={"symbol": "square", "size": 15 if big else 12}), row=1, col=i)
    for act in ACTIVITIES:  # the legend: one entry per activity
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=ACTIVITY_LABELS[act], hoverinfo="skip",
                                 marker={"symbol": "square", "size": 14, "color": ACTIVITY_COLOURS[act], "line": {"width": 1, "color": "#999999"}}))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    for i in range(2, len(names) + 1):
        fig.update_yaxes(scaleanchor=f"x{i}", row=1, col=i)
    _layout(fig, "Engineer by engineer", height=height, big=big)  # its legend below, at the figure's foot, with room for its rows
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(title_text=None)
    out = json.loads(fig.to_json())  # plain JSON values (no packed arrays): the frames below are plain too
    frames = []
    for w in weeks:
        data = []
        for run, card in zip(runs, cards):
            d = _week_data(run, card, w, big)
            data.append({"marker": {"symbol": "square", "size": 15 if big else 12, "color": d["marker.color"],
                                    "line": {"width": d["marker.line.width"], "color": d["marker.line.color"]}},
                         "customdata": d["customdata"]})
        frames.append({"name": str(w), "traces": list(range(len(runs))), "data": data})
    out["frames"] = frames
    show_frame(out, frames[0])
    return out


def show_frame(fig: dict, frame: dict) -> dict:
    """Apply one frame's data to its traces (what the page does week by week)."""
    for i, d in zip(frame["traces"], frame["data"]):
        fig["data"][i]["marker"] = d["marker"]
        fig["data"][i]["customdata"] = d["customdata"]
    return fig


def agent_grid(table: pd.DataFrame, week: int, **kw) -> go.Figure:
    """The grid at one week: ``agent_animation``'s figure showing that week's frame (and no frames)."""
    anim = agent_animation(table, **kw)
    names = [f["name"] for f in anim["frames"]]
    week = int(min(max(int(week), int(names[0])), int(names[-1])))
    show_frame(anim, anim["frames"][names.index(str(week))])
    fig = go.Figure({"data": anim["data"], "layout": anim["layout"]})
    fig.layout.title.text = fig.layout.title.text.replace("Engineer by engineer", f"Engineer by engineer, week {week}")
    return fig
