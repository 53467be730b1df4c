"""Worker processes that stop when the sweep that started them dies, even by SIGKILL.

A local sweep runs on a process pool whose workers are forked by a *forkserver* (a child of the sweep process), with
multiprocessing's *resource tracker* beside them. Nothing in multiprocessing stops them when the sweep process is
killed: each worker waits forever for work, and keeps the forkserver alive (it holds the pipe whose end-of-file
would tell the forkserver its clients are gone), which keeps the resource tracker alive. So:

* the forkserver asks the kernel for SIGTERM when its parent, the sweep process, dies (Linux
  ``prctl(PR_SET_PDEATHSIG)``; set by ``forkserver_preload``, the first module the forkserver imports);
* each worker asks the same about its own parent, the forkserver (``worker_init``, the pool's initializer), and
  also watches the sweep process itself from a thread (every ``POLL_S`` seconds), which is all there is where
  ``prctl`` is not (macOS, or a pool started with ``spawn``);
* with the sweep process, the forkserver and the workers gone, the resource tracker reads end-of-file and exits.

A kernel's death signal follows the *thread* that started the process: a forkserver started by a thread that ends
while the sweep goes on is stopped too, and multiprocessing starts a new one for the next pool.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from typing import Any, Sequence

#: The environment variable through which the forkserver learns the pid of the sweep process that started it.
ENV_SWEEP_PID = "MANDATE_SIM_SWEEP_PID"
#: How often a worker's watchdog thread checks that the sweep process is alive (seconds).
POLL_S = 0.5
PR_SET_PDEATHSIG = 1


def _prctl_pdeathsig(sig: int) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies; False where that cannot be done."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(expected_parent: int | None = None, sig: int = signal.SIGTERM) -> bool:
    """Have this process receive ``sig`` (default action: terminate) when its parent dies; exit now if the parent
    (``expected_parent``, else the current one) is already gone. Returns whether the kernel will do it."""
    parent = os.getppid() if expected_parent is None else int(expected_parent)
    signal.signal(sig, signal.SIG_DFL)  # the signal must end the process, whatever handler was inherited
    armed = _prctl_pdeathsig(sig)
    if os.getppid() != parent or os.getppid() == 1:  # the parent died before the request was made
        os._exit(1)
    return armed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")
    except OSError:
        return True  # no /proc: kill(pid, 0) is all there is


def watch(pid: int, poll_s: float = POLL_S) -> threading.Thread:
    """Start a daemon thread that ends this process at once when process ``pid`` is gone, or this one's parent changes."""
    parent = os.getppid()

    def run() -> None:
        while True:
            time.sleep(poll_s)
            if not _alive(pid) or os.getppid() != parent:
                os._exit(1)

    t = threading.Thread(target=run, name="mandate-sim-lifeline", daemon=True)
    t.start()
    return t


def worker_init(sweep_pid: int) -> None:
    """The process pool's initializer: stop this worker when its parent (the forkserver) or the sweep process dies."""
    die_with_parent()
    watch(int(sweep_pid))


#: The longest path a Unix socket may have on Linux (``sun_path`` less its final NUL).
UNIX_PATH_MAX = 107


def forkserver_fits(tempdir: str | None = None) -> bool:
    """Whether multiprocessing's forkserver can make its socket in this temporary folder: it makes
    ``<tempdir>/pymp-XXXXXXXX/listener-XXXXXXXX`` and fails ("AF_UNIX path too long") when that is over ``UNIX_PATH_MAX``."""
    import tempfile

    return len(os.path.join(tempdir or tempfile.gettempdir(), "pymp-xxxxxxxx", "listener-xxxxxxxx")) <= UNIX_PATH_MAX


def forkserver_context(preload: Sequence[str] = ()) -> Any:
    """A multiprocessing context whose processes fork from a server that has ``preload`` imported and that stops with
    this process, even when it is killed (``spawn`` where there is no forkserver, or where the temporary folder's path
    is too long for its socket: each process then imports and warms up on its own).

    The forkserver's first preload (``_forkserver``) ties its life to this process, before the slower imports. A process
    has one forkserver: the preload of the call that starts it holds (a later caller's workers import the rest themselves)."""
    import multiprocessing as mp

    if sys.platform.startswith("linux") and forkserver_fits():
        os.environ[ENV_SWEEP_PID] = str(os.getpid())  # read by the forkserver when it starts (it inherits the environment)
        ctx = mp.get_context("forkserver")
        ctx.set_forkserver_preload(["sim.experiments.sweeps._forkserver", *preload])
        return ctx
    return mp.get_context("spawn")


def forkserver_preload() -> None:
    """In the forkserver (its first preloaded module calls this): stop it when the sweep process that started it dies."""
    expected = os.environ.get(ENV_SWEEP_PID)
    if expected and expected.isdigit() and os.getppid() == int(expected):
        die_with_parent(int(expected))
