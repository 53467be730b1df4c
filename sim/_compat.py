"""Old import paths keep working: ``sim.params``, ``sim.kernels``, ``sim.runner``, ... (the first edition's flat layout).

Each old module name is an alias of the module that now holds its code (the same module object, so
monkeypatching through either name works), and importing it warns once with the new path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

#: Old flat module -> where it lives now.
MOVED = {
    "sim.params": "sim.model.params",
    "sim.rules": "sim.model.rules",
    "sim.kernels": "sim.model.kernels",
    "sim.workforce": "sim.model.workforce",
    "sim.streams": "sim.model.streams",
    "sim.levers": "sim.model.levers",
    "sim.metrics": "sim.model.metrics",
    "sim.scenarios": "sim.model.scenarios",
    "sim.runner": "sim.experiments.runner",
    "sim.studies": "sim.experiments.studies",
    "sim.calibrate": "sim.experiments.calibration",
    "sim.designs": "sim.experiments.designs",
    "sim.sweep": "sim.experiments.sweeps",
    "sim._warm": "sim.experiments._warm",
    "sim.analysis": "sim.analysis",  # now a package: the sweep analysis functions are re-exported there
    "sim.figures": "sim.analysis.figures",
    "sim.takeaways": "sim.analysis.takeaways",
    "sim.report": "sim.analysis.reports",
    "sim.paramdocs": "sim.analysis.paramdocs",
    "sim.cli_studies": "sim.cli.studies",
    "sim.cli_sweep": "sim.cli.sweeps",
    "dashboards.cli_app": "sim.cli.serve",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, new: str):
        self.new = new

    def create_module(self, spec):
        module = importlib.import_module(self.new)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module) -> None:
        module.__spec__ = self.real_spec  # the import system set the alias's spec on the shared module: undo it


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds old module names and hands back the module that replaced each."""

    def find_spec(self, fullname, path=None, target=None):
        new = MOVED.get(fullname)
        if new is None or new == fullname:
            return None
        warnings.warn(f"{fullname} moved to {new}; import it from there", DeprecationWarning, stacklevel=3)
        return importlib.util.spec_from_loader(fullname, _AliasLoader(new))


def install() -> None:
    """Register the alias finder (once)."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.append(_AliasFinder())
