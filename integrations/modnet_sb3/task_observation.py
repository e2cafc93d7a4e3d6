"""The task one-hot in the observation, read in one place.

Observations are flat, ``[state (S), one-hot (T)]``: the task one-hot in the last ``T``
columns (Meta-World's convention). Every part of ``modnet_sb3`` reads it through here:

- :func:`check_observation_space`: at construction, the declared space can hold it;
- :func:`declared_num_tasks`: ``T`` as the env declares it (an attribute ``num_tasks``);
- :func:`check_task_observations` (numpy, on the host, where data enters: a policy's
  ``predict`` and the replay buffer's ``add``): values finite, the one-hot exact;
- :func:`state_and_task_ids` (torch, in every forward and update): the state and the task
  ids. It reads no values, so it adds no device synchronisation to a training step; the
  values it relies on were checked on their way in.
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces

from modnet.errors import ConfigError, ShapeError, mismatch

__all__ = [
    "TaskObservation",
    "check_observation_space",
    "check_task_observations",
    "declared_num_tasks",
    "check_task_columns",
    "split_observation",
    "state_and_task_ids",
]


class TaskObservation(NamedTuple):
    """An observation batch split by :func:`state_and_task_ids`.

    Attributes:
        state: ``[B, S]`` float32, the observation without the one-hot.
        task: ``[B]`` int64 task ids, the position of the 1 in each one-hot.
    """

    state: torch.Tensor
    task: torch.Tensor


def state_and_task_ids(obs: torch.Tensor, num_tasks: int) -> TaskObservation:
    """Split ``obs [B, S + T]`` into the state ``[B, S]`` and the task ids ``[B]`` (int64).

    The networks take the ids: an embedding row instead of a ``[B, T] @ [T, h]`` product.
    The values are not read (no device synchronisation): an inexact one-hot gives the id
    of its largest entry, so check observations where they enter
    (:func:`check_task_observations`).

    Raises:
        ShapeError: ``obs`` is not a ``[B, S + T]`` tensor with ``S >= 1``.
        ConfigError: ``num_tasks`` is not an int >= 1.
    """
    where = "state_and_task_ids"
    _check_num_tasks(where, num_tasks)
    if not isinstance(obs, torch.Tensor):
        raise ShapeError(mismatch(where, "obs", "be a torch.Tensor", type(obs).__name__))
    if obs.dim() != 2 or obs.shape[1] <= num_tasks:
        raise ShapeError(
            mismatch(where, "obs", f"have shape (batch, state + {num_tasks})", tuple(obs.shape))
        )
    obs = obs.float()
    return TaskObservation(obs[:, :-num_tasks], obs[:, -num_tasks:].argmax(dim=-1))


def _check_num_tasks(where: str, num_tasks: Any) -> int:
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
        raise ConfigError(mismatch(where, "num_tasks", "be an int >= 1", repr(num_tasks)))
    return int(num_tasks)


def check_observation_space(space: spaces.Space, num_tasks: Any, *, where: str) -> int:
    """Check that ``space`` can hold a state and a ``num_tasks``-wide one-hot; return ``T``.

    The space must be a flat Box of width ``S + T`` with ``S >= 1`` whose declared bounds
    on the last ``T`` columns admit 0 and 1.

    Raises:
        ConfigError: naming ``where``, the argument and what came.
    """
    if not isinstance(space, spaces.Box) or len(space.shape) != 1:
        raise ConfigError(
            mismatch(where, "observation_space", "be a flat Box (state + task one-hot)", space)
        )
    num_tasks = _check_num_tasks(where, num_tasks)
    width = int(space.shape[0])
    if width <= num_tasks:
        raise ConfigError(
            mismatch(
                where,
                "observation width",
                f"hold a state and the {num_tasks}-column task one-hot (be > num_tasks={num_tasks})",
                width,
            )
        )
    low, high = space.low[-num_tasks:], space.high[-num_tasks:]
    if np.any(low > 0) or np.any(high < 1):
        raise ConfigError(
            mismatch(
                where,
                f"bounds of the last {num_tasks} observation columns (the one-hot)",
                "admit 0 and 1; does num_tasks match the env?",
                f"low={low.tolist()}, high={high.tolist()}",
            )
        )
    return num_tasks


def declared_num_tasks(env: Any, *, where: str) -> int | None:
    """``T`` as declared by ``env`` in an attribute ``num_tasks``, or ``None`` if it declares none.

    Looked up on the VecEnv itself first (a ``VecEnvWrapper`` that changes the one-hot
    declares its own width), then on its envs through ``env.get_attr("num_tasks")``, which
    also searches their gymnasium wrappers. Every env must declare the same value.
    """
    if env is None:
        return None
    value = getattr(env, "num_tasks", None)
    if value is None:
        # has_attr first: a missing attribute in get_attr would end a SubprocVecEnv worker.
        if not env.has_attr("num_tasks"):
            return None
        values = env.get_attr("num_tasks")
        if any(v != values[0] for v in values[1:]):
            raise ConfigError(
                mismatch(where, "the envs' num_tasks attributes", "agree", list(values))
            )
        value = values[0]
    return _check_num_tasks(where, value)


def check_task_observations(
    obs: np.ndarray, num_tasks: int, *, where: str, distinct: bool = False
) -> None:
    """Check a host-side batch ``obs [E, S + T]`` (or one ``[S + T]`` observation).

    Raises ``ShapeError`` naming the env column (the row) when a value is NaN or
    infinite, or when the last ``num_tasks`` columns are not an exact one-hot. With
    ``distinct`` and ``E == num_tasks``, also when two env columns hold the same task
    (:class:`~modnet_sb3.buffers.TaskBalancedReplayBuffer` balances env columns, which
    is balancing tasks only with one env per task).
    """
    obs = np.asarray(obs)
    if obs.ndim == 1:
        obs = obs[None]
    if obs.ndim != 2 or obs.shape[1] <= num_tasks:
        raise ShapeError(
            mismatch(where, "observations", f"have shape (envs, state + {num_tasks})", obs.shape)
        )
    finite = np.isfinite(obs)
    if not finite.all():
        env, entry = (int(i) for i in np.argwhere(~finite)[0])
        state = obs.shape[1] - num_tasks
        part = f"state entry {entry}" if entry < state else f"one-hot entry {entry - state}"
        raise ShapeError(
            mismatch(
                where,
                f"the observation of env column {env}",
                "be finite",
                f"{obs[env, entry]} at {part}",
            )
        )
    one_hot = obs[:, -num_tasks:]
    exact = np.all((one_hot == 0) | (one_hot == 1), axis=1) & (one_hot.sum(axis=1) == 1)
    if not exact.all():
        env = int(np.flatnonzero(~exact)[0])
        raise ShapeError(
            mismatch(
                where,
                f"the last {num_tasks} observation columns",
                "be a task one-hot (num_tasks must match the env)",
                f"{one_hot[env].tolist()} in env column {env}",
            )
        )
    tasks = one_hot.argmax(axis=1)
    if distinct and obs.shape[0] == num_tasks and len(np.unique(tasks)) != num_tasks:
        raise ShapeError(
            mismatch(
                where,
                "env columns",
                "hold one distinct task each (one env per task)",
                f"tasks {tasks.tolist()}",
            )
        )


# ------------------------------------------------------------------ deprecated names
def split_observation(obs: torch.Tensor, num_tasks: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deprecated: ``obs [B, S + T]`` -> ``(state [B, S], one-hot [B, T])``, as in 0.1.

    Use :func:`state_and_task_ids`, which gives int64 task ids instead of the one-hot.
    """
    warnings.warn(
        "modnet_sb3.split_observation is deprecated; use state_and_task_ids (ids, not the one-hot)",
        DeprecationWarning,
        stacklevel=2,
    )
    obs = obs.float()
    return obs[:, :-num_tasks], obs[:, -num_tasks:]


def check_task_columns(
    obs: np.ndarray, num_tasks: int, *, where: str, distinct: bool = True
) -> None:
    """Deprecated: :func:`check_task_observations` with ``distinct=True`` (0.1's default)."""
    warnings.warn(
        "modnet_sb3.check_task_columns is deprecated; use check_task_observations",
        DeprecationWarning,
        stacklevel=2,
    )
    check_task_observations(obs, num_tasks, where=where, distinct=distinct)
