"""Shared hypothesis strategies for modnet's property tests.

Import them in any test file with ``from strategies import ...`` (pytest puts ``tests/``
on ``sys.path`` through ``tests/conftest.py``) or ``from tests.strategies import ...``
when run as ``python -m pytest`` from the repository root.

Shapes are drawn *non-square* on purpose: every leading dimension differs from the
number of choices ``n`` (and the dims of :func:`distinct_dims` differ pairwise), so a
reduction or softmax over the wrong axis cannot pass a test by accident.

Every strategy that yields tensors yields ``torch.float32`` tensors built from numpy
arrays, so hypothesis can shrink them.
"""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

__all__ = [
    "batch_sizes",
    "distinct_dims",
    "extreme_logits",
    "logit_shapes",
    "logits",
    "module_counts",
    "strict_gap_logits",
    "temperatures",
]

#: A small batch size ``B``; 1 is included because it hides broadcasting bugs.
batch_sizes = st.integers(min_value=1, max_value=7)

#: A number of modules / routing choices ``n`` (at least 2, so routing is a choice).
module_counts = st.integers(min_value=2, max_value=8)

#: Temperatures spanning two decades around 1.
temperatures = st.floats(min_value=0.1, max_value=10.0, allow_nan=False, allow_infinity=False)


@st.composite
def distinct_dims(
    draw: st.DrawFn, count: int, *, min_value: int = 1, max_value: int = 9
) -> tuple[int, ...]:
    """``count`` pairwise different ints in ``[min_value, max_value]`` (e.g. ``B, n, in, out``).

    With pairwise-different sizes a transposed or wrongly broadcast operand fails loudly.
    """
    if max_value - min_value + 1 < count:
        raise ValueError(f"cannot draw {count} distinct ints from [{min_value}, {max_value}]")
    values = draw(
        st.lists(
            st.integers(min_value=min_value, max_value=max_value),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    return tuple(values)


@st.composite
def logit_shapes(
    draw: st.DrawFn,
    *,
    min_n: int = 2,
    max_n: int = 8,
    min_batch_dims: int = 1,
    max_batch_dims: int = 2,
    max_batch_side: int = 6,
) -> tuple[int, ...]:
    """A shape ``(..., n)`` whose leading dims all differ from ``n`` (non-square)."""
    n = draw(st.integers(min_value=min_n, max_value=max_n))
    ndim = draw(st.integers(min_value=min_batch_dims, max_value=max_batch_dims))
    side = st.integers(min_value=1, max_value=max_batch_side).filter(lambda s: s != n)
    lead = draw(st.lists(side, min_size=ndim, max_size=ndim))
    return (*lead, n)


def _to_tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


@st.composite
def logits(
    draw: st.DrawFn,
    shape: tuple[int, ...] | None = None,
    *,
    min_value: float = -10.0,
    max_value: float = 10.0,
) -> torch.Tensor:
    """Finite float32 logits of ``shape`` (drawn by :func:`logit_shapes` if not given)."""
    if shape is None:
        shape = draw(logit_shapes())
    elements = st.floats(
        min_value=min_value, max_value=max_value, allow_nan=False, allow_infinity=False, width=32
    )
    return _to_tensor(draw(hnp.arrays(np.float32, shape, elements=elements)))


@st.composite
def strict_gap_logits(
    draw: st.DrawFn,
    shape: tuple[int, ...] | None = None,
    *,
    gap: float = 0.5,
) -> torch.Tensor:
    """Logits whose entries in each row differ pairwise by at least ``gap``.

    Drawn as distinct integers times ``gap``, so argmax, top-k and sorting are
    unambiguous and permutation-equivariance holds exactly (ties would break by position).
    """
    if shape is None:
        shape = draw(logit_shapes())
    size = int(np.prod(shape))
    bound = max(50, size)
    ints = draw(
        hnp.arrays(
            np.int64, shape, elements=st.integers(min_value=-bound, max_value=bound), unique=True
        )
    )
    return _to_tensor(ints.astype(np.float64) * gap)


@st.composite
def extreme_logits(draw: st.DrawFn, shape: tuple[int, ...] | None = None) -> torch.Tensor:
    """Finite logits that stress numerics: ``±1e4``, huge gaps, and all-equal rows."""
    if shape is None:
        shape = draw(logit_shapes())
    special = st.sampled_from([-1e4, -1e3, -1.0, 0.0, 1.0, 1e3, 1e4])
    wide = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False, width=32)
    array = draw(hnp.arrays(np.float32, shape, elements=special | wide))
    if draw(st.booleans()):
        # Make every row constant (all-equal logits): a naive top-k or log-sum-exp can trip here.
        fill = draw(special)
        array = np.full(shape, fill, dtype=np.float32)
    return _to_tensor(array)
