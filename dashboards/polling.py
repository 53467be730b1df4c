"""How a page follows a run it started: it polls the run's status, and a poll about a running job is held on the server
until the job ends (at most ``HOLD_S``).

Results then arrive within a few hundredths of a second of the job's end, while the page polls about twice a second
rather than five times. Each poll's answer makes Dash's renderer update the whole page: at five a second, on a
comparison of 500 engineers, the browser took half a core from the run workers (benchmarks/RESULTS.md, "Polling").
A hold occupies one server thread; only the few jobs running at once are held (queued ones are polled without a hold).
Compare, the lab, the Classroom and "Why?" follow their jobs this way; the sweep form polls its sweep without a hold, to
show each step of the sweep's progress.
"""

from __future__ import annotations

from dash import callback_context

#: How often a page asks about its running job (milliseconds); more than ``HOLD_S``, so one poll ends before the next.
RUNNING_POLL_MS = 600
#: How often a page asks about a job waiting in the queue (milliseconds).
QUEUED_POLL_MS = 1000
#: Longest a poll about a running job is held before it is answered with the job's progress (seconds).
HOLD_S = 0.5


def _fired_by(component_id: str) -> bool:
    try:
        return callback_context.triggered_id == component_id
    except Exception:  # called outside a callback (a test, a script): no poll to hold
        return False


def job_status(jobs, key: str, poll_id: str) -> dict:
    """``jobs.status(key)``; when the callback was fired by the interval ``poll_id`` and the job is running, the status
    once the job ends or after ``HOLD_S`` seconds."""
    st = jobs.status(key)
    if st["state"] == "running" and _fired_by(poll_id):
        st = jobs.wait(key, HOLD_S)
    return st
