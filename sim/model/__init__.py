"""The model: an engineering organisation as a Mesa model whose step is one working week.

``params`` declares every parameter, ``rules`` holds every behavioural formula, ``kernels`` loops over
engineers calling the rules, ``workforce`` holds the engineers' state, ``streams`` the random numbers,
``levers`` the management policy, ``metrics`` the declared outputs and ``org`` the Mesa model itself.
``scenarios`` reads scenario and organisation files into validated parameters.
"""

from .org import Engineer, EngineeringOrg

__all__ = ["Engineer", "EngineeringOrg"]
