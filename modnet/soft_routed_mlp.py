"""SoftRoutedMLP: the network of "Multi-Task RL with Soft Modularization" (Yang et al., 2020).

Dimension letters: ``b`` batch, ``t`` tasks, ``n`` modules per layer, ``d`` module
width, ``i``/``j`` source/destination module, ``o`` output features.

Two variants share one class:

- ``variant="official"`` (default) is the authors' published network: a routing
  trunk on ``relu(f ⊙ h)``, each routing matrix conditioned on *all* earlier
  (post-normalisation) routing matrices, bare linear modules with the ReLU after
  the weighted sum, and a final routing vector that mixes the last layer before
  one shared output layer.
- ``variant="paper"`` is the equations as printed: routing reads ``f ⊙ h``
  directly, ``p^{l+1}`` is conditioned on the logits ``p^l`` alone, each module
  applies its own ReLU before mixing, and the output is ``Σ_j W_j g_j``, one
  head per module of the last layer.

``docs/paper_vs_code.md`` sets the two side by side.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.config import SoftRoutedMLPConfig
from modnet.errors import ConfigError, mismatch
from modnet.init import authors_bank_init, authors_linear_init_, small_uniform_
from modnet.module_bank import batched_modules
from modnet.modules import ModuleBank
from modnet.routing import RoutingStrategy, Soft, make_routing
from modnet.softmax import softmax_last
from modnet.task_input import task_ids, task_one_hot
from modnet.validation import check_batch_features

__all__ = ["RoutingTrace", "SoftRoutedMLP", "Variant"]

Variant = Literal["official", "paper"]
_VARIANTS = ("official", "paper")


class RoutingTrace(NamedTuple):
    """Every routing decision of one forward pass.

    Attributes:
        layer_weights: one ``[b, n, n]`` tensor per pair of consecutive module
            layers (``num_layers - 1`` of them), indexed ``[destination, source]``;
            each row is the routing strategy's weights over the source modules
            (sums to 1 for soft, hard and renormalised top-k routing).
        final_weights: ``[b, n]``, the weights that mix the last layer's modules
            before the output layer (``variant="official"``); ``None`` for
            ``variant="paper"``, whose output sums one head per module.
        aux_loss: scalar, the sum of the strategy's auxiliary losses over all
            routing decisions (zero for soft and hard routing).
    """

    layer_weights: tuple[Tensor, ...]
    final_weights: Tensor | None
    aux_loss: Tensor


def _positive_int(where: str, name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(mismatch(where, name, f"be an int >= {minimum}", repr(value)))
    return value


def _linear(in_features: int, out_features: int) -> nn.Linear:
    return authors_linear_init_(nn.Linear(in_features, out_features))


def _logit_layer(in_features: int, out_features: int) -> nn.Linear:
    return small_uniform_(nn.Linear(in_features, out_features))  # type: ignore[return-value]


def _dense(layer: nn.Module, x: Tensor) -> Tensor:
    # F.linear on the parameters skips nn.Module.__call__, a visible share of
    # the acting step at batch 10 (the hot path calls about ten such layers).
    return F.linear(x, layer.weight, layer.bias)  # type: ignore[arg-type]


def _relu_(x: Tensor) -> Tensor:
    # In place: every caller passes a fresh temporary whose producer (addmm,
    # bmm, mul) does not keep its output for backward, so autograd allows it
    # and one allocation and memory pass is saved. Callers pass the product itself,
    # not a view of it: an in-place op on a view rewrites the base's history
    # (CopySlices), whose backward clones and zero-fills the whole base.
    return torch.relu_(x)


def _bank_shared(bank: ModuleBank, x: Tensor) -> Tensor:
    """All modules of ``bank`` on one shared input: ``[b, i] -> [b, n, o]``."""
    n, i, o = bank.weight.shape
    if torch.is_grad_enabled():
        # Training: the n modules are one wide GEMM [b, i] @ [i, n*o], whose
        # backward is two plain GEMMs; the weight copy is small next to them.
        wide = bank.weight.permute(1, 0, 2).reshape(i, n * o)
        return torch.addmm(bank.bias.reshape(n * o), x, wide).view(x.shape[0], n, o)
    # Acting (small batch, no graph): a batched product on the broadcast input
    # reads the weight in place; copying it would cost more than the product.
    out = torch.baddbmm(bank.bias.unsqueeze(1), x.expand(n, *x.shape), bank.weight)
    return out.transpose(0, 1)


def _bank_per_module(bank: ModuleBank, x: Tensor) -> Tensor:
    """Module j on ``x[:, j]``: ``[b, n, i] -> [b, n, o]`` ("b n i, n i o -> b n o").

    The same product as ``bank(x)`` without its shape checks (the shapes are
    fixed by construction); the result is a transposed view of ``[n, b, o]``.
    """
    return batched_modules(x.transpose(0, 1), bank.weight, bank.bias).transpose(0, 1)


_Traced = tuple[Tensor, list[Tensor], "Tensor | None"]
_Weigh = Callable[[Tensor], Tensor]


def _softmax_weights(temperature: float) -> _Weigh:
    if temperature == 1.0:
        return softmax_last
    return lambda logits: softmax_last(logits / temperature)


def _weigher(route: RoutingStrategy, logits_like: Tensor, aux: list[Tensor] | None) -> _Weigh:
    """``logits [..., n] -> weights [..., n]`` for one forward pass.

    With ``aux=None`` (no trace requested) and plain :class:`Soft` routing on
    float32/float64 outside autocast, this is the bare softmax: the strategy's own
    call also builds the all-True mask, a zero aux loss and the ``Routing`` tuple and
    re-checks the logits, about a third of the non-GEMM work of an acting step
    (batch 10). The numbers are the same: ``Soft.route`` is this softmax.
    """
    if (
        aux is None
        and type(route) is Soft
        and logits_like.dtype in (torch.float32, torch.float64)
        and not torch.is_autocast_enabled(logits_like.device.type)
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

    Architecture (``variant="official"``, the authors' network; ``e`` = routing width):

    1. state encoder ``f = W_f2 relu(W_f1 x)`` (width ``hidden_features``, no final
       activation); task embedding ``h = W_h z`` (linear, no activation);
    2. routing trunk ``e = W_e2 relu(W_e1 relu(f ⊙ h))`` (width ``routing_features``);
    3. routing: ``P¹ = strategy(reshape(W¹ relu(e), [n, n]))``, normalised over the
       source modules (last axis); each later ``P^l`` and the final vector
       ``w`` = ``strategy(W_d^l relu((W_u^l concat(P¹ … P^{l-1})) ⊙ e))``;
    4. base network: layer 1 is ``n`` modules ``Linear(hidden → d)`` on ``relu(f)``;
       module ``j`` of layer ``l+1`` reads ``relu(Σ_i P^l[j, i] out_i)``; the output is
       ``W_o relu(Σ_i w_i out_i)``.

    The authors' initialisation is used (see :mod:`modnet.init`): the routing
    logit layers and the output layer start near zero, so the initial routing
    is almost uniform.

    Args:
        in_features: state width (without the task one-hot).
        out_features: output width (``2|A|`` for a SAC actor, 1 for a critic).
        num_tasks: ``T``.
        num_layers: ``L``, module layers (>= 2).
        num_modules: ``n``, modules per layer.
        module_features: ``d``, width of every module's output.
        routing: ``"soft"``, ``"hard"``, ``"topk"``, a routing config or a
            :class:`~modnet.routing.RoutingStrategy` (one instance routes every layer).
        variant: ``"official"`` (the authors' network) or ``"paper"`` (the printed equations).
        hidden_features: width of ``f`` and ``h`` (400 in the paper).
        routing_features: width of the routing trunk (256 in the authors' code;
            unused by ``variant="paper"``, whose routing reads ``f ⊙ h``).
        routing_kwargs: keyword arguments for ``make_routing`` when ``routing`` is a name
            (e.g. ``{"k": 2}`` for ``"topk"``).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        num_layers: int = 2,
        num_modules: int = 2,
        module_features: int = 256,
        routing: Any = "soft",
        variant: Variant = "official",
        hidden_features: int = 400,
        routing_features: int = 256,
        routing_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        where = type(self).__name__
        self.in_features = _positive_int(where, "in_features", in_features)
        self.out_features = _positive_int(where, "out_features", out_features)
        self.num_tasks = _positive_int(where, "num_tasks", num_tasks)
        self.num_layers = _positive_int(where, "num_layers", num_layers, minimum=2)
        self.num_modules = _positive_int(where, "num_modules", num_modules)
        self.module_features = _positive_int(where, "module_features", module_features)
        self.hidden_features = _positive_int(where, "hidden_features", hidden_features)
        self.routing_features = _positive_int(where, "routing_features", routing_features)
        if variant not in _VARIANTS:
            raise ConfigError(
                mismatch(where, "variant", f"be one of {list(_VARIANTS)}", repr(variant))
            )
        self.variant: Variant = variant
        self.routing = self._make_strategy(where, routing, routing_kwargs)
        self._check_strategy(where)

        n, d, hid, L = num_modules, module_features, hidden_features, num_layers
        self.state_fc1 = _linear(in_features, hid)
        self.state_fc2 = _linear(hid, hid)
        self.task_embedding = _linear(num_tasks, hid)
        official = variant == "official"
        if official:
            self.trunk_fc1 = _linear(hid, routing_features)
            self.trunk_fc2 = _linear(routing_features, routing_features)
            e = routing_features
            # L-1 matrices and the final vector; head l (l >= 1) is conditioned on
            # the l earlier routing outputs flattened: l * n * n inputs.
            widths = [n * n] * (L - 1) + [n]
            cond_inputs = [k * n * n for k in range(1, L)]
        else:
            e = hid
            # As printed: L-1 matrices, p^{l+1} conditioned on p^l alone.
            widths = [n * n] * (L - 1)
            cond_inputs = [n * n] * (L - 2)
        self.logit_layers = nn.ModuleList(_logit_layer(e, w) for w in widths)
        self.cond_layers = nn.ModuleList(_linear(c, e) for c in cond_inputs)
        self.layers = nn.ModuleList(
            ModuleBank(hid if k == 0 else d, d, n, init=authors_bank_init) for k in range(L)
        )
        if official:
            self.output: nn.Module = _logit_layer(d, out_features)
        else:
            # One head per module of the last layer; their outputs are summed.
            bank = ModuleBank(d, out_features, n)
            small_uniform_(bank)
            self.output = bank

    @staticmethod
    def _make_strategy(
        where: str, routing: Any, routing_kwargs: dict[str, Any] | None
    ) -> RoutingStrategy:
        return make_routing(routing, **(routing_kwargs or {}))

    def _check_strategy(self, where: str) -> None:
        k = getattr(self.routing, "k", None)
        if isinstance(k, int) and k > self.num_modules:
            raise ConfigError(
                mismatch(where, "routing k", f"be <= num_modules = {self.num_modules}", k)
            )

    # ------------------------------------------------------------------ presets
    @classmethod
    def shallow(
        cls, in_features: int, out_features: int, num_tasks: int, **overrides: Any
    ) -> SoftRoutedMLP:
        """The paper's Shallow configuration: ``L=2, n=2, d=256`` (overridable)."""
        kwargs: dict[str, Any] = {"num_layers": 2, "num_modules": 2, "module_features": 256}
        kwargs.update(overrides)
        return cls(in_features, out_features, num_tasks, **kwargs)

    @classmethod
    def deep(
        cls, in_features: int, out_features: int, num_tasks: int, **overrides: Any
    ) -> SoftRoutedMLP:
        """The paper's Deep configuration: ``L=4, n=4, d=128`` (overridable)."""
        kwargs: dict[str, Any] = {"num_layers": 4, "num_modules": 4, "module_features": 128}
        kwargs.update(overrides)
        return cls(in_features, out_features, num_tasks, **kwargs)

    @classmethod
    def from_config(cls, cfg: SoftRoutedMLPConfig) -> SoftRoutedMLP:
        """Build from a :class:`~modnet.config.SoftRoutedMLPConfig`."""
        return cls(**cfg.model_dump(exclude={"routing"}), routing=cfg.routing)

    # ------------------------------------------------------------------ forward
    def forward(
        self, x: Tensor, task: Tensor, return_routing: bool = False
    ) -> Tensor | tuple[Tensor, RoutingTrace]:
        """Route and evaluate the network.

        Args:
            x: ``[b, in_features]`` states.
            task: int64 ids ``[b]`` in ``[0, t)`` or a float one-hot ``[b, t]``.
            return_routing: also return the :class:`RoutingTrace`.

        Returns:
            ``[b, out_features]``, or ``(out, trace)`` with ``trace.layer_weights``
            ``(num_layers - 1) × [b, n, n]`` and ``trace.final_weights`` ``[b, n]``.
        """
        where = f"{type(self).__name__}.forward"
        batch = check_batch_features(where, x, self.in_features)
        h = self._embed_task(task, batch, where, x.dtype)
        # The aux losses are collected only for the trace; acting never needs them.
        aux: list[Tensor] | None = [] if return_routing else None
        if self.variant == "official":
            out, layers, final = self._forward_official(x, h, aux)
        else:
            out, layers, final = self._forward_paper(x, h, aux)
        if aux is not None:
            return out, RoutingTrace(tuple(layers), final, torch.stack(aux).sum())
        return out

    def _embed_task(self, task: Tensor, batch: int, where: str, dtype: torch.dtype) -> Tensor:
        """``h = W_h z + b_h``: ``[b]`` ids or ``[b, t]`` one-hot -> ``[b, hidden]``."""
        lin = self.task_embedding
        if isinstance(task, Tensor) and not task.is_floating_point():
            # For ids, W_h z is a row lookup: the same numbers as the one-hot
            # product (its other terms are exact zeros) without a K=t GEMM, whose
            # forward and backward cost a few percent of a training step.
            if (
                task.dtype in (torch.int64, torch.int32)
                and task.dim() == 1
                and task.shape[0] == batch
                and not torch.compiler.is_compiling()
            ):
                # Well-formed ids: the lookup itself rejects an id out of range, so the
                # range check (a reduction and two host syncs, a visible share of an
                # acting step at batch 10) runs only to word the error.
                try:
                    return F.embedding(task, lin.weight.t()) + lin.bias
                except IndexError:
                    pass
            ids = task_ids(task, self.num_tasks, batch, where)
            return F.embedding(ids, lin.weight.t()) + lin.bias
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=dtype)
        return _dense(lin, z)

    def _forward_official(self, x: Tensor, h: Tensor, aux: list[Tensor] | None) -> _Traced:
        b, n, L = x.shape[0], self.num_modules, self.num_layers
        f = _dense(self.state_fc2, _relu_(_dense(self.state_fc1, x)))
        # The product uses the pre-activations f and h; the trunk reads its ReLU.
        e = _dense(self.trunk_fc2, _relu_(_dense(self.trunk_fc1, _relu_(f * h))))

        # Routing depends on (x, task) only, so the whole chain runs before the
        # base network. Head l >= 1 reads all earlier routing weights (not logits).
        # (Plain lists and zip instead of ModuleList indexing: cheaper per call.)
        weigh = _weigher(self.routing, e, aux)
        first, *later = self.logit_layers
        p = weigh(_dense(first, F.relu(e)).view(b, n, n))
        routes = [p]
        history = [p.view(b, n * n)]
        for i, (cond_layer, logit_layer) in enumerate(zip(self.cond_layers, later, strict=True)):
            cond = history[0] if len(history) == 1 else torch.cat(history, dim=-1)
            logits = _dense(logit_layer, _relu_(_dense(cond_layer, cond) * e))
            if i < L - 2:
                p = weigh(logits.view(b, n, n))
                history.append(p.view(b, n * n))
            else:  # the final n-vector
                p = weigh(logits)
            routes.append(p)

        # Base network: bare linear modules, ReLU after the weighted sum. The
        # mixing "b j i, b i d -> b j d" is a torch.bmm whose result is contiguous,
        # so the ReLU (and its backward) runs on contiguous memory.
        first_bank, *banks = self.layers
        out = _bank_shared(first_bank, F.relu(f))  # [b, n, d]
        for bank, p in zip(banks, routes[:-1], strict=True):
            out = _bank_per_module(bank, _relu_(torch.bmm(p, out)))
        # "b i, b i d -> b d"; the ReLU on the bmm result itself, not on its squeezed view.
        final = _relu_(torch.bmm(routes[-1].unsqueeze(1), out)).squeeze(1)
        y = _dense(self.output, final)  # type: ignore[arg-type]
        return y, routes[:-1], routes[-1]

    def _forward_paper(self, x: Tensor, h: Tensor, aux: list[Tensor] | None) -> _Traced:
        b, n = x.shape[0], self.num_modules
        f = _dense(self.state_fc2, _relu_(_dense(self.state_fc1, x)))
        fh = f * h
        weigh = _weigher(self.routing, fh, aux)
        first, *later = self.logit_layers
        logits = _dense(first, F.relu(fh))
        routes = [weigh(logits.view(b, n, n))]
        for cond_layer, logit_layer in zip(self.cond_layers, later, strict=True):
            # As printed: p^{l+1} = W_d relu((W_u p^l) ⊙ (f ⊙ h)), p^l the logits.
            logits = _dense(logit_layer, _relu_(_dense(cond_layer, logits) * fh))
            routes.append(weigh(logits.view(b, n, n)))
        # Layer 1 reads f itself; each module applies its ReLU before the mixing.
        first_bank, *banks = self.layers
        # (Out-of-place ReLUs: the bank helpers return views, see _relu_.)
        out = F.relu(_bank_shared(first_bank, f))
        for bank, p in zip(banks, routes, strict=True):
            out = F.relu(_bank_per_module(bank, torch.bmm(p, out)))
        head: ModuleBank = self.output  # type: ignore[assignment]
        # Σ_j W_j g_j: one head per module, summed (biases summed too).
        y = torch.einsum("bjd,jdo->bo", out, head.weight) + head.bias.sum(0)
        return y, routes, None

    # --------------------------------------------------------------- ensembles
    @property
    def supports_ensemble_forward(self) -> bool:
        """Whether :meth:`ensemble_forward` runs natively (``variant="official"``)."""
        return self.variant == "official"

    def ensemble_forward(self, params: Mapping[str, Tensor], x: Tensor, task: Tensor) -> Tensor:
        """K networks of this architecture at once, from stacked parameters.

        The same function as ``torch.stack([net_k(x, task) for k in range(K)])`` for K
        networks whose parameters are stacked along a new leading axis
        (``torch.func.stack_module_state`` order and names, e.g. ``params["state_fc1.weight"]``
        ``[k, hidden, in]``). SAC's twin critics use it (``modnet_sb3``'s
        ``ModuleEnsemble``): ``torch.func.vmap`` over ``forward`` turns every ``F.linear``
        into a ``bmm`` plus a separate bias add; here each dense layer is one ``baddbmm``
        over the members with its bias fused, and the mixings and banks are one ``bmm``
        each over ``k·b`` samples and ``k·n`` modules. Only ``self``'s settings are read,
        not its parameters, so ``self`` may live on the meta device.
        ``variant="official"`` only (see :attr:`supports_ensemble_forward`).

        Args:
            params: stacked parameters ``[k, ...]`` named as in ``self.named_parameters()``.
            x: ``[b, in_features]`` states, shared by the K networks.
            task: int64 ids ``[b]`` or a float one-hot ``[b, t]``.

        Returns:
            ``[k, b, out_features]``.
        """
        where = f"{type(self).__name__}.ensemble_forward"
        if not self.supports_ensemble_forward:
            raise ConfigError(
                mismatch(where, "variant", "be 'official' (use torch.func.vmap)", self.variant)
            )
        batch = check_batch_features(where, x, self.in_features)
        n, L, T = self.num_modules, self.num_layers, self.num_tasks
        k = params["state_fc1.weight"].shape[0]

        def dense(name: str, inp: Tensor) -> Tensor:
            # "k b i, k o i -> k b o", bias fused. A shared input [b, i] is expanded
            # (no copy): one [b, i] @ [i, k*o] GEMM would be as fast but leaves a
            # transposed [k, b, o] whose backward needs copies.
            w, bias = params[f"{name}.weight"], params[f"{name}.bias"]
            if inp.dim() == 2:
                inp = inp.expand(k, *inp.shape)
            return torch.baddbmm(bias.unsqueeze(1), inp, w.transpose(1, 2))

        if isinstance(task, Tensor) and not task.is_floating_point():
            # A row lookup per member, as in forward: [k, t, h] rows -> [k, b, h].
            ids = task_ids(task, T, batch, where)
            table = params["task_embedding.weight"].transpose(1, 2).contiguous()
            h = table.index_select(1, ids) + params["task_embedding.bias"].unsqueeze(1)
        else:
            h = dense("task_embedding", task_one_hot(task, T, batch, where, dtype=x.dtype))
        f = dense("state_fc2", _relu_(dense("state_fc1", x)))
        e = dense("trunk_fc2", _relu_(dense("trunk_fc1", _relu_(f * h))))

        weigh = _weigher(self.routing, e, None)
        p = weigh(dense("logit_layers.0", F.relu(e)).view(k, batch, n, n))
        routes, history = [p], [p.view(k, batch, n * n)]
        for i in range(L - 1):
            cond = history[0] if len(history) == 1 else torch.cat(history, dim=-1)
            logits = dense(f"logit_layers.{i + 1}", _relu_(dense(f"cond_layers.{i}", cond) * e))
            if i < L - 2:
                p = weigh(logits.view(k, batch, n, n))
                history.append(p.view(k, batch, n * n))
            else:  # the final n-vector
                p = weigh(logits)
            routes.append(p)

        # Base network, activations [k, b, n, d]: the mixings are one bmm over k*b
        # samples; each bank is one bmm over k*n modules on a module-major copy.
        w0, b0 = params["layers.0.weight"], params["layers.0.bias"]  # [k, n, h, d], [k, n, d]
        d = w0.shape[-1]
        wide = w0.permute(0, 2, 1, 3).reshape(k, w0.shape[2], n * d)
        out = torch.baddbmm(b0.reshape(k, 1, n * d), F.relu(f), wide).view(k, batch, n, d)
        # (bmm on flattened views rather than a 4-D matmul, whose result is a view:
        # the in-place ReLUs must act on the products themselves.)
        kb = k * batch
        for layer, p in enumerate(routes[:-1], start=1):
            mixed = _relu_(torch.bmm(p.reshape(kb, n, n), out.reshape(kb, n, d)))
            mixed = mixed.view(k, batch, n, d).transpose(1, 2).reshape(k * n, batch, d)
            w, bias = params[f"layers.{layer}.weight"], params[f"layers.{layer}.bias"]
            out = batched_modules(mixed, w.reshape(k * n, d, d), bias.reshape(k * n, d))
            out = out.view(k, n, batch, d).transpose(1, 2).contiguous()
        # "k b i, k b i d -> k b d"
        final = _relu_(torch.bmm(routes[-1].reshape(kb, 1, n), out.reshape(kb, n, d)))
        return dense("output", final.view(k, batch, d))

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"num_tasks={self.num_tasks}, num_layers={self.num_layers}, "
            f"num_modules={self.num_modules}, module_features={self.module_features}, "
            f"variant={self.variant!r}"
        )
