"""Where the data shipped with mandate-sim lives: the checkout's top-level folders, or their copies in an installed package."""

from __future__ import annotations

from pathlib import Path

_HERE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """The folder ``name`` (scenarios, studies, docs): next to the package in a checkout, inside it (``_name``) when installed."""
    for candidate in (_HERE.parent / name, _HERE / f"_{name}"):
        if candidate.is_dir():
            return candidate
    return _HERE.parent / name
