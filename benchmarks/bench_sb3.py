"""Gradient steps per second of SAC training at batch 1280 with 10 tasks (MT10 shapes), on the CPU.

Compares, in one run:

(a) SB3 ``SAC`` + ``MlpPolicy``, ``net_arch`` chosen so that each network's parameter
    count matches SoftModular Shallow's within 5% (the counts are printed);
(b) ``MTSAC`` + ``SoftModularPolicy`` (Shallow), critics evaluated together (stacked
    parameters, ``SoftRoutedMLP.ensemble_forward``);
(c) the same with ``modnet.reference.LoopSoftRoutedMLP`` (a Python loop over modules,
    the way the authors' code is written; its critics go through ``vmap``);
plus two extra rows for context: (b') SoftModular with the critics run one after the other,
and (c') the loop network with the critics run one after the other (the authors' layout).

Targets: b/a >= 0.85 and b/c >= 1.1. The env is a fake one with Meta-World's shapes
(observation 39 + 10, action 4); no Meta-World needed. The replay buffer is filled with
random-policy data first; then ``model.train(steps, 1280)`` is timed, configurations
interleaved, repeated, and the median per configuration is kept. Rates are steps per
second of this process's CPU time (``time.process_time``), which other jobs on a shared
machine do not inflate; with ``--threads 1`` that equals wall time on an idle core.

    python benchmarks/bench_sb3.py            # 1 torch thread (default), 3 repeats
    python benchmarks/bench_sb3.py --threads 2 --repeats 5 --steps 10
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from stable_baselines3 import SAC

from modnet import SoftRoutedMLP
from modnet.reference import LoopSoftRoutedMLP
from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer
from modnet_sb3.testing import make_random_state_vec_env

NUM_TASKS, STATE_DIM, ACTION_DIM, BATCH = 10, 39, 4, 1280


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def mlp_params(in_features: int, out_features: int, hidden: list[int]) -> int:
    sizes = [in_features, *hidden, out_features]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def matched_width(in_features: int, out_features: int, target: int, depth: int = 3) -> int:
    """Width ``h`` of a ``depth``-layer MLP whose parameter count is closest to ``target``."""
    return min(
        range(16, 2048),
        key=lambda h: abs(mlp_params(in_features, out_features, [h] * depth) - target),
    )


def build(kind: str, arch: list[int], seed: int = 0) -> SAC:
    env = make_random_state_vec_env(
        NUM_TASKS, seed=seed, state_dim=STATE_DIM, action_dim=ACTION_DIM
    )
    common = dict(learning_starts=5 * BATCH, batch_size=BATCH, buffer_size=100_000, seed=seed)
    if kind == "a":
        return SAC("MlpPolicy", env, policy_kwargs={"net_arch": arch}, **common)
    policy_kwargs: dict = {}
    if kind in ("c", "c'"):
        policy_kwargs["network_class"] = LoopSoftRoutedMLP
    if kind in ("b'", "c'"):
        policy_kwargs["vmap_critics"] = False
    return MTSAC(
        "SoftModularPolicy",
        env,
        policy_kwargs=policy_kwargs,
        replay_buffer_class=TaskBalancedReplayBuffer,
        **common,
    )


def timer(model: SAC, steps: int) -> Callable[[], float]:
    model.learn(model.learning_starts)  # fills the buffer with random-policy data, no updates
    model.train(1, BATCH)  # warm-up

    def run() -> float:
        # CPU time of this process, not wall time: on a shared machine other jobs
        # stretch wall time at random, while the work done by our thread(s) is stable.
        start = time.process_time()
        model.train(steps, BATCH)
        return steps / (time.process_time() - start)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--steps", type=int, default=8, help="gradient steps per timing")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved repeats (median kept)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    actor_target = count(SoftRoutedMLP.shallow(STATE_DIM, 2 * ACTION_DIM, NUM_TASKS))
    critic_target = count(SoftRoutedMLP.shallow(STATE_DIM + ACTION_DIM, 1, NUM_TASKS))
    obs_dim = STATE_DIM + NUM_TASKS  # MlpPolicy reads the state and the one-hot
    width = matched_width(obs_dim, 2 * ACTION_DIM, actor_target)
    arch = [width] * 3
    actor_mlp = mlp_params(obs_dim, 2 * ACTION_DIM, arch)  # SB3: mu and log_std heads
    critic_mlp = mlp_params(obs_dim + ACTION_DIM, 1, arch)
    print(
        f"torch {torch.__version__}, {args.threads} thread(s); batch {BATCH}, {NUM_TASKS} tasks, "
        f"obs {STATE_DIM}+{NUM_TASKS}, action {ACTION_DIM}"
    )
    print(
        f"parameters per network: SoftModular Shallow actor {actor_target:,}, critic {critic_target:,}; "
        f"MLP net_arch {arch}: actor {actor_mlp:,} ({actor_mlp / actor_target - 1:+.1%}), "
        f"critic {critic_mlp:,} ({critic_mlp / critic_target - 1:+.1%})"
    )

    models = {k: build(k, arch) for k in ("a", "b", "c", "b'", "c'")}
    check = models["a"].policy
    measured = (count(check.actor), count(check.critic.qf0))
    within = all(
        abs(m / t - 1) <= 0.05 for m, t in zip(measured, (actor_target, critic_target), strict=True)
    )
    print(f"measured MLP actor/critic counts {measured}: within 5%: {within}")
    runs = {k: timer(m, args.steps) for k, m in models.items()}
    rates: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for k, run in runs.items():
            rates[k].append(run())
    med = {k: statistics.median(v) for k, v in rates.items()}
    labels = {
        "a": "SB3 SAC + MlpPolicy (equal params)",
        "b": "MTSAC + SoftModularPolicy (Shallow)",
        "c": "MTSAC + SoftModularPolicy (LoopSoftRoutedMLP)",
        "b'": "  (b) with critics one after the other",
        "c'": "  (c) with critics one after the other",
    }
    for k, label in labels.items():
        spread = ", ".join(f"{r:.2f}" for r in rates[k])
        print(f"({k}) {label:50s} {med[k]:6.2f} steps/s   [{spread}]")
    ba, bc = med["b"] / med["a"], med["b"] / med["c"]
    print(f"b/a = {ba:.3f}  (target >= 0.85)  {'PASS' if ba >= 0.85 else 'FAIL'}")
    print(f"b/c = {bc:.3f}  (target >= 1.10)  {'PASS' if bc >= 1.10 else 'FAIL'}")
    # Acting: one deterministic action per task (batch T), as during collection.
    obs = models["a"].env.reset()
    for k in ("a", "b", "c"):
        policy = models[k].policy
        policy.predict(obs, deterministic=True)
        start = time.process_time()
        for _ in range(200):
            policy.predict(obs, deterministic=True)
        per_call = (time.process_time() - start) / 200 * 1e3
        print(f"({k}) predict at batch {NUM_TASKS}: {per_call:.3f} ms per call")
    b_seq, c_seq = med["b'"], med["c'"]
    print(
        f"b/b' (critics together vs one after the other) = {med['b'] / b_seq:.3f}; "
        f"b/c' (vs the authors' layout) = {med['b'] / c_seq:.3f}"
    )


if __name__ == "__main__":
    main()
