"""MOORE: a mixture of orthogonal experts (Hendawy et al., ICLR 2024).

"Multi-Task Reinforcement Learning with Mixture of Orthogonal Experts": ``k`` expert MLPs
read the state; for every sample their ``k`` representations are made orthonormal by
Gram-Schmidt; a task-conditioned weight vector mixes them; ``tanh``; then the task's own
output head (the multi-head variant the paper uses on Meta-World) or one shared head.

Dimension letters: ``b`` batch, ``t`` tasks, ``k`` experts, ``d`` representation width,
``o`` output features.

Settings and initialisation follow the authors' Meta-World SAC code
(``AhmedMagdyHendawy/MOORE``, ``moore/utils/networks_sac.py``,
``run/metaworld/run_metaworld_mt{10,50}_mhsac_mt_moore.sh``): experts
``[400, 400, 400]`` with ReLU between layers and a linear last layer
(``--activation Linear``), no activation before the mix and ``tanh`` after it
(``--agg_activation Linear Tanh``), a bias-free task encoder ``Linear(T, k)``, one
``Linear(400, out)`` head per task (``n_head_features`` empty). The paper uses
``k = 4`` on MT10 and ``k = 6`` on MT50. See docs/architectures/moore.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.baselines import _bank_stack, _TaskNetwork
from modnet.config import MOOREConfig
from modnet.module_bank import ModuleBank
from modnet.soft_routed_mlp import RoutingTrace
from modnet.task_input import task_one_hot

__all__ = ["MOORE", "gram_schmidt"]


def gram_schmidt(x: Tensor) -> Tensor:
    """Orthonormalise the ``k`` rows of every ``[k, d]`` matrix, in order (Gram-Schmidt).

    Row ``j`` of the result is row ``j`` of ``x`` minus its projections on the rows
    before it, normalised to unit length: the paper's Gram-Schmidt process (the authors'
    ``OrthogonalLayer1D``). Computed for the whole batch at once as a reduced QR
    factorisation of ``xᵀ`` (Householder, so more stable in floating point than the
    sequential loop), with each column's sign chosen so that ``R``'s diagonal is
    positive: the unique factorisation with that property is Gram-Schmidt's, so the
    values agree with the loop to rounding and the gradients are those of the same
    function (``torch.linalg.qr``'s backward, defined for full-rank inputs with
    ``d >= k``). A row that depends linearly on the rows before it (a zero diagonal
    entry) comes out as zeros, where the authors' loop divides by zero.

    Args:
        x: ``[..., k, d]`` with ``d >= k``.

    Returns:
        ``[..., k, d]``, orthonormal rows (``out @ outᵀ = I`` for full-rank input).
    """
    compute = x.float() if x.dtype in (torch.float16, torch.bfloat16) else x
    q, r = torch.linalg.qr(compute.transpose(-2, -1))  # [..., d, k], [..., k, k]
    sign = torch.sign(torch.diagonal(r, dim1=-2, dim2=-1))  # [..., k]
    return (q * sign.unsqueeze(-2)).transpose(-2, -1).to(x.dtype)


def _xavier_bank_init(weight: Tensor, bias: Tensor | None) -> None:
    # The authors' heads: nn.init.xavier_uniform_ (gain 1) on each Linear(d, o) weight;
    # the bias keeps torch's default U(±1/sqrt(d)).
    d, o = weight.shape[-2], weight.shape[-1]
    bound = math.sqrt(6.0 / (d + o))
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.uniform_(-1.0 / math.sqrt(d), 1.0 / math.sqrt(d))


class MOORE(_TaskNetwork):
    """A mixture of orthogonal experts with task-conditioned mixing (Hendawy et al., 2024).

    ``u = GramSchmidt(expert_1(x), …, expert_k(x))`` per sample (``[b, k, d]``,
    orthonormal rows); ``w = W_z z`` (``[b, k]``, bias-free, unnormalised: the authors
    apply no softmax); ``h = tanh(Σ_j w_j u_j)`` (``[b, d]``); ``y = head_τ(h)``. All ``k``
    experts run as :class:`~modnet.module_bank.ModuleBank` layers (one product per
    layer), the Gram-Schmidt step as one batched QR (:func:`gram_schmidt`), and all ``T``
    heads as one product whose rows are combined by the one-hot ``z``
    (``"b t, b t o -> b o"``): no loop over experts, tasks or samples.

    Initialisation as the authors' code leaves it: experts with torch's ``nn.Linear``
    default (their ``ParallelLayer`` calls ``reset_parameters`` on each copy, replacing
    the Xavier draw made before), the task encoder and the heads' weights Xavier-uniform
    (gain 1), the heads' biases torch's default.

    Args:
        in_features: state width (without the one-hot); a critic's is ``state + action``.
        out_features: output width of each head.
        num_tasks: ``T``.
        num_experts: ``k`` (the paper: 4 on MT10, 6 on MT50).
        hidden_sizes: the widths of every expert's layers; ReLU between them, none after
            the last, whose width ``d`` is the representation's (must be ``>= k``).
        multi_head: one output head per task (the paper's Meta-World variant) or one
            shared head.

    Raises:
        ConfigError: a setting out of range, named (e.g. ``hidden_sizes[-1] < k``).
    """

    config: MOOREConfig
    num_experts: int
    hidden_sizes: tuple[int, ...]
    multi_head: bool

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        num_experts: int = 4,
        hidden_sizes: Sequence[int] = (400, 400, 400),
        multi_head: bool = True,
    ) -> None:
        super().__init__()
        where = self._set_sizes(in_features, out_features, num_tasks)
        self._configure(
            MOOREConfig,
            where,
            num_experts=num_experts,
            hidden_sizes=hidden_sizes,
            multi_head=multi_head,
        )
        # torch's nn.Linear default on every expert layer (see the class docstring).
        self.experts = _bank_stack(
            (in_features, *self.hidden_sizes), self.num_experts, init=None, small_last=False
        )
        self.task_encoder = nn.Linear(num_tasks, self.num_experts, bias=False)
        nn.init.xavier_uniform_(self.task_encoder.weight)
        self.heads = ModuleBank(
            self.hidden_sizes[-1],
            out_features,
            num_tasks if self.multi_head else 1,
            init=_xavier_bank_init,
        )

    def mixing_weights(self, task: Tensor) -> Tensor:
        """The task encoder's weights ``w = W_z z``: ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, k]``.

        Signed and unnormalised: the coefficients of the orthonormal basis.
        """
        where = f"{type(self).__name__}.mixing_weights"
        batch = task.shape[0] if isinstance(task, Tensor) and task.dim() > 0 else -1
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=self.task_encoder.weight.dtype)
        return F.linear(z, self.task_encoder.weight)

    def expert_basis(self, x: Tensor) -> Tensor:
        """The orthonormalised expert representations: ``x`` ``[b, in]`` -> ``[b, k, d]``."""
        h = self.experts[0](x)  # [b, k, d1]: every expert reads the same x
        for bank in self.experts[1:]:
            h = bank(F.relu(h))  # expert j reads row j
        return gram_schmidt(h)

    def forward(
        self, x: Tensor, task: Tensor, return_routing: bool = False
    ) -> Tensor | tuple[Tensor, RoutingTrace]:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, o]``.

        A float ``task`` may be a soft mixture of tasks: the heads' outputs are then
        mixed by it, as the task encoder mixes its columns.

        With ``return_routing=True`` also returns a :class:`~modnet.RoutingTrace` with no
        layer matrices and ``final_weights`` ``[b, k]`` = ``w_j² / Σ_i w_i²``: the share of
        expert ``j``'s direction in the squared norm of the mixed representation (exact,
        since the directions are orthonormal), a distribution over the experts that the
        routing figures and diagnostics can read. The signed weights themselves are
        :meth:`mixing_weights`.

        Raises:
            ShapeError: ``x`` not ``[b, in_features]`` floating point of the network's
                dtype, or ``task`` of the wrong shape, dtype, range or device.
        """
        where, batch = self._checked("forward", x, task)
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=x.dtype)
        w = F.linear(z, self.task_encoder.weight)  # [b, k]
        u = self.expert_basis(x)  # [b, k, d]
        h = torch.tanh(torch.bmm(w.unsqueeze(1), u).squeeze(1))  # "b k, b k d -> b d"
        heads = self.heads(h)  # [b, t, o] (or [b, 1, o] with one head)
        if self.multi_head:
            y = torch.bmm(z.unsqueeze(1), heads).squeeze(1)  # "b t, b t o -> b o"
        else:
            y = heads.squeeze(1)
        if not return_routing:
            return y
        energy = w.square()
        shares = energy / energy.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(w.dtype).tiny)
        return y, RoutingTrace((), shares, w.new_zeros(()))
