"""PNG figures of a run or of many: success curves, routing heatmaps, routing embedding.

Each is meant to be read at a glance: axes say what they show, one legend per figure,
the paper's number where it applies, and no method that magnifies tiny differences.
matplotlib runs on the Agg back-end (files only, no display needed).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from examples.common.results import RunResult, group_runs  # noqa: E402
from examples.common.routing_probe import RoutingSample  # noqa: E402
from examples.paper_results import comparable, paper_success  # noqa: E402

__all__ = ["plot_routing_embedding", "plot_routing_heatmaps", "plot_success_curves"]


def _aligned(group: list[RunResult]) -> tuple[np.ndarray, np.ndarray]:
    """Steps [E] evaluated by every run of the group, and success [S, E, T] at them."""
    common = set(group[0].env_steps.tolist())
    for run in group[1:]:
        common &= set(run.env_steps.tolist())
    steps = np.array(sorted(common))
    stacked = []
    for run in group:
        index = {int(s): i for i, s in enumerate(run.env_steps)}
        stacked.append(run.success[[index[int(s)] for s in steps]])
    return steps, np.stack(stacked)


def plot_success_curves(runs: Sequence[RunResult], path: Path) -> None:
    """Mean success over tasks, then one panel per task; a line per (benchmark, mode, method).

    The line is the mean over seeds; with several seeds the band spans their min to max.
    The mean panel also draws the paper's Table 1 number of each setting it has one for
    (dashed, the line's colour), which the paper reached after 15M / 50M env steps; not
    for a run on a subset of the tasks (``comparable``).
    """
    groups = group_runs(runs)
    task_names = list(runs[0].task_names)
    panels = 1 + len(task_names)
    cols = min(panels, 4 if panels <= 16 else 8)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(3.2 * cols, 2.5 * rows + 1.0),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    for (benchmark, mode, method), group in groups.items():
        steps, success = _aligned(group)  # [E], [S, E, T]
        label = f"{method} ({benchmark}-{mode}, {len(group)} seed{'s' * (len(group) > 1)})"
        curves = [success.mean(axis=2)] + [
            success[:, :, group[0].task_names.index(name)]
            for name in task_names
            if name in group[0].task_names
        ]
        color = None
        for panel, (ax, curve) in enumerate(zip(axes.flat, curves, strict=False)):  # [S, E]
            (line,) = ax.plot(
                steps,
                100 * curve.mean(axis=0),
                marker=".",
                color=color,
                label=label if panel == 0 else None,  # one legend entry per line
            )
            color = line.get_color()
            if len(group) > 1:
                ax.fill_between(
                    steps, 100 * curve.min(axis=0), 100 * curve.max(axis=0), color=color, alpha=0.2
                )
        paper = paper_success(benchmark, mode, method)
        if paper is not None and comparable(benchmark, len(group[0].task_names)):
            axes.flat[0].axhline(
                paper,
                color=color,
                linestyle="--",
                linewidth=1,
                label=f"paper, Table 1: {method} {benchmark}-{mode}, {paper:.1f}% "
                f"after {'15M' if benchmark == 'MT10' else '50M'} env steps",
            )
    titles = ["mean over tasks"] + task_names
    for ax, title in zip(axes.flat, titles, strict=False):
        ax.set_title(title, fontsize=9)
        ax.set_ylim(-5, 105)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("env steps (all tasks together)", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel("success %", fontsize=8)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    handles, labels = [], []
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 2), fontsize=8)
    fig.suptitle(
        "Evaluation success rate (deterministic episodes; success if any step succeeds)",
        fontsize=11,
    )
    _save(fig, path)


def plot_routing_heatmaps(
    samples: dict[str, RoutingSample], path: Path, *, title: str = ""
) -> None:
    """Per task, each layer's routing [destination, source]; beside them, the final mix.

    As in the paper's Figure 3, the probabilities are averaged over the task's sample
    observations; the rows of each matrix (a destination module) sum to one. The final
    mix (how the output weighs the last layer's modules) is one panel for all tasks,
    a row per task beside that task's matrices. Beyond 10 tasks, the tasks wrap into
    blocks side by side.
    """
    names = list(samples)
    first = samples[names[0]]
    num_matrices = first.layers.shape[1]  # L - 1
    n = first.final.shape[1]
    blocks = math.ceil(len(names) / 10)
    per_block = math.ceil(len(names) / blocks)
    cols = num_matrices + 1  # per block: the layer matrices, then the final mix
    cell = 0.3 * n + 0.55  # inches per matrix: room for n x n numbers
    fig = plt.figure(
        figsize=(blocks * (cols * cell + 1.6) + 1.0, per_block * cell + 1.3), layout="constrained"
    )
    grid = fig.add_gridspec(per_block, blocks * cols)
    ticks = range(n)
    tick_labels = [str(m + 1) for m in ticks]
    image = None
    axes = []
    for block in range(blocks):
        chosen = names[block * per_block : (block + 1) * per_block]
        for row, name in enumerate(chosen):
            sample = samples[name]
            for layer in range(num_matrices):
                ax = fig.add_subplot(grid[row, block * cols + layer])
                image = _heatmap(ax, sample.layers[:, layer].mean(axis=0), n)
                ax.set_xticks(ticks, tick_labels if row == len(chosen) - 1 else [])
                ax.set_yticks(ticks, tick_labels)
                if row == 0:
                    ax.set_title(f"layer {layer + 1} \N{RIGHTWARDS ARROW} {layer + 2}", fontsize=8)
                if row == len(chosen) - 1:
                    ax.set_xlabel(f"source module\n(layer {layer + 1})", fontsize=7)
                if layer == 0:
                    ax.set_ylabel(f"{name}\ndestination", fontsize=7)
                axes.append(ax)
        ax = fig.add_subplot(grid[: len(chosen), block * cols + num_matrices])
        finals = np.stack([samples[name].final.mean(axis=0) for name in chosen])  # [T_b, n]
        image = _heatmap(ax, finals, n)
        ax.set_xticks(ticks, tick_labels)
        ax.set_yticks(range(len(chosen)), chosen, fontsize=6)
        ax.yaxis.tick_right()
        ax.set_title("final mix", fontsize=8)
        ax.set_xlabel(f"module\n(layer {num_matrices + 1})", fontsize=7)
        axes.append(ax)
    fig.colorbar(image, ax=axes, shrink=min(1.0, 3.0 / per_block + 0.3), label="probability")
    batch = len(first.final)
    fig.suptitle(
        (f"{title}\n" if title else "")
        + f"routing probabilities, mean of {batch} observations per task\n"
        "(a destination's row sums to 1)",
        fontsize=9,
    )
    _save(fig, path)


def _heatmap(ax: plt.Axes, matrix: np.ndarray, n: int):
    """Probabilities in [0, 1] on one colour scale; the numbers too when they fit."""
    image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    if n <= 4:
        for (i, j), value in np.ndenumerate(matrix):
            color = "black" if value > 0.6 else "white"  # readable on viridis
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color=color)
    ax.tick_params(labelsize=6, length=2)
    return image


def plot_routing_embedding(
    samples: dict[str, RoutingSample], path: Path, *, title: str = ""
) -> str:
    """The routing vectors of every sample, coloured by task (the paper's Figure 4); returns "PCA".

    PCA, drawn in the data's own units (routing probability) on equal axes that span
    at least 0.2: tasks whose routing differs by 0.01 sit on top of each other, as they
    should. (The paper used t-SNE, which pulls any two groups apart, however close.)
    The axis labels state the share of the variance each component explains.
    """
    names = list(samples)
    vectors = np.concatenate([samples[name].vectors() for name in names])  # [N, D]
    labels = np.concatenate([np.full(len(samples[name].final), i) for i, name in enumerate(names)])
    centred = vectors - vectors.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    points = centred @ components[:2].T  # [N, <=2], in probability units (a rotation)
    if points.shape[1] < 2:
        points = np.concatenate([points, np.zeros((len(points), 2 - points.shape[1]))], axis=1)
    variance = singular**2
    share = variance / variance.sum() if variance.sum() > 0 else np.zeros_like(variance)
    share = np.concatenate([share, np.zeros(2)])[:2]
    fig, ax = plt.subplots(figsize=(6.5, 5), layout="constrained")
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "nipy_spectral")
    for i, name in enumerate(names):
        chosen = labels == i
        color = cmap(i if len(names) <= 10 else i / max(len(names) - 1, 1))
        ax.scatter(points[chosen, 0], points[chosen, 1], s=10, color=color, label=name, alpha=0.8)
    half = max(0.1, 0.55 * float(np.ptp(points, axis=0).max()))  # span >= 0.2, equal on both
    centre = (points.max(axis=0) + points.min(axis=0)) / 2
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_aspect("equal")
    ax.xaxis.set_major_locator(plt.MaxNLocator(5))
    ax.yaxis.set_major_locator(plt.MaxNLocator(5))
    ax.grid(alpha=0.3)
    ax.set_xlabel(f"PC 1 ({100 * share[0]:.0f}% of variance), routing probability", fontsize=8)
    ax.set_ylabel(f"PC 2 ({100 * share[1]:.0f}% of variance), routing probability", fontsize=8)
    spread = float(np.sqrt(variance.sum() / len(vectors)))  # rms distance from the centre
    ax.set_title(
        (f"{title}\n" if title else "")
        + f"PCA of {len(vectors) // len(names)} routing vectors per task "
        f"(rms distance from their centre: {spread:.2g})",
        fontsize=9,
    )
    if float(np.ptp(points, axis=0).max()) < 0.01:
        ax.text(
            0.5,
            0.04,
            "all points lie within 0.01 of each other: every task routes alike",
            transform=ax.transAxes,
            ha="center",
            fontsize=8,
        )
    ax.legend(
        fontsize=7,
        markerscale=1.5,
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        ncol=1 if len(names) <= 20 else 2,
        title="task",
        title_fontsize=8,
    )
    _save(fig, path)
    return "PCA"


def _save(fig: plt.Figure, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
