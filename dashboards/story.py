"""The Classroom's story: its steps, their charts, and sentences computed from the runs.

Every step has a short lead that says what to look at (how the model works, never what happened), a chart, and
``sentences(data, org, week)``: sentences chosen by conditions on the results, each carrying the figures it cites
(``Cite``: scenario, metric, week, value, and the words the value decided). A difference between two policies is
the mean of the paired differences over replicates; when their 90% band contains zero the sentence says the two do
not differ clearly instead of naming a direction. tests/test_classroom_story.py recomputes every cited figure from
the results table and checks it against its sentence, for every built-in organisation and random ones.

Pure functions of the results table (and, for the engineer-by-engineer step, of ``engineer_weeks``' table): the
page (dashboards/pages/classroom.py) only picks the step and week.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from sim.analysis.agents import agent_animation
from sim.analysis.figures import adoption_split, measurement_gap, panel
from sim.experiments.replicates import BAND
from sim.model.metrics import METRICS
from sim.model.params import SENIORITY_LEVELS, Organisation, Scenario
from sim.model.scenarios import scenario_summary


#: The story's policies: the mandate, free choice and outcome goals.
STORY = ("mandate_single_tool", "free_choice", "outcome_goals")
MANDATE, FREE, GOALS = STORY
#: How sentences call the story's policies (each is introduced by its declared title in the step that shows it first).
ROLE = {MANDATE: "the mandate", FREE: "free choice", GOALS: "outcome goals"}
#: The metrics the story reads (the rest of the results table is not needed to tell it).
STORY_METRICS = (
    "weekly_active_share", "usage_pressure", "genuine_use_share", "forced_use_share", "pressured_use_share", "token_use_share",
    "shadow_use_share", "true_gain", "reported_gain", "measurement_gap", "trust_leadership", "psych_safety", "honest_reporting_share",
    "attrition_cumulative", "attrition_top_skill_cumulative", "fatigue",
)


def title_of(scenario: str) -> str:
    """A built-in scenario's declared title (its name when it has none)."""
    try:
        return scenario_summary(scenario)[0] or scenario
    except Exception:
        return scenario


# ---------------------------------------------------------------------------------------------------------------
# Figures cited by sentences
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cite:
    """One figure a sentence states: what it is (``stat``), of which scenario, metric (or parameter path, or activity) and
    week, its value, the text the sentence writes for it, and the word its sign chose (``direction``: up, down or same)."""

    stat: str  # mean | mean_size (its size in points) | difference | vs_target | peak | peak_week | declared | organisation | net_saving | count | present
    scenario: str
    metric: str
    week: int
    value: float
    text: str
    other: str = ""  # a difference's scenario subtracted (stat 'difference')
    direction: str = ""  # up | down | same
    word: str = ""  # the words in the sentence that say the direction


@dataclass(frozen=True)
class Sentence:
    text: str
    cites: tuple[Cite, ...] = ()


def fmt(metric: str, x: float) -> str:
    """A value of a metric as the app shows it everywhere (``Metric.format``)."""
    return METRICS[metric].format(x)


def amount(metric: str, d: float) -> str:
    """The size of a difference of a metric: percentage points for metrics shown in percent, else its format unsigned."""
    m = METRICS[metric]
    if m.percent:
        return f"{abs(d) * 100:.1f} points"
    return format(abs(d), m.format_spec.replace("+", ""))


class StoryData:
    """The results of the story's runs, ready to be read week by week: per scenario and metric a [week, replicate] array."""

    def __init__(self, results: pd.DataFrame | None, specs: Sequence[Scenario] = (), engineers: pd.DataFrame | None = None):
        """``results``: the story's runs (None: only the per-engineer table ``engineers``, for the engineer-by-engineer step)."""
        self.specs = {s.name: s for s in specs}
        self.engineers = engineers
        self.arrays: dict[tuple[str, str], np.ndarray] = {}
        if results is None:
            self.weeks = int(engineers["week"].max()) if engineers is not None else 0
            return
        df = results[(results["group"] == "all") & results["metric"].isin(STORY_METRICS)]
        self.weeks = int(results["week"].max())
        wide = df.pivot_table(index=["scenario", "metric", "week"], columns="replicate", values="value", observed=True)
        for (s, m), block in wide.groupby(level=[0, 1], observed=True):
            self.arrays[(str(s), str(m))] = block.sort_index(level=2).to_numpy(dtype=float)

    def series(self, scenario: str, metric: str) -> np.ndarray:
        """[week, replicate] values (week 1 first)."""
        return self.arrays[(scenario, metric)]

    def mean(self, scenario: str, metric: str, week: int) -> float:
        return float(self.series(scenario, metric)[week - 1].mean())

    def diff(self, a: str, b: str, metric: str, week: int) -> tuple[float, float, float]:
        """Mean and 90% band over replicates of the paired difference a − b at ``week``."""
        d = self.series(a, metric)[week - 1] - self.series(b, metric)[week - 1]
        return float(d.mean()), float(np.quantile(d, BAND[0])), float(np.quantile(d, BAND[1]))

    # -- cited figures -------------------------------------------------------------------------------------------

    def cite_mean(self, scenario: str, metric: str, week: int) -> Cite:
        v = self.mean(scenario, metric, week)
        return Cite("mean", scenario, metric, week, v, fmt(metric, v))

    def cite_diff(self, a: str, b: str, metric: str, week: int, words: tuple[str, str] = ("higher", "lower"),
                  same: str = "no clear difference") -> Cite:
        """A paired difference a − b, with the word its sign chose (``same`` when its 90% band contains zero or it rounds to zero)."""
        d, lo, hi = self.diff(a, b, metric, week)
        text = amount(metric, d)
        if (lo <= 0.0 <= hi) or float(text.split()[0].replace(",", "")) == 0.0:
            direction, word = "same", same
        else:
            direction, word = ("up", words[0]) if d > 0 else ("down", words[1])
        return Cite("difference", a, metric, week, d, text, other=b, direction=direction, word=word)

    def cite_peak(self, scenario: str, metric: str, week: int) -> tuple[Cite, Cite]:
        """The highest weekly mean up to ``week`` and the week it came (the first such week)."""
        means = self.series(scenario, metric)[:week].mean(axis=1)
        k = int(np.argmax(means))
        return (Cite("peak", scenario, metric, week, float(means[k]), fmt(metric, float(means[k]))),
                Cite("peak_week", scenario, metric, week, float(k + 1), str(k + 1)))


def declared(spec: Scenario, path: str) -> float:
    """A parameter of a scenario by its path ('policy.usage_target')."""
    value = spec.model_dump()
    for part in path.split("."):
        value = value[part]
    return value


def _cmp_sentence(data: StoryData, metric: str, week: int, lead: str, a: str = MANDATE, b: str = FREE,
                  words: tuple[str, str] = ("higher", "lower")) -> Sentence:
    """'<lead>: X under a against Y under b (Z higher | lower | no clear difference).'"""
    ca, cb = data.cite_mean(a, metric, week), data.cite_mean(b, metric, week)
    d = data.cite_diff(a, b, metric, week, words=words)
    tail = f"{d.text} {d.word} under {ROLE[a]}" if d.direction != "same" else f"{d.word}: {d.text} apart, within the spread of the runs"
    return Sentence(f"{lead}: {ca.text} under {ROLE[a]} against {cb.text} under {ROLE[b]} ({tail}).", (ca, cb, d))


# ---------------------------------------------------------------------------------------------------------------
# The steps' sentences
# ---------------------------------------------------------------------------------------------------------------


def org_sentences(org: Organisation) -> list[Sentence]:
    """Step 1: who works here, on what, and what each tool truly saves (from the organisation's declarations)."""
    shares = [Cite("organisation", "", f"seniority.{lv}.share", 0, org.seniority[lv].share, f"{org.seniority[lv].share:.0%}") for lv in SENIORITY_LEVELS]
    size = Cite("organisation", "", "size", 0, org.size, f"{org.size:,}")
    team = Cite("organisation", "", "team_size", 0, org.team_size, f"{org.team_size:,}")
    out = [Sentence(f"{size.text} engineers in teams of {team.text}: " + ", ".join(f"{c.text} {lv}" for c, lv in zip(shares, SENIORITY_LEVELS)) + ".",
                    (size, team, *shares))]
    parts, cites = [], []
    for lv in (SENIORITY_LEVELS[0], SENIORITY_LEVELS[-1]):
        mix = org.seniority[lv].task_mix
        task = max(mix, key=lambda k: mix[k])
        c = Cite("organisation", "", f"seniority.{lv}.task_mix.{task}", 0, mix[task], f"{mix[task]:.0%}")
        parts.append(f"{lv}s spend the largest share of their hours, {c.text}, on {task.replace('_', ' ')}")
        cites.append(c)
    out.append(Sentence(parts[0][0].upper() + parts[0][1:] + "; " + parts[1] + ".", tuple(cites)))
    for name, tool in org.tools.items():
        net = {k: e.time_saving - e.verification for k, e in tool.effects.items()}
        best, worst = max(net, key=lambda k: net[k]), min(net, key=lambda k: net[k])
        cites = []
        for task in (best, worst):
            v = net[task]
            cites.append(Cite("net_saving", "", f"tools.{name}.effects.{task}", 0, v, f"{abs(v):.0%}", direction="down" if v < 0 else "up",
                              word="costs" if v < 0 else "saves"))
        cb, cw = cites
        out.append(Sentence(f"Net of checking its output, the {org.tool_title(name)} {cb.word} {cb.text} of task time on {best.replace('_', ' ')}, its best "
                            f"task type, and {cw.word} {cw.text} on {worst.replace('_', ' ')}, its worst.", (cb, cw)))
    return out


def mandate_sentences(data: StoryData, week: int) -> list[Sentence]:
    """Step 2: usage against the declared target, and the pressure that acts."""
    spec = data.specs.get(MANDATE)
    out = []
    target = declared(spec, "policy.usage_target") if spec is not None else float("nan")
    if spec is not None:
        tools = " and ".join(spec.organisation.tool_title(t) for t in spec.approved_tools())
        ct = Cite("declared", MANDATE, "policy.usage_target", 0, target, fmt("weekly_active_share", target))
        ce = Cite("declared", MANDATE, "policy.usage_enforcement", 0, declared(spec, "policy.usage_enforcement"),
                  f"{declared(spec, 'policy.usage_enforcement'):.2f}")
        out.append(Sentence(f"The policy, “{title_of(MANDATE)}”: the target is {ct.text} of engineers active every week, with the "
                            f"{tools} only; pressure starts at {ce.text}.", (ct, ce)))
        ca = data.cite_mean(MANDATE, "weekly_active_share", week)
        d = ca.value - target
        gap = Cite("vs_target", MANDATE, "weekly_active_share", week, d, amount("weekly_active_share", d),
                   direction="same" if round(abs(d) * 1000) == 0 else "up" if d > 0 else "down",
                   word="at" if round(abs(d) * 1000) == 0 else "above" if d > 0 else "below")
        where = "exactly at the target" if gap.direction == "same" else f"{gap.text} {gap.word} the target"
        out.append(Sentence(f"Week {week}: the usage dashboard shows {ca.text} weekly active under the mandate, {where}.", (ca, gap)))
    cp, c1 = data.cite_mean(MANDATE, "usage_pressure", week), data.cite_mean(MANDATE, "usage_pressure", 1)
    cf = data.cite_mean(FREE, "usage_pressure", week)
    step = cp.value - c1.value
    if round(step, 2) > 0:
        change = f"up from {c1.text} in week 1: leadership escalates while usage is under target"
    elif round(step, 2) < 0:
        change = f"down from {c1.text} in week 1"
    else:
        change = f"the same as in week 1 ({c1.text}): no escalation"
    out.append(Sentence(f"The pressure that acts on engineers: {cp.text} (index) under the mandate, {change}; {cf.text} under free choice.",
                        (cp, c1, cf)))
    return out


def theatre_sentences(data: StoryData, week: int) -> list[Sentence]:
    """Step 3: what the dashboard counts, split into genuine, pressured and token use, and where the theatre peaks."""
    a, g = data.cite_mean(MANDATE, "weekly_active_share", week), data.cite_mean(MANDATE, "genuine_use_share", week)
    p, t = data.cite_mean(MANDATE, "forced_use_share", week), data.cite_mean(MANDATE, "token_use_share", week)
    out = [Sentence(f"Week {week}: the dashboard counts {a.text} of engineers weekly active under the mandate; {g.text} used AI by their own "
                    f"choice, {p.text} only under pressure and {t.text} only for a token use.", (a, g, p, t))]
    peaks = []
    for metric, what in (("forced_use_share", "Use only under pressure"), ("token_use_share", "token-only use")):
        v, w = data.cite_peak(MANDATE, metric, week)
        peaks.append((what, v, w))
    out.append(Sentence(f"So far, {peaks[0][0].lower()} peaked at {peaks[0][1].text} in week {peaks[0][2].text} and {peaks[1][0]} at "
                        f"{peaks[1][1].text} in week {peaks[1][2].text}.", tuple(c for _, v, w in peaks for c in (v, w))))
    s, sf = data.cite_mean(MANDATE, "shadow_use_share", week), data.cite_mean(FREE, "shadow_use_share", week)
    gf = data.cite_mean(FREE, "genuine_use_share", week)
    out.append(Sentence(f"Hidden from the dashboard, {s.text} used an unapproved tool under the mandate ({sf.text} under free choice, "
                        f"where {gf.text} used AI by their own choice).", (s, sf, gf)))
    return out


def gap_sentences(data: StoryData, week: int) -> list[Sentence]:
    """Step 4: what leadership hears against the true change, and which way the gap goes."""
    r, t = data.cite_mean(MANDATE, "reported_gain", week), data.cite_mean(MANDATE, "true_gain", week)
    series = data.series(MANDATE, "true_gain")[week - 1]
    lo, hi = np.quantile(series, BAND[0]), np.quantile(series, BAND[1])
    if lo <= 0.0 <= hi:
        truth = "not clearly different from the same organisation without AI"
    else:
        truth = "more work delivered than without AI" if t.value > 0 else "less work delivered than without AI"
    t = Cite("mean", MANDATE, "true_gain", week, t.value, t.text, direction="same" if lo <= 0 <= hi else "up" if t.value > 0 else "down", word=truth)
    gm = data.series(MANDATE, "measurement_gap")[week - 1]
    glo, ghi = np.quantile(gm, BAND[0]), np.quantile(gm, BAND[1])
    gv = float(gm.mean())
    gtext = amount("measurement_gap", gv)
    if glo <= 0.0 <= ghi:
        direction, word, tail = "same", "match", f"Reports match the truth within the spread of the runs ({gtext} apart)."
    elif gv > 0:
        direction, word, tail = "up", "overstate", f"Reports overstate the true change by {gtext}."
    else:
        direction, word, tail = "down", "understate", f"Reports understate the true change by {gtext}."
    g = Cite("mean_size", MANDATE, "measurement_gap", week, gv, gtext, direction=direction, word=word)
    return [Sentence(f"Week {week}: under the mandate leadership hears {r.text}; the true change is {t.text}, {truth}.", (r, t)),
            Sentence(tail, (g,))]


def trust_sentences(data: StoryData, week: int) -> list[Sentence]:
    """Step 5: trust, safety and honest reporting, the mandate against free choice."""
    out = [_cmp_sentence(data, m, week, f"Week {week}, {METRICS[m].label.lower()}" if i == 0 else METRICS[m].label)
           for i, m in enumerate(("trust_leadership", "psych_safety"))]
    honest = _cmp_sentence(data, "honest_reporting_share", week, "Engineers whose team is safe enough to report honestly", words=("more", "fewer"))
    d = honest.cites[-1]
    if d.direction == "down":
        honest = Sentence(honest.text + " Fewer honest reports leave the gap of step 4 less checked.", honest.cites)
    out.append(honest)
    return out


def leavers_sentences(data: StoryData, week: int) -> list[Sentence]:
    """Step 6: attrition of all engineers and of the most skilled, and fatigue."""
    return [
        _cmp_sentence(data, "attrition_cumulative", week, f"By week {week}, leavers per position", words=("more", "fewer")),
        _cmp_sentence(data, "attrition_top_skill_cumulative", week, "Of the most skilled engineers at the start, left", words=("more", "fewer")),
        _cmp_sentence(data, "fatigue", week, METRICS["fatigue"].label),
    ]


def agents_sentences(data: StoryData, week: int) -> list[Sentence]:
    """Step 7: in the one run shown, how many engineers did what this week, per policy (from the per-engineer table)."""
    eng = data.engineers
    if eng is None:
        return []
    out = []
    for s in pd.unique(eng["scenario"].astype(str)):
        now = eng[(eng["scenario"].astype(str) == s) & (eng["week"] == week)]
        counts = now["activity"].astype(str).value_counts()
        cites = [Cite("count", s, a, week, float(counts.get(a, 0)), f"{int(counts.get(a, 0)):,}") for a in ("genuine", "pressured", "token", "left")]
        n = Cite("present", s, "present", week, float(now["present"].sum()), f"{int(now['present'].sum()):,}")
        g, p, t, v = cites
        out.append(Sentence(f"Week {week}, {ROLE.get(s, s)}: of {n.text} engineers at work, {g.text} used AI by choice, {p.text} only under "
                            f"pressure, {t.text} only for a token use; {v.text} positions are empty or losing their engineer.", (n, *cites)))
    return out


def goals_sentences(data: StoryData, week: int) -> list[Sentence]:
    """Step 8: the three policies' true change, and outcome goals against the mandate."""
    cg, cm, cf = (data.cite_mean(s, "true_gain", week) for s in (GOALS, MANDATE, FREE))
    out = [Sentence(f"Week {week}: the true change in delivered work is {cg.text} with outcome goals, {cm.text} under the mandate and {cf.text} "
                    "with free choice.", (cg, cm, cf))]
    out.append(_cmp_sentence(data, "true_gain", week, "Outcome goals against the mandate, true change", a=GOALS, b=MANDATE))
    out.append(_cmp_sentence(data, "weekly_active_share", week, "Weekly active engineers", a=GOALS, b=MANDATE, words=("more", "fewer")))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The steps
# ---------------------------------------------------------------------------------------------------------------


def _sub(results: pd.DataFrame, names: tuple[str, ...]) -> pd.DataFrame:
    return results[results["scenario"].isin(names)]


@dataclass(frozen=True)
class Predict:
    """What the class predicts before a step's chart is revealed: a metric of one scenario at the end, and where the chart shows it."""

    scenario: str
    metric: str
    xaxis: str = "x"
    yaxis: str = "y"

    def question(self, weeks: int) -> str:
        return f"Predict: {METRICS[self.metric].label.lower()} under {ROLE.get(self.scenario, self.scenario)} at week {weeks}?"


@dataclass(frozen=True)
class Step:
    """One step of the story: title, what to look at, the chart at a week, and the sentences of numbers at that week."""

    title: str
    lead: str
    figure: Callable[[pd.DataFrame | None, Scenario | None, int], go.Figure] | None = None
    sentences: Callable[[StoryData, int], list[Sentence]] | None = None
    kind: str = "runs"  # runs | organisation | engineers | explained
    predict: Predict | None = None

    @property
    def animated(self) -> bool:
        return self.kind in ("runs", "engineers")


def _mandate_figure(r: pd.DataFrame, spec: Scenario | None, w: int) -> go.Figure:
    fig = panel(_sub(r, (MANDATE, FREE)), ("weekly_active_share", "usage_pressure"), "Usage against the target, and the pressure that acts",
                until_week=w, big=True)
    if spec is not None and spec.policy.usage_target > 0:
        target = spec.policy.usage_target
        fig.add_hline(y=target, row=1, col=1, line={"dash": "dot", "color": "#333", "width": 2},
                      annotation_text=f"target {fmt('weekly_active_share', target)}", annotation_position="top left")
    return fig


STEPS: list[Step] = [
    Step("1. The organisation before",
         "Before any policy nobody is told to use either tool. Left: who works here; middle: what kind of work each level does; right: what each "
         "tool truly saves on each kind of work once the time spent checking its output is counted.",
         kind="organisation"),
    Step("2. The mandate lands",
         "Leadership watches the usage dashboard, and while measured usage is under the target pressure escalates: reminders, dashboards in "
         "reviews, questions from managers. Left: weekly active engineers against the target (dotted); right: the pressure engineers feel.",
         _mandate_figure, mandate_sentences, predict=Predict(MANDATE, "weekly_active_share")),
    Step("3. The theatre: what the dashboard counts",
         "Look at what kind of use the dashboard counts: genuine use (chosen on its merits), use only under pressure on tasks where the engineer "
         "believes it does not help, and token uses that satisfy the metric and add nothing. Dotted: shadow use of an unapproved tool, which "
         "telemetry cannot see.",
         lambda r, spec, w: adoption_split(_sub(r, (MANDATE, FREE)), until_week=w, big=True), theatre_sentences),
    Step("4. The gap opens",
         "Engineers can feel faster than they are (waiting for and checking generated code does not feel like work), and where it is unsafe to say "
         "'this doesn't help', self-reports lean toward what leadership wants to hear. Dashed: the gain leadership hears; solid: the true change "
         "in delivered work against the same organisation without AI.",
         lambda r, spec, w: measurement_gap(_sub(r, (MANDATE,)), until_week=w, big=True), gap_sentences, predict=Predict(MANDATE, "true_gain")),
    Step("5. Trust and safety",
         "In the model, being pushed onto a tool you believe is worse, pushback that is ignored and dissent that is punished cost trust in "
         "leadership and the team's psychological safety, and with less safety fewer engineers report honestly. Whether that happens here, "
         "and how much, the numbers say.",
         lambda r, spec, w: panel(_sub(r, (MANDATE, FREE)), ("trust_leadership", "psych_safety", "honest_reporting_share"),
                                  "Trust, safety and honest reporting", until_week=w, big=True),
         trust_sentences, predict=Predict(MANDATE, "trust_leadership")),
    Step("6. Who leaves",
         "Low trust, fatigue from reviewing generated code and low morale raise the chance of leaving, most for the most skilled, who have "
         "options. Replacements arrive weeks later, new to the codebase and the tools.",
         lambda r, spec, w: panel(_sub(r, (MANDATE, FREE)), ("attrition_cumulative", "attrition_top_skill_cumulative", "fatigue"), "Who leaves",
                                  until_week=w, big=True),
         leavers_sentences, predict=Predict(MANDATE, "attrition_top_skill_cumulative", "x2", "y2")),
    Step("7. Engineer by engineer",
         "One run of the mandate (left) and of free choice (right): one square per engineer position, grouped by team, coloured by what the "
         "engineer did this week; a dark ring: they also used an unapproved tool. Hover over a square for the engineer's card; press play "
         "to watch the weeks go by.",
         None, agents_sentences, kind="engineers"),
    Step("8. What outcome goals would have done",
         "The same organisation with outcome goals instead: leadership sets cycle-time and quality goals, lets engineers choose among vetted "
         "tools, makes it safe to say what does not work, and publishes and backs what measurably does.",
         lambda r, spec, w: panel(r, ("weekly_active_share", "true_gain", "trust_leadership", "attrition_top_skill_cumulative"),
                                  "Three policies side by side", until_week=w, big=True, cols=2),
         goals_sentences),
    Step("9. Why: where the difference comes from",
         "The model can replay every run with one mechanism held at what it would be without the policy, on the same random numbers. Each bar is "
         "one mechanism's share of the difference in true gain between the mandate and outcome goals at the end of the horizon (averaged over "
         "every order of switching them on, so the bars add up to the whole difference; the whiskers are 90% intervals).",
         kind="explained"),
]


def step_sentences(step: Step, data: StoryData | None, org: Organisation | None, week: int) -> list[Sentence]:
    """A step's sentences at ``week`` (the organisation's for step 1; none where the data they need is missing)."""
    if step.kind == "organisation":
        return org_sentences(org) if org is not None else []
    if step.sentences is None or data is None:
        return []
    return step.sentences(data, min(max(int(week), 1), data.weeks))


def engineers_figure(table: pd.DataFrame) -> dict:
    """Step 7's chart: the per-engineer grid of the mandate and free choice, one animation frame per week."""
    return agent_animation(table, titles={s: title_of(s) for s in STORY}, big=True)


def plain(fig: go.Figure) -> dict:
    """A figure as plain JSON values (arrays as lists, packed arrays unpacked), for the page to cut week by week."""
    def walk(v):
        if isinstance(v, dict):
            if "bdata" in v and "dtype" in v:
                a = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
                return a.reshape([int(n) for n in str(v["shape"]).split(",")]).tolist() if "shape" in v else a.tolist()
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x) for x in v]
        if isinstance(v, np.ndarray):
            return v.tolist()
        if isinstance(v, np.generic):
            return v.item()
        return v
    return walk(json.loads(fig.to_json()))


# ---------------------------------------------------------------------------------------------------------------
# Axes fixed to the whole horizon, and the class's prediction
# ---------------------------------------------------------------------------------------------------------------


def _axis_name(ref: str | None, kind: str) -> str:
    ref = ref or kind
    return f"{kind}axis{ref[1:]}"


def axis_ranges(fig: go.Figure) -> dict[str, list[float]]:
    """The range of every axis that shows data (stacked traces summed, shapes counted), with a margin on the y axes."""
    lo: dict[str, float] = {}
    hi: dict[str, float] = {}
    stacks: dict[tuple[str, str], dict[float, float]] = {}

    def add(axis: str, values) -> None:
        v = np.asarray([x for x in values if x is not None], dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            lo[axis] = min(lo.get(axis, np.inf), float(v.min()))
            hi[axis] = max(hi.get(axis, -np.inf), float(v.max()))

    for t in plain(fig)["data"]:
        if t.get("type", "scatter") != "scatter" or t.get("x") is None or t.get("y") is None:
            continue
        xa, ya = _axis_name(t.get("xaxis"), "x"), _axis_name(t.get("yaxis"), "y")
        xs, ys = list(t["x"]), list(t["y"])
        add(xa, xs)
        if t.get("stackgroup"):
            acc = stacks.setdefault((ya, t["stackgroup"]), {})
            ys = []
            for x, y in zip(xs, t["y"]):
                acc[x] = acc.get(x, 0.0) + (float(y) if y is not None else 0.0)
                ys.append(acc[x])
        add(ya, ys)
    for shape in fig.layout.shapes or ():
        if shape.y0 is not None and shape.yref and not str(shape.yref).endswith("domain"):
            add(_axis_name(str(shape.yref).split(" ")[0], "y"), [shape.y0, shape.y1])
    out = {}
    for axis in lo:
        a, b = lo[axis], hi[axis]
        if axis.startswith("y"):
            pad = max((b - a) * 0.06, 1e-3 if b == a else 0.0, abs(b) * 0.02)
            a, b = a - pad, b + pad
        out[axis] = [a, b]
    return out


def freeze_axes(fig: go.Figure, ranges: dict[str, list[float]]) -> go.Figure:
    """Set the axes to ``ranges`` (those of the whole horizon), except axes the figure already fixes."""
    for axis, r in ranges.items():
        current = fig.layout[axis] if axis in fig.layout else None
        if current is not None and current.range is not None and axis.startswith("y"):
            continue
        fig.update_layout({axis: {"range": r, "autorange": False}})
    return fig


#: The class's guess on a prediction canvas is the canvas's first layout shape: a line across the axes the class drags.
GUESS_SHAPE = 0
#: What the guess line says before the class has placed it.
DRAG_ME = "drag me: the class's guess"


def prediction_range(step: Step, ranges: dict[str, list[float]]) -> tuple[float, float]:
    """The y range of a step's prediction canvas: its chart's over the whole horizon, widened to 0..1 for shares and
    indices and to both signs for changes (the empty axes give nothing away)."""
    p = step.predict
    m = METRICS[p.metric]
    y0, y1 = ranges.get(_axis_name(p.yaxis, "y"), [0.0, 1.0])
    if m.kind in ("share", "index", "ratio"):
        y0, y1 = min(y0, 0.0), max(y1, 1.0 if m.kind != "ratio" else y1)
    else:
        y0, y1 = min(y0, -abs(y1)), max(y1, abs(y0))
    return float(y0), float(y1)


def prediction_canvas(step: Step, ranges: dict[str, list[float]], weeks: int, guess: float | None) -> go.Figure:
    """The empty axes on which the class places its prediction of the step's metric at the end: a line across them that
    the class drags up or down (in the middle, saying 'drag me', until placed), or a click anywhere (the y of the click);
    a placed guess is also a star at the last week."""
    p = step.predict
    m = METRICS[p.metric]
    y0, y1 = prediction_range(step, ranges)
    ys = np.linspace(y0, y1, 121)
    xs = np.arange(1, weeks + 1, max(1, weeks // 26))
    gx, gy = np.meshgrid(xs, ys)
    fig = go.Figure(go.Scatter(x=gx.ravel(), y=gy.ravel(), mode="markers", marker={"size": 14, "opacity": 0}, hoverinfo="none",
                               name="click to predict", showlegend=False))
    at = (y0 + y1) / 2 if guess is None else guess
    fig.add_shape(type="line", xref="paper", x0=0, x1=1, yref="y", y0=at, y1=at, editable=True, layer="above",
                  line={"color": "#6A3D9A", "width": 4, "dash": "dash" if guess is None else "solid"},
                  label={"text": DRAG_ME if guess is None else f"the class's guess: {fmt(p.metric, guess)} (drag to move)",
                         "textposition": "start", "yanchor": "bottom", "font": {"color": "#6A3D9A", "size": 18}})
    if guess is not None:
        fig.add_trace(prediction_trace(guess, weeks, p.metric))
    fig.update_layout(template="plotly_white", title={"text": step.predict.question(weeks), "x": 0.01},
                      xaxis={"title": "week", "range": [1, weeks], "fixedrange": True},
                      yaxis={"title": m.title, "range": [y0, y1], "fixedrange": True, "tickformat": ".0%" if m.percent else None},
                      hovermode="closest", font={"size": 18}, margin={"l": 70, "r": 20, "t": 60, "b": 60}, dragmode=False)
    return fig


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) else None


def _clip(ys: list[float | None], bounds: tuple[float, float]) -> float | None:
    """The mean of the numbers among ``ys``, held inside ``bounds``; None when there are none."""
    ys = [y for y in ys if y is not None]
    if not ys:
        return None
    lo, hi = min(bounds), max(bounds)
    return min(max(sum(ys) / len(ys), lo), hi)


def dragged_guess(relayout: Mapping | None, bounds: tuple[float, float], index: int = GUESS_SHAPE) -> float | None:
    """Where the class dropped the guess line, from a plotly relayout event (a dcc.Graph's ``relayoutData``): the y of
    shape ``index`` (``shapes[i].y0`` and ``shapes[i].y1`` after a drag, their mean; the one given after one end was
    dragged; or a whole ``shapes`` list), held inside the axis ``bounds``. None when the event did not move the line."""
    if not isinstance(relayout, Mapping):
        return None
    ys = [_number(relayout.get(f"shapes[{index}].{k}")) for k in ("y0", "y1")]
    shapes = relayout.get("shapes")
    if ys == [None, None] and isinstance(shapes, (list, tuple)) and len(shapes) > index and isinstance(shapes[index], Mapping):
        ys = [_number(shapes[index].get(k)) for k in ("y0", "y1")]
    return _clip(ys, bounds)


def clicked_guess(click: Mapping | None, bounds: tuple[float, float]) -> float | None:
    """Where the class clicked on the prediction canvas (a dcc.Graph's ``clickData``): the y of the point, held inside the
    axis ``bounds``; None without one."""
    points = click.get("points") if isinstance(click, Mapping) else None
    if not isinstance(points, (list, tuple)) or not points or not isinstance(points[0], Mapping):
        return None
    return _clip([_number(points[0].get("y"))], bounds)


def prediction_trace(guess: float, weeks: int, metric: str, *, xaxis: str = "x", yaxis: str = "y") -> go.Scatter:
    return go.Scatter(x=[weeks], y=[guess], mode="markers+text", marker={"symbol": "star", "size": 22, "color": "#6A3D9A"},
                      text=[f"your prediction {fmt(metric, guess)}"], textposition="middle left", name="your prediction",
                      xaxis=xaxis, yaxis=yaxis, showlegend=False, hoverinfo="skip", meta="static")


def prediction_sentence(step: Step, data: StoryData, guess: float) -> Sentence:
    """How the class's prediction compares with the runs at the last week."""
    p = step.predict
    w = data.weeks
    actual = data.cite_mean(p.scenario, p.metric, w)
    d = actual.value - guess
    text = amount(p.metric, d)
    same = float(text.split()[0].replace(",", "")) == 0.0
    c = Cite("vs_prediction", p.scenario, p.metric, w, d, text, direction="same" if same else "up" if d > 0 else "down",
             word="exactly" if same else "above" if d > 0 else "below")
    where = "exactly your prediction" if same else f"{text} {c.word} your prediction"
    return Sentence(f"Your prediction for week {w}: {fmt(p.metric, guess)}; the runs: {actual.text}, {where}.", (actual, c))
