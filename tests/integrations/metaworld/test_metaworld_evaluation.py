"""evaluate against answers known from outside: Meta-World's scripted experts and doing nothing."""

from __future__ import annotations

import pickle
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
    assert (result.protocol, result.episodes_per_task) == ("paper", 1)
    assert result.episode_length == dict.fromkeys(task_names("MT10"), 150)
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
    assert short.episode_length == {"drawer-close-v3": 10}


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
    assert (result.protocol, result.episodes_per_task) == ("metaworld", 2)
    assert result.episode_length == dict.fromkeys(task_names("MT10"), 60)
    assert 0.0 < result.mean_success < 1.0  # 60 steps: some tasks done, some not (measured 0.25)
    assert mt10_fixed.get_attr("episode_length") == [150] * 10
    assert mt10_fixed.get_attr("terminate_on_success") == [False] * 10
    np.testing.assert_array_equal(mt10_fixed.reset()[:, GOAL], before)  # back to the fixed goals


class GoalRecorder:
    """Does nothing, and keeps the goal of every observation it is shown."""

    def __init__(self) -> None:
        self.goals: list[np.ndarray] = []

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        self.goals.append(obs[:, GOAL].copy())
        return np.zeros((len(obs), 4), dtype=np.float32), None

    def distinct(self) -> np.ndarray:
        """The goals shown, one row per (step, column), without repeats."""
        return np.unique(np.concatenate(self.goals).round(9), axis=0)


@pytest.fixture(scope="module")
def two_conditioned() -> Iterator[VecEnv]:
    env = make_env("MT10", "conditioned", tasks=TWO, episode_length=5)
    yield env
    env.close()


def test_every_evaluation_draws_fresh_goals_reproducibly(two_conditioned: VecEnv) -> None:
    def goals(index: int, env: VecEnv | None) -> np.ndarray:
        recorder = GoalRecorder()
        result = evaluate(
            recorder,
            "MT10",
            "conditioned",
            episodes_per_task=2,
            seed=3,
            evaluation_index=index,
            episode_length=2,
            env=env,
            tasks=None if env is not None else TWO,
        )
        assert result.evaluation_index == index
        return recorder.distinct()

    first, again, second = goals(0, two_conditioned), goals(0, two_conditioned), goals(1, None)
    assert len(first) == 4  # 2 tasks x 2 episodes, all different
    np.testing.assert_array_equal(first, again)  # same (seed, index): same goals
    np.testing.assert_array_equal(goals(1, two_conditioned), second)  # env built or given
    assert not np.isin(first, second).all(axis=1).any()  # the next evaluation: new goals


def test_evaluate_leaves_a_given_env_as_it_found_it() -> None:
    """Two twins: the one evaluated mid-episode goes on with the other's goals."""
    evaluated, twin = (make_env("MT10", "conditioned", tasks=TWO, episode_length=5) for _ in "ab")
    for env in (evaluated, twin):
        env.reset()
        for _ in range(2):
            env.step(np.zeros((2, 4)))
    running = np.stack(evaluated.get_attr("goal_position"))
    pickle.dumps(evaluated.env_method("save_state"))  # travels to a SubprocVecEnv's workers
    evaluate(Zero(), "MT10", "conditioned", episodes_per_task=2, episode_length=3, env=evaluated)
    assert evaluated.get_attr("episode_length") == [5, 5]
    # The interrupted episode starts over on its goal...
    np.testing.assert_array_equal(np.stack(evaluated.get_attr("goal_position")), running)
    # ...and every later goal is the one the twin draws, at resets and at episode ends.
    for _ in range(2):
        np.testing.assert_array_equal(evaluated.reset()[:, GOAL], twin.reset()[:, GOAL])
    for _ in range(5):
        obs, _, dones, _ = evaluated.step(np.zeros((2, 4)))
        twin_obs, _, twin_dones, _ = twin.step(np.zeros((2, 4)))
    assert dones.all() and twin_dones.all()
    np.testing.assert_array_equal(obs, twin_obs)
    evaluated.close()
    twin.close()


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
