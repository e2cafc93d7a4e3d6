"""RoutedLinear: a linear layer whose weights are a routed mixture of a module bank.

``out[b] = sum_j weights[b, j] * (x[b] @ W_j + c_j)``, with ``weights`` given by a
routing strategy applied to the logits of a small router ``Linear(context -> n)``.

Under top-k routing only the ``k`` selected modules of each sample contribute, so the
layer can compute just those ("sparse dispatch"): the samples are sorted by module,
packed into one padded ``[n, capacity, in]`` batch (capacity = the largest number of
samples any module received, so nothing is ever dropped) and sent through one batched
matrix product. Each sample's output depends on that sample alone.

Dimension letters: ``b`` batch, ``n`` modules, ``k`` selected modules, ``i`` input
features, ``o`` output features, ``c`` context features, ``s`` = ``b * k`` slots.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import Tensor, nn

from modnet.config import RoutedLinearConfig
from modnet.errors import ConfigError, ShapeError, mismatch
from modnet.module_bank import ModuleBank
from modnet.routing import Routing, RoutingStrategy, TopK, make_routing, selected_indices
from modnet.validation import check_batch_features, check_positive_int, check_positive_ints

__all__ = ["Dispatch", "RoutedLinear"]

Dispatch = Literal["auto", "dense", "sparse"]
_DISPATCH = ("auto", "dense", "sparse")

#: ``dispatch="auto"`` computes only the selected modules when the padded sparse batch
#: holds at most this fraction of the rows the dense path computes (``n * b``); above it
#: the gather/scatter overhead eats the saving (measured in benchmarks/bench_module_bank.py).
SPARSE_MAX_FRACTION = 0.6


class RoutedLinear(nn.Module):
    """A routed mixture of ``num_modules`` linear modules.

    Args:
        in_features: input width ``i``.
        out_features: output width ``o``.
        num_modules: number of modules ``n`` in the bank.
        routing: the strategy: ``"soft"``, ``"hard"``, ``"topk"`` (needs ``k``, so pass
            ``TopK(...)`` or a ``TopKConfig``), a :class:`~modnet.routing.RoutingStrategy`,
            or a routing config; see :func:`~modnet.routing.make_routing`.
        context_features: width ``c`` of the router's input; ``None``: the router reads
            ``x`` (``c = i``).
        bias: whether the modules have biases (the router always has one).
        dispatch: ``"dense"`` computes every module and mixes; ``"sparse"`` computes only
            the selected modules (top-k routing only); ``"auto"`` (default) picks sparse
            under top-k when the padded batch is small enough (see
            :data:`SPARSE_MAX_FRACTION`), dense otherwise. All give the same result and
            the same gradients up to float rounding. Under ``torch.compile`` ``"auto"`` is
            dense and ``"sparse"`` pads every module to the batch size, so the graph's
            shapes do not depend on the routing (``fullgraph=True`` traces both).

    Attributes:
        bank: the :class:`~modnet.module_bank.ModuleBank` (``weight [n, i, o]``).
        router: ``nn.Linear(c, n)`` producing the routing logits.
        routing: the routing strategy module.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_modules: int,
        *,
        routing: Any = "soft",
        context_features: int | None = None,
        bias: bool = True,
        dispatch: Dispatch = "auto",
    ) -> None:
        super().__init__()
        where = "RoutedLinear"
        self.in_features, self.out_features, self.num_modules = check_positive_ints(
            where, in_features=in_features, out_features=out_features, num_modules=num_modules
        )
        if context_features is not None:
            check_positive_int(where, "context_features", context_features)
        self.context_features = context_features
        if dispatch not in _DISPATCH:
            raise ConfigError(mismatch(where, "dispatch", f"be one of {list(_DISPATCH)}", dispatch))
        self.routing: RoutingStrategy = make_routing(routing)
        if dispatch == "sparse" and not isinstance(self.routing, TopK):
            raise ConfigError(
                mismatch(
                    where,
                    "dispatch",
                    "be 'dense' or 'auto' unless routing is TopK (only top-k routing leaves "
                    "modules with exactly zero weight and zero gradient to skip)",
                    f"dispatch='sparse' with {type(self.routing).__name__}",
                )
            )
        if isinstance(self.routing, TopK) and self.routing.k > num_modules:
            raise ConfigError(
                mismatch(
                    where,
                    "routing",
                    f"select k <= num_modules={num_modules}",
                    f"k={self.routing.k}",
                )
            )
        self.dispatch = dispatch
        self.bank = ModuleBank(in_features, out_features, num_modules, bias=bias)
        self.router = nn.Linear(context_features or in_features, num_modules)

    @classmethod
    def from_config(cls, config: RoutedLinearConfig) -> RoutedLinear:
        """Build from a :class:`~modnet.config.RoutedLinearConfig`."""
        return cls(
            config.in_features,
            config.out_features,
            config.num_modules,
            routing=config.routing,
            context_features=config.context_features,
            bias=config.bias,
            dispatch=config.dispatch,
        )

    def forward(
        self, x: Tensor, context: Tensor | None = None, *, return_routing: bool = False
    ) -> Tensor | tuple[Tensor, Routing]:
        """Route every sample through its mixture of modules.

        Args:
            x: ``[b, i]`` input.
            context: ``[b, c]`` router input; ``None``: the router reads ``x``.
            return_routing: also return the :class:`~modnet.routing.Routing`
                (``weights``/``mask``/``logits`` ``[b, n]``, scalar ``aux_loss``).

        Returns:
            ``[b, o]``: ``out[b] = sum_j weights[b, j] * module_j(x[b])``; or
            ``(out, routing)`` with ``return_routing=True``.
        """
        where = "RoutedLinear.forward"
        check_batch_features(where, x, self.in_features, self.router.weight.dtype)
        if context is None:
            router_input = x
        else:
            c = self.context_features or self.in_features
            if isinstance(context, Tensor) and context.device != x.device:
                raise ShapeError(
                    mismatch(
                        where, "context", f"be on the device of x ({x.device})", context.device
                    )
                )
            check_batch_features(where, context, c, self.router.weight.dtype, name="context")
            if context.shape[0] != x.shape[0]:
                raise ShapeError(
                    mismatch(
                        where,
                        "context",
                        f"have the batch size of x ({x.shape[0]})",
                        f"batch size {context.shape[0]}",
                    )
                )
            router_input = context
        routing = self.routing(self.router(router_input))
        weights = routing.weights.to(x.dtype)
        out = None
        compiling = torch.compiler.is_compiling()
        # Under torch.compile "auto" is dense: its choice reads the routing's values (a
        # data-dependent branch that fullgraph=True cannot trace), and dense gives the same
        # numbers.
        if isinstance(self.routing, TopK) and (
            self.dispatch == "sparse" or (self.dispatch == "auto" and not compiling)
        ):
            out = self._sparse(
                x, weights, routing.mask, force=self.dispatch == "sparse", static=compiling
            )
        if out is None:
            # Dense: one GEMM for all modules ([b, i] @ [i, n*o]), then a per-sample
            # weighted sum over modules; unselected top-k modules have weight exactly 0,
            # hence exactly zero gradient here too.
            out = torch.einsum("bn,bno->bo", weights, self.bank(x))
        return (out, routing) if return_routing else out

    def _sparse(
        self, x: Tensor, weights: Tensor, mask: Tensor, *, force: bool, static: bool = False
    ) -> Tensor | None:
        """Compute only the selected modules; ``None`` when dense would be cheaper.

        ``x [b, i]``, ``weights``/``mask`` ``[b, n]`` with exactly ``k`` selected per row.
        ``static`` (under ``torch.compile``): the capacity is ``b``, the most any module can
        receive, so the shapes do not depend on the routing (same result, more padding).
        """
        b = x.shape[0]
        n, k = self.num_modules, self.routing.k  # type: ignore[union-attr]
        if b == 0:
            return None
        index = selected_indices(mask, k)  # [b, k]
        module = index.reshape(-1)  # [s] module of each slot; slot = sample * k + j
        counts = torch.bincount(module, minlength=n)  # [n]
        # No dropping: the fullest module sets the size (each module gets a sample once).
        capacity = b if static else int(counts.max())
        # Dense computes b rows of all n modules, sparse n * capacity rows of one module.
        if not force and capacity > SPARSE_MAX_FRACTION * b:
            return None
        # A slot's row in the padded [n, capacity] batch is
        # module * capacity + (its rank among the slots of that module).
        order = torch.argsort(module, stable=True)  # [s] slots sorted by module
        sorted_module = module[order]
        starts = torch.cumsum(counts, 0) - counts  # [n] first sorted slot of each module
        sorted_row = sorted_module * capacity + (
            torch.arange(module.numel(), device=x.device) - starts[sorted_module]
        )
        row = torch.empty_like(sorted_row).index_copy_(0, order, sorted_row)  # [s]
        # The sample each padded row reads. Padding rows read sample 0: their outputs are
        # never picked, so their gradient is exactly 0 and they add exactly 0 to every
        # parameter's gradient (as the zero weights of unselected modules do in dense).
        source = torch.zeros(n * capacity, dtype=torch.long, device=x.device).index_copy_(
            0, row, torch.arange(module.numel(), device=x.device).div_(k, rounding_mode="floor")
        )
        # Module-major [n, capacity, i] storage, the bank's fast layout, seen as
        # [capacity, n, i]; one batched GEMM computes every selected (module, sample).
        packed = x.index_select(0, source).view(n, capacity, self.in_features)
        y = self.bank(packed.transpose(0, 1)).transpose(0, 1)  # [n, capacity, o], contiguous
        picked = y.reshape(n * capacity, self.out_features).index_select(0, row)  # [s, o]
        selected = weights.gather(1, index)  # [b, k]
        if k == 1:
            return picked * selected
        return torch.einsum("bk,bko->bo", selected, picked.view(b, k, self.out_features))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_modules={self.num_modules}, context_features={self.context_features}, "
            f"dispatch={self.dispatch!r}"
        )
