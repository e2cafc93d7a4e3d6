"""Multi-task gradient methods: ``T`` task losses combined into one update direction.

``PCGrad``, ``GradNorm``, ``CAGrad`` and ``FAMO`` share one interface
(:class:`GradientMethod`): ``method.backward(losses [T], parameters)`` fills ``.grad``;
``state_dict`` / ``load_state_dict`` carry what it learns. See docs/gradient_methods.md.
"""

from modnet.gradient_methods.base import (
    GRADIENT_METHODS,
    GradientMethod,
    gradient_method_names,
    make_gradient_method,
    per_task_mean,
    register_gradient_method,
    task_gradients,
)
from modnet.gradient_methods.cagrad import CAGrad
from modnet.gradient_methods.famo import FAMO
from modnet.gradient_methods.gradnorm import GradNorm
from modnet.gradient_methods.pcgrad import PCGrad

__all__ = [
    "CAGrad",
    "FAMO",
    "GRADIENT_METHODS",
    "GradNorm",
    "GradientMethod",
    "PCGrad",
    "gradient_method_names",
    "make_gradient_method",
    "per_task_mean",
    "register_gradient_method",
    "task_gradients",
]
