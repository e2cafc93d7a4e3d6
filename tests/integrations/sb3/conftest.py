"""Shared set-up of the SB3 integration tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run these tests on one intra-op thread.

    The networks here are tiny; on a shared 2-core machine a second OpenMP thread that
    gets descheduled turns each small op into a millisecond wait (measured: 0.5 s per
    gradient step with 2 threads under load, 20 ms with 1).
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
