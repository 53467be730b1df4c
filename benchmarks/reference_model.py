"""The reference: the weekly story of mandate-sim stepped agent by agent, the idiomatic Mesa way.

This is what a Mesa user would write without the project's arrays and kernels:
a ``mesa.Model`` whose engineers are ``mesa.Agent``s holding their own state as
plain Python attributes (floats, small lists), stepped one engineer at a time in
plain Python with ``model.agents.shuffle_do(...)``. Every behavioural rule is the
function of ``sim/model/rules.py`` called with Python floats, so the rules are literally
the same as the model's (sim/model/kernels.py compiles those very functions).

Shared with the real model, organisation-level, so that both draw the same random
numbers and the outputs can be compared exactly:

* the parameters (``sim.model.params`` via ``load_scenario``) and the
  organisation's tables (``sim.model.workforce.OrgTables``);
* the policy levers (``sim.model.levers``) and leadership's reactions: they see
  observations gathered from the engineers (slot order) and the engineers read
  what they are told by their slot; results leadership publishes are heard by
  each engineer through the same rules;
* the weekly random draws (``sim.model.streams.WeeklyDraws``), read per engineer by slot;
* the hiring office (``sim.model.workforce.Workforce.fill``) that draws each new
  engineer's starting state, and the recorder (``sim.model.metrics.Recorder``) fed
  with arrays gathered from the engineers.

Team aggregates (peer habits and beliefs, team safety) are computed between the
agent passes from the members in slot order. Updates are synchronous: within a
pass an engineer reads only its own state and aggregates computed before the
pass, so the shuffle order (the Mesa rng) never changes a result.

    from benchmarks.reference_model import ReferenceOrg
    ReferenceOrg(load_scenario("mandate_single_tool", engineers=1000), seed=1).run().results()
"""

from __future__ import annotations

import math
from functools import cached_property
from types import SimpleNamespace

import mesa
import numpy as np

from sim.model import bundles, kernels
from sim.model import rules as R
from sim.model.levers import LeverSetup, Observations, PolicyChannels, WorkRecord, build_levers
from sim.model.metrics import Recorder
from sim.model.params import Scenario
from sim.model.streams import WeeklyDraws, named_rng
from sim.model.week import WeekScratch
from sim.model.workforce import EngineerState, OrgTables, Workforce


class Engineer(mesa.Agent):
    """One engineer, holding its own state as Python attributes; its methods are the engineer-level steps of the weekly story."""

    def __init__(self, model: "ReferenceOrg", slot: int):
        super().__init__(model)
        hr = model.hiring  # the hiring office's record of the person who takes this slot
        s = int(slot)
        self.slot = s
        self.team = int(hr.team[s])
        self.level = int(hr.seniority[s])
        self.skill = float(hr.skill[s])
        self.tenure_weeks = float(hr.tenure_weeks[s])
        self.task_mix = hr.task_mix[s].tolist()  # [K] share of baseline hours
        self.proficiency = hr.proficiency[s].tolist()  # [T]
        self.belief = hr.belief[s].tolist()  # [T][K] believed time saving
        self.trust_ai = float(hr.trust_ai[s])
        self.trust_leadership = float(hr.trust_leadership[s])
        self.fatigue = float(hr.fatigue[s])
        self.morale = float(hr.morale[s])
        self.honesty_threshold = float(hr.honesty_threshold[s])
        self.affinity = float(hr.affinity[s])
        self.tool_fit = hr.tool_fit[s].tolist()  # [T]
        self.tool_taste = hr.tool_taste[s].tolist()  # [T]
        self.weeks_used = hr.weeks_used[s].tolist()  # [T]
        self.habit = hr.habit[s].tolist()  # [T][K] 1.0 where used last week
        self.tried = hr.tried[s].tolist()  # [T][K]
        self.ever_used = bool(hr.ever_used[s])
        self.engaged = bool(hr.engaged[s])  # AI is part of this engineer's way of working
        self.ever_engaged = bool(hr.ever_engaged[s])
        self.weeks_with_ai = float(hr.weeks_with_ai[s])
        self.expectation = float(hr.expectation[s])
        self.experience = float(hr.experience[s])
        self.rework_pending = float(hr.rework_pending[s])  # hours
        self.departed = False
        self._blank_week()

    def _blank_week(self) -> None:
        """This week's scratch, as for an engineer who did not work (a vacancy in the real model)."""
        T, K = self.model.T, self.model.K
        self.choice = [0] * K
        self.shadow = [False] * K
        self.forced = [False] * K
        self.token = False
        self.multiplier = [1.0] * K
        self.hidden = [0.0] * K
        self.felt_potential = [[0.0] * K for _ in range(T)]
        self.delivered = [0.0] * K
        self.hours = [0.0] * K
        self.escaped = [0.0] * K
        self.touch_days = [0.0] * K
        self.perceived = [0.0] * K
        self.verify_hours = self.capacity = self.rework_hours = self.token_hours = 0.0
        self.reporting = self.honest = self.voiced = self.leaving = False
        self.reported_gain = self.punished = 0.0

    # -- the passes Mesa schedules (one engineer at a time, shuffled) ----------

    def choose_work_perceive(self) -> None:
        """Steps 2-4a: choose tools per task type, do the week's work, perceive the speed-up."""
        self.choose()
        self.work()
        self.perceive()

    def learn_and_report(self) -> None:
        """Steps 4b-5: learn (peers pull beliefs), report to leadership."""
        self.learn()
        self.report()

    # -- 2. choice ---------------------------------------------------------------

    def choose(self) -> None:
        """Per task type: no AI, an approved tool (logit, with and without pressure) or a barred one (shadow); maybe a token use."""
        m = self.model
        ch, told, i = m.behaviour.choice, m.told, self.slot
        T, K = m.T, m.K
        permit = told.permit[i]
        pressure = told.pressure[i]
        in_programme = told.in_programme[i]
        endorse = told.endorsement[self.level]
        peer = m.peer[self.team]
        belief = self.belief
        safe = 1.0 if R.is_honest(m.safety[self.team], self.honesty_threshold) else 0.0
        push = R.felt_pressure(R.pressure_utility(pressure, 1.0 if told.norm[i] else 0.0, ch.pressure_weight, ch.norm_weight), safe, ch.safe_decline)
        w_pressure = float(R.choice_weight(push))
        barred = [not any(permit[j]) for j in range(T)]
        self.engage_or_give_up()
        barrier = 0.0 if self.engaged else ch.engagement_barrier
        real_use = False
        self.token = False
        for k in range(K):
            best_permitted = 0.0
            w_free = [0.0] * T
            w_push = [0.0] * T
            v = [0.0] * T
            permit_k = [bool(permit[j][k]) for j in range(T)]
            peer_ai = 0.0  # the team's use of AI (any tool) on this task type last week
            for j in range(T):
                peer_ai += peer[j][k]
            for j in range(T):
                if permit[j][k]:
                    b = belief[j][k]
                    novel = R.novelty(self.weeks_used[j], 1.0 if self.weeks_used[j] > 0.0 else 0.0, ch.novelty_weeks)
                    u = R.tool_utility(b, self.affinity, self.trust_ai, peer_ai, self.habit[j][k], 1.0 if self.tried[j][k] else 0.0,
                                       endorse[j][k], self.tool_taste[j], novel, self.fatigue, ch)
                    v[j] = u - barrier
                    if b > best_permitted:
                        best_permitted = b
            R.nested_weights(v, permit_k, ch.tool_nesting, w_free)
            w_free = [float(w) for w in w_free]
            w_push = [w * w_pressure for w in w_free]
            u_choice = m.draw["choice"][k][i]
            c = R.pick(u_choice, w_push)
            c_free = R.pick(u_choice, w_free)
            is_shadow = False
            if in_programme:
                best_barred, sj = -math.inf, -1
                for j in range(T):
                    if barred[j] and belief[j][k] > best_barred:
                        best_barred, sj = belief[j][k], j
                if sj >= 0 and best_barred - best_permitted > ch.shadow_gap:
                    p = R.shadow_probability(best_barred - best_permitted, self.affinity, told.enforcement, barrier, ch.benefit_weight,
                                             ch.shadow_gap, ch.shadow_penalty)
                    if m.draw["shadow"][k][i] < p:
                        is_shadow = True
                        c = sj + 1
            self.choice[k] = c
            self.shadow[k] = is_shadow
            self.forced[k] = c > 0 and not is_shadow and c_free == 0
            if c > 0 and not is_shadow:
                real_use = True
        if in_programme and not real_use:
            self.token = bool(m.draw["token"][i] < R.token_probability(R.felt_pressure(pressure, safe, ch.safe_decline), ch.token_propensity))

    def engage_or_give_up(self) -> None:
        """Start working with AI (a Bass hazard times the appeal) or, working with it, give it up (expectation-confirmation)."""
        m = self.model
        ch, told, i = m.behaviour.choice, m.told, self.slot
        T, K = m.T, m.K
        u = m.draw["engage"][i]
        novel = R.novelty(self.weeks_with_ai, 1.0, ch.novelty_weeks)
        if self.engaged:
            cont = R.continuance_utility(self.experience, self.expectation, self.affinity, self.trust_ai, self.fatigue, novel, ch)
            if u < R.discontinue_probability(cont, ch.discontinue_rate):
                self.engaged = False
            return
        permit, endorse = told.permit[i], told.endorsement[self.level]
        expected = backing = 0.0
        for k in range(K):
            best, best_e = -math.inf, 0.0
            for j in range(T):
                if permit[j][k] and self.belief[j][k] > best:
                    best, best_e = self.belief[j][k], endorse[j][k]
            if best > -math.inf:
                expected += self.task_mix[k] * best
                backing += self.task_mix[k] * best_e
        if self.ever_engaged:
            expected = self.experience
        appeal = R.adoption_appeal(expected, self.affinity, self.trust_ai, backing, novel, m.team_engaged[self.team], ch)
        if u < R.adoption_probability(appeal, m.team_engaged[self.team], ch.adoption_innovation, ch.adoption_imitation):
            self.engaged = self.ever_engaged = True
            self.expectation = self.experience = float(expected)

    # -- 3. work -------------------------------------------------------------------

    def work(self) -> None:
        """Task time with the chosen tool's true effect, hours, delivered work, defects and rework; the felt saving of every tool."""
        m = self.model
        bh, tb, told, i = m.behaviour, m.table, m.told, self.slot
        w, q, pr = bh.work, bh.quality, bh.perception
        T, K = m.T, m.K
        fam = float(R.familiarity(self.tenure_weeks, bh.learning.familiarity_years))
        speed = R.work_speed(self.skill, w.speed_min, w.speed_skill)
        cap = R.available_hours(w.focus_hours, self.fatigue, w.fatigue_drag)
        rw = float(R.rework_due(self.rework_pending, q.rework_due, cap))
        self.rework_pending -= rw
        tok = w.token_use_hours if self.token else 0.0
        task_time = float(R.task_hours_left(cap, rw, tok, told.training_hours[i]))
        daily = float(R.hours_per_day(task_time))
        caught = float(R.catch_rate(self.skill, self.fatigue, q.catch_base, q.catch_skill, q.catch_fatigue))
        extra = w.generate_verification if told.norm[i] else 0.0
        vh = 0.0
        esc_total = 0.0
        for k in range(K):
            mast = R.mastery(self.skill, fam, tb.context[k], w.greenfield_mastery)
            mult, hid, ver, dch = 1.0, 0.0, 0.0, 0.0
            for j in range(T):
                g, v, o = R.time_components(tb.time_saving[j][k], tb.verification[j][k], tb.codable[k], mast, self.proficiency[j], extra,
                                            self.tool_fit[j], R.configured_handicap(m.handicap, m.team_config[self.team][j * K + k], w.configuration_effect), w)
                mj = float(R.time_multiplier(g, v, o, w.min_time_multiplier))
                self.felt_potential[j][k] = R.felt_saving(1.0 - mj, v + o, pr.effort_discount, pr.optimism)
                if self.choice[k] == j + 1:
                    mult, hid, ver, dch = mj, v + o, v, tb.defect_change[j][k]
            h = task_time * self.task_mix[k]
            d = R.delivered_work(speed, h, mult)
            vh += R.verification_hours(h, ver, mult)
            e = R.defects_escaped(R.defects_introduced(d, tb.defect_rate[k], self.skill, q.skill_defect_reduction, dch), caught)
            esc_total += e
            self.multiplier[k] = mult
            self.hidden[k] = hid
            self.delivered[k] = d
            self.hours[k] = h
            self.escaped[k] = e
            self.touch_days[k] = R.touch_days(tb.task_hours[k], mult, speed, daily)
        self.rework_pending += R.rework_added(esc_total, q.fix_hours)
        self.verify_hours = vh
        self.capacity = cap
        self.rework_hours = rw
        self.token_hours = tok

    # -- 4. perception and learning -------------------------------------------------

    def perceive(self) -> None:
        """Beliefs about tools not used drift toward their felt saving; a used tool is perceived (anchored, noisy) and its belief updates."""
        m = self.model
        pr, i = m.behaviour.perception, self.slot
        z = m.draw["perception"]
        belief = self.belief
        for k in range(m.K):
            c = self.choice[k]
            for j in range(m.T):
                if c != j + 1:
                    belief[j][k] = R.update_toward(belief[j][k], self.felt_potential[j][k], pr.outside_word)
            if c > 0:
                b = belief[c - 1][k]
                felt = R.felt_saving(1.0 - self.multiplier[k], self.hidden[k], pr.effort_discount, pr.optimism)
                p = R.perceived_saving(felt, b, z[k][i], pr.anchoring, pr.noise_sd)
                self.perceived[k] = p
                belief[c - 1][k] = R.update_toward(b, p, pr.belief_update)
            else:
                self.perceived[k] = 0.0

    def learn(self) -> None:
        """Peers pull beliefs; proficiency follows use and training; trust in AI follows felt gains; habits, fatigue and morale."""
        m = self.model
        bh, told, i = m.behaviour, m.told, self.slot
        pr, lp, pe = bh.perception, bh.learning, bh.people
        T, K = m.T, m.K
        peer = m.peer[self.team]
        belief = self.belief
        for j in range(T):
            for k in range(K):
                belief[j][k] = R.update_toward(belief[j][k], peer[j][k], pr.peer_influence)
        ai_share = felt = forced_share = ai_hours = 0.0
        approved_use = False
        for k in range(K):
            if self.choice[k] > 0:
                ai_share += self.task_mix[k]
                felt += self.task_mix[k] * self.perceived[k]
                ai_hours += self.hours[k]
                if not self.shadow[k]:
                    approved_use = True
            if self.forced[k]:
                forced_share += self.task_mix[k]
        approved = told.approved[i]
        training = told.training_hours[i]
        for j in range(T):
            intensity = 0.0
            for k in range(K):
                used = self.choice[k] == j + 1
                if used:
                    intensity += self.task_mix[k]
                    self.tried[j][k] = True
                self.habit[j][k] = 1.0 if used else 0.0
            if intensity > 0.0:
                self.weeks_used[j] += 1.0
            intensity = R.transferred_intensity(intensity, ai_share - intensity, lp.transfer)
            if self.token and approved[j]:
                intensity += R.token_intensity(lp.token_learning, T)
            p = R.learn_proficiency(self.proficiency[j], intensity, lp.learning_rate, lp.forgetting)
            if approved[j]:
                p = R.trained_proficiency(p, training, lp.training_effect)
            self.proficiency[j] = float(p)
        if ai_share > 0.0:
            self.weeks_with_ai += 1.0
            errors = R.errors_seen(self.verify_hours / max(ai_hours, 1e-9), m.draw["errors"][i], pr.error_noise_sd)
            self.trust_ai = float(R.trust_ai_update(self.trust_ai, R.trust_ai_target(errors, pr.error_weight), pr.trust_ai_rate, pr.trust_ai_loss_rate))
            if self.engaged:
                self.experience = float(R.update_toward(self.experience, felt / ai_share, pr.experience_rate))
        if approved_use or self.token:
            self.ever_used = True
        fat = float(R.update_toward(self.fatigue, R.fatigue_target(self.verify_hours + self.token_hours, bh.work.focus_hours, pe.fatigue_saturation),
                                    pe.fatigue_rate))
        norm_loss = R.norm_morale_loss(self.skill, pe.morale_norm) if told.norm[i] else 0.0
        target = R.morale_target(pe.initial_morale, fat, forced_share, norm_loss, felt, pe.morale_fatigue, pe.morale_forced, pe.morale_gain)
        self.morale = float(R.update_toward(self.morale, target, pe.morale_rate))
        self.fatigue = fat

    # -- 5. reporting -----------------------------------------------------------------

    def report(self) -> None:
        """Telemetry counts approved use (token uses too); the self-report is honest only where the team is safe enough."""
        m = self.model
        self.honest = bool(R.is_honest(m.safety[self.team], self.honesty_threshold))
        ai_share = felt = 0.0
        use = False
        for k in range(m.K):
            if self.choice[k] > 0 and not self.shadow[k]:
                use = True
                ai_share += self.task_mix[k]
                felt += self.task_mix[k] * self.perceived[k]
        self.reporting = use or self.token
        mean_felt = felt / max(ai_share, 1e-12)
        self.reported_gain = float(R.slanted_report(R.implied_gain(ai_share, mean_felt), self.honest, m.told.stake[self.slot],
                                                    m.behaviour.trust.wanted_gain))

    # -- 6. trust and voice --------------------------------------------------------------

    def trust_and_voice(self) -> None:
        """Believed harm from barred tools and forced use; speak up or not; trust in leadership; punishment of dissent."""
        m = self.model
        tr, told, i = m.behaviour.trust, m.told, self.slot
        permit = told.permit[i]
        gap = forced_share = 0.0
        for k in range(m.K):
            best_all = best_permitted = 0.0
            for j in range(m.T):
                b = self.belief[j][k]
                if b > best_all:
                    best_all = b
                if permit[j][k] and b > best_permitted:
                    best_permitted = b
            if told.in_programme[i]:
                gap += self.task_mix[k] * (best_all - best_permitted)
            if self.forced[k]:
                forced_share += self.task_mix[k]
        p_voice = R.voice_probability(m.safety[self.team], tr.voice_threshold, tr.voice_slope, tr.voice_rate)
        self.voiced = bool(R.is_dissatisfied(gap, forced_share, tr.voice_gap) and m.draw["voice"][i] < p_voice)
        vf = 1.0 if self.voiced else 0.0
        self.trust_leadership = float(R.trust_leadership_change(
            self.trust_leadership, tr.initial_trust_leadership, forced_share, gap, vf, told.feedback_safety, tr.trust_drift,
            tr.forced_cost, tr.restriction_cost, tr.ignored_cost, tr.response_gain))
        self.punished = R.punishment(vf, told.enforcement, told.feedback_safety)

    # -- 8. leaving ------------------------------------------------------------------------

    def consider_leaving(self) -> None:
        """A week of tenure, then leave with the hazard raised by low trust, fatigue and low morale (more for the skilled)."""
        m = self.model
        pe = m.behaviour.people
        self.tenure_weeks += 1.0
        p = R.leave_probability(self.trust_leadership, self.fatigue, self.morale, self.skill, pe.annual_attrition,
                                m.behaviour.trust.initial_trust_leadership, pe.initial_morale, pe.attrition_trust, pe.attrition_fatigue,
                                pe.attrition_morale, pe.attrition_skill)
        self.leaving = bool(m.draw["leave"][self.slot] < p)


def _gather(agents: list, attr: str, shape: tuple, dtype, fill) -> np.ndarray:
    """One attribute of every slot's engineer as an array in slot order (``fill`` where the slot has none)."""
    out = np.full((len(agents),) + shape, fill, dtype=dtype)
    for s, a in enumerate(agents):
        if a is not None:
            out[s] = getattr(a, attr)
    return out


class _Workforce:
    """The engineers' state as arrays, gathered on demand from the agents in ``occupants`` (for leadership and the recorder)."""

    def __init__(self, model: "ReferenceOrg", occupants: list):
        self._m, self._a = model, occupants
        hr = model.hiring
        self.team, self.team_starts, self.safety = model.team_of_slot, hr.team_starts, np.asarray(model.safety)
        self.team_config = np.asarray(model.team_config)
        self.t_hire, self.n_hired = hr.t_hire, hr.n_hired  # the hiring office's records of the slots

    def _col(self, attr, shape=(), dtype=float, fill=0.0):
        return _gather(self._a, attr, shape, dtype, fill)

    @cached_property
    def is_present(self):
        return np.array([a is not None and not a.departed for a in self._a], dtype=bool)

    T, K = property(lambda self: self._m.T), property(lambda self: self._m.K)
    skill = cached_property(lambda self: self._col("skill"))
    seniority = cached_property(lambda self: self._col("level", dtype=np.int64, fill=0))
    tenure_weeks = cached_property(lambda self: self._col("tenure_weeks"))
    task_mix = cached_property(lambda self: self._col("task_mix", (self.K,)))
    proficiency = cached_property(lambda self: self._col("proficiency", (self.T,)))
    belief = cached_property(lambda self: self._col("belief", (self.T, self.K)))
    habit = cached_property(lambda self: self._col("habit", (self.T, self.K)))
    tried = cached_property(lambda self: self._col("tried", (self.T, self.K), bool, False))
    ever_used = cached_property(lambda self: self._col("ever_used", dtype=bool, fill=False))
    trust_leadership = cached_property(lambda self: self._col("trust_leadership"))
    trust_ai = cached_property(lambda self: self._col("trust_ai"))
    fatigue = cached_property(lambda self: self._col("fatigue"))
    morale = cached_property(lambda self: self._col("morale"))
    honesty_threshold = cached_property(lambda self: self._col("honesty_threshold"))
    affinity = cached_property(lambda self: self._col("affinity"))
    tool_fit = cached_property(lambda self: self._col("tool_fit", (self.T,)))
    tool_taste = cached_property(lambda self: self._col("tool_taste", (self.T,)))
    weeks_used = cached_property(lambda self: self._col("weeks_used", (self.T,)))
    rework_pending = cached_property(lambda self: self._col("rework_pending"))
    engaged = cached_property(lambda self: self._col("engaged", dtype=bool, fill=False))
    ever_engaged = cached_property(lambda self: self._col("ever_engaged", dtype=bool, fill=False))
    weeks_with_ai = cached_property(lambda self: self._col("weeks_with_ai"))
    expectation = cached_property(lambda self: self._col("expectation"))
    experience = cached_property(lambda self: self._col("experience"))


class _Week:
    """The week's outcomes as arrays, gathered on demand from the engineers who worked this week (for leadership and the recorder)."""

    def __init__(self, model: "ReferenceOrg"):
        self._m, self._a = model, model.workers
        self.peer = np.zeros((model.n_teams, model.T * model.K))  # not read after the week
        self.retro, self.retro_n = model.retro, model.retro_n
        self.engaged_now = np.zeros((len(model.workers), 1))  # not read after the week
        self.team_engaged = np.zeros((model.n_teams, 1))
        self.handicap = np.array([model.handicap])

    def _col(self, attr, shape=(), dtype=float, fill=0.0):
        return _gather(self._a, attr, shape, dtype, fill)

    T, K = property(lambda self: self._m.T), property(lambda self: self._m.K)
    present = cached_property(lambda self: np.array([a is not None for a in self._a], dtype=bool))
    choice = cached_property(lambda self: self._col("choice", (self.K,), np.int64, 0))
    shadow = cached_property(lambda self: self._col("shadow", (self.K,), bool, False))
    forced = cached_property(lambda self: self._col("forced", (self.K,), bool, False))
    token = cached_property(lambda self: self._col("token", dtype=bool, fill=False))
    multiplier = cached_property(lambda self: self._col("multiplier", (self.K,), fill=1.0))
    hidden = cached_property(lambda self: self._col("hidden", (self.K,)))
    felt_potential = cached_property(lambda self: self._col("felt_potential", (self.T, self.K)))
    delivered = cached_property(lambda self: self._col("delivered", (self.K,)))
    hours = cached_property(lambda self: self._col("hours", (self.K,)))
    escaped = cached_property(lambda self: self._col("escaped", (self.K,)))
    verify_hours = cached_property(lambda self: self._col("verify_hours"))
    capacity = cached_property(lambda self: self._col("capacity"))
    rework_hours = cached_property(lambda self: self._col("rework_hours"))
    token_hours = cached_property(lambda self: self._col("token_hours"))
    touch = cached_property(lambda self: self._col("touch_days", (self.K,)))
    perceived = cached_property(lambda self: self._col("perceived", (self.K,)))
    reported_gain = cached_property(lambda self: self._col("reported_gain"))
    reporting = cached_property(lambda self: self._col("reporting", dtype=bool, fill=False))
    honest = cached_property(lambda self: self._col("honest", dtype=bool, fill=False))
    voiced = cached_property(lambda self: self._col("voiced", dtype=bool, fill=False))
    punished = cached_property(lambda self: self._col("punished"))
    leavers = cached_property(lambda self: self._col("leaving", dtype=bool, fill=False))


class ReferenceOrg(mesa.Model):
    """The organisation stepped agent by agent: engineers are ``mesa.Agent``s with plain Python state.

    ``seed`` seeds the simulation's random streams exactly as ``EngineeringOrg(seed=...)`` does;
    ``shuffle_seed`` (default: ``seed``) seeds Mesa's rng, which only sets the order of the shuffled passes.
    """

    def __init__(self, scenario: Scenario | None = None, *, seed: int = 0, shuffle_seed: int | None = None):
        super().__init__(rng=int(seed if shuffle_seed is None else shuffle_seed))
        self.spec = sc = scenario if scenario is not None else Scenario()
        self.behaviour, self.weeks = sc.behaviour, sc.weeks
        self.tables = OrgTables.from_organisation(sc.organisation)
        tb = self.tables
        self.T, self.K = tb.n_tools, tb.n_tasks
        # The organisation's tables as Python lists, for the engineers.
        self.table = SimpleNamespace(**{k: getattr(tb, k).tolist() for k in (
            "time_saving", "verification", "defect_change", "codable", "context", "task_hours", "defect_rate")})
        self.n = n = sc.organisation.size
        # The same streams as EngineeringOrg: its entropy is the first draw of numpy.random.default_rng(seed).
        self.entropy = int(np.random.default_rng(int(seed)).integers(2**63))
        # The hiring office: draws the starting state of every engineer who takes a slot (initial staff, then hires).
        self.hiring = hr = Workforce(n, sc.organisation.team_size, tb, self.behaviour)
        hr.fill(np.arange(n), named_rng(self.entropy, "init/engineers"), new_hire=False)
        self.team_of_slot, self.n_teams = hr.team.copy(), hr.n_teams
        self.safety = [self.behaviour.trust.initial_safety] * self.n_teams  # per team
        self.team_config = [[0.0] * (self.T * self.K) for _ in range(self.n_teams)]  # per team, how far each tool is configured for its code
        self.draws = WeeklyDraws(self.entropy, n, self.K)
        self.top_skill_threshold = float(np.quantile(hr.skill, 1.0 - sc.organisation.top_skill_share))
        self.is_top_skill_initial = int((hr.skill >= self.top_skill_threshold).sum())
        self.level_initial = np.bincount(hr.seniority, minlength=3)
        tasks0 = (hr.task_mix / tb.task_hours[None, :]).sum(axis=0)
        self.task_weights = tasks0 / tasks0.sum()

        # occupant[s]: the engineer now in slot s, or the last one to leave it while it is vacant.
        self.occupant: list[Engineer] = [Engineer(self, s) for s in range(n)]
        self.workers: list[Engineer | None] = list(self.occupant)  # who works this week, by slot
        self.channels = PolicyChannels.blank(n, self.T, self.K)
        self.levers = build_levers(sc.policy, sc.behaviour, sc.approved_tools())
        self.week = 0
        self.telemetry_weekly_active = 0.0
        self.cycle_time, self.cycle_time_task, self.escaped_total = 0.0, np.zeros(self.K), 0.0
        self.handicap = 1.0  # share of the tools' handicap on known code left this week
        self.retro, self.retro_n = np.zeros((self.n_teams, self.T * self.K)), np.zeros((self.n_teams, self.T * self.K))
        self.counters = SimpleNamespace(leavers=0, leavers_top=0, hires=0, leavers_level=np.zeros(3, dtype=np.int64))
        setup = LeverSetup(tool_names=tb.tool_names, task_names=tb.task_names, team=self.team_of_slot, n_teams=self.n_teams,
                           present=hr.is_present.copy(), skill=hr.skill.copy(), rng=lambda name: named_rng(self.entropy, name))
        for lever in self.levers:
            lever.setup(setup)
        self.recorder = Recorder(tb.task_names, self.weeks, {
            "positions": (n, np.maximum(self.level_initial, 1), None),
            "top_initial": (max(self.is_top_skill_initial, 1), None, None),
        })

    # -- organisation level --------------------------------------------------------

    def _observe(self, *, after_work: bool) -> Observations:
        """What leadership sees: the organisation as arrays gathered from the engineers (and, after work, the week's work)."""
        wf = _Workforce(self, self.occupant)
        obs = Observations(week=self.week, present=wf.is_present, skill=wf.skill, seniority=wf.seniority)
        if not after_work:
            return obs
        wk = _Week(self)
        work = WorkRecord(present=wk.present, choice=wk.choice, shadow=wk.shadow, multiplier=wk.multiplier, delivered=wk.delivered,
                          hours=wk.hours, escaped=wk.escaped)
        return Observations(week=self.week, present=wf.is_present, skill=wf.skill, seniority=wf.seniority, weekly_active=self.telemetry_weekly_active,
                            work=work, cycle_time=self.cycle_time, escaped_total=self.escaped_total)

    def _team_means(self, attr: str) -> list[list[list[float]]]:
        """Per team, the mean over the members working this week of a [T][K] attribute (summed in slot order)."""
        T, K = self.T, self.K
        out = []
        members = self.members
        for t in range(self.n_teams):
            acc = [[0.0] * K for _ in range(T)]
            for a in members[t]:
                x = getattr(a, attr)
                for j in range(T):
                    row, xr = acc[j], x[j]
                    for k in range(K):
                        row[k] += xr[k]
            d = max(len(members[t]), 1)
            out.append([[v / d for v in row] for row in acc])
        return out

    def policy_acts(self) -> None:
        """1. The levers write this week's instructions; the engineers read theirs by slot."""
        ch = self.channels
        ch.reset_week()
        obs = self._observe(after_work=False)
        if self.week >= self.spec.policy.start_week:
            for lever in self.levers:
                lever.act(obs, ch)
        ch.permit &= obs.present[:, None, None]
        ch.in_programme[:] = ch.permit.any(axis=(1, 2))
        ch.approved_tool[:] = ch.permit.any(axis=2)
        self.told = SimpleNamespace(
            permit=ch.permit.tolist(), approved=ch.permit.any(axis=2).tolist(), pressure=ch.pressure.tolist(), norm=ch.norm.tolist(),
            stake=ch.stake.tolist(), training_hours=ch.training_hours.tolist(), in_programme=ch.in_programme.tolist(),
            endorsement=ch.endorsement.tolist(), enforcement=float(ch.enforcement), feedback_safety=float(ch.feedback_safety))

    def organisation_outcomes(self) -> None:
        """3 (organisation): cycle time from the engineers' touch time and the review wait the verification load causes."""
        q = self.behaviour.quality
        wk = _Week(self)
        touch = [0.0] * self.K
        for a in self.workers:
            if a is not None:
                for k in range(self.K):
                    touch[k] += a.touch_days[k]
        wait = R.review_wait(q.review_wait_days, q.review_load_wait, wk.verify_hours.sum() / max(wk.capacity.sum(), 1e-9))
        self.cycle_time_task = R.cycle_time_days(np.array(touch), max(len(self._working), 1), wait)
        self.cycle_time = float(R.weighted_cycle_time(self.task_weights, self.cycle_time_task))
        self.escaped_total = float(wk.escaped.sum())

    def teams_compare_notes(self) -> None:
        """5b (teams): each team pools the time savings its honest members saw; an honest member's belief about what they used moves toward
        their own measured saving, every other belief toward the team's pooled figure."""
        T, K, rate = self.T, self.K, self.behaviour.trust.team_learning
        for t in range(self.n_teams):
            total, count = [0.0] * (T * K), [0.0] * (T * K)
            for a in self.members[t]:
                if a.honest:
                    for k in range(K):
                        if a.choice[k] > 0:
                            total[(a.choice[k] - 1) * K + k] += 1.0 - a.multiplier[k]
                            count[(a.choice[k] - 1) * K + k] += 1.0
            for a in self.members[t]:
                for j in range(T):
                    for k in range(K):
                        if a.honest and a.choice[k] == j + 1:
                            # one's own measured task times, looked at openly
                            a.belief[j][k] = float(R.update_toward(a.belief[j][k], 1.0 - a.multiplier[k], rate))
                        elif count[j * K + k] > 0.0:
                            a.belief[j][k] = float(R.update_toward(a.belief[j][k], total[j * K + k] / count[j * K + k], rate))
            self.retro[t] = [x / c if c > 0 else x for x, c in zip(total, count)]
            config_rate = self.behaviour.trust.configuration_rate
            for x in range(T * K):
                if count[x] > 0.0:
                    self.team_config[t][x] = float(R.configuration_growth(self.team_config[t][x], count[x] / len(self.members[t]), config_rate))
            self.retro_n[t] = count

    def team_safety(self) -> None:
        """6 (teams): safety moves toward the policy climate, minus the share of the team punished for dissent."""
        tr, told = self.behaviour.trust, self.told
        climate = float(R.safety_climate(tr.initial_safety, told.feedback_safety, told.enforcement, tr.safety_from_feedback, tr.safety_from_enforcement))
        for t in range(self.n_teams):
            s = 0.0
            for a in self.members[t]:
                s += a.punished
            self.safety[t] = float(R.safety_change(self.safety[t], climate, s / max(len(self.members[t]), 1), tr.safety_rate, tr.punishment_cost))

    def leadership_reacts(self) -> None:
        """7. Leadership reacts per its levers; every engineer present hears what it publishes."""
        if self.week < self.spec.policy.start_week:
            return
        obs = self._observe(after_work=True)
        for lever in self.levers:
            lever.react(obs, self.channels)
        w, gain = self.behaviour.perception.publication_weight, self.behaviour.trust.transparency_gain
        for measured, mask in self.channels.publications:
            for a in self.occupant:
                if a.departed:
                    continue
                for j in range(self.T):
                    for k in range(self.K):
                        if mask[a.level, j, k]:
                            a.belief[j][k] = float(R.update_toward(a.belief[j][k], measured[a.level, j, k], w))
                a.trust_leadership = float(R.after_transparency(a.trust_leadership, gain))

    def attrition_and_hiring(self) -> None:
        """8. Leavers go (counted by level and skill); vacancies are filled after the hiring delay by new engineers."""
        c, hr = self.counters, self.hiring
        leavers = [a for a in self._working if a.leaving]
        for a in leavers:
            c.leavers += 1
            c.leavers_level[a.level] += 1
            if a.skill >= self.top_skill_threshold:
                c.leavers_top += 1
            a.departed = True
            a.remove()
        hr.vacate(np.array([a.slot for a in leavers], dtype=np.int64), self.week, self.behaviour.people.hiring_delay_weeks)
        due = np.flatnonzero(hr.t_hire == self.week + 1)
        hr.fill(due, self.entropy, new_hire=True)
        c.hires += due.size
        for s in due.tolist():
            hire = Engineer(self, s)
            # As in the real model, the slot's pending rework (escaped defects in the code left behind) passes to the hire.
            hire.rework_pending = self.occupant[s].rework_pending
            self.occupant[s] = hire

    def record(self) -> None:
        """9. Record the week's outputs from arrays gathered from the engineers (summed by the model's own weekly-sums pass)."""
        eng = bundles.make(EngineerState, _Workforce(self, self.occupant))
        wk = bundles.make(WeekScratch, _Week(self))
        c = self.counters
        self.recorder.record(
            lambda sums: kernels.SERIAL.week_sums(eng, wk, self.channels.bundle(), self.tables.bundle(), sums),
            {
                "leavers": (c.leavers, c.leavers_level, None),
                "leavers_top": (c.leavers_top, None, None),
                "hires": (c.hires, None, None),
                "cycle_time": (self.cycle_time, None, self.cycle_time_task),
            },
        )

    # -- the week --------------------------------------------------------------------

    def step(self) -> None:
        """One working week: policy, then the engineers' passes (shuffled), with team and organisation aggregates between them."""
        draws = self.draws.next_week()
        self.draw = {name: getattr(draws, name).tolist() for name in draws._fields}  # per decision, by slot
        self.workers = [a if not a.departed else None for a in self.occupant]
        self._working = [a for a in self.workers if a is not None]
        self.members = [[] for _ in range(self.n_teams)]
        for a in self._working:
            self.members[a.team].append(a)

        self.policy_acts()
        w = self.behaviour.work
        self.handicap = float(R.context_handicap(self.spec.organisation.year + self.week / R.WEEKS_PER_YEAR - w.calibration_year, w.context_improvement))
        self.peer = self._team_means("habit")
        self.team_engaged = [sum(1.0 for a in self.members[t] if a.engaged) / max(len(self.members[t]), 1) for t in range(self.n_teams)]
        self.agents.shuffle_do("choose_work_perceive")
        self.organisation_outcomes()
        self.peer = self._team_means("belief")
        self.agents.shuffle_do("learn_and_report")
        self.telemetry_weekly_active = sum(1 for a in self._working if a.reporting) / max(len(self._working), 1)
        self.teams_compare_notes()
        self.agents.shuffle_do("trust_and_voice")
        self.team_safety()
        self.leadership_reacts()
        self.agents.shuffle_do("consider_leaving")
        self.attrition_and_hiring()
        self.record()
        self.week += 1

    def run(self) -> "ReferenceOrg":
        """Run the whole horizon."""
        while self.week < self.weeks:
            self.step()
        return self

    def results(self):
        """This run's outputs as a tidy DataFrame (week, metric, group, value), as EngineeringOrg.results()."""
        return self.recorder.frame()
