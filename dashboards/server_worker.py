"""The server worker class gunicorn runs for the app (``worker_class`` in ``dashboards.server.gunicorn_options``)."""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker

from sim.exiting import exit_after


class AppWorker(ThreadWorker):
    """gunicorn's threaded worker (``gthread``), which ends as ``mandate-sim`` does once it has stopped serving: Python's
    exit work, then no native teardown, where pyarrow's thread pools (started here by the sweep explorer's Parquet
    reads) sometimes abort, which gunicorn would report in the terminal as a worker killed by SIGABRT (sim/exiting.py)."""

    def init_process(self) -> None:
        # serves until gunicorn stops it (a quick stop, SIGINT or SIGQUIT, ends it with sys.exit); a failure to start
        # propagates for gunicorn to report
        exit_after(super().init_process)
