"""Training-step speed of issue #14's networks against a same-size MLP and a per-expert loop (CPU).

Run:  python benchmarks/bench_architectures.py                 (every row, ~1 minute each)
      python benchmarks/bench_architectures.py --quick         (3 rounds of shorter runs)
      python benchmarks/bench_architectures.py --only moore    (some rows: comma-separated)

Each row of :data:`ARCHITECTURES` is one network at its MT10 setting (state 39, 10 tasks,
output 2|A| = 8, the actor) with its per-expert loop reference, the authors' style
(a Python loop over the experts; ``None`` where the network has no experts to loop over).
One training step is forward + backward of a square loss at batch 1,280 (the paper's
128 per task); it is timed for the network, for a plain MLP with the same parameter
count on ``cat(state, one-hot)`` (3 hidden layers of one width, as MT-SAC's) and for
the loop, in interleaved rounds on one thread (the protocol of bench_networks.py:
process CPU time, median of per-round ratios). The load average is printed before and
after: the machine may be shared, the ratios are what counts. Results:
docs/architectures/<name>.md.

To add a row: a function ``() -> (network, loop or None)`` in ``ARCHITECTURES``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from bench_networks import OUT, STATE, TASKS, count, interleaved, plain_mlp, ratio
from torch import Tensor, nn

from modnet import CARE, MOORE, FiLMMLP, PaCo

BATCH = 1280


def loop_member(banks: nn.ModuleList, j: int, x: Tensor) -> Tensor:
    """Member ``j`` of a stack of ModuleBank layers as its own MLP (ReLU between layers)."""
    h = x
    for i, bank in enumerate(banks):
        h = F.linear(h, bank.weight[j].t(), bank.bias[j])
        if i < len(banks) - 1:
            h = F.relu(h)
    return h


class LoopMOORE(nn.Module):
    """MOORE written as the authors' code runs it, on the batched network's parameters.

    A loop over the experts (each its own MLP; their ``ParallelLayer``), Gram-Schmidt one
    expert at a time (their ``OrthogonalLayer1D``, batched over samples), and a loop over
    the tasks present in the batch for the heads.
    """

    def __init__(self, net: MOORE) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, ids: Tensor) -> Tensor:
        net = self.net
        outputs = [loop_member(net.experts, j, x) for j in range(net.num_experts)]
        basis = outputs[0].unsqueeze(1) / outputs[0].norm(dim=-1, keepdim=True).unsqueeze(1)
        for v in outputs[1:]:
            v = v.unsqueeze(1)
            w = v - (v @ basis.transpose(1, 2)) @ basis
            basis = torch.cat([basis, w / w.norm(dim=-1, keepdim=True)], dim=1)
        weights = net.task_encoder.weight.t()[ids]  # [b, k]
        h = torch.tanh((weights.unsqueeze(1) @ basis).squeeze(1))
        out = h.new_zeros(len(x), net.out_features)
        for t in torch.unique(ids).tolist():
            rows = ids == t
            out[rows] = h[rows] @ net.heads.weight[t] + net.heads.bias[t]
        return out


def moore() -> tuple[nn.Module, nn.Module | None]:
    net = MOORE(STATE, OUT, TASKS, num_experts=4)  # MT10: 4 experts of [400, 400, 400]
    return net, LoopMOORE(net)


def film() -> tuple[nn.Module, nn.Module | None]:
    return FiLMMLP(STATE, OUT, TASKS), None  # no experts: nothing to loop over


class LoopCARE(nn.Module):
    """CARE with a Python loop over its k encoders (each an MLP; mtrl's and Meta-World+'s
    encoders are separate modules), on the batched network's parameters."""

    def __init__(self, net: CARE) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, ids: Tensor) -> Tensor:
        net = self.net
        c = net.task_context(F.one_hot(ids, net.num_tasks).to(x.dtype))
        attention = net._attend(c)
        mixed = 0
        for j in range(net.num_experts):
            mixed = mixed + attention[:, j : j + 1] * loop_member(net.encoders, j, x)
        return net.trunk(torch.cat([mixed, c], dim=-1))


class LoopPaCo(nn.Module):
    """PaCo as a loop over its K parameter sets: every set's layer on the whole batch, then
    mixed by each sample's w (Meta-World+'s formulation: K dense products per layer)."""

    def __init__(self, net: PaCo) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, ids: Tensor) -> Tensor:
        net = self.net
        w = net.all_task_weights()[ids]  # [b, k]
        h = x
        for i, bank in enumerate(net.layers):
            h = sum(
                w[:, k : k + 1] * F.linear(h, bank.weight[k].t(), bank.bias[k])
                for k in range(net.num_parameter_sets)
            )
            if i < len(net.layers) - 1:
                h = F.relu(h)
        return h


def care() -> tuple[nn.Module, nn.Module | None]:
    net = CARE(STATE, OUT, TASKS, num_experts=6)  # MT10: 6 encoders [50, 50] -> 50
    return net, LoopCARE(net)


def paco() -> tuple[nn.Module, nn.Module | None]:
    net = PaCo(STATE, OUT, TASKS, num_parameter_sets=5)  # MT10: K = 5 sets of [400]*3
    return net, LoopPaCo(net)


#: name -> build(): (network at its MT10 setting, its per-expert loop or None).
ARCHITECTURES: dict[str, Callable[[], tuple[nn.Module, nn.Module | None]]] = {
    "moore": moore,
    "film": film,
    "care": care,
    "paco": paco,
}


def train_step(model: nn.Module, *inputs: Tensor) -> Callable[[], None]:
    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(*inputs).square().mean().backward()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="3 rounds of shorter runs")
    parser.add_argument("--only", default="", help=f"rows to run, from {list(ARCHITECTURES)}")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(ARCHITECTURES)
    unknown = [n for n in names if n not in ARCHITECTURES]
    if unknown:
        parser.error(f"--only: unknown rows {unknown}; known: {list(ARCHITECTURES)}")
    torch.set_num_threads(1)
    torch.manual_seed(0)
    rounds = 3 if args.quick else args.rounds
    min_time = 0.2 if args.quick else 0.4
    print(
        f"torch {torch.__version__}, 1 thread, rounds={rounds}, clock=process CPU time, "
        f"batch {BATCH}, MT10 actor sizes (state {STATE}, {TASKS} tasks, out {OUT}); "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    x = torch.randn(BATCH, STATE)
    ids = torch.arange(BATCH) % TASKS
    xz = torch.cat([x, F.one_hot(ids, TASKS).float()], dim=-1)
    print(
        f"\n{'network':<10}{'params':>11}{'step ms':>9}{'MLP ms':>8}{'/ MLP':>7}{'loop ms':>9}{'/ loop':>8}"
    )
    for name in names:
        net, loop = ARCHITECTURES[name]()
        mlp = plain_mlp(count(net), STATE + TASKS, OUT)
        fns = {"net": train_step(net, x, ids), "mlp": train_step(mlp, xz)}
        if loop is not None:
            fns["loop"] = train_step(loop, x, ids)
            with torch.no_grad():
                gap = (net(x, ids) - loop(x, ids)).abs().max().item()
            if gap > 1e-4:
                raise SystemExit(f"{name}: the loop reference differs from the network by {gap}")
        times = interleaved(fns, rounds, min_time, time.process_time)
        med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
        loop_ms = (
            f"{med['loop']:9.1f}{ratio(times, 'net', 'loop'):8.3f}" if loop else f"{'-':>9}{'-':>8}"
        )
        print(
            f"{name:<10}{count(net):>11,}{med['net']:9.1f}{med['mlp']:8.1f}"
            f"{ratio(times, 'net', 'mlp'):7.3f}{loop_ms}   (MLP 3 x {mlp[0].out_features})"
        )
    print(f"\nload average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
