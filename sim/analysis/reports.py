"""A self-contained HTML report of a comparison: takeaways, the end-of-horizon table and the standard figures."""

from __future__ import annotations

import datetime as _dt
import html
import os
import tempfile
from pathlib import Path

import pandas as pd
import plotly.io as pio

from sim.version import __version__
from .figures import standard_figures
from sim.model.metrics import METRICS
from sim.experiments.runner import summarise
from .takeaways import takeaways

TABLE_METRICS = [
    "weekly_active_share", "ai_task_share", "genuine_use_share", "forced_use_share", "token_use_share", "shadow_use_share",
    "true_gain", "reported_gain", "measurement_gap", "cycle_time", "escaped_defects", "rework_share",
    "trust_leadership", "trust_ai", "psych_safety", "honest_reporting_share", "fatigue",
    "attrition_cumulative", "attrition_top_skill_cumulative", "risk_exposure",
]


def format_value(metric: str, x: float) -> str:
    """A metric value as people read it: shares and gains in percent, other levels with two decimals."""
    m = METRICS.get(metric)
    if m is not None and m.kind == "gain":
        return f"{x:+.1%}"
    if m is not None and m.kind == "share":
        return f"{x:.1%}"
    return f"{x:.2f}"


def summary_table(results: pd.DataFrame, metrics=TABLE_METRICS) -> pd.DataFrame:
    """Metrics as rows, scenarios as columns, cells 'mean [5%, 95%]' at the end of the horizon."""
    s = summarise(results)
    s = s[s["metric"].isin(metrics)]
    scen = list(dict.fromkeys(s["scenario"]))
    rows = {}
    for m in metrics:
        sub = s[s["metric"] == m].set_index("scenario")
        if sub.empty:
            continue
        rows[m] = [
            f"{format_value(m, sub.at[n, 'mean'])} [{format_value(m, sub.at[n, 'low'])}, {format_value(m, sub.at[n, 'high'])}]" if n in sub.index else ""
            for n in scen
        ]
    return pd.DataFrame.from_dict(rows, orient="index", columns=scen)


def write_html(results: pd.DataFrame, path: str | Path, *, title: str = "mandate-sim comparison", settings: dict | None = None) -> Path:
    """Write the report (plotly.js inlined once, so it opens offline) atomically to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figs = standard_figures(results)
    parts = []
    for i, fig in enumerate(figs.values()):
        parts.append(pio.to_html(fig, full_html=False, include_plotlyjs=(i == 0), config={"displaylogo": False, "toImageButtonOptions": {"format": "svg"}}))
    table = summary_table(results)
    reps = int(results["replicate"].nunique())
    weeks = int(results["week"].max())
    notes = "".join(f"<li>{html.escape(t)}</li>" for t in takeaways(results))
    setting_rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in (settings or {}).items())
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, -apple-system, Segoe UI, Roboto, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }}
h1 {{ font-size: 1.6rem; }} table {{ border-collapse: collapse; font-size: 0.9rem; margin: 1rem 0; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.3rem 0.6rem; text-align: right; }} th:first-child, td:first-child {{ text-align: left; }}
.note {{ color: #555; font-size: 0.9rem; }} ul.take li {{ margin: 0.4rem 0; }}
</style></head><body>
<h1>{html.escape(title)}</h1>
<p class="note">{reps} replicate(s) per scenario, {weeks} weeks. Lines are means over replicates; shaded bands and
the ranges in brackets span 5% to 95% of replicates. True gain is throughput against the no-AI counterfactual run with the same seed.
Generated {_dt.datetime.now().strftime('%Y-%m-%d %H:%M')} by mandate-sim {__version__}.</p>
<table>{setting_rows}</table>
<h2>Takeaways</h2><ul class="take">{notes}</ul>
<h2>End of horizon</h2>
{table.to_html(escape=True, border=0)}
<h2>Over the weeks</h2>
{''.join(parts)}
</body></html>"""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".report-", suffix=".html")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(doc)
    os.replace(tmp, path)
    return path
