"""Scenario and organisation files: loading, ``extends:``, ``--org``, ``--set`` overrides, validation with clear errors.

A scenario file is YAML with optional ``name``, ``title``, ``description``,
``extends`` (a built-in scenario name or a path relative to the file, or a list
of them), ``weeks``, ``organisation``, ``policy`` and ``behaviour``. Anything
left out takes its declared default (sim/params.py). An organisation profile
file holds the fields of the ``organisation`` section and may ``extends:``
another profile. Sections merge key by key; a task mix is given whole; a set of
``task_types`` or ``tools`` naming none of the defaults replaces them (naming
some of them changes those), and ``name: null`` removes one entry.

Every file a user names is read through ``sim.files.read_file`` (regular files only, opened without blocking, at most
MAX_FILE_BYTES) and every YAML text is loaded with ``sim.files.BoundedSafeLoader`` (PyYAML's safe loading with bounded
aliases, nesting and numbers, no duplicate keys and only plain tags). A file given as text rather than as a path
(an upload, a file packed in a link) is loaded with ``load_text``, which lets it extend built-in names only.
"""

from __future__ import annotations

import copy
import difflib
import typing
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from sim.errors import MAX_PROBLEMS, InputError, InputErrors, cut, excerpt
# Reading files and bounded YAML live in sim/files.py; imported here too, where they were first defined.
from sim.files import MAX_FILE_BYTES, BoundedSafeLoader, decode_yaml, load_yaml, parse_yaml, read_file, read_text, read_yaml  # noqa: F401
from .params import DEPRECATED_POLICY_KEYS, Organisation, Scenario
from sim.paths import bundled


SCENARIO_DIR = bundled("scenarios")
ORG_DIR = SCENARIO_DIR / "orgs"


def builtin_scenarios() -> list[str]:
    """Names of the built-in scenarios, in display order."""
    order = ["no_ai", "mandate_single_tool", "mandate_any_tool", "generate_and_supervise", "free_choice", "outcome_goals", "pilot_and_measure"]
    found = sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))
    return [n for n in order if n in found] + [n for n in found if n not in order]


def builtin_orgs() -> list[str]:
    """Names of the built-in organisation profiles."""
    found = sorted(p.stem for p in ORG_DIR.glob("*.yaml"))
    return (["default"] if "default" in found else []) + [n for n in found if n != "default"]


#: Named collections: a file that names none of the base's entries defines its own set (replacing the base's);
#: one that names some of them changes those and keeps the rest.
NAMED_COLLECTIONS = frozenset({"task_types", "tools"})


def deep_merge(base: dict, over: dict) -> dict:
    """``over`` on top of ``base``: mappings of sections merge key by key, a key set to null is removed,
    mappings of plain numbers (such as a task mix) and everything else replace, and a set of task types or
    tools that shares no name with the base's replaces it."""
    out = copy.deepcopy(base)
    for k, v in over.items():
        if v is None:
            out.pop(k, None)
        elif k in NAMED_COLLECTIONS and isinstance(v, dict) and isinstance(out.get(k), dict) and not set(v) & set(out[k]):
            out[k] = copy.deepcopy(v)
        elif isinstance(v, dict) and isinstance(out.get(k), dict) and k not in REPLACED_MAPPINGS:
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _replaced_mappings() -> frozenset[str]:
    """Names of fields that are plain mappings of numbers (such as ``task_mix``): a file gives them whole."""
    names = set()
    todo = [Scenario]
    seen = set()
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            ann = _unwrap(info.annotation)
            if typing.get_origin(ann) is dict:
                value_type = _unwrap(typing.get_args(ann)[1])
                if isinstance(value_type, type) and issubclass(value_type, BaseModel):
                    todo.append(value_type)
                else:
                    names.add(name)
            elif isinstance(ann, type) and issubclass(ann, BaseModel):
                todo.append(ann)
    return frozenset(names)


def _prune_to_task_types(org: dict) -> dict:
    """Drop inherited per-task entries for task types the organisation no longer has."""
    tasks = org.get("task_types")
    tools = org.get("tools")
    if not isinstance(tasks, dict) or not isinstance(tools, dict):
        return org  # validation names what is wrong
    for tool in tools.values():
        if isinstance(tool, dict) and isinstance(tool.get("effects"), dict):
            tool["effects"] = {k: v for k, v in tool["effects"].items() if k in tasks}
    return org


def with_defaults(data: dict) -> dict:
    """A scenario mapping completed with every declared default underneath it."""
    merged = deep_merge(Scenario().model_dump(), data)
    if isinstance(merged.get("organisation"), dict):
        _prune_to_task_types(merged["organisation"])
    return merged


def _resolve(ref: str, directory: Path, relative_to: Path | None) -> Path:
    """A built-in name, or a path (relative to the referring file's folder when given)."""
    p = Path(ref)
    looks_like_path = p.suffix in (".yaml", ".yml") or "/" in ref or "\\" in ref
    if looks_like_path:
        if not p.is_absolute() and relative_to is not None and not p.exists():
            alt = relative_to.parent / p
            if alt.exists():
                return alt
        return p
    return directory / f"{ref}.yaml"


def _load_chain(ref: str, directory: Path, what: str, relative_to: Path | None = None, seen: tuple[str, ...] = ()) -> tuple[dict, Path]:
    """Load a file and everything it ``extends:``, merged, without the ``extends`` key."""
    path = _resolve(ref, directory, relative_to)
    if not path.exists():
        names = builtin_scenarios() if directory == SCENARIO_DIR else builtin_orgs()
        looks_like_path = path.suffix in (".yaml", ".yml") and not path.is_relative_to(directory)
        if looks_like_path or relative_to is not None and ("/" in ref or ref.endswith((".yaml", ".yml"))):
            raise InputError(f"{what} not found", source=str(path))
        hint = difflib.get_close_matches(ref, names, n=1)
        message = f"no built-in {what} or {what} file of this name" + (f"; did you mean '{hint[0]}'?" if hint else "")
        allowed = ", ".join(names) + ", or a path to a .yaml file"
        if relative_to is not None:
            raise InputError(message, source=str(relative_to), field="extends", value=ref, allowed=allowed)
        raise InputError(message, source=f"{what} '{ref}'", allowed=allowed)
    key = str(path.resolve())
    if key in seen:
        raise InputError("extends itself (a cycle of extends:)", source=str(path), field="extends", value=ref)
    data = upgrade_keys(read_yaml(path, what), str(path))
    parent = data.pop("extends", None)
    if parent is not None:
        data = deep_merge(_load_parents(parent, directory, what, path, seen + (key,)), data)
    return data, path


def _load_parents(parent: object, directory: Path, what: str, relative_to: Path | None, seen: tuple[str, ...] = (),
                  *, builtin_only: str | None = None, source: str | None = None) -> dict:
    """What ``extends:`` names (one name or path, or a list merged in order), loaded and merged.

    ``builtin_only`` (where the file came from, e.g. "in the app"): only built-in names may be extended, checked
    against the list of names before anything is looked up, so no path is ever opened, stat-ed or resolved (a path
    gets the same message whether or not a file is there).
    """
    src = source or (str(relative_to) if relative_to else None)
    parents = parent if isinstance(parent, list) else [parent]
    names = builtin_scenarios() if directory == SCENARIO_DIR else builtin_orgs()
    if not parents or not all(isinstance(p, str) and p for p in parents):
        raise InputError("must name a scenario or file, or a list of them", source=src, field="extends", value=parent,
                         allowed=", ".join(names) if builtin_only else "a built-in name or a path, or a list of these (later ones override earlier ones)")
    if builtin_only:
        for p in parents:
            if p not in names:
                raise InputError(f"may only extend a built-in name {builtin_only} (a path would read files on the server)",
                                 source=src, field="extends", value=p, allowed=", ".join(names))
    merged: dict = {}
    for p in parents:
        base, _ = _load_chain(p, directory, what, relative_to=relative_to, seen=seen)
        merged = deep_merge(merged, base)
    return merged


# ---------------------------------------------------------------------------
# Field declarations by path
# ---------------------------------------------------------------------------


def _unwrap(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or str(origin) == "types.UnionType":
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        if models:
            return models[0]
        return annotation
    return annotation


REPLACED_MAPPINGS: frozenset[str] = frozenset()  # filled below, once _unwrap exists


def field_at(path: str, root: type[BaseModel] = Scenario) -> FieldInfo | None:
    """The declaration of the field at a dotted path (dict keys included), or None."""
    model: Any = root
    info: FieldInfo | None = None
    parts = path.split(".")
    i = 0
    while i < len(parts):
        part = parts[i]
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        if part not in model.model_fields:
            return None
        info = model.model_fields[part]
        ann = _unwrap(info.annotation)
        i += 1
        if typing.get_origin(ann) is dict:
            if i < len(parts):
                i += 1  # the dict key
                model = _unwrap(typing.get_args(ann)[1])
                info = None if not (isinstance(model, type) and issubclass(model, BaseModel)) else info
                if not (isinstance(model, type) and issubclass(model, BaseModel)):
                    return info
            continue
        model = ann
    return info


REPLACED_MAPPINGS = _replaced_mappings()


def describe_allowed(info: FieldInfo | None) -> str | None:
    """What a field allows, in words (type, bounds, unit)."""
    if info is None:
        return None
    lo = hi = None
    for meta in info.metadata:
        lo = getattr(meta, "ge", lo) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", hi) if getattr(meta, "le", None) is not None else hi
    ann = info.annotation
    kind = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}.get(ann, None)
    unit = (info.json_schema_extra or {}).get("unit") if isinstance(info.json_schema_extra, dict) else None
    if lo is not None and hi is not None:
        text = f"{kind or 'a number'} from {lo:g} to {hi:g}"
    elif kind:
        text = kind
    else:
        text = None
    if text and unit:
        text += f" ({unit})"
    return text


def _format_validation(e: ValidationError, source: str, root: type[BaseModel], data: dict, prefix: str = "") -> InputError:
    """pydantic's errors as one InputError per problem (the first MAX_PROBLEMS of them; the rest are counted),
    each naming the field, a bounded excerpt of the value and what is allowed."""
    errors = []
    found = e.errors(include_url=False, include_context=False)
    for err in found[:MAX_PROBLEMS]:
        loc = [str(x) for x in err["loc"]]
        path = ".".join(([prefix] if prefix else []) + loc)
        etype = err["type"]
        value = err.get("input")
        info = field_at(".".join(loc), root) if loc else None
        if etype == "extra_forbidden":
            parent_path = ".".join(loc[:-1])
            allowed = _allowed_keys(parent_path, root)
            hint = difflib.get_close_matches(loc[-1][:100], allowed, n=1)
            msg = "unknown key" + (f"; did you mean '{hint[0]}'?" if hint else "")
            errors.append(InputError(msg, source=source, field=path, allowed=", ".join(allowed) if allowed else None))
            continue
        if etype == "missing":
            errors.append(InputError("is required but missing", source=source, field=path))
            continue
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if etype in ("value_error", "assertion_error") and isinstance(value, dict):
            value = None
        allowed = describe_allowed(info)
        if etype.startswith("literal") or etype in ("list_type",):
            allowed = None
        errors.append(InputError(_plain(msg), source=source, field=path or None, value=value, allowed=allowed))
    return errors[0] if len(found) == 1 else InputErrors(errors, more=len(found) - len(errors))


def _plain(msg: str) -> str:
    replacements = {
        "Input should be greater than or equal to": "is below the minimum",
        "Input should be less than or equal to": "is above the maximum",
        "Input should be a valid number, unable to parse string as a number": "is not a number",
        "Input should be a valid integer, unable to parse string as an integer": "is not a whole number",
        "Input should be a valid integer, got a number with a fractional part": "is not a whole number",
        "Input should be a valid boolean, unable to interpret input": "is not true or false",
        "Input should be a valid integer": "is not a whole number",
        "Input should be a valid number": "is not a number",
        "Input should be a valid string": "is not text",
        "Input should be a valid list": "is not a list",
        "Input should be a valid dictionary or instance of": "must be a mapping of keys to values, not a plain value;",
    }
    for a, b in replacements.items():
        if msg.startswith(a):
            return b + msg[len(a) :] if b.endswith(";") else b
    return msg


def _allowed_keys(parent_path: str, root: type[BaseModel]) -> list[str]:
    if not parent_path:
        return list(root.model_fields)
    info = field_at(parent_path, root)
    if info is None:
        return []
    ann = _unwrap(info.annotation)
    if typing.get_origin(ann) is dict:
        model = _unwrap(typing.get_args(ann)[1])
        # parent path ended at a dict key: list the model's fields
        if parent_path.split(".")[-1] not in (root.model_fields if isinstance(root, type) else {}):
            if isinstance(model, type) and issubclass(model, BaseModel):
                return list(model.model_fields)
        return []
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return list(ann.model_fields)
    return []


# ---------------------------------------------------------------------------
# Overrides (--set PATH=VALUE)
# ---------------------------------------------------------------------------


def parameter_paths(scenario: Scenario | None = None) -> list["ParamRow"]:
    """Every parameter path of a scenario with its value, unit, bounds and description (names and descriptions left out)."""
    sc = scenario or Scenario()
    return [r for r in _walk(sc, "") if r.path.split(".")[-1] not in ("name", "title", "description")]


@dataclass(frozen=True)
class ParamRow:
    path: str
    value: Any
    unit: str
    min: float | None
    max: float | None
    description: str
    kind: str  # 'number', 'integer', 'bool', 'list', 'text'
    source: str | None = None

    def as_dict(self) -> dict:
        return {"path": self.path, "value": self.value, "unit": self.unit, "min": self.min, "max": self.max, "description": self.description}


def _walk(obj: BaseModel, prefix: str) -> Iterator[ParamRow]:
    for name, info in type(obj).model_fields.items():
        value = getattr(obj, name)
        path = f"{prefix}{name}"
        if isinstance(value, BaseModel):
            yield from _walk(value, path + ".")
        elif isinstance(value, dict) and value and all(isinstance(v, BaseModel) for v in value.values()):
            for k, v in value.items():
                yield from _walk(v, f"{path}.{k}.")
        elif isinstance(value, dict):
            for k, v in value.items():
                yield ParamRow(f"{path}.{k}", v, "share", 0.0, 1.0, f"{info.description} ({k})", "number")
        else:
            lo = hi = None
            for meta in info.metadata:
                if getattr(meta, "ge", None) is not None:
                    lo = meta.ge
                if getattr(meta, "le", None) is not None:
                    hi = meta.le
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            kind = "bool" if isinstance(value, bool) else "integer" if isinstance(value, int) else "number" if isinstance(value, float) else "list" if isinstance(value, list) else "text"
            yield ParamRow(path, value, extra.get("unit", ""), lo, hi, info.description or "", kind, extra.get("source"))


def parse_override(text: str, source: str = "--set") -> tuple[str, Any]:
    """Split 'PATH=VALUE' and parse VALUE as a YAML scalar or list."""
    if "=" not in text:
        raise InputError("must be PATH=VALUE", source=source, value=text, allowed="e.g. policy.feedback_safety=0.5")
    path, raw = text.split("=", 1)
    path = path.strip()
    if not path:
        raise InputError("has no parameter path before '='", source=source, value=text)
    try:
        value = load_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return path, value


def upgrade_keys(data: Any, source: str) -> Any:
    """A scenario mapping with the first edition's keys replaced by the keys that replaced them (each replaced key warns once).

    ``policy.enforcement`` drove both the usage target and the generate-don't-write norm; it now sets
    ``policy.usage_enforcement`` and ``policy.norm_enforcement`` (overriding what an extended scenario set).
    """
    policy = data.get("policy") if isinstance(data, dict) else None
    if not isinstance(policy, dict):
        return data
    for old, new in DEPRECATED_POLICY_KEYS.items():
        if old in policy:
            value = policy.pop(old)
            for key in new:
                policy.setdefault(key, value)
            warnings.warn(f"{source}: policy.{old} is now " + " and ".join(f"policy.{k}" for k in new) + f"; {excerpt(value)} was used for both",
                          FutureWarning, stacklevel=2)
    return data


def _expand_deprecated(overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """``--set`` paths of the first edition replaced by the paths that replaced them (with a warning)."""
    out: dict[str, Any] = {}
    for path, value in overrides.items():
        old = path.removeprefix("policy.")
        if path.startswith("policy.") and old in DEPRECATED_POLICY_KEYS:
            new = [f"policy.{k}" for k in DEPRECATED_POLICY_KEYS[old]]
            warnings.warn(f"{source} {path} is now " + " and ".join(new) + f"; {excerpt(value)} was used for both", FutureWarning, stacklevel=3)
            out.update({p: value for p in new})
        else:
            out[path] = value
    return out


def apply_overrides(data: dict, overrides: dict[str, Any], source: str = "--set") -> dict:
    """Set each dotted path in the raw scenario mapping (validated afterwards)."""
    out = copy.deepcopy(data)
    known = {r.path for r in parameter_paths(_validated_or_default(data))}
    for path, value in _expand_deprecated(overrides, source).items():
        if path not in known and field_at(path) is None:
            hint = difflib.get_close_matches(path[:200], sorted(known), n=1)
            raise InputError(
                "is not a parameter path" + (f"; did you mean '{hint[0]}'?" if hint else ""),
                source=source, field=path, allowed="the paths `mandate-sim params` lists",
            )
        node = out
        parts = path.split(".")
        for part in parts[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                nxt = {}
                node[part] = nxt
            node = nxt
        node[parts[-1]] = value
    return out


def _validated_or_default(data: dict) -> Scenario:
    """The scenario the mapping describes (so paths of its own tools and task types count), or the defaults if it is not valid yet."""
    try:
        return Scenario.model_validate({k: v for k, v in data.items() if k != "extends"})
    except ValidationError:
        return Scenario()


# ---------------------------------------------------------------------------
# The public loaders
# ---------------------------------------------------------------------------


def load_org_data(ref: str) -> dict:
    """Raw mapping of an organisation profile (built-in name or file), extends resolved."""
    data, path = _load_chain(ref, ORG_DIR, "organisation profile")
    return _org_with_defaults(data, str(path))


def _org_with_defaults(data: dict, source: str) -> dict:
    """An organisation profile's mapping completed with the declared defaults and validated (errors name ``source``)."""
    data = _prune_to_task_types(deep_merge(Organisation().model_dump(), data))
    try:
        Organisation.model_validate(data)
    except ValidationError as e:
        raise _format_validation(e, source, Organisation, data, prefix="") from None
    return data


def load_text(text: str, filename: str, kind: str, *, where: str = "in the app") -> dict:
    """A scenario (``kind`` 'scenario') or an organisation profile (any other ``kind``) given as text rather than as a
    path (an upload, a file packed in a link): parsed (safe, bounded), ``extends:`` resolved to built-in names only
    (``where`` says where the text came from, in the message that refuses a path) and merged.

    For a scenario, the raw mapping (``extends`` resolved; ``name`` defaults to the file's stem), ready for
    ``load_scenario(mapping, source=filename)``; for a profile, the mapping completed and validated, ready for
    ``load_scenario(..., org=mapping)``. Errors name ``filename`` and are those ``load_scenario(filename)`` or
    ``--org filename`` give on the command line. No file is read, whatever the text says.
    """
    scenario = kind == "scenario"
    what, directory = ("scenario", SCENARIO_DIR) if scenario else ("organisation profile", ORG_DIR)
    data = upgrade_keys(parse_yaml(text, filename, what), filename)
    parent = data.pop("extends", None)
    if parent is not None:
        data = deep_merge(_load_parents(parent, directory, what, None, builtin_only=where, source=filename), data)
    if not scenario:
        return _org_with_defaults(data, filename)
    data.setdefault("name", Path(filename).stem)
    return data


def load_org(ref: str) -> Organisation:
    """An organisation profile, validated."""
    return Organisation.model_validate(load_org_data(ref))


def load_scenario_data(ref: str) -> tuple[dict, str]:
    """Raw mapping of a scenario (built-in name or file), extends resolved; and its source for messages."""
    data, path = _load_chain(ref, SCENARIO_DIR, "scenario")
    data.setdefault("name", path.stem)
    return data, str(path)


def load_scenario(
    ref: "str | Scenario | dict",
    *,
    org: "str | dict | Organisation | None" = None,
    overrides: dict[str, Any] | None = None,
    engineers: int | None = None,
    weeks: int | None = None,
    source: str | None = None,
) -> Scenario:
    """A validated Scenario from a built-in name, a file, a mapping or a Scenario, with an organisation profile and overrides on top.

    ``org``: a built-in profile name or a file, or a profile's mapping (``load_text``) or an Organisation.
    ``source``: what messages call a mapping (default 'scenario mapping').
    """
    if isinstance(ref, Scenario):
        data, source = ref.model_dump(), source or f"scenario '{cut(ref.name, 60)}'"
    elif isinstance(ref, dict):
        source = source or "scenario mapping"
        data = upgrade_keys(copy.deepcopy(ref), source)
        if "extends" in data:
            data = deep_merge(_load_parents(data.pop("extends"), SCENARIO_DIR, "scenario", None, source=source), data)
    else:
        data, source = load_scenario_data(str(ref))
    data = with_defaults(data)
    if isinstance(org, Organisation):
        data["organisation"] = org.model_dump()
    elif isinstance(org, dict):
        data["organisation"] = copy.deepcopy(org)
    elif org is not None:
        data["organisation"] = load_org_data(org)
    if overrides:
        data = apply_overrides(data, overrides)
        source += " with --set " + cut(", ".join(f"{cut(k, 80)}={cut(v, 40) if isinstance(v, str) else v if isinstance(v, (int, float)) else excerpt(v, 40)}"
                                                for k, v in list(overrides.items())[:20]), 300)
    if engineers is not None:
        data.setdefault("organisation", {})["size"] = engineers
    if weeks is not None:
        data["weeks"] = weeks
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        raise _format_validation(e, source, Scenario, data) from None


def scenario_summary(name: str) -> tuple[str, str]:
    """(title, description) of a built-in scenario, for listings."""
    data, _ = load_scenario_data(name)
    return str(data.get("title", "")), str(data.get("description", ""))


def json_schema() -> dict:
    """JSON Schema of the scenario format (for editors)."""
    schema = Scenario.model_json_schema()
    schema["properties"]["extends"] = {"type": "string", "description": "A built-in scenario name or a path to a scenario file this one builds on."}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mandate-sim scenario"
    return schema
