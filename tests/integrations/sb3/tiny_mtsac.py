"""A tiny ``MTSAC`` on the point-reach toy env with task-balanced batches, for the sb3 tests.

Importable as ``tiny_mtsac`` from the test files in ``tests/integrations/sb3`` (pytest
puts a test file's folder on ``sys.path``).
"""

from __future__ import annotations

from typing import Any

from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer
from modnet_sb3.testing import make_point_reach_vec_env

#: Tasks of the toy env (one env each).
T = 3


def balanced_mtsac(policy: Any = "MlpPolicy", **kwargs: Any) -> MTSAC:
    """``MTSAC`` with ``TaskBalancedReplayBuffer``, seed 0 on the CPU, updates from
    ``3 T`` env steps on batches of ``4 T``; ``kwargs`` add to or replace these (the
    policy's default: an MLP ``[16, 16]``)."""
    settings: dict[str, Any] = {
        "policy_kwargs": {"net_arch": [16, 16]},
        "replay_buffer_class": TaskBalancedReplayBuffer,
        "learning_starts": 3 * T,
        "batch_size": 4 * T,
        "seed": 0,
        "device": "cpu",
    }
    return MTSAC(policy, make_point_reach_vec_env(T, seed=0), **{**settings, **kwargs})
