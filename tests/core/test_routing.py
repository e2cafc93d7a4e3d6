"""Property tests of the routing math (modnet.routing); the math is in docs/routing.md.

Each property is stated so that it is true in floating point: tolerances scale with the
number of terms summed, and a strict gap between logits is assumed wherever ties would be
broken by position (argmax, top-k, permutations).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import extreme_logits, logits, strict_gap_logits, temperatures
from torch import Tensor, nn

from modnet import Hard, Routing, RoutingStrategy, ShapeError, Soft, TopK, make_routing
from modnet.routing import _gumbel_like, selected_indices

EPS = torch.finfo(torch.float32).eps


def _sum_tolerance(n: int) -> float:
    # A float32 sum of n terms each rounded once: error <= ~n * eps (generous but scaled).
    return 4 * n * EPS


@st.composite
def strategies_for(draw: st.DrawFn, n: int) -> RoutingStrategy:
    """Any simplex-valued strategy valid for n choices, in train or eval mode."""
    temperature = draw(temperatures)
    kind = draw(st.sampled_from(["soft", "hard_st", "hard_gumbel", "topk"]))
    if kind == "soft":
        strategy: RoutingStrategy = Soft(temperature=temperature)
    elif kind == "hard_st":
        strategy = Hard(temperature=temperature)
    elif kind == "hard_gumbel":
        strategy = Hard(estimator="gumbel", temperature=temperature)
    else:
        k = draw(st.integers(min_value=2, max_value=n))
        noise = draw(st.sampled_from([0.0, 1.0]))
        strategy = TopK(k, noise_std=noise, balance_coef=0.01, temperature=temperature)
    strategy.train(draw(st.booleans()))
    return strategy


@st.composite
def logits_and_strategy(draw: st.DrawFn, source=logits) -> tuple[Tensor, RoutingStrategy]:
    x = draw(source())
    return x, draw(strategies_for(x.shape[-1]))


def _one_hot_argmax(x: Tensor) -> Tensor:
    return torch.zeros_like(x).scatter_(-1, x.argmax(-1, keepdim=True), 1.0)


# --------------------------------------------------------------------------------------
# The simplex, on the right axis
# --------------------------------------------------------------------------------------


@given(logits_and_strategy())
def test_weights_are_on_the_simplex_of_the_last_axis(case: tuple[Tensor, RoutingStrategy]) -> None:
    x, strategy = case
    out = strategy(x)
    assert isinstance(out, Routing)
    # Leading dims differ from n (non-square), so a softmax over another axis has the wrong
    # sums here and a transposed result has the wrong shape.
    assert out.weights.shape == x.shape and out.mask.shape == x.shape
    assert out.mask.dtype == torch.bool and out.weights.dtype == torch.float32
    assert out.aux_loss.shape == ()
    assert (out.weights >= 0).all()
    sums = out.weights.sum(-1)
    assert torch.allclose(sums, torch.ones_like(sums), rtol=0, atol=_sum_tolerance(x.shape[-1]))
    # Weight outside the mask is exactly zero.
    assert (out.weights[~out.mask] == 0).all()
    torch.testing.assert_close(out.logits, x, rtol=0, atol=0)


def _drawn_topk(x: Tensor, data: st.DataObject, *, min_k: int, renormalize: bool):
    """``TopK`` with ``k`` drawn from ``[min_k, n]`` and a drawn temperature, applied to
    ``x``: the routing and the temperature."""
    k = data.draw(st.integers(min_value=min_k, max_value=x.shape[-1]))
    temperature = data.draw(temperatures)
    return TopK(k, renormalize=renormalize, temperature=temperature)(x), temperature


@given(logits(), st.data())
def test_unrenormalised_topk_is_the_full_softmax_restricted_to_the_mask(
    x: Tensor, data: st.DataObject
) -> None:
    n = x.shape[-1]
    out, temperature = _drawn_topk(x, data, min_k=1, renormalize=False)
    full = torch.softmax(x / temperature, dim=-1)
    torch.testing.assert_close(out.weights, full * out.mask, rtol=0, atol=0)
    # So it is sub-stochastic: the rows sum to the selected probability mass, at most 1.
    assert (out.weights.sum(-1) <= 1 + _sum_tolerance(n)).all()


# --------------------------------------------------------------------------------------
# Temperature limits
# --------------------------------------------------------------------------------------


@given(strict_gap_logits(gap=0.5), st.data())
def test_low_temperature_approaches_the_argmax(x: Tensor, data: st.DataObject) -> None:
    n = x.shape[-1]
    gap, temperature = 0.5, 0.5 / 40
    k = data.draw(st.integers(min_value=2, max_value=n))
    # Every non-max weight is at most exp(-gap / T) = exp(-40) ~ 4e-18 times the max one.
    bound = (n - 1) * math.exp(-gap / temperature) + 2 * EPS
    target = _one_hot_argmax(x)
    for strategy in (Soft(temperature=temperature), TopK(k, temperature=temperature)):
        weights = strategy(x).weights
        assert (weights - target).abs().max() <= bound


@given(logits(min_value=-10.0, max_value=10.0))
def test_high_temperature_approaches_uniform(x: Tensor) -> None:
    n = x.shape[-1]
    temperature = 2e4
    # Scaled logits span delta <= 20 / 2e4 = 1e-3, so each weight lies in
    # [exp(-delta) / n, exp(delta) / n].
    delta = float((x.amax(-1) - x.amin(-1)).max()) / temperature
    bound = math.expm1(delta) / n + 2 * EPS
    weights = Soft(temperature=temperature)(x).weights
    assert (weights - 1.0 / n).abs().max() <= bound


# --------------------------------------------------------------------------------------
# Top-k
# --------------------------------------------------------------------------------------


@given(extreme_logits() | logits(), st.data())
def test_topk_mask_has_exactly_k_entries_and_at_most_k_nonzeros(
    x: Tensor, data: st.DataObject
) -> None:
    n = x.shape[-1]
    k = data.draw(st.integers(min_value=1, max_value=n))
    renormalize = k > 1 and data.draw(st.booleans())
    strategy = TopK(k, renormalize=renormalize, noise_std=data.draw(st.sampled_from([0.0, 2.0])))
    strategy.train(data.draw(st.booleans()))
    out = strategy(x)
    assert (out.mask.sum(-1) == k).all()
    # A selected weight may underflow to 0, so "at most" k non-zeros, and none outside.
    assert (torch.count_nonzero(out.weights, dim=-1) <= k).all()
    assert (out.weights[~out.mask] == 0).all()


@given(strict_gap_logits(gap=0.25), st.data())
def test_topk_selects_the_k_largest_logits(x: Tensor, data: st.DataObject) -> None:
    n = x.shape[-1]
    k = data.draw(st.integers(min_value=2, max_value=n))
    kth_largest = x.sort(dim=-1, descending=True).values[..., k - 1 : k]
    out = TopK(k)(x)
    assert torch.equal(out.mask, x >= kth_largest)
    assert torch.equal(selected_indices(out.mask, k), x.topk(k, dim=-1).indices.sort(-1).values)


@given(logits(min_value=-30.0, max_value=30.0), st.data())
def test_renormalised_topk_is_a_softmax_over_the_selected_logits(
    x: Tensor, data: st.DataObject
) -> None:
    n = x.shape[-1]
    out, temperature = _drawn_topk(x, data, min_k=2, renormalize=True)
    reference = torch.softmax((x / temperature).masked_fill(~out.mask, -math.inf), dim=-1)
    # Both sum <= n positive terms; the only difference is summation order.
    torch.testing.assert_close(out.weights, reference, rtol=8 * n * EPS, atol=1e-30)


@given(logits(), temperatures, st.booleans())
def test_topk_with_k_equal_n_is_soft(x: Tensor, temperature: float, renormalize: bool) -> None:
    n = x.shape[-1]
    soft = Soft(temperature=temperature)(x)
    top = TopK(n, renormalize=renormalize or n == 1, temperature=temperature)(x)
    assert torch.equal(top.weights, soft.weights)
    assert torch.equal(top.mask, soft.mask)


def test_renormalised_topk_gives_unselected_logits_exactly_zero_gradient() -> None:
    x = torch.tensor([[3.0, -1.0, 2.0, 0.5, -4.0]], requires_grad=True)
    out = TopK(2)(x)
    (out.weights * torch.arange(1.0, 6.0)).sum().backward()
    assert x.grad is not None
    assert torch.equal(x.grad[~out.mask], torch.zeros(3))
    assert (x.grad[out.mask] != 0).all()


def test_switch_style_topk_one_passes_a_gradient_to_the_router() -> None:
    # The reason k=1 needs renormalize=False: the weight is the softmax probability.
    x = torch.tensor([[1.0, 0.0, -1.0]], requires_grad=True)
    out = TopK(1, renormalize=False)(x)
    out.weights.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


# --------------------------------------------------------------------------------------
# Hard routing
# --------------------------------------------------------------------------------------


@given(extreme_logits() | logits(), temperatures, st.sampled_from(["straight_through", "gumbel"]))
def test_hard_forward_is_exactly_one_hot(x: Tensor, temperature: float, estimator: str) -> None:
    strategy = Hard(estimator=estimator, temperature=temperature).train()
    out = strategy(x)
    assert ((out.weights == 0) | (out.weights == 1)).all()
    assert torch.equal(out.weights.sum(-1), torch.ones(x.shape[:-1]))
    assert torch.equal(out.mask, out.weights == 1)


@given(logits(), temperatures, st.sampled_from(["straight_through", "gumbel"]))
def test_hard_in_eval_picks_the_argmax_and_has_the_soft_gradient(
    x: Tensor, temperature: float, estimator: str
) -> None:
    upstream = torch.randn(x.shape)
    hard_in = x.clone().requires_grad_(True)
    soft_in = x.clone().requires_grad_(True)
    out = Hard(estimator=estimator, temperature=temperature).eval()(hard_in)
    # Ties go to the first index, as torch.argmax.
    assert torch.equal(out.weights.detach(), _one_hot_argmax(x))
    (out.weights * upstream).sum().backward()
    (torch.softmax(soft_in / temperature, dim=-1) * upstream).sum().backward()
    torch.testing.assert_close(hard_in.grad, soft_in.grad, rtol=0, atol=0)


@given(logits(), temperatures)
def test_gumbel_in_training_has_the_gradient_of_the_noisy_soft_surrogate(
    x: Tensor, temperature: float
) -> None:
    torch.manual_seed(1234)
    noise = _gumbel_like(x)
    assert torch.isfinite(noise).all()
    hard_in = x.clone().requires_grad_(True)
    soft_in = x.clone().requires_grad_(True)
    torch.manual_seed(1234)  # the same noise again
    out = Hard(estimator="gumbel", temperature=temperature).train()(hard_in)
    assert torch.equal(out.weights.detach(), _one_hot_argmax(x + noise))
    upstream = torch.randn(x.shape)
    (out.weights * upstream).sum().backward()
    (torch.softmax((soft_in + noise) / temperature, dim=-1) * upstream).sum().backward()
    torch.testing.assert_close(hard_in.grad, soft_in.grad, rtol=0, atol=0)


def test_gumbel_samples_follow_the_softmax_of_the_logits() -> None:
    rows = 20_000
    row = torch.tensor([1.0, 0.0, -1.0, 0.5, 2.0])
    probs = torch.softmax(row, dim=-1)
    # The temperature only shapes the surrogate, not the sampled index.
    out = Hard(estimator="gumbel", temperature=0.3).train()(row.expand(rows, 5))
    frequency = out.weights.detach().mean(0)
    sigma = (probs * (1 - probs) / rows).sqrt()
    assert ((frequency - probs).abs() <= 5 * sigma).all(), (frequency, probs)


# --------------------------------------------------------------------------------------
# Noise only in training; evaluation is deterministic
# --------------------------------------------------------------------------------------


@given(logits())
def test_evaluation_mode_is_deterministic_and_noise_free(x: Tensor) -> None:
    n = x.shape[-1]
    pairs = [
        (Hard(estimator="gumbel"), Hard()),
        (TopK(min(2, n), noise_std=3.0, balance_coef=0.1), TopK(min(2, n), balance_coef=0.1)),
    ]
    for noisy, clean in pairs:
        noisy.eval()
        first, second, reference = noisy(x), noisy(x), clean(x)
        for a, b, c in zip(first, second, reference, strict=True):
            assert torch.equal(a, b) and torch.equal(a, c)


def test_training_mode_draws_noise() -> None:
    x = torch.zeros(64, 6)  # all-equal rows: without noise every row selects the same k
    topk = TopK(2, noise_std=1.0).train()
    first, second = topk(x), topk(x)
    assert not torch.equal(first.mask, second.mask)
    assert (first.mask != first.mask[:1]).any(), "noise should vary the selection across rows"
    gumbel = Hard(estimator="gumbel").train()
    assert not torch.equal(gumbel(x).weights, gumbel(x).weights)
    # ...and the same module in eval mode is noise-free.
    assert torch.equal(topk.eval()(x).mask, TopK(2)(x).mask)


# --------------------------------------------------------------------------------------
# Permutation equivariance (a strict gap makes the selection unambiguous)
# --------------------------------------------------------------------------------------


@given(strict_gap_logits(gap=0.25), st.data())
def test_strategies_are_permutation_equivariant(x: Tensor, data: st.DataObject) -> None:
    n = x.shape[-1]
    perm = torch.tensor(data.draw(st.permutations(range(n))))
    k = data.draw(st.integers(min_value=2, max_value=n))
    strategies: list[RoutingStrategy] = [
        Soft(temperature=data.draw(temperatures)),
        Hard(),
        Hard(estimator="gumbel").eval(),
        TopK(k, balance_coef=0.5),
        TopK(max(1, k - 1), renormalize=False),
    ]
    for strategy in strategies:
        permuted = strategy(x[..., perm])
        original = strategy(x)
        assert torch.equal(permuted.mask, original.mask[..., perm])
        # Softmax sums in a different order after permuting: equal up to rounding.
        torch.testing.assert_close(
            permuted.weights, original.weights[..., perm], rtol=8 * n * EPS, atol=1e-30
        )
        torch.testing.assert_close(permuted.aux_loss, original.aux_loss, rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------------------
# Switch-style load balancing
# --------------------------------------------------------------------------------------


def _switch_oracle(x: np.ndarray, mask: np.ndarray, k: int, coef: float) -> float:
    """coef * n * sum_i f_i P_i, in float64 with explicit loops (the test oracle)."""
    n = x.shape[-1]
    rows, masks = x.reshape(-1, n).astype(np.float64), mask.reshape(-1, n)
    probs = np.exp(rows - rows.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    total = 0.0
    for i in range(n):
        f_i = masks[:, i].sum() / (len(rows) * k)
        total += f_i * probs[:, i].mean()
    return coef * n * total


@given(logits(), st.data())
def test_balance_loss_matches_the_switch_formula(x: Tensor, data: st.DataObject) -> None:
    n = x.shape[-1]
    k = data.draw(st.integers(min_value=1, max_value=n))
    coef = data.draw(st.floats(min_value=1e-3, max_value=10.0))
    out = TopK(k, renormalize=k > 1, balance_coef=coef)(x)
    expected = _switch_oracle(x.numpy(), out.mask.numpy(), k, coef)
    assert out.aux_loss.dtype == torch.float32
    assert math.isclose(float(out.aux_loss), expected, rel_tol=1e-5, abs_tol=1e-7)


@given(
    st.integers(min_value=2, max_value=8),
    st.integers(min_value=1, max_value=9),
    st.sampled_from([-1e4, -3.0, 0.0, 7.5, 1e4]),
    st.data(),
)
def test_balance_loss_equals_the_coefficient_at_uniform_router_probabilities(
    n: int, rows: int, value: float, data: st.DataObject
) -> None:
    # All-equal logits: P_i = 1/n for every i, whatever the (tie-broken) selection f is.
    k = data.draw(st.integers(min_value=1, max_value=n))
    coef = data.draw(st.floats(min_value=1e-3, max_value=10.0))
    out = TopK(k, renormalize=k > 1, balance_coef=coef)(torch.full((rows, n), value))
    assert math.isclose(float(out.aux_loss), coef, rel_tol=1e-5)


@given(strict_gap_logits(shape=(1, 5)), st.data())
def test_balance_loss_equals_the_coefficient_at_uniform_load(
    row: Tensor, data: st.DataObject
) -> None:
    # The n cyclic shifts of one row send every choice the same number of slots
    # (f_i = 1/n), so the loss is coef * sum_i P_i = coef.
    n = row.shape[-1]
    x = torch.cat([row.roll(s, dims=-1) for s in range(n)])
    k = data.draw(st.integers(min_value=2, max_value=n))
    out = TopK(k, balance_coef=0.25)(x)
    assert torch.equal(out.mask.sum(0), torch.full((n,), k))
    assert math.isclose(float(out.aux_loss), 0.25, rel_tol=1e-5)


def test_balance_loss_has_a_gradient_and_is_zero_when_disabled() -> None:
    x = torch.tensor([[2.0, 0.0, -1.0, 0.5], [1.5, -2.0, 0.0, 0.1]], requires_grad=True)
    out = TopK(2, balance_coef=0.1)(x)
    out.aux_loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for strategy in (Soft(), Hard(), TopK(2)):
        aux = strategy(x).aux_loss
        assert aux.shape == () and float(aux) == 0.0


# --------------------------------------------------------------------------------------
# Numerics: extreme logits, autocast, dtypes
# --------------------------------------------------------------------------------------


@given(extreme_logits(), st.data())
def test_extreme_logits_never_give_nan_or_inf(x: Tensor, data: st.DataObject) -> None:
    n = x.shape[-1]
    temperature = data.draw(st.sampled_from([0.01, 1.0, 100.0]))
    k = data.draw(st.integers(min_value=1, max_value=n))
    strategies: list[RoutingStrategy] = [
        Soft(temperature=temperature),
        Hard(temperature=temperature),
        Hard(estimator="gumbel", temperature=temperature),
        TopK(k, renormalize=k > 1, noise_std=1.0, balance_coef=0.1, temperature=temperature),
    ]
    for strategy in strategies:
        strategy.train(data.draw(st.booleans()))
        leaf = x.clone().requires_grad_(True)
        out = strategy(leaf)
        assert torch.isfinite(out.weights).all() and torch.isfinite(out.aux_loss)
        ((out.weights * torch.randn(x.shape)).sum() + out.aux_loss).backward()
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all()


@pytest.mark.parametrize(
    "strategy",
    [
        Soft(),
        Hard(),
        Hard(estimator="gumbel"),
        TopK(2, balance_coef=0.1),
        TopK(1, renormalize=False),
    ],
    ids=repr,
)
def test_routing_runs_in_float32_under_bfloat16_autocast(strategy: RoutingStrategy) -> None:
    strategy.eval()
    router = nn.Linear(7, 5)
    x = torch.randn(3, 7)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits_bf16 = router(x)
        out = strategy(logits_bf16)
    assert logits_bf16.dtype == torch.bfloat16  # autocast is really on
    assert out.weights.dtype == torch.float32 and out.aux_loss.dtype == torch.float32
    reference = strategy(logits_bf16.float())
    for a, b in zip(out, reference, strict=True):
        assert torch.equal(a, b)


def test_autocast_is_off_inside_route() -> None:
    # A strategy whose math uses einsum (on autocast's lower-precision list) still runs in
    # float32, because forward switches autocast off around route().
    class Mixed(RoutingStrategy):
        def route(self, logits: Tensor) -> Routing:
            n = logits.shape[-1]
            mixed = torch.einsum("...i,ij->...j", logits, torch.eye(n) * 0.5)
            return Routing(torch.softmax(mixed, -1), logits > 0, logits, mixed.sum())

    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = Mixed()(torch.randn(3, 5))
    assert out.weights.dtype == torch.float32 and out.aux_loss.dtype == torch.float32


@pytest.mark.parametrize(
    "strategy",
    [Soft(), Hard(estimator="gumbel"), TopK(2, balance_coef=0.1), TopK(3, balance_coef=0.1)],
    ids=repr,
)
def test_an_empty_batch_routes_to_empty_weights_and_a_zero_aux_loss(
    strategy: RoutingStrategy,
) -> None:
    out = strategy(torch.zeros(0, 3))
    assert out.weights.shape == (0, 3) and out.mask.shape == (0, 3)
    assert float(out.aux_loss) == 0.0


def test_half_logits_give_float32_and_float64_stays_float64() -> None:
    x = torch.randn(4, 3)
    assert Soft()(x.half()).weights.dtype == torch.float32
    assert TopK(2)(x.double()).weights.dtype == torch.float64


# --------------------------------------------------------------------------------------
# Bad input at call time
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("strategy", [Soft(), Hard(), TopK(2)], ids=repr)
def test_bad_logits_raise_shape_error(strategy: RoutingStrategy) -> None:
    name = type(strategy).__name__
    with pytest.raises(ShapeError, match=rf"{name}\.forward: logits must have shape \[\.\.\., n\]"):
        strategy(torch.tensor(1.0))
    with pytest.raises(ShapeError, match=r"logits must have shape .*got \(3, 0\)"):
        strategy(torch.zeros(3, 0))
    with pytest.raises(ShapeError, match="logits must be a floating-point tensor, got torch.int64"):
        strategy(torch.zeros(3, 4, dtype=torch.int64))
    with pytest.raises(ShapeError, match="logits must be a torch.Tensor, got list"):
        strategy([[0.0, 1.0]])


def test_k_larger_than_n_raises_shape_error_at_call_time() -> None:
    with pytest.raises(
        ShapeError, match=r"TopK\.forward: logits must have at least k=4 .*got \(2, 3\)"
    ):
        TopK(4)(torch.zeros(2, 3))


def test_selected_indices_lists_the_mask_in_ascending_order() -> None:
    mask = torch.tensor([[False, True, False, True], [True, False, True, False]])
    assert torch.equal(selected_indices(mask, 2), torch.tensor([[1, 3], [0, 2]]))


@given(extreme_logits() | logits(), st.data())
def test_selected_indices_are_the_mask_positions(x: Tensor, data: st.DataObject) -> None:
    n = x.shape[-1]
    k = data.draw(st.integers(min_value=1, max_value=n))
    mask = TopK(k, renormalize=False)(x).mask
    # nonzero() walks rows in order and positions ascending within a row.
    expected = mask.nonzero()[:, -1].reshape(*x.shape[:-1], k)
    assert torch.equal(selected_indices(mask, k), expected)


def test_make_routing_names_and_instances() -> None:
    assert isinstance(make_routing("soft"), Soft)
    topk = make_routing("topk", k=3, noise_std=0.5)
    assert isinstance(topk, TopK) and topk.k == 3 and topk.noise_std == 0.5
    hard = Hard(estimator="gumbel")
    assert make_routing(hard) is hard
    assert make_routing({"kind": "hard", "temperature": 2.0}).temperature == 2.0


# --------------------------------------------------------------------------------------
# torch.compile
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_strategies_compile_with_fullgraph_and_match_eager() -> None:
    # backend="aot_eager" traces the whole graph (dynamo + autograd) without inductor's
    # code generation, so the test checks for graph breaks in seconds; the inductor path
    # is exercised by the SoftRoutedMLP compile tests.
    x = torch.randn(6, 4, 5)
    upstream = torch.randn(6, 4, 5)
    strategies: list[RoutingStrategy] = [
        Soft(temperature=0.5),
        Hard(),
        Hard(estimator="gumbel"),
        TopK(2, noise_std=0.5, balance_coef=0.1),
        TopK(1, renormalize=False),
        TopK(5),
    ]
    for strategy in strategies:
        for training in (False, True):
            strategy.train(training)
            torch._dynamo.reset()
            compiled = torch.compile(strategy, fullgraph=True, backend="aot_eager")
            results, grads = [], []
            for fn in (compiled, strategy):
                leaf = x.clone().requires_grad_(True)
                torch.manual_seed(7)  # the same noise draw in both
                out = fn(leaf)
                ((out.weights * upstream).sum() + out.aux_loss).backward()
                results.append(out)
                grads.append(leaf.grad)
            for a, b in zip(*results, strict=True):
                torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
            torch.testing.assert_close(grads[0], grads[1], rtol=1e-6, atol=1e-7)


def test_a_custom_strategy_gets_validation_and_float32_from_the_base_class() -> None:
    class Uniform(RoutingStrategy):
        def route(self, logits: Tensor) -> Routing:
            weights = torch.full_like(logits, 1.0 / logits.shape[-1])
            return Routing(weights, weights > 0, logits, logits.new_zeros(()))

    out = Uniform()(torch.randn(2, 3, dtype=torch.bfloat16))
    assert out.weights.dtype == torch.float32 and out.logits.dtype == torch.float32
    with pytest.raises(ShapeError, match=r"Uniform\.forward: logits must have shape"):
        Uniform()(torch.tensor(0.0))
    with pytest.raises(NotImplementedError, match="must implement route"):
        RoutingStrategy()(torch.zeros(2))
