"""The Compare page's form: fields named as the form labels them in every message, the organisation editor with each
task mix's running sum and "normalise", and what the form's Engineers and Weeks set over the files (shown, never
silent). Pure functions of the form's values, apart from ``org_editor``, which reads the app's uploads."""

from __future__ import annotations

import re
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from sim.errors import InputError, InputErrors, excerpt
from sim.model.params import Scenario

from . import controls
from .context import current
from .inputs import UPLOAD_PREFIX, CompareRequest, gate, org_scenario

#: The form's labels, for messages that name a field (an InputError's source -> the label).
FORM_LABELS = {"engineers": "Engineers", "weeks": "Weeks", "replicates": "Replicates", "seed": "Seed", "policies": "Policies",
               "organisation": "Organisation", "reference policy": "Compared against", "week": "At week", "parameters": "Organisation editor"}

def editor_label(path: str) -> str:
    """A parameter as the organisation editor labels it: 'Organisation editor › seniority: junior: task mix'."""
    if path == "organisation.size":
        return "Engineers"
    if path == "weeks":
        return "Weeks"
    head, _, last = path.partition(".")
    if head != "organisation":
        return controls.label_of(path)
    return "Organisation editor › " + last.replace("_", " ").replace(".", ": ")


def plain_message(e: InputError) -> str:
    """An error of the form in the user's language: each problem named by the field's label in the form (never a
    parameter path, a server path or the command line's ``--set`` syntax), what is wrong and what is allowed."""
    lines = []
    for x in (e.errors if isinstance(e, InputErrors) else [e]):
        if x.field:
            where = editor_label(x.field)
        else:
            source = str(x.source or "")
            where = FORM_LABELS.get(source, re.sub(r" with --set .*$", " with the organisation editor's values", source))
        detail = x.detail + (" — press “normalise” beside its sum" if "sum to 1" in x.detail and "task" in x.detail else "")
        value = f" {excerpt(x.value)}" if x.value is not None else ""  # bounded, whatever its size or shape
        allowed = f" (allowed: {re.sub(r' [(][^()]*[)]$', '', x.allowed)})" if x.allowed else ""
        text = f"{where}:{value} {detail}{allowed}" if where else f"{value.strip()} {detail}{allowed}".strip()
        lines.append(re.sub(r"(?:/[\w.-]+)+/([\w.-]+)", r"\1", text))  # a server path, if any, down to the file's name
    return "\n".join(lines)


# -- the organisation editor --------------------------------------------------


def _mix_footer(group: str) -> html.Div:
    """Over a task mix: its running sum and a button that scales the shares to sum to 1."""
    return html.Div([
        html.Span(id={"type": "mix-sum", "group": group}, className="mix-sum small"),
        dbc.Button("normalise", id={"type": "mix-norm", "group": group}, size="sm", color="link", className="p-0 ms-2 small"),
    ], className="mix-footer mb-1")


def org_editor(org: str, files: list[dict], sets: dict[str, Any]) -> Any:
    """The organisation editor: every organisation parameter of the chosen profile, generated from the declarations; each
    task mix with its running sum and "normalise"."""
    ctx = current()
    try:
        sc = org_scenario(org, files, ctx.uploads)
    except InputError as e:
        return dbc.Alert(plain_message(e), color="warning")
    values = {p: v for p, v in sets.items() if p.startswith("organisation.")}
    acc = controls.accordion(controls.org_rows(sc), "org-param", sc, values, compact=True, open_first=False, id="cmp-org-accordion")
    for item in acc.children:
        if str(item.item_id).endswith(".task_mix"):
            item.children = [_mix_footer(item.item_id)] + list(item.children)  # the sum first, in view while the shares scroll
    return acc


def mix_sums(ids: list[dict], values: list[Any], groups: list[str]) -> list[float]:
    """The sum of each task mix's shares as the form holds them (a blank box counts as 0)."""
    out = []
    for g in groups:
        out.append(sum(float(v) for cid, v in zip(ids, values) if cid["path"].startswith(g + ".") and isinstance(v, (int, float))
                       and not isinstance(v, bool)))
    return out


def normalised(ids: list[dict], values: list[Any], group: str) -> list[Any]:
    """The form's values with one task mix's shares scaled to sum to 1 (4 decimals; the largest share takes the rounding)."""
    idx = [i for i, cid in enumerate(ids) if cid["path"].startswith(group + ".")]
    shares = [float(values[i]) if isinstance(values[i], (int, float)) and not isinstance(values[i], bool) else 0.0 for i in idx]
    total = sum(shares)
    out = list(values)
    if total <= 0:
        return out
    new = [round(s / total, 4) for s in shares]
    big = max(range(len(new)), key=lambda k: new[k])
    new[big] = round(new[big] + 1.0 - sum(new), 4)
    for i, v in zip(idx, new):
        out[i] = v
    return out


# -- what the form sets over the files ---------------------------------------


def _says(groups: dict[int, list[str]]) -> str:
    """'my.yaml says 26; the built-in scenarios say 52' from value -> the files that give it."""
    parts = []
    for value, sources in sorted(groups.items()):
        plural = len(sources) > 1 or sources[0].startswith("the built-in scenarios") or sources[0].startswith("the scenario files")
        parts.append(f"{' and '.join(sources)} {'say' if plural else 'says'} {value:,}")
    return "; ".join(parts)


def _sources(req: CompareRequest, own: list[Scenario], value, what: str) -> dict[int, list[str]]:
    """The files that give each value of ``what`` (a function of a scenario) other than the form's ``value``."""
    names = {f"{UPLOAD_PREFIX}{f.get('id')}": f.get("filename", "") for f in req.files}
    groups: dict[int, list[str]] = {}
    for ref, spec in zip(req.policies, own):
        v = what(spec)
        if v == value:
            continue
        src = names.get(ref) or "the built-in scenarios"
        if src not in groups.setdefault(v, []):
            groups[v].append(src)
    return groups


def own_specs(req: CompareRequest) -> list[Scenario]:
    """The compared scenarios as their files give them: the organisation and its edits, but not the form's Engineers and Weeks."""
    return [gate(ref, req.files, org=req.org, sets=req.sets or None) for ref in req.policies]


def form_overrides(req: CompareRequest, own: list[Scenario] | None = None) -> list[str]:
    """What the form's Engineers and Weeks set over the files, as the page shows it: 'Engineers: 200 (the file org.yaml
    says 120)'. ``own``: ``own_specs(req)`` when already at hand."""
    notes: list[str] = []
    try:
        own = own if own is not None else own_specs(req)
    except InputError:
        return notes
    sizes = {s.organisation.size for s in own} - {req.engineers}
    if sizes:
        if req.org.startswith(UPLOAD_PREFIX):
            f = next((f for f in req.files if UPLOAD_PREFIX + f.get("id", "") == req.org), {})
            said = f"the file {f.get('filename', '')} says {', '.join(f'{v:,}' for v in sorted(sizes))}"
        elif req.org:
            said = f"the profile '{req.org}' says {', '.join(f'{v:,}' for v in sorted(sizes))}"
        else:
            said = _says({v: [x.replace("the built-in scenarios", "the scenario files") for x in src]
                          for v, src in _sources(req, own, req.engineers, lambda s: s.organisation.size).items()})
        notes.append(f"Engineers: {req.engineers:,} ({said})")
    weeks = _sources(req, own, req.weeks, lambda s: s.weeks)
    if weeks:
        notes.append(f"Weeks: {req.weeks} ({_says(weeks)})")
    return notes


def with_size_note(spec: Scenario, file_size: int) -> Scenario:
    """The scenario as run with a description that agrees with its size: a number of engineers the file's description
    gives is replaced by the size run, and a note says what the file said."""
    size = spec.organisation.size
    if size == file_size:
        return spec
    text = re.sub(rf"(?<![\d,.]){file_size:,}(?![\d,.])(?=\s+engineers)|(?<![\d,.]){file_size}(?![\d,.])(?=\s+engineers)", f"{size}",
                  spec.organisation.description or "")
    text = (text.rstrip(". ") + ". " if text.strip() else "") + f"Run with {size} engineers (the organisation file says {file_size})."
    return spec.model_copy(update={"organisation": spec.organisation.model_copy(update={"description": text})})
