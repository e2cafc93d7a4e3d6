"""MTSAC(gradient_method=...): per-task losses combined by a gradient method, saved and loaded."""

from __future__ import annotations

import copy

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import torch  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from tiny_mtsac import T, balanced_mtsac  # noqa: E402

from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer  # noqa: E402
from modnet_sb3.testing import make_point_reach_vec_env  # noqa: E402


def _model(gradient_method=None, **kwargs) -> MTSAC:
    return balanced_mtsac(gradient_method=gradient_method, **kwargs)


def _parameters(model: MTSAC) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.policy.state_dict().items()}


def _train_on_same_batches(model: MTSAC, steps: int, seed: int) -> None:
    if getattr(model, "_logger", None) is None:
        model.set_logger(configure(folder=None, format_strings=[]))
    torch.manual_seed(seed)
    np.random.seed(seed)
    model.train(gradient_steps=steps, batch_size=model.batch_size)


def test_cagrad_at_c_zero_trains_exactly_like_plain_mtsac() -> None:
    """c = 0 is the mean of the per-task means = the batch mean on a balanced batch."""
    plain = _model()
    plain.learn(6 * T)
    combined = _model("cagrad", gradient_method_kwargs={"c": 0.0, "rescale": False})
    combined.set_parameters(copy.deepcopy(plain.get_parameters()), exact_match=False)
    with torch.no_grad():
        combined.log_ent_coef.copy_(plain.log_ent_coef)  # not among get_parameters()
    combined.replay_buffer = copy.deepcopy(plain.replay_buffer)
    _train_on_same_batches(plain, 3, seed=1)
    _train_on_same_batches(combined, 3, seed=1)
    expected = _parameters(plain)
    for name, tensor in _parameters(combined).items():
        torch.testing.assert_close(tensor, expected[name], rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "networks"),
    [
        ("pcgrad", ("critic", "actor")),
        ("gradnorm", ("critic",)),
        ("cagrad", ("critic", "actor")),
        ("famo", ("critic",)),
    ],
)
def test_each_method_trains_saves_and_resumes_exactly(name, networks, tmp_path) -> None:
    model = _model(name)
    model.learn(6 * T)
    assert model._n_updates > 0
    for network in ("critic", "actor"):
        method = getattr(model, f"_gradient_method_{network}")
        assert (method is not None) == (network in networks)
    if name == "gradnorm":  # the weights moved away from 1 and still sum to T
        weights = model._gradient_method_critic.weights.detach()
        assert not torch.allclose(weights, torch.ones(T))
        assert weights.sum().item() == pytest.approx(T)
    if name == "famo":
        assert model._gradient_method_critic.logits.detach().abs().max() > 0
    model._record_train_logs(torch.zeros(3), model._n_updates)
    for network in networks:  # the coefficients of the per-task gradients are logged
        assert f"train/gradient_coef/{network}/0" in model.logger.name_to_value

    model.save(tmp_path / "model.zip")
    loaded = MTSAC.load(tmp_path / "model.zip", env=make_point_reach_vec_env(T, seed=0))
    assert loaded.gradient_method == name
    for network in networks:
        saved = getattr(model, f"_gradient_method_{network}").state_dict()
        restored = getattr(loaded, f"_gradient_method_{network}").state_dict()
        for key, value in saved.items():
            if isinstance(value, torch.Tensor):
                torch.testing.assert_close(restored[key], value, rtol=0, atol=0, equal_nan=True)
    # One more update on the same batches: the loaded model continues as the original.
    loaded.replay_buffer = copy.deepcopy(model.replay_buffer)
    _train_on_same_batches(model, 2, seed=3)
    _train_on_same_batches(loaded, 2, seed=3)
    expected = _parameters(model)
    for key, tensor in _parameters(loaded).items():
        torch.testing.assert_close(tensor, expected[key], rtol=0, atol=0, msg=key)


def test_the_registered_methods_build_and_train() -> None:
    methods = pytest.importorskip("examples.methods")
    env = make_point_reach_vec_env(T, seed=0)
    for name in ("mt-sac-pcgrad", "mt-sac-gradnorm", "mt-sac-cagrad", "mt-sac-famo"):
        spec = methods.build_method(name, env.observation_space, env.action_space, num_tasks=T)
        assert spec.algorithm_kwargs["gradient_method"] == name.removeprefix("mt-sac-")
        model = MTSAC(
            spec.policy,
            env,
            policy_kwargs={"net_arch": [8]},  # the spec's widths are the paper's; tiny here
            reweight=spec.reweight,
            replay_buffer_class=TaskBalancedReplayBuffer,
            learning_starts=T,
            batch_size=T,
            seed=0,
            device="cpu",
            **spec.algorithm_kwargs,
        )
        model.learn(2 * T)
        assert model._n_updates > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gradient_method": "mgda"}, "MTSAC: gradient_method must be None or one of"),
        (
            {"gradient_method": "pcgrad", "gradient_method_kwargs": [1]},
            "MTSAC: gradient_method_kwargs must be a dict or None",
        ),
        (
            {"gradient_method": "cagrad", "gradient_method_kwargs": {"radius": 1.0}},
            "MTSAC: gradient_method_kwargs must hold settings of CAGrad",
        ),
        (
            {"gradient_method": "cagrad", "gradient_method_kwargs": {"c": -1.0}},
            "CAGrad: c must be a finite float >= 0",
        ),
        (
            {"gradient_method": "pcgrad", "replay_buffer_class": None},
            "MTSAC: replay_buffer_class must be TaskBalancedReplayBuffer with "
            "gradient_method='pcgrad'",
        ),
    ],
)
def test_bad_gradient_method_settings_are_refused(kwargs, message) -> None:
    with pytest.raises(ConfigError, match=message):
        _model(**kwargs)
