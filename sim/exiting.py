"""How this project's own processes end: Python's exit work, then ``os._exit`` instead of the native libraries' teardown.

pyarrow 26 loads native thread pools that sometimes abort while the process's libraries are torn down at exit
("terminate called without an active exception", status -6; apache/arrow#34314), after the program has finished and
written everything: 4 of 87 runs of a small ``mandate-sim sweep`` under load did, and so does a script that only
writes and reads one Parquet table. A process that ends through ``exit_now`` (or ``exit_after``) does all the exit work a Python program
does (it waits for its threads, runs the exit handlers of multiprocessing, Dask and logging, flushes its output) and
then ends with its own status, skipping that teardown.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from typing import Callable, NoReturn


def exit_status(code: object) -> int:
    """The process status ``sys.exit(code)`` gives: None is 0, an int itself, anything else (a message) 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF  # as the operating system keeps it: -6 is 250
    return 1


def exit_now(code: object) -> NoReturn:
    """End this process with the status of ``code`` (as ``sys.exit(code)``) once its threads are done, its exit handlers have run and its output is flushed."""
    # What the interpreter does first at exit, in its order: the thread-exit callbacks (they wake idle concurrent.futures
    # workers), then it waits for the non-daemon threads; then the exit handlers.
    shutdown_threads = getattr(threading, "_shutdown", None)
    if shutdown_threads is not None:
        shutdown_threads()
    else:  # an interpreter without it: join them ourselves
        for thread in threading.enumerate():
            if thread is not threading.current_thread() and not thread.daemon:
                thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # no stream, a closed pipe or stream: nothing more can reach it
            pass
    os._exit(exit_status(code))


def exit_after(work: Callable[[], object]) -> NoReturn:
    """Run ``work`` and end this process (``exit_now``) with the status Python would give: its return value, or the code of
    the ``SystemExit`` it raises (a message printed to stderr first, as Python prints it). Any other exception propagates:
    its traceback and exit are the usual ones."""
    try:
        code = work()
    except SystemExit as e:
        code = e.code
        if code is not None and not isinstance(code, int):
            print(code, file=sys.stderr)
    exit_now(code)
