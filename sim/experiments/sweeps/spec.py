"""The sweep spec: its schema (pydantic), reading it, and the clear errors for every way it can be wrong.

``SweepSpec`` is the spec as written (YAML or a mapping; see docs/SWEEPS.md). ``read_spec`` reads it,
``spec_errors`` turns pydantic's errors into InputErrors that name the file, the field, the value and what is
allowed, ``parse_axis`` checks one swept parameter against its declaration, and ``check_outputs`` the outputs
against what the model records. Building the design from a valid spec is ``plan.load_spec``.
"""

from __future__ import annotations

import copy
import difflib
import math
from pathlib import Path
from typing import Any, Literal, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.errors import InputError, InputErrors

from .. import designs
from ..designs import Axis
from .evaluators import TEST_FUNCTIONS, parse_output


class SweepSpec(BaseModel):
    """A sweep spec as written (YAML or a mapping); see docs/SWEEPS.md."""

    model_config = ConfigDict(extra="forbid")

    name: str = ""
    description: str = ""
    scenario: str | dict[str, Any] | None = None
    function: str | None = None
    org: str | None = None
    design: Literal[tuple(designs.DESIGNS)]  # type: ignore[valid-type]  (the registered designs)
    samples: int | None = Field(None, ge=1, le=designs.MAX_POINTS)
    replicates: int = Field(1, ge=1, le=1000)
    seed: int = Field(0, ge=0, le=2**63 - 1)
    seeds: Literal["common", "per_run"] = "common"
    engineers: int | None = None
    weeks: int | None = None
    levels: int = Field(4, ge=2, le=20)
    second_order: bool = False
    parameters: dict[str, Any] = Field(..., min_length=1)
    fixed: dict[str, Any] = Field(default_factory=dict)
    outputs: list[str] = Field(..., min_length=1)
    keep: Literal["final", "series"] = "final"


FIELD_ALLOWED = {
    "name": "text",
    "description": "text",
    "scenario": "a built-in scenario name or a scenario YAML file",
    "function": "one of: " + ", ".join(TEST_FUNCTIONS),
    "org": "a built-in organisation profile name or a YAML file",
    "design": ", ".join(list(designs.DESIGNS)[:-1]) + " or " + list(designs.DESIGNS)[-1],
    "samples": f"a whole number from 1 to {designs.MAX_POINTS:,} (grid: points per range; lhs: points; sobol: base sample, a power of 2; morris: trajectories)",
    "replicates": "a whole number from 1 to 1000",
    "seed": "a whole number from 0 to 2^63-1",
    "seeds": "common (every run uses the same replicate seeds: paired runs) or per_run (seeds from the run id)",
    "engineers": "a whole number (overrides organisation.size)",
    "weeks": "a whole number (the horizon)",
    "levels": "an even whole number from 2 to 20 (morris grid levels)",
    "second_order": "true or false (sobol: also second-order indices, at (2D+2)/(D+2) times the runs)",
    "parameters": "a mapping of parameter path to a range such as [0, 1] (low, high), a list of values (grid) or bounds",
    "fixed": "a mapping of parameter path to value, applied to every run",
    "outputs": "a non-empty list of metric names, optionally metric/group (e.g. true_gain/seniority=senior)",
    "keep": "final (end-of-horizon values) or series (every week)",
}

_TYPE_MESSAGES = {
    "int_parsing": "is not a whole number",
    "int_type": "is not a whole number",
    "int_from_float": "is not a whole number",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "bool_parsing": "is not true or false",
    "bool_type": "is not true or false",
    "string_type": "is not text",
    "list_type": "is not a list",
    "dict_type": "is not a mapping of keys to values",
    "greater_than_equal": "is below the minimum",
    "less_than_equal": "is above the maximum",
    "too_short": "is empty",
    "literal_error": "is not one of the allowed values",
}


def spec_errors(e: ValidationError, source: str) -> InputError:
    """One clear InputError (or several at once) from pydantic's errors on a spec."""
    out: list[InputError] = []
    seen: set[str] = set()
    for err in e.errors():
        loc = [str(x) for x in err["loc"]]
        name = loc[0] if loc else ""
        if name in seen:
            continue  # a union reports one error per member: keep the first
        seen.add(name)
        kind = err["type"]
        if kind == "extra_forbidden":
            keys = list(SweepSpec.model_fields)
            hint = difflib.get_close_matches(name, keys, n=1)
            out.append(InputError("unknown key" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field=name, allowed=", ".join(keys)))
        elif kind == "missing":
            out.append(InputError("is required but missing", source=source, field=name, allowed=FIELD_ALLOWED.get(name)))
        else:
            msg = _TYPE_MESSAGES.get(kind, err["msg"])
            out.append(InputError(msg, source=source, field=name, value=err.get("input"), allowed=FIELD_ALLOWED.get(name)))
    return out[0] if len(out) == 1 else InputErrors(out)


def rewrap(e: InputError, source: str, field: str | None = None, note: str = "", *, where: bool = True) -> InputError:
    """The same problem, named in terms of the sweep spec (``where``: also name the file it came from)."""
    if isinstance(e, InputErrors):
        return InputErrors([rewrap(x, source, field, note, where=where) for x in e.errors])
    detail = e.detail
    if where and e.source and e.source != source and not e.source.startswith("scenario") and not e.source.startswith("--set"):
        detail = f"{detail} (in {e.source})"
    return InputError(detail + note, source=source, field=field or e.field, value=e.value, allowed=e.allowed)


def read_spec(spec: "Mapping | str | Path") -> tuple[dict, str, Path | None]:
    """The raw spec mapping, the source named in messages, and the folder relative paths start from."""
    from sim.files import read_yaml

    if isinstance(spec, Mapping):
        return copy.deepcopy(dict(spec)), "sweep spec", None
    path = Path(spec)
    return read_yaml(path, "sweep spec"), str(path), path.parent


def parse_axis(path: str, raw: Any, row: Any, design: str, source: str) -> Axis:
    """One swept parameter from its spec entry, checked against the declaration ``row`` (None for plain functions)."""
    fld = f"parameters.{path}"
    integer = row is not None and row.kind == "integer"
    lo_decl = None if row is None else row.min
    hi_decl = None if row is None else row.max
    unit = "" if row is None or not row.unit else f" ({row.unit})"
    bounds_text = f"values from {lo_decl:g} to {hi_decl:g}{unit}" if lo_decl is not None and hi_decl is not None else None
    shape_help = "a range such as [0, 1] (low, high), a list of values (grid only) or bounds"
    if isinstance(raw, str) and raw.strip() == "bounds":
        if lo_decl is None or hi_decl is None:
            raise InputError("has no declared bounds; give a range such as [0, 1] (low, high)", source=source, field=fld, value=raw)
        return Axis(path, float(lo_decl), float(hi_decl), integer=integer)
    if not isinstance(raw, list) or not raw:
        raise InputError("must be a range or values", source=source, field=fld, value=raw, allowed=shape_help)
    for x in raw:
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(float(x)):
            raise InputError("must hold finite numbers only", source=source, field=fld, value=raw, allowed=shape_help)
    vals = [float(x) for x in raw]
    if (lo_decl is not None and min(vals) < lo_decl) or (hi_decl is not None and max(vals) > hi_decl):
        raise InputError("is outside the declared bounds", source=source, field=fld, value=raw, allowed=bounds_text)
    if len(vals) == 2:
        lo, hi = vals
        if not lo < hi:
            raise InputError("is not a range: low must be below high", source=source, field=fld, value=raw, allowed="a range such as [0, 1]: low, then high")
        return Axis(path, lo, hi, integer=integer)
    if design != "grid":
        raise InputError(f"is a list of {len(vals)} values; a {design} design needs a range (low, high)", source=source, field=fld, value=raw,
                         allowed="a range such as [0, 1] (low, high) or bounds; lists of values are for design: grid")
    if integer and any(v != round(v) for v in vals):
        raise InputError("must hold whole numbers (the parameter is a whole number)", source=source, field=fld, value=raw, allowed=bounds_text)
    if len(set(vals)) != len(vals):
        raise InputError("lists a value twice", source=source, field=fld, value=raw)
    return Axis(path, values=tuple(vals), integer=integer)


def check_outputs(outputs: list[str], available: list[tuple[str, str]], source: str) -> None:
    """Refuse an output named twice, an unknown metric or a group the metric does not have (with a hint)."""
    metrics = list(dict.fromkeys(m for m, _ in available))
    if len(set(outputs)) != len(outputs):
        dup = next(o for o in outputs if outputs.count(o) > 1)
        raise InputError("names an output twice", source=source, field="outputs", value=dup)
    for o in outputs:
        m, g = parse_output(o)
        if m not in metrics:
            hint = difflib.get_close_matches(m, metrics, n=1)
            raise InputError("is not a metric" + (f"; did you mean '{hint[0]}'?" if hint else ""), source=source, field="outputs", value=o,
                             allowed=", ".join(metrics))
        if (m, g) not in available:
            groups = [gg for mm, gg in available if mm == m]
            raise InputError(f"has no group '{g}'", source=source, field="outputs", value=o, allowed=", ".join(f"{m}/{gg}" if gg != "all" else m for gg in groups))


def resolve_ref(ref: str, base: Path | None) -> str:
    """A scenario or organisation reference: relative file paths are tried against the spec's folder too."""
    p = Path(ref)
    if base is not None and (p.suffix in (".yaml", ".yml") or "/" in ref) and not p.is_absolute() and not p.exists() and (base / p).exists():
        return str(base / p)
    return ref

