"""Pydantic configs, one per concept: frozen, and ``extra="forbid"`` so a misspelt option fails.

Layers take plain keyword arguments and also build from these with ``from_config(cfg)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import Self

from modnet.errors import ConfigError, mismatch
from modnet.validation import int_at_least_problem

__all__ = ["FrozenConfig"]


__all__ += ["config_error"]


def config_error(
    where: str, exc: ValidationError, known: Iterable[str] | None = None
) -> ConfigError:
    """Turn a pydantic ``ValidationError`` into one ``ConfigError`` worded by ``mismatch``.

    ``where`` names the class the user called (``"Soft"``, ``"TopKConfig"``), so the message
    reads ``"Soft: temperature must be greater than 0, got 0.0"``. ``known`` lists the
    accepted argument names, quoted when an unknown one is given.
    """
    parts: list[str] = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"])
        if err["type"] == "extra_forbidden":
            hint = f"; known arguments: {', '.join(known)}" if known is not None else ""
            parts.append(f"{where}: unknown argument {loc!r} (got {err.get('input')!r}){hint}")
        elif err["type"] == "literal_error":
            expected = f"be one of {err['ctx']['expected']}"
            parts.append(mismatch(where, loc, expected, repr(err.get("input"))))
        elif err["type"] == "missing":
            parts.append(f"{where}: missing required argument {loc!r}")
        elif not loc:
            # A model validator's own message, which already names its arguments.
            parts.append(f"{where}: {msg.removeprefix('Value error, ')}")
        else:
            expected = msg.removeprefix("Value error, ").removeprefix("Input should ")
            if expected == msg:
                expected = f"be valid ({msg})"
            parts.append(mismatch(where, loc, expected, repr(err.get("input"))))
    return ConfigError("; ".join(parts))


_ERROR_WHERE: ContextVar[str | None] = ContextVar("_ERROR_WHERE", default=None)


class FrozenConfig(BaseModel):
    """Base of every modnet config: immutable, unknown keys rejected.

    A bad setting raises :class:`~modnet.errors.ConfigError` naming the argument, never a
    bare pydantic ``ValidationError``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            where = _ERROR_WHERE.get() or type(self).__name__
            raise config_error(where, exc, known=type(self).model_fields) from None

    @classmethod
    def validated(cls, where: str, **data: Any) -> Self:
        """Build the config, wording any error as raised by ``where`` (e.g. ``"Soft"``)."""
        # pydantic calls a custom __init__ from inside validation, so the caller's name
        # travels in a context variable rather than as an argument.
        token = _ERROR_WHERE.set(where)
        try:
            return cls(**data)
        finally:
            _ERROR_WHERE.reset(token)


# --------------------------------------------------------------------------------------
# Routing strategies (modnet.routing): Soft, Hard, TopK
# --------------------------------------------------------------------------------------

__all__ += ["HardConfig", "RoutingConfig", "SoftConfig", "TopKConfig"]


class _RoutingConfig(FrozenConfig):
    """Shared validation of the routing configs."""

    @field_validator("temperature", check_fields=False)
    @classmethod
    def _positive_finite(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError("be a finite number > 0")
        return value


_Temperature = Annotated[float, Field(strict=False, description="Softmax temperature, > 0.")]
_NonNegative = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class SoftConfig(_RoutingConfig):
    """``Soft``: weights = softmax(logits / temperature)."""

    kind: Literal["soft"] = "soft"
    temperature: _Temperature = 1.0


class HardConfig(_RoutingConfig):
    """``Hard``: exactly one-hot forward, gradient of softmax(logits / temperature)."""

    kind: Literal["hard"] = "hard"
    #: ``"straight_through"``: argmax of the logits; ``"gumbel"``: argmax of logits + Gumbel
    #: noise in training mode (a sample from softmax(logits)), plain argmax in evaluation.
    estimator: Literal["straight_through", "gumbel"] = "straight_through"
    temperature: _Temperature = 1.0


class TopKConfig(_RoutingConfig):
    """``TopK``: the k largest logits are selected, every other weight is zero."""

    kind: Literal["topk"] = "topk"
    k: Annotated[int, Field(strict=True, ge=1, description="Number of selected choices.")]
    #: True: softmax over the selected logits (sums to 1). False: the full softmax's
    #: probabilities of the selected choices (Switch Transformer; sums to <= 1).
    renormalize: Annotated[bool, Field(strict=True)] = True
    #: Std of the Gaussian noise added to the logits before selection, in training only.
    noise_std: _NonNegative = 0.0
    #: Coefficient of the Switch-style load-balancing loss (0 disables it).
    balance_coef: _NonNegative = 0.0
    temperature: _Temperature = 1.0

    @model_validator(mode="after")
    def _router_gets_gradient(self) -> TopKConfig:
        if self.k == 1 and self.renormalize:
            raise ValueError(
                "k=1 with renormalize=True gives the selected choice a weight of exactly 1, "
                "so the router gets no gradient; use renormalize=False (Switch-style, the "
                "selected weight is its softmax probability) or k >= 2"
            )
        return self


#: Any built-in routing config; pydantic picks the class from its ``kind`` field.
RoutingConfig = Annotated[SoftConfig | HardConfig | TopKConfig, Field(discriminator="kind")]


def _routing_spec(value: Any) -> Any:
    # The strategy registry lives in modnet.routing, which imports this module.
    from modnet.routing import routing_spec_problem

    problem = routing_spec_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


#: A ``routing=`` argument: a registered name, a registered routing config, a dict with
#: ``kind``, or a ``RoutingStrategy`` instance (checked against the strategy registry).
RoutingField = Annotated[Any, BeforeValidator(_routing_spec)]


# --------------------------------------------------------------------------------------
# Networks: SoftRoutedMLP and the paper's baselines
# --------------------------------------------------------------------------------------

__all__ += [
    "MixtureOfExpertsConfig",
    "MultiHeadMLPConfig",
    "SoftRoutedMLPConfig",
    "TaskMLPConfig",
]


def int_at_least(minimum: int) -> Any:
    """An int field ``>= minimum`` (bools and floats refused), worded like every modnet check."""

    def check(value: Any) -> int:
        problem = int_at_least_problem(value, minimum)
        if problem is not None:
            raise ValueError(problem)
        return value

    return Annotated[int, BeforeValidator(check)]


_Width = int_at_least(1)


class _NetworkConfig(FrozenConfig):
    """The ``(in_features, out_features, num_tasks)`` every multi-task network takes."""

    #: State width, without the task one-hot.
    in_features: _Width
    #: Output width (2|A| for a SAC actor, 1 for a critic).
    out_features: _Width
    #: Number of tasks T.
    num_tasks: _Width

    @classmethod
    def of(
        cls, where: str, in_features: int, out_features: int, num_tasks: int, **settings: Any
    ) -> Self:
        """The config of a network called as ``Network(in, out, T, **settings)`` by ``where``."""
        sizes = {"in_features": in_features, "out_features": out_features, "num_tasks": num_tasks}
        return cls.validated(where, **sizes, **settings)

    @classmethod
    def setting_names(cls) -> tuple[str, ...]:
        """The network's own settings: every field but the three sizes (what a policy takes)."""
        return tuple(n for n in cls.model_fields if n not in _NetworkConfig.model_fields)


class SoftRoutedMLPConfig(_NetworkConfig):
    """``SoftRoutedMLP``'s settings: the one definition of its constructor arguments.

    ``SoftRoutedMLP``, its loop oracle and ``modnet_sb3.SoftModularPolicy`` all read their
    network arguments from these fields, so a new argument is one edit here (and its use
    in the variant's forward). The defaults are the paper's Shallow network.
    """

    #: Module layers L (>= 2); the paper's Shallow uses 2, Deep 4.
    num_layers: int_at_least(2) = 2  # type: ignore[valid-type]
    #: Modules per layer n; Shallow 2, Deep 4.
    num_modules: _Width = 2
    #: Width d of every module; Shallow 256, Deep 128.
    module_features: _Width = 256
    #: Routing strategy: a registered name (``"soft"``, ``"hard"``, ``"topk"``, ...), a
    #: routing config (e.g. ``TopKConfig(k=2)``) or a ``RoutingStrategy`` instance.
    routing: RoutingField = "soft"
    #: Settings of a routing strategy given by name (e.g. ``{"k": 2}`` for ``"topk"``).
    routing_kwargs: dict[str, Any] | None = None
    #: A registered variant: ``"official"`` (the authors' published network) or
    #: ``"paper"`` (the printed equations); see ``modnet.soft_modular_variants``.
    variant: str = "official"
    #: Width of the state encoder and task embedding (400 in the paper).
    hidden_features: _Width = 400
    #: Width of the routing trunk (256 in the authors' code; unused by ``"paper"``).
    routing_features: _Width = 256

    @field_validator("variant")
    @classmethod
    def _registered_variant(cls, value: str) -> str:
        from modnet.soft_modular_variants import variant_names

        if value not in variant_names():
            raise ValueError(f"be one of {list(variant_names())}")
        return value

    @model_validator(mode="after")
    def _routing_fits(self) -> SoftRoutedMLPConfig:
        if self.routing_kwargs and not isinstance(self.routing, str):
            raise ValueError(
                "routing_kwargs must be empty unless routing is a name (put the settings in "
                f"the routing config or dict itself), got {self.routing_kwargs!r}"
            )
        k = getattr(self.strategy(), "k", None)
        if isinstance(k, int) and k > self.num_modules:
            raise ValueError(f"routing k must be <= num_modules = {self.num_modules}, got {k}")
        return self

    def strategy(self) -> Any:
        """A new :class:`~modnet.routing.RoutingStrategy` from ``routing`` and ``routing_kwargs``."""
        from modnet.routing import make_routing

        return make_routing(self.routing, **(self.routing_kwargs or {}))


class TaskMLPConfig(_NetworkConfig):
    """``TaskMLP`` (MT-SAC): an MLP on ``cat(x, one-hot)``."""

    hidden_sizes: tuple[_Width, ...] = (400, 400, 400)


class MultiHeadMLPConfig(_NetworkConfig):
    """``MultiHeadMLP`` (MT-MH-SAC): a shared trunk and one head per task."""

    trunk_sizes: tuple[_Width, ...] = (400, 400)
    head_sizes: tuple[_Width, ...] = (400,)


class MixtureOfExpertsConfig(_NetworkConfig):
    """``MixtureOfExperts``: expert MLPs on ``cat(x, one-hot)``, mixed by a task-conditioned gate."""

    num_experts: _Width = 4
    hidden_sizes: tuple[_Width, ...] = (400, 400, 400)


# --------------------------------------------------------------------------------------
# Module banks and routed layers: ModuleBank, RoutedLinear
# --------------------------------------------------------------------------------------

__all__ += ["ModuleBankConfig", "RoutedLinearConfig"]


class ModuleBankConfig(FrozenConfig):
    """``ModuleBank``: n independent linear modules held as one stacked parameter."""

    #: Input width of every module.
    in_features: _Width
    #: Output width of every module.
    out_features: _Width
    #: Number of modules n.
    num_modules: _Width
    #: Whether every module has a bias.
    bias: Annotated[bool, Field(strict=True)] = True


class RoutedLinearConfig(ModuleBankConfig):
    """``RoutedLinear``: a routed mixture of a ``ModuleBank``'s modules."""

    #: Routing strategy: a registered name, a routing config (``TopKConfig(k=2)`` for
    #: top-k) or a ``RoutingStrategy`` instance.
    routing: RoutingField = "soft"
    #: Width of the router's input; ``None``: the router reads the layer's input.
    context_features: _Width | None = None
    #: ``"auto"``, ``"dense"`` (compute every module) or ``"sparse"`` (top-k only).
    dispatch: Literal["auto", "dense", "sparse"] = "auto"


# --------------------------------------------------------------------------------------
# CARE and PaCo (issue #14): modnet.care, modnet.paco
# --------------------------------------------------------------------------------------

__all__ += ["CAREConfig", "PaCoConfig"]

_FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class CAREConfig(_NetworkConfig):
    """``CARE``: k state encoders mixed by attention on a task context, then an MLP trunk.

    Defaults: the Meta-World+ baselines' ``CAREConfig`` for MT10 (mtrl's encoder widths);
    use ``num_experts=10`` on MT50 (``docs/architectures/care.md``).
    """

    #: Encoders k (6 on MT10, 10 on MT50).
    num_experts: _Width = 6
    #: Hidden widths of each encoder and of the context and attention MLPs.
    encoder_sizes: tuple[_Width, ...] = (50, 50)
    #: Width of each encoder's output and of the task context (50).
    embedding_dim: _Width = 50
    #: Hidden widths of the trunk on cat(encoding, context).
    hidden_sizes: tuple[_Width, ...] = (400, 400, 400)
    #: Softmax temperature of the attention over the encoders.
    temperature: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    #: The attention reads the context detached (mtrl's should_detach_task_encoding).
    detach_context: Annotated[bool, Field(strict=True)] = False
    #: Fixed task contexts [T, c] (e.g. sentence embeddings of the task descriptions)
    #: instead of a learned embedding; None: learned.
    context: tuple[tuple[_FiniteFloat, ...], ...] | None = None

    @model_validator(mode="after")
    def _context_fits(self) -> CAREConfig:
        rows = self.context
        if rows is not None and (
            len(rows) != self.num_tasks or not rows[0] or any(len(r) != len(rows[0]) for r in rows)
        ):
            shape = (len(rows), sorted({len(r) for r in rows}))
            raise ValueError(
                f"context must be {self.num_tasks} rows of one width c >= 1, got "
                f"{shape[0]} rows of widths {shape[1]}"
            )
        return self


class PaCoConfig(_NetworkConfig):
    """``PaCo``: every layer's parameters composed per task from K shared sets.

    Defaults: the official MT10 config (TToTMooN/paco-mtrl) and Meta-World+'s
    ``PaCoConfig`` (``docs/architectures/paco.md``).
    """

    #: Parameter sets K (5).
    num_parameter_sets: _Width = 5
    #: Hidden widths, ReLU after each.
    hidden_sizes: tuple[_Width, ...] = (400, 400, 400)
    #: Start the K sets of each layer equal (official ``use_identical_init``).
    identical_init: Annotated[bool, Field(strict=True)] = True
    #: w_tau = W z + b with a bias shared by the tasks (Meta-World+); False: no b.
    task_weight_bias: Annotated[bool, Field(strict=True)] = True


# --------------------------------------------------------------------------------------
# MOORE and FiLM (issue #14): modnet.moore, modnet.film
# --------------------------------------------------------------------------------------

__all__ += ["FiLMMLPConfig", "MOOREConfig"]


class MOOREConfig(_NetworkConfig):
    """``MOORE``: k expert MLPs, orthonormalised per sample, mixed by task weights.

    Defaults: the authors' Meta-World SAC runs (AhmedMagdyHendawy/MOORE) on MT10; use
    ``num_experts=6`` on MT50 (``docs/architectures/moore.md``).
    """

    #: Experts k (4 on MT10, 6 on MT50).
    num_experts: _Width = 4
    #: Widths of every expert's layers (ReLU between, none after the last); the last is
    #: the representation width d, at least k.
    hidden_sizes: tuple[_Width, ...] = (400, 400, 400)
    #: One output head per task (the paper's Meta-World variant); False: one shared head.
    multi_head: Annotated[bool, Field(strict=True)] = True

    @model_validator(mode="after")
    def _basis_fits(self) -> MOOREConfig:
        if not self.hidden_sizes:
            raise ValueError("hidden_sizes must hold at least one width, got ()")
        if self.hidden_sizes[-1] < self.num_experts:
            raise ValueError(
                f"hidden_sizes[-1] (the representation width d) must be >= num_experts = "
                f"{self.num_experts} (k orthonormal vectors need d >= k dimensions), got "
                f"{self.hidden_sizes[-1]}"
            )
        return self


class FiLMMLPConfig(_NetworkConfig):
    """``FiLMMLP``: a state encoder modulated by task-conditioned scales and shifts, then an MLP.

    Defaults: the Meta-World+ baselines' ``FiLMConfig`` (``docs/architectures/film.md``).
    """

    #: Width of the learned task embedding and of the encoder's output (50).
    embedding_features: _Width = 50
    #: Width of the encoder's hidden layers and of the scale/shift generator's (50).
    encoder_features: _Width = 50
    #: Hidden layers of the encoder and of the generator (2).
    encoder_layers: int_at_least(0) = 2  # type: ignore[valid-type]
    #: Hidden widths of the trunk on cat(encoding, task embedding), ReLU after each.
    hidden_sizes: tuple[_Width, ...] = (400, 400, 400)
    #: ``"layer"``: one scale and one shift per encoder layer (Meta-World+ and mtrl);
    #: ``"feature"``: one per feature (Perez et al. 2018, feature-wise).
    modulation: Literal["layer", "feature"] = "layer"
