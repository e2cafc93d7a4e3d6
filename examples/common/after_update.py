"""A callback that acts where a step is complete: its transitions stored, its update made.

SB3's ``on_step`` comes right after ``env.step``, before the step's transitions go to
the replay buffer and before ``train()``: a checkpoint taken there misses one update
and one transition per task, and a resumed run cannot continue it exactly. The next
callback point of SB3's off-policy loop is ``on_rollout_start`` of the following
rollout (after ``train()``), and ``on_training_end`` after the last one. With
``train_freq=1`` (every preset here) that is once per VecEnv step.
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

__all__ = ["AfterUpdateCallback"]


class AfterUpdateCallback(BaseCallback):
    """Calls ``_after_update()`` after every ``train()`` (and once at the start of ``learn``).

    ``at_boundary`` tells whether every env column ended its episode on the last step
    (the VecEnv has reset them all): the state a rebuilt, reseeded env reproduces
    exactly. ``episode_steps`` counts each column's steps into its running episode.
    """

    def __init__(self) -> None:
        super().__init__()
        self.at_boundary = True  # learn() starts on freshly reset envs
        self.episode_steps: np.ndarray | None = None

    def _on_training_start(self) -> None:
        self.at_boundary = True
        self.episode_steps = np.zeros(self.training_env.num_envs, dtype=np.int64)

    def _on_step(self) -> bool:
        dones = np.asarray(self.locals["dones"], dtype=bool)
        self.at_boundary = bool(dones.all())
        if self.episode_steps is not None:
            self.episode_steps = np.where(dones, 0, self.episode_steps + 1)
        return True

    def _on_rollout_start(self) -> None:
        self._after_update()

    def _on_training_end(self) -> None:
        self._after_update()

    def _after_update(self) -> None:
        """Override: the model, replay buffer and envs are at a consistent point."""
