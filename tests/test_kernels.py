"""The kernels' named interfaces: bundles built from declarations, fields checked when a kernel is declared, and the
compiled code reached directly only when the argument types are the ones it was compiled for."""

from __future__ import annotations

import numpy as np
import pytest

import sim
from sim.model import bundles, kernels
from sim.model.params import Behaviour
from sim.model.state import STATE, EngineerState
from sim.model.week import SCRATCH, WeekScratch


def test_bundle_types_derive_from_the_declarations():
    assert list(EngineerState._fields) == [v.name for v in STATE] + ["team", "team_starts"]
    assert list(WeekScratch._fields) == [v.name for v in SCRATCH]
    pars = bundles.params(Behaviour())
    for key, section in bundles.SECTIONS.items():
        group = getattr(pars, key)
        assert set(group._fields) == {n for n, f in section.model_fields.items() if f.annotation in (float, int)}
        assert all(type(getattr(group, n)) is section.model_fields[n].annotation for n in group._fields), "values cast to their declared type"


def test_a_kernel_that_reads_an_undeclared_field_is_refused_when_it_is_declared():
    def misspelt(eng, wk):
        return eng.belif[0] + wk.capacity[0]

    with pytest.raises(AttributeError, match=r"kernel misspelt reads eng\.belif, which EngineerState does not declare"):
        kernels.kernel(misspelt)


def test_a_kernel_gets_only_the_fields_it_reads_including_those_its_helpers_read():
    eng_fields = next(sub._fields for pos, sub, _ in kernels.week_sums.trims if sub.__name__.endswith("__eng"))
    # week_sums reads no engineer field itself: the ones it gets are those engineer_tallies reads.
    assert {"seniority", "task_mix", "trust_leadership", "safety", "team"} <= set(eng_fields)
    assert "belief" not in eng_fields and len(eng_fields) < len(EngineerState._fields)


def test_bundles_of_one_type_must_carry_fields_of_one_type():
    model = sim.EngineeringOrg(sim.load_scenario("free_choice", engineers=16, weeks=1), seed=1)
    wf = model.workforce
    bundles.make(EngineerState, wf)

    class Other:
        pass

    other = Other()
    for f in EngineerState._fields:
        setattr(other, f, getattr(wf, f))
    other.skill = wf.skill.astype(np.float32)
    with pytest.raises(TypeError, match="field 'skill'"):
        bundles.make(EngineerState, other)
    del other.skill
    with pytest.raises(AttributeError, match="needs the field 'skill'"):
        bundles.make(EngineerState, other)


def test_a_call_with_other_argument_types_goes_through_numba_s_typing_again():
    """The direct path is keyed by argument types: arrays of another dtype compile (or load) their own version."""
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    present = np.array([True, True, False, True])
    starts = np.array([0, 2], dtype=np.int64)
    out64 = np.zeros((2, 3))
    kernels.team_mean(x, present, starts, out64)
    out32 = np.zeros((2, 3))
    kernels.team_mean(x.astype(np.float32), present, starts, out32)
    np.testing.assert_allclose(out64, out32)
    np.testing.assert_allclose(out64, [[1.5, 2.5, 3.5], [9.0, 10.0, 11.0]])


def test_kernels_forget_a_freed_model_s_arrays():
    import gc
    import weakref

    model = sim.EngineeringOrg(sim.load_scenario("free_choice", engineers=16, weeks=2), seed=1).run()
    belief = weakref.ref(model.workforce.belief)
    del model
    gc.collect()
    assert belief() is None, "a kernel still holds a freed model's arrays"
