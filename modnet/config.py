"""Pydantic configs, one per concept: frozen, and ``extra="forbid"`` so a misspelt option fails.

Layers take plain keyword arguments and also build from these with ``from_config(cfg)``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["FrozenConfig"]


class FrozenConfig(BaseModel):
    """Base of every modnet config: immutable, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")
