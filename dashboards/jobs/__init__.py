"""Runs for the app: a fair queue and a bounded result cache in one shared folder, worked by a bounded pool of run processes.

The web server may run as several processes (``mandate-sim app`` serves through gunicorn), so nothing about a run
lives in one process's memory: the queue, each job's state and progress, and the finished results sit in a folder
shared by every process (two `diskcache <https://grantjenks.com/docs/diskcache/>`_ caches, SQLite plus files):

``results/``
    finished results by request key (``Bundle``), bounded in bytes (``cache_bytes``; least recently *used* evicted
    first); a repeated view is served from here at once, by any server process, and it outlives any one process.
``jobs/``
    the queue (``"queue"``: small entries, fair order), what each run worker is running (``"running"``), one record
    per job (state, submission time, parts), each part's progress and, for a split job, its parts' results until they
    are joined; the task itself (``("task", key, part)``: a function of ``compute`` and its arguments).

Any server process can submit, answer a poll or render a result. The runs are done by ``RunPool``: a bounded number
of worker processes (``--workers``), started and watched by the process that owns the folder (``mandate-sim app``'s
main process, or the test's): each takes the next task in fair order, runs it, reports progress and stores the
result. A worker that dies (killed, out of memory) fails only the job it was running, with a message on the page,
and is replaced; a ``MemoryError`` fails only its job too.

Fair order: a user's first waiting job goes before anyone's second (jobs are ranked by how many jobs their user
already has running or waiting ahead of them, then by arrival). A user sees their place and an estimate of the wait.
Work is refused only beyond the queue's bounds (``max_queue`` jobs waiting in all, ``max_user_queue`` per user),
with a message saying so; accepted work always completes (or fails with its own error).

Only server-produced values are stored (diskcache pickles them): scenarios built and validated by the server,
result tables and figures. Nothing a user sends is unpickled; the folder is created private to the server's user.
"""

from .manager import JobManager, lock_folder
from .pool import EXIT_AFTER_MEMORY_ERROR, IDLE_POLL_S, PROGRESS_EVERY_S, RUN_NICENESS, RunPool, _warm_up, _worker_main, work_loop
from .requests import RAISE_WITH, RESULT_FORMAT, check_work, fair_order, queue_text, request_key, work_of
from .store import DEFAULT_CACHE_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_MAX_USER_QUEUE, FAILED_KEEP_S, JobStore

__all__ = [
    "DEFAULT_CACHE_BYTES", "DEFAULT_MAX_QUEUE", "DEFAULT_MAX_USER_QUEUE", "EXIT_AFTER_MEMORY_ERROR", "FAILED_KEEP_S", "IDLE_POLL_S",
    "PROGRESS_EVERY_S", "RAISE_WITH", "RESULT_FORMAT", "RUN_NICENESS", "JobManager", "JobStore", "RunPool", "check_work", "fair_order",
    "lock_folder", "queue_text", "request_key", "work_loop", "work_of", "_warm_up", "_worker_main",
]
