"""Routing strategies: logits ``[..., n]`` -> :class:`Routing` (weights, mask, logits, aux_loss).

The last axis holds the ``n`` choices (modules); every leading axis is a batch axis.
The math of each strategy is written out in ``docs/routing.md``.

Dimension letters: ``n`` choices, ``k`` selected choices, ``...`` any batch axes.

Numerics, shared by every strategy:

- the math runs in float32 (float64 stays float64) with autocast disabled, so a router
  under ``torch.autocast(..., dtype=torch.bfloat16)`` still normalises in float32 and
  returns float32 weights;
- softmax subtracts the row maximum, so finite logits (all-equal rows, values of
  ``+-1e4``) never give NaN or inf;
- noise (Gumbel, noisy top-k) is drawn only in training mode; evaluation is deterministic.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple, TypeVar

import pydantic
import torch
from torch import Tensor, nn

from modnet.config import FrozenConfig, HardConfig, SoftConfig, TopKConfig
from modnet.errors import ConfigError, ShapeError, mismatch
from modnet.softmax import softmax_last

__all__ = [
    "Hard",
    "Routing",
    "RoutingStrategy",
    "Soft",
    "TopK",
    "RoutingSpec",
    "make_routing",
    "register_routing",
    "routing_names",
    "routing_spec_problem",
    "selected_indices",
    "unregister_routing",
]


class _Entry(NamedTuple):
    strategy: type[RoutingStrategy]
    config: type[FrozenConfig]


# The one list of routing strategies: name -> (strategy class, config class). Everything
# that lists, validates or builds a strategy by name reads it (make_routing, the network
# configs, the SB3 policies, the examples' CLI).
_REGISTRY: dict[str, _Entry] = {}
_S = TypeVar("_S", bound="type[RoutingStrategy]")


def register_routing(name: str, config: type[FrozenConfig] | None = None) -> Callable[[_S], _S]:
    """Class decorator: make a :class:`RoutingStrategy` buildable by ``name``.

    ``config`` is the strategy's pydantic config: a :class:`~modnet.config.FrozenConfig`
    with a field ``kind: Literal[name] = name`` and one field per constructor argument
    of the strategy (the strategy is built as ``cls(**config.model_dump(exclude={"kind"}))``).
    Without one, a config is made from the keyword arguments of the class's ``__init__``
    (their annotations and defaults; annotate them so pydantic checks the types), so a
    new strategy is one class and this one line. After registration the name works
    everywhere a routing name does: ``make_routing(name, ...)``,
    ``SoftRoutedMLP(..., routing=name)``, ``SoftModularPolicy(routing=name)``.

    Raises:
        ConfigError: ``name`` already registered, or ``config`` is not a config class with
            a matching ``kind``.
    """
    where = "register_routing"
    if not isinstance(name, str) or not name:
        raise ConfigError(mismatch(where, "name", "be a non-empty str", repr(name)))
    if name in _REGISTRY:
        raise ConfigError(mismatch(where, "name", "be a name not yet registered", repr(name)))
    if config is not None:
        _check_config_class(where, name, config)

    def register(cls: _S) -> _S:
        if not (isinstance(cls, type) and issubclass(cls, RoutingStrategy)):
            raise ConfigError(mismatch(where, "cls", "be a RoutingStrategy subclass", repr(cls)))
        _REGISTRY[name] = _Entry(
            cls, config if config is not None else _config_from_init(name, cls)
        )
        return cls

    return register


def _check_config_class(where: str, name: str, config: Any) -> None:
    if not (isinstance(config, type) and issubclass(config, FrozenConfig)):
        raise ConfigError(
            mismatch(
                where,
                "config",
                "be a FrozenConfig subclass (the class, not an instance)",
                repr(config) if not isinstance(config, type) else config.__name__,
            )
        )
    kind = config.model_fields.get("kind")
    if kind is None or kind.default != name:
        raise ConfigError(
            mismatch(where, "config", f"have a field kind = {name!r}", config.__name__)
        )


def _config_from_init(name: str, cls: type[RoutingStrategy]) -> type[FrozenConfig]:
    """A config whose fields are ``cls.__init__``'s keyword arguments (and ``kind``)."""
    hints = typing.get_type_hints(cls.__init__)
    fields: dict[str, Any] = {"kind": (Literal[name], name)}  # type: ignore[valid-type]
    for param in inspect.signature(cls.__init__).parameters.values():
        if param.name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), default)
    return pydantic.create_model(f"{cls.__name__}Config", __base__=FrozenConfig, **fields)


def unregister_routing(name: str) -> None:
    """Remove a registered strategy (for tests that register a temporary one)."""
    _REGISTRY.pop(name, None)


def routing_names() -> tuple[str, ...]:
    """The names of every registered routing strategy, sorted (``("hard", "soft", "topk")``)."""
    return tuple(sorted(_REGISTRY))


class Routing(NamedTuple):
    """The result of a routing strategy.

    Attributes:
        weights: ``[..., n]`` non-negative mixing weights; each row sums to 1 over the last
            axis, except under ``TopK(renormalize=False)`` where a row holds the full
            softmax's probabilities of the selected choices and so sums to at most 1 (see
            ``docs/routing.md``). float32 (float64 if the logits were float64).
        mask: ``[..., n]`` bool, the active choices: all True for ``Soft``, the one chosen
            for ``Hard``, exactly ``k`` per row for ``TopK``. A selected weight may still
            underflow to 0.
        logits: ``[..., n]`` the logits as given, cast to the compute dtype (before
            temperature and noise).
        aux_loss: scalar auxiliary loss to add to the training loss (zero when the
            strategy has none).
    """

    weights: Tensor
    mask: Tensor
    logits: Tensor
    aux_loss: Tensor


class RoutingStrategy(nn.Module):
    """Base class: maps logits ``[..., n]`` to a :class:`Routing`.

    A subclass implements :meth:`route` on float32 (or float64) logits; :meth:`forward`
    validates the input, casts it and, when autocast is on, switches it off around
    :meth:`route`. Train/eval mode matters: noise is drawn only in training mode.
    """

    def forward(self, logits: Tensor) -> Routing:
        """Route.

        Args:
            logits: ``[..., n]`` router logits, any floating dtype (at least one axis).

        Returns:
            :class:`Routing` with ``weights`` and ``mask`` ``[..., n]``, ``logits``
            ``[..., n]`` and a scalar ``aux_loss``.
        """
        where = f"{type(self).__name__}.forward"
        # The checks below are attribute reads only: this runs on the acting hot path
        # (batch 10), where a few microseconds per routing call show.
        if not isinstance(logits, Tensor):
            raise ShapeError(mismatch(where, "logits", "be a torch.Tensor", type(logits).__name__))
        if logits.dim() == 0 or logits.shape[-1] == 0:
            raise ShapeError(
                mismatch(where, "logits", "have shape [..., n] with n >= 1", tuple(logits.shape))
            )
        if not logits.is_floating_point():
            raise ShapeError(mismatch(where, "logits", "be a floating-point tensor", logits.dtype))
        # Routing is a normalisation: compute at least in float32 and keep it out of
        # bf16/fp16 autocast. The cast is what matters today (softmax, topk and dot are not
        # on autocast's lower-precision lists); switching autocast off also protects a
        # subclass's route() that uses matmul/einsum. It costs ~10 us, so only when on.
        if logits.dtype != torch.float32 and logits.dtype != torch.float64:
            logits = logits.float()
        device_type = logits.device.type
        if torch.is_autocast_enabled(device_type):
            with torch.autocast(device_type=device_type, enabled=False):
                return self.route(logits)
        return self.route(logits)

    def route(self, logits: Tensor) -> Routing:
        """The strategy's math on validated float32/float64 logits ``[..., n]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement route(logits)")

    @classmethod
    def from_config(cls, config: SoftConfig | HardConfig | TopKConfig) -> RoutingStrategy:
        """Build from a routing config (``SoftConfig``, ``HardConfig`` or ``TopKConfig``).

        ``RoutingStrategy.from_config`` accepts any of them; ``Soft.from_config`` only a
        ``SoftConfig``, and so on.
        """
        strategy = make_routing(config)
        if not isinstance(strategy, cls):
            raise ConfigError(
                mismatch(
                    f"{cls.__name__}.from_config",
                    "config",
                    f"build a {cls.__name__}",
                    f"{type(config).__name__} (use make_routing for any routing config)",
                )
            )
        return strategy


def _scale(logits: Tensor, temperature: float) -> Tensor:
    # x / 1.0 == x exactly; skipping it saves a kernel launch at the default temperature.
    return logits if temperature == 1.0 else logits / temperature


def _zero(logits: Tensor) -> Tensor:
    return logits.new_zeros(())


def _one_hot(index: Tensor, like: Tensor) -> Tensor:
    """``[...]`` int64 -> ``[..., n]`` with exactly one 1.0 per row, dtype of ``like``."""
    return torch.zeros_like(like).scatter(-1, index.unsqueeze(-1), 1.0)


def _straight_through(hard: Tensor, soft: Tensor) -> Tensor:
    # ``soft - soft.detach()`` is exactly 0.0 for finite ``soft``, so the forward value is
    # exactly ``hard`` by construction, whatever the evaluation order; the gradient is that
    # of ``soft``. (The common ``hard - soft.detach() + soft`` is also exact under IEEE
    # round-to-nearest for s in [0, 1], but only through a rounding argument.)
    return hard + (soft - soft.detach())


@register_routing("soft", SoftConfig)
class Soft(RoutingStrategy):
    """Softmax routing: ``weights = softmax(logits / temperature)``; every choice active.

    Args:
        temperature: > 0; small values sharpen towards the argmax, large ones flatten
            towards uniform.
    """

    def __init__(self, *, temperature: float = 1.0) -> None:
        super().__init__()
        self.config = SoftConfig.validated("Soft", temperature=temperature)
        self.temperature = self.config.temperature

    def route(self, logits: Tensor) -> Routing:
        weights = softmax_last(_scale(logits, self.temperature))
        mask = torch.ones_like(logits, dtype=torch.bool)
        return Routing(weights, mask, logits, _zero(logits))

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"


@register_routing("hard", HardConfig)
class Hard(RoutingStrategy):
    """Hard routing: the forward value is exactly one-hot; the gradient is the soft one's.

    ``weights = one_hot(argmax) + (s - stop_gradient(s))`` with the surrogate
    ``s = softmax(z / temperature)``, so the forward value is exactly one-hot (values in
    {0, 1}, rows sum to exactly 1) and the backward pass is that of ``s``.

    Args:
        estimator: ``"straight_through"``: ``z = logits``, argmax of the logits (ties go to
            the first index). ``"gumbel"``: in training mode ``z = logits + g`` with
            Gumbel(0, 1) noise ``g``, so the chosen index is a sample from
            ``softmax(logits)`` (straight-through Gumbel-softmax); in evaluation mode no
            noise, the argmax, as ``"straight_through"``.
        temperature: > 0, the temperature of the soft surrogate (it does not change the
            chosen index).
    """

    def __init__(self, *, estimator: str = "straight_through", temperature: float = 1.0) -> None:
        super().__init__()
        self.config = HardConfig.validated("Hard", estimator=estimator, temperature=temperature)
        self.estimator = self.config.estimator
        self.temperature = self.config.temperature

    def route(self, logits: Tensor) -> Routing:
        scores = logits
        if self.estimator == "gumbel" and self.training:
            scores = logits + _gumbel_like(logits)
        soft = softmax_last(_scale(scores, self.temperature))
        hard = _one_hot(scores.argmax(dim=-1), soft)
        return Routing(_straight_through(hard, soft), hard.bool(), logits, _zero(logits))

    def extra_repr(self) -> str:
        return f"estimator={self.estimator!r}, temperature={self.temperature}"


def _gumbel_like(logits: Tensor) -> Tensor:
    """Gumbel(0, 1) noise ``-log(-log(u))``, finite: ``u`` is kept inside (0, 1)."""
    tiny = torch.finfo(logits.dtype).tiny
    u = torch.rand_like(logits).clamp_(min=tiny, max=1.0 - torch.finfo(logits.dtype).eps / 2)
    return -torch.log(-torch.log(u))


@register_routing("topk", TopKConfig)
class TopK(RoutingStrategy):
    """Top-k routing: the ``k`` largest logits are selected, every other weight is zero.

    Args:
        k: number of selected choices per row, ``1 <= k <= n`` (``k > n`` is refused at
            call time, when ``n`` is known).
        renormalize: True: the selected weights are a softmax over the selected logits
            (rows sum to 1). False: they are the full softmax's probabilities of the
            selected choices (Switch Transformer; rows sum to at most 1). ``k=1`` with
            ``renormalize=True`` is refused: its weight is always exactly 1, so the router
            would get no gradient.
        noise_std: std of Gaussian noise added to the logits before selection and
            weighting, in training mode only (noisy top-k, Shazeer et al. 2017, with a
            fixed scale).
        balance_coef: coefficient of the Switch-style load-balancing loss
            ``coef * n * sum_i f_i * P_i`` (``f_i``: fraction of the selected slots that
            went to choice ``i``; ``P_i``: mean router probability of ``i``). It equals
            ``coef`` when routing is uniform. 0 disables it.
        temperature: > 0, divides the logits before every softmax.

    ``k = n`` equals :class:`Soft` (exactly, with no noise).
    """

    def __init__(
        self,
        k: int,
        *,
        renormalize: bool = True,
        noise_std: float = 0.0,
        balance_coef: float = 0.0,
        temperature: float = 1.0,
    ) -> None:
        super().__init__()
        self.config = TopKConfig.validated(
            "TopK",
            k=k,
            renormalize=renormalize,
            noise_std=noise_std,
            balance_coef=balance_coef,
            temperature=temperature,
        )
        self.k = self.config.k
        self.renormalize = self.config.renormalize
        self.noise_std = self.config.noise_std
        self.balance_coef = self.config.balance_coef
        self.temperature = self.config.temperature

    def route(self, logits: Tensor) -> Routing:
        n = logits.shape[-1]
        if self.k > n:
            raise ShapeError(
                mismatch(
                    f"{type(self).__name__}.forward",
                    "logits",
                    f"have at least k={self.k} choices on the last axis (shape [..., n], k <= n)",
                    tuple(logits.shape),
                )
            )
        scores = logits
        if self.noise_std > 0 and self.training:
            scores = logits + self.noise_std * torch.randn_like(logits)
        scores = _scale(scores, self.temperature)
        # The full softmax is needed unless only the renormalised top-k weights are asked for.
        need_probs = self.k == n or not self.renormalize or self.balance_coef > 0
        probs = softmax_last(scores) if need_probs else scores
        if self.k == n:
            # Everything is selected: this is Soft (with the same noise), bit for bit.
            weights, mask = probs, torch.ones_like(logits, dtype=torch.bool)
        else:
            top, index = scores.topk(self.k, dim=-1)
            mask = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, index, True)
            if self.renormalize:
                # softmax over the selected logits only: gather -> softmax -> scatter, so
                # unselected logits get exactly zero gradient.
                selected = softmax_last(top)
            else:
                selected = probs.gather(-1, index)
            weights = torch.zeros_like(scores).scatter(-1, index, selected)
        aux = _zero(logits)
        if self.balance_coef > 0:
            aux = self.balance_coef * _switch_balance(probs, mask, self.k)
        return Routing(weights, mask, logits, aux)

    def extra_repr(self) -> str:
        return (
            f"k={self.k}, renormalize={self.renormalize}, noise_std={self.noise_std}, "
            f"balance_coef={self.balance_coef}, temperature={self.temperature}"
        )


def _switch_balance(probs: Tensor, mask: Tensor, k: int) -> Tensor:
    """Switch Transformer's load-balancing loss (unweighted): ``n * sum_i f_i * P_i``.

    ``probs``/``mask`` ``[..., n]``; every leading axis counts as rows. ``f_i`` is the
    fraction of the ``rows * k`` selected slots given to choice ``i`` (no gradient, it is a
    count) and ``P_i`` the mean router probability, so ``sum_i f_i = sum_i P_i = 1`` and
    the loss equals 1 when either is uniform (1/n each).
    """
    n = probs.shape[-1]
    rows = probs.reshape(-1, n)
    if rows.shape[0] == 0:
        return probs.new_zeros(())  # an empty batch has no load to balance (not 0/0)
    fraction = mask.reshape(-1, n).to(probs.dtype).sum(0) / (rows.shape[0] * k)
    mean_prob = rows.mean(0)
    return n * torch.dot(fraction, mean_prob)


def selected_indices(mask: Tensor, k: int) -> Tensor:
    """Indices of the ``k`` selected choices of each row of a top-k ``mask``.

    Args:
        mask: ``[..., n]`` bool with exactly ``k`` True per row (``Routing.mask`` of
            :class:`TopK`).
        k: the number of selected choices.

    Returns:
        ``[..., k]`` int64, ascending within each row.
    """
    n = mask.shape[-1]
    position = torch.arange(n, device=mask.device)
    # Selected entries keep their position as key, the others get position + n, so the k
    # smallest keys are the selected positions, in ascending order (faster than argsort).
    key = torch.where(mask, position, position + n)
    return key.topk(k, dim=-1, largest=False, sorted=True).indices


RoutingSpec = str | RoutingStrategy | FrozenConfig | Mapping[str, Any]
"""What :func:`make_routing` accepts (and so every ``routing=`` argument of modnet)."""


def make_routing(spec: RoutingSpec = "soft", **kwargs: Any) -> RoutingStrategy:
    """Build a routing strategy.

    Args:
        spec: a registered name (``"soft"``, ``"hard"``, ``"topk"`` or one added with
            :func:`register_routing`; settings in ``kwargs``, validated); a
            :class:`RoutingStrategy` (returned as is); a registered routing config
            (``SoftConfig``, ``HardConfig``, ``TopKConfig``, ...); or a mapping with a
            ``"kind"`` key and the settings.
        **kwargs: settings for a name spec, e.g. ``make_routing("topk", k=2)``.

    Raises:
        ConfigError: unknown name, bad or unknown setting, or settings given alongside an
            instance or a config.
    """
    where = "make_routing"
    names = list(routing_names())
    if isinstance(spec, RoutingStrategy):
        if kwargs:
            raise ConfigError(
                mismatch(where, "kwargs", "be empty when spec is a RoutingStrategy", sorted(kwargs))
            )
        return spec
    if isinstance(spec, FrozenConfig) and _registered_config(spec):
        if kwargs:
            raise ConfigError(
                mismatch(where, "kwargs", "be empty when spec is a routing config", sorted(kwargs))
            )
        settings = spec.model_dump(exclude={"kind"})
        kind = spec.kind  # type: ignore[attr-defined]
    elif isinstance(spec, str):
        if spec not in _REGISTRY:
            raise ConfigError(mismatch(where, "spec", f"be one of {names}", repr(spec)))
        settings, kind = kwargs, spec
    elif isinstance(spec, Mapping):
        settings = {**spec, **kwargs}
        kind = settings.pop("kind", None)
        if kind not in _REGISTRY:
            raise ConfigError(mismatch(where, "spec['kind']", f"be one of {names}", repr(kind)))
    else:
        raise ConfigError(
            mismatch(
                where,
                "spec",
                f"be one of {names}, a RoutingStrategy, a routing config or a dict",
                type(spec).__name__,
            )
        )
    entry = _REGISTRY[kind]
    config = entry.config.validated(f"{where}({kind!r})", **settings)
    return entry.strategy(**config.model_dump(exclude={"kind"}))


def _registered_config(spec: FrozenConfig) -> bool:
    entry = _REGISTRY.get(getattr(spec, "kind", None))  # type: ignore[arg-type]
    return entry is not None and isinstance(spec, entry.config)


def routing_spec_problem(spec: Any) -> str | None:
    """Why ``spec`` is not a routing spec (worded ``"be ..."``), or ``None`` if it is one.

    The configs' validators call this; it checks names and types, not settings.
    """
    names = list(routing_names())
    if isinstance(spec, RoutingStrategy):
        return None
    if isinstance(spec, str):
        return None if spec in _REGISTRY else f"be one of {names}"
    if isinstance(spec, FrozenConfig):
        return None if _registered_config(spec) else f"be a registered routing config ({names})"
    if isinstance(spec, Mapping):
        return None if spec.get("kind") in _REGISTRY else f"have 'kind' in {names}"
    return f"be one of {names}, a RoutingStrategy, a routing config or a dict"
