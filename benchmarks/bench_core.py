"""Core speed benchmarks: one run, scaling, roofline and replicates (a plain script, not a test).

    python benchmarks/bench_core.py                 # everything (a few minutes on 2 cores), writes benchmarks/RESULTS.md
    python benchmarks/bench_core.py --quick         # fewer repeats and smaller sizes (a smoke run: prints, writes nothing)
    python benchmarks/bench_core.py --only one_run,roofline --no-write

The pattern follows Mesa's own benchmarks: warm-up runs first (they also load or
compile the numba kernels, which is never timed), several seeds, repeated runs,
garbage collection off while timing, and medians with their spread (IQR and
min-max). Every section of benchmarks/RESULTS.md this script owns (Machine, Core:
one run / scaling / roofline / replicates) is rewritten in place; other sections
are left as they are. See benchmarks/README.md for what each benchmark measures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import re
import resource
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numba  # noqa: E402

from sim import EngineeringOrg, load_scenario  # noqa: E402
from sim.experiments.runner import _derive, _Layout, replicate_seeds, run_scenarios, simulate, tidy  # noqa: E402
from sim.model.metrics import series_list  # noqa: E402

RESULTS = HERE / "RESULTS.md"
SCENARIO = "mandate_single_tool"
#: The sections of RESULTS.md this script owns, in order.
SECTIONS = ("## Machine", "## Core: one run", "## Core: scaling", "## Core: roofline", "## Core: replicates")
TARGET_ONE_RUN_S = 0.025
TARGET_RATIO = 50.0
TARGET_100K_S = 2.0
TARGET_100K_BYTES = 1 << 30


# ---------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall seconds of ``repeats`` calls of fn, garbage collection off while timing."""
    out = []
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    finally:
        gc.enable()
    return out


def stats(xs: list[float]) -> dict:
    """Median, quartiles, min and max of a list of timings."""
    a = np.asarray(xs, dtype=float)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"n": int(a.size), "median": float(med), "q1": float(q1), "q3": float(q3), "min": float(a.min()), "max": float(a.max())}


def ms(x: float) -> str:
    return f"{x * 1e3:,.1f} ms" if x < 1 else f"{x:,.2f} s"


def spread(s: dict) -> str:
    """'IQR a-b, range c-d' in ms."""
    return f"IQR {s['q1'] * 1e3:,.1f}-{s['q3'] * 1e3:,.1f} ms, range {s['min'] * 1e3:,.1f}-{s['max'] * 1e3:,.1f} ms"


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


def machine_cpu_seconds() -> float:
    """CPU seconds all programs on the machine have used since boot (user, nice, system, irq, softirq in /proc/stat)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return float("nan")
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds() -> float:
    """CPU seconds this process and its finished children (memory probe, pool workers) have used."""
    r, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def scenario(engineers: int, weeks: int, name: str = SCENARIO):
    return load_scenario(name, engineers=engineers, weeks=weeks)


def one_model_run(sc, seed: int):
    """What a user pays for one run with all outputs: build, run the horizon, the tidy table."""
    return EngineeringOrg(sc, seed=seed).run().results()


# ---------------------------------------------------------------------------
# Machine
# ---------------------------------------------------------------------------


from machine import machine  # noqa: E402  (benchmarks/ is on the path when the script runs)

# ---------------------------------------------------------------------------
# 1. One run, and the idiomatic-Mesa reference
# ---------------------------------------------------------------------------


def one_run_breakdown(sc, seeds: list[int]) -> dict:
    """Where one run's time goes: building the model, each phase of the week (summed over the horizon), the rest of ``step()``
    (mostly the weekly draws), the tidy table; medians over seeds, gc off."""
    parts: dict[str, list[float]] = {}
    for s in seeds:
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            m = EngineeringOrg(sc, seed=s, profile=True)
            t1 = time.perf_counter()
            m.run()
            t2 = time.perf_counter()
            m.results()
            t3 = time.perf_counter()
            d = EngineeringOrg(sc, seed=s).draws
            t4 = time.perf_counter()
            for _ in range(m.weeks):
                d.next_week()
            t5 = time.perf_counter()
        finally:
            gc.enable()
        prof = m.profile_report()
        row = {"build (EngineeringOrg(...))": t1 - t0, **{f"phase {p}": v for p, v in prof.items()},
               "weekly draws (in step())": t5 - t4, "rest of step()": max((t2 - t1) - sum(prof.values()) - (t5 - t4), 0.0),
               "tidy table (results())": t3 - t2}
        for k, v in row.items():
            parts.setdefault(k, []).append(v)
    return {k: float(np.median(v)) for k, v in parts.items()}


def bench_one_run(quick: bool) -> dict:
    """1,000 engineers x 52 weeks, all outputs: the model (many timings) and the reference (a few)."""
    from reference_model import ReferenceOrg

    N, W = 1000, 52
    sc = scenario(N, W)
    seeds = [1, 2, 3] if quick else [1, 2, 3, 4, 5]
    repeats = 3 if quick else 7
    for s in (101, 102, 103):  # warm-up: loads or compiles the kernels, warms caches
        one_model_run(sc, s)
    per_seed = {s: timed(lambda s=s: one_model_run(sc, s), repeats) for s in seeds}
    all_times = [t for ts in per_seed.values() for t in ts]
    model = stats(all_times)
    best_per_seed = float(np.median([min(ts) for ts in per_seed.values()]))

    ref_seeds = seeds[:1] if quick else seeds[:3]
    ReferenceOrg(scenario(50, 4), seed=0).run().results()  # warm-up (imports, first allocations)
    ref_times, ref_tables = {}, {}
    for s in ref_seeds:
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            ref_tables[s] = ReferenceOrg(sc, seed=s).run().results()
            ref_times[s] = time.perf_counter() - t0
        finally:
            gc.enable()
    ref = stats(list(ref_times.values()))
    paired = [ref_times[s] / float(np.median(per_seed[s])) for s in ref_seeds]

    # Same work: the two agree on every output (to rounding).
    agree = 0.0
    for s in ref_seeds:
        a = one_model_run(sc, s)["value"].to_numpy()
        b = ref_tables[s]["value"].to_numpy()
        agree = max(agree, float(np.max(np.abs(a - b) / np.maximum(np.abs(a), 1e-12))))
    breakdown = one_run_breakdown(sc, seeds[:3])
    return {
        "breakdown": breakdown,
        "engineers": N, "weeks": W, "scenario": SCENARIO, "seeds": seeds, "repeats": repeats,
        "model": model, "model_best_per_seed_median": best_per_seed,
        "reference": ref, "reference_seeds": ref_seeds, "ratio_median": ref["median"] / model["median"],
        "ratio_paired": paired, "max_rel_difference": agree,
        "model_engineer_weeks_per_s": N * W / model["median"], "reference_engineer_weeks_per_s": N * W / ref["median"],
    }


# ---------------------------------------------------------------------------
# 2. Scaling and memory
# ---------------------------------------------------------------------------


def _vm(field: str) -> int:
    """A VmRSS/VmHWM figure of this process from /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def memory_child(engineers: int, weeks: int) -> dict:
    """In a fresh process: the resident-set peak (VmHWM) of one run over the baseline after imports and a warm-up; then tracemalloc's peak.

    VmHWM rather than ru_maxrss: after fork + exec, ru_maxrss keeps the parent's peak (Linux carries the old
    address space's high-water mark into the new one), and VmHWM can be reset to the current RSS (clear_refs 5)."""
    import tracemalloc

    sc = scenario(engineers, weeks)
    one_model_run(scenario(20, 2), 0)  # load the compiled kernels into the baseline
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # peak := current
        reset = True
    except OSError:
        reset = False
    base = _vm("VmRSS")
    t0 = time.perf_counter()
    df = one_model_run(sc, 1)
    seconds = time.perf_counter() - t0
    peak = _vm("VmHWM")
    del df
    gc.collect()
    tracemalloc.start()
    one_model_run(sc, 1)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"baseline_rss": base, "peak_rss": peak, "run_rss": peak - base, "traced_peak": traced_peak, "seconds": seconds,
            "peak_reset": reset, "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def bench_scaling(quick: bool) -> dict:
    """Cost per engineer-week from 1,000 to 100,000 engineers and 52 to 260 weeks; memory of 100,000 x 52 in a fresh process."""
    sizes = [1000, 10_000] if quick else [1000, 10_000, 100_000]
    horizons = [52] if quick else [52, 260]
    rows = []
    for N in sizes:
        one_model_run(scenario(N, 4), 7)  # warm-up at this size
        for W in horizons:
            ew = N * W
            repeats = 1 if ew > 10_000_000 else (3 if ew > 1_000_000 else (5 if ew > 200_000 else 7))
            if quick:
                repeats = min(repeats, 3)
            sc = scenario(N, W)
            t = stats(timed(lambda sc=sc: one_model_run(sc, 1), repeats))
            rows.append({"engineers": N, "weeks": W, "repeats": repeats, **t, "ns_per_engineer_week": t["median"] / ew * 1e9})
    big = max(sizes)
    breakdown = {"engineers": big, "weeks": 52, "parts": one_run_breakdown(scenario(big, 52), [1])}
    mem_n = 10_000 if quick else 100_000
    proc = subprocess.run([sys.executable, __file__, "--memory-child", str(mem_n), "52"], capture_output=True, text=True, check=True)
    memory = json.loads(proc.stdout.strip().splitlines()[-1])
    memory["engineers"], memory["weeks"] = mem_n, 52
    return {"rows": rows, "memory": memory, "breakdown": breakdown}


# ---------------------------------------------------------------------------
# 3. Roofline
# ---------------------------------------------------------------------------


@numba.njit(cache=True)
def _touch(x, k):
    """Read and write every byte of x once (x[i] += k with k = 0 known only at run time, so nothing is optimised away)."""
    for i in range(x.shape[0]):
        x[i] = x[i] + k


@numba.njit(cache=True)
def _exp_chain(x):
    """Sum of exp over x, in order (a dependent chain the compiler cannot vectorise, like the kernels' scalar calls)."""
    s = 0.0
    for i in range(x.shape[0]):
        s += np.exp(x[i])
    return s


def _state_arrays(obj) -> list[np.ndarray]:
    return [v for v in vars(obj).values() if isinstance(v, np.ndarray) and v.size > 1]


def bench_roofline(quick: bool) -> dict:
    """At 100,000 engineers: the time to read and write every state array once against one real week, and the week by phase."""
    N = 20_000 if quick else 100_000
    W = 52
    model = EngineeringOrg(scenario(N, W), seed=1)
    for _ in range(4):  # past the first weeks' allocations and page faults
        model.step()
    state = _state_arrays(model.workforce) + _state_arrays(model.wk)
    extra = _state_arrays(model.policy_state) + [model.draws._u, model.draws._z]
    k = np.uint8(0)

    def touch(arrays):
        for a in arrays:
            _touch(a.reshape(-1).view(np.uint8), k)

    touch(state + extra)
    repeats = 10 if quick else 30
    t_state = stats(timed(lambda: touch(state), repeats))
    t_all = stats(timed(lambda: touch(state + extra), repeats))
    bytes_state = sum(a.nbytes for a in state)
    bytes_all = bytes_state + sum(a.nbytes for a in extra)

    # What the machine allows: a plain copy of 256 MiB (read 256, write 256).
    big = np.ones(32 * 2**20)
    dst = np.empty_like(big)
    t_copy = stats(timed(lambda: np.copyto(dst, big), 10))
    copy_gbs = 2 * big.nbytes / t_copy["min"] / 1e9
    del big, dst

    # One real week: median over several weeks, then the same weeks profiled by phase.
    weeks = 6 if quick else 12
    t_week = stats(timed(model.step, weeks))
    prof = EngineeringOrg(scenario(N, W), seed=1, profile=True)
    for _ in range(4):
        prof.step()
    prof.phase_seconds = {p: 0.0 for p in prof.PHASES}
    t_prof = timed(prof.step, weeks)
    phases = {p: s / weeks for p, s in prof.profile_report().items()}
    t_draws = stats(timed(prof.draws.next_week, weeks))
    # Two pieces of the week: the team means (two per week: habits, then beliefs) and the cost of one exp.
    from sim.model import kernels

    wf, wk = model.workforce, model.wk
    Nn, T, K = wf.belief.shape
    t_team_mean = stats(timed(lambda: kernels.team_mean(wf.belief.reshape(Nn, T * K), wk.present, wf.team_starts, wk.peer), repeats))["median"]
    xs = np.random.default_rng(0).uniform(-3.0, 3.0, 2_000_000)
    _exp_chain(xs[:10])
    exp_ns = stats(timed(lambda: _exp_chain(xs), 5))["median"] / xs.size * 1e9
    return {
        "engineers": N, "state_arrays": len(state), "extra_arrays": len(extra), "bytes_state": bytes_state, "bytes_all": bytes_all,
        "touch_state": t_state, "touch_all": t_all, "copy_gbs": copy_gbs,
        "touch_state_gbs": 2 * bytes_state / t_state["median"] / 1e9, "touch_all_gbs": 2 * bytes_all / t_all["median"] / 1e9,
        "week": t_week, "week_profiled": float(np.median(t_prof)), "phases": phases, "draws": t_draws["median"],
        "team_mean": t_team_mean, "exp_ns": exp_ns,
        "ratio_state": t_week["median"] / t_state["median"], "ratio_all": t_week["median"] / t_all["median"],
    }


# ---------------------------------------------------------------------------
# 4. Replicates
# ---------------------------------------------------------------------------


def _paired_replicate(args: tuple) -> tuple[np.ndarray, np.ndarray]:
    """One replicate as the sweeps run it: the scenario and its no-AI counterfactual with the same seed."""
    spec, seed = args
    values = simulate(spec, seed)
    return values, simulate(spec.counterfactual(), seed)


def _tidy_from(spec, pairs: list) -> object:
    layout = _Layout(series_list(tuple(spec.organisation.task_types)))
    blocks, series = [], None
    for r, (values, cf) in enumerate(pairs):
        full, series = _derive(values, cf, layout)
        blocks.append((spec.name, r, full))
    return tidy(blocks, series)


def _process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (fields 14 and 15 of /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _warm_worker(_: int = 0) -> int:
    one_model_run(scenario(20, 2), 0)
    return os.getpid()


def bench_replicates(quick: bool) -> dict:
    """R = 20 replicates x 500 engineers x 52 weeks: sequential (run_scenarios), and on a 2-process pool; the fixed costs per run."""
    R, N, W = 20, 500, 52
    spec = scenario(N, W)
    repeats = 2 if quick else 3
    run_scenarios([spec], replicates=2, seed=99)  # warm-up
    seq = stats(timed(lambda: run_scenarios([spec], replicates=R, seed=0), repeats))
    seeds = replicate_seeds(0, R)
    tasks = [(spec, s) for s in seeds]

    import multiprocessing as mp

    ctx = mp.get_context("forkserver") if sys.platform.startswith("linux") else mp.get_context("spawn")
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        list(pool.map(_paired_replicate, tasks, chunksize=1))
        cold = time.perf_counter() - t0  # pool start, imports and kernel loading included
        list(pool.map(_warm_worker, range(4)))
        warm = stats(timed(lambda: _tidy_from(spec, list(pool.map(_paired_replicate, tasks, chunksize=1))), repeats))
        pool_cpu = sum(_process_cpu_seconds(pid) for pid in list(pool._processes))  # workers are the forkserver's children, not ours
    seq_pairs = stats(timed(lambda: _tidy_from(spec, [_paired_replicate(t) for t in tasks]), repeats))

    # Fixed costs of one run: building the model, the per-week cost that does not grow with engineers, the tidy table.
    reps = 5 if quick else 15
    small = scenario(10, W)
    t_build = stats(timed(lambda: EngineeringOrg(spec, seed=1), reps))["median"]
    t_build_small = stats(timed(lambda: EngineeringOrg(small, seed=1), reps))["median"]
    t_small = stats(timed(lambda: EngineeringOrg(small, seed=1).run(), reps))["median"]
    t_run = stats(timed(lambda: EngineeringOrg(spec, seed=1).run(), reps))["median"]
    m = EngineeringOrg(spec, seed=1).run()
    t_results = stats(timed(m.results, reps))["median"]
    week_fixed = (t_small - t_build_small) / W  # a week at 10 engineers: almost all of it is per-week overhead
    week_500 = (t_run - t_build) / W
    per_run_fixed = t_build_small + W * week_fixed
    # The same share at other sizes: what stacking would save per run depends on the organisation's size.
    shares = {}
    for n_other in (200, 1000):
        sc_other = scenario(n_other, W)
        shares[n_other] = per_run_fixed / stats(timed(lambda sc_other=sc_other: EngineeringOrg(sc_other, seed=1).run(), reps))["median"]
    shares[N] = per_run_fixed / t_run
    return {
        "replicates": R, "engineers": N, "weeks": W, "runs": 2 * R, "child_cpu_seconds": pool_cpu,
        "sequential_run_scenarios": seq, "sequential_pairs": seq_pairs, "pool2_cold": cold, "pool2_warm": warm,
        "speedup_warm": seq_pairs["median"] / warm["median"], "speedup_cold": seq["median"] / cold,
        "build_500": t_build, "build_10": t_build_small, "week_500": week_500, "week_fixed": week_fixed, "results_500": t_results,
        "run_500": t_run, "per_run_fixed": per_run_fixed, "fixed_share": per_run_fixed / t_run,
        "fixed_share_by_size": {int(k): float(v) for k, v in sorted(shares.items())},
    }


# ---------------------------------------------------------------------------
# RESULTS.md
# ---------------------------------------------------------------------------


def update_sections(path: Path, bodies: dict[str, str]) -> None:
    """Replace the body under each of our '## ' headings (up to the next '## ' heading); add missing ones at the end. Other sections stay."""
    text = path.read_text() if path.exists() else "# Benchmark results\n\nWritten by the scripts in benchmarks/ (see benchmarks/README.md).\n"
    for heading, body in bodies.items():
        block = f"{heading}\n\n{body.strip()}\n\n"
        pattern = re.compile(rf"^{re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
        if pattern.search(text):
            text = pattern.sub(lambda _m: block, text, count=1)
        else:
            text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text.rstrip("\n") + "\n")


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _breakdown_table(parts: dict[str, float], title: str) -> str:
    """A markdown table of a run's parts, largest first, with shares."""
    total = sum(parts.values())
    rows = "\n".join(f"| {k} | {ms(v)} | {v / total * 100:.0f}% |" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
    return f"{title}\n\n| part | per run | share |\n|---|---|---|\n{rows}\n| total | {ms(total)} | |\n"


def render(res: dict, command: str) -> dict[str, str]:
    """Markdown bodies of our sections from the measured results."""
    mc = res["machine"]
    when = res["date"]
    out = {}
    out["## Machine"] = (
        f"| | |\n|---|---|\n| CPU | {mc['cpu']} |\n| cores | {mc['cores']} (usable by this process: {mc['cores_usable']}) |\n"
        f"| RAM | {mc['ram_gib']} GiB |\n| OS | {mc['os']} |\n| Python | {mc['python']} |\n| numpy | {mc['numpy']} |\n"
        f"| numba | {mc['numba']} |\n| Mesa | {mc['mesa']} |\n| date | {when} |\n| command | `{command}` ({res['seconds']:.0f} s) |\n"
        f"| load average (1/5/15 min) | before {res['load_before']}; after {res['load_after']} (the benchmark itself adds about 1) |\n"
        f"| other programs' CPU use during each benchmark | "
        + ", ".join(f"{k}: {v:.2f} cores" for k, v in res["others"].items())
        + " (machine CPU time from /proc/stat minus this process's and its children's, per second of wall time) |\n\n"
        + ("The machine was **busy**: other programs used more than half a core during at least one benchmark, so absolute"
           " times there are pessimistic (ratios measured in the same run are less affected).\n" if res["busy"] else
           "The machine was quiet: other programs used less than half a core during every benchmark.\n")
    )
    if "one_run" in res:
        r = res["one_run"]
        m, f = r["model"], r["reference"]
        out["## Core: one run"] = (
            f"`EngineeringOrg(scenario, seed=s).run().results()` with scenario `{r['scenario']}` at {r['engineers']:,} engineers x"
            f" {r['weeks']} weeks (build, run, tidy table with every output), after 3 warm-up runs (kernel loading); {len(r['seeds'])} seeds"
            f" x {r['repeats']} runs, gc off while timing. The reference is `benchmarks/reference_model.py` (same rules, same draws, engineers"
            f" as `mesa.Agent`s stepped with `shuffle_do` in plain Python), one run per seed for {len(r['reference_seeds'])} seeds;"
            f" on those seeds the two agree on every output to {r['max_rel_difference']:.1e} relative.\n\n"
            "| | median | spread | engineer-weeks/s | target | |\n|---|---|---|---|---|---|\n"
            f"| model | {ms(m['median'])} | {spread(m)} | {r['model_engineer_weeks_per_s']:,.0f} | < 25 ms | {verdict(m['median'] < TARGET_ONE_RUN_S)} |\n"
            f"| reference (idiomatic Mesa) | {ms(f['median'])} | range {ms(f['min'])}-{ms(f['max'])} | {r['reference_engineer_weeks_per_s']:,.0f} | | |\n"
            f"| speed ratio | **{r['ratio_median']:,.0f}x** | per seed {', '.join(f'{x:,.0f}x' for x in r['ratio_paired'])} | | >= 50x |"
            f" {verdict(r['ratio_median'] >= TARGET_RATIO)} |\n\n"
            f"Median of the per-seed fastest model runs (Mesa's convention): {ms(r['model_best_per_seed_median'])}.\n\n"
            + _breakdown_table(r["breakdown"], "Where one model run's time goes (`profile=True`, medians over 3 seeds; the profiled run"
                               " is a little slower than an unprofiled one):")
        )
    if "scaling" in res:
        s = res["scaling"]
        rows = "\n".join(
            f"| {x['engineers']:,} | {x['weeks']} | {x['repeats']} | {ms(x['median'])} | {ms(x['min'])}-{ms(x['max'])} | {x['ns_per_engineer_week']:,.0f} |"
            for x in s["rows"]
        )
        mem = s["memory"]
        big = next((x for x in s["rows"] if x["engineers"] == 100_000 and x["weeks"] == 52), None)
        target = ""
        if big is not None:
            target = (f"100,000 x 52: {ms(big['median'])} against < 2 s: {verdict(big['median'] < TARGET_100K_S)}; "
                      f"peak memory {mem['peak_rss'] / 2**20:,.0f} MiB for the whole process against < 1 GB: "
                      f"{verdict(mem['peak_rss'] < TARGET_100K_BYTES)}.\n\n")
        out["## Core: scaling"] = (
            f"One run (build, run, tidy table) of `{SCENARIO}`, gc off, after a short warm-up run at each size.\n\n"
            "| engineers | weeks | runs | median | range | ns per engineer-week |\n|---|---|---|---|---|---|\n" + rows + "\n\n" + target +
            f"Memory of one {mem['engineers']:,} x {mem['weeks']} run, measured in a fresh process (`bench_core.py --memory-child`):"
            f" peak resident set (VmHWM of /proc/self/status, reset to the current RSS just before the run; `ru_maxrss` would"
            f" carry the parent's peak over fork + exec) {mem['peak_rss'] / 2**20:,.0f} MiB in all, of which"
            f" {mem['baseline_rss'] / 2**20:,.0f} MiB is the baseline after imports and a tiny warm-up run (Python, numpy, pandas,"
            f" pydantic, Mesa, numba and the compiled kernels) and {mem['run_rss'] / 2**20:,.0f} MiB the run itself; tracemalloc's peak"
            f" of the run's allocations (numpy arrays included) {mem['traced_peak'] / 2**20:,.0f} MiB.\n\n"
            + _breakdown_table(s["breakdown"]["parts"], f"Where one {s['breakdown']['engineers']:,} x {s['breakdown']['weeks']} run goes"
                               " (`profile=True`, one seed):")
        )
    if "roofline" in res:
        r = res["roofline"]
        week = r["week"]["median"]
        total_phase = sum(r["phases"].values())
        phase_rows = "\n".join(
            f"| {p} | {t * 1e3:,.2f} ms | {t / r['week_profiled'] * 100:.0f}% |" for p, t in sorted(r["phases"].items(), key=lambda kv: -kv[1])
        )
        rest = r["week_profiled"] - total_phase - r["draws"]
        out["## Core: roofline"] = (
            f"At {r['engineers']:,} engineers (`{SCENARIO}`, after 4 warm-up weeks). The floor: a numba pass that reads and writes every byte"
            f" of every state array once: the {r['state_arrays']} arrays of `model.workforce` and the week scratch `model.wk`"
            f" ({r['bytes_state'] / 2**20:,.0f} MiB); and with the policy state and the weekly draws added ({r['extra_arrays']} more arrays,"
            f" {r['bytes_all'] / 2**20:,.0f} MiB in all). A plain 256 MiB copy on this machine moves {r['copy_gbs']:.1f} GB/s (read + write).\n\n"
            "| | time | effective GB/s (read + write) |\n|---|---|---|\n"
            f"| read + write the state once | {ms(r['touch_state']['median'])} | {r['touch_state_gbs']:.1f} |\n"
            f"| ... plus policy state and weekly draws | {ms(r['touch_all']['median'])} | {r['touch_all_gbs']:.1f} |\n"
            f"| one real week (median of {r['week']['n']}) | {ms(week)} | |\n\n"
            f"A real week costs **{r['ratio_state']:.1f}x** the state floor ({r['ratio_all']:.1f}x the wider floor). Where a week goes"
            f" (`EngineeringOrg(..., profile=True).profile_report()`, per week; the weekly draws are drawn in `step()` before the phases):\n\n"
            "| phase | per week | share |\n|---|---|---|\n" + phase_rows +
            f"\n| weekly draws (`WeeklyDraws.next_week`) | {r['draws'] * 1e3:,.2f} ms | {r['draws'] / r['week_profiled'] * 100:.0f}% |\n"
            f"| rest of `step()` | {max(rest, 0) * 1e3:,.2f} ms | {max(rest, 0) / r['week_profiled'] * 100:.0f}% |\n\n"
            f"Per engineer a week costs {r['week_profiled'] / r['engineers'] * 1e9:,.0f} ns against a floor of"
            f" {r['touch_state']['median'] / r['engineers'] * 1e9:,.1f} ns for its {r['bytes_state'] / r['engineers']:,.0f} bytes of state:"
            f" the week is bound by arithmetic, not memory. Pieces measured on their own: one team mean over the"
            f" {r['engineers']:,} engineers' beliefs (`kernels.team_mean`, run twice a week: habits in `engineers_choose`, beliefs in"
            f" `perceive_and_learn`) {r['team_mean'] * 1e3:.2f} ms; one `exp` in a scalar chain {r['exp_ns']:.1f} ns (an engineer-week"
            f" under this mandate calls exp/log1p/expm1/pow about 12-17 times: 6 logit weights, up to 5 shadow-use chances, familiarity,"
            f" voice, 3 in the leaving hazard, training), so transcendental functions alone take roughly"
            f" {12 * r['exp_ns']:.0f}-{17 * r['exp_ns']:.0f} ns of it.\n"
        )
    if "replicates" in res:
        r = res["replicates"]
        out["## Core: replicates"] = (
            f"R = {r['replicates']} replicates of `{SCENARIO}` at {r['engineers']} engineers x {r['weeks']} weeks; each replicate also runs its"
            f" paired no-AI counterfactual, so {r['runs']} model runs and one tidy table.\n\n"
            "| how | median | spread |\n|---|---|---|\n"
            f"| `sim.run_scenarios([spec], replicates=20)` (the app's way), 1 process | {ms(r['sequential_run_scenarios']['median'])} | {spread(r['sequential_run_scenarios'])} |\n"
            f"| the same pairs through `simulate` (the sweeps' way), 1 process | {ms(r['sequential_pairs']['median'])} | {spread(r['sequential_pairs'])} |\n"
            f"| 2-process pool (forkserver), warm | {ms(r['pool2_warm']['median'])} | {spread(r['pool2_warm'])} |\n"
            f"| 2-process pool, cold (pool start, imports, kernel loading) | {ms(r['pool2_cold'])} | one run |\n\n"
            f"Speed-up on 2 processes: {r['speedup_warm']:.2f}x warm, {r['speedup_cold']:.2f}x cold.\n\n"
            f"Fixed costs of one run at {r['engineers']} engineers: building the model {ms(r['build_500'])} ({ms(r['build_10'])} at 10 engineers),"
            f" a week {r['week_500'] * 1e3:.3f} ms of which about {r['week_fixed'] * 1e3:.3f} ms does not grow with engineers (a week at 10"
            f" engineers: phase dispatch, kernel calls, levers, recorder), the tidy table {ms(r['results_500'])}. A whole run takes"
            f" {ms(r['run_500'])}, of which about {ms(r['per_run_fixed'])} (**{r['fixed_share'] * 100:.0f}%**) is per-run overhead that"
            f" stacking the replicates into one set of arrays would pay once instead of R times. The same fixed cost is"
            f" {', '.join(f'{v * 100:.0f}% of a run at {int(k):,} engineers' for k, v in r['fixed_share_by_size'].items())}:"
            f" stacking R replicates would save about (R-1)/R of that share, and nothing of the per-engineer work.\n"
        )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes (a smoke run; prints only, RESULTS.md is left as it is)")
    ap.add_argument("--only", default="one_run,scaling,roofline,replicates", help="comma-separated benchmarks to run")
    ap.add_argument("--no-write", action="store_true", help="print only; leave benchmarks/RESULTS.md as it is")
    ap.add_argument("--json", type=Path, help="also write the raw results as JSON here")
    ap.add_argument("--from-json", type=Path, help="write RESULTS.md from results saved earlier with --json (measures nothing)")
    ap.add_argument("--memory-child", nargs=2, type=int, metavar=("ENGINEERS", "WEEKS"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        print(json.dumps(memory_child(*args.memory_child)))
        return 0
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        bodies = render(saved, saved["command"])
        update_sections(RESULTS, bodies)
        print(f"[bench_core] wrote {', '.join(bodies)} in {RESULTS} from {args.from_json}")
        return 0

    command = "python benchmarks/bench_core.py" + (" " + " ".join(argv if argv is not None else sys.argv[1:])).rstrip()
    wanted = [w.strip() for w in args.only.split(",") if w.strip()]
    benches = {"one_run": bench_one_run, "scaling": bench_scaling, "roofline": bench_roofline, "replicates": bench_replicates}
    unknown = [w for w in wanted if w not in benches]
    if unknown:
        ap.error(f"--only: unknown benchmark(s) {unknown}; choose from {list(benches)}")
    res = {"machine": machine(), "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "load_before": load()}
    # Other programs' use of the cores during each benchmark: the machine's CPU time minus this process's (and its children's).
    res["others"] = {}
    t0 = time.perf_counter()
    for name in wanted:
        print(f"[bench_core] {name} ... (load {load()})", flush=True)
        t, m0, o0 = time.perf_counter(), machine_cpu_seconds(), own_cpu_seconds()
        res[name] = benches[name](args.quick)
        wall = time.perf_counter() - t
        own = own_cpu_seconds() - o0 + res[name].get("child_cpu_seconds", 0.0)
        res["others"][name] = max(machine_cpu_seconds() - m0 - own, 0.0) / wall
        print(f"[bench_core] {name} done in {wall:.1f} s; other programs used {res['others'][name]:.2f} cores meanwhile", flush=True)
    res["seconds"] = time.perf_counter() - t0
    res["command"] = command
    res["load_after"] = load()
    res["busy"] = max(res["others"].values(), default=0.0) > 0.5 or os.getloadavg()[0] > 0.5 and not res["others"]
    bodies = render(res, command)
    for heading, body in bodies.items():
        print(f"\n{heading}\n\n{body}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1, default=float))
    if args.quick:
        print("\n[bench_core] --quick: rough numbers, RESULTS.md left as it is")
    elif not args.no_write:
        update_sections(RESULTS, bodies)
        print(f"\n[bench_core] wrote {', '.join(bodies)} in {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
