"""MTSAC's PaCo rules: an extreme task is masked out of the update and its w reset."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("stable_baselines3")

import torch  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402
from tiny_mtsac import T, balanced_mtsac  # noqa: E402

from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3 import MTSAC, PaCoPolicy  # noqa: E402
from modnet_sb3.testing import make_point_reach_vec_env  # noqa: E402

SETS = 3


def _paco(policy=PaCoPolicy, **kwargs) -> MTSAC:
    """A tiny PaCo MTSAC whose buffer holds 3 transitions per task (no update yet)."""
    kwargs.setdefault("policy_kwargs", {"num_parameter_sets": SETS, "hidden_sizes": (8,)})
    model = balanced_mtsac(policy, **kwargs)
    model.learn(model.learning_starts)  # collection only: updates wait for learning_starts
    model.set_logger(configure(folder=None, format_strings=[]))
    return model


def _one_update_with_task_1_rewarded(reward: float, **kwargs) -> MTSAC:
    model = _paco(**kwargs)
    model.replay_buffer.rewards[:, 1] = reward  # task 1's TD errors ~ reward²: extreme
    torch.manual_seed(1)
    np.random.seed(1)  # the same batch and the same action samples in every call
    model.train(gradient_steps=1, batch_size=model.batch_size)
    return model


def _shared(model: MTSAC) -> dict[str, torch.Tensor]:
    """The parameter sets Φ of the actor and the critics (everything but the w tables)."""
    return {
        name: p.detach().clone()
        for name, p in model.policy.named_parameters()
        if "task_weights" not in name
    }


@pytest.mark.slow  # four models built and updated: 2-4 s
def test_an_extreme_tasks_gradient_reaches_no_shared_parameter() -> None:
    rules = {"mask_extreme_tasks": True, "reset_extreme_tasks": "interpolate"}
    a = _one_update_with_task_1_rewarded(1e4, **rules)
    b = _one_update_with_task_1_rewarded(1e5, **rules)
    np.testing.assert_array_equal(a.extreme_task_counts, [0, 1, 0])
    for name, value in _shared(a).items():  # task 1's data made no difference
        torch.testing.assert_close(_shared(b)[name], value, rtol=0, atol=0)
    # Without the mask its data do reach them (the comparison above can fail).
    c = _one_update_with_task_1_rewarded(1e4)
    d = _one_update_with_task_1_rewarded(1e5)
    assert any(not torch.equal(_shared(d)[n], v) for n, v in _shared(c).items())
    assert c.extreme_task_counts.sum() == 0  # nothing counted when the mask is off


@pytest.mark.parametrize("method", ["interpolate", "copy"])
def test_the_reset_makes_w_a_convex_combination_of_the_normal_tasks_in_every_network(
    method: str,
) -> None:
    model = _one_update_with_task_1_rewarded(
        1e4, mask_extreme_tasks=True, reset_extreme_tasks=method
    )
    tables = model.policy.task_weight_tables()
    assert len(tables) == 3  # the actor's [K, T], the critics' and the targets' [2, K, T]
    found = []
    for table in tables:
        for w in table.detach().reshape(-1, SETS, T):  # each network's W [K, T]
            normal = w[:, [0, 2]]  # [K, 2]
            c = torch.linalg.lstsq(normal, w[:, 1:2]).solution.squeeze(-1)
            torch.testing.assert_close(normal @ c, w[:, 1], rtol=1e-4, atol=1e-5)
            found.append(c)
    c = found[0]
    assert c.min() >= -1e-5 and c.sum().item() == pytest.approx(1.0, abs=1e-4)
    if method == "copy":
        assert sorted(c.round().tolist()) == [0.0, 1.0]
    for other in found[1:]:  # one draw for all networks, as the official single w
        torch.testing.assert_close(other, c, rtol=1e-3, atol=1e-4)
    model._record_train_logs(torch.zeros(3), model._n_updates)
    assert model.logger.name_to_value["train/extreme_count/1"] == 1


def test_no_reset_below_the_threshold_and_a_reset_off_keeps_w() -> None:
    calm = _one_update_with_task_1_rewarded(1.0, mask_extreme_tasks=True)
    assert calm.extreme_task_counts.sum() == 0
    masked_only = _paco(mask_extreme_tasks=True)
    before = masked_only.policy.actor.net.task_weights.weight.detach().clone()
    masked_only.replay_buffer.rewards[:, 1] = 1e4
    masked_only.train(gradient_steps=1, batch_size=masked_only.batch_size)
    after = masked_only.policy.actor.net.task_weights.weight.detach()
    np.testing.assert_array_equal(masked_only.extreme_task_counts, [0, 1, 0])
    torch.testing.assert_close(after[:, 1], before[:, 1], rtol=0, atol=0)  # masked, not reset


def test_save_and_load_keep_the_counts_and_the_rules(tmp_path) -> None:
    model = _one_update_with_task_1_rewarded(
        1e4, mask_extreme_tasks=True, reset_extreme_tasks="copy", extreme_task_threshold=50.0
    )
    model.save(tmp_path / "model.zip")
    loaded = MTSAC.load(tmp_path / "model.zip", env=make_point_reach_vec_env(T, seed=0))
    np.testing.assert_array_equal(loaded.extreme_task_counts, [0, 1, 0])
    assert loaded.extreme_task_counts.dtype == np.int64
    assert (loaded.mask_extreme_tasks, loaded.reset_extreme_tasks) == (True, "copy")
    assert loaded.extreme_task_threshold == 50.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mask_extreme_tasks": 1}, r"MTSAC: mask_extreme_tasks must be True or False, got 1"),
        (
            {"reset_extreme_tasks": "interpolate"},
            r"MTSAC: reset_extreme_tasks must be None unless mask_extreme_tasks=True",
        ),
        (
            {"mask_extreme_tasks": True, "reset_extreme_tasks": "average"},
            r"reset_extreme_tasks must be one of \[None, 'interpolate', 'copy'\], got 'average'",
        ),
        (
            {"mask_extreme_tasks": True, "extreme_task_threshold": 0.0},
            r"MTSAC: extreme_task_threshold must be a finite float > 0, got 0.0",
        ),
        (
            {"mask_extreme_tasks": True, "gradient_method": "famo"},
            r"MTSAC: mask_extreme_tasks must be False with gradient_method='famo'",
        ),
        (
            {
                "mask_extreme_tasks": True,
                "reset_extreme_tasks": "copy",
                "policy": "MlpPolicy",
                "policy_kwargs": {"net_arch": [8]},
            },
            r"MTSAC: reset_extreme_tasks must be None unless the policy is a PaCoPolicy",
        ),
    ],
)
def test_bad_rule_settings_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        _paco(**kwargs)
