"""modnet: routed modular network layers for PyTorch.

The public API is re-exported here; nothing else lives in this file.
"""

from modnet.config import (
    HardConfig,
    MixtureOfExpertsConfig,
    ModuleBankConfig,
    MultiHeadMLPConfig,
    RoutedLinearConfig,
    SoftConfig,
    SoftRoutedMLPConfig,
    TaskMLPConfig,
    TopKConfig,
)
from modnet.errors import ConfigError, MissingDependencyError, ModnetError, ShapeError
from modnet.modules import ModuleBank, RoutedLinear
from modnet.networks import (
    MixtureOfExperts,
    MultiHeadMLP,
    RoutingTrace,
    SoftRoutedMLP,
    TaskMLP,
    task_one_hot,
)
from modnet.routing import Hard, Routing, RoutingStrategy, Soft, TopK, make_routing

__all__ = [
    "ConfigError",
    "MissingDependencyError",
    "ModnetError",
    "ShapeError",
    # routing
    "Hard",
    "HardConfig",
    "Routing",
    "RoutingStrategy",
    "Soft",
    "SoftConfig",
    "TopK",
    "TopKConfig",
    "make_routing",
    # module banks and routed layers
    "ModuleBank",
    "ModuleBankConfig",
    "RoutedLinear",
    "RoutedLinearConfig",
    # networks
    "MixtureOfExperts",
    "MixtureOfExpertsConfig",
    "MultiHeadMLP",
    "MultiHeadMLPConfig",
    "RoutingTrace",
    "SoftRoutedMLP",
    "SoftRoutedMLPConfig",
    "TaskMLP",
    "TaskMLPConfig",
    "task_one_hot",
]

__version__ = "0.1.0"
