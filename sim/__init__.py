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

from sim import _compat
from sim.errors import InputError
from sim.model.metrics import METRICS
from sim.model.org import Engineer, EngineeringOrg
from sim.model.params import Scenario
from sim.experiments.runner import bands, compare, replicate_seeds, run, run_scenarios, summarise
from sim.experiments.explain import explain, explain_pairs
from sim.model.scenarios import builtin_orgs, builtin_scenarios, load_org, load_scenario, parameter_paths
from sim.experiments import sweeps as sweep  # callable: sim.sweep(spec, out, ...) runs a sweep
from sim.experiments.sweeps import load_sweep, read_manifest

from sim.version import __version__

_compat.install()


def __getattr__(name: str):
    """``sim.differences`` (sim/analysis/differences.py), imported on first use: the analysis layer loads plotly."""
    if name == "differences":
        from sim.analysis.differences import differences

        return differences
    raise AttributeError(f"module 'sim' has no attribute {name!r}")

__all__ = [
    "METRICS",
    "Engineer",
    "EngineeringOrg",
    "InputError",
    "Scenario",
    "__version__",
    "bands",
    "builtin_orgs",
    "builtin_scenarios",
    "compare",
    "differences",
    "explain",
    "explain_pairs",
    "load_org",
    "load_scenario",
    "load_sweep",
    "parameter_paths",
    "read_manifest",
    "replicate_seeds",
    "run",
    "run_scenarios",
    "summarise",
    "sweep",
]
