"""modnet_sb3.testing: the toy point-reaching env and the Meta-World-shaped random env."""

from __future__ import annotations

import pytest

pytest.importorskip("stable_baselines3")

import numpy as np  # noqa: E402

from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3.testing import (  # noqa: E402
    PointReachEnv,
    make_point_reach_vec_env,
    make_random_state_vec_env,
)


def test_observation_layout_one_hot_last() -> None:
    env = make_point_reach_vec_env(3, seed=0)
    obs = env.reset()
    assert obs.shape == (3, 2 + 3)
    np.testing.assert_array_equal(obs[:, -3:], np.eye(3, dtype=np.float32))


def test_goals_differ_per_task_and_reward_is_negative_distance() -> None:
    envs = [PointReachEnv(k, 4) for k in range(4)]
    goals = np.stack([e.goal for e in envs])
    assert len(np.unique(goals.round(6), axis=0)) == 4
    env = envs[1]
    env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(np.zeros(2, dtype=np.float32))
    assert reward == pytest.approx(-np.linalg.norm(obs[:2] - env.goal))
    assert not terminated and not truncated


def test_episode_ends_by_time_limit_only() -> None:
    env = PointReachEnv(0, 2, max_steps=5)
    env.reset(seed=0)
    flags = [env.step(env.action_space.sample())[2:4] for _ in range(5)]
    assert flags[:4] == [(False, False)] * 4
    assert flags[4] == (False, True)


def test_moving_toward_goal_beats_standing_still() -> None:
    env = PointReachEnv(0, 1)
    env.reset(seed=0)
    toward = sum(env.step(np.array([1.0, 0.0], dtype=np.float32))[1] for _ in range(4))
    env.reset(seed=0)
    still = sum(env.step(np.zeros(2, dtype=np.float32))[1] for _ in range(4))
    assert toward > still + 0.5


def test_scales_and_bad_settings() -> None:
    env = make_point_reach_vec_env(2, reward_scales=(1.0, 10.0))
    assert [e.unwrapped.reward_scale for e in env.envs] == [1.0, 10.0]
    with pytest.raises(ConfigError, match="reward_scales must have one entry per task"):
        make_point_reach_vec_env(2, reward_scales=(1.0,))
    with pytest.raises(ConfigError, match=r"task must be in \[0, 2\)"):
        PointReachEnv(2, 2)


def test_random_state_env_has_metaworld_shapes() -> None:
    env = make_random_state_vec_env(10, seed=0)
    obs = env.reset()
    assert obs.shape == (10, 49)
    assert env.action_space.shape == (4,)
    np.testing.assert_array_equal(obs[:, -10:], np.eye(10, dtype=np.float32))
