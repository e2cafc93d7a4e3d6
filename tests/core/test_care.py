"""CARE (Sodhani et al., 2021): attention over k state encoders from a task context."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from network_checks import (
    MT_SHAPES,
    assert_each_sample_is_independent,
    assert_matches_reference,
    count,
    per_sample,
    run_member,
    seeded_perturbed,
)

from modnet import CARE, CAREConfig, ConfigError

IN, OUT, TASKS, EXPERTS = 5, 3, 4, 3
SMALL = {"num_experts": EXPERTS, "encoder_sizes": (6,), "embedding_dim": 7, "hidden_sizes": (8,)}


def small(**kwargs: object) -> CARE:
    return seeded_perturbed(CARE, IN, OUT, TASKS, **{**SMALL, **kwargs})  # type: ignore[return-value]


def reference(net: CARE, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The paper's forward written per sample and per encoder (the test oracle)."""

    def one(s: torch.Tensor, t: int) -> torch.Tensor:
        e = F.relu(net.task_embedding[t]) if net.task_embedding is not None else net.context[t]
        c = net.context_encoder(e)
        a = torch.softmax(net.attention(c) / net.temperature, dim=-1)
        encodings = (a[j] * run_member(net.encoders, j, s) for j in range(net.num_experts))
        return net.trunk(torch.cat([sum(encodings, torch.zeros(net.embedding_dim)), c]))

    return per_sample(one, x, ids)


task_lists = st.lists(st.integers(0, TASKS - 1), min_size=1, max_size=7)


@settings(max_examples=10)
@given(tasks=task_lists, seed=st.integers(0, 2**16))
def test_batched_equals_the_per_encoder_loop_in_value_and_gradient(tasks, seed) -> None:
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(tasks), IN, generator=gen)
    weights = torch.randn(len(tasks), OUT, generator=gen)
    assert_matches_reference(
        small(), reference, x, torch.tensor(tasks), weights, rtol=1e-5, atol=1e-5
    )


@given(tasks=task_lists, i=st.integers(0, 6))
def test_each_sample_is_independent_of_the_rest_of_the_batch(tasks, i) -> None:
    net = small()
    x, ids = torch.randn(len(tasks), IN), torch.tensor(tasks)
    tol = {"rtol": 1e-5, "atol": 1e-6}
    assert_each_sample_is_independent(
        net, x, ids, i % len(tasks), TASKS, **tol, alone_rtol=1e-5, alone_atol=1e-6
    )


def test_one_hot_equals_ids_and_a_soft_mixture_mixes_the_contexts() -> None:
    net = small()
    x, ids = torch.randn(6, IN), torch.tensor([0, 3, 1, 1, 2, 0])
    torch.testing.assert_close(net(x, F.one_hot(ids, TASKS).float()), net(x, ids))
    # A soft task mixes the tasks' embeddings linearly, before the ReLU and context MLP.
    soft = torch.tensor([[0.5, 0.0, 0.5, 0.0]])
    mixed = F.relu(0.5 * (net.task_embedding[0] + net.task_embedding[2]))
    torch.testing.assert_close(net.task_context(soft)[0], net.context_encoder(mixed))


def test_the_trace_is_the_attention_a_distribution_that_reads_the_task_only() -> None:
    net = small(temperature=0.5)
    x, ids = torch.randn(5, IN), torch.tensor([0, 1, 2, 3, 1])
    out, trace = net(x, ids, return_routing=True)
    torch.testing.assert_close(out, net(x, ids))
    assert trace.layer_weights == () and trace.final_weights.shape == (5, EXPERTS)
    torch.testing.assert_close(trace.final_weights.sum(-1), torch.ones(5))
    torch.testing.assert_close(trace.final_weights, net.attention_weights(ids))
    _, other = net(torch.randn(5, IN), ids, return_routing=True)
    torch.testing.assert_close(other.final_weights, trace.final_weights)
    assert not torch.allclose(trace.final_weights[0], trace.final_weights[1])
    assert float(trace.aux_loss) == 0.0


def test_the_initial_attention_is_near_uniform() -> None:
    net = CARE(IN, OUT, TASKS, num_experts=EXPERTS)
    w = net.attention_weights(torch.arange(TASKS))
    torch.testing.assert_close(w, torch.full_like(w, 1 / EXPERTS), atol=0.02, rtol=0)


def test_a_supplied_context_replaces_the_learned_embedding() -> None:
    context = torch.randn(TASKS, 11)
    net = small(context=context)
    assert net.task_embedding is None and "context" in dict(net.named_buffers())
    assert "context" not in dict(net.named_parameters())
    x, ids = torch.randn(4, IN), torch.tensor([3, 2, 1, 0])
    torch.testing.assert_close(net(x, ids), reference(net, x, ids), rtol=1e-5, atol=1e-5)
    before = net(x, ids)
    with torch.no_grad():
        net.context[2] += 1.0
    after = net(x, ids)
    assert not torch.allclose(after[1], before[1])  # task 2's sample changed
    torch.testing.assert_close(after[[0, 2, 3]], before[[0, 2, 3]])
    # The config takes the same table as nested floats (what a saved policy stores).
    cfg = CAREConfig(in_features=IN, out_features=OUT, num_tasks=TASKS, context=context.tolist())
    torch.testing.assert_close(CARE.from_config(cfg).context, context)


# Parameter counts, actor (39 -> 8) and one critic (39 + 4 -> 1), as the Meta-World+
# baselines' CARENetwork builds them (metaworld_algorithms/nn/care.py, CAREConfig: encoder
# MLPs 50-50 with a 50 output, 6 encoders on MT10 and 10 on MT50, trunk [400]*3).
PAPER_EXPERTS = {10: 6, 50: 10}  # encoders by number of tasks


def official_count(in_features: int, out: int, tasks: int, experts: int) -> int:
    embed = tasks * 50
    context_mlp = 3 * (50 * 50 + 50)
    attention = 2 * (50 * 50 + 50) + (50 * experts + experts)
    encoders = experts * ((in_features * 50 + 50) + 2 * (50 * 50 + 50))
    trunk = (100 * 400 + 400) + 2 * (400 * 400 + 400) + (400 * out + out)
    return embed + context_mlp + attention + encoders + trunk


@pytest.mark.parametrize(
    "shape, expected",
    list(zip(MT_SHAPES.values(), [420_564, 418_957, 451_168, 450_361], strict=True)),
    ids=list(MT_SHAPES),
)
def test_parameter_counts_match_the_meta_world_plus_network(shape, expected) -> None:
    in_features, out, tasks = shape
    experts = PAPER_EXPERTS[tasks]
    assert official_count(in_features, out, tasks, experts) == expected
    assert count(CARE(in_features, out, tasks, num_experts=experts)) == expected


def test_from_config_builds_the_same_network() -> None:
    cfg = CAREConfig(in_features=IN, out_features=OUT, num_tasks=TASKS, **SMALL)
    net = CARE.from_config(cfg)
    assert count(net) == count(small())
    assert set(CAREConfig.setting_names()) == {
        "num_experts",
        "encoder_sizes",
        "embedding_dim",
        "hidden_sizes",
        "temperature",
        "detach_context",
        "context",
    }


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_experts": 0}, r"CARE: num_experts must be an int >= 1, got 0"),
        ({"encoder_sizes": (4, 0)}, r"CARE: encoder_sizes must be a sequence of ints >= 1"),
        ({"temperature": 0.0}, r"CARE: temperature must be a finite number > 0, got 0.0"),
        ({"context": torch.zeros(3, 2)}, r"CARE: context must have shape \(4, c\) .*got \(3, 2\)"),
        ({"context": [[1.0], [float("nan")], [0.0], [0.0]]}, r"CARE: context must hold finite"),
        ({"context": "text"}, r"CARE: context must be a \[num_tasks, c\] array of floats"),
    ],
)
def test_bad_settings(kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        CARE(IN, OUT, TASKS, **kwargs)


def test_bad_config_context() -> None:
    with pytest.raises(ConfigError, match=r"CAREConfig: context must be 4 rows of one width"):
        CAREConfig(in_features=IN, out_features=OUT, num_tasks=TASKS, context=[[1.0]] * 3)


def test_detach_context_stops_the_attentions_gradient_into_the_context() -> None:
    x, ids = torch.randn(5, IN), torch.tensor([0, 1, 2, 3, 1])
    grads = {}
    for detach in (False, True):
        net = small(detach_context=detach)
        net.attention_weights(ids).square().sum().backward()  # a loss on the attention only
        grads[detach] = net.task_embedding.grad
        net.zero_grad()
        torch.testing.assert_close(net(x, ids), reference(net, x, ids), rtol=1e-5, atol=1e-5)
    assert grads[False].abs().sum() > 0
    assert grads[True] is None  # nothing reached the embedding
