"""Same-run A/B of one MTSAC update against an older copy of modnet_sb3 and the core.

Run:  python benchmarks/ab_refactor_sb3.py OLD_DIR [--rounds 7]

OLD_DIR holds older copies of ``modnet/`` renamed ``modnet_base`` and of
``integrations/modnet_sb3/`` renamed ``modnet_sb3_base`` (every import rewritten; see
``benchmarks/ab_refactor.py``). Both MTSAC models (SoftModularPolicy, Shallow, MT10
shapes: 10 tasks, state 39, action 4, batch 1280, task-balanced buffer) collect the same
random-policy data, then ``model.train(1, 1280)`` is timed interleaved in one process
(process CPU time). new / old above 1 is a slowdown. Results: docs/benchmarks/sb3.md.
"""

from __future__ import annotations

import time

from bench_networks import ab_line, ablation_setup, interleaved

import modnet_sb3 as new_sb3
from modnet_sb3.testing import make_random_state_vec_env


def build(module):  # type: ignore[no-untyped-def]
    env = make_random_state_vec_env(10, seed=0)
    model = module.MTSAC(
        "SoftModularPolicy",
        env,
        batch_size=1280,
        learning_starts=10_000,  # collection only
        buffer_size=20_000,
        replay_buffer_class=module.TaskBalancedReplayBuffer,
        policy_kwargs={"num_tasks": 10},
        seed=0,
        device="cpu",
    )
    model.learn(1500)
    return model


def main() -> None:
    args = ablation_setup(__doc__ or "", rounds=7, old_dir=True)
    import modnet_sb3_base as old_sb3  # noqa: PLC0415 - the old copy, found only there

    models = {"new": build(new_sb3), "old": build(old_sb3)}

    def step(model):  # type: ignore[no-untyped-def]
        return lambda: model.train(1, 1280)

    t = interleaved({k: step(m) for k, m in models.items()}, args.rounds, 1.0, time.process_time)
    print(ab_line("MTSAC update B=1280:", t))


if __name__ == "__main__":
    main()
