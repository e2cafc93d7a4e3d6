"""Read finished (or running) run folders back: settings and evaluation curves.

Used by the per-run table and plots and by ``python -m examples.aggregate``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import numpy as np

from examples.common.atomic import RunFolderError
from examples.common.eval_log import read_eval_csv
from examples.common.run_dir import RunDir

__all__ = ["RunResult", "group_runs", "load_run", "with_sibling_seeds"]


class RunResult(NamedTuple):
    """One run's evaluation curve. ``success`` is [E, T] in [0, 1] (E evaluations)."""

    root: Path
    benchmark: str
    mode: str
    method: str
    seed: int
    task_names: list[str]
    env_steps: np.ndarray  # [E]
    success: np.ndarray  # [E, T]
    returns: np.ndarray  # [E, T]
    schedule: str = ""
    """The run's resolved schedule and reward version as canonical JSON ("" if unrecorded)."""

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.benchmark, self.mode, self.method)

    @property
    def final_success(self) -> np.ndarray:
        """[T]: per-task success of the last evaluation (the run's reported result)."""
        return self.success[-1]


def load_run(root: Path) -> RunResult:
    """Read ``settings.json`` and ``eval.csv`` of the run in ``root``."""
    run = RunDir(Path(root))
    if not run.settings_json.exists() or not run.eval_csv.exists():
        raise FileNotFoundError(
            f"load_run: {root} must hold settings.json and eval.csv (a run folder of "
            "python -m examples.train), but it does not"
        )
    record = run.read_record()
    settings = record["settings"]
    task_names = list(record["task_names"])
    rows = read_eval_csv(run.eval_csv)
    if not rows:
        raise ValueError(f"load_run: {run.eval_csv} must hold at least one evaluation, got none")
    steps = np.array([int(row["env_steps"]) for row in rows])
    success = np.array([[float(row[f"success/{n}"]) for n in task_names] for row in rows])
    returns = np.array([[float(row[f"return/{n}"]) for n in task_names] for row in rows])
    return RunResult(
        root=Path(root),
        benchmark=settings["benchmark"],
        mode=settings["mode"],
        method=settings["method"],
        seed=int(settings["seed"]),
        task_names=task_names,
        env_steps=steps,
        success=success,
        returns=returns,
        schedule=json.dumps(
            [record.get("schedule"), record.get("reward_function_version")], sort_keys=True
        )
        if "schedule" in record
        else "",
    )


def group_runs(runs: Iterable[RunResult]) -> dict[tuple[str, str, str], list[RunResult]]:
    """Runs keyed by (benchmark, mode, method), seeds sorted, in first-seen order."""
    groups: dict[tuple[str, str, str], list[RunResult]] = {}
    for run in runs:
        groups.setdefault(run.group, []).append(run)
    return {key: sorted(value, key=lambda r: r.seed) for key, value in groups.items()}


def with_sibling_seeds(run: RunResult) -> list[RunResult]:
    """``run`` and the other seeds of its setting in the same parent folder (seed order).

    A sibling is a folder next to ``run.root`` holding a readable run of the same
    benchmark, mode, method, tasks and schedule (where both recorded one), evaluated at
    the same env steps as ``run``: a run still going, one of another length or budget
    (e.g. other widths or learning rate), and unreadable folders are skipped, so the
    curves and the table never cut this run short or mix settings.
    """
    found = {run.seed: run}
    for folder in sorted(run.root.parent.iterdir()):
        if folder == run.root or not (folder / "eval.csv").exists():
            continue
        try:
            other = load_run(folder)
        except (OSError, ValueError, KeyError, RunFolderError):
            continue  # another folder's damage must not stop this run's reports
        same = (
            other.group == run.group
            and other.task_names == run.task_names
            and (not other.schedule or not run.schedule or other.schedule == run.schedule)
            and np.array_equal(other.env_steps, run.env_steps)
        )
        if same:
            found.setdefault(other.seed, other)
    return [found[seed] for seed in sorted(found)]
