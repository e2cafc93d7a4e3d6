"""Checkpoints of a run, taken where a step is complete, written atomically.

A checkpoint of step S is ``model_<S>.zip`` (SB3's zip: parameters, the optimisers'
state, the temperatures, the counters and every constructor argument),
``replay_buffer_<S>.pkl`` (optional) and ``state_<S>.pkl`` (random generators, env
columns, the run's identity: ``resume_state.py``). Each file is written atomically,
and ``latest.json`` (also atomic) is written last and names them, so a run killed at
any moment, a checkpoint write included, resumes from a complete checkpoint.

``CheckpointCallback`` takes them after the step's transitions are stored and its
update made (``AfterUpdateCallback``), at the first step on or after every
``every`` env steps where every env column has just ended an episode, so that the
checkpoint is exact. It also serves a stop request (``signals.py``). Before each
write, the free disk space is checked against the size of the last checkpoint.
"""

from __future__ import annotations

import json
import pickle
import shutil
import time
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm

from examples.common.after_update import AfterUpdateCallback
from examples.common.atomic import RunFolderError, atomic_open, atomic_write_text
from examples.common.resume_state import capture_state
from examples.common.signals import StopRequest, TrainingStopped, steps_to_boundary

__all__ = [
    "Checkpoint",
    "CheckpointCallback",
    "estimate_checkpoint_bytes",
    "find_checkpoint",
    "latest_checkpoint",
    "remove_orphans",
    "require_free_space",
    "save_checkpoint",
]

LATEST = "latest.json"
MB = 1_000_000


class Checkpoint(NamedTuple):
    """A complete checkpoint: the step it was taken at and its files."""

    num_timesteps: int
    model: Path
    replay_buffer: Path | None
    elapsed_s: float | None = None
    """Seconds the run had been running when it was taken (None in older runs)."""
    state: Path | None = None
    """``state_<steps>.pkl`` (None in runs from before it existed)."""
    exact: bool | None = None
    """Every env column was at an episode boundary (None: unknown, an older run)."""

    def files(self) -> list[Path]:
        return [p for p in (self.model, self.replay_buffer, self.state) if p is not None]

    def size(self) -> int:
        """Bytes of its files on disk."""
        return sum(p.stat().st_size for p in self.files() if p.exists())


def _name(kind: str, step: int, suffix: str) -> str:
    return f"{kind}_{step:012d}{suffix}"


def estimate_checkpoint_bytes(model: BaseAlgorithm, *, replay_buffer: bool) -> int:
    """Bytes the first checkpoint will take: parameters with Adam's two moments, the buffer."""
    parameters = sum(p.numel() * p.element_size() for p in model.policy.parameters())
    size = 3 * parameters + MB
    buffer = getattr(model, "replay_buffer", None)
    if replay_buffer and buffer is not None:
        size += sum(v.nbytes for v in vars(buffer).values() if isinstance(v, np.ndarray))
    return size


def require_free_space(folder: Path, needed: int) -> None:
    """Refuse to go on when ``folder``'s disk has less than ``needed`` bytes (plus 5 %) free.

    Raises:
        RunFolderError: saying how much is free and how much the checkpoint needs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < 1.05 * needed:
        raise RunFolderError(
            f"{folder}: {free / MB:,.0f} MB free on its disk, but the next checkpoint needs "
            f"about {needed / MB:,.0f} MB (the size of the last one, or an estimate before "
            "the first). Free some space (or run with --no-save-replay-buffer, the largest "
            "file), then continue with --resume."
        )


def save_checkpoint(
    model: BaseAlgorithm,
    folder: Path,
    *,
    replay_buffer: bool,
    keep: int = 2,
    elapsed_s: float | None = None,
    state: dict[str, Any] | None = None,
) -> Checkpoint:
    """Write the model, the replay buffer and ``state``, then point ``latest.json`` at them.

    ``state`` is ``resume_state.capture_state(...)`` (None: no state file; such a
    checkpoint resumes, but not exactly). ``elapsed_s`` (the run's ``RunClock``) goes
    into ``latest.json``, so a resume continues the run's elapsed time.

    The free space is checked first (``require_free_space``) against the size of the
    checkpoint ``latest.json`` names, or ``estimate_checkpoint_bytes`` before the first.
    Older checkpoints beyond the ``keep`` newest are removed; only the newest replay
    buffer is kept (it is by far the largest file).
    """
    folder.mkdir(parents=True, exist_ok=True)
    previous = _read_latest(folder)
    needed = (
        previous.size()
        if previous is not None and previous.model.exists()
        else estimate_checkpoint_bytes(model, replay_buffer=replay_buffer)
    )
    require_free_space(folder, needed)
    step = int(model.num_timesteps)
    model_path = folder / _name("model", step, ".zip")
    with atomic_open(model_path) as handle:
        model.save(handle)
    buffer_path = None
    if replay_buffer and getattr(model, "replay_buffer", None) is not None:
        buffer_path = folder / _name("replay_buffer", step, ".pkl")
        with atomic_open(buffer_path) as handle:
            model.save_replay_buffer(handle)
    state_path = None
    if state is not None:
        state_path = folder / _name("state", step, ".pkl")
        with atomic_open(state_path) as handle:
            pickle.dump(state, handle, protocol=pickle.HIGHEST_PROTOCOL)
    exact = None if state is None else bool(state["exact"])
    pointer = {
        "num_timesteps": step,
        "model": model_path.name,
        "replay_buffer": None if buffer_path is None else buffer_path.name,
        "state": None if state_path is None else state_path.name,
        "exact": exact,
        "elapsed_s": None if elapsed_s is None else round(elapsed_s, 3),
    }
    atomic_write_text(folder / LATEST, json.dumps(pointer, indent=2) + "\n")
    _prune(folder, keep_models=keep, current=pointer)
    return Checkpoint(step, model_path, buffer_path, elapsed_s, state_path, exact)


def _step_of(path: Path) -> int | None:
    """The step in ``model_<S>.zip``, ``state_<S>.pkl``, ``replay_buffer_<S>.pkl``; else None."""
    digits = path.stem.rsplit("_", 1)[-1]
    return int(digits) if digits.isdigit() else None


def _checkpoint_files(folder: Path) -> list[Path]:
    return [
        path
        for pattern in ("model_*.zip", "replay_buffer_*.pkl", "state_*.pkl")
        for path in folder.glob(pattern)
        if _step_of(path) is not None
    ]


def remove_orphans(folder: Path) -> list[Path]:
    """Remove the checkpoint files of steps after the one ``latest.json`` names.

    A second signal during a checkpoint write exits before ``latest.json`` is written,
    leaving complete files of that step that nothing names; a later prune would keep
    them and delete a real checkpoint. Returns the removed files (none without
    ``latest.json``).
    """
    latest = _read_latest(folder)
    if latest is None:
        return []
    removed = []
    for path in sorted(_checkpoint_files(folder)):
        step = _step_of(path)
        if step is not None and step > latest.num_timesteps:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _prune(folder: Path, *, keep_models: int, current: dict[str, Any]) -> None:
    # Files of later steps than the checkpoint just written are orphans of a killed write.
    for path in _checkpoint_files(folder):
        step = _step_of(path)
        if step is not None and step > current["num_timesteps"]:
            path.unlink(missing_ok=True)
    models = sorted(folder.glob("model_*.zip"))
    kept = {path.name[len("model_") : -len(".zip")] for path in models[-keep_models:]}
    for old in models[:-keep_models]:
        old.unlink(missing_ok=True)
    for old in folder.glob("state_*.pkl"):
        if old.name[len("state_") : -len(".pkl")] not in kept:
            old.unlink(missing_ok=True)
    for old in folder.glob("replay_buffer_*.pkl"):
        if old.name != current["replay_buffer"]:
            old.unlink(missing_ok=True)


def _read_latest(folder: Path) -> Checkpoint | None:
    """``latest.json`` as a ``Checkpoint``; None if absent; damaged: ``RunFolderError``."""
    pointer_path = folder / LATEST
    if not pointer_path.exists():
        return None
    try:
        pointer = json.loads(pointer_path.read_text())
        step = int(pointer["num_timesteps"])
        model = folder / pointer["model"]
        buffer = pointer["replay_buffer"]
    except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError, UnicodeDecodeError
        raise RunFolderError.unreadable(
            pointer_path,
            error,
            f"Delete it: --resume then takes the newest complete checkpoint in {folder} and "
            "says which.",
        ) from error
    state = pointer.get("state")
    return Checkpoint(
        step,
        model,
        None if buffer is None else folder / buffer,
        pointer.get("elapsed_s"),
        None if state is None else folder / state,
        pointer.get("exact"),
    )


def latest_checkpoint(folder: Path) -> Checkpoint | None:
    """The checkpoint ``latest.json`` names, or None if there is no ``latest.json``.

    Raises:
        RunFolderError: ``latest.json`` is damaged.
    """
    return _read_latest(folder)


def _scan(folder: Path, *, replay_buffer: bool) -> Checkpoint | None:
    """The newest checkpoint whose files are all there (a readable zip, its state, buffer)."""
    for model in sorted(folder.glob("model_*.zip"), reverse=True):
        digits = model.name[len("model_") : -len(".zip")]
        if not digits.isdigit() or not zipfile.is_zipfile(model):
            continue
        step = int(digits)
        state = folder / _name("state", step, ".pkl")
        buffer = folder / _name("replay_buffer", step, ".pkl")
        if not state.exists() or (replay_buffer and not buffer.exists()):
            continue
        return Checkpoint(step, model, buffer if buffer.exists() else None, None, state, None)
    return None


def find_checkpoint(folder: Path, *, replay_buffer: bool) -> tuple[Checkpoint, str | None]:
    """The checkpoint to resume from, and a note when it is not the one ``latest.json`` names.

    Without ``latest.json``, the newest complete checkpoint (model, state and, when the
    run saves it, replay buffer) is taken, and the note says so.

    Raises:
        RunFolderError: no checkpoint at all, or ``latest.json`` damaged or naming a
            missing file; the message says what to do.
    """
    checkpoint = latest_checkpoint(folder)
    if checkpoint is not None:
        for path in checkpoint.files():
            if path.resolve().parent != folder.resolve():
                raise RunFolderError(
                    f"{folder / LATEST} names {path}, which is not in {folder}: a "
                    "checkpoint of another run cannot be resumed. Delete "
                    f"{LATEST}: --resume then takes the newest complete checkpoint."
                )
            digits = path.stem.rsplit("_", 1)[-1]
            if digits.isdigit() and int(digits) != checkpoint.num_timesteps:
                raise RunFolderError(
                    f"{folder / LATEST} names {path.name} (step {int(digits):,}) as the "
                    f"checkpoint of step {checkpoint.num_timesteps:,}. Delete {LATEST}: "
                    "--resume then takes the newest complete checkpoint."
                )
            if not path.exists():
                raise RunFolderError(
                    f"{path}: missing, though {folder / LATEST} names it. Delete "
                    f"{LATEST}: --resume then takes the newest complete checkpoint."
                )
        return checkpoint, None
    found = _scan(folder, replay_buffer=replay_buffer)
    if found is None:
        raise RunFolderError(
            f"{folder}: holds no complete checkpoint, so there is nothing to resume (the run "
            "stopped before its first checkpoint, or its files were removed). Nothing was "
            "changed. To start the run over, delete the run folder and run the same command "
            "again without --resume."
        )
    note = (
        f"{folder / LATEST} is missing: resuming from the newest complete checkpoint, "
        f"{found.model.name} ({found.num_timesteps:,} env steps)"
    )
    return found, note


class CheckpointCallback(AfterUpdateCallback):
    """Save a checkpoint every ``every`` env steps (counted by ``model.num_timesteps``).

    Unlike SB3's own ``CheckpointCallback`` (which counts VecEnv steps, writes in place
    and saves before the step's update), the period is in env steps of all tasks
    together, writes are atomic, and a checkpoint is taken after the step's update at
    the first step on or after the due one where every env column ended an episode
    (``exact``). If no such step comes within another ``every`` env steps (episodes
    that end early, or horizons whose common multiple is long), it is taken mid-episode.

    Place it after the evaluation callback, so the CSV row of step S exists before
    the checkpoint of step S.

    Args:
        folder: the run's ``checkpoints/``.
        every: env steps between checkpoints.
        replay_buffer: save the replay buffer too.
        clock: the run's ``RunClock`` (elapsed time stored in ``latest.json``).
        identity: what the run is (``resume_state.IDENTITY_KEYS``), stored in the state.
        stop: the run's ``StopRequest``: when set, checkpoint (exactly if the next
            episode boundary comes in time and before ``next_evaluation()``) and
            raise ``TrainingStopped``.
        horizons: each column's episode length, to foresee the next boundary.
        next_evaluation: the env step of the next evaluation (``EvalRecorder.next_due``).
    """

    def __init__(
        self,
        folder: Path,
        *,
        every: int,
        replay_buffer: bool,
        clock: Callable[[], float] | None = None,
        identity: dict[str, Any] | None = None,
        stop: StopRequest | None = None,
        horizons: Sequence[int] | None = None,
        next_evaluation: Callable[[], int] | None = None,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.every = every
        self.replay_buffer = replay_buffer
        self.clock = clock
        self.identity = identity
        self.stop = stop
        self.horizons = None if horizons is None else np.asarray(horizons, dtype=np.int64)
        self.next_evaluation = next_evaluation
        self.last: Checkpoint | None = None
        self._next = every
        self._write_s = 2.0  # until measured: the first write's time
        self._step_s: float | None = None
        self._since: float | None = None

    def _on_training_start(self) -> None:
        super()._on_training_start()
        # On resume, continue the grid of the original run: the next multiple of `every`.
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def save(self, *, exact: bool) -> Checkpoint:
        """Write a checkpoint now (the step must be complete: an after-update point)."""
        start = time.monotonic()
        self.last = save_checkpoint(
            self.model,
            self.folder,
            replay_buffer=self.replay_buffer,
            elapsed_s=None if self.clock is None else self.clock(),
            state=capture_state(self.model, exact=exact, identity=self.identity),
        )
        self._write_s = time.monotonic() - start
        return self.last

    def _after_update(self) -> None:
        now = time.monotonic()
        if self._since is not None:  # one VecEnv step with its update, nothing else
            step_s = now - self._since
            self._step_s = step_s if self._step_s is None else 0.9 * self._step_s + 0.1 * step_s
        if self.stop is not None and self.stop.requested:
            if self.at_boundary or not self._boundary_in_time():
                checkpoint = self.save(exact=self.at_boundary)
                raise TrainingStopped(
                    self.stop.signum, checkpoint.num_timesteps, bool(checkpoint.exact)
                )
        elif self.num_timesteps >= self._next and (
            self.at_boundary or self.num_timesteps >= self._next + self.every
        ):
            self.save(exact=self.at_boundary)
            self._next = (self.num_timesteps // self.every + 1) * self.every
        self._since = time.monotonic()

    def _boundary_in_time(self) -> bool:
        """Will every episode end before the deadline and before the next evaluation?"""
        if self.horizons is None or self.episode_steps is None or self._step_s is None:
            return False
        steps = steps_to_boundary(self.episode_steps, self.horizons)
        n_envs = len(self.horizons)
        if self.next_evaluation is not None:
            if self.num_timesteps + steps * n_envs > self.next_evaluation():
                return False  # stopping after an evaluation that is not written is not exact
        return steps * self._step_s + 1.5 * self._write_s < self.stop.seconds_left()  # type: ignore[union-attr]
