"""Fused weekly kernels: each phase of the weekly story as one pass over the engineers, compiled by numba.

The kernels call the rules of sim/model/rules.py (compiled as they are, so the
model, the virtual studies and the reference model share one definition of every
rule) and only add the loops, the bookkeeping and the order of updates. Each
kernel takes a few named bundles (sim/model/bundles.py): the engineers' state
``eng``, the week's scratch ``wk``, the policy's channels ``ch``, the week's
draws ``draws``, the organisation's tables ``org`` and the parameter sections it
uses. Fields are unpacked into locals before the loops (a write through a
namedtuple field inside ``prange`` would be lost). One pass per phase reads and
writes each engineer's row once (see benchmarks/RESULTS.md). How a pass is compiled
and called (its bundles trimmed to the fields it reads, its threads) is
sim/model/kernel_calls.py.
"""

from __future__ import annotations

import os
import threading

import numba as nb
import numpy as np

from . import jit
from . import metrics as M
from . import rules as R
from .kernel_calls import KernelSet, kernel
from .kernel_calls import set_threads, single_threaded  # noqa: F401  (callers run models with sim.model.kernels.single_threaded)

#: Engineers per chunk of a parallel pass. Chunks are fixed by the number of engineers, never by the number of
#: threads, and every sum over engineers is combined chunk by chunk in order, so results are bit-identical
#: whatever the thread count.
CHUNK = 256


_jit = jit.compile


# The rules the kernels call, compiled as they are.
clip = _jit(R.clip)
drawn_share = _jit(R.drawn_share)
prior_belief = _jit(R.prior_belief)
prior_noise = _jit(R.prior_noise)
familiarity = _jit(R.familiarity)
mastery = _jit(R.mastery)
work_speed = _jit(R.work_speed)
time_components = _jit(R.time_components)
time_multiplier = _jit(R.time_multiplier)
tool_utility = _jit(R.tool_utility)
choice_weight = _jit(R.choice_weight)
pressure_utility = _jit(R.pressure_utility)
felt_pressure = _jit(R.felt_pressure)
novelty = _jit(R.novelty)
tool_fit = _jit(R.tool_fit)
tool_taste = _jit(R.tool_taste)
configured_handicap = _jit(R.configured_handicap)
configuration_growth = _jit(R.configuration_growth)
pick = _jit(R.pick)
nested_weights = _jit(R.nested_weights)
shadow_probability = _jit(R.shadow_probability)
token_probability = _jit(R.token_probability)
adoption_appeal = _jit(R.adoption_appeal)
adoption_probability = _jit(R.adoption_probability)
continuance_utility = _jit(R.continuance_utility)
discontinue_probability = _jit(R.discontinue_probability)
available_hours = _jit(R.available_hours)
rework_due = _jit(R.rework_due)
task_hours_left = _jit(R.task_hours_left)
hours_per_day = _jit(R.hours_per_day)
delivered_work = _jit(R.delivered_work)
verification_hours = _jit(R.verification_hours)
touch_days = _jit(R.touch_days)
catch_rate = _jit(R.catch_rate)
defects_introduced = _jit(R.defects_introduced)
defects_escaped = _jit(R.defects_escaped)
rework_added = _jit(R.rework_added)
felt_saving = _jit(R.felt_saving)
perceived_saving = _jit(R.perceived_saving)
update_toward = _jit(R.update_toward)
learn_proficiency = _jit(R.learn_proficiency)
trained_proficiency = _jit(R.trained_proficiency)
transferred_intensity = _jit(R.transferred_intensity)
token_intensity = _jit(R.token_intensity)
trust_ai_target = _jit(R.trust_ai_target)
errors_seen = _jit(R.errors_seen)
trust_ai_update = _jit(R.trust_ai_update)
fatigue_target = _jit(R.fatigue_target)
norm_morale_loss = _jit(R.norm_morale_loss)
morale_target = _jit(R.morale_target)
is_honest = _jit(R.is_honest)
slanted_report = _jit(R.slanted_report)
implied_gain = _jit(R.implied_gain)
is_dissatisfied = _jit(R.is_dissatisfied)
voice_probability = _jit(R.voice_probability)
trust_leadership_change = _jit(R.trust_leadership_change)
punishment = _jit(R.punishment)
safety_change = _jit(R.safety_change)
leave_probability = _jit(R.leave_probability)


@kernel
def team_mean(x, present, team_starts, out):
    """Mean over each team's present engineers of x [N, M], one row per team in out [n_teams, M]."""
    N, M = x.shape
    n_teams = team_starts.shape[0]
    for t in nb.prange(n_teams):
        a = team_starts[t]
        b = team_starts[t + 1] if t + 1 < n_teams else N
        for m in range(M):
            out[t, m] = 0.0
        n = 0
        for i in range(a, b):
            if present[i]:
                n += 1
                for m in range(M):
                    out[t, m] += x[i, m]
        d = max(n, 1)
        for m in range(M):
            out[t, m] = out[t, m] / d


@kernel
def choose_tools(eng, wk, ch, draws, choice_params):
    """Step 2: per engineer and task type, no AI or an approved tool (logit, with and without pressure), or a barred tool (shadow); token uses."""
    cp = choice_params
    belief, affinity, trust_ai, habit, tried, level, team = eng.belief, eng.affinity, eng.trust_ai, eng.habit, eng.tried, eng.seniority, eng.team
    taste, weeks_used, safety, threshold, fatigue = eng.tool_taste, eng.weeks_used, eng.safety, eng.honesty_threshold, eng.fatigue
    engaged, expectation, experience, task_mix, ever_engaged = eng.engaged, eng.expectation, eng.experience, eng.task_mix, eng.ever_engaged
    weeks_with_ai = eng.weeks_with_ai
    permit, pressure, norm, in_programme, endorse, enforcement = ch.permit, ch.pressure, ch.norm, ch.in_programme, ch.endorsement, ch.enforcement
    u_choice, u_shadow, u_token, u_engage = draws.choice, draws.shadow, draws.token, draws.engage
    present, peer, team_engaged = wk.present, wk.peer, wk.team_engaged
    choice, shadow, forced, token = wk.choice, wk.shadow, wk.forced, wk.token
    N, T, K = belief.shape
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        w_push = np.empty(T)
        w_free = np.empty(T)
        v = np.empty(T)
        avail = np.empty(T, dtype=np.bool_)
        novel = np.empty(T)
        barred = np.empty(T, dtype=np.bool_)
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            token[i] = False
            if not present[i]:
                for k in range(K):
                    choice[i, k] = 0
                    shadow[i, k] = False
                    forced[i, k] = False
                continue
            # exp(u + push) = exp(u) * exp(push): one exponential per engineer for the pressure, less what a safe engineer resists.
            safe = 1.0 if is_honest(safety[team[i]], threshold[i]) else 0.0
            push = felt_pressure(pressure_utility(pressure[i], 1.0 if norm[i] else 0.0, cp.pressure_weight, cp.norm_weight), safe, cp.safe_decline)
            w_pressure = choice_weight(push)
            for j in range(T):
                barred[j] = True
                for k in range(K):
                    if permit[i, j, k]:
                        barred[j] = False
                novel[j] = novelty(weeks_used[i, j], 1.0 if weeks_used[i, j] > 0.0 else 0.0, cp.novelty_weeks)
            # Whether AI is part of this engineer's way of working: start (Bass hazard x appeal) or give up (disappointment).
            novel_ai = novelty(weeks_with_ai[i], 1.0, cp.novelty_weeks)
            if engaged[i]:
                cont = continuance_utility(experience[i], expectation[i], affinity[i], trust_ai[i], fatigue[i], novel_ai, cp)
                if u_engage[i] < discontinue_probability(cont, cp.discontinue_rate):
                    engaged[i] = False
            else:
                expected = 0.0
                backing = 0.0
                for k in range(K):
                    best = -np.inf
                    best_e = 0.0
                    for j in range(T):
                        if permit[i, j, k] and belief[i, j, k] > best:
                            best = belief[i, j, k]
                            best_e = endorse[level[i], j, k]
                    if best > -np.inf:
                        expected += task_mix[i, k] * best
                        backing += task_mix[i, k] * best_e
                if ever_engaged[i]:
                    expected = experience[i]  # one who has worked with AI judges it by what they lived, not by the hype
                appeal = adoption_appeal(expected, affinity[i], trust_ai[i], backing, novel_ai, team_engaged[team[i], 0], cp)
                if u_engage[i] < adoption_probability(appeal, team_engaged[team[i], 0], cp.adoption_innovation, cp.adoption_imitation):
                    engaged[i] = True
                    expectation[i] = expected
                    ever_engaged[i] = True
                    experience[i] = expected
            barrier = 0.0 if engaged[i] else cp.engagement_barrier
            real_use = False
            for k in range(K):
                best_permitted = 0.0
                peer_ai = 0.0  # the team's use of AI (any tool) on this task type last week
                for j in range(T):
                    peer_ai += peer[team[i], j * K + k]
                for j in range(T):
                    avail[j] = permit[i, j, k]
                    if avail[j]:
                        v[j] = tool_utility(belief[i, j, k], affinity[i], trust_ai[i], peer_ai, habit[i, j, k], 1.0 if tried[i, j, k] else 0.0,
                                            endorse[level[i], j, k], taste[i, j], novel[j], fatigue[i], cp) - barrier
                        if belief[i, j, k] > best_permitted:
                            best_permitted = belief[i, j, k]
                # Nested logit: whether to use AI follows the tools' log-sum, not how many tools there are.
                nested_weights(v, avail, cp.tool_nesting, w_free)
                for j in range(T):
                    w_push[j] = w_free[j] * w_pressure
                c = pick(u_choice[k, i], w_push)
                c_free = c if w_pressure == 1.0 else pick(u_choice[k, i], w_free)
                # Shadow use: the barred tool believed best, if clearly better than every approved option.
                is_shadow = False
                if in_programme[i]:
                    best_barred = -np.inf
                    sj = -1
                    for j in range(T):
                        if barred[j] and belief[i, j, k] > best_barred:
                            best_barred = belief[i, j, k]
                            sj = j
                    if sj >= 0 and best_barred - best_permitted > cp.shadow_gap:
                        p = shadow_probability(best_barred - best_permitted, affinity[i], enforcement, barrier, cp.benefit_weight, cp.shadow_gap, cp.shadow_penalty)
                        if u_shadow[k, i] < p:
                            is_shadow = True
                            c = sj + 1
                choice[i, k] = c
                shadow[i, k] = is_shadow
                forced[i, k] = c > 0 and not is_shadow and c_free == 0
                if c > 0 and not is_shadow:
                    real_use = True
            if in_programme[i] and not real_use:
                token[i] = u_token[i] < token_probability(felt_pressure(pressure[i], safe, cp.safe_decline), cp.token_propensity)


@kernel
def do_work(eng, wk, ch, org, work, quality, learning, perception):
    """Step 3: task time with the chosen tool's true effect, hours, delivered work, defects and rework; the felt saving of every tool."""
    w, q = work, quality
    tenure, skill, proficiency, fatigue, task_mix, rework_pending = eng.tenure_weeks, eng.skill, eng.proficiency, eng.fatigue, eng.task_mix, eng.rework_pending
    fit, team, team_config = eng.tool_fit, eng.team, eng.team_config
    handicap = wk.handicap[0]
    norm, training_hours = ch.norm, ch.training_hours
    time_saving, verification, defect_change, codable, context = org.time_saving, org.verification, org.defect_change, org.codable, org.context
    task_hours, defect_rate = org.task_hours, org.defect_rate
    choice, token, present = wk.choice, wk.token, wk.present
    multiplier, hidden, felt_potential, delivered, hours, escaped = wk.multiplier, wk.hidden, wk.felt_potential, wk.delivered, wk.hours, wk.escaped
    verify_hours, capacity, rework, token_hours, touch = wk.verify_hours, wk.capacity, wk.rework_hours, wk.token_hours, wk.touch
    effort_discount, optimism, familiarity_years = perception.effort_discount, perception.optimism, learning.familiarity_years
    N, T, K = felt_potential.shape
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            if not present[i]:
                for k in range(K):
                    multiplier[i, k] = 1.0
                    hidden[i, k] = 0.0
                    delivered[i, k] = 0.0
                    hours[i, k] = 0.0
                    escaped[i, k] = 0.0
                    touch[i, k] = 0.0
                verify_hours[i] = 0.0
                capacity[i] = 0.0
                rework[i] = 0.0
                token_hours[i] = 0.0
                continue
            fam = familiarity(tenure[i], familiarity_years)
            speed = work_speed(skill[i], w.speed_min, w.speed_skill)
            cap = available_hours(w.focus_hours, fatigue[i], w.fatigue_drag)
            rw = rework_due(rework_pending[i], q.rework_due, cap)
            rework_pending[i] -= rw
            tok = w.token_use_hours if token[i] else 0.0
            task_time = task_hours_left(cap, rw, tok, training_hours[i])
            daily = hours_per_day(task_time)
            caught = catch_rate(skill[i], fatigue[i], q.catch_base, q.catch_skill, q.catch_fatigue)
            extra = w.generate_verification if norm[i] else 0.0
            vh = 0.0
            esc_total = 0.0
            for k in range(K):
                mast = mastery(skill[i], fam, context[k], w.greenfield_mastery)
                m = 1.0
                hid = 0.0
                ver = 0.0
                dch = 0.0
                for j in range(T):
                    hcap = configured_handicap(handicap, team_config[team[i], j * K + k], w.configuration_effect)
                    g, v, o = time_components(time_saving[j, k], verification[j, k], codable[k], mast, proficiency[i, j], extra, fit[i, j], hcap, w)
                    mj = time_multiplier(g, v, o, w.min_time_multiplier)
                    felt_potential[i, j, k] = felt_saving(1.0 - mj, v + o, effort_discount, optimism)
                    if choice[i, k] == j + 1:
                        m = mj
                        hid = v + o
                        ver = v
                        dch = defect_change[j, k]
                h = task_time * task_mix[i, k]
                d = delivered_work(speed, h, m)
                vh += verification_hours(h, ver, m)
                e = defects_escaped(defects_introduced(d, defect_rate[k], skill[i], q.skill_defect_reduction, dch), caught)
                esc_total += e
                multiplier[i, k] = m
                hidden[i, k] = hid
                delivered[i, k] = d
                hours[i, k] = h
                escaped[i, k] = e
                touch[i, k] = touch_days(task_hours[k], m, speed, daily)
            rework_pending[i] += rework_added(esc_total, q.fix_hours)
            verify_hours[i] = vh
            capacity[i] = cap
            rework[i] = rw
            token_hours[i] = tok


@kernel
def perceive(eng, wk, draws, perception):
    """Step 4a: beliefs about tools not used drift toward their felt saving; used tools are perceived (anchored, noisy) and beliefs update."""
    pr = perception
    belief = eng.belief
    choice, multiplier, hidden, felt_potential, present, perceived = wk.choice, wk.multiplier, wk.hidden, wk.felt_potential, wk.present, wk.perceived
    z = draws.perception
    N, T, K = belief.shape
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            if not present[i]:
                for k in range(K):
                    perceived[i, k] = 0.0
                continue
            for k in range(K):
                c = choice[i, k]
                for j in range(T):
                    if c != j + 1:
                        belief[i, j, k] = update_toward(belief[i, j, k], felt_potential[i, j, k], pr.outside_word)
                if c > 0:
                    b = belief[i, c - 1, k]
                    felt = felt_saving(1.0 - multiplier[i, k], hidden[i, k], pr.effort_discount, pr.optimism)
                    p = perceived_saving(felt, b, z[k, i], pr.anchoring, pr.noise_sd)
                    perceived[i, k] = p
                    belief[i, c - 1, k] = update_toward(b, p, pr.belief_update)
                else:
                    perceived[i, k] = 0.0


@kernel
def learn(eng, wk, ch, draws, perception, learning, work, people):
    """Step 4b: peers pull beliefs, proficiency follows use and training, trust in AI follows felt gains, habits, fatigue and morale."""
    lp, pe = learning, people
    team, task_mix, skill = eng.team, eng.task_mix, eng.skill
    belief, proficiency, trust_ai, habit, tried, ever_used, fatigue, morale, weeks_used = (
        eng.belief, eng.proficiency, eng.trust_ai, eng.habit, eng.tried, eng.ever_used, eng.fatigue, eng.morale, eng.weeks_used)
    hours = wk.hours
    norm, approved_tool, training_hours = ch.norm, ch.approved_tool, ch.training_hours
    choice, shadow, forced, token, present, perceived = wk.choice, wk.shadow, wk.forced, wk.token, wk.present, wk.perceived
    verify_hours, token_hours, peer_belief = wk.verify_hours, wk.token_hours, wk.peer
    peer_influence, trust_ai_rate, error_weight, focus_hours = perception.peer_influence, perception.trust_ai_rate, perception.error_weight, work.focus_hours
    engaged, experience, experience_rate, weeks_with_ai = eng.engaged, eng.experience, perception.experience_rate, eng.weeks_with_ai
    z_errors = draws.errors
    N, T, K = belief.shape
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            if not present[i]:
                continue
            for j in range(T):
                for k in range(K):
                    belief[i, j, k] = update_toward(belief[i, j, k], peer_belief[team[i], j * K + k], peer_influence)
            ai_share = 0.0
            felt = 0.0
            forced_share = 0.0
            ai_hours = 0.0
            approved_use = False
            for k in range(K):
                if choice[i, k] > 0:
                    ai_share += task_mix[i, k]
                    felt += task_mix[i, k] * perceived[i, k]
                    ai_hours += hours[i, k]
                    if not shadow[i, k]:
                        approved_use = True
                if forced[i, k]:
                    forced_share += task_mix[i, k]
            for j in range(T):
                intensity = 0.0
                for k in range(K):
                    used = choice[i, k] == j + 1
                    if used:
                        intensity += task_mix[i, k]
                    habit[i, j, k] = 1.0 if used else 0.0
                    if used:
                        tried[i, j, k] = True
                if intensity > 0.0:
                    weeks_used[i, j] += 1.0  # a week of real use (a token use is not one)
                intensity = transferred_intensity(intensity, ai_share - intensity, lp.transfer)
                if token[i] and approved_tool[i, j]:
                    intensity += token_intensity(lp.token_learning, T)
                p = learn_proficiency(proficiency[i, j], intensity, lp.learning_rate, lp.forgetting)
                if approved_tool[i, j]:
                    p = trained_proficiency(p, training_hours[i], lp.training_effect)
                proficiency[i, j] = p
            if ai_share > 0.0:
                weeks_with_ai[i] += 1.0  # a week of real use of any tool (a token use is not one)
                errors = errors_seen(verify_hours[i] / max(ai_hours, 1e-9), z_errors[i], perception.error_noise_sd)
                trust_ai[i] = trust_ai_update(trust_ai[i], trust_ai_target(errors, error_weight), trust_ai_rate, perception.trust_ai_loss_rate)
                if engaged[i]:
                    experience[i] = update_toward(experience[i], felt / ai_share, experience_rate)
            if approved_use or token[i]:
                ever_used[i] = True
            fat = update_toward(fatigue[i], fatigue_target(verify_hours[i] + token_hours[i], focus_hours, pe.fatigue_saturation), pe.fatigue_rate)
            norm_loss = norm_morale_loss(skill[i], pe.morale_norm) if norm[i] else 0.0
            target = morale_target(pe.initial_morale, fat, forced_share, norm_loss, felt, pe.morale_fatigue, pe.morale_forced, pe.morale_gain)
            morale[i] = update_toward(morale[i], target, pe.morale_rate)
            fatigue[i] = fat


@kernel
def report(eng, wk, ch, trust):
    """Step 5: who telemetry counts active, who reports honestly, and the gain each reports."""
    safety, team, honesty_threshold, task_mix = eng.safety, eng.team, eng.honesty_threshold, eng.task_mix
    stake = ch.stake
    choice, shadow, perceived, token, present = wk.choice, wk.shadow, wk.perceived, wk.token, wk.present
    reporting, honest, reported_gain = wk.reporting, wk.honest, wk.reported_gain
    wanted_gain = trust.wanted_gain
    N, K = choice.shape
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            honest[i] = is_honest(safety[team[i]], honesty_threshold[i])
            ai_share = 0.0
            felt = 0.0
            use = False
            for k in range(K):
                if choice[i, k] > 0 and not shadow[i, k]:
                    use = True
                    ai_share += task_mix[i, k]
                    felt += task_mix[i, k] * perceived[i, k]
            reporting[i] = present[i] and (use or token[i])
            mean_felt = felt / max(ai_share, 1e-12)
            reported_gain[i] = slanted_report(implied_gain(ai_share, mean_felt), honest[i], stake[i], wanted_gain)


@kernel
def team_retrospective(eng, wk, trust):
    """Step 5b: each team compares the task times its honest members saw with each tool on each task type (retrospective);
    an honest member's belief about what they used moves toward their own measured saving (looked at openly, the perception
    bias is corrected), every other belief toward what was shared. Members who do not feel safe do not admit what went
    badly, so they share nothing and correct nothing."""
    belief, team_starts, team_config = eng.belief, eng.team_starts, eng.team_config
    choice, multiplier, present, honest, retro, retro_n = wk.choice, wk.multiplier, wk.present, wk.honest, wk.retro, wk.retro_n
    rate, config_rate = trust.team_learning, trust.configuration_rate
    N, T, K = belief.shape
    n_teams = team_starts.shape[0]
    for t in nb.prange(n_teams):
        a = team_starts[t]
        b = team_starts[t + 1] if t + 1 < n_teams else N
        for x in range(T * K):
            retro[t, x] = 0.0
            retro_n[t, x] = 0.0
        for i in range(a, b):
            if present[i] and honest[i]:
                for k in range(K):
                    c = choice[i, k]
                    if c > 0:
                        retro[t, (c - 1) * K + k] += 1.0 - multiplier[i, k]
                        retro_n[t, (c - 1) * K + k] += 1.0
        n_present = 0.0
        for i in range(a, b):
            if present[i]:
                n_present += 1.0
        for x in range(T * K):
            if retro_n[t, x] > 0.0:
                retro[t, x] = retro[t, x] / retro_n[t, x]
                team_config[t, x] = configuration_growth(team_config[t, x], retro_n[t, x] / n_present, config_rate)
        for i in range(a, b):
            if present[i]:
                for j in range(T):
                    for k in range(K):
                        if honest[i] and choice[i, k] == j + 1:
                            # one's own measured task times, looked at openly: the perception bias is corrected
                            belief[i, j, k] = update_toward(belief[i, j, k], 1.0 - multiplier[i, k], rate)
                        elif retro_n[t, j * K + k] > 0.0:
                            belief[i, j, k] = update_toward(belief[i, j, k], retro[t, j * K + k], rate)


@kernel
def trust_and_voice(eng, wk, ch, draws, trust):
    """Step 6 (engineers): believed harm from barred tools and forced use, voice, trust in leadership, punishment of dissent."""
    tr = trust
    belief, task_mix, team, safety, trust_leadership = eng.belief, eng.task_mix, eng.team, eng.safety, eng.trust_leadership
    permit, in_programme, enforcement, feedback_safety = ch.permit, ch.in_programme, ch.enforcement, ch.feedback_safety
    forced, present, voiced, punished = wk.forced, wk.present, wk.voiced, wk.punished
    u_voice = draws.voice
    N, T, K = belief.shape
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            voiced[i] = False
            punished[i] = 0.0
            if not present[i]:
                continue
            gap = 0.0
            forced_share = 0.0
            for k in range(K):
                best_all = 0.0
                best_permitted = 0.0
                for j in range(T):
                    b = belief[i, j, k]
                    if b > best_all:
                        best_all = b
                    if permit[i, j, k] and b > best_permitted:
                        best_permitted = b
                if in_programme[i]:
                    gap += task_mix[i, k] * (best_all - best_permitted)
                if forced[i, k]:
                    forced_share += task_mix[i, k]
            p_voice = voice_probability(safety[team[i]], tr.voice_threshold, tr.voice_slope, tr.voice_rate)
            v = is_dissatisfied(gap, forced_share, tr.voice_gap) and u_voice[i] < p_voice
            voiced[i] = v
            vf = 1.0 if v else 0.0
            trust_leadership[i] = trust_leadership_change(trust_leadership[i], tr.initial_trust_leadership, forced_share, gap, vf, feedback_safety,
                                                          tr.trust_drift, tr.forced_cost, tr.restriction_cost, tr.ignored_cost, tr.response_gain)
            punished[i] = punishment(vf, enforcement, feedback_safety)


@kernel
def team_safety(eng, wk, climate, trust):
    """Step 6 (teams): safety moves toward the climate, minus the share of the team punished for dissent."""
    safety, team_starts = eng.safety, eng.team_starts
    punished, present = wk.punished, wk.present
    N = punished.shape[0]
    n_teams = team_starts.shape[0]
    for t in range(n_teams):
        a = team_starts[t]
        b = team_starts[t + 1] if t + 1 < n_teams else N
        s = 0.0
        n = 0
        for i in range(a, b):
            s += punished[i]
            if present[i]:
                n += 1
        safety[t] = safety_change(safety[t], climate, s / max(n, 1), trust.safety_rate, trust.punishment_cost)


@kernel
def leave(eng, wk, draws, people, trust):
    """Step 8 (departures): a week of tenure, then each engineer leaves with the rule's probability."""
    pe = people
    trust_leadership, fatigue, morale, skill, tenure = eng.trust_leadership, eng.fatigue, eng.morale, eng.skill, eng.tenure_weeks
    present, leavers = wk.present, wk.leavers
    u_leave = draws.leave
    initial_trust = trust.initial_trust_leadership
    N = present.shape[0]
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            leavers[i] = False
            if not present[i]:
                continue
            tenure[i] += 1.0
            p = leave_probability(trust_leadership[i], fatigue[i], morale[i], skill[i], pe.annual_attrition, initial_trust, pe.initial_morale,
                                  pe.attrition_trust, pe.attrition_fatigue, pe.attrition_morale, pe.attrition_skill)
            leavers[i] = u_leave[i] < p


# The rule that adds each engineer's values to the week's sums (its helpers are compiled in sim/model/metrics.py).
engineer_tallies = _jit(M.engineer_tallies)


@kernel
def week_sums(eng, wk, ch, org, out):
    """Step 9: the week's tallies summed over engineers, chunk by chunk (the tallies and where they go: sim/model/metrics.py)."""
    N, K = wk.choice.shape
    n_slots = M.TASK_TASK + M.N_TASK * K  # as metrics.kernel_slots
    n_chunks = (N + CHUNK - 1) // CHUNK
    partial = np.zeros((n_chunks, n_slots))
    for c in nb.prange(n_chunks):
        engineer_tallies(c * CHUNK, min(N, (c + 1) * CHUNK), eng, wk, ch, org, partial[c], np.zeros(M.N_TASK))
    # Combine the chunks' sums in chunk order, so the result does not depend on the number of threads.
    for a in range(n_slots):
        out[a] = 0.0
    for c in range(n_chunks):
        for a in range(n_slots):
            out[a] += partial[c, a]


@kernel
def close_permits(ch, present):
    """Step 1, last: vacant slots get no permission; who is in the AI programme and which tools each may use at all."""
    permit, in_programme, approved_tool = ch.permit, ch.in_programme, ch.approved_tool
    N, T, K = permit.shape
    for i in range(N):
        any_tool = False
        for j in range(T):
            ok = False
            for k in range(K):
                if not present[i]:
                    permit[i, j, k] = False
                elif permit[i, j, k]:
                    ok = True
            approved_tool[i, j] = ok
            any_tool = any_tool or ok
        in_programme[i] = any_tool


@kernel
def fill_engineers(slots, u, new_hire, eng, org, params):
    """New engineers in ``slots`` from one row of uniforms each (layout: Workforce.draw_width): level, skill, tenure,
    task mix, proficiency, prior beliefs, trust, morale, honesty threshold and affinity (normals by Box-Muller)."""
    lp, pr, tr = params.learning, params.perception, params.trust
    level_cdf, skill_mean, skill_sd, tenure_years, level_mix, reputation = (
        org.level_cdf, org.level_skill_mean, org.level_skill_sd, org.level_tenure_years, org.level_mix, org.reputation)
    is_present, t_hire, seniority, skill, tenure_weeks, task_mix, proficiency, belief = (
        eng.is_present, eng.t_hire, eng.seniority, eng.skill, eng.tenure_weeks, eng.task_mix, eng.proficiency, eng.belief)
    trust_ai, trust_leadership, fatigue, morale, honesty, affinity, habit, tried, ever_used, n_hired = (
        eng.trust_ai, eng.trust_leadership, eng.fatigue, eng.morale, eng.honesty_threshold, eng.affinity, eng.habit, eng.tried,
        eng.ever_used, eng.n_hired)
    fit, taste, weeks_used = eng.tool_fit, eng.tool_taste, eng.weeks_used
    engaged, expectation, experience, ever_engaged, weeks_with_ai = eng.engaged, eng.expectation, eng.experience, eng.ever_engaged, eng.weeks_with_ai
    T, K = proficiency.shape[1], task_mix.shape[1]
    n_normal = T + T * K + 3 + 2 * T + 1  # proficiency [T], beliefs [T,K], skill, honesty, affinity, fit [T], taste [T], optimism about AI
    z = np.empty(n_normal)
    for r in range(slots.shape[0]):
        i = slots[r]
        for q in range(n_normal):
            z[q] = np.sqrt(-2.0 * np.log1p(-u[r, 3 + q])) * np.cos(2.0 * np.pi * u[r, 3 + n_normal + q])
        lv = 0
        while lv < level_cdf.shape[0] - 1 and u[r, 0] >= level_cdf[lv]:
            lv += 1
        is_present[i] = True
        t_hire[i] = -1
        seniority[i] = lv
        skill[i] = drawn_share(skill_mean[lv], skill_sd[lv], z[T + T * K])
        if new_hire:
            tenure_weeks[i] = lp.new_hire_tenure_years * R.WEEKS_PER_YEAR
        else:
            tenure_weeks[i] = -np.log1p(-u[r, 1]) * tenure_years[lv] * R.WEEKS_PER_YEAR  # exponential around the level's mean
        for k in range(K):
            task_mix[i, k] = level_mix[lv, k]
        for j in range(T):
            proficiency[i, j] = drawn_share(lp.initial_proficiency, lp.initial_proficiency_sd, z[j])
            for k in range(K):
                belief[i, j, k] = prior_belief(pr.hype_prior, reputation[j], pr.prior_sd, prior_noise(z[n_normal - 1], z[T + j * K + k], pr.prior_shared))
                habit[i, j, k] = 0.0
                tried[i, j, k] = False
        trust_ai[i] = pr.initial_trust_ai
        trust_leadership[i] = tr.initial_trust_leadership
        fatigue[i] = 0.0
        morale[i] = params.people.initial_morale
        honesty[i] = tr.honesty_threshold + tr.honesty_threshold_sd * z[T + T * K + 1]
        affinity[i] = params.choice.affinity_sd * z[T + T * K + 2]
        for j in range(T):
            fit[i, j] = tool_fit(z[T + T * K + 3 + j], params.work.tool_fit_sd)
            taste[i, j] = tool_taste(z[T + T * K + 3 + j], z[T + T * K + 3 + T + j], params.choice.tool_taste_sd, params.choice.taste_fit_correlation)
            weeks_used[i, j] = 0.0
        ever_used[i] = False
        engaged[i] = False
        ever_engaged[i] = False
        weeks_with_ai[i] = 0.0
        expectation[i] = 0.0
        experience[i] = 0.0
        if new_hire:
            n_hired[i] += 1


# ---------------------------------------------------------------------------
# Serial and multi-threaded versions of the per-engineer passes
# ---------------------------------------------------------------------------

PASSES = ("team_mean", "choose_tools", "do_work", "perceive", "learn", "report", "team_retrospective", "trust_and_voice", "leave", "week_sums")


SERIAL = KernelSet((globals()[name] for name in PASSES), parallel=False)
PARALLEL = KernelSet((globals()[name] for name in PASSES), parallel=True)

#: Below this many engineers the serial passes are used.
PARALLEL_MIN = int(os.environ.get("MANDATE_SIM_PARALLEL_MIN", "500"))


def for_model(n_engineers: int) -> KernelSet:
    """The passes a model of this size uses in this thread: multi-threaded when it pays and is safe.

    Numba's default threading layer must not be entered from two Python threads at once, so models built
    outside the main thread (e.g. in a threaded Dask worker) use the serial passes.
    """
    if n_engineers >= PARALLEL_MIN and nb.get_num_threads() > 1 and threading.current_thread() is threading.main_thread():
        return PARALLEL
    return SERIAL
