"""Sweeps on a real Dask cluster on loopback: bit-identical to a local run, and unchanged when a worker dies mid-sweep.

One LocalCluster (2 worker processes with nannies, 1 thread each, bound to 127.0.0.1) serves the module;
`--dask-local` starts its own. About 20 s on 2 cores.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main
from sim.errors import InputError
from sim.experiments.sweeps import load_sweep, read_manifest, sweep

pytestmark = pytest.mark.cluster

SPEC = {
    "scenario": "mandate_single_tool",
    "design": "lhs",
    "samples": 16,
    "replicates": 2,
    "seed": 9,
    "engineers": 200,
    "weeks": 52,
    "parameters": {"policy.usage_enforcement": [0.0, 1.0], "policy.usage_target": [0.2, 1.0], "behaviour.trust.initial_safety": "bounds"},
    "outputs": ["true_gain", "trust_leadership", "measurement_gap"],
}


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0") as c:
        c.wait_for_workers(2, timeout=60)
        yield c


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("ref") / "sweep"
    sweep(SPEC, out, workers=1)
    return load_sweep(out)


def test_a_dask_cluster_gives_bit_identical_results(cluster, reference, tmp_path):
    c = cluster
    assert c.scheduler_address.startswith("tcp://127.0.0.1:")
    out = sweep(SPEC, tmp_path / "dask", scheduler=c.scheduler_address, chunk_size=3)
    pd.testing.assert_frame_equal(load_sweep(out), reference, check_exact=True)
    assert read_manifest(out)["complete"]


def test_a_worker_killed_mid_sweep_changes_nothing(cluster, reference, tmp_path):
    c = cluster
    killed: dict = {}

    def kill_a_busy_worker(p) -> None:
        if killed or p.done < 2:
            return
        busy = [ws for ws in list(c.scheduler.workers.values()) if ws.processing]
        assert busy, "a chunk should be running when the worker is killed"
        os.kill(busy[0].pid, signal.SIGKILL)
        killed.update(worker=busy[0].address, at=p.done, pid=busy[0].pid)

    out = sweep(SPEC, tmp_path / "killed", scheduler=c.scheduler_address, chunk_size=1, progress=kill_a_busy_worker)
    assert killed and killed["at"] < 16, "the worker must die mid-sweep"
    c.wait_for_workers(2, timeout=60)  # the nanny restarts it under a new address
    assert killed["worker"] not in c.scheduler.workers
    result = load_sweep(out)
    pd.testing.assert_frame_equal(result, reference, check_exact=True)
    counts = result.groupby(["run_id", "replicate"]).size()
    assert len(counts) == 16 * 2 and (counts == 3).all()  # no run lost, none duplicated
    assert read_manifest(out)["failed"] == {}


def test_dask_local_option_from_the_command_line(reference, tmp_path, capsys):
    import yaml

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    assert main(["sweep", str(spec_file), "--out", str(tmp_path / "local"), "--dask-local", "2"]) == 0
    assert "16 of 16 runs" in " ".join(capsys.readouterr().out.split())
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "local"), reference, check_exact=True)


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    import yaml

    monkeypatch.setattr("sim.experiments.sweeps.executors.SCHEDULER_TIMEOUT_S", 2)

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump(SPEC, sort_keys=False))
    code = main(["sweep", str(spec_file), "--out", str(tmp_path / "x"), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "--scheduler" in err and "cannot be reached" in err and "Traceback" not in err


def test_workers_running_another_model_are_refused(cluster, tmp_path, monkeypatch):
    other = {"package_version": "0.0.1", "model_sources_sha256": "0" * 64}
    monkeypatch.setattr("sim.experiments.sweeps.executors.model_fingerprint", lambda: other)  # this process now claims another model
    refused = r"has a worker \(tcp://127\.0\.0\.1:\d+\) running a different model .*this is mandate-sim 0\.0\.1"
    with pytest.raises(InputError, match=refused):
        sweep(SPEC, tmp_path / "other", scheduler=cluster.scheduler_address)
    assert not (tmp_path / "other").exists()  # a sweep refused before any run leaves no folder it created
    (tmp_path / "mine").mkdir()
    with pytest.raises(InputError, match=refused):
        sweep(SPEC, tmp_path / "mine", scheduler=cluster.scheduler_address)
    assert read_manifest(tmp_path / "mine")["finished"] == []  # a folder that was there stays, ready to resume


def _left_in(session: int) -> list[str]:
    """Live processes (not zombies) of a session or process group, as 'pid state command'."""
    out = []
    for d in filter(str.isdigit, os.listdir("/proc")):
        try:
            raw = open(f"/proc/{d}/stat", "rb").read().decode(errors="replace")
            cmd = open(f"/proc/{d}/cmdline", "rb").read().replace(b"\0", b" ").decode(errors="replace")[:120]
        except OSError:
            continue
        state, _ppid, pgrp, sid = raw[raw.rfind(")") + 2:].split()[:4]
        if session in (int(pgrp), int(sid)) and state not in ("Z", "X"):
            out.append(f"{d} {state} {cmd}")
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkilling_a_dask_local_sweep_leaves_no_process_behind(tmp_path):
    import yaml

    spec_file = tmp_path / "spec.yaml"
    spec_file.write_text(yaml.safe_dump({**SPEC, "samples": 64, "replicates": 1}, sort_keys=False))
    out = tmp_path / "killed"
    exe = str(Path(sys.executable).with_name("mandate-sim"))
    proc = subprocess.Popen([exe, "sweep", str(spec_file), "--out", str(out), "--dask-local", "2", "--chunk-size", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((out / "parts").glob("part-*.parquet"))) < 2:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no parts appeared"
            time.sleep(0.01)
        assert len(_left_in(proc.pid)) >= 3  # the sweep and its two Dask workers (and the resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (left := _left_in(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left, "left behind:\n" + "\n".join(left)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
