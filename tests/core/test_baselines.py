"""The paper's baselines: TaskMLP (MT-SAC), MultiHeadMLP (MT-MH-SAC), MixtureOfExperts."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from network_checks import assert_bad_inputs_refused, count, perturb_

from modnet import (
    ConfigError,
    MixtureOfExperts,
    MixtureOfExpertsConfig,
    MultiHeadMLP,
    MultiHeadMLPConfig,
    ShapeError,
    TaskMLP,
    TaskMLPConfig,
)

IN, OUT, TASKS = 5, 3, 4


@pytest.mark.parametrize("cls", [TaskMLP, MultiHeadMLP, MixtureOfExperts])
def test_shapes_and_one_hot_equals_ids(cls: type) -> None:
    net = perturb_(cls(IN, OUT, TASKS), 0.4)
    x, ids = torch.randn(6, IN), torch.tensor([0, 3, 1, 1, 2, 0])
    out = net(x, ids)
    assert out.shape == (6, OUT)
    one_hot = torch.nn.functional.one_hot(ids, TASKS).float()
    torch.testing.assert_close(net(x, one_hot), out)


def test_paper_sizes() -> None:
    # MT-SAC: [400, 400, 400] on cat(state, one-hot).
    assert count(TaskMLP(9, 8, 10)) == (19 * 400 + 400) + 2 * (400 * 400 + 400) + (400 * 8 + 8)
    # MT-MH-SAC: trunk [400, 400], one [400] head per task.
    trunk = (9 * 400 + 400) + (400 * 400 + 400)
    assert count(MultiHeadMLP(9, 8, 10)) == trunk + 10 * ((400 * 400 + 400) + (400 * 8 + 8))
    # Mixture of Experts: 4 MT-SAC experts and a gate from the one-hot.
    assert count(MixtureOfExperts(9, 8, 10)) == 4 * count(TaskMLP(9, 8, 10)) + (10 * 4 + 4)


# ---------------------------------------------------------------- MultiHeadMLP
def _head_by_hand(net: MultiHeadMLP, x: torch.Tensor, task: int) -> torch.Tensor:
    h = net.trunk(x)
    for i, bank in enumerate(net.heads):
        h = h @ bank.weight[task] + bank.bias[task]
        if i < len(net.heads) - 1:
            h = torch.relu(h)
    return h


@given(tasks=st.lists(st.integers(0, TASKS - 1), min_size=1, max_size=9))
def test_multihead_uses_the_head_of_each_samples_task(tasks: list[int]) -> None:
    torch.manual_seed(0)
    net = perturb_(MultiHeadMLP(IN, OUT, TASKS, trunk_sizes=(6,), head_sizes=(7,)), 0.4)
    x, ids = torch.randn(len(tasks), IN), torch.tensor(tasks)
    out = net(x, ids)
    for i, t in enumerate(tasks):
        torch.testing.assert_close(out[i], _head_by_hand(net, x[i : i + 1], t)[0])


def test_multihead_other_heads_do_not_matter() -> None:
    net = perturb_(MultiHeadMLP(IN, OUT, TASKS), 0.4)
    x, ids = torch.randn(3, IN), torch.tensor([2, 2, 2])
    before = net(x, ids)
    with torch.no_grad():
        for bank in net.heads:
            bank.weight[[0, 1, 3]] += 1.0
            bank.bias[[0, 1, 3]] -= 1.0
    torch.testing.assert_close(net(x, ids), before, rtol=0, atol=0)
    with torch.no_grad():
        net.heads[-1].bias[2] += 1.0
    torch.testing.assert_close(net(x, ids), before + 1.0)


def test_multihead_gradient_reaches_only_the_used_heads() -> None:
    net = perturb_(MultiHeadMLP(IN, OUT, TASKS), 0.4)
    net(torch.randn(5, IN), torch.tensor([1, 3, 1, 3, 3])).square().sum().backward()
    for bank in net.heads:
        assert (bank.weight.grad[[0, 2]] == 0).all() and (bank.bias.grad[[0, 2]] == 0).all()
        assert bank.weight.grad[1].abs().sum() > 0 and bank.weight.grad[3].abs().sum() > 0


def test_multihead_refuses_a_soft_task_mixture() -> None:
    net = MultiHeadMLP(IN, OUT, TASKS)
    with pytest.raises(
        ShapeError, match=r"task one-hot must have exactly one 1 and zeros elsewhere"
    ):
        net(torch.randn(2, IN), torch.full((2, TASKS), 0.25))


# ---------------------------------------------------------------- MixtureOfExperts
def test_moe_gate_sums_to_one_and_mixes_the_experts() -> None:
    net = perturb_(MixtureOfExperts(IN, OUT, TASKS, num_experts=3, hidden_sizes=(6, 7)), 0.4)
    x, ids = torch.randn(5, IN), torch.tensor([0, 1, 2, 3, 1])
    out, gate = net(x, ids, return_gate=True)
    assert gate.shape == (5, 3) and (gate >= 0).all()
    torch.testing.assert_close(gate.sum(-1), torch.ones(5))
    torch.testing.assert_close(net.gate_weights(ids), gate)
    # By hand: each expert as its own MLP on cat(x, one-hot), mixed by the gate.
    z = torch.nn.functional.one_hot(ids, TASKS).float()
    expected = torch.zeros(5, OUT)
    for e in range(3):
        h = torch.cat([x, z], -1)
        for i, bank in enumerate(net.experts):
            h = h @ bank.weight[e] + bank.bias[e]
            if i < len(net.experts) - 1:
                h = torch.relu(h)
        expected += gate[:, e : e + 1] * h
    torch.testing.assert_close(out, expected)


def test_moe_gate_depends_on_the_task_only() -> None:
    net = perturb_(MixtureOfExperts(IN, OUT, TASKS), 0.4)
    ids = torch.tensor([1, 1])
    _, g = net(torch.randn(2, IN), ids, return_gate=True)
    torch.testing.assert_close(g[0], g[1])


def test_moe_initial_gate_is_near_uniform() -> None:
    g = MixtureOfExperts(IN, OUT, TASKS).gate_weights(torch.arange(TASKS))
    assert (g - 0.25).abs().max() < 0.01


# ---------------------------------------------------------------- configs and errors
def test_from_config() -> None:
    assert count(
        TaskMLP.from_config(TaskMLPConfig(in_features=9, out_features=8, num_tasks=10))
    ) == count(TaskMLP(9, 8, 10))
    mh = MultiHeadMLP.from_config(
        MultiHeadMLPConfig(in_features=9, out_features=8, num_tasks=10, head_sizes=(32,))
    )
    assert mh.head_sizes == (32,)
    moe = MixtureOfExperts.from_config(
        MixtureOfExpertsConfig(in_features=9, out_features=8, num_tasks=10, num_experts=2)
    )
    assert moe.num_experts == 2
    with pytest.raises(ValueError, match="hidden_size"):
        TaskMLPConfig(in_features=9, out_features=8, num_tasks=10, hidden_size=(3,))


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: TaskMLP(0, 3, 4), r"TaskMLP: in_features must be an int >= 1, got 0"),
        (
            lambda: TaskMLP(5, 3, 4, hidden_sizes=(4, 0)),
            r"hidden_sizes must be a sequence of ints >= 1",
        ),
        (
            lambda: MultiHeadMLP(5, 3, 4, trunk_sizes="400"),
            r"MultiHeadMLP: trunk_sizes must be a sequence",
        ),
        (
            lambda: MixtureOfExperts(5, 3, 4, num_experts=0),
            r"num_experts must be an int >= 1, got 0",
        ),
    ],
)
def test_bad_settings(build: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        build()  # type: ignore[operator]


@pytest.mark.parametrize("cls", [TaskMLP, MultiHeadMLP, MixtureOfExperts])
def test_bad_inputs(cls: type) -> None:
    assert_bad_inputs_refused(cls(IN, OUT, TASKS), IN, TASKS)
