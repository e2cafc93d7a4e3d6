"""FiLMMLP: a task-modulated state encoder and an MLP trunk (FiLM, Perez et al., 2018).

FiLM ("Visual Reasoning with a General Conditioning Layer") modulates features with a
scale and a shift computed from the conditioning input: ``FiLM(h) = γ ⊙ h + β``. As a
multi-task RL baseline (mtrl, Sodhani et al. 2021; the Meta-World+ baselines, McLean et
al. 2025) the conditioning input is a learned task embedding, and the modulated network
is the state encoder in front of an MLP trunk.

Dimension letters: ``b`` batch, ``t`` tasks, ``m`` embedding width, ``e`` encoder
width, ``L`` encoder hidden layers, ``g`` generator outputs, ``o`` output features.

The layout, widths and initialisation are the Meta-World+ baselines'
(``rainx0r/metaworld-algorithms``, ``metaworld_algorithms/nn/film.py`` and
``config/nn.py``'s ``FiLMConfig``); see docs/architectures/film.md.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modnet.baselines import _TaskNetwork
from modnet.config import FiLMMLPConfig
from modnet.init import small_uniform_
from modnet.task_input import task_one_hot

__all__ = ["FiLMMLP"]


def _he_uniform_zero_bias(linear: nn.Linear) -> nn.Linear:
    # Meta-World+'s hidden layers: jax he_uniform (bound sqrt(6 / fan_in)), zero bias.
    bound = math.sqrt(6.0 / linear.in_features)
    with torch.no_grad():
        linear.weight.uniform_(-bound, bound)
        linear.bias.zero_()
    return linear


def _mlp(widths: Sequence[int], last_init: str) -> nn.ModuleList:
    """Linears ``widths[0] -> widths[1] -> ...``; every layer he-uniform, the last as told."""
    layers = [
        _he_uniform_zero_bias(nn.Linear(a, b)) for a, b in zip(widths, widths[1:], strict=False)
    ]
    if last_init == "small":
        small_uniform_(layers[-1])
    return nn.ModuleList(layers)


def _run(layers: nn.ModuleList, h: Tensor) -> Tensor:
    """ReLU after every layer but the last."""
    last = len(layers) - 1
    for i, layer in enumerate(layers):
        h = F.linear(h, layer.weight, layer.bias)
        if i < last:
            h = F.relu(h)
    return h


class FiLMMLP(_TaskNetwork):
    """A FiLM-modulated state encoder, then an MLP on ``cat(encoding, task embedding)``.

    ::

        e  = relu(E z)                                   [b, m]   (E: a learned [t, m] table)
        γβ = generator(e)                                [b, g]   (MLP, L hidden layers of e)
        h  = x
        for l < L:  h = γ_l ⊙ relu(W_l h + c_l) + β_l   [b, e]
        s  = γ_L ⊙ (W_L h + c_L) + β_L                   [b, m]   (no activation)
        y  = trunk(cat(s, e))                            [b, o]   (hidden_sizes, ReLU)

    With ``modulation="layer"`` (the default, as in the Meta-World+ baselines and mtrl)
    each ``γ_l``, ``β_l`` is one scalar per sample broadcast over the layer's features,
    so ``g = 2 (L + 1)``; with ``"feature"`` (Perez et al.'s feature-wise FiLM) they are
    vectors of the layer's width, ``g = 2 (L e + m)``. The generator's output is read as
    ``[γ_0, β_0, γ_1, β_1, …]`` (Meta-World+'s order). ``γ`` is used as generated (not
    ``1 + Δγ``), as in both codes.

    Initialisation (Meta-World+): hidden and generator weights he-uniform
    (``U(±sqrt(6 / fan_in))``) with zero biases, the embedding ``N(0, 1/m)``, the
    output layer ``U(±3e-3)`` (Meta-World+'s critic head; its actor head uses ``1e-3``).

    FiLM has no mixing weights, so ``forward`` has no ``return_routing`` and the routing
    figures skip it; :meth:`modulation_parameters` returns the ``γ``, ``β`` of a task.

    Args:
        in_features: state width (without the one-hot).
        out_features: output width.
        num_tasks: ``T``.
        embedding_features: ``m``, the task embedding's width and the encoder's output's.
        encoder_features: ``e``, the encoder's and the generator's hidden width.
        encoder_layers: ``L`` (>= 0), hidden layers of the encoder and of the generator.
        hidden_sizes: the trunk's hidden widths.
        modulation: ``"layer"`` or ``"feature"``.

    Raises:
        ConfigError: a setting out of range or unknown, named.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        num_tasks: int,
        *,
        embedding_features: int = 50,
        encoder_features: int = 50,
        encoder_layers: int = 2,
        hidden_sizes: Sequence[int] = (400, 400, 400),
        modulation: str = "layer",
    ) -> None:
        super().__init__()
        where = self._set_sizes(in_features, out_features, num_tasks)
        self.config = FiLMMLPConfig.of(
            where,
            in_features,
            out_features,
            num_tasks,
            embedding_features=embedding_features,
            encoder_features=encoder_features,
            encoder_layers=encoder_layers,
            hidden_sizes=hidden_sizes,
            modulation=modulation,
        )
        cfg = self.config
        self.embedding_features = m = cfg.embedding_features
        self.encoder_features = e = cfg.encoder_features
        self.encoder_layers = depth = cfg.encoder_layers
        self.hidden_sizes = cfg.hidden_sizes
        self.modulation = cfg.modulation
        # Width modulated at each encoder layer: L hidden layers of e, then the output m.
        self._modulated = (e,) * depth + (m,)
        per_layer = self._modulated if self.modulation == "feature" else (1,) * (depth + 1)
        self._split = tuple(w for width in per_layer for w in (width, width))  # γ_l, β_l
        self.task_embedding = nn.Parameter(torch.empty(num_tasks, m))
        with torch.no_grad():
            self.task_embedding.normal_(0.0, 1.0 / math.sqrt(m))
        self.generator = _mlp((m,) + (e,) * depth + (sum(self._split),), last_init="he")
        self.encoder = _mlp((in_features,) + self._modulated, last_init="he")
        self.trunk = _mlp((2 * m, *self.hidden_sizes, out_features), last_init="small")

    def modulation_parameters(self, task: Tensor) -> list[tuple[Tensor, Tensor]]:
        """``(γ_l, β_l)`` for each encoder layer ``l = 0 … L``, each ``[b, 1]`` or ``[b, width]``.

        ``task``: ids ``[b]`` or a one-hot ``[b, t]``.
        """
        where = f"{type(self).__name__}.modulation_parameters"
        batch = task.shape[0] if isinstance(task, Tensor) and task.dim() > 0 else -1
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=self.task_embedding.dtype)
        return self._gammas_betas(F.relu(z @ self.task_embedding))

    def _gammas_betas(self, e: Tensor) -> list[tuple[Tensor, Tensor]]:
        parts = _run(self.generator, e).split(self._split, dim=-1)
        return list(zip(parts[0::2], parts[1::2], strict=True))

    def forward(self, x: Tensor, task: Tensor) -> Tensor:
        """``x`` ``[b, in]``, ``task`` ids ``[b]`` or one-hot ``[b, t]`` -> ``[b, o]``.

        A float ``task`` may be a soft mixture: its embedding is the mixture of rows.

        Raises:
            ShapeError: ``x`` not ``[b, in_features]`` floating point of the network's
                dtype, or ``task`` of the wrong shape, dtype, range or device.
        """
        where, batch = self._checked("forward", x, task)
        z = task_one_hot(task, self.num_tasks, batch, where, dtype=x.dtype)
        e = F.relu(z @ self.task_embedding)  # [b, m]; a row lookup for an exact one-hot
        films = self._gammas_betas(e)
        h = x
        last = len(self.encoder) - 1
        for i, (layer, (gamma, beta)) in enumerate(zip(self.encoder, films, strict=True)):
            h = F.linear(h, layer.weight, layer.bias)
            if i < last:
                h = F.relu(h)
            h = torch.addcmul(beta, gamma, h)  # γ ⊙ h + β
        return _run(self.trunk, torch.cat([h, e], dim=-1))
