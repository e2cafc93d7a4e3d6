"""PaCo (Sun et al., 2022): per-task parameters composed from K shared sets."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from network_checks import (
    MT_SHAPES,
    assert_each_sample_is_independent,
    assert_matches_reference,
    count,
    per_sample,
    run_member,
    seeded_perturbed,
)

from modnet import ConfigError, PaCo, PaCoConfig, ShapeError
from modnet.paco import extreme_tasks, interpolate_task_weights_, mask_extreme_losses

IN, OUT, TASKS, SETS = 5, 3, 4, 3
SMALL = {"num_parameter_sets": SETS, "hidden_sizes": (6, 7)}


def small(**kwargs: object) -> PaCo:
    return seeded_perturbed(PaCo, IN, OUT, TASKS, **{**SMALL, **kwargs})  # type: ignore[return-value]


def reference(net: PaCo, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Each sample through its task's θ_τ = Σ_k w_τk φ_k, built by a loop over the sets."""

    def one(h: torch.Tensor, t: int) -> torch.Tensor:
        w = net.task_weights.weight[:, t]
        if net.task_weights.bias is not None:
            w = w + net.task_weights.bias
        for i, bank in enumerate(net.layers):
            weight = sum(w[k] * bank.weight[k] for k in range(net.num_parameter_sets))
            bias = sum(w[k] * bank.bias[k] for k in range(net.num_parameter_sets))
            h = h @ weight + bias
            if i < len(net.layers) - 1:
                h = torch.relu(h)
        return h

    return per_sample(one, x, ids)


task_lists = st.lists(st.integers(0, TASKS - 1), min_size=1, max_size=9)


@settings(max_examples=10)
@given(tasks=task_lists, seed=st.integers(0, 2**16), bias=st.booleans())
def test_batched_equals_the_per_set_loop_in_value_and_gradient(tasks, seed, bias) -> None:
    net = small(task_weight_bias=bias)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(tasks), IN, generator=gen)
    weights = torch.randn(len(tasks), OUT, generator=gen)
    assert_matches_reference(net, reference, x, torch.tensor(tasks), weights, rtol=1e-5, atol=1e-5)


@given(tasks=task_lists, i=st.integers(0, 8))
def test_each_sample_is_independent_of_the_rest_of_the_batch(tasks, i) -> None:
    # The batch is regrouped by task into padded slots: no sample may see another's.
    net = small()
    x, ids = torch.randn(len(tasks), IN), torch.tensor(tasks)
    assert_each_sample_is_independent(net, x, ids, i % len(tasks), TASKS)


def test_a_one_hot_w_selects_one_parameter_set() -> None:
    # θ_τ = Φ w_τ with w_τ = e_k is the plain MLP of set k.
    net = small(task_weight_bias=False)
    with torch.no_grad():
        net.task_weights.weight.zero_()
        net.task_weights.weight[2, 1] = 1.0  # task 1 uses set 2
    x = torch.randn(4, IN)
    h = run_member(net.layers, 2, x)
    torch.testing.assert_close(net(x, torch.ones(4, dtype=torch.long)), h)
    assert torch.equal(net(x, torch.zeros(4, dtype=torch.long)), torch.zeros(4, OUT))


def test_one_hot_equals_ids_and_a_soft_mixture_is_refused() -> None:
    net = small()
    x, ids = torch.randn(6, IN), torch.tensor([0, 3, 1, 1, 2, 0])
    torch.testing.assert_close(net(x, F.one_hot(ids, TASKS).float()), net(x, ids))
    with pytest.raises(ShapeError, match=r"task one-hot must have exactly one 1"):
        net(x, torch.full((6, TASKS), 0.25))


def test_identical_init_starts_every_set_equal() -> None:
    for identical in (True, False):
        net = PaCo(IN, OUT, TASKS, num_parameter_sets=SETS, identical_init=identical)
        for bank in net.layers:
            same = all(torch.equal(bank.weight[k], bank.weight[0]) for k in range(SETS))
            assert same is identical
    net = PaCo(IN, OUT, TASKS)
    assert (
        float(net.layers[-1].weight.detach().abs().max()) <= 3e-3
    )  # the output layer starts small
    torch.testing.assert_close(net.task_weights.bias, torch.zeros(5))


def test_composition_weights_and_composed_parameters() -> None:
    net = small()
    ids = torch.tensor([0, 1, 2, 3, 1])
    w = net.composition_weights(ids)
    expected = net.task_weights.weight.t()[ids] + net.task_weights.bias
    torch.testing.assert_close(w, expected)
    weight, bias = net.composed_parameters(0)
    bank = net.layers[0]
    torch.testing.assert_close(weight[2], sum(expected[2, k] * bank.weight[k] for k in range(SETS)))
    torch.testing.assert_close(bias[2], sum(expected[2, k] * bank.bias[k] for k in range(SETS)))
    # No routing trace: the SB3 actor's routing_trace (and so the figures) skips PaCo.
    with pytest.raises(TypeError):
        net(torch.randn(5, IN), ids, return_routing=True)  # type: ignore[call-arg]


# ------------------------------------------------------- extreme tasks: mask and reset
def test_mask_extreme_losses_zeroes_exactly_the_tasks_above_the_threshold() -> None:
    loss = torch.tensor([1.0, 5e3, 2.0, 4e3, 1e3, 3.0], requires_grad=True)
    ids = torch.tensor([0, 1, 1, 2, 2, 3])  # task means 1, 2501, 2000.5, 3
    masked, extreme = mask_extreme_losses(loss, ids, TASKS, threshold=2500.0)
    assert extreme.tolist() == [False, True, False, False]
    assert masked.tolist() == [1.0, 0.0, 0.0, 4e3, 1e3, 3.0]
    masked.sum().backward()
    assert loss.grad.tolist() == [1.0, 0.0, 0.0, 1.0, 1.0, 1.0]
    assert extreme_tasks(torch.tensor([3e3, 3001.0]), 3e3).tolist() == [False, True]


@pytest.mark.parametrize("bias", [True, False])
def test_interpolate_reset_makes_a_convex_combination_of_the_normal_tasks_w(bias) -> None:
    net = small(task_weight_bias=bias)
    before = net.all_task_weights().detach().clone()
    extreme = torch.tensor([False, True, False, True])
    assert net.reset_task_weights(extreme, generator=torch.Generator().manual_seed(0))
    after = net.all_task_weights().detach()
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]])  # normal tasks untouched
    normal = before[[0, 2]]  # [2, k]
    for t in (1, 3):
        # Solve after[t] = c0 normal[0] + c1 normal[1]; c must be >= 0 and sum to 1.
        c = torch.linalg.lstsq(normal.t(), after[t].unsqueeze(-1)).solution.squeeze(-1)
        torch.testing.assert_close(c @ normal, after[t], rtol=1e-4, atol=1e-5)
        assert bool((c >= -1e-5).all()) and abs(float(c.sum()) - 1.0) < 1e-4


def test_copy_reset_copies_one_normal_task_and_nothing_happens_without_one() -> None:
    net = small()
    before = net.all_task_weights().detach().clone()
    extreme = torch.tensor([True, False, False, False])
    assert net.reset_task_weights(extreme, method="copy")
    after = net.all_task_weights().detach()
    assert any(torch.allclose(after[0], before[j]) for j in (1, 2, 3))
    assert not net.reset_task_weights(torch.ones(TASKS, dtype=torch.bool))
    assert not net.reset_task_weights(torch.zeros(TASKS, dtype=torch.bool))
    torch.testing.assert_close(net.all_task_weights(), after)


def test_a_stacked_weight_is_reset_member_by_member_with_one_draw() -> None:
    weight = torch.randn(2, SETS, TASKS)  # two critics' W, stacked
    original = weight.clone()
    extreme = torch.tensor([False, False, True, False])
    interpolate_task_weights_(weight, extreme, generator=torch.Generator().manual_seed(1))
    for m in range(2):
        c = torch.linalg.lstsq(original[m][:, [0, 1, 3]], weight[m][:, 2:3]).solution
        torch.testing.assert_close(original[m][:, [0, 1, 3]] @ c, weight[m][:, 2:3])
    c0 = torch.linalg.lstsq(original[0][:, [0, 1, 3]], weight[0][:, 2:3]).solution
    c1 = torch.linalg.lstsq(original[1][:, [0, 1, 3]], weight[1][:, 2:3]).solution
    torch.testing.assert_close(c0, c1, rtol=1e-3, atol=1e-4)


def test_reset_and_mask_refuse_bad_arguments() -> None:
    net = small()
    with pytest.raises(ShapeError, match=r"extreme must be a bool tensor of shape \(4,\)"):
        net.reset_task_weights(torch.tensor([1, 0, 0, 0]))
    with pytest.raises(ConfigError, match=r"method must be 'interpolate' or 'copy', got 'mean'"):
        net.reset_task_weights(torch.zeros(TASKS, dtype=torch.bool), method="mean")  # type: ignore[arg-type]
    with pytest.raises(ShapeError, match=r"mask_extreme_losses: loss must be a tensor \[batch\]"):
        mask_extreme_losses(torch.zeros(3, 1), torch.tensor([0, 1, 2]), TASKS, 1.0)
    with pytest.raises(ShapeError, match=r"task ids must be in \[0, 4\), got 4"):
        mask_extreme_losses(torch.zeros(2), torch.tensor([0, 4]), TASKS, 1.0)


# Parameter counts, actor (39 -> 8) and one critic (39 + 4 -> 1): K sets of every layer of
# [400]*3 plus w = W z + b (the Meta-World+ PaCoNetwork, metaworld_algorithms/nn/paco.py).
def official_count(in_features: int, out: int, tasks: int, sets: int = 5) -> int:
    layers = (in_features * 400 + 400) + 2 * (400 * 400 + 400) + (400 * out + out)
    return sets * layers + (tasks * sets + sets)


@pytest.mark.parametrize(
    "shape, expected",  # K = 5 on MT50 as well
    list(zip(MT_SHAPES.values(), [1_700_095, 1_694_060, 1_700_295, 1_694_260], strict=True)),
    ids=list(MT_SHAPES),
)
def test_parameter_counts_match_the_meta_world_plus_network(shape, expected) -> None:
    in_features, out, tasks = shape
    assert official_count(in_features, out, tasks) == expected
    assert count(PaCo(in_features, out, tasks)) == expected


def test_from_config_builds_the_same_network() -> None:
    cfg = PaCoConfig(in_features=IN, out_features=OUT, num_tasks=TASKS, **SMALL)
    assert count(PaCo.from_config(cfg)) == count(small())
    with pytest.raises(ConfigError, match=r"PaCoConfig: identical_init must be a valid boolean"):
        PaCoConfig(in_features=IN, out_features=OUT, num_tasks=TASKS, identical_init="yes")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_parameter_sets": 0}, r"PaCo: num_parameter_sets must be an int >= 1, got 0"),
        ({"hidden_sizes": (4, 0)}, r"PaCo: hidden_sizes must be a sequence of ints >= 1"),
        ({"identical_init": 1}, r"PaCo: identical_init must be a bool, got 1"),
    ],
)
def test_bad_settings(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        PaCo(IN, OUT, TASKS, **kwargs)
