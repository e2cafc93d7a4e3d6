"""modnet: routed modular network layers for PyTorch.

The public API is re-exported here; nothing else lives in this file.
"""

from modnet.errors import ConfigError, MissingDependencyError, ModnetError, ShapeError

__all__ = [
    "ConfigError",
    "MissingDependencyError",
    "ModnetError",
    "ShapeError",
]

__version__ = "0.1.0"
