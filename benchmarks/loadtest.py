"""Load test of ``mandate-sim app`` as deployed: 20 simulated users for two minutes on loopback.

Starts the app as an operator does (gunicorn, 2 server workers, 2 run workers, a shared cache folder bounded in
bytes) in its own process group, then runs ``--users`` threads for ``--seconds``. Each user, over and over:

* loads a page as a browser's first visit does: the page's HTML, then ``/_dash-layout`` and ``/_dash-dependencies``
  (one "page load" = the three, one after the other; the pages alternate between /, /compare, /lab and /model);
* presses Run on the compare page with the page's default size (3 policies x 10 replicates x 200 engineers x 52
  weeks) and a seed of its own (so every comparison is really run, never served from the cache), through the page's
  real callback (POST /_dash-update-component), then polls the page's progress callback every 0.5 s, as the page
  does, until the charts come (or an error);
* pauses 1 to 3 s (a fixed random sequence per user).

After ``--seconds`` no user starts anything new; the comparisons already accepted are waited for (at most
``--drain`` seconds more). Everything is bounded: ``--max-requests`` in all, a hard time limit, and the app's
process group is ended on exit, also after a failure or Ctrl-C. It samples the resident memory of all the app's
processes together every 0.5 s.

Acceptance (exit status 1 otherwise): no 5xx, no refused or failed default-size comparison, page loads p95 under 1 s.

    .venv/bin/python benchmarks/loadtest.py                       # = make loadtest: 20 users, 120 s
    .venv/bin/python benchmarks/loadtest.py --users 5 --seconds 20 # a quick look
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from browser_support import AppProcess, ComparePage, rss_bytes  # noqa: E402

PAGES = ["/", "/compare", "/lab", "/model"]
POLL_S = 0.5


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(q / 100 * len(s) + 0.5)) - 1))]


class Stats:
    def __init__(self, max_requests: int):
        self.lock = threading.Lock()
        self.page_loads: list[float] = []
        self.comparisons: list[float] = []
        self.status: dict[str, int] = {}
        self.refused: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        self.requests = 0
        self.max_requests = max_requests
        self.queue_texts = 0

    def count(self, n: int = 1) -> bool:
        """Count ``n`` requests; False once the bound on requests is reached."""
        with self.lock:
            self.requests += n
            return self.requests <= self.max_requests

    def http(self, code: int) -> None:
        with self.lock:
            key = f"{code // 100}xx"
            self.status[key] = self.status.get(key, 0) + 1


def user_loop(i: int, url: str, stats: Stats, stop_new: float, hard_end: float) -> None:
    rng = random.Random(1000 + i)
    page = ComparePage(url, f"load{i:02d}", timeout=60)
    stats.count(1)  # the dependencies the client read
    n = 0
    while time.monotonic() < stop_new:
        path = PAGES[(i + n) % len(PAGES)]
        t0 = time.perf_counter()
        ok = True
        for p in (path, "/_dash-layout", "/_dash-dependencies"):
            if not stats.count():
                return
            try:
                r = page.session.get(url + p, timeout=60)
                stats.http(r.status_code)
                ok = ok and r.status_code == 200
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                ok = False
                with stats.lock:
                    stats.errors.append(f"GET {p}: {type(e).__name__}: {e}"[:300])
        if ok:
            with stats.lock:
                stats.page_loads.append(time.perf_counter() - t0)
        if time.monotonic() >= stop_new or not stats.count():
            return
        seed = 1_000_000 + 1000 * i + n
        t0 = time.perf_counter()
        try:
            status, job, error = page.submit(seed=seed)
        except Exception as e:  # noqa: BLE001
            with stats.lock:
                stats.errors.append(f"submit: {type(e).__name__}: {e}"[:300])
            return
        stats.http(status)
        if job is None:
            with stats.lock:
                stats.refused.append(error[:300])
        else:
            tick = 0
            while True:
                tick += 1
                if not stats.count() or time.monotonic() > hard_end:
                    with stats.lock:
                        stats.failed.append("stopped by the load test's bounds before it finished")
                    return
                try:
                    status, state, text = page.poll(job, tick)
                except Exception as e:  # noqa: BLE001
                    with stats.lock:
                        stats.errors.append(f"poll: {type(e).__name__}: {e}"[:300])
                    time.sleep(POLL_S)
                    continue
                stats.http(status)
                if state == "done":
                    with stats.lock:
                        stats.comparisons.append(time.perf_counter() - t0)
                    break
                if state == "failed":
                    with stats.lock:
                        stats.failed.append(text[:300])
                    break
                if text.startswith("waiting in the queue"):
                    with stats.lock:
                        stats.queue_texts += 1
                time.sleep(POLL_S)
        n += 1
        time.sleep(rng.uniform(1.0, 3.0))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=120.0, help="how long users start new work")
    ap.add_argument("--drain", type=float, default=480.0, help="most seconds to wait for accepted comparisons afterwards")
    ap.add_argument("--max-requests", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2, help="run workers")
    ap.add_argument("--server-workers", type=int, default=2)
    ap.add_argument("--cache-bytes", default="256MiB")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not (1 <= args.users <= 200 and 1 <= args.seconds <= 1800 and 0 <= args.drain <= 1800):
        print("error: --users 1..200, --seconds 1..1800, --drain 0..1800", file=sys.stderr)
        return 2

    from machine import machine  # noqa: E402

    from dashboards.jobs import JobStore
    from sim.cli.serve import parse_bytes

    limit = parse_bytes(args.cache_bytes)
    with tempfile.TemporaryDirectory(prefix="mandate-sim-loadtest-") as tmp:
        cache = Path(tmp) / "cache"
        app = AppProcess("--workers", str(args.workers), "--server-workers", str(args.server_workers), "--cache-dir", str(cache),
                         "--cache-bytes", args.cache_bytes, log=Path(tmp) / "app.log")
        with app:
            stats = Stats(args.max_requests)
            peak = {"rss": 0, "processes": 0}
            sampling = threading.Event()

            def sample() -> None:
                while not sampling.is_set():
                    pids = app.pids()
                    rss = rss_bytes(pids)
                    if rss > peak["rss"]:
                        peak.update(rss=rss, processes=len(pids))
                    sampling.wait(0.5)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            idle_rss = rss_bytes(app.pids())
            t0 = time.monotonic()
            stop_new, hard_end = t0 + args.seconds, t0 + args.seconds + args.drain
            users = [threading.Thread(target=user_loop, args=(i, app.url, stats, stop_new, hard_end), daemon=True) for i in range(args.users)]
            for u in users:
                u.start()
            for u in users:
                u.join(max(hard_end - time.monotonic(), 0) + 70)
            elapsed = time.monotonic() - t0
            sampling.set()
            sampler.join(2)
            store = JobStore(cache)
            cache_bytes = store.cache_bytes()
            store.close()
            log = app.log()
        stuck = sum(u.is_alive() for u in users)

    fives = stats.status.get("5xx", 0)
    result = {
        "machine": machine(),
        "command": "make loadtest  (= .venv/bin/python benchmarks/loadtest.py " + " ".join(sys.argv[1:]) + ")",
        "users": args.users, "seconds": args.seconds, "elapsed_s": round(elapsed, 1), "requests": stats.requests, "status": stats.status,
        "page_loads": len(stats.page_loads), "page_p50_s": pct(stats.page_loads, 50), "page_p95_s": pct(stats.page_loads, 95),
        "page_max_s": max(stats.page_loads, default=float("nan")),
        "comparisons_done": len(stats.comparisons), "comparisons_refused": len(stats.refused), "comparisons_failed": len(stats.failed),
        "comparison_p50_s": pct(stats.comparisons, 50), "comparison_p95_s": pct(stats.comparisons, 95),
        "comparison_max_s": max(stats.comparisons, default=float("nan")),
        "comparison_mean_s": statistics.fmean(stats.comparisons) if stats.comparisons else float("nan"),
        "polls_showing_queue_place": stats.queue_texts,
        "client_errors": stats.errors[:10], "refused": stats.refused[:5], "failed": stats.failed[:5],
        "idle_rss_mib": idle_rss / 2**20, "peak_rss_mib": peak["rss"] / 2**20, "peak_processes": peak["processes"],
        "cache_bytes_mib": cache_bytes / 2**20, "cache_limit_mib": limit / 2**20, "users_stuck": stuck,
        "tracebacks_in_log": log.count("Traceback"),
    }
    m = result["machine"]
    print(f"machine: {m['cores']} cores ({m['cpu']}), {m['ram_gib']} GiB; python {m['python']}")
    print(f"{args.users} users for {args.seconds:.0f} s (+ waiting for accepted runs): {elapsed:.0f} s in all, {stats.requests:,} requests, "
          f"HTTP {stats.status}")
    print(f"page loads (HTML + layout + dependencies): {len(stats.page_loads)}, p50 {result['page_p50_s']:.3f} s, "
          f"p95 {result['page_p95_s']:.3f} s, max {result['page_max_s']:.3f} s")
    print(f"default-size comparisons: {len(stats.comparisons)} done, {len(stats.refused)} refused, {len(stats.failed)} failed; "
          f"click to charts p50 {result['comparison_p50_s']:.1f} s, p95 {result['comparison_p95_s']:.1f} s, max {result['comparison_max_s']:.1f} s "
          f"({stats.queue_texts} polls showed a place in the queue)")
    print(f"memory of all the app's processes ({peak['processes']}): idle {result['idle_rss_mib']:.0f} MiB, peak {result['peak_rss_mib']:.0f} MiB; "
          f"result cache on disk {result['cache_bytes_mib']:.1f} MiB of its {result['cache_limit_mib']:.0f} MiB bound")
    for e in stats.errors[:5] + stats.refused[:3] + stats.failed[:3]:
        print("  ", e)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    ok = (fives == 0 and not stats.refused and not stats.failed and not stats.errors and stuck == 0 and stats.page_loads
          and result["page_p95_s"] < 1.0 and cache_bytes <= limit and result["tracebacks_in_log"] == 0)
    print("acceptance (no 5xx, none refused or failed, page p95 < 1 s, cache within its bound):", "PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
