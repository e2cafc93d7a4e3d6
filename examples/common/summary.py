"""The few lines a run prints when it ends: final success per task, time taken, where things are."""

from __future__ import annotations

import numpy as np

from examples.common.results import RunResult
from examples.common.run_dir import RunDir
from examples.paper_results import comparable

__all__ = ["format_duration", "run_summary"]


def format_duration(seconds: float) -> str:
    """``"42.0 s"``, ``"6 min 17 s"``, ``"3 h 05 min"``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_summary(
    result: RunResult,
    *,
    preset: str,
    session_s: float,
    elapsed_s: float,
    paper: float | None,
    routing: float | None,
) -> str:
    """The end-of-run summary: a table of final success, times, and the run folder's layout.

    ``paper`` is the paper's Table 1 success (%) for this setting (None if it has none);
    ``routing`` the mean pairwise total-variation distance between the tasks' routing
    (None for a method without routing).
    """
    names = result.task_names
    width = max(len(name) for name in [*names, "mean over tasks"])
    final = result.final_success  # [T]
    steps = int(result.env_steps[-1])
    lines = [
        "",
        f"{result.benchmark}-{result.mode}, {result.method}, seed {result.seed}: "
        f"{steps:,} env steps ({preset} preset)",
        f"  {'task':<{width}}  final success",
    ]
    lines += [
        f"  {name:<{width}}  {100 * value:5.1f} %" for name, value in zip(names, final, strict=True)
    ]
    mean = f"  {'mean over tasks':<{width}}  {100 * float(np.mean(final)):5.1f} %"
    if paper is not None:
        budget = "15M" if result.benchmark == "MT10" else "50M"
        if comparable(result.benchmark, len(names)):
            mean += f"   (the paper's Table 1, after {budget} env steps: {paper:.1f} %)"
        else:  # a subset's mean is not comparable with the benchmark's
            mean += (
                f"   (the paper's Table 1 is over all {result.benchmark} tasks "
                f"after {budget} env steps: {paper:.1f} %; not comparable)"
            )
    lines.append(mean)
    if routing is None:
        lines.append(f"routing: {result.method} has none (no routing plots)")
    elif len(result.task_names) < 2:
        lines.append("routing: one task, nothing to compare it with (see the plots)")
    else:
        lines.append(
            f"routing: tasks differ by {routing:.3f} (mean pairwise total-variation "
            "distance; 0 = all tasks route alike, 1 = disjoint modules)"
        )
    took = f"wall time: {format_duration(session_s)}"
    if elapsed_s - session_s > 1.0:  # a resumed run
        took += f" this session, {format_duration(elapsed_s)} since the run started"
    lines.append(took)
    lines.append(_layout(RunDir(result.root), routing is not None))
    return "\n".join(lines)


def _layout(run: RunDir, has_routing: bool) -> str:
    files = [
        ("table.md", "final success beside the paper's Table 1, and the run's protocol"),
        ("eval.csv", "success and return of every evaluation, per task"),
        ("plots/success.png", "success curves"),
    ]
    if has_routing:
        files += [
            ("plots/routing_heatmaps.png", "routing per task and layer (paper Fig. 3)"),
            ("plots/routing_embedding.png", "routing vectors of every task, PCA (Fig. 4)"),
        ]
    files += [
        ("final_model.zip", "the trained model: MTSAC.load(path)"),
        ("checkpoints/", f"continue with: python -m examples.train --resume {run.root}"),
        ("tb/", f"training curves: tensorboard --logdir {run.tensorboard}"),
        ("settings.json", "settings, schedule, protocol and package versions"),
    ]
    width = max(len(name) for name, _ in files)
    rows = [f"  {name:<{width}}  {what}" for name, what in files]
    return "\n".join([f"run folder: {run.root}", *rows])
