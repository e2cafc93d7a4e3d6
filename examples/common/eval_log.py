"""The evaluation record of a run: an append-only CSV and the SB3 callback that fills it.

``eval.csv`` has one row per evaluation: ``env_steps``, ``mean_success``,
``mean_return``, then ``success/<task>`` and ``return/<task>`` for every task,
``elapsed_s`` (seconds since the run started, continued across resumes, see
``RunClock``) and ``unix_time`` (when the row was written). Rows are appended and
fsync'ed one by one. On resume, rows newer than the checkpoint (written by the part of
the run that the resume replays) are dropped once, so every step appears once.
"""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from stable_baselines3.common.base_class import BaseAlgorithm

from examples.common.after_update import AfterUpdateCallback
from examples.common.atomic import RunFolderError, atomic_write_text
from examples.common.checkpoints import Checkpoint, CheckpointCallback
from examples.common.run_clock import RunClock
from examples.common.signals import StopRequest, StopRequested
from modnet_metaworld.eval_worker import dump_apart

__all__ = [
    "CheckpointAfterEvaluations",
    "EvalCSV",
    "EvalRecorder",
    "EvalRow",
    "read_eval_csv",
]


class EvalRow(NamedTuple):
    """One evaluation: success rate in [0, 1] and mean return, per task and over tasks."""

    env_steps: int
    success: dict[str, float]
    returns: dict[str, float]

    @property
    def mean_success(self) -> float:
        return sum(self.success.values()) / len(self.success)

    @property
    def mean_return(self) -> float:
        return sum(self.returns.values()) / len(self.returns)


class EvalCSV:
    """``eval.csv`` of one run, for the given task names (their order is the column order)."""

    def __init__(
        self, path: Path, task_names: Sequence[str], *, clock: RunClock | None = None
    ) -> None:
        self.path = path
        self.task_names = list(task_names)
        self.clock = RunClock() if clock is None else clock
        self.columns = (
            ["env_steps", "mean_success", "mean_return"]
            + [f"success/{name}" for name in self.task_names]
            + [f"return/{name}" for name in self.task_names]
            + ["elapsed_s", "unix_time"]
        )

    def steps(self) -> list[int]:
        if not self.path.exists():
            return []
        return [int(row["env_steps"]) for row in read_eval_csv(self.path)]

    def append(self, row: EvalRow) -> None:
        if set(row.success) != set(self.task_names):
            raise ValueError(
                f"EvalCSV.append: tasks must be {self.task_names}, got {sorted(row.success)}"
            )
        new_file = not self.path.exists()
        values = (
            [row.env_steps, f"{row.mean_success:.6g}", f"{row.mean_return:.6g}"]
            + [f"{row.success[name]:.6g}" for name in self.task_names]
            + [f"{row.returns[name]:.6g}" for name in self.task_names]
            + [f"{self.clock():.3f}", f"{time.time():.3f}"]
        )
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        if new_file:
            writer.writerow(self.columns)
        writer.writerow(values)
        with open(self.path, "a", newline="") as handle:
            # One write call per row (a few KB at most): a kill leaves whole rows, and
            # drop_after removes a torn last row should one ever appear.
            handle.write(text.getvalue())
            handle.flush()
            os.fsync(handle.fileno())

    def last_elapsed(self) -> float:
        """``elapsed_s`` of the newest row, 0.0 if there is none."""
        if not self.path.exists():
            return 0.0
        rows = read_eval_csv(self.path)
        return float(rows[-1]["elapsed_s"]) if rows else 0.0

    def drop_after(self, env_steps: int) -> int:
        """Remove rows newer than ``env_steps`` (atomic rewrite); returns how many went.

        A file written before ``elapsed_s`` existed (its last column ``wall_time_s``, the
        Unix time) is rewritten in today's columns: ``unix_time`` keeps that time, and
        ``elapsed_s`` counts from the first row, the closest it can tell.
        """
        if not self.path.exists():
            return 0
        rows = _upgrade(read_eval_csv(self.path, complete_only=False))
        if rows and set(rows[0]) != set(self.columns):
            raise _damaged(
                self.path,
                f"its columns {sorted(set(rows[0]) ^ set(self.columns))} differ from this "
                f"run's, whose tasks are {self.task_names}",
            )
        kept = [row for row in rows if _complete(row) and int(row["env_steps"]) <= env_steps]
        if len(kept) == len(rows) and self._header() == self.columns:
            return 0
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(kept)
        atomic_write_text(self.path, buffer.getvalue())
        return len(rows) - len(kept)

    def _header(self) -> list[str]:
        with open(self.path, newline="") as handle:
            return next(csv.reader(handle), [])


def _upgrade(rows: list[dict[str, str | None]]) -> list[dict[str, str | None]]:
    """Rows of an older run (``wall_time_s``) in today's columns; others unchanged."""
    if not rows or "wall_time_s" not in rows[0]:
        return rows
    start = float(rows[0]["wall_time_s"] or 0.0)
    upgraded = []
    for row in rows:
        row = dict(row)
        unix_time = row.pop("wall_time_s")
        elapsed = float(unix_time) - start if unix_time else None
        upgraded.append(
            {
                **row,
                "elapsed_s": None if elapsed is None else f"{elapsed:.3f}",
                "unix_time": unix_time,
            }
        )
    return upgraded


def _complete(row: dict[str, str | None]) -> bool:
    """False for a row cut short (a field missing or empty), e.g. by a kill mid-write."""
    return all(value not in (None, "") for value in row.values()) and None not in row


def read_eval_csv(path: Path, *, complete_only: bool = True) -> list[dict[str, str]]:
    """Rows of an eval CSV as dicts; a row torn by a kill is left out unless asked for."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
    except (UnicodeDecodeError, csv.Error) as error:
        raise _damaged(path, f"{type(error).__name__}: {error}") from error
    if rows and "env_steps" not in rows[0]:
        raise _damaged(path, f"no env_steps column; its header is {list(rows[0])[:4]}...")
    for number, row in enumerate(rows, start=2):
        if _complete(row):
            try:
                int(row["env_steps"])
            except ValueError:
                raise _damaged(
                    path, f"line {number}: env_steps is {row['env_steps']!r}, not a step count"
                ) from None
    return [row for row in rows if _complete(row)] if complete_only else rows


def _damaged(path: Path, why: str) -> RunFolderError:
    return RunFolderError(
        f"{path}: damaged, not a CSV of evaluations ({why}). Restore it from a copy, or "
        "move it away to start the table afresh (the resumed run then writes only the "
        "rows after its checkpoint)."
    )


class EvalRecorder(AfterUpdateCallback):
    """Evaluate every ``every`` env steps; append the row to ``eval.csv`` and SB3's logger.

    ``evaluate(model) -> EvalRow`` (with ``env_steps`` left at 0) does the episodes;
    this callback only decides when, and where the numbers go. It evaluates after the
    step's update (``AfterUpdateCallback``): the row of step S is the model of step S,
    the one a checkpoint of step S holds. Logged keys: ``eval/success_rate``,
    ``eval/mean_return``, ``eval/success/<task>``.

    With ``worker`` (a ``modnet_metaworld.eval_worker.EvaluationWorker``), the policy's
    weights are handed to the worker process instead, and training goes on; the rows
    are written when the worker has finished them, polled after every step without
    blocking, in evaluation order and each with its snapshot's step (their numbers
    are those ``evaluate`` gives for that snapshot, as the worker evaluates with the
    same arguments). Pending rows are waited for when training ends, before a
    checkpoint (``CheckpointAfterEvaluations``) and by ``write_pending``. The n-th
    evaluation of the run (from 0) is evaluation index n, rows already written and
    pending ones counted. Their logger values are dumped apart from the training's
    (``dump_apart``), at the snapshot's step.

    On resume, the next evaluation is the first of the grid after the last row, so an
    evaluation a stop abandoned (``signals.StopRequested``) is made at once. While a
    stop is requested (``stop``), none starts.
    """

    def __init__(
        self,
        evaluate: Callable[[BaseAlgorithm], EvalRow],
        table: EvalCSV,
        *,
        every: int,
        stop: StopRequest | None = None,
        worker: Any = None,
    ) -> None:
        super().__init__()
        self.evaluate = evaluate
        self.table = table
        self.every = every
        self.stop = stop
        self.worker = worker
        self.last: EvalRow | None = None
        """The newest row this callback wrote (None before the first)."""
        self._next = every

    @property
    def next_due(self) -> int:
        """The env step of the next evaluation."""
        return self._next

    def _on_training_start(self) -> None:
        super()._on_training_start()
        done = max(self.table.steps(), default=0)
        self._next = (done // self.every + 1) * self.every

    def _after_update(self) -> None:
        if self.worker is not None:
            self._write_finished(wait=False)
        if self.num_timesteps < self._next or (self.stop is not None and self.stop.requested):
            return
        try:
            if self.worker is not None:
                self.submit(self.model)
            else:
                self.record(self.model)
        except StopRequested:
            return  # abandoned: no row; the resumed run makes it
        self._next = (self.num_timesteps // self.every + 1) * self.every

    def _on_training_end(self) -> None:
        super()._on_training_end()  # the evaluation due at the last step, if any
        self.write_pending()

    def record(self, model: BaseAlgorithm) -> EvalRow:
        """Evaluate ``model`` now and write the row (also used for the final evaluation).

        With a worker, the evaluation is made there and waited for (after the pending ones).
        """
        if self.worker is not None:
            self.submit(model)
            self.write_pending()
            return self.last  # type: ignore[return-value]
        row = self.evaluate(model)._replace(env_steps=int(model.num_timesteps))
        self._write(model, row)
        return row

    def submit(self, model: BaseAlgorithm) -> None:
        """Hand a snapshot of ``model``'s policy to the worker (its row comes later)."""
        index = len(self.table.steps()) + self.worker.pending
        self.worker.submit(model.policy, env_steps=int(model.num_timesteps), evaluation_index=index)

    def write_pending(self) -> None:
        """Wait for every evaluation the worker holds and write their rows (no-op without one)."""
        if self.worker is None or self.worker.pending == 0:
            return
        if self.stop is not None and self.stop.requested:
            print(
                f"waiting for {self.worker.pending} evaluation(s) in the evaluation worker "
                "before the checkpoint",
                file=sys.stderr,
                flush=True,
            )
        self._write_finished(wait=True)

    def _write_finished(self, *, wait: bool) -> None:
        for finished in self.worker.finished(wait=wait):
            result = finished.result
            row = EvalRow(finished.env_steps, result.success_rate, result.mean_return)
            self._write(self.model, row, apart=True)

    def _write(self, model: BaseAlgorithm, row: EvalRow, *, apart: bool = False) -> None:
        self.table.append(row)
        self.last = row
        values = {"eval/success_rate": row.mean_success, "eval/mean_return": row.mean_return}
        values.update({f"eval/success/{name}": value for name, value in row.success.items()})
        if apart:  # written later than its step: keep the training's values for their dump
            dump_apart(model.logger, row.env_steps, values)
            return
        for key, value in values.items():
            model.logger.record(key, value)
        model.logger.record("time/total_timesteps", row.env_steps, exclude="tensorboard")
        model.logger.dump(row.env_steps)


class CheckpointAfterEvaluations(CheckpointCallback):
    """``CheckpointCallback`` that first writes the rows of the evaluations still pending.

    With an evaluation worker, a checkpoint of step S would otherwise be written while
    the row of an earlier step is still being evaluated: a run resumed from it would
    have a hole in ``eval.csv``. ``recorder.write_pending()`` waits for those rows (a
    stop request waits too; the message says so). Without a worker it is a plain
    ``CheckpointCallback``.
    """

    def __init__(self, recorder: EvalRecorder, folder: Path, **kwargs: Any) -> None:
        super().__init__(folder, **kwargs)
        self.recorder = recorder

    def save(self, *, exact: bool) -> Checkpoint:
        self.recorder.write_pending()
        return super().save(exact=exact)
