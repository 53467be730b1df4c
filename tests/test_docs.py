"""The model documentation follows the code: docs/PARAMETERS.md is generated and current, docs/MODEL.md names every rule, metric, phase and state array, and its `Parameters:` lines cover every behaviour and policy parameter."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.analysis import paramdocs
from sim.model import rules
from sim.model.metrics import METRICS
from sim.model import EngineeringOrg
from sim.model.params import Scenario
from sim.model.workforce import OrgTables, Workforce

ROOT = Path(__file__).resolve().parents[1]
PARAMETERS_MD = ROOT / "docs" / "PARAMETERS.md"
MODEL_MD = ROOT / "docs" / "MODEL.md"


@pytest.fixture(scope="module")
def model_md() -> str:
    return MODEL_MD.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def submodels(model_md: str) -> dict[str, list[str]]:
    """The level-3 sections of MODEL.md: heading -> lines up to the next heading of level 2 or 3."""
    out: dict[str, list[str]] = {}
    current = None
    for line in model_md.splitlines():
        if line.startswith("### "):
            current = line[4:].strip()
            out[current] = []
        elif line.startswith("## ") or line.startswith("# "):
            current = None
        elif current is not None:
            out[current].append(line)
    return out


def parameter_lines(text: str) -> list[list[str]]:
    """The backticked paths of every line that starts with 'Parameters:'."""
    return [re.findall(r"`([^`]+)`", line) for line in text.splitlines() if line.startswith("Parameters:")]


def declared_paths() -> set[str]:
    return {r.path for r in sim.parameter_paths()}


# --- docs/PARAMETERS.md ------------------------------------------------------------


def test_parameters_md_is_current():
    assert PARAMETERS_MD.exists(), f"docs/PARAMETERS.md is missing; generate it with `{paramdocs.REGENERATE}`"
    assert PARAMETERS_MD.read_text(encoding="utf-8") == paramdocs.render(), (
        f"docs/PARAMETERS.md is out of date with sim/params.py or sim/metrics.py; regenerate it with `{paramdocs.REGENERATE}`"
    )


def test_module_command_prints_the_reference():
    out = subprocess.run([sys.executable, "-m", "sim.analysis.paramdocs"], cwd=ROOT, capture_output=True, check=True)
    assert out.stdout.decode("utf-8") == paramdocs.render()


def test_reference_has_every_parameter_with_its_declaration_and_every_metric():
    text = paramdocs.render()
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| `")}
    for r in sim.parameter_paths():
        assert f"`{r.path}`" in rows, f"{r.path} missing from the reference"
        line = rows[f"`{r.path}`"]
        assert r.unit in line and r.description.split("(")[0].strip() in line
        if r.source:
            assert r.source in line, f"{r.path}: declared evidence not shown"
    for name, m in METRICS.items():
        assert f"`{name}`" in rows and m.unit in rows[f"`{name}`"], f"metric {name} missing from the reference"


def test_reference_follows_the_declarations_it_is_given():
    sc = Scenario()
    sc.organisation.size = 4321
    sc.behaviour.perception.anchoring = 0.37
    text = paramdocs.render(sc)
    assert "| `organisation.size` | 4321 | engineers | 10 to 100000 |" in text
    assert "| `behaviour.perception.anchoring` | 0.37 | share | 0 to 0.99 |" in text
    assert text != paramdocs.render()


def test_reference_has_one_table_per_behaviour_group_and_policy_section():
    titles = [title for _, title, _, _ in paramdocs.sections()]
    for group in type(Scenario().behaviour).model_fields:
        assert f"Behaviour: {group}" in titles
    assert {"Organisation", "Organisation: task types", "Organisation: AI tools", "Policy levers"} <= set(titles)
    grouped = [r.path for *_, rows in paramdocs.sections() for r in rows]
    assert sorted(grouped) == sorted(declared_paths()), "every parameter in exactly one section"


# --- docs/MODEL.md ----------------------------------------------------------------


def test_every_rule_is_described(model_md: str):
    public = [name for name, f in inspect.getmembers(rules, inspect.isfunction) if f.__module__ == rules.__name__ and not name.startswith("_")]
    assert public, "no rules found"
    missing = [name for name in public if f"rules.{name}" not in model_md]
    assert not missing, f"docs/MODEL.md does not describe these rules of sim/rules.py: {missing}"


def test_every_metric_is_described(model_md: str):
    missing = [name for name in METRICS if f"`{name}`" not in model_md]
    assert not missing, f"docs/MODEL.md does not describe these metrics: {missing}"


def test_phases_are_described_in_their_order(model_md: str):
    positions = [model_md.find(f"`{phase}`") for phase in EngineeringOrg.PHASES]
    assert all(p >= 0 for p in positions), f"phases missing from docs/MODEL.md: {[ph for ph, p in zip(EngineeringOrg.PHASES, positions) if p < 0]}"
    assert positions == sorted(positions), "docs/MODEL.md lists the phases out of the order of EngineeringOrg.PHASES"


def test_every_state_array_is_described(model_md: str):
    sc = Scenario()
    wf = Workforce(20, sc.organisation.team_size, OrgTables.from_organisation(sc.organisation), sc.behaviour)
    arrays = [name for name, v in vars(wf).items() if hasattr(v, "shape")]
    assert len(arrays) > 10
    missing = [name for name in arrays if f"`{name}`" not in model_md]
    assert not missing, f"docs/MODEL.md does not describe these state arrays of sim/workforce.py: {missing}"


def test_every_submodel_ends_with_its_parameters(submodels: dict[str, list[str]]):
    assert len(submodels) >= 20
    for heading, lines in submodels.items():
        body = [line for line in lines if line.strip()]
        assert body and body[-1].startswith("Parameters: `"), f"submodel '{heading}' must end with a 'Parameters:' line"


def test_parameters_lines_name_declared_paths(model_md: str):
    lines = parameter_lines(model_md)
    assert lines
    declared = declared_paths()
    unknown = sorted({p for paths in lines for p in paths if p not in declared})
    assert not unknown, f"'Parameters:' lines of docs/MODEL.md name paths that sim.parameter_paths() does not have: {unknown}"


def test_every_behaviour_and_policy_parameter_has_a_mechanism(model_md: str):
    named = {p for paths in parameter_lines(model_md) for p in paths}
    needed = sorted(p for p in declared_paths() if p.startswith(("behaviour.", "policy.")))
    assert needed
    missing = [p for p in needed if p not in named]
    assert not missing, f"these parameters appear on no 'Parameters:' line of docs/MODEL.md (document the mechanism that uses them): {missing}"
