"""make_env: shapes, one-hot, task order, success key, goals per mode, horizon, sub-processes."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("metaworld")

import gymnasium as gym  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv  # noqa: E402

from modnet_metaworld import EpisodeWrapper, ScriptedExpert, make_env, task_names  # noqa: E402
from modnet_metaworld.suites import benchmark_goals  # noqa: E402

GOAL = slice(36, 39)
TWO = ["reach-v3", "push-v3"]


@pytest.fixture(scope="module")
def mt10_fixed() -> Iterator[VecEnv]:
    env = make_env("MT10", "fixed", seed=0)
    yield env
    env.close()


def _run_zero(env: VecEnv, steps: int) -> list:
    """Step zero actions; return every (dones, infos)."""
    out = []
    for _ in range(steps):
        _, _, dones, infos = env.step(np.zeros((env.num_envs, 4)))
        out.append((dones.copy(), infos))
    return out


@pytest.mark.slow
def test_shapes_one_hot_and_task_order(mt10_fixed: VecEnv) -> None:
    env = mt10_fixed
    assert env.num_envs == 10
    assert env.observation_space.shape == (49,)
    assert env.action_space.shape == (4,)
    obs = env.reset()
    assert obs.shape == (10, 49)
    assert obs.dtype == np.float32
    # One-hot last, column i is task i of Meta-World's order.
    np.testing.assert_array_equal(obs[:, 39:], np.eye(10))
    assert env.get_attr("mw_task_name") == task_names("MT10")
    # The bare env behind column i is Meta-World's class for task i.
    import metaworld

    assert [type(e.unwrapped) for e in env.envs] == list(metaworld.env_dict.MT10_V3.values())  # type: ignore[attr-defined]


@pytest.mark.slow
def test_success_key_and_truncation_at_episode_end(mt10_fixed: VecEnv) -> None:
    env = mt10_fixed
    env.reset()
    steps = _run_zero(env, 150)
    for dones, infos in steps[:-1]:
        assert not dones.any()
        assert all("is_success" not in info for info in infos)
    dones, infos = steps[-1]
    assert dones.all()
    for info in infos:
        assert info["is_success"] is False
        assert info["TimeLimit.truncated"] is True
        assert info["terminal_observation"].shape == (49,)
        assert "episode" in info and info["episode"]["l"] == 150  # Monitor


@pytest.mark.slow
def test_fixed_goal_is_metaworlds_first_goal_and_stays(mt10_fixed: VecEnv) -> None:
    env = mt10_fixed
    first = env.reset()[:, GOAL].copy()
    _run_zero(env, 150)  # one whole episode, auto-reset at its end
    second = env.reset()[:, GOAL].copy()
    np.testing.assert_array_equal(first, second)
    assert len(np.unique(first.round(6), axis=0)) > 1  # the tasks' goals differ
    # For reach and pick-place the goal is the last 3 entries of Meta-World's random vector.
    goals = benchmark_goals("MT10", 0)
    for column, name in [(0, "reach-v3"), (2, "pick-place-v3")]:
        rand_vec = pickle.loads(goals[name][0].data)["rand_vec"]
        np.testing.assert_allclose(first[column], rand_vec[-3:], atol=1e-9)


def test_conditioned_goal_changes_every_reset_and_is_observed() -> None:
    env = make_env("MT10", "conditioned", seed=0, tasks=TWO)
    goals, observed = [], []
    for _ in range(4):
        obs = env.reset()
        observed.append(obs[:, GOAL].copy())
        goals.append(np.stack(env.get_attr("goal_position")))
    env.close()
    observed_arr, goals_arr = np.stack(observed), np.stack(goals)
    np.testing.assert_allclose(observed_arr, goals_arr, atol=1e-9)  # the obs shows the goal
    for column in range(2):
        assert len(np.unique(observed_arr[:, column].round(6), axis=0)) == 4


def test_conditioned_goals_are_seeded() -> None:
    def goals(seed: int, tasks: list[str]) -> np.ndarray:
        env = make_env("MT10", "conditioned", seed=seed, tasks=tasks)
        out = np.stack([env.reset()[:, GOAL].copy() for _ in range(3)])
        env.close()
        return out

    a, b, c = goals(0, TWO), goals(0, TWO), goals(1, TWO)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # A task's stream does not depend on which other tasks are built with it.
    np.testing.assert_array_equal(goals(0, ["push-v3"])[:, 0], a[:, 1])


def test_vec_env_seed_reseeds_the_goals() -> None:
    env = make_env("MT10", "conditioned", tasks=TWO)
    env.seed(123)
    first = env.reset()[:, GOAL].copy()
    env.reset()
    env.seed(123)
    again = env.reset()[:, GOAL].copy()
    env.close()
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("length", [1, 7])
def test_episode_length_is_honoured(length: int) -> None:
    env = make_env("MT10", "conditioned", tasks=TWO, episode_length=length)
    env.reset()
    ends = [
        step for step, (dones, _) in enumerate(_run_zero(env, 3 * length), start=1) if dones.all()
    ]
    env.close()
    assert ends == [length, 2 * length, 3 * length]


def test_terminate_on_success_ends_the_episode_at_the_first_success() -> None:
    env = make_env("MT10", "conditioned", tasks=["reach-v3"], terminate_on_success=True)
    expert = ScriptedExpert("MT10")
    obs = env.reset()
    successes, dones = [], np.zeros(1, dtype=bool)
    while not dones[0] and len(successes) < 150:
        obs, _, dones, infos = env.step(expert.predict(obs)[0])
        successes.append(infos[0]["success"])
    env.close()
    assert dones[0] and len(successes) < 150
    assert not any(successes[:-1]) and successes[-1]  # ended on the first success
    assert infos[0]["is_success"] is True
    assert infos[0]["TimeLimit.truncated"] is False


def test_mt50_columns_keep_their_benchmark_one_hot() -> None:
    env = make_env("MT50", "conditioned", tasks=["window-close-v3", "assembly-v3"])
    obs = env.reset()
    env.close()
    assert obs.shape == (2, 39 + 50)
    assert env.get_attr("mw_task_name") == ["assembly-v3", "window-close-v3"]
    assert obs[0, 39:].argmax() == 0 and obs[1, 39:].argmax() == 49
    np.testing.assert_array_equal(obs[:, 39:].sum(axis=1), [1.0, 1.0])


def test_reward_function_version_reaches_the_env() -> None:
    env = make_env("MT10", "conditioned", tasks=["reach-v3"], reward_function_version="v1")
    assert env.get_attr("reward_function_version") == ["v1"]
    env.close()
    env = make_env("MT10", "conditioned", tasks=["reach-v3"])
    assert env.get_attr("reward_function_version") == ["v2"]  # Meta-World's default
    env.close()


def test_goal_bounds_are_not_declared() -> None:
    """Meta-World declares goal bounds 0..0 before set_task; nothing may clip with them."""
    env = make_env("MT10", "conditioned", tasks=["reach-v3"])
    space = env.observation_space
    env.close()
    assert isinstance(space, gym.spaces.Box)
    assert np.all(np.isneginf(space.low[GOAL])) and np.all(np.isposinf(space.high[GOAL]))
    np.testing.assert_array_equal(space.low[39:], 0.0)
    np.testing.assert_array_equal(space.high[39:], 1.0)


def test_success_is_any_step_not_last_step() -> None:
    """An episode that succeeds on step 2 and fails later still counts as a success."""

    class Scripted(gym.Env):
        observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
        action_space = gym.spaces.Box(-1.0, 1.0, (1,))
        max_path_length = 500

        def __init__(self, pattern: list[float]) -> None:
            self.pattern, self.t = pattern, 0

        def reset(self, *, seed=None, options=None):  # noqa: ANN001, ANN202
            self.t = 0
            return np.zeros(1, dtype=np.float32), {}

        def step(self, action):  # noqa: ANN001, ANN202
            self.t += 1
            return (
                np.zeros(1, dtype=np.float32),
                0.0,
                False,
                False,
                {"success": self.pattern[self.t - 1]},
            )

    for pattern, expected in [
        ([0.0, 1.0, 0.0, 0.0], True),
        ([0.0, 0.0, 0.0, 1.0], True),
        ([0.0] * 4, False),
    ]:
        env = EpisodeWrapper(Scripted(pattern), episode_length=4, terminate_on_success=False)
        env.reset()
        infos = [env.step(np.zeros(1))[4] for _ in range(4)]
        assert all("is_success" not in info for info in infos[:-1])
        assert infos[-1]["is_success"] is expected
        assert env.unwrapped.max_path_length == 4  # type: ignore[attr-defined]


@pytest.mark.slow
def test_subproc_vec_env_matches_dummy() -> None:
    kwargs = {
        "benchmark": "MT10",
        "mode": "conditioned",
        "seed": 3,
        "tasks": TWO,
        "episode_length": 5,
    }
    actions = np.random.default_rng(0).uniform(-1, 1, size=(6, 2, 4))
    runs = []
    for cls in (DummyVecEnv, SubprocVecEnv):
        env = make_env(**kwargs, vec_env_cls=cls)  # type: ignore[arg-type]
        trace = [env.reset()]
        for action in actions:
            obs, reward, dones, infos = env.step(action)
            trace += [obs, reward, dones]
        env.close()
        runs.append(trace)
    for dummy, subproc in zip(*runs, strict=True):
        # DummyVecEnv stores rewards as float32, SubprocVecEnv passes float64 through.
        np.testing.assert_allclose(dummy, subproc, rtol=1e-6, atol=0.0)


@pytest.mark.parametrize("wrapper", ["GoalWrapper", "TaskOneHot"])
def test_wrappers_refuse_an_env_that_is_not_meta_world(wrapper: str) -> None:
    import gymnasium as gym

    from modnet.errors import ConfigError
    from modnet_metaworld import wrappers

    kwargs = {
        "GoalWrapper": {
            "task_name": "reach-v3",
            "task_index": 0,
            "benchmark": "MT10",
            "mode": "fixed",
            "task": None,
            "seed": 0,
        },
        "TaskOneHot": {"task_index": 0, "num_tasks": 10},
    }[wrapper]
    with pytest.raises(
        ConfigError, match=rf"{wrapper}: env must be a Meta-World env .*got CartPoleEnv"
    ):
        getattr(wrappers, wrapper)(gym.make("CartPole-v1"), **kwargs)
