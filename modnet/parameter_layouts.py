"""Where a network's parameters live: one network's modules, or K networks stacked.

A soft-modular variant's forward (:mod:`modnet.soft_modular_variants`) is written once,
against the small set of parameterised operations below. :class:`ModuleLayout` runs them
on one network's own submodules (activations ``[b, ...]``); :class:`StackedLayout` runs
them on K members' parameters stacked along a leading axis (activations ``[k, b, ...]``,
``torch.func.stack_module_state`` names), so SAC's twin critics are one call. Both read
parameters by their ``state_dict`` name (``"state_fc1"``, ``"layers.1"``, ...).

Dimension letters: ``k`` members, ``b`` batch, ``n`` modules, ``i``/``o`` input/output
features, ``t`` tasks. Each layout's speed choices cite their measurement in
``docs/benchmarks/networks.md`` and ``docs/benchmarks/sb3.md``.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.module_bank import batched_modules

__all__ = ["ModuleLayout", "ParameterLayout", "StackedLayout"]


class ParameterLayout:
    """The operations a variant's forward may call; ``lead`` is ``(b,)`` or ``(k, b)``."""

    lead: tuple[int, ...]

    def dense(self, name: str, x: Tensor) -> Tensor:
        """Linear layer ``name``: ``[*lead, i] -> [*lead, o]`` (``x`` may also be ``[b, i]``)."""
        raise NotImplementedError

    def embed(self, name: str, ids: Tensor) -> Tensor:
        """Linear layer ``name`` on the one-hot of ``ids [b]`` as a row lookup: ``[*lead, o]``.

        The same numbers as ``dense(name, one_hot(ids))`` (the other terms of that product
        are exact zeros) without a ``K = t`` GEMM, whose forward and backward cost a few
        percent of a training step (docs/benchmarks/networks.md, "Speed tricks").
        """
        raise NotImplementedError

    def bank_shared(self, name: str, x: Tensor) -> Tensor:
        """All modules of bank ``name`` on one shared input: ``[*lead, i] -> [*lead, n, o]``."""
        raise NotImplementedError

    def bank_per_module(self, name: str, x: Tensor) -> Tensor:
        """Module ``j`` of bank ``name`` on ``x[..., j, :]``: ``[*lead, n, i] -> [*lead, n, o]``."""
        raise NotImplementedError

    def heads_sum(self, name: str, x: Tensor) -> Tensor:
        """``Σ_j W_j x_j + Σ_j b_j`` over bank ``name``'s heads: ``[*lead, n, i] -> [*lead, o]``."""
        raise NotImplementedError


class ModuleLayout(ParameterLayout):
    """The parameters of one network, read from its submodules at every call.

    Reading ``module.weight`` at call time (rather than caching the tensors) keeps
    ``torch.func.functional_call``, ``load_state_dict`` and ``.to()`` working.
    """

    def __init__(self, modules: Mapping[str, nn.Module], batch: int) -> None:
        self._modules = modules
        self.lead = (batch,)

    def dense(self, name: str, x: Tensor) -> Tensor:
        # F.linear on the parameters skips nn.Module.__call__: about ten such layers per
        # forward, 2.5-5 % of the acting step at batch 10 (docs/benchmarks/networks.md,
        # "Speed tricks").
        layer = self._modules[name]
        return F.linear(x, layer.weight, layer.bias)

    def embed(self, name: str, ids: Tensor) -> Tensor:
        layer = self._modules[name]
        return F.embedding(ids, layer.weight.t()) + layer.bias

    def bank_shared(self, name: str, x: Tensor) -> Tensor:
        bank = self._modules[name]
        n, i, o = bank.weight.shape
        if torch.is_grad_enabled():
            # Training: the n modules are one wide GEMM [b, i] @ [i, n*o], whose backward
            # is two plain GEMMs; the weight copy is small next to them.
            wide = bank.weight.permute(1, 0, 2).reshape(i, n * o)
            return torch.addmm(bank.bias.reshape(n * o), x, wide).view(x.shape[0], n, o)
        # Acting (small batch, no graph): a batched product on the broadcast input reads
        # the weight in place; copying it would cost more than the product (10-15 % of
        # the acting step: docs/benchmarks/networks.md, "Speed tricks").
        out = torch.baddbmm(bank.bias.unsqueeze(1), x.expand(n, *x.shape), bank.weight)
        return out.transpose(0, 1)

    def bank_per_module(self, name: str, x: Tensor) -> Tensor:
        # "b n i, n i o -> b n o" as one bmm over modules; a transposed view of [n, b, o].
        bank = self._modules[name]
        return batched_modules(x.transpose(0, 1), bank.weight, bank.bias).transpose(0, 1)

    def heads_sum(self, name: str, x: Tensor) -> Tensor:
        bank = self._modules[name]
        return torch.einsum("b n i, n i o -> b o", x, bank.weight) + bank.bias.sum(0)


class StackedLayout(ParameterLayout):
    """K members' parameters stacked along a leading axis: ``params[name + ".weight"]`` ``[k, ...]``.

    Each dense layer is one ``baddbmm`` over the members with its bias fused; the banks
    are one ``bmm`` over ``k·n`` modules. Under ``torch.func.vmap`` each ``F.linear``
    would become a ``bmm`` plus a separate bias add, which made the twin critics ~10 %
    slower on the CPU than running them one after the other (docs/benchmarks/sb3.md).
    """

    def __init__(self, params: Mapping[str, Tensor], batch: int) -> None:
        self._params = params
        self.k = next(iter(params.values())).shape[0]
        self.lead = (self.k, batch)

    def _wb(self, name: str) -> tuple[Tensor, Tensor]:
        return self._params[f"{name}.weight"], self._params[f"{name}.bias"]

    def dense(self, name: str, x: Tensor) -> Tensor:
        # "k b i, k o i -> k b o", bias fused. A shared input [b, i] is expanded (no
        # copy): one [b, i] @ [i, k*o] GEMM would be as fast but leaves a transposed
        # [k, b, o] whose backward needs copies.
        w, bias = self._wb(name)
        if x.dim() == 2:
            x = x.expand(self.k, *x.shape)
        return torch.baddbmm(bias.unsqueeze(1), x, w.transpose(1, 2))

    def embed(self, name: str, ids: Tensor) -> Tensor:
        # A row lookup per member: [k, t, o] rows -> [k, b, o].
        w, bias = self._wb(name)
        return w.transpose(1, 2).contiguous().index_select(1, ids) + bias.unsqueeze(1)

    def bank_shared(self, name: str, x: Tensor) -> Tensor:
        w, bias = self._wb(name)  # [k, n, i, o], [k, n, o]
        k, n, i, o = w.shape
        if x.dim() == 2:
            x = x.expand(k, *x.shape)
        wide = w.permute(0, 2, 1, 3).reshape(k, i, n * o)
        return torch.baddbmm(bias.reshape(k, 1, n * o), x, wide).view(k, x.shape[1], n, o)

    def bank_per_module(self, name: str, x: Tensor) -> Tensor:
        # Module-major copy [k*n, b, i], one bmm over k*n modules, back to [k, b, n, o]
        # contiguous (the next mixing's bmm and in-place ReLU want contiguous memory).
        w, bias = self._wb(name)  # [k, n, i, o], [k, n, o]
        k, n, i, o = w.shape
        b = x.shape[1]
        x = x.transpose(1, 2).reshape(k * n, b, i)
        out = batched_modules(x, w.reshape(k * n, i, o), bias.reshape(k * n, o))
        return out.view(k, n, b, o).transpose(1, 2).contiguous()

    def heads_sum(self, name: str, x: Tensor) -> Tensor:
        w, bias = self._wb(name)
        return torch.einsum("k b n i, k n i o -> k b o", x, w) + bias.sum(1).unsqueeze(1)
