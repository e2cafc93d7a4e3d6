"""SAC policies whose actor and critics are task-conditioned networks from :mod:`modnet`.

- :class:`SoftModularPolicy`: the paper's Soft Modularization (``SoftRoutedMLP``);
  ``routing="hard"`` gives the paper's Hard Routing baseline.
- :class:`MultiHeadPolicy`: MT-MH-SAC (``MultiHeadMLP``, one output head per task).
- :class:`MixtureOfExpertsPolicy`: Mixture of Experts (``MixtureOfExperts``).

MT-SAC itself is SB3's ``MlpPolicy`` on the one-hot observation.

Observations are flat, with the task one-hot in the last ``num_tasks`` columns
(Meta-World's convention). The actor and each of the ``n_critics`` critics are
independent networks, each with its own routing; a critic reads ``cat(state, action)``
and the task. The critics run together: stacked parameters, evaluated in one call
(``SoftRoutedMLP.ensemble_forward`` where the network has one, ``vmap`` otherwise).

SB3 pitfalls handled here: ``SACPolicy.__init__`` calls ``_build``, so every setting
is stored before ``super().__init__``; no keyword argument is hard-coded into the
``super().__init__`` call (``load`` re-sends every constructor parameter); tuples that
come back from ``save``/``load`` as lists are turned back into tuples.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

import modnet
from modnet.errors import ConfigError, mismatch
from modnet_sb3.networks import TaskActor, TaskCritic

__all__ = [
    "METAWORLD_STATE_DIM",
    "MixtureOfExpertsPolicy",
    "MultiHeadPolicy",
    "SoftModularPolicy",
    "TaskConditionedPolicy",
]

# Meta-World 3's observation is 39 floats followed by the task one-hot; with
# ``num_tasks=None`` a policy reads the one-hot width off that convention.
METAWORLD_STATE_DIM = 39

ROUTING_NAMES = ("soft", "hard", "topk")
VARIANTS = ("official", "paper")


def _as_tuple(value: Any) -> Any:
    # SB3's save/load turns tuples in policy_kwargs into lists.
    return tuple(value) if isinstance(value, list) else value


def resolve_num_tasks(observation_space: spaces.Space, num_tasks: int | None, where: str) -> int:
    """Check the observation space against ``num_tasks`` (or infer it) and return ``T``.

    The observation must be a flat Box of width ``S + T`` with ``S >= 1``. With
    ``num_tasks=None``, ``T`` is inferred from Meta-World's layout (``S = 39``).
    Declared bounds of the one-hot columns must admit 0 and 1.
    """
    if not isinstance(observation_space, spaces.Box) or len(observation_space.shape) != 1:
        raise ConfigError(
            mismatch(
                where,
                "observation_space",
                "be a flat Box (state + task one-hot)",
                observation_space,
            )
        )
    width = int(observation_space.shape[0])
    if num_tasks is None:
        if width <= METAWORLD_STATE_DIM:
            raise ConfigError(
                mismatch(
                    where,
                    "num_tasks",
                    f"be given in policy_kwargs (it is inferred only for Meta-World's "
                    f"{METAWORLD_STATE_DIM}-dim state + one-hot); observation width is {width}, got",
                    None,
                )
            )
        num_tasks = width - METAWORLD_STATE_DIM
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, (int, np.integer)) or num_tasks < 1:
        raise ConfigError(mismatch(where, "num_tasks", "be an int >= 1", repr(num_tasks)))
    num_tasks = int(num_tasks)
    if width <= num_tasks:
        raise ConfigError(
            mismatch(
                where,
                "observation width",
                f"hold a state and the {num_tasks}-column task one-hot (be > num_tasks={num_tasks})",
                width,
            )
        )
    low = observation_space.low[-num_tasks:]
    high = observation_space.high[-num_tasks:]
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


class TaskConditionedPolicy(SACPolicy):
    """Base of the multi-task SAC policies: actor and critics are ``network_class`` instances.

    A subclass names its default network class and which constructor arguments go to
    the network (:meth:`_network_kwargs`). SB3's MLP arguments (``net_arch``,
    ``activation_fn``) do not apply; ``use_sde`` and ``share_features_extractor`` are
    refused.

    Args:
        observation_space: flat Box, state followed by the task one-hot.
        action_space: Box.
        lr_schedule: SB3's learning-rate schedule.
        num_tasks: ``T``; ``None`` infers it from Meta-World's layout (39 + T columns).
        network_class: the network of the actor and every critic, called as
            ``network_class(in_features=..., out_features=..., num_tasks=T, **network settings)``.
        vmap_critics: run the critics together (stacked parameters, one call through the
            network's ``ensemble_forward`` if it has one, else ``vmap``); ``False`` runs
            them one after the other.
        n_critics: number of critics (2 in SAC).
        optimizer_class, optimizer_kwargs: the optimiser of actor and critics.
        Other arguments: SB3's ``SACPolicy`` arguments, accepted so that SB3 can re-create
            the policy on ``load``.
    """

    # Name of the default network in the ``modnet`` namespace (looked up at build time).
    default_network: ClassVar[str]
    actor: TaskActor
    critic: TaskCritic
    critic_target: TaskCritic

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        use_sde: bool = False,
        log_std_init: float = -3,
        use_expln: bool = False,
        clip_mean: float = 2.0,
        features_extractor_class: type[BaseFeaturesExtractor] = FlattenExtractor,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = True,
        optimizer_class: type[torch.optim.Optimizer] = torch.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        *,
        num_tasks: int | None = None,
        network_class: type[nn.Module] | None = None,
        vmap_critics: bool = True,
    ) -> None:
        where = type(self).__name__
        if use_sde:
            raise ConfigError(
                mismatch(
                    where,
                    "use_sde",
                    "be False (gSDE needs SB3's MLP latent features; these networks output "
                    "mean and log-std directly)",
                    use_sde,
                )
            )
        if share_features_extractor:
            raise ConfigError(
                mismatch(
                    where,
                    "share_features_extractor",
                    "be False (actor and critics are independent networks, as in the paper)",
                    share_features_extractor,
                )
            )
        if net_arch is not None:
            raise ConfigError(
                mismatch(
                    where,
                    "net_arch",
                    "be None (set the network through its own policy_kwargs, e.g. "
                    "num_layers/num_modules/module_features)",
                    net_arch,
                )
            )
        if not isinstance(action_space, spaces.Box):
            raise ConfigError(
                mismatch(where, "action_space", "be a gymnasium.spaces.Box", action_space)
            )
        if isinstance(n_critics, bool) or not isinstance(n_critics, int) or n_critics < 1:
            raise ConfigError(mismatch(where, "n_critics", "be an int >= 1", repr(n_critics)))
        # Stored before super().__init__, which calls _build -> make_actor/make_critic.
        self.num_tasks = resolve_num_tasks(observation_space, num_tasks, where)
        self.network_class = (
            network_class if network_class is not None else getattr(modnet, self.default_network)
        )
        self.vmap_critics = bool(vmap_critics)
        self._n_critics = n_critics
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch,
            activation_fn,
            use_sde,
            log_std_init,
            use_expln,
            clip_mean,
            features_extractor_class,
            features_extractor_kwargs,
            normalize_images,
            optimizer_class,
            optimizer_kwargs,
            n_critics,
            share_features_extractor,
        )

    def _network_kwargs(self) -> dict[str, Any]:
        """The settings passed to ``network_class`` besides the input/output sizes."""
        raise NotImplementedError

    def _own_constructor_parameters(self) -> dict[str, Any]:
        """This class's own constructor arguments, re-emitted on save."""
        return {
            "num_tasks": self.num_tasks,
            "network_class": self.network_class,
            "vmap_critics": self.vmap_critics,
        }

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["net_arch"] = None  # SACPolicy stores its [256, 256] default; these nets ignore it
        data.update(self._own_constructor_parameters())
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> TaskActor:
        return TaskActor(
            self.observation_space,  # type: ignore[arg-type]
            self.action_space,  # type: ignore[arg-type]
            num_tasks=self.num_tasks,
            network_class=self.network_class,
            network_kwargs=self._network_kwargs(),
            normalize_images=self.normalize_images,
        ).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> TaskCritic:
        return TaskCritic(
            self.observation_space,  # type: ignore[arg-type]
            self.action_space,  # type: ignore[arg-type]
            num_tasks=self.num_tasks,
            network_class=self.network_class,
            network_kwargs=self._network_kwargs(),
            n_critics=self._n_critics,
            vmap_critics=self.vmap_critics,
            normalize_images=self.normalize_images,
        ).to(self.device)


class SoftModularPolicy(TaskConditionedPolicy):
    """SAC policy with Soft Modularization networks (Yang et al., 2020) for actor and critics.

    The defaults are the paper's Shallow configuration (``num_layers=2, num_modules=2,
    module_features=256``); Deep is ``num_layers=4, num_modules=4, module_features=128``.

    Args (besides :class:`TaskConditionedPolicy`'s):
        num_layers: ``L``, module layers (>= 2).
        num_modules: ``n``, modules per layer.
        module_features: ``d``, width of each module.
        routing: ``"soft"`` (the paper), ``"hard"`` (the Hard Routing baseline),
            ``"topk"`` (give ``routing_kwargs={"k": ...}``), a routing config, or a
            ``RoutingStrategy`` instance (copied into every network).
        variant: ``"official"`` (the authors' network) or ``"paper"`` (the printed equations).
        hidden_features: width of the state encoder and task embedding (400).
        routing_features: width of the routing trunk (256).
        routing_kwargs: arguments of the named routing strategy.
        network_class: ``SoftRoutedMLP`` (default) or a class with the same constructor
            and forward, e.g. ``modnet.reference.LoopSoftRoutedMLP``.
    """

    default_network = "SoftRoutedMLP"

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        num_layers: int = 2,
        num_modules: int = 2,
        module_features: int = 256,
        routing: Any = "soft",
        variant: str = "official",
        hidden_features: int = 400,
        routing_features: int = 256,
        routing_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        where = type(self).__name__
        if isinstance(routing, str) and routing not in ROUTING_NAMES:
            raise ConfigError(
                mismatch(where, "routing", f"be one of {list(ROUTING_NAMES)}", repr(routing))
            )
        if variant not in VARIANTS:
            raise ConfigError(
                mismatch(where, "variant", f"be one of {list(VARIANTS)}", repr(variant))
            )
        self.num_layers = num_layers
        self.num_modules = num_modules
        self.module_features = module_features
        # object.__setattr__: a RoutingStrategy instance is an nn.Module, and nn.Module
        # refuses (and would register) a module attribute before Module.__init__. It is
        # only a template: every network gets its own deep copy.
        object.__setattr__(self, "routing", routing)
        self.variant = variant
        self.hidden_features = hidden_features
        self.routing_features = routing_features
        self.routing_kwargs = dict(routing_kwargs) if routing_kwargs else None
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _network_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "num_layers": self.num_layers,
            "num_modules": self.num_modules,
            "module_features": self.module_features,
            "routing": self.routing,
            "variant": self.variant,
            "hidden_features": self.hidden_features,
            "routing_features": self.routing_features,
        }
        if self.routing_kwargs:
            kwargs["routing_kwargs"] = self.routing_kwargs
        return kwargs

    def _own_constructor_parameters(self) -> dict[str, Any]:
        data = super()._own_constructor_parameters()
        data.update(self._network_kwargs())
        data["routing_kwargs"] = self.routing_kwargs
        return data


class MultiHeadPolicy(TaskConditionedPolicy):
    """MT-MH-SAC: actor and critics are ``MultiHeadMLP`` (a shared trunk, one head per task).

    Args (besides :class:`TaskConditionedPolicy`'s):
        trunk_sizes: hidden widths of the shared trunk (paper: ``(400, 400)``).
        head_sizes: hidden widths of each task's head (paper: ``(400,)``).
    """

    default_network = "MultiHeadMLP"

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        trunk_sizes: tuple[int, ...] = (400, 400),
        head_sizes: tuple[int, ...] = (400,),
        **kwargs: Any,
    ) -> None:
        self.trunk_sizes = _as_tuple(trunk_sizes)
        self.head_sizes = _as_tuple(head_sizes)
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _network_kwargs(self) -> dict[str, Any]:
        return {"trunk_sizes": self.trunk_sizes, "head_sizes": self.head_sizes}

    def _own_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._own_constructor_parameters(), **self._network_kwargs()}


class MixtureOfExpertsPolicy(TaskConditionedPolicy):
    """Mixture of Experts: actor and critics are ``MixtureOfExperts`` with a task-conditioned gate.

    Args (besides :class:`TaskConditionedPolicy`'s):
        num_experts: number of expert MLPs (paper: 4).
        hidden_sizes: hidden widths of each expert (paper: ``(400, 400, 400)``).
    """

    default_network = "MixtureOfExperts"

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Space,
        lr_schedule: Schedule,
        *args: Any,
        num_experts: int = 4,
        hidden_sizes: tuple[int, ...] = (400, 400, 400),
        **kwargs: Any,
    ) -> None:
        self.num_experts = num_experts
        self.hidden_sizes = _as_tuple(hidden_sizes)
        super().__init__(observation_space, action_space, lr_schedule, *args, **kwargs)

    def _network_kwargs(self) -> dict[str, Any]:
        return {"num_experts": self.num_experts, "hidden_sizes": self.hidden_sizes}

    def _own_constructor_parameters(self) -> dict[str, Any]:
        return {**super()._own_constructor_parameters(), **self._network_kwargs()}
