"""GradNorm (Chen et al., "GradNorm: Gradient Normalization for Adaptive Loss Balancing
in Deep Multitask Networks", ICML 2018).

Learnable task weights ``w [T]`` (initialised to 1, Σ w = T). At every step, with
``n_i = ‖∇ L_i‖`` the norm of task ``i``'s gradient:

- the parameters get ``Σ_i w_i ∇L_i`` (the weighted loss's gradient, current ``w``);
- the relative inverse training rate is ``r_i = L̃_i / mean_j L̃_j`` with
  ``L̃_i = L_i(t) / L_i(0)`` (the paper's eq. 3-4, ``L_i(0)`` the first losses seen);
- the weights descend ``L_grad = Σ_i |w_i n_i − mean_j(w_j n_j) · r_i^α|`` (eq. 6),
  the target term held constant, so ``∂L_grad/∂w_i = sign(w_i n_i − target_i) n_i``;
- then ``w`` is renormalised to sum to ``T`` (the paper's Algorithm 1).

Tasks that train slower (``r_i > 1``) get larger gradient norms, faster ones smaller;
``alpha`` sets the strength of that pull (the asymmetry).

Choices that differ from the paper, and why:

- ``n_i`` is the norm over all the parameters given, not over the last shared layer
  only: the per-task gradients are computed anyway (one batched backward), and in a
  network fed the task one-hot every layer is shared.
- The weights are clamped at 0 before the renormalisation, so a task's gradient is
  never reversed (the paper does not say what to do with a negative weight).
"""

from __future__ import annotations

import torch
from torch import Tensor

from modnet.errors import ShapeError, mismatch
from modnet.gradient_methods.base import (
    GradientMethod,
    check_positive,
    register_gradient_method,
)

__all__ = ["GradNorm", "gradnorm_weight_gradient"]


def gradnorm_weight_gradient(
    weights: Tensor, norms: Tensor, losses: Tensor, initial_losses: Tensor, alpha: float
) -> Tensor:
    """``∂L_grad/∂w`` ``[T]`` (Chen et al., eq. 6, with the target held constant).

    ``weights``, ``norms`` (``‖∇L_i‖``), ``losses`` and ``initial_losses``: ``[T]``.
    """
    ratios = losses / initial_losses  # L̃_i, the inverse training rate
    rates = ratios / ratios.mean()  # r_i
    weighted_norms = weights * norms  # G_W^(i)
    target = weighted_norms.mean() * rates.pow(alpha)
    return torch.sign(weighted_norms - target) * norms


@register_gradient_method("gradnorm")
class GradNorm(GradientMethod):
    """GradNorm's learnt task weights (Chen et al., 2018).

    Args:
        num_tasks: ``T``.
        alpha: the asymmetry ``α >= 0`` (0 pulls every weighted gradient norm to the same
            value). Default 0.12: the paper's synthetic regression tasks, and the
            Meta-World+ authors' MT10 GradNorm run (``rainx0r/mtrl``,
            ``experiments/mt10_gradnorm.py``, ``asymmetry=0.12``); the paper's NYUv2 value
            was not checked.
        lr: learning rate of the weights' Adam optimiser.
        device: where the weights live (that of the losses).
        per_task: how the per-task gradients are computed: ``"auto"`` (the loop on the
            CPU, batched elsewhere), ``"batched"`` or ``"loop"``.

    The losses must be positive at the first step (they define ``L_i(0)``).
    """

    learnt = ("weights", "initial_losses")

    def __init__(
        self,
        num_tasks: int,
        *,
        alpha: float = 0.12,
        lr: float = 0.025,
        device: torch.device | str | None = None,
        per_task: str = "auto",
    ) -> None:
        super().__init__(num_tasks, per_task=per_task)
        self.alpha = check_positive("GradNorm", "alpha", alpha, allow_zero=True)
        self.lr = check_positive("GradNorm", "lr", lr)
        self.weights = torch.ones(self.num_tasks, device=device, requires_grad=True)
        self.initial_losses = torch.full((self.num_tasks,), float("nan"), device=device)
        self.optimizer = torch.optim.Adam([self.weights], lr=self.lr)

    def combine(self, grads: Tensor, losses: Tensor) -> Tensor:
        if torch.isnan(self.initial_losses).any():
            if not bool((losses > 0).all()):
                raise ShapeError(
                    mismatch(
                        "GradNorm.backward",
                        "losses",
                        "be positive at the first step (they are L_i(0), the divisor of "
                        "the training rates)",
                        losses.tolist(),
                    )
                )
            self.initial_losses.copy_(losses)
        weights = self.weights.detach().clone()
        norms = grads.norm(dim=1).to(weights.dtype)
        self.weights.grad = gradnorm_weight_gradient(
            weights, norms, losses.to(weights.dtype), self.initial_losses, self.alpha
        )
        self.optimizer.step()
        with torch.no_grad():
            self.weights.clamp_(min=0)
            total = self.weights.sum()
            if total > 0:
                self.weights.mul_(self.num_tasks / total)
            else:
                self.weights.fill_(1.0)
        return weights
