"""One torch thread in these tests: on a busy 2-core CPU, two intra-op threads made small
SAC updates ~25x slower here (measured 5 ms vs 140 ms per 400-wide MLP step)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_torch_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
