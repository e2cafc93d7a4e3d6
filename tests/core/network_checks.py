"""Checks every task-conditioned network ``forward(x, task)`` must pass, shared by its tests.

TaskMLP, MultiHeadMLP, MixtureOfExperts, CARE, PaCo, FiLMMLP and MOORE take the same
``x [b, in_features]`` and ``task`` (ids ``[b]`` or one-hot ``[b, t]``) and refuse bad
input through the same checks (``_TaskNetwork._checked`` and ``modnet.task_input``), so
the properties below are stated once and each network's test file calls them with its
own network, reference and tolerances. Importable as ``network_checks`` from the test
files in ``tests/core`` (pytest puts a test file's folder on ``sys.path``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import torch
from hypothesis import strategies as st
from torch import Tensor, nn

from modnet import ShapeError

__all__ = [
    "MT_SHAPES",
    "assert_bad_inputs_refused",
    "assert_compiles_like_eager",
    "assert_each_sample_is_independent",
    "assert_matches_reference",
    "assert_refuses_bad_input",
    "bad_input_cases",
    "count",
    "float64_batch",
    "per_sample",
    "perturb_",
    "reference_cases",
    "run_member",
    "seeded_perturbed",
]

#: The Meta-World actor and critic of MT10 and MT50 as ``(in_features, out_features,
#: num_tasks)``: state 39 (the one-hot goes to the task input, not to the state), 4
#: actions; the actor outputs mean and log-std (2 * 4), the critic reads state + action.
MT_SHAPES = {
    "MT10 actor": (39, 8, 10),
    "MT10 critic": (43, 1, 10),
    "MT50 actor": (39, 8, 50),
    "MT50 critic": (43, 1, 50),
}


#: Draws shared by the reference tests: a batch size (1 included), a number of tasks (1
#: included) and a seed for the network and the data.
reference_cases = {
    "batch": st.integers(1, 5),
    "tasks": st.integers(1, 4),
    "seed": st.integers(0, 2**16),
}


def float64_batch(
    seed: int, batch: int, tasks: int, in_features: int, out_features: int
) -> tuple[Tensor, Tensor, Tensor]:
    """A reference test's draw from ``seed`` (which also seeds the network built after it):
    ``x [batch, in_features]``, task ids ``[batch]`` and a gradient probe
    ``[batch, out_features]``, in float64 (the reference and the network agree to ~1e-10)."""
    torch.manual_seed(seed)
    x = torch.randn(batch, in_features, dtype=torch.float64)
    ids = torch.randint(0, tasks, (batch,))
    return x, ids, torch.randn(batch, out_features, dtype=torch.float64)


def count(net: nn.Module) -> int:
    """The number of parameters of ``net``."""
    return sum(p.numel() for p in net.parameters())


def perturb_(net: nn.Module, std: float = 0.5) -> nn.Module:
    """Every parameter ``~ N(0, std)`` in place: the output layers start at ±3e-3, and a
    reference test on them would see almost nothing of the paths behind them."""
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, std)
    return net


def seeded_perturbed(build: Callable[..., nn.Module], *args: object, **kwargs: object) -> nn.Module:
    """``build(*args, **kwargs)`` from seed 0 with its parameters perturbed (:func:`perturb_`)."""
    torch.manual_seed(0)
    return perturb_(build(*args, **kwargs))


def per_sample(one: Callable[[Tensor, int], Tensor], x: Tensor, ids: Tensor) -> Tensor:
    """A loop oracle's outer loop: ``one(x[b], task b)`` for every sample, stacked ``[b, ...]``."""
    return torch.stack([one(x[b], int(ids[b])) for b in range(len(x))])


def run_member(banks: Sequence[nn.Module], j: int, h: Tensor) -> Tensor:
    """Member ``j`` of a stack of ``ModuleBank`` layers run as its own MLP, ReLU between
    layers and none after the last: the loop oracle of a bank stack."""
    for i, bank in enumerate(banks):
        h = h @ bank.weight[j] + bank.bias[j]
        if i < len(banks) - 1:
            h = torch.relu(h)
    return h


Reference = Callable[[nn.Module, Tensor, Tensor], Tensor]


def assert_matches_reference(
    net: nn.Module,
    reference: Reference,
    x: Tensor,
    ids: Tensor,
    probe: Tensor,
    *,
    rtol: float,
    atol: float,
    grad_rtol: float | None = None,
    grad_atol: float | None = None,
    unused_ok: bool = False,
) -> None:
    """``net(x, ids)`` equals ``reference(net, x, ids)`` in value, and so do the gradients of
    ``(out * probe).sum()`` with respect to ``x`` and to every parameter.

    ``grad_rtol``/``grad_atol`` default to ``rtol``/``atol``. A parameter the reference
    does not use (a head no sample picked) must get no gradient or zeros from ``net``
    when ``unused_ok``; without it every parameter must get a gradient from both.
    """
    names, params = zip(*net.named_parameters(), strict=True)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = net(xa, ids), reference(net, xb, ids)
    torch.testing.assert_close(out, ref, rtol=rtol, atol=atol)
    grads = torch.autograd.grad((out * probe).sum(), [xa, *params], allow_unused=unused_ok)
    refs = torch.autograd.grad((ref * probe).sum(), [xb, *params], allow_unused=unused_ok)
    tol = {
        "rtol": rtol if grad_rtol is None else grad_rtol,
        "atol": atol if grad_atol is None else grad_atol,
    }
    for name, g, r in zip(("x", *names), grads, refs, strict=True):
        if r is None:
            assert g is None or not g.any(), name
        else:
            torch.testing.assert_close(g, r, **tol, msg=name)


def assert_each_sample_is_independent(
    net: nn.Module, x: Tensor, ids: Tensor, row: int, num_tasks: int, **tol: float
) -> None:
    """Sample ``row``'s output depends on its own ``x`` and task only.

    It is the same computed alone (torch's default tolerances, or ``alone_rtol`` and
    ``alone_atol``), after every other sample's state moves by 1, after every other
    sample's state and task change, and under a permutation of the batch (``rtol`` and
    ``atol`` in ``tol``, torch's defaults where absent).
    """
    alone = {"rtol": tol.pop("alone_rtol", None), "atol": tol.pop("alone_atol", None)}
    out = net(x, ids)
    torch.testing.assert_close(
        net(x[row : row + 1], ids[row : row + 1]), out[row : row + 1], **alone
    )
    others = torch.arange(len(x)) != row
    moved = x.clone()
    moved[others] += 1.0
    torch.testing.assert_close(net(moved, ids)[row], out[row], **tol)
    other_ids = ids.clone()
    other_ids[others] = (other_ids[others] + 1) % num_tasks
    torch.testing.assert_close(net(moved, other_ids)[row], out[row], **tol)
    perm = torch.randperm(len(x))
    torch.testing.assert_close(net(x[perm], ids[perm]), out[perm], **tol)


def assert_compiles_like_eager(net: nn.Module, x: Tensor, ids: Tensor) -> None:
    """``torch.compile(net, fullgraph=True)`` traces (no graph break) and gives eager's
    values and input gradient. ``x`` requires grad. Uses the ``aot_eager`` backend: it
    traces forward and backward as inductor does, without the C++ compile a CPU test
    cannot afford."""
    torch._dynamo.reset()
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    got = compiled(x, ids)
    torch.testing.assert_close(got, net(x, ids), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(got.square().sum(), x)
    (ref,) = torch.autograd.grad(net(x, ids).square().sum(), x)
    torch.testing.assert_close(grad, ref, rtol=1e-5, atol=1e-6)


def assert_bad_inputs_refused(net: nn.Module, in_features: int, num_tasks: int) -> None:
    """Each bad ``x`` or ``task`` raises a ``ShapeError`` naming the argument and what came.

    ``net`` reads ``x [b, in_features]`` with ``in_features != 2`` and ``num_tasks >= 3``.
    """
    name, n, t = f"{type(net).__name__}.forward", in_features, num_tasks
    x, ids = torch.randn(3, n), torch.tensor([0, 1, 2])
    with pytest.raises(
        ShapeError, match=rf"{name}: x must have shape \(batch, {n}\), got \(3, 2\)"
    ):
        net(torch.randn(3, 2), ids)
    with pytest.raises(ShapeError, match=rf"{name}: x must be a floating-point tensor"):
        net(torch.ones(3, n, dtype=torch.int64), ids)
    with pytest.raises(ShapeError, match=rf"{name}: x must have the network's dtype"):
        net(x.double(), ids)
    with pytest.raises(ShapeError, match=rf"{name}: task ids must be in \[0, {t}\), got {t}"):
        net(x, torch.tensor([0, t, 2]))
    with pytest.raises(ShapeError, match=rf"{name}: task ids must be in \[0, {t}\), got -1"):
        net(x, torch.tensor([0, -1, 2]))
    with pytest.raises(ShapeError, match=r"task ids must have shape \(3,\), got \(2,\)"):
        net(x, torch.tensor([0, 1]))
    with pytest.raises(
        ShapeError, match=rf"task one-hot must have shape \(3, {t}\), got \(3, {t + 1}\)"
    ):
        net(x, torch.zeros(3, t + 1))
    with pytest.raises(ShapeError, match=r"task must be int64 ids or a float one-hot"):
        net(x, torch.tensor([True, False, True]))


def bad_input_cases(in_features: int, num_tasks: int) -> st.SearchStrategy[dict]:
    """Keyword arguments of :func:`assert_refuses_bad_input`: a wrong state width, a batch
    size, a task id out of range on either side, and a state dtype that is not float32."""
    return st.fixed_dictionaries(
        {
            "width": st.integers(1, 9).filter(lambda w: w != in_features),
            "batch": st.integers(1, 5),
            "bad_id": st.one_of(st.integers(num_tasks, 50), st.integers(-50, -1)),
            "dtype": st.sampled_from([torch.float64, torch.float16, torch.int64, torch.int32]),
        }
    )


def assert_refuses_bad_input(
    net: nn.Module,
    in_features: int,
    num_tasks: int,
    *,
    width: int,
    batch: int,
    bad_id: int,
    dtype: torch.dtype,
) -> None:
    """The state of the wrong width or dtype and the task id out of range are refused, each
    with a message that names the argument and what came (a case of :func:`bad_input_cases`)."""
    name = f"{type(net).__name__}.forward"
    ids = torch.arange(batch) % num_tasks
    with pytest.raises(ShapeError, match=rf"{name}: x must have shape \(batch, {in_features}\)"):
        net(torch.randn(batch, width), ids)
    wrong = ids.clone()
    wrong[-1] = bad_id
    with pytest.raises(ShapeError, match=rf"task ids must be in \[0, {num_tasks}\), got {bad_id}"):
        net(torch.randn(batch, in_features), wrong)
    expected = (
        "be a floating-point tensor" if not dtype.is_floating_point else "have the network's dtype"
    )
    with pytest.raises(ShapeError, match=rf"{name}: x must {expected}.*got {dtype}"):
        net(torch.randn(batch, in_features).to(dtype), ids)
