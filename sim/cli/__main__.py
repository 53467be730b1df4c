"""``python -m sim.cli``: the same as the ``mandate-sim`` command."""

from . import entry

entry()
