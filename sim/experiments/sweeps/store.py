"""The sweep folder: its manifest, its lock, opening it to start or resume, and reading its results back.

``DIR/manifest.json`` holds the spec, the design matrix, the seeds, the fingerprint of the model that wrote it,
the finished run ids and the SHA-256 of every part; it is rewritten atomically. ``DIR/parts/`` holds the results
(see parts.py), which are the record of what is finished; every part is checked against its recorded SHA-256
before a resume or a load uses it. ``open_folder`` creates a folder or reopens one to resume, and refuses one written for
a different spec, scenario or model; ``FolderLock`` keeps a second sweep process out. ``read_manifest`` and
``load_sweep`` read a folder, finished or not.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from sim.atomic import atomic_write_bytes as _atomic_write
from sim.errors import InputError
from sim.files import read_text
from sim.model.fingerprint import model_fingerprint

from .. import designs
from .parts import PARTS, finished_from_parts, journal_checksums, part_files, read_parts, verify_parts
from .plan import Plan, json_default

MANIFEST = "manifest.json"
LOCK = ".lock"
#: Version of the folder layout written by this module (2: parts' checksums in ``part_sha256`` and parts/SHA256SUMS).
FORMAT = 2


# ---------------------------------------------------------------------------
# The manifest
# ---------------------------------------------------------------------------


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary name in the same folder, fsync, then rename over ``path`` and fsync the folder (``sim.atomic``)."""
    _atomic_write(path, data, durable=True)


def manifest_bytes(m: dict) -> bytes:
    """The manifest as JSON, one top-level key per line (the design matrix and run lists stay compact)."""
    lines = [f"  {json.dumps(k)}: {json.dumps(v, default=json_default)}" for k, v in m.items()]
    return ("{\n" + ",\n".join(lines) + "\n}\n").encode("utf-8")


def _manifest_path(path: str | Path) -> Path:
    """The manifest.json of a sweep folder (or the path itself when it names a .json file)."""
    p = Path(path)
    return p / MANIFEST if p.is_dir() or p.suffix != ".json" else p


#: Largest manifest read (the design matrix lives in it).
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


def _read_manifest_file(folder: Path) -> dict:
    """The manifest as stored, or a clear InputError when the folder holds none or an unreadable one."""
    mp = folder / MANIFEST
    if not os.path.lexists(mp):
        raise InputError("is not a sweep folder (no manifest.json)", source=str(folder), allowed="a folder written by `mandate-sim sweep`")
    text = read_text(mp, "sweep manifest", limit=MAX_MANIFEST_BYTES)  # a regular file, read with a byte limit
    try:
        m = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"manifest.json is unreadable ({e})", source=str(folder)) from None
    if not isinstance(m, dict):
        raise InputError("manifest.json is not a sweep manifest (not a mapping)", source=str(folder))
    for key, ok, allowed in _MANIFEST_FIELDS:
        if key not in m:
            raise InputError(f"manifest.json is not a sweep manifest: it has no '{key}'", source=str(folder), field=key, allowed=allowed)
        if not ok(m[key]):
            raise InputError("in manifest.json is not what a sweep writes", source=str(folder), field=key, value=m[key], allowed=allowed)
    return m


def _whole(lo: int):
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= lo


#: What a manifest must hold to be read, in the order it is checked: (key, check, what is allowed).
_MANIFEST_FIELDS = (
    ("spec", lambda v: isinstance(v, dict), "a mapping (the sweep's spec)"),
    ("parameters", lambda v: isinstance(v, dict), "a mapping of parameter path to range or values"),
    ("runs", _whole(0), "a whole number of at least 0"),
    ("replicates", _whole(1), "a whole number of at least 1"),
    ("outputs", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v), "a list of output names"),
    ("design", lambda v: isinstance(v, str), "the design's name (grid, lhs, sobol or morris)"),
)


def new_manifest(plan: Plan) -> dict:
    """The manifest of a sweep about to start: nothing finished yet."""
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    fingerprint = model_fingerprint()
    return {
        "format": FORMAT,
        "package_version": fingerprint["package_version"],
        "model_fingerprint": fingerprint,
        "created": now,
        "updated": now,
        "spec": plan.spec,
        "design": plan.spec["design"],
        "parameters": {a.path: a.describe() for a in plan.axes},
        "integer_parameters": [a.path for a in plan.axes if a.integer],
        "outputs": plan.outputs,
        "keep": plan.spec["keep"],
        "runs": plan.runs,
        "replicates": plan.replicates,
        "seeds": plan.seeds_manifest(),
        "scenario": plan.scenario,
        "problem": designs.problem(plan.axes) if all(a.is_range for a in plan.axes) else None,
        "design_matrix": plan.design.tolist(),
        "finished": [],
        "failed": {},
        "complete": False,
        "part_sha256": {},
    }


def save_progress(folder: Path, manifest: dict, finished: set[int], failed: dict[int, tuple[str, str]]) -> None:
    """Record the finished and failed runs in the manifest and rewrite it atomically."""
    manifest["finished"] = sorted(finished)
    manifest["failed"] = {str(k): v[1] for k, v in sorted(failed.items()) if k not in finished}
    manifest["updated"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    manifest["complete"] = len(finished) == manifest["runs"]
    manifest["part_sha256"] = dict(sorted((manifest.get("part_sha256") or {}).items()))
    atomic_write_bytes(folder / MANIFEST, manifest_bytes(manifest))


def recorded_checksums(folder: Path, m: dict) -> dict[str, str]:
    """Part name -> SHA-256 as recorded: the manifest's ``part_sha256``, updated by the journal (parts/SHA256SUMS), which
    also holds the parts written after the manifest was last saved."""
    return {**(m.get("part_sha256") or {}), **journal_checksums(folder)}


def checked_parts(folder: Path, m: dict) -> dict[str, str]:
    """Verify every part of a folder against its recorded SHA-256 (InputError naming a corrupted part); name -> SHA-256.

    Folders written before checksums were recorded (format 1) have nothing to check against and are read as they are."""
    return verify_parts(folder, recorded_checksums(folder, m), required=int(m.get("format", 1)) >= 2)


def read_manifest(path: str | Path) -> dict:
    """The manifest of a sweep folder (or its manifest.json), with ``finished`` read from the parts on disk.

    Keys: spec, design, parameters, outputs, runs, replicates, finished, failed, package_version,
    model_fingerprint, seeds and more.
    """
    folder = _manifest_path(path).parent
    m = _read_manifest_file(folder)
    m["part_sha256"] = checked_parts(folder, m)
    m["finished"] = sorted(finished_from_parts(folder))
    done = set(m["finished"])
    m["failed"] = {k: v for k, v in (m.get("failed") or {}).items() if int(k) not in done}
    m["complete"] = len(done) == int(m.get("runs", -1))
    return m


def load_sweep(path: str | Path) -> "Any":
    """The tidy results of a sweep folder: run_id, replicate, one column per swept parameter, [week], metric, value.

    Sorted by run_id, replicate, metric (in the spec's output order) and week. Holds the finished runs only
    (``read_manifest(path)["finished"]``); a sweep in progress can be read at any time. Every part is first checked
    against its recorded SHA-256: a corrupted one is an InputError naming it.
    """
    import pandas as pd
    import pyarrow as pa

    folder = _manifest_path(path).parent
    m = _read_manifest_file(folder)
    params = list(m["parameters"])
    series = m.get("keep") == "series"
    columns = ["run_id", "replicate", *params, *(["week"] if series else []), "metric", "value"]
    tables = read_parts(folder, recorded_checksums(folder, m), columns, required=int(m.get("format", 1)) >= 2)
    if tables:
        df = pa.concat_tables(tables).to_pandas()
    else:
        empty = {"run_id": "int64", "replicate": "int32", "week": "int32", "metric": "object", "value": "float64"}
        ints = set(m.get("integer_parameters", []))
        df = pd.DataFrame({c: pd.Series(dtype=empty.get(c, "int64" if c in ints else "float64")) for c in columns})
    df["metric"] = pd.Categorical(df["metric"].astype(str), categories=list(m["outputs"]))
    keys = ["run_id", "replicate", "metric"] + (["week"] if series else [])
    df = df.sort_values(keys, kind="stable").reset_index(drop=True)
    if df.duplicated(keys).any():
        raise InputError("holds some runs twice; delete the duplicated part files and resume", source=str(folder))
    df = df[columns]
    df.attrs["sweep_dir"] = str(folder)
    return df


# ---------------------------------------------------------------------------
# The lock
# ---------------------------------------------------------------------------


class FolderLock:
    """An exclusive lock on a sweep folder (``flock`` on ``DIR/.lock``: released by the OS if the process dies)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise an InputError naming the process that holds it; the lock file then holds our pid."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no locking
            return
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            other = os.pread(self.fd, 64, 0).decode(errors="replace").strip()
            os.close(self.fd)
            self.fd = None
            raise InputError(f"is in use by another sweep process{f' (pid {other})' if other else ''}; wait for it to finish or stop it",
                             source=str(self.path.parent)) from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)

    def release(self) -> None:
        """Let go of the lock (the lock file stays)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ---------------------------------------------------------------------------
# Opening a folder to start or resume
# ---------------------------------------------------------------------------


def _diff_keys(a: Any, b: Any, prefix: str = "", limit: int = 4) -> list[str]:
    """Dotted paths where two JSON values differ (at most ``limit``)."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(dict.fromkeys(list(a) + list(b))):
            if a.get(k, "<absent>") != b.get(k, "<absent>"):
                out += _diff_keys(a.get(k), b.get(k), f"{prefix}{k}.", limit)
            if len(out) >= limit:
                break
        return out[:limit]
    return [prefix.rstrip(".") or "(whole)"] if a != b else []


def describe_model(fingerprint: dict) -> str:
    """A model fingerprint in a message: the package version and the first 12 hex digits of the sources' hash."""
    return f"mandate-sim {fingerprint.get('package_version', '?')}, model sources {str(fingerprint.get('model_sources_sha256', '?'))[:12]}"


def check_model(m: dict, source: str) -> None:
    """Refuse to resume a folder unless its manifest records this very model (package version and sources' hash)."""
    mine = model_fingerprint()
    theirs = m.get("model_fingerprint")
    remedy = "use a new --out folder, or delete this one to start over"
    if not isinstance(theirs, dict) or not theirs.get("model_sources_sha256"):
        raise InputError(f"was written by a version of the model that recorded no fingerprint (mandate-sim {m.get('package_version', '?')}), "
                         f"so its results cannot be shown to match this model ({describe_model(mine)}) and must not be mixed with it; {remedy}",
                         source=source)
    if {k: theirs.get(k) for k in mine} != mine:
        raise InputError(f"was written by a different version of the model ({describe_model(theirs)}; this is {describe_model(mine)}), "
                         f"and results of two models must not mix; {remedy}", source=source)


def open_folder(out: Path, plan: Plan, resume: bool) -> tuple[dict, dict[int, Path]]:
    """Start a sweep in the existing folder ``out`` or reopen it to resume; return the manifest and what is finished.

    A folder of other files, or one written for a different spec, scenario or model, is refused, before anything
    in it is written or deleted.
    """
    source = str(out)
    if not (out / MANIFEST).exists():
        stray = [p.name for p in out.iterdir() if p.name != PARTS and not p.name.startswith(".")]
        if stray or part_files(out):
            raise InputError(f"is not empty and holds no sweep (found {', '.join(sorted(stray)[:3]) or 'parts without a manifest'})", source=source,
                             allowed="a new or empty folder, or a sweep folder to resume")
        (out / PARTS).mkdir(exist_ok=True)
        m = new_manifest(plan)
        atomic_write_bytes(out / MANIFEST, manifest_bytes(m))
        return m, {}
    m = _read_manifest_file(out)
    if not resume:
        raise InputError("already holds a sweep; run again without --no-resume to continue it, or choose a new folder", source=source)
    check_model(m, source)
    if m.get("spec") != plan.spec:
        diff = _diff_keys(m.get("spec"), plan.spec)
        raise InputError(f"holds a different sweep (its spec differs in: {', '.join(diff)}); use a new --out folder, or delete this one to start again",
                         source=source)
    if m.get("scenario") != plan.scenario:
        diff = _diff_keys(m.get("scenario"), plan.scenario)
        raise InputError(f"was started with a different scenario (it has changed since in: {', '.join(diff)}); use a new --out folder", source=source)
    stored = np.asarray(m.get("design_matrix"), dtype=float).reshape(-1, len(plan.axes))
    if stored.shape != plan.design.shape:
        raise InputError(f"holds a design of {stored.shape[0]} runs; this spec makes {plan.runs}; use a new --out folder", source=source)
    plan.design = stored  # run ids are defined by the stored design, even if a library now samples differently
    # Leftovers of a process killed mid-write.
    (out / PARTS).mkdir(exist_ok=True)
    for tmp in list(out.glob(".tmp-*")) + list((out / PARTS).glob(".tmp-*")):
        tmp.unlink(missing_ok=True)
    m["part_sha256"] = checked_parts(out, m)  # a corrupted part is refused before anything is computed
    return m, finished_from_parts(out)
