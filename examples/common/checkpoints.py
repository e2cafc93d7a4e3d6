"""Periodic, atomic checkpoints of an SB3 model (optimisers included) and its replay buffer.

A checkpoint is ``model_<steps>.zip`` (SB3's zip: parameters, the optimisers' state
and every constructor argument) plus, optionally, ``replay_buffer_<steps>.pkl``. Each
file is written atomically, and ``latest.json`` (also atomic) is written last and names
the pair, so a run killed at any moment resumes from a complete checkpoint.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback

from examples.common.atomic import atomic_open, atomic_write_text

__all__ = ["Checkpoint", "CheckpointCallback", "latest_checkpoint", "save_checkpoint"]

LATEST = "latest.json"


class Checkpoint(NamedTuple):
    """A complete checkpoint: the step it was taken at and its files."""

    num_timesteps: int
    model: Path
    replay_buffer: Path | None
    elapsed_s: float | None = None
    """Seconds the run had been running when it was taken (None in older runs)."""


def save_checkpoint(
    model: BaseAlgorithm,
    folder: Path,
    *,
    replay_buffer: bool,
    keep: int = 2,
    elapsed_s: float | None = None,
) -> Checkpoint:
    """Write the model (and the replay buffer) atomically, then point ``latest.json`` at them.

    ``elapsed_s`` (the run's ``RunClock``) is stored in ``latest.json``, so a resume
    continues the run's elapsed time from the checkpoint.

    Older checkpoints beyond the ``keep`` newest are removed; only the newest replay
    buffer is kept (it is by far the largest file).
    """
    folder.mkdir(parents=True, exist_ok=True)
    step = int(model.num_timesteps)
    model_path = folder / f"model_{step:012d}.zip"
    with atomic_open(model_path) as handle:
        model.save(handle)
    buffer_path = None
    if replay_buffer and getattr(model, "replay_buffer", None) is not None:
        buffer_path = folder / f"replay_buffer_{step:012d}.pkl"
        with atomic_open(buffer_path) as handle:
            model.save_replay_buffer(handle)
    pointer = {
        "num_timesteps": step,
        "model": model_path.name,
        "replay_buffer": None if buffer_path is None else buffer_path.name,
        "elapsed_s": None if elapsed_s is None else round(elapsed_s, 3),
    }
    atomic_write_text(folder / LATEST, json.dumps(pointer, indent=2) + "\n")
    _prune(folder, keep_models=keep, current=pointer)
    return Checkpoint(step, model_path, buffer_path, elapsed_s)


def _prune(folder: Path, *, keep_models: int, current: dict[str, Any]) -> None:
    models = sorted(folder.glob("model_*.zip"))
    for old in models[:-keep_models]:
        old.unlink(missing_ok=True)
    for old in folder.glob("replay_buffer_*.pkl"):
        if old.name != current["replay_buffer"]:
            old.unlink(missing_ok=True)


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint ``latest.json`` names, or None if the run never wrote one."""
    pointer_path = folder / LATEST
    if not pointer_path.exists():
        return None
    pointer = json.loads(pointer_path.read_text())
    buffer = pointer["replay_buffer"]
    return Checkpoint(
        int(pointer["num_timesteps"]),
        folder / pointer["model"],
        None if buffer is None else folder / buffer,
        pointer.get("elapsed_s"),
    )


class CheckpointCallback(BaseCallback):
    """Save a checkpoint every ``every`` env steps (counted by ``model.num_timesteps``).

    Unlike SB3's own ``CheckpointCallback`` (which counts VecEnv steps and writes in
    place), the period is in env steps of all tasks together and writes are atomic.
    Place it after the evaluation callback, so the CSV row of step S exists before
    the checkpoint of step S.
    """

    def __init__(
        self,
        folder: Path,
        *,
        every: int,
        replay_buffer: bool,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.every = every
        self.replay_buffer = replay_buffer
        self.clock = clock
        self._next = every

    def _on_training_start(self) -> None:
        # On resume, continue the grid of the original run: the next multiple of `every`.
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            save_checkpoint(
                self.model,
                self.folder,
                replay_buffer=self.replay_buffer,
                elapsed_s=None if self.clock is None else self.clock(),
            )
            self._next = (self.num_timesteps // self.every + 1) * self.every
        return True
