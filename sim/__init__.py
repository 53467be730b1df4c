"""mandate-sim: an agent-based simulation of an engineering organisation adopting AI coding tools under different management policies.

Quick start::

    import sim
    df = sim.run("mandate_single_tool", replicates=5, seed=1)       # tidy results
    table = sim.compare(["mandate_single_tool", "free_choice"])     # end-of-horizon means with 90% bands
    why = sim.explain("mandate_single_tool", "free_choice")         # the difference attributed to the named channels
    runs = sim.run_scenarios(["free_choice", "outcome_goals"], replicates=10)
    diff = sim.differences(runs, "free_choice", week=26)            # each policy's paired change against a reference, 90% interval
    sim.sweep("spec.yaml", "out/")                                   # a parameter sweep; sim.load_sweep("out/") reads it
    model = sim.EngineeringOrg(sim.load_scenario("outcome_goals"), seed=1)
    model.step(); model.engineer(0).state()                          # inspect one engineer
"""

from __future__ import annotations

import importlib

from sim import _compat
from sim.version import __version__

_compat.install()

#: Each public name -> the module that holds it (``None``: the module itself). Imported on first use, so that
#: ``mandate-sim --help`` or a bad file's message does not wait for the model (Mesa, numba) or plotly to load.
_PUBLIC = {
    "InputError": "sim.errors",
    "METRICS": "sim.model.metrics",
    "Engineer": "sim.model.org",
    "EngineeringOrg": "sim.model.org",
    "Scenario": "sim.model.params",
    "bands": "sim.experiments.runner",
    "compare": "sim.experiments.runner",
    "replicate_seeds": "sim.experiments.runner",
    "run": "sim.experiments.runner",
    "run_scenarios": "sim.experiments.runner",
    "summarise": "sim.experiments.runner",
    "explain": "sim.experiments.explain",
    "explain_pairs": "sim.experiments.explain",
    "builtin_orgs": "sim.model.scenarios",
    "builtin_scenarios": "sim.model.scenarios",
    "load_org": "sim.model.scenarios",
    "load_scenario": "sim.model.scenarios",
    "parameter_paths": "sim.model.scenarios",
    "sweep": None,  # the module sim.experiments.sweeps, callable: sim.sweep(spec, out, ...) runs a sweep
    "load_sweep": "sim.experiments.sweeps",
    "read_manifest": "sim.experiments.sweeps",
    "differences": "sim.analysis.differences",
}


def __getattr__(name: str):
    """A public name, imported from its module on first use (then kept as this module's attribute)."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'sim' has no attribute {name!r}")
    where = _PUBLIC[name]
    value = importlib.import_module("sim.experiments.sweeps") if where is None else getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))


__all__ = ["__version__", *_PUBLIC]
