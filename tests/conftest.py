"""Test-wide set-up: hypothesis profiles and seeding.

The ``ci`` profile (the default) is derandomised and bounded so runs are fast and
repeatable; run ``pytest --hypothesis-profile=thorough`` for a deeper search.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.differing_executors],
)
settings.register_profile("thorough", max_examples=500, deadline=None)
settings.load_profile("ci")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """One intra-op thread for the whole suite.

    The tests' networks are small; on a 2-core machine a second OpenMP thread that gets
    descheduled turns each small op into a millisecond wait (measured here: a SAC gradient
    step took 0.5 s with 2 threads under load, 20 ms with 1). One thread also makes
    floating-point reductions run in one order, so results repeat exactly.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def _seed_everything() -> None:
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
