"""``MetaWorldAgent``: run an SB3 model under Meta-World's own evaluation.

Meta-World 3's ``metaworld.evaluation.evaluation(agent, envs, num_episodes)`` drives an
agent with two methods: ``eval_action(observations [N, 39 + T]) -> actions [N, 4]``
and ``reset(env_mask [N])``, called with the columns whose episode just ended.
"""

from __future__ import annotations

import numpy as np

from modnet.errors import ConfigError, mismatch

from .evaluation import Predictor

__all__ = ["MetaWorldAgent"]


class MetaWorldAgent:
    """Meta-World's ``Agent`` protocol over anything with SB3's ``predict``.

    Args:
        model: an SB3 model or policy (or ``ScriptedExpert``); its observation must be
            Meta-World's: 39 state entries then the task one-hot, as
            ``gym.make_vec("Meta-World/MT10", use_one_hot=True)`` and ``make_env`` give.
        deterministic: act with the mean action (the evaluation setting).

    SB3's feed-forward policies (this project's included) keep no state between
    steps, so ``reset`` has nothing to clear. Recurrent policies are not supported.
    """

    def __init__(self, model: Predictor, *, deterministic: bool = True) -> None:
        if not callable(getattr(model, "predict", None)):
            raise ConfigError(
                mismatch(
                    "MetaWorldAgent",
                    "model",
                    "have a predict(obs, deterministic=True) method",
                    type(model).__name__,
                )
            )
        self.model = model
        self.deterministic = deterministic

    def eval_action(self, observations: np.ndarray) -> np.ndarray:
        """Actions for a batch of observations: ``[N, 39 + T] -> [N, 4]``."""
        actions, _ = self.model.predict(np.asarray(observations), deterministic=self.deterministic)
        return np.asarray(actions, dtype=np.float64)

    def reset(self, env_mask: np.ndarray) -> None:
        """Columns in ``env_mask`` (``[N]`` bool) start a new episode; nothing to clear."""
