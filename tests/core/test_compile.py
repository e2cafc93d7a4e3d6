"""``torch.compile(fullgraph=True)`` traces SoftRoutedMLP under every routing strategy.

Compiling on CPU takes seconds per graph, so the networks are tiny and the tests
are marked slow; the whole file stays well under a minute and a half.
"""

from __future__ import annotations

import pytest
import torch

from modnet import SoftRoutedMLP

pytestmark = pytest.mark.slow


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
