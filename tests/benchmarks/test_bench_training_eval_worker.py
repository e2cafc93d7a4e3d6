"""bench_training's report with --eval-worker: what evaluation costs the training process,
per snapshot handed over in the window, and the worker's own time beside it (measured
numbers stood in for, so the arithmetic is checked exactly)."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
from commands import load_script

pytest.importorskip("metaworld")
pytest.importorskip("modnet_sb3")


def load_bench():
    return load_script("benchmarks/bench_training.py", "bench_training_eval_worker")


def _probe(bench, *, evaluation_s: float, submitted: list[int]):
    probe = bench.Probe()
    probe.num_envs = 10
    zero = {**dict.fromkeys(bench.CATEGORIES, 0.0), "cpu:window": 0.0}
    zero.update({f"cpu:{name}": 0.0 for name in bench.CATEGORIES})
    after = dict(zero)
    after.update(update=80.0, replay_sample=1.0, env=5.0, evaluation=evaluation_s)
    after.update({"cpu:update": 80.0, "cpu:evaluation": evaluation_s / 2, "cpu:window": 90.0})
    probe.window_start = (0.0, zero, 1_000, 10)
    probe.window_end = (100.0, after, 4_800, 390)
    probe.submitted = submitted
    probe.worker_evaluations = [12.0, 14.0, 40.0]  # the last: the final evaluation
    return probe


def test_the_training_process_pays_its_evaluation_time_per_snapshot_in_the_window() -> None:
    bench = load_bench()
    settings = SimpleNamespace(
        benchmark="MT10",
        mode="fixed",
        method="soft-shallow",
        preset="paper",
        threads=1,
        device="cpu",
        env_workers=1,
        compile=False,
        eval_worker=True,
    )
    schedule = SimpleNamespace(
        episode_length=dict.fromkeys(range(10), 150),
        eval_episodes=3,
        batch_size=1280,
        warmup_steps=1000,
        eval_freq=2000,
    )
    # Snapshots at 2,000 and 4,000 in the window; the final one at 4,800 comes after it.
    probe = _probe(bench, evaluation_s=0.5, submitted=[2_000, 4_000, 4_801])
    report = bench.report_of(probe, settings, schedule, [1.0, 1.0, 1.0])
    costs = report["costs"]
    assert costs["evaluations_in_window"] == 2
    assert costs["evaluation_s"] == pytest.approx(0.25)  # 0.5 s over 2 snapshots
    assert costs["worker_evaluation_s"] == pytest.approx(22.0)
    per_eval_step = 0.25 / (10 * 3 * 150)
    assert math.isclose(
        report["projection"]["MT10"]["evaluation_h"], 7_500 * 4_500 * per_eval_step / 3600
    )
    assert report["settings"]["eval_worker"] is True
    text = bench.format_report(report)
    assert (
        "evaluation in the worker process: 0.25 s per evaluation of 4,500 env steps (2 timed) "
        "in this process, 22.00 s each there" in text
    )
    assert "the worker's own time overlaps the training" in text
    # No snapshot in the window: the cost is unknown, not divided by zero.
    probe = _probe(bench, evaluation_s=0.0, submitted=[4_801])
    report = bench.report_of(probe, settings, schedule, [1.0, 1.0, 1.0])
    assert report["costs"]["evaluation_s"] is None
    assert report["projection"]["MT10"]["evaluation_h"] is None
    assert "no evaluation in the window in this process" in bench.format_report(report)
