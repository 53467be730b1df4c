"""Analysis of sweep results: Sobol' and Morris indices (SALib), summary tables, figures and an HTML report.

Every function takes the tidy table of ``sim.sweep.load_sweep`` (run_id, replicate, one column per swept
parameter, [week], metric, value) or a sweep folder. A run's output is the mean over its replicates of the
end-of-horizon value (the last week when the sweep kept every week). The figure functions return plotly
figures and are shared by ``mandate-sim analyze --html`` and the app's sweep explorer. Tables and figures
keep metric ids in their data; what people see names each output by its title ("Trust in AI (0–1)").
"""

from __future__ import annotations

import functools
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from sim.errors import InputError

from .figures import format_number, is_percent, series_title

#: Columns of the tidy sweep table that are not swept parameters.
BASE_COLUMNS = ("run_id", "replicate", "week", "metric", "value")
#: Columns of the sensitivity table.
INDEX_COLUMNS = ["metric", "parameter", "index", "value", "conf"]
#: Confidence level of the bootstrap intervals on indices.
CONF_LEVEL = 0.95
#: Bootstrap resamples behind each confidence interval.
RESAMPLES = 200

TEMPLATE = "plotly_white"
#: Runs above which the scatter matrix draws with WebGL instead of SVG.
WEBGL_POINTS = 2000
COLOURS = {"S1": "#0072B2", "ST": "#D55E00", "mu_star": "#009E73", "sigma": "#E69F00"}


def parameters_of(frame: pd.DataFrame) -> list[str]:
    """The swept parameter columns of a tidy sweep table, in order."""
    return [c for c in frame.columns if c not in BASE_COLUMNS]


def _sources(path_or_frame: Any, manifest: dict | None) -> tuple[pd.DataFrame, dict | None]:
    from sim.experiments.sweeps import load_sweep, read_manifest

    if isinstance(path_or_frame, pd.DataFrame):
        frame = path_or_frame
        if manifest is None and frame.attrs.get("sweep_dir"):
            manifest = read_manifest(frame.attrs["sweep_dir"])
        return frame, manifest
    frame = load_sweep(path_or_frame)
    return frame, (manifest if manifest is not None else read_manifest(path_or_frame))


def run_means(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per run: its parameters and ``value``, the mean over replicates of the end-of-horizon value of ``metric``."""
    sub = frame[frame["metric"] == metric]
    if "week" in sub.columns and len(sub):
        sub = sub[sub["week"] == sub.groupby("run_id")["week"].transform("max")]
    params = parameters_of(frame)
    g = sub.groupby("run_id", sort=True)
    out = g[params].first() if params else pd.DataFrame(index=g.size().index)
    out["value"] = g["value"].mean()
    return out.reset_index()


def titled(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table with its ``metric`` column (ids, or sweep outputs 'metric/group') shown as titles, for people."""
    return df.assign(metric=[series_title(m) for m in df["metric"]]) if "metric" in df.columns and len(df) else df


def shown_summary(table: pd.DataFrame) -> pd.DataFrame:
    """A ``summary`` table as people read it: outputs by title, values in each metric's format ("61.2%", "3.41")."""
    out = titled(table)
    for c in out.columns:
        if c in ("metric", "runs"):
            continue
        cells = [format_number(m, float(v)) for m, v in zip(table["metric"], table[c])]
        out[c] = [x.lstrip("+") for x in cells] if c == "sd" else cells
    return out


def _metrics(frame: pd.DataFrame) -> list[str]:
    m = frame["metric"]
    cats = list(m.cat.categories) if isinstance(m.dtype, pd.CategoricalDtype) else list(dict.fromkeys(m))
    present = set(m.astype(str).unique())
    return [str(c) for c in cats if str(c) in present]


# ---------------------------------------------------------------------------
# Indices
# ---------------------------------------------------------------------------


def sensitivity(path_or_frame: Any, manifest: dict | None = None) -> pd.DataFrame:
    """Sensitivity indices per output and parameter: S1 and ST for sobol designs, mu_star, sigma and mu for morris.

    Columns: metric, parameter, index, value, conf (half-width of the 95% bootstrap interval; NaN where SALib
    gives none). Empty for grid and lhs designs (see ``correlations``). The sweep must be complete: the
    estimators need every design point.
    """
    frame, manifest = _sources(path_or_frame, manifest)
    empty = pd.DataFrame({c: pd.Series(dtype="float64" if c in ("value", "conf") else "object") for c in INDEX_COLUMNS})
    if manifest is None:
        raise InputError("needs the sweep's manifest: pass a sweep folder, a table from load_sweep, or manifest=read_manifest(folder)", source="sensitivity")
    design = manifest["spec"]["design"]
    if design not in ("sobol", "morris") or frame.empty:
        return empty
    runs = int(manifest["runs"])
    problem = manifest["problem"]
    seed = int(manifest["spec"]["seed"])
    rows = []
    for metric in _metrics(frame):
        rm = run_means(frame, metric)
        if len(rm) != runs or not np.array_equal(rm["run_id"].to_numpy(), np.arange(runs)):
            raise InputError(f"is incomplete ({len(rm)} of {runs} runs finished); {design} indices need every run: resume the sweep first",
                             source="sweep", field=metric)
        y = rm["value"].to_numpy(dtype=float)
        if not np.all(np.isfinite(y)):
            for p in problem["names"]:
                for idx in (("S1", "ST") if design == "sobol" else ("mu_star", "sigma", "mu")):
                    rows.append((metric, p, idx, np.nan, np.nan))
            continue
        rows += _sobol_rows(metric, problem, y, manifest, seed) if design == "sobol" else _morris_rows(metric, problem, y, manifest, seed)
    return pd.DataFrame(rows, columns=INDEX_COLUMNS) if rows else empty


def _sobol_rows(metric: str, problem: dict, y: np.ndarray, manifest: dict, seed: int) -> list[tuple]:
    from SALib.analyze import sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = sobol.analyze(problem, y, calc_second_order=bool(manifest["spec"]["second_order"]), num_resamples=RESAMPLES, conf_level=CONF_LEVEL, seed=seed)
    rows = []
    for i, p in enumerate(problem["names"]):
        rows.append((metric, p, "S1", float(r["S1"][i]), float(r["S1_conf"][i])))
        rows.append((metric, p, "ST", float(r["ST"][i]), float(r["ST_conf"][i])))
    return rows


def _morris_rows(metric: str, problem: dict, y: np.ndarray, manifest: dict, seed: int) -> list[tuple]:
    from SALib.analyze import morris

    x = np.asarray(manifest["design_matrix"], dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = morris.analyze(problem, x, y, num_resamples=RESAMPLES, conf_level=CONF_LEVEL, num_levels=int(manifest["spec"]["levels"]), seed=seed)
    rows = []
    for i, p in enumerate(problem["names"]):
        rows.append((metric, p, "mu_star", float(r["mu_star"][i]), float(r["mu_star_conf"][i])))
        rows.append((metric, p, "sigma", float(r["sigma"][i]), np.nan))
        rows.append((metric, p, "mu", float(r["mu"][i]), np.nan))
    return rows


#: Columns of the rank-correlation table (``spearman_table``): the runs behind each, Spearman's rho, its interval and p-value.
SPEARMAN_COLUMNS = ["metric", "parameter", "runs", "spearman", "low", "high", "p_value"]


def spearman_interval(rho: float, n: int, level: float = CONF_LEVEL) -> tuple[float, float]:
    """A ``level`` interval for Spearman's rho from ``n`` pairs: Fisher's z with Bonett and Wright's (2000) variance
    (1 + rho^2 / 2) / (n - 3); NaN for fewer than 4 pairs or an undefined rho."""
    from scipy.stats import norm

    if n < 4 or not np.isfinite(rho):
        return np.nan, np.nan
    z = np.arctanh(np.clip(rho, -0.999999, 0.999999))
    half = norm.ppf(0.5 + level / 2) * np.sqrt((1 + rho * rho / 2) / (n - 3))
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def spearman_table(path_or_frame: Any, metrics: "list[str] | None" = None) -> pd.DataFrame:
    """Spearman rank correlation of each swept parameter with each output over runs (any design; a run's output is its mean
    over replicates at the end of the horizon), with a 95% interval (``spearman_interval``) and the two-sided p-value of
    ``scipy.stats.spearmanr``. Columns ``SPEARMAN_COLUMNS``; rho is NaN where a parameter or the output does not vary."""
    from scipy.stats import spearmanr

    frame, _ = _sources(path_or_frame, {}) if not isinstance(path_or_frame, pd.DataFrame) else (path_or_frame, None)
    rows = []
    for metric in metrics if metrics is not None else _metrics(frame):
        rm = run_means(frame, metric)
        for p in parameters_of(frame):
            x, y = rm[p].to_numpy(dtype=float), rm["value"].to_numpy(dtype=float)
            ok = np.isfinite(x) & np.isfinite(y)
            n = int(ok.sum())
            rho = pv = np.nan
            if n > 2 and np.ptp(x[ok]) > 0 and np.ptp(y[ok]) > 0:
                r = spearmanr(x[ok], y[ok])
                rho, pv = float(r.statistic), float(r.pvalue)
            rows.append((metric, p, n, rho, *spearman_interval(rho, n), pv))
    return pd.DataFrame(rows, columns=SPEARMAN_COLUMNS).astype({"runs": "int64", "spearman": "float64", "low": "float64", "high": "float64",
                                                                 "p_value": "float64"})


def correlations(path_or_frame: Any) -> pd.DataFrame:
    """Spearman rank correlation of each parameter with each output over runs (any design): metric, parameter, spearman
    (``spearman_table`` has the intervals and p-values too)."""
    return spearman_table(path_or_frame)[["metric", "parameter", "spearman"]]


def summary(path_or_frame: Any) -> pd.DataFrame:
    """Per output: runs, mean, sd and the 5%, 50% and 95% quantiles over runs of the run means (any design)."""
    frame = path_or_frame if isinstance(path_or_frame, pd.DataFrame) else _sources(path_or_frame, {})[0]
    rows = []
    for metric in _metrics(frame):
        v = run_means(frame, metric)["value"]
        rows.append((metric, len(v), v.mean(), v.std(ddof=1) if len(v) > 1 else np.nan, v.quantile(0.05), v.median(), v.quantile(0.95), v.min(), v.max()))
    return pd.DataFrame(rows, columns=["metric", "runs", "mean", "sd", "p5", "median", "p95", "min", "max"])


# ---------------------------------------------------------------------------
# Figures (shared with the app)
# ---------------------------------------------------------------------------


def _short(path: str) -> str:
    """A parameter path shortened for axis labels (its last two parts)."""
    parts = path.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else path


@functools.lru_cache(maxsize=1)
def _declarations() -> dict[str, Any]:
    from sim.model.scenarios import parameter_paths

    return {r.path: r for r in parameter_paths()}


def parameter_title(path: str) -> str:
    """A parameter as people read it: its path in words and its declared unit (sim/model/params.py), e.g.
    'policy: usage enforcement (share)'; a path the default scenario does not declare (a custom tool) keeps its words."""
    parts = str(path).split(".")
    words = (" ".join(parts[:-1]).replace("_", " ") + ": " if len(parts) > 1 else "") + parts[-1].replace("_", " ")
    row = _declarations().get(str(path))
    unit = row.unit if row is not None and row.unit and row.unit != parts[-1] else ""
    return f"{words} ({unit})" if unit else words


def parameter_titles(params: "list[str]") -> dict[str, str]:
    """``parameter_title`` of each parameter path (the ``labels`` the figures take)."""
    return {p: parameter_title(p) for p in params}


def wrapped(labels: dict[str, str], width: int = 34) -> dict[str, str]:
    """Labels broken into lines of about ``width`` characters (``<br>``), for subplot titles and axes that sit side by side."""
    import textwrap

    return {k: "<br>".join(textwrap.wrap(v, max(width, 8))) or v for k, v in labels.items()}


def short_titles(params: "list[str]") -> dict[str, str]:
    """Each parameter by the words of its name alone ('usage enforcement'), for axes too narrow for ``parameter_title``."""
    return {p: p.split(".")[-1].replace("_", " ") for p in params}


def format_p(p: float) -> str:
    """A p-value as tables show it: two significant digits, '<0.001' below that, '' when undefined."""
    return "" if pd.isna(p) else "<0.001" if p < 0.001 else f"{p:.2g}"


def _label(labels: "dict[str, str] | None", path: str, short: bool = True) -> str:
    """What a figure calls a parameter: its label when given, else its path (shortened)."""
    if labels and path in labels:
        return labels[path]
    return _short(path) if short else path


def index_bars(indices: pd.DataFrame, metric: str, labels: "dict[str, str] | None" = None) -> go.Figure:
    """Bars of the sensitivity indices of one output, with 95% intervals: S1 and ST (sobol) or mu* and sigma (morris);
    parameters named by ``labels`` when given."""
    sub = indices[indices["metric"] == metric] if indices is not None and not indices.empty else pd.DataFrame(columns=INDEX_COLUMNS)
    fig = go.Figure()
    if sub.empty:
        fig.update_layout(template=TEMPLATE, title=f"No sensitivity indices for {series_title(metric)}",
                          annotations=[dict(text="Indices come from sobol and morris designs (see docs/SWEEPS.md); for grid and lhs sweeps use the "
                                                 "scatter, heatmap and rank correlations.", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")],
                          xaxis=dict(visible=False), yaxis=dict(visible=False))
        return fig
    kinds = ["S1", "ST"] if sub["index"].isin(["S1", "ST"]).any() else ["mu_star", "sigma"]
    rank_by = "ST" if "ST" in kinds else "mu_star"
    order = sub[sub["index"] == rank_by].sort_values("value", ascending=False)["parameter"].tolist()
    for k in kinds:
        s = sub[sub["index"] == k].set_index("parameter").reindex(order)
        err = s["conf"].to_numpy(dtype=float)
        fig.add_trace(go.Bar(
            name={"S1": "first order (S1)", "ST": "total (ST)", "mu_star": "mean |effect| (mu*)", "sigma": "spread of effects (sigma)"}[k],
            x=[_label(labels, p) for p in order], y=s["value"], marker_color=COLOURS[k], hovertext=order,
            error_y=dict(type="data", array=np.nan_to_num(err), visible=bool(np.isfinite(err).any())),
        ))
    what = "Sobol' indices" if "ST" in kinds else "Morris elementary effects"
    fig.update_layout(template=TEMPLATE, barmode="group", title=f"{what}: {series_title(metric)}",
                      yaxis_title="index" if "ST" in kinds else f"effect on {series_title(metric)}",
                      legend=dict(orientation="h", y=-0.2), margin=dict(t=60, b=80))
    return fig


def correlation_bars(table: pd.DataFrame, metric: str, labels: "dict[str, str] | None" = None) -> go.Figure:
    """Spearman's rho of each parameter with ``metric`` (a ``spearman_table``) as horizontal bars with their 95% intervals,
    strongest first; parameters named by ``labels`` when given."""
    sub = table[table["metric"] == metric] if table is not None and len(table) else pd.DataFrame(columns=SPEARMAN_COLUMNS)
    name = series_title(metric)
    fig = go.Figure()
    if sub.empty:
        fig.update_layout(template=TEMPLATE, title=f"No rank correlations for {name}", xaxis=dict(visible=False), yaxis=dict(visible=False))
        return fig
    sub = sub.assign(_strength=sub["spearman"].abs().fillna(-1)).sort_values("_strength", ascending=True)  # strongest on top
    rho = sub["spearman"].to_numpy(dtype=float)
    shown = [_label(labels, p, short=False) for p in sub["parameter"]]
    colours = ["#0072B2" if r >= 0 else "#D55E00" for r in np.nan_to_num(rho)]
    fig.add_trace(go.Bar(
        x=rho, y=shown, orientation="h", marker_color=colours, name="Spearman's rho",
        error_x=dict(type="data", symmetric=False, array=np.nan_to_num(sub["high"].to_numpy(dtype=float) - rho),
                     arrayminus=np.nan_to_num(rho - sub["low"].to_numpy(dtype=float)), visible=bool(np.isfinite(sub["low"]).any())),
        customdata=np.column_stack([sub["low"], sub["high"], sub["p_value"], sub["runs"]]),
        hovertemplate="%{y}<br>rho %{x:.2f} (95% interval %{customdata[0]:.2f} to %{customdata[1]:.2f})<br>p = %{customdata[2]:.2g}, "
                      "%{customdata[3]} runs<extra></extra>",
    ))
    fig.add_vline(x=0, line_width=1, line_color="#666")
    fig.update_layout(template=TEMPLATE, title=f"Rank correlation with {name}", xaxis=dict(title="Spearman's rho (95% interval)", range=[-1.05, 1.05]),
                      yaxis=dict(automargin=True), height=max(260, 60 + 34 * len(sub) + 80), margin=dict(t=60, l=10, r=20), showlegend=False)
    return fig


def shown_spearman(table: pd.DataFrame, metric: str, labels: "dict[str, str] | None" = None) -> pd.DataFrame:
    """The rank correlations of one output as people read them: parameter (by label), rho, its 95% interval, p-value and
    runs, strongest first."""
    sub = table[table["metric"] == metric]
    sub = sub.iloc[np.argsort(-sub["spearman"].abs().fillna(-1).to_numpy(), kind="stable")]
    num = lambda v, f: "" if pd.isna(v) else format(v, f)  # noqa: E731
    return pd.DataFrame({
        "parameter": [_label(labels, p, short=False) for p in sub["parameter"]],
        "Spearman's rho": [num(v, "+.2f") or "n/a" for v in sub["spearman"]],
        "95% interval": [("no variation" if pd.isna(r) else "") if pd.isna(lo) else f"{lo:+.2f} to {hi:+.2f}"
                         for r, lo, hi in zip(sub["spearman"], sub["low"], sub["high"])],
        "p-value": [format_p(v) for v in sub["p_value"]],
        "runs": sub["runs"].astype(int).to_numpy(),
    })


def scatter_matrix(frame: pd.DataFrame, metric: str, labels: "dict[str, str] | None" = None, *, cols: int = 3) -> go.Figure:
    """One panel per parameter: each run's value of ``metric`` (mean over replicates) against the parameter (named by
    ``labels`` when given, e.g. ``parameter_titles``), at most ``cols`` panels a row."""
    rm = run_means(frame, metric)
    name = series_title(metric)
    params = parameters_of(frame)
    cols = min(max(1, cols), max(1, len(params)))
    rows = max(1, -(-len(params) // cols))
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, subplot_titles=[_label(labels, p) for p in params], horizontal_spacing=0.05,
                        vertical_spacing=0.3 / rows if rows > 1 else 0.12)
    trace = go.Scattergl if len(rm) > WEBGL_POINTS else go.Scatter  # WebGL only where SVG would be slow: browsers allow few WebGL contexts
    for i, p in enumerate(params):
        shown = _label(labels, p, short=False)
        fig.add_trace(trace(x=rm[p], y=rm["value"], mode="markers", marker=dict(size=5, color="#0072B2", opacity=0.6), name=p, showlegend=False,
                                   hovertemplate=f"{shown}=%{{x}}<br>{name}=%{{y}}<extra></extra>"), row=i // cols + 1, col=i % cols + 1)
    lines = max((str(t).count("<br>") for t in (labels or {}).values()), default=0)
    fig.update_layout(template=TEMPLATE, title=f"{name} against each parameter (one dot per run)", height=280 * rows + 80 + 14 * lines,
                      margin=dict(t=80 + 14 * lines))
    if labels:
        fig.update_annotations(font_size=11)
    fig.update_yaxes(title_text=name, col=1)
    if is_percent(metric):
        fig.update_yaxes(tickformat=".0%")
    return fig


def _levels(values: pd.Series, max_levels: int = 25, bins: int = 10) -> pd.Series:
    """The values themselves for a grid axis; bin midpoints when a continuous design has many distinct values."""
    if values.nunique() <= max_levels:
        return values
    cut = pd.cut(values, bins=bins)
    return cut.map(lambda iv: iv.mid).astype(float)


def heatmap(frame: pd.DataFrame, x: str, y: str, metric: str, labels: "dict[str, str] | None" = None) -> go.Figure:
    """Mean of ``metric`` over runs and replicates on the grid of two parameters (continuous designs are binned); axes
    named by ``labels`` when given."""
    rm = run_means(frame, metric)
    name = series_title(metric)
    rm = rm.assign(_x=_levels(rm[x]), _y=_levels(rm[y]))
    table = rm.groupby(["_y", "_x"])["value"].mean().unstack("_x").sort_index().sort_index(axis=1)
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=table.columns.to_numpy(), y=table.index.to_numpy(), colorscale="Viridis",
                               colorbar=dict(title=name, tickformat=".0%" if is_percent(metric) else None),
                               hovertemplate=f"{_label(labels, x, False)}=%{{x}}<br>{_label(labels, y, False)}=%{{y}}<br>mean=%{{z}}<extra></extra>"))
    title = f"{name}: mean by {_label(labels, x)} and {_label(labels, y)}" if not labels else f"{name}: mean over the runs in each cell"
    fig.update_layout(template=TEMPLATE, title=title, xaxis_title=_label(labels, x, False),
                      yaxis_title=_label(labels, y, False))
    return fig


def parallel_coordinates(frame: pd.DataFrame, metric: str, labels: "dict[str, str] | None" = None) -> go.Figure:
    """One line per run through its parameter values to its ``metric`` (coloured by the output); axes named by ``labels``."""
    rm = run_means(frame, metric)
    name = series_title(metric)
    dims = [dict(label=_label(labels, p), values=rm[p]) for p in parameters_of(frame)] + [
        dict(label=name, values=rm["value"], tickformat=".0%" if is_percent(metric) else None)]
    fig = go.Figure(go.Parcoords(line=dict(color=rm["value"], colorscale="Viridis", showscale=True, colorbar=dict(title=name)), dimensions=dims))
    fig.update_layout(template=TEMPLATE, title=f"Runs through parameter space, coloured by {name}", margin=dict(l=80, r=80))
    return fig


def figures(path_or_frame: Any, manifest: dict | None = None, indices: pd.DataFrame | None = None) -> dict[str, go.Figure]:
    """The report's figures, keyed by a title: per output, index bars (sobol/morris), scatter, heatmaps (grids) and parallel coordinates."""
    frame, manifest = _sources(path_or_frame, manifest)
    design = (manifest or {}).get("spec", {}).get("design")
    if indices is None and design in ("sobol", "morris"):
        indices = sensitivity(frame, manifest)
    params = parameters_of(frame)
    out: dict[str, go.Figure] = {}
    for metric in _metrics(frame):
        if indices is not None and not indices.empty:
            out[f"{metric}: indices"] = index_bars(indices, metric)
        out[f"{metric}: scatter"] = scatter_matrix(frame, metric)
        if design == "grid" and len(params) >= 2:
            pairs = [(params[i], params[j]) for i in range(len(params)) for j in range(i + 1, len(params))][:3]
            for a, b in pairs:
                out[f"{metric}: heatmap {a} x {b}"] = heatmap(frame, a, b, metric)
        if len(params) >= 2:
            out[f"{metric}: parallel coordinates"] = parallel_coordinates(frame, metric)
    return out


# ---------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------


def _table_html(df: pd.DataFrame, digits: int = 3):
    """A table for the report: floats to ``digits``, outputs by title, cells escaped by pandas (so it is trusted HTML)."""
    from .reports import table_html

    fmt = titled(df)
    for c in fmt.columns:
        if pd.api.types.is_float_dtype(fmt[c]):
            fmt[c] = fmt[c].map(lambda v: "" if pd.isna(v) else f"{v:.{digits}g}" if abs(v) >= 1e4 or (v != 0 and abs(v) < 1e-3) else f"{v:.{digits}f}")
    return table_html(fmt, index=False)


def indices_wide(indices: pd.DataFrame) -> pd.DataFrame:
    """The indices as one row per output and parameter, 'value ± conf' per index (for tables)."""
    if indices.empty:
        return pd.DataFrame()
    cell = indices.assign(cell=[f"{v:.3f}" + ("" if pd.isna(c) else f" ± {c:.3f}") for v, c in zip(indices["value"], indices["conf"])])
    wide = cell.pivot_table(index=["metric", "parameter"], columns="index", values="cell", aggfunc="first", sort=False)
    order = [c for c in ("S1", "ST", "mu_star", "sigma", "mu") if c in wide.columns]
    return wide[order].reset_index()


def write_report(folder: str | Path, path: str | Path, *, title: str | None = None) -> Path:
    """Write a self-contained HTML report of a sweep folder (plotly.js inlined once) atomically to ``path``."""
    from sim.experiments.sweeps import load_sweep, read_manifest

    from .reports import figures_html, render, table_html, write_atomic

    folder, path = Path(folder), Path(path)
    manifest = read_manifest(folder)
    frame = load_sweep(folder)
    spec = manifest["spec"]
    design = spec["design"]
    indices = sensitivity(frame, manifest) if design in ("sobol", "morris") and len(manifest["finished"]) == manifest["runs"] else None
    figs = figures(frame, manifest, indices)
    what = spec.get("scenario") or f"function {spec.get('function')}"
    settings = {
        "sweep": spec.get("name") or folder.name, "model": what, "organisation": spec.get("org") or "(the scenario's)", "design": design,
        "runs finished": f"{len(manifest['finished'])} of {manifest['runs']}", "replicates per run": manifest["replicates"],
        "seed": f"{spec['seed']} ({spec['seeds']} seeds)", "engineers": spec.get("engineers") or "(the scenario's)", "weeks": spec.get("weeks") or "(the scenario's)",
        "parameters": "; ".join(f"{p} {v}" for p, v in manifest["parameters"].items()),
        "outputs": ", ".join(series_title(o) for o in manifest["outputs"]),
        "mandate-sim": manifest.get("package_version"),
    }
    has_indices = indices is not None and not indices.empty
    correlation_table = None
    if not has_indices and design not in ("sobol", "morris"):
        wide = correlations(frame).pipe(titled).pivot(index="parameter", columns="metric", values="spearman")
        correlation_table = _table_html(wide.rename_axis(columns=None).reset_index())
    doc = render(
        "analyze.html.j2", title=title or "mandate-sim sweep", heading=title or f"mandate-sim sweep: {settings['sweep']}", settings=settings,
        design=design, summary=table_html(shown_summary(summary(frame)), index=False), indices=_table_html(indices_wide(indices)) if has_indices else None,
        correlations=correlation_table, figures=figures_html(figs.values()),
    )
    return write_atomic(path, doc)
