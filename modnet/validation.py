"""Argument checks shared by the core's layers and networks; each raises a worded error."""

from __future__ import annotations

from torch import Tensor

from modnet.errors import ConfigError, ShapeError, mismatch

__all__ = [
    "check_batch_features",
    "check_positive_int",
    "check_positive_ints",
    "int_at_least_problem",
]


def int_at_least_problem(value: object, minimum: int = 1) -> str | None:
    """``"be an int >= minimum"`` if ``value`` is not one (bools and floats refused), else None.

    The one wording of this check: the layers' own checks and the configs' int fields
    (:func:`modnet.config.int_at_least`) both use it.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        return f"be an int >= {minimum}"
    return None


def check_positive_int(where: str, name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an int >= ``minimum``, else a ``ConfigError`` naming ``name``."""
    problem = int_at_least_problem(value, minimum)
    if problem is not None:
        raise ConfigError(mismatch(where, name, problem, repr(value)))
    return value  # type: ignore[return-value]


def check_positive_ints(where: str, **values: object) -> tuple[int, ...]:
    """Each of ``values`` checked by :func:`check_positive_int`, in the order given."""
    return tuple(check_positive_int(where, name, value) for name, value in values.items())


def check_batch_features(where: str, x: Tensor, in_features: int) -> int:
    """The batch size of ``x`` ``[b, in_features]``; a ``ShapeError`` for anything else."""
    if not isinstance(x, Tensor):
        raise ShapeError(mismatch(where, "x", "be a torch.Tensor", type(x).__name__))
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ShapeError(mismatch(where, "x", f"have shape (batch, {in_features})", tuple(x.shape)))
    return x.shape[0]
