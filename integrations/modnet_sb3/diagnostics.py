"""Routing diagnostics for SB3's logger: routing entropy per layer and module usage.

``routing_statistics(trace)`` summarises one ``RoutingTrace`` (batch means):

- ``layer_{l}/entropy``: mean entropy (nats) of the rows of the ``[b, n, n]`` routing
  matrix between module layers ``l`` and ``l + 1`` (``log n`` = uniform, 0 = one-hot);
- ``layer_{l}/usage_{i}``: mean weight that source module ``i`` receives (sums to 1 over ``i``);
- ``final/entropy`` and ``final/usage_{i}``: the same for the final mixing vector ``[b, n]``.

``record_routing_diagnostics`` writes them for the actor under ``routing/actor/...`` and,
given the batch's actions, for each critic under ``routing/critic_<k>/...``.
:class:`~modnet_sb3.mtsac.MTSAC` calls it only when the logger is about to write (SB3's
``log_interval``), on the last training batch, so it costs one forward per log line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from stable_baselines3.common.logger import Logger

__all__ = ["record_routing_diagnostics", "routing_statistics"]


def _entropy(weights: torch.Tensor) -> torch.Tensor:
    # 0 · log 0 = 0: clamp inside the log only, so exact zeros (hard/top-k) add nothing.
    return -(weights * weights.clamp_min(1e-12).log()).sum(-1)


def routing_statistics(trace: Any) -> dict[str, float]:
    """Batch-mean routing entropy and module usage of one trace (see module docstring).

    ``trace.layer_weights``: tuple of ``[b, n, n]`` (``[destination, source]``);
    ``trace.final_weights``: ``[b, n]`` or ``None``.
    """
    stats: dict[str, float] = {}
    for layer, weights in enumerate(trace.layer_weights):
        weights = weights.detach().float()
        stats[f"layer_{layer}/entropy"] = _entropy(weights).mean().item()
        usage = weights.mean(dim=(0, 1)).tolist()  # [n] over source modules
        for i, value in enumerate(usage):
            stats[f"layer_{layer}/usage_{i}"] = value
    if trace.final_weights is not None:
        final = trace.final_weights.detach().float()
        stats["final/entropy"] = _entropy(final).mean().item()
        for i, value in enumerate(final.mean(dim=0).tolist()):
            stats[f"final/usage_{i}"] = value
    return stats


def record_routing_diagnostics(
    logger: Logger, policy: Any, obs: torch.Tensor, actions: torch.Tensor | None = None
) -> dict[str, float]:
    """Record the routing statistics of the actor and, given ``actions``, of every critic.

    Args:
        logger: SB3's logger; keys ``routing/actor/...`` and ``routing/critic_<k>/...``.
        policy: an SB3 policy; networks without routing (SB3's ``MlpPolicy``,
            ``MultiHeadPolicy``, ``MixtureOfExpertsPolicy``) are skipped.
        obs: ``[B, S + T]`` observations (e.g. the last training batch).
        actions: ``[B, A]`` actions for the critics (the batch's own); ``None`` skips them.

    Returns:
        Every recorded value by its key (``{}`` when nothing has routing). The networks
        run in evaluation mode (deterministic routing) and without gradients.
    """
    stats: dict[str, float] = {}
    actor = getattr(policy, "actor", None)
    if actor is not None and hasattr(actor, "routing_trace"):
        trace = _in_eval_mode(actor, lambda: actor.routing_trace(obs))
        if trace is not None:
            stats.update(_prefixed("routing/actor", routing_statistics(trace)))
    critic = getattr(policy, "critic", None)
    if actions is not None and critic is not None and hasattr(critic, "routing_traces"):
        traces = _in_eval_mode(critic, lambda: critic.routing_traces(obs, actions))
        for k, trace in enumerate(traces):
            stats.update(_prefixed(f"routing/critic_{k}", routing_statistics(trace)))
    for key, value in stats.items():
        logger.record(key, value)
    return stats


def _prefixed(prefix: str, stats: dict[str, float]) -> dict[str, float]:
    return {f"{prefix}/{key}": value for key, value in stats.items()}


def _in_eval_mode(module: torch.nn.Module, fn: Callable[[], Any]) -> Any:
    was_training = module.training
    module.train(False)
    try:
        with torch.no_grad():
            return fn()
    finally:
        module.train(was_training)
