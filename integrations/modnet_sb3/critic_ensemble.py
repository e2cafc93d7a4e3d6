"""Run K networks of one architecture as one: stacked parameters, one batched call.

SAC's twin critics are independent networks (each with its own routing, as in the
paper) that always see the same input. Calling them one after the other costs K
passes of small kernels; stacking their parameters along a leading ensemble axis and
mapping one functional forward over that axis turns every ``[B, i] @ [i, o]`` product
into one batched ``[K, B, i] @ [K, i, o]`` product. A network that offers a native
ensemble axis (``supports_ensemble_forward`` and ``ensemble_forward(params, *args)``,
as :class:`modnet.SoftRoutedMLP` does) is called through it instead of ``vmap``, so each
layer stays one GEMM with its bias fused.

The stacked tensors are the trainable leaves (``ensemble.parameters()`` yields one
``[K, ...]`` tensor per member parameter), so an optimiser, ``polyak_update`` and
``state_dict`` work on the ensemble as on any module.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from modnet.errors import ConfigError, mismatch

__all__ = ["ModuleEnsemble", "clip_grad_norm_per_member_"]

_SEP = "__"  # parameter names may not contain "."


class ModuleEnsemble(nn.Module):
    """K independent copies of one architecture, evaluated together.

    Args:
        members: K >= 1 modules with identical structure (same parameter names and
            shapes); their current values become the ensemble's initial values, so each
            member keeps its own independent initialisation.
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 1:
            raise ConfigError(mismatch("ModuleEnsemble", "members", "hold at least 1 module", 0))
        shapes = [[(n, tuple(p.shape)) for n, p in m.named_parameters()] for m in members]
        if any(s != shapes[0] for s in shapes[1:]):
            raise ConfigError(
                mismatch(
                    "ModuleEnsemble",
                    "members",
                    "share one architecture (same parameter names and shapes)",
                    [type(m).__name__ for m in members],
                )
            )
        params, buffers = stack_module_state(list(members))
        self.num_members = len(members)
        self._param_names = list(params)
        self._buffer_names = list(buffers)
        for name, value in params.items():
            self.register_parameter(name.replace(".", _SEP), nn.Parameter(value.detach().clone()))
        for name, value in buffers.items():
            self.register_buffer(name.replace(".", _SEP), value.detach().clone())
        # The skeleton that `functional_call` runs: no storage of its own (meta device),
        # and deliberately not a submodule, so it adds nothing to parameters()/state_dict.
        base = copy.deepcopy(members[0]).to("meta")
        object.__setattr__(self, "_base", base)
        self._base.train(self.training)

    def train(self, mode: bool = True) -> ModuleEnsemble:
        super().train(mode)
        self._base.train(mode)
        return self

    def _stacked(self) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
        params = {n: getattr(self, n.replace(".", _SEP)) for n in self._param_names}
        buffers = {n: getattr(self, n.replace(".", _SEP)) for n in self._buffer_names}
        return params, buffers

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call every member on the same inputs; each output gains a leading ``K`` axis.

        With members mapping ``[B, i] -> [B, o]``, the ensemble maps ``[B, i] -> [K, B, o]``.
        Tuple and NamedTuple outputs are stacked leaf by leaf.
        """
        params, buffers = self._stacked()
        base = self._base
        if (
            not buffers
            and not kwargs
            and len(args) == 2
            and getattr(base, "supports_ensemble_forward", False)
        ):
            # A network with a native ensemble axis (SoftRoutedMLP): one fused GEMM
            # with its bias per layer. Under vmap each F.linear becomes a bmm plus a
            # separate bias add, which on the CPU made the twin critics ~10% slower
            # than running them one after the other (docs/benchmarks/sb3.md).
            return base.ensemble_forward(params, *args)

        def run(p: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> Any:
            return functional_call(base, (p, b), args, kwargs)

        # randomness="different": stochastic routing (Gumbel, noisy top-k) draws
        # independent noise per member, as K separate networks would.
        return vmap(run, in_dims=(0, 0), randomness="different")(params, buffers)

    def call_member(self, index: int, *args: Any, **kwargs: Any) -> Any:
        """Call member ``index`` alone on its slice of the stacked parameters (no copy).

        Any keyword the member's ``forward`` takes passes through (e.g.
        ``return_routing=True`` for a :class:`modnet.SoftRoutedMLP`).
        """
        self._check_index("ModuleEnsemble.call_member", index)
        params, buffers = self._stacked()
        sliced = {n: v[index] for n, v in {**params, **buffers}.items()}
        return functional_call(self._base, sliced, args, kwargs)

    def _check_index(self, where: str, index: int) -> None:
        if isinstance(index, bool) or not isinstance(index, int):
            raise ConfigError(mismatch(where, "index", "be an int", repr(index)))
        if not 0 <= index < self.num_members:
            raise ConfigError(mismatch(where, "index", f"be in [0, {self.num_members})", index))

    def member(self, index: int) -> nn.Module:
        """A standalone copy of member ``index`` with its current weights (for tests, export)."""
        self._check_index("ModuleEnsemble.member", index)
        params, buffers = self._stacked()
        module = copy.deepcopy(self._base).to_empty(device=next(iter(params.values())).device)
        state = {n: v[index].detach().clone() for n, v in {**params, **buffers}.items()}
        module.load_state_dict(state)
        module.train(self.training)
        return module


def clip_grad_norm_per_member_(
    parameters: Iterable[torch.Tensor], max_norm: float, *, eps: float = 1e-6
) -> torch.Tensor:
    """Clip the gradient norm of each ensemble member on its own; return the norms ``[K]``.

    ``parameters`` are stacked ``[K, ...]`` tensors (a :class:`ModuleEnsemble`'s). Member
    ``k``'s norm is taken over slice ``k`` of every gradient, so clipping acts as if the
    K networks were clipped separately (``torch.nn.utils.clip_grad_norm_`` on the stacked
    tensors would couple them through one joint norm).
    """
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(0)
    squares = torch.stack([g.detach().pow(2).flatten(1).sum(1) for g in grads]).sum(0)
    norms = squares.sqrt()  # [K]
    scale = (max_norm / (norms + eps)).clamp(max=1.0)
    for g in grads:
        g.detach().mul_(scale.view(-1, *([1] * (g.dim() - 1))))
    return norms
