"""Same-run A/B of MTSAC's optimisers and per-update bookkeeping (issues #12, #13).

Run:  python benchmarks/ab_optimizer.py [--sizes demo,paper] [--rounds 7] [--old-dir DIR]

One MTSAC update, ``model.train(1, B)``, of SoftModularPolicy Shallow on a random-state
env with Meta-World MT10 shapes (state 39, action 4), task-balanced buffer filled with
random-policy data, at two sizes:

- ``demo``: the demo preset's network (``examples/settings.py``: every width at a
  quarter, ``module_features=64, hidden_features=100, routing_features=64``), 2 tasks,
  batch 128;
- ``paper``: the paper's Shallow (``module_features=256``, widths 400/256), MT10 (10
  tasks), batch 1,280.

Configurations, each its own model, timed interleaved in one process (process CPU
time, one thread; a ratio is the median of the per-round ratios, their range in
brackets; times are medians over rounds):

- ``fused``: the default (Adam ``fused=True`` for the actor, critics and temperature);
- ``for-loop``: ``optimizer_kwargs={}``, torch's default on the CPU (the for-loop
  Adam), which was MTSAC's default before;
- ``foreach``: ``optimizer_kwargs={"foreach": True}``;
- ``old code`` (with ``--old-dir``): the MTSAC of an older copy of ``modnet``/``modnet_sb3``
  (renamed ``modnet_base``/``modnet_sb3_base``, see ``benchmarks/ab_refactor.py``) with its
  defaults: the whole change (optimiser, soft target update, parameter check) at once.

Then three parts alone, at each size: the temperature's Adam step (``[T]``) fused
against the for-loop; the soft target update over the critics' parameters, SB3's
``polyak_update`` against ``MTSAC``'s two foreach calls; ``SoftRoutedMLP``'s
``ensemble_forward`` parameter check with its cache against rebuilding it every call.
Results: docs/benchmarks/sb3.md, "Fused Adam".
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import torch
from bench_networks import interleaved, ratio
from stable_baselines3.common.utils import polyak_update

import modnet_sb3
from modnet_sb3.mtsac import _soft_update_
from modnet_sb3.testing import make_random_state_vec_env

SIZES: dict[str, dict[str, Any]] = {
    "demo": {
        "tasks": 2,
        "batch": 128,
        "widths": {"module_features": 64, "hidden_features": 100, "routing_features": 64},
    },
    "paper": {"tasks": 10, "batch": 1280, "widths": {"module_features": 256}},
}
CONFIGS: dict[str, dict[str, Any] | None] = {
    "fused": None,
    "for-loop": {},
    "foreach": {"foreach": True},
}


def build(module: Any, size: dict[str, Any], optimizer_kwargs: dict[str, Any] | None) -> Any:
    tasks = size["tasks"]
    policy_kwargs = {"num_tasks": tasks, "num_layers": 2, "num_modules": 2, **size["widths"]}
    if optimizer_kwargs is not None:
        policy_kwargs["optimizer_kwargs"] = optimizer_kwargs
    model = module.MTSAC(
        "SoftModularPolicy",
        make_random_state_vec_env(tasks, seed=0),
        batch_size=size["batch"],
        learning_starts=100_000,  # collection only
        buffer_size=20_000,
        replay_buffer_class=module.TaskBalancedReplayBuffer,
        policy_kwargs=policy_kwargs,
        seed=0,
        device="cpu",
    )
    model.learn(150 * tasks)
    return model


def parts(model: Any) -> dict[str, dict[str, Any]]:
    """The three parts alone, each as ``{"new": fn, "old": fn}``."""
    temperature = model.log_ent_coef.detach().clone().requires_grad_(True)
    temperature.grad = torch.randn_like(temperature)
    adams = {
        "new": torch.optim.Adam([temperature], lr=3e-4, fused=True),
        "old": torch.optim.Adam([temperature], lr=3e-4),
    }
    targets = [p.detach().clone() for p in model.critic_target.parameters()]
    ensemble = model.critic.q_ensemble
    net = ensemble._base  # the critics' architecture (a SoftRoutedMLP on the meta device)
    params = ensemble._stacked()[0]  # what ensemble_forward receives

    def uncached_check() -> None:
        net._param_shapes = None
        net._check_params("bench", params)

    return {
        "temperature Adam step": {k: adam.step for k, adam in adams.items()},
        "soft target update": {
            "new": lambda: _soft_update_(list(model.critic.parameters()), targets, 0.005),
            "old": lambda: polyak_update(model.critic.parameters(), targets, 0.005),
        },
        "ensemble parameter check": {
            "new": lambda: net._check_params("bench", params),
            "old": uncached_check,
        },
    }


def spread(times: dict[str, list[float]], num: str, den: str) -> str:
    """``R [lo-hi]``: the median per-round ratio and the range of the per-round ratios."""
    rounds = [a / b for a, b in zip(times[num], times[den], strict=True)]
    return f"{ratio(times, num, den):.3f} [{min(rounds):.2f}-{max(rounds):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="demo,paper")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds per timing")
    parser.add_argument("--old-dir", help="folder holding modnet_base/modnet_sb3_base")
    args = parser.parse_args()
    old = None
    if args.old_dir:
        sys.path.insert(0, args.old_dir)
        import modnet_sb3_base as old  # noqa: PLC0415 - the old copy, found only there
    torch.set_num_threads(1)
    print(
        f"torch {torch.__version__}, 1 thread, rounds={args.rounds}, clock=process CPU time, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for name in args.sizes.split(","):
        size = SIZES[name]
        models = {k: build(modnet_sb3, size, kwargs) for k, kwargs in CONFIGS.items()}
        if old is not None:
            models["old code"] = build(old, size, None)
        fused = models["fused"].actor.optimizer.param_groups[0]["fused"]
        print(f"\n{name}: T={size['tasks']}, batch {size['batch']} (default fused={fused})")

        def step(model: Any, batch: int = size["batch"]) -> Any:
            return lambda: model.train(1, batch)

        times = interleaved(
            {k: step(m) for k, m in models.items()}, args.rounds, args.min_time, time.process_time
        )
        for k in models:
            line = f"  update {k:9s} {statistics.median(times[k]) * 1e3:7.2f} ms"
            line += f"  {spread(times, k, 'for-loop')} x for-loop"
            if old is not None:
                line += f"  {spread(times, k, 'old code')} x old code"
            print(line)
        for part, fns in parts(models["fused"]).items():
            t = interleaved(fns, args.rounds, args.min_time / 4, time.process_time)
            print(
                f"  {part:25s} new {statistics.median(t['new']) * 1e6:7.1f} us"
                f"  old {statistics.median(t['old']) * 1e6:7.1f} us  new/old {spread(t, 'new', 'old')}"
            )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
