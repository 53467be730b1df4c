"""Parameter sweeps: experiment designs run in parallel (in this process, a local process pool or Dask), resumable Parquet results.

A sweep spec (YAML or a mapping) names a scenario, a design, the swept parameter
ranges and the outputs to keep. Each design point is one *run* (``run_id`` 0, 1,
...), made of ``replicates`` model runs. A run's model seeds derive from the
sweep seed through ``numpy.random.SeedSequence`` (``seeds: common``, the
default: replicate r of every run uses the seed ``mandate-sim run --seed SEED``
gives replicate r, so runs are paired like compared scenarios; ``seeds:
per_run``: from the sweep seed and the run id), never from a worker, a chunk or
the order, so results are bit-identical whatever executes them.

Runs go to workers in chunks. Workers return only the requested outputs. The
parent writes each finished chunk as a Parquet part (temporary name, fsync,
rename) under ``DIR/parts/`` and keeps ``DIR/manifest.json`` (spec, design
matrix, seeds, the model's fingerprint, finished run ids; also written
atomically). The parts are the record of what is finished: re-running on the
same folder skips every run found in a part, so a sweep killed at any moment
resumes to the result of an uninterrupted one, with no run lost or duplicated.
A folder written by a different version of the model is refused.

The package, by job: ``spec`` (the spec's schema and its error messages),
``plan`` (``load_spec``: the validated design and seeds), ``evaluators`` (the
model, or a plain function such as the Ishigami test function, at one design
point), ``worker`` (one chunk of runs on a worker), ``executors`` (the
``Executor`` interface: in this process, a process pool, Dask), ``parts`` and
``store`` (the folder: Parquet parts, manifest, lock, reading results back),
``progress``. This module holds the entry point, ``sweep``.

Python: ``sweep(spec, out)`` runs (the module itself is callable too:
``sim.sweep(spec, out)``), ``load_sweep(out)`` gives the tidy table,
``read_manifest(out)`` the manifest.
"""

from __future__ import annotations

import contextlib
import sys
import time
import types
from pathlib import Path
from typing import Any, Callable, Mapping

from sim.atomic import write_error
from sim.errors import InputError

from .. import designs
from .evaluators import TEST_FUNCTIONS, FunctionEvaluator, ModelEvaluator, ishigami, ishigami_indices
from .executors import Feeder, pick_executor
from .parts import chunk_table, write_part
from .plan import Plan, load_spec, seed_table
from .progress import ProgressCallback, SweepProgress
from .spec import SweepSpec
from .store import FolderLock, load_sweep, open_folder, read_manifest, save_progress
from .worker import run_chunk

# Public names of the single-module edition, still importable from here (each is read where it is defined:
# monkeypatch a constant in its own module, e.g. sim.experiments.sweeps.executors.SCHEDULER_TIMEOUT_S).
from .evaluators import parse_output  # noqa: F401
from .executors import CHUNK_SECONDS, DASK_ATTEMPTS, MAX_CHUNK, SCHEDULER_TIMEOUT_S  # noqa: F401
from .parts import CHECKSUMS, PARTS  # noqa: F401
from .plan import MAX_MODEL_RUNS  # noqa: F401
from .spec import FIELD_ALLOWED, read_spec  # noqa: F401
from .store import FORMAT, LOCK, MANIFEST  # noqa: F401

#: The manifest's list of finished runs is rewritten at most this often (seconds), and less often when writing it takes long
#: (at most 5% of the time); the parts and their checksum journal are always current.
MANIFEST_EVERY_S = 1.0


class SweepFailed(RuntimeError):
    """Some runs raised errors; the finished ones are saved, and running the sweep again retries the failed ones."""


def sweep(
    spec: "Mapping | str | Path",
    out: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    scheduler_timeout: float | None = None,
    dask_local: int | None = None,
    resume: bool = True,
    progress: ProgressCallback | None = None,
    chunk_size: int | None = None,
    org: str | None = None,
    function: Callable[..., Any] | None = None,
    status: Callable[[str], None] | None = None,
) -> Path:
    """Run a sweep into folder ``out`` and return it; run it again on the same folder to resume.

    Executors: ``workers`` local processes (default: all cores; 1 runs in this process), or ``scheduler``
    (an existing Dask scheduler, ``tcp://HOST:PORT``, given ``scheduler_timeout`` seconds to answer, default
    ``SCHEDULER_TIMEOUT_S``), or ``dask_local`` workers of a new Dask LocalCluster on
    127.0.0.1. ``progress(SweepProgress)`` is called after every chunk. ``chunk_size`` fixes the runs per chunk
    (default: adaptive, about 2 s of work); results never depend on it. ``org`` overrides the spec's organisation;
    ``function`` sweeps a plain function instead of the model (see ``load_spec``). A folder written by a different
    version of the model (see ``sim.model.fingerprint``) is refused with an InputError, and left as it was. A sweep
    larger than the limits (docs/ROBUSTNESS.md) is refused before anything is built; ``status(message)`` hears about
    planning that takes noticeable time. A corrupted part is refused (delete it and run again to recompute its runs).
    """
    if scheduler is not None and dask_local is not None:
        raise InputError("cannot be combined with --dask-local: pick one executor", source="--scheduler", value=scheduler)
    if workers is not None and (scheduler is not None or dask_local is not None):
        raise InputError("is for the local process pool; with Dask the cluster's workers run the sweep", source="--workers", value=workers)
    if workers is not None and not (1 <= int(workers) <= 1024):
        raise InputError("is out of range", source="--workers", value=workers, allowed="a whole number from 1 to 1024")
    if scheduler_timeout is not None and scheduler is None:
        raise InputError("is for --scheduler (the time an existing scheduler has to answer)", source="--scheduler-timeout", value=scheduler_timeout)
    if scheduler_timeout is not None and not (0.1 <= float(scheduler_timeout) <= 3600):
        raise InputError("is out of range", source="--scheduler-timeout", value=scheduler_timeout, allowed="seconds from 0.1 to 3600")
    if dask_local is not None and not (1 <= int(dask_local) <= 1024):
        raise InputError("is out of range", source="--dask-local", value=dask_local, allowed="a whole number from 1 to 1024")
    if chunk_size is not None and not (1 <= int(chunk_size) <= 1_000_000):
        raise InputError("is out of range", source="--chunk-size", value=chunk_size, allowed="a whole number from 1 to 1,000,000")

    plan = load_spec(spec, org=org, function=function, status=status)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a folder", source=str(out), allowed="a new or empty folder, or a sweep folder to resume")
    lock = FolderLock(out)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except OSError as e:
        raise write_error(out, e) from None
    try:
        manifest, finished_parts = open_folder(out, plan, resume)
        return _execute(plan, out, manifest, set(finished_parts), workers=workers, scheduler=scheduler, dask_local=dask_local,
                        progress=progress, chunk_size=chunk_size, scheduler_timeout=scheduler_timeout)
    except BaseException:
        if created:
            _remove_if_nothing_finished(out)  # a sweep that failed before finishing any run (an unreachable scheduler) leaves no folder
        raise
    finally:
        lock.release()


def _remove_if_nothing_finished(out: Path) -> None:
    """Remove a folder this call created when it holds no finished part: only the files a sweep itself puts there."""
    parts = out / PARTS
    if list(parts.glob("part-*.parquet")):
        return
    for p in [out / MANIFEST, out / LOCK, parts / CHECKSUMS, *parts.glob(".tmp-*"), *out.glob(".tmp-*")]:
        with contextlib.suppress(OSError):
            p.unlink()
    for d in (parts, out):
        with contextlib.suppress(OSError):
            d.rmdir()  # only if nothing else is in it


def _execute(plan: Plan, out: Path, manifest: dict, finished: set[int], *, workers: int | None, scheduler: str | None,
             dask_local: int | None, progress: ProgressCallback | None, chunk_size: int | None, scheduler_timeout: float | None) -> Path:
    """Run the unfinished runs on the executor ``pick_executor`` chooses, writing a part per chunk; raise if any run failed."""
    todo = [i for i in range(plan.runs) if i not in finished]
    skipped = len(finished)
    failed: dict[int, tuple[str, str]] = {}
    applied = designs.applied(plan.design, plan.axes)
    with pick_executor(len(todo), workers=workers, scheduler=scheduler, dask_local=dask_local, scheduler_timeout=scheduler_timeout) as executor:
        feeder = Feeder(todo, executor.workers, chunk_size)
        stream = executor.run(plan, feeder)
        t0 = time.perf_counter()
        last_manifest = 0.0
        manifest_s = 0.0
        cpu = 0.0

        def report() -> None:
            if progress is not None:
                progress(SweepProgress(len(finished), len(failed), plan.runs, skipped, time.perf_counter() - t0, executor.workers, executor.kind,
                                       cpu))

        report()
        try:
            for chunk, res in stream:
                if res["run_ids"]:
                    part, digest = write_part(out, chunk_table(plan, applied, res), res["run_ids"])
                    manifest.setdefault("part_sha256", {})[part.name] = digest
                    finished.update(res["run_ids"])
                failed.update(res["failed"])
                feeder.observe(len(chunk), res["seconds"])
                cpu += res.get("cpu_s", 0.0)
                if time.perf_counter() - last_manifest > max(MANIFEST_EVERY_S, 20 * manifest_s):
                    t_write = time.perf_counter()
                    save_progress(out, manifest, finished, failed)
                    last_manifest = time.perf_counter()
                    manifest_s = last_manifest - t_write  # a large manifest is rewritten less often: at most 5% of the time
                report()
        except BaseException:
            stream.close()  # stops a pool or cancels queued Dask chunks now, while the client is still open
            with contextlib.suppress(OSError, InputError):  # the first problem is the one to report (a full disk fails this too)
                save_progress(out, manifest, finished, failed)
            raise
        stream.close()
        save_progress(out, manifest, finished, failed)
    if failed:
        first_id, (kind, message) = next(iter(sorted(failed.items())))
        n = len(failed)
        if all(k == "input" for k, _ in failed.values()):
            raise InputError(f"{n} of {plan.runs} runs were refused by the model's validation (first, run {first_id}: {message}); "
                             "narrow the ranges so every combination is valid", source=plan.source, field="parameters")
        raise SweepFailed(f"{n} of {plan.runs} runs failed; the {len(finished)} finished runs are saved in {out} and running the sweep again "
                          f"retries the failed ones. First failure (run {first_id}):\n{message}")
    return out


# ``sim.sweep(...)``: the module is callable, so ``import sim; sim.sweep(spec, out)`` runs a sweep while
# ``sim.sweep.load_sweep`` and friends stay reachable.
class _CallableModule(types.ModuleType):
    """The class of this module: calling the module runs ``sweep``."""

    def __call__(self, *args: Any, **kwargs: Any) -> Path:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "FunctionEvaluator", "ModelEvaluator", "Plan", "SweepFailed", "SweepProgress", "SweepSpec", "TEST_FUNCTIONS",
    "ishigami", "ishigami_indices", "load_spec", "load_sweep", "read_manifest", "run_chunk", "seed_table", "sweep",
]
