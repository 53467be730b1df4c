"""Parameter sweeps: same results whatever runs them, resume after SIGKILL, clear errors for bad specs.

Everything here is real: worker processes, Parquet files on disk, a `mandate-sim sweep` subprocess killed with
SIGKILL. Runs are small (20-100 engineers, 8-26 weeks) so the file takes about half a minute on 2 cores.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
from sim.cli import main
from sim.errors import InputError
from sim.experiments.sweeps import load_spec, load_sweep, read_manifest, seed_table, sweep
from sim.experiments.sweeps.store import FolderLock
from sim.model.fingerprint import model_fingerprint

MANDATE_SIM = str(Path(sys.executable).with_name("mandate-sim"))

SMALL = {
    "scenario": "mandate_single_tool",
    "design": "lhs",
    "samples": 8,
    "replicates": 2,
    "seed": 42,
    "engineers": 20,
    "weeks": 8,
    "parameters": {
        "policy.usage_enforcement": [0.0, 1.0],
        "policy.feedback_safety": "bounds",
        "behaviour.people.hiring_delay_weeks": [2, 20],
    },
    "outputs": ["true_gain", "trust_leadership", "weekly_active_share"],
}


def write_spec(folder: Path, spec: dict, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    return subprocess.run([MANDATE_SIM, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pd.DataFrame:
    """The small sweep run in this process, one run after the other."""
    out = tmp_path_factory.mktemp("ref") / "sweep"
    sweep(SMALL, out, workers=1)
    return load_sweep(out)


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------


def test_tidy_table_has_one_row_per_run_replicate_and_output(reference):
    df = reference
    assert list(df.columns) == ["run_id", "replicate", "policy.usage_enforcement", "policy.feedback_safety", "behaviour.people.hiring_delay_weeks", "metric", "value"]
    assert len(df) == 8 * 2 * 3
    assert sorted(df["run_id"].unique()) == list(range(8))
    assert not df.duplicated(["run_id", "replicate", "metric"]).any()
    assert list(df["metric"].cat.categories) == SMALL["outputs"]
    assert df["policy.usage_enforcement"].between(0, 1).all() and df["policy.feedback_safety"].between(0, 1).all()
    assert df["behaviour.people.hiring_delay_weeks"].dtype == np.int64 and df["behaviour.people.hiring_delay_weeks"].between(2, 20).all()
    # A Latin hypercube puts exactly one run in each eighth of every range.
    runs = df.drop_duplicates("run_id")
    assert sorted(np.floor(runs["policy.usage_enforcement"] * 8).astype(int)) == list(range(8))
    assert np.isfinite(df["value"]).all()
    # Runs differ: the parameters act.
    assert df[df.metric == "weekly_active_share"]["value"].nunique() > 1


def test_two_worker_processes_and_any_chunk_size_give_bit_identical_results(reference, tmp_path):
    sweep(SMALL, tmp_path / "two", workers=2, chunk_size=1)
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "two"), reference, check_exact=True)
    sweep(SMALL, tmp_path / "three", workers=1, chunk_size=3)
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "three"), reference, check_exact=True)


def test_a_temporary_folder_too_long_for_the_forkserver_socket_still_sweeps_on_two_workers(reference, tmp_path):
    """The forkserver's socket lives in the temporary folder; where its path would be too long (a deep TMPDIR, as some
    CI systems set), the pool's processes start without it, and the sweep is the same."""
    from sim.experiments.sweeps.lifeline import forkserver_fits

    deep = tmp_path / ("t" * 60) / ("u" * 60)
    deep.mkdir(parents=True)
    assert not forkserver_fits(str(deep)) and forkserver_fits("/tmp")
    env = dict(os.environ, TMPDIR=str(deep), COLUMNS="200", NO_COLOR="1", TERM="dumb")
    done = subprocess.run([MANDATE_SIM, "sweep", str(write_spec(tmp_path, SMALL)), "--out", str(tmp_path / "two"), "--workers", "2"],
                          capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]  # before: "OSError: AF_UNIX path too long"
    pd.testing.assert_frame_equal(load_sweep(tmp_path / "two"), reference, check_exact=True)


def test_a_sweep_run_reproduces_mandate_sim_run_with_the_sweep_seed(reference):
    plan = load_spec(SMALL)
    point = plan.point(5)
    res = sim.run("mandate_single_tool", replicates=2, seed=42, engineers=20, weeks=8, overrides=point)
    last = res[(res.week == 8) & (res.group == "all")]
    mine = reference[reference.run_id == 5]
    for metric in SMALL["outputs"]:
        expected = last[last.metric == metric].sort_values("replicate")["value"].to_numpy()
        got = mine[mine.metric == metric].sort_values("replicate")["value"].to_numpy()
        np.testing.assert_array_equal(got, expected)


def test_each_design_point_is_the_scenario_load_scenario_gives_with_those_overrides():
    spec = {**SMALL, "samples": 20, "parameters": {
        "policy.usage_enforcement": [0, 1], "behaviour.people.hiring_delay_weeks": [2, 20], "organisation.seniority.junior.skill_mean": [0.1, 0.5],
        "organisation.tools.inhouse.effects.debugging.time_saving": [0.1, 0.5], "weeks": [4, 10]}}
    plan = load_spec(spec)
    base = sim.load_scenario("mandate_single_tool", engineers=20, weeks=8)
    for i in range(plan.runs):
        assert plan.evaluator.scenario_at(plan.point(i)) == sim.load_scenario(base, overrides=plan.point(i))
    assert plan.evaluator.scenario_at({}) == base


def test_keep_series_grid_and_per_run_seeds(tmp_path):
    spec = {
        "scenario": "free_choice", "design": "grid", "samples": 2, "replicates": 2, "seed": 3, "seeds": "per_run", "engineers": 20, "weeks": 6,
        "parameters": {"policy.training_hours": [0, 40], "behaviour.trust.initial_safety": [0.2, 0.5, 0.8]},
        "outputs": ["ai_task_share", "true_gain/seniority=senior"], "keep": "series",
    }
    out = sweep(spec, tmp_path / "g", workers=1)
    df = load_sweep(out)
    assert list(df.columns) == ["run_id", "replicate", "policy.training_hours", "behaviour.trust.initial_safety", "week", "metric", "value"]
    assert len(df) == 6 * 2 * 6 * 2
    points = df.drop_duplicates("run_id")[["policy.training_hours", "behaviour.trust.initial_safety"]].to_numpy().tolist()
    assert points == [[0, 0.2], [0, 0.5], [0, 0.8], [40, 0.2], [40, 0.5], [40, 0.8]]
    assert sorted(df["week"].unique()) == list(range(1, 7))
    m = read_manifest(out)
    seeds = np.array(m["seeds"]["by_run"], dtype=np.uint64)
    assert seeds.shape == (6, 2) and len(np.unique(seeds)) == 12
    np.testing.assert_array_equal(seeds, seed_table(3, 6, 2, "per_run"))
    # The end of each series is what keep: final stores.
    final = load_sweep(sweep({**spec, "keep": "final"}, tmp_path / "f", workers=1))
    last = df[df.week == 6].drop(columns="week").reset_index(drop=True)
    pd.testing.assert_frame_equal(last, final, check_exact=True)


def test_manifest_records_spec_design_seeds_and_finished_runs(tmp_path):
    out = sweep(SMALL, tmp_path / "m", workers=1)
    m = read_manifest(out)
    assert m["spec"]["design"] == "lhs" and m["design"] == "lhs"
    assert m["parameters"] == {"policy.usage_enforcement": [0.0, 1.0], "policy.feedback_safety": [0.0, 1.0], "behaviour.people.hiring_delay_weeks": [2.0, 20.0]}
    assert m["outputs"] == SMALL["outputs"] and m["runs"] == 8 and m["replicates"] == 2
    assert m["finished"] == list(range(8)) and m["complete"] is True
    assert m["package_version"] == sim.__version__
    assert m["model_fingerprint"] == model_fingerprint() and m["model_fingerprint"]["package_version"] == sim.__version__
    assert m["seeds"]["by_replicate"] == sim.replicate_seeds(42, 2)
    assert np.array(m["design_matrix"]).shape == (8, 3)
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk["finished"] == list(range(8))


def test_rerunning_a_finished_sweep_computes_nothing_and_changes_nothing(tmp_path, reference):
    out = sweep(SMALL, tmp_path / "r", workers=1)
    before = {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()}
    calls = []
    sweep(SMALL, out, workers=1, progress=calls.append)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "parts").iterdir()} == before
    assert calls and calls[-1].done == 8 and calls[-1].skipped == 8
    pd.testing.assert_frame_equal(load_sweep(out), reference, check_exact=True)


# ---------------------------------------------------------------------------
# Resume after SIGKILL
# ---------------------------------------------------------------------------


def processes_of(session: int) -> list[tuple[int, int, str, str]]:
    """(pid, parent pid, state, command) of every live process in session or process group ``session`` (a process a SIGKILLed
    sweep started: its worker processes, forkserver, resource tracker...); zombies are dead and left out."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                raw = f.read().decode(errors="replace")
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")[:160]
        except OSError:
            continue
        state, ppid, pgrp, sid = raw[raw.rfind(")") + 2:].split()[:4]
        if session in (int(pgrp), int(sid)) and state not in ("Z", "X"):
            out.append((int(d), int(ppid), state, cmd))
    return out


def assert_nothing_left(session: int, within_s: float = 5.0) -> None:
    deadline = time.monotonic() + within_s
    while (left := processes_of(session)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, "processes left behind by the killed sweep:\n" + "\n".join(map(str, left))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkilling_a_sweep_leaves_no_worker_forkserver_or_resource_tracker(tmp_path):
    spec_file = write_spec(tmp_path, {**SMALL, "samples": 40, "replicates": 1, "engineers": 200, "weeks": 52})
    out = tmp_path / "killed"
    cmd = [MANDATE_SIM, "sweep", str(spec_file), "--out", str(out), "--workers", "2", "--chunk-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while len(list((out / "parts").glob("part-*.parquet"))) < 2:
            assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no parts appeared"
            time.sleep(0.005)
        started = processes_of(proc.pid)
        kinds = " ".join(c for _, _, _, c in started)
        assert len(started) >= 5 and "forkserver" in kinds and "resource_tracker" in kinds, started  # the sweep, 2 workers and both helpers
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert_nothing_left(proc.pid)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_worker_stops_when_the_sweep_process_dies_even_without_the_kernels_help(tmp_path):
    """The fallback where prctl is not available: the watchdog thread alone ends a worker whose sweep process died."""
    code = ("import os, sys, time, subprocess\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import os, time; from sim.experiments.sweeps import lifeline; "
            "lifeline.watch(os.getppid(), poll_s=0.05); print(\\'watching\\', flush=True); time.sleep(60)'])\n"
            "print(child.pid, flush=True); time.sleep(60)\n")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        child = int(parent.stdout.readline())
        # Wait until the child has imported sim and started watching (a fixed sleep raced a slow import: killed too
        # early, the child's parent was already init, which never dies).
        assert parent.stdout.readline().strip() == "watching"
        assert any(pid == child for pid, *_ in processes_of(parent.pid))
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        assert_nothing_left(parent.pid)
    finally:
        try:
            os.killpg(parent.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_sigkilled_sweep_resumes_to_the_uninterrupted_result(tmp_path):
    # 40 full-size runs (200 engineers x 52 weeks), one per chunk: long enough to be killed mid-way on any machine.
    spec = {**SMALL, "samples": 40, "replicates": 1, "engineers": 200, "weeks": 52, "outputs": ["true_gain", "trust_leadership", "attrition_cumulative"]}
    spec_file = write_spec(tmp_path, spec)
    out = tmp_path / "killed"
    cmd = [MANDATE_SIM, "sweep", str(spec_file), "--out", str(out), "--workers", "2", "--chunk-size", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while len(list((out / "parts").glob("part-*.parquet"))) < 4:
            assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no parts appeared"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert_nothing_left(proc.pid)  # the pool's workers, its forkserver and the resource tracker stop with the sweep
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # whatever a failed test left, started by the killed sweep
        except ProcessLookupError:
            pass
    assert proc.returncode == -signal.SIGKILL
    parts_at_kill = {p.name for p in (out / "parts").glob("part-*.parquet")}
    at_kill = read_manifest(out)
    assert 4 <= len(at_kill["finished"]) < 40 and not at_kill["complete"], "the kill must land mid-sweep"

    r = cli("sweep", str(spec_file), "--out", str(out), "--workers", "2")
    assert r.returncode == 0, r.stderr
    assert parts_at_kill <= {p.name for p in (out / "parts").glob("part-*.parquet")}, "finished parts are kept, not recomputed"
    assert not list(out.rglob(".tmp-*"))
    resumed = load_sweep(out)

    uninterrupted = load_sweep(sweep(spec, tmp_path / "whole", workers=1))
    pd.testing.assert_frame_equal(resumed, uninterrupted, check_exact=True)
    counts = resumed.groupby(["run_id", "replicate"]).size()
    assert len(counts) == 40 and (counts == 3).all()  # no run lost, none duplicated
    assert read_manifest(out)["finished"] == list(range(40)) and read_manifest(out)["complete"]


# ---------------------------------------------------------------------------
# Clear errors
# ---------------------------------------------------------------------------


def _spec_with(**changes) -> dict:
    spec = json.loads(json.dumps(SMALL))
    for k, v in changes.items():
        if v is None:
            spec.pop(k, None)
        else:
            spec[k] = v
    return spec


BAD_SPECS = [
    ("unknown parameter path", _spec_with(parameters={"policy.usage_enforcment": [0, 1]}), ["parameters.policy.usage_enforcment", "is not a parameter path", "did you mean 'policy.usage_enforcement'"]),
    ("range outside bounds", _spec_with(parameters={"policy.usage_enforcement": [0, 2]}), ["parameters.policy.usage_enforcement", "outside the declared bounds", "values from 0 to 1"]),
    ("reversed range", _spec_with(parameters={"policy.usage_enforcement": [0.8, 0.2]}), ["low must be below high"]),
    ("not numeric", _spec_with(parameters={"policy.allowed_tools": [0, 1]}), ["policy.allowed_tools", "not a numeric parameter"]),
    ("values with lhs", _spec_with(parameters={"policy.usage_enforcement": [0.1, 0.2, 0.3]}), ["lists of values are for design: grid"]),
    ("unknown key", _spec_with(desing="lhs"), ["field 'desing'", "unknown key", "did you mean 'design'"]),
    ("unknown design", _spec_with(design="random"), ["field 'design'", "grid, lhs, sobol or morris"]),
    ("missing outputs", _spec_with(outputs=None), ["field 'outputs'", "required"]),
    ("unknown output", _spec_with(outputs=["true_gian"]), ["field 'outputs'", "did you mean 'true_gain'"]),
    ("unknown group", _spec_with(outputs=["trust_leadership/task=debugging"]), ["has no group 'task=debugging'"]),
    ("sobol not a power of 2", _spec_with(design="sobol", samples=100), ["field 'samples'", "power of 2", "try 64 or 128"]),
    ("engineers too few", _spec_with(engineers=3), ["field 'engineers'", "below the minimum"]),
    ("unknown scenario", _spec_with(scenario="mandate_singel_tool"), ["did you mean 'mandate_single_tool'"]),
    ("a combination the model refuses", _spec_with(parameters={"organisation.seniority.junior.task_mix.boilerplate": [0.3, 0.5]}), ["task shares must sum to 1", "low end"]),
    ("replicates as text", _spec_with(replicates="many"), ["field 'replicates'", "not a whole number"]),
]


@pytest.mark.parametrize("case,spec,expected", BAD_SPECS, ids=[c[0] for c in BAD_SPECS])
def test_bad_specs_get_one_clear_message_and_exit_code_2(case, spec, expected, tmp_path, capsys):
    path = write_spec(tmp_path, spec)
    code = main(["sweep", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert str(path) in err
    flat = " ".join(err.split())
    for text in expected:
        assert text in flat, f"{case}: {text!r} not in {flat!r}"
    assert not list((tmp_path / "out").glob("parts/part-*")) if (tmp_path / "out").exists() else True


def test_malformed_yaml_is_a_clear_error_from_the_real_command(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: mandate_single_tool\ndesign: [lhs\nsamples: 8\n")
    r = cli("sweep", str(bad), "--out", str(tmp_path / "out"))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert str(bad) in r.stderr and "is not valid YAML at line" in " ".join(r.stderr.split())


def test_a_different_spec_on_an_existing_folder_is_refused(tmp_path):
    out = tmp_path / "s"
    sweep(SMALL, out, workers=1)
    with pytest.raises(InputError, match=r"holds a different sweep \(its spec differs in: samples\)"):
        sweep({**SMALL, "samples": 9}, out, workers=1)
    spec_file = write_spec(tmp_path, {**SMALL, "seed": 7})
    r = cli("sweep", str(spec_file), "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "holds a different sweep" in r.stderr and "seed" in r.stderr
    assert read_manifest(out)["spec"]["seed"] == 42  # untouched


@pytest.mark.parametrize("args,expected", [
    (["--scheduler", "tcp://127.0.0.1:1", "--dask-local", "2"], "pick one executor"),
    (["--workers", "0"], "--workers"),
    (["--workers", "2", "--dask-local", "2"], "--workers"),
    (["--scheduler", "127.0.0.1:8786"], "tcp://HOST:PORT"),
])
def test_conflicting_or_bad_flags_are_clear_errors(args, expected, tmp_path, capsys):
    path = write_spec(tmp_path, SMALL)
    code = main(["sweep", str(path), "--out", str(tmp_path / "out"), *args])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and "Traceback" not in err


def test_no_resume_refuses_an_existing_sweep_and_a_folder_of_other_files_is_refused(tmp_path):
    out = sweep(SMALL, tmp_path / "s", workers=1)
    with pytest.raises(InputError, match="already holds a sweep"):
        sweep(SMALL, out, workers=1, resume=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="holds no sweep"):
        sweep(SMALL, other, workers=1)
    assert (other / "notes.txt").read_text() == "mine"


# ---------------------------------------------------------------------------
# Checksummed parts
# ---------------------------------------------------------------------------


def test_every_part_has_its_sha256_in_the_manifest_and_the_journal(tmp_path):
    out = sweep(SMALL, tmp_path / "c", workers=1, chunk_size=3)
    parts = sorted((out / "parts").glob("part-*.parquet"))
    actual = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in parts}
    assert len(parts) == 3
    assert json.loads((out / "manifest.json").read_text())["part_sha256"] == actual
    assert read_manifest(out)["part_sha256"] == actual and read_manifest(out)["format"] == 2
    journal = (out / "parts" / "SHA256SUMS").read_text().splitlines()
    assert sorted(journal) == sorted(f"{h}  {n}" for n, h in actual.items())
    if shutil.which("sha256sum"):  # the journal is sha256sum's own format
        assert subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=out / "parts").returncode == 0


def flip(path: Path, position: int) -> None:
    data = bytearray(path.read_bytes())
    data[position] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_corrupted_part_is_refused_by_load_and_resume_and_deleting_it_recomputes_exactly_its_runs(reference, tmp_path):
    clean = sweep(SMALL, tmp_path / "clean", workers=1, chunk_size=3)
    victim = sorted((clean / "parts").glob("part-*.parquet"))[1]  # runs 3 to 5
    size = victim.stat().st_size
    for position in sorted({0, 4, 17, size // 3, size // 2, 2 * size // 3, size - 9, size - 1}):
        out = tmp_path / f"flip-{position}"
        shutil.copytree(clean, out)
        part = out / "parts" / victim.name
        flip(part, position)
        for read in (load_sweep, read_manifest):
            with pytest.raises(InputError) as refused:
                read(out)
            msg = str(refused.value)
            assert f"holds a corrupted part, {victim.name}" in msg and "delete that file and run the sweep again" in msg
            assert "only runs 3 to 5 are computed again" in msg
        before = files_in(out)
        with pytest.raises(InputError, match=f"corrupted part, {victim.name}"):
            sweep(SMALL, out, workers=1, chunk_size=3)
        assert files_in(out) == before  # the refusal changes nothing
    # Delete it, as the message says, and resume: exactly its runs are computed again, bit for bit.
    part.unlink()
    calls = []
    sweep(SMALL, out, workers=1, chunk_size=3, progress=calls.append)
    assert calls[0].skipped == 5 and calls[-1].done == 8
    assert sorted(p.name for p in (out / "parts").glob("part-*.parquet")) == sorted(p.name for p in (clean / "parts").glob("part-*.parquet"))
    assert part.read_bytes() == victim.read_bytes()
    pd.testing.assert_frame_equal(load_sweep(out), reference, check_exact=True)


def test_a_part_written_after_the_last_manifest_is_checked_through_the_journal_and_an_unrecorded_part_is_refused(tmp_path):
    out = sweep(SMALL, tmp_path / "j", workers=1, chunk_size=3)
    manifest = json.loads((out / "manifest.json").read_text())
    first = sorted(manifest["part_sha256"])[0]
    del manifest["part_sha256"][first]  # as if the sweep was killed before it could record this part in its manifest
    (out / "manifest.json").write_text(json.dumps(manifest))
    load_sweep(out)
    flip(out / "parts" / first, 10)
    with pytest.raises(InputError, match=f"corrupted part, {first}"):
        load_sweep(out)
    (out / "parts" / "SHA256SUMS").unlink()
    with pytest.raises(InputError, match=f"holds a part with no recorded checksum, {first}.*delete that file"):
        sweep(SMALL, out, workers=1)


def test_a_folder_in_use_by_another_sweep_is_refused(tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    lock = FolderLock(out)
    lock.acquire()
    try:
        with pytest.raises(InputError, match="in use by another sweep process"):
            sweep(SMALL, out, workers=1)
    finally:
        lock.release()
    sweep(SMALL, out, workers=1)
    assert read_manifest(out)["complete"]


# ---------------------------------------------------------------------------
# A folder written by another model
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_folder(tmp_path_factory) -> Path:
    """A finished small sweep, copied by each test that tampers with it."""
    return sweep(SMALL, tmp_path_factory.mktemp("fp") / "sweep", workers=1)


def files_in(folder: Path) -> dict[str, tuple[str, int | None]]:
    """Every file under the folder: its bytes' hash and its modification time (none for the lock file, which records the pid of
    the process that last held the lock and is rewritten, here with the same pid, whenever a sweep takes it)."""
    return {p.relative_to(folder).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                               None if p.name == ".lock" else p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


MINE = model_fingerprint()
OTHER_SOURCES = {**MINE, "model_sources_sha256": "0123456789ab" + "f" * 52}
OTHER_VERSION = {**MINE, "package_version": "0.0.1"}
FINGERPRINTS = [
    ("other model sources", OTHER_SOURCES,
     ["was written by a different version of the model", f"model sources {OTHER_SOURCES['model_sources_sha256'][:12]}",
      f"this is mandate-sim {MINE['package_version']}, model sources {MINE['model_sources_sha256'][:12]}"]),
    ("other package version", OTHER_VERSION, ["was written by a different version of the model", "(mandate-sim 0.0.1, model sources",
                                              f"this is mandate-sim {MINE['package_version']}"]),
    ("written before fingerprints", None, ["recorded no fingerprint", "cannot be shown to match this model",
                                           f"mandate-sim {MINE['package_version']}, model sources {MINE['model_sources_sha256'][:12]}"]),
]


@pytest.mark.parametrize("case,fingerprint,expected", FINGERPRINTS, ids=[c[0] for c in FINGERPRINTS])
def test_resuming_a_folder_written_by_another_model_is_refused_and_changes_nothing(case, fingerprint, expected, finished_folder, tmp_path,
                                                                                      capsys):
    out = tmp_path / "sweep"
    shutil.copytree(finished_folder, out)
    manifest = json.loads((out / "manifest.json").read_text())
    if fingerprint is None:
        del manifest["model_fingerprint"]
    else:
        manifest["model_fingerprint"] = fingerprint
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    (out / "parts" / ".tmp-part-left-by-a-kill").write_bytes(b"half")  # a resume would delete this: the refusal must not
    before = files_in(out)
    remedy = ["use a new --out folder, or delete this one to start over"]

    code = main(["sweep", str(write_spec(tmp_path, SMALL)), "--out", str(out), "--workers", "1"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    flat = " ".join(err.split())
    for text in [f"{out}:", *expected, *remedy]:
        assert text in flat, f"{case}: {text!r} not in {flat!r}"
    assert files_in(out) == before

    with pytest.raises(InputError) as refused:
        sweep(SMALL, out, workers=1)
    for text in [str(out), *expected, *remedy]:
        assert text in str(refused.value)
    assert files_in(out) == before
    pd.testing.assert_frame_equal(load_sweep(out), load_sweep(finished_folder), check_exact=True)  # still readable
