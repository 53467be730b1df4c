"""Weekly outputs, declared once: what each metric means, how it is shown, and how it is summed over engineers.

Every metric is a ratio of two *tallies* (weekly sums, ``TALLIES``), for the whole organisation and for
its breakdowns (``seniority=...`` and ``task=...`` groups). A tally is summed over engineers from each
engineer's value (``engineer_tallies``, compiled into the weekly-sums kernel), or given by the organisation
(counters such as leavers and hires, or the week's cycle time). From these declarations derive: the layout
of the kernel's sums, the recorder's columns (``series_list``), the tidy table, the labels and units of
charts and tables (``Metric.title``, ``Metric.format``) and the docs table (docs/PARAMETERS.md).

To add a metric: declare it in ``METRICS`` as a ratio of tallies; if it needs a new per-engineer quantity,
declare the tally in ``TALLIES`` and add each engineer's value in ``engineer_tallies``. Metrics that need the paired
no-AI counterfactual (``derived=True``: ``true_gain``, ``measurement_gap``) are added by the runner.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd

from . import bundles, jit
from .rules import weekly_seat_cost as _weekly_seat_cost
from .params import SENIORITY_LEVELS

# ---------------------------------------------------------------------------
# Tallies: the weekly sums every metric is a ratio of
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tally:
    """One weekly sum: over engineers (a value per engineer, or per engineer and task type), or given by the organisation."""

    name: str
    over: str  # "engineer", "engineer_task" or "organisation"
    description: str
    by_seniority: bool = False
    by_task: bool = False
    #: For engineer_task tallies, the order in which the organisation's total is added up: "engineer" (each engineer's
    #: subtotal over task types, as the seniority breakdown is) or "task" (value by value). Both give the same number up
    #: to rounding; each tally keeps the order the first edition used, so pinned outputs stay bit-identical.
    total: str = "engineer"


TALLIES: tuple[Tally, ...] = (
    # One value per engineer who worked this week (and present_now for every slot filled at the end of the week).
    Tally("engineers", "engineer", "Engineers who worked this week.", by_seniority=True),
    Tally("reporting", "engineer", "Engineers counted active by telemetry.", by_seniority=True),
    Tally("ever_used", "engineer", "Engineers who have ever used an approved tool."),
    Tally("genuine", "engineer", "Engineers with at least one use chosen on its merits."),
    Tally("forced_only", "engineer", "Engineers whose approved-tool use was all under pressure."),
    Tally("pressured", "engineer", "Engineers with at least one use made only because of pressure or the norm."),
    Tally("token_only", "engineer", "Engineers whose only use was a token use."),
    Tally("shadow_users", "engineer", "Engineers using an unapproved tool."),
    Tally("voiced", "engineer", "Engineers voicing pushback."),
    Tally("pressure", "engineer", "Usage pressure on each engineer."),
    Tally("capacity", "engineer", "Focus hours available after fatigue."),
    Tally("rework", "engineer", "Hours spent on rework."),
    Tally("verification", "engineer", "Hours spent verifying generated output."),
    Tally("trust_leadership", "engineer", "Trust in leadership.", by_seniority=True),
    Tally("trust_ai", "engineer", "Trust in AI output.", by_seniority=True),
    Tally("fatigue", "engineer", "AI fatigue.", by_seniority=True),
    Tally("morale", "engineer", "Morale.", by_seniority=True),
    Tally("safety", "engineer", "Psychological safety of the engineer's team."),
    Tally("honest", "engineer", "Engineers reporting honestly."),
    Tally("reported_gain", "engineer", "Gain reported by each engineer counted active."),
    Tally("present_now", "engineer", "Slots filled at the end of the week (after departures and hires).", by_seniority=True),
    Tally("spend", "engineer", "AI spend on the engineer this week: seats of the tools approved for them, usage-priced hours (token uses included)."),
    # One value per engineer and task type.
    Tally("work", "engineer_task", "Share of the engineer's baseline hours (the task mix).", by_seniority=True, by_task=True),
    Tally("ai_work", "engineer_task", "Task mix share done with an AI tool, approved or not.", by_seniority=True, by_task=True),
    Tally("forced_work", "engineer_task", "Task mix share done with AI only because of pressure or the norm.", by_seniority=True, by_task=True),
    Tally("shadow_work", "engineer_task", "Task mix share done with an unapproved tool.", by_task=True, total="task"),
    Tally("slow_ai_work", "engineer_task", "Task mix share done with an AI tool that makes that engineer slower on it (time multiplier above 1).", by_seniority=True, by_task=True),
    Tally("delivered", "engineer_task", "Work delivered (baseline hours).", by_seniority=True, by_task=True),
    Tally("escaped", "engineer_task", "Defects that escaped review.", by_task=True, total="task"),
    Tally("risk", "engineer_task", "Data and security exposure of AI use.", total="task"),
    # Given by the organisation.
    Tally("one", "organisation", "The number 1 (denominator of levels that are not per engineer)."),
    Tally("positions", "organisation", "Engineer positions; by seniority, the engineers at that level at the start (at least 1).", by_seniority=True),
    Tally("top_initial", "organisation", "Initial top engineers by skill (at least 1)."),
    Tally("leavers", "organisation", "Leavers since the start.", by_seniority=True),
    Tally("leavers_top", "organisation", "Leavers since the start who were top engineers at the start's threshold."),
    Tally("hires", "organisation", "Hires since the start."),
    Tally("cycle_time", "organisation", "The week's cycle time (days).", by_task=True),
)
TALLY: dict[str, Tally] = {t.name: t for t in TALLIES}

_ENGINEER = [t for t in TALLIES if t.over == "engineer"]
_TASK = [t for t in TALLIES if t.over == "engineer_task"]
N_ENGINEER, N_TASK, N_LEVELS = len(_ENGINEER), len(_TASK), len(SENIORITY_LEVELS)

#: Each engineer tally's row in its blocks of the weekly sums, and each engineer-task tally's in its blocks.
TallyRows = bundles.bundle_type("TallyRows", [t.name for t in _ENGINEER + _TASK], __name__)
ROWS = TallyRows(**{t.name: r for r, t in enumerate(_ENGINEER)}, **{t.name: r for r, t in enumerate(_TASK)})

# Where the weekly-sums pass adds the tallies: one block per kind of sum, each tally at its row in the block. The blocks'
# positions (all but the last, by task type, independent of the number of task types) and what each tally needs are
# compile-time constants of the pass, so it adds only what some metric reads, with no lookups.
ENGINEER_ALL = 0  # [engineer tallies] the organisation's sums
ENGINEER_LEVEL = ENGINEER_ALL + N_ENGINEER  # [level, engineer tallies]
TASK_ALL = ENGINEER_LEVEL + N_LEVELS * N_ENGINEER  # [engineer-task tallies] the organisation's sums
TASK_LEVEL = TASK_ALL + N_TASK  # [level, engineer-task tallies]
TASK_TASK = TASK_LEVEL + N_LEVELS * N_TASK  # [engineer-task tallies, task type]
ENGINEER_HAS_LEVEL = tuple(t.by_seniority for t in _ENGINEER)
TASK_HAS_LEVEL = tuple(t.by_seniority for t in _TASK)
TASK_HAS_TASK = tuple(t.by_task for t in _TASK)
TASK_BY_ENGINEER = tuple(t.total == "engineer" for t in _TASK)


def kernel_slots(n_tasks: int) -> int:
    """Positions the weekly-sums pass fills (the organisation tallies follow them)."""
    return TASK_TASK + N_TASK * n_tasks


weekly_seat_cost = jit.inlined(_weekly_seat_cost)


@jit.inlined
def add(acc, level, row, x):
    """Add one engineer's value ``x`` of the engineer tally in ``row`` to the week's sums: the organisation's, and its level's."""
    acc[ENGINEER_ALL + row] += x
    if ENGINEER_HAS_LEVEL[row]:
        acc[ENGINEER_LEVEL + level * N_ENGINEER + row] += x


@jit.inlined
def add_task(acc, subtotal, row, k, n_tasks, x):
    """Add one engineer's value ``x`` on task type ``k`` of the engineer-task tally in ``row``: to the task type's sum, and
    to the organisation's sum either value by value or through the engineer's subtotal over task types (``close_tasks``)."""
    if TASK_HAS_TASK[row]:
        acc[TASK_TASK + row * n_tasks + k] += x
    if not TASK_BY_ENGINEER[row]:
        acc[TASK_ALL + row] += x
    subtotal[row] += x


@jit.inlined
def close_tasks(acc, level, subtotal):
    """Add one engineer's subtotals over task types to the organisation's sums (those added engineer by engineer) and to
    their level's, and clear them."""
    for row in range(N_TASK):
        if TASK_BY_ENGINEER[row]:
            acc[TASK_ALL + row] += subtotal[row]
        if TASK_HAS_LEVEL[row]:
            acc[TASK_LEVEL + level * N_TASK + row] += subtotal[row]
        subtotal[row] = 0.0


def engineer_tallies(first, stop, eng, wk, ch, org, acc, subtotal):
    """Add the values of engineers ``first`` to ``stop - 1`` of every engineer tally and engineer-task tally (their rows:
    ``ROWS.name``) to the week's sums ``acc``; ``subtotal`` is a zeroed scratch [engineer-task tallies]."""
    ix = ROWS
    present, present_now, level, task_mix, ever_used, trust_leadership, trust_ai, fatigue, morale, safety, team = (
        wk.present, eng.is_present, eng.seniority, eng.task_mix, eng.ever_used, eng.trust_leadership, eng.trust_ai, eng.fatigue,
        eng.morale, eng.safety, eng.team)
    choice, shadow, forced, token, delivered, escaped, reporting, voiced, honest, reported_gain = (
        wk.choice, wk.shadow, wk.forced, wk.token, wk.delivered, wk.escaped, wk.reporting, wk.voiced, wk.honest, wk.reported_gain)
    capacity, rework_hours, verify_hours, pressure, approved_tool = wk.capacity, wk.rework_hours, wk.verify_hours, ch.pressure, ch.approved_tool
    hours, multiplier, token_hours = wk.hours, wk.multiplier, wk.token_hours
    task_hours, data_risk, vetted_risk, seat_cost, usage_cost = org.task_hours, org.data_risk, org.vetted_risk, org.seat_cost, org.usage_cost
    T = seat_cost.shape[0]
    K = choice.shape[1]
    for i in range(first, stop):
        lv = level[i]
        add(acc, lv, ix.present_now, 1.0 if present_now[i] else 0.0)
        if not present[i]:
            continue
        genuine = False
        any_forced = False
        any_shadow = False
        pressured = False
        spend = 0.0
        token_rate = 0.0
        n_approved = 0
        for j in range(T):
            if approved_tool[i, j]:
                spend += weekly_seat_cost(seat_cost[j])
                token_rate += usage_cost[j]
                n_approved += 1
        if n_approved > 0:
            spend += token_hours[i] * token_rate / n_approved  # a token use is charged at the mean usage price of one's tools
        for k in range(K):
            w = task_mix[i, k]
            c = choice[i, k]
            used = c > 0
            unapproved = used and shadow[i, k]
            add_task(acc, subtotal, ix.work, k, K, w)
            add_task(acc, subtotal, ix.delivered, k, K, delivered[i, k])
            add_task(acc, subtotal, ix.escaped, k, K, escaped[i, k])
            add_task(acc, subtotal, ix.ai_work, k, K, w if used else 0.0)
            add_task(acc, subtotal, ix.shadow_work, k, K, w if unapproved else 0.0)
            add_task(acc, subtotal, ix.forced_work, k, K, w if forced[i, k] else 0.0)
            add_task(acc, subtotal, ix.slow_ai_work, k, K, w if used and multiplier[i, k] > 1.0 else 0.0)
            if used and not unapproved:
                spend += hours[i, k] * usage_cost[c - 1]
            if forced[i, k]:
                pressured = True
            add_task(acc, subtotal, ix.risk, k, K,
                     delivered[i, k] / task_hours[k] * data_risk[c - 1] * (1.0 if unapproved else vetted_risk) if used else 0.0)
            if unapproved:
                any_shadow = True
            elif used:
                if forced[i, k]:
                    any_forced = True
                else:
                    genuine = True
        close_tasks(acc, lv, subtotal)
        add(acc, lv, ix.engineers, 1.0)
        add(acc, lv, ix.reporting, 1.0 if reporting[i] else 0.0)
        add(acc, lv, ix.ever_used, 1.0 if ever_used[i] else 0.0)
        add(acc, lv, ix.genuine, 1.0 if genuine else 0.0)
        add(acc, lv, ix.forced_only, 1.0 if not genuine and any_forced else 0.0)
        add(acc, lv, ix.token_only, 1.0 if not genuine and not any_forced and token[i] else 0.0)
        add(acc, lv, ix.shadow_users, 1.0 if any_shadow else 0.0)
        add(acc, lv, ix.pressured, 1.0 if pressured else 0.0)
        add(acc, lv, ix.spend, spend)
        add(acc, lv, ix.voiced, 1.0 if voiced[i] else 0.0)
        add(acc, lv, ix.pressure, pressure[i])
        add(acc, lv, ix.capacity, capacity[i])
        add(acc, lv, ix.rework, rework_hours[i])
        add(acc, lv, ix.verification, verify_hours[i])
        add(acc, lv, ix.trust_leadership, trust_leadership[i])
        add(acc, lv, ix.trust_ai, trust_ai[i])
        add(acc, lv, ix.fatigue, fatigue[i])
        add(acc, lv, ix.morale, morale[i])
        add(acc, lv, ix.safety, safety[team[i]])
        add(acc, lv, ix.honest, 1.0 if honest[i] else 0.0)
        add(acc, lv, ix.reported_gain, reported_gain[i] if reporting[i] else 0.0)


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """One output: its id, how people read it (label, unit, format), what it means, how it is summed, and its breakdowns."""

    name: str  # id, in tables and files
    unit: str  # what it is measured in, in words ("share of engineers")
    kind: str  # 'share' (in [0,1]), 'index' (in [0,1]), 'ratio' (in percent, may exceed 1), 'gain', 'level', 'count'
    category: str  # adoption, performance, risk, people, gap
    description: str
    by_seniority: bool = False
    by_task: bool = False
    label: str = ""  # what charts and tables call it ("Trust in AI")
    symbol: str = ""  # the unit as charts show it after the label ("0–1", "days", "% of engineers")
    fmt: str = ""  # format spec of one value; empty: from the kind (percent for shares and gains)
    numerator: str = ""  # tally summed over engineers (or given by the organisation)
    denominator: str = ""  # tally it is divided by
    #: Whether a breakdown divides by the group's own denominator (when that tally has the breakdown) or the organisation's.
    group_denominator: bool = True
    derived: bool = False  # computed by the runner from the paired no-AI counterfactual, not recorded by the model

    @property
    def title(self) -> str:
        """Label with unit, as charts and tables show it: "Trust in AI (0–1)", "Cycle time (days)"."""
        return f"{self.label} ({self.symbol})" if self.symbol else self.label

    @property
    def format_spec(self) -> str:
        """The format spec of one value (percent for shares and gains, with a sign for gains)."""
        if self.fmt:
            return self.fmt
        return {"gain": "+.1%", "share": ".1%", "ratio": ".1%"}.get(self.kind, ".2f")

    @property
    def percent(self) -> bool:
        """Whether values are shown as percentages."""
        return self.format_spec.endswith("%")

    def format(self, x: float) -> str:
        """One value as people read it ("61.2%", "+4.0%", "3.41")."""
        return format(x, self.format_spec)

    @property
    def breakdowns(self) -> tuple[str, ...]:
        """The breakdowns recorded besides the organisation's value."""
        return tuple(b for b, on in (("seniority", self.by_seniority), ("task", self.by_task)) if on)


METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        # adoption
        Metric("weekly_active_share", "share of engineers", "share", "adoption", "Engineers counted active by telemetry (any approved-tool use, token uses included).", by_seniority=True, label="Weekly active", symbol="% of engineers", numerator="reporting", denominator="engineers"),
        Metric("ever_used_share", "share of engineers", "share", "adoption", "Engineers who have ever used an approved tool (the 'have tried it' figure).", label="Ever used an approved tool", symbol="% of engineers", numerator="ever_used", denominator="engineers"),
        Metric("genuine_use_share", "share of engineers", "share", "adoption", "Engineers with at least one use they chose on its merits this week.", label="Genuine use", symbol="% of engineers", numerator="genuine", denominator="engineers"),
        Metric("forced_use_share", "share of engineers", "share", "adoption", "Engineers whose approved-tool use this week was all made under pressure, against their own judgement.", label="Pressured use only", symbol="% of engineers", numerator="forced_only", denominator="engineers"),
        Metric("pressured_use_share", "share of engineers", "share", "adoption", "Engineers who used AI this week on at least one task type only because of pressure or the norm, against their own judgement.", label="Pressured use", symbol="% of engineers", numerator="pressured", denominator="engineers"),
        Metric("token_use_share", "share of engineers", "share", "adoption", "Engineers whose only use this week was a token use to satisfy the metric.", label="Token use only", symbol="% of engineers", numerator="token_only", denominator="engineers"),
        Metric("shadow_use_share", "share of engineers", "share", "adoption", "Engineers using a tool that is not approved for them (hidden from telemetry).", label="Shadow use", symbol="% of engineers", numerator="shadow_users", denominator="engineers"),
        Metric("pushback_share", "share of engineers", "share", "adoption", "Engineers voicing pushback against the policy this week.", label="Voicing pushback", symbol="% of engineers", numerator="voiced", denominator="engineers"),
        Metric("ai_task_share", "share of work", "share", "adoption", "Share of work (baseline hours) done with an AI tool, approved or not.", by_seniority=True, by_task=True, label="Work done with AI", symbol="% of work", numerator="ai_work", denominator="work"),
        Metric("forced_task_share", "share of work", "share", "adoption", "Share of work done with AI only because of pressure or the norm.", by_seniority=True, by_task=True, label="Work done with AI under pressure", symbol="% of work", numerator="forced_work", denominator="work"),
        Metric("slowdown_task_share", "share of AI work", "share", "adoption", "Share of the work done with AI (baseline hours) done on tasks where the tool makes that engineer slower.", by_seniority=True, by_task=True, label="AI use where it slows work", symbol="% of AI work", numerator="slow_ai_work", denominator="ai_work"),
        Metric("shadow_task_share", "share of work", "share", "adoption", "Share of work done with unapproved tools.", by_task=True, label="Work done with unapproved tools", symbol="% of work", numerator="shadow_work", denominator="work"),
        Metric("usage_pressure", "index", "level", "adoption", "Mean usage pressure on engineers (0: none).", label="Usage pressure", symbol="index", numerator="pressure", denominator="engineers"),
        # performance
        Metric("throughput", "baseline hours per position per week", "level", "performance", "Work delivered, in hours a standard engineer would need without AI, per engineer position.", by_seniority=True, by_task=True, label="Throughput", symbol="baseline hours per position-week", numerator="delivered", denominator="positions", group_denominator=False),
        Metric("true_gain", "relative change", "gain", "performance", "Throughput relative to the no-AI counterfactual run with the same seed, minus 1.", by_seniority=True, by_task=True, label="True gain", symbol="% vs no AI", derived=True),
        Metric("cycle_time", "working days", "level", "performance", "Mean days from start to merge of a task (touch time at the week's pace plus review wait).", by_task=True, label="Cycle time", symbol="days", numerator="cycle_time", denominator="one"),
        Metric("escaped_defects", "defects per engineer per week", "level", "performance", "Defects that escaped review this week.", by_task=True, label="Escaped defects", symbol="per engineer-week", numerator="escaped", denominator="engineers"),
        Metric("rework_share", "share of focus hours", "share", "performance", "Share of focus hours spent fixing escaped defects.", label="Rework", symbol="% of focus hours", numerator="rework", denominator="capacity"),
        Metric("verification_share", "share of focus hours", "share", "performance", "Share of focus hours spent reviewing and correcting generated output.", label="Verification", symbol="% of focus hours", numerator="verification", denominator="capacity"),
        # risk
        Metric("risk_exposure", "exposure units per engineer per week", "level", "risk", "Data and security exposure from AI tools: unapproved use counts fully, vetted use a tenth.", label="Data-risk exposure", symbol="units per engineer-week", numerator="risk", denominator="engineers"),
        # cost
        Metric("ai_spend", "currency per position per week", "level", "cost", "AI spend per engineer position this week: a seat for each engineer a tool is approved for, usage-priced AI-assisted hours and token uses.", label="AI spend", symbol="per position-week", fmt=",.2f", numerator="spend", denominator="positions"),
        Metric("gain_per_spend", "gain points per 10 spent per position-week", "level", "cost", "True gain (percentage points) per 10 of AI spend per position-week: what the spend buys (0 without spend).", label="True gain per 10 spent", symbol="points per 10 a position-week", fmt="+.2f", derived=True),
        # people
        Metric("trust_leadership", "index", "index", "people", "Mean trust in leadership.", by_seniority=True, label="Trust in leadership", symbol="0–1", numerator="trust_leadership", denominator="engineers"),
        Metric("trust_ai", "index", "index", "people", "Mean trust in AI output.", by_seniority=True, label="Trust in AI", symbol="0–1", numerator="trust_ai", denominator="engineers"),
        Metric("psych_safety", "index", "index", "people", "Mean psychological safety of engineers' teams.", label="Psychological safety", symbol="0–1", numerator="safety", denominator="engineers"),
        Metric("honest_reporting_share", "share of engineers", "share", "people", "Engineers whose team is safe enough for them to report AI's benefit honestly.", label="Honest reporting", symbol="% of engineers", numerator="honest", denominator="engineers"),
        Metric("fatigue", "index", "index", "people", "Mean AI fatigue (the load of reviewing and fixing generated code).", by_seniority=True, label="AI fatigue", symbol="0–1", numerator="fatigue", denominator="engineers"),
        Metric("morale", "index", "index", "people", "Mean morale.", by_seniority=True, label="Morale", symbol="0–1", numerator="morale", denominator="engineers"),
        Metric("headcount", "engineers", "count", "people", "Engineers present (positions minus vacancies).", by_seniority=True, label="Headcount", symbol="engineers", fmt=",.1f", numerator="present_now", denominator="one"),
        Metric("attrition_cumulative", "leavers per position", "ratio", "people", "Leavers since the start, per position (per initial engineer of the level for breakdowns).", by_seniority=True, label="Attrition since start", symbol="% of positions", numerator="leavers", denominator="positions"),
        Metric("attrition_top_skill_cumulative", "leavers per initial top engineer", "ratio", "people", "Leavers since the start with skill in the initial top fifth, per initial top-fifth engineer.", label="Attrition of top engineers", symbol="% of the initial top fifth", numerator="leavers_top", denominator="top_initial"),
        Metric("hires_cumulative", "hires per position", "ratio", "people", "New hires since the start, per position.", label="Hires since start", symbol="% of positions", numerator="hires", denominator="positions"),
        # the gap
        Metric("reported_gain", "relative change", "gain", "gap", "Productivity gain leadership hears: self-reported gains of engineers counted active, per engineer.", label="Reported gain", symbol="% claimed", numerator="reported_gain", denominator="engineers"),
        Metric("measurement_gap", "relative change", "gain", "gap", "Reported gain minus true gain.", label="Measurement gap", symbol="reported − true, points", derived=True),
    ]
}





def title(metric: str) -> str:
    """A metric's label with unit for charts and tables; an unknown id is shown as words."""
    m = METRICS.get(metric)
    return m.title if m is not None else metric.replace("_", " ").capitalize()


#: Metrics that the runner derives from the paired counterfactual.
COUNTERFACTUAL_METRICS = tuple(m.name for m in METRICS.values() if m.derived)


def _check_declarations() -> None:
    """Each recorded metric is a ratio of declared tallies that have its breakdowns (an error here names the metric)."""
    for m in METRICS.values():
        if m.derived:
            continue
        for role, name in (("numerator", m.numerator), ("denominator", m.denominator)):
            if name not in TALLY:
                raise ValueError(f"metric {m.name!r}: its {role} {name!r} is not a declared tally")
        num = TALLY[m.numerator]
        for b in m.breakdowns:
            if not getattr(num, f"by_{b}"):
                raise ValueError(f"metric {m.name!r} is broken down by {b}, but its numerator {num.name!r} is not")


_check_declarations()


def series_list(task_names: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every (metric, group) recorded by the model, in column order."""
    out = []
    for m in METRICS.values():
        if m.derived:
            continue
        out.append((m.name, "all"))
        if m.by_seniority:
            out += [(m.name, f"seniority={lv}") for lv in SENIORITY_LEVELS]
        if m.by_task:
            out += [(m.name, f"task={k}") for k in task_names]
    return out


# ---------------------------------------------------------------------------
# The layout of the weekly sums, and the recorder
# ---------------------------------------------------------------------------

class Sums:
    """Positions in the vector of weekly sums: the blocks the weekly-sums pass fills (above), then the organisation tallies."""

    def __init__(self, n_tasks: int):
        self.K = K = n_tasks
        self.kernel_slots = kernel_slots(K)
        self.organisation: dict[tuple[str, str], int] = {}  # (tally, "all" | "seniority" | "task") -> first position
        i = self.kernel_slots
        for t in TALLIES:
            if t.over != "organisation":
                continue
            self.organisation[(t.name, "all")] = i
            i += 1
            if t.by_seniority:
                self.organisation[(t.name, "seniority")] = i
                i += N_LEVELS
            if t.by_task:
                self.organisation[(t.name, "task")] = i
                i += K
        self.size = i

    def position(self, tally: str, group: str, task_names: tuple[str, ...]) -> int:
        """Position of one tally's value for a group ("all", "seniority=mid", "task=debugging"), or its organisation total
        when the tally has no such breakdown."""
        t = TALLY[tally]
        level = SENIORITY_LEVELS.index(group.split("=", 1)[1]) if group.startswith("seniority=") and t.by_seniority else None
        task = task_names.index(group.split("=", 1)[1]) if group.startswith("task=") and t.by_task else None
        if t.over == "engineer":
            row = getattr(ROWS, tally)
            return ENGINEER_ALL + row if level is None else ENGINEER_LEVEL + level * N_ENGINEER + row
        if t.over == "engineer_task":
            row = getattr(ROWS, tally)
            if level is not None:
                return TASK_LEVEL + level * N_TASK + row
            if task is not None:
                return TASK_TASK + row * self.K + task
            return TASK_ALL + row
        if level is not None:
            return self.organisation[(tally, "seniority")] + level
        if task is not None:
            return self.organisation[(tally, "task")] + task
        return self.organisation[(tally, "all")]

    def set(self, values: np.ndarray, tally: str, total: float, *, seniority=None, task=None) -> None:
        """Set an organisation tally's total (and its breakdowns) in ``values``."""
        values[self.organisation[(tally, "all")]] = total
        if seniority is not None:
            p = self.organisation[(tally, "seniority")]
            values[p : p + len(SENIORITY_LEVELS)] = seniority
        if task is not None:
            p = self.organisation[(tally, "task")]
            values[p : p + self.K] = task


@functools.lru_cache(maxsize=32)
def _plan(task_names: tuple[str, ...]) -> tuple[list, Sums, np.ndarray, np.ndarray]:
    """The recorded series, the sums' positions, and the numerator and denominator position of every series (per task types)."""
    series = series_list(task_names)
    sums = Sums(len(task_names))
    num, den = [], []
    for metric, group in series:
        m = METRICS[metric]
        num.append(sums.position(m.numerator, group, task_names))
        den.append(sums.position(m.denominator, group if m.group_denominator else "all", task_names))
    return series, sums, np.array(num, dtype=np.int64), np.array(den, dtype=np.int64)


class Recorder:
    """Preallocated [weeks, series] store filled once per week from one pass of weekly sums."""

    def __init__(self, task_names: tuple[str, ...], weeks: int, constants: Mapping[str, dict]):
        """``constants``: the organisation tallies that stay fixed over a run (positions, top_initial), each as (total, by seniority, by task)."""
        self.task_names = tuple(task_names)
        series, self.sums_layout, self.num, self.den = _plan(self.task_names)
        self.series = list(series)
        self.col = {s: i for i, s in enumerate(self.series)}
        self.values = np.full((weeks, len(self.series)), np.nan)
        self.n_weeks = 0
        self.sums = np.zeros(self.sums_layout.size)
        self.sums_layout.set(self.sums, "one", 1.0)
        for tally, (total, seniority, task) in constants.items():
            self.sums_layout.set(self.sums, tally, total, seniority=seniority, task=task)

    def latest(self, metric: str, group: str = "all") -> float:
        return float(self.values[self.n_weeks - 1, self.col[(metric, group)]])

    def record(self, week_sums, organisation: Mapping[str, tuple]) -> None:
        """Record one week: ``week_sums(sums)`` fills the engineer tallies into ``sums``; ``organisation`` gives each
        organisation tally as (total, by seniority or None, by task type or None)."""
        if self.n_weeks >= self.values.shape[0]:
            self.values = np.vstack([self.values, np.full_like(self.values, np.nan)])
        S, L = self.sums, self.sums_layout
        week_sums(S)
        for tally, (total, seniority, task) in organisation.items():
            L.set(S, tally, total, seniority=seniority, task=task)
        self.values[self.n_weeks] = S[self.num] / np.maximum(S[self.den], 1e-12)
        self.n_weeks += 1

    def frame(self) -> pd.DataFrame:
        """Tidy table: one row per week, metric and group."""
        w = self.n_weeks
        S = len(self.series)
        metric = np.array([s[0] for s in self.series], dtype=object)
        group = np.array([s[1] for s in self.series], dtype=object)
        return pd.DataFrame(
            {
                "week": np.repeat(np.arange(1, w + 1), S),
                "metric": np.tile(metric, w),
                "group": np.tile(group, w),
                "value": self.values[:w].ravel(),
            }
        )
