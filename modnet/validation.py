"""Argument checks shared by the core's layers and networks; each raises a worded error."""

from __future__ import annotations

from torch import Tensor

from modnet.errors import ConfigError, ShapeError, mismatch

__all__ = ["check_batch_features", "check_positive_int"]


def check_positive_int(where: str, name: str, value: object) -> int:
    """``value`` if it is an int >= 1 (bools refused), else a ``ConfigError`` naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(mismatch(where, name, "be a positive int", repr(value)))
    return value


def check_batch_features(where: str, x: Tensor, in_features: int) -> int:
    """The batch size of ``x`` ``[b, in_features]``; a ``ShapeError`` for anything else."""
    if not isinstance(x, Tensor):
        raise ShapeError(mismatch(where, "x", "be a torch.Tensor", type(x).__name__))
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ShapeError(mismatch(where, "x", f"have shape (batch, {in_features})", tuple(x.shape)))
    return x.shape[0]
