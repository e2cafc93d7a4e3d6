"""MetaWorldEvalCallback logs success and return through SB3's logger during training."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("metaworld")

from stable_baselines3 import SAC  # noqa: E402
from stable_baselines3.common.logger import KVWriter, Logger  # noqa: E402
from stable_baselines3.common.vec_env import VecMonitor  # noqa: E402

from modnet.errors import ConfigError  # noqa: E402
from modnet_metaworld import MetaWorldEvalCallback, make_env  # noqa: E402

TWO = ["reach-v3", "push-v3"]


def tiny_sac(env) -> SAC:
    """An 8-unit SAC that does not update within these tests (learning_starts 1000)."""
    return SAC(
        "MlpPolicy",
        env,
        learning_starts=1000,
        policy_kwargs={"net_arch": [8]},
        seed=0,
        device="cpu",
    )


class Recorder(KVWriter):
    """Keeps every dumped key/value dict."""

    def __init__(self) -> None:
        self.dumps: list[tuple[int, dict[str, Any]]] = []

    def write(
        self, key_values: dict[str, Any], key_excluded: dict[str, Any], step: int = 0
    ) -> None:
        self.dumps.append((step, dict(key_values)))


def test_callback_evaluates_every_eval_freq_calls_and_logs_keys() -> None:
    env = make_env("MT10", "conditioned", tasks=TWO, episode_length=10)
    model = tiny_sac(env)
    recorder = Recorder()
    model.set_logger(Logger(folder=None, output_formats=[recorder]))
    callback = MetaWorldEvalCallback(
        "MT10", "conditioned", eval_freq=5, episodes_per_task=2, tasks=TWO, episode_length=10
    )
    model.learn(
        total_timesteps=24, callback=callback
    )  # 12 calls of 2 env steps: evaluations at 5 and 10
    env.close()

    evals = [(step, values) for step, values in recorder.dumps if "eval/success_rate" in values]
    assert [step for step, _ in evals] == [10, 20]
    expected = {"eval/success_rate", "eval/return"} | {
        f"eval/{kind}/{name}" for kind in ("success", "return") for name in TWO
    }
    for _, values in evals:
        assert expected <= set(values)
        assert 0.0 <= values["eval/success_rate"] <= 1.0
    last = callback.last_result
    assert last is not None and last.episodes_per_task == 2
    assert last.episode_length == dict.fromkeys(TWO, 10)
    assert evals[-1][1]["eval/return"] == pytest.approx(last.mean_episode_return)
    assert [timesteps for timesteps, _ in callback.evaluations] == [10, 20]
    # The callback counts its evaluations: each one draws goals of its own.
    assert [result.evaluation_index for _, result in callback.evaluations] == [0, 1]
    assert callback.eval_env is None  # built at training start, closed at its end


def test_callback_uses_a_prebuilt_env_and_leaves_it_open() -> None:
    eval_env = make_env("MT10", "conditioned", tasks=["reach-v3"], episode_length=5)
    env = make_env("MT10", "conditioned", tasks=["reach-v3"], episode_length=5)
    model = tiny_sac(env)
    model.set_logger(Logger(folder=None, output_formats=[Recorder()]))
    callback = MetaWorldEvalCallback(
        "MT10", "conditioned", eval_freq=4, episodes_per_task=1, eval_env=eval_env
    )
    model.learn(total_timesteps=4, callback=callback)
    assert callback.eval_env is eval_env and len(callback.evaluations) == 1
    assert callback.last_result is not None and list(callback.last_result.success_rate) == [
        "reach-v3"
    ]
    eval_env.reset()  # still usable
    eval_env.close()
    env.close()


@pytest.mark.parametrize("wrap", [False, True])
def test_callback_refuses_the_training_env(wrap: bool) -> None:
    env = make_env("MT10", "conditioned", tasks=["reach-v3"], episode_length=5)
    model = tiny_sac(VecMonitor(env) if wrap else env)
    callback = MetaWorldEvalCallback("MT10", "conditioned", eval_freq=1, eval_env=env)
    with pytest.raises(
        ConfigError,
        match=r"MetaWorldEvalCallback: eval_env must be an env other than the model's "
        r"training env \(evaluating on it would cut the running episodes .*got the training env",
    ):
        model.learn(total_timesteps=2, callback=callback)
    assert callback.evaluations == []
    env.close()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"eval_freq": 0},
            r"MetaWorldEvalCallback: eval_freq must be a positive int \(callback calls\), got 0",
        ),
        (
            {"benchmark": "MT5"},
            r"MetaWorldEvalCallback: benchmark must be one of \['MT10', 'MT50'\], got 'MT5'",
        ),
        (
            {"mode": "fix"},
            r"MetaWorldEvalCallback: mode must be one of \['fixed', 'conditioned', "
            r"'authors-fixed'\], got 'fix'",
        ),
        (
            {"episode_length": {"fly-v3": 5}},
            r"MetaWorldEvalCallback: episode_length must name only MT10 tasks, got \['fly-v3'\]",
        ),
        (
            {"protocol": "x"},
            r"MetaWorldEvalCallback: protocol must be one of \['paper', 'metaworld'\]",
        ),
        ({"episode_length": -1}, r"MetaWorldEvalCallback: episode_length must be a positive int"),
        (
            {"tasks": ["reach"]},
            r"MetaWorldEvalCallback: tasks must be names of MT10 tasks, one of \['reach-v3'",
        ),
    ],
)
def test_callback_rejects_bad_settings(kwargs: dict, match: str) -> None:
    args = {"benchmark": "MT10", "mode": "fixed", "eval_freq": 10} | kwargs
    with pytest.raises(ConfigError, match=match):
        MetaWorldEvalCallback(
            args.pop("benchmark"), args.pop("mode"), args.pop("eval_freq"), **args
        )
