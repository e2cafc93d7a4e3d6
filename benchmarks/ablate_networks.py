"""Where SoftRoutedMLP's training step goes: timing ablations on the CPU.

Run:  python benchmarks/ablate_networks.py            (about 2 minutes)
      python benchmarks/ablate_networks.py --rounds 3 (quicker)

Each variant below removes one part of the official network and is timed (forward +
backward at B=1280, the training step of ``bench_networks.py``) in the same interleaved
rounds as the full network and the plain MLP of equal parameter count. The variants
compute a *different function*; they exist only to be timed. The difference between
two rows is what the removed part costs inside the whole step, which a per-op profile
of this machine does not tell reliably (its per-op times for memory-bound ops moved by
2-3x between an isolated call and the same call inside the network).

- ``full``: ``SoftRoutedMLP`` itself.
- ``first routing only``: the later routing matrices reuse ``p^1`` and the final
  vector is uniform: no conditioned routing heads (``W_u``, ``W_d``, their products
  with ``e``, their softmaxes, the concatenated history), in forward and backward.
- ``uniform routing``: no routing network at all (no trunk, no heads); every mixing
  is a fixed uniform ``[n, n]`` matrix, so it still runs but has no gradient to pass.
- ``uniform routing, no mixing``: as above, and each module reads its own-index
  module of the previous layer (n independent columns, mixed once at the end): what
  is left is the encoder, the banks and the output layer.

Results and their reading: docs/benchmarks/networks.md ("Where the time goes").
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Literal

import torch
import torch.nn.functional as F
from bench_networks import OUT, STATE, TASKS, count, interleaved, plain_mlp, ratio
from torch import Tensor

from modnet import SoftRoutedMLP

# The network's own helpers, so that the ablated forward does the kept parts exactly as
# SoftRoutedMLP does (private: this script follows modnet/soft_routed_mlp.py).
from modnet.soft_routed_mlp import _bank_per_module, _bank_shared, _dense, _relu_, _weigher

Drop = Literal["none", "conditioned heads", "routing", "routing and mixing"]


class AblatedSoftRoutedMLP(SoftRoutedMLP):
    """``SoftRoutedMLP`` (official variant) with one part of the computation removed."""

    drop: Drop = "none"

    def _forward_official(self, x: Tensor, h: Tensor, aux: list[Tensor] | None):  # type: ignore[override]
        b, n, L = x.shape[0], self.num_modules, self.num_layers
        f = _dense(self.state_fc2, _relu_(_dense(self.state_fc1, x)))
        uniform_vec = x.new_full((b, n), 1.0 / n)
        if self.drop in ("routing", "routing and mixing"):
            routes = [x.new_full((b, n, n), 1.0 / n)] * (L - 1) + [uniform_vec]
        else:
            e = _dense(self.trunk_fc2, _relu_(_dense(self.trunk_fc1, _relu_(f * h))))
            weigh = _weigher(self.routing, e, aux)
            first, *later = self.logit_layers
            p = weigh(_dense(first, F.relu(e)).view(b, n, n))
            routes, history = [p], [p.view(b, n * n)]
            for i, (cond_layer, logit_layer) in enumerate(
                zip(self.cond_layers, later, strict=True)
            ):
                last = i == L - 2
                if self.drop == "conditioned heads":
                    routes.append(uniform_vec if last else routes[0])
                    continue
                cond = history[0] if len(history) == 1 else torch.cat(history, dim=-1)
                logits = _dense(logit_layer, _relu_(_dense(cond_layer, cond) * e))
                p = weigh(logits) if last else weigh(logits.view(b, n, n))
                if not last:
                    history.append(p.view(b, n * n))
                routes.append(p)
        first_bank, *banks = self.layers
        out = _bank_shared(first_bank, F.relu(f))
        for bank, p in zip(banks, routes[:-1], strict=True):
            if self.drop == "routing and mixing":
                # A fresh ReLU'd tensor, as the mixing would give, without the mixing.
                out = _bank_per_module(bank, F.relu(out))
            else:
                out = _bank_per_module(bank, _relu_(torch.bmm(p, out)))
        final = _relu_(torch.bmm(routes[-1].unsqueeze(1), out)).squeeze(1)
        return _dense(self.output, final), routes[:-1], routes[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--presets", default="shallow,deep")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, 1 thread, rounds={args.rounds}, clock=process CPU time")
    batch = 1280
    x = torch.randn(batch, STATE)
    task = torch.arange(batch) % TASKS
    xz = torch.cat([x, F.one_hot(task, TASKS).float()], dim=-1)

    def train(model: torch.nn.Module, *inputs: Tensor):
        def step() -> None:
            model.zero_grad(set_to_none=True)
            model(*inputs).square().mean().backward()

        return step

    drops: list[Drop] = ["conditioned heads", "routing", "routing and mixing"]
    for preset in args.presets.split(","):
        net = getattr(SoftRoutedMLP, preset)(STATE, OUT, TASKS)
        mlp = plain_mlp(count(net), STATE + TASKS, OUT)
        fns = {"full": train(net, x, task), "plain MLP": train(mlp, xz)}
        for drop in drops:
            ablated = getattr(AblatedSoftRoutedMLP, preset)(STATE, OUT, TASKS)
            ablated.load_state_dict(net.state_dict())
            ablated.drop = drop
            fns[f"without {drop}"] = train(ablated, x, task)
        times = interleaved(fns, args.rounds, 0.4, time.process_time)
        full = statistics.median(times["full"]) * 1e3
        print(f"\n{preset} (B={batch}, forward + backward)")
        print(f"  {'variant':<34} {'ms':>6} {'/ MLP':>6} {'saved vs full':>14}")
        for name, t in times.items():
            ms = statistics.median(t) * 1e3
            saved = "" if name in ("full", "plain MLP") else f"{full - ms:+.1f} ms"
            print(f"  {name:<34} {ms:6.1f} {ratio(times, name, 'plain MLP'):6.3f} {saved:>14}")


if __name__ == "__main__":
    main()
