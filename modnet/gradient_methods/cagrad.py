"""CAGrad (Liu, Liu, Jin, Stone, Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021).

The update ``d`` maximises the worst task's rate of improvement within a ball around
the average gradient ``g0 = mean_i g_i``:

    max_d  min_i g_iᵀ d   subject to   ‖d − g0‖ ≤ c ‖g0‖.

Its dual is a problem over the ``T``-simplex (the paper's eq. 4), with
``g_w = Σ_i w_i g_i`` and ``φ = c² ‖g0‖²``:

    min_{w ∈ Δ}  g_wᵀ g0 + √φ ‖g_w‖,      then   d = g0 + (√φ / ‖g_w‖) g_w.

Everything in it is a quadratic form of the Gram matrix ``G Gᵀ`` ``[T, T]``, so it is
solved in torch on ``T × T`` tensors (accelerated projected gradient on the simplex,
float64, the best iterate kept), and ``d`` is one product ``coefficients @ G``.
``c = 0`` gives the average gradient. ``rescale=True`` divides ``d`` by ``1 + c²``, as
the authors' code does by default (so the step size stays comparable across ``c``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from modnet.gradient_methods.base import (
    GradientMethod,
    check_positive,
    register_gradient_method,
)
from modnet.validation import check_positive_int

__all__ = ["CAGrad", "cagrad_coefficients", "project_to_simplex"]


def project_to_simplex(v: Tensor) -> Tensor:
    """The Euclidean projection of ``v [T]`` onto the simplex (sort-based, Duchi et al. 2008)."""
    sorted_v = v.sort(descending=True).values
    cumulative = sorted_v.cumsum(0) - 1
    index = torch.arange(1, v.shape[0] + 1, dtype=v.dtype, device=v.device)
    # The condition holds on a prefix of the sorted entries: its length is the support.
    support = ((sorted_v - cumulative / index) > 0).sum().clamp_min(1)
    theta = cumulative[support - 1] / support.to(v.dtype)
    return (v - theta).clamp_min(0)


def cagrad_dual_objective(w: Tensor, gram: Tensor, c: float) -> Tensor:
    """``g_wᵀ g0 + c ‖g0‖ ‖g_w‖`` from the Gram matrix (``w`` ``[T]`` on the simplex)."""
    num_tasks = gram.shape[0]
    g0_norm = gram.sum().clamp_min(0).sqrt() / num_tasks
    return w @ gram.mean(dim=1) + c * g0_norm * (w @ gram @ w).clamp_min(0).sqrt()


def cagrad_coefficients(gram: Tensor, c: float, *, iterations: int = 100) -> Tensor:
    """Coefficients ``[T]`` of the rows of ``G`` in CAGrad's direction (before rescaling).

    ``gram`` ``[T, T]``: ``G Gᵀ``. Returns ``1/T + λ w`` with ``w`` the dual solution and
    ``λ = c ‖g0‖ / ‖g_w‖``; ``1/T`` everywhere when ``c = 0`` or ``g0 = 0``.
    """
    num_tasks = gram.shape[0]
    gram = gram.double()
    average = torch.full((num_tasks,), 1.0 / num_tasks, dtype=gram.dtype, device=gram.device)
    scale = gram.diagonal().mean()
    if c == 0 or not scale > 0:
        return average
    gram = gram / scale  # the solution is invariant to the scale of G
    g0_norm = gram.sum().clamp_min(0).sqrt() / num_tasks
    if not g0_norm > 0:
        return average
    b = gram.mean(dim=1)  # G g0
    radius = c * g0_norm
    # Step 1/L for the smooth part; the norm term is handled by keeping the best iterate.
    step = 1.0 / (torch.linalg.matrix_norm(gram, ord=2) * (1 + c) + 1e-12)
    w = average.clone()
    previous = w.clone()
    best, best_value = w.clone(), cagrad_dual_objective(w, gram, c)
    for k in range(1, iterations + 1):  # over iterations, not tasks
        y = w + (k - 1) / (k + 2) * (w - previous)
        gw_norm = (y @ gram @ y).clamp_min(1e-20).sqrt()
        gradient = b + radius * (gram @ y) / gw_norm
        previous, w = w, project_to_simplex(y - step * gradient)
        value = cagrad_dual_objective(w, gram, c)
        better = value < best_value  # no host synchronisation inside the loop
        best = torch.where(better, w, best)
        best_value = torch.minimum(value, best_value)
    gw_norm = (best @ gram @ best).clamp_min(0).sqrt()
    if not gw_norm > 1e-12:
        return average
    return average + (radius / gw_norm) * best


@register_gradient_method("cagrad")
class CAGrad(GradientMethod):
    """CAGrad's conflict-averse direction (Liu et al., 2021).

    Args:
        num_tasks: ``T``.
        c: the radius of the ball around ``g0``, relative to ``‖g0‖`` (``c >= 0``; 0 gives
            the average gradient).
        rescale: divide the direction by ``1 + c²`` (the authors' default).
        iterations: iterations of the dual solver.
        per_task: how the per-task gradients are computed: ``"auto"`` (the loop on the
            CPU, batched elsewhere), ``"batched"`` or ``"loop"``.
    """

    def __init__(
        self,
        num_tasks: int,
        *,
        c: float = 0.5,
        rescale: bool = True,
        iterations: int = 100,
        per_task: str = "auto",
    ) -> None:
        super().__init__(num_tasks, per_task=per_task)
        self.c = check_positive("CAGrad", "c", c, allow_zero=True)
        self.rescale = bool(rescale)
        self.iterations = check_positive_int("CAGrad", "iterations", iterations)

    def combine(self, grads: Tensor, losses: Tensor) -> Tensor:
        coefficients = cagrad_coefficients(grads @ grads.T, self.c, iterations=self.iterations)
        if self.rescale:
            coefficients = coefficients / (1 + self.c**2)
        return coefficients.to(grads.dtype)
