"""Where a sweep's runs are evaluated: one ``Executor`` interface, its three implementations, and the ``Feeder``.

The ``Feeder`` hands out chunks of unfinished run ids (sized to about ``CHUNK_SECONDS`` of work each). An
``Executor`` takes the plan and the feeder and yields ``(run ids, result)`` for each chunk as it finishes, the
result being what ``worker.run_chunk`` returns; it is a context manager that starts what it needs on entering
(setting ``workers``) and releases it on leaving. ``InProcessExecutor`` runs chunks in this process,
``ProcessPoolExecutor`` in local worker processes, ``DaskExecutor`` on a Dask cluster (an existing scheduler or a
new LocalCluster on 127.0.0.1). ``pick_executor`` chooses one; nothing else looks at which it is.
"""

from __future__ import annotations

import abc
import collections
import math
import os
import time
from typing import Any, Iterator, Sequence

from sim.errors import InputError
from sim.model.fingerprint import model_fingerprint

from . import lifeline
from .plan import Plan
from .store import describe_model
from .worker import failed_result, run_chunk, worker_info

#: Target wall time of one chunk of runs on a worker (seconds); chunks adapt to it.
CHUNK_SECONDS = 2.0
#: Largest chunk, in runs.
MAX_CHUNK = 2000
#: Seconds to wait for a Dask scheduler to answer before giving up with a clear error.
SCHEDULER_TIMEOUT_S = 15
#: Times a chunk is sent to a Dask cluster before its runs count as failed (the scheduler also reruns it when a worker dies).
DASK_ATTEMPTS = 3

#: What an executor yields per chunk: the chunk's run ids and ``worker.run_chunk``'s result for them.
Chunk = tuple[list[int], dict]


class Feeder:
    """Hands out chunks of unfinished run ids; without a fixed size, chunks grow to about CHUNK_SECONDS of work."""

    def __init__(self, todo: Sequence[int], workers: int, chunk_size: int | None):
        self.todo = collections.deque(todo)
        self.workers = max(1, workers)
        self.fixed = chunk_size
        self.per_run: float | None = None

    def observe(self, runs: int, seconds: float) -> None:
        """Learn the time per run from a finished chunk (an exponential moving average)."""
        if runs > 0 and seconds > 0:
            x = seconds / runs
            self.per_run = x if self.per_run is None else 0.7 * self.per_run + 0.3 * x

    def size(self) -> int:
        """Runs in the next chunk: the fixed size, else 1 until a chunk has been timed, then about CHUNK_SECONDS of work."""
        if self.fixed:
            return self.fixed
        if self.per_run is None:
            return 1
        by_time = int(CHUNK_SECONDS / max(self.per_run, 1e-9))
        balance = math.ceil(len(self.todo) / (4 * self.workers))  # keep several chunks per worker until the end
        return max(1, min(MAX_CHUNK, by_time, balance))

    def next(self) -> list[int] | None:
        """The next chunk of run ids, or None when every run has been handed out."""
        if not self.todo:
            return None
        n = min(self.size(), len(self.todo))
        return [self.todo.popleft() for _ in range(n)]


class Executor(abc.ABC):
    """Evaluates chunks of a plan's runs somewhere and yields each chunk's run ids with its result as it finishes.

    Use as a context manager: entering starts what the executor needs and sets ``workers`` (how many chunks it
    evaluates at once); leaving releases everything it started.
    """

    #: Shown in progress reports.
    kind = "local"

    def __init__(self, workers: int = 1):
        self.workers = workers

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @abc.abstractmethod
    def run(self, plan: Plan, feeder: Feeder) -> Iterator[Chunk]:
        """Evaluate every chunk ``feeder`` hands out; yield (run ids, result) in the order chunks finish.

        Closing the iterator early stops the work still queued.
        """

    def close(self) -> None:
        """Release what the executor started (nothing, unless it started something)."""


class InProcessExecutor(Executor):
    """Every chunk in this process, one after the other."""

    def run(self, plan: Plan, feeder: Feeder) -> Iterator[Chunk]:
        """Evaluate the chunks here, in the order the feeder hands them out."""
        while (chunk := feeder.next()) is not None:
            yield chunk, run_chunk(*plan.chunk_args(chunk))


def _mp_context():
    """Worker processes forked from a server that has the model imported and its kernels loaded, and that stops with this
    process (lifeline.py; spawned where there is no forkserver)."""
    return lifeline.forkserver_context(["sim.experiments.sweeps.worker", "sim.experiments.sweeps.evaluators", "sim.experiments.runner",
                                        "sim.experiments._warm"])


class ProcessPoolExecutor(Executor):
    """A pool of ``workers`` local processes; a pool broken by a dying worker is rebuilt and its chunks sent again (up to 3 times).

    Killing this process, even with SIGKILL, stops the workers, the forkserver and the resource tracker too (lifeline.py)."""

    RESTARTS = 3

    def run(self, plan: Plan, feeder: Feeder) -> Iterator[Chunk]:
        """Keep two chunks per worker in flight; yield each as it finishes."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures import ProcessPoolExecutor as Pool
        from concurrent.futures.process import BrokenProcessPool

        workers = self.workers
        retry: list[list[int]] = []
        restarts = 0
        ctx = _mp_context()
        while True:
            # Each worker stops when the forkserver or this process dies, even by SIGKILL (lifeline.py).
            pool = Pool(max_workers=workers, mp_context=ctx, initializer=lifeline.worker_init, initargs=(os.getpid(),))
            inflight: dict[Any, list[int]] = {}
            broken = False
            clean = False
            try:
                def fill() -> None:
                    while len(inflight) < 2 * workers:
                        chunk = retry.pop() if retry else feeder.next()
                        if chunk is None:
                            return
                        inflight[pool.submit(run_chunk, *plan.chunk_args(chunk))] = chunk

                fill()
                while inflight:
                    done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
                    for fut in done:
                        chunk = inflight.pop(fut)
                        try:
                            res = fut.result()
                        except BrokenProcessPool:
                            broken = True
                            retry.append(chunk)
                            continue
                        yield chunk, res
                    if broken:
                        retry.extend(inflight.values())
                        inflight.clear()
                        break
                    fill()
                clean = not broken
            finally:
                pool.shutdown(wait=clean, cancel_futures=True)
            if not broken:
                return
            restarts += 1
            if restarts > self.RESTARTS:
                message = f"the local worker process died (pool rebuilt {self.RESTARTS} times)"
                for chunk in retry:
                    yield chunk, failed_result(chunk, message)
                retry.clear()
                while (chunk := feeder.next()) is not None:
                    yield chunk, failed_result(chunk, message)
                return


class DaskExecutor(Executor):
    """Chunks on a Dask cluster: an existing ``scheduler`` (tcp://HOST:PORT) or a new LocalCluster of ``dask_local`` workers on 127.0.0.1.

    Entering connects, waits for a worker and checks every worker runs this very model (its fingerprint).
    """

    kind = "dask"

    def __init__(self, scheduler: str | None = None, dask_local: int | None = None, *, scheduler_timeout: float | None = None):
        super().__init__()
        self.scheduler = scheduler
        self.scheduler_timeout = scheduler_timeout  # seconds; None: SCHEDULER_TIMEOUT_S
        self.dask_local = dask_local
        self.client: Any = None
        self.cluster: Any = None

    def __enter__(self) -> "DaskExecutor":
        try:
            self._connect()
            self.workers = self._check_cluster()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        """Close the client, and the LocalCluster if this executor started one."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def _connect(self) -> None:
        """A client on the existing scheduler, or on a new LocalCluster bound to 127.0.0.1."""
        from distributed import Client, LocalCluster

        if self.scheduler is not None:
            if "://" not in self.scheduler:
                raise InputError("is not a scheduler address", source="--scheduler", value=self.scheduler,
                                 allowed="tcp://HOST:PORT (as printed by `dask scheduler`)")
            try:
                wait = SCHEDULER_TIMEOUT_S if self.scheduler_timeout is None else self.scheduler_timeout
                self.client = Client(self.scheduler, timeout=f"{wait}s")
            except Exception as e:
                raise InputError(f"cannot be reached within {wait:g} s ({type(e).__name__}: {e})", source="--scheduler", value=self.scheduler,
                                 allowed="the address of a running `dask scheduler`, e.g. tcp://10.0.0.5:8786") from None
            return
        self.cluster = LocalCluster(n_workers=int(self.dask_local), threads_per_worker=1, processes=True, host="127.0.0.1",
                                    dashboard_address="127.0.0.1:0")
        self.client = Client(self.cluster)

    def _check_cluster(self, wait_s: float = 60.0) -> int:
        """Wait for at least one worker and check every worker runs this model (version and sources); return the worker count."""
        client = self.client
        try:
            client.wait_for_workers(1, timeout=wait_s)
        except Exception:
            raise InputError(f"has no workers after {wait_s:.0f} s; start some with `dask worker SCHEDULER_ADDRESS`", source="--scheduler",
                             value=getattr(client, "scheduler", None) and client.scheduler.address) from None
        try:
            info = client.run(worker_info)
        except Exception as e:
            raise InputError(f"has workers that cannot run mandate-sim ({type(e).__name__}: {e}); install the same mandate-sim in the workers' environment",
                             source="--scheduler") from None
        mine = model_fingerprint()
        for addr, i in info.items():
            theirs = i.get("model") or {}
            if theirs != mine:
                raise InputError(f"has a worker ({addr}) running a different model ({describe_model(theirs)}); "
                                 f"this is {describe_model(mine)}: install the same mandate-sim everywhere", source="--scheduler")
        return len(info)

    def run(self, plan: Plan, feeder: Feeder) -> Iterator[Chunk]:
        """Keep two chunks per worker on the cluster; a worker that dies has its chunks rerun elsewhere by the scheduler."""
        from distributed import as_completed

        client = self.client
        ac = as_completed()
        inflight: dict[str, list[int]] = {}
        futures: dict[str, Any] = {}
        attempts: dict[int, int] = {}  # first run id of a chunk -> times it was sent
        state = {"workers": max(1, len(client.scheduler_info().get("workers", {}))), "checked": time.monotonic()}

        def fill() -> None:
            if time.monotonic() - state["checked"] > 5:
                state["workers"] = max(1, len(client.scheduler_info().get("workers", {})))
                state["checked"] = time.monotonic()
            while len(inflight) < 2 * state["workers"]:
                chunk = feeder.next()
                if chunk is None:
                    return
                send(chunk)

        def send(chunk: list[int]) -> None:
            attempts[chunk[0]] = attempts.get(chunk[0], 0) + 1
            fut = client.submit(run_chunk, *plan.chunk_args(chunk), pure=False)
            inflight[fut.key] = chunk
            futures[fut.key] = fut
            ac.add(fut)

        try:
            fill()
            for fut in ac:
                chunk = inflight.pop(fut.key)
                futures.pop(fut.key, None)
                try:
                    res = fut.result()
                except Exception as e:  # KilledWorker after repeated worker deaths, results lost with a worker, a broken connection...
                    fut.release()
                    if attempts[chunk[0]] < DASK_ATTEMPTS:
                        send(chunk)  # runs are deterministic: sending a chunk again cannot change its result
                        continue
                    res = failed_result(chunk, f"{type(e).__name__}: {e} (sent {attempts[chunk[0]]} times)")
                else:
                    fut.release()
                yield chunk, res
                fill()
        finally:
            if futures:
                try:
                    client.cancel(list(futures.values()))
                except Exception:  # the cluster may already be gone
                    pass


def default_workers() -> int:
    """The CPU cores this process may use: its CPU affinity and, in a container, its cgroup's CPU quota
    (``dask.system.cpu_count``): a container given 2 CPUs on a 64-core host gets 2 workers, not 64."""
    from dask.system import cpu_count

    return max(1, int(cpu_count()))


def pick_executor(runs: int, *, workers: int | None = None, scheduler: str | None = None, dask_local: int | None = None,
                  scheduler_timeout: float | None = None) -> Executor:
    """The executor for ``runs`` unfinished runs.

    Dask when a ``scheduler`` or ``dask_local`` is given and there is something to run; else a pool of ``workers``
    local processes (default: all cores, never more than the runs), or this process when that comes to one.
    """
    if runs and (scheduler is not None or dask_local is not None):
        return DaskExecutor(scheduler, dask_local, scheduler_timeout=scheduler_timeout)
    n = min(default_workers() if workers is None else int(workers), max(1, runs))
    return InProcessExecutor() if n <= 1 else ProcessPoolExecutor(n)
