"""A replay buffer that gives every task the same share of every batch.

SB3's ``ReplayBuffer`` draws the env column of each sample uniformly at random, so with
one env per task the per-task counts in a batch of 1280 vary by tens of samples from
batch to batch. The authors' multi-task SAC samples 128 transitions per task per update
(batch 1280 for MT10). ``TaskBalancedReplayBuffer`` does the same: with ``T`` env
columns (one per task), every batch holds exactly ``batch_size / T`` samples of each
column, laid out task-major (``[task 0 x m, task 1 x m, ...]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.type_aliases import ReplayBufferSamples
from stable_baselines3.common.vec_env import VecNormalize

from modnet.errors import ConfigError, ShapeError, mismatch
from modnet_sb3.task_observation import check_observation_space, check_task_observations

__all__ = ["TaskBalancedReplayBuffer"]


class TaskBalancedReplayBuffer(ReplayBuffer):
    """Replay buffer for a VecEnv with one env per task; batches are balanced per task.

    Drop-in for SB3's ``ReplayBuffer`` (``replay_buffer_class=TaskBalancedReplayBuffer``);
    it takes the same arguments. ``n_envs`` is the number of tasks ``T``; ``buffer_size``
    is split equally between them, as in the authors' code. Timeouts are handled as SB3
    does: with ``handle_timeout_termination=True`` a time-limit truncation is not a
    terminal state for the TD target.

    Args:
        check_one_hot: validate on every ``add`` that the observations and next
            observations are finite and that each env column carries a distinct task
            one-hot in its last ``n_envs`` observation columns (on the host, before the
            data is stored, so sampling and training need no checks).
        on_device: keep the stored transitions as torch tensors on ``device``, so a batch
            is gathered there instead of copied from host memory at every update (each
            ``add`` copies one VecEnv step over). Default (None): when ``device`` is a GPU.
            Samples are the same either way.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        device: th.device | str = "auto",
        n_envs: int = 1,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
        *,
        check_one_hot: bool = True,
        on_device: bool | None = None,
    ) -> None:
        # n_envs is the number of tasks: one env per task.
        check_observation_space(observation_space, n_envs, where="TaskBalancedReplayBuffer")
        super().__init__(
            buffer_size,
            observation_space,
            action_space,
            device=device,
            n_envs=n_envs,
            optimize_memory_usage=optimize_memory_usage,
            handle_timeout_termination=handle_timeout_termination,
        )
        self.num_tasks = n_envs
        self.check_one_hot = check_one_hot
        self.on_device = self.device.type != "cpu" if on_device is None else bool(on_device)
        if self.on_device:
            self._store_on_device()

    _STORES = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")

    def _store_on_device(self) -> None:
        """Replace the host arrays by zero tensors of the same shapes and dtypes on ``device``."""
        for name in self._STORES:
            array = getattr(self, name, None)
            if isinstance(array, np.ndarray):  # next_observations is None when memory-optimised
                dtype = th.from_numpy(np.zeros(0, dtype=array.dtype)).dtype
                setattr(self, name, th.zeros(array.shape, dtype=dtype, device=self.device))

    def _put(self, store: th.Tensor, index: int, value: Any) -> None:
        store[index].copy_(th.as_tensor(np.asarray(value)).reshape(store.shape[1:]))

    def add(
        self,
        obs: np.ndarray,
        next_obs: np.ndarray,
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        if self.check_one_hot:
            where = "TaskBalancedReplayBuffer.add"
            check_task_observations(obs, self.num_tasks, where=where, distinct=True)
            # The next observation at an episode's end is the env's last one, which no
            # predict call sees.
            check_task_observations(next_obs, self.num_tasks, where=where, distinct=True)
        if not getattr(self, "on_device", False):
            super().add(obs, next_obs, action, reward, done, infos)
            return
        # SB3's ReplayBuffer.add (Box spaces), writing into the device tensors.
        self._put(self.observations, self.pos, obs)
        if self.optimize_memory_usage:
            self._put(self.observations, (self.pos + 1) % self.buffer_size, next_obs)
        else:
            self._put(self.next_observations, self.pos, next_obs)
        self._put(self.actions, self.pos, action)
        self._put(self.rewards, self.pos, reward)
        self._put(self.dones, self.pos, done)
        if self.handle_timeout_termination:
            truncated = [info.get("TimeLimit.truncated", False) for info in infos]
            self._put(self.timeouts, self.pos, np.array(truncated, dtype=np.float32))
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True
            self.pos = 0

    def sample(self, batch_size: int, env: VecNormalize | None = None) -> ReplayBufferSamples:
        """Sample ``batch_size / T`` transitions of each task, task-major.

        Returns tensors of shape ``[B, ...]`` with ``B = batch_size``; rows
        ``t*m:(t+1)*m`` come from env column ``t`` (``m = batch_size / T``).
        """
        if batch_size % self.n_envs != 0:
            raise ConfigError(
                mismatch(
                    "TaskBalancedReplayBuffer.sample",
                    "batch_size",
                    f"be a multiple of the number of tasks ({self.n_envs})",
                    batch_size,
                )
            )
        if not self.full and self.pos == 0:
            raise ShapeError(
                mismatch("TaskBalancedReplayBuffer.sample", "the buffer", "hold data", "empty")
            )
        per_task = batch_size // self.n_envs
        size = (self.n_envs, per_task)
        if self.optimize_memory_usage and self.full:
            # The slot at `pos` holds a stale next-observation in the memory-saving layout.
            batch_inds = (np.random.randint(1, self.buffer_size, size=size) + self.pos) % (
                self.buffer_size
            )
        else:
            upper = self.buffer_size if self.full else self.pos
            batch_inds = np.random.randint(0, upper, size=size)
        env_inds = np.repeat(np.arange(self.n_envs), per_task)
        batch_inds = batch_inds.reshape(-1)
        if getattr(self, "on_device", False):
            batch_inds, env_inds = (
                th.as_tensor(i, device=self.device) for i in (batch_inds, env_inds)
            )
        return self._balanced_samples(batch_inds, env_inds, env)

    def _balanced_samples(
        self, batch_inds: np.ndarray, env_inds: np.ndarray, env: VecNormalize | None
    ) -> ReplayBufferSamples:
        if self.optimize_memory_usage:
            next_obs = self.observations[(batch_inds + 1) % self.buffer_size, env_inds, :]
        else:
            next_obs = self.next_observations[batch_inds, env_inds, :]
        # Timeouts are not terminal (SB3's rule; `timeouts` stays 0 when disabled).
        dones = self.dones[batch_inds, env_inds] * (1 - self.timeouts[batch_inds, env_inds])
        data = (
            self._normalize_obs(self.observations[batch_inds, env_inds, :], env),
            self.actions[batch_inds, env_inds, :],
            self._normalize_obs(next_obs, env),
            dones.reshape(-1, 1),
            self._normalize_reward(self.rewards[batch_inds, env_inds].reshape(-1, 1), env),
        )
        if getattr(self, "on_device", False):
            return ReplayBufferSamples(*data)  # gathered on the device: new tensors already
        return ReplayBufferSamples(*tuple(map(self.to_torch, data)))
