"""Organisation-level facts (sim/experiments/facts.py) and `mandate-sim validate`'s second table.

Every test here writes its own fact files in a temporary folder (small organisations, few weeks and replicates), so
none depends on the shipped facts passing, or on a metric the model does not record yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim import cli
from sim.experiments import runner
from sim.errors import InputError
from sim.experiments.facts import FACT_DIR, STATISTICS, check_facts, load_fact_file, load_facts, statistic
from sim.experiments.studies import STUDY_DIR

# ---------------------------------------------------------------------------
# Statistics on hand-made series
# ---------------------------------------------------------------------------

X = [0.1, 0.5, 0.9, 0.7, 0.6]  # weeks 1 to 5


@pytest.mark.parametrize(
    "name, window, expected",
    [
        ("final", None, 0.6),
        ("mean", None, 0.56),
        ("peak", None, 0.9),
        ("peak_week", None, 3),
        ("min", None, 0.1),
        ("slope", None, 0.12),  # weeks centred: -2..2; (-0.2 - 0.5 + 0 + 0.7 + 1.2) / 10
        ("drop_from_peak", None, 0.3),
        ("relative_change", None, 5.0),  # 0.6 / 0.1 - 1
        ("final", [2, 4], 0.7),
        ("mean", [2, 4], 0.7),
        ("peak", [2, 4], 0.9),
        ("peak_week", [2, 4], 3),  # the week of the run, not of the window
        ("peak_week", [4, 5], 4),
        ("min", [2, 4], 0.5),
        ("slope", [2, 4], 0.1),  # (0.7 - 0.5) / 2
        ("drop_from_peak", [2, 4], 0.2),
        ("relative_change", [2, 4], 0.4),  # 0.7 / 0.5 - 1
        ("min", [3, 3], 0.9),
    ],
)
def test_each_statistic_on_a_hand_made_series(name, window, expected):
    assert statistic(X, name, window) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_every_statistic_is_tested_above():
    assert set(STATISTICS) == {"final", "mean", "peak", "peak_week", "min", "slope", "drop_from_peak", "relative_change"}


def test_statistics_per_replicate_and_edge_cases():
    block = np.array([X, [0.2, 0.2, 0.2, 0.2, 0.2], [1.0, 2.0, 3.0, 4.0, 5.0]])  # [replicates, weeks]
    assert statistic(block, "peak", None) == pytest.approx([0.9, 0.2, 5.0])
    assert list(statistic(block, "peak_week", None)) == [3, 1, 5]  # a tie goes to the first week
    assert statistic(block, "slope", None) == pytest.approx([0.12, 0.0, 1.0])
    assert statistic(block, "drop_from_peak", None) == pytest.approx([0.3, 0.0, 0.0])
    assert np.isnan(statistic([0.0, 0.3], "relative_change"))  # no change can be computed from 0: NaN, which fails
    with pytest.raises(ValueError, match="window"):
        statistic(X, "mean", [0, 3])
    with pytest.raises(ValueError, match="window"):
        statistic(X, "mean", [2, 6])
    with pytest.raises(ValueError, match="two weeks"):
        statistic(X, "slope", [2, 2])
    with pytest.raises(ValueError, match="unknown statistic"):
        statistic(X, "median")


# ---------------------------------------------------------------------------
# Fact files
# ---------------------------------------------------------------------------


def fact(**kw) -> dict:
    """A small fact (20 engineers, 6 weeks) that always holds: the weekly active share lies in [0, 1]."""
    base = {
        "id": "TRUE-share", "citation": "test", "url": "https://example.org", "scenario": "free_choice",
        "engineers": 20, "weeks": 6, "metric": "weekly_active_share", "statistic": "mean", "window": [1, 6],
        "published": 0.5, "tolerance": [0.0, 1.0],
    }
    base.update(kw)
    return base


def write(folder: Path, name: str, data: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_a_single_fact_and_a_group_of_facts_load(tmp_path):
    [one] = load_fact_file(write(tmp_path, "one.yaml", fact()))
    assert (one.id, one.metric, one.statistic, one.window, one.tolerance) == ("TRUE-share", "weekly_active_share", "mean", (1, 6), (0.0, 1.0))
    assert one.scenario.weeks == 6 and one.scenario.organisation.size == 20
    shared = fact()
    del shared["id"], shared["statistic"], shared["tolerance"]
    shared["facts"] = [
        {"id": "A", "statistic": "peak", "tolerance": [0.0, 1.0]},
        {"id": "B", "statistic": "min", "tolerance": [0.0, 1.0], "window": [2, 4], "metric": "trust_ai"},
    ]
    a, b = load_fact_file(write(tmp_path, "group.yaml", shared))
    assert (a.id, a.statistic, a.window, a.metric) == ("A", "peak", (1, 6), "weekly_active_share")
    assert (b.id, b.statistic, b.window, b.metric) == ("B", "min", (2, 4), "trust_ai")  # an entry's keys override the top's
    assert a.key == b.key  # one configuration


def test_the_window_defaults_to_the_whole_horizon_and_scenario_paths_are_relative_to_the_fact_file(tmp_path, monkeypatch):
    folder = tmp_path / "facts"
    write(folder, "mine.yaml", {"extends": "free_choice", "name": "mine", "weeks": 9})
    data = fact(scenario="mine.yaml")
    del data["window"], data["weeks"]
    path = write(folder, "f.yaml", data)
    monkeypatch.chdir(tmp_path)  # the scenario is found next to the fact file, not in the working folder
    [f] = load_fact_file(path)
    assert f.scenario.name == "mine" and f.window == (1, 9)


@pytest.mark.parametrize(
    "change, field, words",
    [
        ({"toleranse": [0, 1]}, "toleranse", "unknown key"),
        ({"metric": "no_such_metric"}, "metric", "metric 'no_such_metric' is not one of"),
        ({"statistic": "median"}, "statistic", "median"),
        ({"window": [3, 60]}, "window", "horizon of 6 weeks"),
        ({"window": [4, 2]}, "window", "first <= last"),
        ({"tolerance": [0.9, 0.1]}, "tolerance", "low <= high"),
        ({"group": "seniority=senior", "metric": "token_use_share"}, "group", "allowed: all"),
        ({"scenario": "free_choise"}, "scenario", "did you mean 'free_choice'"),
        ({"org": "no_such_org"}, "org", "no_such_org"),
        ({"overrides": {"policy.no_such_lever": 1}}, "overrides", "is not a parameter path"),
        ({"engineers": 3}, "engineers", "minimum"),
        ({"published": None}, "published", "required"),
    ],
)
def test_a_wrong_fact_file_gets_one_clear_error(tmp_path, change, field, words):
    data = fact(**change)
    data = {k: v for k, v in data.items() if v is not None}
    path = write(tmp_path, "bad.yaml", data)
    with pytest.raises(InputError) as e:
        load_fact_file(path)
    text = str(e.value)
    assert str(path) in text and f"field '{field}" in text and words in text, text


def test_errors_inside_a_group_name_the_entry(tmp_path):
    shared = fact()
    del shared["id"]
    shared["facts"] = [{"id": "A"}, {"id": "B", "metirc": "trust_ai"}, {"id": "C", "metric": "nope"}]
    path = write(tmp_path, "group.yaml", shared)
    with pytest.raises(InputError) as e:
        load_fact_file(path)
    assert "field 'facts.1.metirc'" in str(e.value) and "did you mean 'metric'" in str(e.value)
    shared["facts"][1] = {"id": "A"}  # a repeated id, and an unknown metric in the third entry: both reported
    with pytest.raises(InputError) as e:
        load_fact_file(write(tmp_path, "group.yaml", shared))
    assert "field 'facts.1.id'" in str(e.value) and "field 'facts.2.metric'" in str(e.value)


def test_the_metric_is_checked_against_the_model_when_the_file_is_loaded(tmp_path, monkeypatch):
    from sim.experiments import facts as facts_module

    path = write(tmp_path, "f.yaml", fact(metric="token_use_share"))
    load_fact_file(path)
    # As if the model did not record it (yet): the facts reader sees a registry without it. The model's own registry
    # is left alone, since the recorder's layout derives from it.
    fewer = {k: v for k, v in facts_module.METRICS.items() if k != "token_use_share"}
    monkeypatch.setattr(facts_module, "METRICS", fewer)
    with pytest.raises(InputError, match="metric 'token_use_share' is not one of"):
        load_fact_file(path)


def test_ids_are_unique_across_a_folder(tmp_path):
    write(tmp_path, "a.yaml", fact(id="SAME"))
    write(tmp_path, "b.yaml", fact(id="SAME"))
    with pytest.raises(InputError, match="already the id of a fact"):
        load_facts(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no fact files"):
        load_facts(tmp_path / "empty")


def test_the_shipped_fact_files_are_well_formed():
    files = sorted(FACT_DIR.glob("*.yaml"))
    assert {f.name for f in files} >= {"ROLLOUT-adoption.yaml", "STACKOVERFLOW-trust.yaml", "HOWDY-theatre.yaml"}
    for f in files:
        try:
            loaded = load_fact_file(f)
        except InputError as e:  # a fact may name a metric the model engineer has not added yet: then the message says so
            assert "is not one of the model's metrics" in str(e) and str(f) in str(e), str(e)
            continue
        assert loaded and all(x.citation and x.url and x.published is not None for x in loaded)
    ids = {x.id for x in load_fact_file(FACT_DIR / "ROLLOUT-adoption.yaml")}
    assert ids == {"ROLLOUT-2025-adoption-peak", "ROLLOUT-2025-adoption-peak-week", "ROLLOUT-2025-adoption-settles"}


# ---------------------------------------------------------------------------
# Checking: shared runs, the result frame
# ---------------------------------------------------------------------------


def test_facts_sharing_a_configuration_share_their_runs(tmp_path, monkeypatch):
    calls: list[tuple[str, str, int]] = []
    real = runner.simulate

    def counting(scenario, seed):
        calls.append((scenario.name, scenario.model_copy(update={"name": ""}).model_dump_json(), seed))
        return real(scenario, seed)

    monkeypatch.setattr(runner, "simulate", counting)
    write(tmp_path, "a.yaml", fact(id="A1", statistic="peak"))
    group = {k: v for k, v in fact().items() if k != "id"}
    write(tmp_path, "b.yaml", {**group, "facts": [{"id": "B1", "metric": "trust_ai"}, {"id": "B2", "statistic": "final"}]})
    write(tmp_path, "c.yaml", fact(id="C1", scenario="mandate_single_tool"))
    write(tmp_path, "d.yaml", fact(id="D1", engineers=24))
    facts = load_facts(tmp_path)
    assert len(facts) == 5 and len({f.key for f in facts}) == 3
    seen = []
    df = check_facts(facts, replicates=3, seed=7, progress=lambda done, total: seen.append((done, total)))
    assert list(df["fact"]) == ["A1", "B1", "B2", "C1", "D1"]
    policy_runs = [c for c in calls if c[0] != "no_ai"]
    assert len(policy_runs) == 3 * 3  # three configurations, three replicates: each run once
    assert len({(c[1], c[2]) for c in calls}) == len(calls)  # nothing simulated twice, counterfactuals included
    assert len({c[2] for c in calls}) == 3  # the same three seeds for every configuration (paired)
    assert seen[-1] == (9, 9)


def test_the_result_has_the_studies_columns_and_is_reproducible(tmp_path):
    write(tmp_path, "a.yaml", fact(id="A", tolerance=[2.0, 3.0]))
    facts = load_facts(tmp_path)
    a = check_facts(facts, replicates=3, seed=1)
    b = check_facts(facts, replicates=3, seed=1)
    assert {"fact", "measure", "published", "simulated", "sim_low", "sim_high", "tol_low", "tol_high", "pass", "citation"} <= set(a.columns)
    assert a.equals(b)
    row = a.iloc[0]
    assert row["measure"] == "mean of weekly_active_share" and not row["pass"]
    assert row["sim_low"] <= row["simulated"] <= row["sim_high"]


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


@pytest.fixture
def passing_studies(tmp_path) -> Path:
    """One shipped study with a tolerance nothing can miss (so the command's exit code is the facts')."""
    data = yaml.safe_load((STUDY_DIR / "PENG-2023.yaml").read_text())
    for m in data["measures"].values():
        m["tolerance"] = [-10.0, 10.0]
    return write(tmp_path / "studies", "PENG-wide.yaml", data).parent


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = cli.main(["validate", "--replicates", "2", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_validate_prints_both_tables_and_exits_zero_when_all_pass(tmp_path, capsys, passing_studies):
    write(tmp_path / "facts", "t.yaml", fact(id="TRUE-1"))
    code, out, err = run_cli(capsys, "--studies", str(passing_studies), "--facts-dir", str(tmp_path / "facts"))
    assert code == 0, out + err
    assert "Virtual studies" in out and "Organisation-level facts" in out and "TRUE-1" in out and "FAIL" not in out


def test_validate_exits_nonzero_when_a_fact_fails(tmp_path, capsys, passing_studies):
    write(tmp_path / "facts", "t.yaml", fact(id="TRUE-1"))
    write(tmp_path / "facts", "f.yaml", fact(id="FALSE-1", tolerance=[2.0, 3.0]))  # a share above 2: never
    code, out, _ = run_cli(capsys, "--studies", str(passing_studies), "--facts-dir", str(tmp_path / "facts"))
    assert code == 1
    assert "TRUE-1" in out and "FALSE-1" in out and "FAIL" in out and "1 of 2 facts within tolerance" in " ".join(out.split())


def test_validate_json_has_both_kinds(tmp_path, capsys, passing_studies):
    write(tmp_path / "facts", "f.yaml", fact(id="FALSE-1", tolerance=[2.0, 3.0]))
    code, out, _ = run_cli(capsys, "--studies", str(passing_studies), "--facts-dir", str(tmp_path / "facts"), "--json")
    assert code == 1
    rows = json.loads(out)
    assert {r["kind"] for r in rows} == {"study", "fact"}
    facts = [r for r in rows if r["kind"] == "fact"]
    assert facts[0]["fact"] == "FALSE-1" and facts[0]["pass"] is False and facts[0]["citation"] == "test"
    assert all({"published", "simulated", "sim_low", "sim_high", "tol_low", "tol_high", "pass"} <= set(r) for r in rows)
    assert all("study" in r for r in rows if r["kind"] == "study")


def test_validate_without_facts_and_wrong_fact_input(tmp_path, capsys, passing_studies):
    code, out, err = run_cli(capsys, "--studies", str(passing_studies), "--no-facts")
    assert code == 0 and "Virtual studies" in out and "Organisation-level facts" not in out
    code, out, err = run_cli(capsys, "--no-facts", "--facts-dir", str(tmp_path))
    assert code == 2 and "--facts-dir" in err
    write(tmp_path / "facts", "bad.yaml", fact(statistic="median"))
    code, out, err = run_cli(capsys, "--studies", str(passing_studies), "--facts-dir", str(tmp_path / "facts"))
    assert code == 2 and "bad.yaml" in err and "statistic" in err and "Traceback" not in err + out
    code, out, err = run_cli(capsys, "--facts-dir", str(tmp_path / "nowhere"))
    assert code == 2 and "folder not found" in err
