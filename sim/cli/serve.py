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
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on (127.0.0.1: this machine only; 0.0.0.0: every network interface)."),
    port: int = typer.Option(8050, "--port", "-p", help="Port to serve on."),
    data_root: Path = typer.Option(Path("."), "--data-root", help="Folder under which the sweep explorer may open sweep folders (nothing outside it can be read)."),
    workers: int = typer.Option(2, "--workers", help="Worker processes for runs (0: run in a background thread)."),
    max_work: Optional[int] = typer.Option(None, "--max-work", help="Most engineer-weeks one request may ask for ((policies + 1) x replicates x engineers x weeks)."),
    cache_size: int = typer.Option(16, "--cache-size", help="Results kept for instant repeated views."),
) -> None:
    """Serve the app: compare policies, a what-if lab, a classroom story, a sweep explorer and the model (debug off)."""
    from dashboards.app import DEFAULT_MAX_WORK, AppConfig, create_app, serve

    if not data_root.is_dir():
        raise InputError("is not a folder", source="--data-root", value=str(data_root))
    if not (0 <= workers <= 64):
        raise InputError("is out of range", source="--workers", value=workers, allowed="a whole number from 0 to 64")
    if max_work is not None and max_work < 1000:
        raise InputError("is out of range", source="--max-work", value=max_work, allowed="a whole number of at least 1,000 engineer-weeks")
    if not (1 <= cache_size <= 1000):
        raise InputError("is out of range", source="--cache-size", value=cache_size, allowed="a whole number from 1 to 1,000")
    check_port(host, port)
    config = AppConfig(data_root=data_root.resolve(), workers=workers, max_work=max_work or DEFAULT_MAX_WORK, cache_size=cache_size)
    dash_app = create_app(config)
    typer.echo(f"mandate-sim app on http://{host}:{port}/  (data root {config.data_root}; Ctrl+C stops it)")
    current = dash_app.server.config["MANDATE_SIM"]
    current.jobs.warm()
    try:
        serve(dash_app, host=host, port=port)
    finally:
        current.jobs.close()
