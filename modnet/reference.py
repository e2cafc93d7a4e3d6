"""LoopSoftRoutedMLP: the test oracle and benchmark baseline for :class:`SoftRoutedMLP`.

It is written the way the authors' code is: each module is its own ``nn.Linear``
held in a Python list per layer, and the forward pass loops over the modules
(stack the previous layer's outputs, take the routing-weighted sum for each
destination module, apply the module). It is deliberately slow; use it to check
:class:`~modnet.soft_routed_mlp.SoftRoutedMLP` and to measure what batching buys.

:meth:`LoopSoftRoutedMLP.from_batched` copies every weight of a ``SoftRoutedMLP``
(and shares its routing strategy), so both compute the same function.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.config import SoftRoutedMLPConfig
from modnet.errors import ConfigError, mismatch
from modnet.soft_routed_mlp import RoutingTrace, SoftRoutedMLP
from modnet.task_input import task_one_hot
from modnet.validation import check_batch_features, check_same_device

__all__ = ["LoopSoftRoutedMLP"]


class LoopSoftRoutedMLP(nn.Module):
    """Same constructor and ``forward`` as :class:`SoftRoutedMLP`, with a loop over modules.

    Its settings are :class:`~modnet.config.SoftRoutedMLPConfig`'s, as the batched
    network's are; the two built-in variants only (the loops are written independently of
    :mod:`modnet.soft_modular_variants`, on purpose: that is what makes them an oracle). Its parameters are initialised independently (PyTorch's defaults); build it
    with :meth:`from_batched` to compare it with a ``SoftRoutedMLP``.
    """

    def __init__(self, *sizes: int, **settings: Any) -> None:
        """``(in_features, out_features, num_tasks, **settings)``, as ``SoftRoutedMLP``."""
        super().__init__()
        # The same settings, checked with the same messages, as the batched network.
        cfg = SoftRoutedMLPConfig.of(type(self).__name__, *sizes, **settings)
        in_features, out_features, num_tasks = cfg.in_features, cfg.out_features, cfg.num_tasks
        if cfg.variant not in ("official", "paper"):
            raise ConfigError(
                mismatch(
                    type(self).__name__, "variant", "be 'official' or 'paper'", repr(cfg.variant)
                )
            )
        self.config = cfg
        self.in_features, self.out_features, self.num_tasks = in_features, out_features, num_tasks
        self.num_layers, self.num_modules = cfg.num_layers, cfg.num_modules
        self.module_features, self.variant = cfg.module_features, cfg.variant
        self.routing = cfg.strategy()
        n, d, hid, L = cfg.num_modules, cfg.module_features, cfg.hidden_features, cfg.num_layers
        self.state_fc1 = nn.Linear(in_features, hid)
        self.state_fc2 = nn.Linear(hid, hid)
        self.task_embedding = nn.Linear(num_tasks, hid)
        if cfg.variant == "official":
            e = cfg.routing_features
            self.trunk_fc1 = nn.Linear(hid, e)
            self.trunk_fc2 = nn.Linear(e, e)
            widths = [n * n] * (L - 1) + [n]
            cond_inputs = [k * n * n for k in range(1, L)]
        else:
            e = hid
            widths = [n * n] * (L - 1)
            cond_inputs = [n * n] * (L - 2)
        self.logit_layers = nn.ModuleList(nn.Linear(e, w) for w in widths)
        self.cond_layers = nn.ModuleList(nn.Linear(c, e) for c in cond_inputs)
        self.module_layers = nn.ModuleList(
            nn.ModuleList(nn.Linear(hid if k == 0 else d, d) for _ in range(n)) for k in range(L)
        )
        if cfg.variant == "official":
            self.output: nn.Module = nn.Linear(d, out_features)
        else:
            self.output = nn.ModuleList(nn.Linear(d, out_features) for _ in range(n))

    @classmethod
    def from_batched(cls, net: SoftRoutedMLP) -> LoopSoftRoutedMLP:
        """A loop network computing the same function as ``net`` (weights copied, strategy shared)."""
        settings = {**dict(net.config), "routing": net.routing, "routing_kwargs": None}
        loop = cls(**settings)
        ref = net.state_dict()
        param = next(net.parameters())
        loop.to(device=param.device, dtype=param.dtype)
        dense = {
            k: v
            for k, v in ref.items()
            if not k.startswith(("layers.", "output.", "routing."))
            or (k.startswith("output.") and net.variant == "official")
        }
        missing = loop.load_state_dict(dense, strict=False)
        if missing.unexpected_keys:  # pragma: no cover - a bug in this file, not user error
            raise RuntimeError(f"unexpected keys {missing.unexpected_keys}")
        with torch.no_grad():
            for bank, linears in zip(net.layers, loop.module_layers, strict=True):
                for src, dst in zip(bank.to_linears(), linears, strict=True):
                    dst.load_state_dict(src.state_dict())
            if net.variant == "paper":
                for src, dst in zip(net.output.to_linears(), loop.output, strict=True):  # type: ignore[operator,arg-type]
                    dst.load_state_dict(src.state_dict())
        loop.train(net.training)
        return loop

    def forward(
        self, x: Tensor, task: Tensor, return_routing: bool = False
    ) -> Tensor | tuple[Tensor, RoutingTrace]:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, out]`` (and the trace)."""
        where = f"{type(self).__name__}.forward"
        # The same checks, with the same messages, as SoftRoutedMLP's.
        batch = check_batch_features(where, x, self.in_features, self.state_fc1.weight.dtype)
        check_same_device(where, task, x.device)
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=x.dtype)
        if self.variant == "official":
            return self._official(x, z, return_routing)
        return self._paper(x, z, return_routing)

    def _official(self, x: Tensor, z: Tensor, return_routing: bool) -> Any:
        n = self.num_modules
        f = self.state_fc2(F.relu(self.state_fc1(x)))
        h = self.task_embedding(z)
        e = self.trunk_fc2(F.relu(self.trunk_fc1(F.relu(f * h))))
        weights, flat = [], []
        aux = x.new_zeros(())
        for k, logit_layer in enumerate(self.logit_layers):
            if k == 0:
                raw = logit_layer(F.relu(e))
            else:
                cond = self.cond_layers[k - 1](torch.cat(flat, dim=-1))
                raw = logit_layer(F.relu(cond * e))
            if k < len(self.logit_layers) - 1:
                r = self.routing(raw.view(-1, n, n))
                flat.append(r.weights.view(-1, n * n))
            else:
                r = self.routing(raw)
            weights.append(r.weights)
            aux = aux + r.aux_loss

        outputs = [module(F.relu(f)) for module in self.module_layers[0]]
        for k in range(1, self.num_layers):
            stacked = torch.stack(outputs, dim=-2)  # [b, n(source), d]
            outputs = []
            for j, module in enumerate(self.module_layers[k]):
                mixed = (weights[k - 1][:, j, :].unsqueeze(-1) * stacked).sum(dim=-2)
                outputs.append(module(F.relu(mixed)))
        stacked = torch.stack(outputs, dim=-2)
        final = (weights[-1].unsqueeze(-1) * stacked).sum(dim=-2)
        y = self.output(F.relu(final))
        if return_routing:
            return y, RoutingTrace(tuple(weights[:-1]), weights[-1], aux)
        return y

    def _paper(self, x: Tensor, z: Tensor, return_routing: bool) -> Any:
        n = self.num_modules
        f = self.state_fc2(F.relu(self.state_fc1(x)))
        fh = f * self.task_embedding(z)
        weights = []
        aux = x.new_zeros(())
        raw = self.logit_layers[0](F.relu(fh))
        for k in range(self.num_layers - 1):
            if k > 0:
                raw = self.logit_layers[k](F.relu(self.cond_layers[k - 1](raw) * fh))
            r = self.routing(raw.view(-1, n, n))
            weights.append(r.weights)
            aux = aux + r.aux_loss
        outputs = [F.relu(module(f)) for module in self.module_layers[0]]
        for k in range(1, self.num_layers):
            stacked = torch.stack(outputs, dim=-2)
            outputs = [
                F.relu(module((weights[k - 1][:, j, :].unsqueeze(-1) * stacked).sum(dim=-2)))
                for j, module in enumerate(self.module_layers[k])
            ]
        y = sum(head(g) for head, g in zip(self.output, outputs, strict=True))  # type: ignore[arg-type,call-overload]
        if return_routing:
            return y, RoutingTrace(tuple(weights), None, aux)
        return y
