"""Bounded memory for every input: one model run's memory is estimated from the declared sizes before anything is
allocated, and refused above the limit everywhere (the model, the runner, the CLI, sweeps, the app).

The estimate (sim/model/limits.py) is checked two ways: part by part against the arrays a model really allocates (they
must agree exactly, so the estimate follows the declarations), and as a whole against the peak tracemalloc measures
over a run (within a stated factor).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import yaml

import sim
from sim.cli import main
from sim.errors import InputError
from sim.model import limits
from sim.model.org import EngineeringOrg
from sim.model.state import STATE
from sim.model.week import SCRATCH

MANDATE_SIM = str(Path(sys.executable).with_name("mandate-sim"))


def big_org(tools: int, tasks: int, name: str = "") -> dict:
    """An organisation profile with ``tools`` tools (the built-in scenarios' inhouse and thirdparty among them) and ``tasks`` task types."""
    task_names = [f"task{k}" for k in range(tasks)]
    tool_names = ["inhouse", "thirdparty"] + [f"tool{j}" for j in range(tools - 2)]
    mix = {t: round(1.0 / tasks, 12) for t in task_names}
    mix[task_names[0]] = round(1.0 - sum(list(mix.values())[1:]), 12)
    return {
        "name": name or f"big_{tools}x{tasks}",
        "task_types": {t: {} for t in task_names},
        "tools": {j: {"effects": {t: {} for t in task_names}} for j in tool_names},
        "seniority": {lv: {"share": s, "task_mix": dict(mix)} for lv, s in (("junior", 0.3), ("mid", 0.4), ("senior", 0.3))},
    }


def scenario(policy: str, engineers: int, tools: int = 0, tasks: int = 0, weeks: int = 52) -> sim.Scenario:
    if not tools:
        return sim.load_scenario(policy, engineers=engineers, weeks=weeks)
    return sim.load_scenario({"extends": policy, "organisation": big_org(tools, tasks)}, engineers=engineers, weeks=weeks)


# ---------------------------------------------------------------------------
# The estimate
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy,n,tools,tasks,weeks", [
    ("mandate_single_tool", 300, 0, 0, 6),
    ("outcome_goals", 1000, 7, 11, 4),
    ("pilot_and_measure", 257, 3, 2, 3),
])
def test_each_part_of_the_estimate_is_what_the_model_allocates(policy, n, tools, tasks, weeks):
    sc = scenario(policy, n, tools, tasks, weeks)
    est = limits.scenario_estimate(sc)
    m = EngineeringOrg(sc, seed=1)
    wf, wk = m.workforce, m.wk
    assert est.state == sum(getattr(wf, v.name).nbytes for v in STATE) + wf.team.nbytes + wf.team_starts.nbytes
    assert est.scratch == sum(getattr(wk, v.name).nbytes for v in SCRATCH)
    assert est.channels == sum(v.nbytes for v in vars(m.channels).values() if isinstance(v, np.ndarray))
    assert est.draws == m.draws._u.nbytes + m.draws._z.nbytes
    assert est.recorder == m.recorder.values.nbytes
    assert est.transient >= 8 * n * wf.draw_width  # at least the uniforms the first engineers were drawn from


#: The stated accuracy: estimate / tracemalloc's peak over a whole run, compiled kernels warm.
LOW, HIGH = 0.75, 1.5
#: Prints tracemalloc's peak over one run of the scenario in the file named by argv[1], after a 2-week run that loads
#: the compiled passes for its size.
PEAK_SCRIPT = """
import sys, tracemalloc
from pathlib import Path
from sim.model.org import EngineeringOrg
from sim.model.params import Scenario
sc = Scenario.model_validate_json(Path(sys.argv[1]).read_text())
EngineeringOrg(sc.model_copy(update={"weeks": 2}), seed=0).run()
tracemalloc.start()
base = tracemalloc.get_traced_memory()[0]
EngineeringOrg(sc, seed=1).run()
print(tracemalloc.get_traced_memory()[1] - base)
"""


@pytest.mark.parametrize("policy,n,tools,tasks,weeks", [
    ("mandate_single_tool", 5000, 0, 0, 26),   # the default organisation (2 tools x 5 task types)
    ("free_choice", 2000, 10, 10, 12),         # never publishes: its largest temporary is the first hiring
    ("outcome_goals", 2000, 10, 10, 12),       # publishes measured results: the largest temporary happens
    ("outcome_goals", 400, 40, 40, 6),         # tools x task types dominate
])
def test_the_estimate_is_within_a_stated_factor_of_the_measured_peak(policy, n, tools, tasks, weeks, tmp_path):
    sc = scenario(policy, n, tools, tasks, weeks)
    spec = tmp_path / "scenario.json"
    spec.write_text(sc.model_dump_json())
    # measured in a fresh process: what earlier tests left in this one (caches, freed blocks) must not change the peak
    r = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(spec)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-2000:]
    peak = int(r.stdout.split()[-1])
    est = limits.scenario_estimate(sc).total
    assert LOW * peak <= est <= HIGH * peak, f"estimate {limits.format_bytes(est)}, measured peak {limits.format_bytes(peak)} ({est / peak:.2f}x)"


def test_sizes_are_read_with_units_and_bad_ones_are_clear():
    assert limits.parse_bytes("4GiB", source="x") == 4 * 1024**3
    assert limits.parse_bytes("512 MB", source="x") == 512 * 1000**2
    assert limits.parse_bytes("1.5g", source="x") == 1_500_000_000
    assert limits.parse_bytes(str(3 * 1024**2), source="x") == 3 * 1024**2
    with pytest.raises(InputError, match="x: value 'lots' is not a size"):
        limits.parse_bytes("lots", source="x")
    with pytest.raises(InputError, match="too small"):
        limits.parse_bytes("10kB", source="x")


def test_the_limits_come_from_the_environment_or_a_block_and_default_otherwise(monkeypatch):
    monkeypatch.delenv(limits.ENV_MODEL, raising=False)
    monkeypatch.delenv(limits.ENV_TABLE, raising=False)
    assert limits.max_model_bytes() == limits.DEFAULT_MAX_MODEL_BYTES == 2 * 1024**3
    assert limits.max_table_bytes() == limits.DEFAULT_MAX_TABLE_BYTES == 4 * 1024**3
    monkeypatch.setenv(limits.ENV_MODEL, "3GiB")
    assert limits.max_model_bytes() == 3 * 1024**3
    with limits.limited(model=5 * 1024**2, table=7 * 1024**2):
        assert limits.max_model_bytes() == 5 * 1024**2 and limits.max_table_bytes() == 7 * 1024**2
        assert os.environ[limits.ENV_MODEL] == str(5 * 1024**2)  # for the processes started in the block
    assert limits.max_model_bytes() == 3 * 1024**3 and os.environ[limits.ENV_MODEL] == "3GiB"
    monkeypatch.setenv(limits.ENV_MODEL, "plenty")
    with pytest.raises(InputError, match="environment variable MANDATE_SIM_MAX_MODEL_BYTES: value 'plenty' is not a size"):
        EngineeringOrg(scenario("free_choice", 20, weeks=2))


# ---------------------------------------------------------------------------
# Refused before allocating: the model, the runner, the command line
# ---------------------------------------------------------------------------

HUGE = dict(policy="mandate_single_tool", engineers=100_000, tools=60, tasks=60)


def test_a_model_too_large_is_refused_before_anything_is_allocated():
    sc = scenario(HUGE["policy"], HUGE["engineers"], HUGE["tools"], HUGE["tasks"])
    est = limits.scenario_estimate(sc)
    assert est.total > 20 * 1024**3  # 100,000 x 60 x 60: about 21 GiB
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        with pytest.raises(InputError) as refused:
            EngineeringOrg(sc, seed=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - t0 < 5
    assert peak < 20 * 1024**2, f"{limits.format_bytes(peak)} allocated before refusing"
    msg = " ".join(str(refused.value).split())
    for text in [huge_need(), "100,000 engineers x 60 tools x 60 task types", "more than the limit of 2.0 GiB",
                 "--max-model-memory", "MANDATE_SIM_MAX_MODEL_BYTES=", "lower organisation.size"]:
        assert text in msg, f"{text!r} not in {msg!r}"
    with pytest.raises(InputError, match=huge_need()):
        sim.run(sc, replicates=2)


def test_a_raised_limit_admits_a_model_and_a_lowered_one_refuses_it():
    sc = scenario("free_choice", 5000, weeks=2)
    need = limits.scenario_estimate(sc).total
    with limits.limited(model=need - 1):
        with pytest.raises(InputError, match="more than the limit"):
            EngineeringOrg(sc)
    with limits.limited(model=need):
        EngineeringOrg(sc)



def huge_need() -> str:
    """The estimate of the huge scenario as messages print it (derived from the declarations, so new state does not break these tests)."""
    sc = scenario(HUGE["policy"], HUGE["engineers"], HUGE["tools"], HUGE["tasks"])
    return f"one model run needs about {limits.format_bytes(limits.scenario_estimate(sc).total)}"

def _huge_scenario_file(folder: Path) -> Path:
    doc = {"extends": HUGE["policy"], "title": "60 tools x 60 task types", "organisation": {**big_org(HUGE["tools"], HUGE["tasks"]),
                                                                                              "size": HUGE["engineers"]}}
    path = folder / "huge.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_command_line_refuses_a_huge_scenario_with_one_message_and_exit_code_2(tmp_path, capsys):
    path = _huge_scenario_file(tmp_path)
    t0 = time.perf_counter()
    code = main(["run", str(path), "-r", "2"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert time.perf_counter() - t0 < 10
    assert "Traceback" not in err and huge_need() in err and "--max-model-memory" in err
    code = main(["compare", "free_choice", str(path), "-r", "2"])
    assert code == 2 and huge_need() in " ".join(capsys.readouterr().err.split())


def test_the_command_line_options_set_the_limits(tmp_path, capsys):
    code = main(["run", "free_choice", "-n", "5000", "-w", "2", "-r", "1", "--max-model-memory", "2MiB"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2 and "more than the limit of 2.0 MiB" in err, err
    code = main(["compare", "free_choice", "outcome_goals", "-n", "20", "-w", "52", "-r", "50", "--max-table-memory", "1MiB"])
    err = " ".join(capsys.readouterr().err.split())
    rows = limits.table_rows(2, 50, 52, len(sim.load_scenario("free_choice").organisation.task_types))
    assert code == 2 and f"would hold {rows:,} rows" in err and "more than the limit of 1.0 MiB" in err and "--max-table-memory" in err, err
    code = main(["run", "free_choice", "--max-model-memory", "a lot"])
    assert code == 2 and "--max-model-memory: value 'a lot' is not a size" in capsys.readouterr().err
    assert limits.ENV_MODEL not in os.environ or os.environ[limits.ENV_MODEL] != str(2 * 1024**2)  # restored after the command
    assert main(["run", "free_choice", "-n", "20", "-w", "2", "-r", "1", "--max-model-memory", "64MiB"]) == 0


def test_the_environment_variable_reaches_the_real_command(tmp_path):
    env = dict(os.environ, MANDATE_SIM_MAX_MODEL_BYTES="1MiB", COLUMNS="200", NO_COLOR="1", TERM="dumb")
    r = subprocess.run([MANDATE_SIM, "run", "free_choice", "-n", "2000", "-w", "2", "-r", "1"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "more than the limit of 1.0 MiB" in " ".join(r.stderr.split())


# ---------------------------------------------------------------------------
# Sweeps: refused quickly, before the design or the seeds are built
# ---------------------------------------------------------------------------

SPEC = {"scenario": "mandate_single_tool", "design": "lhs", "samples": 8, "replicates": 2, "seed": 1, "engineers": 20, "weeks": 4,
        "parameters": {"policy.usage_enforcement": [0.0, 1.0]}, "outputs": ["true_gain"]}


def test_a_sweep_of_five_million_points_is_refused_at_once(tmp_path, capsys):
    from sim.experiments.sweeps import load_spec

    for seeds in ("common", "per_run"):
        t0 = time.perf_counter()
        with pytest.raises(InputError) as refused:
            load_spec({**SPEC, "samples": 5_000_000, "replicates": 1, "seeds": seeds})
        assert time.perf_counter() - t0 < 2
        msg = str(refused.value)
        assert "5,000,000 design points x 1 replicates = 5,000,000 model runs" in msg and "2,000,000 model runs" in msg
        assert "--max-runs" in msg and "MANDATE_SIM_MAX_SWEEP_RUNS" in msg
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({**SPEC, "samples": 5_000_000}))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "model runs" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_sweep_run_limit_is_settable(tmp_path, monkeypatch, capsys):
    from sim.experiments.sweeps import load_spec

    monkeypatch.setenv("MANDATE_SIM_MAX_SWEEP_RUNS", "15")
    with pytest.raises(InputError, match="8 design points x 2 replicates = 16 model runs; the most one sweep may run is 15"):
        load_spec(SPEC)
    monkeypatch.setenv("MANDATE_SIM_MAX_SWEEP_RUNS", "16")
    load_spec(SPEC)
    monkeypatch.delenv("MANDATE_SIM_MAX_SWEEP_RUNS")
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SPEC))
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--max-runs", "10", "--workers", "1"]) == 2
    assert "the most one sweep may run is 10" in capsys.readouterr().err
    assert "MANDATE_SIM_MAX_SWEEP_RUNS" not in os.environ


def test_a_sweep_whose_largest_model_is_too_large_is_refused_before_it_starts(tmp_path):
    from sim.experiments.sweeps import load_spec, sweep

    org = tmp_path / "big.yaml"
    org.write_text(yaml.safe_dump(big_org(60, 60)))
    spec = {**SPEC, "org": str(org), "engineers": None, "parameters": {"organisation.size": [10, 100_000]}}
    spec.pop("engineers")
    t0 = time.perf_counter()
    with pytest.raises(InputError) as refused:
        sweep(spec, tmp_path / "out", workers=1)
    assert time.perf_counter() - t0 < 20
    msg = str(refused.value)
    assert "field 'parameters'" in msg and huge_need() in msg and "100,000 engineers" in msg
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match=r"x 52 weeks\) would hold 624,000 rows.*or keep: final"):  # every week of 2,000 runs x 2 replicates x 3 outputs: above a 1 MiB table limit
        with limits.limited(table=1024**2):
            load_spec({**SPEC, "samples": 2000, "keep": "series", "weeks": 52, "outputs": ["true_gain", "trust_leadership", "fatigue"]})


def test_a_sweep_runs_under_the_limit_it_was_admitted_with(tmp_path):
    from sim.experiments.sweeps import load_spec

    with limits.limited(model=64 * 1024**2):
        plan = load_spec(SPEC)
    assert plan.evaluator.max_model_bytes == 64 * 1024**2  # carried to every worker, a Dask worker on another machine included
    with limits.limited(model=1024**2, environ=False):
        assert plan.evaluator(plan.point(0), [1]).shape == (1, 1, 1)  # the worker's own lower limit does not apply


def test_planning_many_seeds_is_announced():
    from sim.experiments.sweeps import load_spec

    heard: list[str] = []
    spec = {**SPEC, "function": "ishigami", "scenario": None, "samples": 60_000, "engineers": None, "weeks": None, "seeds": "per_run",
            "parameters": {"x1": [-3.14, 3.14], "x2": [-3.14, 3.14], "x3": [-3.14, 3.14]}, "outputs": ["y"]}
    spec = {k: v for k, v in spec.items() if v is not None}
    load_spec(spec, status=heard.append)
    assert heard and "building the seeds of 120,000 model runs" in heard[0]


# ---------------------------------------------------------------------------
# The app: the same estimate at admission
# ---------------------------------------------------------------------------


def test_the_app_admits_requests_by_the_same_estimate():
    from dashboards.jobs import check_work

    specs = [sim.load_scenario({"extends": p, "organisation": big_org(40, 40)}, engineers=25_000, weeks=12) for p in ("mandate_single_tool", "free_choice")]
    assert limits.scenario_estimate(specs[0]).total > 2 * 1024**3  # a 40 x 40 upload: within the engineer-weeks, not the memory
    with pytest.raises(InputError) as refused:
        check_work(specs, 2, 25_000_000)
    est = limits.format_bytes(limits.scenario_estimate(specs[0]).total)
    msg = " ".join(str(refused.value).split())
    assert msg.startswith("request:") and f"one model run needs about {est}" in msg and "MANDATE_SIM_MAX_MODEL_BYTES of the server" in msg
    check_work(specs, 2, 25_000_000, max_model_bytes=8 * 1024**3)
    # The built-in organisations at the app's largest size stay admitted.
    check_work([sim.load_scenario(p, engineers=100_000, weeks=52) for p in ("mandate_single_tool", "free_choice")], 1, 25_000_000)
    with pytest.raises(InputError, match="would hold .* rows"):
        check_work([sim.load_scenario("free_choice", engineers=10, weeks=260)], 200, 25_000_000, max_table_bytes=1024**2)
