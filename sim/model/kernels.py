"""Fused weekly kernels: each phase of the weekly story as one pass over the engineers, compiled by numba.

The kernels call the rules of sim/model/rules.py (compiled as they are, so the
model, the virtual studies and the reference model share one definition of every
rule) and only add the loops, the bookkeeping and the order of updates. Each
kernel takes a few named bundles (sim/model/bundles.py): the engineers' state
``eng``, the week's scratch ``wk``, the policy's channels ``ch``, the week's
draws ``draws``, the organisation's tables ``org`` and the parameter sections it
uses. Fields are unpacked into locals before the loops (a write through a
namedtuple field inside ``prange`` would be lost). One pass per phase reads and
writes each engineer's row once (see benchmarks/RESULTS.md).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
import types

import numba as nb
import numpy as np

from . import metrics as M
from . import rules as R
from .fingerprint import source_digest


def _cache_dir() -> str:
    """Numba's on-disk cache, keyed by the model's sources (sim/model/fingerprint.py) and the numba and numpy versions.

    Numba checks only the cached function's own file, so a change to a rule it
    calls (or to a declaration a bundle is built from) would otherwise leave stale
    machine code in use; a new key per source version avoids that.
    """
    digest = hashlib.sha256(f"{source_digest()} {nb.__version__} {np.__version__}".encode())
    key = digest.hexdigest()[:16]
    bases = [os.environ.get("NUMBA_CACHE_DIR"), os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mandate-sim", "numba"),
             os.path.join(tempfile.gettempdir(), "mandate-sim-numba")]
    for base in bases:
        if not base:
            continue
        path = os.path.join(base, key)
        try:
            os.makedirs(path, exist_ok=True)
            probe = os.path.join(path, f".probe-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.unlink(probe)
            return path
        except OSError:
            continue
    return ""


nb.config.CACHE_DIR = _cache_dir()

#: Engineers per chunk of a parallel pass. Chunks are fixed by the number of engineers, never by the number of
#: threads, and every sum over engineers is combined chunk by chunk in order, so results are bit-identical
#: whatever the thread count.
CHUNK = 256


def _jit(f):
    return nb.njit(cache=True)(f)


# The rules the kernels call, compiled as they are.
clip = _jit(R.clip)
drawn_share = _jit(R.drawn_share)
prior_belief = _jit(R.prior_belief)
familiarity = _jit(R.familiarity)
mastery = _jit(R.mastery)
work_speed = _jit(R.work_speed)
time_components = _jit(R.time_components)
time_multiplier = _jit(R.time_multiplier)
tool_utility = _jit(R.tool_utility)
choice_weight = _jit(R.choice_weight)
pressure_utility = _jit(R.pressure_utility)
pick = _jit(R.pick)
shadow_probability = _jit(R.shadow_probability)
token_probability = _jit(R.token_probability)
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
token_intensity = _jit(R.token_intensity)
trust_ai_target = _jit(R.trust_ai_target)
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def choose_tools(eng, wk, ch, draws, choice_params):
    """Step 2: per engineer and task type, no AI or an approved tool (logit, with and without pressure), or a barred tool (shadow); token uses."""
    cp = choice_params
    belief, affinity, trust_ai, habit, tried, level, team = eng.belief, eng.affinity, eng.trust_ai, eng.habit, eng.tried, eng.seniority, eng.team
    permit, pressure, norm, in_programme, endorse, enforcement = ch.permit, ch.pressure, ch.norm, ch.in_programme, ch.endorsement, ch.enforcement
    u_choice, u_shadow, u_token = draws.choice, draws.shadow, draws.token
    present, peer = wk.present, wk.peer
    choice, shadow, forced, token = wk.choice, wk.shadow, wk.forced, wk.token
    N, T, K = belief.shape
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        w_push = np.empty(T)
        w_free = np.empty(T)
        barred = np.empty(T, dtype=np.bool_)
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            token[i] = False
            if not present[i]:
                for k in range(K):
                    choice[i, k] = 0
                    shadow[i, k] = False
                    forced[i, k] = False
                continue
            # exp(u + push) = exp(u) * exp(push): one exponential per engineer for the pressure.
            w_pressure = choice_weight(pressure_utility(pressure[i], 1.0 if norm[i] else 0.0, cp.pressure_weight, cp.norm_weight))
            for j in range(T):
                barred[j] = True
                for k in range(K):
                    if permit[i, j, k]:
                        barred[j] = False
            real_use = False
            for k in range(K):
                best_permitted = 0.0
                for j in range(T):
                    if permit[i, j, k]:
                        u = tool_utility(belief[i, j, k], affinity[i], trust_ai[i], peer[team[i], j * K + k], habit[i, j, k], 1.0 if tried[i, j, k] else 0.0,
                                         endorse[level[i], j, k], cp.benefit_weight, cp.hurdle, cp.trust_weight, cp.peer_weight, cp.habit_weight,
                                         cp.trial_barrier, cp.endorsement_weight)
                        w_free[j] = choice_weight(u)
                        w_push[j] = w_free[j] * w_pressure
                        if belief[i, j, k] > best_permitted:
                            best_permitted = belief[i, j, k]
                    else:
                        w_free[j] = 0.0
                        w_push[j] = 0.0
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
                        p = shadow_probability(best_barred - best_permitted, affinity[i], enforcement, cp.benefit_weight, cp.shadow_gap, cp.shadow_penalty)
                        if u_shadow[k, i] < p:
                            is_shadow = True
                            c = sj + 1
                choice[i, k] = c
                shadow[i, k] = is_shadow
                forced[i, k] = c > 0 and not is_shadow and c_free == 0
                if c > 0 and not is_shadow:
                    real_use = True
            if in_programme[i] and not real_use:
                token[i] = u_token[i] < token_probability(pressure[i], cp.token_propensity)


@nb.njit(cache=True)
def do_work(eng, wk, ch, org, work, quality, learning, perception):
    """Step 3: task time with the chosen tool's true effect, hours, delivered work, defects and rework; the felt saving of every tool."""
    w, q = work, quality
    tenure, skill, proficiency, fatigue, task_mix, rework_pending = eng.tenure_weeks, eng.skill, eng.proficiency, eng.fatigue, eng.task_mix, eng.rework_pending
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
                    g, v, o = time_components(time_saving[j, k], verification[j, k], codable[k], mast, proficiency[i, j], extra,
                                              w.expert_discount, w.novice_realisation, w.expert_scrutiny, w.proficiency_verification_saving,
                                              w.learning_overhead)
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
def learn(eng, wk, ch, perception, learning, work, people):
    """Step 4b: peers pull beliefs, proficiency follows use and training, trust in AI follows felt gains, habits, fatigue and morale."""
    lp, pe = learning, people
    team, task_mix, skill = eng.team, eng.task_mix, eng.skill
    belief, proficiency, trust_ai, habit, tried, ever_used, fatigue, morale = (
        eng.belief, eng.proficiency, eng.trust_ai, eng.habit, eng.tried, eng.ever_used, eng.fatigue, eng.morale)
    norm, approved_tool, training_hours = ch.norm, ch.approved_tool, ch.training_hours
    choice, shadow, forced, token, present, perceived = wk.choice, wk.shadow, wk.forced, wk.token, wk.present, wk.perceived
    verify_hours, token_hours, peer_belief = wk.verify_hours, wk.token_hours, wk.peer
    peer_influence, trust_ai_rate, focus_hours = perception.peer_influence, perception.trust_ai_rate, work.focus_hours
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
            approved_use = False
            for k in range(K):
                if choice[i, k] > 0:
                    ai_share += task_mix[i, k]
                    felt += task_mix[i, k] * perceived[i, k]
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
                if token[i] and approved_tool[i, j]:
                    intensity += token_intensity(lp.token_learning, T)
                p = learn_proficiency(proficiency[i, j], intensity, lp.learning_rate, lp.forgetting)
                if approved_tool[i, j]:
                    p = trained_proficiency(p, training_hours[i], lp.training_effect)
                proficiency[i, j] = p
            if ai_share > 0.0:
                trust_ai[i] = update_toward(trust_ai[i], trust_ai_target(felt / ai_share), trust_ai_rate)
            if approved_use or token[i]:
                ever_used[i] = True
            fat = update_toward(fatigue[i], fatigue_target(verify_hours[i] + token_hours[i], focus_hours, pe.fatigue_saturation), pe.fatigue_rate)
            norm_loss = norm_morale_loss(skill[i], pe.morale_norm) if norm[i] else 0.0
            target = morale_target(pe.initial_morale, fat, forced_share, norm_loss, felt, pe.morale_fatigue, pe.morale_forced, pe.morale_gain)
            morale[i] = update_toward(morale[i], target, pe.morale_rate)
            fatigue[i] = fat


@nb.njit(cache=True)
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
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


@nb.njit(cache=True)
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


engineer_tallies = _jit(M.engineer_tallies)


@nb.njit(cache=True)
def week_sums(eng, wk, ch, org, ix, layout, out):
    """Step 9: the week's tallies summed over engineers, in one pass (layout and tallies: sim/model/metrics.py)."""
    level = eng.seniority
    e_all, e_level = layout.engineer_all, layout.engineer_level
    t_all, t_level, t_task, t_element = layout.task_all, layout.task_level, layout.task_task, layout.task_element
    n_slots = layout.kernel_slots
    NE, NT = e_all.shape[0], t_all.shape[0]
    N, K = wk.choice.shape
    n_chunks = (N + CHUNK - 1) // CHUNK
    partial = np.zeros((n_chunks, n_slots))
    for c in nb.prange(n_chunks):
        acc = partial[c]
        v = np.empty(NE)
        vk = np.empty((NT, K))
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            engineer_tallies(i, eng, wk, ch, org, ix, v, vk)
            lv = level[i]
            for a in range(NE):
                acc[e_all[a]] += v[a]
                if e_level[a] >= 0:
                    acc[e_level[a] + lv] += v[a]
            for b in range(NT):
                s = 0.0
                for k in range(K):
                    x = vk[b, k]
                    s += x
                    if t_task[b] >= 0:
                        acc[t_task[b] + k] += x
                    if t_element[b]:
                        acc[t_all[b]] += x
                if not t_element[b]:
                    acc[t_all[b]] += s
                if t_level[b] >= 0:
                    acc[t_level[b] + lv] += s
    # Combine the chunks' sums in chunk order, so the result does not depend on the number of threads.
    for a in range(n_slots):
        out[a] = 0.0
    for c in range(n_chunks):
        for a in range(n_slots):
            out[a] += partial[c, a]


@nb.njit(cache=True)
def _splitmix64(x):
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@nb.njit(cache=True)
def hashed_uniforms(entropy, slots, counters, out):
    """Fill out[m, width] with uniforms in [0, 1) hashed from (entropy, slot, counter, column)."""
    m, width = out.shape
    for r in range(m):
        key = _splitmix64(entropy ^ _splitmix64(np.uint64(slots[r]) * np.uint64(0x100000001B3) + np.uint64(counters[r])))
        for c in range(width):
            x = _splitmix64(key + np.uint64(c) * np.uint64(0x9E3779B97F4A7C15))
            out[r, c] = (x >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True)
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


@nb.njit(cache=True)
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
    T, K = proficiency.shape[1], task_mix.shape[1]
    n_normal = T + T * K + 3
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
                belief[i, j, k] = prior_belief(pr.hype_prior, reputation[j], pr.prior_sd, z[T + j * K + k])
                habit[i, j, k] = 0.0
                tried[i, j, k] = False
        trust_ai[i] = pr.initial_trust_ai
        trust_leadership[i] = tr.initial_trust_leadership
        fatigue[i] = 0.0
        morale[i] = params.people.initial_morale
        honesty[i] = tr.honesty_threshold + tr.honesty_threshold_sd * z[T + T * K + 1]
        affinity[i] = params.choice.affinity_sd * z[T + T * K + 2]
        ever_used[i] = False
        if new_hire:
            n_hired[i] += 1


# ---------------------------------------------------------------------------
# Serial and multi-threaded versions of the per-engineer passes
# ---------------------------------------------------------------------------

PASSES = ("team_mean", "choose_tools", "do_work", "perceive", "learn", "report", "trust_and_voice", "leave", "week_sums")


class KernelSet:
    """The per-engineer passes, compiled serial or multi-threaded (numba prange over fixed chunks of engineers)."""

    def __init__(self, parallel: bool):
        self.parallel = parallel
        for name in PASSES:
            serial = globals()[name]
            if parallel:
                f = serial.py_func
                clone = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
                clone.__qualname__ = f"{f.__qualname__}__parallel"  # its own numba cache entry
                setattr(self, name, nb.njit(cache=True, parallel=True)(clone))
            else:
                setattr(self, name, serial)


SERIAL = KernelSet(parallel=False)
PARALLEL = KernelSet(parallel=True)

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


def set_threads(n: int) -> None:
    """Threads the multi-threaded passes use, for calls from this Python thread (1 in each worker of a process pool)."""
    nb.set_num_threads(max(1, min(int(n), nb.config.NUMBA_NUM_THREADS)))


@contextlib.contextmanager
def single_threaded():
    """Run the enclosed models on one thread (restoring the previous setting afterwards)."""
    before = nb.get_num_threads()
    set_threads(1)
    try:
        yield
    finally:
        set_threads(before)


if os.environ.get("MANDATE_SIM_THREADS"):
    set_threads(int(os.environ["MANDATE_SIM_THREADS"]))
