"""The error hierarchy of modnet, and the one helper that words every message.

Every message names where it was raised, the argument, what was expected and
what was received, e.g.::

    SoftRoutedMLP.forward: task one-hot must have shape (batch, 10), got (32, 9)
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConfigError",
    "MissingDependencyError",
    "ModnetError",
    "ShapeError",
    "mismatch",
]


class ModnetError(Exception):
    """Base class of every error that modnet raises on purpose."""


class ConfigError(ModnetError, ValueError):
    """A setting is invalid; raised at construction, before any work is done."""


class ShapeError(ModnetError, ValueError):
    """A tensor given at call time has the wrong shape, dtype or range."""


class MissingDependencyError(ModnetError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""


def mismatch(where: str, argument: str, expected: str, received: Any) -> str:
    """Word an error message: ``"{where}: {argument} must {expected}, got {received}"``.

    ``expected`` is a verb phrase ("have shape (batch, 10)", "be positive",
    "be one of ['soft', 'hard', 'topk']") so the message reads as a sentence.
    """
    return f"{where}: {argument} must {expected}, got {received}"


def missing_dependency(package: str, extra: str) -> MissingDependencyError:
    """Build the error for a missing optional dependency, naming the extra to install."""
    return MissingDependencyError(
        f"{package} is required for this feature but is not installed; "
        f'install it with: pip install "modnet-rl[{extra}]"'
    )
