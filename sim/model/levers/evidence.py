"""Leadership's evidence: measured time savings and defects per seniority level, tool and task type, from the weeks' work."""

from __future__ import annotations

import numpy as np

from .. import jit, rules
from ..params import Measurement
from .base import WorkRecord


@jit.compile
def tally_uses(choice, shadow, present, members, seniority, multiplier, escaped, delivered, uses):
    """One week's uses of an approved tool, per [level, tool, task type], into ``uses`` [4, 3, T, K]: how many, and the sums
    of the saving (1 - multiplier), escaped defects and delivered work. Engineers who did not work, or are not ``members``,
    are left out; so are shadow uses (leadership cannot see them).

    Each sum runs over engineers, then task types, in order, from zero (as numpy's bincount does)."""
    N, K = choice.shape
    uses[:] = 0.0
    for i in range(N):
        if not (present[i] and members[i]):
            continue
        level = seniority[i]
        for k in range(K):
            c = choice[i, k]
            if c > 0 and not shadow[i, k]:
                j = c - 1
                uses[0, level, j, k] += 1.0
                uses[1, level, j, k] += 1.0 - multiplier[i, k]
                uses[2, level, j, k] += escaped[i, k]
                uses[3, level, j, k] += delivered[i, k]


class Evidence:
    """Accumulates what leadership measures of the weeks' work, and turns it into measured savings and defect ratios."""

    def __init__(self, n_tools: int, n_tasks: int, measurement: Measurement):
        self.T, self.K = n_tools, n_tasks
        self.measurement_sd = measurement.measurement_sd
        self.min_evidence = measurement.min_evidence
        self._uses = np.zeros((4, 3, n_tools, n_tasks))  # one week's tallies of approved-tool uses (tally_uses)
        self.clear()

    def clear(self) -> None:
        shape = (3, self.T, self.K)
        self.saving = np.zeros(shape)
        self.n = np.zeros(shape)
        self.defects_ai = np.zeros(shape)
        self.delivered_ai = np.zeros(shape)
        self.defects_base = np.zeros(self.K)
        self.delivered_base = np.zeros(self.K)

    def add(self, work: WorkRecord, seniority: np.ndarray, members: np.ndarray | None = None) -> None:
        """Add one week's work (of ``members`` only, when given): approved-tool uses by level, tool and task type; work without AI per task type."""
        everyone = members if members is not None else np.ones(work.present.shape, dtype=bool)
        tally_uses(work.choice, work.shadow, work.present, everyone, seniority, work.multiplier, work.escaped, work.delivered, self._uses)
        n, saving, defects, delivered = self._uses
        self.saving += saving
        self.n += n
        self.defects_ai += defects
        self.delivered_ai += delivered
        base = work.no_ai if members is None else work.no_ai & members[:, None]
        self.defects_base += (work.escaped * base).sum(axis=0)
        self.delivered_base += (work.delivered * base).sum(axis=0)

    def measured(self, rng: np.random.Generator, pooled: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Measured mean saving (with measurement error), where evidence suffices, and defect ratio; per [level,T,K], or per [T,K] pooled over levels."""
        saving_sum, n, d_ai, v_ai = self.saving, self.n, self.defects_ai, self.delivered_ai
        if pooled:
            saving_sum, n, d_ai, v_ai = (a.sum(axis=0) for a in (saving_sum, n, d_ai, v_ai))
        enough = n >= self.min_evidence
        z = rng.standard_normal(n.shape)
        saving = rules.measured_saving(saving_sum, np.maximum(n, 1.0), z, self.measurement_sd)
        rate_ai = d_ai / np.maximum(v_ai, 1e-9)
        rate_base = self.defects_base / np.maximum(self.delivered_base, 1e-9)
        return saving, enough, rules.defect_ratio(rate_ai, rate_base)
