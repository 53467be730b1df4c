"""Every output is written atomically and leaves nothing behind on failure (sim/atomic.py and every writer that uses it).

A full disk is simulated by making the write itself fail half-way with ENOSPC (the file object's ``write`` writes half
of what it is given, then raises), since /dev/full cannot be the device of a folder; /dev/full itself is a target too.
"""

from __future__ import annotations

import builtins
import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import sim
import sim.atomic
from sim.atomic import OutputError, atomic_path, atomic_write_bytes, atomic_write_text
from sim.cli import main

MANDATE_SIM = str(Path(sys.executable).with_name("mandate-sim"))
ROOT = os.geteuid() == 0


def leftovers(folder: Path) -> list[str]:
    """Every file under ``folder``, as relative paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


class _HalfThenFull:
    """A file object that writes half of what it is given, then fails as a full disk would."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        self._f.write(data[: len(data) // 2])
        self._f.flush()
        raise OSError(errno.ENOSPC, "No space left on device")

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __getattr__(self, name):
        return getattr(self._f, name)


@pytest.fixture
def full_disk(monkeypatch):
    """Every file sim.atomic opens for writing fills the disk half-way through its first write."""

    def failing_open(file, mode="r", *args, **kwargs):
        f = builtins.open(file, mode, *args, **kwargs)
        return _HalfThenFull(f) if any(c in mode for c in "wa") else f

    monkeypatch.setattr(sim.atomic, "open", failing_open, raising=False)


@pytest.fixture
def full_disk_for_pandas(monkeypatch):
    """pandas' Parquet and CSV writers fill the disk half-way."""

    def failing(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1" + b"\0" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", failing)
    monkeypatch.setattr(pd.DataFrame, "to_csv", failing)


# ---------------------------------------------------------------------------
# The helper
# ---------------------------------------------------------------------------


def test_a_file_is_written_whole_with_ordinary_permissions(tmp_path):
    p = atomic_write_text(tmp_path / "a.txt", "hello")
    assert p.read_text() == "hello" and leftovers(tmp_path) == ["a.txt"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~umask
    p.chmod(0o600)
    atomic_write_bytes(p, b"again")
    assert p.read_bytes() == b"again" and stat.S_IMODE(p.stat().st_mode) == 0o600  # replacing a file keeps its permissions
    with atomic_path(tmp_path / "b.bin", durable=True) as tmp:
        assert tmp.parent == tmp_path and tmp.name.startswith(".tmp-b.bin-")
        tmp.write_bytes(b"x")
    assert leftovers(tmp_path) == ["a.txt", "b.bin"]


def test_a_full_disk_leaves_no_file_and_no_fragment(tmp_path, full_disk):
    (tmp_path / "old.txt").write_text("old")
    with pytest.raises(OutputError) as failed:
        atomic_write_text(tmp_path / "new.txt", "x" * 10_000)
    assert f"{tmp_path / 'new.txt'}: cannot be written: the disk is full (No space left on device); nothing was written" == str(failed.value)
    assert failed.value.errno == errno.ENOSPC
    with pytest.raises(OutputError):
        atomic_write_text(tmp_path / "old.txt", "new")
    assert leftovers(tmp_path) == ["old.txt"] and (tmp_path / "old.txt").read_text() == "old"  # the old file is untouched


def test_any_error_in_the_writer_leaves_nothing(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(ZeroDivisionError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            1 / 0
    assert leftovers(tmp_path) == []
    with pytest.raises(OutputError, match="disk is full"):
        with atomic_path(target) as tmp:
            raise OSError(errno.ENOSPC, "No space left on device")
    assert leftovers(tmp_path) == []


def test_a_missing_folder_is_a_clear_error_and_is_not_created(tmp_path, capsys):
    with pytest.raises(OutputError, match=r"a/b/out\.bin: cannot be written: the folder .*/a/b does not exist \(create it first\)"):
        atomic_write_text(tmp_path / "a" / "b" / "out.bin", "x")
    for argv in (["run", "free_choice", "-n", "20", "-w", "2", "-r", "1", "--out", str(tmp_path / "no" / "runs.csv")],
                 ["compare", "free_choice", "no_ai", "--html", str(tmp_path / "no" / "r.html")],
                 ["schema", "--out", str(tmp_path / "no" / "s.json")]):
        assert main(argv) == 2
        err = " ".join(capsys.readouterr().err.split())
        assert "does not exist (create it first)" in err and ("--out" in err or "--html" in err), err
    assert leftovers(tmp_path) == []


def test_a_folder_given_as_a_file_and_a_path_under_a_file_are_clear_errors(tmp_path):
    (tmp_path / "report.html").mkdir()
    with pytest.raises(OutputError, match=r"report\.html: is a folder; give the path of a file in it"):
        atomic_write_text(tmp_path / "report.html", "x")
    (tmp_path / "file").write_text("f")
    with pytest.raises(OutputError, match="cannot be written: a part of the path is a file, not a folder"):
        atomic_write_text(tmp_path / "file" / "x.txt", "x")
    assert leftovers(tmp_path) == ["file", "report.html"]


def test_a_read_only_folder_is_a_clear_error(tmp_path, monkeypatch):
    ro = tmp_path / "ro"
    ro.mkdir()
    if ROOT:  # root writes anywhere: the folder's refusal is simulated
        real_open = os.open

        def refusing(path, flags, *args, **kwargs):
            if str(path).startswith(str(ro)) and flags & os.O_CREAT:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return real_open(path, flags, *args, **kwargs)

        monkeypatch.setattr(sim.atomic.os, "open", refusing)
    else:
        ro.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="(?i)cannot be written: permission denied"):
            atomic_write_text(ro / "x.txt", "x")
        assert leftovers(ro) == []
    finally:
        ro.chmod(0o755)


def test_a_device_is_written_in_place_and_dev_full_is_a_clear_error():
    atomic_write_text("/dev/null", "nothing")  # not replaced by a file
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    with pytest.raises(OutputError, match="/dev/full: cannot be written: the disk is full"):
        atomic_write_text("/dev/full", "x" * 100_000)
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode)
    assert not [p for p in os.listdir("/dev") if p.startswith(".tmp-")]


def test_a_symbolic_link_is_followed_and_kept(tmp_path):
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to("real.txt")
    atomic_write_text(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and (tmp_path / "real.txt").read_text() == "new"


# ---------------------------------------------------------------------------
# Every writer
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def results():
    return sim.run_scenarios(["free_choice", "mandate_single_tool"], replicates=2, engineers=20, weeks=4)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_run_and_compare_out_on_a_full_disk(tmp_path, suffix, full_disk_for_pandas, capsys):
    out = tmp_path / f"runs{suffix}"
    code = main(["compare", "free_choice", "mandate_single_tool", "-n", "20", "-w", "3", "-r", "1", "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "Traceback" not in err
    assert f"--out {out}: cannot be written: the disk is full" in err
    assert leftovers(tmp_path) == []  # no table, no temporary file


def test_html_reports_on_a_full_disk(tmp_path, results, full_disk, capsys):
    from sim.analysis.reports import write_html

    with pytest.raises(OutputError, match="disk is full"):
        write_html(results, tmp_path / "report.html")
    assert leftovers(tmp_path) == []
    code = main(["compare", "free_choice", "mandate_single_tool", "-n", "20", "-w", "3", "-r", "1", "--html", str(tmp_path / "cmp.html")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "cmp.html: cannot be written: the disk is full" in err and "Traceback" not in err
    assert leftovers(tmp_path) == []  # neither the report nor a .report-*.html fragment


def test_the_sweep_report_and_indices_on_a_full_disk(tmp_path, full_disk_for_pandas, capsys):
    folder = sim.sweep({"scenario": "free_choice", "design": "lhs", "samples": 4, "engineers": 20, "weeks": 3,
                        "parameters": {"policy.feedback_safety": [0.1, 0.9]}, "outputs": ["trust_leadership"]}, tmp_path / "sweep", workers=1)
    before = leftovers(tmp_path)
    code = main(["analyze", str(folder), "--out", str(tmp_path / "idx.csv")])
    assert code == 2 and "idx.csv: cannot be written: the disk is full" in " ".join(capsys.readouterr().err.split())
    assert leftovers(tmp_path) == before


def test_the_sweep_html_report_on_a_full_disk(tmp_path, full_disk):
    from sim.analysis.sensitivity import write_report

    folder = tmp_path / "sweep"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sim.atomic, "open", builtins.open, raising=False)  # the sweep itself is written on a healthy disk
        sim.sweep({"scenario": "free_choice", "design": "lhs", "samples": 4, "engineers": 20, "weeks": 3,
                   "parameters": {"policy.feedback_safety": [0.1, 0.9]}, "outputs": ["trust_leadership"]}, folder, workers=1)
    before = leftovers(tmp_path)
    with pytest.raises(OutputError, match="disk is full"):
        write_report(folder, tmp_path / "sweep.html")
    assert leftovers(tmp_path) == before


def test_the_calibrated_overlay_on_a_full_disk(tmp_path, full_disk):
    from sim.experiments.calibration import Fit, write_overlay

    fit = Fit(params={"behaviour.work.expert_discount": 0.3}, start={"behaviour.work.expert_discount": 0.5}, objective=1.0, start_objective=2.0,
              residuals=pd.DataFrame(), evaluations=3, studies=["METR-2025"])
    with pytest.raises(OutputError, match="calibrated.yaml: cannot be written: the disk is full"):
        write_overlay(fit, tmp_path / "calibrated.yaml")
    assert leftovers(tmp_path) == []  # not a 0-byte file


def test_the_calibrated_overlay_is_written_whole(tmp_path):
    from sim.experiments.calibration import Fit, write_overlay

    fit = Fit(params={"behaviour.work.expert_discount": 0.3}, start={"behaviour.work.expert_discount": 0.5}, objective=1.0, start_objective=2.0,
              residuals=pd.DataFrame(), evaluations=3, studies=["METR-2025"])
    path = write_overlay(fit, tmp_path / "calibrated.yaml")
    assert sim.load_scenario(str(path)).behaviour.work.expert_discount == 0.3
    assert leftovers(tmp_path) == ["calibrated.yaml"]


def test_schema_out_on_a_full_disk(tmp_path, full_disk, capsys):
    assert main(["schema", "--out", str(tmp_path / "s.json")]) == 2
    assert f"--out {tmp_path / 's.json'}: cannot be written: the disk is full" in " ".join(capsys.readouterr().err.split())
    assert leftovers(tmp_path) == []


def test_out_dev_full_through_the_real_command():
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    before = sorted(os.listdir("/dev"))
    r = subprocess.run([MANDATE_SIM, "schema", "--out", "/dev/full"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "/dev/full: cannot be written: the disk is full" in " ".join(r.stderr.split())
    r = subprocess.run([MANDATE_SIM, "run", "free_choice", "--out", "/dev/full"], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 2 and "--out" in r.stderr and "Traceback" not in r.stderr
    assert sorted(os.listdir("/dev")) == before and stat.S_ISCHR(os.stat("/dev/full").st_mode)


def test_bad_output_paths_are_refused_before_any_run(tmp_path, monkeypatch, capsys):
    (tmp_path / "taken.csv").mkdir()
    code = main(["run", "free_choice", "-n", "20", "-w", "2", "-r", "1", "--out", str(tmp_path / "taken.csv")])
    assert code == 2 and "taken.csv: is a folder" in " ".join(capsys.readouterr().err.split())
    (tmp_path / "file").write_text("f")
    code = main(["compare", "free_choice", "no_ai", "--html", str(tmp_path / "file" / "r.html")])
    assert code == 2 and "is a file, not a folder" in " ".join(capsys.readouterr().err.split())
    ro = tmp_path / "ro"
    ro.mkdir()
    if ROOT:
        real_access = os.access
        monkeypatch.setattr(sim.atomic.os, "access", lambda p, mode, **kw: False if Path(p) == ro else real_access(p, mode, **kw))
    else:
        ro.chmod(0o555)
    try:
        ran = []
        monkeypatch.setattr("sim.experiments.runner.run_scenarios", lambda *a, **k: ran.append(1))
        code = main(["compare", "free_choice", "no_ai", "--out", str(ro / "x.parquet")])
        assert code == 2 and "is not writable (permission denied)" in " ".join(capsys.readouterr().err.split())
        assert not ran  # refused before any run
    finally:
        ro.chmod(0o755)
    assert leftovers(tmp_path) == ["file", "ro", "taken.csv"]


def test_a_sweep_part_on_a_full_disk_leaves_nothing_and_the_sweep_resumes(tmp_path, monkeypatch):
    spec = {"scenario": "free_choice", "design": "lhs", "samples": 6, "replicates": 2, "engineers": 20, "weeks": 3,
            "parameters": {"policy.feedback_safety": [0.1, 0.9]}, "outputs": ["trust_leadership", "true_gain"]}
    reference = sim.load_sweep(sim.sweep(spec, tmp_path / "ref", workers=1))
    calls = {"n": 0}

    def third_write_fails(file, mode="r", *args, **kwargs):
        f = builtins.open(file, mode, *args, **kwargs)
        if "w" in mode and Path(file).name.startswith(".tmp-part-"):
            calls["n"] += 1
            if calls["n"] == 3:
                return _HalfThenFull(f)
        return f

    out = tmp_path / "s"
    with monkeypatch.context() as mp:
        mp.setattr(sim.atomic, "open", third_write_fails, raising=False)
        with pytest.raises(OutputError, match="parts/part-.*cannot be written: the disk is full"):
            sim.sweep(spec, out, workers=1, chunk_size=2)
    assert not list(out.rglob(".tmp-*")) and len(list((out / "parts").glob("part-*.parquet"))) == 2
    pd.testing.assert_frame_equal(sim.load_sweep(sim.sweep(spec, out, workers=1, chunk_size=2)), reference, check_exact=True)
