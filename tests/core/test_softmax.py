"""``modnet.softmax.softmax_last``: the same numbers as ``torch.softmax(x, -1)`` on both paths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from modnet import MixtureOfExperts, Soft, SoftRoutedMLP
from modnet.reference import LoopSoftRoutedMLP
from modnet.softmax import MIN_ROWS, SHORT_ROW, softmax_last


def _takes_transposed_path(shape: tuple[int, ...]) -> bool:
    n = shape[-1]
    rows = 1
    for s in shape[:-1]:
        rows *= s
    return len(shape) >= 2 and n < SHORT_ROW and rows >= MIN_ROWS


@given(
    lead=st.sampled_from([(7,), (1100,), (300, 4), (2, 700), (5, 3, 90)]),
    n=st.integers(min_value=1, max_value=SHORT_ROW + 2),
    scale=st.sampled_from([0.1, 3.0, 50.0]),
    seed=st.integers(min_value=0, max_value=2**16),
)
def test_equals_torch_softmax_in_value_and_gradient(
    lead: tuple[int, ...], n: int, scale: float, seed: int
) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = (torch.randn(*lead, n, generator=gen, dtype=torch.float64) * scale).requires_grad_()
    upstream = torch.randn(*lead, n, generator=gen, dtype=torch.float64)
    ours = softmax_last(x)
    (g_ours,) = torch.autograd.grad(ours, x, upstream)
    ref = torch.softmax(x, dim=-1)
    (g_ref,) = torch.autograd.grad(ref, x, upstream)
    assert ours.shape == ref.shape
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-10, atol=1e-13)


def test_path_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = torch.softmax

    def recording(x: torch.Tensor, dim: int, **kwargs: object) -> torch.Tensor:
        calls.append(dim)
        return real(x, dim, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(torch, "softmax", recording)
    cases = {
        (1280, 4, 4): 0,  # 5120 short rows: transposed
        (1280, 4): 0,
        (1280, 2, 2): 0,
        (10, 4, 4): -1,  # acting batch: too few rows
        (4096, SHORT_ROW): -1,  # the row fills a vector register
        (4096,): -1,  # one row
    }
    for shape, dim in cases.items():
        calls.clear()
        softmax_last(torch.randn(shape))
        assert calls == [dim], (shape, calls)
        assert _takes_transposed_path(shape) == (dim == 0)


def test_transposed_path_output_is_contiguous_and_finite_for_extreme_logits() -> None:
    x = torch.randn(1280, 4, 4) * 1e4
    x[0] = 1e4  # an all-equal row
    assert _takes_transposed_path(tuple(x.shape))
    w = softmax_last(x)
    assert w.is_contiguous()
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(1280, 4))
    torch.testing.assert_close(w[0], torch.full((4, 4), 0.25))


def test_under_vmap_and_compile() -> None:
    x = torch.randn(3, 1280, 4)
    torch.testing.assert_close(torch.func.vmap(softmax_last)(x), torch.softmax(x, -1))
    compiled = torch.compile(softmax_last, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x[0]), torch.softmax(x[0], -1))


def test_soft_routing_on_a_training_batch_equals_softmax() -> None:
    logits = torch.randn(1280, 4, 4, dtype=torch.float64)
    r = Soft(temperature=0.5)(logits)
    torch.testing.assert_close(r.weights, torch.softmax(logits / 0.5, -1), rtol=1e-12, atol=0)


def test_deep_network_at_a_training_batch_matches_the_loop_reference() -> None:
    """B=1100: every routing softmax (4400 rows of 4, 1100 of 4) takes the transposed path."""
    net = SoftRoutedMLP.deep(39, 8, 10).double()
    loop = LoopSoftRoutedMLP.from_batched(net)
    x = torch.randn(1100, 39, dtype=torch.float64)
    task = torch.arange(1100) % 10
    out, trace = net(x, task, return_routing=True)
    ref, ref_trace = loop(x, F.one_hot(task, 10).double(), return_routing=True)
    torch.testing.assert_close(out, ref)
    for a, b in zip(trace.layer_weights, ref_trace.layer_weights, strict=True):
        torch.testing.assert_close(a, b)
    grads = torch.autograd.grad(out.square().sum(), list(net.parameters()))
    ref_grads = dict(
        zip(
            [k for k, _ in loop.named_parameters()],
            torch.autograd.grad(ref.square().sum(), list(loop.parameters())),
            strict=True,
        )
    )
    named = dict(zip([k for k, _ in net.named_parameters()], grads, strict=True))
    # The dense layers share names; the banks are compared through their per-module Linears.
    for name, g in named.items():
        if name in ref_grads:
            torch.testing.assert_close(g, ref_grads[name])
    for k, bank in enumerate(net.layers):
        for j in range(bank.num_modules):
            w = named[f"layers.{k}.weight"][j]  # [in, out]
            torch.testing.assert_close(w.t(), ref_grads[f"module_layers.{k}.{j}.weight"])
            b = named[f"layers.{k}.bias"][j]
            torch.testing.assert_close(b, ref_grads[f"module_layers.{k}.{j}.bias"])


def test_mixture_of_experts_gate_on_a_training_batch_equals_softmax() -> None:
    moe = MixtureOfExperts(39, 8, 10, num_experts=4).double()
    task = torch.arange(1280) % 10
    gate = moe.gate_weights(task)
    logits = moe.gate(F.one_hot(task, 10).double())
    torch.testing.assert_close(gate, torch.softmax(logits, -1), rtol=1e-12, atol=0)
