"""Numba compilation for the model: one on-disk cache, keyed by the model's sources.

Every compiled function of the model is declared through ``compile`` (or with ``numba.njit(cache=True)`` after
importing this module), so the cache directory is set before numba first looks at it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile

import numba as nb
import numpy as np

from .fingerprint import source_digest


def _cache_dir() -> str:
    """Numba's on-disk cache, keyed by the model's sources (sim/model/fingerprint.py) and the numba and numpy versions.

    Numba checks only the cached function's own file, so a change to a rule it
    calls (or to a declaration a bundle is built from) would otherwise leave stale
    machine code in use; a new key per source version avoids that.
    """
    digest = hashlib.sha256(f"{source_digest()} {nb.__version__} {np.__version__}".encode())
    key = digest.hexdigest()[:16]
    bases = [os.environ.get("NUMBA_CACHE_DIR"), os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "mandate-sim", "numba"),
             os.path.join(tempfile.gettempdir(), "mandate-sim-numba")]
    for base in bases:
        if not base:
            continue
        path = os.path.join(base, key)
        try:
            os.makedirs(path, exist_ok=True)
            probe = os.path.join(path, f".probe-{os.getpid()}")
            with open(probe, "w"):
                pass
            os.unlink(probe)
            return path
        except OSError:
            continue
    return ""


nb.config.CACHE_DIR = _cache_dir()



def compile(f, **options):
    """``f`` compiled by numba in nopython mode, cached on disk (``options``: e.g. ``inline="always"``)."""
    return nb.njit(cache=True, **options)(f)


def inlined(f):
    """``f`` compiled to be inlined into every compiled caller (for small helpers called per engineer in a loop)."""
    return nb.njit(cache=True, inline="always")(f)
