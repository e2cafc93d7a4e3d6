"""Tests of RoutedLinear (modnet.routed_linear): the routed mixture, sparse top-k dispatch, errors.

Most tests make the router the identity (``context_features = n``, weight = I, bias = 0)
so the routing logits are exactly the drawn context; a strict gap between logits is
assumed wherever a tie would be broken by position (argmax, top-k).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from strategies import distinct_dims, strict_gap_logits
from torch import Tensor

from modnet import ModuleBank, RoutedLinear
from modnet.config import ModuleBankConfig, RoutedLinearConfig, TopKConfig
from modnet.errors import ConfigError, ShapeError
from modnet.routing import Hard, Routing, Soft, TopK

EPS = torch.finfo(torch.float32).eps


def _tol(terms: int) -> dict[str, float]:
    return {"rtol": 1e-5, "atol": 8 * (terms + 1) * EPS}


def _routing(kind: str, n: int, k: int = 2):
    if kind == "soft":
        return Soft(temperature=0.7)
    if kind == "hard":
        return Hard()
    if kind == "topk":
        return TopK(min(k, n), balance_coef=0.01) if min(k, n) > 1 else TopK(1, renormalize=False)
    if kind == "top1":
        return TopK(1, renormalize=False)
    raise ValueError(kind)


def _identity_router_layer(i: int, o: int, n: int, routing, dispatch: str = "auto") -> RoutedLinear:
    layer = RoutedLinear(i, o, n, routing=routing, context_features=n, dispatch=dispatch)
    with torch.no_grad():
        layer.router.weight.copy_(torch.eye(n))
        layer.router.bias.zero_()
    return layer.eval()


def _mixture_reference(layer: RoutedLinear, x: Tensor, weights: Tensor) -> Tensor:
    """``sum_j weights[:, j] * linear_j(x)`` with the bank converted to nn.Linear."""
    outs = torch.stack([lin(x) for lin in layer.bank.to_linears()], dim=1)  # [b, n, o]
    return (weights.unsqueeze(-1) * outs).sum(1)


# --------------------------------------------------------------------------------------
# The mixture
# --------------------------------------------------------------------------------------


@given(
    dims=distinct_dims(4, min_value=2, max_value=9),
    kind=st.sampled_from(["soft", "hard", "topk", "top1"]),
    dispatch=st.sampled_from(["auto", "dense", "sparse"]),
    data=st.data(),
)
def test_output_is_routed_mixture_of_modules(
    dims: tuple[int, ...], kind: str, dispatch: str, data: st.DataObject
) -> None:
    b, n, i, o = dims
    assume(dispatch != "sparse" or kind in ("topk", "top1"))
    layer = _identity_router_layer(i, o, n, _routing(kind, n), dispatch)
    context = data.draw(strict_gap_logits((b, n)))
    x = torch.randn(b, i)
    out, routing = layer(x, context, return_routing=True)
    assert isinstance(routing, Routing)
    assert out.shape == (b, o)
    assert routing.weights.shape == routing.mask.shape == (b, n)
    torch.testing.assert_close(routing.logits, context)
    ref = _mixture_reference(layer, x, routing.weights.detach())
    torch.testing.assert_close(out, ref, **_tol(i * n))


@given(
    dims=distinct_dims(3, min_value=2, max_value=9),
    n=st.integers(2, 8),
    data=st.data(),
)
def test_sparse_topk_equals_dense_masked_mixture_forward_and_all_gradients(
    dims: tuple[int, ...], n: int, data: st.DataObject
) -> None:
    b, i, o = dims
    k = data.draw(st.integers(1, n), label="k")
    renormalize = k > 1 and data.draw(st.booleans(), label="renormalize")
    seed = data.draw(st.integers(0, 2**16), label="seed")
    torch.manual_seed(seed)
    sparse = RoutedLinear(i, o, n, routing=TopK(k, renormalize=renormalize), dispatch="sparse")
    dense = RoutedLinear(i, o, n, routing=TopK(k, renormalize=renormalize), dispatch="dense")
    dense.load_state_dict(sparse.state_dict())
    x = torch.randn(b, i)
    grad = torch.randn(b, o)
    results = []
    for layer in (sparse, dense):
        xi = x.clone().requires_grad_(True)
        out = layer(xi)
        params = [xi, *layer.parameters()]
        results.append((out, torch.autograd.grad(out, params, grad)))
    (out_s, grads_s), (out_d, grads_d) = results
    torch.testing.assert_close(out_s, out_d, **_tol(i * n))
    names = ["x", *(name for name, _ in sparse.named_parameters())]
    for name, gs, gd in zip(names, grads_s, grads_d, strict=True):
        torch.testing.assert_close(
            gs, gd, **_tol(b * n * max(i, o)), msg=lambda m, nm=name: f"{nm}: {m}"
        )


@given(
    b=st.integers(1, 3),
    k=st.integers(1, 3),
    dispatch=st.sampled_from(["dense", "sparse"]),
    seed=st.integers(0, 2**16),
)
def test_unselected_modules_get_exactly_zero_gradient_under_topk(
    b: int, k: int, dispatch: str, seed: int
) -> None:
    n = 8  # b * k <= 9 slots over 8 modules: some modules are never selected
    torch.manual_seed(seed)
    layer = RoutedLinear(5, 6, n, routing=TopK(k, renormalize=k > 1), dispatch=dispatch)
    out, routing = layer(torch.randn(b, 5), return_routing=True)
    (out * torch.randn_like(out)).sum().backward()
    used = routing.mask.any(0)
    assert (~used).any()
    assert torch.equal(layer.bank.weight.grad[~used], torch.zeros_like(layer.bank.weight[~used]))
    assert torch.equal(layer.bank.bias.grad[~used], torch.zeros_like(layer.bank.bias[~used]))
    assert layer.bank.weight.grad[used].abs().sum(dim=(1, 2)).gt(0).all()


@given(
    dims=distinct_dims(4, min_value=2, max_value=8),
    kind=st.sampled_from(["soft", "hard", "topk", "top1"]),
    data=st.data(),
)
def test_permuting_modules_and_routing_columns_keeps_the_output(
    dims: tuple[int, ...], kind: str, data: st.DataObject
) -> None:
    b, n, i, o = dims
    perm = torch.tensor(data.draw(st.permutations(range(n)), label="perm"))
    layer = _identity_router_layer(i, o, n, _routing(kind, n))
    permuted = _identity_router_layer(i, o, n, _routing(kind, n))
    with torch.no_grad():
        permuted.bank.weight.copy_(layer.bank.weight[perm])
        permuted.bank.bias.copy_(layer.bank.bias[perm])
        permuted.router.weight.copy_(torch.eye(n)[perm])  # logits' = logits[:, perm]
    context = data.draw(strict_gap_logits((b, n)))
    x = torch.randn(b, i)
    out, routing = layer(x, context, return_routing=True)
    out_p, routing_p = permuted(x, context, return_routing=True)
    torch.testing.assert_close(routing_p.weights, routing.weights[:, perm], rtol=1e-6, atol=1e-7)
    assert torch.equal(routing_p.mask, routing.mask[:, perm])
    torch.testing.assert_close(out_p, out, **_tol(i * n))


@given(
    dims=distinct_dims(4, min_value=2, max_value=8),
    kind=st.sampled_from(["soft", "hard", "topk"]),
    seed=st.integers(0, 2**16),
)
def test_identical_modules_make_output_independent_of_routing(
    dims: tuple[int, ...], kind: str, seed: int
) -> None:
    b, n, i, o = dims
    torch.manual_seed(seed)
    layer = _identity_router_layer(i, o, n, _routing(kind, n))
    with torch.no_grad():
        layer.bank.weight.copy_(layer.bank.weight[:1].expand(n, i, o))
        layer.bank.bias.copy_(layer.bank.bias[:1].expand(n, o))
    x = torch.randn(b, i)
    single = layer.bank.to_linears()[0](x)
    for scale in (0.1, 1.0, 10.0):
        out = layer(x, scale * torch.randn(b, n))
        torch.testing.assert_close(out, single, **_tol(i * n))


@given(dims=distinct_dims(4, min_value=2, max_value=8), data=st.data())
def test_one_hot_routing_equals_the_chosen_module_alone(
    dims: tuple[int, ...], data: st.DataObject
) -> None:
    b, n, i, o = dims
    layer = _identity_router_layer(i, o, n, Hard())
    context = data.draw(strict_gap_logits((b, n)))
    x = torch.randn(b, i)
    out, routing = layer(x, context, return_routing=True)
    chosen = context.argmax(-1)
    assert torch.equal(routing.weights, torch.nn.functional.one_hot(chosen, n).float())
    # 1 * y_j + 0 * (others) is exact, so the mixture equals the module's output bit for bit.
    assert torch.equal(out, layer.bank(x)[torch.arange(b), chosen])
    linears = layer.bank.to_linears()
    alone = torch.stack([linears[j](x[r]) for r, j in enumerate(chosen.tolist())])
    torch.testing.assert_close(out, alone, **_tol(i))


@pytest.mark.parametrize(
    ("kind", "dispatch"),
    [("soft", "auto"), ("hard", "auto"), ("topk", "dense"), ("topk", "sparse"), ("top1", "auto")],
)
def test_each_sample_depends_on_that_sample_alone(kind: str, dispatch: str) -> None:
    layer = RoutedLinear(32, 24, 4, routing=_routing(kind, 4), dispatch=dispatch).eval()
    big = torch.randn(1280, 32)
    other = big.clone()
    other[10:] = 3.0 * torch.randn(1270, 32)  # different routing for the other samples
    small = layer(big[:10])  # acting batch
    torch.testing.assert_close(layer(big)[:10], small, **_tol(32 * 4))  # training batch
    torch.testing.assert_close(layer(other)[:10], small, **_tol(32 * 4))
    for r in (0, 9):
        torch.testing.assert_close(layer(big[r : r + 1])[0], small[r], **_tol(32 * 4))


def test_router_reads_context_when_given() -> None:
    layer = RoutedLinear(6, 3, 4, context_features=5)
    x, context = torch.randn(7, 6), torch.randn(7, 5)
    out, routing = layer(x, context, return_routing=True)
    torch.testing.assert_close(routing.logits, layer.router(context))
    torch.testing.assert_close(out, _mixture_reference(layer, x, routing.weights), **_tol(24))
    other = layer(x, context + 1.0)
    assert not torch.allclose(other, out)


def test_routing_from_x_when_no_context() -> None:
    layer = RoutedLinear(6, 3, 4)
    x = torch.randn(7, 6)
    _, routing = layer(x, return_routing=True)
    torch.testing.assert_close(routing.logits, layer.router(x))


def test_hard_routing_trains_the_router_through_every_module() -> None:
    # Straight-through: the router's gradient needs every module's output, so "auto"
    # must not skip modules under Hard routing.
    layer = RoutedLinear(6, 3, 4, routing="hard")
    layer(torch.randn(9, 6)).pow(2).sum().backward()
    assert layer.router.weight.grad.abs().sum() > 0
    assert layer.bank.weight.grad.abs().sum() > 0


def test_return_routing_carries_aux_loss() -> None:
    layer = RoutedLinear(6, 3, 4, routing=TopK(2, balance_coef=0.5))
    out, routing = layer(torch.randn(9, 6), return_routing=True)
    assert out.shape == (9, 3)
    assert routing.aux_loss.dim() == 0 and routing.aux_loss > 0
    assert routing.mask.sum(-1).eq(2).all()


def test_routing_by_name_and_no_bias() -> None:
    layer = RoutedLinear(6, 3, 4, routing="soft", bias=False)
    assert layer.bank.bias is None and isinstance(layer.routing, Soft)
    x = torch.randn(5, 6)
    out, routing = layer(x, return_routing=True)
    torch.testing.assert_close(out, _mixture_reference(layer, x, routing.weights), **_tol(24))


def test_empty_batch() -> None:
    layer = RoutedLinear(6, 3, 4, routing=TopK(2), dispatch="sparse")
    assert layer(torch.randn(0, 6)).shape == (0, 3)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def test_bad_inputs_raise_shape_errors() -> None:
    layer = RoutedLinear(6, 3, 4, context_features=5)
    with pytest.raises(
        ShapeError, match=r"RoutedLinear.forward: x must have shape \(batch, 6\), got \(2, 7\)"
    ):
        layer(torch.randn(2, 7))
    with pytest.raises(ShapeError, match=r"x must have shape \(batch, 6\), got \(2, 4, 6\)"):
        layer(torch.randn(2, 4, 6))
    with pytest.raises(ShapeError, match=r"context must have shape \(batch, 5\), got \(2, 6\)"):
        layer(torch.randn(2, 6), torch.randn(2, 6))
    with pytest.raises(
        ShapeError, match=r"context must have the batch size of x \(2\), got batch size 3"
    ):
        layer(torch.randn(2, 6), torch.randn(3, 5))


def test_bad_settings_raise_config_errors() -> None:
    with pytest.raises(
        ConfigError,
        match=r"RoutedLinear: dispatch must be one of \['auto', 'dense', 'sparse'\], got fast",
    ):
        RoutedLinear(6, 3, 4, dispatch="fast")  # type: ignore[arg-type]
    with pytest.raises(
        ConfigError,
        match=r"dispatch must be 'dense' or 'auto' unless routing is TopK.*got dispatch='sparse' with Soft",
    ):
        RoutedLinear(6, 3, 4, routing="soft", dispatch="sparse")
    with pytest.raises(ConfigError, match=r"routing must select k <= num_modules=4, got k=5"):
        RoutedLinear(6, 3, 4, routing=TopK(5))
    with pytest.raises(ConfigError, match=r"RoutedLinear: num_modules must be an int >= 1, got 0"):
        RoutedLinear(6, 3, 0)
    with pytest.raises(ConfigError, match=r"context_features must be an int >= 1, got 0"):
        RoutedLinear(6, 3, 4, context_features=0)
    with pytest.raises(ConfigError, match=r"make_routing: spec must be one of"):
        RoutedLinear(6, 3, 4, routing="softmax")


def test_from_config() -> None:
    config = RoutedLinearConfig(
        in_features=6, out_features=3, num_modules=4, routing=TopKConfig(k=2), dispatch="sparse"
    )
    layer = RoutedLinear.from_config(config)
    assert isinstance(layer.routing, TopK) and layer.routing.k == 2
    assert (layer.in_features, layer.out_features, layer.num_modules) == (6, 3, 4)
    assert layer.dispatch == "sparse"
    assert layer(torch.randn(5, 6)).shape == (5, 3)
    bank = ModuleBank.from_config(
        ModuleBankConfig(in_features=6, out_features=3, num_modules=4, bias=False)
    )
    assert bank.bias is None and bank.weight.shape == (4, 6, 3)
    with pytest.raises(ValueError, match="dispach"):
        RoutedLinearConfig(in_features=6, out_features=3, num_modules=4, dispach="sparse")
