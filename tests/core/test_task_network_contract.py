"""What CARE, PaCo, MOORE and FiLMMLP share: the forward's input checks and a full trace.

Each network takes ``x [b, 5]`` and ``task`` (ids ``[b]`` or a one-hot ``[b, 4]``) and
refuses bad input through the same checks (``_TaskNetwork._checked``,
``modnet.task_input``); the checks themselves are ``network_checks``. Each network's own
properties (its reference, its parameter count, its settings) are in its test file.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from hypothesis import given
from network_checks import (
    assert_bad_inputs_refused,
    assert_compiles_like_eager,
    assert_refuses_bad_input,
    bad_input_cases,
    seeded_perturbed,
)
from torch import nn

from modnet import CARE, MOORE, FiLMMLP, PaCo

IN, OUT, TASKS = 5, 3, 4

#: A tiny instance of each network (every layer kind present, a fast forward).
TINY: dict[str, Callable[[], nn.Module]] = {
    "CARE": lambda: CARE(
        IN, OUT, TASKS, num_experts=3, encoder_sizes=(6,), embedding_dim=7, hidden_sizes=(8,)
    ),
    "PaCo": lambda: PaCo(IN, OUT, TASKS, num_parameter_sets=3, hidden_sizes=(6, 7)),
    "MOORE": lambda: MOORE(IN, OUT, TASKS, num_experts=2, hidden_sizes=(6, 4)),
    "FiLMMLP": lambda: FiLMMLP(
        IN, OUT, TASKS, embedding_features=4, encoder_features=5, hidden_sizes=(6,)
    ),
}


@pytest.mark.parametrize("name", TINY)
def test_bad_inputs(name: str) -> None:
    assert_bad_inputs_refused(TINY[name](), IN, TASKS)


@pytest.mark.parametrize("name", TINY)
@given(case=bad_input_cases(IN, TASKS))
def test_bad_inputs_are_refused_with_the_argument_named(name: str, case: dict) -> None:
    assert_refuses_bad_input(TINY[name](), IN, TASKS, **case)


@pytest.mark.slow
@pytest.mark.parametrize(
    "build, settings",
    [
        # The fewest layers of each: a short compile.
        (CARE, {"num_experts": 3, "encoder_sizes": (), "embedding_dim": 7, "hidden_sizes": ()}),
        (PaCo, {"num_parameter_sets": 3, "hidden_sizes": (6,)}),
    ],
)
def test_compiles_with_fullgraph_and_matches_eager(build: type, settings: dict) -> None:
    net = seeded_perturbed(build, IN, OUT, TASKS, **settings)
    x, ids = torch.randn(6, IN, requires_grad=True), torch.tensor([0, 2, 1, 1, 0, 2])
    assert_compiles_like_eager(net, x, ids)
