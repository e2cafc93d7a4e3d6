"""Stable-Baselines3 integration of modnet: multi-task SAC with Soft Modularization.

``from modnet_sb3 import SoftModularPolicy, MTSAC, TaskBalancedReplayBuffer``. Needs the
``sb3`` extra: ``pip install "modnet[sb3]"``. Small envs for tests live in
:mod:`modnet_sb3.testing` (not re-exported here).
"""

from modnet.errors import missing_dependency

try:
    import stable_baselines3  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise missing_dependency("stable-baselines3", "sb3") from exc

from modnet_sb3.buffers import TaskBalancedReplayBuffer
from modnet_sb3.critic_ensemble import ModuleEnsemble, clip_grad_norm_per_member_
from modnet_sb3.diagnostics import record_routing_diagnostics, routing_statistics
from modnet_sb3.mtsac import MTSAC, REWEIGHTS, task_loss_weights, temperature_loss
from modnet_sb3.networks import TaskActor, TaskCritic
from modnet_sb3.policies import (
    MixtureOfExpertsPolicy,
    MultiHeadPolicy,
    SoftModularPolicy,
    TaskConditionedPolicy,
)
from modnet_sb3.task_observation import (
    TaskObservation,
    check_task_observations,
    declared_num_tasks,
    split_observation,
)

__all__ = [
    "MTSAC",
    "REWEIGHTS",
    "MixtureOfExpertsPolicy",
    "ModuleEnsemble",
    "MultiHeadPolicy",
    "SoftModularPolicy",
    "TaskActor",
    "TaskBalancedReplayBuffer",
    "TaskConditionedPolicy",
    "TaskCritic",
    "TaskObservation",
    "check_task_observations",
    "clip_grad_norm_per_member_",
    "declared_num_tasks",
    "record_routing_diagnostics",
    "routing_statistics",
    "split_observation",
    "task_loss_weights",
    "temperature_loss",
]
