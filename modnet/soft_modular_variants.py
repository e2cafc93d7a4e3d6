"""The variants of the Soft Modularization network: what is built and the one forward of each.

A variant is a class with two methods: :meth:`SoftModularVariant.build` adds the
network's layers to a :class:`~modnet.SoftRoutedMLP`, and :meth:`SoftModularVariant.forward`
computes the network on a :class:`~modnet.parameter_layouts.ParameterLayout`. The same
forward therefore serves one network (``SoftRoutedMLP.forward``) and K stacked networks
(``SoftRoutedMLP.ensemble_forward``, SAC's twin critics). Register a new variant with
:func:`register_variant`; ``SoftRoutedMLP(..., variant=name)`` and every config and policy
that lists variants read this registry.

- ``"official"`` (:class:`Official`) is the authors' published network: a routing trunk on
  ``relu(f ⊙ h)``, each routing matrix conditioned on *all* earlier (post-normalisation)
  routing matrices, bare linear modules with the ReLU after the weighted sum, and a final
  routing vector that mixes the last layer before one shared output layer.
- ``"paper"`` (:class:`Paper`) is the equations as printed: routing reads ``f ⊙ h``
  directly, ``p^{l+1}`` is conditioned on the logits ``p^l`` alone, each module applies its
  own ReLU before mixing, and the output is ``Σ_j W_j g_j``, one head per module of the
  last layer.

``docs/paper_vs_code.md`` sets the two side by side. Dimension letters: ``b`` batch
(``...`` in front: ``(b,)`` or ``(k, b)``), ``t`` tasks, ``n`` modules, ``d`` module width,
``i``/``j`` source/destination module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.errors import ConfigError, mismatch
from modnet.init import authors_bank_init, authors_linear_init_, small_uniform_
from modnet.module_bank import ModuleBank
from modnet.parameter_layouts import ParameterLayout

if TYPE_CHECKING:
    from modnet.config import SoftRoutedMLPConfig

__all__ = [
    "Official",
    "Paper",
    "SoftModularVariant",
    "VariantOutput",
    "Weigh",
    "register_variant",
    "unregister_variant",
    "variant_class",
    "variant_names",
]

#: The routing strategy as the forward uses it: logits ``[..., n]`` -> weights ``[..., n]``.
Weigh = Callable[[Tensor], Tensor]


class VariantOutput(NamedTuple):
    """What a variant's forward returns.

    Attributes:
        out: ``[..., out_features]``.
        layer_weights: one ``[..., n, n]`` routing matrix per pair of module layers,
            ``[destination, source]``.
        final_weights: ``[..., n]`` weights mixing the last layer, or ``None``.
    """

    out: Tensor
    layer_weights: list[Tensor]
    final_weights: Tensor | None


def _linear(in_features: int, out_features: int) -> nn.Linear:
    return authors_linear_init_(nn.Linear(in_features, out_features))


def _logit_layer(in_features: int, out_features: int) -> nn.Linear:
    return small_uniform_(nn.Linear(in_features, out_features))  # type: ignore[return-value]


def relu_(x: Tensor) -> Tensor:
    """In-place ReLU of a fresh product (one allocation and memory pass saved).

    Every caller passes a temporary whose producer (addmm, bmm, mul) does not keep its
    output for backward, so autograd allows it. Pass the product itself, not a view of
    it: an in-place op on a view rewrites the base's history (CopySlices), whose backward
    clones and zero-fills the whole base. Measured: docs/benchmarks/networks.md, "Speed
    tricks" (1-4 % of a step).
    """
    return torch.relu_(x)


def mix(p: Tensor, out: Tensor, *, relu: bool = False) -> Tensor:
    """Routing-weighted sums ``"... j i, ... i d -> ... j d"``: ``[..., j, n], [..., n, d]``.

    One ``bmm`` over all leading axes, whose result is contiguous, so the ReLU that
    follows (and its backward) runs on contiguous memory. ``relu=True`` applies it in
    place on the ``bmm`` result itself, before the leading axes are unfolded: on the
    unfolded view it would record ``CopySlices`` (see :func:`relu_`), which cost the
    stacked critics ~6 % of an MTSAC update in a same-run A/B (docs/benchmarks/sb3.md).
    """
    if p.dim() == 3:  # one network: no leading axes to fold (saves the reshapes when acting)
        y = torch.bmm(p, out)
        return relu_(y) if relu else y
    j, (n, d) = p.shape[-2], out.shape[-2:]
    y = torch.bmm(p.reshape(-1, j, n), out.reshape(-1, n, d))
    if relu:
        relu_(y)
    return y.view(*p.shape[:-2], j, d)


class SoftModularVariant:
    """Base of the variants: the state encoder and task embedding they all share.

    A subclass sets ``name``, adds its layers in :meth:`build` (calling ``super().build``)
    and writes :meth:`forward` once against a :class:`ParameterLayout`, reading parameters
    by their ``state_dict`` names. Its public steps are hooks: a subclass may override one
    of them (``benchmarks/ablate_networks.py`` does, to time the network with parts removed).

    Args:
        config: the network's settings.
    """

    name: ClassVar[str]

    def __init__(self, config: SoftRoutedMLPConfig) -> None:
        self.config = config
        self.n = config.num_modules
        self.num_layers = config.num_layers

    def build(self, net: nn.Module) -> None:
        """Add the encoder ``f = W_f2 relu(W_f1 x)`` and the task embedding ``h = W_h z``."""
        c = self.config
        net.state_fc1 = _linear(c.in_features, c.hidden_features)
        net.state_fc2 = _linear(c.hidden_features, c.hidden_features)
        net.task_embedding = _linear(c.num_tasks, c.hidden_features)

    def encode(self, ps: ParameterLayout, x: Tensor, task: Tensor) -> tuple[Tensor, Tensor]:
        """``f`` and ``h`` ``[..., hidden]`` from ``x [b, in]`` and ``task`` (ids ``[b]`` or one-hot)."""
        f = ps.dense("state_fc2", relu_(ps.dense("state_fc1", x)))
        if task.is_floating_point():
            h = ps.dense("task_embedding", task)
        else:
            h = ps.embed("task_embedding", task)
        return f, h

    def forward(self, ps: ParameterLayout, x: Tensor, task: Tensor, weigh: Weigh) -> VariantOutput:
        """The network on ``x [b, in]`` and checked ``task``; shapes in :class:`VariantOutput`."""
        raise NotImplementedError


# ---------------------------------------------------------------------------- registry
_VARIANTS: dict[str, type[SoftModularVariant]] = {}
_V = TypeVar("_V", bound=type[SoftModularVariant])


def register_variant(cls: _V) -> _V:
    """Class decorator: make ``cls`` a ``SoftRoutedMLP(variant=cls.name)``.

    Raises:
        ConfigError: ``cls.name`` is missing or already registered.
    """
    if not (isinstance(cls, type) and issubclass(cls, SoftModularVariant)):
        raise ConfigError(
            mismatch("register_variant", "cls", "be a SoftModularVariant subclass", repr(cls))
        )
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ConfigError(mismatch("register_variant", "cls.name", "be a non-empty str", name))
    if name in _VARIANTS:
        raise ConfigError(
            mismatch("register_variant", "cls.name", "be a name not yet registered", repr(name))
        )
    _VARIANTS[name] = cls
    return cls


def unregister_variant(name: str) -> None:
    """Remove a registered variant (for tests and benchmarks that add a temporary one)."""
    _VARIANTS.pop(name, None)


def variant_names() -> tuple[str, ...]:
    """The registered variants' names (``("official", "paper")`` and any added)."""
    return tuple(_VARIANTS)


def variant_class(name: str) -> type[SoftModularVariant]:
    """The class registered as ``name`` (the config has checked that it exists)."""
    return _VARIANTS[name]


# ---------------------------------------------------------------------------- official
@register_variant
class Official(SoftModularVariant):
    """The authors' published network (``e`` = routing width).

    1. ``f = W_f2 relu(W_f1 x)``, ``h = W_h z`` (no activations after them);
    2. routing trunk ``e = W_e2 relu(W_e1 relu(f ⊙ h))``;
    3. ``P¹ = strategy(reshape(W¹ relu(e), [n, n]))`` over the source modules (last
       axis); each later ``P^l`` and the final vector ``w`` are
       ``strategy(W_d^l relu((W_u^l concat(P¹ … P^{l-1})) ⊙ e))``;
    4. layer 1 is ``n`` modules ``Linear(hidden → d)`` on ``relu(f)``; module ``j`` of layer
       ``l+1`` reads ``relu(Σ_i P^l[j, i] out_i)``; the output is ``W_o relu(Σ_i w_i out_i)``.
    """

    name = "official"

    def build(self, net: nn.Module) -> None:
        super().build(net)
        c, n, L = self.config, self.n, self.num_layers
        e = c.routing_features
        net.trunk_fc1 = _linear(c.hidden_features, e)
        net.trunk_fc2 = _linear(e, e)
        # L-1 matrices and the final vector; head l >= 1 is conditioned on the l earlier
        # routing outputs flattened: l * n * n inputs.
        net.logit_layers = nn.ModuleList(_logit_layer(e, w) for w in [n * n] * (L - 1) + [n])
        net.cond_layers = nn.ModuleList(_linear(k * n * n, e) for k in range(1, L))
        d = c.module_features
        net.layers = nn.ModuleList(
            ModuleBank(c.hidden_features if k == 0 else d, d, n, init=authors_bank_init)
            for k in range(L)
        )
        net.output = _logit_layer(d, c.out_features)

    def forward(self, ps: ParameterLayout, x: Tensor, task: Tensor, weigh: Weigh) -> VariantOutput:
        f, h = self.encode(ps, x, task)
        e = self.routing_trunk(ps, f, h)
        routes = self.routes(ps, e, weigh)
        out = self.base_network(ps, f, routes)
        return VariantOutput(out, routes[:-1], routes[-1])

    def routing_trunk(self, ps: ParameterLayout, f: Tensor, h: Tensor) -> Tensor:
        """``e = W_e2 relu(W_e1 relu(f ⊙ h))`` ``[..., e]``: pre-activations in, ReLU inside."""
        return ps.dense("trunk_fc2", relu_(ps.dense("trunk_fc1", relu_(f * h))))

    def first_route(self, ps: ParameterLayout, e: Tensor, weigh: Weigh) -> Tensor:
        """``P¹`` ``[..., n, n]``."""
        n = self.n
        return weigh(ps.dense("logit_layers.0", F.relu(e)).view(*e.shape[:-1], n, n))

    def routes(self, ps: ParameterLayout, e: Tensor, weigh: Weigh) -> list[Tensor]:
        """``[P¹, …, P^{L-1}]`` ``[..., n, n]`` each, then the final ``w`` ``[..., n]``.

        Routing depends on ``(x, task)`` only, so the whole chain runs before the base
        network. Head ``l >= 1`` reads all earlier routing *weights* (not logits).
        """
        n, lead = self.n, e.shape[:-1]
        p = self.first_route(ps, e, weigh)
        routes, history = [p], [p.view(*lead, n * n)]
        for i in range(self.num_layers - 1):
            cond = history[0] if len(history) == 1 else torch.cat(history, dim=-1)
            logits = ps.dense(
                f"logit_layers.{i + 1}", relu_(ps.dense(f"cond_layers.{i}", cond) * e)
            )
            if i < self.num_layers - 2:
                p = weigh(logits.view(*lead, n, n))
                history.append(p.view(*lead, n * n))
            else:  # the final n-vector
                p = weigh(logits)
            routes.append(p)
        return routes

    def mix_relu(self, p: Tensor, out: Tensor) -> Tensor:
        """``relu(Σ_i P[j, i] out_i)`` ``[..., n, d]``: the input of layer ``l+1``'s modules."""
        return mix(p, out, relu=True)

    def base_network(self, ps: ParameterLayout, f: Tensor, routes: list[Tensor]) -> Tensor:
        """Bare linear modules, ReLU after each weighted sum, the final mix, the output layer."""
        out = ps.bank_shared("layers.0", F.relu(f))  # [..., n, d]
        for layer, p in enumerate(routes[:-1], start=1):
            out = ps.bank_per_module(f"layers.{layer}", self.mix_relu(p, out))
        # "... i, ... i d -> ... d"; the ReLU on the bmm result itself, not on a view of it.
        w = routes[-1]
        final = mix(w.unsqueeze(-2), out, relu=True)  # [..., 1, d]
        return ps.dense("output", final.squeeze(-2))


# ---------------------------------------------------------------------------- paper
@register_variant
class Paper(SoftModularVariant):
    """The equations as printed (Yang et al. 2020, Eq. 2-5).

    Routing reads ``f ⊙ h``: ``p¹ = W¹ relu(f ⊙ h)``, ``p^{l+1} = W_d^l relu((W_u^l p^l) ⊙
    (f ⊙ h))`` with ``p^l`` the logits; each module applies its own ReLU before the mixing
    (``g = relu(W x)``); the output is ``Σ_j W_j g_j``, one head per last-layer module.
    """

    name = "paper"

    def build(self, net: nn.Module) -> None:
        super().build(net)
        c, n, L = self.config, self.n, self.num_layers
        hid, d = c.hidden_features, c.module_features
        net.logit_layers = nn.ModuleList(_logit_layer(hid, n * n) for _ in range(L - 1))
        net.cond_layers = nn.ModuleList(_linear(n * n, hid) for _ in range(L - 2))
        net.layers = nn.ModuleList(
            ModuleBank(hid if k == 0 else d, d, n, init=authors_bank_init) for k in range(L)
        )
        # One head per module of the last layer; their outputs (and biases) are summed.
        net.output = small_uniform_(ModuleBank(d, c.out_features, n))

    def forward(self, ps: ParameterLayout, x: Tensor, task: Tensor, weigh: Weigh) -> VariantOutput:
        n = self.n
        f, h = self.encode(ps, x, task)
        fh = f * h
        lead = fh.shape[:-1]
        logits = ps.dense("logit_layers.0", F.relu(fh))
        routes = [weigh(logits.view(*lead, n, n))]
        for i in range(self.num_layers - 2):
            logits = ps.dense(
                f"logit_layers.{i + 1}", relu_(ps.dense(f"cond_layers.{i}", logits) * fh)
            )
            routes.append(weigh(logits.view(*lead, n, n)))
        # Layer 1 reads f itself. (Out-of-place ReLUs: the banks may return views.)
        out = F.relu(ps.bank_shared("layers.0", f))
        for layer, p in enumerate(routes, start=1):
            out = F.relu(ps.bank_per_module(f"layers.{layer}", mix(p, out)))
        return VariantOutput(ps.heads_sum("output", out), routes, None)
