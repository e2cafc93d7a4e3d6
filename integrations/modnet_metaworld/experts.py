"""``ScriptedExpert``: Meta-World's hand-written policies behind SB3's ``predict``.

Meta-World ships one scripted policy per task (``metaworld.policies.ENV_POLICY_MAP``).
They solve about 97% of MT10 episodes, so they are an answer known from outside this
project: an evaluation that scores them low is wrong.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from modnet.errors import ShapeError, mismatch

from .suites import Benchmark, check_benchmark, task_names

__all__ = ["ScriptedExpert"]

STATE_FEATURES = 39
"""Meta-World 3's state size; the task one-hot follows it."""


class ScriptedExpert:
    """Routes each observation row to its task's scripted policy, read from the one-hot.

    Args:
        benchmark: ``"MT10"`` or ``"MT50"``; fixes the one-hot width ``T``.

    ``predict(obs, deterministic=True)`` follows SB3's signature: ``obs`` is
    ``[B, 39 + T]`` (or one row ``[39 + T]``) and the result is ``(actions [B, 4], None)``.
    The policies are deterministic, so ``deterministic`` changes nothing.
    """

    def __init__(self, benchmark: Benchmark = "MT10") -> None:
        from metaworld.policies import ENV_POLICY_MAP

        check_benchmark(benchmark, "ScriptedExpert")
        self.benchmark = benchmark
        self.task_names = task_names(benchmark)
        self.num_tasks = len(self.task_names)
        self._policies = [ENV_POLICY_MAP[name]() for name in self.task_names]

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, None]:
        """Actions of the scripted policies: ``[B, 39 + T] -> [B, 4]`` (or ``[39 + T] -> [4]``)."""
        obs = np.asarray(observation, dtype=np.float64)
        single = obs.ndim == 1
        rows = obs[None] if single else obs
        width = STATE_FEATURES + self.num_tasks
        if rows.ndim != 2 or rows.shape[1] != width:
            raise ShapeError(
                mismatch(
                    "ScriptedExpert.predict",
                    "observation",
                    f"have shape (batch, {width})",
                    obs.shape,
                )
            )
        one_hot = rows[:, STATE_FEATURES:]
        if not (np.all((one_hot == 0.0) | (one_hot == 1.0)) and np.all(one_hot.sum(axis=1) == 1.0)):
            raise ShapeError(
                mismatch(
                    "ScriptedExpert.predict",
                    "observation",
                    f"end with a task one-hot of width {self.num_tasks}",
                    one_hot,
                )
            )
        # A Python loop over rows: the experts are the outside reference, not a hot path.
        with warnings.catch_warnings():
            # The policies' gains trip Meta-World's own "Constant(s) may be too high"
            # warning on every call; the env clips actions to [-1, 1] anyway.
            warnings.filterwarnings("ignore", message="Constant", category=UserWarning)
            actions = np.stack(
                [
                    self._policies[int(task)].get_action(row[:STATE_FEATURES])
                    for task, row in zip(one_hot.argmax(axis=1), rows, strict=True)
                ]
            ).astype(np.float32)
        actions = np.clip(actions, -1.0, 1.0)
        return (actions[0] if single else actions), None
