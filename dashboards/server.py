"""Serving the app in production: ``mandate-sim app`` = one owner process, its run workers, and gunicorn.

The process tree of ``mandate-sim app``::

    mandate-sim app (the owner: holds the shared folder's lock, starts and watches the run workers)
    ├── run-0 … run-N-1        run worker processes (dashboards.jobs.RunPool), --workers of them
    └── gunicorn arbiter       python -m dashboards.server (a child process, so it forks no threads of the owner)
        └── server workers     --server-workers processes, each a gthread worker answering pages and callbacks

Starting: the run workers and gunicorn start together. The run workers warm up (each runs a tiny comparison, so the
compiled kernels are loaded before the first click; gunicorn's server workers never run a model) while gunicorn
imports the app. The address is printed once the run workers are warm and GET / answers 200; if gunicorn stops
before that, the owner says so and exits with its status (1 at least).

Every server worker builds its own Dash app attached to the shared folder (``AppConfig(own_runs=False)``), so any
of them can accept a run, answer any poll and render any result (dashboards/jobs/). gunicorn's own control
socket is off; it logs warnings and errors only (``--access-log`` adds one line per request).

Stopping: SIGTERM or Ctrl-C (SIGINT) on the owner stops the run workers (SIGTERM, then SIGKILL) and, at the same
time, gunicorn (its graceful stop, then SIGKILL after ``GRACE_S``), and removes a temporary folder. If the owner is killed
(SIGKILL), its children notice by sim.experiments.sweeps.lifeline: the run workers (kernel death signal plus a
watchdog thread) and the gunicorn arbiter (death signal: SIGTERM, its graceful stop) end, and gunicorn's server
workers end when their parent changes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from .context import AppConfig

#: Seconds gunicorn has to stop gracefully (its graceful_timeout) before it and its workers are killed.
GRACE_S = 3
#: Threads per server worker: a run request waits up to ``wait_seconds`` for a fast result, so a worker needs
#: threads beyond its cores to keep answering page loads meanwhile.
DEFAULT_THREADS = 16
#: How often the owner asks whether the server answers yet, before it prints the address (seconds).
ANSWER_POLL_S = 0.1
#: The environment variable through which the gunicorn process learns the owner's pid.
ENV_OWNER = "MANDATE_SIM_APP_OWNER"


def gunicorn_options(host: str, port: int, server_workers: int, threads: int, access_log: str | None) -> dict[str, Any]:
    """gunicorn's settings for the app (see docs/ROBUSTNESS.md, "The web app")."""
    return {
        "bind": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"],
        "workers": int(server_workers),
        "worker_class": "dashboards.server_worker.AppWorker",  # gunicorn's gthread worker, ending as the command does
        "threads": int(threads),
        "timeout": 60,  # a server worker silent for a minute is replaced (runs are not done by server workers)
        "graceful_timeout": GRACE_S,
        "keepalive": 5,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "accesslog": access_log,
        "access_log_format": '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms pid=%(p)s',
        "errorlog": "-",
        "loglevel": "warning",
        "control_socket_disable": True,
        "proc_name": "mandate-sim-app",
    }


def _config_json(config: AppConfig) -> str:
    return json.dumps({k: (str(v) if isinstance(v, Path) else v) for k, v in dataclasses.asdict(config).items()})


def _config_from_json(text: str) -> AppConfig:
    raw = json.loads(text)
    for k in ("data_root", "cache_dir", "model_doc"):
        if raw.get(k) is not None:
            raw[k] = Path(raw[k])
    return AppConfig(**raw)


def serve(config: AppConfig, *, host: str = "127.0.0.1", port: int = 8050, server_workers: int = 2, threads: int = DEFAULT_THREADS,
          access_log: str | None = None, announce: Any = print) -> int:
    """Run the app until SIGTERM, Ctrl-C, or gunicorn stops; the exit status. ``config.cache_dir`` None: a temporary folder."""
    from .jobs import JobManager

    jobs = JobManager(config.cache_dir, workers=config.workers, own=True, cache_bytes=config.cache_bytes,
                      max_queue=config.max_queue, max_user_queue=config.max_user_queue)
    proc: subprocess.Popen | None = None
    interrupted: list[int] = []

    def on_interrupt(_signum: int, _frame: Any) -> None:
        interrupted.append(1)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise_exit)
    previous_int = signal.signal(signal.SIGINT, on_interrupt)
    try:
        child = dataclasses.replace(config, cache_dir=Path(jobs.folder), own_runs=False)
        options = gunicorn_options(host, port, server_workers, threads, access_log)
        env = {**os.environ, ENV_OWNER: str(os.getpid())}
        proc = subprocess.Popen([sys.executable, "-m", "dashboards.server", _config_json(child), json.dumps(options)], env=env)
        jobs.warm()  # meanwhile gunicorn imports the app (the run workers are niced: the server's start goes first)
        if not wait_answering(proc, host, port):
            code = proc.wait()
            print(f"error: the web server stopped (exit status {code}) before it answered on port {port}; its messages are above",
                  file=sys.stderr, flush=True)
            return code or 1
        announce(f"mandate-sim app on http://{host}:{port}/  ({server_workers} server workers, {max(config.workers, 1)} run workers, "
                 f"data root {config.data_root}; Ctrl+C stops it)")
        code = proc.wait()
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the cleanup short
        signal.signal(signal.SIGINT, lambda *_: interrupted.append(1))  # nor a Ctrl-C (noted: the exit status says it)
        jobs.begin_stop()  # the run workers stop (and are not restarted) while gunicorn stops gracefully
        try:
            if proc is not None:
                _stop(proc)
        finally:
            jobs.close()
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
    if interrupted:  # Ctrl-C whenever it came (gunicorn, also told, may have ended first and made this a clean return)
        raise KeyboardInterrupt
    return code


def local_url(host: str, port: int) -> str:
    """The address this machine reaches the server at (loopback for a server on every interface)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def wait_answering(proc: subprocess.Popen, host: str, port: int, every: float = ANSWER_POLL_S) -> bool:
    """Wait until the server answers GET / with 200 (True), or until gunicorn exits first (False)."""
    url = local_url(host, port)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # straight to this machine, whatever proxy is set
    while proc.poll() is None:
        try:
            with opener.open(url, timeout=5) as r:
                if r.status == 200:
                    return True
        except (OSError, ValueError):  # not listening yet (refused, reset), or an answer other than 200
            pass
        time.sleep(every)
    return False


def _raise_exit(_signum: int, _frame: Any) -> None:
    raise SystemExit(0)  # a requested stop is a clean stop; the finally blocks stop the children


def _stop(proc: subprocess.Popen) -> None:
    """Stop gunicorn: SIGTERM (its graceful stop, which stops its workers), SIGKILL if it is still there after the grace."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(GRACE_S + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def ready_server(app: Any) -> Any:
    """The Dash app's Flask server with Dash's first-request setup done here, once, before gunicorn's threads serve.

    Dash runs that setup on the first request without a lock: two first requests at once (a class opening the page
    together) could both run it, and one failed with a 500 (``dictionary changed size during iteration``, seen once
    under load). One request through Flask's test client does it before the worker accepts any connection."""
    with app.server.test_client() as client:
        client.get("/")
    return app.server


def _gunicorn_main(config_json: str, options_json: str) -> None:
    """The gunicorn process: its arbiter here, its server workers forked from it."""
    from gunicorn.app.base import BaseApplication

    from sim.experiments.sweeps.lifeline import die_with_parent

    owner = os.environ.get(ENV_OWNER, "")
    if owner.isdigit():
        die_with_parent(int(owner))  # SIGTERM (gunicorn's graceful stop) when the owner dies, even by SIGKILL
    config = _config_from_json(config_json)
    options = json.loads(options_json)
    import dashboards.app  # noqa: F401  (imported once here; each server worker builds its app after the fork)

    class Gunicorn(BaseApplication):
        def load_config(self) -> None:
            for k, v in options.items():
                self.cfg.set(k, v)

        def load(self):
            from .app import create_app

            return ready_server(create_app(config))

    Gunicorn().run()


if __name__ == "__main__":
    from sim.exiting import exit_after

    # gunicorn's arbiter ends with sys.exit, whose status `mandate-sim app` returns; no native teardown (sim/exiting.py)
    exit_after(lambda: _gunicorn_main(sys.argv[1], sys.argv[2]))
