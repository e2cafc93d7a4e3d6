"""MOORE (Hendawy et al., 2024): orthonormal experts, task-weighted mix, per-task heads."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from network_checks import (
    MT_SHAPES,
    assert_each_sample_is_independent,
    assert_matches_reference,
    count,
    float64_batch,
    reference_cases,
)

from modnet import MOORE, ConfigError, MOOREConfig
from modnet.moore import gram_schmidt


def official_count(
    in_features: int, out_features: int, tasks: int, experts: int, widths=(400, 400, 400)
) -> int:
    """The authors' MetaworldSACMixtureMH{Actor,Critic}Network, layer by layer.

    ``_task_encoder`` Linear(T, k, bias=False); ``k`` copies of the backbone
    Linear(in, 400), Linear(400, 400), Linear(400, 400) with biases; one output head
    Linear(400, out) per task (``n_head_features`` empty).
    """
    backbone, width = 0, in_features
    for size in widths:
        backbone += width * size + size
        width = size
    return tasks * experts + experts * backbone + tasks * (width * out_features + out_features)


# The one-hot goes to the task encoder, not to the experts; 4 experts on MT10, 6 on MT50.
@pytest.mark.parametrize(
    "shape, expected",
    list(zip(MT_SHAPES.values(), [1_379_320, 1_357_650, 2_181_500, 2_050_750], strict=True)),
    ids=list(MT_SHAPES),
)
def test_parameter_counts_match_the_official_network(
    shape: tuple[int, int, int], expected: int
) -> None:
    in_features, out_features, tasks = shape
    experts = {10: 4, 50: 6}[tasks]
    net = MOORE(in_features, out_features, tasks, num_experts=experts)
    assert count(net) == official_count(in_features, out_features, tasks, experts) == expected


# ------------------------------------------------------------------ Gram-Schmidt
def loop_gram_schmidt(x: torch.Tensor) -> torch.Tensor:
    """The Gram-Schmidt process written out: one sample, one vector at a time."""
    rows = []
    for sample in x:
        basis: list[torch.Tensor] = []
        for v in sample:
            w = v - sum(((v @ u) * u for u in basis), torch.zeros_like(v))
            basis.append(w / w.norm())
        rows.append(torch.stack(basis))
    return torch.stack(rows)


@given(
    batch=st.integers(1, 4),
    k=st.integers(1, 4),
    extra=st.integers(0, 3),
    seed=st.integers(0, 2**16),
)
def test_gram_schmidt_equals_the_loop_in_values_and_gradients(
    batch: int, k: int, extra: int, seed: int
) -> None:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, k, k + extra, generator=g, dtype=torch.float64)
    probe = torch.randn(batch, k, k + extra, generator=g, dtype=torch.float64)
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, ref = gram_schmidt(a), loop_gram_schmidt(b)
    torch.testing.assert_close(out, ref, rtol=1e-9, atol=1e-9)
    eye = torch.eye(k, dtype=x.dtype).expand(batch, k, k)
    torch.testing.assert_close(out @ out.transpose(1, 2), eye, rtol=0, atol=1e-10)
    (out * probe).sum().backward()
    (ref * probe).sum().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-7, atol=1e-7)


def test_gram_schmidt_keeps_the_order_and_the_direction() -> None:
    x = torch.tensor([[[0.0, 3.0, 0.0], [2.0, 5.0, 0.0]]])
    torch.testing.assert_close(gram_schmidt(x), torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]]))
    torch.testing.assert_close(gram_schmidt(-x), -gram_schmidt(x))


# ------------------------------------------------------------------ the network
def loop_moore(net: MOORE, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """Reference: every expert on its own, Gram-Schmidt per sample, each sample's head."""
    outputs = []
    for j in range(net.num_experts):
        h = x
        for i, bank in enumerate(net.experts):
            h = h @ bank.weight[j] + bank.bias[j]
            if i < len(net.experts) - 1:
                h = F.relu(h)
        outputs.append(h)
    basis = loop_gram_schmidt(torch.stack(outputs, dim=1))  # [b, k, d]
    rows = []
    for s in range(len(x)):
        t = int(ids[s])
        w = net.task_encoder.weight[:, t]  # the one-hot picks column t of W_z
        h = torch.tanh(sum(w[j] * basis[s, j] for j in range(net.num_experts)))
        head = t if net.multi_head else 0
        rows.append(h @ net.heads.weight[head] + net.heads.bias[head])
    return torch.stack(rows)


@given(**reference_cases, experts=st.integers(1, 3), multi_head=st.booleans())
def test_batched_equals_the_per_expert_loop_in_values_and_gradients(
    batch: int, tasks: int, experts: int, multi_head: bool, seed: int
) -> None:
    x, ids, probe = float64_batch(seed, batch, tasks, 3, 2)
    net = MOORE(3, 2, tasks, num_experts=experts, hidden_sizes=(5, 4), multi_head=multi_head)
    net = net.double()
    # unused_ok: a head no sample used gets zeros from the batched product.
    tol = {"rtol": 1e-9, "atol": 1e-9, "grad_rtol": 1e-7, "grad_atol": 1e-9}
    assert_matches_reference(net, loop_moore, x, ids, probe, **tol, unused_ok=True)


@given(batch=st.integers(2, 6), row=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_each_sample_depends_on_its_own_inputs_only(batch: int, row: int, seed: int) -> None:
    row %= batch
    torch.manual_seed(seed)
    net = MOORE(3, 2, 3, num_experts=2, hidden_sizes=(6, 5))
    x, ids = torch.randn(batch, 3), torch.randint(0, 3, (batch,))
    assert_each_sample_is_independent(net, x, ids, row, 3, rtol=1e-6, atol=1e-6)


def test_one_hot_equals_ids_and_a_soft_task_mixes_the_heads() -> None:
    torch.manual_seed(0)
    net = MOORE(3, 2, 3, num_experts=2, hidden_sizes=(6, 5)).double()
    x, ids = torch.randn(4, 3, dtype=torch.float64), torch.tensor([2, 0, 1, 2])
    z = F.one_hot(ids, 3).double()
    torch.testing.assert_close(net(x, z), net(x, ids))
    # A soft task: the task encoder and the heads are both linear in z.
    soft = torch.tensor([[0.25, 0.75, 0.0]], dtype=torch.float64).expand(4, 3)
    w = net.mixing_weights(soft)
    h = torch.tanh(torch.einsum("bk,bkd->bd", w, net.expert_basis(x)))
    heads = torch.einsum("bd,tdo->bto", h, net.heads.weight) + net.heads.bias
    torch.testing.assert_close(net(x, soft), torch.einsum("bt,bto->bo", soft, heads))


def test_the_trace_gives_each_experts_share_of_the_squared_norm() -> None:
    torch.manual_seed(0)
    net = MOORE(3, 2, 3, num_experts=3, hidden_sizes=(7, 6))
    x, ids = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    out, trace = net(x, ids, return_routing=True)
    torch.testing.assert_close(out, net(x, ids))
    assert trace.layer_weights == () and trace.final_weights.shape == (5, 3)
    torch.testing.assert_close(trace.final_weights.sum(-1), torch.ones(5))
    # w_j^2 / |Σ w_j u_j|^2: the share of expert j's direction in the mix (orthonormal u).
    w, u = net.mixing_weights(ids), net.expert_basis(x)
    mixed = torch.einsum("bk,bkd->bd", w, u)
    shares = torch.einsum("bk,bkd->bkd", w, u).square().sum(-1) / mixed.square().sum(-1, True)
    torch.testing.assert_close(trace.final_weights, shares)
    assert float(trace.aux_loss) == 0.0


def test_config_and_from_config() -> None:
    cfg = MOOREConfig(in_features=39, out_features=8, num_tasks=50, num_experts=6)
    net = MOORE.from_config(cfg)
    assert net.config == cfg and net.num_experts == 6 and count(net) == 2_181_500
    assert MOOREConfig.setting_names() == ("num_experts", "hidden_sizes", "multi_head")


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"num_experts": 0}, r"MOORE: num_experts must be an int >= 1, got 0"),
        ({"hidden_sizes": ()}, r"MOORE: hidden_sizes must hold at least one width"),
        (
            {"num_experts": 5, "hidden_sizes": (8, 4)},
            r"MOORE: hidden_sizes\[-1\] \(the representation width d\) must be >= "
            r"num_experts = 5 .*got 4",
        ),
        ({"multi_head": 1}, r"MOORE: multi_head must be a valid boolean"),
    ],
)
def test_bad_settings(settings: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        MOORE(3, 2, 4, **settings)
