"""The paper's baseline networks, with the same ``forward(x, task)`` as ``SoftRoutedMLP``.

- :class:`TaskMLP`: an MLP on ``cat(x, one-hot)`` (the MT-SAC network).
- :class:`MultiHeadMLP`: a shared trunk on ``x`` and one output head per task (MT-MH-SAC).
- :class:`MixtureOfExperts`: expert MLPs on ``cat(x, one-hot)`` mixed by a
  softmax gate that reads the task alone.

All use the authors' initialisation (:mod:`modnet.init`): hidden layers
``U(±1/sqrt(out))`` with biases 0.1, the output layers (and the gate) ``U(±3e-3)``.
Dimension letters: ``b`` batch, ``t`` tasks, ``e`` experts, ``h`` hidden, ``o`` output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from typing_extensions import Self

from modnet.errors import ConfigError, mismatch
from modnet.init import authors_bank_init, authors_linear_init_, small_uniform_
from modnet.module_bank import BankInit, ModuleBank
from modnet.softmax import softmax_last
from modnet.task_input import task_ids, task_one_hot
from modnet.validation import (
    check_batch_features,
    check_positive_int,
    check_positive_ints,
    check_same_device,
)

__all__ = ["MixtureOfExperts", "MultiHeadMLP", "TaskMLP"]


def _sizes(where: str, name: str, value: object, *, allow_empty: bool) -> tuple[int, ...]:
    ok = isinstance(value, Sequence) and not isinstance(value, str)
    sizes = tuple(value) if ok else ()  # type: ignore[arg-type]
    if (
        not ok
        or (not sizes and not allow_empty)
        or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes)
    ):
        expected = "be a sequence of ints >= 1" + ("" if allow_empty else " (non-empty)")
        raise ConfigError(mismatch(where, name, expected, repr(value)))
    return sizes


def _hidden_layers(in_features: int, hidden: Sequence[int]) -> list[nn.Module]:
    """``Linear, ReLU`` per width of ``hidden``, each Linear with the authors' hidden init."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [authors_linear_init_(nn.Linear(width, size)), nn.ReLU()]
        width = size
    return layers


def _mlp(
    in_features: int, hidden: Sequence[int], out_features: int, *, small_last: bool = True
) -> nn.Sequential:
    """An MLP with the authors' init: :func:`_hidden_layers`, then a Linear to
    ``out_features`` drawn ``U(±3e-3)`` (``small_last``, the authors' output layer) or
    with the hidden init (CARE's encoders)."""
    layers = _hidden_layers(in_features, hidden)
    last = nn.Linear(hidden[-1] if hidden else in_features, out_features)
    layers.append(small_uniform_(last) if small_last else authors_linear_init_(last))
    return nn.Sequential(*layers)


def _bank_stack(
    widths: Sequence[int],
    num_modules: int,
    *,
    init: BankInit | None = authors_bank_init,
    last_init: BankInit | None = None,
    small_last: bool = True,
) -> nn.ModuleList:
    """``ModuleBank`` layers ``widths[0] -> widths[1] -> ...`` of ``num_modules`` members:
    a stack of ``num_modules`` MLPs computed together (ReLU between layers is the caller's).

    Every layer but the last is initialised by ``init``, the last by ``last_init``
    (``None``: ModuleBank's default, the distribution of a fresh ``nn.Linear``); with
    ``small_last`` the last layer's weights and biases are then redrawn ``U(±3e-3)``.
    """
    last = len(widths) - 2
    banks = [
        ModuleBank(a, b, num_modules, init=last_init if j == last else init)
        for j, (a, b) in enumerate(zip(widths, widths[1:], strict=False))
    ]
    if small_last:
        small_uniform_(banks[-1])
    return nn.ModuleList(banks)


class _TaskNetwork(nn.Module):
    """What the baselines share: the three sizes, ``from_config`` and the forward's checks."""

    in_features: int
    out_features: int
    num_tasks: int

    def _set_sizes(self, in_features: int, out_features: int, num_tasks: int) -> str:
        where = type(self).__name__
        self.in_features, self.out_features, self.num_tasks = check_positive_ints(
            where, in_features=in_features, out_features=out_features, num_tasks=num_tasks
        )
        return where

    def _configure(self, config_class: Any, where: str, **settings: Any) -> None:
        """Validate ``settings`` with ``config_class`` (the sizes :meth:`_set_sizes` stored),
        keep the config as ``self.config`` and each setting as the attribute of its name."""
        self.config = config_class.of(
            where, self.in_features, self.out_features, self.num_tasks, **settings
        )
        for name in self.config.setting_names():
            setattr(self, name, getattr(self.config, name))

    @classmethod
    def from_config(cls, cfg: Any) -> Self:
        """Build from the network's config (``TaskMLPConfig`` and so on)."""
        return cls(**cfg.model_dump())

    def _checked(self, method: str, x: Tensor, task: Tensor) -> tuple[str, int]:
        """The caller's name for messages and the batch size of ``x [b, in_features]``.

        Also checks ``x``'s dtype against the parameters' and ``task``'s device against ``x``'s.
        """
        where = f"{type(self).__name__}.{method}"
        batch = check_batch_features(where, x, self.in_features, next(self.parameters()).dtype)
        check_same_device(where, task, x.device)
        return where, batch


class TaskMLP(_TaskNetwork):
    """MT-SAC's network: an MLP on the state concatenated with the task one-hot.

    Args:
        in_features: state width (without the one-hot).
        out_features: output width.
        num_tasks: ``T``.
        hidden_sizes: hidden widths, ReLU after each (the paper: ``(400, 400, 400)``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        hidden_sizes: Sequence[int] = (400, 400, 400),
    ) -> None:
        super().__init__()
        where = self._set_sizes(in_features, out_features, num_tasks)
        self.hidden_sizes = _sizes(where, "hidden_sizes", hidden_sizes, allow_empty=True)
        self.net = _mlp(in_features + num_tasks, self.hidden_sizes, out_features)

    def forward(self, x: Tensor, task: Tensor) -> Tensor:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, o]``."""
        where, batch = self._checked("forward", x, task)
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=x.dtype)
        return self.net(torch.cat([x, z], dim=-1))


class MultiHeadMLP(_TaskNetwork):
    """MT-MH-SAC's network: a shared trunk on ``x`` and one head per task.

    Each sample is answered by its own task's head only. The heads are stacked
    ``[t, ...]`` parameters; the batch is scattered into a padded
    ``[t, slots, h]`` tensor (``slots`` = most samples of one task in the batch)
    so every head runs in one batched product, with no loop over tasks. With a
    task-balanced batch there is no padding; with one task only, the padding
    costs ``t`` times one head. The padded size depends on the data, so this
    network does not trace under ``torch.compile(fullgraph=True)``.

    Args:
        in_features: state width (the trunk does not see the task).
        out_features: output width of each head.
        num_tasks: ``T`` heads.
        trunk_sizes: shared hidden widths, ReLU after each (the paper: ``(400, 400)``).
        head_sizes: hidden widths inside each head (the paper: ``(400,)``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        trunk_sizes: Sequence[int] = (400, 400),
        head_sizes: Sequence[int] = (400,),
    ) -> None:
        super().__init__()
        where = self._set_sizes(in_features, out_features, num_tasks)
        self.trunk_sizes = _sizes(where, "trunk_sizes", trunk_sizes, allow_empty=True)
        self.head_sizes = _sizes(where, "head_sizes", head_sizes, allow_empty=True)
        self.trunk = nn.Sequential(*_hidden_layers(in_features, self.trunk_sizes))
        width = self.trunk_sizes[-1] if self.trunk_sizes else in_features
        self.heads = _bank_stack((width, *self.head_sizes, out_features), num_tasks)

    def forward(self, x: Tensor, task: Tensor) -> Tensor:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or an exact one-hot ``[b, t]`` -> ``[b, o]``."""
        where, batch = self._checked("forward", x, task)
        ids = task_ids(task, self.num_tasks, batch, where)
        h = self.trunk(x)
        # Slot of each sample among the samples of its task: its rank in a stable
        # sort by task id minus the start of its task's run.
        counts = torch.bincount(ids, minlength=self.num_tasks)
        slots = int(counts.max()) if batch > 0 else 0
        order = torch.argsort(ids, stable=True)
        starts = torch.cumsum(counts, 0) - counts
        slot = torch.empty_like(ids)
        slot[order] = torch.arange(batch, device=ids.device) - starts[ids[order]]
        g = h.new_zeros(self.num_tasks, slots, h.shape[-1]).index_put((ids, slot), h)
        last = len(self.heads) - 1
        for i, bank in enumerate(self.heads):
            # "t s h, t h o -> t s o"; padded slots compute garbage nobody reads.
            g = torch.baddbmm(bank.bias.unsqueeze(1), g, bank.weight)
            if i < last:
                g = F.relu(g)
        return g[ids, slot]


class MixtureOfExperts(_TaskNetwork):
    """Expert MLPs on ``cat(x, one-hot)`` mixed by a task-conditioned softmax gate.

    ``out = Σ_e gate(z)_e · expert_e(cat(x, z))`` with ``gate(z) = softmax(W_g z + b_g)``.
    The experts are computed together as :class:`~modnet.module_bank.ModuleBank` layers.
    The gate starts near uniform (weights ``U(±3e-3)``).

    Args:
        in_features: state width (without the one-hot).
        out_features: output width.
        num_tasks: ``T``.
        num_experts: ``E`` (the paper: 4).
        hidden_sizes: hidden widths of every expert (the paper: MT-SAC's ``(400, 400, 400)``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        num_experts: int = 4,
        hidden_sizes: Sequence[int] = (400, 400, 400),
    ) -> None:
        super().__init__()
        where = self._set_sizes(in_features, out_features, num_tasks)
        self.num_experts = check_positive_int(where, "num_experts", num_experts)
        self.hidden_sizes = _sizes(where, "hidden_sizes", hidden_sizes, allow_empty=True)
        widths = (in_features + num_tasks, *self.hidden_sizes, out_features)
        self.experts = _bank_stack(widths, num_experts)
        self.gate = small_uniform_(nn.Linear(num_tasks, num_experts))

    def gate_weights(self, task: Tensor) -> Tensor:
        """The gate: ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, e]``, rows sum to 1."""
        where = f"{type(self).__name__}.gate_weights"
        batch = task.shape[0] if isinstance(task, Tensor) and task.dim() > 0 else -1
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=self.gate.weight.dtype)
        return softmax_last(self.gate(z))

    def forward(
        self, x: Tensor, task: Tensor, return_gate: bool = False
    ) -> Tensor | tuple[Tensor, Tensor]:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, o]``.

        With ``return_gate=True`` also returns the gate weights ``[b, e]``.
        """
        where, batch = self._checked("forward", x, task)
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=x.dtype)
        gate = softmax_last(self.gate(z))
        h = self.experts[0](torch.cat([x, z], dim=-1))  # [b, e, h]
        for bank in self.experts[1:]:
            h = bank(F.relu(h))
        y = torch.bmm(gate.unsqueeze(1), h).squeeze(1)  # "b e, b e o -> b o"
        if return_gate:
            return y, gate
        return y
