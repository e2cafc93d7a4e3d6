"""Published success rates to set our runs beside: the paper's Table 1 and later reruns.

Average success in percent at the end of training, from Yang et al. (2020), Table 1,
as transcribed by third parties (Meta-World V1, 150-step episodes, 3 seeds). They are
not comparable across settings, nor, strictly, with Meta-World 3 runs: the envs, the
reward version and the goal sampling differ (see docs/examples.md).
"""

from __future__ import annotations

__all__ = ["LATER_RESULTS", "PAPER_NAMES", "PAPER_TABLE_1", "comparable", "paper_success"]

# (benchmark, mode) -> method -> average success (%)
PAPER_TABLE_1: dict[tuple[str, str], dict[str, float]] = {
    ("MT10", "fixed"): {
        "mt-sac": 44.0,
        "mt-mh-sac": 85.0,
        "moe": 42.8,
        "hard-routing": 20.8,
        "soft-shallow": 87.0,
        "soft-deep": 86.7,
    },
    ("MT10", "conditioned"): {
        "mt-sac": 42.6,
        "mt-mh-sac": 67.4,
        "moe": 40.0,
        "hard-routing": 27.0,
        "soft-shallow": 71.8,
        "soft-deep": 68.4,
    },
    ("MT50", "fixed"): {
        "mt-sac": 31.4,
        "mt-mh-sac": 35.5,
        "moe": 36.1,
        "hard-routing": 22.9,
        "soft-shallow": 59.5,
        "soft-deep": 60.0,
    },
    ("MT50", "conditioned"): {
        "mt-sac": 28.3,
        "mt-mh-sac": 34.2,
        "moe": 37.5,
        "hard-routing": 29.1,
        "soft-shallow": 60.4,
        "soft-deep": 61.0,
    },
}

# The paper's name of each method of ours that has a row in Table 1.
PAPER_NAMES = {
    "mt-sac": "MT-SAC",
    "mt-mh-sac": "MT-MH-SAC",
    "moe": "Mixture of Experts",
    "hard-routing": "Hard Routing",
    "soft-shallow": "Soft Modularization, Shallow",
    "soft-deep": "Soft Modularization, Deep",
}

# Other published numbers for the soft-modular network, for context in docs and tables.
LATER_RESULTS = {
    "independent rerun of the authors' code (MT10-F / MT10-C / MT50-F / MT50-C)": (
        67.0,
        64.0,
        61.0,
        62.0,
    ),
    "Meta-World+ (Meta-World 3, v2 reward, 10 seeds, IQM), MT10 / MT50": (84.9, 65.8),
}


def paper_success(benchmark: str, mode: str, method: str) -> float | None:
    """The paper's Table 1 success (%) for this setting, or None (method not in the paper).

    ``authors-fixed`` is how the authors ran their Fixed setting: Table 1's Fixed column.
    """
    mode = "fixed" if mode == "authors-fixed" else mode
    return PAPER_TABLE_1.get((benchmark, mode), {}).get(method)


def comparable(benchmark: str, num_tasks: int) -> bool:
    """Whether a run on ``num_tasks`` tasks can sit beside Table 1: only on every task.

    Table 1's numbers are means over all tasks of the benchmark (10 or 50); the mean of
    a subset (``--tasks``, the demo preset) measures something else.
    """
    return num_tasks == {"MT10": 10, "MT50": 50}[benchmark]
