"""Module banks and routed layers: the stable import path ``modnet.modules``.

Each concept lives in its own file (``module_bank.py``, ``routed_linear.py``);
this module re-exports them.
"""

from modnet.module_bank import BankInit, ModuleBank
from modnet.routed_linear import Dispatch, RoutedLinear

__all__ = ["BankInit", "Dispatch", "ModuleBank", "RoutedLinear"]
