"""What several command modules share: the consoles, flag checks, the delayed progress bar and table writing.

Every user error (a bad file, flag or value) is raised as ``InputError``; ``sim.cli.main`` turns it into one
message naming the file or flag, the field, the value and what is allowed, and exit code 2.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any, Iterator, List, Optional

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sim.atomic import atomic_path, check_writable
from sim.errors import InputError
from sim.model import limits
from sim.model.scenarios import describe_allowed, field_at, parse_override

console = Console()
err_console = Console(stderr=True)

MODEL_MEMORY_HELP = ("Most memory one model run may need, e.g. 8GiB (default 2GiB, or $MANDATE_SIM_MAX_MODEL_BYTES); "
                     "a larger run is refused before it starts. See docs/ROBUSTNESS.md.")
TABLE_MEMORY_HELP = ("Most memory the results may need, e.g. 16GiB (default 4GiB, or $MANDATE_SIM_MAX_TABLE_BYTES); "
                     "larger results are refused before any run starts. See docs/ROBUSTNESS.md.")
ORG_HELP = "Organisation profile (built-in name such as 'default' or 'junior_boilerplate', or a YAML file) put under every policy."
SET_HELP = "Override one parameter, PATH=VALUE (repeatable); `mandate-sim params` lists the paths."


# ---------------------------------------------------------------------------
# Flag checks
# ---------------------------------------------------------------------------


def check_flag(flag: str, path: str, value: Any) -> None:
    """Check a numeric flag against the bounds declared for ``path``."""
    if value is None:
        return
    info = field_at(path)
    lo = hi = None
    for meta in info.metadata if info else []:
        lo = getattr(meta, "ge", lo) if getattr(meta, "ge", None) is not None else lo
        hi = getattr(meta, "le", hi) if getattr(meta, "le", None) is not None else hi
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise InputError("is out of range", source=flag, value=value, allowed=describe_allowed(info))


def check_range(flag: str, value: int, lo: int, hi: int, what: str) -> None:
    """A whole-number flag within [lo, hi]."""
    if not (lo <= value <= hi):
        raise InputError("is out of range", source=flag, value=value, allowed=f"a whole number from {lo} to {hi} ({what})")


def check_org(org: str | None) -> None:
    """An --org that names no profile or file gets a message naming the flag."""
    if org is None:
        return
    from sim.model.scenarios import load_org_data

    try:
        load_org_data(org)
    except InputError as e:
        if e.source and e.source.startswith("organisation profile '"):
            raise InputError(e.detail, source="--org", value=org, allowed=e.allowed) from None
        raise


def check_extension(flag: str, path: Optional[Path], suffixes: tuple[str, ...], allowed: str) -> None:
    """A file flag whose name must end in one of ``suffixes``, in a place it can be written (checked before any work, so a
    typo or a read-only folder costs nothing)."""
    if path is not None and path.suffix.lower() not in suffixes:
        raise InputError("has an unknown extension", source=flag, value=str(path), allowed=allowed)
    if path is not None:
        check_writable(path, source=f"{flag} {path}")


@contextlib.contextmanager
def memory_limits(model: Optional[str] = None, table: Optional[str] = None, runs: Optional[int] = None) -> Iterator[None]:
    """Apply --max-model-memory, --max-table-memory (sizes such as 8GiB) and --max-runs for one command (its worker
    processes included: they inherit the environment)."""
    model_bytes = None if model is None else limits.parse_bytes(model, source=limits.OPTION_MODEL)
    table_bytes = None if table is None else limits.parse_bytes(table, source=limits.OPTION_TABLE)
    if runs is not None and runs < 1:
        raise InputError("is out of range", source="--max-runs", value=runs, allowed="a whole number of at least 1")
    from sim.experiments.sweeps.plan import ENV_MAX_RUNS

    saved = os.environ.get(ENV_MAX_RUNS)
    try:
        if runs is not None:
            os.environ[ENV_MAX_RUNS] = str(int(runs))
        with limits.limited(model=model_bytes, table=table_bytes):
            yield
    finally:
        if runs is not None:
            if saved is None:
                os.environ.pop(ENV_MAX_RUNS, None)
            else:
                os.environ[ENV_MAX_RUNS] = saved


def check_html(flag: str, path: Optional[Path]) -> None:
    """--html must name an .html file."""
    check_extension(flag, path, (".html", ".htm"), "a path ending in .html")


def write_table_check(out: Optional[Path]) -> None:
    """--out must name a Parquet or CSV file."""
    check_extension("--out", out, (".parquet", ".csv"), "a path ending in .parquet or .csv")


def parse_sets(items: Optional[List[str]]) -> dict[str, Any]:
    """--set PATH=VALUE items as overrides."""
    out: dict[str, Any] = {}
    for item in items or []:
        k, v = parse_override(item)
        out[k] = v
    return out


# ---------------------------------------------------------------------------
# Progress and output
# ---------------------------------------------------------------------------


class ProgressAfter:
    """A progress callback that shows a rich progress bar once the work has taken more than ``delay`` seconds."""

    def __init__(self, label: str, delay: float = 1.0):
        self.label, self.delay = label, delay
        self.start = time.perf_counter()
        self.progress: Progress | None = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if self.progress is None and time.perf_counter() - self.start > self.delay and done < total:
            self.progress = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"),
                TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn(), console=err_console, transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total)
        if self.progress is not None:
            self.progress.update(self.task, completed=done, total=total)
            if done >= total:
                self.close()

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __enter__(self) -> "ProgressAfter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_table(df, out: Path, flag: str = "--out") -> Path:
    """Write a tidy table as Parquet or CSV, by extension, atomically (its columns keep the metric ids)."""
    write_table_check(out)
    suffix = out.suffix.lower()
    with atomic_path(out, source=f"{flag} {out}") as tmp:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
    return out
