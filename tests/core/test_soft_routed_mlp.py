"""SoftRoutedMLP: shapes, routing trace, the loop oracle, init, parameter counts, errors."""

from __future__ import annotations

import functools

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from modnet import (
    ConfigError,
    Hard,
    MixtureOfExperts,
    MultiHeadMLP,
    RoutingTrace,
    ShapeError,
    Soft,
    SoftRoutedMLP,
    SoftRoutedMLPConfig,
    TaskMLP,
    TopK,
    TopKConfig,
)
from modnet.reference import LoopSoftRoutedMLP

# Small but non-square sizes everywhere (state 5, tasks 3, out 2, hidden 24,
# routing 12, modules 3, width 7), so a transposed axis cannot pass by accident.
SMALL = {"hidden_features": 24, "routing_features": 12}
IN, OUT, TASKS = 5, 2, 3


def small_net(variant: str = "official", routing: object = "soft", **kw: object) -> SoftRoutedMLP:
    settings = {"num_layers": 3, "num_modules": 3, "module_features": 7, **SMALL, **kw}
    return SoftRoutedMLP(IN, OUT, TASKS, variant=variant, routing=routing, **settings)  # type: ignore[arg-type]


def perturb_(net: torch.nn.Module, std: float = 0.4) -> torch.nn.Module:
    """Replace the near-zero initial routing/output weights by O(1) ones, so that
    routing is far from uniform and outputs are far from zero (a sharper oracle)."""
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, std)
    return net


def batch(b: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.randn(b, IN, dtype=dtype), torch.arange(b) % TASKS


# ---------------------------------------------------------------- shapes and trace
@pytest.mark.parametrize("preset", ["shallow", "deep"])
def test_official_shapes_and_trace(preset: str) -> None:
    net = getattr(SoftRoutedMLP, preset)(9, 8, 10)
    n, L = net.num_modules, net.num_layers
    x, task = torch.randn(6, 9), torch.arange(6)
    out, trace = net(x, task, return_routing=True)
    assert out.shape == (6, 8)
    assert isinstance(trace, RoutingTrace)
    assert len(trace.layer_weights) == L - 1
    for p in trace.layer_weights:
        assert p.shape == (6, n, n)
        torch.testing.assert_close(p.sum(-1), torch.ones(6, n))
        assert (p >= 0).all()
    assert trace.final_weights is not None and trace.final_weights.shape == (6, n)
    torch.testing.assert_close(trace.final_weights.sum(-1), torch.ones(6))
    assert trace.aux_loss.shape == () and trace.aux_loss.item() == 0.0
    plain = net(x, task)
    assert isinstance(plain, torch.Tensor)
    torch.testing.assert_close(plain, out, rtol=0, atol=0)


def test_rows_are_normalised_over_sources_not_destinations() -> None:
    net = perturb_(small_net())
    _, trace = net(*batch(4), return_routing=True)
    for p in trace.layer_weights:
        torch.testing.assert_close(p.sum(-1), torch.ones(4, 3))  # over sources
        assert not torch.allclose(p.sum(-2), torch.ones(4, 3), atol=1e-2)  # not over destinations


def test_destination_source_convention() -> None:
    """Module j of layer 2 reads relu(Σ_i P[j, i] out_i): recompute layer 2 by hand."""
    net = perturb_(small_net(num_layers=2)).double()
    x, task = batch(4, torch.float64)
    y, trace = net(x, task, return_routing=True)
    f = net.state_fc2(torch.relu(net.state_fc1(x)))
    bank1, bank2 = net.layers
    out1 = torch.stack([torch.relu(f) @ bank1.weight[i] + bank1.bias[i] for i in range(3)], 1)
    p = trace.layer_weights[0]
    out2 = []
    for j in range(3):
        mixed = sum(p[:, j, i : i + 1] * out1[:, i] for i in range(3))
        out2.append(torch.relu(mixed) @ bank2.weight[j] + bank2.bias[j])
    final = sum(trace.final_weights[:, j : j + 1] * out2[j] for j in range(3))
    torch.testing.assert_close(net.output(torch.relu(final)), y)


def test_paper_variant_shapes_and_trace() -> None:
    net = small_net("paper", num_layers=4)
    out, trace = net(*batch(5), return_routing=True)
    assert out.shape == (5, OUT)
    assert len(trace.layer_weights) == 3
    assert all(p.shape == (5, 3, 3) for p in trace.layer_weights)
    assert trace.final_weights is None
    for p in trace.layer_weights:
        torch.testing.assert_close(p.sum(-1), torch.ones(5, 3))
    # As printed: no routing trunk, p^{l+1} conditioned on p^l only (n*n inputs).
    assert not hasattr(net, "trunk_fc1")
    assert all(c.in_features == 9 and c.out_features == 24 for c in net.cond_layers)


def test_official_conditions_on_all_earlier_routing() -> None:
    net = SoftRoutedMLP.deep(9, 8, 10)
    assert [c.in_features for c in net.cond_layers] == [16, 32, 48]
    assert [w.out_features for w in net.logit_layers] == [16, 16, 16, 4]
    assert net.layers[0].weight.shape == (4, 400, 128)
    assert net.trunk_fc1.in_features == 400 and net.trunk_fc2.out_features == 256


# ---------------------------------------------------------------- task input
@given(b=st.integers(1, 7))
def test_ids_and_one_hot_give_identical_results(b: int) -> None:
    net = _cached_net("official", "soft")
    x, ids = batch(b)
    one_hot = torch.nn.functional.one_hot(ids, TASKS).float()
    torch.testing.assert_close(net(x, ids), net(x, one_hot), rtol=0, atol=0)


@functools.cache
def _cached_net(variant: str, routing: str) -> SoftRoutedMLP:
    torch.manual_seed(1)
    return perturb_(small_net(variant, routing)).eval()  # type: ignore[return-value]


# ---------------------------------------------------------------- the loop oracle
def _loss_weights(out: torch.Tensor) -> torch.Tensor:
    return torch.linspace(-1.0, 2.0, out.numel(), dtype=out.dtype).view_as(out)


def _loop_grad(loop: LoopSoftRoutedMLP, name: str) -> torch.Tensor | None:
    return dict(loop.named_parameters())[name].grad


@pytest.mark.parametrize("variant", ["official", "paper"])
@pytest.mark.parametrize(
    # Top-2 of Shallow's 2 modules would be soft routing again: top-k runs on Deep only.
    "preset, routing",
    [
        ("shallow", "soft"),
        ("shallow", "hard"),
        ("deep", "soft"),
        ("deep", "hard"),
        ("deep", "topk"),
    ],
)
def test_batched_equals_loop_forward_and_gradients(variant: str, preset: str, routing: str) -> None:
    kw = {"k": 2} if routing == "topk" else {}
    net = getattr(SoftRoutedMLP, preset)(
        7,
        3,
        4,
        variant=variant,
        routing=routing,
        routing_kwargs=kw,
        hidden_features=20,
        routing_features=12,
    )
    net = perturb_(net).double()
    loop = LoopSoftRoutedMLP.from_batched(net)
    x = torch.randn(6, 7, dtype=torch.float64, requires_grad=True)
    x_loop = x.detach().clone().requires_grad_(True)
    task = torch.tensor([0, 3, 1, 1, 2, 0])

    y, trace = net(x, task, return_routing=True)
    y_loop, trace_loop = loop(x_loop, task, return_routing=True)
    assert y.abs().max() > 1.0  # far from the near-zero initial output
    torch.testing.assert_close(y, y_loop, rtol=1e-10, atol=1e-10)
    for p, q in zip(trace.layer_weights, trace_loop.layer_weights, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-10, atol=1e-12)

    (y * _loss_weights(y)).sum().backward()
    (y_loop * _loss_weights(y_loop)).sum().backward()
    torch.testing.assert_close(x.grad, x_loop.grad, rtol=1e-9, atol=1e-10)
    for name, param in net.named_parameters():
        head = name.split(".")[0]
        if head == "layers" or (head == "output" and variant == "paper"):
            kind = name.split(".")[-1]
            prefix = "module_layers." + name.split(".")[1] if head == "layers" else "output"
            for j in range(net.num_modules):
                expected = _loop_grad(loop, f"{prefix}.{j}.{kind}")
                got = param.grad[j].t() if kind == "weight" else param.grad[j]
                if expected is None:  # a module nobody selected (hard / top-k routing)
                    assert (got == 0).all(), name
                else:
                    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-10, msg=name)
        else:
            expected = _loop_grad(loop, name)
            assert expected is not None and param.grad is not None, name
            torch.testing.assert_close(param.grad, expected, rtol=1e-9, atol=1e-10, msg=name)


def test_loop_reference_has_the_same_parameter_count() -> None:
    net = SoftRoutedMLP.deep(9, 8, 10)
    loop = LoopSoftRoutedMLP(9, 8, 10, num_layers=4, num_modules=4, module_features=128)
    assert sum(p.numel() for p in loop.parameters()) == sum(p.numel() for p in net.parameters())


def test_every_parameter_gets_gradient_no_detach() -> None:
    """The routing learns from the network's own loss: no detach anywhere."""
    net = SoftRoutedMLP.deep(9, 8, 10, hidden_features=32, routing_features=16)
    x, task = torch.randn(8, 9), torch.arange(8)
    net(x, task).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# ---------------------------------------------------------------- init and independence
@pytest.mark.parametrize("preset", ["shallow", "deep"])
def test_initial_routing_is_near_uniform(preset: str) -> None:
    net = getattr(SoftRoutedMLP, preset)(39, 8, 10)
    x, task = torch.randn(64, 39), torch.arange(64) % 10
    out, trace = net(x, task, return_routing=True)
    n = net.num_modules
    for p in (*trace.layer_weights, trace.final_weights):
        assert (p - 1.0 / n).abs().max() < 0.02
    assert out.abs().max() < 0.1  # the output layer starts near zero too


def test_authors_init_bounds() -> None:
    net = SoftRoutedMLP.shallow(9, 8, 10)
    # Weights U(±1/sqrt(size[0])) of the torch Linear weight, i.e. of out_features.
    for lin in (
        net.state_fc1,
        net.state_fc2,
        net.task_embedding,
        net.trunk_fc1,
        net.cond_layers[0],
    ):
        bound = lin.out_features**-0.5
        assert lin.weight.abs().max() <= bound and lin.weight.abs().max() > 0.9 * bound
        assert (lin.bias == 0.1).all()
    bank = net.layers[0]
    assert bank.weight.abs().max() <= 256**-0.5 and (bank.bias == 0.1).all()
    for lin in (*net.logit_layers, net.output):
        assert lin.weight.abs().max() <= 3e-3 and lin.bias.abs().max() <= 3e-3


@pytest.mark.parametrize("variant", ["official", "paper"])
@given(b=st.integers(2, 9))
def test_per_sample_independence(variant: str, b: int) -> None:
    net = _cached_net(variant, "soft")
    x, task = batch(b)
    whole = net(x, task)
    with torch.no_grad():  # the acting path (no graph) computes the same function
        acting = net(x, task)
    torch.testing.assert_close(acting, whole, rtol=1e-5, atol=1e-5)
    for i in range(b):
        torch.testing.assert_close(
            net(x[i : i + 1], task[i : i + 1]), whole[i : i + 1], rtol=1e-5, atol=1e-5
        )


# ---------------------------------------------------------------- routing strategies
def test_hard_routing_is_exactly_one_hot() -> None:
    net = perturb_(small_net(routing="hard"))
    _, trace = net(*batch(5), return_routing=True)
    for p in (*trace.layer_weights, trace.final_weights):
        assert set(p.unique().tolist()) <= {0.0, 1.0}
        assert (p.sum(-1) == 1).all()


def test_topk_routing_and_aux_loss() -> None:
    net = perturb_(small_net(routing=TopKConfig(k=2, balance_coef=0.5)))
    _, trace = net(*batch(5), return_routing=True)
    for p in (*trace.layer_weights, trace.final_weights):
        assert ((p > 0).sum(-1) <= 2).all()
        torch.testing.assert_close(p.sum(-1), torch.ones(p.shape[:-1]))
    assert trace.aux_loss.shape == () and trace.aux_loss > 0


@pytest.mark.parametrize(
    "routing, expected",
    [("soft", Soft), ("hard", Hard), (TopK(k=2), TopK), ({"kind": "topk", "k": 2}, TopK)],
)
def test_routing_is_pluggable(routing: object, expected: type) -> None:
    assert isinstance(small_net(routing=routing).routing, expected)


# ---------------------------------------------------------------- presets, configs, counts
@pytest.mark.parametrize(
    "preset, in_features, expected",
    [
        ("shallow", 9, 679_022),
        ("shallow", 39, 691_022),
        ("deep", 9, 780_444),
        ("deep", 39, 792_444),
    ],
)
def test_parameter_counts_match_the_authors(preset: str, in_features: int, expected: int) -> None:
    """The authors' MT10 policy (output 2|A| = 8) has exactly these counts."""
    net = getattr(SoftRoutedMLP, preset)(in_features, 8, 10)
    assert sum(p.numel() for p in net.parameters()) == expected


def test_presets() -> None:
    s, d = SoftRoutedMLP.shallow(9, 8, 10), SoftRoutedMLP.deep(9, 8, 10, routing="hard")
    assert (s.num_layers, s.num_modules, s.module_features) == (2, 2, 256)
    assert (d.num_layers, d.num_modules, d.module_features) == (4, 4, 128)
    assert isinstance(d.routing, Hard)


def test_from_config() -> None:
    cfg = SoftRoutedMLPConfig(
        in_features=9,
        out_features=8,
        num_tasks=10,
        num_layers=4,
        num_modules=4,
        module_features=128,
        routing=TopKConfig(k=2),
    )
    net = SoftRoutedMLP.from_config(cfg)
    assert sum(p.numel() for p in net.parameters()) == 780_444
    assert isinstance(net.routing, TopK) and net.routing.k == 2
    with pytest.raises(ValueError, match="num_modulez"):
        SoftRoutedMLPConfig(in_features=9, out_features=8, num_tasks=10, num_modulez=4)
    with pytest.raises(ValueError, match="variant"):
        SoftRoutedMLPConfig(in_features=9, out_features=8, num_tasks=10, variant="rlkit")


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_layers": 1}, r"SoftRoutedMLP: num_layers must be an int >= 2, got 1"),
        ({"num_modules": 0}, r"num_modules must be an int >= 1, got 0"),
        ({"module_features": 2.5}, r"module_features must be an int >= 1, got 2.5"),
        ({"variant": "rlkit"}, r"variant must be one of \['official', 'paper'\], got 'rlkit'"),
        (
            {"routing": "sparse"},
            r"SoftRoutedMLP: routing must be one of \[.hard., .soft., .topk.\], got .sparse.",
        ),
        ({"routing": TopK(k=4)}, r"routing k must be <= num_modules = 3, got 4"),
    ],
)
def test_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        small_net(**kwargs)


def test_bad_in_features() -> None:
    with pytest.raises(ConfigError, match=r"in_features must be an int >= 1, got 0"):
        SoftRoutedMLP(0, 2, 3)
    with pytest.raises(ConfigError, match=r"num_tasks must be an int >= 1, got True"):
        SoftRoutedMLP(4, 2, True)


@pytest.mark.parametrize("loop", [False, True])
def test_bad_inputs(loop: bool) -> None:
    net = small_net()
    if loop:
        net = LoopSoftRoutedMLP.from_batched(net)
    name = type(net).__name__
    x, task = batch(4)
    with pytest.raises(
        ShapeError, match=rf"{name}.forward: x must have shape \(batch, 5\), got \(4, 6\)"
    ):
        net(torch.randn(4, 6), task)
    with pytest.raises(ShapeError, match=r"x must have shape \(batch, 5\), got \(5,\)"):
        net(torch.randn(5), task)
    with pytest.raises(ShapeError, match=r"task ids must be in \[0, 3\), got 3"):
        net(x, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ShapeError, match=r"task ids must be in \[0, 3\), got -1"):
        net(x, torch.tensor([0, -1, 2, 1]))
    with pytest.raises(
        ShapeError,
        match=r"task ids must have shape \(4,\) \(a one-hot must be a float tensor\), got \(4, 3\)",
    ):
        net(torch.randn(4, 5), torch.eye(3, dtype=torch.long)[[0, 1, 2, 0]])
    with pytest.raises(ShapeError, match=r"task ids must have shape \(4,\), got \(3,\)"):
        net(x, torch.tensor([0, 1, 2]))
    with pytest.raises(ShapeError, match=r"task one-hot must have shape \(4, 3\), got \(4, 4\)"):
        net(x, torch.zeros(4, 4))
    with pytest.raises(ShapeError, match=r"task one-hot must have shape \(4, 3\), got \(5, 3\)"):
        net(x, torch.zeros(5, 3))
    with pytest.raises(
        ShapeError, match=r"task must be int64 ids or a float one-hot, got torch.bool"
    ):
        net(x, torch.ones(4, dtype=torch.bool))


@pytest.mark.parametrize(
    "make",
    [
        lambda: SoftRoutedMLP(5, 3, 4, hidden_features=8, routing_features=8, module_features=8),
        lambda: TaskMLP(5, 3, 4, hidden_sizes=(8,)),
        lambda: MultiHeadMLP(5, 3, 4, trunk_sizes=(8,), head_sizes=(8,)),
        lambda: MixtureOfExperts(5, 3, 4, num_experts=2, hidden_sizes=(8,)),
    ],
    ids=["SoftRoutedMLP", "TaskMLP", "MultiHeadMLP", "MixtureOfExperts"],
)
def test_every_network_refuses_a_state_of_the_wrong_dtype_the_same_way(make) -> None:
    net = make()
    name = type(net).__name__
    task = torch.tensor([0, 1])
    with pytest.raises(
        ShapeError, match=rf"{name}.forward: x must be a floating-point tensor, got torch.int64"
    ):
        net(torch.ones(2, 5, dtype=torch.int64), task)
    with pytest.raises(
        ShapeError,
        match=rf"{name}.forward: x must have the network's dtype torch.float32 .*got torch.float64",
    ):
        net(torch.ones(2, 5, dtype=torch.float64), task)
    with pytest.raises(
        ShapeError, match=rf"{name}.forward: task must be on the device of x \(cpu\), got meta"
    ):
        net(torch.ones(2, 5), task.to("meta"))
    # The network cast to float64 takes float64 states (the check follows the parameters).
    assert net.double()(torch.ones(2, 5, dtype=torch.float64), task).dtype == torch.float64
