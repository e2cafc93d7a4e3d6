"""Turning the ``task`` argument of a multi-task network into a one-hot.

Every multi-task network of :mod:`modnet` takes ``task`` either as int64 ids
``[B]`` or as a float one-hot ``[B, T]``. :func:`task_one_hot` validates both
forms with messages that name the argument, what was expected and what came.
"""

from __future__ import annotations

import torch
from torch import Tensor

from modnet.errors import ShapeError, mismatch

__all__ = ["task_one_hot", "task_ids"]


def _compiling() -> bool:
    # Value checks read tensor data, which torch.compile(fullgraph=True) cannot
    # trace; shape and dtype checks stay on under compile.
    return torch.compiler.is_compiling()


def task_one_hot(
    task: Tensor,
    num_tasks: int,
    batch_size: int,
    where: str,
    *,
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Validate ``task`` and return it as a one-hot ``[B, T]``.

    Args:
        task: integer ids ``[B]`` in ``[0, T)``, or a floating one-hot ``[B, T]``
            (returned as given, so a soft task mixture is allowed: every row finite,
            non-negative and summing to 1).
        num_tasks: ``T``.
        batch_size: ``B``, the batch size of the features it goes with.
        where: the caller's name, used in error messages.
        dtype: dtype of the result (default: the one-hot's own dtype, or float32 for ids).

    Returns:
        ``[B, T]`` one-hot (rows of an id input are exactly one-hot).

    Raises:
        ShapeError: wrong rank, batch size, width, dtype, or (CPU tensors) an id out of
            range or a float row that is neither a one-hot nor a mixture (all zeros, NaN,
            two ones, negative); on an accelerator or under ``torch.compile`` those value
            checks fail an asynchronous device assertion instead (no host synchronisation).
    """
    if not isinstance(task, Tensor):
        raise ShapeError(
            mismatch(where, "task", "be a torch.Tensor of ids or one-hots", type(task).__name__)
        )
    if task.dtype == torch.bool:
        raise ShapeError(mismatch(where, "task", "be int64 ids or a float one-hot", task.dtype))
    if task.is_floating_point():
        if task.dim() != 2 or task.shape[0] != batch_size or task.shape[1] != num_tasks:
            hint = " (task ids must be an integer tensor)" if task.dim() == 1 else ""
            raise ShapeError(
                mismatch(
                    where,
                    "task one-hot",
                    f"have shape ({batch_size}, {num_tasks}){hint}",
                    tuple(task.shape),
                )
            )
        _check_rows(task, where, exact=False)
        return task if dtype is None else task.to(dtype)
    if task.is_complex():
        raise ShapeError(mismatch(where, "task", "be int64 ids or a float one-hot", task.dtype))
    ids = _checked_ids(task, num_tasks, batch_size, where)
    # Comparison against arange instead of F.one_hot: no data-dependent checks,
    # so it traces under torch.compile(fullgraph=True).
    classes = torch.arange(num_tasks, device=ids.device)
    return (ids.unsqueeze(-1) == classes).to(torch.float32 if dtype is None else dtype)


def task_ids(task: Tensor, num_tasks: int, batch_size: int, where: str) -> Tensor:
    """Validate ``task`` and return int64 ids ``[B]``.

    A floating input must be an exact one-hot ``[B, T]`` (a soft mixture has no id);
    the value checks are those of :func:`task_one_hot`.
    """
    if isinstance(task, Tensor) and task.is_floating_point():
        if task.dim() != 2 or task.shape[0] != batch_size or task.shape[1] != num_tasks:
            task_one_hot(task, num_tasks, batch_size, where)  # words the shape error
        _check_rows(task, where, exact=True)
        return task.argmax(dim=-1)
    if not isinstance(task, Tensor):
        raise ShapeError(
            mismatch(where, "task", "be a torch.Tensor of ids or one-hots", type(task).__name__)
        )
    if task.dtype == torch.bool or task.is_complex():
        raise ShapeError(mismatch(where, "task", "be int64 ids or a float one-hot", task.dtype))
    return _checked_ids(task, num_tasks, batch_size, where).long()


def _check_rows(one_hot: Tensor, where: str, *, exact: bool) -> None:
    """Refuse a float task ``[b, t]`` whose rows are not one-hots (or, unless ``exact``,
    mixtures of tasks: finite, non-negative, summing to 1).

    An all-zero, NaN or doubled row would otherwise embed as no task, NaN or two tasks
    without a word. The sum's tolerance is ``sqrt(eps)`` of the dtype (3.5e-4 in float32),
    loose enough for a softmax's rounding. Like the ids' range, this is a CPU check that
    words the row; on an accelerator or under ``torch.compile`` it is an asynchronous
    device assertion.
    """
    # Two row reductions: a NaN fails both comparisons, an infinite entry the sum's.
    low, total = one_hot.amin(dim=-1), one_hot.sum(dim=-1)
    if exact:
        # Non-negative, summing to 1, with one entry equal to 1: the others are all 0.
        ok = (low >= 0) & (total == 1) & (one_hot.amax(dim=-1) == 1)
        expected = "have exactly one 1 and zeros elsewhere in every row"
    else:
        tol = torch.finfo(one_hot.dtype).eps ** 0.5
        ok = (low >= 0) & ((total - 1).abs() <= tol)
        expected = (
            "hold a one-hot (or a mixture of tasks: finite, non-negative, summing to 1) "
            "in every row"
        )
    if _compiling() or one_hot.device.type != "cpu":
        torch._assert_async(ok.all(), f"{where}: task one-hot must {expected}")
    elif one_hot.numel() > 0 and not bool(ok.all()):
        bad = int((~ok).nonzero()[0, 0])
        raise ShapeError(
            mismatch(where, "task one-hot", expected, f"row {bad} = {one_hot[bad].tolist()}")
        )


def _checked_ids(task: Tensor, num_tasks: int, batch_size: int, where: str) -> Tensor:
    if task.dim() != 1 or task.shape[0] != batch_size:
        hint = " (a one-hot must be a float tensor)" if task.dim() == 2 else ""
        raise ShapeError(
            mismatch(where, "task ids", f"have shape ({batch_size},){hint}", tuple(task.shape))
        )
    if _compiling() or task.device.type != "cpu":
        # Reading an accelerator tensor's values would stop the host on every network
        # call (a training step makes several), and a compiled graph cannot raise on
        # tensor contents: an asynchronous device assertion stops an id out of range
        # instead of a silent lookup of a wrong (or, negative, a wrapped-around) row. The
        # adapters check ids where data enters on the host (modnet_sb3: the replay
        # buffer's add and the policy's predict).
        in_range = ((task >= 0) & (task < num_tasks)).all()
        torch._assert_async(in_range, f"{where}: task ids must be in [0, {num_tasks})")
    elif task.numel() > 0:
        # On the CPU the values are on the host already: one reduction words the error
        # (the lookup itself would raise a bare IndexError, or on CUDA a device assert).
        low, high = (int(v) for v in torch.aminmax(task))
        if low < 0 or high >= num_tasks:
            bad = low if low < 0 else high
            raise ShapeError(mismatch(where, "task ids", f"be in [0, {num_tasks})", bad))
    return task
