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
mt-sac-pcgrad       as mt-sac; PCGrad on the per-task losses  none
mt-sac-gradnorm     as mt-sac; GradNorm α = 0.12 (critic)     none
mt-sac-cagrad       as mt-sac; CAGrad, c = 0.9                none
mt-sac-famo         as mt-sac; FAMO (critic)                  none
care                CARE, 6 encoders [50, 50], trunk [400]*3  none
                    (10 encoders at T >= 50)
paco                PaCo, K=5 sets of [400]*3; extreme       none
                    tasks masked and their w reset
moore               MOORE, 4 orthogonal experts [400]*3,     none
                    a head per task (6 experts at T >= 50)
film                FiLMMLP, encoder [50, 50] -> 50,         none
                    trunk [400]*3
==================  =======================================  =================

The paper's baselines use no loss reweighting (REFERENCE.md, "Baselines"); hard
routing is one of them. ``topk`` is this library's addition on the soft-modular
recipe, so it keeps the reweighting.

``METHODS`` is the one list of methods: ``TrainSettings`` validates ``--method``
against it and the commands offer its names in ``--help``. ``register_method`` adds
one, as a fixed ``MethodSpec`` or as a function of the run's env (mlp-matched's
widths depend on the observation and action sizes).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from gymnasium import spaces

from examples.common.choices import quoted_choices
from modnet import SoftRoutedMLP
from modnet.errors import ConfigError, mismatch
from modnet_sb3 import MTSAC, REWEIGHTS, TaskConditionedPolicy

__all__ = [
    "METHODS",
    "MethodBuilder",
    "MethodSpec",
    "build_method",
    "count_parameters",
    "matched_mlp_spec",
    "matched_mlp_widths",
    "register_method",
    "unregister_method",
]

# The paper's two network sizes, as the core defines them.
SHALLOW = SoftRoutedMLP.PRESETS["shallow"]
DEEP = SoftRoutedMLP.PRESETS["deep"]
MLP_DEPTH = 3  # MT-SAC's [400, 400, 400]


class MethodSpec(NamedTuple):
    """How to build one method: ``MTSAC(policy, env, policy_kwargs=..., reweight=...)``.

    ``policy_kwargs`` go to the policy as they are (a ``routing`` name included), so
    any option the policy takes can be set here. ``record`` holds what the run record
    keeps about the method besides these three (mlp-matched: its parameter counts).
    ``algorithm_kwargs`` go to ``MTSAC`` itself (e.g. ``gradient_method``).
    """

    policy: str
    policy_kwargs: dict[str, Any]
    reweight: str
    record: Mapping[str, Any] = MappingProxyType({})
    algorithm_kwargs: Mapping[str, Any] = MappingProxyType({})


MethodBuilder = Callable[[spaces.Box, spaces.Box, int], MethodSpec]
"""``build(observation_space, action_space, num_tasks)``: a method that depends on the env."""

METHODS: dict[str, MethodSpec | MethodBuilder] = {}
"""Every method by name, in the order the commands list them."""


def register_method(name: str, method: MethodSpec | MethodBuilder) -> None:
    """Add a method to ``METHODS``, under a name not taken yet.

    A fixed ``MethodSpec`` is checked now (a policy ``MTSAC`` knows, a known reweight);
    a builder's spec is checked by ``MTSAC`` when the run builds it. Either way,
    ``num_tasks`` is added to the kwargs of a policy that reads the task one-hot.
    """
    where = "register_method"
    if not isinstance(name, str) or not name:
        raise ConfigError(mismatch(where, "name", "be a non-empty str", repr(name)))
    if name in METHODS:
        raise ConfigError(
            mismatch(where, "name", f"be new, not one of {quoted_choices(METHODS)}", repr(name))
        )
    if isinstance(method, MethodSpec):
        if method.policy not in MTSAC.policy_aliases:
            allowed = quoted_choices(MTSAC.policy_aliases)
            raise ConfigError(
                mismatch(where, "policy", f"be one of {allowed}", repr(method.policy))
            )
        if method.reweight not in REWEIGHTS:
            allowed = quoted_choices(REWEIGHTS)
            raise ConfigError(
                mismatch(where, "reweight", f"be one of {allowed}", repr(method.reweight))
            )
    elif not callable(method):
        raise ConfigError(
            mismatch(where, "method", "be a MethodSpec or a function of the env", repr(method))
        )
    METHODS[name] = method


def unregister_method(name: str) -> None:
    """Remove a method ``register_method`` added (a test's, once it is done)."""
    del METHODS[_known(name, "unregister_method")]


def build_method(
    name: str, observation_space: spaces.Box, action_space: spaces.Box, *, num_tasks: int
) -> MethodSpec:
    """The spec of method ``name`` for a run whose env has these spaces and ``num_tasks`` columns.

    The spec is a fresh copy: SB3 adds keys to the kwargs it gets, and the registry
    must not see them.
    """
    method = METHODS[_known(name, "build_method")]
    if not isinstance(method, MethodSpec):
        method = method(observation_space, action_space, num_tasks)
    kwargs = copy.deepcopy(dict(method.policy_kwargs))
    policy = MTSAC.policy_aliases.get(method.policy)
    if isinstance(policy, type) and issubclass(policy, TaskConditionedPolicy):
        # MTSAC would pass T to such a policy itself; given here, the run record shows it.
        kwargs = {"num_tasks": num_tasks, **kwargs}
    return method._replace(
        policy_kwargs=kwargs, algorithm_kwargs=copy.deepcopy(dict(method.algorithm_kwargs))
    )


def _known(name: str, where: str) -> str:
    if name not in METHODS:
        raise ConfigError(
            mismatch(where, "name", f"be one of {quoted_choices(METHODS)}", repr(name))
        )
    return name


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
    soft = build_method("soft-shallow", observation_space, action_space, num_tasks=num_tasks)
    soft_actor, soft_critic = _policy_counts(
        MTSAC.policy_aliases[soft.policy], soft.policy_kwargs, observation_space, action_space
    )
    actor_w, critic_w = matched_mlp_widths(
        observation_space.shape[0], action_space.shape[0], soft_actor, soft_critic
    )
    kwargs = {"net_arch": {"pi": [actor_w] * MLP_DEPTH, "qf": [critic_w] * MLP_DEPTH}}
    mlp_policy = MTSAC.policy_aliases["MlpPolicy"]
    mlp_actor, mlp_critic = _policy_counts(mlp_policy, kwargs, observation_space, action_space)
    counts = {
        "soft_shallow_actor": soft_actor,
        "soft_shallow_critic": soft_critic,
        "mlp_actor": mlp_actor,
        "mlp_critic": mlp_critic,
    }
    return MethodSpec("MlpPolicy", kwargs, "none"), counts


def _mlp_matched(
    observation_space: spaces.Box, action_space: spaces.Box, num_tasks: int
) -> MethodSpec:
    spec, counts = matched_mlp_spec(observation_space, action_space, num_tasks=num_tasks)
    print(
        "mlp-matched: parameters of the actor / one critic: soft-shallow "
        f"{counts['soft_shallow_actor']:,} / {counts['soft_shallow_critic']:,}, MLP "
        f"{counts['mlp_actor']:,} / {counts['mlp_critic']:,} (net_arch {spec.policy_kwargs['net_arch']})"
    )
    return spec._replace(record={"parameter_counts": counts})


# The comparison, in the order the commands list it (the module docstring's table).
register_method("soft-shallow", MethodSpec("SoftModularPolicy", SHALLOW, "inverse_alpha"))
register_method("soft-deep", MethodSpec("SoftModularPolicy", DEEP, "inverse_alpha"))
register_method("mt-sac", MethodSpec("MlpPolicy", {"net_arch": [400] * MLP_DEPTH}, "none"))
register_method(
    "mt-mh-sac",
    MethodSpec("MultiHeadPolicy", {"trunk_sizes": [400, 400], "head_sizes": [400]}, "none"),
)
register_method(
    "moe",
    MethodSpec(
        "MixtureOfExpertsPolicy", {"num_experts": 4, "hidden_sizes": [400] * MLP_DEPTH}, "none"
    ),
)
register_method(
    "hard-routing", MethodSpec("SoftModularPolicy", {**DEEP, "routing": "hard"}, "none")
)
register_method("mlp-matched", _mlp_matched)
register_method(
    "topk",
    MethodSpec(
        "SoftModularPolicy",
        {**DEEP, "routing": "topk", "routing_kwargs": {"k": 2}},
        "inverse_alpha",
    ),
)
register_method("soft-no-balance", MethodSpec("SoftModularPolicy", SHALLOW, "none"))
# CARE (Sodhani et al. 2021): the Meta-World+ baselines' CAREConfig for MT10 (6 encoders
# of widths [50, 50] -> 50, context and attention MLPs [50, 50], trunk [400]*3; 10 encoders
# on MT50); no loss reweighting, as the other baselines here. docs/architectures/care.md.
CARE_EXPERTS = {10: 6, 50: 10}


def _care(observation_space: spaces.Box, action_space: spaces.Box, num_tasks: int) -> MethodSpec:
    experts = CARE_EXPERTS[50] if num_tasks >= 50 else CARE_EXPERTS[10]
    return MethodSpec("CAREPolicy", {"num_experts": experts}, "none")


register_method("care", _care)
# PaCo (Sun et al. 2022): the official MT10 config (TToTMooN/paco-mtrl): K = 5 parameter
# sets, [400]*3, identical init of the sets, no loss reweighting (temp_reweight=False),
# extreme tasks masked and their w reset by interpolation above a mean loss of 3e3
# (mask_extreme_tasks, reset_task_while_extreme, reset_task_method, task_loss_threshold).
PACO_RULES = {
    "mask_extreme_tasks": True,
    "reset_extreme_tasks": "interpolate",
    "extreme_task_threshold": 3e3,
}
register_method(
    "paco",
    MethodSpec("PaCoPolicy", {"num_parameter_sets": 5}, "none", algorithm_kwargs=PACO_RULES),
)


# MOORE (Hendawy et al. 2024): the authors' Meta-World SAC runs (AhmedMagdyHendawy/MOORE,
# run/metaworld/run_metaworld_mt{10,50}_mhsac_mt_moore.sh): experts [400]*3, a head per
# task, 4 experts on MT10 and 6 on MT50, no loss reweighting. docs/architectures/moore.md.
def _moore(observation_space: spaces.Box, action_space: spaces.Box, num_tasks: int) -> MethodSpec:
    experts = 6 if num_tasks >= 50 else 4  # the paper's MT50 / MT10 settings
    kwargs = {"num_experts": experts, "hidden_sizes": [400] * MLP_DEPTH, "multi_head": True}
    return MethodSpec("MOOREPolicy", kwargs, "none")


register_method("moore", _moore)
# FiLM (Perez et al. 2018) as the Meta-World+ baselines' FiLMConfig: a task embedding of
# 50, a generator and a state encoder of [50, 50] -> 50 with one scale and shift per
# layer, trunk [400]*3; no loss reweighting. docs/architectures/film.md.
register_method("film", MethodSpec("FiLMPolicy", {"modulation": "layer"}, "none"))


# Multi-task gradient methods on the MT-SAC network (modnet.gradient_methods; the
# settings and their sources: docs/gradient_methods.md). The per-task losses replace
# the loss weighting, so reweight is "none" as for MT-SAC.
def _gradient_method(name: str, **kwargs: Any) -> MethodSpec:
    return MethodSpec(
        "MlpPolicy",
        {"net_arch": [400] * MLP_DEPTH},
        "none",
        algorithm_kwargs={"gradient_method": name, "gradient_method_kwargs": kwargs},
    )


register_method("mt-sac-pcgrad", _gradient_method("pcgrad"))
# GradNorm: alpha = 0.12, the Meta-World+ authors' MT10 run (rainx0r/mtrl,
# experiments/mt10_gradnorm.py: asymmetry=0.12, "default from paper", the paper's synthetic
# setting); the weights' learning rate is ours (docs/gradient_methods.md).
register_method("mt-sac-gradnorm", _gradient_method("gradnorm", alpha=0.12, lr=0.025))
# CAGrad: c = 0.9 for MT10 (CAGrad's mtrl_files/run.sh; 0.5 for MT50), rescaled by 1/(1+c^2).
register_method("mt-sac-cagrad", _gradient_method("cagrad", c=0.9))
# FAMO: beta = 0.01 (w_lr), gamma = 1e-3, Adam, critic only (FAMO's mtrl_files/famo_state_sac.yaml).
register_method("mt-sac-famo", _gradient_method("famo", lr=0.01, weight_decay=1e-3))
