"""Property-based tests over the declared parameter space (sim/params.py, via ``sim.parameter_paths()``).

Any values within the declared bounds, on any built-in scenario, must give a
model that runs and whose outputs are finite with every share in [0, 1].
Values the declarations reject (out of bounds, wrong type, shares that do not
sum to one) must raise ``sim.InputError`` and nothing else.

``make fuzz`` runs the same properties longer: many more examples, larger models
and longer horizons, and fresh random examples on every run (``fuzz_settings``
in conftest.py); the suite's profile is small and derandomized.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import FUZZ, check_outputs, fuzz_settings
from hypothesis import assume, given
from hypothesis import strategies as st

import sim

ROWS = [r for r in sim.parameter_paths() if r.kind in ("number", "integer") and r.min is not None and r.max is not None]
#: Set by the test itself (small models), not drawn.
SIZE_PATHS = {"weeks", "organisation.size"}
#: Shares that must sum to one with their siblings: drawn together as a distribution, or alone to test rejection.
DISTRIBUTION = [r for r in ROWS if r.path.endswith(".share") and ".seniority." in r.path or ".task_mix." in r.path]
FREE_ROWS = [r for r in ROWS if r.path not in SIZE_PATHS and r not in DISTRIBUTION]
SCENARIOS = sim.builtin_scenarios()
LEVELS = ("junior", "mid", "senior")
TASKS = sim.Scenario().organisation.task_names

PROPERTY_SETTINGS = fuzz_settings(200)
#: Model sizes drawn: small in the suite, up to a few hundred engineers and a year under ``make fuzz``.
ENGINEERS = st.integers(20, 300 if FUZZ else 40)
WEEKS = st.integers(8, 52 if FUZZ else 15)


def value_for(row) -> st.SearchStrategy:
    """Any value within a row's declared bounds (bounds included)."""
    if row.kind == "integer":
        return st.integers(int(row.min), int(row.max))
    return st.floats(float(row.min), float(row.max), allow_nan=False, allow_infinity=False)


@st.composite
def in_bounds_overrides(draw, max_paths: int = 6) -> dict:
    rows = draw(st.lists(st.sampled_from(FREE_ROWS), min_size=1, max_size=max_paths, unique_by=lambda r: r.path))
    return {r.path: draw(value_for(r)) for r in rows}


@st.composite
def distribution(draw, n: int) -> list[float]:
    """n non-negative shares summing to one."""
    w = draw(st.lists(st.floats(0.0, 1.0, allow_nan=False), min_size=n, max_size=n).filter(lambda x: sum(x) > 1e-3))
    total = sum(w)
    return [x / total for x in w]


def small_run(scenario: str, overrides: dict, engineers: int, weeks: int, seed: int):
    return sim.run(scenario, overrides=overrides, engineers=engineers, weeks=weeks, replicates=1, seed=seed)


def test_the_drawn_space_covers_every_numeric_parameter():
    drawn = {r.path for r in FREE_ROWS} | {r.path for r in DISTRIBUTION} | SIZE_PATHS
    assert drawn == {r.path for r in ROWS}
    assert len(FREE_ROWS) > 100 and DISTRIBUTION


@PROPERTY_SETTINGS
@given(
    scenario=st.sampled_from(SCENARIOS),
    overrides=in_bounds_overrides(),
    engineers=ENGINEERS,
    weeks=WEEKS,
    seed=st.integers(0, 2**32 - 1),
)
def test_any_values_within_bounds_give_finite_bounded_outputs(scenario, overrides, engineers, weeks, seed):
    df = small_run(scenario, overrides, engineers, weeks, seed)
    assert df["week"].max() == weeks
    check_outputs(df, f"{scenario} with {overrides}, {engineers} engineers, {weeks} weeks, seed {seed}")


@fuzz_settings(40)
@given(
    scenario=st.sampled_from(SCENARIOS),
    level_shares=distribution(3),
    mixes=st.tuples(distribution(len(TASKS)), distribution(len(TASKS)), distribution(len(TASKS))),
    extra=in_bounds_overrides(max_paths=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_any_seniority_shares_and_task_mixes_summing_to_one_run(scenario, level_shares, mixes, extra, seed):
    overrides = dict(extra)
    for level, share, mix in zip(LEVELS, level_shares, mixes):
        overrides[f"organisation.seniority.{level}.share"] = share
        overrides[f"organisation.seniority.{level}.task_mix"] = dict(zip(TASKS, mix))
    df = small_run(scenario, overrides, 30, 10, seed)
    check_outputs(df, f"{scenario} with {overrides}")


@fuzz_settings(60)
@given(row=st.sampled_from(DISTRIBUTION), value=st.floats(0.0, 1.0, allow_nan=False))
def test_shares_that_do_not_sum_to_one_raise_input_error(row, value):
    current = next(r.value for r in sim.parameter_paths() if r.path == row.path)
    off = abs(value - current)  # how far the shares' sum moves from 1
    assume(not 0.999e-3 <= off <= 1.001e-3)  # too close to the tolerance to say which side rounding puts it
    if off < 1e-3:  # within the declared sum tolerance: still valid
        sim.load_scenario("free_choice", overrides={row.path: value}, engineers=20, weeks=2)
        return
    with pytest.raises(sim.InputError) as e:
        sim.load_scenario("free_choice", overrides={row.path: value}, engineers=20, weeks=2)
    assert "sum" in str(e.value)


@fuzz_settings(80)
@given(row=st.sampled_from(ROWS), data=st.data())
def test_values_outside_the_bounds_raise_input_error(row, data):
    span = max(float(row.max) - float(row.min), 1.0)
    below = st.floats(float(row.min) - 10 * span, float(row.min), exclude_max=True, allow_nan=False)
    above = st.floats(float(row.max), float(row.max) + 10 * span, exclude_min=True, allow_nan=False)
    value = data.draw(st.one_of(below, above))
    if row.kind == "integer":
        value = math.floor(value) if value < row.min else math.ceil(value)
    with pytest.raises(sim.InputError) as e:
        sim.load_scenario("mandate_single_tool", overrides={row.path: value})
    assert row.path in str(e.value)


@fuzz_settings(60)
@given(
    row=st.sampled_from(ROWS),
    value=st.one_of(st.text(min_size=1, max_size=8).filter(lambda s: not _is_number(s)), st.lists(st.integers(), max_size=2), st.just({"a": 1}),
                    st.just(float("nan")), st.just(float("inf"))),
)
def test_values_of_the_wrong_type_raise_input_error(row, value):
    with pytest.raises(sim.InputError):
        sim.load_scenario("free_choice", overrides={row.path: value})


@fuzz_settings(40)
@given(path=st.text(alphabet="abcdefghij._", min_size=1, max_size=30).filter(lambda p: p not in {r.path for r in sim.parameter_paths()}))
def test_unknown_paths_raise_input_error(path):
    with pytest.raises(sim.InputError):
        sim.load_scenario("free_choice", overrides={path: 1})


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return s.strip().lower() in ("true", "false", "yes", "no", "on", "off")


def test_extreme_corners_of_the_parameter_space_run():
    """Every numeric parameter at its minimum, then every one at its maximum (except size and horizon), all at once."""
    for end in ("min", "max"):
        overrides = {r.path: getattr(r, end) for r in FREE_ROWS}
        for level in LEVELS:
            overrides[f"organisation.seniority.{level}.share"] = 1 / 3
            overrides[f"organisation.seniority.{level}.task_mix"] = {k: 1 / len(TASKS) for k in TASKS}
        for scenario in ("mandate_single_tool", "outcome_goals", "pilot_and_measure"):
            df = small_run(scenario, overrides, 30, 12, 1)
            check_outputs(df, f"{scenario}, every parameter at its {end}")
            assert np.isfinite(df["value"]).all()
