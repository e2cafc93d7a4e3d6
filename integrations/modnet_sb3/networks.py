"""SB3 actor and critic built from task-conditioned networks ``net(x [B, i], task [B])``.

Observations are a flat state followed by the task one-hot in the last ``T`` columns
(:mod:`modnet_sb3.task_observation`). Both wrappers split the two and hand the network
``(state, task ids)`` (the actor) or ``(cat(state, action), task ids)`` (each critic), so
any network with the core's ``forward(x, task)`` signature plugs in: ``SoftRoutedMLP``,
``LoopSoftRoutedMLP``, ``MultiHeadMLP``, ``MixtureOfExperts``, ``TaskMLP``.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

import torch
from gymnasium import spaces
from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution
from stable_baselines3.common.policies import BaseModel, BasePolicy
from stable_baselines3.common.preprocessing import get_action_dim
from torch import nn

from modnet_sb3.critic_ensemble import ModuleEnsemble
from modnet_sb3.task_observation import check_task_observations, state_and_task_ids

__all__ = ["TaskActor", "TaskCritic"]

# The authors' (and SB3's) clamp of the policy's log standard deviation.
LOG_STD_MIN = -20.0
LOG_STD_MAX = 2.0


def _build(network_class: type[nn.Module], kwargs: dict[str, Any], **shape: int) -> nn.Module:
    # A routing strategy given as an instance must not be shared between networks:
    # each network owns its routing (the paper's actor and critics route independently).
    return network_class(**shape, **copy.deepcopy(kwargs))


class _FirstTrainingBatchCheck:
    """Checks the observations of the first batch a module sees in training mode.

    The policy's ``predict`` checks what is collected, and ``TaskBalancedReplayBuffer``
    what is stored; neither sees what a training batch becomes on its way out of the
    buffer (SB3's ``VecNormalize`` normalises it there: a one-hot of 1.414 / -0.707), nor
    runs under plain SB3 ``SAC`` with its own buffer. One host-side check of the first
    batch (one device synchronisation per module, once) refuses an observation that
    cannot carry the task, whichever algorithm drives the policy. Skipped under
    ``torch.compile``, which cannot read values without a graph break.
    """

    num_tasks: int
    training: bool
    _training_batch_checked: bool = False

    def _check_training_batch(self, obs: torch.Tensor) -> None:
        if self._training_batch_checked or not self.training or torch.compiler.is_compiling():
            return
        check_task_observations(
            obs.detach().cpu().numpy(),
            self.num_tasks,
            where=f"{type(self).__name__} (first training batch)",
        )
        self._training_batch_checked = True


def _has_routing(network_class: type[nn.Module]) -> bool:
    """Whether ``network_class.forward`` can return a routing trace (``return_routing``)."""
    return "return_routing" in inspect.signature(network_class.forward).parameters


class TaskActor(_FirstTrainingBatchCheck, BasePolicy):
    """SAC actor: a tanh-squashed Gaussian whose mean and log-std come from one network.

    The network maps ``(state [B, S], task ids [B]) -> [B, 2A]``, split into mean and
    log-std (clamped to ``[-20, 2]``); actions are ``tanh`` of a reparameterised sample,
    the deterministic action is ``tanh(mean)``, as in the authors' code.

    Args:
        observation_space: flat Box of width ``S + T``.
        action_space: Box of ``A`` dims.
        num_tasks: ``T``.
        network_class: called as ``network_class(in_features=S, out_features=2A,
            num_tasks=T, **network_kwargs)``.
        network_kwargs: the network's own settings.
    """

    action_space: spaces.Box

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Box,
        *,
        num_tasks: int,
        network_class: type[nn.Module],
        network_kwargs: dict[str, Any],
        normalize_images: bool = True,
    ) -> None:
        super().__init__(
            observation_space,
            action_space,
            normalize_images=normalize_images,
            squash_output=True,
        )
        self.num_tasks = num_tasks
        self.network_class = network_class
        self.network_kwargs = network_kwargs
        self.action_dim = get_action_dim(action_space)
        state_dim = observation_space.shape[0] - num_tasks
        self.net = _build(
            network_class,
            network_kwargs,
            in_features=state_dim,
            out_features=2 * self.action_dim,
            num_tasks=num_tasks,
        )
        self.action_dist = SquashedDiagGaussianDistribution(self.action_dim)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            num_tasks=self.num_tasks,
            network_class=self.network_class,
            network_kwargs=self.network_kwargs,
        )
        return data

    def get_action_dist_params(
        self, obs: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
        """Mean ``[B, A]`` and clamped log-std ``[B, A]`` for ``obs [B, S + T]``."""
        self._check_training_batch(obs)
        state, task = state_and_task_ids(obs, self.num_tasks)
        out = self.net(state, task)
        mean, log_std = out.split(self.action_dim, dim=-1)
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX), {}

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        """Squashed actions ``[B, A]`` for ``obs [B, S + T]``."""
        mean, log_std, _ = self.get_action_dist_params(obs)
        return self.action_dist.actions_from_params(mean, log_std, deterministic=deterministic)

    def action_log_prob(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampled actions ``[B, A]`` and their log-probabilities ``[B]`` (tanh-corrected)."""
        mean, log_std, _ = self.get_action_dist_params(obs)
        return self.action_dist.log_prob_from_params(mean, log_std)

    def routing_trace(self, obs: torch.Tensor) -> Any:
        """The network's routing trace for ``obs [B, S + T]``, or ``None`` if it has none."""
        if not _has_routing(type(self.net)):
            return None  # a network without routing (MultiHeadMLP, MixtureOfExperts)
        state, task = state_and_task_ids(obs, self.num_tasks)
        _, trace = self.net(state, task, return_routing=True)
        return trace

    def _predict(self, observation: torch.Tensor, deterministic: bool = False) -> torch.Tensor:
        return self(observation, deterministic)


class TaskCritic(_FirstTrainingBatchCheck, BaseModel):
    """``n_critics`` independent Q networks ``Q_k(cat(state, action), task ids) -> [B, 1]``.

    With ``vmap_critics=True`` (default) the critics' parameters are stacked and all
    critics run in one vectorised call (:class:`ModuleEnsemble`); with ``False`` they run
    one after the other (for networks that ``torch.func.vmap`` cannot map, and as a
    baseline). ``forward`` returns a tuple of ``[B, 1]`` tensors, as SB3's
    ``ContinuousCritic`` does, so SB3's own ``SAC.train`` works unchanged.
    """

    def __init__(
        self,
        observation_space: spaces.Box,
        action_space: spaces.Box,
        *,
        num_tasks: int,
        network_class: type[nn.Module],
        network_kwargs: dict[str, Any],
        n_critics: int = 2,
        vmap_critics: bool = True,
        normalize_images: bool = True,
    ) -> None:
        super().__init__(observation_space, action_space, normalize_images=normalize_images)
        self.num_tasks = num_tasks
        self.n_critics = n_critics
        self.vmap_critics = vmap_critics
        self.network_class = network_class
        self.network_kwargs = network_kwargs
        in_features = observation_space.shape[0] - num_tasks + get_action_dim(action_space)
        members = [
            _build(
                network_class,
                network_kwargs,
                in_features=in_features,
                out_features=1,
                num_tasks=num_tasks,
            )
            for _ in range(n_critics)
        ]
        # SB3's ContinuousCritic attribute; TD3-style code reads it.
        self.share_features_extractor = False
        if vmap_critics:
            self.q_ensemble = ModuleEnsemble(members)
        else:
            self.q_networks = nn.ModuleList(members)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(
            num_tasks=self.num_tasks,
            network_class=self.network_class,
            network_kwargs=self.network_kwargs,
            n_critics=self.n_critics,
            vmap_critics=self.vmap_critics,
        )
        return data

    def _inputs(
        self, obs: torch.Tensor, actions: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A critic's ``(x [B, S + A], task ids [B])`` from ``obs`` and ``actions``."""
        self._check_training_batch(obs)
        state, task = state_and_task_ids(obs, self.num_tasks)
        return torch.cat([state, actions], dim=-1), task

    def q_values(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """All critics' values ``[K, B]`` for ``obs [B, S + T]`` and ``actions [B, A]``."""
        x, task = self._inputs(obs, actions)
        if self.vmap_critics:
            return self.q_ensemble(x, task).squeeze(-1)
        return torch.stack([q(x, task).squeeze(-1) for q in self.q_networks])

    def forward(self, obs: torch.Tensor, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """One ``[B, 1]`` value per critic, for ``obs [B, S + T]`` and ``actions [B, A]``."""
        return tuple(self.q_values(obs, actions).unsqueeze(-1).unbind(0))

    def routing_traces(self, obs: torch.Tensor, actions: torch.Tensor) -> list[Any]:
        """Each critic's routing trace for ``obs [B, S + T]`` and ``actions [B, A]``.

        One entry per critic; ``[]`` when the critics' network has no routing.
        """
        if not _has_routing(self.network_class):
            return []
        x, task = self._inputs(obs, actions)
        if self.vmap_critics:
            calls = [
                self.q_ensemble.call_member(k, x, task, return_routing=True)
                for k in range(self.n_critics)
            ]
        else:
            calls = [q(x, task, return_routing=True) for q in self.q_networks]
        return [trace for _, trace in calls]

    def q1_forward(self, obs: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """The first critic's value ``[B, 1]`` (SB3's TD3 API)."""
        return self.q_values(obs, actions)[0].unsqueeze(-1)
