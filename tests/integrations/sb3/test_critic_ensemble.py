"""ModuleEnsemble: K networks in one vmapped call equal the K networks run one by one."""

from __future__ import annotations

import pytest

pytest.importorskip("stable_baselines3")

import torch  # noqa: E402
from torch import nn  # noqa: E402

from modnet import SoftRoutedMLP  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3.critic_ensemble import ModuleEnsemble, clip_grad_norm_per_member_  # noqa: E402

SMALL_SOFT = {"hidden_features": 16, "routing_features": 16, "module_features": 16}


def _members(k: int = 3) -> list[SoftRoutedMLP]:
    return [SoftRoutedMLP(5, 2, 3, **SMALL_SOFT) for _ in range(k)]


def test_forward_and_gradients_equal_members_one_by_one() -> None:
    members = _members()
    ensemble = ModuleEnsemble(members)
    x = torch.randn(7, 5)
    task = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    out = ensemble(x, task)
    assert out.shape == (3, 7, 2)
    expected = torch.stack([m(x, task) for m in members])
    torch.testing.assert_close(out, expected)

    out.square().sum().backward()
    expected.square().sum().backward()
    for (name, stacked), per_member in zip(
        ensemble.named_parameters(),
        zip(*(m.parameters() for m in members), strict=True),
        strict=True,
    ):
        torch.testing.assert_close(
            stacked.grad, torch.stack([p.grad for p in per_member]), msg=name
        )


def test_members_start_independent_and_stay_out_of_each_others_way() -> None:
    ensemble = ModuleEnsemble(_members(2))
    first = next(ensemble.parameters())
    assert first.shape[0] == 2
    assert not torch.equal(first[0], first[1])  # each member keeps its own init
    # The meta-device skeleton adds no parameters of its own.
    assert sum(p.numel() for p in ensemble.parameters()) == 2 * sum(
        p.numel() for p in SoftRoutedMLP(5, 2, 3, **SMALL_SOFT).parameters()
    )


def test_member_copy_and_train_mode() -> None:
    members = _members(2)
    ensemble = ModuleEnsemble(members)
    x, task = torch.randn(4, 5), torch.tensor([0, 1, 2, 0])
    torch.testing.assert_close(ensemble.member(1)(x, task), members[1](x, task))
    ensemble.eval()
    assert not ensemble._base.training and not ensemble.member(0).training
    with pytest.raises(ConfigError, match=r"index must be in \[0, 2\)"):
        ensemble.member(2)


def test_call_member_runs_one_member_on_its_slice_with_keywords() -> None:
    members = _members(2)
    ensemble = ModuleEnsemble(members)
    x, task = torch.randn(4, 5), torch.tensor([0, 1, 2, 0])
    out, trace = ensemble.call_member(1, x, task, return_routing=True)
    ref, ref_trace = members[1](x, task, return_routing=True)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(trace.final_weights, ref_trace.final_weights)
    assert not torch.allclose(ensemble.call_member(0, x, task), ref)
    # Gradients reach the stacked leaves, member 1's slice only.
    out.sum().backward()
    first = next(ensemble.parameters())
    assert first.grad[0].abs().sum() == 0 and first.grad[1].abs().sum() > 0
    for bad in (2, -1, True, 1.0):
        with pytest.raises(ConfigError, match="ModuleEnsemble.call_member: index must be"):
            ensemble.call_member(bad, x, task)  # type: ignore[arg-type]


def test_mismatched_members_are_refused() -> None:
    with pytest.raises(ConfigError, match="members must share one architecture"):
        ModuleEnsemble([nn.Linear(3, 4), nn.Linear(3, 5)])
    with pytest.raises(ConfigError, match="members must hold at least 1 module"):
        ModuleEnsemble([])


def test_per_member_clipping_equals_clipping_each_network() -> None:
    members = [nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1)) for _ in range(2)]
    ensemble = ModuleEnsemble(members)
    x = torch.randn(16, 3)
    # Scale member 1's loss so that only it exceeds the threshold.
    (ensemble(x).squeeze(-1) * torch.tensor([[0.01], [100.0]])).sum().backward()
    for m, s in zip(members, (0.01, 100.0), strict=True):
        (m(x).squeeze(-1) * s).sum().backward()
    norms = clip_grad_norm_per_member_(ensemble.parameters(), 1.0)
    expected_norms = [nn.utils.clip_grad_norm_(m.parameters(), 1.0) for m in members]
    torch.testing.assert_close(norms, torch.stack(expected_norms))
    assert norms[0] < 1.0 < norms[1]
    for stacked, per_member in zip(
        ensemble.parameters(), zip(*(m.parameters() for m in members), strict=True), strict=True
    ):
        torch.testing.assert_close(stacked.grad, torch.stack([p.grad for p in per_member]))
