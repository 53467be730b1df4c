"""Progress of a running sweep: what the ``progress`` callback of ``sweep()`` receives after every chunk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass
class SweepProgress:
    """What a sweep has done so far (passed to the ``progress`` callback after every chunk)."""

    done: int  # runs finished, including those finished before a resume
    failed: int  # runs that failed in this session
    total: int  # runs in the design
    skipped: int  # runs already finished when this session started
    elapsed_s: float
    workers: int
    executor: str
    worker_cpu_s: float = 0.0  # CPU seconds the workers spent on this session's chunks

    @property
    def rate(self) -> float:
        """Runs finished per second in this session."""
        return (self.done - self.skipped) / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        """Seconds left at the current rate (None before the first chunk)."""
        left = self.total - self.done - self.failed
        return left / self.rate if self.rate > 0 else None


ProgressCallback = Callable[[SweepProgress], None]
