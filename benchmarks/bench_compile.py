"""Time of one MTSAC update at the paper's batch: eager vs ``torch.compile`` vs CUDA graphs.

For each method (default: Soft-Modular Shallow and Deep, and the MLP baselines MT-SAC and
MT-MH-SAC), one ``MTSAC`` per mode is built on a fake env with Meta-World's shapes
(``modnet_sb3.testing``; observation 39 + T, action 4; no Meta-World needed), its
replay buffer filled, then:

- ``eager``: ``MTSAC(compile=False)``;
- ``compiled``: ``MTSAC(compile=True)`` with inductor, ``mode="default"`` (no CUDA graphs);
- ``cudagraphs`` (CUDA only): ``MTSAC(compile=True)``'s CUDA default, ``mode="reduce-overhead"``.

The first ``--warmup`` updates are timed apart (they hold the compilation); then
``--steps`` updates are timed ``--repeats`` times, modes interleaved, and the median
milliseconds per update are printed with the ratio to eager from the same run and the
load average. Wall time, with ``torch.cuda.synchronize`` before each reading on CUDA.

    python benchmarks/bench_compile.py                                # CPU, all four methods
    python benchmarks/bench_compile.py --device cuda --steps 50
    python benchmarks/bench_compile.py --methods soft-shallow --steps 5 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from examples.methods import build_method  # noqa: E402
from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer  # noqa: E402
from modnet_sb3.testing import make_random_state_vec_env  # noqa: E402

STATE_DIM, ACTION_DIM = 39, 4
METHODS = ("soft-shallow", "soft-deep", "mt-sac", "mt-mh-sac")


def modes_for(
    device: str, backend: str | None, wanted: list[str] | None = None
) -> dict[str, dict[str, Any] | None]:
    """Mode name -> MTSAC compile_kwargs (None: eager); ``wanted`` keeps those named."""
    extra = {} if backend is None else {"backend": backend}
    modes: dict[str, dict[str, Any] | None] = {
        "eager": None,
        "compiled": {"mode": "default", **extra} if backend is None else extra,
    }
    if device == "cuda" and backend is None:
        modes["cudagraphs"] = {"mode": "reduce-overhead"}
    if wanted is not None:
        modes = {name: kwargs for name, kwargs in modes.items() if name in wanted}
    return modes


def build(method: str, tasks: int, batch: int, device: str, compile_kwargs: Any) -> MTSAC:
    env = make_random_state_vec_env(tasks, seed=0, state_dim=STATE_DIM, action_dim=ACTION_DIM)
    spec = build_method(method, env.observation_space, env.action_space, num_tasks=tasks)
    model = MTSAC(
        spec.policy,
        env,
        policy_kwargs=dict(spec.policy_kwargs),
        reweight=spec.reweight,
        replay_buffer_class=TaskBalancedReplayBuffer,
        buffer_size=max(20 * batch, 10_000),
        learning_starts=4 * batch,
        batch_size=batch,
        num_tasks=tasks,
        update_order="authors",
        seed=0,
        device=device,
        compile=compile_kwargs is not None,
        compile_kwargs=compile_kwargs,
    )
    model.learn(model.learning_starts)  # fills the buffer (untrained policy), no updates
    return model


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed_updates(model: MTSAC, steps: int, batch: int, device: str) -> float:
    """Seconds per update over ``steps`` updates (one ``train(1)`` each, as the loop calls it)."""
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        model.train(1, batch)
    sync(device)
    return (time.perf_counter() - start) / steps


def run(args: argparse.Namespace) -> dict[str, Any]:
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.set_num_threads(args.threads)
    batch = args.batch_per_task * args.tasks
    modes = modes_for(device, args.backend, args.modes)
    load_before = [round(x, 2) for x in os.getloadavg()]
    results: dict[str, Any] = {}
    for method in args.methods:
        models, first = {}, {}
        for mode, kwargs in modes.items():
            torch._dynamo.reset()  # each model compiles from scratch: a cold start
            model = build(method, args.tasks, batch, device, kwargs)
            first[mode] = timed_updates(model, args.warmup, batch, device) * args.warmup
            models[mode] = model
        times: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(args.repeats):
            for mode, model in models.items():
                times[mode].append(timed_updates(model, args.steps, batch, device))
        median = {mode: statistics.median(v) for mode, v in times.items()}
        base = median.get("eager")
        results[method] = {
            "ms_per_update": {mode: 1e3 * v for mode, v in median.items()},
            "speedup_vs_eager": {
                mode: base / v if base is not None else None for mode, v in median.items()
            },
            "first_updates_s": first,
        }
        print(method_line(method, results[method], args.warmup), flush=True)
    return {
        "device": device if device == "cpu" else f"cuda ({torch.cuda.get_device_name(0)})",
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "batch": batch,
        "tasks": args.tasks,
        "load_average_before": load_before,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "steps": args.steps,
        "repeats": args.repeats,
        "warmup": args.warmup,
        "backend": args.backend or "inductor",
        "results": results,
    }


def method_line(method: str, r: dict[str, Any], warmup: int) -> str:
    parts = []
    for mode, ms in r["ms_per_update"].items():
        speedup = r["speedup_vs_eager"][mode]
        ratio = f"x{speedup:.2f}, " if speedup is not None else ""
        parts.append(
            f"{mode} {ms:.1f} ms ({ratio}first {warmup}: {r['first_updates_s'][mode]:.1f} s)"
        )
    return f"  {method:<13} " + "; ".join(parts)


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"MTSAC update at batch {report['batch']} ({report['tasks']} tasks) on {report['device']}, "
        f"torch {report['torch']}, {report['threads']} thread(s), {report['cores']} cores; load "
        f"average {report['load_average_before']} before / {report['load_average_after']} after; "
        f"median of {report['repeats']} x {report['steps']} updates; backend {report['backend']}",
    ]
    for method, r in report["results"].items():
        lines.append(method_line(method, r, report["warmup"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--methods", nargs="+", default=list(METHODS))
    parser.add_argument(
        "--modes",
        nargs="+",
        default=None,
        help="of eager, compiled, cudagraphs (CUDA only); default: all that apply",
    )
    parser.add_argument("--tasks", type=int, default=10, help="T (MT10: 10)")
    parser.add_argument("--batch-per-task", type=int, default=128, help="the paper's 128")
    parser.add_argument("--steps", type=int, default=10, help="updates per timing")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings (median)")
    parser.add_argument("--warmup", type=int, default=3, help="first updates, timed apart")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--backend", default=None, help="torch.compile backend (default inductor; CI: aot_eager)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the report here")
    args = parser.parse_args(argv)
    report = run(args)  # prints each method's line as it is measured
    print("summary:\n" + format_report(report))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
