"""``mandate-sim app`` as deployed: gunicorn with two server workers and two run workers on loopback, driven through the
compare page's real callback endpoints (tests/app_client.py). Any server worker answers any poll, a killed run worker
fails only its job, and the queue is fair and bounded with a message (stopping the app: tests/test_app_stopping.py).
Every app here runs in its own process group, ended whole after each test, also on failure."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from browser_support import AppProcess, ComparePage, command_line
from dashboards.jobs import JobStore

pytestmark = pytest.mark.slow

#: A comparison that runs for seconds on one run worker (one replicate is one part: 3 x 6000 x 104 engineer-weeks).
LONG = dict(engineers=6000, weeks=104, replicates=1)
#: One that runs for about a second.
MEDIUM = dict(engineers=1500, weeks=52, replicates=4)
SMALL = dict(engineers=20, weeks=4, replicates=1)
QUEUED = dict(engineers=500, weeks=52, replicates=4)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    with AppProcess("--workers", "2", "--server-workers", "2", "--cache-dir", str(folder / "cache"), "--cache-bytes", "64MiB",
                    "--max-queue", "12", "--access-log", str(folder / "access.log"), log=folder / "app.log") as a:
        a.cache = folder / "cache"
        a.access = folder / "access.log"
        yield a
    assert "Traceback" not in a.log(), a.log()[-3000:]


def _server_workers(app: AppProcess) -> list[int]:
    """The gunicorn worker processes (children of the gunicorn arbiter)."""
    arbiter = [p for p in app.pids() if command_line(p).startswith("python -m dashboards.server") and _ppid(p) == app.pid]
    assert len(arbiter) == 1, [(command_line(p), _ppid(p)) for p in app.pids()]
    return [p for p in app.pids() if _ppid(p) == arbiter[0]]


def _ppid(pid: int) -> int:
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def _access_lines(app: AppProcess, start: int) -> list[tuple[str, int]]:
    """(request line, pid of the server worker that answered) of the access log from byte ``start``."""
    text = app.access.read_bytes()[start:].decode()
    return [(m.group(1), int(m.group(2))) for m in re.finditer(r'"([A-Z]+ \S+) HTTP/1\.1" \d+ .*pid=<?(\d+)>?', text)]


def test_the_app_is_gunicorn_with_two_server_workers_and_no_development_server(app):
    import requests

    r = requests.get(app.url + "/compare", timeout=30)
    assert r.status_code == 200 and r.headers["Server"] == "gunicorn"
    assert len(_server_workers(app)) == 2
    assert "development server" not in app.log().lower()
    assert requests.get(app.url + "/no-such-page", timeout=30).status_code == 200  # Dash's own 404 page, not a server error
    # what the server refuses before the app sees it, and what the app refuses: 4xx with a message, never 5xx
    assert requests.get(app.url + "/" + "a" * 9000, timeout=30).status_code == 414
    assert requests.get(app.url + "/", headers={f"X-{i}": "1" for i in range(120)}, timeout=30).status_code == 431
    big = requests.post(app.url + "/_dash-update-component", data=b"x" * (17 * 1024 * 1024), headers={"Content-Type": "application/json"}, timeout=60)
    assert big.status_code == 413 and "larger than 16,777,216 bytes" in big.json()["error"]


def test_a_poll_is_answered_by_another_server_worker_than_the_one_that_took_the_run(app):
    user = ComparePage(app.url, "poll", keep_alive=False)
    start = app.access.stat().st_size if app.access.exists() else 0
    status, job, error = user.submit(seed=101, **MEDIUM)
    assert status == 200 and job and not error
    time.sleep(0.3)  # the access log line is written after the response
    posts = [pid for line, pid in _access_lines(app, start) if line.startswith("POST /_dash-update-component")]
    took = posts[0]
    assert took in _server_workers(app)
    os.kill(took, signal.SIGKILL)  # the server worker that accepted the run is gone: only another one can answer now
    state, text, seen = user.wait(job, 120)
    assert state == "done", (state, text, seen)
    time.sleep(0.3)
    answered = [pid for line, pid in _access_lines(app, start) if line.startswith("POST /_dash-update-component")][1:]
    assert answered and took not in answered
    assert len(_server_workers(app)) == 2  # gunicorn replaced the killed one


def test_a_killed_run_worker_fails_only_its_job_and_the_others_complete(app):
    store = JobStore(app.cache)
    try:
        victim = ComparePage(app.url, "victim")
        others = [ComparePage(app.url, f"other{i}") for i in range(3)]
        _, vjob, _ = victim.submit(seed=201, **LONG)  # one part: the other run worker is free for the others at once
        jobs: list = [None] * len(others)
        submits = [threading.Thread(target=lambda i=i: jobs.__setitem__(i, others[i].submit(seed=202 + i, **MEDIUM)[1])) for i in range(len(others))]
        for t in submits:
            t.start()
        end = time.monotonic() + 60
        while not any(e["key"] == vjob["key"] for e in store.running().values()):
            assert time.monotonic() < end, "the run never started"
            time.sleep(0.02)
        pid = next(e["pid"] for e in store.running().values() if e["key"] == vjob["key"])
        os.kill(pid, signal.SIGKILL)
        for t in submits:
            t.join()
        state, text, _ = victim.wait(vjob, 120)
        assert state == "failed" and "its worker process was killed (SIGKILL)" in text and "only this run was lost" in text, text
        for u, job in zip(others, jobs):
            assert u.wait(job, 180)[0] == "done"
        # the pool replaced the worker: a new run completes, and the earlier result is still served at once
        late = ComparePage(app.url, "late")
        _, job, _ = late.submit(seed=205, **SMALL)
        assert late.wait(job, 120)[0] == "done"
        assert others[0].poll(jobs[0])[1] == "done"
        assert store.cache_bytes() <= 64 * 1024 * 1024
    finally:
        store.close()
    assert "was killed (SIGKILL)" in app.log()


def test_a_second_users_run_is_not_stuck_behind_a_first_users_many(app):
    many = ComparePage(app.url, "many")
    accepted: list[dict] = []
    threads = [threading.Thread(target=lambda i=i: accepted.append(many.submit(seed=300 + i, **MEDIUM)[1])) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(accepted) == 6 and all(accepted)
    late = ComparePage(app.url, "second")
    _, ljob, _ = late.submit(seed=399, **MEDIUM)
    finished: dict[str, float] = {}
    seen_texts: list[str] = []

    def wait(user, job):
        state, _, seen = user.wait(job, 300, every=0.1)
        finished[job["key"]] = time.monotonic() if state == "done" else float("inf")
        seen_texts.extend(seen)

    waiters = [threading.Thread(target=wait, args=(ComparePage(app.url, "many"), j)) for j in accepted]
    waiters.append(threading.Thread(target=wait, args=(late, ljob)))
    for t in waiters:
        t.start()
    for t in waiters:
        t.join()
    assert all(v < float("inf") for v in finished.values()), "every accepted run completes"
    later = sorted(finished[j["key"]] for j in accepted)
    assert finished[ljob["key"]] < later[3], "the second user's one run went before most of the first user's"
    assert any(re.match(r"waiting in the queue: \d+(st|nd|rd|th) in line \(\d+ runs? ahead\), starts in about \d+ s", t) for t in seen_texts)


def test_a_user_over_the_queue_bound_gets_a_message_never_a_server_error(app):
    greedy = ComparePage(app.url, "greedy")
    results: list[tuple[int, dict | None, str]] = []
    # runs of a few seconds each: long enough that eleven presses all land while the first ones still wait
    threads = [threading.Thread(target=lambda i=i: results.append(greedy.submit(seed=400 + i, **QUEUED))) for i in range(11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(status == 200 for status, _, _ in results)
    refused = [e for _, job, e in results if job is None]
    assert refused and all("you have 8 runs waiting already, the most one user may have; wait for them to finish" in e for e in refused), refused
    for _, job, _ in results:
        if job:
            assert greedy.wait(job, 300)[0] == "done"
