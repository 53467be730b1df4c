"""The organisation model: a Mesa model whose step is one working week.

Engineers are Mesa agents (``model.agents``), each a thin view on one row of
the arrays in ``model.workforce``; the weekly story updates those arrays for
all engineers at once. ``EngineeringOrg.PHASES`` lists the story in order.
"""

from __future__ import annotations

import time
from types import SimpleNamespace

import mesa
import numpy as np

from . import kernels
from . import rules
from .levers import PolicyState, build_levers
from .metrics import Recorder
from .params import SENIORITY_LEVELS, Scenario
from .streams import WeeklyDraws, named_rng
from .workforce import OrgTables, Workforce


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


class WeekData:
    """Scratch of the week being simulated, shared by the phases (and read by levers and the recorder); allocated once per model."""

    def __init__(self, n: int, n_tools: int, n_tasks: int, n_teams: int):
        N, T, K = n, n_tools, n_tasks
        self.present = np.zeros(N, dtype=bool)
        self.choice = np.zeros((N, K), dtype=np.int64)  # 0: no AI, j: tool j-1
        self.shadow = np.zeros((N, K), dtype=bool)  # used a tool not approved for the engineer
        self.forced = np.zeros((N, K), dtype=bool)  # used only because of pressure or the norm
        self.token = np.zeros(N, dtype=bool)  # made a token use
        self.multiplier = np.ones((N, K))  # task time relative to no AI
        self.hidden = np.zeros((N, K))  # verification + overhead (share of baseline time)
        self.felt_potential = np.zeros((N, T, K))  # saving one would feel using each tool (noise-free)
        self.delivered = np.zeros((N, K))  # baseline hours of work delivered
        self.hours = np.zeros((N, K))  # focus hours spent per task type
        self.escaped = np.zeros((N, K))  # escaped defects
        self.verify_hours = np.zeros(N)  # hours verifying generated output
        self.capacity = np.zeros(N)  # focus hours after fatigue
        self.rework_hours = np.zeros(N)
        self.token_hours = np.zeros(N)
        self.touch = np.zeros((N, K))  # a task's touch time in days at this week's pace
        self.cycle_time_task = np.zeros(K)  # days
        self.cycle_time = 0.0
        self.escaped_total = 0.0
        self.perceived = np.zeros((N, K))
        self.peer = np.zeros((n_teams, T * K))  # team means (habit, then beliefs)
        self.reported_gain = np.zeros(N)
        self.reporting = np.zeros(N, dtype=bool)  # counted active by telemetry
        self.honest = np.zeros(N, dtype=bool)
        self.voiced = np.zeros(N, dtype=bool)
        self.punished = np.zeros(N)
        self.leavers = np.zeros(N, dtype=bool)
        self.hired = np.zeros(0, dtype=np.int64)  # slots hired this week


class EngineeringOrg(mesa.Model):
    """An engineering organisation adopting AI coding tools under a policy, one step per week."""

    PHASES = (
        "policy_acts",
        "engineers_choose",
        "do_work",
        "perceive_and_learn",
        "report",
        "update_trust_and_safety",
        "leadership_reacts",
        "attrition_and_hiring",
        "record",
    )

    def __init__(self, scenario: Scenario | None = None, *, seed: int = 0, collect_mesa: bool = False, profile: bool = False):
        super().__init__(rng=int(seed))
        self.spec = scenario if scenario is not None else Scenario()
        sc = self.spec
        self.behaviour = sc.behaviour
        self.weeks = sc.weeks
        self.tables = OrgTables.from_organisation(sc.organisation)
        n = sc.organisation.size
        # All streams derive from the model's seeded generator.
        self.entropy = int(self.rng.integers(2**63))
        self.workforce = Workforce(n, sc.organisation.team_size, self.tables, self.behaviour)
        wf = self.workforce
        wf.fill(np.arange(n), named_rng(self.entropy, "init/engineers"), new_hire=False)
        wf.safety[:] = self.behaviour.trust.initial_safety
        self.draws = WeeklyDraws(self.entropy, n, self.tables.n_tasks)
        self.top_skill_threshold = float(np.quantile(wf.skill, 0.8))
        self.is_top_skill_initial = int((wf.skill >= self.top_skill_threshold).sum())
        self.level_initial = np.bincount(wf.seniority, minlength=3)
        # Baseline task-count weights per task type (for the organisation's cycle time).
        tasks0 = (wf.task_mix / self.tables.task_hours[None, :]).sum(axis=0)
        self.task_weights = tasks0 / tasks0.sum()

        self.policy_state = PolicyState.blank(n, self.tables.n_tools, self.tables.n_tasks)
        self.levers = build_levers(sc.policy, sc.approved_tools())
        for lever in self.levers:
            lever.setup(self)
        self.week = 0  # weeks completed
        self.telemetry_weekly_active = 0.0
        self.counters = SimpleNamespace(leavers=0, leavers_top=0, hires=0, leavers_level=np.zeros(3, dtype=np.int64))
        self.recorder = Recorder(self)
        self.wk = WeekData(n, self.tables.n_tools, self.tables.n_tasks, wf.n_teams)
        self.passes = kernels.for_model(n)  # the compiled per-engineer passes: multi-threaded for larger organisations
        self.last_week: WeekData | None = None
        self.profile = profile
        self.phase_seconds = {p: 0.0 for p in self.PHASES}

        # Engineers become Mesa agents the first time anyone asks for them (model.agents, model.engineer):
        # batch runs never pay for building them.
        self._agent_of_slot: list[Engineer | None] | None = None
        self.datacollector = None
        if collect_mesa:
            self.datacollector = mesa.DataCollector(
                model_reporters={m: _LatestMetric(m) for m in ("weekly_active_share", "ai_task_share", "throughput", "trust_leadership", "psych_safety", "fatigue", "headcount")}
            )

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
        u, z = self.draws.next_week()
        self._u, self._z = u, z
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

    def policy_acts(self) -> None:
        """1. The levers write this week's permissions, pressure, norms, endorsements and training."""
        st = self.policy_state
        st.reset_week()
        if self.week >= self.spec.policy.start_week:
            for lever in self.levers:
                lever.act(self, self.week, st)
        kernels.close_permits(st.permit, self.workforce.is_present, st.in_programme, st.approved_tool)

    def engineers_choose(self) -> None:
        """2. Each engineer picks, per task type, no AI, an approved tool, or an unapproved one (shadow), and may make a token use."""
        wf, st, ch, wk = self.workforce, self.policy_state, self.behaviour.choice, self.wk
        N, T, K = wf.belief.shape
        self.passes.team_mean(wf.habit.reshape(N, T * K), wk.present, wf.team_starts, wk.peer)
        self.passes.choose_tools(
            wf.belief, wf.affinity, wf.trust_ai, wk.peer, wf.team, wf.habit, wf.tried, st.endorsement, wf.seniority,
            st.permit, st.pressure, st.norm, st.in_programme, st.enforcement,
            self._u["choice"], self._u["shadow"], self._u["token"][0], wk.present,
            ch.benefit_weight, ch.hurdle, ch.trust_weight, ch.peer_weight, ch.habit_weight, ch.trial_barrier, ch.endorsement_weight,
            ch.pressure_weight, ch.norm_weight, ch.shadow_gap, ch.shadow_penalty, ch.token_propensity,
            wk.choice, wk.shadow, wk.forced, wk.token,
        )

    def do_work(self) -> None:
        """3. Work: task time from baseline, the tool's true effect for this engineer, proficiency and verification; defects escape and return as rework."""
        wf, tb, bh, st, wk = self.workforce, self.tables, self.behaviour, self.policy_state, self.wk
        w, q, pr = bh.work, bh.quality, bh.perception
        self.passes.do_work(
            wk.choice, st.norm, wk.token, st.training_hours, wk.present, wf.tenure_weeks, wf.skill, wf.proficiency, wf.fatigue,
            wf.task_mix, wf.rework_pending,
            tb.time_saving, tb.verification, tb.defect_change, tb.codable, tb.context, tb.task_hours, tb.defect_rate,
            bh.learning.familiarity_years, w.greenfield_mastery, w.expert_discount, w.novice_realisation, w.expert_scrutiny,
            w.proficiency_verification_saving, w.learning_overhead, w.generate_verification, w.speed_min, w.speed_skill,
            w.focus_hours, w.fatigue_drag, w.token_use_hours, q.rework_due, q.fix_hours, q.skill_defect_reduction,
            q.catch_base, q.catch_skill, q.catch_fatigue, pr.effort_discount, pr.optimism,
            wk.multiplier, wk.hidden, wk.felt_potential, wk.delivered, wk.hours, wk.escaped, wk.verify_hours, wk.capacity,
            wk.rework_hours, wk.token_hours, wk.touch,
        )
        # Cycle time: touch time at this week's pace of task work, plus a review wait that grows with the verification load.
        org_verification = wk.verify_hours.sum() / max(wk.capacity.sum(), 1e-9)
        wait = q.review_wait_days * (1.0 + q.review_load_wait * org_verification)
        n_present = max(int(wk.present.sum()), 1)
        wk.cycle_time_task[:] = wk.touch.sum(axis=0) / n_present + wait
        wk.cycle_time = float(self.task_weights @ wk.cycle_time_task)
        wk.escaped_total = float(wk.escaped.sum())

    def perceive_and_learn(self) -> None:
        """4. Engineers perceive their speed-up (biased, noisy), update beliefs and proficiency; fatigue and morale follow."""
        wf, bh, st, wk = self.workforce, self.behaviour, self.policy_state, self.wk
        pr, lp, pe = bh.perception, bh.learning, bh.people
        N, T, K = wf.belief.shape
        self.passes.perceive(wk.choice, wk.multiplier, wk.hidden, wk.felt_potential, self._z["perception"], wk.present, wf.belief,
                         pr.outside_word, pr.belief_update, pr.effort_discount, pr.optimism, pr.anchoring, pr.noise_sd, wk.perceived)
        self.passes.team_mean(wf.belief.reshape(N, T * K), wk.present, wf.team_starts, wk.peer)
        self.passes.learn(
            wk.choice, wk.shadow, wk.forced, wk.token, st.norm, wk.present, wf.task_mix, wk.perceived, st.approved_tool,
            st.training_hours, wk.verify_hours, wk.token_hours, wf.skill,
            wk.peer, wf.team, wf.belief, wf.proficiency, wf.trust_ai, wf.habit, wf.tried, wf.ever_used, wf.fatigue, wf.morale,
            pr.peer_influence, lp.learning_rate, lp.forgetting, lp.token_learning, lp.training_effect, pr.trust_ai_rate,
            bh.work.focus_hours, pe.fatigue_saturation, pe.fatigue_rate, pe.initial_morale, pe.morale_fatigue, pe.morale_forced,
            pe.morale_norm, pe.morale_gain, pe.morale_rate,
        )

    def report(self) -> None:
        """5. Telemetry counts approved use truly; self-reports are honest only where the team is safe enough."""
        wf, st, wk = self.workforce, self.policy_state, self.wk
        self.passes.report(wk.choice, wk.shadow, wk.perceived, wk.token, wk.present, wf.task_mix, wf.safety, wf.team,
                                  wf.honesty_threshold, st.stake, self.behaviour.trust.wanted_gain, wk.reporting, wk.honest, wk.reported_gain)
        self.telemetry_weekly_active = int(wk.reporting.sum()) / max(int(wk.present.sum()), 1)

    def update_trust_and_safety(self) -> None:
        """6. Forced use, barred tools and ignored or punished pushback cost trust and safety; response and feedback safety restore them."""
        wf, st, wk, tr = self.workforce, self.policy_state, self.wk, self.behaviour.trust
        fs = st.feedback_safety
        self.passes.trust_and_voice(
            wf.belief, st.permit, st.in_programme, wk.forced, wf.task_mix, wk.present, wf.team, wf.safety, self._u["voice"][0],
            st.enforcement, fs, tr.initial_trust_leadership, tr.voice_gap, tr.voice_threshold, tr.voice_slope, tr.voice_rate,
            tr.trust_drift, tr.forced_cost, tr.restriction_cost, tr.ignored_cost, tr.response_gain,
            wf.trust_leadership, wk.voiced, wk.punished,
        )
        climate = float(rules.safety_climate(tr.initial_safety, fs, st.enforcement, tr.safety_from_feedback, tr.safety_from_enforcement))
        kernels.team_safety(wf.safety, wk.punished, wk.present, wf.team_starts, climate, tr.safety_rate, tr.punishment_cost)

    def leadership_reacts(self) -> None:
        """7. Leadership reacts per its levers: escalate under a usage target, back what works under outcome goals, decide after a pilot."""
        if self.week >= self.spec.policy.start_week:
            for lever in self.levers:
                lever.react(self, self.week, self.policy_state)

    def attrition_and_hiring(self) -> None:
        """8. Engineers leave with a hazard raised by low trust, fatigue and low morale (more for the skilled); replacements arrive after a delay."""
        wf, pe, wk, c = self.workforce, self.behaviour.people, self.wk, self.counters
        self.passes.leave(
            wk.present, self._u["leave"][0], wf.trust_leadership, wf.fatigue, wf.morale, wf.skill, wf.tenure_weeks,
            pe.annual_attrition, self.behaviour.trust.initial_trust_leadership, pe.initial_morale,
            pe.attrition_trust, pe.attrition_fatigue, pe.attrition_morale, pe.attrition_skill, wk.leavers,
        )
        leavers = np.flatnonzero(wk.leavers)
        c.leavers += leavers.size
        c.leavers_top += int((wf.skill[leavers] >= self.top_skill_threshold).sum())
        c.leavers_level += np.bincount(wf.seniority[leavers], minlength=3)
        wf.vacate(leavers, self.week, pe.hiring_delay_weeks)
        due = np.flatnonzero(wf.t_hire == self.week + 1)
        wf.fill(due, self.entropy, new_hire=True)
        c.hires += due.size
        wk.hired = due
        if self._agent_of_slot is not None:
            for s in leavers:
                self._agent_of_slot[s].remove()
                self._agent_of_slot[s] = None
            for s in due:
                self._agent_of_slot[s] = Engineer(self, int(s))

    def record(self) -> None:
        """9. Record this week's outputs."""
        self.recorder.record(self)
        if self.datacollector is not None:
            self.datacollector.collect(self)

    # ------------------------------------------------------------------

    def results(self):
        """This run's outputs as a tidy DataFrame (week, metric, group, value)."""
        return self.recorder.frame()

    def profile_report(self) -> dict[str, float]:
        """Seconds spent per phase (run with profile=True)."""
        return dict(self.phase_seconds)


class _LatestMetric:
    """A DataCollector reporter for one metric of the latest recorded week."""

    def __init__(self, metric: str):
        self.metric = metric

    def __call__(self, model: EngineeringOrg) -> float:
        return model.recorder.latest(self.metric)
