"""How the weekly passes (sim/model/kernels.py) are compiled and called, so that kernels.py holds the passes alone.

A pass is declared with ``@kernel`` and called with whole bundles (``kernel(eng, wk, ch, ...)``). The compiled code
receives, for each bundle parameter, a bundle of just the fields the pass reads (found in its source, following the
bundle into the compiled helpers it is passed to), and later calls with arguments of the same types go straight to
the compiled entry point. ``KernelSet`` holds the passes compiled serial or multi-threaded; ``set_threads`` and
``single_threaded`` set how many threads the multi-threaded ones use.
"""

from __future__ import annotations

import ast
import contextlib
import inspect
import operator
import os
import textwrap
import types
from typing import Callable, Iterable

import numba as nb
import numpy as np

from . import bundles
from .levers.base import Channels
from .state import EngineerState, OrgArrays
from .streams import Draws
from .week import WeekScratch

#: The bundle each kernel parameter of these names receives (the names are the convention every kernel follows).
BUNDLE_PARAMETERS: dict[str, type] = {"eng": EngineerState, "wk": WeekScratch, "ch": Channels, "draws": Draws, "org": OrgArrays}


def _fields_read(f, bundle_params: dict[str, str]) -> dict[str, list[str]]:
    """For each bundle parameter of ``f``, the fields ``f`` reads from it (``eng.skill``), following the bundle into the
    compiled helpers it is passed to (``engineer_tallies(i, eng, ...)``); from the source, so nothing runs."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(f)))
    fn = tree.body[0]
    used: dict[str, list[str]] = {p: [] for p in bundle_params}
    for node in ast.walk(fn):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in used:
            if node.attr not in used[node.value.id]:
                used[node.value.id].append(node.attr)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            helper = f.__globals__.get(node.func.id)
            passed = {i: a.id for i, a in enumerate(node.args) if isinstance(a, ast.Name) and a.id in used}
            if passed and hasattr(helper, "py_func"):
                inner_names = list(inspect.signature(helper.py_func).parameters)
                inner = _fields_read(helper.py_func, {inner_names[i]: p for i, p in passed.items()})
                for i, p in passed.items():
                    used[p] += [x for x in inner[inner_names[i]] if x not in used[p]]
    return {bundle_params[p]: fields for p, fields in used.items()} if set(bundle_params.values()) != set(bundle_params) else used


class Kernel:
    """One compiled pass, called with whole bundles (``kernel(eng, wk, ch, ...)``).

    Two things keep a call cheap. The compiled code receives a bundle of just the fields the kernel reads (its
    *trimmed* bundle, built once per whole bundle), so each call unboxes only those arrays; a field a kernel reads
    that its bundle does not declare is an error when this module is imported, naming the kernel and the field.
    And once a kernel has been compiled for a combination of argument types, later calls with the same types go
    straight to that compiled code: numba's dispatcher types a namedtuple argument in Python, field by field,
    which would cost more than the whole pass for a small organisation. A bundle type's fields always have the
    same types (``bundles.make`` enforces it), so the bundle's class stands for its types.
    """

    def __init__(self, f, compiled, trims: list | None = None):
        self.py_func, self.compiled = f, compiled
        self.__name__, self.__doc__ = f.__name__, f.__doc__
        if trims is None:
            trims = []
            params = list(inspect.signature(f).parameters)
            bundle_params = {p: p for p in params if p in BUNDLE_PARAMETERS}
            for p, fields in _fields_read(f, bundle_params).items():
                kind = BUNDLE_PARAMETERS[p]
                unknown = [x for x in fields if x not in kind._fields]
                if unknown:
                    raise AttributeError(f"kernel {f.__name__} reads {p}.{unknown[0]}, which {kind.__name__} does not declare")
                sub = bundles.bundle_type(f"{f.__name__}__{p}", [x for x in kind._fields if x in fields], __name__)
                trims.append((params.index(p), sub, operator.attrgetter(*sub._fields) if len(sub._fields) > 1 else _one(sub._fields[0])))
        self.trims = trims
        self._last: dict[int, tuple] = {}
        self._entries: dict[tuple, Callable] = {}
        self._last_call: tuple | None = None  # (the arguments, what the compiled code got, its entry point)
        _ALL.append(self)

    def forget(self) -> None:
        """Drop the remembered bundles (they hold a model's arrays)."""
        self._last = {}
        self._last_call = None

    def __call__(self, *args):
        last_call = self._last_call
        if last_call is not None and len(args) == len(last_call[0]) and all(map(operator.is_, args, last_call[0])):
            return last_call[2](*last_call[1])  # the very same arguments as last time: no trimming, no typing
        given = args
        if self.trims:
            args = list(args)
            for pos, sub, getter in self.trims:
                whole = args[pos]
                last = self._last.get(pos)
                if last is not None and last[0] is whole:
                    args[pos] = last[1]
                else:
                    args[pos] = part = sub._make(getter(whole))
                    self._last[pos] = (whole, part)  # one tuple: a reader in another thread sees a matching pair or none
        key = tuple([type(a) if type(a) is not np.ndarray else (a.dtype.num, a.ndim, a.flags.c_contiguous, a.flags.writeable) for a in args])
        entry = self._entries.get(key)
        if entry is None:
            result = self.compiled(*args)  # typed by numba (compiled or loaded from the cache the first time)
            entry = self._entries[key] = self.compiled.overloads[tuple(self.compiled.typeof_pyval(a) for a in args)].entry_point
        else:
            result = entry(*args)
        self._last_call = (given, tuple(args), entry)
        return result

    def parallel_twin(self) -> "Kernel":
        """The same pass compiled multi-threaded (its own numba cache entry), with the same trimmed bundles."""
        f = self.py_func
        clone = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
        clone.__qualname__ = f"{f.__qualname__}__parallel"
        return Kernel(f, nb.njit(cache=True, parallel=True)(clone), self.trims)


#: Every kernel, serial and multi-threaded (for ``forget_all``).
_ALL: list[Kernel] = []


def forget_all() -> None:
    """Every kernel drops the bundles it remembers (called when a model is freed, so its arrays can be freed too)."""
    for k in _ALL:
        k.forget()


def _one(name: str) -> Callable:
    getter = operator.attrgetter(name)
    return lambda b: (getter(b),)


def kernel(f) -> Kernel:
    """Declare a kernel: compiled serial here (``KernelSet`` compiles its multi-threaded twin)."""
    return Kernel(f, nb.njit(cache=True)(f))


class KernelSet:
    """The per-engineer passes, compiled serial or multi-threaded (numba prange over fixed chunks of engineers)."""

    def __init__(self, passes: Iterable[Kernel], parallel: bool):
        self.parallel = parallel
        for serial in passes:
            setattr(self, serial.__name__, serial.parallel_twin() if parallel else serial)


def set_threads(n: int) -> None:
    """Threads the multi-threaded passes use, for calls from this Python thread (1 in each worker of a process pool)."""
    nb.set_num_threads(max(1, min(int(n), nb.config.NUMBA_NUM_THREADS)))


@contextlib.contextmanager
def single_threaded():
    """Run the enclosed models on one thread (restoring the previous setting afterwards)."""
    before = nb.get_num_threads()
    set_threads(1)
    try:
        yield
    finally:
        set_threads(before)


if os.environ.get("MANDATE_SIM_THREADS"):
    set_threads(int(os.environ["MANDATE_SIM_THREADS"]))
