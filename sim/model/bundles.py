"""Named bundles: how the kernels receive the model's state, the week's scratch, the policy's channels and parameters.

Each phase kernel (sim/model/kernels.py) takes a few bundles instead of dozens of positional arguments. A bundle
is a namedtuple of arrays and numbers, so numba compiles field access by name (a missing or misspelt field fails
at compile time, never silently), and every bundle type is derived from a declaration:

* a parameter group (``params.Work``, ``params.Choice``, ...): one field per declared parameter, built by ``params``;
* the engineers' state (``workforce.STATE``), the week's scratch (``week.SCRATCH``), the policy's channels
  (``levers.base.PolicyChannels``), the weekly draws (``streams.DECISIONS``) and the organisation's tables
  (``workforce.OrgTables``): each module declares its bundle type with ``bundle_type`` and fills it with ``make``.

Bundle types live at module level under their own names, so numba's on-disk cache can find them again in a new
process. Arrays in a bundle are views: kernels write through them into the model's arrays. Inside a ``prange``
loop, a kernel must first copy each field it writes into a local (../shared/NUMBA_NOTES.md: writes through a
namedtuple field inside ``prange`` are silently lost).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass
import sys
import typing
from typing import Any, Iterable

import numpy as np
from pydantic import BaseModel

from . import params as P


@dataclass(frozen=True)
class ArrayVar:
    """One declared array of the model's state or scratch: its name, type, axes and meaning (docs/MODEL.md lists them)."""

    name: str
    dtype: type
    axes: tuple[str, ...]  # engineer, tool, task, team, tool_task
    description: str
    initial: float = 0


def allocate(owner: Any, variables: Iterable[ArrayVar], sizes: dict[str, int]) -> None:
    """Give ``owner`` one array per declared variable, shaped by the sizes of its axes and filled with its initial value."""
    for var in variables:
        setattr(owner, var.name, np.full(tuple(sizes[a] for a in var.axes), var.initial, dtype=var.dtype))


def bundle_type(name: str, fields: Iterable[str], module: str) -> type:
    """A namedtuple type ``name`` with ``fields``, registered as ``module.name`` (so pickling and numba's cache find it)."""
    cls = collections.namedtuple(name, list(fields), module=module)
    setattr(sys.modules[module], name, cls)
    return cls


#: The type of every field of each bundle type, fixed by the first bundle made of it (see ``make``).
_FIELD_TYPES: dict[type, tuple] = {}


def field_type(value: Any) -> Any:
    """What numba compiles a field for: an array's dtype, dimensions, contiguity and writability, or a scalar's type."""
    if type(value) is np.ndarray:
        flags = value.flags
        return (value.dtype, value.ndim, flags.c_contiguous, flags.writeable)
    return type(value)


def make(kind: type, source: Any, **values: Any):
    """A ``kind`` bundle whose fields are ``source``'s attributes of the same names (or ``values``).

    A missing field is an error naming it. Every bundle of one type must carry fields of the same types (the
    first one made fixes them; a later one that differs is an error naming the field), so a kernel compiled for a
    bundle type fits every bundle of that type and can be called without numba re-typing its arguments.
    """
    out = {}
    for field in kind._fields:
        if field in values:
            out[field] = values[field]
        elif hasattr(source, field):
            out[field] = getattr(source, field)
        else:
            raise AttributeError(f"bundle {kind.__name__} needs the field {field!r}, which {type(source).__name__} does not have")
    extra = set(values) - set(kind._fields)
    if extra:
        raise AttributeError(f"bundle {kind.__name__} has no fields {sorted(extra)}")
    bundle = kind(**out)
    types = tuple([field_type(v) for v in bundle])
    fixed = _FIELD_TYPES.setdefault(kind, types)
    if fixed != types:
        i = next(i for i, (a, b) in enumerate(zip(fixed, types)) if a != b)
        raise TypeError(f"bundle {kind.__name__}: field {kind._fields[i]!r} is {types[i]}, but this bundle type carries {fixed[i]}")
    return bundle


# ---------------------------------------------------------------------------
# Parameter groups: one bundle type per section of the behaviour, derived from its declaration
# ---------------------------------------------------------------------------


def _scalar_fields(section: type[BaseModel]) -> list[tuple[str, type]]:
    """The numeric fields of a parameter section, with the Python type each is passed as (float or int)."""
    hints = typing.get_type_hints(section)
    out = []
    for name in section.model_fields:
        kind = hints[name]
        if kind in (float, int):
            out.append((name, kind))
    return out


#: The behaviour's sections the kernels read, each as a bundle type ``<Section>Params`` with one field per parameter.
SECTIONS: dict[str, type[BaseModel]] = {
    "work": P.Work, "quality": P.Quality, "learning": P.Learning, "perception": P.Perception,
    "choice": P.Choice, "trust": P.Trust, "people": P.People,
}
PARAM_TYPES: dict[str, type] = {
    key: bundle_type(f"{cls.__name__}Params", [n for n, _ in _scalar_fields(cls)], __name__) for key, cls in SECTIONS.items()
}
_CASTS = {key: dict(_scalar_fields(cls)) for key, cls in SECTIONS.items()}

#: The behaviour as kernels receive it: one bundle per section.
BehaviourParams = bundle_type("BehaviourParams", list(SECTIONS), __name__)


def section(key: str, values: BaseModel):
    """One section of the behaviour as its bundle (each value cast to its declared type, so compiled kernels are reused)."""
    casts = _CASTS[key]
    return PARAM_TYPES[key](**{name: casts[name](getattr(values, name)) for name in PARAM_TYPES[key]._fields})


def params(behaviour: P.Behaviour):
    """Every section of the behaviour as bundles: ``params(b).choice.benefit_weight``."""
    return BehaviourParams(**{key: section(key, getattr(behaviour, key)) for key in SECTIONS})
