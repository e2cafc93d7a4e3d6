"""Routing settings: validated at construction (ConfigError naming the argument), configs."""

from __future__ import annotations

import math

import pydantic
import pytest
import torch

from modnet import (
    ConfigError,
    Hard,
    HardConfig,
    RoutingStrategy,
    Soft,
    SoftConfig,
    TopK,
    TopKConfig,
    make_routing,
)
from modnet.config import RoutingConfig


@pytest.mark.parametrize("temperature", [0.0, -1.0, math.inf, math.nan])
@pytest.mark.parametrize(
    ("build", "where"),
    [
        (lambda t: Soft(temperature=t), "Soft"),
        (lambda t: Hard(temperature=t), "Hard"),
        (lambda t: TopK(2, temperature=t), "TopK"),
        (lambda t: SoftConfig(temperature=t), "SoftConfig"),
        (lambda t: make_routing("hard", temperature=t), r"make_routing\('hard'\)"),
    ],
)
def test_non_positive_or_non_finite_temperature_is_refused(build, where, temperature) -> None:
    with pytest.raises(ConfigError, match=rf"^{where}: temperature must be .*> 0, got"):
        build(temperature)


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        (
            lambda: Hard(estimator="reinforce"),
            r"Hard: estimator must be one of 'straight_through' or 'gumbel', got 'reinforce'",
        ),
        (lambda: TopK(0), r"TopK: k must be greater than or equal to 1, got 0"),
        (lambda: TopK(2.5), r"TopK: k must be a valid integer, got 2\.5"),
        (lambda: TopK(True), r"TopK: k must be a valid integer, got True"),
        (lambda: TopK(2, noise_std=-0.1), r"TopK: noise_std must be greater than or equal to 0"),
        (lambda: TopK(2, noise_std=math.nan), r"TopK: noise_std must be a finite number, got nan"),
        (lambda: TopK(2, balance_coef=-1.0), r"TopK: balance_coef must be greater than or equal"),
        (lambda: TopK(2, renormalize="yes"), r"TopK: renormalize must be a valid boolean"),
        (lambda: TopKConfig(), r"TopKConfig: missing required argument 'k'"),
        (lambda: make_routing("topk", k=2, temprature=1.0), r"unknown argument 'temprature'"),
        (lambda: SoftConfig(k=2), r"SoftConfig: unknown argument 'k'"),
    ],
)
def test_bad_settings_raise_config_error_naming_the_argument(build, pattern) -> None:
    with pytest.raises(ConfigError, match=pattern):
        build()


@pytest.mark.parametrize(
    "build",
    [lambda: TopK(1), lambda: TopKConfig(k=1), lambda: make_routing("topk", k=1)],
)
def test_top_one_with_renormalisation_is_refused_because_the_router_gets_no_gradient(
    build,
) -> None:
    with pytest.raises(ConfigError, match=r"k=1 with renormalize=True .* no gradient"):
        build()
    # The Switch-style alternative is accepted.
    assert TopK(1, renormalize=False).k == 1


@pytest.mark.parametrize(
    ("spec", "pattern"),
    [
        ("sparse", r"make_routing: spec must be one of \['hard', 'soft', 'topk'\], got 'sparse'"),
        (
            3,
            r"make_routing: spec must be one of \['hard', 'soft', 'topk'\], a RoutingStrategy.*got int",
        ),
        ({"temperature": 1.0}, r"make_routing: spec\['kind'\] must be one of"),
    ],
)
def test_make_routing_rejects_unknown_specs(spec, pattern) -> None:
    with pytest.raises(ConfigError, match=pattern):
        make_routing(spec)


def test_make_routing_refuses_settings_beside_an_instance_or_a_config() -> None:
    with pytest.raises(ConfigError, match="kwargs must be empty when spec is a RoutingStrategy"):
        make_routing(Soft(), temperature=2.0)
    with pytest.raises(ConfigError, match="kwargs must be empty when spec is a routing config"):
        make_routing(SoftConfig(), temperature=2.0)


@pytest.mark.parametrize(
    ("config", "cls"),
    [
        (SoftConfig(temperature=0.5), Soft),
        (HardConfig(estimator="gumbel", temperature=2.0), Hard),
        (TopKConfig(k=3, renormalize=False, noise_std=0.1, balance_coef=0.01), TopK),
    ],
)
def test_strategies_build_from_configs_and_keep_them(config, cls) -> None:
    for strategy in (
        make_routing(config),
        cls.from_config(config),
        RoutingStrategy.from_config(config),
    ):
        assert type(strategy) is cls
        assert strategy.config == config
        # Rebuilding from the stored config gives the same settings (saving/loading).
        assert make_routing(strategy.config).config == config


def test_configs_are_frozen_and_parse_by_kind() -> None:
    config = TopKConfig(k=2)
    with pytest.raises(pydantic.ValidationError):
        config.k = 3  # type: ignore[misc]
    adapter = pydantic.TypeAdapter(RoutingConfig)
    parsed = adapter.validate_python({"kind": "topk", "k": 2, "balance_coef": 0.01})
    assert parsed == TopKConfig(k=2, balance_coef=0.01)
    assert isinstance(adapter.validate_json('{"kind": "soft"}'), SoftConfig)
    assert make_routing({"kind": "topk", "k": 2}).k == 2


def test_strategies_take_options_by_keyword_only() -> None:
    with pytest.raises(TypeError):
        Soft(2.0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        TopK(2, False)  # type: ignore[misc]
    assert TopK(2)(torch.zeros(1, 3)).mask.sum() == 2


def test_from_config_of_a_subclass_refuses_another_kind() -> None:
    with pytest.raises(
        ConfigError, match=r"Soft\.from_config: config must build a Soft, got TopKConfig"
    ):
        Soft.from_config(TopKConfig(k=2))
