"""Runs for the app: a bounded cache of results and a pool that runs comparisons in the background with progress.

A *job* is one call of ``sim.run_scenarios`` on validated scenarios (paired seeds),
followed by the figures, table and takeaways the page shows, all computed in a
worker process so the web server stays responsive. Results are cached under a key
made of the canonical scenario JSON, the seed and the replicates, so a repeated
view is instant; the cache holds at most ``cache_size`` results. The same key
asked for twice while running shares one job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import queue
import threading
import time
import traceback
from collections import OrderedDict
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from sim.errors import InputError
from sim.model import limits
from sim.model.params import Scenario

log = logging.getLogger("mandate_sim.app")

#: Progress reports of the worker processes: (job key, done, total).
_progress_queue: Any = None


def request_key(kind: str, specs: Sequence[Scenario], seed: int, replicates: int) -> str:
    """Cache key of a request: hash of the canonical JSON of its scenarios, the seed and the replicates."""
    payload = json.dumps(
        {"kind": kind, "scenarios": [s.model_dump(mode="json") for s in specs], "seed": int(seed), "replicates": int(replicates)},
        sort_keys=True, separators=(",", ":"),
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def work_of(specs: Sequence[Scenario], replicates: int) -> int:
    """Engineer-weeks a comparison simulates, the shared no-AI counterfactual included."""
    per_run = max(s.organisation.size * s.weeks for s in specs) if specs else 0
    return (len(specs) + 1) * int(replicates) * per_run


#: How a server's operator raises the memory limits (the app has no command-line option for them).
RAISE_WITH = {"model": f"the environment variable {limits.ENV_MODEL} of the server",
              "table": f"the environment variable {limits.ENV_TABLE} of the server"}


def check_work(specs: Sequence[Scenario], replicates: int, max_work: int, *, max_model_bytes: int | None = None,
               max_table_bytes: int | None = None) -> None:
    """Refuse a request that asks for more than the server allows: more engineer-weeks than ``max_work``, a model run that
    needs more memory than ``max_model_bytes`` (many engineers x tools x task types; the estimate of sim.model.limits,
    the one every model is admitted with), or results larger than ``max_table_bytes``. Defaults: the limits of
    sim.model.limits ($MANDATE_SIM_MAX_MODEL_BYTES, $MANDATE_SIM_MAX_TABLE_BYTES)."""
    work = work_of(specs, replicates)
    if work > max_work:
        raise InputError(
            f"asks for {work:,} engineer-weeks ({len(specs)} policies + the no-AI counterfactual x {replicates} replicates x engineers x weeks); "
            f"this server allows at most {max_work:,} per request: lower the replicates, engineers or weeks",
            source="request",
        )
    for sc in specs:  # the counterfactual has the same organisation and horizon as its policy
        limits.check_model(sc, limit=max_model_bytes, source="request", raise_with=RAISE_WITH["model"])
    if specs:
        weeks = max(int(s.weeks) for s in specs)
        tasks = max(len(s.organisation.task_types) for s in specs)
        limits.check_table(limits.table_rows(len(specs), replicates, weeks, tasks), source="request", limit=max_table_bytes,
                           what=f"the results of {len(specs)} policies x {int(replicates):,} replicates x {weeks} weeks",
                           lower="lower the replicates or weeks, or use an organisation with fewer task types", raise_with=RAISE_WITH["table"])


def _init_worker(progress_queue: Any) -> None:
    """Pool initialiser: keep the queue progress reports go to."""
    global _progress_queue
    _progress_queue = progress_queue
    import sim  # noqa: F401  (warm the imports once per worker)
    from sim.model.kernels import set_threads

    set_threads(1)  # the pool's processes are the app's parallelism: one thread each


def _report(key: str, done: int, total: int) -> None:
    if _progress_queue is not None:
        try:
            _progress_queue.put_nowait((key, done, total))
        except Exception:  # a full or closed queue must not fail the run
            pass


def run_job(key: str, task: Callable[..., Any], args: tuple) -> Any:
    """Worker entry: run ``task(*args, progress=...)`` reporting progress under ``key``."""
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - last[0] > 0.1:
            last[0] = now
            _report(key, done, total)

    return task(*args, progress=progress)


@dataclass
class Job:
    """One background run and what the page needs to show about it."""

    key: str
    future: Future
    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int = 0
    parts: dict = field(default_factory=dict)  # part -> (done, total) of a split job


class JobManager:
    """Background runs with progress and a bounded LRU cache of their results."""

    def __init__(self, *, workers: int = 2, cache_size: int = 32, max_pending: int = 16):
        self.cache_size = int(cache_size)
        self.max_pending = int(max_pending)
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._jobs: dict[str, Job] = {}
        self._errors: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()
        self.workers = int(workers)
        self._queue: Any
        self._executor: Executor = self._new_executor()
        self._listener = threading.Thread(target=self._listen, name="mandate-sim-progress", daemon=True)
        self._closed = False
        self._listener.start()

    # -- pool -------------------------------------------------------------
    def _new_executor(self) -> Executor:
        if self.workers > 0:
            ctx = multiprocessing.get_context("spawn")
            self._queue = ctx.Queue()
            return ProcessPoolExecutor(max_workers=self.workers, mp_context=ctx, initializer=_init_worker, initargs=(self._queue,))
        self._queue = queue.Queue()
        _init_worker(self._queue)
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="mandate-sim-run")

    def warm(self) -> None:
        """Start the worker processes and warm them up now (imports, compiled kernels) rather than on the first click."""
        if self.workers > 0:
            futures = [self._executor.submit(_warm_up) for _ in range(self.workers)]
            for f in futures:
                f.result(timeout=120)

    def _listen(self) -> None:
        while not getattr(self, "_closed", False):
            try:
                key, done, total = self._queue.get(timeout=0.2)
            except (queue.Empty, EOFError, OSError, ValueError):
                continue
            parent, _, part = key.partition("/")
            with self._lock:
                job = self._jobs.get(parent)
                if job is not None:
                    if not part:
                        job.done, job.total = done, total
                    elif part != "combine":
                        job.parts[part] = (done, total)
                        job.done = sum(d for d, _ in job.parts.values())
                        job.total = sum(t for _, t in job.parts.values())

    def close(self) -> None:
        """Stop the pool and the progress listener."""
        self._closed = True
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- cache ------------------------------------------------------------
    def cached(self, key: str) -> Any | None:
        """The cached result of ``key`` (marked as recently used), or None."""
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        return None

    def _store(self, key: str, value: Any) -> None:
        self._cache[key] = value
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def __len__(self) -> int:
        return len(self._cache)

    # -- jobs -------------------------------------------------------------
    def _admit(self, key: str) -> bool:
        """Under the lock: False when the result is cached or already being computed; refuse new work when the queue is full."""
        if key in self._cache or key in self._jobs:
            return False
        self._errors.pop(key, None)
        pending = sum(1 for j in self._jobs.values() if not j.future.done())
        if pending >= self.max_pending:
            raise InputError(f"the server is busy with {pending} runs; try again in a moment", source="request")
        return True

    def submit(self, key: str, task: Callable[..., Any], *args: Any) -> None:
        """Start ``task(*args, progress=...)`` in the background unless its result is cached or already running."""
        with self._lock:
            if not self._admit(key):
                return
            try:
                future = self._executor.submit(run_job, key, task, args)
            except BrokenProcessPool:
                self._executor = self._new_executor()
                future = self._executor.submit(run_job, key, task, args)
            self._jobs[key] = Job(key, future)
        future.add_done_callback(lambda f, key=key: self._finish(key, f))

    def submit_split(self, key: str, parts: Sequence[tuple[Callable[..., Any], tuple]], combine: Callable[..., Any], *extra: Any) -> None:
        """Run ``parts`` side by side in the pool, then ``combine(results, *extra)``: one job with one progress bar.

        A thread of this process waits on the parts (it computes nothing); the work stays in the workers.
        """
        with self._lock:
            if not self._admit(key):
                return
            job = Job(key, Future())
            job.future.set_running_or_notify_cancel()
            self._jobs[key] = job
        job.future.add_done_callback(lambda f, key=key: self._finish(key, f))
        threading.Thread(target=self._orchestrate, args=(job, list(parts), combine, extra), name="mandate-sim-split", daemon=True).start()

    def _orchestrate(self, job: Job, parts: list, combine: Callable[..., Any], extra: tuple) -> None:
        try:
            futures = [self._executor.submit(run_job, f"{job.key}/{i}", task, args) for i, (task, args) in enumerate(parts)]
            results = [f.result() for f in futures]
            job.future.set_result(self._executor.submit(run_job, f"{job.key}/combine", combine, (results, *extra)).result())
        except BaseException as e:  # the job reports it; the server goes on
            job.future.set_exception(e)

    def _finish(self, key: str, future: Future) -> None:
        with self._lock:
            self._jobs.pop(key, None)
            if future.cancelled():
                self._errors[key] = "the run was cancelled"
                return
            exc = future.exception()
            if exc is None:
                self._store(key, future.result())
                return
            if isinstance(exc, InputError):
                message = str(exc)
            elif isinstance(exc, BrokenProcessPool):
                message = "the run failed: its worker process died (out of memory?); the server has restarted its workers"
                self._executor = self._new_executor()
            else:
                message = f"the run failed: {type(exc).__name__}: {exc}"
                log.error("run %s failed:\n%s", key, "".join(traceback.format_exception(exc)))
            self._errors[key] = message
            while len(self._errors) > 100:
                self._errors.popitem(last=False)

    def status(self, key: str) -> dict:
        """{'state': 'done'|'running'|'failed'|'unknown', 'done', 'total', 'error'} of a job."""
        with self._lock:
            if key in self._cache:
                return {"state": "done"}
            if key in self._errors:
                return {"state": "failed", "error": self._errors[key]}
            job = self._jobs.get(key)
            if job is not None:
                return {"state": "running", "done": job.done, "total": job.total, "seconds": time.monotonic() - job.started}
        return {"state": "unknown"}

    def wait(self, key: str, timeout: float) -> dict:
        """Wait up to ``timeout`` seconds for ``key`` to finish; its status."""
        with self._lock:
            job = self._jobs.get(key)
        if job is not None:
            try:
                job.future.result(timeout=timeout)
            except Exception:
                pass
            # the done-callback runs right after the future resolves; give it a moment
            for _ in range(50):
                st = self.status(key)
                if st["state"] != "running" or not job.future.done():
                    return st
                time.sleep(0.002)
        return self.status(key)


def _warm_up() -> None:
    """A tiny comparison and its figures, so compiled kernels and plotting are loaded before the first click."""
    from sim.model.scenarios import load_scenario

    from .compute import compare_task

    compare_task([load_scenario(n, engineers=10, weeks=2) for n in ("mandate_single_tool", "free_choice")], 0, 1)
