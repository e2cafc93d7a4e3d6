"""What each speed trick of SoftRoutedMLP's hot path buys: same-run A/B against its plain form.

Run:  python benchmarks/ablate_speed_tricks.py             (about 4 minutes)
      python benchmarks/ablate_speed_tricks.py --rounds 3  (quicker)

Each trick is switched to its plain, readable form by rebinding one name for the length
of a call (the same rebinding, to the same value, wraps the "as is" call, so both pay
the same overhead), and the training step (forward + backward, B=1280) and the acting
step (no grad, B=10) of the Shallow and Deep networks are timed interleaved. A ratio
plain / as is above 1 is what the trick saves. The house rule (issue #11): a trick that
saves less than 2 % of either step gives way to the plain form, as long as all such
reverts together stay within 3 %. Results: docs/benchmarks/networks.md ("Speed tricks").

- ``in-place ReLU``: ``soft_modular_variants.relu_`` -> ``torch.relu``.
- ``F.linear``: ``ModuleLayout.dense`` calls the ``nn.Linear`` module instead.
- ``softmax_last``: the routing softmax is ``torch.softmax(x, -1)``.
- ``acting fast path``: every routing call goes through the strategy's ``forward``.
- ``acting bank product``: ``bank_shared`` uses the training path's wide GEMM when acting.
- ``task-id lookup``: the network gets the one-hot (a K = t GEMM) instead of ids.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from bench_networks import OUT, STATE, TASKS, ablation_setup, interleaved, network_step, ratio
from torch import nn

import modnet.parameter_layouts as layouts
import modnet.routing as routing
import modnet.soft_modular_variants as variants
import modnet.soft_routed_mlp as srm
from modnet import SoftRoutedMLP

_Patch = list[tuple[object, str, object]]


def _plain_dense(self: layouts.ModuleLayout, name: str, x: torch.Tensor) -> torch.Tensor:
    return self._modules[name](x)


def _plain_weigher(route, like, aux):  # type: ignore[no-untyped-def]
    def weigh(logits: torch.Tensor) -> torch.Tensor:
        r = route(logits)
        if aux is not None:
            aux.append(r.aux_loss)
        return r.weights

    return weigh


def _plain_softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


_original_bank_shared = layouts.ModuleLayout.bank_shared


def _wide_bank_shared(self: layouts.ModuleLayout, name: str, x: torch.Tensor) -> torch.Tensor:
    bank = self._modules[name]
    n, i, o = bank.weight.shape
    wide = bank.weight.permute(1, 0, 2).reshape(i, n * o)
    return torch.addmm(bank.bias.reshape(n * o), x, wide).view(x.shape[0], n, o)


TRICKS: dict[str, _Patch] = {
    "in-place ReLU": [(variants, "relu_", torch.relu)],
    "F.linear": [(layouts.ModuleLayout, "dense", _plain_dense)],
    "softmax_last": [
        (srm, "softmax_last", _plain_softmax),
        (routing, "softmax_last", _plain_softmax),
    ],
    "acting fast path": [(srm, "_weigher", _plain_weigher)],
    "acting bank product": [(layouts.ModuleLayout, "bank_shared", _wide_bank_shared)],
}


def with_patch(step: Callable[[], object], patch: _Patch, plain: bool) -> Callable[[], object]:
    """``step`` with the names of ``patch`` rebound (to the plain form, or to themselves)."""
    values = [(obj, name, new if plain else getattr(obj, name)) for obj, name, new in patch]

    def run() -> object:
        saved = [getattr(obj, name) for obj, name, _ in values]
        for obj, name, value in values:
            setattr(obj, name, value)
        try:
            return step()
        finally:
            for (obj, name, _), old in zip(values, saved, strict=True):
                setattr(obj, name, old)

    return run


def main() -> None:
    args = ablation_setup(__doc__ or "", rounds=5)
    for preset in args.presets.split(","):
        net = getattr(SoftRoutedMLP, preset)(STATE, OUT, TASKS)
        for mode, batch in (("train", 1280), ("act", 10)):
            x = torch.randn(batch, STATE)
            ids = torch.arange(batch) % TASKS
            one_hot = nn.functional.one_hot(ids, TASKS).float()

            def step(task: torch.Tensor, x: torch.Tensor = x, mode: str = mode, net=net):  # type: ignore[no-untyped-def]
                return network_step(net, mode, x, task)

            fns: dict[str, Callable[[], object]] = {}
            for trick, patch in TRICKS.items():
                fns[f"{trick}|as is"] = with_patch(step(ids), patch, plain=False)
                fns[f"{trick}|plain"] = with_patch(step(ids), patch, plain=True)
            fns["task-id lookup|as is"] = step(ids)
            fns["task-id lookup|plain"] = step(one_hot)
            times = interleaved(
                fns, args.rounds, 0.3 if mode == "train" else 0.15, time.process_time
            )
            unit, scale = ("ms", 1e3) if mode == "train" else ("us", 1e6)
            print(f"\n{preset} {mode} (B={batch})")
            print(f"  {'trick':<22} {'as is':>9} {'plain':>9} {'plain / as is':>14}")
            for trick in [*TRICKS, "task-id lookup"]:
                a, p = times[f"{trick}|as is"], times[f"{trick}|plain"]
                r = ratio(times, f"{trick}|plain", f"{trick}|as is")
                print(
                    f"  {trick:<22} {statistics.median(a) * scale:7.1f}{unit} "
                    f"{statistics.median(p) * scale:7.1f}{unit} {r:14.3f}"
                )


if __name__ == "__main__":
    main()
