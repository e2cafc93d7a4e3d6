"""PaCo: "Parameter-Compositional Multi-Task Reinforcement Learning" (Sun, Zhang, Xu,
Tomizuka, NeurIPS 2022).

Every layer holds ``K`` parameter sets ``Φ = [φ_1 ... φ_K]``; task ``τ`` uses the
composed parameters ``θ_τ = Φ w_τ`` (the paper's Eq. 2), with ``w_τ`` a learned
``K``-vector per task. Here ``w_τ = W z_τ + b`` for the one-hot ``z_τ``, one linear map as
in the official code (no activation on ``w``: the official ``last_activation`` is the
identity). Each layer's ``T`` weight matrices are composed once per forward
(``einsum("t k, k i o -> t i o")``), the batch is grouped by task into a padded
``[t, slots, i]`` tensor, and every task's layer runs in one batched product, so the cost
of a layer is ``T·K·i·o`` for the composition plus one dense product for the batch.

The paper's training rules for unstable tasks are here as functions a trainer calls
(:func:`extreme_tasks`, :func:`mask_extreme_losses`, :meth:`PaCo.reset_task_weights`,
:func:`interpolate_task_weights_`; ``modnet_sb3.MTSAC(mask_extreme_tasks=True,
reset_extreme_tasks="interpolate")`` calls them):
a task whose mean loss in a batch exceeds a threshold (3e3 in the official config) has its
losses masked for that step and its ``w`` reset to a random convex combination of the
other tasks' ``w``.

Dimension letters: ``b`` batch, ``t`` tasks, ``k`` parameter sets, ``i``/``o`` a
layer's input/output width. Sources of every setting: ``docs/architectures/paco.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.baselines import _bank_stack, _sizes, _TaskNetwork
from modnet.errors import ConfigError, ShapeError, mismatch
from modnet.init import authors_bank_init
from modnet.task_input import task_ids
from modnet.validation import check_positive_int

__all__ = ["PaCo", "extreme_tasks", "interpolate_task_weights_", "mask_extreme_losses"]

ResetMethod = Literal["interpolate", "copy"]


class PaCo(_TaskNetwork):
    """An MLP whose every layer's parameters are ``Φ w_τ``: K shared sets, composed per task.

    Args:
        in_features: state width (the layers read the state only; the task enters
            through ``w_τ``, as in the official config's ``use_task_input=False``).
        out_features: output width.
        num_tasks: ``T``.
        num_parameter_sets: ``K`` (official MT10 config and Meta-World+: 5).
        hidden_sizes: hidden widths, ReLU after each (official: ``(400, 400, 400)``).
        identical_init: start the ``K`` sets of a layer equal (the official
            ``use_identical_init=True``); ``False`` draws each independently
            (Meta-World+). The sets separate as each task's gradient reaches them
            through its own ``w``.
        task_weight_bias: ``w_τ = W z_τ + b`` with a bias ``b`` shared by all tasks
            (Meta-World+'s ``Dense``); ``False``: ``w_τ`` is column ``τ`` of ``W``.

    Attributes:
        task_weights: ``nn.Linear(T, K)``; ``task_weights.weight[:, τ]`` (+ bias) is ``w_τ``.
        layers: one :class:`~modnet.module_bank.ModuleBank` of ``K`` sets per layer
            (weight ``[k, i, o]``, bias ``[k, o]``).

    The sets use the authors' hidden init (``U(±1/sqrt(o))``, biases 0.1), the last
    layer ``U(±3e-3)``; ``W`` starts ``U(±1/sqrt(T))`` and ``b`` at 0 (ALF's and
    Meta-World+'s inits differ; see the docs page).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        num_parameter_sets: int = 5,
        hidden_sizes: Sequence[int] = (400, 400, 400),
        identical_init: bool = True,
        task_weight_bias: bool = True,
    ) -> None:
        super().__init__()
        where = self._set_sizes(in_features, out_features, num_tasks)
        self.num_parameter_sets = check_positive_int(
            where, "num_parameter_sets", num_parameter_sets
        )
        self.hidden_sizes = _sizes(where, "hidden_sizes", hidden_sizes, allow_empty=True)
        for name, flag in (
            ("identical_init", identical_init),
            ("task_weight_bias", task_weight_bias),
        ):
            if not isinstance(flag, bool):
                raise ConfigError(mismatch(where, name, "be a bool", repr(flag)))
        self.identical_init = identical_init
        k = num_parameter_sets
        # The authors' hidden init on every layer, the last then U(±3e-3).
        widths = (in_features, *self.hidden_sizes, out_features)
        self.layers = _bank_stack(widths, k, last_init=authors_bank_init)
        if identical_init:
            with torch.no_grad():
                for bank in self.layers:
                    bank.weight.copy_(bank.weight[:1].expand_as(bank.weight))
                    bank.bias.copy_(bank.bias[:1].expand_as(bank.bias))
        self.task_weights = nn.Linear(num_tasks, k, bias=task_weight_bias)
        if task_weight_bias:
            with torch.no_grad():
                self.task_weights.bias.zero_()

    def all_task_weights(self) -> Tensor:
        """``w`` of every task, ``[t, k]`` (row ``τ`` is ``w_τ``)."""
        w = self.task_weights.weight.t()
        if self.task_weights.bias is not None:
            w = w + self.task_weights.bias
        return w

    def composed_parameters(self, layer: int) -> tuple[Tensor, Tensor]:
        """``θ_τ`` of one layer for every task: weights ``[t, i, o]`` and biases ``[t, o]``."""
        w = self.all_task_weights()
        bank = self.layers[layer]
        return torch.einsum("tk,kio->tio", w, bank.weight), w @ bank.bias

    def composition_weights(self, task: Tensor) -> Tensor:
        """``w_τ`` of each sample: ``task`` ids ``[b]`` or an exact one-hot ``[b, t]`` -> ``[b, k]``."""
        where = f"{type(self).__name__}.composition_weights"
        batch = task.shape[0] if isinstance(task, Tensor) and task.dim() > 0 else -1
        return self.all_task_weights()[task_ids(task, self.num_tasks, batch, where)]

    def forward(self, x: Tensor, task: Tensor) -> Tensor:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or an exact one-hot ``[b, t]`` -> ``[b, o]``.

        There is no ``return_routing``: the composition weights ``w_τ`` (read them with
        :meth:`composition_weights`) are unconstrained, neither non-negative nor summing to
        1, so the routing diagnostics and figures, which read a trace as probabilities
        (entropy, total-variation distance), would print numbers without meaning.

        The batch is scattered into ``[t, slots, i]`` (``slots`` = most samples of one task
        in the batch), a size that depends on the data; the forward still traces under
        ``torch.compile(fullgraph=True)`` (tested with the ``aot_eager`` backend).

        Raises:
            ShapeError: ``x`` or ``task`` of the wrong type, dtype or shape, an id out of
                range, a float ``task`` that is not an exact one-hot, or ``task`` on
                another device than ``x``.
        """
        where, batch = self._checked("forward", x, task)
        ids = task_ids(task, self.num_tasks, batch, where)
        w = self.all_task_weights()  # [t, k]
        group, slots = _task_slots(ids, self.num_tasks)
        g = x.new_zeros(self.num_tasks, slots, x.shape[-1]).index_put(group, x)
        last = len(self.layers) - 1
        for j, bank in enumerate(self.layers):
            weight = torch.einsum("tk,kio->tio", w, bank.weight)  # θ_τ = Φ w_τ, Eq. 2
            bias = w @ bank.bias  # [t, o]
            # "t s i, t i o -> t s o"; padded slots compute values nobody reads.
            g = torch.baddbmm(bias.unsqueeze(1), g, weight)
            if j < last:
                g = F.relu(g)
        return g[group]

    @torch.no_grad()
    def reset_task_weights(
        self,
        extreme: Tensor,
        method: ResetMethod = "interpolate",
        generator: torch.Generator | None = None,
    ) -> bool:
        """Reset ``w`` of the tasks marked in ``extreme`` ``[t]`` (bool) from the others'.

        The official rule (``reset_task_while_extreme``): see
        :func:`interpolate_task_weights_`. Returns whether anything was reset (nothing
        when no task, or every task, is extreme).
        """
        return interpolate_task_weights_(
            self.task_weights.weight, extreme, method=method, generator=generator
        )


def _task_slots(ids: Tensor, num_tasks: int) -> tuple[tuple[Tensor, Tensor], int]:
    """Where each sample goes in a task-major padded ``[t, slots, ...]`` tensor.

    Returns ``((ids, slot), slots)``: sample ``i`` sits at ``[ids[i], slot[i]]``, its rank
    among the samples of its task (their order in the batch); ``slots`` is the most
    samples of one task. Same scheme as ``MultiHeadMLP.forward``.
    """
    counts = torch.bincount(ids, minlength=num_tasks)
    first = torch.cumsum(counts, 0) - counts  # index of each task's first sample, sorted
    rank = torch.empty_like(ids)
    rank[torch.argsort(ids, stable=True)] = torch.arange(ids.shape[0], device=ids.device)
    slots = int(counts.max()) if ids.shape[0] > 0 else 0
    return (ids, rank - first[ids]), slots


def extreme_tasks(task_loss: Tensor, threshold: float) -> Tensor:
    """The paper's extreme tasks: ``task_loss [t] > threshold`` -> bool ``[t]``.

    ``task_loss`` is each task's mean loss over its samples of the batch (the official
    code sums the actor, critic and temperature losses per sample before averaging per
    task; a task absent from the batch has loss 0). Official threshold: 3e3.
    """
    if not isinstance(task_loss, Tensor) or task_loss.dim() != 1:
        got = tuple(task_loss.shape) if isinstance(task_loss, Tensor) else type(task_loss).__name__
        raise ShapeError(mismatch("extreme_tasks", "task_loss", "be a tensor [num_tasks]", got))
    return task_loss > threshold


def mask_extreme_losses(
    loss: Tensor, task: Tensor, num_tasks: int, threshold: float
) -> tuple[Tensor, Tensor]:
    """Zero the per-sample losses of the extreme tasks of this batch.

    Args:
        loss: per-sample losses ``[b]``.
        task: int64 task ids ``[b]``.
        num_tasks: ``T``.
        threshold: a task is extreme when its mean loss over its samples exceeds it.

    Returns:
        ``(masked [b], extreme [t])``: the losses with the extreme tasks' samples set to
        0 (the official ``mask_extreme_task``: their gradient this step is zero), and the
        bool mask of extreme tasks, for :meth:`PaCo.reset_task_weights` after the step.

    Raises:
        ShapeError: ``loss`` not ``[b]`` or ``task`` not ids ``[b]`` in ``[0, T)``.
    """
    where = "mask_extreme_losses"
    if not isinstance(loss, Tensor) or loss.dim() != 1:
        got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ShapeError(mismatch(where, "loss", "be a tensor [batch]", got))
    ids = task_ids(task, num_tasks, loss.shape[0], where)
    detached = loss.detach()
    total = torch.zeros(num_tasks, dtype=detached.dtype, device=detached.device)
    total.index_add_(0, ids, detached)
    counts = torch.bincount(ids, minlength=num_tasks).to(detached.dtype)
    extreme = extreme_tasks(total / counts.clamp(min=1), threshold)
    return loss.masked_fill(extreme[ids], 0.0), extreme


@torch.no_grad()
def interpolate_task_weights_(
    weight: Tensor | Sequence[Tensor],
    extreme: Tensor,
    *,
    method: ResetMethod = "interpolate",
    generator: torch.Generator | None = None,
) -> bool:
    """Reset in place the extreme tasks' columns of ``weight`` ``[..., k, t]``.

    ``"interpolate"`` (official default): each extreme task's column becomes
    ``Σ_j c_j W[:, j]`` over the normal tasks ``j``, with ``c ~ U(0, 1)`` normalised to sum
    to 1; ``"copy"``: the column of one normal task drawn at random. Since the ``c`` sum to
    1, a bias ``b`` shared by all tasks makes the new ``w_τ = W[:, τ] + b`` the same convex
    combination of the normal tasks' ``w``. Leading axes (stacked critics
    ``[n_critics, k, t]``) are reset with the same draw, and so is every tensor of a
    sequence (the actor's and the critics' ``W``: the official code has one ``w`` for all
    networks, reset with one draw).

    Returns:
        Whether anything was reset: ``False`` when no task is extreme or none is normal.

    Raises:
        ShapeError: ``extreme`` not a bool ``[t]`` matching every weight's last axis.
        ConfigError: an unknown ``method``.
    """
    where = "interpolate_task_weights_"
    if method not in ("interpolate", "copy"):
        raise ConfigError(mismatch(where, "method", "be 'interpolate' or 'copy'", repr(method)))
    weights = [weight] if isinstance(weight, Tensor) else list(weight)
    for w in weights:
        t = w.shape[-1]
        if not isinstance(extreme, Tensor) or extreme.dtype != torch.bool or extreme.shape != (t,):
            got = (extreme.dtype, tuple(extreme.shape)) if isinstance(extreme, Tensor) else extreme
            raise ShapeError(mismatch(where, "extreme", f"be a bool tensor of shape ({t},)", got))
    extreme = extreme.cpu()
    bad = extreme.nonzero().squeeze(-1)
    good = (~extreme).nonzero().squeeze(-1)
    if bad.numel() == 0 or good.numel() == 0:
        return False
    draw = torch.rand(bad.numel(), good.numel(), generator=generator)
    if method == "interpolate":
        coef = draw / draw.sum(dim=-1, keepdim=True)
    else:
        coef = F.one_hot(draw.argmax(dim=-1), good.numel()).to(draw)
    for w in weights:
        # "... k g, e g -> ... k e"
        w[..., bad.to(w.device)] = w[..., good.to(w.device)] @ coef.t().to(w)
    return True
