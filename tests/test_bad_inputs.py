"""The bad-input corpus (tests/data/bad/cases.yaml): every wrong file, flag or folder gets one clear message, the right exit
code, no traceback, bounded time and memory, and leaves no output behind.

Most cases run in-process through ``sim.cli.main`` (fast); the ones that could hang or balloon a process if they regressed
(FIFOs, devices, an unreachable scheduler) run through the installed command with a timeout.
"""

from __future__ import annotations

import os
import resource
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sim.cli import main
from sim.paths import bundled

BAD = Path(__file__).parent / "data" / "bad"
CASES = yaml.safe_load((BAD / "cases.yaml").read_text(encoding="utf-8"))
IN_A_PROCESS = {"fifo", "good_sweep"}  # setups whose case runs through the installed command, with a timeout
COMMAND = str(Path(sys.executable).parent / "mandate-sim")


def test_the_corpus_is_large_and_every_file_in_it_is_used():
    assert len(CASES) >= 60
    ids = [c["id"] for c in CASES]
    assert len(set(ids)) == len(ids), "case ids are unique"
    named = " ".join(" ".join(map(str, c["argv"])) for c in CASES)
    named += " ".join(p.read_text(encoding="utf-8", errors="replace") for p in BAD.glob("*.yaml"))  # files other corpus files name
    unused = [p.name for p in BAD.iterdir() if p.name != "cases.yaml" and p.name not in named]
    assert not unused, f"files in tests/data/bad used by no case: {unused}"


def _setup(kind: str | None, tmp: Path) -> None:
    if kind == "fifo":
        os.mkfifo(tmp / "fifo.yaml")
    elif kind == "readonly":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders; the /proc case covers an unwritable place")
        (tmp / "ro").mkdir()
        (tmp / "ro").chmod(stat.S_IRUSR | stat.S_IXUSR)
    elif kind == "good_sweep":
        (tmp / "good_sweep.yaml").write_text(
            "scenario: free_choice\ndesign: lhs\nsamples: 2\nreplicates: 1\nengineers: 20\nweeks: 2\n"
            "parameters:\n  policy.feedback_safety: [0, 1]\noutputs: [true_gain]\n"
        )
    elif kind == "corrupt_part":
        spec = tmp / "tiny.yaml"
        spec.write_text("scenario: free_choice\ndesign: lhs\nsamples: 2\nreplicates: 1\nengineers: 20\nweeks: 2\n"
                        "parameters:\n  policy.feedback_safety: [0, 1]\noutputs: [true_gain]\n")
        assert main(["sweep", str(spec), "--out", str(tmp / "sweep"), "--workers", "1"]) == 0
        part = sorted((tmp / "sweep" / "parts").glob("*.parquet"))[0]
        data = bytearray(part.read_bytes())
        data[len(data) // 2] ^= 0xFF
        part.write_bytes(bytes(data))


def _fill(arg: str, tmp: Path) -> str:
    return str(arg).replace("{bad}", str(BAD)).replace("{tmp}", str(tmp)).replace("{studies}", str(bundled("studies")))


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_bad_input_gets_one_clear_message(case, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _setup(case.get("setup"), tmp_path)
    argv = [_fill(a, tmp_path) for a in case["argv"]]
    limit = case.get("max_seconds", 10)
    start = time.monotonic()
    if case.get("setup") in IN_A_PROCESS:
        proc = subprocess.run([COMMAND, *argv], capture_output=True, text=True, timeout=limit + 30, cwd=tmp_path)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        capsys.readouterr()
        code = main(argv)
        out, err = capsys.readouterr()
        grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
        assert grown_mib < 300, f"{case['id']}: the process grew by {grown_mib:.0f} MiB"
    elapsed = time.monotonic() - start
    text = out + err
    assert code == case.get("code", 2), f"{case['id']}: exit code {code}:\n{text}"
    assert "Traceback" not in text, f"{case['id']}: traceback:\n{text}"
    assert err.count("error:") == 1, f"{case['id']}: expected one message:\n{err}"
    missing = [_fill(s, tmp_path) for s in case["expect"] if _fill(s, tmp_path) not in err]
    assert not missing, f"{case['id']}: message lacks {missing}:\n{err}"
    assert len(err) < 2000, f"{case['id']}: a message of {len(err)} characters"
    assert elapsed < limit, f"{case['id']}: took {elapsed:.1f} s"
    if case.get("no_output"):
        assert not Path(_fill(case["no_output"], tmp_path)).exists(), f"{case['id']}: output left behind"
