"""Experiments on the model: replicated runs and comparisons (``runner``), virtual studies and calibration,
experiment designs and parameter sweeps (``sweeps``). Imports the model, never the analysis or the interfaces."""
