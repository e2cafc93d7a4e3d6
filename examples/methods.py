"""Each method of the comparison as (policy, policy_kwargs, loss reweighting) for ``MTSAC``.

Every method trains with the same multi-task SAC (``modnet_sb3.MTSAC``: a temperature
per task, gradient clipping, task-balanced batches); they differ in the network of
the actor and critics and in the per-task loss weights:

==================  =======================================  =================
method              network (actor and each critic)          reweight
==================  =======================================  =================
soft-shallow        SoftRoutedMLP L=2, n=2, d=256             inverse_alpha
soft-deep           SoftRoutedMLP L=4, n=4, d=128             inverse_alpha
soft-no-balance     as soft-shallow (paper 5.7 ablation)      none
hard-routing        SoftRoutedMLP, hard routing, 4x4          none
topk                SoftRoutedMLP L=4, n=4, d=128, top-2      inverse_alpha
mt-sac              SB3 MLP [400, 400, 400] on (s, one-hot)   none
mlp-matched         SB3 MLP, 3 layers, widths matched to      none
                    soft-shallow's parameter count
mt-mh-sac           MultiHeadMLP trunk [400, 400], head 400   none
moe                 MixtureOfExperts, 4 experts [400]*3       none
==================  =======================================  =================

The paper's baselines use no loss reweighting (REFERENCE.md, "Baselines"); hard
routing is one of them. ``topk`` is this library's addition on the soft-modular
recipe, so it keeps the reweighting.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from gymnasium import spaces

__all__ = ["MethodSpec", "count_parameters", "matched_mlp_widths", "method_spec"]

SHALLOW = {"num_layers": 2, "num_modules": 2, "module_features": 256}
DEEP = {"num_layers": 4, "num_modules": 4, "module_features": 128}
MLP_DEPTH = 3  # MT-SAC's [400, 400, 400]


class MethodSpec(NamedTuple):
    """How to build one method: ``MTSAC(policy, env, policy_kwargs=..., reweight=...)``."""

    policy: str
    policy_kwargs: dict[str, Any]
    reweight: str


def method_spec(method: str, *, num_tasks: int) -> MethodSpec:
    """The policy, its kwargs and the loss weighting of ``method`` (all but mlp-matched)."""
    task = {"num_tasks": num_tasks}
    specs = {
        "soft-shallow": MethodSpec("SoftModularPolicy", {**task, **SHALLOW}, "inverse_alpha"),
        "soft-deep": MethodSpec("SoftModularPolicy", {**task, **DEEP}, "inverse_alpha"),
        "soft-no-balance": MethodSpec("SoftModularPolicy", {**task, **SHALLOW}, "none"),
        "hard-routing": MethodSpec(
            "SoftModularPolicy", {**task, **DEEP, "routing": "hard"}, "none"
        ),
        "topk": MethodSpec(
            "SoftModularPolicy",
            {**task, **DEEP, "routing": "topk", "routing_kwargs": {"k": 2}},
            "inverse_alpha",
        ),
        "mt-sac": MethodSpec("MlpPolicy", {"net_arch": [400] * MLP_DEPTH}, "none"),
        "mt-mh-sac": MethodSpec(
            "MultiHeadPolicy", {**task, "trunk_sizes": [400, 400], "head_sizes": [400]}, "none"
        ),
        "moe": MethodSpec(
            "MixtureOfExpertsPolicy",
            {**task, "num_experts": 4, "hidden_sizes": [400] * MLP_DEPTH},
            "none",
        ),
    }
    if method == "mlp-matched":
        raise ValueError("method_spec: mlp-matched depends on the env; use matched_mlp_spec")
    return specs[method]


def count_parameters(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def _policy_counts(policy_class: type, policy_kwargs: dict[str, Any], obs, act) -> tuple[int, int]:
    """(actor, one critic) parameter counts of a SAC policy built on these spaces."""
    policy = policy_class(obs, act, lambda _: 3e-4, **policy_kwargs)
    n_critics = policy_kwargs.get("n_critics", 2)
    return count_parameters(policy.actor), count_parameters(policy.critic) // n_critics


def matched_mlp_widths(
    obs_dim: int, action_dim: int, actor_target: int, critic_target: int
) -> tuple[int, int]:
    """Widths w of 3-hidden-layer MLPs whose parameter counts are closest to the targets.

    SB3's actor: (D+1)w + 2(w+1)w + 2(w+1)A (mean and log-std heads); a critic:
    (D+A+1)w + 2(w+1)w + (w+1). Each is 2w^2 + bw + c; solve for w, then round.
    """

    def solve(b: float, c: float, target: int) -> int:
        root = (-b + math.sqrt(b * b - 8 * (c - target))) / 4
        candidates = {max(1, math.floor(root)), math.ceil(root)}
        return min(candidates, key=lambda w: abs(2 * w * w + b * w + c - target))

    actor = solve(obs_dim + 1 + 2 + 2 * action_dim, 2 * action_dim, actor_target)
    critic = solve(obs_dim + action_dim + 1 + 2 + 1, 1, critic_target)
    return actor, critic


def matched_mlp_spec(
    observation_space: spaces.Box, action_space: spaces.Box, *, num_tasks: int
) -> tuple[MethodSpec, dict[str, int]]:
    """mlp-matched: SB3 MLPs as deep as MT-SAC, as large as soft-shallow's networks.

    Returns the spec and the four parameter counts (soft-shallow's and the MLP's, for
    the actor and one critic), measured on the built policies, for the run record.
    """
    from stable_baselines3.sac.policies import SACPolicy

    from modnet_sb3 import SoftModularPolicy

    soft = method_spec("soft-shallow", num_tasks=num_tasks)
    soft_actor, soft_critic = _policy_counts(
        SoftModularPolicy, soft.policy_kwargs, observation_space, action_space
    )
    actor_w, critic_w = matched_mlp_widths(
        observation_space.shape[0], action_space.shape[0], soft_actor, soft_critic
    )
    kwargs = {"net_arch": {"pi": [actor_w] * MLP_DEPTH, "qf": [critic_w] * MLP_DEPTH}}
    mlp_actor, mlp_critic = _policy_counts(SACPolicy, kwargs, observation_space, action_space)
    counts = {
        "soft_shallow_actor": soft_actor,
        "soft_shallow_critic": soft_critic,
        "mlp_actor": mlp_actor,
        "mlp_critic": mlp_critic,
    }
    return MethodSpec("MlpPolicy", kwargs, "none"), counts
