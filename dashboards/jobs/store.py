"""The queue, the jobs' state and the result cache in one folder shared by every process of the app (``JobStore``)."""

from __future__ import annotations

import logging
import os
import pickle
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import diskcache

from sim.errors import InputError, cut
from sim.model import limits

from .requests import fair_order

log = logging.getLogger("mandate_sim.app")

#: Bytes of finished results kept by default (``mandate-sim app --cache-bytes``): a default comparison is about 3 MB.
DEFAULT_CACHE_BYTES = 512 * limits.MiB
#: Jobs that may wait in the queue at once, all users together (``--max-queue``); one more is refused.
DEFAULT_MAX_QUEUE = 64
#: Jobs one user may have waiting at once; one more is refused.
DEFAULT_MAX_USER_QUEUE = 8
#: How long a failed job's message is kept for the page that polls it (seconds).
FAILED_KEEP_S = 600
#: SQLite settings of both caches: small page caches and no memory map, since each thread of each process holds a connection.
_SQLITE = {"sqlite_cache_size": 256, "sqlite_mmap_size": 0}
#: Estimate of a task's seconds before any has been measured: fixed seconds, seconds per engineer-week.
_OVERHEAD_S, _RATE0 = 0.3, 2.5e-6


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
