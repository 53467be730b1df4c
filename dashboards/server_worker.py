"""The server worker class gunicorn runs for the app (``worker_class`` in ``dashboards.server.gunicorn_options``)."""

from __future__ import annotations

from gunicorn.workers.gthread import ThreadWorker

from sim.exiting import exit_now, exit_status


class AppWorker(ThreadWorker):
    """gunicorn's threaded worker (``gthread``), which ends as ``mandate-sim`` does once it has stopped serving: Python's
    exit work, then no native teardown, where pyarrow's thread pools (started here by the sweep explorer's Parquet
    reads) sometimes abort, which gunicorn would report in the terminal as a worker killed by SIGABRT (sim/exiting.py)."""

    def init_process(self) -> None:
        try:
            super().init_process()  # serves until gunicorn stops it; a failure to start is gunicorn's to report
            status = 0
        except SystemExit as e:  # a quick stop (SIGINT, SIGQUIT) ends the worker with sys.exit
            status = exit_status(e.code)
        self.tmp.close()  # what gunicorn does in the worker after it returns
        exit_now(status)
