"""Model: docs/MODEL.md rendered, each mechanism (a ``### `` section) next to the parameters it uses, with a table of
contents. Square brackets that are not links ("[0, 1]") are escaped, so markdown does not read them as link references.

A mechanism section ends with a line ``Parameters: `path`, `path`, ...``; the
page shows those parameters' values (for the chosen scenario), units, bounds and
descriptions from the declarations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, dcc, html

from sim.errors import InputError
from sim.model.params import Scenario
from sim.model.scenarios import builtin_scenarios, parameter_paths

from ..context import current, share_box
from ..inputs import gate
from ..state import query

PARAM_LINE = re.compile(r"^Parameters:\s*(.*)$")
BACKTICKED = re.compile(r"`([^`]+)`")


@dataclass
class Section:
    """A part of the document: a heading, its text, and (for a mechanism) the parameter paths it uses."""

    heading: str
    level: int
    body: str
    parameters: list[str] = field(default_factory=list)

    @property
    def is_mechanism(self) -> bool:
        return self.level == 3


def parse_model(text: str) -> list[Section]:
    """Split the document at its headings; take each mechanism's ``Parameters:`` line out of its text."""
    sections: list[Section] = []
    heading, level, lines = "", 0, []

    def close() -> None:
        params: list[str] = []
        body = []
        for line in lines:
            m = PARAM_LINE.match(line.strip())
            if m and level == 3:
                params += BACKTICKED.findall(m.group(1))
            else:
                body.append(line)
        if heading or any(x.strip() for x in body):
            sections.append(Section(heading, level, "\n".join(body).strip("\n"), params))

    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        m = re.match(r"^(#{1,3}) (.*)$", line) if not in_code else None
        if m:
            close()
            heading, level, lines = m.group(2).strip(), len(m.group(1)), []
        else:
            lines.append(line)
    close()
    return sections


def model_doc_path() -> Path | None:
    """docs/MODEL.md of this checkout, or the copy an installed package carries."""
    candidates = [current().model_doc, Path(__file__).resolve().parents[2] / "sim" / "_docs" / "MODEL.md"]
    try:
        import sim

        candidates.append(Path(sim.__file__).resolve().parent / "_docs" / "MODEL.md")
    except Exception:  # pragma: no cover
        pass
    for p in candidates:
        if p is not None and Path(p).is_file():
            return Path(p)
    return None


def parameter_rows(paths: list[str], scenario: Scenario) -> list[dict]:
    """Rows of value, unit, bounds and description for the named paths (a path naming a group lists its members)."""
    rows = {r.path: r for r in parameter_paths(scenario)}
    out = []
    for p in paths:
        if p in rows:
            out.append(rows[p])
        else:
            out += [r for k, r in rows.items() if k.startswith(p + ".")]
    return [{"path": r.path, "value": _show(r.value), "unit": r.unit, "range": _range(r.min, r.max), "description": r.description} for r in out]


def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, list):
        return ", ".join(map(str, v)) or "none"
    return str(v)


def _range(lo: Any, hi: Any) -> str:
    return "" if lo is None or hi is None else f"{lo:g} to {hi:g}"


def _table(rows: list[dict]) -> Any:
    if not rows:
        return html.Div()
    head = html.Thead(html.Tr([html.Th("parameter"), html.Th("value"), html.Th("unit"), html.Th("range")]))
    body = html.Tbody([
        html.Tr([html.Td(html.Code(r["path"]), title=r["description"]), html.Td(r["value"]), html.Td(r["unit"]), html.Td(r["range"])], title=r["description"])
        for r in rows
    ])
    return dbc.Table([head, body], size="sm", bordered=False, hover=True, className="param-table small")


def _local_links(body: str) -> str:
    """Links to the other docs files (not served by the app) become plain text naming the file."""
    return re.sub(r"\[([^\]]+)\]\(([A-Za-z0-9_./-]+\.md)(#[^)]*)?\)", lambda m: f"{m.group(1)} (docs/{m.group(2).split('/')[-1]})", body)


#: Text in square brackets that is not a link ("[0, 1]", "[a, b]"): markdown would read it as a link reference.
BRACKETED = re.compile(r"(?<![\]!\\])\[([^\[\]\n]*)\](?![(\[:])")
INLINE_CODE = re.compile(r"(`+)(?:.+?)\1", re.S)


def escape_brackets(body: str) -> str:
    """Square brackets that are not part of a link escaped, outside code blocks and code spans (which show text as it is)."""
    out, in_code = [], False
    for line in body.split("\n"):
        if line.lstrip().startswith("```"):
            in_code = not in_code
        if in_code or line.lstrip().startswith("```") or line.startswith("    "):
            out.append(line)
            continue
        parts, last = [], 0
        for m in INLINE_CODE.finditer(line):
            parts.append(BRACKETED.sub(r"\\[\1\\]", line[last:m.start()]))
            parts.append(m.group(0))
            last = m.end()
        parts.append(BRACKETED.sub(r"\\[\1\\]", line[last:]))
        out.append("".join(parts))
    return "\n".join(out)


def anchor(heading: str) -> str:
    """The id of a heading on the page (the table of contents links to it)."""
    return "m-" + re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def contents(sections: list[Section]) -> html.Nav:
    """A table of contents of the document's parts (level 2) and mechanisms (level 3), linking to their headings."""
    items = [html.Li(html.A(s.heading, href="#" + anchor(s.heading)), className=f"toc-level-{s.level}") for s in sections if s.level in (2, 3) and s.heading]
    return html.Nav([html.Div("Contents", className="small fw-semibold mb-1"), html.Ul(items, className="list-unstyled small mb-0")],
                    id="model-toc", className="model-toc")


def render_sections(sections: list[Section], scenario: Scenario) -> list:
    """The document as rows: text on the left, the mechanism's parameters on the right."""
    out = []
    for s in sections:
        tag = {1: html.H2, 2: html.H3, 3: html.H4}.get(s.level)
        head = [tag(s.heading, id=anchor(s.heading))] if tag else []
        text = dcc.Markdown(escape_brackets(_local_links(s.body)), link_target="_blank", className="model-text")
        if s.is_mechanism:
            rows = parameter_rows(s.parameters, scenario)
            out.append(dbc.Row([
                dbc.Col(head + [text], lg=7),
                dbc.Col([html.Div("Parameters this mechanism uses", className="small fw-semibold"), _table(rows)], lg=5, className="mechanism-params"),
            ], className="mechanism border-top pt-3 mb-3"))
        else:
            out.append(html.Div(head + [text], className="mb-3"))
    return out


def layout(scenario: Any = None, **_: Any) -> html.Div:
    """The model page; parameter values of the scenario the link names (declared defaults otherwise)."""
    name = scenario if scenario in builtin_scenarios() else ""
    options = [{"label": "declared defaults", "value": ""}] + [{"label": n, "value": n} for n in builtin_scenarios()]
    return html.Div([
        dbc.Row([
            dbc.Col(html.P("The weekly story, mechanism by mechanism, with the parameters each one uses. Hover a parameter for its description.",
                           className="lead mb-0"), md=8),
            dbc.Col([dbc.Label("Values of", className="small fw-semibold mb-0"), dcc.Dropdown(id="model-scenario", options=options, value=name, clearable=False)], md=4),
        ], className="mb-3 align-items-end"),
        dbc.Row([
            dbc.Col(_toc(), lg=3, xl=2, className="d-none d-lg-block model-toc-col"),
            dbc.Col([html.Div(id="model-doc", children=_doc(name)), html.Div(share_box("model"), style={"maxWidth": "40rem"})], lg=9, xl=10),
        ]),
    ])


def _sections() -> list[Section] | None:
    path = model_doc_path()
    return None if path is None else parse_model(path.read_text(encoding="utf-8"))


def _toc() -> Any:
    sections = _sections()
    return contents(sections) if sections else html.Div()


def _doc(name: str) -> list:
    sections = _sections()
    if sections is None:
        return [dbc.Alert("docs/MODEL.md is not there yet.", color="warning")]
    try:
        sc = gate(name, label="scenario") if name else Scenario()
    except InputError as e:
        return [dbc.Alert(str(e), color="danger")]
    return render_sections(sections, sc)


def register_callbacks(app: Dash) -> None:
    """The model page's callbacks."""

    @app.callback(Output("model-doc", "children"), Output({"type": "url-state", "page": "model"}, "data"), Input("model-scenario", "value"),
                  prevent_initial_call=True)
    def values_of(name):
        return _doc(name or ""), query([("scenario", name)] if name else [])
