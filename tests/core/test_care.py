"""CARE (Sodhani et al., 2021): attention over k state encoders from a task context."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from modnet import CARE, CAREConfig, ConfigError, ShapeError

IN, OUT, TASKS, EXPERTS = 5, 3, 4, 3
SMALL = {"num_experts": EXPERTS, "encoder_sizes": (6,), "embedding_dim": 7, "hidden_sizes": (8,)}


def count(net: torch.nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def perturb_(net: torch.nn.Module) -> torch.nn.Module:
    with torch.no_grad():
        for p in net.parameters():
            p.normal_(0.0, 0.5)
    return net


def small(**kwargs: object) -> CARE:
    torch.manual_seed(0)
    return perturb_(CARE(IN, OUT, TASKS, **{**SMALL, **kwargs}))  # type: ignore[arg-type]


def reference(net: CARE, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """The paper's forward written per sample and per encoder (the test oracle)."""
    rows = []
    for b in range(x.shape[0]):
        t = int(ids[b])
        if net.task_embedding is not None:
            e = F.relu(net.task_embedding[t])
        else:
            e = net.context[t]
        c = net.context_encoder(e)
        a = torch.softmax(net.attention(c) / net.temperature, dim=-1)
        mixed = torch.zeros(net.embedding_dim)
        for j in range(net.num_experts):
            h = x[b]
            for i, bank in enumerate(net.encoders):
                h = h @ bank.weight[j] + bank.bias[j]
                if i < len(net.encoders) - 1:
                    h = torch.relu(h)
            mixed = mixed + a[j] * h
        rows.append(net.trunk(torch.cat([mixed, c])))
    return torch.stack(rows)


task_lists = st.lists(st.integers(0, TASKS - 1), min_size=1, max_size=7)


@settings(max_examples=10)
@given(tasks=task_lists, seed=st.integers(0, 2**16))
def test_batched_equals_the_per_encoder_loop_in_value_and_gradient(tasks, seed) -> None:
    net = small()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(len(tasks), IN, generator=gen)
    ids = torch.tensor(tasks)
    weights = torch.randn(len(tasks), OUT, generator=gen)

    xb = x.clone().requires_grad_()
    (net(xb, ids) * weights).sum().backward()
    batched = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()
    xl = x.clone().requires_grad_()
    expected = reference(net, xl, ids)
    (expected * weights).sum().backward()

    torch.testing.assert_close(net(x, ids), expected.detach(), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(xb.grad, xl.grad, rtol=1e-5, atol=1e-5)
    for name, p in net.named_parameters():
        torch.testing.assert_close(batched[name], p.grad, rtol=1e-5, atol=1e-5, msg=name)


@given(tasks=task_lists, i=st.integers(0, 6))
def test_each_sample_is_independent_of_the_rest_of_the_batch(tasks, i) -> None:
    net = small()
    i = i % len(tasks)
    x, ids = torch.randn(len(tasks), IN), torch.tensor(tasks)
    out = net(x, ids)
    alone = net(x[i : i + 1], ids[i : i + 1])
    torch.testing.assert_close(out[i : i + 1], alone, rtol=1e-5, atol=1e-6)
    changed = x.clone()
    changed[torch.arange(len(tasks)) != i] += 1.0
    torch.testing.assert_close(net(changed, ids)[i], out[i], rtol=1e-5, atol=1e-6)


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
def official_count(in_features: int, out: int, tasks: int, experts: int) -> int:
    embed = tasks * 50
    context_mlp = 3 * (50 * 50 + 50)
    attention = 2 * (50 * 50 + 50) + (50 * experts + experts)
    encoders = experts * ((in_features * 50 + 50) + 2 * (50 * 50 + 50))
    trunk = (100 * 400 + 400) + 2 * (400 * 400 + 400) + (400 * out + out)
    return embed + context_mlp + attention + encoders + trunk


@pytest.mark.parametrize(
    "in_features, out, tasks, experts, expected",
    [
        (39, 8, 10, 6, 420_564),  # MT10 actor
        (43, 1, 10, 6, 418_957),  # MT10 critic
        (39, 8, 50, 10, 451_168),  # MT50 actor
        (43, 1, 50, 10, 450_361),  # MT50 critic
    ],
)
def test_parameter_counts_match_the_meta_world_plus_network(
    in_features, out, tasks, experts, expected
) -> None:
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


def test_bad_inputs() -> None:
    net = small()
    x = torch.randn(3, IN)
    with pytest.raises(
        ShapeError, match=r"CARE.forward: x must have shape \(batch, 5\), got \(3, 2\)"
    ):
        net(torch.randn(3, 2), torch.tensor([0, 1, 2]))
    with pytest.raises(ShapeError, match=r"task ids must be in \[0, 4\), got 4"):
        net(x, torch.tensor([0, 4, 2]))
    with pytest.raises(ShapeError, match=r"task ids must have shape \(3,\), got \(2,\)"):
        net(x, torch.tensor([0, 1]))
    with pytest.raises(ShapeError, match=r"task one-hot must have shape \(3, 4\), got \(3, 5\)"):
        net(x, torch.zeros(3, 5))
    with pytest.raises(ShapeError, match=r"CARE.forward: x must"):
        net(x.double(), torch.tensor([0, 1, 2]))
    with pytest.raises(ShapeError, match=r"CARE.forward: x must"):
        net(x.long(), torch.tensor([0, 1, 2]))
    with pytest.raises(ShapeError, match=r"task must be int64 ids or a float one-hot"):
        net(x, torch.tensor([True, False, True]))


@pytest.mark.slow
def test_compiles_with_fullgraph_and_matches_eager() -> None:
    torch._dynamo.reset()
    net = small(encoder_sizes=(), hidden_sizes=())  # the fewest layers: a short compile
    compiled = torch.compile(net, fullgraph=True, backend="aot_eager")
    x, ids = torch.randn(6, IN, requires_grad=True), torch.tensor([0, 2, 1, 1, 0, 2])
    got = compiled(x, ids)
    torch.testing.assert_close(got, net(x, ids), rtol=1e-5, atol=1e-6)
    (grad,) = torch.autograd.grad(got.square().sum(), x)
    (ref,) = torch.autograd.grad(net(x, ids).square().sum(), x)
    torch.testing.assert_close(grad, ref, rtol=1e-5, atol=1e-6)


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


@given(
    width=st.integers(1, 9).filter(lambda w: w != IN),
    batch=st.integers(1, 5),
    bad_id=st.one_of(st.integers(TASKS, 50), st.integers(-50, -1)),
    dtype=st.sampled_from([torch.float64, torch.float16, torch.int64, torch.int32]),
)
def test_bad_inputs_are_refused_with_the_argument_named(width, batch, bad_id, dtype) -> None:
    net = small()
    ids = torch.arange(batch) % TASKS
    with pytest.raises(ShapeError, match=rf"CARE.forward: x must have shape \(batch, {IN}\)"):
        net(torch.randn(batch, width), ids)
    wrong = ids.clone()
    wrong[-1] = bad_id
    with pytest.raises(ShapeError, match=rf"task ids must be in \[0, {TASKS}\), got {bad_id}"):
        net(torch.randn(batch, IN), wrong)
    expected = (
        "be a floating-point tensor" if not dtype.is_floating_point else "have the network's dtype"
    )
    with pytest.raises(ShapeError, match=rf"CARE.forward: x must {expected}.*got {dtype}"):
        net(torch.randn(batch, IN).to(dtype), ids)
