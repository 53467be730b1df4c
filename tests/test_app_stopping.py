"""Stopping ``mandate-sim app``: SIGTERM, SIGKILL or Ctrl-C on the app, with a run in progress, leaves no process
behind (its run workers, gunicorn and its server workers, the resource tracker), and a stopped app removes its
temporary folder. Each test starts its own app (two run workers, two server workers) in its own process group.
(In its own file so that pytest-xdist's ``--dist loadfile`` runs it beside tests/test_app_server.py, not after it.)"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from browser_support import AppProcess, ComparePage, alive, command_line

pytestmark = pytest.mark.slow

#: A comparison that runs for several seconds on two run workers (4 x 4 x 6000 x 104 engineer-weeks): in progress when the app stops.
LONG = dict(engineers=6000, weeks=104, replicates=4)


def _start_small(tmp_path: Path) -> AppProcess:
    (tmp_path / "tmp").mkdir()
    return AppProcess("--workers", "2", "--server-workers", "2", log=tmp_path / "app.log", env={"TMPDIR": str(tmp_path / "tmp")})


def _all_gone(app: AppProcess, pids: list[int], within: float) -> list[int]:
    end = time.monotonic() + within
    while time.monotonic() < end:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [(p, command_line(p)) for p in pids if alive(p)]


@pytest.mark.parametrize("how", ["SIGTERM to the app", "SIGKILL to the app", "Ctrl-C in its terminal"])
def test_stopping_the_app_leaves_no_process_behind(tmp_path, how):
    with _start_small(tmp_path) as app:
        user = ComparePage(app.url, "busy")
        user.submit(seed=500, **LONG)  # a run in progress while it stops
        pids = app.pids()
        assert len(pids) >= 6, [command_line(p) for p in pids]  # the app, 2 run workers, gunicorn and its 2 workers (and a resource tracker)
        if how == "SIGTERM to the app":
            os.kill(app.pid, signal.SIGTERM)
        elif how == "SIGKILL to the app":
            os.kill(app.pid, signal.SIGKILL)
        else:
            os.killpg(app.pid, signal.SIGINT)
        # About 5 s on a quiet 2-core machine (gunicorn's graceful stop); a loaded machine once took over 10 s.
        left = _all_gone(app, pids, 30.0)
        assert not left, f"{how}: still running after 30 s: {left}"
        if how != "SIGKILL to the app":  # a stopped app removes its temporary folder (a killed one cannot)
            assert app.proc.wait(5) == (0 if how == "SIGTERM to the app" else 130)
            assert not list((tmp_path / "tmp").iterdir())
