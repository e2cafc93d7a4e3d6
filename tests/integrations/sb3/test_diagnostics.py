"""Routing diagnostics: the actor's and every critic's routing statistics in SB3's logger."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("stable_baselines3")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3.common.logger import Logger  # noqa: E402

from modnet_sb3 import MultiHeadPolicy, SoftModularPolicy  # noqa: E402
from modnet_sb3.diagnostics import record_routing_diagnostics, routing_statistics  # noqa: E402

SMALL = {"hidden_features": 16, "routing_features": 16, "module_features": 16}
T, S, A = 3, 2, 2
OBS = spaces.Box(
    np.array([-1, -1] + [0] * T, dtype=np.float32), np.array([1, 1] + [1] * T, dtype=np.float32)
)
ACT = spaces.Box(-1.0, 1.0, shape=(A,), dtype=np.float32)


def _batch(size: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    tasks = torch.arange(size) % T
    obs = torch.cat([torch.rand(size, S) * 2 - 1, torch.eye(T)[tasks]], dim=1)
    return obs, torch.rand(size, A) * 2 - 1


@pytest.mark.parametrize("vmap_critics", [True, False])
def test_every_critic_is_recorded_with_its_own_routing(vmap_critics: bool) -> None:
    policy = SoftModularPolicy(
        OBS, ACT, lambda _: 3e-4, num_tasks=T, num_layers=3, vmap_critics=vmap_critics, **SMALL
    )
    logger = Logger(folder=None, output_formats=[])
    obs, actions = _batch()
    stats = record_routing_diagnostics(logger, policy, obs, actions)

    x = torch.cat([obs[:, :S], actions], dim=1)
    task = obs[:, S:]
    per_critic = []
    for k in range(2):
        if vmap_critics:
            net = policy.critic.q_ensemble.member(k)
        else:
            net = policy.critic.q_networks[k]
        net.eval()
        with torch.no_grad():
            _, trace = net(x, task, return_routing=True)
        expected = routing_statistics(trace)
        assert set(expected) >= {"layer_0/entropy", "layer_1/entropy", "final/entropy"}
        for key, value in expected.items():
            assert stats[f"routing/critic_{k}/{key}"] == pytest.approx(value, rel=1e-6, abs=1e-7)
            assert (
                logger.name_to_value[f"routing/critic_{k}/{key}"]
                == stats[f"routing/critic_{k}/{key}"]
            )
        per_critic.append(expected)
    # Independent critics route differently; every entropy is within [0, log n].
    assert per_critic[0] != per_critic[1]
    assert all(0 <= v <= math.log(2) + 1e-6 for k, v in stats.items() if k.endswith("entropy"))
    assert any(k.startswith("routing/actor/") for k in stats)
    assert policy.critic.training and policy.actor.training  # modes restored


def test_without_actions_only_the_actor_is_recorded() -> None:
    policy = SoftModularPolicy(OBS, ACT, lambda _: 3e-4, num_tasks=T, **SMALL)
    obs, _ = _batch()
    stats = record_routing_diagnostics(Logger(folder=None, output_formats=[]), policy, obs)
    assert stats and all(k.startswith("routing/actor/") for k in stats)


def test_policies_without_routing_record_nothing() -> None:
    policy = MultiHeadPolicy(OBS, ACT, lambda _: 3e-4, num_tasks=T, trunk_sizes=[8], head_sizes=[8])
    obs, actions = _batch()
    logger = Logger(folder=None, output_formats=[])
    assert record_routing_diagnostics(logger, policy, obs, actions) == {}
    assert not logger.name_to_value
