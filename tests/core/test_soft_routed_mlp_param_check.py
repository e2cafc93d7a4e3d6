"""SoftRoutedMLP.ensemble_forward's parameter check, whose names and shapes are cached:
it refuses the same bad params after the module is moved, emptied or loaded."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch.func import stack_module_state

from modnet import SoftRoutedMLP
from modnet.errors import ConfigError, ShapeError

SMALL = {"hidden_features": 12, "routing_features": 10, "module_features": 8}


def _net() -> SoftRoutedMLP:
    return SoftRoutedMLP(5, 2, 3, num_layers=2, num_modules=2, **SMALL)


def _loaded(net: SoftRoutedMLP, *, assign: bool) -> SoftRoutedMLP:
    net.load_state_dict(_net().state_dict(), assign=assign)
    return net


CHANGES: dict[str, Callable[[SoftRoutedMLP], SoftRoutedMLP]] = {
    "double": lambda net: net.double(),
    "meta": lambda net: net.to("meta"),
    "to_empty": lambda net: net.to("meta").to_empty(device="cpu"),
    "load_state_dict": lambda net: _loaded(net, assign=False),
    "load_state_dict_assign": lambda net: _loaded(net, assign=True),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_the_check_is_the_same_after_the_module_changes(change) -> None:
    members = [_net() for _ in range(2)]
    params, _ = stack_module_state(members)
    x, task = torch.randn(4, 5), torch.tensor([0, 1, 2, 0])
    net = _net()
    expected = net.ensemble_forward(params, x, task)  # fills the cache
    net = change(net)
    assert isinstance(net, SoftRoutedMLP)
    torch.testing.assert_close(net.ensemble_forward(params, x, task), expected)
    with pytest.raises(ConfigError, match=r"got missing \['output.bias'\]"):
        net.ensemble_forward({k: v for k, v in params.items() if k != "output.bias"}, x, task)
    with pytest.raises(ConfigError, match=r"got unknown \['extra'\]"):
        net.ensemble_forward({**params, "extra": params["output.bias"]}, x, task)
    with pytest.raises(ShapeError, match=r"share one leading ensemble size k, got \['2', '3'\]"):
        net.ensemble_forward({**params, "output.bias": torch.zeros(3, 2)}, x, task)
    with pytest.raises(
        ShapeError, match=r"params\['output.bias'\] must have shape \(k, 2\), got \(2, 3\)"
    ):
        net.ensemble_forward({**params, "output.bias": torch.zeros(2, 3)}, x, task)
