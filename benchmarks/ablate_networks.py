"""Where SoftRoutedMLP's training step goes: timing ablations on the CPU.

Run:  python benchmarks/ablate_networks.py            (about 2 minutes)
      python benchmarks/ablate_networks.py --rounds 3 (quicker)

Each ablation below is a registered variant of the network (one public hook of the
official variant overridden) that removes one part of the official network and is timed (forward +
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

import statistics
import time

import torch
import torch.nn.functional as F
from bench_networks import OUT, STATE, TASKS, ablation_setup, count, interleaved, plain_mlp, ratio
from torch import Tensor

from modnet import SoftRoutedMLP, register_variant
from modnet.parameter_layouts import ParameterLayout
from modnet.soft_modular_variants import Official, Weigh

# Each ablation is a registered variant that overrides one public hook of the official
# variant (modnet/soft_modular_variants.py); everything it keeps runs the network's own code.


class _WithoutConditionedHeads(Official):
    name = "ablate-conditioned-heads"

    def routes(self, ps: ParameterLayout, e: Tensor, weigh: Weigh) -> list[Tensor]:
        p = self.first_route(ps, e, weigh)
        uniform = e.new_full((*e.shape[:-1], self.n), 1.0 / self.n)
        return [p] * (self.num_layers - 1) + [uniform]


class _WithoutRouting(Official):
    name = "ablate-routing"

    def routing_trunk(self, ps: ParameterLayout, f: Tensor, h: Tensor) -> Tensor:
        return f  # not computed: routes() below reads only its shape

    def routes(self, ps: ParameterLayout, e: Tensor, weigh: Weigh) -> list[Tensor]:
        n, lead = self.n, e.shape[:-1]
        return [e.new_full((*lead, n, n), 1.0 / n)] * (self.num_layers - 1) + [
            e.new_full((*lead, n), 1.0 / n)
        ]


class _WithoutRoutingAndMixing(_WithoutRouting):
    name = "ablate-routing-and-mixing"

    def mix_relu(self, p: Tensor, out: Tensor) -> Tensor:
        # A fresh ReLU'd tensor, as the mixing would give, without the mixing.
        return F.relu(out)


ABLATIONS = {
    "conditioned heads": _WithoutConditionedHeads,
    "routing": _WithoutRouting,
    "routing and mixing": _WithoutRoutingAndMixing,
}
for _cls in ABLATIONS.values():
    register_variant(_cls)


def main() -> None:
    args = ablation_setup(__doc__ or "", rounds=7)
    batch = 1280
    x = torch.randn(batch, STATE)
    task = torch.arange(batch) % TASKS
    xz = torch.cat([x, F.one_hot(task, TASKS).float()], dim=-1)

    def train(model: torch.nn.Module, *inputs: Tensor):
        def step() -> None:
            model.zero_grad(set_to_none=True)
            model(*inputs).square().mean().backward()

        return step

    for preset in args.presets.split(","):
        net = getattr(SoftRoutedMLP, preset)(STATE, OUT, TASKS)
        mlp = plain_mlp(count(net), STATE + TASKS, OUT)
        fns = {"full": train(net, x, task), "plain MLP": train(mlp, xz)}
        for drop, variant in ABLATIONS.items():
            ablated = getattr(SoftRoutedMLP, preset)(STATE, OUT, TASKS, variant=variant.name)
            ablated.load_state_dict(net.state_dict())
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
