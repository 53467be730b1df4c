"""Plain-language takeaways computed from a comparison's numbers (shared by the CLI report and the app)."""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd


def _final(results: pd.DataFrame, metric: str, group: str = "all") -> pd.DataFrame:
    """Per scenario and replicate, the metric's value in the last week: the table ``pivot_table`` gives (the mean of a cell's
    values, cells without one left out), built for a third of its cost."""
    df = results[(results["metric"] == metric) & (results["group"] == group)]
    w = df["week"].max()
    df = df[df["week"] == w]
    return df.groupby(["replicate", "scenario"], observed=True)["value"].mean().dropna().unstack("scenario")


def _pct(x: float, signed: bool = False) -> str:
    return f"{x:+.0%}" if signed else f"{x:.0%}"


def _paired_share(a: pd.Series, b: pd.Series) -> float:
    """Share of paired replicates in which a exceeds b."""
    d = (a - b).dropna()
    return float((d > 0).mean()) if len(d) else float("nan")


def _quoted(labels: Mapping[str, str]) -> dict[str, str]:
    return {n: f"“{t}”" for n, t in labels.items()}


#: Outcomes the takeaways compare with their paired 90% interval: (metric, what it is called in a sentence, lower is better).
CONTRASTS = (("cycle_time", "cycle time", True), ("escaped_defects", "the escaped-defect rate", True), ("attrition_cumulative", "attrition", True))


def contrast(results: pd.DataFrame, metric: str, words: str, names: Sequence[str], labels: Mapping[str, str], weeks: int) -> str | None:
    """One sentence on ``metric`` at the last week: the policies (of ``names``) with the lowest and highest mean, their
    paired difference with its 90% interval, and whether it stands out of the noise (the interval contains 0)."""
    from sim.model.metrics import METRICS

    from .differences import interval, signed

    final = _final(results, metric)
    names = [n for n in names if n in final.columns]
    if len(names) < 2 or metric not in METRICS:
        return None
    means = final[names].mean()
    lo, hi = means.idxmin(), means.idxmax()
    pair = final[[lo, hi]].dropna()
    change, low, high = interval((pair[hi] - pair[lo]).to_numpy())
    fmt = METRICS[metric].format
    unit = "" if METRICS[metric].percent else f" {METRICS[metric].symbol}"
    values = f"{fmt(means[lo])}{unit} under {labels[lo]} and {fmt(means[hi])}{unit} under {labels[hi]}"
    if change == 0.0 and (low != low or low == high):
        return f"After {weeks} weeks {words} is the same under every policy in every paired run ({fmt(means[lo])}{unit})."
    span = f"{signed(metric, low)}{unit} to {signed(metric, high)}{unit}" if low == low else "no interval from one replicate"
    if low != low or low <= 0.0 <= high:
        return (f"After {weeks} weeks the difference in {words} is within noise: {values} (difference {signed(metric, change)}{unit}, "
                f"90% interval {span} over {len(pair)} paired runs).")
    return (f"After {weeks} weeks {words} is {signed(metric, change).lstrip('+')}{unit} higher under {labels[hi]} than under {labels[lo]} "
            f"({values}; 90% interval {span} over {len(pair)} paired runs).")


def takeaways(results: pd.DataFrame, limit: int = 8, *, labels: Mapping[str, str] | None = None) -> list[str]:
    """Three to ``limit`` sentences a reader can act on, each computed from the results (means over replicates, paired
    comparisons with 90% intervals that say when a difference is within noise). ``labels``: what the sentences call each
    scenario (``sim.analysis.figures.policy_labels``: built-in titles by default)."""
    from .figures import policy_labels

    scen = [str(s) for s in pd.unique(pd.Series(pd.unique(results["scenario"])).astype(str))]  # converts each name, not each row
    ai = [s for s in scen if s.split("#")[0] != "no_ai"]
    if not ai:
        return ["Only the no-AI counterfactual was run: add a policy to compare."]
    q = _quoted(policy_labels(scen, labels))
    weeks = int(results["week"].max())
    results = results[results["week"] == weeks]  # every sentence reads the last week (a fiftieth of the table: faster)
    gain = _final(results, "true_gain")
    wau = _final(results, "weekly_active_share")
    rep = _final(results, "reported_gain")
    trust = _final(results, "trust_leadership")
    honest = _final(results, "honest_reporting_share")
    top = _final(results, "attrition_top_skill_cumulative")
    shadow = _final(results, "shadow_use_share")
    out: list[str] = []

    m_gain, m_wau = gain[ai].mean(), wau[ai].mean()
    best_gain, best_wau = m_gain.idxmax(), m_wau.idxmax()
    if len(ai) > 1 and best_gain != best_wau:
        share = _paired_share(gain[best_gain], gain[best_wau])
        out.append(
            f"{q[best_wau]} reached the most weekly AI use ({_pct(m_wau[best_wau])}) but ended with a true productivity change of "
            f"{_pct(m_gain[best_wau], True)} against no AI, while {q[best_gain]} reached {_pct(m_gain[best_gain], True)} "
            f"with {_pct(m_wau[best_gain])} weekly use (ahead in {share:.0%} of paired runs)."
        )
    else:
        out.append(
            f"{q[best_gain]} led on both weekly AI use ({_pct(m_wau[best_gain])}) and true productivity ({_pct(m_gain[best_gain], True)} against no AI) after {weeks} weeks."
        )

    gap = (rep[ai] - gain[ai]).mean()
    worst = gap.idxmax()
    out.append(
        f"In {q[worst]}, leadership hears a productivity gain of {_pct(rep[worst].mean(), True)} from self-reports while the true gain is "
        f"{_pct(gain[worst].mean(), True)}: a gap of {gap[worst] * 100:.0f} points"
        + (f" (the smallest gap, {gap[gap.idxmin()] * 100:.0f} points, is in {q[gap.idxmin()]})." if len(ai) > 1 else ".")
    )

    if len(ai) > 1:
        for metric, words, _lower in CONTRASTS:
            sentence = contrast(results, metric, words, ai, q, weeks)
            if sentence:
                out.append(sentence)

    m_trust, m_honest = trust[ai].mean(), honest[ai].mean()
    lo, hi = m_trust.idxmin(), m_trust.idxmax()
    if len(ai) > 1 and m_trust[hi] - m_trust[lo] > 0.02:
        out.append(
            f"Trust in leadership ends at {m_trust[lo]:.2f} in {q[lo]} against {m_trust[hi]:.2f} in {q[hi]}; only {_pct(m_honest[lo])} of engineers in {q[lo]} "
            f"feel safe enough to report honestly ({_pct(m_honest[hi])} in {q[hi]})."
        )

    m_top = top[ai].mean()
    if len(ai) > 1 and m_top.max() - m_top.min() > 0.02:
        out.append(
            f"{q[m_top.idxmax()]} lost {_pct(m_top.max())} of its most skilled engineers in {weeks} weeks, against {_pct(m_top.min())} in {q[m_top.idxmin()]}."
        )

    m_shadow = shadow[ai].mean()
    if m_shadow.max() >= 0.03:
        s = m_shadow.idxmax()
        out.append(f"In {q[s]}, {_pct(m_shadow[s])} of engineers use an unapproved tool each week, unseen by the usage telemetry: a data-exposure risk standardising was meant to avoid.")

    neg = [s for s in ai if m_gain[s] < 0]
    if neg and len(out) < limit:
        out.append(f"{', '.join(q[s] for s in neg)} ended below the no-AI counterfactual: the AI use it produced cost more time than it saved.")
    return out[:limit]


def _amount(metric: str, x: float) -> str:
    """A size of a difference in ``metric`` as people read it: percentage points for percentages, else the value."""
    from sim.model.metrics import METRICS

    m = METRICS.get(metric)
    if m is not None and m.percent:
        return f"{abs(x) * 100:.1f} point{'' if round(abs(x) * 100, 1) == 1 else 's'}"
    unit = f" {m.unit}" if m is not None and m.kind != "gain" else ""
    return f"{abs(x):.3g}{unit}"


def _span(metric: str, lo: float, hi: float) -> str:
    from sim.model.metrics import METRICS

    m = METRICS.get(metric)
    if m is not None and m.percent:
        return f"{lo * 100:+.1f} to {hi * 100:+.1f} points"
    return f"{lo:+.3g} to {hi:+.3g}"


def why(table: pd.DataFrame, *, a: str | None = None, b: str | None = None, named: int = 3,
        labels: Mapping[str, str] | None = None) -> str:
    """The reading of an explanation (``sim.explain``) in a sentence or two: the difference, whether it stands out of the
    noise, and the two or three largest channels by the size of their contribution, each with its sign. ``labels``: what
    the sentences call each policy (``sim.analysis.figures.policy_labels``: built-in titles by default)."""
    from .figures import policy_labels

    first = table.iloc[0]
    a = str(first["a"] if a is None else a)
    b = str(first["b"] if b is None else b)
    rows = table[(table["a"] == a) & (table["b"] == b)].set_index("channel")
    q = _quoted(policy_labels([a, b], labels))
    metric, week, reps = str(rows["metric"].iloc[0]), int(rows["week"].iloc[0]), int(rows["replicates"].iloc[0])
    from sim.model.metrics import METRICS

    label = METRICS[metric].label.lower() if metric in METRICS else metric
    total = rows.loc["total"]
    t, lo, hi = float(total["contribution"]), float(total["low"]), float(total["high"])
    parts = rows[rows["used"] & (rows.index != "total")]
    parts = parts[parts["contribution"] != 0.0]
    all_parts = parts
    parts = parts.reindex(parts["contribution"].abs().sort_values(ascending=False).index).head(named)
    names = {c: ("effects no channel covers" if c == "remainder" else str(r["label"])) for c, r in parts.iterrows()}
    noisy = {c: (r["low"] <= 0.0 <= r["high"]) for c, r in parts.iterrows()}
    interval = f"90% interval {_span(metric, lo, hi)}, {reps} paired replicates"
    if t == 0.0 and parts.empty:
        return f"{q[b]} and {q[a]} end with the same {label} at week {week} in every paired replicate: there is nothing to explain."
    if lo <= 0.0 <= hi:
        head = (f"{q[b]} and {q[a]} do not differ clearly in {label} at week {week} ({q[b]} − {q[a]}: {'+' if t >= 0 else '−'}{_amount(metric, t)}; "
                f"{interval}).")
        if parts.empty:
            return head
        moves = [f"{names[c]} ({'+' if r['contribution'] > 0 else '−'}{_amount(metric, r['contribution'])})" for c, r in parts.iterrows()]
        return head + " The largest movements underneath, in " + q[b] + " − " + q[a] + ": " + ", ".join(moves) + "."
    word = "above" if t > 0 else "below"
    gap = "advantage" if t > 0 else "shortfall"
    head = f"{q[b]} ends {_amount(metric, t)} {word} {q[a]} in {label} at week {week} ({interval})."
    along = [(c, r) for c, r in parts.iterrows() if (r["contribution"] > 0) == (t > 0)]
    against = [(c, r) for c, r in parts.iterrows() if (r["contribution"] > 0) != (t > 0)]

    sentence = head
    if along:
        bits = [f"{_amount(metric, r['contribution'])} {'comes' if _amount(metric, r['contribution']).startswith('1.0 point ') or _amount(metric, r['contribution']).endswith('1.0 point') else 'come'} from {names[c]}"
                if i == 0 else f"{_amount(metric, r['contribution'])} from {names[c]}" for i, (c, r) in enumerate(along)]
        bits = [x + (" (within noise)" if noisy[c] else "") for x, (c, _) in zip(bits, along)]
        joined = bits[0] if len(bits) == 1 else ", ".join(bits[:-1]) + " and " + bits[-1]
        size = _amount(metric, t).replace(" points", "-point").replace(" point", "-point")
        sentence += f" Of this {size} {gap}, {joined}"
        if against:
            sentence += "; " + ", ".join(f"{names[c]} works the other way ({_amount(metric, r['contribution'])}{', within noise' if noisy[c] else ''})" for c, r in against)
        sentence += "."
    else:
        sentence += " The largest channels work against it: " + ", ".join(
            f"{names[c]} ({'+' if r['contribution'] > 0 else '−'}{_amount(metric, r['contribution'])})" for c, r in against) + "."
    # What the named channels leave of the total, so that the sentence's numbers add up to it.
    rest = t - float(parts["contribution"].sum())
    others = all_parts.drop(index=parts.index)
    if _amount(metric, rest) != _amount(metric, 0.0) and len(others):
        if (rest > 0) != (t > 0):
            biggest = others["contribution"].idxmin() if t > 0 else others["contribution"].idxmax()
            name = "effects no channel covers" if biggest == "remainder" else str(others.at[biggest, "label"])
            sentence += f" The other channels work the other way, {_amount(metric, rest)} in all, most of it from {name}."
        else:
            sentence += f" The other channels add {_amount(metric, rest)}."
    return sentence
