"""Runs for the app: a fair queue and a bounded result cache in one shared folder, worked by a bounded pool of run processes.

The web server may run as several processes (``mandate-sim app`` serves through gunicorn), so nothing about a run
lives in one process's memory: the queue, each job's state and progress, and the finished results sit in a folder
shared by every process (two `diskcache <https://grantjenks.com/docs/diskcache/>`_ caches, SQLite plus files):

``results/``
    finished results by request key (``Bundle``), bounded in bytes (``cache_bytes``; least recently *used* evicted
    first); a repeated view is served from here at once, by any server process, and it outlives any one process.
``jobs/``
    the queue (``"queue"``: small entries, fair order), what each run worker is running (``"running"``), one record
    per job (state, submission time, parts), each part's progress and, for a split job, its parts' results until they
    are joined; the task itself (``("task", key, part)``: a function of ``compute`` and its arguments).

Any server process can submit, answer a poll or render a result. The runs are done by ``RunPool``: a bounded number
of worker processes (``--workers``), started and watched by the process that owns the folder (``mandate-sim app``'s
main process, or the test's): each takes the next task in fair order, runs it, reports progress and stores the
result. A worker that dies (killed, out of memory) fails only the job it was running, with a message on the page,
and is replaced; a ``MemoryError`` fails only its job too.

Fair order: a user's first waiting job goes before anyone's second (jobs are ranked by how many jobs their user
already has running or waiting ahead of them, then by arrival). A user sees their place and an estimate of the wait.
Work is refused only beyond the queue's bounds (``max_queue`` jobs waiting in all, ``max_user_queue`` per user),
with a message saying so; accepted work always completes (or fails with its own error).

Only server-produced values are stored (diskcache pickles them): scenarios built and validated by the server,
result tables and figures. Nothing a user sends is unpickled; the folder is created private to the server's user.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from multiprocessing.connection import wait as wait_sentinels
from pathlib import Path
from typing import Any, Callable, Sequence

import diskcache

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the folder is not locked
    fcntl = None  # type: ignore[assignment]

from sim.errors import InputError, cut
from sim.model import limits
from sim.model.fingerprint import model_fingerprint
from sim.model.params import Scenario

log = logging.getLogger("mandate_sim.app")

#: Bytes of finished results kept by default (``mandate-sim app --cache-bytes``): a default comparison is about 3 MB.
DEFAULT_CACHE_BYTES = 512 * limits.MiB
#: Jobs that may wait in the queue at once, all users together (``--max-queue``); one more is refused.
DEFAULT_MAX_QUEUE = 64
#: Jobs one user may have waiting at once; one more is refused.
DEFAULT_MAX_USER_QUEUE = 8
#: How long a failed job's message is kept for the page that polls it (seconds).
FAILED_KEEP_S = 600
#: How often an idle run worker looks at the queue (seconds).
IDLE_POLL_S = 0.03
#: How often a run reports its progress at most (seconds).
PROGRESS_EVERY_S = 0.1
#: Niceness of the run workers: the web server answers pages first when the machine is busy with runs.
RUN_NICENESS = 5
#: Exit code of a run worker that stops after a MemoryError (the pool replaces it with a fresh process).
EXIT_AFTER_MEMORY_ERROR = 3
#: SQLite settings of both caches: small page caches and no memory map, since each thread of each process holds a connection.
_SQLITE = {"sqlite_cache_size": 256, "sqlite_mmap_size": 0}
#: Estimate of a task's seconds before any has been measured: fixed seconds, seconds per engineer-week.
_OVERHEAD_S, _RATE0 = 0.3, 2.5e-6
#: Bump when what a cached result holds changes (results from an older format are not served).
RESULT_FORMAT = 2


def request_key(kind: str, specs: Sequence[Scenario], seed: int, replicates: int) -> str:
    """Cache key of a request: hash of the canonical JSON of its scenarios, the seed, the replicates and the model's version."""
    payload = json.dumps(
        {"kind": kind, "scenarios": [s.model_dump(mode="json") for s in specs], "seed": int(seed), "replicates": int(replicates),
         "model": model_fingerprint(), "format": RESULT_FORMAT},
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


# ---------------------------------------------------------------------------------------------------------------
# Fair order
# ---------------------------------------------------------------------------------------------------------------


def fair_order(queue: Sequence[dict], running: dict[str, dict]) -> list[dict]:
    """The queue's entries in the order they are run: by rank, then arrival.

    A job's rank is the number of other jobs its user has running, plus the number of that user's jobs waiting ahead of
    it: everyone's first job goes before anyone's second. The parts of one job share its rank.
    """
    busy: dict[str, set[str]] = {}
    for e in running.values():
        busy.setdefault(e["user"], set()).add(e["key"])
    waiting: Counter[str] = Counter()
    rank: dict[str, int] = {}
    for e in sorted(queue, key=lambda e: e["seq"]):
        if e["key"] not in rank:
            rank[e["key"]] = len(busy.get(e["user"], set()) - {e["key"]}) + waiting[e["user"]]
            waiting[e["user"]] += 1
    return sorted(queue, key=lambda e: (rank[e["key"]], e["seq"], str(e["part"])))


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def queue_text(st: dict) -> str:
    """What a page says about a waiting job: its place in the queue and the estimated wait."""
    ahead = st.get("ahead", 0)
    runs = "run" if ahead == 1 else "runs"
    return f"waiting in the queue: {_ordinal(st.get('position', 1))} in line ({ahead} {runs} ahead), starts in about {max(st.get('eta', 0), 1):.0f} s"


# ---------------------------------------------------------------------------------------------------------------
# The shared folder
# ---------------------------------------------------------------------------------------------------------------


class JobStore:
    """The queue, the jobs' state and the result cache in ``folder`` (shared by every process of one app).

    ``JobStore.create`` sets a folder up (the owner: the process that starts the run workers); ``JobStore(folder)``
    opens one (a server process, a run worker).
    """

    def __init__(self, folder: str | os.PathLike):
        self.folder = Path(folder)
        self.state = diskcache.Cache(str(self.folder / "jobs"), eviction_policy="none", size_limit=2**50, **_SQLITE)
        # diskcache's own culling is off (cull_limit=0): it drops up to cull_limit entries at once, the new result
        # included; _evict drops the least recently used results one by one, never the one just stored.
        self.results = diskcache.Cache(str(self.folder / "results"), eviction_policy="none", size_limit=2**50, cull_limit=0, **_SQLITE)
        config = self.state.get("config") or {}
        self.cache_limit = int(config.get("cache_bytes", DEFAULT_CACHE_BYTES))
        self.max_queue = int(config.get("max_queue", DEFAULT_MAX_QUEUE))
        self.max_user_queue = int(config.get("max_user_queue", DEFAULT_MAX_USER_QUEUE))
        self.workers = int(config.get("workers", 1))

    @classmethod
    def create(cls, folder: str | os.PathLike, *, cache_bytes: int = DEFAULT_CACHE_BYTES, max_queue: int = DEFAULT_MAX_QUEUE,
               max_user_queue: int = DEFAULT_MAX_USER_QUEUE, workers: int = 1) -> "JobStore":
        """Set up ``folder``: the result cache keeps what it holds (its size limit is set to ``cache_bytes``); the queue
        and the jobs of an earlier app are cleared."""
        folder = Path(folder)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # private to the server's user, also when the operator made it (what it holds is unpickled)
        jobs = diskcache.Cache(str(folder / "jobs"), eviction_policy="none", size_limit=2**50, **_SQLITE)
        used = jobs.get("lru") or {}  # the order in which the kept results were last used
        jobs.clear()
        jobs.set("config", {"max_queue": int(max_queue), "max_user_queue": int(max_user_queue), "workers": max(int(workers), 1),
                            "cache_bytes": int(cache_bytes)})
        jobs.close()
        store = cls(folder)
        held = [k for k in store.results.iterkeys() if isinstance(k, str)]
        order = [k for k in held if k not in used] + [k for k in used if k in set(held)]  # least recently used first
        store.state.set("lru", dict.fromkeys(order))
        store._evict(keep=None)  # a smaller --cache-bytes than last time
        return store

    def close(self) -> None:
        """Close this process's connections (they reopen on the next use)."""
        self.state.close()
        self.results.close()

    # -- results ----------------------------------------------------------------------------------------------
    def cached(self, key: str) -> Any | None:
        """The finished result of ``key`` (marked as recently used), or None."""
        try:
            value = self.results.get(key)
        except Exception:  # a result that no longer unpickles (written by another version) is not served
            log.warning("dropping unreadable cached result %s", key)
            self.results.delete(key)
            return None
        if value is not None:
            self._touch(key)
        return value

    def _touch(self, key: str) -> None:
        """Mark ``key`` as the most recently used result."""
        with self.state.transact():
            lru = self.state.get("lru", {})
            lru.pop(key, None)
            lru[key] = None
            self.state.set("lru", lru)

    def keep(self, key: str, value: Any) -> None:
        """Store a finished result: first make room for it (least recently used others go), then store it, then drop more
        if the store grew beyond its bound. A poll sees the job done once the result is stored, so the room is made first
        and the cache is within its bound whenever a result is visible."""
        self._evict(keep=key, room=len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)))
        self.results.set(key, value)
        self._touch(key)
        self._evict(keep=key)

    def _evict(self, keep: str | None, room: int = 0) -> None:
        """Drop least recently used results (never ``keep``) while the cache holds more than ``cache_limit`` bytes less
        ``room``. A single result larger than the whole bound is kept alone until the next one arrives (checks before a run
        bound its size)."""
        while self.results.volume() + room > self.cache_limit:
            with self.state.transact():
                lru = self.state.get("lru", {})
                victim = next((k for k in lru if k != keep), None)
                if victim is not None:
                    del lru[victim]
                    self.state.set("lru", lru)
            if victim is None:
                return
            self.results.delete(victim)

    def cache_bytes(self) -> int:
        """Bytes the result cache holds (its database and files)."""
        return int(self.results.volume())

    def __len__(self) -> int:
        return len(self.results)

    # -- submitting -------------------------------------------------------------------------------------------
    def submit(self, key: str, task: Callable[..., Any], *args: Any, user: str = "", work: int = 0) -> None:
        """Queue ``task(*args, progress=...)`` under ``key`` unless its result is cached or it is already waiting or running."""
        self._enqueue(key, [(task, args)], None, user, [work])

    def submit_split(self, key: str, parts: Sequence[tuple[Callable[..., Any], tuple]], combine: Callable[..., Any], *extra: Any,
                     user: str = "", work: int = 0) -> None:
        """Queue ``parts`` (run side by side by the workers), then ``combine(results, *extra)``: one job, one progress bar."""
        parts = list(parts)
        share = [int(work) // max(len(parts), 1)] * len(parts)
        self._enqueue(key, parts, (combine, extra), user, share)

    def _enqueue(self, key: str, parts: list, combine: tuple | None, user: str, works: list[int]) -> None:
        if key in self.results:
            return
        user = cut(str(user or "anonymous"), 64)
        with self.state.transact():
            rec = self.state.get(("job", key))
            if rec is not None and rec["state"] in ("queued", "running"):
                return  # the same request is on its way: share it
            queue = self.state.get("queue", [])
            waiting = {e["key"] for e in queue}
            if len(waiting) >= self.max_queue:
                raise InputError(
                    f"the server's queue is full: {len(waiting)} runs are waiting, the most it holds (mandate-sim app --max-queue); "
                    "try again in a minute", source="request")
            mine = {e["key"] for e in queue if e["user"] == user}
            if len(mine) >= self.max_user_queue:
                raise InputError(
                    f"you have {len(mine)} runs waiting already, the most one user may have; wait for them to finish", source="request")
            seq = self.state.incr("seq")
            split = combine is not None
            for i, ((task, args), work) in enumerate(zip(parts, works)):
                part = i if split else None
                self.state.set(("task", key, part), (task, tuple(args)))
                queue.append({"key": key, "part": part, "user": user, "seq": seq, "work": int(work)})
            if split:
                self.state.set(("task", key, "combine"), combine)
            self.state.set(("job", key), {"state": "queued", "user": user, "submitted": time.time(), "started": None,
                                          "parts": len(parts) if split else 0, "parts_done": 0, "work": int(sum(works))})
            self.state.set("queue", queue)

    # -- answering polls --------------------------------------------------------------------------------------
    def status(self, key: str) -> dict:
        """{'state': 'done'|'queued'|'running'|'failed'|'unknown', ...}: a queued job's 'position', 'ahead' (runs ahead)
        and 'eta' (seconds until it starts); a running one's 'done', 'total' and 'seconds'; a failed one's 'error'."""
        if key in self.results:
            return {"state": "done"}
        rec = self.state.get(("job", key))
        if rec is None:
            return {"state": "unknown"}
        if rec["state"] == "failed":
            return {"state": "failed", "error": rec["error"]}
        if rec["state"] == "queued":
            return {"state": "queued", **self._place(key)}
        done = total = 0
        for part in (range(rec["parts"]) if rec["parts"] else [None]):
            d, t = self.state.get(("progress", key, part), (0, 0))
            done, total = done + d, total + t
        return {"state": "running", "done": done, "total": total, "seconds": time.time() - (rec["started"] or rec["submitted"])}

    def _estimate(self, entry: dict) -> float:
        rate = self.state.get("rate", _RATE0)
        return _OVERHEAD_S + entry.get("work", 0) * rate

    def _place(self, key: str) -> dict:
        """A queued job's place: 1 + the jobs ahead of it, and the seconds until a worker takes it (estimated)."""
        queue, running = self.state.get("queue", []), self.state.get("running", {})
        order = fair_order(queue, running)
        ahead: list[str] = []
        seconds = 0.0
        for e in order:
            if e["key"] == key:
                break
            if e["key"] not in ahead:
                ahead.append(e["key"])
            seconds += self._estimate(e)
        now = time.time()
        for e in running.values():
            seconds += max(self._estimate(e) - (now - e["started"]), 0.1)
        return {"position": len(ahead) + 1, "ahead": len(ahead), "eta": seconds / max(self.workers, 1)}

    def wait(self, key: str, timeout: float) -> dict:
        """Wait up to ``timeout`` seconds for ``key`` to finish (or fail); its status."""
        end = time.monotonic() + timeout
        while True:
            st = self.status(key)
            if st["state"] not in ("queued", "running") or time.monotonic() >= end:
                return st
            time.sleep(0.02)

    def running(self) -> dict[str, dict]:
        """What each run worker is running now: worker name -> {'key', 'part', 'user', 'pid', 'started', ...}."""
        return dict(self.state.get("running", {}))

    def queued(self) -> list[dict]:
        """The waiting entries, in the order they will run."""
        return fair_order(self.state.get("queue", []), self.state.get("running", {}))

    # -- the run workers' side ----------------------------------------------------------------------------------
    def claim(self, worker: str) -> tuple[dict, Any] | None:
        """Take the next task in fair order for ``worker``: (entry, (function, arguments)), or None when nothing waits."""
        if not self.state.get("queue"):
            return None
        with self.state.transact():
            queue = self.state.get("queue", [])
            if not queue:
                return None
            running = self.state.get("running", {})
            entry = fair_order(queue, running)[0]
            queue.remove(entry)
            self.state.set("queue", queue)
            task = self.state.get(("task", entry["key"], entry["part"]))
            if task is None:  # its job failed meanwhile
                return None
            now = time.time()
            running[worker] = {**entry, "started": now, "pid": os.getpid()}
            self.state.set("running", running)
            rec = self.state.get(("job", entry["key"]))
            if rec is not None and rec["state"] == "queued":
                rec.update(state="running", started=now)
                self.state.set(("job", entry["key"]), rec)
        return entry, task

    def progress(self, entry: dict, done: int, total: int) -> None:
        self.state.set(("progress", entry["key"], entry["part"]), (int(done), int(total)))

    def _learn(self, entry: dict, seconds: float) -> None:
        """Update the estimate of seconds per engineer-week with a finished task's time (moving average)."""
        if entry.get("work", 0) > 0:
            observed = max(seconds - _OVERHEAD_S, 0.0) / entry["work"]
            rate = self.state.get("rate", _RATE0)
            self.state.set("rate", 0.7 * rate + 0.3 * observed)

    def finish(self, worker: str, entry: dict, value: Any, seconds: float) -> tuple[dict, Any] | None:
        """Record a finished task. For the last part of a split job, the join to run next (entry, (combine, args))."""
        key, part = entry["key"], entry["part"]
        self._learn(entry, seconds)
        if part is None or part == "combine":
            self.keep(key, value)  # first the result, then the record goes: a poll in between sees 'done'
            with self.state.transact():
                running = self.state.get("running", {})
                running.pop(worker, None)
                self.state.set("running", running)
                self._forget(key)
            return None
        with self.state.transact():
            running = self.state.get("running", {})
            running.pop(worker, None)
            rec = self.state.get(("job", key))
            if rec is None or rec["state"] == "failed":
                self.state.set("running", running)
                return None
            self.state.set(("part", key, part), value)
            rec["parts_done"] += 1
            self.state.set(("job", key), rec)
            if rec["parts_done"] < rec["parts"]:
                self.state.set("running", running)
                return None
            combine, extra = self.state.get(("task", key, "combine"))
            frames = [self.state.get(("part", key, i)) for i in range(rec["parts"])]
            join = {"key": key, "part": "combine", "user": entry["user"], "seq": entry["seq"], "work": 0}
            running[worker] = {**join, "started": time.time(), "pid": os.getpid()}
            self.state.set("running", running)
        return join, (combine, (frames, *extra))

    def fail(self, key: str, message: str, worker: str | None = None) -> None:
        """Fail job ``key`` with ``message`` (shown on its page): its other parts are dropped, the queue goes on."""
        with self.state.transact():
            running = self.state.get("running", {})
            if worker is not None:
                running.pop(worker, None)
                self.state.set("running", running)
            queue = self.state.get("queue", [])
            self.state.set("queue", [e for e in queue if e["key"] != key])
            rec = self.state.get(("job", key)) or {"user": "", "submitted": time.time(), "started": None, "parts": 0, "parts_done": 0}
            self._forget(key)
            rec.update(state="failed", error=message)
            self.state.set(("job", key), rec, expire=FAILED_KEEP_S)

    def _forget(self, key: str) -> None:
        """Delete a job's record, tasks, progress and parts (inside a transaction)."""
        rec = self.state.get(("job", key)) or {}
        parts = list(range(rec.get("parts") or 0)) or [None]
        self.state.delete(("job", key))
        self.state.delete(("task", key, "combine"))
        for p in parts:
            for kind in ("task", "progress", "part"):
                self.state.delete((kind, key, p))

    def worker_gone(self, worker: str, why: str) -> str | None:
        """A run worker died: fail the job it was running (only that one); the key of that job, if any."""
        entry = self.running().get(worker)
        if entry is None:
            return None
        self.fail(entry["key"], f"the run failed: its worker process {why}; only this run was lost: press Run to try again", worker=worker)
        return entry["key"]


# ---------------------------------------------------------------------------------------------------------------
# The run workers
# ---------------------------------------------------------------------------------------------------------------


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
    """A tiny comparison and its figures, so compiled kernels and plotting are loaded before the first click."""
    from sim.model.scenarios import load_scenario

    from .compute import compare_task

    compare_task([load_scenario(n, engineers=10, weeks=2) for n in ("mandate_single_tool", "free_choice")], 0, 1)


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


# ---------------------------------------------------------------------------------------------------------------
# What the app holds: the folder, and the pool when this process owns it
# ---------------------------------------------------------------------------------------------------------------


class JobManager(JobStore):
    """The app's runs: the shared folder (``JobStore``) and, when this process owns it, the run pool.

    ``JobManager(workers=N)`` sets up a private temporary folder (removed by ``close``) and starts ``N`` run processes
    (0: a thread); ``folder=`` uses that folder instead, locked against a second owner, and keeps its results.
    ``JobManager(folder, own=False)`` attaches to a folder another process owns (a gunicorn server worker).
    """

    def __init__(self, folder: str | os.PathLike | None = None, *, workers: int = 2, own: bool = True, cache_bytes: int = DEFAULT_CACHE_BYTES,
                 max_queue: int = DEFAULT_MAX_QUEUE, max_user_queue: int = DEFAULT_MAX_USER_QUEUE, warm: bool = True):
        self._temporary = folder is None
        self._lockfile = None
        self.pool: RunPool | None = None
        if folder is None:
            folder = tempfile.mkdtemp(prefix="mandate-sim-app-")
        if own:
            self._lockfile = lock_folder(Path(folder))
            JobStore.create(folder, cache_bytes=cache_bytes, max_queue=max_queue, max_user_queue=max_user_queue, workers=workers)
        super().__init__(folder)
        if own:
            self.pool = RunPool(folder, workers, warm=warm)

    def warm(self, timeout: float = 180.0) -> None:
        """Wait until the run workers have started and warmed up (imports, compiled kernels) rather than on the first click."""
        if self.pool is not None:
            self.pool.wait_ready(timeout)

    def begin_stop(self) -> None:
        """The app is stopping: its run workers are no longer replaced when they die (a signal to the whole group also
        reaches them) and are told to stop now (``close`` waits for them)."""
        if self.pool is not None:
            self.pool.begin_stop()

    def close(self) -> None:
        """Stop the run pool (when this process owns it), close the caches, and remove a temporary folder."""
        if self.pool is not None:
            self.pool.close()
            self.pool = None
        super().close()
        if self._lockfile is not None:
            self._lockfile.close()
            self._lockfile = None
        if self._temporary:
            shutil.rmtree(self.folder, ignore_errors=True)
            self._temporary = False


def lock_folder(folder: Path):
    """Hold ``folder/.owner.lock`` for this process (released when the returned file is closed); refuse a folder another
    running app holds."""
    if fcntl is None:  # pragma: no cover
        return None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        f = open(folder / ".owner.lock", "a+")
    except OSError as e:
        raise InputError(f"cannot be used: {e.strerror}", source="--cache-dir", value=str(folder)) from None
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        raise InputError("is in use by another mandate-sim app (one folder per app)", source="--cache-dir", value=str(folder)) from None
    return f
