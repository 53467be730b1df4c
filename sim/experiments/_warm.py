"""Importing this module loads the model's compiled kernels (a tiny run), so processes forked afterwards start warm.

Used as a forkserver preload by the sweep's process pool: each worker then forks with the imports done and the
numba machine code in memory instead of loading it from the cache itself.
"""

from sim.model.org import EngineeringOrg
from sim.model.scenarios import load_scenario

for name in ("mandate_single_tool", "outcome_goals"):  # outcome goals: leadership's evidence has a compiled tally of its own
    EngineeringOrg(load_scenario(name, engineers=10, weeks=2), seed=0).run().results()
