"""Plumbing shared by the example commands: CLI, run folders, checkpoints, logs, plots, tables.

Nothing here is part of the algorithm; ``examples/train.py`` reads top to bottom without it.
"""
