"""What the app holds: the shared folder (``JobStore``) and, when this process owns it, the run pool (``JobManager``)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: the folder is not locked
    fcntl = None  # type: ignore[assignment]

from sim.errors import InputError

from .pool import RunPool
from .store import DEFAULT_CACHE_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_MAX_USER_QUEUE, JobStore


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
