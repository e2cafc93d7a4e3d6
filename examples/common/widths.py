"""Scale the hidden widths of a method's networks (the ``demo`` preset's small networks).

A method's network settings name its widths in one of three ways, and these are the
widths scaled: integer settings ending in ``_features`` (``module_features``,
``hidden_features``, ``routing_features`` of ``SoftRoutedMLP``), integer sequences
ending in ``_sizes`` (``trunk_sizes``, ``head_sizes``, ``hidden_sizes`` of the
baselines) and SB3's ``net_arch`` of ``MlpPolicy``. Counts (modules, layers, experts)
and the three sizes fixed by the env (``in_features``, ``out_features``,
``num_tasks``) are left alone. Settings the method leaves at their defaults are scaled
from the network config's defaults, so the scaled run records every width it used.
"""

from __future__ import annotations

from typing import Any

from modnet.errors import ConfigError, mismatch
from modnet_sb3 import MTSAC, TaskConditionedPolicy

__all__ = ["scale_widths"]

_FIXED = ("in_features", "out_features", "num_tasks")


def _is_width(name: str) -> bool:
    return name not in _FIXED and (name.endswith("_features") or name.endswith("_sizes"))


def _scaled(value: int, scale: float) -> int:
    return max(1, round(value * scale))


def _scale_value(name: str, value: Any, scale: float) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _scaled(value, scale)
    if isinstance(value, list | tuple) and all(isinstance(v, int) for v in value):
        return type(value)(_scaled(v, scale) for v in value)
    if isinstance(value, dict) and name == "net_arch":  # {"pi": [...], "qf": [...]}
        return {key: _scale_value(name, sizes, scale) for key, sizes in value.items()}
    return value


def scale_widths(policy: str, policy_kwargs: dict[str, Any], scale: float) -> dict[str, Any]:
    """``policy_kwargs`` with every hidden width multiplied by ``scale`` (rounded, >= 1).

    Args:
        policy: the policy's name in ``MTSAC.policy_aliases`` (e.g. ``"SoftModularPolicy"``).
        policy_kwargs: the method's policy keyword arguments (not modified).
        scale: factor > 0; 1 returns an equal copy.

    Raises:
        ConfigError: ``scale`` is not a positive finite number.
    """
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 < scale < 1e3:
        raise ConfigError(mismatch("scale_widths", "scale", "be a number in (0, 1000)", scale))
    kwargs = dict(policy_kwargs)
    if scale == 1:
        return kwargs
    policy_class = MTSAC.policy_aliases.get(policy)
    if isinstance(policy_class, type) and issubclass(policy_class, TaskConditionedPolicy):
        fields = policy_class.network_config.model_fields
        for name in policy_class.setting_names():
            if _is_width(name) and name not in kwargs:
                kwargs[name] = fields[name].default
    else:  # SB3's MlpPolicy: net_arch, [256, 256] when not given (SB3's SAC default)
        kwargs.setdefault("net_arch", [256, 256])
    return {
        name: _scale_value(name, value, scale) if _is_width(name) or name == "net_arch" else value
        for name, value in kwargs.items()
    }
