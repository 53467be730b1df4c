"""The model: an engineering organisation as a Mesa model whose step is one working week.

``params`` declares every parameter, ``rules`` holds every behavioural formula, ``kernels`` loops over
engineers calling the rules, ``workforce`` holds the engineers' state, ``streams`` the random numbers,
``levers`` the management policy, ``metrics`` the declared outputs and ``org`` the Mesa model itself.
``scenarios`` reads scenario and organisation files into validated parameters.
"""

import importlib


def __getattr__(name: str):
    """``Engineer`` and ``EngineeringOrg``, imported on first use (Mesa and numba load with them)."""
    if name in ("Engineer", "EngineeringOrg"):
        return getattr(importlib.import_module("sim.model.org"), name)
    raise AttributeError(f"module 'sim.model' has no attribute {name!r}")


__all__ = ["Engineer", "EngineeringOrg"]
