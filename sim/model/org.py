"""The organisation model: a Mesa model whose step is one working week.

Engineers are Mesa agents (``model.agents``), each a thin view on one row of
the arrays in ``model.workforce``; the weekly story updates those arrays for
all engineers at once. ``EngineeringOrg.PHASES`` lists the story in order.
"""

from __future__ import annotations

import functools
import weakref
import time
from types import SimpleNamespace

import mesa
import numpy as np

from . import bundles, kernel_calls, kernels, limits, rules
from . import channels as mechanisms
from .levers import LeverSetup, Observations, PolicyChannels, WorkRecord, build_levers
from .metrics import Recorder
from .params import SENIORITY_LEVELS, Scenario
from .streams import WeeklyDraws, named_rng
from .week import WeekData
from .workforce import OrgTables, Workforce

#: Metrics the optional Mesa DataCollector (``collect_mesa=True``) collects each week, from the model's own recorder.
MESA_REPORTERS = ("weekly_active_share", "ai_task_share", "throughput", "trust_leadership", "psych_safety", "fatigue", "headcount")


class Engineer(mesa.Agent):
    """One engineer: a view on its row of the workforce arrays (read ``state()`` to inspect)."""

    def __init__(self, model: "EngineeringOrg", slot: int):
        super().__init__(model)
        self.slot = int(slot)

    def state(self) -> dict:
        """This engineer's current state as plain values."""
        return self.model.workforce.row(self.slot)

    @property
    def seniority(self) -> str:
        return SENIORITY_LEVELS[int(self.model.workforce.seniority[self.slot])]

    @property
    def skill(self) -> float:
        return float(self.model.workforce.skill[self.slot])

    @property
    def team(self) -> int:
        return int(self.model.workforce.team[self.slot])

    @property
    def trust_leadership(self) -> float:
        return float(self.model.workforce.trust_leadership[self.slot])

    @property
    def trust_ai(self) -> float:
        return float(self.model.workforce.trust_ai[self.slot])

    @property
    def fatigue(self) -> float:
        return float(self.model.workforce.fatigue[self.slot])

    @property
    def morale(self) -> float:
        return float(self.model.workforce.morale[self.slot])

    @property
    def psych_safety(self) -> float:
        wf = self.model.workforce
        return float(wf.safety[wf.team[self.slot]])

    def __repr__(self) -> str:
        return f"Engineer(id={self.unique_id}, slot={self.slot}, {self.seniority}, skill={self.skill:.2f})"


class EngineeringOrg(mesa.Model):
    """An engineering organisation adopting AI coding tools under a policy, one step per week."""

    PHASES = (
        "policy_acts",
        "engineers_choose",
        "do_work",
        "perceive_and_learn",
        "report",
        "teams_compare_notes",
        "update_trust_and_safety",
        "leadership_reacts",
        "attrition_and_hiring",
        "record",
    )

    def __init__(self, scenario: Scenario | None = None, *, seed: int = 0, collect_mesa: bool = False, profile: bool = False,
                 held: frozenset[str] | tuple[str, ...] = frozenset()):
        """``held``: channels held at their no-policy values (sim/model/channels.py; none in a normal run)."""
        super().__init__(rng=int(seed))
        self.spec = scenario if scenario is not None else Scenario()
        sc = self.spec
        limits.check_model(sc)  # refuse, before allocating anything, a model that would need more memory than allowed
        self.behaviour = sc.behaviour
        self.held = mechanisms.check(held)
        # the behaviour as the kernels read it (and the hiring office), with the held channels' parameters at their held values
        self.params = mechanisms.hold_parameters(bundles.params(sc.behaviour), self.held)
        self._held_fields = mechanisms.held_policy_fields(self.held)
        self.weeks = sc.weeks
        self.tables = OrgTables.from_organisation(sc.organisation)
        n = sc.organisation.size
        # All streams derive from the model's seeded generator.
        self.entropy = int(self.rng.integers(2**63))
        self.workforce = Workforce(n, sc.organisation.team_size, self.tables, self.behaviour, self.params)
        self.org = self.workforce.org_bundle  # the organisation's tables as the kernels read them
        wf = self.workforce
        wf.fill(np.arange(n), named_rng(self.entropy, "init/engineers"), new_hire=False)
        wf.safety[:] = self.behaviour.trust.initial_safety
        self.draws = WeeklyDraws(self.entropy, n, self.tables.n_tasks)
        self.top_skill_threshold = float(np.quantile(wf.skill, 1.0 - sc.organisation.top_skill_share))
        self.is_top_skill_initial = int((wf.skill >= self.top_skill_threshold).sum())
        self.level_initial = np.bincount(wf.seniority, minlength=3)
        # Baseline task-count weights per task type (for the organisation's cycle time).
        tasks0 = (wf.task_mix / self.tables.task_hours[None, :]).sum(axis=0)
        self.task_weights = tasks0 / tasks0.sum()

        self.channels = PolicyChannels.blank(n, self.tables.n_tools, self.tables.n_tasks)
        self.levers = build_levers(sc.policy, sc.behaviour, sc.approved_tools())
        setup = LeverSetup(tool_names=self.tables.tool_names, task_names=self.tables.task_names, team=wf.team, n_teams=wf.n_teams,
                           present=wf.is_present.copy(), skill=wf.skill.copy(), rng=lambda name: named_rng(self.entropy, name),
                           held=self.held)
        for lever in self.levers:
            lever.setup(setup)
        self.week = 0  # weeks completed
        self.telemetry_weekly_active = 0.0
        self.counters = SimpleNamespace(leavers=0, leavers_top=0, hires=0, leavers_level=np.zeros(3, dtype=np.int64))
        self.recorder = Recorder(self.tables.task_names, self.weeks, {
            "positions": (n, np.maximum(self.level_initial, 1), None),
            "top_initial": (max(self.is_top_skill_initial, 1), None, None),
        })
        self.wk = WeekData(n, self.tables.n_tools, self.tables.n_tasks, wf.n_teams)
        self.passes = kernels.for_model(n)  # the compiled per-engineer passes: multi-threaded for larger organisations
        weakref.finalize(self, kernel_calls.forget_all)  # the passes remember this model's bundles for speed: let them go with it
        self.last_week: WeekData | None = None
        self.profile = profile
        self.phase_seconds = {p: 0.0 for p in self.PHASES}

        # Engineers become Mesa agents the first time anyone asks for them (model.agents, model.engineer):
        # batch runs never pay for building them.
        self._agent_of_slot: list[Engineer | None] | None = None
        self.datacollector = None
        if collect_mesa:
            self.datacollector = mesa.DataCollector(model_reporters={m: functools.partial(latest_metric, metric=m) for m in MESA_REPORTERS})

    @property
    def policy_state(self) -> PolicyChannels:
        """The policy's channels (the first edition's name)."""
        return self.channels

    # ------------------------------------------------------------------
    # Public helpers
    # ------------------------------------------------------------------

    def _materialise_engineers(self) -> list[Engineer | None]:
        """One Mesa agent per present engineer, created on first use and kept in step with departures and hires."""
        if self._agent_of_slot is None:
            slots = np.flatnonzero(self.workforce.is_present).tolist()
            self._agent_of_slot = [None] * self.workforce.n
            for agent in Engineer.create_agents(self, len(slots), slot=slots):
                self._agent_of_slot[agent.slot] = agent
        return self._agent_of_slot

    @property
    def agents(self):
        """All engineers as Mesa agents (an AgentSet)."""
        self._materialise_engineers()
        return super().agents

    @property
    def agents_by_type(self):
        self._materialise_engineers()
        return super().agents_by_type

    def engineer(self, slot: int) -> Engineer | None:
        """The engineer now in ``slot`` (None while it is vacant)."""
        return self._materialise_engineers()[slot]

    def run(self) -> "EngineeringOrg":
        """Run the whole horizon."""
        while self.week < self.weeks:
            self.step()
        return self

    def step(self) -> None:
        """One working week: the policy acts, engineers choose and work, perceive, report, trust, leadership reacts, people leave and join."""
        self.draws.next_week()
        self.wk.present[:] = self.workforce.is_present
        if self.profile:
            for name in self.PHASES:
                t0 = time.perf_counter()
                getattr(self, name)()
                self.phase_seconds[name] += time.perf_counter() - t0
        else:
            for name in self.PHASES:
                getattr(self, name)()
        self.last_week = self.wk
        self.week += 1

    # ------------------------------------------------------------------
    # The weekly story
    # ------------------------------------------------------------------

    def observe(self, *, after_work: bool) -> Observations:
        """What leadership can see now: who works here (and, after the week's work, telemetry, measured work and outcomes)."""
        wf, wk = self.workforce, self.wk
        if not after_work:
            return Observations(week=self.week, present=wf.is_present, skill=wf.skill, seniority=wf.seniority)
        work = WorkRecord(present=wk.present, choice=wk.choice, shadow=wk.shadow, multiplier=wk.multiplier, delivered=wk.delivered,
                          hours=wk.hours, escaped=wk.escaped)
        return Observations(week=self.week, present=wf.is_present, skill=wf.skill, seniority=wf.seniority, weekly_active=self.telemetry_weekly_active,
                            work=work, cycle_time=wk.cycle_time, escaped_total=wk.escaped_total)

    def policy_acts(self) -> None:
        """1. The levers write this week's permissions, pressure, norms, endorsements and training."""
        ch = self.channels
        ch.reset_week()
        if self.week >= self.spec.policy.start_week:
            obs = self.observe(after_work=False)
            for lever in self.levers:
                lever.act(obs, ch)
            self._hold_policy_fields(ch)
        self._ch = ch.bundle()  # this week's channels as the kernels read them
        kernels.close_permits(self._ch, self.workforce.is_present)

    def _hold_policy_fields(self, ch: PolicyChannels) -> None:
        """Fields of the week's channels whose channel is held go back to their blank (no-policy) values."""
        for name in self._held_fields:
            value = getattr(ch, name)
            if isinstance(value, np.ndarray):
                value.fill(0)
            else:
                setattr(ch, name, _BLANK[name])

    def engineers_choose(self) -> None:
        """2. Each engineer picks, per task type, no AI, an approved tool, or an unapproved one (shadow), and may make a token use."""
        wf, wk = self.workforce, self.wk
        N, T, K = wf.belief.shape
        self.passes.team_mean(wf.habit.reshape(N, T * K), wk.present, wf.team_starts, wk.peer)
        wk.engaged_now[:, 0] = wf.engaged
        self.passes.team_mean(wk.engaged_now, wk.present, wf.team_starts, wk.team_engaged)
        self.passes.choose_tools(wf.bundle(), wk.bundle, self._ch, self.draws.bundle, self.params.choice)

    def do_work(self) -> None:
        """3. Work: task time from baseline, the tool's true effect for this engineer, proficiency and verification; defects escape and return as rework."""
        wk, pa, q, w = self.wk, self.params, self.behaviour.quality, self.behaviour.work
        # Tools get better at code engineers know well with calendar time.
        wk.handicap[0] = rules.context_handicap(self.spec.organisation.year + self.week / rules.WEEKS_PER_YEAR - w.calibration_year, w.context_improvement)
        self.passes.do_work(self.workforce.bundle(), wk.bundle, self._ch, self.org, pa.work, pa.quality, pa.learning, pa.perception)
        # Cycle time: touch time at this week's pace of task work, plus a review wait that grows with the verification load.
        wait = rules.review_wait(q.review_wait_days, q.review_load_wait, wk.verify_hours.sum() / max(wk.capacity.sum(), 1e-9))
        wk.cycle_time_task[:] = rules.cycle_time_days(wk.touch.sum(axis=0), max(int(wk.present.sum()), 1), wait)
        wk.cycle_time = float(rules.weighted_cycle_time(self.task_weights, wk.cycle_time_task))
        wk.escaped_total = float(wk.escaped.sum())

    def perceive_and_learn(self) -> None:
        """4. Engineers perceive their speed-up (biased, noisy), update beliefs and proficiency; fatigue and morale follow."""
        wf, wk, pa = self.workforce, self.wk, self.params
        N, T, K = wf.belief.shape
        self.passes.perceive(wf.bundle(), wk.bundle, self.draws.bundle, pa.perception)
        self.passes.team_mean(wf.belief.reshape(N, T * K), wk.present, wf.team_starts, wk.peer)
        self.passes.learn(wf.bundle(), wk.bundle, self._ch, self.draws.bundle, pa.perception, pa.learning, pa.work, pa.people)

    def report(self) -> None:
        """5. Telemetry counts approved use truly; self-reports are honest only where the team is safe enough."""
        wk = self.wk
        self.passes.report(self.workforce.bundle(), wk.bundle, self._ch, self.params.trust)
        self.telemetry_weekly_active = int(wk.reporting.sum()) / max(int(wk.present.sum()), 1)

    def teams_compare_notes(self) -> None:
        """5b. Teams compare the task times their honest members saw with each tool; beliefs move toward what was shared."""
        self.passes.team_retrospective(self.workforce.bundle(), self.wk.bundle, self.params.trust)

    def update_trust_and_safety(self) -> None:
        """6. Forced use, barred tools and ignored or punished pushback cost trust and safety; response and feedback safety restore them."""
        wf, ch, tr = self.workforce, self.channels, self.behaviour.trust
        self.passes.trust_and_voice(wf.bundle(), self.wk.bundle, self._ch, self.draws.bundle, self.params.trust)
        climate = float(rules.safety_climate(tr.initial_safety, ch.feedback_safety, ch.enforcement, tr.safety_from_feedback, tr.safety_from_enforcement))
        kernels.team_safety(wf.bundle(), self.wk.bundle, climate, self.params.trust)

    def leadership_reacts(self) -> None:
        """7. Leadership reacts per its levers: escalate under a usage target, back what works under outcome goals, decide after a pilot;
        engineers hear what it publishes."""
        if self.week < self.spec.policy.start_week:
            return
        obs = self.observe(after_work=True)
        for lever in self.levers:
            lever.react(obs, self.channels)
        if "leadership_reaction" in self.held:  # held: nothing is backed or advised against, nothing published
            self.channels.endorsement.fill(0.0)
            self.channels.publications.clear()
        for measured, mask in self.channels.publications:
            self.hear_published(measured, mask)

    def hear_published(self, measured: np.ndarray, mask: np.ndarray) -> None:
        """Engineers hear a published result [3,T,K]: beliefs move toward the result for their level; trust gains from transparency."""
        wf = self.workforce
        use = mask[wf.seniority] & wf.is_present[:, None, None]
        wf.belief[...] = np.where(use, rules.update_toward(wf.belief, measured[wf.seniority], self.behaviour.perception.publication_weight), wf.belief)
        wf.trust_leadership[wf.is_present] = rules.after_transparency(wf.trust_leadership[wf.is_present], self.params.trust.transparency_gain)

    def attrition_and_hiring(self) -> None:
        """8. Engineers leave with a hazard raised by low trust, fatigue and low morale (more for the skilled); replacements arrive after a delay."""
        wf, wk, c = self.workforce, self.wk, self.counters
        self.passes.leave(wf.bundle(), wk.bundle, self.draws.bundle, self.params.people, self.params.trust)
        leavers = np.flatnonzero(wk.leavers)
        c.leavers += leavers.size
        c.leavers_top += int((wf.skill[leavers] >= self.top_skill_threshold).sum())
        c.leavers_level += np.bincount(wf.seniority[leavers], minlength=3)
        wf.vacate(leavers, self.week, self.behaviour.people.hiring_delay_weeks)
        due = np.flatnonzero(wf.t_hire == self.week + 1)
        wf.fill(due, self.entropy, new_hire=True)
        c.hires += due.size
        if self._agent_of_slot is not None:
            for s in leavers:
                self._agent_of_slot[s].remove()
                self._agent_of_slot[s] = None
            for s in due:
                self._agent_of_slot[s] = Engineer(self, int(s))

    def record(self) -> None:
        """9. Record this week's outputs."""
        c, wk = self.counters, self.wk
        self.recorder.record(self._sum_week, {
            "leavers": (c.leavers, c.leavers_level, None),
            "leavers_top": (c.leavers_top, None, None),
            "hires": (c.hires, None, None),
            "cycle_time": (wk.cycle_time, None, wk.cycle_time_task),
        })
        if self.datacollector is not None:
            self.datacollector.collect(self)

    def _sum_week(self, sums: np.ndarray) -> None:
        """The week's engineer tallies, summed over engineers into ``sums`` (one compiled pass)."""
        self.passes.week_sums(self.workforce.bundle(), self.wk.bundle, self._ch, self.org, sums)

    # ------------------------------------------------------------------

    def results(self):
        """This run's outputs as a tidy DataFrame (week, metric, group, value)."""
        return self.recorder.frame()

    def profile_report(self) -> dict[str, float]:
        """Seconds spent per phase (run with profile=True)."""
        return dict(self.phase_seconds)


#: The scalar policy channels' no-policy values (a held climate).
_BLANK = {"feedback_safety": PolicyChannels.__dataclass_fields__["feedback_safety"].default,
          "enforcement": PolicyChannels.__dataclass_fields__["enforcement"].default}


def latest_metric(model: EngineeringOrg, metric: str) -> float:
    """A DataCollector reporter: one metric of the latest recorded week (Mesa calls a ``partial`` of it with the model)."""
    return model.recorder.latest(metric)
