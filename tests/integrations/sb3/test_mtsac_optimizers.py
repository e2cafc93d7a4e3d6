"""MTSAC's optimisers: fused Adam by default, the user's optimizer_kwargs win, checkpoints
of either kind load and train on exactly; the foreach soft target update equals SB3's."""

from __future__ import annotations

import copy
from typing import Any

import pytest

pytest.importorskip("stable_baselines3")

import torch  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from stable_baselines3.common.utils import polyak_update  # noqa: E402
from tiny_mtsac import balanced_mtsac  # noqa: E402

import modnet_sb3.mtsac as mtsac_module  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3 import MTSAC  # noqa: E402

SMALL_SOFT = {"hidden_features": 16, "routing_features": 16, "module_features": 16}


def _optimizers(model: MTSAC) -> dict[str, torch.optim.Optimizer]:
    found = {"actor": model.actor.optimizer, "critic": model.critic.optimizer}
    if model.ent_coef_optimizer is not None:
        found["temperature"] = model.ent_coef_optimizer
    return found


def _fused(model: MTSAC) -> dict[str, Any]:
    return {name: opt.param_groups[0]["fused"] for name, opt in _optimizers(model).items()}


def _state(model: MTSAC) -> dict[str, torch.Tensor]:
    state = {f"policy.{k}": v.clone() for k, v in model.policy.state_dict().items()}
    state["log_ent_coef"] = model.log_ent_coef.detach().clone()
    return state


def _assert_equal_states(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


@pytest.mark.parametrize(
    ("policy", "policy_kwargs"),
    [("MlpPolicy", {"net_arch": [16, 16]}), ("SoftModularPolicy", dict(SMALL_SOFT))],
    ids=["mlp", "soft-modular"],
)
def test_default_optimisers_are_fused_and_policy_kwargs_stay_the_users(
    policy: str, policy_kwargs: dict[str, Any]
) -> None:
    given = copy.deepcopy(policy_kwargs)
    model = balanced_mtsac(policy, policy_kwargs=given)
    assert _fused(model) == {"actor": True, "critic": True, "temperature": True}
    assert isinstance(model.actor.optimizer, torch.optim.Adam)
    # Handed to the policy only: the stored (and saved) policy_kwargs are the user's
    # (SB3 adds its use_sde), and the user's dict gains no optimizer_kwargs.
    assert "optimizer_kwargs" not in model.policy_kwargs and "optimizer_kwargs" not in given
    assert model.policy.optimizer_kwargs == {"fused": True}


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"optimizer_kwargs": {}}, None),  # an empty dict is a choice too: torch's default
        ({"optimizer_kwargs": {"foreach": True}}, None),
        ({"optimizer_kwargs": {"fused": False, "eps": 1e-5}}, False),
        ({"optimizer_class": torch.optim.AdamW}, True),
        ({"optimizer_class": torch.optim.SGD}, None),
    ],
    ids=["empty", "foreach", "fused-false", "adamw", "sgd"],
)
def test_the_users_optimiser_settings_win(extra: dict[str, Any], expected: Any) -> None:
    model = balanced_mtsac(policy_kwargs={"net_arch": [16, 16], **extra})
    for name in ("actor", "critic"):
        group = _optimizers(model)[name].param_groups[0]
        assert group.get("fused") == expected, name
        for key, value in extra.get("optimizer_kwargs", {}).items():
            assert group[key] == value, (name, key)
    if "optimizer_class" in extra:
        assert type(model.actor.optimizer) is extra["optimizer_class"]
    # The temperature's Adam follows the policy's choice of kwargs, not its class.
    assert model.ent_coef_optimizer.param_groups[0]["fused"] is (
        True if "optimizer_kwargs" not in extra else None
    )
    model.learn(3 * 3 + 3)  # and every kind trains


def test_fused_and_for_loop_adam_take_the_same_step() -> None:
    """Fused is the same algorithm: one update from the same state and batch agrees with
    the for-loop Adam to float rounding (not bit for bit: the kernels round differently)."""
    fused = balanced_mtsac()
    plain = balanced_mtsac(policy_kwargs={"net_arch": [16, 16], "optimizer_kwargs": {}})
    fused.learn(9)  # fills the buffer, no update yet (learning_starts = 9)
    plain.learn(9)
    _assert_equal_states(_state(fused), _state(plain))
    before = _state(fused)
    for model in (fused, plain):
        model.set_random_seed(3)  # the same batch (numpy) and action samples (torch)
        model.train(1, 12)
    after_fused, after_plain = _state(fused), _state(plain)
    moved = [n for n in before if not torch.equal(before[n], after_fused[n])]
    assert len(moved) > len(before) // 2  # the step did move the networks
    for name in before:
        torch.testing.assert_close(after_fused[name], after_plain[name], rtol=1e-5, atol=1e-7)


def _save_and_load(model: MTSAC, path, **kwargs: Any) -> MTSAC:
    model.save(path / "model.zip")
    model.save_replay_buffer(path / "buffer.pkl")
    loaded = MTSAC.load(path / "model.zip", env=model.get_env(), **kwargs)
    loaded.load_replay_buffer(path / "buffer.pkl")
    loaded.set_logger(configure(None, []))  # train() logs; learn() would have set one
    return loaded


def _updates(model: MTSAC, steps: int) -> dict[str, torch.Tensor]:
    """The networks and temperatures after ``steps`` updates on seeded batches (Adam's
    moments and step counts decide them: a lost or mis-loaded optimiser state shows)."""
    model.set_random_seed(5)
    model.train(steps, 12)
    return _state(model)


def test_a_saved_model_loads_fused_and_trains_on_exactly(tmp_path) -> None:
    model = balanced_mtsac("SoftModularPolicy", policy_kwargs=dict(SMALL_SOFT))
    model.learn(15)
    # SB3 refuses a policy_kwargs given at load that differs from the stored ones: those
    # are the user's (with SB3's use_sde and MTSAC's num_tasks), no optimizer_kwargs.
    stored = {**SMALL_SOFT, "use_sde": False, "num_tasks": 3}
    loaded = _save_and_load(model, tmp_path, policy_kwargs=stored)
    assert _fused(loaded) == {"actor": True, "critic": True, "temperature": True}
    _assert_equal_states(_updates(loaded, 4), _updates(model, 4))


def test_a_checkpoint_of_for_loop_adam_loads_as_it_was_saved(tmp_path) -> None:
    """A model saved before the fused default (plain Adam state, no optimizer_kwargs)
    loads with its optimisers as saved and trains on exactly as the original does."""
    model = balanced_mtsac()
    for network in (model.actor, model.critic):
        network.optimizer = torch.optim.Adam(network.optimizer.param_groups[0]["params"])
    model.ent_coef_optimizer = torch.optim.Adam([model.log_ent_coef], lr=3e-4)
    model.learn(15)
    loaded = _save_and_load(model, tmp_path)
    assert _fused(loaded) == {"actor": None, "critic": None, "temperature": None}
    _assert_equal_states(_updates(loaded, 4), _updates(model, 4))


def test_soft_update_equals_sb3s_polyak_update_bit_for_bit() -> None:
    generator = torch.Generator().manual_seed(0)
    shapes = [(2, 5, 3), (2, 5), (7,), ()]
    sources = [torch.randn(s, generator=generator) for s in shapes]
    targets = [torch.randn(s, generator=generator) for s in shapes]
    expected = [t.clone() for t in targets]
    polyak_update(sources, expected, 0.005)
    mtsac_module._soft_update_(sources, targets, 0.005)
    for got, want in zip(targets, expected, strict=True):
        assert torch.equal(got, want)
    with pytest.raises(ConfigError, match=r"_soft_update_: targets must hold 4 tensors, got 3"):
        mtsac_module._soft_update_(sources, targets[:3], 0.005)
