"""Speed of SoftRoutedMLP against a plain MLP and the per-module-loop reference (CPU).

Run:  python benchmarks/bench_networks.py            (about 2-3 minutes)
      python benchmarks/bench_networks.py --quick    (fewer repeats)

      python benchmarks/bench_networks.py --floor    (also time SoftRoutedMLP's GEMMs alone)

Exits 1 if a target is missed. Results and their analysis: docs/benchmarks/networks.md.

Two measurements, for the paper's Shallow (L=2, n=2, d=256) and Deep (L=4, n=4,
d=128) networks at MT10 sizes (state 39, 10 tasks, output 2|A| = 8):

- training step, forward + backward at B=1280: SoftRoutedMLP must take at most
  1.20x a plain MLP with the same parameter count (same GEMM FLOPs) and less
  than LoopSoftRoutedMLP (the authors' list-of-Linears style);
- acting, forward under no_grad at B=10: SoftRoutedMLP must be at least 1.2x
  (Shallow) and 2x (Deep) faster than LoopSoftRoutedMLP.

Protocol: one intra-op thread; every candidate is timed with torch.utils.benchmark
(blocked_autorange) in interleaved rounds (A, B, C, A, B, C, ...), so a burst of
load from another process hits all of them alike; a ratio is the median over
rounds of the per-round ratios. By default the clock is this process's CPU time,
which does not count time spent descheduled by other processes (``--clock wall``
for elapsed time). The machine may be shared, so absolute times are noisy; the
ratios are what counts.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.utils import benchmark

from modnet import SoftRoutedMLP
from modnet.reference import LoopSoftRoutedMLP

STATE, TASKS, OUT = 39, 10, 8


def count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def plain_mlp(params: int, in_features: int, out_features: int, depth: int = 3) -> nn.Sequential:
    """An MLP with ``depth`` hidden layers of one width H, H chosen to match ``params``."""
    # params = (in+1)H + (depth-1)(H+1)H + (H+1)out, a quadratic in H.
    a = depth - 1
    b = in_features + 1 + (depth - 1) + out_features
    c = out_features - params
    width = round((-b + math.sqrt(b * b - 4 * a * c)) / (2 * a))
    layers: list[nn.Module] = []
    w = in_features
    for _ in range(depth):
        layers += [nn.Linear(w, width), nn.ReLU()]
        w = width
    layers.append(nn.Linear(w, out_features))
    return nn.Sequential(*layers)


def interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, min_time: float, clock: Callable[[], float]
) -> dict[str, list[float]]:
    """Per-call seconds of every function, ``rounds`` times, interleaved."""
    timers = {k: benchmark.Timer("fn()", globals={"fn": f}, timer=clock) for k, f in fns.items()}
    for f in fns.values():  # warm-up
        for _ in range(3):
            f()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for k, t in timers.items():
            times[k].append(t.blocked_autorange(min_run_time=min_time).median)
    return times


def gemm_floor(net: SoftRoutedMLP, batch: int, train: bool) -> Callable[[], None]:
    """Only the GEMMs of one SoftRoutedMLP step, on stand-in inputs of the right shapes.

    The lower bound that no rearrangement of the elementwise work can beat: the
    forward product of every dense layer and bank (plus, for ``train``, the two
    backward products of each), with the network's own weights. Official variant.
    """
    dense = [net.state_fc1, net.state_fc2, net.trunk_fc1, net.trunk_fc2]
    dense += [*net.logit_layers, *net.cond_layers, net.output]  # type: ignore[list-item]
    ins = [torch.randn(batch, layer.in_features) for layer in dense]
    grads = [torch.randn(batch, layer.out_features) for layer in dense]
    first, *banks = (b.weight.detach() for b in net.layers)
    wide = first.permute(1, 0, 2).reshape(first.shape[1], -1).contiguous()
    x0, g0 = torch.randn(batch, wide.shape[0]), torch.randn(batch, wide.shape[1])
    bank_in = [torch.randn(w.shape[0], batch, w.shape[1]) for w in banks]
    bank_grad = [torch.randn(w.shape[0], batch, w.shape[2]) for w in banks]

    def step() -> None:
        with torch.no_grad():
            for layer, x, g in zip(dense, ins, grads, strict=True):
                nn.functional.linear(x, layer.weight, layer.bias)
                if train:
                    torch.mm(g, layer.weight)
                    torch.mm(g.t(), x)
            torch.mm(x0, wide)
            if train:
                torch.mm(g0, wide.t())
                torch.mm(x0.t(), g0)
            for w, x, g in zip(banks, bank_in, bank_grad, strict=True):
                torch.bmm(x, w)
                if train:
                    torch.bmm(g, w.transpose(1, 2))
                    torch.bmm(x.transpose(1, 2), g)

    return step


def network_step(
    net: nn.Module, mode: str, x: torch.Tensor, task: torch.Tensor
) -> Callable[[], object]:
    """One step of ``net``: ``"train"`` (forward + backward of a square loss) or ``"act"`` (no grad)."""

    def run() -> object:
        if mode == "train":
            net.zero_grad(set_to_none=True)
            net(x, task).square().mean().backward()
            return None
        with torch.no_grad():
            return net(x, task)

    return run


def ablation_setup(doc: str, rounds: int, *, old_dir: bool = False) -> argparse.Namespace:
    """The ablation and A/B scripts' command line and one seeded thread.

    ``--rounds``, ``--presets``, and with ``old_dir`` a positional ``old_dir`` that is put
    first on ``sys.path`` (where the older copies ``modnet_base``/``modnet_sb3_base`` are).
    """
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    if old_dir:
        parser.add_argument("old_dir")
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--presets", default="shallow,deep")
    args = parser.parse_args()
    if old_dir:
        sys.path.insert(0, args.old_dir)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, 1 thread, rounds={args.rounds}, clock=process CPU time, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    return args


def ab_line(label: str, times: dict[str, list[float]], unit: str = "ms") -> str:
    """``label  new X  old Y  new/old R``: the A/B scripts' line for ``times["new"]``/``["old"]``."""
    scale = {"ms": 1e3, "us": 1e6}[unit]
    new, old = (statistics.median(times[k]) * scale for k in ("new", "old"))
    return f"{label}  new {new:8.1f}{unit}  old {old:8.1f}{unit}  new/old {ratio(times, 'new', 'old'):.3f}"


def ratio(times: dict[str, list[float]], num: str, den: str) -> float:
    return statistics.median(a / b for a, b in zip(times[num], times[den], strict=True))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: steadier on a shared machine)",
    )
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument(
        "--clock",
        choices=["process", "wall"],
        default="process",
        help="process: CPU time of this process (with 1 thread, time spent descheduled by "
        "other load is not counted); wall: elapsed time",
    )
    parser.add_argument("--quick", action="store_true", help="3 rounds of shorter runs")
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also time SoftRoutedMLP's GEMMs alone (forward and backward products), "
        "the bound that removing elementwise work cannot beat",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.clock == "process" and args.threads != 1:
        parser.error("--clock process sums the CPU time of all threads; use it with --threads 1")
    clock = time.process_time if args.clock == "process" else time.perf_counter
    torch.manual_seed(0)
    rounds = 3 if args.quick else args.rounds
    min_time = 0.2 if args.quick else 0.4
    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, rounds={rounds}, clock={args.clock}"
    )

    results = []
    for preset, act_target in (("shallow", 1.2), ("deep", 2.0)):
        net = getattr(SoftRoutedMLP, preset)(STATE, OUT, TASKS)
        loop = LoopSoftRoutedMLP.from_batched(net)
        mlp = plain_mlp(count(net), STATE + TASKS, OUT)
        print(
            f"\n{preset}: SoftRoutedMLP {count(net):,} params; plain MLP {count(mlp):,} params "
            f"(3 x {mlp[0].out_features} on state + one-hot)"
        )

        big = 1280
        x = torch.randn(big, STATE)
        task = torch.arange(big) % TASKS
        xz = torch.cat([x, nn.functional.one_hot(task, TASKS).float()], dim=-1)

        def train(model: nn.Module, *inputs: torch.Tensor) -> Callable[[], None]:
            def step() -> None:
                model.zero_grad(set_to_none=True)
                model(*inputs).square().mean().backward()

            return step

        fns = {"soft": train(net, x, task), "mlp": train(mlp, xz), "loop": train(loop, x, task)}
        if args.floor:
            fns["gemms"] = gemm_floor(net, big, train=True)
        t = interleaved(fns, rounds, min_time, clock)
        r_mlp = ratio(t, "soft", "mlp")
        r_loop = ratio(t, "soft", "loop")
        med = {k: statistics.median(v) * 1e3 for k, v in t.items()}
        print(
            f"  train B={big}: soft {med['soft']:.1f} ms, mlp {med['mlp']:.1f} ms, loop {med['loop']:.1f} ms"
        )
        if args.floor:
            print(
                f"    SoftRoutedMLP's GEMMs alone {med['gemms']:.1f} ms = "
                f"{ratio(t, 'gemms', 'mlp'):.3f} x plain MLP's whole step"
            )
        print(f"    soft / plain MLP = {r_mlp:.3f}  (target <= 1.20)  {verdict(r_mlp <= 1.20)}")
        print(f"    soft / loop      = {r_loop:.3f}  (target <  1.00)  {verdict(r_loop < 1.0)}")
        results += [r_mlp <= 1.20, r_loop < 1.0]

        small = 10
        xs, ts = torch.randn(small, STATE), torch.arange(small) % TASKS

        def act(
            model: nn.Module, xs: torch.Tensor = xs, ts: torch.Tensor = ts
        ) -> Callable[[], object]:
            def step() -> object:
                with torch.no_grad():
                    return model(xs, ts)

            return step

        fns = {"soft": act(net), "loop": act(loop)}
        if args.floor:
            fns["gemms"] = gemm_floor(net, small, train=False)
        t = interleaved(fns, rounds, min_time / 2, clock)
        speedup = ratio(t, "loop", "soft")
        med = {k: statistics.median(v) * 1e6 for k, v in t.items()}
        print(f"  act B={small}: soft {med['soft']:.0f} us, loop {med['loop']:.0f} us")
        if args.floor:
            print(
                f"    SoftRoutedMLP's GEMMs alone {med['gemms']:.0f} us; a {act_target} x speed-up "
                f"needs soft <= {med['loop'] / act_target:.0f} us"
            )
        print(
            f"    loop / soft = {speedup:.2f}x faster  (target >= {act_target})  {verdict(speedup >= act_target)}"
        )
        results.append(speedup >= act_target)

    print(f"\n{sum(results)}/{len(results)} targets met")
    raise SystemExit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
