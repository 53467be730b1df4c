"""What runs on a worker: one chunk of runs (``run_chunk``) and the evaluators the worker process keeps.

Every executor (in-process, process pool, Dask) sends ``run_chunk`` with the arguments ``Plan.chunk_args`` gives and
gets back the same result mapping: the finished run ids with their kept outputs, a message per failed run, and the
wall and CPU seconds it took. A worker keeps the evaluators it has used (by token), so their caches (such as the
paired counterfactual) live across chunks.
"""

from __future__ import annotations

import collections
import os
import sys
import time
import traceback
from typing import Any, Mapping, Sequence

import numpy as np

from sim.errors import InputError

_WORKER_EVALUATORS: "collections.OrderedDict[str, Any]" = collections.OrderedDict()


def _evaluator_here(evaluator: Any) -> Any:
    """This process's copy of an evaluator (kept across chunks so its caches live on)."""
    ev = _WORKER_EVALUATORS.get(evaluator.token)
    if ev is None:
        ev = _WORKER_EVALUATORS[evaluator.token] = evaluator
        while len(_WORKER_EVALUATORS) > 4:
            _WORKER_EVALUATORS.popitem(last=False)
    return ev


def run_chunk(evaluator: Any, run_ids: Sequence[int], points: Sequence[Mapping[str, Any]], seeds: Sequence[Sequence[int]]) -> dict:
    """Evaluate a chunk of runs; return only the kept outputs, and a message per failed run."""
    from sim.model.kernels import single_threaded

    t0, c0 = time.perf_counter(), time.process_time()
    ev = _evaluator_here(evaluator)
    ok: list[int] = []
    values: list[np.ndarray] = []
    failed: dict[int, tuple[str, str]] = {}
    with single_threaded():  # the sweep's workers are its parallelism: one thread each
        for rid, point, s in zip(run_ids, points, seeds):
            try:
                values.append(np.asarray(ev(point, s), dtype=float))
                ok.append(int(rid))
            except InputError as e:
                failed[int(rid)] = ("input", str(e))
            except Exception:  # a run that crashes is reported and retried on resume; the rest of the chunk goes on
                failed[int(rid)] = ("error", traceback.format_exc(limit=8))
    return {"run_ids": ok, "values": values, "failed": failed, "seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "pid": os.getpid()}


def failed_result(run_ids: Sequence[int], message: str) -> dict:
    """The result of a chunk that never ran (its worker died for good): every run failed with ``message``."""
    return {"run_ids": [], "values": [], "failed": {int(i): ("error", message) for i in run_ids}, "seconds": 0.0, "cpu_s": 0.0, "pid": None}


def worker_info() -> dict:
    """What a Dask worker runs: the model's fingerprint, Python and numpy (checked before a sweep is sent to a cluster)."""
    from sim.model.fingerprint import model_fingerprint

    return {"model": model_fingerprint(), "python": sys.version.split()[0], "numpy": np.__version__}
