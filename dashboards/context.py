"""What the pages share with the app, without importing it: the configuration, the context of the app serving a
request (``current()``) and the share box. ``app.py`` builds the app from the pages; pages import this module,
never ``app.py``, so the app's modules import one way (app -> pages -> context, compute, jobs, ...).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import dash_bootstrap_components as dbc
import flask
from dash import dcc, html

from .inputs import UploadFolder
from .jobs import DEFAULT_CACHE_BYTES, DEFAULT_MAX_QUEUE, DEFAULT_MAX_USER_QUEUE, JobManager

#: Engineer-weeks one request may ask for by default (policies + counterfactual x replicates x engineers x weeks).
DEFAULT_MAX_WORK = 25_000_000

#: The most run workers the app starts by default, and the memory it leaves each (bytes): a run worker holds about
#: 300 MiB and a run of the largest request the app accepts a few hundred more (docs/ROBUSTNESS.md).
MAX_DEFAULT_WORKERS, MEMORY_PER_WORKER = 8, 1 << 30


#: Files that may cap this process's memory below the machine's (cgroups v1 and v2, as a container sets them); the
#: same files ``distributed.system.memory_limit`` reads, without importing distributed (a third of a second).
CGROUP_MEMORY_FILES = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.high",
                       "/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.soft_limit_in_bytes")


def usable_memory(limits: tuple[str, ...] | None = None) -> int:
    """Bytes of memory this process may use: the machine's, or less where a container's cgroup limit says so
    (``limits``: the files to read, by default ``CGROUP_MEMORY_FILES``)."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # pragma: no cover
        memory = MAX_DEFAULT_WORKERS * MEMORY_PER_WORKER
    for path in CGROUP_MEMORY_FILES if limits is None else limits:
        try:
            limit = int(Path(path).read_text().strip())  # "max": no limit
        except (OSError, ValueError):
            continue
        if 0 < limit < memory:
            memory = limit
    return memory


def default_run_workers(cores: int | None = None, memory: int | None = None) -> int:
    """Run workers the app starts when not told: one per core this process may use, at most ``MAX_DEFAULT_WORKERS`` and
    one per ``MEMORY_PER_WORKER`` of the memory it may use, at least 1 (a comparison is split over them, so a click's
    runs take about 1/workers of their time alone). Both count a container's limits: its CPU quota and its cgroup
    memory limit (``--workers`` sets the number)."""
    if cores is None:
        from sim.experiments.sweeps.executors import default_workers

        cores = default_workers()  # the CPU affinity and a container's CPU quota
    if memory is None:
        memory = usable_memory()
    return max(1, min(int(cores), MAX_DEFAULT_WORKERS, int(memory) // MEMORY_PER_WORKER))


@dataclass
class AppConfig:
    """How the app runs: where sweep folders may be read from, how much work a request may ask for, the runs and the cache."""

    data_root: Path = field(default_factory=Path.cwd)
    max_work: int = DEFAULT_MAX_WORK
    workers: int = field(default_factory=default_run_workers)  # run worker processes; 0 runs them in a background thread
    cache_bytes: int = DEFAULT_CACHE_BYTES  # bytes of finished results kept (least recently used evicted first)
    max_queue: int = DEFAULT_MAX_QUEUE  # jobs that may wait at once, all users together
    max_user_queue: int = DEFAULT_MAX_USER_QUEUE  # jobs one user may have waiting
    cache_dir: Path | None = None  # the shared folder of the queue and the results (None: a private temporary one)
    own_runs: bool = True  # this process starts the run workers (False: a server worker of `mandate-sim app`, which owns them)
    model_doc: Path | None = None  # docs/MODEL.md by default
    wait_seconds: float = 1.8  # how long a click waits for its run before showing progress (a faster run shows at once)


@dataclass
class AppContext:
    """What the pages share: the configuration, the run pool and cache, and the upload folder."""

    config: AppConfig
    jobs: JobManager
    uploads: UploadFolder

    @property
    def data_root(self) -> Path:
        return Path(self.config.data_root).resolve()

    @property
    def model_doc(self) -> Path:
        return self.config.model_doc or Path(__file__).resolve().parent.parent / "docs" / "MODEL.md"


#: The key under which an app's context sits in its Flask server's config.
CONFIG_KEY = "MANDATE_SIM"
_last_context: AppContext | None = None


def install(server: flask.Flask, ctx: AppContext) -> None:
    """Attach a context to an app's server (``create_app`` does this); it also becomes the context outside requests."""
    global _last_context
    server.config[CONFIG_KEY] = ctx
    _last_context = ctx


def current() -> AppContext:
    """The context of the app serving this request (or of the app created last, outside requests)."""
    if flask.has_app_context():
        ctx = flask.current_app.config.get(CONFIG_KEY)
        if ctx is not None:
            return ctx
    if _last_context is None:
        raise RuntimeError("no mandate-sim app has been created")
    return _last_context


#: The cookie that tells users apart for the fair queue (a random token; nothing else is kept about anyone).
USER_COOKIE = "mandate_sim_user"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,40}")


def current_user() -> str:
    """Who is asking, for the fair queue: the request's user cookie, or its address when it has none."""
    if not flask.has_request_context():
        return "local"
    token = flask.request.cookies.get(USER_COOKIE, "")
    if _TOKEN.fullmatch(token):
        return "u:" + token
    return "a:" + str(flask.request.remote_addr or "?")[:64]


def share_box(page: str) -> html.Div:
    """A read-only box with the link that reopens this view, and a copy button (``app.url_sync`` fills it)."""
    return html.Div(
        [
            html.Div("Link to this view", className="small fw-semibold"),
            dbc.InputGroup([
                dbc.Input(id={"type": "share-link", "page": page}, readonly=True, size="sm", className="share-link"),
                dbc.InputGroupText(dcc.Clipboard(target_id={"type": "share-link", "page": page}, title="copy the link")),
            ], size="sm"),
            dcc.Store(id={"type": "url-state", "page": page}),
        ],
        className="mb-2",
    )
