"""Adding a routing strategy or a network variant is one class and one registration.

A test-only strategy and a test-only variant are registered, used through
``SoftRoutedMLP`` (one network, the loop oracle and the stacked ensemble), then removed.
The SB3 policy and the examples' CLI use the same strategy in their own tests
(``tests/integrations/sb3``, ``tests/examples``) through :mod:`registered_extras`.
"""

from __future__ import annotations

import pytest
import torch
from registered_extras import SHARP, registered_sharp_routing
from torch.func import stack_module_state

from modnet import SoftRoutedMLP, make_routing, routing_names, variant_names
from modnet.errors import ConfigError
from modnet.reference import LoopSoftRoutedMLP
from modnet.soft_modular_variants import Official, register_variant, unregister_variant

SMALL = {"hidden_features": 12, "routing_features": 10, "module_features": 6}


def test_registered_strategy_routes_every_layer_of_soft_routed_mlp() -> None:
    with registered_sharp_routing():
        assert SHARP in routing_names()
        net = SoftRoutedMLP(5, 3, 4, num_layers=3, num_modules=3, routing=SHARP, **SMALL)
        net = net.double()
        with torch.no_grad():
            for p in net.parameters():
                p.normal_(0.0, 0.5)
        x, task = torch.randn(7, 5, dtype=torch.float64), torch.arange(7) % 4
        out, trace = net(x, task, return_routing=True)
        # The strategy's own math (squared softmax, renormalised) is in every routing row.
        for p in trace.layer_weights:
            assert torch.allclose(p.sum(-1), torch.ones(7, 3, dtype=torch.float64))
        # The independent loop oracle with the same strategy computes the same function.
        loop = LoopSoftRoutedMLP.from_batched(net)
        torch.testing.assert_close(out, loop(x, task), rtol=1e-10, atol=1e-12)
        # And it is not plain softmax routing.
        soft = SoftRoutedMLP(5, 3, 4, num_layers=3, num_modules=3, **SMALL).double()
        soft.load_state_dict(net.state_dict())
        assert not torch.allclose(soft(x, task), out)
        # Settings of a registered strategy are validated by its config.
        with pytest.raises(ConfigError, match=r"power must be greater than 0"):
            SoftRoutedMLP(5, 3, 4, routing=SHARP, routing_kwargs={"power": 0.0})
    assert SHARP not in routing_names()
    with pytest.raises(ConfigError, match=rf"routing must be one of .*got '{SHARP}'"):
        SoftRoutedMLP(5, 3, 4, routing=SHARP)


def test_registering_a_name_twice_is_refused() -> None:
    with registered_sharp_routing():
        from registered_extras import SharpConfig, SharpSoft  # noqa: F401

        from modnet.routing import register_routing

        with pytest.raises(ConfigError, match=r"register_routing: name must be a name not yet"):
            register_routing(SHARP, SharpConfig)(SharpSoft)
    with pytest.raises(ConfigError, match=r"register_variant: cls.name must be a name not yet"):
        register_variant(Official)
    assert make_routing("soft") is not None


class _Residual(Official):
    """Official, but each module layer also reads its own-index input: one hook changed."""

    name = "test-residual"

    def mix_relu(self, p: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        return super().mix_relu(p, out) + out


def test_registered_variant_is_one_forward_for_the_network_and_the_ensemble() -> None:
    register_variant(_Residual)
    try:
        assert "test-residual" in variant_names()
        nets = [
            SoftRoutedMLP(5, 3, 4, num_layers=3, num_modules=3, variant="test-residual", **SMALL)
            for _ in range(2)
        ]
        nets = [net.double() for net in nets]
        x, task = torch.randn(6, 5, dtype=torch.float64), torch.arange(6) % 4
        # The same parameters as the official network; a different function.
        official = SoftRoutedMLP(5, 3, 4, num_layers=3, num_modules=3, **SMALL).double()
        official.load_state_dict(nets[0].state_dict())
        assert not torch.allclose(official(x, task), nets[0](x, task))
        # The ensemble path runs the same (changed) forward with no further edit.
        params, _ = stack_module_state(nets)
        stacked = nets[0].ensemble_forward(params, x, task)
        expected = torch.stack([net(x, task) for net in nets])
        torch.testing.assert_close(stacked, expected, rtol=1e-10, atol=1e-12)
    finally:
        unregister_variant("test-residual")
    with pytest.raises(ConfigError, match=r"variant must be one of \['official', 'paper'\]"):
        SoftRoutedMLP(5, 3, 4, variant="test-residual")


def test_registering_something_that_is_not_a_class_is_refused() -> None:
    from registered_extras import SharpConfig

    from modnet.routing import register_routing

    class NotAConfig:
        pass

    with pytest.raises(
        ConfigError,
        match=r"register_routing: config must be a FrozenConfig subclass .*got NotAConfig",
    ):
        register_routing("mine", NotAConfig)
    with pytest.raises(
        ConfigError, match=r"config must be a FrozenConfig subclass \(the class, not an instance\)"
    ):
        register_routing("test-sharp", SharpConfig())
    with pytest.raises(
        ConfigError,
        match=r"register_variant: cls must be a SoftModularVariant subclass, got 'official'",
    ):
        register_variant("official")


def test_routing_kwargs_go_with_a_routing_name_only() -> None:
    with pytest.raises(
        ConfigError, match=r"SoftRoutedMLP: routing_kwargs must be empty unless routing is a name"
    ):
        SoftRoutedMLP(
            5, 3, 4, num_modules=3, routing={"kind": "topk", "k": 2}, routing_kwargs={"k": 1}
        )
    net = SoftRoutedMLP(5, 3, 4, num_modules=3, routing={"kind": "topk", "k": 2})
    assert net.routing.k == 2


def test_a_strategy_is_one_class_and_one_line_its_config_made_from_its_init() -> None:
    from registered_extras import SharpSoft

    from modnet import make_routing, register_routing
    from modnet.routing import unregister_routing

    # SharpSoft again, registered without its hand-written config: one class, one line.
    Power = register_routing("test-power")(SharpSoft)
    try:
        net = SoftRoutedMLP(5, 3, 4, routing="test-power", routing_kwargs={"power": 3.0}, **SMALL)
        assert isinstance(net.routing, Power) and net.routing.power == 3.0
        assert make_routing({"kind": "test-power"}).power == 2.0
        with pytest.raises(
            ConfigError, match=r"make_routing\('test-power'\): power must be a valid number"
        ):
            make_routing("test-power", power="x")
        with pytest.raises(ConfigError, match=r"unknown argument 'pwr'"):
            make_routing("test-power", pwr=1.0)
    finally:
        unregister_routing("test-power")
    with pytest.raises(
        ConfigError, match=r"register_routing: cls must be a RoutingStrategy subclass"
    ):
        register_routing("test-bad")(int)
