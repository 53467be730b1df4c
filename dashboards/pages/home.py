"""Home: what the app is for and where each job starts."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from ..story import STEPS

CARDS = [
    ("Compare policies", "/compare", "Two to four policies side by side on one organisation, with 90% bands, an end-of-horizon table, "
     "plain-language takeaways and downloads."),
    ("What-if lab", "/lab", "Move any policy lever, the task mix or the organisation (built-in or uploaded) and follow the whole trajectory, and the breakeven week, against a pinned baseline; save the settings as a scenario file."),
    ("Classroom", "/classroom", f"A guided {len(STEPS)}-step story for a class on a projector, week by week: the class predicts before each "
     "reveal, watches the engineers one by one, and every sentence is computed from the run; keyboard navigation and a presentation mode."),
    ("Sweep explorer", "/sweeps", "Open a sweep folder or start a small one: outcome heatmaps over two parameters, parallel coordinates, "
     "sensitivity indices, or a scatter matrix and rank correlations for grid and Latin-hypercube designs."),
    ("How it works", "/info", "The model in plain language: one paragraph per mechanism, things to notice and things to try."),
    ("The model", "/model", "Each mechanism of the weekly story next to the parameters it uses (the ODD description)."),
]


def layout(**_query) -> html.Div:
    """The landing page."""
    cards = [
        dbc.Col(dbc.Card(dbc.CardBody([html.H4(title, className="card-title"), html.P(text), dbc.Button("Open", href=href, color="primary")])), md=4, className="mb-3")
        for title, href, text in CARDS
    ]
    return html.Div([
        html.H1("mandate-sim", className="h2"),
        html.P(
            "An agent-based simulation of an engineering organisation adopting AI coding assistants under management policies: "
            "usage mandates, role norms, free choice, outcome goals, pilot-and-measure. See, with uncertainty, what each policy does "
            "to adoption, real productivity, quality, trust, honest reporting, fatigue and attrition, and to the gap between what "
            "leadership measures and what is true.",
            className="lead",
        ),
        dbc.Row(cards),
    ])
