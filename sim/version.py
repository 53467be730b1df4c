"""The package version (one place; the sweep manifest and the reports record it)."""

__version__ = "0.1.0"
