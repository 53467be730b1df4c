"""The mandate-sim Dash app: compare policies, a what-if lab, a classroom story, a sweep explorer and the model.

``create_app(AppConfig(...))`` builds the app; ``mandate-sim app`` serves it on
127.0.0.1 with debug off. Everything it loads is served from this package
(Bootstrap's CSS from ``assets/``; Dash and plotly.js from their packages):
it works offline. Pages take what they share with the app (``current()``, the
share box) from ``context.py`` and never import this module.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Dash, Input, MATCH, Output, html

from sim.errors import InputError

from .context import DEFAULT_MAX_WORK, USER_COOKIE, AppConfig, AppContext, current, install, share_box
from .inputs import UploadFolder
from .jobs import JobManager
from .pages import classroom, compare, home, info, lab, model, sweeps

__all__ = ["DEFAULT_MAX_WORK", "PAGES", "AppConfig", "AppContext", "create_app", "current", "share_box"]

log = logging.getLogger("mandate_sim.app")

#: Largest request body the server accepts (uploads travel inside callback requests).
MAX_REQUEST_BYTES = 16 * 1024 * 1024

PAGES = [
    ("home", "/", "Home"),
    ("compare", "/compare", "Compare"),
    ("lab", "/lab", "What-if lab"),
    ("classroom", "/classroom", "Classroom"),
    ("sweeps", "/sweeps", "Sweep explorer"),
    ("model", "/model", "Model"),
    ("info", "/info", "Info"),
]


#: Each page's module.
MODULES = {"home": home, "compare": compare, "lab": lab, "classroom": classroom, "sweeps": sweeps, "model": model, "info": info}


def navbar() -> dbc.Navbar:
    links = [dbc.NavItem(dbc.NavLink(title, href=path, active="exact", id=f"nav-{name}")) for name, path, title in PAGES if name != "home"]
    return dbc.NavbarSimple(links, brand="mandate-sim", brand_href="/", color="primary", dark=True, fluid=True, className="mb-3")


def shell() -> html.Div:
    """The frame around every page."""
    return html.Div([navbar(), dbc.Container(dash.page_container, fluid=True, className="pb-5")])


def url_sync(app: Dash) -> None:
    """Every page's state store writes the address bar (replaceState: no reload, no re-render) and the share box."""
    app.clientside_callback(
        """
        function(q) {
            if (q === null || q === undefined) { return window.dash_clientside.no_update; }
            window.history.replaceState(window.history.state, '', window.location.pathname + q);
            return window.location.href;
        }
        """,
        Output({"type": "share-link", "page": MATCH}, "value"),
        Input({"type": "url-state", "page": MATCH}, "data"),
    )


def create_app(config: AppConfig | None = None) -> Dash:
    """Build the app: pages, callbacks, and its runs (``JobManager``: the shared folder of the queue and the results and,
    with ``config.own_runs``, the run workers). ``mandate-sim app`` serves it (dashboards/server.py); a test may serve
    ``app.server`` with any WSGI server. ``app.server.config["MANDATE_SIM"].jobs.close()`` stops its run workers."""
    config = config or AppConfig()
    root = Path(config.data_root)
    if not root.is_dir():
        raise InputError("is not a folder", source="--data-root", value=str(root))
    app = Dash(
        __name__,
        use_pages=True,
        pages_folder="",
        external_stylesheets=[],  # Bootstrap is served from assets/ (offline)
        title="mandate-sim",
        update_title=None,
        serve_locally=True,
        compress=False,
    )
    jobs = JobManager(config.cache_dir, workers=config.workers, own=config.own_runs, cache_bytes=config.cache_bytes,
                      max_queue=config.max_queue, max_user_queue=config.max_user_queue)
    ctx = AppContext(config, jobs, UploadFolder(Path(jobs.folder) / "uploads"))  # inside the app's folder: removed with it
    install(app.server, ctx)
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    for order, (name, path, title) in enumerate(PAGES):
        module = MODULES[name]
        dash.register_page(module.__name__, path=path, name=title, title=f"mandate-sim: {title}", order=order, layout=module.layout)
    app.layout = shell
    url_sync(app)
    for module in MODULES.values():
        if hasattr(module, "register_callbacks"):
            module.register_callbacks(app)

    @app.server.after_request
    def _user_cookie(response: flask.Response) -> flask.Response:
        """A random token per browser, so the run queue can be fair between users (HttpOnly; nothing else is kept)."""
        if USER_COOKIE not in flask.request.cookies:
            response.set_cookie(USER_COOKIE, secrets.token_urlsafe(16), max_age=30 * 86400, httponly=True, samesite="Lax")
        return response

    @app.server.errorhandler(413)
    def _too_large(_e: Any):  # pragma: no cover - served by flask
        return flask.jsonify({"error": f"the request is larger than {MAX_REQUEST_BYTES:,} bytes"}), 413

    return app
