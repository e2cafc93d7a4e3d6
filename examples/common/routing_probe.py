"""Read the routing of a trained policy's actor: the data of the paper's Figures 3 and 4."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import nn

__all__ = ["RoutingSample", "probe_routing", "routing_distance"]


class RoutingSample(NamedTuple):
    """Routing of B observations: ``layers`` [B, L-1, n, n] ([destination, source]), ``final`` [B, n]."""

    layers: np.ndarray
    final: np.ndarray

    def vectors(self) -> np.ndarray:
        """[B, (L-1)*n*n + n]: every routing probability of a sample, flattened (Fig. 4)."""
        return np.concatenate([self.layers.reshape(len(self.layers), -1), self.final], axis=1)


@torch.no_grad()
def probe_routing(policy: nn.Module, observations: np.ndarray) -> RoutingSample | None:
    """Routing of the actor's network for observations [B, obs_dim]; None if it has none.

    Uses ``TaskActor.routing_trace`` of ``modnet_sb3`` (the ``RoutingTrace`` of
    ``SoftRoutedMLP.forward(..., return_routing=True)``), in eval mode as when acting.
    """
    routing_trace = getattr(policy.actor, "routing_trace", None)
    if routing_trace is None:
        return None  # SB3's MlpPolicy (mt-sac, mlp-matched)
    was_training = policy.training
    policy.set_training_mode(False)
    try:
        obs = torch.as_tensor(observations, dtype=torch.float32, device=policy.device)
        trace = routing_trace(obs)
    finally:
        policy.set_training_mode(was_training)
    if trace is None:
        return None  # a network without routing (multi-head, mixture of experts)
    final = trace.final_weights.cpu().numpy()
    batch, n = final.shape
    layers = [w.cpu().numpy() for w in trace.layer_weights]
    stacked = np.stack(layers, axis=1) if layers else np.zeros((batch, 0, n, n))
    return RoutingSample(stacked, final)


def routing_distance(samples: dict[str, RoutingSample]) -> float:
    """Mean pairwise total-variation distance between the tasks' routing, in [0, 1].

    Each task's routing is averaged over its samples; every distribution in it (each
    destination row of each layer, and the final mix) gives ``0.5 * sum |p - q|``
    against the same distribution of another task. The result is the mean over
    distributions and over pairs of tasks: 0 when all tasks route alike, 1 when every
    pair uses disjoint modules. 0 for a single task.
    """
    rows = []
    for sample in samples.values():
        n = sample.final.shape[1]
        layers = sample.layers.mean(axis=0).reshape(-1, n)  # [(L-1)*n, n]
        rows.append(np.concatenate([layers, sample.final.mean(axis=0)[None]]))
    means = np.stack(rows)  # [T, R, n]: R distributions of n modules per task
    t = len(means)
    if t < 2:
        return 0.0
    distance = 0.5 * np.abs(means[:, None] - means[None]).sum(axis=-1).mean(axis=-1)  # [T, T]
    return float(distance[np.triu_indices(t, k=1)].mean())
