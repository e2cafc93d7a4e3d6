"""The authors' initialisation, as small in-place helpers.

The Soft Modularization code inherits rlkit's ``fanin_init``: a weight is drawn
from ``U(-1/sqrt(size[0]), 1/sqrt(size[0]))`` of the *stored* tensor. For a torch
``nn.Linear`` the stored weight is ``[out, in]``, so the bound is
``1/sqrt(out_features)``, not the fan-in its name suggests. Biases are the
constant 0.1. The layers that produce routing logits and the network's output
layer are instead drawn from ``U(-3e-3, 3e-3)`` (weights and biases), so the
initial routing is almost uniform and the initial output almost zero.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = [
    "AUTHORS_BIAS",
    "AUTHORS_LAST_BOUND",
    "authors_bank_init",
    "authors_linear_init_",
    "small_uniform_",
]

#: The constant every hidden bias starts at in the authors' code.
AUTHORS_BIAS = 0.1
#: The bound of the uniform init of routing-logit layers and the output layer.
AUTHORS_LAST_BOUND = 3e-3


def authors_linear_init_(linear: nn.Linear, *, bias: float = AUTHORS_BIAS) -> nn.Linear:
    """Weights ``U(±1/sqrt(out_features))`` (rlkit's size[0] quirk), bias constant."""
    bound = 1.0 / math.sqrt(linear.weight.shape[0])
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)
        if linear.bias is not None:
            linear.bias.fill_(bias)
    return linear


def authors_bank_init(weight: Tensor, bias: Tensor | None) -> None:
    """:data:`modnet.module_bank.BankInit` for a ``ModuleBank`` built like n authors' Linears.

    ``weight`` is ``[n, in, out]``; each member was an ``nn.Linear(in, out)``
    whose stored weight has size[0] = out, hence the bound ``1/sqrt(out)``.
    """
    bound = 1.0 / math.sqrt(weight.shape[-1])
    weight.uniform_(-bound, bound)
    if bias is not None:
        bias.fill_(AUTHORS_BIAS)


def small_uniform_(module: nn.Module, *, bound: float = AUTHORS_LAST_BOUND) -> nn.Module:
    """Every parameter of ``module`` (weights and biases) ``~ U(-bound, bound)``."""
    with torch.no_grad():
        for p in module.parameters():
            p.uniform_(-bound, bound)
    return module
