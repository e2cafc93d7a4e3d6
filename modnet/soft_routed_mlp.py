"""SoftRoutedMLP: the network of "Multi-Task RL with Soft Modularization" (Yang et al., 2020).

Dimension letters: ``b`` batch, ``k`` ensemble members, ``t`` tasks, ``n`` modules per
layer, ``d`` module width, ``o`` output features.

The class holds what every variant shares: the settings (one
:class:`~modnet.config.SoftRoutedMLPConfig`), argument checks, the routing strategy and
the trace. What is built and computed is the variant's (:mod:`modnet.soft_modular_variants`:
``"official"``, the authors' network, and ``"paper"``, the printed equations), written once
for one network and for K stacked ones (:mod:`modnet.parameter_layouts`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, NamedTuple

import torch
from torch import Tensor, nn
from typing_extensions import Self

from modnet.config import SoftRoutedMLPConfig
from modnet.errors import ConfigError, ShapeError, mismatch
from modnet.parameter_layouts import ModuleLayout, StackedLayout
from modnet.routing import RoutingStrategy, Soft
from modnet.soft_modular_variants import SoftModularVariant, variant_class
from modnet.softmax import softmax_last
from modnet.task_input import task_ids, task_one_hot
from modnet.validation import check_batch_features, check_same_device

__all__ = ["RoutingTrace", "SoftRoutedMLP", "Variant"]

#: A registered variant's name (:func:`modnet.variant_names`); kept for 0.1's imports.
Variant = str


class RoutingTrace(NamedTuple):
    """Every routing decision of one forward pass.

    Attributes:
        layer_weights: one ``[b, n, n]`` tensor per pair of consecutive module layers
            (``num_layers - 1`` of them), indexed ``[destination, source]``; each row is
            the routing strategy's weights over the source modules (sums to 1 for soft,
            hard and renormalised top-k routing).
        final_weights: ``[b, n]``, the weights that mix the last layer's modules before
            the output layer (``variant="official"``); ``None`` for ``variant="paper"``,
            whose output sums one head per module.
        aux_loss: scalar, the sum of the strategy's auxiliary losses over all routing
            decisions (zero for soft and hard routing).
    """

    layer_weights: tuple[Tensor, ...]
    final_weights: Tensor | None
    aux_loss: Tensor


_Weigh = Callable[[Tensor], Tensor]


def _softmax_weights(temperature: float) -> _Weigh:
    if temperature == 1.0:
        return softmax_last
    return lambda logits: softmax_last(logits / temperature)


def _weigher(route: RoutingStrategy, like: Tensor, aux: list[Tensor] | None) -> _Weigh:
    """``logits [..., n] -> weights [..., n]`` for one forward pass.

    With ``aux=None`` (no trace requested) and plain :class:`Soft` routing on
    float32/float64 outside autocast, this is the bare softmax: the strategy's own call
    also builds the all-True mask, a zero aux loss and the ``Routing`` tuple and re-checks
    the logits, about a third of the non-GEMM work of an acting step (batch 10; 8-11 % of
    it: docs/benchmarks/networks.md, "Speed tricks"). The numbers are the same: ``Soft.route`` is
    this softmax.
    """
    if (
        aux is None
        and type(route) is Soft
        and like.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled(like.device.type)
    ):
        return _softmax_weights(route.temperature)

    def weigh(logits: Tensor) -> Tensor:
        r = route(logits)
        if aux is not None:
            aux.append(r.aux_loss)
        return r.weights

    return weigh


class SoftRoutedMLP(nn.Module):
    """Soft modularization: a multi-task MLP whose modules are routed per sample.

    The layers and the forward are the variant's: ``variant="official"`` (default) is the
    authors' published network, ``"paper"`` the equations as printed; both are described
    in :mod:`modnet.soft_modular_variants` and set side by side in ``docs/paper_vs_code.md``.
    The authors' initialisation is used (see :mod:`modnet.init`): the routing logit layers
    and the output layer start near zero, so the initial routing is almost uniform.

    Args:
        in_features: state width (without the task one-hot).
        out_features: output width (``2|A|`` for a SAC actor, 1 for a critic).
        num_tasks: ``T``.
        **settings: the network's settings, each a field of
            :class:`~modnet.config.SoftRoutedMLPConfig` (the one place they are defined,
            with their defaults, the paper's Shallow network): ``num_layers`` (``L >= 2``),
            ``num_modules`` (``n``), ``module_features`` (``d``), ``routing`` (a registered
            name such as ``"soft"``, ``"hard"``, ``"topk"``; a routing config; or a
            :class:`~modnet.routing.RoutingStrategy`, one instance routing every layer),
            ``routing_kwargs`` (e.g. ``{"k": 2}`` for ``"topk"``), ``variant``,
            ``hidden_features`` (400) and ``routing_features`` (256).

    Raises:
        ConfigError: a setting that is unknown, of the wrong type or out of range, naming it.
    """

    def __init__(
        self, in_features: int, out_features: int, num_tasks: int, **settings: Any
    ) -> None:
        super().__init__()
        cfg = SoftRoutedMLPConfig.of(
            type(self).__name__, in_features, out_features, num_tasks, **settings
        )
        self.config = cfg
        self.in_features, self.out_features = cfg.in_features, cfg.out_features
        self.num_tasks, self.num_layers = cfg.num_tasks, cfg.num_layers
        self.num_modules, self.module_features = cfg.num_modules, cfg.module_features
        self.hidden_features, self.routing_features = cfg.hidden_features, cfg.routing_features
        self.variant = cfg.variant
        self.routing = cfg.strategy()
        self._variant: SoftModularVariant = variant_class(cfg.variant)(cfg)
        self._variant.build(self)
        # Layers by state_dict name, for ModuleLayout (modules, not tensors: see there).
        self._layers_by_name = {name: m for name, m in self.named_modules() if name}
        # Parameter name -> shape, for ensemble_forward's check; built at its first call.
        self._param_shapes: dict[str, torch.Size] | None = None

    # ------------------------------------------------------------------ presets
    #: The paper's two configurations (Yang et al. 2020, Section 5.1).
    PRESETS: ClassVar[dict[str, dict[str, int]]] = {
        "shallow": {"num_layers": 2, "num_modules": 2, "module_features": 256},
        "deep": {"num_layers": 4, "num_modules": 4, "module_features": 128},
    }

    @classmethod
    def shallow(cls, in_features: int, out_features: int, num_tasks: int, **overrides: Any) -> Self:
        """The paper's Shallow configuration: ``L=2, n=2, d=256`` (overridable)."""
        return cls(in_features, out_features, num_tasks, **{**cls.PRESETS["shallow"], **overrides})

    @classmethod
    def deep(cls, in_features: int, out_features: int, num_tasks: int, **overrides: Any) -> Self:
        """The paper's Deep configuration: ``L=4, n=4, d=128`` (overridable)."""
        return cls(in_features, out_features, num_tasks, **{**cls.PRESETS["deep"], **overrides})

    @classmethod
    def from_config(cls, cfg: SoftRoutedMLPConfig) -> SoftRoutedMLP:
        """Build from a :class:`~modnet.config.SoftRoutedMLPConfig`."""
        return cls(**dict(cfg))

    # ------------------------------------------------------------------ forward
    def _checked_task(
        self, task: Tensor, batch: int, where: str, dtype: torch.dtype, device: torch.device
    ) -> Tensor:
        """Int64 ids ``[b]`` (checked in range) or a float one-hot ``[b, t]`` in ``dtype``."""
        check_same_device(where, task, device)
        if isinstance(task, Tensor) and not task.is_floating_point():
            return task_ids(task, self.num_tasks, batch, where)
        return task_one_hot(task, self.num_tasks, batch, where, dtype=dtype)

    def forward(
        self, x: Tensor, task: Tensor, return_routing: bool = False
    ) -> Tensor | tuple[Tensor, RoutingTrace]:
        """Route and evaluate the network.

        Args:
            x: ``[b, in_features]`` states.
            task: int64 ids ``[b]`` in ``[0, t)`` or a float one-hot ``[b, t]`` (a soft
                mixture of tasks, rows non-negative and summing to 1, is allowed and
                embedded linearly; an all-zero or NaN row is refused).
            return_routing: also return the :class:`RoutingTrace`.

        Returns:
            ``[b, out_features]``, or ``(out, trace)`` with ``trace.layer_weights``
            ``(num_layers - 1) × [b, n, n]`` and ``trace.final_weights`` ``[b, n]``.

        Raises:
            ShapeError: ``x`` or ``task`` of the wrong type, dtype or shape, or an id out
                of range (under ``torch.compile`` an id out of range fails a device assertion).
        """
        where = f"{type(self).__name__}.forward"
        batch = check_batch_features(where, x, self.in_features, self.state_fc1.weight.dtype)
        task = self._checked_task(task, batch, where, x.dtype, x.device)
        # The aux losses are collected only for the trace; acting never needs them.
        aux: list[Tensor] | None = [] if return_routing else None
        weigh = _weigher(self.routing, x, aux)
        y, layers, final = self._variant.forward(
            ModuleLayout(self._layers_by_name, batch), x, task, weigh
        )
        if aux is not None:
            return y, RoutingTrace(tuple(layers), final, torch.stack(aux).sum())
        return y

    # --------------------------------------------------------------- ensembles
    @property
    def supports_ensemble_forward(self) -> bool:
        """Whether :meth:`ensemble_forward` runs natively (every variant: its forward is
        written against :class:`~modnet.parameter_layouts.ParameterLayout`)."""
        return True

    def ensemble_forward(self, params: Mapping[str, Tensor], x: Tensor, task: Tensor) -> Tensor:
        """K networks of this architecture at once, from stacked parameters.

        The same function as ``torch.stack([net_k(x, task) for k in range(K)])`` for K
        networks whose parameters are stacked along a new leading axis
        (``torch.func.stack_module_state`` order and names, e.g. ``params["state_fc1.weight"]``
        ``[k, hidden, in]``), computed by the variant's one forward on a
        :class:`~modnet.parameter_layouts.StackedLayout`. SAC's twin critics use it
        (``modnet_sb3``'s ``ModuleEnsemble``). Only ``self``'s settings are read, not its
        parameters, so ``self`` may live on the meta device.

        Args:
            params: stacked parameters ``[k, ...]`` named as in ``self.named_parameters()``.
            x: ``[b, in_features]`` states, shared by the K networks.
            task: int64 ids ``[b]`` or a float one-hot ``[b, t]``.

        Returns:
            ``[k, b, out_features]``.

        Raises:
            ConfigError: ``params`` does not hold this network's parameters.
            ShapeError: as :meth:`forward`.
        """
        where = f"{type(self).__name__}.ensemble_forward"
        self._check_params(where, params)
        batch = check_batch_features(where, x, self.in_features, params["state_fc1.weight"].dtype)
        task = self._checked_task(task, batch, where, x.dtype, x.device)
        weigh = _weigher(self.routing, x, None)
        return self._variant.forward(StackedLayout(params, batch), x, task, weigh).out

    def _own_shapes(self) -> dict[str, torch.Size]:
        """This network's parameter shapes by name, cached.

        ``dict(self.named_parameters())`` walks every submodule: ~65 us of the ~90 us the
        check cost per ``ensemble_forward`` call without the cache, ~20 us with it
        (Shallow at a quarter width, 22 tensors, CPU; three or four calls per SAC
        update). Names are fixed at construction and no
        ``nn.Module`` method changes a parameter's shape (``load_state_dict`` refuses
        another shape, ``to``/``to_empty`` keep it); the cache is still dropped by
        ``_apply`` and ``_load_from_state_dict``, the two ways parameters are replaced.
        """
        shapes = getattr(self, "_param_shapes", None)  # None also for a pre-cache pickle
        if shapes is None:
            shapes = {name: p.shape for name, p in self.named_parameters()}
            self._param_shapes = shapes
        return shapes

    def _apply(self, fn: Callable[[Tensor], Tensor], recurse: bool = True) -> Self:
        self._param_shapes = None
        return super()._apply(fn, recurse)

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        self._param_shapes = None
        super()._load_from_state_dict(*args, **kwargs)

    def _check_params(self, where: str, params: Mapping[str, Tensor]) -> None:
        if not isinstance(params, Mapping) or not params:
            got = type(params).__name__ if not isinstance(params, Mapping) else "an empty mapping"
            raise ConfigError(
                mismatch(where, "params", "be a non-empty mapping of stacked parameters", got)
            )
        own = self._own_shapes()
        if params.keys() != own.keys():
            missing = [n for n in own if n not in params]
            unknown = [n for n in params if n not in own]
            got = f"missing {missing}" if missing else f"unknown {unknown}"
            raise ConfigError(
                mismatch(where, "params", "hold exactly this network's parameters", got)
            )
        given = {name: p.shape for name, p in params.items()}  # one tensor call each
        sizes = {shape[0] if shape else None for shape in given.values()}
        if len(sizes) != 1 or None in sizes:
            raise ShapeError(
                mismatch(
                    where, "params", "share one leading ensemble size k", sorted(map(str, sizes))
                )
            )
        for name, shape in own.items():
            if given[name][1:] != shape:
                expected = ", ".join(map(str, shape))
                raise ShapeError(
                    mismatch(
                        where,
                        f"params[{name!r}]",
                        f"have shape (k, {expected})",
                        tuple(given[name]),
                    )
                )

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_tasks={self.num_tasks}, num_layers={self.num_layers}, "
            f"num_modules={self.num_modules}, module_features={self.module_features}, "
            f"variant={self.variant!r}"
        )
