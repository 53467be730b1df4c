"""How much memory one model run needs, estimated from the declared sizes before anything is allocated, and the limits.

A model's memory grows with engineers x tools x task types (the beliefs, habits and trials of every engineer for
every tool and task type), not only with engineers x weeks. ``model_estimate`` adds up, from the declarations:

* the engineers' state (``state.STATE``) and the week's scratch (``week.SCRATCH``): for each declared array, the
  product of its axis sizes times its item size;
* the policy's channels (``levers.PolicyChannels``, measured from its own allocator at 1 and 2 engineers and
  extended linearly: each of its arrays is per engineer or fixed);
* the week's random draws (``streams.WeeklyLayout``: one single-precision row per decision and task type);
* the recorder's [weeks x series] table (``metrics.series_list``);
* the largest temporary of a run (``TRANSIENTS``): the uniforms the first engineers are drawn from, or the
  arrays built while engineers hear a published result, whichever is larger;
* a fixed ``OVERHEAD_BYTES`` for the model's Python objects.

Against the peak tracemalloc measures over a whole run (compiled kernels warm), the estimate is within 0.75x to
1.5x (tests/test_limits.py): about 1.0x for policies that publish results, up to 1.4x for those that never do
(their largest temporary never happens), above 1x for large models.

``EngineeringOrg`` refuses a scenario whose estimate exceeds ``max_model_bytes()`` before allocating anything
(every path goes through it: the CLI, the runner, sweeps, the app); the sweep planner and the app check the same
estimate up front. ``table_estimate`` does the same for the tidy results table a run or comparison returns.

Limits (docs/ROBUSTNESS.md): ``MANDATE_SIM_MAX_MODEL_BYTES`` (default 2 GiB) and ``MANDATE_SIM_MAX_TABLE_BYTES``
(default 4 GiB), in bytes or with a unit (``8GiB``, ``512MB``); ``limited(...)`` sets them for a block of code
(the CLI's ``--max-model-memory`` and ``--max-table-memory``).
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Iterator, Sequence

import numpy as np

from sim.errors import InputError

from .bundles import ArrayVar
from .state import STATE
from .week import SCRATCH

KiB, MiB, GiB = 1024, 1024**2, 1024**3

#: Environment variables holding the limits, and their defaults.
ENV_MODEL = "MANDATE_SIM_MAX_MODEL_BYTES"
ENV_TABLE = "MANDATE_SIM_MAX_TABLE_BYTES"
DEFAULT_MAX_MODEL_BYTES = 2 * GiB
DEFAULT_MAX_TABLE_BYTES = 4 * GiB
#: The CLI options that set them for one command.
OPTION_MODEL = "--max-model-memory"
OPTION_TABLE = "--max-table-memory"

#: Item size of the week's draws (``streams.WeeklyDraws`` draws them in single precision).
DRAW_ITEMSIZE = np.dtype(np.float32).itemsize

#: The largest temporaries of a run, as (what, [(dtype, axes), ...]); the estimate adds the largest of them.
#: "hiring": the uniforms new engineers are drawn from, one row per slot (all slots at the start), ``Workforce.draw_width`` wide.
#: "publication": ``EngineeringOrg.hear_published``: the mask, the measured values per engineer, the update's two
#: intermediates and its result, each [engineer, tool, task].
TRANSIENTS: tuple[tuple[str, tuple[tuple[Any, tuple[str, ...]], ...]], ...] = (
    ("the uniforms the first engineers are drawn from", ((np.float64, ("engineer", "draw")),)),
    ("the arrays built while engineers hear a published result", (
        (bool, ("engineer", "tool", "task")), (bool, ("engineer", "tool", "task")),
        (np.float64, ("engineer", "tool", "task")), (np.float64, ("engineer", "tool", "task")),
        (np.float64, ("engineer", "tool", "task")), (np.float64, ("engineer", "tool", "task")),
    )),
)

#: Python objects of one model whatever its size (the Mesa model, the levers, the organisation's tables, the recorder's layout).
OVERHEAD_BYTES = 256 * KiB

#: Bytes per row of the runner's tidy table (scenario, replicate, week: int32; metric, group: category codes; value:
#: float64), with the [weeks x series] blocks it is built from and the parts concatenated into it, held at once.
TABLE_ROW_BYTES = 64


# ---------------------------------------------------------------------------
# Sizes and formatting
# ---------------------------------------------------------------------------

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3, "t": 1000**4, "tb": 1000**4,
          "kib": KiB, "mib": MiB, "gib": GiB, "tib": 1024**4}


def parse_bytes(text: "str | int", *, source: str) -> int:
    """A size in bytes from ``4294967296``, ``4GiB``, ``512 MB``, ``1.5g`` (k, m, g, t: powers of 1000; KiB, MiB, GiB, TiB: of 1024)."""
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        value = int(text)
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?)\s*([a-zA-Z]*)\s*", str(text))
        unit = m.group(2).lower() if m else ""
        if not m or unit not in _UNITS:
            raise InputError("is not a size", source=source, value=text, allowed="a number of bytes, or with a unit: 512MB, 4GiB, 8GB")
        value = int(float(m.group(1)) * _UNITS[unit])
    if value < 1 * MiB:
        raise InputError("is too small", source=source, value=text, allowed="at least 1 MiB (1048576 bytes)")
    return value


def format_bytes(n: float) -> str:
    """``n`` bytes for people: 1.5 GiB, 300.0 MiB, 12.0 KiB, 512 bytes."""
    for unit, size in (("TiB", 1024**4), ("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} bytes"


# ---------------------------------------------------------------------------
# The limits
# ---------------------------------------------------------------------------

#: Limits set by ``limited`` for the current thread (other threads see the environment, which ``limited`` also sets).
_LOCAL = threading.local()


def _overrides() -> dict[str, int]:
    if not hasattr(_LOCAL, "override"):
        _LOCAL.override = {}
    return _LOCAL.override


def _limit(env: str, default: int) -> int:
    override = _overrides()
    if env in override:
        return override[env]
    raw = os.environ.get(env)
    if raw is None or not raw.strip():
        return default
    return parse_bytes(raw, source=f"environment variable {env}")


def max_model_bytes() -> int:
    """The most memory one model run may need: ``limited(model=...)``, else $MANDATE_SIM_MAX_MODEL_BYTES, else 2 GiB."""
    return _limit(ENV_MODEL, DEFAULT_MAX_MODEL_BYTES)


def max_table_bytes() -> int:
    """The most memory a results table may need: ``limited(table=...)``, else $MANDATE_SIM_MAX_TABLE_BYTES, else 4 GiB."""
    return _limit(ENV_TABLE, DEFAULT_MAX_TABLE_BYTES)


@contextlib.contextmanager
def limited(model: int | None = None, table: int | None = None, *, environ: bool = True) -> Iterator[None]:
    """Within the block, these limits (bytes; None keeps the current one) for this thread; with ``environ``, also for other
    threads and the processes started in the block (through the environment: a sweep's worker processes, say)."""
    override = _overrides()
    saved_override = dict(override)
    saved_env = {k: os.environ.get(k) for k in (ENV_MODEL, ENV_TABLE)}
    try:
        for env, value in ((ENV_MODEL, model), (ENV_TABLE, table)):
            if value is not None:
                override[env] = int(value)
                if environ:
                    os.environ[env] = str(int(value))
        yield
    finally:
        override.clear()
        override.update(saved_override)
        for k, v in saved_env.items() if environ else ():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# ---------------------------------------------------------------------------
# The estimate of one model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelEstimate:
    """Bytes one model run needs, by part (from the declared sizes)."""

    engineers: int
    tools: int
    tasks: int
    weeks: int
    state: int
    scratch: int
    channels: int
    draws: int
    recorder: int
    transient: int
    transient_what: str
    overhead: int = OVERHEAD_BYTES

    @property
    def total(self) -> int:
        return self.state + self.scratch + self.channels + self.draws + self.recorder + self.transient + self.overhead

    @property
    def resident(self) -> int:
        """What stays allocated for the whole run (the total without the largest temporary)."""
        return self.total - self.transient

    def sizes(self) -> str:
        return f"{self.engineers:,} engineers x {self.tools} tools x {self.tasks} task types, {self.weeks} weeks"

    def parts(self) -> str:
        return (f"engineers' state {format_bytes(self.state)}, the week's scratch {format_bytes(self.scratch)}, policy channels "
                f"{format_bytes(self.channels)}, random draws {format_bytes(self.draws)}, recorder {format_bytes(self.recorder)}, "
                f"{self.transient_what} {format_bytes(self.transient)}, other objects {format_bytes(self.overhead)}")


def declared_bytes(variables: Sequence[ArrayVar], sizes: dict[str, int]) -> int:
    """Bytes of the arrays ``bundles.allocate`` makes from ``variables``: per array, the product of its axis sizes times its item size."""
    return sum(math.prod(sizes[a] for a in v.axes) * np.dtype(v.dtype).itemsize for v in variables)


@lru_cache(maxsize=256)
def _channel_bytes(tools: int, tasks: int) -> tuple[int, int]:
    """(fixed, per engineer) bytes of the policy's channels, measured from ``PolicyChannels.blank`` at 1 and 2 engineers."""
    from .levers import PolicyChannels

    def nbytes(n: int) -> int:
        ch = PolicyChannels.blank(n, tools, tasks)
        return sum(v.nbytes for v in vars(ch).values() if isinstance(v, np.ndarray))

    one, two = nbytes(1), nbytes(2)
    return one - (two - one), two - one


@lru_cache(maxsize=4096)
def _series(tasks: int, derived: bool = False) -> int:
    """Series the recorder keeps for ``tasks`` task types (``derived``: with the runner's true_gain per throughput group and measurement_gap)."""
    from .metrics import series_list

    series = series_list(tuple(f"task{k}" for k in range(tasks)))
    return len(series) + (sum(1 for m, _ in series if m == "throughput") + 1 if derived else 0)


def _draw_width(tools: int, tasks: int) -> int:
    """Uniforms per new engineer (``Workforce.draw_width``, read from the class so the two never drift apart)."""
    from .workforce import Workforce

    return Workforce.draw_width.fget(SimpleNamespace(tables=SimpleNamespace(n_tools=tools, n_tasks=tasks)))


@lru_cache(maxsize=4096)
def model_estimate(engineers: int, tools: int, tasks: int, weeks: int, team_size: int) -> ModelEstimate:
    """Bytes one model run of these sizes needs (see the module's docstring for what is counted)."""
    from .streams import WeeklyLayout

    n, T, K = int(engineers), int(tools), int(tasks)
    teams = -(-n // max(int(team_size), 1))
    sizes = {"engineer": n, "tool": T, "task": K, "team": teams, "tool_task": T * K, "one": 1, "draw": _draw_width(T, K)}
    fixed, per_engineer = _channel_bytes(T, K)
    layout = WeeklyLayout(K)
    transients = [(what, sum(math.prod(sizes[a] for a in axes) * np.dtype(dt).itemsize for dt, axes in arrays)) for what, arrays in TRANSIENTS]
    what, transient = max(transients, key=lambda x: x[1])
    return ModelEstimate(
        engineers=n, tools=T, tasks=K, weeks=int(weeks),
        state=declared_bytes(STATE, sizes) + (n + teams) * 8,  # + the team of each slot and each team's first slot (int64)
        scratch=declared_bytes(SCRATCH, sizes),
        channels=fixed + per_engineer * n,
        draws=(layout.n_uniform + layout.n_normal) * n * DRAW_ITEMSIZE,
        recorder=int(weeks) * _series(K) * 8,
        transient=transient, transient_what=what,
    )


def scenario_estimate(scenario: Any) -> ModelEstimate:
    """The estimate for a ``Scenario`` (its organisation's size, tools, task types and team size, and its horizon)."""
    org = scenario.organisation
    return model_estimate(int(org.size), len(org.tools), len(org.task_types), int(scenario.weeks), int(org.team_size))


def check_model(scenario: Any, *, limit: int | None = None, source: str | None = None, raise_with: str | None = None) -> ModelEstimate:
    """Refuse (InputError) a scenario one run of which would need more memory than ``limit`` (default ``max_model_bytes()``)."""
    return check_estimate(scenario_estimate(scenario), limit=limit, source=source or f"scenario '{getattr(scenario, 'name', '?')}'",
                          raise_with=raise_with)


def check_estimate(est: ModelEstimate, *, limit: int | None = None, source: str, field: str | None = None,
                   raise_with: str | None = None) -> ModelEstimate:
    """Refuse (InputError) a model estimated at more than ``limit`` (default ``max_model_bytes()``); the message names the
    estimate and its parts, the limit, and how to raise it (``raise_with``, default: the CLI option or the environment variable)."""
    cap = max_model_bytes() if limit is None else int(limit)
    if est.total > cap:
        how = raise_with or f"{OPTION_MODEL} or the environment variable {ENV_MODEL}"
        raise InputError(
            f"one model run needs about {format_bytes(est.total)} of memory ({est.sizes()}), more than the limit of {format_bytes(cap)}: "
            f"lower organisation.size or the number of tools or task types, or raise the limit with {how} "
            f"(e.g. {ENV_MODEL}={_suggest(est.total)}). Of the estimate: {est.parts()}",
            source=source, field=field,
        )
    return est


def check_bytes(need: int, *, what: str, lower: str, source: str, value: Any = None, limit: int | None = None,
                raise_with: str | None = None) -> int:
    """Refuse (InputError) any other computation that would hold more than ``limit`` (default ``max_model_bytes()``) at once
    (the replicates of a virtual study, say); ``need`` is its estimate in bytes."""
    cap = max_model_bytes() if limit is None else int(limit)
    if need > cap:
        how = raise_with or f"{OPTION_MODEL} or the environment variable {ENV_MODEL}"
        raise InputError(f"{what} needs about {format_bytes(need)} of memory, more than the limit of {format_bytes(cap)}: {lower}, or raise the "
                         f"limit with {how} (e.g. {ENV_MODEL}={_suggest(need)})", source=source, value=value)
    return int(need)


def _suggest(need: int) -> str:
    """A round limit above ``need``: whole GiB (or MiB below 1 GiB)."""
    if need < GiB:
        return f"{-(-need // MiB) + 1}MiB"
    return f"{-(-need // GiB)}GiB"


# ---------------------------------------------------------------------------
# Results tables
# ---------------------------------------------------------------------------


def table_rows(scenarios: int, replicates: int, weeks: int, tasks: int) -> int:
    """Rows of the runner's tidy table: scenarios x replicates x weeks x series (the recorded ones and the derived true_gain, measurement_gap)."""
    return int(scenarios) * int(replicates) * int(weeks) * _series(int(tasks), True)


def check_table(rows: int, *, what: str, lower: str, source: str, row_bytes: int = TABLE_ROW_BYTES, limit: int | None = None,
                raise_with: str | None = None) -> int:
    """Refuse (InputError) a results table of ``rows`` rows that would need more memory than ``limit`` (default ``max_table_bytes()``)."""
    need = int(rows) * int(row_bytes)
    cap = max_table_bytes() if limit is None else int(limit)
    if need > cap:
        how = raise_with or f"{OPTION_TABLE} or the environment variable {ENV_TABLE}"
        raise InputError(
            f"{what} would hold {rows:,} rows, about {format_bytes(need)} of memory, more than the limit of {format_bytes(cap)}: {lower}, "
            f"or raise the limit with {how} (e.g. {ENV_TABLE}={_suggest(need)})",
            source=source,
        )
    return need


def check_runs(specs: Sequence[Any], replicates: int, *, source: str = "run") -> None:
    """Refuse a run or comparison of ``specs`` x ``replicates`` (paired with the no-AI counterfactual) that needs more memory
    than the limits: one model run (the largest), and the tidy table of all results."""
    for sc in specs:
        check_model(sc)
    if specs:
        weeks = max(int(s.weeks) for s in specs)
        tasks = max(len(s.organisation.task_types) for s in specs)
        rows = table_rows(len(specs), replicates, weeks, tasks)
        check_table(rows, what=f"the results of {len(specs)} scenario(s) x {int(replicates):,} replicates x {weeks} weeks", source=source,
                    lower="lower the replicates, weeks or task types")
