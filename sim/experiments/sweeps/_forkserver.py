"""Imported only as the first preload module of the sweep's forkserver (see lifeline.py): from here on, the forkserver
stops when the sweep process that started it dies. Importing it anywhere else does nothing (the parent check fails)."""

from .lifeline import forkserver_preload

forkserver_preload()
