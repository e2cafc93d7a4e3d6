"""``softmax_last``: softmax over the last axis, fast on the CPU for short rows.

Routing normalises over ``n`` modules, and ``n`` is small (2 or 4 in the paper), so its
softmaxes are many short rows: ``[1280, 4, 4]`` is 5120 rows of 4. PyTorch's CPU kernel
for the last axis vectorises along the row, so a row shorter than one SIMD register
runs scalar: measured with torch 2.13 on an AVX-512 CPU (one thread), forward +
backward of 5120 rows of 4 took 535 us, and 5120 rows of 16 took 219 us. A softmax over
the *first* axis of a contiguous tensor vectorises along the other axes instead, so
moving the short axis to the front, normalising there and moving it back costs two
small copies and is 2-3x faster for rows of 2 to 12 (181 us for the 5120 rows of 4);
it is slower when the rows are few (fewer than ~256) or the row fills a register.
``benchmarks/bench_softmax.py`` measures the crossover.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["softmax_last"]

# Rows shorter than this take the transposed path. 8 is the float32 register width of
# AVX2, the narrower of the vector ISAs PyTorch's CPU kernels dispatch to, so a row below
# it should be scalar on either; that is inferred from the kernel's design and measured
# only on AVX-512 (where rows of 8-12 are slow too and would gain).
SHORT_ROW = 8
# ...and only when there are at least this many rows: below it the two copies cost
# more than the scalar loop saves (break-even near 256 rows of 4; between 256 and
# 1024 rows of 2).
MIN_ROWS = 1024


def softmax_last(x: Tensor) -> Tensor:
    """``torch.softmax(x, dim=-1)``, computed transposed when that is faster.

    Args:
        x: ``[..., n]`` logits.

    Returns:
        ``[..., n]``, contiguous when the transposed path is taken; equal to
        ``torch.softmax(x, dim=-1)`` up to floating-point rounding (the sums run
        in a different order).
    """
    # The cheapest test first: an acting batch (a few rows) fails it and goes straight
    # to the plain call, so the small-batch path pays well under a microsecond here.
    numel = x.numel()
    if numel >= MIN_ROWS and x.dim() >= 2:
        n = x.shape[-1]
        if n < SHORT_ROW and numel >= MIN_ROWS * n and x.device.type == "cpu":
            # [..., n] -> [n, ...] contiguous, normalise over the first axis, move back.
            # The result is made contiguous: a batched matmul on a permuted routing
            # matrix (no unit stride in its last two axes) is several times slower.
            moved = x.movedim(-1, 0).contiguous()
            return torch.softmax(moved, dim=0).movedim(0, -1).contiguous()
    return torch.softmax(x, dim=-1)
