"""evaluate against answers known from outside: Meta-World's scripted experts and doing nothing."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("metaworld")

from stable_baselines3.common.vec_env import VecEnv  # noqa: E402

from modnet.errors import ConfigError, ShapeError  # noqa: E402
from modnet_metaworld import EvaluationResult, ScriptedExpert, evaluate, make_env, task_names  # noqa: E402

GOAL = slice(36, 39)
TWO = ["reach-v3", "drawer-close-v3"]


class Zero:
    """Does nothing: the arm never moves, so no task is solved."""

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.zeros((len(obs), 4), dtype=np.float32), None


@pytest.fixture(scope="module")
def mt10_fixed() -> Iterator[VecEnv]:
    env = make_env("MT10", "fixed", seed=0)
    yield env
    env.close()


@pytest.fixture(scope="module")
def expert() -> ScriptedExpert:
    return ScriptedExpert("MT10")


@pytest.mark.slow
def test_scripted_experts_score_high_on_mt10_fixed(
    mt10_fixed: VecEnv, expert: ScriptedExpert
) -> None:
    # Measured: 1.0 (10/10 tasks) with seed 0, 150 steps, 1 episode per task.
    result = evaluate(expert, "MT10", "fixed", episodes_per_task=1, env=mt10_fixed)
    assert isinstance(result, EvaluationResult)
    assert list(result.success_rate) == task_names("MT10") == list(result.mean_return)
    assert result.mean_success >= 0.8
    assert result.mean_success == pytest.approx(np.mean(list(result.success_rate.values())))
    assert result.mean_episode_return == pytest.approx(np.mean(list(result.mean_return.values())))
    assert (result.protocol, result.episodes_per_task, result.episode_length) == ("paper", 1, 150)
    assert result.reward_function_version == "v2"


@pytest.mark.slow
def test_doing_nothing_scores_near_zero(mt10_fixed: VecEnv) -> None:
    # Measured: 0.0 on MT10 fixed and conditioned.
    result = evaluate(Zero(), "MT10", "fixed", episodes_per_task=1, env=mt10_fixed)
    assert result.mean_success <= 0.1


def test_scripted_experts_score_high_on_conditioned_goals(expert: ScriptedExpert) -> None:
    result = evaluate(expert, "MT10", "conditioned", episodes_per_task=3, tasks=TWO, seed=4)
    assert list(result.success_rate) == TWO
    assert result.mean_success >= 0.8
    nothing = evaluate(Zero(), "MT10", "conditioned", episodes_per_task=3, tasks=TWO, seed=4)
    assert nothing.mean_success <= 0.2


def test_evaluation_is_seeded(expert: ScriptedExpert) -> None:
    def run(seed: int) -> EvaluationResult:
        return evaluate(
            expert,
            "MT10",
            "conditioned",
            episodes_per_task=2,
            tasks=["reach-v3"],
            seed=seed,
            episode_length=20,
        )

    a, b, c = run(0), run(0), run(1)
    assert a == b
    assert a.mean_return != c.mean_return


def test_short_horizon_lowers_success(expert: ScriptedExpert) -> None:
    """The horizon is honoured: experts need more than 10 steps for drawer-close."""
    long = evaluate(
        expert,
        "MT10",
        "conditioned",
        episodes_per_task=2,
        tasks=["drawer-close-v3"],
        episode_length=150,
    )
    short = evaluate(
        expert,
        "MT10",
        "conditioned",
        episodes_per_task=2,
        tasks=["drawer-close-v3"],
        episode_length=10,
    )
    assert (long.mean_success, short.mean_success) == (1.0, 0.0)
    assert short.episode_length == 10


@pytest.mark.slow
def test_metaworld_protocol_restores_a_prebuilt_env(
    mt10_fixed: VecEnv, expert: ScriptedExpert
) -> None:
    before = mt10_fixed.reset()[:, GOAL].copy()
    result = evaluate(
        expert,
        "MT10",
        "fixed",
        protocol="metaworld",
        episodes_per_task=2,
        env=mt10_fixed,
        episode_length=60,
    )
    assert (result.protocol, result.episodes_per_task, result.episode_length) == (
        "metaworld",
        2,
        60,
    )
    assert 0.0 < result.mean_success < 1.0  # 60 steps: some tasks done, some not (measured 0.25)
    assert mt10_fixed.get_attr("episode_length") == [150] * 10
    assert mt10_fixed.get_attr("terminate_on_success") == [False] * 10
    np.testing.assert_array_equal(mt10_fixed.reset()[:, GOAL], before)  # back to the fixed goals


def test_progress_bar_counts_episodes(
    expert: ScriptedExpert, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluate(
        expert,
        "MT10",
        "conditioned",
        episodes_per_task=2,
        tasks=["reach-v3"],
        episode_length=5,
        progress_bar=True,
    )
    assert "2/2" in capsys.readouterr().err


def test_bad_env_and_bad_actions_are_rejected() -> None:
    env = make_env("MT10", "conditioned", tasks=["reach-v3"], episode_length=5)
    with pytest.raises(
        ConfigError, match=r"evaluate: env must be built for benchmark 'MT50', got \['MT10'\]"
    ):
        evaluate(Zero(), "MT50", "conditioned", env=env)
    with pytest.raises(
        ConfigError, match=r"tasks and reward_function_version must be None when env is given"
    ):
        evaluate(Zero(), "MT10", "conditioned", env=env, tasks=["reach-v3"])

    class Wrong:
        def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
            return np.zeros((len(obs), 3)), None

    with pytest.raises(
        ShapeError, match=r"evaluate: model.predict actions must have shape \(1, 4\), got \(1, 3\)"
    ):
        evaluate(Wrong(), "MT10", "conditioned", env=env)
    env.close()

    from stable_baselines3.common.env_util import make_vec_env

    with pytest.raises(
        ConfigError, match=r"env must be a VecEnv built by modnet_metaworld.make_env"
    ):
        evaluate(Zero(), "MT10", "conditioned", env=make_vec_env("Pendulum-v1"))
