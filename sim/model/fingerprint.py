"""The model's fingerprint: a hash of the model's source files.

Two runs with the same scenario and seed give the same bits exactly when the model's code is the same, so this
hash names a version of the model. The numba kernel cache is keyed by it (with the numba and numpy versions), and
a sweep's manifest records it (with the package version) so that resuming a sweep folder written by another
version of the model is refused.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent


def model_sources() -> list[Path]:
    """Every Python source of the model package (sim/model), in a stable order."""
    return sorted(p for p in MODEL_DIR.rglob("*.py") if "__pycache__" not in p.parts)


@functools.cache
def source_digest() -> str:
    """SHA-256 (hex) of the model's sources: each file's path relative to sim/model, then its bytes."""
    digest = hashlib.sha256()
    for path in model_sources():
        digest.update(path.relative_to(MODEL_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def model_fingerprint() -> dict[str, str]:
    """What identifies the model that produced a result: the package version and the hash of the model's sources."""
    from sim.version import __version__

    return {"package_version": __version__, "model_sources_sha256": source_digest()}
