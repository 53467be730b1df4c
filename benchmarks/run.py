"""Run the benchmark suite (`make bench`): the core benchmarks, then the sweep and app benchmarks when they exist.

    python benchmarks/run.py                  # everything
    python benchmarks/run.py --quick          # the core benchmarks' smoke mode, printed only (the others run as they are)
    python benchmarks/run.py --only core      # some of: core, sweeps, app, explain, startup

Each benchmark is a plain script run as its own process (so one that crashes or
hangs cannot take the others with it); a failure is reported and the rest still
run; the exit status is non-zero if any failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

#: name, script, required (a missing optional script is skipped, a missing required one is a failure).
BENCHMARKS = (
    ("core", "bench_core.py", True),
    ("sweeps", "bench_sweep.py", False),
    ("app", "bench_app.py", False),
    ("explain", "bench_explain.py", False),
    ("startup", "bench_startup.py", False),
)


def run_one(name: str, script: Path, extra: list[str], timeout: float) -> tuple[str, float]:
    """Run one benchmark script as a subprocess with this interpreter; its status and wall seconds."""
    cmd = [sys.executable, str(script), *extra]
    print(f"\n=== {name}: {' '.join(cmd)}  (load {' / '.join(f'{x:.2f}' for x in os.getloadavg())})", flush=True)
    t0 = time.perf_counter()
    try:
        rc = subprocess.run(cmd, cwd=REPO, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        return f"FAILED (no result after {timeout:.0f} s)", time.perf_counter() - t0
    seconds = time.perf_counter() - t0
    return ("ok" if rc == 0 else f"FAILED (exit status {rc})"), seconds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="run the core benchmarks in their quick smoke mode")
    ap.add_argument("--only", default=",".join(b[0] for b in BENCHMARKS), help="comma-separated: core, sweeps, app, explain, startup")
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds each benchmark may take (default 1800)")
    args = ap.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    known = [b[0] for b in BENCHMARKS]
    unknown = [n for n in names if n not in known]
    if unknown:
        ap.error(f"--only: unknown benchmark(s) {unknown}; choose from {known}")

    summary = []
    for name, script, required in BENCHMARKS:
        if name not in names:
            continue
        path = HERE / script
        if not path.exists():
            summary.append((name, "FAILED (script missing)" if required else "skipped (no script yet)", 0.0))
            continue
        extra = ["--quick"] if (args.quick and name == "core") else []
        status, seconds = run_one(name, path, extra, args.timeout)
        summary.append((name, status, seconds))

    print("\n=== benchmark summary")
    for name, status, seconds in summary:
        print(f"  {name:<7} {status:<36} {seconds:7.1f} s")
    print(f"\nResults: {HERE / 'RESULTS.md'} (bench_core.py writes the Machine and Core sections) and the output above;"
          f" what each benchmark measures: {HERE / 'README.md'}")
    return 1 if any(s.startswith("FAILED") for _, s, _ in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
