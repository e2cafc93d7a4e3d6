"""PNG figures of a run or of many: success curves, routing heatmaps, routing embedding.

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
    """
    groups = group_runs(runs)
    task_names = list(runs[0].task_names)
    panels = 1 + len(task_names)
    cols = min(panels, 4 if panels <= 16 else 8)
    rows = math.ceil(panels / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    for (benchmark, mode, method), group in groups.items():
        steps, success = _aligned(group)  # [E], [S, E, T]
        label = f"{method} ({benchmark}-{mode}, {len(group)} seed{'s' * (len(group) > 1)})"
        curves = [success.mean(axis=2)] + [
            success[:, :, group[0].task_names.index(name)]
            for name in task_names
            if name in group[0].task_names
        ]
        for ax, curve in zip(axes.flat, curves, strict=False):  # curve [S, E]
            (line,) = ax.plot(steps, 100 * curve.mean(axis=0), label=label)
            if len(group) > 1:
                ax.fill_between(
                    steps,
                    100 * curve.min(axis=0),
                    100 * curve.max(axis=0),
                    color=line.get_color(),
                    alpha=0.2,
                )
    titles = ["mean over tasks"] + task_names
    for ax, title in zip(axes.flat, titles, strict=False):
        ax.set_title(title, fontsize=9)
        ax.set_ylim(-5, 105)
        ax.set_xlabel("env steps", fontsize=8)
        ax.set_ylabel("success %", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[panels:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_routing_heatmaps(
    samples: dict[str, RoutingSample], path: Path, *, title: str = ""
) -> None:
    """One row per task: each layer's [destination, source] routing, then the final vector.

    As in the paper's Figure 3, the probabilities are averaged over the task's sample
    observations; rows of each matrix sum to one.
    """
    names = list(samples)
    first = samples[names[0]]
    num_matrices = first.layers.shape[1]
    n = first.final.shape[1]
    cols = num_matrices + 1
    fig, axes = plt.subplots(
        len(names), cols, figsize=(1.9 * cols + 1.5, 1.6 * len(names) + 0.6), squeeze=False
    )
    image = None
    for row, name in enumerate(names):
        sample = samples[name]
        matrices = [sample.layers[:, i].mean(axis=0) for i in range(num_matrices)]
        matrices.append(sample.final.mean(axis=0)[None, :])
        for col, matrix in enumerate(matrices):
            ax = axes[row, col]
            image = ax.imshow(matrix, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
            if n <= 8:  # small enough to print every probability in its cell
                for (i, j), value in np.ndenumerate(matrix):
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6, color="w")
            ax.set_xticks(range(n))
            ax.set_yticks(range(matrix.shape[0]))
            ax.tick_params(labelsize=6)
            if row == 0:
                ax.set_title(
                    f"layer {col + 1}->{col + 2}" if col < num_matrices else "final mix",
                    fontsize=8,
                )
            if col == 0:
                ax.set_ylabel(name, fontsize=7, rotation=0, ha="right", va="center")
    if image is not None:
        fig.colorbar(image, ax=axes, shrink=0.6, label="routing probability")
    fig.suptitle(title or "routing probabilities per task (rows: destination, cols: source)")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")  # keep the task names
    plt.close(fig)


def plot_routing_embedding(samples: dict[str, RoutingSample], path: Path, *, seed: int = 0) -> str:
    """2-D embedding of routing vectors coloured by task (the paper's Figure 4).

    t-SNE (scikit-learn) when there are enough samples, PCA otherwise; returns which.
    """
    names = list(samples)
    vectors = np.concatenate([samples[name].vectors() for name in names])  # [N, D]
    labels = np.concatenate([np.full(len(samples[name].final), i) for i, name in enumerate(names)])
    if len(vectors) >= 20 and np.ptp(vectors, axis=0).max() > 0:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (len(vectors) - 1) / 3)
        points = TSNE(
            n_components=2, perplexity=perplexity, init="pca", random_state=seed
        ).fit_transform(vectors)
        method = "t-SNE"
    else:
        from sklearn.decomposition import PCA

        components = min(2, vectors.shape[1], len(vectors))
        points = PCA(n_components=components).fit_transform(vectors)
        if points.shape[1] < 2:
            points = np.concatenate([points, np.zeros((len(points), 2 - points.shape[1]))], axis=1)
        method = "PCA"
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "nipy_spectral")
    for i, name in enumerate(names):
        chosen = labels == i
        color = cmap(i if len(names) <= 10 else i / max(len(names) - 1, 1))
        ax.scatter(points[chosen, 0], points[chosen, 1], s=8, color=color, label=name)
    ax.set_title(f"routing vectors of the actor, {method}")
    ax.legend(fontsize=6, markerscale=2, loc="best", ncol=1 if len(names) <= 10 else 3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return method
