"""``python -m sim.cli``: the same as the ``mandate-sim`` command."""

import sys

from . import main

sys.exit(main())
