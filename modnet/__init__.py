"""modnet: routed modular network layers for PyTorch.

The public API is re-exported here; nothing else lives in this file.
"""

from modnet.baselines import MixtureOfExperts, MultiHeadMLP, TaskMLP
from modnet.care import CARE
from modnet.config import (
    CAREConfig,
    FiLMMLPConfig,
    HardConfig,
    MixtureOfExpertsConfig,
    ModuleBankConfig,
    MOOREConfig,
    MultiHeadMLPConfig,
    PaCoConfig,
    RoutedLinearConfig,
    SoftConfig,
    SoftRoutedMLPConfig,
    TaskMLPConfig,
    TopKConfig,
)
from modnet.errors import ConfigError, MissingDependencyError, ModnetError, ShapeError
from modnet.film import FiLMMLP
from modnet.gradient_methods import (
    FAMO,
    CAGrad,
    GradientMethod,
    GradNorm,
    PCGrad,
    make_gradient_method,
)
from modnet.module_bank import ModuleBank
from modnet.moore import MOORE
from modnet.paco import PaCo
from modnet.routed_linear import RoutedLinear
from modnet.routing import (
    Hard,
    Routing,
    RoutingStrategy,
    Soft,
    TopK,
    make_routing,
    register_routing,
    routing_names,
)
from modnet.soft_modular_variants import SoftModularVariant, register_variant, variant_names
from modnet.soft_routed_mlp import RoutingTrace, SoftRoutedMLP
from modnet.task_input import task_one_hot

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
    "register_routing",
    "routing_names",
    # module banks and routed layers
    "ModuleBank",
    "ModuleBankConfig",
    "RoutedLinear",
    "RoutedLinearConfig",
    # networks
    "CARE",
    "CAREConfig",
    "FiLMMLP",
    "FiLMMLPConfig",
    "MOORE",
    "MOOREConfig",
    "MixtureOfExperts",
    "MixtureOfExpertsConfig",
    "MultiHeadMLP",
    "MultiHeadMLPConfig",
    "PaCo",
    "PaCoConfig",
    "RoutingTrace",
    "SoftModularVariant",
    "SoftRoutedMLP",
    "SoftRoutedMLPConfig",
    "TaskMLP",
    "TaskMLPConfig",
    "register_variant",
    "task_one_hot",
    "variant_names",
    # multi-task gradient methods
    "CAGrad",
    "FAMO",
    "GradNorm",
    "GradientMethod",
    "PCGrad",
    "make_gradient_method",
]

__version__ = "0.1.0"
