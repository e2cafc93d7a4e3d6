"""FiLMMLP: task-conditioned scale and shift on a state encoder, then an MLP trunk."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from network_checks import (
    assert_each_sample_is_independent,
    assert_matches_reference,
    count,
    float64_batch,
    per_sample,
    perturb_,
    reference_cases,
)

from modnet import ConfigError, FiLMMLP, FiLMMLPConfig


def official_count(in_features: int, out_features: int, tasks: int, *, feature: bool) -> int:
    """The Meta-World+ baselines' FiLMNetwork with their FiLMConfig defaults, layer by layer.

    ``nn.Embed(T, 50)``; the generator MLP 50 -> 50 -> 50 -> 2 (depth + 1) = 6 (one
    scale and shift per encoder layer); the encoder Dense(in, 50), Dense(50, 50),
    Dense(50, 50); the trunk on cat(encoding, embedding) 100 -> 400 -> 400 -> 400 -> out.
    ``feature=True``: this library's feature-wise option, 2 (50 + 50 + 50) = 300 outputs.
    """
    m = e = 50
    generated = 2 * (e + e + m) if feature else 2 * 3
    embed = tasks * m
    generator = (m * e + e) + (e * e + e) + (e * generated + generated)
    encoder = (in_features * e + e) + (e * e + e) + (e * m + m)
    trunk = (2 * m * 400 + 400) + 2 * (400 * 400 + 400) + (400 * out_features + out_features)
    return embed + generator + encoder + trunk


@pytest.mark.parametrize(
    "in_features, out_features, tasks, feature, expected",
    [
        (39, 8, 10, False, 377_414),  # MT10 actor
        (43, 1, 10, False, 374_807),  # MT10 critic
        (39, 8, 50, False, 379_414),  # MT50 actor
        (43, 1, 50, False, 376_807),  # MT50 critic
        (39, 8, 10, True, 392_408),  # MT10 actor, feature-wise
        (43, 1, 50, True, 391_801),  # MT50 critic, feature-wise
    ],
)
def test_parameter_counts_match_the_official_network(
    in_features: int, out_features: int, tasks: int, feature: bool, expected: int
) -> None:
    net = FiLMMLP(in_features, out_features, tasks, modulation="feature" if feature else "layer")
    assert count(net) == official_count(in_features, out_features, tasks, feature=feature)
    assert count(net) == expected


def reference(net: FiLMMLP, x: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """One sample at a time, γ and β split by hand from the generator's output."""

    def one(xs: torch.Tensor, t: int) -> torch.Tensor:
        e = F.relu(net.task_embedding[t])
        g = e
        for i, layer in enumerate(net.generator):
            g = layer(g)
            if i < len(net.generator) - 1:
                g = F.relu(g)
        h, offset = xs, 0
        for i, layer in enumerate(net.encoder):
            h = layer(h)
            if i < len(net.encoder) - 1:
                h = F.relu(h)
            width = h.shape[-1] if net.modulation == "feature" else 1
            gamma, beta = g[offset : offset + width], g[offset + width : offset + 2 * width]
            h = gamma * h + beta
            offset += 2 * width
        assert offset == g.shape[-1]
        y = torch.cat([h, e])
        for i, layer in enumerate(net.trunk):
            y = layer(y)
            if i < len(net.trunk) - 1:
                y = F.relu(y)
        return y

    return per_sample(one, x, ids)


@given(**reference_cases, layers=st.integers(0, 2), feature=st.booleans())
def test_batched_equals_the_per_sample_reference_in_values_and_gradients(
    batch: int, tasks: int, layers: int, feature: bool, seed: int
) -> None:
    x, ids, probe = float64_batch(seed, batch, tasks, 3, 2)
    net = FiLMMLP(
        3,
        2,
        tasks,
        embedding_features=4,
        encoder_features=5,
        encoder_layers=layers,
        hidden_sizes=(6,),
        modulation="feature" if feature else "layer",
    ).double()
    perturb_(net)  # the output layer starts at ±3e-3; make every path visible
    tol = {"rtol": 1e-10, "atol": 1e-10, "grad_rtol": 1e-9, "grad_atol": 1e-10}
    assert_matches_reference(net, reference, x, ids, probe, **tol)


@given(batch=st.integers(2, 6), row=st.integers(0, 5), seed=st.integers(0, 2**16))
def test_each_sample_depends_on_its_own_inputs_only(batch: int, row: int, seed: int) -> None:
    row %= batch
    torch.manual_seed(seed)
    net = FiLMMLP(3, 2, 3, embedding_features=4, encoder_features=5, hidden_sizes=(6,))
    x, ids = torch.randn(batch, 3), torch.randint(0, 3, (batch,))
    assert_each_sample_is_independent(net, x, ids, row, 3, rtol=1e-6, atol=1e-7)


def test_the_task_modulates_the_encoder() -> None:
    torch.manual_seed(0)
    for modulation, widths in (("layer", [1, 1, 1]), ("feature", [5, 5, 4])):
        net = FiLMMLP(3, 2, 3, encoder_features=5, embedding_features=4, modulation=modulation)
        films = net.modulation_parameters(torch.tensor([0, 2]))
        assert [tuple(g.shape) for g, _ in films] == [(2, w) for w in widths]
        assert [tuple(b.shape) for _, b in films] == [(2, w) for w in widths]
        assert not torch.equal(films[0][0][0], films[0][0][1])  # two tasks, two scales
    x = torch.randn(4, 3)
    ids = torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(net(x, F.one_hot(ids, 3).float()), net(x, ids))


def test_config_and_from_config() -> None:
    cfg = FiLMMLPConfig(in_features=39, out_features=8, num_tasks=10, modulation="feature")
    net = FiLMMLP.from_config(cfg)
    assert net.config == cfg and count(net) == 392_408
    assert FiLMMLPConfig.setting_names() == (
        "embedding_features",
        "encoder_features",
        "encoder_layers",
        "hidden_sizes",
        "modulation",
    )


@pytest.mark.parametrize(
    "settings, match",
    [
        ({"embedding_features": 0}, r"FiLMMLP: embedding_features must be an int >= 1, got 0"),
        ({"encoder_layers": -1}, r"FiLMMLP: encoder_layers must be an int >= 0, got -1"),
        ({"hidden_sizes": (4, 0)}, r"FiLMMLP: hidden_sizes.1 must be an int >= 1, got 0"),
        ({"modulation": "channel"}, r"FiLMMLP: modulation must be one of 'layer' or 'feature'"),
    ],
)
def test_bad_settings(settings: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        FiLMMLP(3, 2, 4, **settings)
