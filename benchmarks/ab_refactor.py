"""Same-run A/B of SoftRoutedMLP against an older copy of the core, imported as another package.

Run:  python benchmarks/ab_refactor.py OLD_DIR [--rounds 9]

OLD_DIR holds a copy of an older ``modnet/`` renamed to ``modnet_base`` (every
``modnet.`` import rewritten), e.g.::

    git worktree add /tmp/old <commit> && mkdir /tmp/ab && cp -r /tmp/old/modnet /tmp/ab/modnet_base
    grep -rl modnet /tmp/ab/modnet_base | xargs sed -i -E \\
        's/\\bmodnet\\./modnet_base./g; s/from modnet import/from modnet_base import/g'

Both networks get the same weights (the state_dict names are unchanged) and are timed
interleaved in one process: the training step (forward + backward, B=1280) and the
acting step (no grad, B=10), Shallow and Deep, ids as the task input (the path training
takes), and the twin critics' step through ``ensemble_forward`` (K=2 stacked members,
input state + action, forward + backward, B=1280). A ratio new / old above 1 is a
slowdown. Results: docs/benchmarks/networks.md.
"""

from __future__ import annotations

import time

import torch
from bench_networks import (
    OUT,
    STATE,
    TASKS,
    ab_line,
    ablation_setup,
    interleaved,
    network_step,
)
from torch.func import stack_module_state

from modnet import SoftRoutedMLP


def main() -> None:
    args = ablation_setup(__doc__ or "", rounds=9, old_dir=True)
    import modnet_base  # noqa: PLC0415 - the old copy, found only on that path

    for preset in ("shallow", "deep"):
        new = getattr(SoftRoutedMLP, preset)(STATE, OUT, TASKS)
        old = getattr(modnet_base.SoftRoutedMLP, preset)(STATE, OUT, TASKS)
        old.load_state_dict(new.state_dict())
        for mode, batch in (("train", 1280), ("act", 10)):
            x, task = torch.randn(batch, STATE), torch.arange(batch) % TASKS
            torch.testing.assert_close(new(x, task), old(x, task), rtol=0, atol=0)

            t = interleaved(
                {"new": network_step(new, mode, x, task), "old": network_step(old, mode, x, task)},
                args.rounds,
                0.4 if mode == "train" else 0.2,
                time.process_time,
            )
            unit = "ms" if mode == "train" else "us"
            print(ab_line(f"{preset:8} {mode:5} B={batch:<5}", t, unit))

        # The twin critics: input state + action (4), one output, two stacked members.
        critics = [getattr(SoftRoutedMLP, preset)(STATE + 4, 1, TASKS) for _ in range(2)]
        old_critic = getattr(modnet_base.SoftRoutedMLP, preset)(STATE + 4, 1, TASKS)
        stacked, _ = stack_module_state(critics)
        params = {k: v.detach().clone().requires_grad_() for k, v in stacked.items()}
        xa, task = torch.randn(1280, STATE + 4), torch.arange(1280) % TASKS

        def ensemble(net: torch.nn.Module, params=params, xa=xa, task=task):  # type: ignore[no-untyped-def]
            def run() -> None:
                for p in params.values():
                    p.grad = None
                net.ensemble_forward(params, xa, task).square().mean().backward()

            return run

        t = interleaved(
            {"new": ensemble(critics[0]), "old": ensemble(old_critic)},
            args.rounds,
            0.4,
            time.process_time,
        )
        print(ab_line(f"{preset:8} critics B=1280", t))


if __name__ == "__main__":
    main()
