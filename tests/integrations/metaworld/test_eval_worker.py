"""EvaluationWorker: the synchronous evaluation's numbers, from a worker process, in order.

The worker is started with ``fork`` here (it inherits the imports: a fraction of a second,
where forkserver imports everything again). The default start method (forkserver), and a
worker outliving a SIGKILLed training process, are tested by the kill-and-resume test
(``tests/examples/test_examples_resume.py``, case ``eval-worker``/``pending-evaluation``).
"""

from __future__ import annotations

import functools
import os
import signal

import numpy as np
import pytest

pytest.importorskip("metaworld")

import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3 import SAC  # noqa: E402
from stable_baselines3.common.logger import KVWriter, Logger  # noqa: E402
from stable_baselines3.sac.policies import SACPolicy  # noqa: E402

import modnet_metaworld.callbacks as callbacks_module  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet_metaworld import (  # noqa: E402
    EvaluationWorker,
    EvaluationWorkerError,
    MetaWorldEvalCallback,
    evaluate,
    make_env,
)

TWO = ["reach-v3", "push-v3"]
build = functools.partial(make_env, "MT10", "conditioned", seed=0, tasks=TWO, episode_length=10)


def tiny_sac(env, learning_starts: int = 1000) -> SAC:
    return SAC(
        "MlpPolicy",
        env,
        learning_starts=learning_starts,
        batch_size=8,
        policy_kwargs={"net_arch": [8]},
        seed=0,
        device="cpu",
    )


def forked(**kwargs) -> EvaluationWorker:
    return EvaluationWorker(
        build, "MT10", "conditioned", episodes_per_task=2, start_method="fork", **kwargs
    )


@pytest.mark.slow
def test_each_snapshot_gets_the_numbers_of_evaluate_in_order_and_signals_do_not_stop_it() -> None:
    env = build()
    model = tiny_sac(env)
    eval_env = build()
    expected = []
    with forked(max_pending=3) as worker:
        for index in range(3):
            worker.submit(model.policy, env_steps=10 * index, evaluation_index=index)
            expected.append(
                evaluate(
                    model,
                    "MT10",
                    "conditioned",
                    episodes_per_task=2,
                    evaluation_index=index,
                    env=eval_env,
                )
            )
            with torch.no_grad():  # the next snapshot differs; the one handed over does not
                for parameter in model.policy.actor.parameters():
                    parameter.add_(0.5)
        assert worker.pending == 3
        # Ctrl+C and SLURM's SIGTERM reach every process of the group: the worker goes on.
        os.kill(worker.pid, signal.SIGINT)
        os.kill(worker.pid, signal.SIGTERM)
        got = worker.finished(wait=True)
        assert worker.pending == 0 and worker.finished() == []
        assert [(g.env_steps, g.evaluation_index) for g in got] == [(0, 0), (10, 1), (20, 2)]
        assert [g.result for g in got] == expected  # every field, exactly
        assert len({g.result.mean_episode_return for g in got}) == 3  # three different snapshots
        assert worker.is_alive()
    assert not worker.is_alive()  # closed by the with block
    env.close()
    eval_env.close()


def test_a_failing_evaluation_is_named_in_the_training_process() -> None:
    env = build()
    # A policy of two action dimensions on a 4-dimensional env: evaluate's shape check
    # raises in the worker.
    wrong = SACPolicy(
        env.observation_space,
        spaces.Box(-1.0, 1.0, (2,), dtype=np.float32),
        lambda _: 3e-4,
        net_arch=[8],
    )
    with forked() as worker:
        worker.submit(wrong, env_steps=7, evaluation_index=0)
        with pytest.raises(
            EvaluationWorkerError,
            match=r"(?s)the evaluation of the model at 7 env steps \(evaluation 0 of the run\) "
            r"failed in the evaluation worker .*ShapeError: evaluate: model.predict actions "
            r"must have shape \(2, 4\), got \(2, 2\)",
        ):
            worker.finished(wait=True)
    env.close()


def test_a_worker_that_dies_is_reported_not_waited_on() -> None:
    env = build()
    model = tiny_sac(env)
    with forked() as worker:
        worker.submit(model.policy, env_steps=3, evaluation_index=0)
        os.kill(worker.pid, signal.SIGKILL)
        with pytest.raises(
            EvaluationWorkerError,
            match=r"the evaluation worker \(pid \d+\) was killed by SIGKILL before finishing the "
            r"evaluation of the model at 3 env steps \(evaluation 0 of the run",
        ):
            worker.finished(wait=True)
    env.close()


class Dumps(KVWriter):
    """A logger output keeping every dump."""

    def __init__(self) -> None:
        self.dumps: list[tuple[int, dict]] = []

    def write(self, key_values, key_excluded, step=0) -> None:
        self.dumps.append((step, dict(key_values)))


def _learn(eval_worker: bool):
    env = build()
    model = tiny_sac(env, learning_starts=4)  # updates between the evaluations
    out = Dumps()
    model.set_logger(Logger(folder=None, output_formats=[out]))
    callback = MetaWorldEvalCallback(
        "MT10",
        "conditioned",
        eval_freq=5,
        episodes_per_task=2,
        tasks=TWO,
        episode_length=10,
        eval_worker=eval_worker,
    )
    model.learn(total_timesteps=24, callback=callback)
    env.close()
    evals = [
        (step, {k: v for k, v in values.items() if k.startswith("eval/")})
        for step, values in out.dumps
        if "eval/success_rate" in values
    ]
    return model, callback, evals


@pytest.mark.slow
def test_the_callback_with_a_worker_logs_what_it_logs_without_and_trains_the_same(
    monkeypatch,
) -> None:
    monkeypatch.setattr(
        callbacks_module,
        "EvaluationWorker",
        functools.partial(EvaluationWorker, start_method="fork"),
    )
    plain, plain_callback, plain_evals = _learn(eval_worker=False)
    worked, callback, evals = _learn(eval_worker=True)
    assert [step for step, _ in evals] == [10, 20]
    assert evals == plain_evals
    assert callback.evaluations == plain_callback.evaluations
    assert [r.evaluation_index for _, r in callback.evaluations] == [0, 1]
    assert callback.worker is None  # closed at the end of training
    for name, tensor in plain.policy.state_dict().items():
        assert torch.equal(worked.policy.state_dict()[name], tensor), name


def test_settings_are_refused_before_a_process_starts() -> None:
    with pytest.raises(
        ConfigError, match=r"EvaluationWorker: max_pending must be an int >= 1, got 0"
    ):
        EvaluationWorker(build, "MT10", "conditioned", max_pending=0)
    with pytest.raises(ConfigError, match=r"EvaluationWorker: threads must be an int >= 1, got 0"):
        EvaluationWorker(build, "MT10", "conditioned", threads=0)
    with pytest.raises(ConfigError, match=r"EvaluationWorker: make_eval_env must be callable"):
        EvaluationWorker(None, "MT10", "conditioned")  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError,
        match=r"MetaWorldEvalCallback: eval_env must be None with eval_worker=True \(the worker "
        r"builds its own with make_env\), got",
    ):
        MetaWorldEvalCallback(
            "MT10", "conditioned", eval_freq=5, eval_env=build(), eval_worker=True
        )
