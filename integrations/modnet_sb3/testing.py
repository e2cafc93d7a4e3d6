"""Test support: small multi-task envs with the task one-hot at the end of the observation.

Not part of the public API of ``modnet_sb3`` (nothing re-exports them), but stable and
importable for your own tests: ``from modnet_sb3.testing import make_point_reach_vec_env``.

- :class:`PointReachEnv`, a tiny learnable family: task ``k`` of ``T`` asks a point mass
  to reach a goal on a circle of radius ``goal_radius`` at angle ``2 pi k / T``. The goal
  is not observed: as in Meta-World's fixed-goal setting the task one-hot alone tells the
  agent where to go, so one policy must learn ``T`` different behaviours. Observations
  are ``[x, y, one-hot(T)]``. The reward is the negative distance to the goal (dense),
  episodes end by time limit only (``truncated=True``), so SB3's timeout handling applies.
- :class:`RandomStateEnv`, Meta-World's shapes with random states, for speed
  measurements and shape tests.

``make_point_reach_vec_env`` and ``make_random_state_vec_env`` build one env per task in
a ``DummyVecEnv`` (column ``k`` = task ``k``). Every env declares ``num_tasks``, the width
of its one-hot, which ``MTSAC`` reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv

from modnet.errors import ConfigError, mismatch
from modnet.validation import check_positive_int

__all__ = [
    "PointReachEnv",
    "RandomStateEnv",
    "make_point_reach_vec_env",
    "make_random_state_vec_env",
]


def _check_task(where: str, task: object, num_tasks: object) -> None:
    """A ``ConfigError`` unless ``task`` is an int in ``[0, num_tasks)`` (a negative index
    would pick a task from the end, a float or bool would pass a range check)."""
    check_positive_int(where, "num_tasks", num_tasks)
    if (
        isinstance(task, bool)
        or not isinstance(task, int | np.integer)
        or not 0 <= task < num_tasks  # type: ignore[operator]
    ):
        raise ConfigError(mismatch(where, "task", f"be in [0, {num_tasks}) as an int", repr(task)))


class PointReachEnv(gym.Env[np.ndarray, np.ndarray]):
    """One task of the point-reaching family.

    Args:
        task: this env's task index in ``[0, num_tasks)``.
        num_tasks: ``T``, the width of the one-hot.
        max_steps: episode length (time-limit truncation).
        step_size: distance moved by a full action (``|a| = 1``) in one step.
        action_scale: multiplies the action before the move; tasks with a different
            scale need different action magnitudes (and settle at different temperatures).
        reward_scale: multiplies the reward.
        goal_radius: distance of the goals from the origin.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        task: int,
        num_tasks: int,
        *,
        max_steps: int = 25,
        step_size: float = 0.15,
        action_scale: float = 1.0,
        reward_scale: float = 1.0,
        goal_radius: float = 0.6,
    ) -> None:
        _check_task("PointReachEnv", task, num_tasks)
        if max_steps < 1:
            raise ConfigError(mismatch("PointReachEnv", "max_steps", "be >= 1", max_steps))
        self.task = task
        self.num_tasks = num_tasks
        self.max_steps = max_steps
        self.step_size = step_size
        self.action_scale = action_scale
        self.reward_scale = reward_scale
        angle = 2.0 * np.pi * task / num_tasks
        self.goal = goal_radius * np.array([np.cos(angle), np.sin(angle)], dtype=np.float32)
        self._one_hot = np.zeros(num_tasks, dtype=np.float32)
        self._one_hot[task] = 1.0
        low = np.concatenate([np.full(2, -1.0), np.zeros(num_tasks)]).astype(np.float32)
        high = np.concatenate([np.full(2, 1.0), np.ones(num_tasks)]).astype(np.float32)
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.action_space = spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)
        self._pos = np.zeros(2, dtype=np.float32)
        self._steps = 0

    def _obs(self) -> np.ndarray:
        return np.concatenate([self._pos, self._one_hot]).astype(np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._pos = self.np_random.uniform(-0.1, 0.1, size=2).astype(np.float32)
        self._steps = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        action = np.clip(np.asarray(action, dtype=np.float32).reshape(2), -1.0, 1.0)
        move = self.step_size * np.clip(self.action_scale * action, -1.0, 1.0)
        self._pos = np.clip(self._pos + move, -1.0, 1.0).astype(np.float32)
        self._steps += 1
        distance = float(np.linalg.norm(self._pos - self.goal))
        reward = -self.reward_scale * distance
        truncated = self._steps >= self.max_steps
        info = {"distance": distance, "is_success": distance < 0.1}
        return self._obs(), reward, False, truncated, info


def make_point_reach_vec_env(
    num_tasks: int,
    seed: int = 0,
    *,
    action_scales: Sequence[float] | None = None,
    reward_scales: Sequence[float] | None = None,
    **env_kwargs: Any,
) -> DummyVecEnv:
    """Build a ``DummyVecEnv`` with one :class:`PointReachEnv` per task, column ``k`` = task ``k``.

    Args:
        num_tasks: ``T``.
        seed: seeds env ``k`` with ``seed + k``.
        action_scales: one action scale per task (default all 1).
        reward_scales: one reward scale per task (default all 1).
        env_kwargs: passed to every :class:`PointReachEnv`.
    """
    check_positive_int("make_point_reach_vec_env", "num_tasks", num_tasks)
    for name, values in (("action_scales", action_scales), ("reward_scales", reward_scales)):
        if values is not None and len(values) != num_tasks:
            raise ConfigError(
                mismatch(
                    "make_point_reach_vec_env",
                    name,
                    f"have one entry per task ({num_tasks})",
                    len(values),
                )
            )
    a_scales = list(action_scales) if action_scales is not None else [1.0] * num_tasks
    r_scales = list(reward_scales) if reward_scales is not None else [1.0] * num_tasks

    def factory(task: int):
        def make() -> gym.Env:
            env = PointReachEnv(
                task,
                num_tasks,
                action_scale=a_scales[task],
                reward_scale=r_scales[task],
                **env_kwargs,
            )
            return Monitor(env)

        return make

    vec_env = DummyVecEnv([factory(task) for task in range(num_tasks)])
    vec_env.seed(seed)
    return vec_env


class RandomStateEnv(gym.Env[np.ndarray, np.ndarray]):
    """An env with Meta-World's shapes and random states, for speed measurements and shape tests.

    Observation ``[state (state_dim), one-hot(T)]`` (39 + T by default), action Box of
    ``action_dim`` (4), reward from a fixed random linear function, truncation after
    ``max_steps``. Nothing is learnable in a meaningful way; it only exercises the shapes.
    """

    metadata: dict[str, Any] = {"render_modes": []}

    def __init__(
        self,
        task: int,
        num_tasks: int,
        *,
        state_dim: int = 39,
        action_dim: int = 4,
        max_steps: int = 150,
    ) -> None:
        _check_task("RandomStateEnv", task, num_tasks)
        self.task, self.num_tasks, self.state_dim = task, num_tasks, state_dim
        self.max_steps = max_steps
        self._one_hot = np.eye(num_tasks, dtype=np.float32)[task]
        low = np.concatenate([np.full(state_dim, -np.inf), np.zeros(num_tasks)]).astype(np.float32)
        high = np.concatenate([np.full(state_dim, np.inf), np.ones(num_tasks)]).astype(np.float32)
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, shape=(action_dim,), dtype=np.float32)
        self._reward_vector = np.random.default_rng(task).normal(size=action_dim)
        self._steps = 0

    def _obs(self) -> np.ndarray:
        state = self.np_random.normal(size=self.state_dim).astype(np.float32)
        return np.concatenate([state, self._one_hot])

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._steps = 0
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._steps += 1
        reward = float(np.dot(self._reward_vector, np.asarray(action, dtype=np.float64)))
        return self._obs(), reward, False, self._steps >= self.max_steps, {}


def make_random_state_vec_env(num_tasks: int = 10, seed: int = 0, **env_kwargs: Any) -> DummyVecEnv:
    """One :class:`RandomStateEnv` per task in a ``DummyVecEnv`` (Meta-World MT10 shapes by default)."""
    check_positive_int("make_random_state_vec_env", "num_tasks", num_tasks)
    vec_env = DummyVecEnv(
        [
            (lambda task=task: RandomStateEnv(task, num_tasks, **env_kwargs))
            for task in range(num_tasks)
        ]
    )
    vec_env.seed(seed)
    return vec_env
