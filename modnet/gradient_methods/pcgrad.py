"""PCGrad (Yu et al., "Gradient Surgery for Multi-Task Learning", NeurIPS 2020).

Each task gradient ``g_i`` is projected, one task ``j`` at a time in a random order,
onto the normal plane of every ``g_j`` it conflicts with (``g_i · g_j < 0``):
``g_i ← g_i − (g_i · g_j / ‖g_j‖²) g_j`` (the paper's Algorithm 1, against the original
``g_j``); the update is the sum of the projected gradients.

Every projected ``g_i`` stays a combination ``Σ_k C[i, k] g_k`` of the original
gradients, and every dot product it needs is a row of ``C @ (G Gᵀ)``. So the surgery
runs on ``T × T`` matrices (the Gram matrix and ``C``), one step per position in the
random order, vectorised over ``i``; the direction is then one product ``(1ᵀ C) @ G``.
"""

from __future__ import annotations

import torch
from torch import Tensor

from modnet.gradient_methods.base import GradientMethod, register_gradient_method

__all__ = ["PCGrad", "pcgrad_coefficients"]


def pcgrad_coefficients(gram: Tensor, order: Tensor) -> Tensor:
    """The coefficients ``[T]`` of ``G``'s rows in PCGrad's summed direction.

    ``gram`` ``[T, T]``: ``G Gᵀ``; ``order`` int64 ``[T, T]``: row ``i`` is the order in
    which task ``i`` is checked against the tasks (its own index is skipped).
    Returns ``1ᵀ C`` where row ``i`` of ``C [T, T]`` writes the projected ``g_i``.
    """
    num_tasks = gram.shape[0]
    coefficients = torch.eye(num_tasks, dtype=gram.dtype, device=gram.device)
    rows = torch.arange(num_tasks, device=gram.device)
    squared_norms = gram.diagonal()
    for step in range(num_tasks):  # sequential by definition; each step is vectorised over i
        other = order[:, step]  # [T]
        dots = (coefficients * gram[:, other].T).sum(dim=1)  # g_i^PC · g_other(i)
        norms = squared_norms[other]
        conflict = (dots < 0) & (other != rows) & (norms > 0)
        step_size = torch.where(conflict, dots / norms.clamp_min(torch.finfo(gram.dtype).tiny), 0)
        coefficients[rows, other] -= step_size
    return coefficients.sum(dim=0)


@register_gradient_method("pcgrad")
class PCGrad(GradientMethod):
    """PCGrad: project away the conflicting components, then sum (Yu et al., 2020).

    Args:
        num_tasks: ``T``.
        seed: seed of the method's own generator for the random orders (its state is
            in ``state_dict``, so a resumed run draws the same orders).
        per_task: how the per-task gradients are computed: ``"auto"`` (the loop on the
            CPU, batched elsewhere), ``"batched"`` or ``"loop"``.

    With no conflicting pair the direction is ``Σ_i g_i``, the gradient of the summed
    losses (the paper sums the projected gradients).
    """

    def __init__(self, num_tasks: int, *, seed: int = 0, per_task: str = "auto") -> None:
        super().__init__(num_tasks, per_task=per_task)
        self.generator = torch.Generator().manual_seed(int(seed))

    def random_order(self) -> Tensor:
        """``[T, T]``: an independent random permutation of the tasks per row (CPU)."""
        noise = torch.rand(self.num_tasks, self.num_tasks, generator=self.generator)
        return noise.argsort(dim=1)

    def combine(self, grads: Tensor, losses: Tensor) -> Tensor:
        gram = grads @ grads.T
        return pcgrad_coefficients(gram, self.random_order().to(grads.device))

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def _load(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
