"""CARE: "Multi-Task Reinforcement Learning with Context-based Representations"
(Sodhani, Zhang, Pineau, ICML 2021).

k encoders read the state; a task context weighs them by attention; the mixed
encoding, concatenated with the context, goes through an MLP trunk:

.. code-block:: text

    c_t   = g(e_t)                                 context encoder, e_t the task's context
    a     = softmax(A(c_t) / temperature)          [b, k] attention over the encoders
    h     = sum_j a_j E_j(s)                       [b, d] mixture of encoders
    y     = trunk(cat(h, c_t))                     [b, o]

The paper's ``e_t`` is a pretrained sentence embedding (RoBERTa) of the task's
metadata; those descriptions and embeddings are not shipped here, so by default
``e_t = relu(embedding[t])``, a learned embedding per task, as the Meta-World+
baselines do. A fixed context per task can be supplied instead (``context``, ``[T, c]``).

Dimension letters: ``b`` batch, ``t`` tasks, ``k`` encoders, ``d`` encoding width,
``o`` output. The settings' sources are in ``docs/architectures/care.md``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.baselines import _bank_stack, _mlp, _sizes, _TaskNetwork
from modnet.errors import ConfigError, mismatch
from modnet.init import authors_bank_init
from modnet.soft_routed_mlp import RoutingTrace
from modnet.softmax import softmax_last
from modnet.task_input import task_one_hot
from modnet.validation import check_positive_int

__all__ = ["CARE"]


class CARE(_TaskNetwork):
    """A mixture of ``k`` state encoders weighed by attention on a task context.

    Args:
        in_features: state width (the encoders read the state only, no one-hot).
        out_features: output width.
        num_tasks: ``T``.
        num_experts: ``k`` encoders (Meta-World+ and the CARE paper: 6 on MT10, 10 on MT50).
        encoder_sizes: hidden widths of every encoder and of the context and attention
            MLPs (mtrl and Meta-World+: ``(50, 50)``).
        embedding_dim: ``d``, the width of each encoder's output, of the learned task
            embedding and of the encoded context ``c_t`` (50).
        hidden_sizes: hidden widths of the trunk on ``cat(h, c_t)`` (``(400, 400, 400)``).
        temperature: softmax temperature of the attention (1.0).
        detach_context: the attention reads ``c_t`` detached, so the context encoder learns
            only through the trunk (mtrl's ``should_detach_task_encoding``); ``False``
            (default, as Meta-World+): through the attention too.
        context: optional fixed task contexts ``[T, c]`` (a tensor or nested sequence of
            floats), e.g. sentence embeddings of task descriptions. Stored as a buffer
            (not trained); replaces the learned embedding, and is read as given (no ReLU).

    Raises:
        ConfigError: a size that is not a positive int, a non-positive or non-finite
            temperature, or a ``context`` that is not ``[T, c]`` finite floats.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        num_experts: int = 6,
        encoder_sizes: Sequence[int] = (50, 50),
        embedding_dim: int = 50,
        hidden_sizes: Sequence[int] = (400, 400, 400),
        temperature: float = 1.0,
        detach_context: bool = False,
        context: Tensor | Sequence[Sequence[float]] | None = None,
    ) -> None:
        super().__init__()
        where = self._set_sizes(in_features, out_features, num_tasks)
        self.num_experts = check_positive_int(where, "num_experts", num_experts)
        self.embedding_dim = check_positive_int(where, "embedding_dim", embedding_dim)
        self.encoder_sizes = _sizes(where, "encoder_sizes", encoder_sizes, allow_empty=True)
        self.hidden_sizes = _sizes(where, "hidden_sizes", hidden_sizes, allow_empty=True)
        if (
            isinstance(temperature, bool)
            or not isinstance(temperature, (int, float))
            or not (0 < temperature < float("inf"))
        ):
            raise ConfigError(
                mismatch(where, "temperature", "be a finite number > 0", repr(temperature))
            )
        self.temperature = float(temperature)
        if not isinstance(detach_context, bool):
            raise ConfigError(mismatch(where, "detach_context", "be a bool", repr(detach_context)))
        self.detach_context = detach_context

        table = self._context_table(where, context)
        if table is None:
            # The learned context: nn.Embedding's N(0, 1) init.
            self.task_embedding: nn.Parameter | None = nn.Parameter(
                torch.randn(num_tasks, embedding_dim)
            )
            self.register_buffer("context", None)
            context_width = embedding_dim
        else:
            self.task_embedding = None
            self.register_buffer("context", table)
            context_width = table.shape[1]
        # Every layer of the context encoder, the last included, has the hidden init.
        self.context_encoder = _mlp(
            context_width, self.encoder_sizes, embedding_dim, small_last=False
        )
        # The attention logits start near zero (U(±3e-3) last layer): near-uniform
        # attention at the start, as the authors' routing in SoftRoutedMLP.
        self.attention = _mlp(embedding_dim, self.encoder_sizes, num_experts)
        self.encoders = _bank_stack(
            (in_features, *self.encoder_sizes, embedding_dim),
            num_experts,
            last_init=authors_bank_init,
            small_last=False,
        )
        self.trunk = _mlp(2 * embedding_dim, self.hidden_sizes, out_features)

    def _context_table(self, where: str, context: object) -> Tensor | None:
        if context is None:
            return None
        try:
            table = torch.as_tensor(context, dtype=torch.get_default_dtype())
        except (TypeError, ValueError, RuntimeError):
            raise ConfigError(
                mismatch(where, "context", "be a [num_tasks, c] array of floats", repr(context))
            ) from None
        if table.dim() != 2 or table.shape[0] != self.num_tasks or table.shape[1] < 1:
            raise ConfigError(
                mismatch(
                    where,
                    "context",
                    f"have shape ({self.num_tasks}, c) with c >= 1",
                    tuple(table.shape),
                )
            )
        if not bool(torch.isfinite(table).all()):
            raise ConfigError(mismatch(where, "context", "hold finite values", "inf or nan"))
        return table.clone()

    def task_context(self, task_onehot: Tensor) -> Tensor:
        """``c_t``: the encoded context of one-hot (or soft) tasks ``[b, t]`` -> ``[b, d]``."""
        if self.task_embedding is None:
            e = task_onehot @ self.context.to(task_onehot.dtype)
        else:
            e = F.relu(task_onehot @ self.task_embedding)
        return self.context_encoder(e)

    def attention_weights(self, task: Tensor) -> Tensor:
        """``task`` ids ``[b]`` or one-hot ``[b, t]`` -> attention ``[b, k]``, rows sum to 1."""
        where = f"{type(self).__name__}.attention_weights"
        batch = task.shape[0] if isinstance(task, Tensor) and task.dim() > 0 else -1
        dtype = self.trunk[0].weight.dtype
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=dtype)
        return self._attend(self.task_context(z))

    def _attend(self, c: Tensor) -> Tensor:
        logits = self.attention(c.detach() if self.detach_context else c)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return softmax_last(logits)

    def forward(
        self, x: Tensor, task: Tensor, return_routing: bool = False
    ) -> Tensor | tuple[Tensor, RoutingTrace]:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, o]``.

        A float ``task`` may be a soft mixture of tasks: it mixes the tasks' embeddings (or
        supplied contexts) linearly, before the context MLP (and the embedding's ReLU).
        With ``return_routing=True`` also returns a :class:`~modnet.RoutingTrace` with
        no layer matrices and ``final_weights`` the attention ``[b, k]``.

        Raises:
            ShapeError: ``x`` or ``task`` of the wrong type, dtype or shape, an id out of
                range, or ``task`` on another device than ``x``.
        """
        where, batch = self._checked("forward", x, task)
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=x.dtype)
        c = self.task_context(z)  # [b, d]
        attention = self._attend(c)  # [b, k]
        h = self.encoders[0](x)  # [b, k, d'] every encoder on the same state
        for bank in self.encoders[1:]:
            h = bank(F.relu(h))
        # "b k, b k d -> b d" as a broadcast product and a sum: h is stored encoder-major
        # ([k, b, d], ModuleBank's layout), where a bmm over b would run b tiny products.
        mixed = (attention.unsqueeze(-1) * h).sum(dim=1)
        y = self.trunk(torch.cat([mixed, c], dim=-1))
        if return_routing:
            return y, RoutingTrace((), attention, x.new_zeros(()))
        return y
