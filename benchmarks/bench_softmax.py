"""``modnet.softmax.softmax_last`` against ``torch.softmax(x, -1)``: forward + backward (CPU).

Run:  python benchmarks/bench_softmax.py     (about a minute)

For each row length ``n`` and row count, both are timed forward + backward in interleaved
rounds (one thread, process CPU time) and the ratio ``softmax_last / torch.softmax`` is
printed with the path ``softmax_last`` takes. Where it takes the plain path the two are
the same call (ratio ~1). Exits 1 if the transposed path is more than 10% slower than
``torch.softmax`` anywhere, i.e. if the thresholds in ``modnet/softmax.py`` are wrong
for this machine. Figures: docs/benchmarks/networks.md ("Routing softmax").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import torch
from torch.utils import benchmark

from modnet.softmax import MIN_ROWS, SHORT_ROW, softmax_last


def step(fn: Callable[[torch.Tensor], torch.Tensor], rows: int, n: int) -> Callable[[], None]:
    x = torch.randn(rows, n, requires_grad=True)
    grad = torch.randn(rows, n)

    def run() -> None:
        x.grad = None
        fn(x).backward(grad)

    return run


def plain(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x, dim=-1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, 1 thread, fwd+bwd, median of {args.rounds} rounds")
    print(f"SHORT_ROW={SHORT_ROW}, MIN_ROWS={MIN_ROWS}")
    print(f"{'n':>3} {'rows':>6} {'path':>10} {'torch us':>9} {'ours us':>8} {'ratio':>6}")
    worst = 0.0
    for n in (2, 3, 4, 8, 16):
        for rows in (40, 256, 1280, 5120):
            transposed = n < SHORT_ROW and rows >= MIN_ROWS
            fns = {"torch": step(plain, rows, n), "ours": step(softmax_last, rows, n)}
            times: dict[str, list[float]] = {k: [] for k in fns}
            for _ in range(args.rounds):
                for k, f in fns.items():
                    timer = benchmark.Timer("f()", globals={"f": f}, timer=time.process_time)
                    times[k].append(timer.blocked_autorange(min_run_time=0.05).median)
            ratio = statistics.median(
                a / b for a, b in zip(times["ours"], times["torch"], strict=True)
            )
            if transposed:
                worst = max(worst, ratio)
            med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
            path = "transposed" if transposed else "plain"
            print(
                f"{n:>3} {rows:>6} {path:>10} {med['torch']:9.1f} {med['ours']:8.1f} {ratio:6.2f}"
            )
    ok = worst <= 1.10
    print(f"worst transposed-path ratio {worst:.2f} (must be <= 1.10): {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
