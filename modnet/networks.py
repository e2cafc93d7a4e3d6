"""Multi-task networks: the stable import path ``modnet.networks``.

Each network lives in its own file; this module re-exports them:

- :class:`SoftRoutedMLP`, :class:`RoutingTrace` (``soft_routed_mlp.py``): the paper's network;
- :class:`TaskMLP`, :class:`MultiHeadMLP`, :class:`MixtureOfExperts` (``baselines.py``);
- :func:`task_one_hot` (``task_input.py``): validates the ``task`` argument.

The loop oracle ``LoopSoftRoutedMLP`` lives in :mod:`modnet.reference`.
"""

from modnet.baselines import MixtureOfExperts, MultiHeadMLP, TaskMLP
from modnet.soft_routed_mlp import RoutingTrace, SoftRoutedMLP
from modnet.task_input import task_ids, task_one_hot

__all__ = [
    "MixtureOfExperts",
    "MultiHeadMLP",
    "RoutingTrace",
    "SoftRoutedMLP",
    "TaskMLP",
    "task_ids",
    "task_one_hot",
]
