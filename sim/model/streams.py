"""Random numbers: one stream per named decision, so compared policies share draws.

Every stream is seeded from (the model's seed, the decision's name) through
``numpy.random.SeedSequence``. The weekly draws come as one fixed block per
week (one row per engineer-slot and decision), drawn whatever the policy, so a
policy that changes one decision never shifts the draws of another: differences
between scenarios run with the same seed are paired (common random numbers).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

import numba as nb

from . import bundles, jit  # noqa: F401  (jit: the model's numba cache, set before compiling)


@nb.njit(cache=True)
def _splitmix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=True)
def hashed_uniforms(entropy, slots, counters, out):
    """Fill out[m, width] with uniforms in [0, 1) hashed from (entropy, slot, counter, column)."""
    m, width = out.shape
    for r in range(m):
        key = _splitmix64(entropy ^ _splitmix64(np.uint64(slots[r]) * np.uint64(0x100000001B3) + np.uint64(counters[r])))
        for c in range(width):
            x = _splitmix64(key + np.uint64(c) * np.uint64(0x9E3779B97F4A7C15))
            out[r, c] = (x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


def counter_uniforms(entropy: int, slots: np.ndarray, counters: np.ndarray, width: int) -> np.ndarray:
    """Uniforms in [0, 1) [len(slots), width] that depend only on (entropy, slot, counter, column): a counter-based stream.

    Used for new hires, so that the same slot's k-th hire draws the same numbers in every
    compared scenario, whatever the week they arrive (SplitMix64 finaliser as the hash).
    """
    out = np.empty((slots.size, width))
    hashed_uniforms(np.uint64(int(entropy) & 0xFFFFFFFFFFFFFFFF), slots.astype(np.int64), counters.astype(np.int64), out)
    return out


def stream_key(name: str) -> int:
    """A stable 32-bit key for a decision name (the same on every machine and process)."""
    return zlib.crc32(name.encode("utf-8"))


def named_rng(entropy: int, name: str) -> np.random.Generator:
    """The generator of one named decision."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(stream_key(name),))))


@dataclass(frozen=True)
class Decision:
    """One weekly decision that draws random numbers for every engineer slot: a uniform or a normal, once or per task type."""

    name: str
    distribution: str  # "uniform" or "normal"
    per_task: bool
    description: str


#: Every weekly random decision, in the order its rows are drawn (this order fixes the streams: never reorder).
DECISIONS: tuple[Decision, ...] = (
    Decision("choice", "uniform", True, "Which option an engineer picks for a task type (logit choice)."),
    Decision("shadow", "uniform", True, "Whether an engineer uses a barred tool believed better."),
    Decision("token", "uniform", False, "Whether an engineer with no real use makes a token use."),
    Decision("voice", "uniform", False, "Whether a dissatisfied engineer speaks up."),
    Decision("leave", "uniform", False, "Whether an engineer leaves."),
    Decision("perception", "normal", True, "Noise in an engineer's perception of the speed-up on a task type."),
    Decision("engage", "uniform", False, "Whether an engineer starts, or gives up, working with AI."),
    Decision("errors", "normal", False, "Luck in how many of AI's errors an engineer runs into this week."),
)

#: The week's draws as a kernel bundle: per-task decisions are [K, N] arrays, the others [N].
Draws = bundles.bundle_type("Draws", [d.name for d in DECISIONS], __name__)


@dataclass(frozen=True)
class WeeklyLayout:
    """Which rows of the weekly blocks (uniforms, normals) belong to which decision."""

    n_tasks: int

    def rows(self, distribution: str) -> dict[str, slice]:
        """Row slices of one block, by decision name, in declaration order."""
        out, r = {}, 0
        for d in DECISIONS:
            if d.distribution == distribution:
                width = self.n_tasks if d.per_task else 1
                out[d.name] = slice(r, r + width)
                r += width
        return out

    @property
    def uniform_rows(self) -> dict[str, slice]:
        return self.rows("uniform")

    @property
    def n_uniform(self) -> int:
        return max(s.stop for s in self.uniform_rows.values())

    @property
    def normal_rows(self) -> dict[str, slice]:
        return self.rows("normal")

    @property
    def n_normal(self) -> int:
        return max(s.stop for s in self.normal_rows.values())


class WeeklyDraws:
    """Draws one fixed block of uniforms and normals per week for all engineer slots."""

    def __init__(self, entropy: int, n_slots: int, n_tasks: int):
        self.layout = WeeklyLayout(n_tasks)
        self._uniform = named_rng(entropy, "weekly/uniform")
        self._normal = named_rng(entropy, "weekly/normal")
        self.n = n_slots
        # Single precision is plenty for comparing with probabilities and for perception noise, and twice as fast to draw.
        self._u = np.empty((self.layout.n_uniform, n_slots), dtype=np.float32)
        self._z = np.empty((self.layout.n_normal, n_slots), dtype=np.float32)
        views = {}
        for d in DECISIONS:
            block, rows = (self._u, self.layout.uniform_rows) if d.distribution == "uniform" else (self._z, self.layout.normal_rows)
            view = block[rows[d.name]]
            views[d.name] = view if d.per_task else view[0]
        #: This week's draws by decision (views, refilled in place every week).
        self.bundle = Draws(**views)

    def next_week(self):
        """Draw this week's numbers; returns the ``Draws`` bundle (the same arrays, refilled in place)."""
        self._uniform.random(dtype=np.float32, out=self._u)
        self._normal.standard_normal(dtype=np.float32, out=self._z)
        return self.bundle
