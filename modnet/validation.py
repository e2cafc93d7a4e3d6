"""Argument checks shared by the core's layers and networks; each raises a worded error."""

from __future__ import annotations

import torch
from torch import Tensor

from modnet.errors import ConfigError, ShapeError, mismatch

__all__ = [
    "check_batch_features",
    "check_positive_int",
    "check_positive_ints",
    "check_same_device",
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


def check_same_device(where: str, task: object, device: torch.device) -> None:
    """A ``ShapeError`` when ``task`` is a tensor on another device than the state ``x``."""
    if isinstance(task, Tensor) and task.device != device:
        raise ShapeError(mismatch(where, "task", f"be on the device of x ({device})", task.device))


def check_batch_features(
    where: str, x: Tensor, in_features: int, dtype: torch.dtype | None = None, *, name: str = "x"
) -> int:
    """The batch size of ``x`` ``[b, in_features]``; a ``ShapeError`` for anything else.

    ``x`` must be a tensor (a numpy array is refused, not converted: the caller chooses
    the device and dtype), floating point, and with ``dtype`` (the network's parameters')
    of that dtype unless autocast is on, which casts for itself. Every network and layer
    refuses an integer or float64 state this way rather than casting it: a silent cast
    would hide a float64 pipeline that doubles memory, and without the check the state
    fails inside a matrix product with a message that names no argument. ``name`` is the
    argument's name in the message.
    """
    if not isinstance(x, Tensor):
        raise ShapeError(mismatch(where, name, "be a torch.Tensor", type(x).__name__))
    if not x.is_floating_point():
        raise ShapeError(mismatch(where, name, "be a floating-point tensor", x.dtype))
    if dtype is not None and x.dtype != dtype and not torch.is_autocast_enabled(x.device.type):
        raise ShapeError(
            mismatch(
                where,
                name,
                f"have the network's dtype {dtype} (cast with {name}.to({dtype}) or the "
                f"network with .to({name}.dtype))",
                x.dtype,
            )
        )
    if x.dim() != 2 or x.shape[1] != in_features:
        raise ShapeError(
            mismatch(where, name, f"have shape (batch, {in_features})", tuple(x.shape))
        )
    return x.shape[0]
