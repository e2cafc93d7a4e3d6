"""SIGINT and SIGTERM during training: write a checkpoint, then stop with a message.

SLURM sends SIGTERM when a job's time runs out (by default 30 s before SIGKILL), and
Ctrl+C sends SIGINT. The first signal only sets a flag (``StopRequest``); the
training callbacks see it at the next point where a step is complete, write a
checkpoint there (waiting for the next episode boundary only if it comes within
``deadline_s``, so the checkpoint is exact) and raise ``TrainingStopped``. An
evaluation under way is abandoned (``guard``); the resumed run evaluates it again.
A second SIGINT or SIGTERM exits at once, without a checkpoint, with the same exit
code: ``128 + signal number`` (130 for SIGINT, 143 for SIGTERM), as a shell reports
a process its signal ended. Once training has ended (``finish``), a first signal only
says that the final model and reports are being completed (``--resume`` writes them if
a second signal ends the process first).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

__all__ = ["StopRequest", "StopRequested", "TrainingStopped", "exit_code"]

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def exit_code(signum: int) -> int:
    """``128 + signum``: what a shell reports for a process a signal ended."""
    return 128 + int(signum)


class StopRequested(Exception):
    """Raised inside an evaluation when a stop was requested: the evaluation is dropped."""


class TrainingStopped(Exception):
    """Training stopped on a signal after writing the checkpoint ``step`` (see ``message``)."""

    def __init__(self, signum: int, step: int, exact: bool, run: Path | None = None) -> None:
        self.signum = signum
        self.step = step
        self.exact = exact
        self.run = run
        super().__init__(self.message())

    def message(self) -> str:
        name = signal.Signals(self.signum).name
        where = "" if self.run is None else f" {self.run}"
        text = f"stopped by {name} at {self.step:,} env steps; checkpoint written. "
        if self.exact:
            text += (
                "Every episode had just ended, so the resumed run continues exactly as an "
                "uninterrupted one would."
            )
        else:
            text += (
                "It was taken mid-episode: on resume each column's interrupted episode starts "
                "again on the same goal (the steps it had played stay in the replay buffer), "
                "so the run goes on from the same state but is no longer bit-identical to an "
                "uninterrupted one."
            )
        return f"{text}\nContinue with: python -m examples.train --resume{where}"


class StopRequest:
    """The flag a signal sets; the training callbacks read it (``requested``).

    ``deadline_s``: seconds from the signal within which the checkpoint must be written.
    Install with ``with StopRequest() as stop:`` (the previous handlers come back after).
    """

    def __init__(self, deadline_s: float = 10.0) -> None:
        self.deadline_s = deadline_s
        self.signum: int | None = None
        self.at: float | None = None
        self.finished = False
        """Training has ended (``finish``): a signal can no longer stop it at a step."""
        self._previous: dict[int, Any] = {}

    @property
    def requested(self) -> bool:
        return self.signum is not None

    def seconds_left(self) -> float:
        """Seconds until the deadline (inf while no stop was requested)."""
        if self.at is None:
            return float("inf")
        return self.deadline_s - (time.monotonic() - self.at)

    def request(self, signum: int) -> None:
        """What the handler does on the first signal (tests call it directly)."""
        self.signum = signum
        self.at = time.monotonic()

    def finish(self) -> None:
        """Training has ended: from now on a first signal says the reports are being finished."""
        self.finished = True

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested:
            print(
                f"\n{name} again: exiting now, without a checkpoint.", file=sys.stderr, flush=True
            )
            os._exit(exit_code(signum))
        self.request(signum)
        if self.finished:
            print(
                f"\n{name}: training is finished and its last checkpoint written; the final "
                "model and reports are being completed (send it again to exit at once; "
                "then --resume writes them).",
                file=sys.stderr,
                flush=True,
            )
            return
        print(
            f"\n{name}: writing a checkpoint at the next complete step, then stopping "
            f"(within {self.deadline_s:.0f} s; send it again to exit at once without one).",
            file=sys.stderr,
            flush=True,
        )

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is not threading.main_thread():
            return self  # Python delivers signals to the main thread only: nothing to catch
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def guard(self, model: Any) -> _Guarded:
        """``model`` whose ``predict`` raises ``StopRequested`` once a stop is requested."""
        return _Guarded(model, self)


class _Guarded:
    def __init__(self, model: Any, stop: StopRequest) -> None:
        self.model = model
        self.stop = stop

    def predict(self, observation: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, Any]:
        if self.stop.requested:
            raise StopRequested
        return self.model.predict(observation, **kwargs)


def steps_to_boundary(episode_steps: np.ndarray, horizons: np.ndarray, limit: int = 100_000) -> int:
    """VecEnv steps until every column ends an episode on the same step (``limit + 1``: none).

    ``episode_steps[c]``: steps column ``c`` has played of its running episode;
    ``horizons[c]``: its episode length (episodes end only at the horizon).
    """
    episode_steps = np.asarray(episode_steps, dtype=np.int64)
    horizons = np.asarray(horizons, dtype=np.int64)
    if not episode_steps.any():
        return 0
    k = np.arange(1, limit + 1)[:, None]
    ends = ((episode_steps[None, :] + k) % horizons[None, :] == 0).all(axis=1)
    hits = np.flatnonzero(ends)
    return int(hits[0] + 1) if hits.size else limit + 1
