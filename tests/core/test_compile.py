"""``torch.compile(fullgraph=True)`` traces every public network and layer, and keeps its checks.

Each routing strategy compiles and matches eager. Every shape, dtype and type check that
eager makes holds in the compiled network too: Dynamo runs it while tracing, so a bad
input fails the compile with eager's message (wrapped in Dynamo's ``Unsupported``, the
``ShapeError`` as its cause) instead of running; value checks (an id out of range, a
float task that is not a one-hot) become asynchronous device assertions.

Compiling on CPU takes seconds per graph, so the networks are tiny and the tests
are marked slow; the bad inputs reuse each test's compiled network (a wrong shape or
dtype fails while re-tracing, before any backend work).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import torch

from modnet import SoftRoutedMLP
from modnet.errors import ShapeError

pytestmark = pytest.mark.slow


def refused_like_eager(compiled: Callable[..., Any], eager: Callable[..., Any], *args: Any) -> None:
    """``eager(*args)`` raises a ShapeError; ``compiled(*args)`` fails with its message.

    The message is compared up to ``", got"``: under compile a size may print symbolic.
    """
    with pytest.raises(ShapeError) as eager_error:
        eager(*args)
    expected = str(eager_error.value).split(", got")[0]
    with pytest.raises(Exception) as compiled_error:  # noqa: PT011 - Dynamo wraps it
        compiled(*args)
    chain = f"{compiled_error.value} {compiled_error.value.__cause__!r}"
    assert expected in chain, chain


def bad_task_inputs(x: torch.Tensor, task: torch.Tensor) -> list[tuple[torch.Tensor, ...]]:
    """A too-wide, a float64 and a batch-mismatched call next to ``(x, task)``."""
    wide = torch.cat([x, x[:, :1]], dim=1)
    return [(wide, task), (x.double(), task), (x, task[:-1])]


def tiny(routing: str, variant: str = "official", num_layers: int = 3) -> SoftRoutedMLP:
    kw = {"k": 2} if routing == "topk" else {}
    net = SoftRoutedMLP(
        4,
        2,
        3,
        num_layers=num_layers,
        num_modules=3,
        module_features=5,
        hidden_features=8,
        routing_features=6,
        routing=routing,
        routing_kwargs=kw,
        variant=variant,
    )
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    return net


@pytest.mark.parametrize("routing", ["soft", "hard", "topk"])
def test_compiled_forward_matches_eager(routing: str) -> None:
    torch._dynamo.reset()
    net = tiny(routing)
    x, task = torch.randn(6, 4), torch.tensor([0, 2, 1, 1, 0, 2])
    compiled = torch.compile(net, fullgraph=True)
    out, trace = compiled(x, task, return_routing=True)
    ref, ref_trace = net(x, task, return_routing=True)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    for p, q in zip(trace.layer_weights, ref_trace.layer_weights, strict=True):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(trace.final_weights, ref_trace.final_weights, rtol=1e-5, atol=1e-6)
    for args in bad_task_inputs(x, task):
        refused_like_eager(compiled, net, *args)


def test_compiled_backward_matches_eager() -> None:
    # AOTAutograd traces the backward graph; the "aot_eager" backend skips
    # inductor's code generation for it, which would double this file's time.
    torch._dynamo.reset()
    net = tiny("soft", variant="paper", num_layers=2)
    x = torch.randn(5, 4)
    one_hot = torch.nn.functional.one_hot(torch.tensor([0, 1, 2, 1, 0]), 3).float()
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    compiled(x, one_hot).square().sum().backward()
    got = {k: p.grad.clone() for k, p in net.named_parameters()}
    net.zero_grad()
    net(x, one_hot).square().sum().backward()
    for k, p in net.named_parameters():
        torch.testing.assert_close(got[k], p.grad, rtol=1e-4, atol=1e-6, msg=k)
    # Eager refuses a float task that is not a one-hot (nor a mixture) with a ShapeError;
    # the compiled graph, which cannot raise on values, fails a device assertion.
    zero_row = one_hot.clone()
    zero_row[1] = 0.0
    with pytest.raises(ShapeError, match=r"row 1 = \[0\.0, 0\.0, 0\.0\]"):
        net(x, zero_row)
    with pytest.raises(
        RuntimeError, match=r"SoftRoutedMLP\.forward: task one-hot must hold a one-hot"
    ):
        compiled(x, zero_row)


@pytest.mark.parametrize("bad", [3, -1], ids=["too-large", "negative"])
def test_compiled_forward_refuses_task_ids_out_of_range(bad: int) -> None:
    # Eager raises a ShapeError; a compiled graph cannot raise on tensor contents, so a
    # device assertion stops it instead of a silent lookup of a wrong (or wrapped) row.
    torch._dynamo.reset()
    net = tiny("soft")
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    x = torch.randn(4, 4)
    torch.testing.assert_close(
        compiled(x, torch.tensor([0, 1, 2, 0])), net(x, torch.tensor([0, 1, 2, 0]))
    )
    with pytest.raises(RuntimeError, match=r"SoftRoutedMLP.forward: task ids must be in \[0, 3\)"):
        compiled(x, torch.tensor([0, bad, 1, 2]))


def test_compiled_ensemble_forward_matches_eager() -> None:
    torch._dynamo.reset()
    from torch.func import stack_module_state

    nets = [tiny("soft") for _ in range(2)]
    params, _ = stack_module_state(nets)
    x, task = torch.randn(5, 4), torch.tensor([0, 2, 1, 1, 0])
    compiled = torch.compile(nets[0].ensemble_forward, fullgraph=True, backend="aot_eager")
    torch.testing.assert_close(compiled(params, x, task), nets[0].ensemble_forward(params, x, task))


def _layers():
    from modnet import (
        Hard,
        MixtureOfExperts,
        ModuleBank,
        MultiHeadMLP,
        RoutedLinear,
        Soft,
        TaskMLP,
        TopK,
    )
    from modnet.reference import LoopSoftRoutedMLP

    # Every public layer and baseline network, each routing strategy, each dispatch.
    yield "RoutedLinear-soft", RoutedLinear(4, 3, 4, routing=Soft()), False
    yield "RoutedLinear-hard", RoutedLinear(4, 3, 4, routing=Hard()), False
    yield "RoutedLinear-topk-auto", RoutedLinear(4, 3, 4, routing=TopK(2)), False
    yield (
        "RoutedLinear-topk-sparse",
        RoutedLinear(4, 3, 4, routing=TopK(2), dispatch="sparse"),
        False,
    )
    yield "ModuleBank", ModuleBank(4, 3, 5), False
    yield "TaskMLP", TaskMLP(4, 3, 3, hidden_sizes=(8,)), True
    yield "MultiHeadMLP", MultiHeadMLP(4, 3, 3, trunk_sizes=(8,), head_sizes=(8,)), True
    yield "MixtureOfExperts", MixtureOfExperts(4, 3, 3, num_experts=2, hidden_sizes=(8,)), True
    # The loop oracle traces one op per module: two modules keep its compile short.
    loop = LoopSoftRoutedMLP(
        4, 3, 3, num_modules=2, module_features=5, hidden_features=8, routing_features=6
    )
    yield "LoopSoftRoutedMLP", loop, True


@pytest.mark.parametrize(
    "name, layer, takes_task", list(_layers()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_public_layer_compiles_with_fullgraph_and_matches_eager(
    name, layer, takes_task
) -> None:
    torch._dynamo.reset()
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    x = torch.randn(6, 4, requires_grad=True)
    args = (x, torch.tensor([0, 2, 1, 1, 0, 2])) if takes_task else (x,)
    got = compiled(*args)
    torch.testing.assert_close(got, layer(*args), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(got.square().sum(), x)
    (ref,) = torch.autograd.grad(layer(*args).square().sum(), x)
    torch.testing.assert_close(grad, ref, rtol=1e-5, atol=1e-6)
    x = x.detach()
    if takes_task:
        for bad in bad_task_inputs(x, args[1]):
            refused_like_eager(compiled, layer, *bad)
        # Ids out of range: eager's ShapeError, the compiled graph's device assertion.
        wrong = torch.tensor([0, 2, 1, -1, 0, 2])
        with pytest.raises(ShapeError, match=r"task ids must be in \[0, 3\), got -1"):
            layer(x, wrong)
        with pytest.raises(
            RuntimeError, match=re.escape(f"{name}.forward: task ids must be in [0, 3)")
        ):
            compiled(x, wrong)
    elif name.startswith("RoutedLinear"):
        refused_like_eager(compiled, layer, torch.cat([x, x[:, :1]], dim=1))
        refused_like_eager(compiled, layer, x.double())
