"""The app's shared queue and result cache (dashboards/jobs/) without a web server: fair order, the queue's bounds,
the byte bound of the results, and real run worker processes that fail only their own job (a MemoryError, a kill)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from sim.errors import InputError

from dashboards.jobs import JobManager, JobStore, fair_order, queue_text


def _entry(user: str, seq: int, key: str | None = None, part=None) -> dict:
    return {"key": key or f"{user}{seq}", "part": part, "user": user, "seq": seq, "work": 1000}


def test_fair_order_puts_everyones_first_job_before_anyones_second():
    queue = [_entry("a", 1), _entry("a", 2), _entry("a", 3), _entry("b", 4), _entry("c", 5), _entry("b", 6)]
    assert [e["key"] for e in fair_order(queue, {})] == ["a1", "b4", "c5", "a2", "b6", "a3"]
    # a job running for a user counts as that user's first: their next waiting one goes after the others' first
    running = {"run-0": _entry("a", 0, key="a0")}
    assert [e["key"] for e in fair_order([_entry("a", 2), _entry("b", 3)], running)] == ["b3", "a2"]
    # the parts of one job keep together, in part order
    split = [_entry("a", 1, "a1", 0), _entry("a", 1, "a1", 1), _entry("b", 2, "b2", 0), _entry("b", 2, "b2", 1), _entry("a", 3, "a3", 0)]
    assert [(e["key"], e["part"]) for e in fair_order(split, {})] == [("a1", 0), ("a1", 1), ("b2", 0), ("b2", 1), ("a3", 0)]
    assert fair_order([], running) == []


def test_a_waiting_job_shows_its_place_and_an_estimate(tmp_path):
    store = JobStore.create(tmp_path, workers=1)
    try:
        for i in range(3):
            store.submit(f"k{i}", _double, i, user=f"u{i}", work=2_000_000)
        st = store.status("k2")
        assert st["state"] == "queued" and st["position"] == 3 and st["ahead"] == 2 and st["eta"] > 0
        assert queue_text(st).startswith("waiting in the queue: 3rd in line (2 runs ahead), starts in about ")
        assert store.status("k0")["position"] == 1 and store.status("nope") == {"state": "unknown"}
    finally:
        store.close()


def test_the_queue_refuses_beyond_its_bounds_with_a_clear_message(tmp_path):
    store = JobStore.create(tmp_path, max_queue=4, max_user_queue=2)  # no run workers: everything waits
    try:
        store.submit("a1", _double, 1, user="a")
        store.submit("a2", _double, 2, user="a")
        store.submit("a2", _double, 2, user="a")  # the same request again shares the waiting job
        with pytest.raises(InputError, match="you have 2 runs waiting already, the most one user may have"):
            store.submit("a3", _double, 3, user="a")
        store.submit("b1", _double, 1, user="b")
        store.submit("c1", _double, 1, user="c")
        with pytest.raises(InputError, match=r"the server's queue is full: 4 runs are waiting.*--max-queue"):
            store.submit("d1", _double, 1, user="d")
        assert [e["key"] for e in store.queued()] == ["a1", "b1", "c1", "a2"]
    finally:
        store.close()


def _double(x, *, progress=None):
    if progress:
        progress(1, 1)
    return 2 * x


def _blob(i, *, progress=None):
    return bytes([i % 256]) * 100_000


def test_the_result_cache_keeps_its_byte_bound_and_the_most_recently_used(tmp_path):
    limit = 450_000
    jobs = JobManager(tmp_path / "f", workers=0, cache_bytes=limit)
    try:
        for i in range(12):
            jobs.submit(f"k{i}", _blob, i)
            assert jobs.wait(f"k{i}", 10)["state"] == "done" and jobs.cached(f"k{i}") is not None, i
            if i == 5:
                assert jobs.cached("k3") is not None  # used again: it outlives older and newer ones
            assert jobs.cache_bytes() <= limit, (i, jobs.cache_bytes())
        held = {k for k in (f"k{i}" for i in range(12)) if k in jobs.results}
        assert "k11" in held and "k0" not in held and 2 <= len(held) <= 4
    finally:
        jobs.close()
    # the results outlive the app: a new one on the same folder serves them (and a smaller bound drops the oldest)
    again = JobManager(tmp_path / "f", workers=0, cache_bytes=250_000)
    try:
        assert again.cached("k11") == bytes([11]) * 100_000 and again.cache_bytes() <= 250_000
    finally:
        again.close()


def _too_big(*, progress=None):
    return bytearray(1 << 62)  # a real allocation the machine cannot give: MemoryError


def _sleepy(x, *, progress=None):
    time.sleep(x)
    return x


@pytest.mark.slow
def test_a_memory_error_or_a_killed_run_worker_fails_only_its_own_job(tmp_path):
    jobs = JobManager(tmp_path / "f", workers=2, warm=False)
    try:
        jobs.warm(60)
        jobs.submit("before", _double, 21)
        assert jobs.wait("before", 30)["state"] == "done"
        jobs.submit("oom", _too_big, user="a")
        for i in range(4):
            jobs.submit(f"ok{i}", _double, i, user=f"u{i}")
        assert jobs.wait("oom", 30) == {"state": "failed", "error": "the run ran out of memory and was stopped; only this run was lost: "
                                                                   "lower the engineers, replicates or weeks"}
        assert all(jobs.wait(f"ok{i}", 30)["state"] == "done" and jobs.cached(f"ok{i}") == 2 * i for i in range(4))
        # a run worker killed mid-job (the kernel's OOM killer, an operator): only its job fails, the queue goes on
        jobs.submit("victim", _sleepy, 30.0, user="v")
        for i in range(3):
            jobs.submit(f"after{i}", _double, 10 + i, user=f"w{i}")
        end = time.monotonic() + 30
        while not any(e["key"] == "victim" for e in jobs.running().values()):
            assert time.monotonic() < end, "the job never started"
            time.sleep(0.02)
        pid = next(e["pid"] for e in jobs.running().values() if e["key"] == "victim")
        os.kill(pid, signal.SIGKILL)
        st = jobs.wait("victim", 30)
        assert st["state"] == "failed" and "its worker process was killed (SIGKILL), probably out of memory; only this run was lost" in st["error"]
        assert all(jobs.wait(f"after{i}", 30)["state"] == "done" for i in range(3))
        end = time.monotonic() + 60
        while jobs.pool.replaced < 2:  # both dead workers were replaced
            assert time.monotonic() < end
            time.sleep(0.05)
        assert jobs.cached("before") == 42  # a result from before the restarts is still served
        jobs.submit("later", _double, 5)
        assert jobs.wait("later", 60)["state"] == "done" and jobs.cached("later") == 10
        pids = jobs.pool.pids()
    finally:
        jobs.close()
    assert len(pids) == 2 and not [p for p in pids if _running(p)]


def _running(pid: int) -> bool:
    from sim.experiments.sweeps.lifeline import _alive

    return _alive(pid)


def test_a_second_app_on_the_same_folder_is_refused_with_a_message(tmp_path):
    first = JobManager(tmp_path / "f", workers=0)
    try:
        with pytest.raises(InputError, match="is in use by another mandate-sim app"):
            JobManager(tmp_path / "f", workers=0)
        assert oct((tmp_path / "f").stat().st_mode & 0o777) == "0o700"
    finally:
        first.close()
    JobManager(tmp_path / "f", workers=0).close()  # free again once the first has stopped


def _after(flag: str, value: int, *, progress=None) -> int:
    """A task that runs until the file ``flag`` exists."""
    while not os.path.exists(flag):
        time.sleep(0.01)
    return value


def test_a_poll_about_a_running_job_is_held_until_the_job_ends_and_the_clicks_own_answer_is_not(tmp_path):
    """dashboards.polling through Dash's own callback machinery: a poll (fired by the page's interval) about a running
    job is answered when the job ends, or after HOLD_S with 'running'; the answer to the click itself is not held."""
    import threading

    from dash import Dash, Input, Output, dcc, html

    from dashboards.polling import HOLD_S, job_status

    jobs = JobManager(tmp_path / "folder", workers=0, warm=False)
    app = Dash(__name__)
    app.layout = html.Div([dcc.Interval(id="poll"), dcc.Store(id="job"), html.Div(id="out")])

    @app.callback(Output("out", "children"), Input("job", "data"), Input("poll", "n_intervals"))
    def show(key, _tick):
        return job_status(jobs, key, "poll")["state"]

    client = app.server.test_client()

    def ask(trigger: str) -> tuple[str, float]:
        body = {"output": "out.children", "outputs": {"id": "out", "property": "children"}, "changedPropIds": [trigger],
                "inputs": [{"id": "job", "property": "data", "value": "k"}, {"id": "poll", "property": "n_intervals", "value": 1}]}
        t0 = time.monotonic()
        r = client.post("/_dash-update-component", json=body)
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()["response"]["out"]["children"], time.monotonic() - t0

    flag = tmp_path / "go"
    try:
        jobs.submit("k", _after, str(flag), 7)
        end = time.monotonic() + 30
        while jobs.status("k")["state"] != "running" and time.monotonic() < end:
            time.sleep(0.01)
        state, took = ask("job.data")
        assert state == "running" and took < HOLD_S, took
        state, took = ask("poll.n_intervals")
        assert state == "running" and took >= 0.9 * HOLD_S, took
        threading.Timer(0.1, flag.touch).start()
        state, took = ask("poll.n_intervals")
        assert state == "done", (state, took)
        assert jobs.cached("k") == 7
    finally:
        flag.touch()
        jobs.close()
