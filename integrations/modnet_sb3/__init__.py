"""Stable-Baselines3 integration of modnet: multi-task SAC with Soft Modularization.

``from modnet_sb3 import SoftModularPolicy, MTSAC, TaskBalancedReplayBuffer``. Needs the
``sb3`` extra: ``pip install "modnet-rl[sb3]"``. Small envs for tests live in
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
    CAREPolicy,
    FiLMPolicy,
    MixtureOfExpertsPolicy,
    MOOREPolicy,
    MultiHeadPolicy,
    PaCoPolicy,
    SoftModularPolicy,
    TaskConditionedPolicy,
)
from modnet_sb3.task_observation import (
    TaskObservation,
    check_task_columns,
    check_task_observations,
    declared_num_tasks,
    split_observation,
    state_and_task_ids,
)

__all__ = [
    "CAREPolicy",
    "FiLMPolicy",
    "MOOREPolicy",
    "MTSAC",
    "REWEIGHTS",
    "MixtureOfExpertsPolicy",
    "ModuleEnsemble",
    "MultiHeadPolicy",
    "PaCoPolicy",
    "SoftModularPolicy",
    "TaskActor",
    "TaskBalancedReplayBuffer",
    "TaskConditionedPolicy",
    "TaskCritic",
    "TaskObservation",
    "check_task_columns",
    "check_task_observations",
    "clip_grad_norm_per_member_",
    "declared_num_tasks",
    "record_routing_diagnostics",
    "routing_statistics",
    "split_observation",
    "state_and_task_ids",
    "task_loss_weights",
    "temperature_loss",
]

# MTSAC's string aliases for issue #14's policies, so methods and saved models can name them.
MTSAC.policy_aliases.update({"CAREPolicy": CAREPolicy, "PaCoPolicy": PaCoPolicy})
MTSAC.policy_aliases.update({"MOOREPolicy": MOOREPolicy, "FiLMPolicy": FiLMPolicy})

# The toy envs moved to modnet_sb3.testing in 0.2; the old names still resolve, with a
# DeprecationWarning, until 0.3.
_MOVED_TO_TESTING = (
    "PointReachEnv",
    "RandomStateEnv",
    "make_point_reach_vec_env",
    "make_random_state_vec_env",
)


def __getattr__(name: str) -> object:
    if name in _MOVED_TO_TESTING:
        import warnings

        from modnet_sb3 import testing

        warnings.warn(
            f"modnet_sb3.{name} moved to modnet_sb3.testing (test support, not the public API)",
            DeprecationWarning,
            stacklevel=2,
        )
        return getattr(testing, name)
    raise AttributeError(f"module 'modnet_sb3' has no attribute {name!r}")
