"""Fused weekly kernels: each phase of the weekly story as one pass over the engineers, compiled by numba.

The kernels call the rules of sim/rules.py (compiled as they are, so the model
and the virtual studies share one definition of every rule) and only add the
loops, the bookkeeping and the order of updates. One pass per phase reads and
writes each engineer's row once, instead of the dozens of whole-array
temporaries a numpy version needs (see benchmarks/RESULTS.md).
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


clip = _jit(R.clip)
familiarity = _jit(R.familiarity)
mastery = _jit(R.mastery)
work_speed = _jit(R.work_speed)
time_components = _jit(R.time_components)
time_multiplier = _jit(R.time_multiplier)
tool_utility = _jit(R.tool_utility)
choice_weight = _jit(R.choice_weight)
shadow_probability = _jit(R.shadow_probability)
token_probability = _jit(R.token_probability)
available_hours = _jit(R.available_hours)
rework_due = _jit(R.rework_due)
catch_rate = _jit(R.catch_rate)
defects_introduced = _jit(R.defects_introduced)
felt_saving = _jit(R.felt_saving)
perceived_saving = _jit(R.perceived_saving)
update_toward = _jit(R.update_toward)
learn_proficiency = _jit(R.learn_proficiency)
trained_proficiency = _jit(R.trained_proficiency)
trust_ai_target = _jit(R.trust_ai_target)
fatigue_target = _jit(R.fatigue_target)
morale_target = _jit(R.morale_target)
is_honest = _jit(R.is_honest)
slanted_report = _jit(R.slanted_report)
implied_gain = _jit(R.implied_gain)
voice_probability = _jit(R.voice_probability)
trust_leadership_change = _jit(R.trust_leadership_change)
safety_change = _jit(R.safety_change)
leave_probability = _jit(R.leave_probability)


@nb.njit(cache=True)
def pick(u, weights):
    """The logit choice for one decision: 0 (no AI) or tool j+1, from tool weights (0: unavailable) and a uniform draw; as rules.choose."""
    T = weights.shape[0]
    total = 0.0
    for j in range(T):
        total += weights[j]
    denom = 1.0 + total
    c = 1 if u >= 1.0 / denom else 0
    cs = 0.0
    for j in range(T - 1):
        cs += weights[j]
        if u >= (1.0 + cs) / denom:
            c += 1
    return c


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
def choose_tools(
    belief, affinity, trust_ai, peer, team, habit, tried, endorse, level, permit, pressure, norm, in_programme, enforcement,
    u_choice, u_shadow, u_token, present,
    benefit_weight, hurdle, trust_weight, peer_weight, habit_weight, trial_barrier, endorsement_weight,
    pressure_weight, norm_weight, shadow_gap, shadow_penalty, token_propensity,
    choice, shadow, forced, token,
):
    """Step 2: per engineer and task type, no AI or an approved tool (logit, with and without pressure), or a barred tool (shadow); token uses."""
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
            w_pressure = choice_weight(pressure_weight * pressure[i] + norm_weight * (1.0 if norm[i] else 0.0))
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
                                         endorse[level[i], j, k], benefit_weight, hurdle, trust_weight, peer_weight, habit_weight, trial_barrier,
                                         endorsement_weight)
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
                    if sj >= 0 and best_barred - best_permitted > shadow_gap:
                        p = shadow_probability(best_barred - best_permitted, affinity[i], enforcement, benefit_weight, shadow_gap, shadow_penalty)
                        if u_shadow[k, i] < p:
                            is_shadow = True
                            c = sj + 1
                choice[i, k] = c
                shadow[i, k] = is_shadow
                forced[i, k] = c > 0 and not is_shadow and c_free == 0
                if c > 0 and not is_shadow:
                    real_use = True
            if in_programme[i] and not real_use:
                token[i] = u_token[i] < token_probability(pressure[i], token_propensity)


@nb.njit(cache=True)
def do_work(
    choice, norm, token, training_hours, present, tenure, skill, proficiency, fatigue, task_mix, rework_pending,
    time_saving, verification, defect_change, codable, context, task_hours, defect_rate,
    familiarity_years, greenfield_mastery, expert_discount, novice_realisation, expert_scrutiny, proficiency_verification_saving,
    learning_overhead, generate_verification, speed_min, speed_skill, focus_hours, fatigue_drag, token_use_hours,
    rework_due_share, fix_hours, skill_defect_reduction, catch_base, catch_skill, catch_fatigue, effort_discount, optimism,
    multiplier, hidden, felt_potential, delivered, hours, escaped, verify_hours, capacity, rework, token_hours, touch,
):
    """Step 3: task time with the chosen tool's true effect, hours, delivered work, defects and rework; the felt saving of every tool."""
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
            speed = work_speed(skill[i], speed_min, speed_skill)
            cap = available_hours(focus_hours, fatigue[i], fatigue_drag)
            rw = rework_due(rework_pending[i], rework_due_share, cap)
            rework_pending[i] -= rw
            tok = token_use_hours if token[i] else 0.0
            task_time = max(cap - rw - tok - training_hours[i], 0.0)
            daily = max(task_time, 1.0) / R.WORKDAYS_PER_WEEK
            caught = catch_rate(skill[i], fatigue[i], catch_base, catch_skill, catch_fatigue)
            extra = generate_verification if norm[i] else 0.0
            vh = 0.0
            esc_total = 0.0
            for k in range(K):
                mast = mastery(skill[i], fam, context[k], greenfield_mastery)
                m = 1.0
                hid = 0.0
                ver = 0.0
                dch = 0.0
                for j in range(T):
                    g, v, o = time_components(time_saving[j, k], verification[j, k], codable[k], mast, proficiency[i, j], extra,
                                              expert_discount, novice_realisation, expert_scrutiny, proficiency_verification_saving, learning_overhead)
                    mj = time_multiplier(g, v, o)
                    felt_potential[i, j, k] = felt_saving(1.0 - mj, v + o, effort_discount, optimism)
                    if choice[i, k] == j + 1:
                        m = mj
                        hid = v + o
                        ver = v
                        dch = defect_change[j, k]
                h = task_time * task_mix[i, k]
                d = speed * h / m
                vh += h * ver / m
                e = defects_introduced(d, defect_rate[k], skill[i], skill_defect_reduction, dch) * (1.0 - caught)
                esc_total += e
                multiplier[i, k] = m
                hidden[i, k] = hid
                delivered[i, k] = d
                hours[i, k] = h
                escaped[i, k] = e
                touch[i, k] = task_hours[k] * m / speed / daily
            rework_pending[i] += esc_total * fix_hours
            verify_hours[i] = vh
            capacity[i] = cap
            rework[i] = rw
            token_hours[i] = tok


@nb.njit(cache=True)
def perceive(choice, multiplier, hidden, felt_potential, z, present, belief,
             outside_word, belief_update, effort_discount, optimism, anchoring, noise_sd, perceived):
    """Step 4a: beliefs about tools not used drift toward their felt saving; used tools are perceived (anchored, noisy) and beliefs update."""
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
                        belief[i, j, k] = update_toward(belief[i, j, k], felt_potential[i, j, k], outside_word)
                if c > 0:
                    b = belief[i, c - 1, k]
                    felt = felt_saving(1.0 - multiplier[i, k], hidden[i, k], effort_discount, optimism)
                    p = perceived_saving(felt, b, z[k, i], anchoring, noise_sd)
                    perceived[i, k] = p
                    belief[i, c - 1, k] = update_toward(b, p, belief_update)
                else:
                    perceived[i, k] = 0.0


@nb.njit(cache=True)
def learn(choice, shadow, forced, token, norm, present, task_mix, perceived, approved_tool, training_hours, verify_hours, token_hours, skill,
          peer_belief, team, belief, proficiency, trust_ai, habit, tried, ever_used, fatigue, morale,
          peer_influence, learning_rate, forgetting, token_learning, training_effect, trust_ai_rate,
          focus_hours, fatigue_saturation, fatigue_rate, initial_morale, morale_fatigue, morale_forced, morale_norm, morale_gain, morale_rate):
    """Step 4b: peers pull beliefs, proficiency follows use and training, trust in AI follows felt gains, habits, fatigue and morale."""
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
                    intensity += token_learning / T
                p = learn_proficiency(proficiency[i, j], intensity, learning_rate, forgetting)
                if approved_tool[i, j]:
                    p = trained_proficiency(p, training_hours[i], training_effect)
                proficiency[i, j] = p
            if ai_share > 0.0:
                trust_ai[i] = update_toward(trust_ai[i], trust_ai_target(felt / ai_share), trust_ai_rate)
            if approved_use or token[i]:
                ever_used[i] = True
            fat = update_toward(fatigue[i], fatigue_target(verify_hours[i] + token_hours[i], focus_hours, fatigue_saturation), fatigue_rate)
            norm_loss = morale_norm * skill[i] if norm[i] else 0.0
            target = morale_target(initial_morale, fat, forced_share, norm_loss, felt, morale_fatigue, morale_forced, morale_gain)
            morale[i] = update_toward(morale[i], target, morale_rate)
            fatigue[i] = fat


@nb.njit(cache=True)
def report(choice, shadow, perceived, token, present, task_mix, safety, team, honesty_threshold, stake, wanted_gain,
           reporting, honest, reported_gain):
    """Step 5: who telemetry counts active, who reports honestly, and the gain each reports."""
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
def trust_and_voice(belief, permit, in_programme, forced, task_mix, present, team, safety, u_voice, enforcement, feedback_safety,
                    initial_trust, voice_gap, voice_threshold, voice_slope, voice_rate,
                    drift, forced_cost, restriction_cost, ignored_cost, response_gain,
                    trust_leadership, voiced, punished):
    """Step 6 (engineers): believed harm from barred tools and forced use, voice, trust in leadership, punishment of dissent."""
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
            dissatisfied = gap + forced_share > voice_gap
            p_voice = voice_probability(safety[team[i]], voice_threshold, voice_slope, voice_rate)
            v = dissatisfied and u_voice[i] < p_voice
            voiced[i] = v
            vf = 1.0 if v else 0.0
            trust_leadership[i] = trust_leadership_change(trust_leadership[i], initial_trust, forced_share, gap, vf, feedback_safety,
                                                          drift, forced_cost, restriction_cost, ignored_cost, response_gain)
            punished[i] = vf * enforcement * (1.0 - feedback_safety)


@nb.njit(cache=True)
def team_safety(safety, punished, present, team_starts, climate, rate, punishment_cost):
    """Step 6 (teams): safety moves toward the climate, minus the share of the team punished for dissent."""
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
        safety[t] = safety_change(safety[t], climate, s / max(n, 1), rate, punishment_cost)


@nb.njit(cache=True)
def week_sums(present, now_present, level, task_mix, choice, shadow, forced, token, reporting, ever_used, voiced, pressure,
              delivered, escaped, capacity, rework, verify, task_hours, data_risk, vetted_risk, trust_leadership, trust_ai,
              fatigue, morale, safety, team, honest, reported_gain, idx, out):
    """Step 9: the week's sums for the recorder, in one pass (layout: sim.metrics.Sums.kernel_order)."""
    N, K = choice.shape
    (N_, REP, EVER, GEN, FONLY, TONLY, SHU, VOI, PRES, MIX, AIW, FW, SW, DEL, ESC, CAP, RW, VER, RISK,
     TL, TA, FAT, MOR, SAF, HON, REPG, NOW,
     L_N, L_REP, L_MIX, L_AIW, L_FW, L_DEL, L_TL, L_TA, L_FAT, L_MOR, L_NOW,
     K_MIX, K_AIW, K_FW, K_SW, K_DEL, K_ESC) = (idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6], idx[7], idx[8], idx[9],
                                                 idx[10], idx[11], idx[12], idx[13], idx[14], idx[15], idx[16], idx[17], idx[18],
                                                 idx[19], idx[20], idx[21], idx[22], idx[23], idx[24], idx[25], idx[26],
                                                 idx[27], idx[28], idx[29], idx[30], idx[31], idx[32], idx[33], idx[34], idx[35],
                                                 idx[36], idx[37], idx[38], idx[39], idx[40], idx[41], idx[42], idx[43])
    n_chunks = (N + CHUNK - 1) // CHUNK
    partial = np.zeros((n_chunks, out.shape[0]))
    for c in nb.prange(n_chunks):
        acc = partial[c]
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
                lv = level[i]
                if now_present[i]:
                    acc[NOW] += 1.0
                    acc[L_NOW + lv] += 1.0
                if not present[i]:
                    continue
                acc[N_] += 1.0
                acc[L_N + lv] += 1.0
                genuine = False
                any_forced = False
                any_shadow = False
                ai_w = 0.0
                f_w = 0.0
                mix_i = 0.0
                del_i = 0.0
                for k in range(K):
                    w = task_mix[i, k]
                    mix_i += w
                    acc[K_MIX + k] += w
                    c = choice[i, k]
                    if c > 0:
                        ai_w += w
                        acc[K_AIW + k] += w
                        tasks = delivered[i, k] / task_hours[k]
                        acc[RISK] += tasks * data_risk[c - 1] * (1.0 if shadow[i, k] else vetted_risk)
                        if shadow[i, k]:
                            any_shadow = True
                            acc[SW] += w
                            acc[K_SW + k] += w
                        elif forced[i, k]:
                            any_forced = True
                        else:
                            genuine = True
                    if forced[i, k]:
                        f_w += w
                        acc[K_FW + k] += w
                    del_i += delivered[i, k]
                    acc[K_DEL + k] += delivered[i, k]
                    acc[ESC] += escaped[i, k]
                    acc[K_ESC + k] += escaped[i, k]
                acc[MIX] += mix_i
                acc[L_MIX + lv] += mix_i
                acc[AIW] += ai_w
                acc[L_AIW + lv] += ai_w
                acc[FW] += f_w
                acc[L_FW + lv] += f_w
                acc[DEL] += del_i
                acc[L_DEL + lv] += del_i
                if reporting[i]:
                    acc[REP] += 1.0
                    acc[L_REP + lv] += 1.0
                    acc[REPG] += reported_gain[i]
                if ever_used[i]:
                    acc[EVER] += 1.0
                if genuine:
                    acc[GEN] += 1.0
                elif any_forced:
                    acc[FONLY] += 1.0
                elif token[i]:
                    acc[TONLY] += 1.0
                if any_shadow:
                    acc[SHU] += 1.0
                if voiced[i]:
                    acc[VOI] += 1.0
                acc[PRES] += pressure[i]
                acc[CAP] += capacity[i]
                acc[RW] += rework[i]
                acc[VER] += verify[i]
                acc[TL] += trust_leadership[i]
                acc[L_TL + lv] += trust_leadership[i]
                acc[TA] += trust_ai[i]
                acc[L_TA + lv] += trust_ai[i]
                acc[FAT] += fatigue[i]
                acc[L_FAT + lv] += fatigue[i]
                acc[MOR] += morale[i]
                acc[L_MOR + lv] += morale[i]
                acc[SAF] += safety[team[i]]
                if honest[i]:
                    acc[HON] += 1.0
    # Combine the chunks' sums in chunk order, so the result does not depend on the number of threads.
    for a in range(27):
        out[idx[a]] = 0.0
    for a in range(27, 38):
        for lv in range(3):
            out[idx[a] + lv] = 0.0
    for a in range(38, 44):
        for k in range(K):
            out[idx[a] + k] = 0.0
    for c in range(n_chunks):
        for a in range(27):
            out[idx[a]] += partial[c, idx[a]]
        for a in range(27, 38):
            for lv in range(3):
                out[idx[a] + lv] += partial[c, idx[a] + lv]
        for a in range(38, 44):
            for k in range(K):
                out[idx[a] + k] += partial[c, idx[a] + k]

@nb.njit(cache=True)
def leave(present, u_leave, trust, fatigue, morale, skill, tenure,
          annual_attrition, initial_trust, initial_morale, attrition_trust, attrition_fatigue, attrition_morale, attrition_skill,
          leavers):
    """Step 8 (departures): a week of tenure, then each engineer leaves with the rule's probability."""
    N = present.shape[0]
    for c in nb.prange((N + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(N, (c + 1) * CHUNK)):
            leavers[i] = False
            if not present[i]:
                continue
            tenure[i] += 1.0
            p = leave_probability(trust[i], fatigue[i], morale[i], skill[i], annual_attrition, initial_trust, initial_morale,
                                  attrition_trust, attrition_fatigue, attrition_morale, attrition_skill)
            leavers[i] = u_leave[i] < p

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
def close_permits(permit, present, in_programme, approved_tool):
    """Step 1, last: vacant slots get no permission; who is in the AI programme and which tools each may use at all."""
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
def fill_engineers(slots, u, new_hire, T, K, level_cdf, skill_mean, skill_sd, tenure_years, level_mix, reputation,
                   new_hire_tenure_years, initial_proficiency, initial_proficiency_sd, hype_prior, prior_sd,
                   initial_trust_ai, initial_trust_leadership, initial_morale, honesty_threshold, honesty_threshold_sd, affinity_sd,
                   is_present, t_hire, seniority, skill, tenure_weeks, task_mix, proficiency, belief, trust_ai, trust_leadership,
                   fatigue, morale, honesty, affinity, habit, tried, ever_used, n_hired):
    """New engineers in ``slots`` from one row of uniforms each (layout: Workforce.draw_width): level, skill, tenure,
    task mix, proficiency, prior beliefs, trust, morale, honesty threshold and affinity (normals by Box-Muller)."""
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
        skill[i] = clip(skill_mean[lv] + skill_sd[lv] * z[T + T * K], 0.0, 1.0)
        if new_hire:
            tenure_weeks[i] = new_hire_tenure_years * R.WEEKS_PER_YEAR
        else:
            tenure_weeks[i] = -np.log1p(-u[r, 1]) * tenure_years[lv] * R.WEEKS_PER_YEAR  # exponential around the level's mean
        for k in range(K):
            task_mix[i, k] = level_mix[lv, k]
        for j in range(T):
            proficiency[i, j] = clip(initial_proficiency + initial_proficiency_sd * z[j], 0.0, 1.0)
            for k in range(K):
                belief[i, j, k] = clip(hype_prior * reputation[j] + prior_sd * z[T + j * K + k], -1.0, 0.95)
                habit[i, j, k] = 0.0
                tried[i, j, k] = False
        trust_ai[i] = initial_trust_ai
        trust_leadership[i] = initial_trust_leadership
        fatigue[i] = 0.0
        morale[i] = initial_morale
        honesty[i] = honesty_threshold + honesty_threshold_sd * z[T + T * K + 1]
        affinity[i] = affinity_sd * z[T + T * K + 2]
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
