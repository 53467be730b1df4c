"""Figures the app needs that sim/figures.py does not have yet (candidates to move there)."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.model.params import SENIORITY_LEVELS, Organisation
from sim.analysis.figures import PALETTE, _layout


def org_profile(org: Organisation, *, big: bool = False) -> go.Figure:
    """The organisation before any policy: seniority mix, task mix per level, and each tool's true time saving per task type."""
    tasks = list(org.task_types)
    # Titles on two lines: three charts share a projector's width (1280 px) with the step's text.
    fig = make_subplots(rows=1, cols=3, subplot_titles=["Engineers<br>by seniority", "Work by task type<br>(share of hours)",
                                                        "True time saving per tool<br>(saving minus verification)"],
                        horizontal_spacing=0.08)
    levels = list(SENIORITY_LEVELS)
    fig.add_trace(go.Bar(x=levels, y=[org.seniority[lv].share for lv in levels], marker_color=PALETTE[:3], showlegend=False,
                         text=[f"{org.seniority[lv].share:.0%}" for lv in levels], textposition="auto"), row=1, col=1)
    for i, task in enumerate(tasks):
        fig.add_trace(go.Bar(x=levels, y=[org.seniority[lv].task_mix[task] for lv in levels], name=task.replace("_", " "),
                             marker_color=PALETTE[(i + 3) % len(PALETTE)], legendgroup="tasks"), row=1, col=2)
    for j, (name, tool) in enumerate(org.tools.items()):
        fig.add_trace(go.Bar(x=[t.replace("_", " ") for t in tasks], y=[tool.effects[t].time_saving - tool.effects[t].verification for t in tasks],
                             name=org.tool_title(name), marker_color=PALETTE[j % len(PALETTE)], legendgroup="tools"), row=1, col=3)
    # tasks stack within each level; tools stand side by side
    fig.for_each_trace(lambda t: t.update(offsetgroup="tasks" if t.legendgroup == "tasks" else t.name))
    fig.update_layout(barmode="relative")
    fig.update_yaxes(tickformat=".0%")
    _layout(fig, f"The organisation before: {org.size} engineers in teams of {org.team_size}", height=480, big=big)
    fig.update_xaxes(title_text=None)
    return fig
