"""Start-up: how long a user waits for ``mandate-sim --help``, for a typo's message, and for ``mandate-sim app`` to
print its address (the run workers warm, the server answering).

    python benchmarks/bench_startup.py                 # median of 5 (CLI) and 3 (app) starts
    python benchmarks/bench_startup.py --repeat 3 --app-repeat 1

Each command is started fresh, as a user starts it; the app in its own process group, ended whole (also on a
failure or Ctrl-C). Run another checkout's code with PYTHONPATH=<checkout> to compare commits in one sitting.
"""

from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _command() -> list[str]:
    """``mandate-sim`` as the installed entry point runs it, with whatever PYTHONPATH selects."""
    return [sys.executable, "-m", "sim.cli"]


def time_cli(args: list[str], repeat: int, cwd: Path) -> list[float]:
    """Seconds from start to exit of ``mandate-sim ARGS``, ``repeat`` fresh processes."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([*_command(), *args], cwd=cwd, capture_output=True, timeout=300)
        out.append(time.perf_counter() - t0)
    return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_app(repeat: int, workers: int, server_workers: int, timeout: float = 300.0) -> list[float]:
    """Seconds from ``mandate-sim app`` to its printed address, ``repeat`` fresh starts (each stopped as a group)."""
    out = []
    for _ in range(repeat):
        cmd = [*_command(), "app", "--port", str(_free_port()), "--workers", str(workers), "--server-workers", str(server_workers)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            seen = b""
            with selectors.DefaultSelector() as sel:
                sel.register(proc.stdout, selectors.EVENT_READ)
                while b"mandate-sim app on" not in seen:
                    if time.perf_counter() - t0 > timeout or proc.poll() is not None:
                        raise RuntimeError(f"the app printed no address: {seen[-2000:].decode(errors='replace')}")
                    if sel.select(0.05):
                        seen += os.read(proc.stdout.fileno(), 65536)
            out.append(time.perf_counter() - t0)
        finally:
            for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            time.sleep(0.5)  # the group's last processes (run workers) exit after the owner
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5, help="fresh processes per CLI command (default 5)")
    ap.add_argument("--app-repeat", type=int, default=3, help="fresh app starts (default 3; 0 skips the app)")
    ap.add_argument("--workers", type=int, default=2, help="the app's run workers (default 2)")
    ap.add_argument("--server-workers", type=int, default=2, help="the app's server workers (default 2)")
    args = ap.parse_args(argv)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {' / '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"code from {os.environ.get('PYTHONPATH') or REPO}")
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.yaml"
        bad.write_text("extends: free_choice\nweeks: [\n")
        rows = [("mandate-sim --help", time_cli(["--help"], args.repeat, Path(tmp))),
                ("mandate-sim run bad.yaml (its error message)", time_cli(["run", str(bad)], args.repeat, Path(tmp))),
                ("mandate-sim run free_choice -r 1 -n 20 --weeks 2", time_cli(["run", "free_choice", "-r", "1", "-n", "20", "--weeks", "2"], args.repeat, Path(tmp)))]
    if args.app_repeat:
        rows.append((f"mandate-sim app to its address ({args.workers} run, {args.server_workers} server workers)",
                     time_app(args.app_repeat, args.workers, args.server_workers)))
    print(f"{'what':<70} {'median':>8}  all (s)")
    for what, seconds in rows:
        print(f"{what:<70} {statistics.median(seconds):>7.2f}s  {', '.join(f'{s:.2f}' for s in seconds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
