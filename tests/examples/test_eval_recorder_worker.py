"""EvalRecorder with an evaluation worker: rows in order at their snapshots' steps, written
before a checkpoint and at the end of training (a stand-in worker, no process)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

pytest.importorskip("stable_baselines3")

from stable_baselines3.common.logger import KVWriter, Logger  # noqa: E402

from examples.common.checkpoints import CheckpointCallback  # noqa: E402
from examples.common.eval_log import (  # noqa: E402
    CheckpointAfterEvaluations,
    EvalCSV,
    EvalRecorder,
    read_eval_csv,
)
from examples.common.signals import StopRequest  # noqa: E402
from modnet_metaworld.eval_worker import FinishedEvaluation  # noqa: E402

TASKS = ["a", "b"]


class StandInWorker:
    """Holds the snapshots; an evaluation ends only when ``release`` says so, or on a wait."""

    def __init__(self) -> None:
        self.submitted: list[tuple[int, int]] = []
        self.released = 0
        self.returned = 0

    @property
    def pending(self) -> int:
        return len(self.submitted) - self.returned

    def submit(self, policy, *, env_steps: int, evaluation_index: int) -> None:
        self.submitted.append((env_steps, evaluation_index))

    def release(self, n: int) -> None:
        self.released = min(len(self.submitted), self.released + n)

    def finished(self, *, wait: bool = False) -> list[FinishedEvaluation]:
        if wait:
            self.released = len(self.submitted)
        done = [_result(*pair) for pair in self.submitted[self.returned : self.released]]
        self.returned = self.released
        return done


def _result(env_steps: int, index: int) -> FinishedEvaluation:
    success = {"a": index / 10, "b": 0.5}
    returns = {"a": float(env_steps), "b": -1.0}
    result = SimpleNamespace(success_rate=success, mean_return=returns)
    return FinishedEvaluation(env_steps, index, result, 0.0)  # type: ignore[arg-type]


class Dumps(KVWriter):
    def __init__(self) -> None:
        self.dumps: list[tuple[int, dict]] = []

    def write(self, key_values, key_excluded, step=0) -> None:
        self.dumps.append((step, dict(key_values)))


def _recorder(tmp_path, stop=None):
    dumps = Dumps()
    model = SimpleNamespace(
        num_timesteps=0,
        policy=object(),
        logger=Logger(folder=None, output_formats=[dumps]),
        get_env=lambda: SimpleNamespace(num_envs=2),
    )
    worker = StandInWorker()
    table = EvalCSV(tmp_path / "eval.csv", TASKS)
    recorder = EvalRecorder(
        lambda model: pytest.fail("evaluated in this process"),
        table,
        every=10,
        stop=stop,
        worker=worker,
    )
    recorder.init_callback(model)  # type: ignore[arg-type]
    recorder._on_training_start()
    return recorder, model, worker, table, dumps


def _step(recorder, model, steps: int) -> None:
    model.num_timesteps = recorder.num_timesteps = steps
    recorder._after_update()


def test_rows_come_in_order_at_the_snapshot_steps_without_blocking(tmp_path) -> None:
    recorder, model, worker, table, dumps = _recorder(tmp_path)
    model.logger.record("train/loss", 1.5)  # a training value waiting for SB3's next dump
    for steps in (10, 12, 20, 22):
        _step(recorder, model, steps)
    assert worker.submitted == [(10, 0), (20, 1)]  # indices count the pending ones
    assert table.steps() == []  # nothing finished: nothing written, nothing waited for
    worker.release(1)
    _step(recorder, model, 24)
    assert table.steps() == [10]
    worker.release(1)
    _step(recorder, model, 30)  # writes row 20, then hands over step 30's snapshot
    assert table.steps() == [10, 20] and worker.submitted[-1] == (30, 2)
    assert recorder.last.env_steps == 20
    rows = read_eval_csv(table.path)
    assert [row["success/a"] for row in rows] == ["0", "0.1"]
    # Each row's values are dumped alone at its own step; the training value stays.
    assert [(step, sorted(values)) for step, values in dumps.dumps] == [
        (
            step,
            sorted(
                ["eval/success_rate", "eval/mean_return", "eval/success/a", "eval/success/b"]
                + ["time/total_timesteps"]
            ),
        )
        for step in (10, 20)
    ]
    assert model.logger.name_to_value["train/loss"] == 1.5
    recorder._on_training_end()  # training's end waits for the pending one
    assert table.steps() == [10, 20, 30] and worker.pending == 0


def test_a_checkpoint_is_written_after_the_pending_rows(tmp_path, monkeypatch) -> None:
    recorder, model, worker, table, _ = _recorder(tmp_path)
    seen = []
    monkeypatch.setattr(
        CheckpointCallback, "save", lambda self, *, exact: seen.append(table.steps())
    )
    checkpoints = CheckpointAfterEvaluations(
        recorder, tmp_path / "checkpoints", every=15, replay_buffer=False
    )
    _step(recorder, model, 10)
    _step(recorder, model, 14)
    assert table.steps() == []
    checkpoints.save(exact=True)
    assert seen == [[10]]


def test_a_stop_waits_for_the_pending_rows_and_says_so(tmp_path, capsys) -> None:
    stop = StopRequest()
    recorder, model, worker, table, _ = _recorder(tmp_path, stop=stop)
    _step(recorder, model, 10)
    stop.request(15)  # SIGTERM
    _step(recorder, model, 20)  # no new evaluation while a stop is requested
    assert worker.submitted == [(10, 0)]
    recorder.write_pending()
    assert table.steps() == [10]
    assert "waiting for 1 evaluation(s) in the evaluation worker before the checkpoint" in (
        capsys.readouterr().err
    )


def test_the_final_evaluation_is_made_in_the_worker_after_the_pending_ones(tmp_path) -> None:
    recorder, model, worker, table, _ = _recorder(tmp_path)
    _step(recorder, model, 10)
    model.num_timesteps = 13
    row = recorder.record(model)
    assert table.steps() == [10, 13] and row.env_steps == 13 and worker.submitted[-1] == (13, 1)
