"""Pinned outputs and thread-count independence: speed work must not change a single bit.

tests/data/baselines.json holds a few outputs of a few runs as exact floats, written by
scripts/update-baselines on purpose when the model's behaviour changes. On the machine and library
versions that wrote them they must match exactly; elsewhere (another CPU may round exp or log in
the last bit) to 1e-9 relative.
"""

import json
import platform
from pathlib import Path

import numba
import numpy as np
import pytest

import sim
from baseline_cases import CASES, compute
from sim import kernels

DATA = json.loads((Path(__file__).parent / "data" / "baselines.json").read_text())
SAME_PLATFORM = DATA["machine"] == {"cpu": platform.processor() or platform.machine(), "python": platform.python_version(),
                                    "numpy": np.__version__, "numba": numba.__version__}


@pytest.mark.parametrize("key", sorted(CASES))
def test_pinned_outputs_do_not_change(key):
    got = np.array(compute(*CASES[key]))
    want = np.array([float.fromhex(h) for h in DATA["cases"][key]])
    if SAME_PLATFORM:
        assert np.array_equal(got, want), "outputs changed: if on purpose, run scripts/update-baselines and say why in the commit"
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", ["mandate_single_tool", "pilot_and_measure", "generate_and_supervise"])
def test_serial_and_multithreaded_passes_give_the_same_bits(name):
    sc = sim.load_scenario(name, engineers=700, weeks=20)
    runs = []
    for passes, threads in ((kernels.SERIAL, 1), (kernels.PARALLEL, 1), (kernels.PARALLEL, 2)):
        with kernels.single_threaded():
            kernels.set_threads(threads)
            m = sim.EngineeringOrg(sc, seed=5)
            m.passes = passes
            m.run()
        runs.append(m.recorder.values)
    for other in runs[1:]:
        assert np.array_equal(runs[0], other, equal_nan=True)


def test_larger_organisations_use_the_multithreaded_passes_and_small_ones_the_serial():
    big = sim.EngineeringOrg(sim.load_scenario("free_choice", engineers=2000, weeks=1), seed=1)
    small = sim.EngineeringOrg(sim.load_scenario("free_choice", engineers=50, weeks=1), seed=1)
    assert small.passes is kernels.SERIAL
    assert big.passes is (kernels.PARALLEL if numba.get_num_threads() > 1 else kernels.SERIAL)
