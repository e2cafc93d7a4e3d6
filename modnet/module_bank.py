"""ModuleBank: n independent linear modules held as one stacked parameter.

The n modules of a soft-modular layer are computed in one batched matrix
product instead of a Python loop over ``nn.Linear`` layers. Dimension letters:
``b`` batch, ``n`` modules, ``i`` input features, ``o`` output features.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from modnet.config import ModuleBankConfig
from modnet.errors import ConfigError, ShapeError, mismatch
from modnet.validation import check_batch_features, check_positive_ints

__all__ = ["BankInit", "ModuleBank"]

#: A custom initialiser: called under ``torch.no_grad()`` with the stacked
#: ``weight`` ``[n, in, out]`` and ``bias`` ``[n, out]`` (``None`` without bias);
#: it fills them in place.
BankInit = Callable[[Tensor, "Tensor | None"], None]


class ModuleBank(nn.Module):
    """``num_modules`` independent linear modules ``in_features -> out_features``.

    Module ``j`` computes ``x @ weight[j] + bias[j]``. The weights are stored
    transposed with respect to ``nn.Linear`` (``[n, in, out]`` rather than
    ``[out, in]`` per module) so the batched product needs no transpose.

    Initialisation matches ``num_modules`` separate ``nn.Linear`` layers in
    distribution: ``nn.Linear`` draws its weight with
    ``kaiming_uniform_(a=sqrt(5))`` and its bias uniformly, both of which reduce
    to ``U(-1/sqrt(in), 1/sqrt(in))`` with each member's own fan-in. Pass
    ``init`` (here or to :meth:`reset_parameters`) for another scheme.

    Args:
        in_features: input width ``i`` of every module.
        out_features: output width ``o`` of every module.
        num_modules: number of modules ``n``.
        bias: whether each module has a bias.
        init: optional :data:`BankInit` applied instead of the default.
        device, dtype: as for ``nn.Linear``.
    """

    weight: Tensor
    bias: Tensor | None

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_modules: int,
        *,
        bias: bool = True,
        init: BankInit | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        where = "ModuleBank"
        self.in_features, self.out_features, self.num_modules = check_positive_ints(
            where, in_features=in_features, out_features=out_features, num_modules=num_modules
        )
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty(num_modules, in_features, out_features, **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(num_modules, out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters(init)

    @classmethod
    def from_config(cls, config: ModuleBankConfig, *, init: BankInit | None = None) -> ModuleBank:
        """Build from a :class:`~modnet.config.ModuleBankConfig`."""
        return cls(
            config.in_features,
            config.out_features,
            config.num_modules,
            bias=config.bias,
            init=init,
        )

    def reset_parameters(self, init: BankInit | None = None) -> None:
        """Re-initialise in place.

        Without ``init``: every weight and bias entry ``~ U(-1/sqrt(in), 1/sqrt(in))``,
        the distribution of a fresh ``nn.Linear(in, out)``. With ``init``:
        ``init(weight [n, in, out], bias [n, out] | None)`` under ``no_grad``.
        The authors' scheme (weights ``U(±1/sqrt(out))``, i.e. size[0] of a
        torch Linear weight, biases 0.1) is :func:`modnet.init.authors_bank_init`;
        any callable of that form works, e.g.::

            def authors_init(weight, bias):
                bound = 1 / math.sqrt(weight.shape[-1])
                weight.uniform_(-bound, bound)
                if bias is not None:
                    bias.fill_(0.1)
        """
        with torch.no_grad():
            if init is not None:
                init(self.weight, self.bias)
                return
            # kaiming_uniform_(a=sqrt(5)) on a [out, in] weight has bound
            # gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + 5)): = 1 / sqrt(fan_in).
            bound = 1.0 / math.sqrt(self.in_features)
            self.weight.uniform_(-bound, bound)
            if self.bias is not None:
                self.bias.uniform_(-bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """Apply every module.

        Args:
            x: ``[b, i]`` (one input shared by all modules) or ``[b, n, i]``
                (module ``j`` reads ``x[:, j]``).

        Returns:
            ``[b, n, o]``: ``out[:, j] = x_j @ weight[j] + bias[j]``.

        Raises:
            ShapeError: ``x`` not a tensor, not floating point, not of the weight's dtype
                (outside autocast), or of another shape than the two above.
        """
        where = "ModuleBank.forward"
        n, i, o = self.num_modules, self.in_features, self.out_features
        if not isinstance(x, Tensor) or x.dim() == 2:
            # Refuses a non-tensor, an integer or other-dtype x by name, where the product
            # below would fail with torch's "mat1 and mat2 must have the same dtype".
            check_batch_features(where, x, i, self.weight.dtype)
            if not torch.is_grad_enabled():
                # Acting (no graph, typically a small batch): a batched product on the
                # broadcast input reads the weight in place, where the wide GEMM below
                # would first copy it (n*i*o floats, comparable to the product itself).
                xe = x.unsqueeze(0).expand(n, *x.shape)
                if self.bias is None:
                    return torch.bmm(xe, self.weight).transpose(0, 1)
                return torch.baddbmm(self.bias.unsqueeze(1), xe, self.weight).transpose(0, 1)
            # Training: one GEMM [b, i] @ [i, n*o]; all modules share the input, so they
            # are one wide Linear whose backward is two plain GEMMs. The permute copies
            # only the weight, small next to a training batch.
            w = self.weight.permute(1, 0, 2).reshape(i, n * o)
            if self.bias is None:
                out = x @ w
            else:
                out = torch.addmm(self.bias.reshape(n * o), x, w)
            return out.view(x.shape[0], n, o)
        if x.dim() == 3:
            if x.shape[1] != n or x.shape[2] != i:
                raise ShapeError(
                    mismatch(where, "x", f"have shape (batch, {n}, {i})", tuple(x.shape))
                )
            if x.dtype != self.weight.dtype:
                # The same worded dtype checks as above, on one module's [b, i] slice; only
                # when the dtypes differ, since slicing costs ~5 us a call (per layer, per
                # step) and a float x of the weight's dtype passes them anyway.
                check_batch_features(where, x.select(1, 0), i, self.weight.dtype)
            # Batched GEMM over modules: [n, b, i] @ [n, i, o] -> [n, b, o]. When x is
            # module-major in memory (x.transpose(0, 1) contiguous, the layout this
            # method returns) every module's matrix is contiguous and MKL runs one
            # batched GEMM; a batch-major x goes through ATen's per-module strided GEMMs
            # (no copy). The result is returned as a [b, n, o] view of [n, b, o] storage.
            return batched_modules(x.transpose(0, 1), self.weight, self.bias).transpose(0, 1)
        raise ShapeError(
            mismatch(
                where,
                "x",
                f"have 2 dims (batch, {i}) or 3 dims (batch, {n}, {i})",
                f"{x.dim()} dims with shape {tuple(x.shape)}",
            )
        )

    @classmethod
    def from_linears(cls, linears: Sequence[nn.Linear]) -> ModuleBank:
        """Stack ``nn.Linear`` layers of equal shape into one bank (an exact copy).

        All layers must share in/out widths, bias presence, dtype and device.
        """
        where = "ModuleBank.from_linears"
        linears = list(linears)
        if not linears:
            raise ConfigError(mismatch(where, "linears", "be a non-empty sequence", "[]"))
        for idx, lin in enumerate(linears):
            if not isinstance(lin, nn.Linear):
                raise ConfigError(
                    mismatch(where, f"linears[{idx}]", "be an nn.Linear", type(lin).__name__)
                )
        first = linears[0]
        has_bias = first.bias is not None
        for idx, lin in enumerate(linears):
            if (lin.in_features, lin.out_features) != (first.in_features, first.out_features):
                raise ConfigError(
                    mismatch(
                        where,
                        f"linears[{idx}]",
                        f"have in/out features ({first.in_features}, {first.out_features}) "
                        "like linears[0]",
                        (lin.in_features, lin.out_features),
                    )
                )
            if (lin.bias is not None) != has_bias:
                raise ConfigError(
                    mismatch(
                        where,
                        f"linears[{idx}]",
                        f"{'have' if has_bias else 'not have'} a bias like linears[0]",
                        "the opposite",
                    )
                )
        bank = cls(
            first.in_features,
            first.out_features,
            len(linears),
            bias=has_bias,
            device=first.weight.device,
            dtype=first.weight.dtype,
        )
        with torch.no_grad():
            bank.weight.copy_(torch.stack([lin.weight.t() for lin in linears]))
            if bank.bias is not None:
                bank.bias.copy_(torch.stack([lin.bias for lin in linears]))  # type: ignore[misc]
        return bank

    def to_linears(self) -> list[nn.Linear]:
        """Return ``num_modules`` independent ``nn.Linear`` copies (no shared storage)."""
        out = []
        for j in range(self.num_modules):
            lin = nn.Linear(
                self.in_features,
                self.out_features,
                bias=self.bias is not None,
                device=self.weight.device,
                dtype=self.weight.dtype,
            )
            with torch.no_grad():
                lin.weight.copy_(self.weight[j].t())
                if self.bias is not None:
                    lin.bias.copy_(self.bias[j])
            out.append(lin)
        return out

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_modules={self.num_modules}, bias={self.bias is not None}"
        )


def batched_modules(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """Module ``j`` on ``x[j]``: ``[n, b, i] @ [n, i, o] (+ bias [n, o]) -> [n, b, o]``.

    No shape checks: callers have checked or fixed the shapes. ``x`` may be a
    module-major view of batch-major storage (``[b, n, i]`` transposed); ``bmm``
    reads it in place.
    """
    if bias is None:
        return torch.bmm(x, weight)
    if weight.shape[2] >= 64 and x.shape[1] >= 64:
        # Broadcasting the bias into baddbmm's output is a slow strided copy for wide
        # outputs (~3x an in-place add at o=400; 0.9 ms per [4, 1280, 128] output in
        # a Deep SoftRoutedMLP step's profile); for narrow ones (o=16) it is the faster
        # of the two, and for a few rows (acting, b=10) the separate add is one more
        # call (+1.3% on a Deep acting step). Measured on CPU, torch 2.13.
        return torch.bmm(x, weight).add_(bias.unsqueeze(1))
    return torch.baddbmm(bias.unsqueeze(1), x, weight)
