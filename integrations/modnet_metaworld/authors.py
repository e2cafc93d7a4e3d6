"""What the authors' Meta-World V1 runs did, task by task: horizons and randomised goals.

Yang et al. ran their experiments on their fork of Meta-World V1 (RchalYang/metaworld,
commit bad7ea5), through their code RchalYang/Soft-Module. Two facts of that setup
differ per task, and are recorded here under Meta-World 3's task names:

- **Horizons.** Each V1 env class ends its episodes at its own ``max_path_length``:
  200 steps for nine MT50 tasks, 150 for every other task (the MT10 tasks included).
- **Which tasks draw a new goal at every reset in the "Fixed" setting.** V1 envs take
  a ``random_init`` flag; with it, every reset draws new object and goal positions.
  The authors' Fixed configurations do not set it, so each task keeps its V1 default
  (MT10: only button-press-topdown is random) or the value Meta-World V1's MT50 task
  table gives (``random_init=True`` for all 50 tasks). Their Conditioned
  configurations set it for every task.

docs/metaworld.md cites the file and line of each fact.
"""

from __future__ import annotations

from types import MappingProxyType

from .suites import PAPER_HORIZON, Benchmark, check_benchmark, task_names

__all__ = [
    "AUTHORS_LONG_HORIZON",
    "AUTHORS_LONG_HORIZON_TASKS",
    "AUTHORS_RANDOM_IN_FIXED",
    "authors_horizons",
    "authors_random_in_fixed",
]

AUTHORS_LONG_HORIZON = 200
"""The V1 ``max_path_length`` of the nine long MT50 tasks (the others have 150)."""

AUTHORS_LONG_HORIZON_TASKS = frozenset(
    {
        "assembly-v3",
        "box-close-v3",
        "disassemble-v3",
        "hammer-v3",
        "hand-insert-v3",
        "peg-unplug-side-v3",
        "pick-out-of-hole-v3",
        "stick-pull-v3",
        "stick-push-v3",
    }
)
"""Tasks whose V1 env class sets ``max_path_length = 200``."""

AUTHORS_RANDOM_IN_FIXED: MappingProxyType[str, frozenset[str] | None] = MappingProxyType(
    {
        # V1's MT10 task table passes no random_init, and button-press-topdown is the one
        # MT10 class whose default is True.
        "MT10": frozenset({"button-press-topdown-v3"}),
        # V1's MT50 task table passes random_init=True to every task (None: all of them).
        "MT50": None,
    }
)
"""Tasks that drew a new goal at every reset in the authors' Fixed runs, per benchmark."""


def authors_horizons(benchmark: Benchmark) -> dict[str, int]:
    """Episode length of every task of ``benchmark`` in the authors' runs.

    >>> authors_horizons("MT50")["assembly-v3"], authors_horizons("MT50")["reach-v3"]
    (200, 150)
    """
    check_benchmark(benchmark, "authors_horizons")
    return {
        name: AUTHORS_LONG_HORIZON if name in AUTHORS_LONG_HORIZON_TASKS else PAPER_HORIZON
        for name in task_names(benchmark)
    }


def authors_random_in_fixed(benchmark: Benchmark) -> list[str]:
    """Tasks of ``benchmark`` whose goal was random at every reset in the authors' Fixed runs."""
    check_benchmark(benchmark, "authors_random_in_fixed")
    chosen = AUTHORS_RANDOM_IN_FIXED[benchmark]
    return [name for name in task_names(benchmark) if chosen is None or name in chosen]
