"""The markdown table of final success beside the paper's Table 1, with rliable's statistics.

Across seeds, each (benchmark, mode, method) gets the mean and the interquartile
mean (IQM) of the final per-task success over all runs x tasks, each with a 95%
stratified-bootstrap confidence interval (Agarwal et al. 2021, ``rliable``).
"""

from __future__ import annotations

import warnings

import numpy as np

from examples.common.results import RunResult, group_runs
from examples.paper_results import comparable, paper_success

__all__ = ["success_table"]


def _interval_estimates(scores: np.ndarray, reps: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Point estimates [2] and CIs [2, 2] of (mean, IQM) for scores [runs, tasks]."""
    from rliable import library, metrics  # imported late: it pulls in arch and scipy

    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_mean(x), metrics.aggregate_iqm(x)])

    with warnings.catch_warnings():
        # arch (under rliable) deprecates random_state; rliable 1.2 still passes it.
        warnings.simplefilter("ignore", FutureWarning)
        points, intervals = library.get_interval_estimates(
            {"run": scores},
            aggregate,
            reps=reps,
            random_state=np.random.RandomState(seed),
        )
    return points["run"], intervals["run"]


def _percent(value: float) -> str:
    return f"{100 * value:.1f}"


def success_table(runs: list[RunResult], *, reps: int = 2000, seed: int = 0) -> str:
    """Markdown: one row per (benchmark, mode, method) over its seeds, paper number beside."""
    lines = [
        "| benchmark | mode | method | seeds | env steps | mean success % [95% CI] "
        "| IQM success % [95% CI] | paper Table 1 % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (benchmark, mode, method), group in group_runs(runs).items():
        tasks = {len(run.task_names) for run in group}
        if len(tasks) != 1:
            raise ValueError(
                f"success_table: runs of {benchmark}/{mode}/{method} must cover the same "
                f"number of tasks, got {sorted(tasks)}"
            )
        scores = np.stack([run.final_success for run in group])  # [runs, tasks]
        points, intervals = _interval_estimates(scores, reps, seed)
        steps = sorted({int(run.env_steps[-1]) for run in group})
        steps_text = f"{steps[0]:,}" if len(steps) == 1 else f"{steps[0]:,}-{steps[-1]:,}"
        paper = paper_success(benchmark, mode, method)
        if not comparable(benchmark, tasks.pop()):
            paper = None  # the paper's number is over every task of the benchmark
        cells = [
            f"{_percent(points[i])} [{_percent(intervals[0, i])}, {_percent(intervals[1, i])}]"
            for i in range(2)
        ]
        lines.append(
            f"| {benchmark} | {mode} | {method} | {len(group)} | {steps_text} | {cells[0]} "
            f"| {cells[1]} | {'-' if paper is None else f'{paper:.1f}'} |"
        )
    lines.append("")
    lines.append(
        "Success is that of the last evaluation of each run (deterministic episodes, an "
        "episode succeeds if any step succeeds), pooled over seeds x tasks. The paper's "
        "numbers are Meta-World V1 after 15M (MT10) / 50M (MT50) env steps, 3 seeds, over "
        "every task of the benchmark; '-' marks a method the paper does not report, or a "
        "run on a subset of the tasks."
    )
    return "\n".join(lines) + "\n"
