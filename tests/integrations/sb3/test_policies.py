"""SoftModularPolicy and the baseline policies: structure, save/load, bad input."""

from __future__ import annotations

import re

import pytest

pytest.importorskip("stable_baselines3")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3 import SAC  # noqa: E402

from modnet import MixtureOfExperts, MultiHeadMLP, Soft, SoftRoutedMLP, TopK  # noqa: E402
from modnet.config import SoftRoutedMLPConfig  # noqa: E402
from modnet.errors import ConfigError, ShapeError  # noqa: E402
from modnet.reference import LoopSoftRoutedMLP  # noqa: E402
from modnet.routing import routing_names  # noqa: E402
from modnet.soft_modular_variants import variant_names  # noqa: E402
from modnet_sb3 import (  # noqa: E402
    MixtureOfExpertsPolicy,
    MultiHeadPolicy,
    SoftModularPolicy,
)
from modnet_sb3.testing import make_point_reach_vec_env, make_random_state_vec_env  # noqa: E402

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
    model = SAC(SoftModularPolicy, env, policy_kwargs={"num_tasks": 10})
    net = model.policy.actor.net
    assert (net.num_layers, net.num_modules, net.module_features) == (2, 2, 256)  # Shallow
    assert net.in_features == 39
    actions, _ = model.predict(env.reset(), deterministic=True)
    assert actions.shape == (10, 4)


def test_bare_sac_without_num_tasks_asks_for_it() -> None:
    # Plain SAC cannot tell the policy what the env declares; nothing is guessed.
    env = make_random_state_vec_env(2, seed=0)
    with pytest.raises(
        ConfigError,
        match=r'SoftModularPolicy: num_tasks must be given: pass policy_kwargs=\{"num_tasks": T\}',
    ):
        SAC(SoftModularPolicy, env)


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
        ({"num_tasks": None}, r"num_tasks must be given: pass policy_kwargs=.*got None"),
        ({"num_tasks": 0}, r"num_tasks must be an int >= 1, got 0"),
        # The names come from the registries, so a registered strategy or variant is accepted.
        (
            {"routing": "sparse"},
            rf"SoftModularPolicy: routing must be one of {re.escape(str(list(routing_names())))}, "
            r"got 'sparse'",
        ),
        (
            {"variant": "v2"},
            rf"SoftModularPolicy: variant must be one of {re.escape(str(list(variant_names())))}",
        ),
        ({"num_layers": 1}, r"SoftModularPolicy: num_layers must be an int >= 2, got 1"),
        ({"routing": "topk"}, r"missing required argument 'k'"),
        (
            {"routing": "topk", "routing_kwargs": {"k": 3}},
            r"SoftModularPolicy: routing k must be <= num_modules = 2, got 3",
        ),
        (
            {"num_layer": 3},
            r"SoftModularPolicy: unknown argument 'num_layer' \(got 3\); known network "
            r"settings: num_layers, num_modules",
        ),
        # The sizes come from the spaces, never from policy_kwargs.
        ({"in_features": 4}, r"SoftModularPolicy: unknown argument 'in_features' \(got 4\)"),
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


def test_network_settings_are_the_configs_fields() -> None:
    assert SoftModularPolicy.setting_names() == SoftRoutedMLPConfig.setting_names()
    assert MultiHeadPolicy.setting_names() == ("trunk_sizes", "head_sizes")
    assert MixtureOfExpertsPolicy.setting_names() == ("num_experts", "hidden_sizes")
    policy = _policy()
    # Defaults filled in from the config, stored as attributes, passed to every network.
    assert policy.num_layers == 2 and policy.routing == "soft" and policy.variant == "official"
    net_config = policy.actor.net.config
    assert policy.network_settings() == {
        n: getattr(net_config, n) for n in SoftRoutedMLPConfig.setting_names()
    }


def test_constructor_parameters_rebuild_the_same_policy() -> None:
    policy = _policy(routing="topk", routing_kwargs={"k": 2}, num_modules=3, variant="paper")
    data = policy._get_constructor_parameters()
    assert {n: data[n] for n in SoftModularPolicy.setting_names()} == policy.network_settings()
    rebuilt = SoftModularPolicy(**data)
    assert rebuilt.network_settings() == policy.network_settings()
    net = rebuilt.actor.net
    assert isinstance(net.routing, TopK) and net.routing.k == 2 and net.variant == "paper"


def test_topk_routing_survives_save_and_load(tmp_path) -> None:
    policy = _policy(routing="topk", routing_kwargs={"k": 2}, num_modules=3)
    policy.save(str(tmp_path / "policy.pt"))
    loaded = SoftModularPolicy.load(str(tmp_path / "policy.pt"))
    assert loaded.routing == "topk" and loaded.routing_kwargs == {"k": 2}
    assert all(isinstance(m.routing, TopK) and m.routing.k == 2 for m in _networks(loaded))


@pytest.mark.parametrize(
    ("policy_class", "kwargs", "error"),
    [
        (
            MultiHeadPolicy,
            {"trunk_sizes": [0]},
            r"MultiHeadPolicy: trunk_sizes.0 must be an int >= 1",
        ),
        (MultiHeadPolicy, {"trunk": [8]}, r"MultiHeadPolicy: unknown argument 'trunk'"),
        (MixtureOfExpertsPolicy, {"num_experts": 0}, r"MixtureOfExpertsPolicy: num_experts must"),
    ],
)
def test_baseline_settings_are_validated_by_their_config(policy_class, kwargs, error) -> None:
    with pytest.raises(ConfigError, match=error):
        _policy(policy_class, **kwargs)


def test_baseline_size_lists_become_tuples() -> None:
    # SB3's save/load gives lists back; the config turns them into tuples again.
    policy = _policy(MultiHeadPolicy, trunk_sizes=[16, 16], head_sizes=[8])
    assert policy.trunk_sizes == (16, 16) and policy.head_sizes == (8,)
    assert policy.actor.net.trunk_sizes == (16, 16)


def _networks(policy) -> list[torch.nn.Module]:
    critics = policy.critic
    members = (
        [critics.q_ensemble.member(k) for k in range(critics.n_critics)]
        if critics.vmap_critics
        else list(critics.q_networks)
    )
    return [policy.actor.net, *members]


@pytest.mark.parametrize("vmap_critics", [True, False])
def test_actor_and_critics_receive_int64_task_ids(monkeypatch, vmap_critics: bool) -> None:
    seen: list[tuple[str, torch.Tensor]] = []
    forward, ensemble_forward = SoftRoutedMLP.forward, SoftRoutedMLP.ensemble_forward

    def spy_forward(self, x, task, *args, **kwargs):
        seen.append(("forward", task))
        return forward(self, x, task, *args, **kwargs)

    def spy_ensemble(self, params, x, task):
        seen.append(("ensemble_forward", task))
        return ensemble_forward(self, params, x, task)

    monkeypatch.setattr(SoftRoutedMLP, "forward", spy_forward)
    monkeypatch.setattr(SoftRoutedMLP, "ensemble_forward", spy_ensemble)
    policy = _policy(vmap_critics=vmap_critics)
    obs = _obs()
    expected = torch.arange(6) % T
    policy.actor.action_log_prob(obs)
    assert len(seen) == 1
    policy.critic.q_values(obs, torch.zeros(6, A))
    calls = ["ensemble_forward"] if vmap_critics else ["forward", "forward"]
    assert [name for name, _ in seen[1:]] == calls
    for _, task in seen:
        assert task.dtype == torch.int64
        torch.testing.assert_close(task, expected)


def test_predict_refuses_an_observation_that_is_not_one_hot() -> None:
    policy = _policy()
    obs = _obs(3).numpy()
    obs[2, -T:] = [0.0, 0.5, 0.5]
    with pytest.raises(
        ShapeError,
        match=r"SoftModularPolicy.predict: the last 3 observation columns must be a task "
        r"one-hot \(num_tasks must match the env\), got \[0.0, 0.5, 0.5\] in env column 2",
    ):
        policy.predict(obs)


def test_predict_refuses_nan_naming_the_env_column() -> None:
    policy = _policy()
    obs = _obs(3).numpy()
    obs[1, 0] = np.nan
    with pytest.raises(
        ShapeError,
        match=r"SoftModularPolicy.predict: the observation of env column 1 must be finite, "
        r"got nan at state entry 0",
    ):
        policy.predict(obs)
    single = _obs(1).numpy()[0]
    single[-1] = np.inf
    with pytest.raises(
        ShapeError, match=r"env column 0 must be finite, got inf at one-hot entry 2"
    ):
        policy.predict(single)


class _NanAfterReset(gym.Wrapper):
    def step(self, action):
        obs, *rest = self.env.step(action)
        return np.full_like(obs, np.nan), *rest


def test_plain_sac_collection_goes_through_the_check() -> None:
    env = make_point_reach_vec_env(T, seed=0)
    env.envs[1] = _NanAfterReset(env.envs[1])
    # One warm-up step (uniform actions, no predict), then the policy acts on the NaN
    # observation: refused there, before any update could read it.
    model = SAC(
        SoftModularPolicy, env, policy_kwargs={"num_tasks": T, **SMALL_SOFT}, learning_starts=T
    )
    with pytest.raises(
        ShapeError, match=r"predict: the observation of env column 1 must be finite"
    ):
        model.learn(3 * T)


def test_a_registered_routing_strategy_works_through_the_policy(tmp_path) -> None:
    # One class and one registration (tests/registered_extras.py) make a routing name that
    # the policy accepts, builds into the actor and every critic, saves and loads.
    from registered_extras import SHARP, registered_sharp_routing

    with registered_sharp_routing() as sharp:
        policy = _policy(routing=SHARP, routing_kwargs={"power": 3.0})
        assert all(
            isinstance(m.routing, sharp) and m.routing.power == 3.0 for m in _networks(policy)
        )
        obs = _obs()
        q = policy.critic(obs, policy.actor(obs, deterministic=True))
        assert len(q) == 2 and q[0].shape == (6, 1)
        policy.save(str(tmp_path / "policy.pt"))
        loaded = SoftModularPolicy.load(str(tmp_path / "policy.pt"))
        assert loaded.routing == SHARP and loaded.routing_kwargs == {"power": 3.0}
        torch.testing.assert_close(
            loaded.actor(obs, deterministic=True), policy.actor(obs, deterministic=True)
        )
    with pytest.raises(
        ConfigError, match=rf"SoftModularPolicy: routing must be one of .*'{SHARP}'"
    ):
        _policy(routing=SHARP)


def test_predict_refuses_an_observation_of_the_wrong_width() -> None:
    policy = _policy()
    obs = _obs(2).numpy()
    with pytest.raises(
        ShapeError, match=rf"SoftModularPolicy.predict: observation must have {S + T} columns"
    ):
        policy.predict(obs[:, :-1])
