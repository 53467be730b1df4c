"""Importing this module loads the model's compiled kernels (a tiny run), so processes forked afterwards start warm.

Used as a forkserver preload by the sweep's process pool: each worker then forks with the imports done and the
numba machine code in memory instead of loading it from the cache itself.
"""

from sim.model.org import EngineeringOrg
from sim.model.scenarios import load_scenario

EngineeringOrg(load_scenario("mandate_single_tool", engineers=10, weeks=2), seed=0).run().results()
