"""MTSAC: per-task temperatures and loss weights, logging, callbacks, save/load, bad input."""

from __future__ import annotations

import copy
import math

import pytest

pytest.importorskip("stable_baselines3")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import modnet_sb3.mtsac as mtsac_module  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3 import (  # noqa: E402
    MTSAC,
    MixtureOfExpertsPolicy,
    MultiHeadPolicy,
    SoftModularPolicy,
    TaskBalancedReplayBuffer,
    task_loss_weights,
    temperature_loss,
)
from modnet_sb3.testing import PointReachEnv, make_point_reach_vec_env  # noqa: E402

SMALL_SOFT = {"hidden_features": 16, "routing_features": 16, "module_features": 16}
T = 3


def _model(policy="SoftModularPolicy", env=None, **kwargs) -> MTSAC:
    env = env if env is not None else make_point_reach_vec_env(T, seed=0)
    kwargs.setdefault("policy_kwargs", SMALL_SOFT if policy == "SoftModularPolicy" else None)
    kwargs.setdefault("replay_buffer_class", TaskBalancedReplayBuffer)
    kwargs.setdefault("learning_starts", 3 * T)
    kwargs.setdefault("batch_size", 4 * T)
    kwargs.setdefault("seed", 0)
    return MTSAC(policy, env, **kwargs)


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("SoftModularPolicy", SoftModularPolicy),
        ("MultiHeadPolicy", MultiHeadPolicy),
        ("MixtureOfExpertsPolicy", MixtureOfExpertsPolicy),
    ],
)
def test_policies_by_name(name, cls) -> None:
    kwargs = {
        "SoftModularPolicy": SMALL_SOFT,
        "MultiHeadPolicy": {"trunk_sizes": [8], "head_sizes": [8]},
        "MixtureOfExpertsPolicy": {"num_experts": 2, "hidden_sizes": [8]},
    }[name]
    model = _model(name, policy_kwargs=kwargs)
    assert type(model.policy) is cls
    assert model.policy.num_tasks == T  # filled in from the one-env-per-task VecEnv


def test_temperature_vector_shape_and_initial_value() -> None:
    model = _model()
    assert model.log_ent_coef.shape == (T,)
    assert torch.equal(model.log_ent_coef.detach(), torch.zeros(T))
    assert model.target_entropy == -2.0  # -|A|
    model = _model(ent_coef="auto_0.1")
    torch.testing.assert_close(model.temperatures(), torch.full((T,), 0.1))
    fixed = _model(ent_coef=0.3)
    assert fixed.log_ent_coef is None
    torch.testing.assert_close(fixed.temperatures(), torch.full((T,), 0.3))


def test_loss_weights_follow_each_reweight_rule() -> None:
    log_alpha = torch.tensor([0.0, math.log(2.0), math.log(4.0)], requires_grad=True)
    inverse = task_loss_weights(log_alpha, "inverse_alpha")
    # T · softmax(-log α) is proportional to 1/α and has mean 1.
    torch.testing.assert_close(inverse, 3 * torch.tensor([1.0, 0.5, 0.25]) / 1.75)
    torch.testing.assert_close(inverse.mean(), torch.tensor(1.0))
    paper = task_loss_weights(log_alpha, "paper")
    torch.testing.assert_close(paper, 3 * torch.softmax(-torch.tensor([1.0, 2.0, 4.0]), 0))
    torch.testing.assert_close(task_loss_weights(log_alpha, "none"), torch.ones(3))
    assert not inverse.requires_grad and not paper.requires_grad  # detached
    with pytest.raises(ConfigError, match="reweight must be one of"):
        task_loss_weights(log_alpha, "uniform")


def test_each_temperature_follows_its_own_tasks_samples() -> None:
    log_alpha = torch.zeros(3, requires_grad=True)
    task = torch.tensor([0, 0, 1, 1, 2, 2])
    log_prob = torch.tensor([1.0, 3.0, -5.0, -7.0, 2.0, 2.0])
    temperature_loss(log_alpha, task, log_prob, -2.0).backward()
    # d/d log α_t = -Σ_{b in t} (log π_b + target) / B
    torch.testing.assert_close(log_alpha.grad, -torch.tensor([0.0, -16.0, 0.0]) / 6)
    # Task 1's entropy is above target (log π + target < 0): descent lowers its α only.
    assert log_alpha.grad[1] > 0
    changed = log_prob.clone()
    changed[:2] += 10.0  # only task 0's samples change ...
    log_alpha.grad = None
    temperature_loss(log_alpha, task, changed, -2.0).backward()
    # ... and only task 0's gradient changes.
    torch.testing.assert_close(log_alpha.grad, torch.tensor([-20.0, 16.0, 0.0]) / 6)


def test_training_moves_temperatures_and_save_load_keeps_them_exactly(tmp_path) -> None:
    env = make_point_reach_vec_env(T, seed=0)
    model = _model(env=env)
    model.learn(60)
    assert not torch.equal(model.log_ent_coef.detach(), torch.zeros(T))
    model.save(tmp_path / "mtsac.zip")
    loaded = MTSAC.load(tmp_path / "mtsac.zip", env=env)
    assert loaded.log_ent_coef.shape == (T,)
    assert torch.equal(loaded.log_ent_coef.detach(), model.log_ent_coef.detach())
    assert loaded.reweight == "inverse_alpha" and loaded.max_grad_norm == 1.0
    obs = env.reset()
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], loaded.predict(obs, deterministic=True)[0]
    )
    # The temperature optimiser is restored on the loaded vector and training goes on.
    assert loaded.ent_coef_optimizer.param_groups[0]["params"][0] is loaded.log_ent_coef
    loaded.learn(12)
    assert not torch.equal(loaded.log_ent_coef.detach(), model.log_ent_coef.detach())


def test_gradients_are_clipped_per_network(monkeypatch) -> None:
    calls: dict[str, list[float]] = {"critic": [], "actor": []}
    real_member, real_clip = mtsac_module.clip_grad_norm_per_member_, mtsac_module._clip_

    def member_spy(params, max_norm):
        calls["critic"].append(max_norm)
        return real_member(params, max_norm)

    def clip_spy(params, max_norm):
        calls["actor"].append(max_norm)
        return real_clip(params, max_norm)

    monkeypatch.setattr(mtsac_module, "clip_grad_norm_per_member_", member_spy)
    monkeypatch.setattr(mtsac_module, "_clip_", clip_spy)
    model = _model(max_grad_norm=0.5)
    model.learn(3 * T + 6)
    assert calls["critic"] and set(calls["critic"]) == {0.5}
    assert calls["actor"] and set(calls["actor"]) == {0.5}


class _Counter(BaseCallback):
    def __init__(self) -> None:
        super().__init__()
        self.steps = 0

    def _on_step(self) -> bool:
        self.steps += 1
        return True


def test_callbacks_and_progress_bar(tmp_path) -> None:
    counter = _Counter()
    checkpoint = CheckpointCallback(save_freq=5, save_path=str(tmp_path), name_prefix="mt")
    model = _model()
    model.learn(30, callback=CallbackList([counter, checkpoint]), progress_bar=True)
    assert counter.steps == 30 // T
    saved = sorted(tmp_path.glob("mt_*.zip"))
    assert saved
    assert MTSAC.load(saved[-1]).log_ent_coef.shape == (T,)


def test_csv_log_holds_per_task_temperatures_and_routing_diagnostics(tmp_path, monkeypatch) -> None:
    dumps = []
    real = mtsac_module.record_routing_diagnostics
    monkeypatch.setattr(
        mtsac_module,
        "record_routing_diagnostics",
        lambda *a: dumps.append(1) or real(*a),
    )
    env = make_point_reach_vec_env(T, seed=0, max_steps=5)
    model = _model(env=env, task_names=["east", "north-west", "south-west"])
    model.set_logger(configure(str(tmp_path), ["csv"]))
    model.learn(20 * T, log_interval=T)  # T episodes end together: one log line per 5 steps
    log = pd.read_csv(tmp_path / "progress.csv")
    for name in ("east", "north-west", "south-west"):
        assert f"train/ent_coef/{name}" in log and f"train/loss_weight/{name}" in log
    for key in (
        "layer_0/entropy",
        "layer_0/usage_0",
        "layer_0/usage_1",
        "final/entropy",
        "final/usage_1",
    ):
        assert f"routing/actor/{key}" in log
        # The twin critics (each with its own routing) on the batch's own actions.
        assert f"routing/critic_0/{key}" in log and f"routing/critic_1/{key}" in log
    rows = log.dropna(subset=["routing/actor/final/entropy"])
    assert len(rows) >= 2
    # Entropy in nats: between 0 and log n; usage sums to one over modules.
    assert (
        (rows["routing/actor/final/entropy"] >= 0)
        & (rows["routing/actor/final/entropy"] <= math.log(2) + 1e-6)
    ).all()
    for net in ("actor", "critic_0", "critic_1"):
        np.testing.assert_allclose(
            rows[f"routing/{net}/final/usage_0"] + rows[f"routing/{net}/final/usage_1"],
            1.0,
            rtol=1e-5,
        )
    # Diagnostics are computed once per log line, not on every gradient step.
    assert len(dumps) == len(log) < model._n_updates


@pytest.mark.parametrize(
    ("policy", "policy_kwargs"),
    [
        ("MultiHeadPolicy", {"trunk_sizes": [16], "head_sizes": [16]}),
        ("MixtureOfExpertsPolicy", {"num_experts": 2, "hidden_sizes": [16]}),
        ("MlpPolicy", {"net_arch": [16, 16]}),  # MT-SAC: SB3's MLP on the one-hot observation
    ],
)
def test_baseline_policies_train(policy, policy_kwargs) -> None:
    model = _model(policy, policy_kwargs=policy_kwargs, reweight="none")
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(3 * T + 15)
    assert model._n_updates > 0
    after = list(model.policy.parameters())
    assert any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))
    assert all(torch.isfinite(p).all() for p in after)


class _DiscreteActions(gym.Env):
    observation_space = spaces.Box(0.0, 1.0, shape=(5,), dtype=np.float32)
    action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        return np.zeros(5, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(5, dtype=np.float32), 0.0, False, False, {}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (
            {"reweight": "softmax"},
            r"MTSAC: reweight must be one of \['inverse_alpha', 'paper', 'none'\], got 'softmax'",
        ),
        ({"max_grad_norm": 0.0}, r"max_grad_norm must be positive or None, got 0.0"),
        ({"use_sde": True}, r"use_sde must be False"),
        (
            {"batch_size": 10},
            r"batch_size must be a multiple of num_tasks = 3 with TaskBalancedReplayBuffer, got 10",
        ),
        (
            {"num_tasks": 2},
            r"number of envs must equal num_tasks = 2 with TaskBalancedReplayBuffer .*got 3",
        ),
        (
            {"num_tasks": 2, "policy_kwargs": {**SMALL_SOFT, "num_tasks": 3}},
            r"num_tasks must equal policy_kwargs\['num_tasks'\] = 3, got 2",
        ),
        ({"task_names": ["a", "b"]}, r"task_names must hold 3 names, got 2"),
        ({"warmup_actions": "random"}, r"warmup_actions must be one of \['uniform', 'policy'\]"),
        (
            {"update_order": "rlkit"},
            r"update_order must be one of \['sb3', 'authors'\], got 'rlkit'",
        ),
        ({"policy_kwargs": {**SMALL_SOFT, "routing": "dense"}}, r"routing must be one of"),
    ],
)
def test_bad_settings_fail_at_construction(kwargs, error) -> None:
    with pytest.raises(ConfigError, match=error):
        _model(**kwargs)


def test_non_box_action_space_is_refused() -> None:
    env = DummyVecEnv([_DiscreteActions])
    with pytest.raises(
        ConfigError, match="action space must be a gymnasium.spaces.Box, got Discrete"
    ):
        MTSAC("SoftModularPolicy", env, policy_kwargs={"num_tasks": 2})


def test_num_tasks_is_read_from_what_the_env_declares() -> None:
    # One env holding task 1 of 4: the one-hot is 4 wide, though there is a single env.
    env = DummyVecEnv([lambda: PointReachEnv(1, 4)])
    model = _model(env=env, replay_buffer_class=None, batch_size=8)
    assert model.num_tasks == 4 and model.policy.num_tasks == 4
    assert model.log_ent_coef.shape == (4,)
    model.learn(12)


class _NoNumTasks(gym.Wrapper):
    """Hides the env's num_tasks: an env that declares nothing."""

    def __getattr__(self, name):
        if name == "num_tasks":
            raise AttributeError(name)
        return getattr(self.env, name)

    def get_wrapper_attr(self, name):
        if name == "num_tasks":
            raise AttributeError(name)
        return super().get_wrapper_attr(name)


def test_num_tasks_that_cannot_be_known_is_asked_for() -> None:
    env = DummyVecEnv([lambda: _NoNumTasks(PointReachEnv(1, 4))])
    with pytest.raises(
        ConfigError,
        match=r'MTSAC: num_tasks must be given: MTSAC\(num_tasks=T\) or policy_kwargs=\{"num_tasks": T\}',
    ):
        _model(env=env, replay_buffer_class=None, batch_size=8)
    model = _model(env=env, replay_buffer_class=None, batch_size=8, num_tasks=4)
    assert model.policy.num_tasks == 4


def test_num_tasks_that_does_not_match_the_env_one_hot_is_caught() -> None:
    # 2 tasks in the env, 3 claimed: the "one-hot" would take in the y coordinate.
    # The env declares num_tasks = 2, so the mismatch is refused at construction.
    env = make_point_reach_vec_env(2, seed=0)
    with pytest.raises(ConfigError, match="num_tasks must equal the env's num_tasks = 2"):
        _model(env=env, num_tasks=3, replay_buffer_class=None, batch_size=6)


def test_one_update_matches_the_multi_task_sac_equations() -> None:
    """Recompute one gradient step's losses by hand from a copy of the networks."""
    model = _model(learning_rate=1e-2, reweight="inverse_alpha", gamma=0.9)
    model.learn(3 * T + 3)  # fills the buffer (and trains a few steps)
    with torch.no_grad():
        model.log_ent_coef.copy_(torch.tensor([0.3, -0.2, 0.1]))
    model.ent_coef_optimizer = torch.optim.Adam([model.log_ent_coef], lr=1e-2)  # fresh state
    actor, critic = copy.deepcopy(model.actor), copy.deepcopy(model.critic)
    critic_target = copy.deepcopy(model.critic_target)
    log_alpha0 = model.log_ent_coef.detach().clone()

    np.random.seed(7)
    torch.manual_seed(7)
    model.train(1, 4 * T)
    logged = model.logger.name_to_value

    np.random.seed(7)
    torch.manual_seed(7)
    data = model.replay_buffer.sample(4 * T)
    task = data.observations[:, -T:].argmax(1)
    _, log_prob = actor.action_log_prob(data.observations)
    # Temperature step first (Adam's first step is lr * g / (|g| + eps)).
    grad = torch.stack([-(log_prob[task == t].detach() - 2.0).sum() / len(task) for t in range(T)])
    log_alpha = log_alpha0 - 1e-2 * grad / (grad.abs() + 1e-8)
    torch.testing.assert_close(model.log_ent_coef.detach(), log_alpha)
    alpha = log_alpha.exp()[task]
    weight = (T * torch.softmax(-log_alpha, 0))[task]
    with torch.no_grad():
        next_a, next_logp = actor.action_log_prob(data.next_observations)
        next_q = torch.minimum(*critic_target(data.next_observations, next_a))[:, 0]
        y = data.rewards[:, 0] + 0.9 * (1 - data.dones[:, 0]) * (next_q - alpha * next_logp)
        q1, q2 = critic(data.observations, data.actions)
        expected = sum((weight * (q[:, 0] - y) ** 2).mean() for q in (q1, q2))
    assert logged["train/critic_loss"] == pytest.approx(expected.item(), rel=1e-5)
    for t in range(T):
        assert logged[f"train/ent_coef/{t}"] == pytest.approx(log_alpha[t].exp().item(), rel=1e-6)


@pytest.mark.parametrize("warmup_actions", ["uniform", "policy"])
def test_warmup_actions_come_from_the_chosen_source(warmup_actions, monkeypatch) -> None:
    """Before learning_starts, "policy" acts with the (untrained) policy, "uniform" samples the box."""
    model = _model(learning_starts=1_000, warmup_actions=warmup_actions)
    fixed = np.full((T, 2), 0.25, dtype=np.float32)
    monkeypatch.setattr(model, "predict", lambda obs, **kwargs: (fixed, None))
    model.learn(5 * T)
    actions = model.replay_buffer.actions[: model.replay_buffer.pos].reshape(-1, 2)
    from_policy = np.allclose(actions, 0.25 / np.abs(model.action_space.high))
    assert from_policy == (warmup_actions == "policy")
    assert model.num_timesteps < model.learning_starts  # no update could have run


def _one_step(update_order: str, freeze_critics: bool, monkeypatch) -> MTSAC:
    """A model with 12 transitions per task and no update yet, after one gradient step."""
    model = _model(learning_rate=1e-2, learning_starts=1_000, update_order=update_order)
    model.learn(12 * T)  # collection only: learning_starts is not reached
    assert model._n_updates == 0
    if freeze_critics:
        monkeypatch.setattr(model.critic.optimizer, "step", lambda *a, **k: None)
    torch.manual_seed(3)
    np.random.seed(3)
    model.train(1, 4 * T)
    return model


def _flat(module: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_update_orders_differ_only_in_which_critics_the_actor_is_trained_against(
    monkeypatch,
) -> None:
    sb3 = _one_step("sb3", False, monkeypatch)
    authors = _one_step("authors", False, monkeypatch)
    # The critics' step does not depend on the actor's (the target is computed first).
    torch.testing.assert_close(_flat(sb3.critic), _flat(authors.critic), rtol=0, atol=0)
    torch.testing.assert_close(sb3.log_ent_coef, authors.log_ent_coef, rtol=0, atol=0)
    # The actors differ: SB3's order trains it against the critics after their step.
    assert (_flat(sb3.actor) - _flat(authors.actor)).abs().max() > 1e-6
    # With the critics held still the two orders are the same update, so the difference
    # above is exactly which critics the actor saw.
    frozen_sb3 = _one_step("sb3", True, monkeypatch)
    frozen_authors = _one_step("authors", True, monkeypatch)
    torch.testing.assert_close(_flat(frozen_sb3.actor), _flat(frozen_authors.actor), rtol=0, atol=0)
    torch.testing.assert_close(_flat(frozen_authors.actor), _flat(authors.actor), rtol=0, atol=0)


def test_load_with_a_constant_ent_coef_switches_off_learned_temperatures(tmp_path) -> None:
    # Plain SB3 SAC crashes with an AttributeError here (its temperature optimiser is gone).
    model = _model(learning_rate=1e-2)
    model.learn(6 * T)
    model.save(tmp_path / "learned.zip")
    loaded = MTSAC.load(tmp_path / "learned.zip", env=model.env, custom_objects={"ent_coef": 0.05})
    assert loaded.ent_coef_optimizer is None and loaded.log_ent_coef is None
    assert torch.equal(loaded.temperatures(), torch.full((T,), 0.05))
    loaded.learn(6 * T)
    assert torch.equal(loaded.temperatures(), torch.full((T,), 0.05))
    # And back: "auto" starts learning one temperature per task from the constant.
    loaded.save(tmp_path / "constant.zip")
    relearned = MTSAC.load(
        tmp_path / "constant.zip", env=model.env, custom_objects={"ent_coef": "auto"}
    )
    assert relearned.log_ent_coef.shape == (T,)
    torch.testing.assert_close(relearned.temperatures(), torch.full((T,), 0.05))
    relearned.learn(6 * T)
    assert not torch.allclose(relearned.temperatures(), torch.full((T,), 0.05), rtol=0, atol=1e-7)
    with pytest.raises(
        ConfigError, match=r"MTSAC.load: custom_objects\['ent_coef'\] must be a positive"
    ):
        MTSAC.load(tmp_path / "constant.zip", env=model.env, custom_objects={"ent_coef": -1.0})
