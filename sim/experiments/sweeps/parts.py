"""The Parquet parts of a sweep folder: one file per finished chunk, the record of what is finished.

A part holds run_id, replicate, one column per swept parameter (the value used), [week], metric and value for the
runs of one chunk. It is written to a temporary name, flushed to disk and renamed (``write_part``), so it is either
complete or absent; ``finished_from_parts`` reads back which runs are done.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sim.errors import InputError

from .plan import Plan

PARTS = "parts"


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (so a rename in it survives a crash); a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def part_files(folder: Path) -> list[Path]:
    """The finished parts of a sweep folder, in name order (temporary files left out)."""
    return sorted((folder / PARTS).glob("part-*.parquet"))


def finished_from_parts(folder: Path) -> dict[int, Path]:
    """Run id -> the part holding it, read from the parts themselves (the record of what is finished)."""
    import pyarrow.parquet as pq

    where: dict[int, Path] = {}
    for part in part_files(folder):
        try:
            ids = np.unique(pq.read_table(part, columns=["run_id"]).column("run_id").to_numpy())
        except Exception as e:
            raise InputError(f"holds an unreadable part {part.name} ({type(e).__name__}: {e}); delete that file and run the sweep again to recompute its runs",
                             source=str(folder)) from None
        for rid in ids.tolist():
            if rid in where:
                raise InputError(f"holds run {rid} twice (in {where[rid].name} and {part.name}); delete one of the two files", source=str(folder))
            where[rid] = part
    return where


def part_name(run_ids: Sequence[int]) -> str:
    """A part's file name: its first and last run ids and a hash of all of them."""
    h = hashlib.sha256(np.asarray(run_ids, dtype=np.int64).tobytes()).hexdigest()[:10]
    return f"part-{min(run_ids):07d}-{max(run_ids):07d}-{h}.parquet"


def chunk_table(plan: Plan, applied: list[np.ndarray], result: dict) -> Any:
    """The Parquet part of one chunk: run_id, replicate, parameters..., [week], metric, value."""
    import pyarrow as pa

    series = plan.spec["keep"] == "series"
    cols: dict[str, list[np.ndarray]] = {"run_id": [], "replicate": [], "week": [], "metric": [], "value": []}
    params: dict[str, list[np.ndarray]] = {a.path: [] for a in plan.axes}
    for rid, arr in zip(result["run_ids"], result["values"]):
        R, W, O = arr.shape
        n = R * W * O
        cols["run_id"].append(np.full(n, rid, dtype=np.int64))
        cols["replicate"].append(np.repeat(np.arange(R, dtype=np.int32), W * O))
        cols["week"].append(np.tile(np.repeat(np.arange(1, W + 1, dtype=np.int32), O), R))
        cols["metric"].append(np.tile(np.arange(O, dtype=np.int32), R * W))
        cols["value"].append(arr.reshape(-1))
        for a, col in zip(plan.axes, applied):
            params[a.path].append(np.full(n, col[rid], dtype=col.dtype))
    cat = np.concatenate
    data: dict[str, Any] = {"run_id": cat(cols["run_id"]), "replicate": cat(cols["replicate"])}
    for path, parts in params.items():
        data[path] = cat(parts)
    if series:
        data["week"] = cat(cols["week"])
    codes = cat(cols["metric"])
    data["metric"] = pa.array(np.asarray(plan.outputs, dtype=object)[codes], type=pa.string())
    data["value"] = cat(cols["value"])
    return pa.table(data)


def write_part(folder: Path, table: Any, run_ids: Sequence[int]) -> Path:
    """Write one part atomically: a temporary name, fsync, rename."""
    import pyarrow.parquet as pq

    final = folder / PARTS / part_name(run_ids)
    tmp = folder / PARTS / f".tmp-{final.name}-{os.getpid()}"
    pq.write_table(table, tmp, compression="zstd")
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fsync_dir(final.parent)
    return final
