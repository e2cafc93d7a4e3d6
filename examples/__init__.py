"""Runnable examples: rebuild the paper's Meta-World runs (see docs/examples.md)."""
