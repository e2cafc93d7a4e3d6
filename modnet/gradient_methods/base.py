"""The shared interface of the multi-task gradient methods, and the per-task gradients.

Dimension letters: ``T`` tasks, ``P`` the parameters given, flattened and concatenated.

A gradient method turns ``T`` task losses into one update direction for a set of
parameters: ``method.backward(losses [T], parameters)`` adds the direction to each
parameter's ``.grad`` (as ``loss.backward()`` would; zero the gradients first) and
returns the coefficients ``[T]`` of the per-task gradients in it, for logging.
``state_dict()`` / ``load_state_dict()`` carry everything the method learns between
steps (weights, their optimiser, its random generator), so a resumed run continues it.

Per-task gradients ``G [T, P]``: ``per_task="batched"`` is one vmapped backward pass,
``torch.autograd.grad(losses, params, grad_outputs=eye(T), is_grads_batched=True)``;
``"loop"`` is ``T`` backward passes in a Python loop. ``"auto"`` (default) takes the loop
on the CPU, where it measured faster (about 0.7-0.8 s against 1.0 s for MT10's critic
at batch 1,280, one thread: the vmapped backward does the same arithmetic plus its
batching), and the batched pass on other devices, where it saves ``T - 1`` walks of the
graph's kernel launches (not measured here: no GPU). See docs/gradient_methods.md.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor

from modnet.errors import ConfigError, ShapeError, mismatch

__all__ = [
    "GRADIENT_METHODS",
    "PER_TASK_MODES",
    "GradientMethod",
    "gradient_method_names",
    "make_gradient_method",
    "per_task_mean",
    "register_gradient_method",
    "task_gradients",
]

PER_TASK_MODES = ("auto", "batched", "loop")

GRADIENT_METHODS: dict[str, type[GradientMethod]] = {}
"""Every gradient method by name (``register_gradient_method``)."""


def register_gradient_method(name: str) -> Callable[[type[GradientMethod]], type[GradientMethod]]:
    """Class decorator: make the class buildable as ``make_gradient_method(name, ...)``."""

    def decorate(cls: type[GradientMethod]) -> type[GradientMethod]:
        if name in GRADIENT_METHODS:
            raise ConfigError(mismatch("register_gradient_method", "name", "be new", repr(name)))
        cls.name = name
        GRADIENT_METHODS[name] = cls
        return cls

    return decorate


def gradient_method_names() -> tuple[str, ...]:
    return tuple(GRADIENT_METHODS)


def make_gradient_method(name: str, num_tasks: int, **kwargs: Any) -> GradientMethod:
    """Build the method registered as ``name`` for ``num_tasks`` tasks.

    Raises:
        ConfigError: an unknown name, or a setting the method refuses.
    """
    if name not in GRADIENT_METHODS:
        raise ConfigError(
            mismatch(
                "make_gradient_method", "name", f"be one of {list(GRADIENT_METHODS)}", repr(name)
            )
        )
    return GRADIENT_METHODS[name](num_tasks, **kwargs)


def check_num_tasks(where: str, num_tasks: object) -> int:
    if isinstance(num_tasks, bool) or not isinstance(num_tasks, int) or num_tasks < 1:
        raise ConfigError(mismatch(where, "num_tasks", "be an int >= 1", repr(num_tasks)))
    return num_tasks


def check_positive(where: str, name: str, value: object, *, allow_zero: bool = False) -> float:
    """``value`` as a float if finite and > 0 (or >= 0), else a ``ConfigError``."""
    ok = (
        not isinstance(value, bool)
        and isinstance(value, (int, float))
        and math.isfinite(value)
        and (value >= 0 if allow_zero else value > 0)
    )
    if not ok:
        expected = "be a finite float >= 0" if allow_zero else "be a finite float > 0"
        raise ConfigError(mismatch(where, name, expected, repr(value)))
    return float(value)


def check_losses(where: str, losses: object, num_tasks: int) -> Tensor:
    """``losses`` if it is a floating-point tensor ``[T]`` (one scalar loss per task)."""
    if not isinstance(losses, Tensor):
        raise ShapeError(mismatch(where, "losses", "be a torch.Tensor", type(losses).__name__))
    if losses.shape != (num_tasks,):
        raise ShapeError(
            mismatch(
                where,
                "losses",
                f"have shape ({num_tasks},) (one scalar loss per task)",
                tuple(losses.shape),
            )
        )
    if not losses.is_floating_point():
        raise ShapeError(mismatch(where, "losses", "be floating point", losses.dtype))
    return losses


def check_parameters(where: str, parameters: Iterable[Tensor]) -> list[Tensor]:
    """The parameters as a list: non-empty, tensors that require grad."""
    if isinstance(parameters, Tensor):
        params = [parameters]
    else:
        params = list(parameters)
    if not params:
        raise ConfigError(mismatch(where, "parameters", "be non-empty", "no parameters"))
    for i, p in enumerate(params):
        if not isinstance(p, Tensor) or not p.requires_grad:
            raise ConfigError(
                mismatch(
                    where, f"parameters[{i}]", "be a tensor that requires grad", type(p).__name__
                )
            )
    return params


def task_gradients(losses: Tensor, params: list[Tensor], *, per_task: str = "auto") -> Tensor:
    """Per-task gradients ``G [T, P]``: row ``i`` is ``∇ losses[i]`` over ``params``, flattened.

    ``per_task="batched"``: one vmapped backward (``is_grads_batched=True``, the
    identity as the batch of output gradients); ``"loop"``: ``T`` backward passes;
    ``"auto"``: the loop on the CPU (measured faster there), batched elsewhere.
    Parameters no loss reaches get zero columns. The graph is released afterwards.
    """
    return _task_gradients(losses, params, per_task)[0]


def _task_gradients(
    losses: Tensor, params: list[Tensor], per_task: str
) -> tuple[Tensor, list[bool]]:
    """``G [T, P]`` and, per parameter, whether any loss reaches it."""
    num_tasks = losses.shape[0]
    if per_task == "auto":
        per_task = "loop" if losses.device.type == "cpu" else "batched"
    if per_task == "batched":
        eye = torch.eye(num_tasks, dtype=losses.dtype, device=losses.device)
        grads = list(
            torch.autograd.grad(
                losses, params, grad_outputs=eye, is_grads_batched=True, allow_unused=True
            )
        )
    else:
        per_loss = [  # the oracle: T backward passes
            torch.autograd.grad(
                losses[i], params, retain_graph=i < num_tasks - 1, allow_unused=True
            )
            for i in range(num_tasks)
        ]
        grads = [
            None
            if all(g[k] is None for g in per_loss)
            else torch.stack([p.new_zeros(p.shape) if g[k] is None else g[k] for g in per_loss])
            for k, p in enumerate(params)
        ]
    reached = [g is not None for g in grads]
    flat = torch.cat(
        [
            losses.new_zeros(num_tasks, p.numel()) if g is None else g.reshape(num_tasks, -1)
            for g, p in zip(grads, params, strict=True)
        ],
        dim=1,
    )
    return flat, reached


def per_task_mean(values: Tensor, task: Tensor, num_tasks: int) -> Tensor:
    """Each task's mean of the per-sample ``values [B]``, ``[T]`` (0 for an absent task).

    ``task`` int64 ``[B]``: each sample's task id. One ``index_add``, no loop over tasks.
    """
    totals = values.new_zeros(num_tasks).index_add(0, task, values)
    counts = torch.bincount(task, minlength=num_tasks).clamp_min(1)
    return totals / counts.to(values.dtype)


def add_flat_grad_(params: list[Tensor], direction: Tensor, reached: list[bool]) -> None:
    """Add the flat ``direction [P]`` to the ``.grad`` of ``params`` (as backward does).

    A parameter no loss reaches keeps its ``.grad`` (``None`` stays ``None``, as after
    ``loss.backward()``, so an optimiser skips it).
    """
    offset = 0
    for p, hit in zip(params, reached, strict=True):
        piece = direction[offset : offset + p.numel()].view_as(p)
        offset += p.numel()
        if not hit:
            continue
        if p.grad is None:
            p.grad = piece.detach().clone()
        else:
            p.grad.add_(piece)


class GradientMethod:
    """A multi-task loss combiner: ``T`` losses in, one update direction in ``.grad``.

    Subclasses implement ``combine(G [T, P], losses [T]) -> coefficients [T]``, the
    direction being ``coefficients @ G``; a method that needs no per-task gradients
    (FAMO) overrides ``backward`` instead. Settings are keyword-only; ``per_task``
    chooses how ``G`` is computed (``"auto"``, ``"batched"`` or ``"loop"``).
    """

    name: ClassVar[str] = ""
    needs_losses_after: ClassVar[bool] = False
    """True when the method learns from the losses after the step (FAMO's ``update``)."""
    learnt: ClassVar[tuple[str, ...]] = ()
    """The tensor attributes the method learns (GradNorm's ``weights``, FAMO's ``logits``):
    ``state_dict`` holds detached copies of them and of ``self.optimizer``'s state (deep
    copied: no moment tensor shared with the live optimiser), ``load_state_dict`` writes
    them back in place. Empty: nothing learnt, an empty state."""
    optimizer: torch.optim.Optimizer  # of the learnt tensors, where there are any

    def __init__(self, num_tasks: int, *, per_task: str = "auto") -> None:
        where = type(self).__name__
        self.num_tasks = check_num_tasks(where, num_tasks)
        if per_task not in PER_TASK_MODES:
            raise ConfigError(
                mismatch(where, "per_task", f"be one of {list(PER_TASK_MODES)}", repr(per_task))
            )
        self.per_task = per_task

    def backward(self, losses: Tensor, parameters: Iterable[Tensor]) -> Tensor:
        """Add the combined direction to ``.grad`` of ``parameters``; return coefficients ``[T]``.

        ``losses`` ``[T]``: task ``i``'s scalar loss, each depending on ``parameters``
        through one graph (it is released afterwards, as by ``loss.backward()``).

        Raises:
            ShapeError: ``losses`` is not a floating-point tensor ``[T]``.
            ConfigError: ``parameters`` is empty or holds a tensor that needs no grad.
        """
        where = f"{type(self).__name__}.backward"
        losses = check_losses(where, losses, self.num_tasks)
        params = check_parameters(where, parameters)
        grads, reached = _task_gradients(losses, params, self.per_task)
        coefficients = self.combine(grads, losses.detach())
        add_flat_grad_(params, coefficients.to(grads.dtype) @ grads, reached)
        return coefficients.detach()

    def combine(self, grads: Tensor, losses: Tensor) -> Tensor:  # pragma: no cover - abstract
        """Coefficients ``[T]`` of the rows of ``grads [T, P]`` in the update direction."""
        raise NotImplementedError

    def update(self, losses_after: Tensor) -> None:
        """Learn from the task losses after the parameter step (only FAMO uses it)."""

    def state_dict(self) -> dict[str, Any]:
        """What the method has learnt so far (tensors, optimiser state): empty if nothing."""
        if not self.learnt:
            return {}
        state: dict[str, Any] = {name: getattr(self, name).detach().clone() for name in self.learnt}
        state["optimizer"] = copy.deepcopy(self.optimizer.state_dict())
        return state

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> None:
        """Restore ``state_dict()``; ``strict`` is accepted for SB3's loader and unused."""
        del strict
        expected = set(self.state_dict())
        if set(state) != expected:
            raise ConfigError(
                mismatch(
                    f"{type(self).__name__}.load_state_dict",
                    "state",
                    f"have the keys {sorted(expected)}",
                    sorted(state),
                )
            )
        self._load(state)

    def _load(self, state: dict[str, Any]) -> None:
        """Write a checked ``state`` back: the ``learnt`` tensors in place, the optimiser."""
        if not self.learnt:
            return
        with torch.no_grad():
            for name in self.learnt:
                getattr(self, name).copy_(state[name])
        self.optimizer.load_state_dict(state["optimizer"])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_tasks={self.num_tasks})"
