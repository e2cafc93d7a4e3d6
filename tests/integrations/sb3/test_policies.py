"""SoftModularPolicy and the baseline policies: structure, save/load, bad input."""

from __future__ import annotations

import pytest

pytest.importorskip("stable_baselines3")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3 import SAC  # noqa: E402

from modnet import MixtureOfExperts, MultiHeadMLP, Soft, SoftRoutedMLP  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet.reference import LoopSoftRoutedMLP  # noqa: E402
from modnet_sb3 import (  # noqa: E402
    MixtureOfExpertsPolicy,
    MultiHeadPolicy,
    SoftModularPolicy,
    make_point_reach_vec_env,
    make_random_state_vec_env,
)

SMALL_SOFT = {"hidden_features": 16, "routing_features": 16, "module_features": 16}
T, S, A = 3, 2, 2
OBS = spaces.Box(
    np.array([-1, -1] + [0] * T, dtype=np.float32), np.array([1, 1] + [1] * T, dtype=np.float32)
)
ACT = spaces.Box(-1.0, 1.0, shape=(A,), dtype=np.float32)


def _lr(_: float) -> float:
    return 3e-4


def _policy(cls=SoftModularPolicy, **kwargs):
    kwargs.setdefault("num_tasks", T)
    if cls is SoftModularPolicy:
        kwargs = {**SMALL_SOFT, **kwargs}
    return cls(OBS, ACT, _lr, **kwargs)


def _obs(batch: int = 6) -> torch.Tensor:
    tasks = torch.arange(batch) % T
    return torch.cat([torch.rand(batch, S) * 2 - 1, torch.eye(T)[tasks]], dim=1)


def test_actor_and_each_critic_are_independent_routed_networks() -> None:
    policy = _policy(n_critics=3)
    assert isinstance(policy.actor.net, SoftRoutedMLP)
    assert policy.actor.net.in_features == S and policy.actor.net.out_features == 2 * A
    members = [policy.critic.q_ensemble.member(k) for k in range(3)]
    assert all(m.in_features == S + A and m.out_features == 1 for m in members)
    # Three critics with their own weights (and routing), none shared with the actor.
    first = [next(m.parameters()) for m in members]
    assert not torch.equal(first[0], first[1]) and not torch.equal(first[1], first[2])
    actor_ids = {id(p) for p in policy.actor.parameters()}
    assert actor_ids.isdisjoint(id(p) for p in policy.critic.parameters())
    q = policy.critic(_obs(), torch.zeros(6, A))
    assert len(q) == 3 and all(v.shape == (6, 1) for v in q)


def test_a_routing_instance_is_copied_into_every_network() -> None:
    routing = Soft(temperature=2.0)
    policy = _policy(routing=routing)
    assert policy.actor.net.routing is not routing
    assert policy.actor.net.routing.temperature == 2.0


def test_vmapped_critics_equal_critics_run_one_after_the_other() -> None:
    batched = _policy()
    looped = _policy(vmap_critics=False)
    for k, net in enumerate(looped.critic.q_networks):
        net.load_state_dict(batched.critic.q_ensemble.member(k).state_dict())
    obs, actions = _obs(), torch.rand(6, A)
    torch.testing.assert_close(
        batched.critic.q_values(obs, actions), looped.critic.q_values(obs, actions)
    )


def test_actor_outputs_squashed_actions_and_deterministic_is_tanh_mean() -> None:
    policy = _policy()
    obs = _obs()
    actions, log_prob = policy.actor.action_log_prob(obs)
    assert actions.shape == (6, A) and log_prob.shape == (6,)
    assert actions.abs().max() <= 1
    mean, log_std, _ = policy.actor.get_action_dist_params(obs)
    torch.testing.assert_close(policy.actor(obs, deterministic=True), torch.tanh(mean))
    assert log_std.min() >= -20 and log_std.max() <= 2


def test_the_task_one_hot_changes_the_action() -> None:
    policy = _policy()
    obs = _obs(2)
    obs[1, :S] = obs[0, :S]  # same state, tasks 0 and 1
    # The authors' init makes the output layer near zero, so compare exactly.
    mean, _, _ = policy.actor.get_action_dist_params(obs)
    assert (mean[0] - mean[1]).abs().max() > 0


def test_policy_save_and_load_give_identical_actions(tmp_path) -> None:
    policy = _policy(num_layers=3, num_modules=3, routing="hard")
    path = tmp_path / "policy.pt"
    policy.save(str(path))
    loaded = SoftModularPolicy.load(str(path))
    obs = _obs().numpy()
    np.testing.assert_array_equal(
        policy.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    assert loaded.num_layers == 3 and loaded.routing == "hard"


@pytest.mark.parametrize(
    ("policy_class", "kwargs", "network"),
    [
        (SoftModularPolicy, {**SMALL_SOFT, "network_class": LoopSoftRoutedMLP}, LoopSoftRoutedMLP),
        (MultiHeadPolicy, {"trunk_sizes": (16, 16), "head_sizes": (8,)}, MultiHeadMLP),
        (MixtureOfExpertsPolicy, {"num_experts": 2, "hidden_sizes": (16,)}, MixtureOfExperts),
    ],
)
def test_sac_save_and_load_round_trip(tmp_path, policy_class, kwargs, network) -> None:
    # Plain SB3 SAC; tuples in policy_kwargs come back from the zip as lists.
    env = make_point_reach_vec_env(T, seed=0)
    model = SAC(
        policy_class,
        env,
        policy_kwargs={"num_tasks": T, **kwargs},
        learning_starts=12,
        batch_size=12,
        seed=0,
    )
    model.learn(30)
    assert isinstance(model.policy.actor.net, network)
    model.save(tmp_path / "model.zip")
    loaded = SAC.load(tmp_path / "model.zip", env=env)
    obs = env.reset()
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    loaded.learn(6)  # and it keeps training after the round trip


def test_bare_sac_on_a_metaworld_shaped_env() -> None:
    env = make_random_state_vec_env(10, seed=0)  # obs 39 + 10, action 4
    model = SAC(SoftModularPolicy, env)
    assert model.policy.num_tasks == 10
    net = model.policy.actor.net
    assert (net.num_layers, net.num_modules, net.module_features) == (2, 2, 256)  # Shallow
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (10, 4)


class _DiscreteEnv(gym.Env):
    observation_space = OBS
    action_space = spaces.Discrete(3)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (
            {"num_tasks": 5},
            r"observation width must hold a state and the 5-column task one-hot \(be > num_tasks=5\), got 5",
        ),
        ({"num_tasks": None}, r"num_tasks must be given in policy_kwargs .*observation width is 5"),
        ({"num_tasks": 0}, r"num_tasks must be an int >= 1, got 0"),
        ({"routing": "sparse"}, r"routing must be one of \['soft', 'hard', 'topk'\], got 'sparse'"),
        ({"variant": "v2"}, r"variant must be one of \['official', 'paper'\], got 'v2'"),
        ({"use_sde": True}, r"use_sde must be False"),
        ({"net_arch": [64, 64]}, r"net_arch must be None"),
        ({"share_features_extractor": True}, r"share_features_extractor must be False"),
        ({"n_critics": 0}, r"n_critics must be an int >= 1, got 0"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs, error) -> None:
    with pytest.raises(ConfigError, match=error):
        _policy(**kwargs)


def test_one_hot_bounds_that_exclude_zero_or_one_are_refused() -> None:
    obs = spaces.Box(-5.0, -2.0, shape=(6,), dtype=np.float32)
    with pytest.raises(ConfigError, match="bounds of the last 3 observation columns"):
        SoftModularPolicy(obs, ACT, _lr, num_tasks=3, **SMALL_SOFT)


def test_non_box_spaces_are_refused() -> None:
    with pytest.raises(
        ConfigError, match="action_space must be a gymnasium.spaces.Box, got Discrete"
    ):
        SoftModularPolicy(OBS, spaces.Discrete(3), _lr, num_tasks=T)
    with pytest.raises(ConfigError, match="observation_space must be a flat Box"):
        SoftModularPolicy(spaces.Discrete(4), ACT, _lr, num_tasks=T)
