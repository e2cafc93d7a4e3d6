"""Speed of ModuleBank and RoutedLinear's sparse top-k dispatch, as ratios measured in one run.

Every case is one training step (forward + backward, gradients of every weight, bias
and input) at batch B=1280 on the CPU:

1. ``ModuleBank`` with per-module input ``[B, n, d]`` against ONE dense ``nn.Linear``
   of equal FLOPs and equal parameter count (square, width ``sqrt(n) * d``), at n=4,
   d=128 (target <= 1.20x) and d=400 (target <= 1.10x);
2. 64 modules of width 16 against the dense Linear of equal FLOPs (128 -> 128), target
   <= 2.5x; a Python loop over 64 ``nn.Linear`` is printed for contrast;
3. ``RoutedLinear`` with top-1 routing: sparse dispatch (only the selected module of each
   sample) against computing all modules, n=4, d=400, target <= 0.40x; top-2 and top-3
   of 4 are printed for information (where sparse dispatch stops paying).

The per-module input is laid out module-major in memory (``[n, B, d]`` storage seen as
a ``[B, n, d]`` view), which is the layout a ``ModuleBank``'s own per-module output has,
so it is what a stack of banks feeds the next bank. Rows marked "(batch-major input)"
show the same bank fed a contiguous ``[B, n, d]`` tensor, for information.

Timing: ``torch.utils.benchmark.Timer.blocked_autorange`` per case; the cases of a
comparison are measured back to back in each round (interleaved), the ratio is taken
within the round, and the table reports the median over rounds. One thread by default
(``--threads``), because the 2-core machine is shared and a second thread mostly
measures the neighbours.

Run: ``python benchmarks/bench_module_bank.py`` (under a minute on a quiet machine;
``--rounds 3 --no-loop`` for a quicker look). Exits 1 if a target is missed. Measured
figures: ``docs/benchmarks/modules.md``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.utils import benchmark

from modnet import ModuleBank, RoutedLinear
from modnet.routing import TopK

BATCH = 1280


def _clear(*tensors: Tensor) -> None:
    for t in tensors:
        t.grad = None


def dense_step(width: int) -> Callable[[], None]:
    """One ``nn.Linear(width, width)``, fwd + bwd."""
    return dense_rect_step(width, width)


def dense_rect_step(in_features: int, out_features: int) -> Callable[[], None]:
    """One ``nn.Linear(in_features, out_features)``, fwd + bwd."""
    lin = nn.Linear(in_features, out_features)
    x = torch.randn(BATCH, in_features, requires_grad=True)
    grad = torch.randn(BATCH, out_features)

    def step() -> None:
        _clear(x, lin.weight, lin.bias)
        lin(x).backward(grad)

    return step


def bank_step(n: int, d: int, *, module_major: bool) -> Callable[[], None]:
    """``ModuleBank(d, d, n)`` on a per-module input ``[B, n, d]``, fwd + bwd."""
    bank = ModuleBank(d, d, n)
    if module_major:
        x = torch.randn(n, BATCH, d).transpose(0, 1).requires_grad_()
    else:
        x = torch.randn(BATCH, n, d, requires_grad=True)
    grad = torch.randn_like(bank(x))  # same memory layout as the output

    def step() -> None:
        _clear(x, bank.weight, bank.bias)
        bank(x).backward(grad)

    return step


def loop_step(n: int, d: int) -> Callable[[], None]:
    """A Python loop over ``n`` ``nn.Linear`` (the authors' style), fwd + bwd.

    Inputs and outputs are per-module lists, as in the authors' code: slicing one
    stacked tensor instead would add a full-size zero tensor per module in backward.
    """
    linears = nn.ModuleList(nn.Linear(d, d) for _ in range(n))
    xs = [torch.randn(BATCH, d, requires_grad=True) for _ in range(n)]
    grads = [torch.randn(BATCH, d) for _ in range(n)]

    def step() -> None:
        _clear(*xs)
        linears.zero_grad(set_to_none=True)
        outs = [lin(x) for lin, x in zip(linears, xs, strict=True)]
        torch.autograd.backward(outs, grads)

    return step


def routed_step(n: int, d: int, *, dispatch: str, k: int = 1) -> Callable[[], None]:
    """``RoutedLinear(d, d, n)`` with top-k routing, fwd + bwd."""
    torch.manual_seed(0)
    layer = RoutedLinear(d, d, n, routing=TopK(k, renormalize=k > 1), dispatch=dispatch)
    x = torch.randn(BATCH, d, requires_grad=True)
    grad = torch.randn(BATCH, d)

    def step() -> None:
        x.grad = None
        layer.zero_grad(set_to_none=True)
        layer(x).backward(grad)

    return step


@dataclass
class Comparison:
    name: str
    baseline: str
    cases: dict[str, Callable[[], None]]
    targets: dict[str, float] = field(default_factory=dict)
    times: dict[str, list[float]] = field(default_factory=dict)
    ratios: dict[str, list[float]] = field(default_factory=dict)


def build(quick_loop: bool) -> list[Comparison]:
    comparisons = []
    for d, target in ((128, 1.20), (400, 1.10)):
        width = int(math.isqrt(4)) * d
        comparisons.append(
            Comparison(
                f"n=4, d={d}",
                f"dense Linear({width}, {width})",
                {
                    f"dense Linear({width}, {width})": dense_step(width),
                    "ModuleBank": bank_step(4, d, module_major=True),
                    "ModuleBank (batch-major input)": bank_step(4, d, module_major=False),
                },
                {"ModuleBank": target},
            )
        )
    cases = {
        "dense Linear(128, 128)": dense_step(128),
        "ModuleBank": bank_step(64, 16, module_major=True),
        "ModuleBank (batch-major input)": bank_step(64, 16, module_major=False),
    }
    # For reference, a dense layer of the same FLOPs whose output is as wide as the
    # bank's activations (64 * 16 = 1024 per sample); the target uses the square one.
    cases["dense Linear(16, 1024)"] = dense_rect_step(16, 1024)
    if not quick_loop:
        cases["Python loop over 64 nn.Linear"] = loop_step(64, 16)
    comparisons.append(
        Comparison("n=64, d=16", "dense Linear(128, 128)", cases, {"ModuleBank": 2.5})
    )
    comparisons.append(
        Comparison(
            "RoutedLinear top-1, n=4, d=400",
            "all modules (dense dispatch)",
            {
                "all modules (dense dispatch)": routed_step(4, 400, dispatch="dense"),
                "sparse dispatch": routed_step(4, 400, dispatch="sparse"),
            },
            {"sparse dispatch": 0.40},
        )
    )
    # For information: where sparse dispatch stops paying (dispatch="auto" switches to
    # dense when the fullest module holds more than 60% of the batch, e.g. top-3 of 4).
    comparisons.append(
        Comparison(
            "RoutedLinear top-k, n=4, d=400",
            "top-2, all modules",
            {
                "top-2, all modules": routed_step(4, 400, dispatch="dense", k=2),
                "top-2, sparse dispatch": routed_step(4, 400, dispatch="sparse", k=2),
                "top-3, sparse dispatch (forced)": routed_step(4, 400, dispatch="sparse", k=3),
            },
        )
    )
    return comparisons


def measure(step: Callable[[], None], min_run_time: float) -> float:
    timer = benchmark.Timer("step()", globals={"step": step})
    return timer.blocked_autorange(min_run_time=min_run_time).median


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds (median)")
    parser.add_argument("--min-run-time", type=float, default=0.1, help="seconds per case/round")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--no-loop", action="store_true", help="skip the Python-loop contrast")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    comparisons = build(quick_loop=args.no_loop)
    for comp in comparisons:  # warm up every case once
        for step in comp.cases.values():
            for _ in range(3):
                step()
    for _ in range(args.rounds):
        for comp in comparisons:
            round_times = {
                name: measure(step, args.min_run_time) for name, step in comp.cases.items()
            }
            base = round_times[comp.baseline]
            for name, t in round_times.items():
                comp.times.setdefault(name, []).append(t)
                comp.ratios.setdefault(name, []).append(t / base)

    print(
        f"torch {torch.__version__}, threads={torch.get_num_threads()}, B={BATCH}, "
        f"fwd+bwd, median of {args.rounds} interleaved rounds"
    )
    header = f"{'comparison':<32} {'case':<34} {'ms':>8} {'ratio':>6} {'target':>7} {'':>4}"
    print(header)
    print("-" * len(header))
    failed = 0
    for comp in comparisons:
        for name in comp.cases:
            ms = statistics.median(comp.times[name]) * 1e3
            ratio = statistics.median(comp.ratios[name])
            target = comp.targets.get(name)
            verdict = ""
            if target is not None:
                ok = ratio <= target
                failed += not ok
                verdict = "PASS" if ok else "FAIL"
            target_s = f"<={target:.2f}" if target is not None else ""
            print(f"{comp.name:<32} {name:<34} {ms:8.2f} {ratio:6.2f} {target_s:>7} {verdict:>4}")
    print(f"{'all targets met' if not failed else f'{failed} target(s) missed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
