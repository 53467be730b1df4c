"""The parameter and metric reference (docs/PARAMETERS.md), rendered from the declarations.

Every row comes from sim/model/params.py (through ``parameter_paths``:
default, unit, bounds, description and the declared evidence) and every
metric and tally from sim/model/metrics.py, so the reference cannot drift
from the code. Regenerate it with::

    python -m sim.analysis.paramdocs > docs/PARAMETERS.md
"""

from __future__ import annotations

import sys
from typing import Any, Iterable

from pydantic import BaseModel

from sim.model import rules
from sim.model.metrics import METRICS, TALLIES, Metric
from sim.model.params import Scenario, ToolEffect
from sim.model.scenarios import ParamRow, parameter_paths

#: The command that regenerates docs/PARAMETERS.md (quoted by the test when the file is stale).
REGENERATE = "python -m sim.analysis.paramdocs > docs/PARAMETERS.md"

#: Definitions the rules use that are fixed in code (units and ranges), not scenario parameters.
FIXED_CONSTANTS: tuple[tuple[str, Any, str, str], ...] = (
    ("sim.model.rules.WEEKS_PER_YEAR", rules.WEEKS_PER_YEAR, "weeks per year", "Converts yearly rates and tenures to weeks."),
    ("sim.model.rules.WORKDAYS_PER_WEEK", rules.WORKDAYS_PER_WEEK, "days per week", "Converts weekly task hours to hours per working day (cycle time)."),
    ("sim.model.rules.BELIEF_MIN", rules.BELIEF_MIN, "share of task time", "Lowest believed time saving of a new engineer's prior (twice as slow)."),
    ("sim.model.rules.BELIEF_MAX", rules.BELIEF_MAX, "share of task time", "Highest believed time saving of a new engineer's prior (as a tool's true saving)."),
)


def _cell(text: Any) -> str:
    """Text safe inside one markdown table cell."""
    return str(text).replace("|", "\\|").replace("\n", " ").strip()


def _number(x: Any) -> str:
    """A default or bound as it would be written in a scenario file."""
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, int):
        return str(x)
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, list):
        return "[" + ", ".join(str(v) for v in x) + "]"
    return str(x)


def _bounds(row: ParamRow) -> str:
    """Allowed range of one parameter, in words."""
    if row.kind == "bool":
        return "true or false"
    if row.min is not None and row.max is not None:
        return f"{_number(row.min)} to {_number(row.max)}"
    if row.kind in ("list", "text"):
        return "see description"
    return ""


def _model_at(path: str, root: BaseModel) -> BaseModel | None:
    """The declared section (a pydantic model instance) at a dotted path of the default scenario; mappings give their first entry."""
    obj: Any = root
    for part in path.split(".") if path else []:
        obj = getattr(obj, part, None)
        if isinstance(obj, dict):
            obj = next(iter(obj.values()), None)
        if obj is None:
            return None
    return obj if isinstance(obj, BaseModel) else None


def _intro(model: BaseModel | None, extra: str = "") -> str:
    """The one-line docstring of a declared section, plus an optional note."""
    doc = (type(model).__doc__ or "").strip().splitlines()[0] if model is not None else ""
    return " ".join(x for x in (doc, extra) if x)


def sections(scenario: Scenario | None = None) -> list[tuple[str, str, str, list[ParamRow]]]:
    """Parameter rows grouped by section: (path prefix, title, intro, rows), in declaration order."""
    sc = scenario or Scenario()
    org = sc.organisation
    defs: list[tuple[str, str, str]] = [
        ("weeks", "Horizon", "How many weeks one run simulates (one step is one working week)."),
        ("organisation", "Organisation", _intro(org)),
        ("organisation.seniority", "Organisation: seniority levels", _intro(_model_at("organisation.seniority", sc), "Paths name the level: `junior`, `mid`, `senior`.")),
        ("organisation.task_types", "Organisation: task types", _intro(_model_at("organisation.task_types", sc), f"Paths name the task type; the default organisation has {', '.join(f'`{k}`' for k in org.task_types)}.")),
        ("organisation.tools", "Organisation: AI tools", _intro(_model_at("organisation.tools", sc), f"Paths name the tool; the default organisation has {', '.join(f'`{k}`' for k in org.tools)}. "
                                                                 f"`title` (text): what charts, sentences and the app call the tool ({', '.join(f'`{k}`: {org.tool_title(k)}' for k in org.tools)}). "
                                                                 f"`effects.<task type>`: {_intro(ToolEffect())}")),
        ("policy", "Policy levers", _intro(sc.policy)),
        ("policy.outcome_goals", "Policy: outcome goals", _intro(sc.policy.outcome_goals)),
        ("policy.pilot", "Policy: pilot and measure", _intro(sc.policy.pilot)),
    ]
    for group in type(sc.behaviour).model_fields:
        defs.append((f"behaviour.{group}", f"Behaviour: {group}", _intro(getattr(sc.behaviour, group))))
    prefixes = [d[0] for d in defs]
    grouped: dict[str, list[ParamRow]] = {p: [] for p in prefixes}
    for row in parameter_paths(sc):
        matches = [p for p in prefixes if row.path == p or row.path.startswith(p + ".")]
        key = max(matches, key=len) if matches else row.path.split(".")[0]
        grouped.setdefault(key, []).append(row)
    out = [(p, title, intro, grouped[p]) for p, title, intro in defs if grouped[p]]
    # Anything under a section not listed above still gets a table (a new top-level section).
    out += [(p, p, "", rows) for p, rows in grouped.items() if p not in prefixes and rows]
    return out


def param_table(rows: Iterable[ParamRow]) -> str:
    """One markdown table of parameters: path, default, unit, bounds, description, evidence."""
    lines = ["| path | default | unit | bounds | description | evidence |", "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            "| " + " | ".join(
                [f"`{r.path}`", _cell(_number(r.value)), _cell(r.unit), _cell(_bounds(r)), _cell(r.description), _cell(r.source or "—")]
            ) + " |"
        )
    return "\n".join(lines)


def _breakdowns(m: Metric) -> str:
    """The groups a metric is recorded for."""
    parts = ["all"]
    if m.by_seniority:
        parts.append("seniority")
    if m.by_task:
        parts.append("task type")
    return ", ".join(parts)


def _computed(m: Metric) -> str:
    """How a metric is computed from the weekly tallies."""
    if m.derived:
        return "from the paired no-AI run"
    out = f"`{m.numerator}` / `{m.denominator}`"
    if m.breakdowns and not m.group_denominator:
        out += " (the organisation's, for breakdowns too)"
    return out


def metric_table(metrics: Iterable[Metric] | None = None) -> str:
    """One markdown table of metric definitions: id, label with unit as shown, unit, category, breakdowns, computation, description."""
    ms = list(METRICS.values()) if metrics is None else list(metrics)
    lines = ["| metric | shown as | unit | category | breakdowns | computed as | description |", "|---|---|---|---|---|---|---|"]
    for m in ms:
        desc = m.description + (" Derived by the runner from the paired no-AI counterfactual." if m.derived else "")
        lines.append("| " + " | ".join([f"`{m.name}`", _cell(m.title), _cell(m.unit), _cell(m.category), _cell(_breakdowns(m)), _computed(m),
                                         _cell(desc)]) + " |")
    return "\n".join(lines)


def tally_table() -> str:
    """One markdown table of the weekly tallies every metric is a ratio of."""
    over = {"engineer": "each engineer who worked", "engineer_task": "each engineer and task type", "organisation": "the organisation"}
    lines = ["| tally | summed over | breakdowns | what |", "|---|---|---|---|"]
    for t in TALLIES:
        groups = ", ".join(["all"] + (["seniority"] if t.by_seniority else []) + (["task type"] if t.by_task else []))
        lines.append(f"| Σ `{t.name}` | {over[t.over]} | {groups} | {_cell(t.description)} |")
    return "\n".join(lines)


def constants_table() -> str:
    """One markdown table of the fixed constants the rules and levers use."""
    lines = ["| name | value | unit | what |", "|---|---|---|---|"]
    for name, value, unit, what in FIXED_CONSTANTS:
        lines.append(f"| `{name}` | {_number(value)} | {_cell(unit)} | {_cell(what)} |")
    return "\n".join(lines)


def render(scenario: Scenario | None = None) -> str:
    """The whole parameter and metric reference as markdown (docs/PARAMETERS.md)."""
    secs = sections(scenario)
    n_params = sum(len(rows) for *_, rows in secs)
    out = [
        "# Parameters and metrics",
        "",
        f"<!-- Generated from sim/model/params.py and sim/model/metrics.py by `{REGENERATE}`. Do not edit by hand. -->",
        "",
        f"Every parameter of mandate-sim ({n_params} paths in the default scenario), with its default, unit, allowed range,",
        "description and the evidence declared for its default, generated from the declarations in `sim/model/params.py`.",
        "A dash in the evidence column means the default is a modelling judgement (docs/MODEL.md, part 7, explains",
        "each mechanism and why) or, for the organisation and policy sections, an illustrative input you are expected to set.",
        "",
        "Set any of them in a scenario file (`policy: {usage_target: 0.8}`), in an organisation profile (`--org`, the",
        "`organisation` section), or on the command line with `--set PATH=VALUE`; `mandate-sim params` lists them with a",
        "scenario's values. The equations that use each parameter are in [MODEL.md](MODEL.md).",
        "",
        "## Contents",
        "",
    ]
    for _, title, _, rows in secs:
        out.append(f"- [{title}](#{_anchor(title)}) ({len(rows)})")
    out += ["- [Fixed constants](#fixed-constants)", "- [Metrics](#metrics)", ""]
    for _, title, intro, rows in secs:
        out += [f"## {title}", ""]
        if intro:
            out += [intro, ""]
        out += [param_table(rows), ""]
    out += [
        "## Fixed constants",
        "",
        "Definitions fixed in code rather than declared as parameters.",
        "",
        constants_table(),
        "",
        "## Metrics",
        "",
        "Recorded every week for each replicate (`sim.METRICS`). The tidy results table has the columns",
        "`scenario, replicate, week, metric, group, value`; `group` is `all`, `seniority=<level>` or `task=<task type>`",
        "for the breakdowns listed. How each is computed: docs/MODEL.md, 'Outputs'.",
        "",
        metric_table(),
        "",
        "### Tallies",
        "",
        "Each metric is a ratio of two weekly tallies (sums), for the organisation and for each breakdown group, declared in",
        "`sim/model/metrics.py` (`TALLIES`); the engineer tallies are summed in one pass over engineers.",
        "",
        tally_table(),
        "",
    ]
    return "\n".join(out)


def _anchor(title: str) -> str:
    """The GitHub-style anchor of a heading."""
    keep = "".join(ch for ch in title.lower() if ch.isalnum() or ch in " -_")
    return keep.replace(" ", "-")


def main() -> None:
    """Print the reference to standard output (UTF-8 whatever the locale)."""
    text = render()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(text)
    else:
        sys.stdout.flush()
        buffer.write(text.encode("utf-8"))
        buffer.flush()


if __name__ == "__main__":
    main()
