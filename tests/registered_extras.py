"""A test-only routing strategy, registered for the length of a ``with`` block.

The core, SB3 and examples tests use it to show that a new strategy is one class and
one registration, and then works through ``SoftRoutedMLP``, ``SoftModularPolicy`` and
the training CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import torch
from pydantic import Field

from modnet import Routing, RoutingStrategy
from modnet.config import FrozenConfig
from modnet.routing import register_routing, unregister_routing

SHARP = "test-sharp"


class SharpConfig(FrozenConfig):
    kind: Literal["test-sharp"] = "test-sharp"
    #: Exponent applied to the softmax before renormalising.
    power: float = Field(2.0, gt=0)


class SharpSoft(RoutingStrategy):
    """``softmax(logits) ** power``, renormalised: a sharper soft routing."""

    def __init__(self, *, power: float = 2.0) -> None:
        super().__init__()
        self.power = power

    def route(self, logits: torch.Tensor) -> Routing:
        w = torch.softmax(logits, dim=-1).pow(self.power)
        w = w / w.sum(dim=-1, keepdim=True)
        return Routing(w, torch.ones_like(w, dtype=torch.bool), logits, logits.new_zeros(()))


@contextmanager
def registered_sharp_routing() -> Iterator[type[SharpSoft]]:
    """Register :class:`SharpSoft` as ``"test-sharp"`` inside the block, and remove it after."""
    register_routing(SHARP, SharpConfig)(SharpSoft)
    try:
        yield SharpSoft
    finally:
        unregister_routing(SHARP)
