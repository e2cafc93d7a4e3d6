"""SoftRoutedMLP.ensemble_forward: K networks from stacked parameters equal the K networks."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch.func import stack_module_state

from modnet import SoftRoutedMLP
from modnet.errors import ConfigError, ShapeError

SMALL = {"hidden_features": 24, "routing_features": 20}
CASES: list[dict[str, Any]] = [
    {"num_layers": 2, "num_modules": 2, "module_features": 16},  # Shallow's shape
    {"num_layers": 4, "num_modules": 4, "module_features": 12},  # Deep's shape
    {
        "num_layers": 3,
        "num_modules": 3,
        "module_features": 8,
        "routing": "topk",
        "routing_kwargs": {"k": 2},
    },
    {"num_layers": 3, "num_modules": 2, "module_features": 8, "routing": "hard"},
    {"num_layers": 3, "num_modules": 3, "module_features": 8, "variant": "paper"},
]


def _members(k: int, **kwargs: Any) -> list[SoftRoutedMLP]:
    nets = [SoftRoutedMLP(7, 3, 5, **SMALL, **kwargs).double() for _ in range(k)]
    for net in nets:
        net.eval()  # no routing noise: members and ensemble must see the same function
    return nets


def _stacked(nets: list[SoftRoutedMLP]) -> dict[str, torch.Tensor]:
    params, _ = stack_module_state(nets)
    return {n: v.detach().clone().requires_grad_() for n, v in params.items()}


@pytest.mark.parametrize("kwargs", CASES, ids=["shallow", "deep", "topk", "hard", "paper"])
@pytest.mark.parametrize("task_form", ["ids", "one_hot"])
def test_equals_members_in_forward_and_every_gradient(
    kwargs: dict[str, Any], task_form: str
) -> None:
    nets = _members(3, **kwargs)
    params = _stacked(nets)
    x = torch.randn(11, 7, dtype=torch.float64)
    ids = torch.arange(11) % 5
    task = ids if task_form == "ids" else torch.nn.functional.one_hot(ids, 5).double()

    out = nets[0].ensemble_forward(params, x, task)
    expected = torch.stack([net(x, task) for net in nets])
    assert out.shape == (3, 11, 3)
    torch.testing.assert_close(out, expected, rtol=1e-10, atol=1e-12)

    weights = torch.randn_like(out)  # a loss that mixes members differently
    (out * weights).sum().backward()
    (expected * weights).sum().backward()
    for name, stacked in params.items():
        per_member = torch.stack([dict(net.named_parameters())[name].grad for net in nets])
        torch.testing.assert_close(stacked.grad, per_member, rtol=1e-9, atol=1e-10, msg=name)


def test_members_stay_independent() -> None:
    nets = _members(2)
    params = _stacked(nets)
    x, task = torch.randn(4, 7, dtype=torch.float64), torch.tensor([0, 1, 2, 3])
    out = nets[0].ensemble_forward(params, x, task)
    assert not torch.allclose(out[0], out[1])
    out[1].sum().backward()
    for name, stacked in params.items():
        assert torch.count_nonzero(stacked.grad[0]) == 0, name


def test_runs_on_a_meta_skeleton() -> None:
    # modnet_sb3's ModuleEnsemble keeps the architecture on the meta device.
    nets = _members(2, num_layers=2, num_modules=2, module_features=16)
    skeleton = SoftRoutedMLP(7, 3, 5, **SMALL, num_layers=2, num_modules=2, module_features=16)
    skeleton = skeleton.to("meta")
    x, task = torch.randn(4, 7, dtype=torch.float64), torch.tensor([0, 1, 2, 3])
    torch.testing.assert_close(
        skeleton.ensemble_forward(_stacked(nets), x, task),
        torch.stack([net(x, task) for net in nets]),
    )


def test_bad_input_is_refused() -> None:
    nets = _members(2, num_layers=2, num_modules=2, module_features=16)
    params = _stacked(nets)
    with pytest.raises(ShapeError, match=r"x must have shape \(batch, 7\), got \(4, 6\)"):
        nets[0].ensemble_forward(
            params, torch.randn(4, 6, dtype=torch.float64), torch.zeros(4).long()
        )
    with pytest.raises(ShapeError, match=r"task ids must be in \[0, 5\), got 5"):
        nets[0].ensemble_forward(
            params, torch.randn(2, 7, dtype=torch.float64), torch.tensor([0, 5])
        )
    with pytest.raises(ConfigError, match=r"params must be a non-empty mapping .*got an empty"):
        nets[0].ensemble_forward({}, torch.randn(2, 7), torch.tensor([0, 1]))
    partial = {n: v for n, v in params.items() if n != "output.bias"}
    with pytest.raises(
        ConfigError,
        match=r"params must hold exactly this network's parameters, got missing \['output.bias'\]",
    ):
        nets[0].ensemble_forward(partial, torch.randn(2, 7), torch.tensor([0, 1]))
    extra = {**params, "output.bais": params["output.bias"]}
    with pytest.raises(ConfigError, match=r"got unknown \['output.bais'\]"):
        nets[0].ensemble_forward(extra, torch.randn(2, 7), torch.tensor([0, 1]))
    wrong = {**params, "state_fc1.weight": torch.randn(2, 24, 6, dtype=torch.float64)}
    with pytest.raises(
        ShapeError,
        match=r"params\['state_fc1.weight'\] must have shape \(k, 24, 7\), got \(2, 24, 6\)",
    ):
        nets[0].ensemble_forward(
            wrong, torch.randn(2, 7, dtype=torch.float64), torch.tensor([0, 1])
        )
