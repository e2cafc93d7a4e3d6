"""Cost of one MTSAC update with each gradient method, against plain MTSAC, in one run.

MT10 shapes (observation 39 + 10, action 4, 10 tasks), batch 1,280 (128 per task),
the MT-SAC network of the paper (SB3 ``MlpPolicy``, ``net_arch=[400, 400, 400]``), a
``TaskBalancedReplayBuffer`` filled with random-policy data. Configurations:

- ``plain``: ``MTSAC`` without a gradient method (one backward per network);
- ``pcgrad``, ``gradnorm``, ``cagrad`` (c = 0.9), ``famo``: ``MTSAC(gradient_method=...)``
  as ``examples.methods`` registers them (PCGrad and CAGrad on the critic and the actor,
  GradNorm and FAMO on the critic);
- ``pcgrad-batched``: PCGrad with the per-task gradients from one vmapped backward
  (``per_task="batched"``) instead of ``T`` backward passes in a Python loop (what
  ``per_task="auto"`` takes on the CPU): the measurement behind that choice.

``model.train(steps, 1280)`` is timed for each configuration in turn, repeated, and the
median per configuration is kept; times are this process's CPU seconds
(``time.process_time``), which other jobs on a shared machine do not inflate, and the
ratio to ``plain`` is taken per round. The load average is printed beside them.

    python benchmarks/bench_gradient_methods.py             # 1 torch thread, 3 repeats
    python benchmarks/bench_gradient_methods.py --threads 2 --repeats 5 --steps 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer
from modnet_sb3.testing import make_random_state_vec_env

NUM_TASKS, STATE_DIM, ACTION_DIM, BATCH = 10, 39, 4, 1280

CONFIGS: dict[str, tuple[str | None, dict]] = {
    "plain": (None, {}),
    "pcgrad": ("pcgrad", {}),
    "pcgrad-batched": ("pcgrad", {"per_task": "batched"}),
    "gradnorm": ("gradnorm", {"alpha": 0.12, "lr": 0.025}),
    "cagrad": ("cagrad", {"c": 0.9}),
    "famo": ("famo", {"lr": 0.01, "weight_decay": 1e-3}),
}


def build(method: str | None, kwargs: dict, seed: int = 0) -> MTSAC:
    env = make_random_state_vec_env(
        NUM_TASKS, seed=seed, state_dim=STATE_DIM, action_dim=ACTION_DIM
    )
    model = MTSAC(
        "MlpPolicy",
        env,
        policy_kwargs={"net_arch": [400, 400, 400]},
        replay_buffer_class=TaskBalancedReplayBuffer,
        learning_starts=2 * BATCH,
        batch_size=BATCH,
        buffer_size=50_000,
        reweight="none",
        seed=seed,
        device="cpu",
        gradient_method=method,
        gradient_method_kwargs=kwargs,
    )
    model.learn(2 * BATCH)  # fills the buffer with random-policy data, no update yet
    return model


def seconds_per_update(model: MTSAC, steps: int) -> float:
    start = time.process_time()
    model.train(steps, BATCH)
    return (time.process_time() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3, help="updates per timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    models = {name: build(method, kwargs) for name, (method, kwargs) in CONFIGS.items()}
    for model in models.values():
        seconds_per_update(model, 1)  # warm-up (first vmap, allocator)
    times: dict[str, list[float]] = {name: [] for name in models}
    ratios: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        round_times = {name: seconds_per_update(m, args.steps) for name, m in models.items()}
        for name, t in round_times.items():
            times[name].append(t)
            ratios[name].append(t / round_times["plain"])

    print(
        f"MTSAC update, batch {BATCH}, {NUM_TASKS} tasks, MlpPolicy [400, 400, 400], "
        f"torch {torch.__version__}, {args.threads} thread(s), "
        f"median of {args.repeats} x {args.steps} updates (CPU time)"
    )
    print(f"{'configuration':<14} {'ms / update':>12} {'x plain':>8}")
    for name in models:
        median_ms = 1000 * statistics.median(times[name])
        print(f"{name:<14} {median_ms:>12.0f} {statistics.median(ratios[name]):>8.2f}")
    print("load average (1, 5, 15 min):", " ".join(f"{v:.2f}" for v in os.getloadavg()))


if __name__ == "__main__":
    main()
