"""Controls generated from the parameter declarations (sim/params.py): never a hand-written list of sliders.

Each row of ``sim.parameter_paths()`` (path, value, unit, bounds, description)
becomes one control: a slider for a bounded number, a switch for a flag, a
multi-select for a list of names, a number box for a whole number with a wide
range. Units go in the label and the description in a tooltip. Pattern-matching
ids ``{"type": <kind>, "path": <parameter path>}`` let one callback read them all.
"""

from __future__ import annotations

import math
import re
import typing
from typing import Any, Iterable, Sequence

import dash_bootstrap_components as dbc
from dash import dcc, html

from sim.model.params import Scenario
from sim.model.scenarios import ParamRow, field_at, parameter_paths

#: Above this ratio of max to min a whole number gets a number box instead of a slider.
WIDE_RANGE = 1000

#: Organisation paths the what-if lab shows (the "main" organisation parameters); every policy lever is shown.
LAB_ORG_PATTERNS = (
    r"organisation\.team_size",
    r"organisation\.seniority\.[^.]+\.share",
    r"organisation\.seniority\.[^.]+\.skill_mean",
    r"organisation\.vetted_risk",
)


def label_of(path: str) -> str:
    """A readable label from a parameter path ('policy.outcome_goals.min_gain' -> 'outcome goals: min gain')."""
    parts = path.split(".")[1:] or parts_of(path)
    head, last = parts[:-1], parts[-1]
    text = last.replace("_", " ")
    return (" ".join(p.replace("_", " ") for p in head) + ": " + text) if head else text


def parts_of(path: str) -> list[str]:
    return path.split(".")


def dom_id(kind: str, path: str) -> str:
    """A DOM-safe id for tooltips and tests ('lab-policy-usage_target')."""
    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "-", path)


def allows_all(path: str) -> bool:
    """Whether the declared field also takes the literal 'all' (a list of names or 'all')."""
    info = field_at(path)
    if info is None:
        return False
    for arg in typing.get_args(info.annotation):
        if typing.get_origin(arg) is typing.Literal and "all" in typing.get_args(arg):
            return True
    return False


def is_name_list(path: str) -> bool:
    """Whether the declared field is a list of names (tools, task types)."""
    info = field_at(path)
    if info is None:
        return False
    return any(typing.get_origin(a) is list for a in (info.annotation, *typing.get_args(info.annotation)))


def name_options(path: str, scenario: Scenario) -> list[str]:
    """The names a list field may hold: tools for tool lists, task types for task lists."""
    last = path.split(".")[-1]
    if "tool" in last:
        return list(scenario.organisation.tools)
    if "task" in last:
        return list(scenario.organisation.task_types)
    return []


def step_of(row: ParamRow) -> float:
    """Slider step: 1 for whole numbers, else about a hundredth of the range, rounded to a readable value."""
    if row.kind == "integer":
        return 1
    span = (row.max or 1.0) - (row.min or 0.0)
    raw = span / 100.0
    exp = math.floor(math.log10(raw)) if raw > 0 else -2
    return round(10 ** exp, 10)


def lab_rows(scenario: Scenario) -> list[ParamRow]:
    """Rows the what-if lab shows: every policy lever and the main organisation parameters."""
    rows = []
    for r in parameter_paths(scenario):
        if r.path.startswith("policy.") or any(re.fullmatch(p, r.path) for p in LAB_ORG_PATTERNS):
            rows.append(r)
    return rows


def org_rows(scenario: Scenario) -> list[ParamRow]:
    """Rows of the organisation editor: every organisation parameter except the size (a control of its own)."""
    return [r for r in parameter_paths(scenario) if r.path.startswith("organisation.") and r.path != "organisation.size"]


def _with_tooltip(label: Any, target: str, row: ParamRow) -> list:
    tip = row.description + (f" Unit: {row.unit}." if row.unit else "")
    if row.min is not None and row.max is not None:
        tip += f" Range {row.min:g} to {row.max:g}."
    return [html.Span(label, id=target, className="param-label", title=tip), dbc.Tooltip(tip, target=target, placement="right")]


def control(row: ParamRow, kind: str, scenario: Scenario, value: Any = None, *, compact: bool = False) -> html.Div:
    """One labelled control for a declared parameter; ``kind`` is the pattern-matching id type."""
    value = row.value if value is None else value
    path = row.path
    cid = {"type": kind, "path": path}
    target = dom_id(kind, path)
    unit = f" ({row.unit})" if row.unit else ""
    label = label_of(path) + unit
    if is_name_list(path) or allows_all(path):
        names = name_options(path, scenario)
        title = scenario.organisation.tool_title if "tool" in path.split(".")[-1] else (lambda n: n.replace("_", " "))
        options = ([{"label": "all", "value": "all"}] if allows_all(path) else []) + [{"label": title(n), "value": n} for n in names]
        current = ["all"] if value == "all" else list(value)
        widget = dcc.Dropdown(id=cid, options=options, value=current, multi=True, clearable=True, className="param-dropdown")
    elif row.kind == "bool":
        widget = dbc.Switch(id=cid, value=bool(value), label="on", className="param-switch")
    elif row.kind == "integer" and row.min is not None and row.max is not None and (row.max - max(row.min, 1)) / max(row.min, 1) > WIDE_RANGE:
        widget = dbc.Input(id=cid, type="number", min=row.min, max=row.max, step=1, value=value, size="sm", debounce=True)
    elif row.kind in ("number", "integer") and row.min is not None and row.max is not None:
        if compact:
            widget = dbc.Input(id=cid, type="number", min=row.min, max=row.max, step="any", value=value, size="sm", debounce=True)
        else:
            step = step_of(row)
            widget = dcc.Slider(
                id=cid, min=row.min, max=row.max, step=step, value=value,
                marks={row.min: f"{row.min:g}", row.max: f"{row.max:g}"},
                tooltip={"placement": "bottom", "always_visible": False}, updatemode="mouseup", className="param-slider",
            )
    else:
        widget = dbc.Input(id=cid, type="text", value=str(value), size="sm", debounce=True)
    return html.Div([html.Div(_with_tooltip(label, target, row), className="small fw-semibold"), widget], className="param-control mb-2", **{"data-path": path})


def grouped(rows: Sequence[ParamRow], depth: int | None = None) -> dict[str, list[ParamRow]]:
    """Rows grouped by the first ``depth`` parts of their path, or by their parent path when ``depth`` is None (for accordions)."""
    out: dict[str, list[ParamRow]] = {}
    for r in rows:
        parts = r.path.split(".")
        key = ".".join(parts[:depth] if depth else parts[:-1])
        out.setdefault(key, []).append(r)
    return out


def accordion(rows: Sequence[ParamRow], kind: str, scenario: Scenario, values: dict[str, Any] | None = None, *, depth: int | None = None,
              compact: bool = False, open_first: bool = True, id: str | None = None) -> dbc.Accordion:
    """Controls for ``rows`` in an accordion, one item per group of paths."""
    values = values or {}
    items = []
    for key, group in grouped(rows, depth).items():
        title = key.split(".", 1)[-1].replace("_", " ").replace(".", ": ") if "." in key else f"{key} levers" if key == "policy" else key
        items.append(dbc.AccordionItem([control(r, kind, scenario, values.get(r.path), compact=compact) for r in group], title=title, item_id=key))
    kw = {"id": id} if id else {}
    if open_first and items:
        kw["active_item"] = [items[0].item_id]
    return dbc.Accordion(items, start_collapsed=not open_first, always_open=True, flush=True, **kw)


def coerce(path: str, value: Any) -> Any:
    """A control's value as the parameter takes it ('all' or a list for name lists, int for whole numbers)."""
    if is_name_list(path) or allows_all(path):
        vals = list(value or [])
        return "all" if "all" in vals and allows_all(path) else vals
    info = field_at(path)
    if info is not None and info.annotation is int and isinstance(value, float) and value.is_integer():
        return int(value)  # a slider's 6.0; anything else (true, "5", 2.5) goes to validation as it is, and is refused there
    return value


def changed(ids: Iterable[dict], values: Iterable[Any], scenario: Scenario) -> dict[str, Any]:
    """Overrides (path -> value) for controls whose value differs from the scenario's own."""
    base = {r.path: r.value for r in parameter_paths(scenario)}
    out: dict[str, Any] = {}
    for cid, v in zip(ids, values):
        path = cid["path"]
        v = coerce(path, v)
        b = base.get(path)
        if v is None:
            continue
        if isinstance(b, (int, float)) and not isinstance(b, bool) and isinstance(v, (int, float)) and not isinstance(v, bool):
            if abs(float(v) - float(b)) <= 1e-12:
                continue
        elif v == b:
            continue
        out[path] = v
    return out
