"""The mandate-sim Dash app: compare policies, a what-if lab, a classroom story, a sweep explorer and the model.

``create_app(AppConfig(...))`` builds the app; ``mandate-sim app`` serves it on
127.0.0.1 with debug off. Everything it loads is served from this package
(Bootstrap's CSS from ``assets/``; Dash and plotly.js from their packages):
it works offline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Dash, Input, MATCH, Output, dcc, html

from .inputs import UploadFolder
from .jobs import JobManager

log = logging.getLogger("mandate_sim.app")

#: Engineer-weeks one request may ask for by default (policies + counterfactual x replicates x engineers x weeks).
DEFAULT_MAX_WORK = 25_000_000
#: Largest request body the server accepts (uploads travel inside callback requests).
MAX_REQUEST_BYTES = 16 * 1024 * 1024

PAGES = [
    ("home", "/", "Home"),
    ("compare", "/compare", "Compare"),
    ("lab", "/lab", "What-if lab"),
    ("classroom", "/classroom", "Classroom"),
    ("sweeps", "/sweeps", "Sweep explorer"),
    ("model", "/model", "Model"),
]


@dataclass
class AppConfig:
    """How the app runs: where sweep folders may be read from, how much work a request may ask for, the pool and cache."""

    data_root: Path = field(default_factory=Path.cwd)
    max_work: int = DEFAULT_MAX_WORK
    workers: int = 2  # worker processes for runs; 0 runs them in a background thread
    cache_size: int = 16
    max_pending: int = 16
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


_last_context: AppContext | None = None


def current() -> AppContext:
    """The context of the app serving this request (or of the app created last, outside requests)."""
    if flask.has_app_context():
        ctx = flask.current_app.config.get("MANDATE_SIM")
        if ctx is not None:
            return ctx
    if _last_context is None:
        raise RuntimeError("no mandate-sim app has been created")
    return _last_context


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


def share_box(page: str) -> html.Div:
    """A read-only box with the link that reopens this view, and a copy button."""
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


def create_app(config: AppConfig | None = None) -> Dash:
    """Build the app (pages, callbacks, the run pool); serve it with ``app.run`` or ``serve``."""
    global _last_context
    config = config or AppConfig()
    root = Path(config.data_root)
    if not root.is_dir():
        from sim.errors import InputError

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
    ctx = AppContext(config, JobManager(workers=config.workers, cache_size=config.cache_size, max_pending=config.max_pending), UploadFolder())
    _last_context = ctx
    app.server.config["MANDATE_SIM"] = ctx
    app.server.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    from .pages import classroom, compare, home, lab, model, sweeps

    modules = {"home": home, "compare": compare, "lab": lab, "classroom": classroom, "sweeps": sweeps, "model": model}
    for order, (name, path, title) in enumerate(PAGES):
        module = modules[name]
        dash.register_page(module.__name__, path=path, name=title, title=f"mandate-sim: {title}", order=order, layout=module.layout)
    app.layout = shell
    url_sync(app)
    for module in modules.values():
        if hasattr(module, "register_callbacks"):
            module.register_callbacks(app)

    @app.server.errorhandler(413)
    def _too_large(_e: Any):  # pragma: no cover - served by flask
        return flask.jsonify({"error": f"the request is larger than {MAX_REQUEST_BYTES:,} bytes"}), 413

    return app


def serve(app: Dash, host: str = "127.0.0.1", port: int = 8050) -> None:
    """Serve with the threaded server, debug off."""
    app.run(host=host, port=port, debug=False, dev_tools_ui=False, dev_tools_props_check=False, use_reloader=False, threaded=True)
