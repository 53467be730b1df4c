"""The ``mandate-sim`` command line (typer): ``main`` is the entry point, ``app`` the typer application."""

from .main import app, main

__all__ = ["app", "main"]
