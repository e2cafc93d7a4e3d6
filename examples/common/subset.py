"""Train on a subset of a benchmark's tasks: keep only the subset's one-hot columns.

``make_env(tasks=[...])`` keeps the benchmark-wide one-hot (width 10 for MT10) so a
model trained on all tasks evaluates on any subset. A run *trained* on a subset
wants the opposite: one-hot width = number of columns, so ``MTSAC``'s per-task
temperatures and ``TaskBalancedReplayBuffer`` see one task per column. This wrapper
does that slicing for the training and the evaluation env alike; ``get_attr`` and
``env_method`` pass through, so ``modnet_metaworld.evaluate(env=...)`` works on it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper

__all__ = ["SubsetOneHot"]


class SubsetOneHot(VecEnvWrapper):
    """Observations [N, S + T] -> [N, S + N]: keep the one-hot columns of these tasks.

    Args:
        venv: a VecEnv whose observations end with a one-hot of width ``num_tasks``.
        num_tasks: ``T``, the benchmark-wide one-hot width.
        task_indices: benchmark positions of the kept tasks, in column order.
    """

    def __init__(self, venv: VecEnv, *, num_tasks: int, task_indices: Sequence[int]) -> None:
        space = venv.observation_space
        if not isinstance(space, spaces.Box) or space.shape[0] <= num_tasks:
            raise ValueError(
                f"SubsetOneHot: observation space must be a flat Box wider than {num_tasks}, "
                f"got {space}"
            )
        state = space.shape[0] - num_tasks
        self._keep = np.concatenate([np.arange(state), state + np.asarray(task_indices)])
        observation_space = spaces.Box(
            low=space.low[self._keep], high=space.high[self._keep], dtype=space.dtype
        )
        super().__init__(venv, observation_space=observation_space)
        #: The kept one-hot's width, declared to ``MTSAC`` (it wins over the envs' own T).
        self.num_tasks = len(task_indices)

    def _slice(self, obs: np.ndarray) -> np.ndarray:
        return obs[..., self._keep]

    def reset(self) -> np.ndarray:
        return self._slice(self.venv.reset())

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            if "terminal_observation" in info:
                info["terminal_observation"] = self._slice(info["terminal_observation"])
        return self._slice(obs), rewards, dones, infos
