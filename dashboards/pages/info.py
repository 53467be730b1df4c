"""Info: the model in plain language, as NetLogo's Info tab has it: what it is, how it works, things to notice, things
to try, with links into the app's views.

"How it works" is read from the model itself: the weekly story from the docstrings of ``EngineeringOrg.PHASES`` (in
their order) and one paragraph per mechanism from the channel declarations (sim/model/channels.py, the list the
explanations use); the policies and organisation profiles are listed from the built-in scenarios. The links are built
by the pages' own query encoders, so each opens a view that is set up as described.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from sim.model.channels import CHANNELS
from sim.model.scenarios import builtin_orgs, builtin_scenarios, scenario_summary

from ..inputs import CompareRequest
from ..state import compare_query, lab_query, query


def phases() -> list[tuple[str, str]]:
    """The weekly story: (phase name, its sentence), in the order the model runs them."""
    return list(_phases())


@functools.cache
def _phases() -> tuple[tuple[str, str], ...]:
    """``EngineeringOrg.PHASES`` and each phase's docstring, read from the model's source: importing the class would load
    Mesa into the web server (about 1.1 s on this page's first view in each server worker)."""
    source = Path(importlib.util.find_spec("sim.model.org").origin).read_text(encoding="utf-8")
    cls = next(n for n in ast.parse(source).body if isinstance(n, ast.ClassDef) and n.name == "EngineeringOrg")
    names = next(ast.literal_eval(a.value) for a in cls.body
                 if isinstance(a, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "PHASES" for t in a.targets))
    docs = {f.name: ast.get_docstring(f) or "" for f in cls.body if isinstance(f, ast.FunctionDef)}
    return tuple((name, re.sub(r"^\d+[a-z]?\.\s*", "", " ".join(docs[name].split()))) for name in names)


def mechanisms() -> list[tuple[str, str]]:
    """One paragraph per mechanism: (its name as figures call it, what it does), without how an explanation holds it."""
    out = []
    for ch in CHANNELS.values():
        text = re.split(r";\s*held:", ch.description)[0].rstrip(".") + "."
        out.append((ch.label[0].upper() + ch.label[1:], text))
    return out


def _lab_link(base: str, sets: dict[str, Any]) -> str:
    return "/lab" + lab_query({"base": base, "org": "", "n": 200, "w": 52, "r": 5, "seed": 0, "sets": sets, "pin": {"base": base, "sets": {}}})


def things_to_try() -> list[tuple[str, str, str]]:
    """(what to do, what to look at, the link that sets it up)."""
    strategist = CompareRequest(["mandate_single_tool", "free_choice", "outcome_goals"], "default", 200, 52, 10, 0)
    junior = CompareRequest(["mandate_single_tool", "free_choice"], "junior_boilerplate", 200, 52, 10, 0)
    return [
        ("Compare a usage mandate with free choice and outcome goals.",
         "Look at the measurement gap: what telemetry and self-reports say against the true gain.", "/compare" + compare_query(strategist)),
        ("Run the same mandate on an organisation of juniors doing mostly boilerplate.",
         "Where the tool fits the work, does the mandate still hurt?", "/compare" + compare_query(junior)),
        ("In the lab, give free choice 16 hours of training.",
         "Training costs hours first: the cumulative delivered work shows when, or whether, it pays back (its breakeven week).",
         _lab_link("free_choice", {"policy.training_hours": 16})),
        ("In the lab, make it safe to say \u201cthis doesn't help\u201d under the mandate.",
         "Raise feedback safety and watch honest reporting, trust in leadership and the gap.",
         _lab_link("mandate_single_tool", {"policy.feedback_safety": 0.8})),
        ("Tell the story to a class.", "The Classroom walks through the mechanisms one step at a time, week by week.", "/classroom"),
        ("Read the model.", "Every mechanism next to the parameters it uses, with their values for any policy.", "/model" + query([("scenario", "mandate_single_tool")])),
    ]


NOTICE = [
    "Usage is not benefit. Telemetry counts engineers who used a tool this week, including token uses made only to be counted; "
    "the true gain compares the same organisation, with the same random draws, against a run without AI.",
    "What leadership hears depends on how safe people feel. Where it is unsafe to disagree, self-reports lean towards what "
    "leadership wants to hear, and the measurement gap opens.",
    "Pressure buys usage with trust. Forced use and barred tools cost trust in leadership; low trust, fatigue and low morale "
    "raise departures, of the most skilled engineers most.",
    "Tools fit some work better than others. The same tool saves much of the time of boilerplate work and less on complex "
    "changes, where experts working in code they know well check and rework more of its output, so an organisation's task "
    "mix matters.",
    "Learning takes time. Proficiency follows a curve, so a gain can dip before it rises; training and pilots cost hours first.",
    "The bands are 90% ranges over replicates. Two policies whose bands overlap may still differ consistently: compare them "
    "with the same seeds (the app always does) and look at the paired differences.",
]


def _section(title: str, body: list, id_: str) -> html.Section:
    return html.Section([html.H3(title, className="h4 mt-4")] + body, id=id_)


def layout(**_query: Any) -> html.Div:
    """The Info page."""
    policies = [html.Li([html.Strong(scenario_summary(n)[0] or n), html.Span(f" ({n})", className="text-muted")]) for n in builtin_scenarios()]
    steps = [html.Li(text, **{"data-phase": name}) for name, text in phases()]
    mechs = [html.P([html.Strong(label + ". "), text], className="mechanism-text") for label, text in mechanisms()]
    tries = [html.Li([html.Strong(what + " "), look, " ", dcc.Link("Open it \u2192", href=href, className="info-link")]) for what, look, href in things_to_try()]
    return html.Div([
        html.H2("About mandate-sim", className="h3"),
        dbc.Nav([dbc.NavLink(t, href=f"#{i}", className="px-2 py-0") for t, i in (
            ("What it is", "info-what"), ("How it works", "info-how"), ("Things to notice", "info-notice"), ("Things to try", "info-try"))],
            className="mb-2 small info-nav"),
        _section("What it is", [
            html.P("mandate-sim is a simulation of an engineering organisation adopting AI coding assistants while its leadership "
                   "follows a policy. Each engineer is simulated individually, week by week: whether they use a tool, which one, on "
                   "which kind of work, what it really does to their work, what they believe it does, what they report, and whether "
                   "they stay. The results show, with their uncertainty, what a policy does to adoption, real productivity, quality, "
                   "trust, honest reporting, fatigue and attrition, and how far what leadership measures drifts from what is true."),
            html.P(["The policies it comes with:"]), html.Ul(policies, id="info-policies"),
            html.P([f"Organisation profiles: {', '.join(builtin_orgs())}; on Compare and in the lab you can also upload your own."]),
        ], "info-what"),
        _section("How it works", [
            html.P("Every simulated week runs the same story, in this order, for all engineers at once:"),
            html.Ol(steps, id="info-phases"),
            html.P("A policy changes outcomes only through mechanisms like these, never by setting a result; each one can be "
                   "switched off on its own, which is how the app explains why one policy did better than another:"),
            html.Div(mechs, id="info-mechanisms"),
            html.P(["The full description, with every rule and parameter, is on the ", dcc.Link("Model", href="/model"), " page."]),
        ], "info-how"),
        _section("Things to notice", [html.Ul([html.Li(t) for t in NOTICE])], "info-notice"),
        _section("Things to try", [html.Ul(tries, id="info-try-list")], "info-try"),
    ], className="info-page")
