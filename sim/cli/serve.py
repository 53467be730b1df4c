"""`mandate-sim app`: serve the Dash app (registered in sim/cli/__init__.py).

The module is named ``serve`` so that ``sim.cli.app`` stays the typer application. The app's own
modules (``dashboards``) are imported only inside the command: the rest of the CLI starts without Dash.
"""

from __future__ import annotations

import errno
import socket
from pathlib import Path
from typing import Optional

import typer

from sim.errors import InputError

#: Defaults of the app's queue and cache (the same as dashboards.jobs's, without importing Dash here).
DEFAULT_CACHE_BYTES = "512MiB"
DEFAULT_MAX_QUEUE = 64


def parse_bytes(text: str) -> int:
    """``--cache-bytes``: a size as the other size options take it (``512MiB``, ``2GB``, bytes), at most 1 TiB."""
    from sim.model.limits import parse_bytes as size

    n = size(text, source="--cache-bytes")
    if n > 1024**4:
        raise InputError("is too large", source="--cache-bytes", value=text, allowed="at most 1 TiB")
    return n


def check_port(host: str, port: int) -> None:
    """Refuse a port out of range or already in use, with a clear message."""
    if not (1 <= port <= 65535):
        raise InputError("is out of range", source="--port", value=port, allowed="a whole number from 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise InputError("is not an address this machine can serve on", source="--host", value=host, allowed="e.g. 127.0.0.1 or 0.0.0.0") from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise InputError("is already in use", source="--port", value=port, allowed="a free port (or stop what uses it)") from None
            raise InputError(f"cannot be served on: {e.strerror}", source="--host", value=host) from None


def app_command(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (127.0.0.1: this machine only; 0.0.0.0: every network interface; behind a proxy, keep 127.0.0.1)."),
    port: int = typer.Option(8050, "--port", "-p", help="Port to serve on."),
    data_root: Path = typer.Option(Path("."), "--data-root", help="Folder under which the sweep explorer may open sweep folders (nothing outside it can be read)."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Run worker processes: a comparison is split over them, and at most this many run at once (the rest wait in the queue); default: one per core, at most 8 and one per GiB of memory (those this process may use: a container's limits count).", show_default=False),
    server_workers: int = typer.Option(2, "--server-workers", help="gunicorn worker processes answering pages and polls (any of them answers any poll)."),
    max_work: Optional[int] = typer.Option(None, "--max-work", help="Most engineer-weeks one request may ask for ((policies + 1) x replicates x engineers x weeks)."),
    cache_bytes: str = typer.Option(DEFAULT_CACHE_BYTES, "--cache-bytes", help="Bytes of finished results kept on disk for instant repeated views, e.g. 512MiB or 2GiB (least recently used dropped first)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Folder of the shared queue and results (kept across restarts); default: a private temporary folder removed on exit."),
    max_queue: int = typer.Option(DEFAULT_MAX_QUEUE, "--max-queue", help="Runs that may wait in the queue at once, all users together; one more is refused with a message."),
    access_log: Optional[str] = typer.Option(None, "--access-log", help="File for one line per request ('-': the terminal); default: none."),
) -> None:
    """Serve the app (gunicorn, debug off): compare policies, a what-if lab, a classroom story, a sweep explorer, the model and
    its plain-language info. The address is printed once the app answers; requests print nothing without --access-log."""
    from dashboards.context import DEFAULT_MAX_WORK, AppConfig, default_run_workers  # not dashboards.app: the owner never builds pages
    from dashboards.server import serve

    if not data_root.is_dir():
        raise InputError("is not a folder", source="--data-root", value=str(data_root))
    if workers is None:
        workers = default_run_workers()
    if not (1 <= workers <= 64):
        raise InputError("is out of range", source="--workers", value=workers, allowed="a whole number from 1 to 64")
    if not (1 <= server_workers <= 64):
        raise InputError("is out of range", source="--server-workers", value=server_workers, allowed="a whole number from 1 to 64")
    if max_work is not None and max_work < 1000:
        raise InputError("is out of range", source="--max-work", value=max_work, allowed="a whole number of at least 1,000 engineer-weeks")
    cache_limit = parse_bytes(cache_bytes)
    if not (1 <= max_queue <= 10_000):
        raise InputError("is out of range", source="--max-queue", value=max_queue, allowed="a whole number from 1 to 10,000")
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise InputError("is not a folder", source="--cache-dir", value=str(cache_dir))
    from sim.model import limits

    limits.max_model_bytes(), limits.max_table_bytes()  # a wrong $MANDATE_SIM_MAX_*_BYTES: one message now, not in each run worker
    check_port(host, port)
    config = AppConfig(data_root=data_root.resolve(), workers=workers, max_work=max_work or DEFAULT_MAX_WORK, cache_bytes=cache_limit,
                       max_queue=max_queue, cache_dir=cache_dir.resolve() if cache_dir else None)
    try:
        code = serve(config, host=host, port=port, server_workers=server_workers, access_log=access_log, announce=typer.echo)
    except RuntimeError as e:  # the run workers could not start (their own messages are above): one line, no traceback
        typer.echo(f"error: the app could not start: {e}", err=True)
        raise typer.Exit(1) from None
    if code not in (0, None):
        raise typer.Exit(code)
