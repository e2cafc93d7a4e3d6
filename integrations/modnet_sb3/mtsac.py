"""Multi-task SAC as the paper trains it: one temperature per task and per-task loss weights.

Differences from SB3's ``SAC`` (the authors' multi-task SAC; REFERENCE.md, "Multi-task SAC"):

- ``log_ent_coef`` is a vector ``[T]``, one log temperature per task, initialised to
  ``log(init)`` (0 by default) with target entropy ``-|A|``. Its loss is
  ``-mean(log α_t · (log π + target).detach())`` over the batch, so each task's
  temperature moves on its own samples only. The temperature step comes first and its
  updated value is used by the critic and actor losses of the same step.
- Per-task loss weights ``w`` on the critic and actor losses (``reweight``):
  ``"inverse_alpha"`` w = T · softmax(−log α) (the authors' code; proportional to 1/α,
  mean 1), ``"paper"`` w = T · softmax(−α) (the equation as printed), ``"none"`` w = 1.
  Weights are detached.
- Critic loss ``Σ_k mean_b(w_t (Q_k − y)²)``; actor loss ``mean_b(w_t (α_t log π − min_k Q_k))``.
- Gradient norms clipped at ``max_grad_norm`` (1.0), per network: the actor, and each
  critic on its own (as separate networks with separate clipping in the authors' code).
- ``update_order``: ``"sb3"`` (default) updates the critics, then the actor against the
  updated critics; ``"authors"`` updates the actor against the critics as they were
  before this step, then the critics (Soft-Module's ``torchrl/algo/off_policy/mt_sac.py``,
  ``MTSAC.update``). Either way the TD target is computed before any network moves.
- The task of a sample is read from the one-hot in the last ``T`` observation columns
  (:mod:`modnet_sb3.task_observation`).
- Optional, PaCo's rules for unstable tasks (Sun et al., NeurIPS 2022; the official
  ``PaCoMTSacAlgorithm``): ``mask_extreme_tasks`` zeroes the losses of a task whose mean
  loss in the batch exceeds ``extreme_task_threshold``, ``reset_extreme_tasks`` then
  resets its PaCo task weights ``w`` from the other tasks'.

Everything else (soft target update τ, time-limit handling, train frequency, logging,
callbacks, save/load) is SB3's. Two speed choices keep SB3's numbers or algorithm: the
soft target update is SB3's arithmetic in two foreach calls, and Adam is fused unless the
user chose ``optimizer_kwargs`` (see the class docstring).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3 import SAC
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, Schedule
from stable_baselines3.common.utils import polyak_update
from torch import nn

from modnet.errors import ConfigError, mismatch
from modnet.gradient_methods import GRADIENT_METHODS, GradientMethod, per_task_mean
from modnet.paco import interpolate_task_weights_, mask_extreme_losses
from modnet_sb3.buffers import TaskBalancedReplayBuffer
from modnet_sb3.critic_ensemble import clip_grad_norm_per_member_
from modnet_sb3.diagnostics import record_routing_diagnostics
from modnet_sb3.networks import TaskCritic
from modnet_sb3.policies import (
    MixtureOfExpertsPolicy,
    MultiHeadPolicy,
    SoftModularPolicy,
    TaskConditionedPolicy,
)
from modnet_sb3.task_observation import (
    check_observation_space,
    check_task_observations,
    declared_num_tasks,
    state_and_task_ids,
)

__all__ = ["MTSAC", "REWEIGHTS", "UPDATE_ORDERS", "task_loss_weights", "temperature_loss"]

REWEIGHTS = ("inverse_alpha", "paper", "none")
UPDATE_ORDERS = ("sb3", "authors")
WARMUP_ACTIONS = ("uniform", "policy")
RESET_METHODS = (None, "interpolate", "copy")
# The networks each gradient method combines the per-task losses of. GradNorm and FAMO
# divide by / take the log of the losses, which SAC's actor loss is not (it is mostly
# negative); FAMO's authors apply it to the critic only (FAMO's mtrl_files/famo.py).
GRADIENT_METHOD_NETWORKS = {
    "pcgrad": ("critic", "actor"),
    "cagrad": ("critic", "actor"),
    "gradnorm": ("critic",),
    "famo": ("critic",),
}


def task_loss_weights(log_alpha: torch.Tensor, reweight: str) -> torch.Tensor:
    """Per-task loss weights ``[T]`` from the log temperatures ``[T]`` (detached).

    ``"inverse_alpha"``: ``T · softmax(−log α)``, i.e. ``∝ 1/α`` with mean 1 (authors' code);
    ``"paper"``: ``T · softmax(−α)`` (the paper's equation); ``"none"``: ones.
    A task whose temperature is high is still exploring (hard or unlearnt) and gets a
    smaller weight, so that tasks the agent already solves are not drowned out.
    """
    log_alpha = log_alpha.detach()
    num_tasks = log_alpha.shape[-1]
    if reweight == "inverse_alpha":
        return num_tasks * torch.softmax(-log_alpha, dim=-1)
    if reweight == "paper":
        return num_tasks * torch.softmax(-log_alpha.exp(), dim=-1)
    if reweight == "none":
        return torch.ones_like(log_alpha)
    raise ConfigError(
        mismatch("task_loss_weights", "reweight", f"be one of {list(REWEIGHTS)}", repr(reweight))
    )


def temperature_loss(
    log_alpha: torch.Tensor, task: torch.Tensor, log_prob: torch.Tensor, target_entropy: float
) -> torch.Tensor:
    """Per-task temperature loss ``-mean_b(log α[t_b] · (log π_b + target).detach())``.

    ``log_alpha`` ``[T]``, ``task`` int64 ``[B]``, ``log_prob`` ``[B]``. The gradient with
    respect to ``log α[t]`` involves the samples of task ``t`` only, so every task's
    temperature follows its own entropy.
    """
    return -(log_alpha[task] * (log_prob + target_entropy).detach()).mean()


def _clip_(parameters: Any, max_norm: float | None) -> None:
    if max_norm is not None and math.isfinite(max_norm):
        nn.utils.clip_grad_norm_(parameters, max_norm)


# Fused Adam by default (issue #13). torch 2.13's Adam/AdamW docstring: "fused (bool,
# optional): whether the fused implementation is used. Currently, torch.float64,
# torch.float32, torch.float16, and torch.bfloat16 are supported"; the kernel exists for
# cpu, cuda, mps, xpu, hpu and mtia (torch.utils._foreach_utils.
# _get_fused_kernels_supported_devices), while torch's default on the CPU is the
# for-loop over parameters (foreach on CUDA). One kernel per network instead of a dozen
# small ops per parameter: an MTSAC update takes 0.89-0.93x the for-loop's time at the
# demo preset's size (Shallow at a quarter width, 2 tasks, batch 128) and ~0.97x at the
# paper's (MT10, batch 1280), CPU, 1 thread (benchmarks/ab_optimizer.py;
# docs/benchmarks/sb3.md, "Fused Adam"). Only the CPU is tested here; CUDA has the
# kernel too (not run: no GPU on the development machine).
FUSED_ADAM_DEVICES = ("cpu", "cuda")
_FUSED_OPTIMIZERS = (torch.optim.Adam, torch.optim.AdamW)


def _signature_default(cls: Any, name: str) -> Any:
    try:
        parameter = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):  # no signature to read
        return None
    return None if parameter is None else parameter.default


def _soft_update_(sources: list[torch.Tensor], targets: list[torch.Tensor], tau: float) -> None:
    """``target <- (1 − τ) target + τ source`` for every pair, in two foreach calls.

    The same operations, in the same order, as SB3's ``polyak_update`` (a multiply, then
    an add with ``alpha=τ``), so the numbers are identical; SB3 issues them once per
    parameter (0.45-0.5x SB3's time at the demo's critic size, 22 stacked tensors, CPU;
    docs/benchmarks/sb3.md, "Fused Adam").
    """
    if len(sources) != len(targets):
        raise ConfigError(
            mismatch("_soft_update_", "targets", f"hold {len(sources)} tensors", len(targets))
        )
    if not targets:
        return
    with torch.no_grad():
        torch._foreach_mul_(targets, 1.0 - tau)
        torch._foreach_add_(targets, sources, alpha=tau)


def _one_of(name: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """``value`` if it is one of ``choices``, else a ``ConfigError`` naming MTSAC's ``name``."""
    if value not in choices:
        raise ConfigError(mismatch("MTSAC", name, f"be one of {list(choices)}", repr(value)))
    return value


def _valid_ent_coef(value: Any) -> bool:
    """SB3's forms of ``ent_coef`` (``"auto"``, ``"auto_0.1"``, ``0.2``), with alpha > 0."""
    if isinstance(value, str):
        if value == "auto":
            return True
        if not value.startswith("auto_"):
            return False
        try:
            value = float(value[len("auto_") :])
        except ValueError:
            return False
    return (
        not isinstance(value, bool)
        and isinstance(value, int | float)
        and math.isfinite(value)
        and value > 0
    )


def _check_extreme_task_rules(
    mask: Any, reset: Any, threshold: Any, gradient_method: str | None
) -> None:
    """Refuse PaCo's mask/reset settings that cannot work together (see ``MTSAC``)."""
    if not isinstance(mask, bool):
        raise ConfigError(mismatch("MTSAC", "mask_extreme_tasks", "be True or False", repr(mask)))
    _one_of("reset_extreme_tasks", reset, RESET_METHODS)
    if reset is not None and not mask:
        raise ConfigError(
            mismatch(
                "MTSAC",
                "reset_extreme_tasks",
                "be None unless mask_extreme_tasks=True (the mask finds the tasks it resets)",
                repr(reset),
            )
        )
    if (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not (math.isfinite(threshold) and threshold > 0)
    ):
        raise ConfigError(
            mismatch("MTSAC", "extreme_task_threshold", "be a finite float > 0", repr(threshold))
        )
    if mask and gradient_method is not None:
        raise ConfigError(
            mismatch(
                "MTSAC",
                "mask_extreme_tasks",
                f"be False with gradient_method={gradient_method!r} (a masked task's loss is "
                "0, which GradNorm divides by and FAMO takes the log of)",
                mask,
            )
        )


def _check_device(where: str, device: Any) -> None:
    """Refuse a device this machine lacks: SB3 falls back to the CPU without a word."""
    if isinstance(device, str) and device == "auto":
        return
    try:
        requested = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ConfigError(
            mismatch(where, "device", "be 'auto' or a torch device", repr(device))
        ) from exc
    available = {
        "cpu": True,
        "cuda": torch.cuda.is_available(),
        "mps": torch.backends.mps.is_available(),
    }.get(requested.type, True)
    if not available:
        raise ConfigError(
            mismatch(
                where,
                "device",
                f"be a device this machine has (no {requested.type} here; use 'auto' or 'cpu')",
                repr(device),
            )
        )


class MTSAC(SAC):
    """SB3's SAC with per-task temperatures, per-task loss weights and gradient clipping.

    Takes every argument of ``stable_baselines3.SAC`` (same meaning, same defaults,
    ``tau=0.005``), plus:

    Args:
        num_tasks: ``T``, the width of the task one-hot. Default: the policy's
            ``num_tasks`` policy_kwarg if given, else what the env declares in an attribute
            ``num_tasks`` (on the VecEnv, else on its envs: ``env.get_attr("num_tasks")``),
            else the number of envs when there are several (one env per task).
        reweight: per-task loss weights, ``"inverse_alpha"`` (default, authors' code),
            ``"paper"`` or ``"none"`` (the paper's baselines).
        max_grad_norm: clip each network's gradient norm to this (``None``: no clipping).
        task_names: names for the per-task log keys (``train/ent_coef/<name>``);
            default: the task indices.
        warmup_actions: how actions are chosen before ``learning_starts``: ``"uniform"``
            (SB3's default, uniform over the action box) or ``"policy"`` (the untrained
            stochastic policy, as in the authors' schedule). Updates wait for
            ``learning_starts`` either way.
        update_order: ``"sb3"`` (critics, then the actor against the updated critics) or
            ``"authors"`` (the actor against the critics as they were, then the critics).
        compile: ``torch.compile`` the update's pieces: the policy's sample and log
            probability, the temperature loss, the TD target, the critic loss and the actor
            loss (each a graph; the backward passes, clipping and optimiser steps stay
            eager). On CUDA the default mode is ``"reduce-overhead"`` (CUDA graphs). The
            per-task log values are then read from the device only when the logger writes
            (``dump_logs``), so the update has no host synchronisation. Inductor is set to
            draw random numbers as eager does (``fallback_random``), so a compiled run
            samples the same actions; the numbers agree with eager within float rounding.
            The first updates pay the compilation (seconds to minutes).
        gradient_method: combine the per-task losses with a multi-task gradient method
            (``modnet.gradient_methods``) instead of their plain mean: ``"pcgrad"`` or
            ``"cagrad"`` (critic and actor losses), ``"gradnorm"`` or ``"famo"`` (critic
            loss only: their losses must be positive); ``None`` (default): the plain
            mean. Task ``t``'s loss is the mean of its samples' (reweighted) losses; needs
            a ``TaskBalancedReplayBuffer``. The method's state is saved with the model.
        gradient_method_kwargs: the method's settings (e.g. ``{"c": 0.9}`` for CAGrad).
        compile_kwargs: arguments of ``torch.compile`` (e.g. ``{"backend": "aot_eager"}``,
            ``{"mode": "max-autotune"}``); default: inductor, with ``mode="reduce-overhead"``
            on CUDA.
        mask_extreme_tasks: PaCo's mask (the official ``mask_extreme_task``): at every
            update, a task whose mean over its samples of the per-sample loss
            ``Σ_k (Q_k − y)² + α_t log π + log α_t (−log π − H̄)`` exceeds
            ``extreme_task_threshold`` is extreme, and its samples' critic and actor losses
            are zeroed for that update (its gradient reaches no shared parameter). The
            sum is the official one (critic, actor and temperature losses per sample) but
            for the actor's term: the official ALF actor loss is valued
            ``0.5‖∂Q/∂a‖² + α log π`` (its gradient is SAC's), this one ``α log π − min_k
            Q_k``, whose ``−Q`` would lower the sum as returns grow, so only ``α log π`` is
            counted. The temperature loss is not masked (it moves the task's own ``α``
            only; the official code masks it too). Costs one critic forward without
            gradient and one host synchronisation per update. Works with any policy;
            ``gradient_method`` must be ``None``. How often each task was extreme is
            logged (``train/extreme_count/<task>``) and saved with the model
            (``extreme_task_counts``).
        reset_extreme_tasks: PaCo's reset (the official ``reset_task_while_extreme``):
            ``None`` (off), ``"interpolate"`` (the official ``reset_task_method``: each
            extreme task's ``w`` becomes a random convex combination of the normal tasks')
            or ``"copy"`` (one normal task's ``w``), after the update's optimiser steps, in
            the actor, the critics and the target critics (one draw for all,
            ``PaCoPolicy.task_weight_tables``). Needs ``mask_extreme_tasks=True`` (it
            finds the extreme tasks) and a ``PaCoPolicy``.
        extreme_task_threshold: the mean loss above which a task is extreme (official
            ``task_loss_threshold = 3e3``).

    ``ent_coef="auto"`` (or ``"auto_<init>"``) learns the temperature vector; a float
    fixes every task's temperature. ``use_sde`` is not supported.

    Optimisers: when ``policy_kwargs`` holds no ``optimizer_kwargs`` (or ``None``) and the
    device is a CPU or CUDA one, the actor's and critics' optimisers are built with
    ``fused=True`` if their class is ``torch.optim.Adam`` or ``AdamW`` (SB3's default), and
    so is the temperature's Adam: the same algorithm, faster at these sizes
    (docs/benchmarks/sb3.md, "Fused Adam"). Any ``optimizer_kwargs`` the user gives are
    used as given, for all three (``{}`` is torch's default, the for-loop on the CPU).
    The stored and saved ``policy_kwargs`` stay the user's; a loaded model's optimisers
    take the kind they were saved with (torch's ``load_state_dict`` restores the group
    settings), so an older checkpoint trains on exactly as before.
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {
        **SAC.policy_aliases,
        "SoftModularPolicy": SoftModularPolicy,
        "MultiHeadPolicy": MultiHeadPolicy,
        "MixtureOfExpertsPolicy": MixtureOfExpertsPolicy,
    }

    def __init__(
        self,
        policy: str | type[BasePolicy],
        env: GymEnv | str | None,
        learning_rate: float | Schedule = 3e-4,
        buffer_size: int = 1_000_000,
        learning_starts: int = 100,
        batch_size: int = 256,
        tau: float = 0.005,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 1,
        gradient_steps: int = 1,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        ent_coef: str | float = "auto",
        target_update_interval: int = 1,
        target_entropy: str | float = "auto",
        use_sde: bool = False,
        sde_sample_freq: int = -1,
        use_sde_at_warmup: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: torch.device | str = "auto",
        _init_setup_model: bool = True,
        *,
        num_tasks: int | None = None,
        reweight: str = "inverse_alpha",
        max_grad_norm: float | None = 1.0,
        task_names: list[str] | None = None,
        warmup_actions: str = "uniform",
        update_order: str = "sb3",
        compile: bool = False,
        compile_kwargs: dict[str, Any] | None = None,
        gradient_method: str | None = None,
        gradient_method_kwargs: dict[str, Any] | None = None,
        mask_extreme_tasks: bool = False,
        reset_extreme_tasks: str | None = None,
        extreme_task_threshold: float = 3e3,
    ) -> None:
        if not _valid_ent_coef(ent_coef):
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "ent_coef",
                    "be 'auto', 'auto_<initial alpha > 0>' or a fixed alpha > 0",
                    repr(ent_coef),
                )
            )
        if not isinstance(compile, bool):
            raise ConfigError(mismatch("MTSAC", "compile", "be True or False", repr(compile)))
        if compile_kwargs is not None and not isinstance(compile_kwargs, dict):
            raise ConfigError(
                mismatch("MTSAC", "compile_kwargs", "be a dict or None", repr(compile_kwargs))
            )
        if gradient_method is not None and gradient_method not in GRADIENT_METHOD_NETWORKS:
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "gradient_method",
                    f"be None or one of {list(GRADIENT_METHOD_NETWORKS)}",
                    repr(gradient_method),
                )
            )
        if gradient_method_kwargs is not None and not isinstance(gradient_method_kwargs, dict):
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "gradient_method_kwargs",
                    "be a dict or None",
                    repr(gradient_method_kwargs),
                )
            )
        if max_grad_norm is not None and not max_grad_norm > 0:
            raise ConfigError(
                mismatch("MTSAC", "max_grad_norm", "be positive or None", max_grad_norm)
            )
        if (policy_kwargs or {}).get("use_sde"):
            # SB3 would overwrite it with the algorithm's use_sde=False without a word.
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "policy_kwargs['use_sde']",
                    "be absent or False (gSDE is not supported by MTSAC)",
                    policy_kwargs["use_sde"],  # type: ignore[index]
                )
            )
        if use_sde:
            raise ConfigError(
                mismatch("MTSAC", "use_sde", "be False (gSDE is not supported by MTSAC)", use_sde)
            )
        action_space = getattr(env, "action_space", None)
        if action_space is not None and not isinstance(action_space, spaces.Box):
            raise ConfigError(
                mismatch(
                    "MTSAC", "the env's action space", "be a gymnasium.spaces.Box", action_space
                )
            )
        _check_device("MTSAC", device)
        _check_extreme_task_rules(
            mask_extreme_tasks, reset_extreme_tasks, extreme_task_threshold, gradient_method
        )
        if num_tasks is not None and (
            isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1
        ):
            raise ConfigError(mismatch("MTSAC", "num_tasks", "be an int >= 1", repr(num_tasks)))
        # Stored before super().__init__, which may call _setup_model.
        self.num_tasks = num_tasks
        self.reweight = _one_of("reweight", reweight, REWEIGHTS)
        self.max_grad_norm = max_grad_norm
        self.warmup_actions = _one_of("warmup_actions", warmup_actions, WARMUP_ACTIONS)
        self.update_order = _one_of("update_order", update_order, UPDATE_ORDERS)
        self.compile = compile
        self.compile_kwargs = dict(compile_kwargs) if compile_kwargs is not None else None
        self._compiled: dict[str, Any] | None = None
        self.gradient_method = gradient_method
        self.gradient_method_kwargs = dict(gradient_method_kwargs or {})
        self.mask_extreme_tasks = mask_extreme_tasks
        self.reset_extreme_tasks = reset_extreme_tasks
        self.extreme_task_threshold = float(extreme_task_threshold)
        # Set in _setup_model; kept there when `load` has restored the saved counts.
        self.extreme_task_counts: np.ndarray | None = None
        self._pending_logs: tuple[torch.Tensor, int] | None = None
        self.task_names = list(task_names) if task_names is not None else None
        self._diagnostic_obs: torch.Tensor | None = None
        self._diagnostic_actions: torch.Tensor | None = None
        super().__init__(
            policy,
            env,  # type: ignore[arg-type]
            learning_rate,
            buffer_size,
            learning_starts,
            batch_size,
            tau,
            gamma,
            train_freq,
            gradient_steps,
            action_noise,
            replay_buffer_class,
            replay_buffer_kwargs,
            optimize_memory_usage,
            n_steps,
            ent_coef,
            target_update_interval,
            target_entropy,
            use_sde,
            sde_sample_freq,
            use_sde_at_warmup,
            stats_window_size,
            tensorboard_log,
            policy_kwargs,
            verbose,
            seed,
            device,
            _init_setup_model,
        )

    # ------------------------------------------------------------------ set-up
    def _resolve_num_tasks(self) -> int:
        task_policy = isinstance(self.policy_class, type) and issubclass(
            self.policy_class, TaskConditionedPolicy
        )
        from_policy = self.policy_kwargs.get("num_tasks") if task_policy else None
        if self.num_tasks is not None and from_policy is not None and from_policy != self.num_tasks:
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "num_tasks",
                    f"equal policy_kwargs['num_tasks'] = {from_policy}",
                    self.num_tasks,
                )
            )
        num_tasks = self.num_tasks if self.num_tasks is not None else from_policy
        if num_tasks is None:
            num_tasks = declared_num_tasks(self.env, where="MTSAC")
        if num_tasks is None and self.n_envs > 1:
            num_tasks = self.n_envs
        if num_tasks is None:
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "num_tasks",
                    'be given: MTSAC(num_tasks=T) or policy_kwargs={"num_tasks": T}, or an '
                    "attribute num_tasks on the env (T, the width of the task one-hot that "
                    "ends each observation)",
                    None,
                )
            )
        num_tasks = check_observation_space(self.observation_space, num_tasks, where="MTSAC")
        if task_policy:
            self.policy_kwargs = {**self.policy_kwargs, "num_tasks": num_tasks}
        return num_tasks

    def _check_declared_num_tasks(self, given: str) -> None:
        """Refuse a ``num_tasks`` that disagrees with the env's own declaration.

        Refused at construction, where the env's declaration shows it, not at the first
        batch (which, with a narrower one-hot, may even look valid for some tasks).
        """
        declared = declared_num_tasks(self.env, where="MTSAC")
        if declared is not None and declared != self.num_tasks:
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    given,
                    f"equal the env's num_tasks = {declared} (the width of the task one-hot "
                    "its observations end with)",
                    self.num_tasks,
                )
            )

    def _setup_model(self) -> None:
        given = "num_tasks" if self.num_tasks is not None else "policy_kwargs['num_tasks']"
        self.num_tasks = self._resolve_num_tasks()
        if self.task_names is not None and len(self.task_names) != self.num_tasks:
            raise ConfigError(
                mismatch(
                    "MTSAC", "task_names", f"hold {self.num_tasks} names", len(self.task_names)
                )
            )
        balanced = isinstance(self.replay_buffer_class, type) and issubclass(
            self.replay_buffer_class, TaskBalancedReplayBuffer
        )
        if balanced:
            if self.n_envs != self.num_tasks:
                raise ConfigError(
                    mismatch(
                        "MTSAC",
                        "number of envs",
                        f"equal num_tasks = {self.num_tasks} with TaskBalancedReplayBuffer "
                        "(one env per task)",
                        self.n_envs,
                    )
                )
            if self.batch_size % self.num_tasks != 0:
                raise ConfigError(
                    mismatch(
                        "MTSAC",
                        "batch_size",
                        f"be a multiple of num_tasks = {self.num_tasks} with TaskBalancedReplayBuffer",
                        self.batch_size,
                    )
                )
        if self.gradient_method is not None and not balanced:
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "replay_buffer_class",
                    f"be TaskBalancedReplayBuffer with gradient_method={self.gradient_method!r} "
                    "(every task needs samples in every batch)",
                    self.replay_buffer_class,
                )
            )
        self._check_declared_num_tasks(given)
        # SB3 builds the policy (and its optimisers) from self.policy_kwargs; the fused
        # default is handed to it without changing the stored policy_kwargs, so a saved
        # model's policy_kwargs stay the user's (SB3's load compares them).
        given_kwargs = self.policy_kwargs
        self.policy_kwargs = self._policy_kwargs_with_fused_adam()
        try:
            super()._setup_model()
        finally:
            self.policy_kwargs = given_kwargs
        self._setup_gradient_methods()
        if self.reset_extreme_tasks is not None and not callable(
            getattr(self.policy, "task_weight_tables", None)
        ):
            raise ConfigError(
                mismatch(
                    "MTSAC",
                    "reset_extreme_tasks",
                    "be None unless the policy is a PaCoPolicy (it resets PaCo's task weights w)",
                    repr(self.reset_extreme_tasks),
                )
            )
        if getattr(self, "extreme_task_counts", None) is None:
            self.extreme_task_counts = np.zeros(self.num_tasks, dtype=np.int64)
        if self.log_ent_coef is not None:
            # SAC built one scalar log temperature; replace it with one per task.
            init = self.log_ent_coef.detach().reshape(-1)[0].item()
            self.log_ent_coef = torch.full(
                (self.num_tasks,), init, device=self.device
            ).requires_grad_(True)
            self.ent_coef_optimizer = self._temperature_optimizer()

    def _fused_adam_default(self) -> bool:
        """Whether the optimisers get ``fused=True``: the user gave no ``optimizer_kwargs``
        (a dict, even empty, is used as given) and the device has the kernel."""
        return (
            self.policy_kwargs.get("optimizer_kwargs") is None
            and self.device.type in FUSED_ADAM_DEVICES
        )

    def _policy_kwargs_with_fused_adam(self) -> dict[str, Any]:
        """``policy_kwargs`` with ``optimizer_kwargs={"fused": True}`` where that is safe:
        :meth:`_fused_adam_default` and the optimiser class (given, else the policy's
        default) is ``torch.optim.Adam`` or ``AdamW`` itself (a subclass may not take it)."""
        kwargs = dict(self.policy_kwargs)
        optimizer_class = kwargs.get(
            "optimizer_class", _signature_default(self.policy_class, "optimizer_class")
        )
        if self._fused_adam_default() and optimizer_class in _FUSED_OPTIMIZERS:
            kwargs["optimizer_kwargs"] = {"fused": True}
        return kwargs

    def _temperature_optimizer(self) -> torch.optim.Adam:
        """SB3's temperature optimiser (Adam at the initial learning rate), fused under the
        same condition as the policy's (a step of the ``[T]`` vector: 0.65-0.77x the
        for-loop's time, CPU; docs/benchmarks/sb3.md, "Fused Adam")."""
        fused = {"fused": True} if self._fused_adam_default() else {}
        return torch.optim.Adam([self.log_ent_coef], lr=self.lr_schedule(1), **fused)

    def _setup_gradient_methods(self) -> None:
        """One gradient method per network it combines, as ``_gradient_method_<network>``."""
        for network in ("critic", "actor"):
            method = None
            if network in GRADIENT_METHOD_NETWORKS.get(self.gradient_method, ()):
                cls = GRADIENT_METHODS[self.gradient_method]
                kwargs = dict(self.gradient_method_kwargs)
                if "device" in inspect.signature(cls).parameters:
                    kwargs["device"] = self.device
                try:
                    method = cls(self.num_tasks, **kwargs)
                except TypeError as exc:  # an unknown setting
                    raise ConfigError(
                        mismatch(
                            "MTSAC",
                            "gradient_method_kwargs",
                            f"hold settings of {cls.__name__} ({exc})",
                            self.gradient_method_kwargs,
                        )
                    ) from exc
            setattr(self, f"_gradient_method_{network}", method)

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, variables = super()._get_torch_save_params()
        methods = [
            f"_gradient_method_{network}"
            for network in ("critic", "actor")
            if getattr(self, f"_gradient_method_{network}", None) is not None
        ]
        return [*state_dicts, *methods], variables

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(  # type: ignore[override]
        cls,
        path: Any,
        env: GymEnv | None = None,
        device: torch.device | str = "auto",
        custom_objects: dict[str, Any] | None = None,
        print_system_info: bool = False,
        force_reset: bool = True,
        **kwargs: Any,
    ) -> MTSAC:
        """SB3's ``load``; ``ent_coef`` in ``custom_objects`` may switch the temperature mode.

        The model is loaded as it was saved, then: a float ``ent_coef`` fixes every task's
        temperature to it and drops the temperature optimiser (a model saved with learned
        temperatures would otherwise crash inside SB3); ``"auto"``/``"auto_<init>"`` on a
        model saved with a constant starts learning one temperature per task from the
        saved constant (``"auto"``) or from ``<init>``.

        Raises:
            ConfigError: ``ent_coef`` is neither a positive finite float nor ``"auto..."``.
        """
        custom = dict(custom_objects or {})
        wanted = custom.pop("ent_coef", kwargs.pop("ent_coef", None))
        model = super().load(path, env, device, custom, print_system_info, force_reset, **kwargs)
        if wanted is not None:
            model._switch_temperature("MTSAC.load", wanted)
        return model  # type: ignore[return-value]

    def _switch_temperature(self, where: str, ent_coef: Any) -> None:
        """Switch to a constant (float) or learned (``"auto[_init]"``) temperature per task."""
        if not _valid_ent_coef(ent_coef):
            raise ConfigError(
                mismatch(
                    where,
                    "custom_objects['ent_coef']",
                    "be a positive finite float or 'auto'/'auto_<init>'",
                    repr(ent_coef),
                )
            )
        if isinstance(ent_coef, str):
            if self.log_ent_coef is not None and "_" not in ent_coef:
                return  # already learned: keep the saved temperatures and optimiser state
            init = (
                float(ent_coef.split("_", 1)[1])
                if "_" in ent_coef
                else float(self.ent_coef_tensor.item())
            )
            self.log_ent_coef = torch.full(
                (self.num_tasks,), math.log(init), device=self.device
            ).requires_grad_(True)
            self.ent_coef_optimizer = self._temperature_optimizer()
            self.ent_coef = ent_coef
            return
        self.ent_coef = float(ent_coef)
        self.ent_coef_tensor = torch.tensor(float(ent_coef), device=self.device)
        self.log_ent_coef = None
        self.ent_coef_optimizer = None

    def _setup_learn(self, *args: Any, **kwargs: Any) -> Any:
        result = super()._setup_learn(*args, **kwargs)
        if isinstance(self._last_obs, np.ndarray):
            # The earliest point where the env's actual observations can be checked.
            check_task_observations(
                self._last_obs,
                self.num_tasks,
                where="MTSAC.learn",
                distinct=isinstance(self.replay_buffer, TaskBalancedReplayBuffer),
            )
        return result

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: Any,
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        # Where data enters: a NaN or a broken one-hot from env.step would reach an update
        # before the next predict sees it. TaskBalancedReplayBuffer checks in its add.
        if isinstance(new_obs, np.ndarray) and not isinstance(
            replay_buffer, TaskBalancedReplayBuffer
        ):
            next_obs = new_obs
            for env in np.flatnonzero(dones):
                terminal = infos[env].get("terminal_observation")
                if terminal is not None:
                    next_obs = next_obs.copy() if next_obs is new_obs else next_obs
                    next_obs[env] = terminal
            check_task_observations(next_obs, self.num_tasks, where="MTSAC.learn (env.step)")
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "_diagnostic_obs",
            "_diagnostic_actions",
            "_compiled",
            "_pending_logs",
            "_gradient_coefficients",
        ]

    # ------------------------------------------------------------------ helpers
    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.warmup_actions == "policy":
            # SB3 samples uniformly while num_timesteps < learning_starts; the authors
            # collect their warm-up with the untrained policy instead. Only the action
            # choice changes: `learn` still holds updates back until learning_starts.
            learning_starts = 0
        return super()._sample_action(learning_starts, action_noise, n_envs)

    def temperatures(self) -> torch.Tensor:
        """The current per-task temperatures ``α`` ``[T]``."""
        if self.log_ent_coef is not None:
            return self.log_ent_coef.detach().exp()
        return self.ent_coef_tensor.detach().expand(self.num_tasks)

    def _q_values(
        self, critic: nn.Module, obs: torch.Tensor, actions: torch.Tensor
    ) -> torch.Tensor:
        if isinstance(critic, TaskCritic):
            return critic.q_values(obs, actions)  # [K, B]
        return torch.cat(critic(obs, actions), dim=1).T  # SB3's ContinuousCritic

    def _clip_critic(self) -> None:
        if self.max_grad_norm is None or not math.isfinite(self.max_grad_norm):
            return
        critic = self.critic
        if isinstance(critic, TaskCritic) and critic.vmap_critics:
            clip_grad_norm_per_member_(critic.q_ensemble.parameters(), self.max_grad_norm)
        else:  # critics held one by one (a handful): clip each on its own
            for q_net in critic.q_networks:
                _clip_(q_net.parameters(), self.max_grad_norm)

    # The update's pieces, each one graph under compile=True (see _update_functions).
    def _td_target(
        self,
        next_obs: torch.Tensor,
        rewards: torch.Tensor,
        dones: torch.Tensor,
        discounts: torch.Tensor | float,
        alpha: torch.Tensor,
    ) -> torch.Tensor:
        """SAC's soft TD target ``[B]`` from the target critics (call under ``no_grad``)."""
        next_actions, next_log_prob = self.actor.action_log_prob(next_obs)
        next_q = self._q_values(self.critic_target, next_obs, next_actions)
        next_v = next_q.min(dim=0).values - alpha * next_log_prob.reshape(-1)
        return rewards.reshape(-1) + (1 - dones.reshape(-1)) * discounts * next_v

    def _critic_loss(
        self, obs: torch.Tensor, actions: torch.Tensor, target_q: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        q = self._q_values(self.critic, obs, actions)  # [K, B]
        return (weight * (q - target_q).pow(2)).mean(dim=1).sum()

    def _actor_losses(
        self,
        obs: torch.Tensor,
        actions_pi: torch.Tensor,
        log_prob: torch.Tensor,
        alpha: torch.Tensor,
        weight: torch.Tensor,
    ) -> torch.Tensor:
        """Per-sample actor losses ``w_t (α_t log π − min_k Q_k)`` ``[B]``."""
        q_pi = self._q_values(self.critic, obs, actions_pi).min(dim=0).values
        return weight * (alpha * log_prob - q_pi)

    def _update_functions(self) -> dict[str, Any]:
        """The update's pieces: eager, or compiled once (``compile=True``) and kept."""
        eager = {
            "sample": lambda obs: self.actor.action_log_prob(obs),
            "temperature_loss": temperature_loss,
            "td_target": self._td_target,
            "critic_loss": self._critic_loss,
            "actor_loss": lambda *inputs: self._actor_losses(*inputs).mean(),
        }
        if not self.compile:
            return eager
        if getattr(self, "_compiled", None) is None:
            kwargs = dict(self.compile_kwargs or {})
            if self.device.type == "cuda" and "backend" not in kwargs:
                kwargs.setdefault("mode", "reduce-overhead")  # CUDA graphs
            # Inductor's own random numbers differ from eager's; aten's keep a compiled
            # run on the same action samples (and the same numbers) as an eager one.
            import torch._inductor.config as inductor_config

            inductor_config.fallback_random = True
            self._compiled = {name: torch.compile(fn, **kwargs) for name, fn in eager.items()}
        return self._compiled

    def _critic_step(
        self, obs: torch.Tensor, actions: torch.Tensor, target_q: torch.Tensor, weight: torch.Tensor
    ) -> torch.Tensor:
        """One critic update on ``Σ_k mean_b(w_t (Q_k − y)²)``; returns the loss."""
        if getattr(self, "_gradient_method_critic", None) is not None:
            return self._combined_step(
                "critic",
                lambda: (
                    weight * (self._q_values(self.critic, obs, actions) - target_q).pow(2)
                ).sum(0),
                obs,
            )
        critic_loss = self._update_functions()["critic_loss"](obs, actions, target_q, weight)
        self.critic.optimizer.zero_grad()
        critic_loss.backward()
        self._clip_critic()
        self.critic.optimizer.step()
        return critic_loss.detach()

    def _actor_step(self, *inputs: torch.Tensor) -> torch.Tensor:
        """One actor update on ``mean_b(w_t (α_t log π − min_k Q_k))`` (current critics).

        ``inputs``: :meth:`_actor_losses`'s ``(obs, actions_pi, log_prob, alpha, weight)``.
        """
        # The actor's loss needs gradients through the critics' input only.
        critic_params = list(self.critic.parameters())
        for p in critic_params:
            p.requires_grad_(False)
        try:
            if getattr(self, "_gradient_method_actor", None) is not None:
                sample_losses = self._actor_losses(*inputs)  # [B]
                return self._combined_step("actor", lambda: sample_losses, inputs[0])
            actor_loss = self._update_functions()["actor_loss"](*inputs)
        finally:
            for p in critic_params:
                p.requires_grad_(True)
        self.actor.optimizer.zero_grad()
        actor_loss.backward()
        _clip_(self.actor.parameters(), self.max_grad_norm)
        self.actor.optimizer.step()
        return actor_loss.detach()

    def _combined_step(
        self, network: str, sample_losses: Callable[[], torch.Tensor], obs: torch.Tensor
    ) -> torch.Tensor:
        """One update of ``network`` on its per-task losses, combined by its gradient method.

        ``sample_losses()`` gives the per-sample losses ``[B]`` (their mean is the plain
        loss); task ``t``'s loss is the mean over its samples. Returns the plain loss.
        FAMO then learns from the same batch's losses at the updated parameters.
        """
        method: GradientMethod = getattr(self, f"_gradient_method_{network}")
        net = self.critic if network == "critic" else self.actor
        task = state_and_task_ids(obs, self.num_tasks).task
        losses = sample_losses()
        net.optimizer.zero_grad()
        coefficients = method.backward(
            per_task_mean(losses, task, self.num_tasks),
            [p for p in net.parameters() if p.requires_grad],
        )
        # Logged as train/gradient_coef/<network>/<task> when the logger writes.
        self._gradient_coefficients = {
            **getattr(self, "_gradient_coefficients", {}),
            network: coefficients,
        }
        if network == "critic":
            self._clip_critic()
        else:
            _clip_(self.actor.parameters(), self.max_grad_norm)
        net.optimizer.step()
        if method.needs_losses_after:
            with torch.no_grad():
                method.update(per_task_mean(sample_losses(), task, self.num_tasks))
        return losses.mean().detach()

    # ------------------------------------------------------------------ PaCo's rules
    @torch.no_grad()
    def _extreme_tasks(
        self,
        obs: torch.Tensor,
        actions: torch.Tensor,
        target_q: torch.Tensor,
        log_prob: torch.Tensor,
        log_alpha: torch.Tensor,
        target_entropy: float,
    ) -> torch.Tensor:
        """PaCo's extreme tasks of this batch, bool ``[T]`` (see ``mask_extreme_tasks``).

        ``obs`` ``[B, S + T]``, ``actions`` ``[B, A]`` (the batch's), ``target_q`` ``[B]``,
        ``log_prob`` ``[B]`` (of the actions sampled now), ``log_alpha`` ``[T]``.
        """
        task = state_and_task_ids(obs, self.num_tasks).task
        q = self._q_values(self.critic, obs, actions)  # [K, B]
        log_alpha_b = log_alpha[task]
        losses = (
            (q - target_q).pow(2).sum(0)
            + log_alpha_b.exp() * log_prob
            - log_alpha_b * (log_prob + target_entropy)
        )
        return mask_extreme_losses(losses, task, self.num_tasks, self.extreme_task_threshold)[1]

    def _count_and_reset(self, extreme: torch.Tensor) -> None:
        """After the update's steps: count the extreme tasks ``[T]``, reset their ``w``."""
        found = extreme.cpu().numpy()
        if not found.any():
            return
        self.extreme_task_counts += found
        if self.reset_extreme_tasks is not None:
            interpolate_task_weights_(
                self.policy.task_weight_tables(),  # type: ignore[attr-defined]
                extreme,
                method=self.reset_extreme_tasks,  # type: ignore[arg-type]
            )

    # ------------------------------------------------------------------ training
    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        optimizers = [self.actor.optimizer, self.critic.optimizer]
        if self.ent_coef_optimizer is not None:
            optimizers.append(self.ent_coef_optimizer)
        self._update_learning_rate(optimizers)

        target_entropy = float(self.target_entropy)  # type: ignore[arg-type]
        sums = torch.zeros(3, device=self.device)  # actor loss, critic loss, alpha loss
        fns = self._update_functions()
        cuda_graphs = self.compile and self.device.type == "cuda"
        for gradient_step in range(gradient_steps):
            if cuda_graphs:
                # A new step: outputs of the previous step's CUDA graphs may be overwritten.
                torch.compiler.cudagraph_mark_step_begin()
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)  # type: ignore[union-attr]
            task = state_and_task_ids(data.observations, self.num_tasks).task  # [B]
            actions_pi, log_prob = fns["sample"](data.observations)
            log_prob = log_prob.reshape(-1)  # [B]

            # Temperatures first; their updated values serve this step (authors' order).
            if self.ent_coef_optimizer is not None and self.log_ent_coef is not None:
                alpha_loss = fns["temperature_loss"](
                    self.log_ent_coef, task, log_prob, target_entropy
                )
                self.ent_coef_optimizer.zero_grad()
                alpha_loss.backward()
                self.ent_coef_optimizer.step()
                sums[2] += alpha_loss.detach()
                log_alpha = self.log_ent_coef.detach()
            else:
                log_alpha = self.ent_coef_tensor.log().expand(self.num_tasks)
            alpha = log_alpha.exp()[task]  # [B]
            weight = task_loss_weights(log_alpha, self.reweight)[task]  # [B]

            with torch.no_grad():
                discounts = data.discounts.reshape(-1) if data.discounts is not None else self.gamma
                target_q = fns["td_target"](
                    data.next_observations, data.rewards, data.dones, discounts, alpha
                )

            extreme = None
            if self.mask_extreme_tasks:
                extreme = self._extreme_tasks(
                    data.observations, data.actions, target_q, log_prob, log_alpha, target_entropy
                )
                weight = weight.masked_fill(extreme[task], 0.0)

            if self.update_order == "authors":
                actor_loss = self._actor_step(
                    data.observations, actions_pi, log_prob, alpha, weight
                )
                critic_loss = self._critic_step(data.observations, data.actions, target_q, weight)
            else:
                critic_loss = self._critic_step(data.observations, data.actions, target_q, weight)
                actor_loss = self._actor_step(
                    data.observations, actions_pi, log_prob, alpha, weight
                )

            if extreme is not None:
                self._count_and_reset(extreme)
            sums[0] += actor_loss
            sums[1] += critic_loss
            if gradient_step % self.target_update_interval == 0:
                _soft_update_(
                    list(self.critic.parameters()), list(self.critic_target.parameters()), self.tau
                )
                polyak_update(self.batch_norm_stats, self.batch_norm_stats_target, 1.0)
            self._diagnostic_obs = data.observations
            self._diagnostic_actions = data.actions

        self._n_updates += gradient_steps
        if gradient_steps == 0:
            return
        if self.compile:
            # No host synchronisation in the update: read when the logger writes.
            self._pending_logs = (sums / gradient_steps, self._n_updates)
            return
        self._record_train_logs(sums / gradient_steps, self._n_updates)

    def _record_train_logs(self, mean_losses: torch.Tensor, n_updates: int) -> None:
        """Log the mean losses ``[3]`` (actor, critic, temperature) and per-task figures."""
        means = mean_losses.tolist()
        temperatures = self.temperatures().tolist()
        weights = task_loss_weights(self.temperatures().log(), self.reweight).tolist()
        names = self.task_names or [str(i) for i in range(self.num_tasks)]
        self.logger.record("train/n_updates", n_updates, exclude="tensorboard")
        self.logger.record("train/ent_coef", float(np.mean(temperatures)))
        for name, value, w in zip(names, temperatures, weights, strict=True):
            self.logger.record(f"train/ent_coef/{name}", value)
            self.logger.record(f"train/loss_weight/{name}", w)
        self.logger.record("train/actor_loss", means[0])
        self.logger.record("train/critic_loss", means[1])
        if self.ent_coef_optimizer is not None:
            self.logger.record("train/ent_coef_loss", means[2])
        if self.mask_extreme_tasks and self.extreme_task_counts is not None:
            for name, value in zip(names, self.extreme_task_counts.tolist(), strict=True):
                self.logger.record(f"train/extreme_count/{name}", value)
        for network, coefficients in getattr(self, "_gradient_coefficients", {}).items():
            for name, value in zip(names, coefficients.tolist(), strict=True):
                self.logger.record(f"train/gradient_coef/{network}/{name}", value)

    def dump_logs(self) -> None:
        pending = getattr(self, "_pending_logs", None)
        if pending is not None:
            self._record_train_logs(*pending)
            self._pending_logs = None
        # Routing diagnostics cost a forward pass, so they are computed only when the
        # logger is about to write (SB3's log interval), on the last training batch.
        if self._diagnostic_obs is not None:
            record_routing_diagnostics(
                self.logger, self.policy, self._diagnostic_obs, self._diagnostic_actions
            )
        super().dump_logs()
