"""Sweep throughput: model runs per second with 1 and 2 local workers (and any Dask setup), and the speed-up.

A plain script, not a test. Each configuration runs the same Latin-hypercube sweep of the 80% usage mandate
(200 engineers x 52 weeks by default, 3 policy parameters, outputs that need the paired counterfactual) into a
fresh folder, and checks that every configuration gives bit-identical results.

    python benchmarks/bench_sweep.py                           # 1 and 2 local worker processes
    python benchmarks/bench_sweep.py --dask-local 1,4,8,16     # Dask LocalClusters on this machine
    python benchmarks/bench_sweep.py --scheduler tcp://HOST:8786 --workers ''   # an existing cluster

"runs/s" counts model runs (design points x replicates) per second of wall time, start-up included;
"steady runs/s" leaves out the start-up (pool or cluster start, first chunk). Speed-ups are against the first
configuration (1 worker, which runs in this process).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from machine import machine  # benchmarks/ is on the path when the script runs
from sim.experiments.sweeps import load_sweep, sweep


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def background_load(seconds: float = 2.0) -> float:
    """Cores kept busy by other programs while this one waits ``seconds`` (from /proc/stat; NaN where unavailable)."""

    def busy() -> float:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")  # all but idle and iowait

    try:
        b0, t0 = busy(), time.perf_counter()
        time.sleep(seconds)
        return (busy() - b0) / (time.perf_counter() - t0)
    except (OSError, ValueError, IndexError):
        return float("nan")


def spec(samples: int, replicates: int, engineers: int, weeks: int) -> dict:
    return {
        "name": "bench", "scenario": "mandate_single_tool", "design": "lhs", "samples": samples, "replicates": replicates, "seed": 2024,
        "engineers": engineers, "weeks": weeks,
        "parameters": {"policy.usage_enforcement": [0.0, 1.0], "policy.usage_target": [0.2, 1.0], "policy.feedback_safety": [0.0, 1.0]},
        "outputs": ["true_gain", "trust_leadership", "weekly_active_share", "measurement_gap", "attrition_cumulative"],
    }


def one(label: str, s: dict, **executor) -> dict:
    """Run the sweep once into a fresh folder; wall time, steady-state rate and the results."""
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    marks: list[tuple[float, int, float]] = []
    others = background_load()
    own0 = time.process_time()
    t0 = time.perf_counter()
    try:
        sweep(s, folder / "out", progress=lambda p: marks.append((time.perf_counter(), p.done, p.worker_cpu_s)), **executor)
        wall = time.perf_counter() - t0
        parent_cpu = time.process_time() - own0
        df = load_sweep(folder / "out")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    model_runs = s["samples"] * s["replicates"]
    first = next(((t, d) for t, d, _ in marks if d > 0), None)
    steady = None
    if first is not None and marks[-1][1] > first[1]:
        steady = (marks[-1][1] - first[1]) * s["replicates"] / (marks[-1][0] - first[0])
    worker_cpu = marks[-1][2] if marks else float("nan")
    # CPU seconds per model run: the workers' (measured inside each chunk) and this process's (which, with 1 worker, is the worker).
    cpu_per_run = (worker_cpu if executor.get("workers") != 1 else 0.0) + parent_cpu
    return {"config": label, "wall_s": wall, "runs_per_s": model_runs / wall, "steady_runs_per_s": steady, "other_load_cores": others,
            "cpu_ms_per_run": 1000 * cpu_per_run / model_runs, "parent_cpu_s": parent_cpu, "worker_cpu_s": worker_cpu, "frame": df}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", default="1,2", help="Comma-separated local worker counts ('' for none).")
    ap.add_argument("--dask-local", default="", help="Comma-separated Dask LocalCluster sizes, e.g. 1,4,8,16.")
    ap.add_argument("--scheduler", default=None, help="An existing Dask scheduler, tcp://HOST:PORT.")
    ap.add_argument("--samples", type=int, default=128, help="Design points (LHS).")
    ap.add_argument("--replicates", type=int, default=2)
    ap.add_argument("--engineers", type=int, default=200)
    ap.add_argument("--weeks", type=int, default=52)
    ap.add_argument("--json", default=None, help="Also write the figures to this JSON file.")
    a = ap.parse_args()

    s = spec(a.samples, a.replicates, a.engineers, a.weeks)
    info = machine()
    print(f"# sweep benchmark: {a.samples} points x {a.replicates} replicates = {a.samples * a.replicates} model runs, "
          f"{a.engineers} engineers x {a.weeks} weeks")
    print(f"# machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), Python {info['python']}, numpy {info['numpy']}")
    print(f"# load average before: {load()}")
    configs = [(f"{w} local worker{'s' if w != 1 else ''}", {"workers": w}) for w in (int(x) for x in a.workers.split(",") if x.strip())]
    configs += [(f"Dask LocalCluster, {n} worker{'s' if n != 1 else ''}", {"dask_local": n}) for n in (int(x) for x in a.dask_local.split(",") if x.strip())]
    if a.scheduler:
        configs.append((f"Dask scheduler {a.scheduler}", {"scheduler": a.scheduler}))
    results = []
    for label, ex in configs:
        r = one(label, s, **ex)
        results.append(r)
        steady = f"{r['steady_runs_per_s']:.1f}" if r["steady_runs_per_s"] else "-"
        print(f"{label:>34}: {r['wall_s']:7.2f} s  {r['runs_per_s']:7.1f} runs/s  steady {steady} runs/s  {r['cpu_ms_per_run']:.1f} CPU ms/run "
              f"(parent {r['parent_cpu_s']:.2f} s)  other programs kept {r['other_load_cores']:.2f} cores busy just before", flush=True)
    for r in results[1:]:
        pd.testing.assert_frame_equal(r["frame"], results[0]["frame"], check_exact=True)
    print(f"# load average after: {load()}")
    print("# every configuration gave bit-identical results" if len(results) > 1 else "")
    base = results[0]
    print("\n| configuration | wall (s) | runs/s | speed-up | steady runs/s | steady speed-up | CPU ms per run | other programs' load just before (cores) |\n|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        su = base["wall_s"] / r["wall_s"]
        ss = (r["steady_runs_per_s"] / base["steady_runs_per_s"]) if r["steady_runs_per_s"] and base["steady_runs_per_s"] else float("nan")
        steady = f"{r['steady_runs_per_s']:.1f}" if r["steady_runs_per_s"] else "-"
        print(f"| {r['config']} | {r['wall_s']:.2f} | {r['runs_per_s']:.1f} | {su:.2f}x | {steady} | {ss:.2f}x | {r['cpu_ms_per_run']:.1f} | {r['other_load_cores']:.2f} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"machine": info, "spec": s, "results": [{k: v for k, v in r.items() if k != "frame"} for r in results]}, indent=1))


if __name__ == "__main__":
    main()
