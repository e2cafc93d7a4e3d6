"""Tests of ModuleBank (modnet.module_bank): oracles, round trips, initialisation, errors.

Shapes are drawn pairwise different (``distinct_dims``) so a transposed or wrongly
broadcast operand fails. Tolerances are float32 rounding of sums of ``in`` products.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import distinct_dims
from torch import Tensor, nn

from modnet.errors import ConfigError, ShapeError
from modnet.module_bank import ModuleBank

EPS = torch.finfo(torch.float32).eps


def _tol(fan_in: int) -> dict[str, float]:
    # float32 sums of fan_in products of O(1) values, computed in different orders.
    return {"rtol": 1e-5, "atol": 8 * (fan_in + 1) * EPS}


def _loop_reference(bank: ModuleBank, x: Tensor) -> Tensor:
    """The obvious per-module loop: ``out[:, j] = x_j @ weight[j] + bias[j]``."""
    outs = []
    for j in range(bank.num_modules):
        xj = x if x.dim() == 2 else x[:, j]
        y = xj @ bank.weight[j]
        if bank.bias is not None:
            y = y + bank.bias[j]
        outs.append(y)
    return torch.stack(outs, dim=1)


def _per_module_input(b: int, n: int, i: int, layout: str) -> Tensor:
    if layout == "module-major":  # the layout a bank's own per-module output has
        return torch.randn(n, b, i).transpose(0, 1)
    return torch.randn(b, n, i)


# --------------------------------------------------------------------------------------
# Oracles
# --------------------------------------------------------------------------------------


@given(dims=distinct_dims(3, max_value=9), bias=st.booleans(), shared=st.booleans())
def test_one_module_equals_dense_linear(dims: tuple[int, ...], bias: bool, shared: bool) -> None:
    b, i, o = dims
    lin = nn.Linear(i, o, bias=bias)
    bank = ModuleBank.from_linears([lin])
    x = torch.randn(b, i, requires_grad=True)
    out = bank(x if shared else x.unsqueeze(1))
    assert out.shape == (b, 1, o)
    ref = lin(x)
    torch.testing.assert_close(out[:, 0], ref, **_tol(i))
    grad = torch.randn(b, o)
    (gx_bank, gw_bank) = torch.autograd.grad(out[:, 0], (x, bank.weight), grad)
    (gx_ref, gw_ref) = torch.autograd.grad(ref, (x, lin.weight), grad)
    torch.testing.assert_close(gx_bank, gx_ref, **_tol(o))
    torch.testing.assert_close(gw_bank[0], gw_ref.t(), **_tol(b))


@given(
    dims=distinct_dims(4, max_value=9),
    bias=st.booleans(),
    kind=st.sampled_from(["shared", "module-major", "batch-major"]),
)
def test_batched_equals_loop_forward_and_all_gradients(
    dims: tuple[int, ...], bias: bool, kind: str
) -> None:
    b, n, i, o = dims
    bank = ModuleBank(i, o, n, bias=bias)
    x = torch.randn(b, i) if kind == "shared" else _per_module_input(b, n, i, kind)
    x.requires_grad_(True)
    out = bank(x)
    ref = _loop_reference(bank, x)
    assert out.shape == (b, n, o)
    torch.testing.assert_close(out, ref, **_tol(i))
    params = [x, bank.weight] + ([bank.bias] if bias else [])
    grad = torch.randn(b, n, o)
    got = torch.autograd.grad(out, params, grad)
    want = torch.autograd.grad(ref, params, grad)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        torch.testing.assert_close(g, w, **_tol(max(b, n * o)))


@given(
    dims=distinct_dims(4, max_value=9),
    bias=st.booleans(),
    kind=st.sampled_from(["shared", "module-major", "batch-major"]),
)
def test_no_grad_path_equals_loop(dims: tuple[int, ...], bias: bool, kind: str) -> None:
    # Acting runs without a graph, where the shared-input product takes another path.
    b, n, i, o = dims
    bank = ModuleBank(i, o, n, bias=bias)
    x = torch.randn(b, i) if kind == "shared" else _per_module_input(b, n, i, kind)
    with torch.no_grad():
        out, ref = bank(x), _loop_reference(bank, x)
    assert out.shape == (b, n, o)
    torch.testing.assert_close(out, ref, **_tol(i))


@pytest.mark.parametrize("out_features", [16, 80])  # both bias paths (narrow / wide outputs)
@pytest.mark.parametrize("layout", ["module-major", "batch-major"])
def test_batched_equals_loop_at_realistic_widths(out_features: int, layout: str) -> None:
    b, n, i = 37, 5, 24
    bank = ModuleBank(i, out_features, n)
    x = _per_module_input(b, n, i, layout).requires_grad_(True)
    out, ref = bank(x), _loop_reference(bank, x)
    torch.testing.assert_close(out, ref, **_tol(i))
    grad = torch.randn_like(out)
    params = (x, bank.weight, bank.bias)
    for g, w in zip(
        torch.autograd.grad(out, params, grad), torch.autograd.grad(ref, params, grad), strict=True
    ):
        torch.testing.assert_close(g, w, **_tol(max(b, n * out_features)))


def test_gradcheck_float64() -> None:
    bank = ModuleBank(3, 2, 4, dtype=torch.float64)
    shared = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    per_module = torch.randn(5, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, c: _apply(bank, x, w, c), (shared, bank.weight, bank.bias)
    )
    assert torch.autograd.gradcheck(
        lambda x, w, c: _apply(bank, x, w, c), (per_module, bank.weight, bank.bias)
    )


def _apply(bank: ModuleBank, x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    return torch.func.functional_call(bank, {"weight": weight, "bias": bias}, (x,))


@given(dims=distinct_dims(4, max_value=8), seed=st.integers(0, 2**16))
def test_permuting_modules_permutes_outputs(dims: tuple[int, ...], seed: int) -> None:
    b, n, i, o = dims
    torch.manual_seed(seed)
    bank = ModuleBank(i, o, n)
    perm = torch.randperm(n)
    permuted = ModuleBank(i, o, n)
    with torch.no_grad():
        permuted.weight.copy_(bank.weight[perm])
        permuted.bias.copy_(bank.bias[perm])
    shared = torch.randn(b, i)
    torch.testing.assert_close(permuted(shared), bank(shared)[:, perm], rtol=0, atol=0)
    x = torch.randn(b, n, i)
    torch.testing.assert_close(permuted(x[:, perm]), bank(x)[:, perm], **_tol(i))


def test_sample_output_depends_on_that_sample_alone() -> None:
    bank = ModuleBank(24, 20, 4)
    big = torch.randn(1280, 4, 24)
    other = big.clone()
    other[10:] = torch.randn(1270, 4, 24)
    small = bank(big[:10])
    torch.testing.assert_close(bank(big)[:10], small, **_tol(24))
    torch.testing.assert_close(bank(other)[:10], small, **_tol(24))
    shared = torch.randn(1280, 24)
    torch.testing.assert_close(bank(shared)[:10], bank(shared[:10]), **_tol(24))


# --------------------------------------------------------------------------------------
# Conversion to and from nn.Linear
# --------------------------------------------------------------------------------------


@given(dims=distinct_dims(3, max_value=9), bias=st.booleans())
def test_from_and_to_linears_round_trip_exactly(dims: tuple[int, ...], bias: bool) -> None:
    n, i, o = dims
    linears = [nn.Linear(i, o, bias=bias) for _ in range(n)]
    bank = ModuleBank.from_linears(linears)
    assert (bank.num_modules, bank.in_features, bank.out_features) == (n, i, o)
    assert (bank.bias is None) == (not bias)
    back = bank.to_linears()
    assert len(back) == n
    for lin, copy in zip(linears, back, strict=True):
        assert torch.equal(copy.weight, lin.weight)
        assert (copy.bias is None) == (lin.bias is None)
        if bias:
            assert torch.equal(copy.bias, lin.bias)
    again = ModuleBank.from_linears(back)
    assert torch.equal(again.weight, bank.weight)
    if bias:
        assert torch.equal(again.bias, bank.bias)


def test_to_linears_returns_independent_copies() -> None:
    bank = ModuleBank(3, 2, 2)
    linears = bank.to_linears()
    before = bank.weight.detach().clone()
    with torch.no_grad():
        linears[0].weight.add_(1.0)
    assert torch.equal(bank.weight, before)


def test_from_linears_keeps_dtype() -> None:
    linears = [nn.Linear(3, 2, dtype=torch.float64) for _ in range(2)]
    bank = ModuleBank.from_linears(linears)
    assert bank.weight.dtype == torch.float64
    assert all(lin.weight.dtype == torch.float64 for lin in bank.to_linears())


def test_from_linears_rejects_bad_lists() -> None:
    with pytest.raises(ConfigError, match=r"from_linears: linears must be a non-empty"):
        ModuleBank.from_linears([])
    with pytest.raises(
        ConfigError, match=r"linears\[1\] must have in/out features \(3, 2\).*got \(3, 4\)"
    ):
        ModuleBank.from_linears([nn.Linear(3, 2), nn.Linear(3, 4)])
    with pytest.raises(ConfigError, match=r"linears\[1\] must have a bias like linears\[0\]"):
        ModuleBank.from_linears([nn.Linear(3, 2), nn.Linear(3, 2, bias=False)])
    with pytest.raises(ConfigError, match=r"linears\[0\] must be an nn.Linear, got Conv1d"):
        ModuleBank.from_linears([nn.Conv1d(3, 2, 1)])  # type: ignore[list-item]


# --------------------------------------------------------------------------------------
# Initialisation
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("fan_in", [16, 256])
def test_init_matches_nn_linear_per_member_fan_in(fan_in: int) -> None:
    n, out = 8, 64
    bank = ModuleBank(fan_in, out, n)
    linears = [nn.Linear(fan_in, out) for _ in range(n)]
    bound = 1.0 / math.sqrt(fan_in)  # nn.Linear's kaiming_uniform(a=sqrt(5)) bound
    ref_w = torch.cat([lin.weight.flatten() for lin in linears])
    ref_b = torch.cat([lin.bias for lin in linears])
    for got, ref in (
        (bank.weight.detach().flatten(), ref_w),
        (bank.bias.detach().flatten(), ref_b),
    ):
        assert got.abs().max() <= bound
        assert got.abs().max() > 0.9 * bound  # fills the support, not a narrower one
        # std of U(-a, a) is a / sqrt(3); sampling error of the std is ~1/sqrt(2N).
        rel = 4.0 / math.sqrt(2 * got.numel())
        assert got.std().item() == pytest.approx(bound / math.sqrt(3), rel=rel + 0.01)
        assert got.std().item() == pytest.approx(ref.std().item(), rel=2 * rel + 0.01)
        assert abs(got.mean().item()) < 4 * bound / math.sqrt(3 * got.numel())
    # every member is drawn from the same distribution (no member scaled by n or by its index)
    member_std = bank.weight.detach().flatten(1).std(dim=1)
    torch.testing.assert_close(
        member_std, torch.full((n,), bound / math.sqrt(3)), rtol=0.05, atol=0.0
    )


def test_custom_init_hook() -> None:
    def authors_init(weight: Tensor, bias: Tensor | None) -> None:
        bound = 1.0 / math.sqrt(weight.shape[-1])
        weight.uniform_(-bound, bound)
        if bias is not None:
            bias.fill_(0.1)

    bank = ModuleBank(400, 16, 3, init=authors_init)
    assert torch.equal(bank.bias, torch.full((3, 16), 0.1))
    assert bank.weight.abs().max() <= 0.25
    assert bank.weight.abs().max() > 0.2  # 1/sqrt(out)=0.25, far wider than 1/sqrt(in)=0.05
    assert bank.weight.is_leaf and bank.weight.requires_grad  # filled in place, still a leaf
    bank.reset_parameters()
    assert bank.bias.abs().max() <= 0.05
    bank.reset_parameters(init=authors_init)
    assert torch.equal(bank.bias, torch.full((3, 16), 0.1))


def test_no_bias() -> None:
    bank = ModuleBank(3, 2, 4, bias=False)
    assert bank.bias is None
    assert [name for name, _ in bank.named_parameters()] == ["weight"]
    x = torch.randn(5, 3)
    torch.testing.assert_close(bank(x), torch.einsum("bi,nio->bno", x, bank.weight))


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "match"),
    [
        ((5, 7), r"ModuleBank.forward: x must have shape \(batch, 3\), got \(5, 7\)"),
        ((5, 2, 3), r"ModuleBank.forward: x must have shape \(batch, 4, 3\), got \(5, 2, 3\)"),
        ((5, 4, 2), r"ModuleBank.forward: x must have shape \(batch, 4, 3\), got \(5, 4, 2\)"),
        ((3,), r"ModuleBank.forward: x must have 2 dims .* or 3 dims .*, got 1 dims"),
        ((2, 5, 4, 3), r"ModuleBank.forward: x must .*got 4 dims with shape \(2, 5, 4, 3\)"),
    ],
)
def test_bad_input_shapes_raise_shape_errors(shape: tuple[int, ...], match: str) -> None:
    with pytest.raises(ShapeError, match=match):
        ModuleBank(3, 2, 4)(torch.randn(*shape))


@pytest.mark.parametrize("shape", [(5, 3), (5, 4, 3)], ids=["shared x", "per-module x"])
@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda s: np.zeros(s, np.float32), r"x must be a torch.Tensor, got ndarray"),
        (lambda s: torch.zeros(s, dtype=torch.int64), r"x must be a floating-point tensor, got"),
        (
            lambda s: torch.zeros(s, dtype=torch.float64),
            r"x must have the network's dtype torch.float32 .*got torch.float64",
        ),
    ],
    ids=["numpy", "int64", "float64"],
)
def test_a_non_tensor_or_wrong_dtype_x_is_refused_by_name(shape, make, match) -> None:
    # Without the check: an AttributeError (numpy) or torch's "mat1 and mat2 must have
    # the same dtype", which names no argument.
    with pytest.raises(ShapeError, match=rf"ModuleBank.forward: {match}"):
        ModuleBank(3, 2, 4)(make(shape))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"in_features": 0}, r"ModuleBank: in_features must be an int >= 1, got 0"),
        ({"out_features": -2}, r"out_features must be an int >= 1, got -2"),
        ({"num_modules": 2.0}, r"num_modules must be an int >= 1, got 2.0"),
        ({"num_modules": True}, r"num_modules must be an int >= 1, got True"),
    ],
)
def test_bad_settings_raise_config_errors(kwargs: dict, match: str) -> None:
    settings = {"in_features": 3, "out_features": 2, "num_modules": 4, **kwargs}
    with pytest.raises(ConfigError, match=match):
        ModuleBank(**settings)
