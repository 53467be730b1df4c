"""Leadership's evidence: measured time savings and defects per seniority level, tool and task type, from the weeks' work."""

from __future__ import annotations

import numpy as np

from .. import rules
from ..params import Measurement
from .base import WorkRecord


class Evidence:
    """Accumulates what leadership measures of the weeks' work, and turns it into measured savings and defect ratios."""

    def __init__(self, n_tools: int, n_tasks: int, measurement: Measurement):
        self.T, self.K = n_tools, n_tasks
        self.measurement_sd = measurement.measurement_sd
        self.min_evidence = measurement.min_evidence
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
        used = work.approved_use if members is None else work.approved_use & members[:, None]
        base = work.no_ai if members is None else work.no_ai & members[:, None]
        idx = (seniority[:, None] * self.T + (work.choice - 1)) * self.K + np.arange(self.K)[None, :]
        size = 3 * self.T * self.K
        shape = (3, self.T, self.K)
        i = idx[used]
        self.saving += np.bincount(i, weights=(1.0 - work.multiplier)[used], minlength=size).reshape(shape)
        self.n += np.bincount(i, minlength=size).reshape(shape)
        self.defects_ai += np.bincount(i, weights=work.escaped[used], minlength=size).reshape(shape)
        self.delivered_ai += np.bincount(i, weights=work.delivered[used], minlength=size).reshape(shape)
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
