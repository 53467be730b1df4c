"""The organisation model: a Mesa model whose step is one working week.

Engineers are Mesa agents (``model.agents``), each a thin view on one row of
the arrays in ``model.workforce``; the weekly story updates those arrays for
all engineers at once. ``EngineeringOrg.PHASES`` lists the story in order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from types import SimpleNamespace

import mesa
import numpy as np

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


@dataclass
class WeekData:
    """Scratch of the week being simulated, shared by the phases (and read by levers and the recorder)."""

    present: np.ndarray
    choice: np.ndarray = field(default=None)  # [N,K] 0: no AI, j: tool j-1
    shadow: np.ndarray = field(default=None)  # [N,K] used a tool not approved for it
    forced: np.ndarray = field(default=None)  # [N,K] used only because of pressure or norm
    token: np.ndarray = field(default=None)  # [N] made a token use
    multiplier: np.ndarray = field(default=None)  # [N,K] task time relative to no AI
    hidden: np.ndarray = field(default=None)  # [N,K] verification + overhead (share of baseline time)
    delivered: np.ndarray = field(default=None)  # [N,K] baseline hours of work delivered
    hours: np.ndarray = field(default=None)  # [N,K] focus hours spent per task type
    verify_hours: np.ndarray = field(default=None)  # [N] hours verifying generated output
    escaped: np.ndarray = field(default=None)  # [N,K] escaped defects
    capacity: np.ndarray = field(default=None)  # [N] focus hours after fatigue
    rework_hours: np.ndarray = field(default=None)  # [N]
    token_hours: np.ndarray = field(default=None)  # [N]
    felt_potential: np.ndarray = field(default=None)  # [N,T,K] saving one would feel using each tool (noise-free)
    cycle_time_task: np.ndarray = field(default=None)  # [K] days
    cycle_time: float = 0.0
    escaped_total: float = 0.0
    perceived: np.ndarray = field(default=None)  # [N,K]
    reported_gain: np.ndarray = field(default=None)  # [N]
    reporting: np.ndarray = field(default=None)  # [N] counted active by telemetry
    honest: np.ndarray = field(default=None)  # [N]
    voiced: np.ndarray = field(default=None)  # [N]
    leavers: np.ndarray = field(default=None)  # [N] bool
    hired: np.ndarray = field(default=None)  # slots hired this week


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
        self.hiring_rng = named_rng(self.entropy, "hiring")
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
        self.last_week: WeekData | None = None
        self.profile = profile
        self.phase_seconds = {p: 0.0 for p in self.PHASES}

        self._agent_of_slot: list[Engineer | None] = [None] * n
        for agent in Engineer.create_agents(self, n, slot=list(range(n))):
            self._agent_of_slot[agent.slot] = agent
        self.datacollector = None
        if collect_mesa:
            self.datacollector = mesa.DataCollector(
                model_reporters={m: _LatestMetric(m) for m in ("weekly_active_share", "ai_task_share", "throughput", "trust_leadership", "psych_safety", "fatigue", "headcount")}
            )

    # ------------------------------------------------------------------
    # Public helpers
    # ------------------------------------------------------------------

    def engineer(self, slot: int) -> Engineer | None:
        """The engineer now in ``slot`` (None while it is vacant)."""
        return self._agent_of_slot[slot]

    def run(self) -> "EngineeringOrg":
        """Run the whole horizon."""
        while self.week < self.weeks:
            self.step()
        return self

    def step(self) -> None:
        """One working week: the policy acts, engineers choose and work, perceive, report, trust, leadership reacts, people leave and join."""
        u, z = self.draws.next_week()
        self._u, self._z = u, z
        self.wk = WeekData(present=self.workforce.is_present.copy())
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
        st.permit &= self.workforce.is_present[:, None, None]
        st.in_programme = st.permit.any(axis=(1, 2))

    def engineers_choose(self) -> None:
        """2. Each engineer picks, per task type, no AI, an approved tool, or an unapproved one (shadow), and may make a token use."""
        wf, st, ch = self.workforce, self.policy_state, self.behaviour.choice
        wk = self.wk
        peer = wf.team_mean_present(wf.habit)
        base = rules.tool_utility(
            wf.belief, wf.affinity, wf.trust_ai, peer, wf.habit, wf.tried, st.endorsement[wf.seniority],
            benefit_weight=ch.benefit_weight, hurdle=ch.hurdle, trust_weight=ch.trust_weight,
            peer_weight=ch.peer_weight, habit_weight=ch.habit_weight, trial_barrier=ch.trial_barrier,
            endorsement_weight=ch.endorsement_weight,
        )
        push = ch.pressure_weight * st.pressure + ch.norm_weight * st.norm
        permit = st.permit
        u_free = np.where(permit, base, -np.inf)
        u_pushed = np.where(permit, base + push[:, None, None], -np.inf)
        draws = self._u["choice"].T
        choice = rules.choose(u_pushed, draws)
        unpushed = rules.choose(u_free, draws)
        # Shadow use: a tool left off the engineer's approved list, believed clearly better than every
        # approved option for the task, replaces the choice (task-scope limits on approved tools are obeyed).
        best_permitted = np.maximum(np.where(permit, wf.belief, -np.inf).max(axis=1), 0.0)
        barred = ~permit.any(axis=2)  # [N,T]
        barred_belief = np.where(barred[:, :, None], wf.belief, -np.inf)
        advantage = barred_belief.max(axis=1) - best_permitted  # [N,K]
        shadow_tool = barred_belief.argmax(axis=1)
        p_shadow = rules.shadow_probability(
            advantage, wf.affinity, st.enforcement,
            benefit_weight=ch.benefit_weight, shadow_gap=ch.shadow_gap, shadow_penalty=ch.shadow_penalty,
        ) * st.in_programme[:, None]
        shadow = self._u["shadow"].T < p_shadow
        choice = np.where(shadow, shadow_tool + 1, choice)
        choice[~wk.present] = 0
        is_ai = choice > 0
        wk.choice = choice
        wk.shadow = shadow & wk.present[:, None]
        wk.forced = is_ai & ~wk.shadow & (unpushed == 0)
        real_approved_use = (is_ai & ~wk.shadow).any(axis=1)
        p_token = rules.token_probability(st.pressure, ch.token_propensity)
        wk.token = wk.present & st.in_programme & ~real_approved_use & (self._u["token"][0] < p_token)

    def do_work(self) -> None:
        """3. Work: task time from baseline, the tool's true effect for this engineer, proficiency and verification; defects escape and return as rework."""
        wf, tb, bh, st, wk = self.workforce, self.tables, self.behaviour, self.policy_state, self.wk
        w, q = bh.work, bh.quality
        fam = rules.familiarity(wf.tenure_weeks, bh.learning.familiarity_years)
        mast = rules.mastery(wf.skill, fam, tb.context, w.greenfield_mastery)
        gain, verify, overhead = rules.time_components(
            tb.time_saving, tb.verification, tb.codable, mast, wf.proficiency,
            expert_discount=w.expert_discount, novice_realisation=w.novice_realisation,
            expert_scrutiny=w.expert_scrutiny, proficiency_verification_saving=w.proficiency_verification_saving,
            learning_overhead=w.learning_overhead, extra_verification=w.generate_verification * st.norm,
        )
        is_ai = wk.choice > 0
        tool = np.maximum(wk.choice - 1, 0)[:, None, :]

        def chosen(a: np.ndarray) -> np.ndarray:
            return np.where(is_ai, np.take_along_axis(a, tool, axis=1)[:, 0, :], 0.0)

        g, v, o = chosen(gain), chosen(verify), chosen(overhead)
        wk.felt_potential = rules.felt_saving(
            1.0 - rules.time_multiplier(gain, verify, overhead), verify + overhead,
            effort_discount=bh.perception.effort_discount, optimism=bh.perception.optimism,
        )
        m = np.where(is_ai, rules.time_multiplier(g, v, o), 1.0)
        speed = rules.work_speed(wf.skill, w.speed_min, w.speed_skill)
        capacity = rules.available_hours(w.focus_hours, wf.fatigue, w.fatigue_drag) * wk.present
        rework = rules.rework_due(wf.rework_pending, q.rework_due, capacity)
        wf.rework_pending -= rework
        token_hours = wk.token * w.token_use_hours
        task_time = np.maximum(capacity - rework - token_hours - st.training_hours, 0.0)
        hours = task_time[:, None] * wf.task_mix
        delivered = speed[:, None] * hours / m
        verify_hours = (hours * v / m).sum(axis=1)
        dchange = chosen(np.broadcast_to(tb.defect_change[None, :, :], gain.shape))
        created = rules.defects_introduced(delivered, tb.defect_rate, wf.skill, q.skill_defect_reduction, dchange)
        caught = rules.catch_rate(wf.skill, wf.fatigue, q.catch_base, q.catch_skill, q.catch_fatigue)
        escaped = created * (1.0 - caught)[:, None] * wk.present[:, None]
        wf.rework_pending += escaped.sum(axis=1) * q.fix_hours
        # Cycle time: touch time at this week's pace of task work, plus the review wait.
        org_verification = verify_hours.sum() / max(capacity.sum(), 1e-9)
        wait = q.review_wait_days * (1.0 + q.review_load_wait * org_verification)
        daily = np.maximum(task_time, 1.0) / rules.WORKDAYS_PER_WEEK
        elapsed = tb.task_hours[None, :] * m / speed[:, None] / daily[:, None] + wait
        n_present = max(int(wk.present.sum()), 1)
        wk.cycle_time_task = (elapsed * wk.present[:, None]).sum(axis=0) / n_present
        wk.cycle_time = float(self.task_weights @ wk.cycle_time_task)
        wk.multiplier, wk.hidden, wk.delivered, wk.hours = m, v + o, delivered, hours
        wk.verify_hours, wk.escaped, wk.capacity = verify_hours, escaped, capacity
        wk.rework_hours, wk.token_hours = rework, token_hours
        wk.escaped_total = float(escaped.sum())

    def perceive_and_learn(self) -> None:
        """4. Engineers perceive their speed-up (biased, noisy), update beliefs and proficiency; fatigue and morale follow."""
        wf, bh, st, wk = self.workforce, self.behaviour, self.policy_state, self.wk
        pr, lp, pe = bh.perception, bh.learning, bh.people
        is_ai = wk.choice > 0
        tool = np.maximum(wk.choice - 1, 0)[:, None, :]
        b_used = np.take_along_axis(wf.belief, tool, axis=1)[:, 0, :]
        perceived = rules.perceived_saving(
            1.0 - wk.multiplier, wk.hidden, b_used, self._z["perception"].T,
            effort_discount=pr.effort_discount, optimism=pr.optimism, anchoring=pr.anchoring, noise_sd=pr.noise_sd,
        )
        perceived = np.where(is_ai, perceived, 0.0)
        wk.perceived = perceived
        # Tools not used at work this week: beliefs drift toward what one would feel using them (word of mouth).
        T = self.tables.n_tools
        onehot = wk.choice[:, None, :] == (np.arange(T) + 1)[None, :, None]  # [N,T,K]
        wf.belief[...] = np.where(onehot, wf.belief, rules.update_toward(wf.belief, wk.felt_potential, pr.outside_word))
        updated = np.where(is_ai, rules.update_toward(b_used, perceived, pr.belief_update), b_used)
        np.put_along_axis(wf.belief, tool, updated[:, None, :], axis=1)
        peers = wf.team_mean_present(wf.belief)
        present3 = wk.present[:, None, None]
        wf.belief[...] = np.where(present3, rules.update_toward(wf.belief, peers, pr.peer_influence), wf.belief)

        # Proficiency: the learning curve on tools used, token uses teach a little, training on approved tools.
        mix = wf.task_mix
        intensity = (onehot * mix[:, None, :]).sum(axis=2)
        approved_tool = st.permit.any(axis=2)  # [N,T]
        intensity = intensity + lp.token_learning * wk.token[:, None] * approved_tool / max(T, 1)
        prof = rules.learn_proficiency(wf.proficiency, intensity, lp.learning_rate, lp.forgetting)
        prof = np.where(approved_tool, rules.trained_proficiency(prof, st.training_hours[:, None], lp.training_effect), prof)
        wf.proficiency[...] = np.where(wk.present[:, None], prof, wf.proficiency)

        ai_share = (mix * is_ai).sum(axis=1)
        felt = (mix * perceived).sum(axis=1)  # share of one's time saved, as felt
        felt_mean = felt / np.maximum(ai_share, 1e-12)
        users = wk.present & (ai_share > 0)
        wf.trust_ai[users] = rules.update_toward(wf.trust_ai[users], rules.trust_ai_target(felt_mean[users]), pr.trust_ai_rate)
        wf.habit[...] = onehot
        wf.tried |= onehot
        approved_use = is_ai & ~wk.shadow
        wf.ever_used |= wk.present & (approved_use.any(axis=1) | wk.token)

        review = wk.verify_hours + wk.token_hours
        fat = rules.update_toward(wf.fatigue, rules.fatigue_target(review, bh.work.focus_hours, pe.fatigue_saturation), pe.fatigue_rate)
        forced_share = (mix * wk.forced).sum(axis=1)
        norm_loss = pe.morale_norm * st.norm * wf.skill
        target = rules.morale_target(
            pe.initial_morale, fat, forced_share, norm_loss, felt,
            morale_fatigue=pe.morale_fatigue, morale_forced=pe.morale_forced, morale_gain=pe.morale_gain,
        )
        mor = rules.update_toward(wf.morale, target, pe.morale_rate)
        wf.fatigue[wk.present] = fat[wk.present]
        wf.morale[wk.present] = mor[wk.present]

    def report(self) -> None:
        """5. Telemetry counts approved use truly; self-reports are honest only where the team is safe enough."""
        wf, st, wk = self.workforce, self.policy_state, self.wk
        mix = wf.task_mix
        approved_use = (wk.choice > 0) & ~wk.shadow
        wk.reporting = wk.present & (approved_use.any(axis=1) | wk.token)
        n_present = max(int(wk.present.sum()), 1)
        self.telemetry_weekly_active = wk.reporting.sum() / n_present
        wk.honest = rules.is_honest(wf.safety[wf.team], wf.honesty_threshold)
        ai_share = (mix * approved_use).sum(axis=1)
        felt = (mix * wk.perceived * approved_use).sum(axis=1) / np.maximum(ai_share, 1e-12)
        honest_gain = rules.implied_gain(ai_share, felt)
        wk.reported_gain = rules.slanted_report(honest_gain, wk.honest, st.stake, self.behaviour.trust.wanted_gain)

    def update_trust_and_safety(self) -> None:
        """6. Forced use, barred tools and ignored or punished pushback cost trust and safety; response and feedback safety restore them."""
        wf, st, wk, tr = self.workforce, self.policy_state, self.wk, self.behaviour.trust
        mix = wf.task_mix
        best_all = np.maximum(wf.belief.max(axis=1), 0.0)
        best_permitted = np.maximum(np.where(st.permit, wf.belief, -np.inf).max(axis=1), 0.0)
        gap = (mix * (best_all - best_permitted)).sum(axis=1) * st.in_programme
        forced_share = (mix * wk.forced).sum(axis=1)
        dissatisfied = wk.present & (gap + forced_share > tr.voice_gap)
        team_safety = wf.safety[wf.team]
        p_voice = rules.voice_probability(team_safety, tr.voice_threshold, tr.voice_slope, tr.voice_rate)
        wk.voiced = dissatisfied & (self._u["voice"][0] < p_voice)
        fs = st.feedback_safety
        trust = rules.trust_leadership_change(
            wf.trust_leadership, tr.initial_trust_leadership, forced_share, gap, wk.voiced, fs,
            drift=tr.trust_drift, forced_cost=tr.forced_cost, restriction_cost=tr.restriction_cost,
            ignored_cost=tr.ignored_cost, response_gain=tr.response_gain,
        )
        wf.trust_leadership[wk.present] = trust[wk.present]
        punished = wk.voiced * st.enforcement * (1.0 - fs)
        team_present = np.maximum(wf.team_sum(wk.present.astype(float)), 1.0)
        punished_share = wf.team_sum(punished) / team_present
        climate = rules.safety_climate(tr.initial_safety, fs, st.enforcement, tr.safety_from_feedback, tr.safety_from_enforcement)
        wf.safety[...] = rules.safety_change(wf.safety, climate, punished_share, tr.safety_rate, tr.punishment_cost)

    def leadership_reacts(self) -> None:
        """7. Leadership reacts per its levers: escalate under a usage target, back what works under outcome goals, decide after a pilot."""
        if self.week >= self.spec.policy.start_week:
            for lever in self.levers:
                lever.react(self, self.week, self.policy_state)

    def attrition_and_hiring(self) -> None:
        """8. Engineers leave with a hazard raised by low trust, fatigue and low morale (more for the skilled); replacements arrive after a delay."""
        wf, pe, wk = self.workforce, self.behaviour.people, self.wk
        wf.tenure_weeks[wk.present] += 1.0
        p_leave = rules.leave_probability(
            wf.trust_leadership, wf.fatigue, wf.morale, wf.skill,
            annual_attrition=pe.annual_attrition, initial_trust=self.behaviour.trust.initial_trust_leadership,
            initial_morale=pe.initial_morale, attrition_trust=pe.attrition_trust, attrition_fatigue=pe.attrition_fatigue,
            attrition_morale=pe.attrition_morale, attrition_skill=pe.attrition_skill,
        )
        leave = wk.present & (self._u["leave"][0] < p_leave)
        leavers = np.flatnonzero(leave)
        c = self.counters
        c.leavers += leavers.size
        c.leavers_top += int((wf.skill[leavers] >= self.top_skill_threshold).sum())
        c.leavers_level += np.bincount(wf.seniority[leavers], minlength=3)
        wf.vacate(leavers, self.week, pe.hiring_delay_weeks)
        for s in leavers:
            agent = self._agent_of_slot[s]
            if agent is not None:
                agent.remove()
                self._agent_of_slot[s] = None
        due = np.flatnonzero(~wf.is_present & (wf.t_hire == self.week + 1))
        wf.fill(due, self.hiring_rng, new_hire=True)
        c.hires += due.size
        for s in due:
            self._agent_of_slot[s] = Engineer(self, int(s))
        wk.leavers, wk.hired = leave, due

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
