"""Virtual studies, `validate` and `calibrate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

import sim
from sim.experiments.calibration import calibrate, write_overlay
from sim.errors import InputError
from sim.model.scenarios import load_scenario
from sim.experiments.studies import STUDY_DIR, load_studies, load_study, simulate_study, summarise_study, validate

MANDATE = [sys.executable, "-m", "sim.cli"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(MANDATE + list(args), capture_output=True, text=True, cwd=cwd)


def test_every_shipped_study_passes_with_the_defaults():
    df = validate(replicates=200, seed=0)
    assert set(df["study"]) == {"METR-2025", "METR-2026-new", "METR-2026-returning", "PENG-2023"}
    assert df["pass"].all(), df.to_string()


def test_validate_command_prints_the_table_and_exits_zero():
    r = cli("validate", "--replicates", "100", "--no-facts")  # the organisation-level facts: tests/test_facts.py
    assert r.returncode == 0, r.stderr
    assert "METR-2025" in r.stdout and "PENG-2023" in r.stdout and "FAIL" not in r.stdout


def test_validate_json_is_machine_readable():
    r = cli("validate", "--replicates", "50", "--json", "--no-facts")
    rows = __import__("json").loads(r.stdout)
    assert {row["kind"] for row in rows} == {"study"}
    assert {row["measure"] for row in rows} == {"time_change", "forecast_saving", "perceived_saving"}
    assert all({"published", "simulated", "sim_low", "sim_high", "pass"} <= set(row) for row in rows)


def test_validate_exits_nonzero_when_a_study_fails(tmp_path):
    data = yaml.safe_load((STUDY_DIR / "PENG-2023.yaml").read_text())
    data["measures"]["time_change"]["tolerance"] = [0.10, 0.20]  # a slowdown the model will not produce
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(data))
    r = cli("validate", "--studies", str(tmp_path), "--replicates", "50", "--no-facts")
    assert r.returncode == 1
    assert "FAIL" in r.stdout


def test_study_runs_are_reproducible_and_seed_dependent():
    study = load_study(STUDY_DIR / "METR-2025.yaml")
    a = simulate_study(study, replicates=20, seed=5)
    b = simulate_study(study, replicates=20, seed=5)
    c = simulate_study(study, replicates=20, seed=6)
    assert a.equals(b)
    assert not a.equals(c)


def test_slowdown_comes_from_familiarity_and_skill_not_from_the_study():
    """The same task types with newcomers to the code on greenfield-like terms are faster with AI: the effect is the model's."""
    study = load_study(STUDY_DIR / "METR-2025.yaml")
    experts = summarise_study(study, simulate_study(study, replicates=200, seed=1)).set_index("measure")
    novices = study.model_copy(update={"population": study.population.model_copy(update={"skill_mean": 0.3, "tenure_years": 0.0})})
    fresh = summarise_study(novices, simulate_study(novices, replicates=200, seed=1)).set_index("measure")
    assert fresh.at["time_change", "simulated"] < experts.at["time_change", "simulated"] - 0.1


def test_more_prior_tool_use_reduces_the_slowdown():
    study = load_study(STUDY_DIR / "METR-2025.yaml")
    seasoned = study.model_copy(update={"population": study.population.model_copy(update={"prior_tool_weeks": 40})})
    a = summarise_study(study, simulate_study(study, replicates=100, seed=2)).set_index("measure").at["time_change", "simulated"]
    b = summarise_study(seasoned, simulate_study(seasoned, replicates=100, seed=2)).set_index("measure").at["time_change", "simulated"]
    assert b < a


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["population"].__setitem__("engineers", -3), "population.engineers"),
        (lambda d: d["population"].__setitem__("skil_mean", 0.5), "population.skil_mean"),
        (lambda d: d["assignment"].__setitem__("unit", "teams"), "assignment.unit"),
        (lambda d: d["measures"]["time_change"].__setitem__("tolerance", [0.3, 0.1]), "measures.time_change"),
        (lambda d: d["tasks"].__setitem__("mix", {"boilerplate": 0.5}), "tasks"),
    ],
)
def test_a_wrong_study_file_gets_one_clear_error(tmp_path, mutate, field):
    data = yaml.safe_load((STUDY_DIR / "METR-2025.yaml").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError) as e:
        load_study(path)
    assert str(path) in str(e.value) and field in str(e.value)
    r = cli("validate", "--studies", str(tmp_path))
    assert r.returncode == 2
    assert "Traceback" not in r.stderr + r.stdout
    assert field in r.stderr


def test_a_study_naming_an_unknown_tool_or_task_is_refused(tmp_path):
    data = yaml.safe_load((STUDY_DIR / "METR-2025.yaml").read_text())
    data["assignment"]["tool"] = "copilot"
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(data))
    r = cli("validate", "--studies", str(tmp_path))
    assert r.returncode == 2 and "assignment.tool" in r.stderr and "copilot" in r.stderr


def _synthetic_studies(tmp_path: Path, truth: dict[str, float]) -> Path:
    """Study files whose 'published' values the model itself produced with known parameters (other seeds)."""
    sc = load_scenario({}, overrides=truth)
    out = tmp_path / "synthetic"
    out.mkdir()
    for path, study in load_studies():
        sims = summarise_study(study, simulate_study(study, sc, replicates=2000, seed=123)).set_index("measure")
        data = yaml.safe_load(path.read_text())
        for m in data["measures"]:
            v = float(sims.at[m, "simulated"])
            data["measures"][m].update(published=v, ci=None, tolerance=[v - 0.05, v + 0.05])
        (out / path.name).write_text(yaml.safe_dump(data))
    return out


@pytest.mark.slow
def test_calibration_recovers_known_parameters(tmp_path):
    truth = {"behaviour.perception.hype_prior": 0.32, "behaviour.work.expert_discount": 0.55}
    folder = _synthetic_studies(tmp_path, truth)
    studies = [s for _, s in load_studies(folder)]
    fit = calibrate(studies, list(truth), replicates=100, seed=0, maxiter=12)  # recovers both within the tolerances below (20 s, not 60 s)
    assert abs(fit.params["behaviour.perception.hype_prior"] - 0.32) < 0.02
    assert abs(fit.params["behaviour.work.expert_discount"] - 0.55) < 0.08
    assert fit.objective < fit.start_objective


def test_calibrate_writes_an_overlay_that_run_and_extends_accept(tmp_path):
    studies = [s for _, s in load_studies()]
    fit = calibrate(studies, ["behaviour.perception.hype_prior"], replicates=50, seed=0, maxiter=3)
    overlay = write_overlay(fit, tmp_path / "calibrated.yaml")
    sc = load_scenario(str(overlay))
    assert sc.behaviour.perception.hype_prior == pytest.approx(fit.params["behaviour.perception.hype_prior"])
    combined = tmp_path / "mine.yaml"
    combined.write_text(yaml.safe_dump({"extends": ["mandate_single_tool", str(overlay)]}))
    sc2 = load_scenario(str(combined))
    assert sc2.policy.usage_target == 0.8
    assert sc2.behaviour.perception.hype_prior == pytest.approx(fit.params["behaviour.perception.hype_prior"])
    df = sim.run(str(combined), engineers=20, weeks=3)
    assert np.isfinite(df["value"]).all()


def test_calibrate_command_refuses_bad_parameter_paths(tmp_path):
    r = cli("calibrate", "--studies", str(STUDY_DIR), "--params", "behaviour.perception.hype")
    assert r.returncode == 2 and "hype_prior" in r.stderr and "Traceback" not in r.stderr
    r = cli("calibrate", "--studies", str(STUDY_DIR), "--params", "policy.allowed_tools")
    assert r.returncode == 2 and "policy.allowed_tools" in r.stderr


def test_calibrate_command_end_to_end(tmp_path):
    out = tmp_path / "ov.yaml"
    r = cli("calibrate", "--studies", str(STUDY_DIR), "--params", "behaviour.perception.optimism", "--maxiter", "2", "--replicates", "30", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert "Fitted parameters" in r.stdout and out.exists()
    assert "optimism" in out.read_text()
