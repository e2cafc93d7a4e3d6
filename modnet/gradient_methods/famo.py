"""FAMO (Liu, Feng, Stone, Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS 2023).

O(1) per step in the number of tasks: one backward pass, no per-task gradients.
Task logits ``ξ [T]`` (initialised to 0), weights ``z = softmax(ξ)``. With
``ℓ_i`` the shifted loss ``L_i − min_loss + eps`` (``min_loss`` a lower bound, 0 by
default; ``eps`` keeps the logarithm finite):

- the parameters get ``d = c Σ_i (z_i / ℓ_i) ∇L_i`` with ``c = (Σ_i z_i / ℓ_i)^{-1}``
  (the gradient of ``c Σ_i z_i log ℓ_i``; the paper's Algorithm 1);
- after the parameter step, from the losses ``ℓ'`` at the new parameters,
  ``δ_i = log ℓ_i − log ℓ'_i`` (each task's log-loss decrease) and
  ``∇_ξ = (∂z/∂ξ)ᵀ δ = z ⊙ (δ − zᵀδ)``; then ``ξ`` takes an optimiser step on
  ``∇_ξ`` with weight decay ``γ``.

``optimizer="sgd"`` is Algorithm 1 as printed, ``ξ ← ξ − β(∇_ξ + γ ξ)``;
``optimizer="adam"`` (default) is Adam with ``weight_decay=γ`` on the same gradient, as
the authors' code does (``torch.optim.Adam([ξ], lr=β, weight_decay=γ)``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor

from modnet.errors import ConfigError, ShapeError, mismatch
from modnet.gradient_methods.base import (
    GradientMethod,
    check_losses,
    check_parameters,
    check_positive,
    register_gradient_method,
)

__all__ = ["FAMO", "famo_logit_gradient"]

OPTIMIZERS = ("adam", "sgd")


def famo_logit_gradient(logits: Tensor, losses_before: Tensor, losses_after: Tensor) -> Tensor:
    """``(∂z/∂ξ)ᵀ δ`` ``[T]`` with ``z = softmax(logits)``, ``δ = log before − log after``.

    ``losses_before`` / ``losses_after``: the shifted losses ``ℓ`` (positive), ``[T]``.
    """
    z = torch.softmax(logits, dim=0)
    delta = losses_before.log() - losses_after.log()
    return z * (delta - (z * delta).sum())


@register_gradient_method("famo")
class FAMO(GradientMethod):
    """FAMO's adaptive loss weights (Liu et al., 2023).

    Args:
        num_tasks: ``T``.
        lr: ``β``, the logits' learning rate.
        weight_decay: ``γ``, the logits' decay.
        optimizer: ``"adam"`` (the authors' code) or ``"sgd"`` (Algorithm 1 as printed).
        min_loss: a lower bound of every loss (``L_i − min_loss`` must stay > 0).
        eps: added to ``L_i − min_loss`` inside the logarithms.
        device: where the logits live (that of the losses).

    Use: ``famo.backward(losses, params)``, the optimiser step, then
    ``famo.update(losses_after)`` with the losses recomputed at the new parameters
    (the same batch, without grad).
    """

    needs_losses_after = True
    learnt = ("logits", "losses_before")

    def __init__(
        self,
        num_tasks: int,
        *,
        lr: float = 0.025,
        weight_decay: float = 1e-3,
        optimizer: str = "adam",
        min_loss: float = 0.0,
        eps: float = 1e-8,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__(num_tasks)
        where = "FAMO"
        self.lr = check_positive(where, "lr", lr)
        self.weight_decay = check_positive(where, "weight_decay", weight_decay, allow_zero=True)
        self.eps = check_positive(where, "eps", eps, allow_zero=True)
        if isinstance(min_loss, bool) or not isinstance(min_loss, (int, float)):
            raise ConfigError(mismatch(where, "min_loss", "be a float", repr(min_loss)))
        self.min_loss = float(min_loss)
        if optimizer not in OPTIMIZERS:
            raise ConfigError(
                mismatch(where, "optimizer", f"be one of {list(OPTIMIZERS)}", repr(optimizer))
            )
        self.optimizer_name = optimizer
        self.logits = torch.zeros(self.num_tasks, device=device, requires_grad=True)
        optimizer_class = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
        self.optimizer = optimizer_class([self.logits], lr=self.lr, weight_decay=self.weight_decay)
        self.losses_before = torch.full((self.num_tasks,), float("nan"), device=device)

    def weights(self) -> Tensor:
        """``z = softmax(ξ)`` ``[T]``."""
        return torch.softmax(self.logits.detach(), dim=0)

    def _shifted(self, where: str, losses: Tensor) -> Tensor:
        shifted = losses.detach() - self.min_loss + self.eps
        if not bool((shifted > 0).all()):
            raise ShapeError(
                mismatch(
                    where,
                    "losses",
                    f"exceed min_loss = {self.min_loss} (FAMO takes their logarithm)",
                    losses.detach().tolist(),
                )
            )
        return shifted

    def backward(self, losses: Tensor, parameters: Iterable[Tensor]) -> Tensor:
        """Add ``d = c Σ_i (z_i / ℓ_i) ∇L_i`` to ``.grad``; return its coefficients ``[T]``.

        One backward pass through the graph, whatever ``T``.

        Raises:
            ShapeError: ``losses`` is not a floating-point ``[T]``, or not above ``min_loss``.
            ConfigError: ``parameters`` is empty or holds a tensor that needs no grad.
        """
        where = "FAMO.backward"
        losses = check_losses(where, losses, self.num_tasks)
        params = check_parameters(where, parameters)
        shifted = self._shifted(where, losses)
        ratio = self.weights().to(shifted.dtype) / shifted
        coefficients = ratio / ratio.sum()
        torch.autograd.backward((coefficients * losses).sum(), inputs=params)
        self.losses_before = shifted.to(self.losses_before.dtype)
        return coefficients

    def update(self, losses_after: Tensor) -> None:
        """One step of the logits from the losses ``[T]`` after the parameter step.

        Raises:
            ConfigError: no ``backward`` since the last ``update``.
            ShapeError: ``losses_after`` is not a floating-point ``[T]`` above ``min_loss``.
        """
        where = "FAMO.update"
        if torch.isnan(self.losses_before).any():
            raise ConfigError(
                mismatch(where, "the call order", "be backward, step, update", "update first")
            )
        check_losses(where, losses_after, self.num_tasks)
        after = self._shifted(where, losses_after).to(self.losses_before.dtype)
        self.logits.grad = famo_logit_gradient(self.logits.detach(), self.losses_before, after)
        self.optimizer.step()
        self.losses_before = torch.full_like(self.losses_before, float("nan"))
