"""A plotly figure built as plain dicts, for the figure functions in ``figures.py``.

Building a chart trace by trace with ``plotly.graph_objects`` validates every
property at every step, and each new figure deep-copies its template: for the
Compare page's ten charts that took about 1.5 s of a click's 4 s. A
``FigureSpec`` takes the same calls the figure functions made (``add_trace``,
``update_layout``, ``update_xaxes``, ``add_hline``, a grid as ``make_subplots``
lays it out) on plain dicts, and gives at the end either

- ``figure()``: a ``plotly.graph_objects.Figure``, validated once (the CLI
  report, notebooks, tests), or
- ``to_dict()``: the figure as plotly.js reads it, template included, with no
  validation (the app, which only sends it to the browser as JSON).

Both draw the same chart (tested against each other in tests/test_figures.py).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Callable, Mapping, TypeVar

import plotly.graph_objects as go
import plotly.io as pio

#: The plotly template every chart uses.
TEMPLATE = "plotly_white"

_AXIS = re.compile(r"^([xy])axis(\d*)$")


@functools.lru_cache(maxsize=None)
def _template_json() -> str:
    return json.dumps(pio.templates[TEMPLATE].to_plotly_json())


def template_dict() -> dict:
    """The template as plotly.js reads it (a fresh copy)."""
    return json.loads(_template_json())


@functools.lru_cache(maxsize=64)
def _grid_json(rows: int, cols: int, titles: int, shared_yaxes: bool, horizontal_spacing: float | None, vertical_spacing: float | None) -> str:
    """The layout ``make_subplots`` gives a grid (axes, domains, subplot-title annotations with placeholder texts)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=shared_yaxes, horizontal_spacing=horizontal_spacing, vertical_spacing=vertical_spacing,
                        subplot_titles=[str(i) for i in range(titles)] or None)
    layout = fig.layout.to_plotly_json()
    layout.pop("template", None)
    return json.dumps(layout)


def merge(into: dict, patch: Mapping[str, Any]) -> dict:
    """``patch`` merged into ``into`` as plotly's ``update`` merges: nested dicts key by key, anything else replaced; None
    values are left out."""
    for k, v in patch.items():
        if v is None:
            continue
        if isinstance(v, Mapping) and isinstance(into.get(k), dict):
            merge(into[k], v)
        elif isinstance(v, Mapping):
            into[k] = merge({}, v)
        else:
            into[k] = v
    return into


class FigureSpec:
    """A figure under construction: ``data`` (a list of trace dicts) and ``layout`` (a dict), with the few
    ``go.Figure`` methods the figure functions use. ``rows``/``cols`` > 1 or ``subplot_titles`` lay out a grid as
    ``plotly.subplots.make_subplots`` does; traces then go to a cell by ``row`` and ``col``."""

    def __init__(self, *, rows: int = 1, cols: int = 1, subplot_titles: list[str] | None = None, shared_yaxes: bool = False,
                 horizontal_spacing: float | None = None, vertical_spacing: float | None = None, grid: bool | None = None):
        self.data: list[dict] = []
        self.rows, self.cols = rows, cols
        self.grid = bool(grid) if grid is not None else (rows * cols > 1 or bool(subplot_titles))
        if self.grid:
            titles = list(subplot_titles or [])
            self.layout: dict = json.loads(_grid_json(rows, cols, len(titles), shared_yaxes, horizontal_spacing, vertical_spacing))
            for note, text in zip(self.layout.get("annotations", []), titles):
                note["text"] = text
        else:
            self.layout = {}

    def _cell(self, row: int, col: int) -> int:
        if not self.grid or not (1 <= row <= self.rows and 1 <= col <= self.cols):
            raise ValueError(f"no cell ({row}, {col}) in a {self.rows} x {self.cols} figure")
        return (row - 1) * self.cols + col

    def add_trace(self, trace: Mapping[str, Any], *, row: int | None = None, col: int | None = None) -> FigureSpec:
        """Add a trace (a dict with its ``type``), in the grid's cell (``row``, ``col``) when given."""
        t = merge({}, trace)
        if row is not None:
            k = self._cell(row, col or 1)
            t["xaxis"], t["yaxis"] = ("x", "y") if k == 1 else (f"x{k}", f"y{k}")
        self.data.append(t)
        return self

    def update_layout(self, patch: Mapping[str, Any] | None = None, **kw: Any) -> FigureSpec:
        """Merge ``patch`` (and keyword properties) into the layout."""
        merge(self.layout, {**(patch or {}), **kw})
        return self

    def _axes(self, letter: str, row: int | None, col: int | None) -> list[str]:
        if row is not None or col is not None:
            k = self._cell(row or 1, col or 1)
            return [f"{letter}axis" if k == 1 else f"{letter}axis{k}"]
        names = [k for k in self.layout if (m := _AXIS.match(k)) and m.group(1) == letter]
        return names or [f"{letter}axis"]

    def update_xaxes(self, patch: Mapping[str, Any] | None = None, *, row: int | None = None, col: int | None = None, **kw: Any) -> FigureSpec:
        """Merge ``patch`` into every x axis (or the one of cell ``row``, ``col``)."""
        for name in self._axes("x", row, col):
            merge(self.layout.setdefault(name, {}), {**(patch or {}), **kw})
        return self

    def update_yaxes(self, patch: Mapping[str, Any] | None = None, *, row: int | None = None, col: int | None = None, **kw: Any) -> FigureSpec:
        """Merge ``patch`` into every y axis (or the one of cell ``row``, ``col``)."""
        for name in self._axes("y", row, col):
            merge(self.layout.setdefault(name, {}), {**(patch or {}), **kw})
        return self

    def add_hline(self, y: float, *, line: Mapping[str, Any] | None = None) -> FigureSpec:
        """A horizontal line across the plot at ``y`` (as ``go.Figure.add_hline`` draws it on a figure without a grid)."""
        if self.grid:
            raise ValueError("add_hline is only drawn on a figure without a grid")
        shape = merge({"type": "line", "xref": "x domain", "x0": 0, "x1": 1, "yref": "y", "y0": y, "y1": y}, {"line": dict(line or {})})
        self.layout.setdefault("shapes", []).append(shape)
        return self

    def to_dict(self) -> dict:
        """The figure as plotly.js reads it (``data``, ``layout`` with the template), not validated; it shares the
        spec's own dicts (a spec gives one figure)."""
        return {"data": self.data, "layout": {**self.layout, "template": template_dict()}}

    def figure(self) -> go.Figure:
        """The figure as a validated ``plotly.graph_objects.Figure``."""
        return go.Figure({"data": self.data, "layout": {**self.layout, "template": TEMPLATE}})


F = TypeVar("F", bound=Callable[..., Any])


def figure_function(build: F) -> F:
    """A figure function from a function that builds a ``FigureSpec``: it returns a ``go.Figure``, or with
    ``as_dict=True`` the plain figure dict (``FigureSpec.to_dict``)."""

    @functools.wraps(build)
    def wrapper(*args: Any, as_dict: bool = False, **kwargs: Any) -> Any:
        spec = build(*args, **kwargs)
        return spec.to_dict() if as_dict else spec.figure()

    wrapper.__annotations__ = {**build.__annotations__, "as_dict": "bool", "return": "go.Figure | dict"}
    wrapper.spec = build  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]
