"""The run workers: processes that take tasks from the shared queue in fair order and run them (``RunPool``), each one
stopping with its owner; a dead worker fails only the job it was running and is replaced."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from multiprocessing.connection import wait as wait_sentinels
from typing import Any, Callable


from sim.errors import InputError, cut

from .store import JobStore

log = logging.getLogger("mandate_sim.app")

#: How often an idle run worker looks at the queue (seconds).
IDLE_POLL_S = 0.03
#: How often a run reports its progress at most (seconds).
PROGRESS_EVERY_S = 0.1
#: Niceness of the run workers: the web server answers pages first when the machine is busy with runs.
RUN_NICENESS = 5
#: Exit code of a run worker that stops after a MemoryError (the pool replaces it with a fresh process).
EXIT_AFTER_MEMORY_ERROR = 3


def _message(exc: BaseException) -> str:
    if isinstance(exc, InputError):
        return str(exc)
    return cut(f"the run failed: {type(exc).__name__}: {exc}", 600)


def work_loop(store: JobStore, worker: str, stopping: Callable[[], bool], *, exit_after_memory_error: bool) -> None:
    """Take tasks from the queue and run them until ``stopping()``; each one's result, progress or error goes to ``store``."""
    while not stopping():
        claimed = store.claim(worker)
        if claimed is None:
            time.sleep(IDLE_POLL_S)
            continue
        while claimed is not None:
            entry, (task, args) = claimed
            claimed = None
            last = [0.0]

            def progress(done: int, total: int, entry: dict = entry) -> None:
                now = time.monotonic()
                if done >= total or now - last[0] > PROGRESS_EVERY_S:
                    last[0] = now
                    try:
                        store.progress(entry, done, total)
                    except Exception:  # progress must never fail a run
                        pass

            t0 = time.monotonic()
            try:
                value = task(*args, progress=progress)
            except MemoryError:
                value = None
                store.fail(entry["key"], "the run ran out of memory and was stopped; only this run was lost: "
                           "lower the engineers, replicates or weeks", worker=worker)
                if exit_after_memory_error:
                    os._exit(EXIT_AFTER_MEMORY_ERROR)  # a fresh process takes this one's place
                continue
            except BaseException as e:  # the job reports it; the worker goes on
                if isinstance(e, (KeyboardInterrupt, SystemExit)):
                    raise
                if not isinstance(e, InputError):
                    log.error("run %s failed:\n%s", entry["key"], "".join(traceback.format_exception(e)))
                store.fail(entry["key"], _message(e), worker=worker)
                continue
            claimed = store.finish(worker, entry, value, time.monotonic() - t0)


def _warm_up() -> None:
    """A tiny comparison and its figures, so compiled kernels and plotting are loaded before the first click (outcome goals:
    leadership's evidence has a compiled tally of its own)."""
    from sim.model.scenarios import load_scenario

    from ..compute import compare_task

    compare_task([load_scenario(n, engineers=10, weeks=2) for n in ("mandate_single_tool", "free_choice", "outcome_goals")], 0, 1)


def _worker_main(folder: str, worker: str, owner_pid: int, warm: bool) -> None:
    """A run worker process: stop with its owner (even when the owner is killed), then work the queue."""
    from sim.experiments.sweeps.lifeline import die_with_parent, watch

    die_with_parent(owner_pid)
    watch(owner_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole terminal group: the owner stops the workers
    try:
        os.nice(RUN_NICENESS)
    except OSError:
        pass
    from sim.model.kernels import set_threads

    set_threads(1)  # the pool's processes are the app's parallelism: one thread each
    store = JobStore(folder)
    if warm:
        try:
            _warm_up()
        except InputError as e:  # e.g. a wrong limit in the environment: its message, once, without a traceback
            print(f"error: {e}", file=sys.stderr, flush=True)
            os._exit(2)
    store.state.set(("ready", worker), os.getpid())
    work_loop(store, worker, lambda: False, exit_after_memory_error=True)


class RunPool:
    """``workers`` run worker processes (0: one thread of this process) working the queue in ``folder``; a dead worker's
    job fails with a message and a new worker takes its place."""

    def __init__(self, folder: str | os.PathLike, workers: int, *, warm: bool = True):
        self.folder = str(folder)
        self.workers = int(workers)
        self.warm = warm
        self.store = JobStore(folder)
        self._stopping = threading.Event()
        self._procs: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._ctx = multiprocessing.get_context("spawn")
        self.replaced = 0  # workers replaced after dying
        self.start_error: str | None = None  # why a worker stopped before it was ready (it is not replaced)
        if self.workers == 0:
            t = threading.Thread(target=work_loop, args=(self.store, "thread-0", self._stopping.is_set),
                                 kwargs={"exit_after_memory_error": False}, name="mandate-sim-run", daemon=True)
            self._threads.append(t)
            t.start()
            self.store.state.set(("ready", "thread-0"), os.getpid())
            return
        for i in range(self.workers):
            self._start(f"run-{i}")
        monitor = threading.Thread(target=self._monitor, name="mandate-sim-run-monitor", daemon=True)
        self._threads.append(monitor)
        monitor.start()

    def _start(self, name: str) -> None:
        if self._stopping.is_set():
            return
        self.store.state.delete(("ready", name))
        p = self._ctx.Process(target=_worker_main, args=(self.folder, name, os.getpid(), self.warm), name=f"mandate-sim-{name}", daemon=True)
        p.start()
        with self._lock:
            self._procs[name] = p

    def pids(self) -> list[int]:
        with self._lock:
            return [p.pid for p in self._procs.values() if p.pid is not None]

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Wait until every worker has started (imports, compiled kernels loaded); RuntimeError after ``timeout`` seconds."""
        names = [f"run-{i}" for i in range(self.workers)] or ["thread-0"]
        end = time.monotonic() + timeout
        while not all(self.store.state.get(("ready", n)) for n in names):
            if self.start_error:
                raise RuntimeError(self.start_error)
            if time.monotonic() > end:
                raise RuntimeError(f"the run workers did not start within {timeout:.0f} s")
            time.sleep(0.05)

    def _monitor(self) -> None:
        """Replace a worker that died, failing only the job it was running."""
        while not self._stopping.is_set():
            with self._lock:
                procs = dict(self._procs)
            if procs:
                wait_sentinels([p.sentinel for p in procs.values()], timeout=0.5)
            else:
                self._stopping.wait(0.5)
            if self._stopping.is_set():
                return
            for name, p in procs.items():
                if p.exitcode is None:
                    continue
                p.join()
                code = p.exitcode
                if code in (-signal.SIGTERM, -signal.SIGINT) and self._stopping.wait(1.0):
                    return  # the whole app is stopping (a signal to its process group): nothing to replace
                if not self.store.state.get(("ready", name)):
                    self.start_error = f"a run worker stopped while starting (exit code {code}); its messages are above"
                    with self._lock:
                        self._procs.pop(name, None)
                    continue
                if code == EXIT_AFTER_MEMORY_ERROR:
                    why = None  # it has failed its job itself
                elif code < 0:
                    why = f"was killed ({signal.Signals(-code).name})"
                else:
                    why = f"stopped (exit code {code})"
                if why:
                    key = self.store.worker_gone(name, why + (", probably out of memory" if code == -signal.SIGKILL else ""))
                    log.warning("run worker %s (pid %s) %s%s; starting another", name, p.pid, why, f", failing job {key}" if key else "")
                self.replaced += 1
                self._start(name)

    def begin_stop(self) -> None:
        """The app is stopping: a worker that dies from now on is not replaced, and every worker is sent SIGTERM now, so
        that they stop while the web server does (``close`` waits for them, and kills any left)."""
        self._stopping.set()
        with self._lock:
            procs = list(self._procs.values())
        for p in procs:
            if p.exitcode is None:
                p.terminate()

    def close(self, timeout: float = 5.0) -> None:
        """Stop every worker: SIGTERM, then SIGKILL for any still there after ``timeout`` seconds."""
        self._stopping.set()
        for t in self._threads:  # first the monitor: it starts no worker after this
            t.join(10.0)
        with self._lock:
            procs = list(self._procs.values())
        for p in procs:
            if p.exitcode is None:
                p.terminate()
        end = time.monotonic() + timeout
        for p in procs:
            p.join(max(end - time.monotonic(), 0.05))
            if p.exitcode is None:
                p.kill()
                p.join(1.0)
