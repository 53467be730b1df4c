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


def counter_uniforms(entropy: int, slots: np.ndarray, counters: np.ndarray, width: int) -> np.ndarray:
    """Uniforms in [0, 1) [len(slots), width] that depend only on (entropy, slot, counter, column): a counter-based stream.

    Used for new hires, so that the same slot's k-th hire draws the same numbers in every
    compared scenario, whatever the week they arrive (SplitMix64 finaliser as the hash).
    """
    from .kernels import hashed_uniforms

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
class WeeklyLayout:
    """Which rows of the weekly block belong to which decision."""

    n_tasks: int

    @property
    def uniform_rows(self) -> dict[str, slice]:
        k = self.n_tasks
        return {
            "choice": slice(0, k),
            "shadow": slice(k, 2 * k),
            "token": slice(2 * k, 2 * k + 1),
            "voice": slice(2 * k + 1, 2 * k + 2),
            "leave": slice(2 * k + 2, 2 * k + 3),
        }

    @property
    def n_uniform(self) -> int:
        return 2 * self.n_tasks + 3

    @property
    def normal_rows(self) -> dict[str, slice]:
        return {"perception": slice(0, self.n_tasks)}

    @property
    def n_normal(self) -> int:
        return self.n_tasks


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
        self._uni = {k: self._u[s] for k, s in self.layout.uniform_rows.items()}
        self._nor = {k: self._z[s] for k, s in self.layout.normal_rows.items()}

    def next_week(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """This week's uniforms and normals, by decision name; each row block is [rows, N] (one row if the decision is per engineer).

        The arrays are refilled in place every week."""
        self._uniform.random(dtype=np.float32, out=self._u)
        self._normal.standard_normal(dtype=np.float32, out=self._z)
        return self._uni, self._nor
