"""The Parquet parts of a sweep folder: one file per finished chunk, the record of what is finished, each with its checksum.

A part holds run_id, replicate, one column per swept parameter (the value used), [week], metric and value for the
runs of one chunk. It is written to a temporary name, flushed to disk and renamed (``write_part``), so it is either
complete or absent; ``finished_from_parts`` reads back which runs are done.

Every part's SHA-256 is recorded before the part appears: appended (and flushed to disk) to ``parts/SHA256SUMS``
(the format of ``sha256sum``: ``sha256sum -c SHA256SUMS`` in ``parts/`` checks them too), then copied into the
manifest (``part_sha256``). So a part on disk always has a recorded checksum, even when the sweep was killed before
it could rewrite its manifest; ``verify_parts`` checks every part against it before a resume or a load uses it,
and refuses a corrupted or unrecorded part with a message naming it (delete it and resume: exactly its runs are
computed again).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sim.atomic import atomic_write_bytes, fsync_dir, write_error  # noqa: F401  (fsync_dir: re-exported)
from sim.errors import InputError
from sim.files import read_file

from .plan import Plan

PARTS = "parts"
#: The journal of the parts' checksums, in parts/ (``sha256sum`` format), appended before each part is renamed into place.
CHECKSUMS = "SHA256SUMS"
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](part-[^/\s]+\.parquet)$")


def part_files(folder: Path) -> list[Path]:
    """The finished parts of a sweep folder, in name order (temporary files left out)."""
    return sorted((folder / PARTS).glob("part-*.parquet"))


#: Largest part read (parts hold one chunk of runs; a chunk is far smaller).
MAX_PART_BYTES = 256 * 1024 * 1024


def finished_from_parts(folder: Path) -> dict[int, Path]:
    """Run id -> the part holding it, read from the parts themselves (the record of what is finished)."""
    import pyarrow.parquet as pq

    import pyarrow as pa

    where: dict[int, Path] = {}
    for part in part_files(folder):
        data = read_file(part, "sweep part", limit=MAX_PART_BYTES)  # a regular file, read with a byte limit
        try:
            ids = np.unique(pq.read_table(pa.BufferReader(data), columns=["run_id"]).column("run_id").to_numpy())
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


def write_part(folder: Path, table: Any, run_ids: Sequence[int]) -> tuple[Path, str]:
    """Write one part: its SHA-256 appended to the checksum journal (flushed to disk), then the part itself atomically
    (a temporary name, fsync, rename). Returns the part's path and its SHA-256 (hex)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    final = folder / PARTS / part_name(run_ids)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    data = sink.getvalue().to_pybytes()
    digest = hashlib.sha256(data).hexdigest()
    record_checksum(folder, final.name, digest)
    atomic_write_bytes(final, data, durable=True)
    return final, digest


# ---------------------------------------------------------------------------
# Checksums
# ---------------------------------------------------------------------------


def record_checksum(folder: Path, name: str, digest: str) -> None:
    """Append ``digest  name`` to the checksum journal and flush it to disk (before the part itself is renamed into place)."""
    journal = folder / PARTS / CHECKSUMS
    try:
        with open(journal, "a", encoding="ascii") as f:
            f.write(f"{digest}  {name}\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        raise write_error(journal, e) from None


def journal_checksums(folder: Path) -> dict[str, str]:
    """Part name -> SHA-256 from the journal (the last line for a name wins; a line cut short by a kill is ignored)."""
    out: dict[str, str] = {}
    try:
        text = (folder / PARTS / CHECKSUMS).read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out[m.group(2)] = m.group(1)
    return out


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of a file's bytes."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        read_file(path, "sweep part")  # raises the clear message for a pipe, a device or a folder
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _runs_of(name: str) -> str:
    m = re.match(r"part-(\d+)-(\d+)-", name)
    return f"runs {int(m.group(1))} to {int(m.group(2))}" if m else "its runs"


def _check(folder: Path, part: Path, actual: str | None, expected: str | None, required: bool) -> bool:
    """Whether ``part`` matches its record (False: nothing recorded and nothing required); raise for a mismatch or a missing record."""
    if expected is None and not required:
        return False
    remedy = f"delete that file and run the sweep again: only {_runs_of(part.name)} are computed again (rm {part})"
    if expected is None:
        raise InputError(f"holds a part with no recorded checksum, {part.name}, which this sweep did not write; {remedy}", source=str(folder))
    if actual != expected:
        raise InputError(f"holds a corrupted part, {part.name}: its SHA-256 is {str(actual)[:16]}..., but {expected[:16]}... was recorded when "
                         f"it was written, so its values cannot be trusted; {remedy}", source=str(folder))
    return True


def verify_parts(folder: Path, recorded: dict[str, str], *, required: bool = True) -> dict[str, str]:
    """Check every part against its recorded SHA-256; return name -> SHA-256 of the parts on disk.

    A part whose bytes differ from its record, or (``required``) that has no record, is refused with an InputError
    naming it and saying to delete it and run the sweep again (which recomputes exactly its runs).
    """
    out: dict[str, str] = {}
    for part in part_files(folder):
        expected = recorded.get(part.name)
        actual = file_sha256(part) if expected is not None else None
        if _check(folder, part, actual, expected, required):
            out[part.name] = actual
    return out


def read_parts(folder: Path, recorded: dict[str, str], columns: list[str], *, required: bool = True) -> list[Any]:
    """Every part as a pyarrow table of ``columns``, each read from the very bytes checked against its recorded SHA-256."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for part in part_files(folder):
        data = read_file(part, "sweep part", limit=MAX_PART_BYTES)
        expected = recorded.get(part.name)
        _check(folder, part, hashlib.sha256(data).hexdigest() if expected is not None else None, expected, required)
        tables.append(pq.read_table(pa.BufferReader(data), columns=columns))
    return tables
