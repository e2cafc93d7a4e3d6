"""SAC policies whose actor and critics are task-conditioned networks from :mod:`modnet`.

- :class:`SoftModularPolicy`: the paper's Soft Modularization (``SoftRoutedMLP``);
  ``routing="hard"`` gives the paper's Hard Routing baseline.
- :class:`MultiHeadPolicy`: MT-MH-SAC (``MultiHeadMLP``, one output head per task).
- :class:`MixtureOfExpertsPolicy`: Mixture of Experts (``MixtureOfExperts``).

MT-SAC itself is SB3's ``MlpPolicy`` on the one-hot observation.

Observations are flat, with the task one-hot in the last ``num_tasks`` columns
(:mod:`modnet_sb3.task_observation`). The actor and each of the ``n_critics`` critics
are independent networks, each with its own routing; a critic reads
``cat(state, action)`` and the task. The critics run together: stacked parameters,
evaluated in one call (``SoftRoutedMLP.ensemble_forward`` where the network has one,
``vmap`` otherwise).

A policy's network settings are its network config's fields (``SoftRoutedMLPConfig``
for :class:`SoftModularPolicy`), taken as keyword arguments and validated by the config,
so a setting added to the network is a setting of the policy with no edit here.

SB3 pitfalls handled here: ``SACPolicy.__init__`` calls ``_build``, so every setting
is stored before ``super().__init__``; no keyword argument is hard-coded into the
``super().__init__`` call (``load`` re-sends every constructor parameter); tuples that
come back from ``save``/``load`` as lists are turned back into tuples (by the config).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor
from stable_baselines3.common.type_aliases import Schedule
from stable_baselines3.sac.policies import SACPolicy
from torch import nn

import modnet
from modnet.config import (
    CAREConfig,
    FiLMMLPConfig,
    FrozenConfig,
    MixtureOfExpertsConfig,
    MOOREConfig,
    MultiHeadMLPConfig,
    PaCoConfig,
    SoftRoutedMLPConfig,
)
from modnet.errors import ConfigError, ShapeError, mismatch
from modnet_sb3.networks import TaskActor, TaskCritic
from modnet_sb3.task_observation import check_observation_space, check_task_observations

__all__ = [
    "CAREPolicy",
    "FiLMPolicy",
    "MOOREPolicy",
    "MixtureOfExpertsPolicy",
    "MultiHeadPolicy",
    "PaCoPolicy",
    "SoftModularPolicy",
    "TaskConditionedPolicy",
]


class TaskConditionedPolicy(SACPolicy):
    """Base of the multi-task SAC policies: actor and critics are ``network_class`` instances.

    A subclass names its network config (:attr:`network_config`) and its default
    network; the config's fields other than the three sizes are the policy's network
    settings (:meth:`setting_names`), accepted as keyword arguments, validated by the
    config, stored as attributes and saved with the policy. SB3's MLP arguments
    (``net_arch``, ``activation_fn``) do not apply; ``use_sde`` and
    ``share_features_extractor`` are refused.

    Args:
        observation_space: flat Box, state followed by the task one-hot.
        action_space: Box.
        lr_schedule: SB3's learning-rate schedule.
        num_tasks: ``T``, the width of the one-hot. Required: pass
            ``policy_kwargs={"num_tasks": T}`` (``MTSAC`` fills it in from the env).
        network_class: the network of the actor and every critic, called as
            ``network_class(in_features=..., out_features=..., num_tasks=T, **settings)``.
        vmap_critics: run the critics together (stacked parameters, one call through the
            network's ``ensemble_forward`` if it has one, else ``vmap``); ``False`` runs
            them one after the other.
        n_critics: number of critics (2 in SAC).
        optimizer_class, optimizer_kwargs: the optimiser of actor and critics.
        **settings: the network's settings (see the subclass).

    The other arguments are SB3's ``SACPolicy`` arguments, accepted so that SB3 can
    re-create the policy on ``load``.
    """

    #: The config whose fields (but the sizes) are the network settings.
    network_config: ClassVar[type[FrozenConfig]]
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
        **settings: Any,
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
        if num_tasks is None:
            raise ConfigError(
                mismatch(
                    where,
                    "num_tasks",
                    'be given: pass policy_kwargs={"num_tasks": T}, T the width of the task '
                    "one-hot that ends each observation (MTSAC reads it from the env)",
                    None,
                )
            )
        # Stored before super().__init__, which calls _build -> make_actor/make_critic.
        self.num_tasks = check_observation_space(observation_space, num_tasks, where=where)
        sizes = {
            "in_features": int(observation_space.shape[0]) - self.num_tasks,  # type: ignore[index]
            "out_features": 2 * get_action_dim(action_space),
            "num_tasks": self.num_tasks,
        }
        for name, value in self._validated_settings(where, sizes, settings).items():
            # object.__setattr__: a RoutingStrategy given as `routing` is an nn.Module,
            # which nn.Module refuses (and would register) before Module.__init__. It is
            # only a template: every network gets its own deep copy.
            object.__setattr__(self, name, value)
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

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The network settings this policy takes: its config's fields but the sizes."""
        return cls.network_config.setting_names()

    @classmethod
    def _validated_settings(
        cls, where: str, sizes: dict[str, int], settings: dict[str, Any]
    ) -> dict[str, Any]:
        """Every network setting, validated by the config (defaults filled in)."""
        names = cls.setting_names()
        unknown = [n for n in settings if n not in names]
        if unknown:
            raise ConfigError(
                f"{where}: unknown argument {unknown[0]!r} (got {settings[unknown[0]]!r}); "
                f"known network settings: {', '.join(names)}"
            )
        # Validated with the actor's sizes; the values it returns are what the networks
        # get (pydantic turns lists back into tuples, so save/load round-trips).
        config = cls.network_config.validated(where, **sizes, **settings)
        return {name: getattr(config, name) for name in names}

    def network_settings(self) -> dict[str, Any]:
        """The settings passed to ``network_class`` besides the sizes."""
        return {name: getattr(self, name) for name in self.setting_names()}

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data["net_arch"] = None  # SACPolicy stores its [256, 256] default; these nets ignore it
        data.update(
            num_tasks=self.num_tasks,
            network_class=self.network_class,
            vmap_critics=self.vmap_critics,
            **self.network_settings(),
        )
        return data

    def predict(
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: tuple[np.ndarray, ...] | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, tuple[np.ndarray, ...] | None]:
        """SB3's ``predict``, after checking the observations on the host.

        Every value must be finite and the last ``num_tasks`` columns an exact one-hot
        (a ``ShapeError`` names the env column). Collection (``SAC`` and ``MTSAC``) acts
        through here, so an env that emits a NaN or a wrong one-hot is caught before the
        observation reaches the networks, at no cost to the training step.
        """
        if not isinstance(observation, dict):
            where = f"{type(self).__name__}.predict"
            width = self.observation_space.shape[0]  # type: ignore[index]
            got = np.shape(observation)
            if not got or got[-1] != width:
                raise ShapeError(
                    mismatch(
                        where,
                        "observation",
                        f"have {width} columns (state + the {self.num_tasks}-column one-hot)",
                        got,
                    )
                )
            check_task_observations(observation, self.num_tasks, where=where)
        return super().predict(observation, state, episode_start, deterministic)

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> TaskActor:
        return TaskActor(**self._network_args()).to(self.device)

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> TaskCritic:
        return TaskCritic(
            **self._network_args(), n_critics=self._n_critics, vmap_critics=self.vmap_critics
        ).to(self.device)

    def _network_args(self) -> dict[str, Any]:
        """What the actor and the critics are both built with."""
        return {
            "observation_space": self.observation_space,
            "action_space": self.action_space,
            "num_tasks": self.num_tasks,
            "network_class": self.network_class,
            "network_kwargs": self.network_settings(),
            "normalize_images": self.normalize_images,
        }


class SoftModularPolicy(TaskConditionedPolicy):
    """SAC policy with Soft Modularization networks (Yang et al., 2020) for actor and critics.

    The network settings are :class:`~modnet.config.SoftRoutedMLPConfig`'s fields, with
    its defaults, the paper's Shallow configuration (``num_layers=2, num_modules=2,
    module_features=256``); Deep is ``num_layers=4, num_modules=4, module_features=128``.
    ``routing`` is a registered name (``"soft"``, the paper; ``"hard"``, the Hard Routing
    baseline; ``"topk"`` with ``routing_kwargs={"k": ...}``), a routing config, or a
    ``RoutingStrategy`` instance (a template copied into every network); ``variant`` a
    registered variant (``"official"``, the authors' network; ``"paper"``, the printed
    equations). ``network_class`` may be any class with ``SoftRoutedMLP``'s constructor
    and forward, e.g. ``modnet.reference.LoopSoftRoutedMLP``.
    """

    network_config = SoftRoutedMLPConfig
    default_network = "SoftRoutedMLP"


class MultiHeadPolicy(TaskConditionedPolicy):
    """MT-MH-SAC: actor and critics are ``MultiHeadMLP`` (a shared trunk, one head per task).

    Network settings (:class:`~modnet.config.MultiHeadMLPConfig`): ``trunk_sizes``, the
    hidden widths of the shared trunk (paper: ``(400, 400)``); ``head_sizes``, those of
    each task's head (paper: ``(400,)``).
    """

    network_config = MultiHeadMLPConfig
    default_network = "MultiHeadMLP"


class MixtureOfExpertsPolicy(TaskConditionedPolicy):
    """Mixture of Experts: actor and critics are ``MixtureOfExperts`` with a task-conditioned gate.

    Network settings (:class:`~modnet.config.MixtureOfExpertsConfig`): ``num_experts``
    (paper: 4); ``hidden_sizes``, the hidden widths of each expert (paper:
    ``(400, 400, 400)``).
    """

    network_config = MixtureOfExpertsConfig
    default_network = "MixtureOfExperts"


class CAREPolicy(TaskConditionedPolicy):
    """CARE: actor and critics are ``CARE`` (k state encoders mixed by task-context attention).

    Network settings (:class:`~modnet.config.CAREConfig`): ``num_experts`` (6 on MT10, 10 on
    MT50), ``encoder_sizes``, ``embedding_dim``, ``hidden_sizes``, ``temperature`` and an
    optional fixed ``context`` ``[T, c]``. Each network learns its own task embedding.
    """

    network_config = CAREConfig
    default_network = "CARE"


class PaCoPolicy(TaskConditionedPolicy):
    """PaCo: actor and critics are ``PaCo`` (parameters composed per task from K sets).

    Network settings (:class:`~modnet.config.PaCoConfig`): ``num_parameter_sets`` (5),
    ``hidden_sizes``, ``identical_init``, ``task_weight_bias``. Each network has its own
    task weights ``w`` (as in Meta-World+; the official code shares one ``w`` between
    the actor and the critics). Masking and resetting extreme tasks are trainer rules,
    ``MTSAC(mask_extreme_tasks=True, reset_extreme_tasks="interpolate")``, which resets
    the tables :meth:`task_weight_tables` returns (``docs/architectures/paco.md``).
    """

    network_config = PaCoConfig
    default_network = "PaCo"

    def task_weight_tables(self) -> list[torch.Tensor]:
        """Every network's ``W`` of ``w_τ = W z_τ + b``: the actor's ``[K, T]``, the critics'
        and the target critics' (``[n_critics, K, T]`` stacked, else one ``[K, T]`` each).

        The parameters themselves, for :func:`modnet.paco.interpolate_task_weights_`, which
        resets them all with one draw, as the official code resets its one ``w``. The
        target critics are reset with the critics, so that the TD target of a reset task
        does not read the ``w`` it left for the next ``1/τ`` updates.
        """
        return [
            p
            for net in (self.actor, self.critic, self.critic_target)
            for name, p in net.named_parameters()
            # "net.task_weights.weight", "q_networks.0.task_weights.weight", or stacked
            # in a ModuleEnsemble: "q_ensemble.task_weights__weight".
            if name.replace("__", ".").endswith("task_weights.weight")
        ]


class MOOREPolicy(TaskConditionedPolicy):
    """MOORE: actor and critics are ``MOORE`` (k orthonormalised experts, task-weighted mix).

    Network settings (:class:`~modnet.config.MOOREConfig`): ``num_experts`` (4 on MT10, 6 on
    MT50), ``hidden_sizes`` (each expert's, ``(400, 400, 400)``), ``multi_head`` (one output
    head per task, as the authors' Meta-World runs). Each network has its own experts,
    task encoder and heads, as in the authors' code.
    """

    network_config = MOOREConfig
    default_network = "MOORE"


class FiLMPolicy(TaskConditionedPolicy):
    """FiLM: actor and critics are ``FiLMMLP`` (a task-modulated encoder and an MLP trunk).

    Network settings (:class:`~modnet.config.FiLMMLPConfig`): ``embedding_features`` (50),
    ``encoder_features`` (50), ``encoder_layers`` (2), ``hidden_sizes`` (the trunk's,
    ``(400, 400, 400)``), ``modulation`` (``"layer"``, the Meta-World+ baselines'; or
    ``"feature"``, Perez et al.'s feature-wise FiLM). Each network learns its own embedding.
    """

    network_config = FiLMMLPConfig
    default_network = "FiLMMLP"
