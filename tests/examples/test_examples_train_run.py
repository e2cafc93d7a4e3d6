"""python -m examples.train end to end, as a subprocess, on 2 Meta-World tasks and a tiny budget.

One fresh run writes every artefact; resuming it continues the step count without
duplicating CSV rows; a run killed after a checkpoint resumes from it.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("metaworld")
pytest.importorskip("modnet_metaworld")
pytest.importorskip("modnet_sb3")

from examples.common.eval_log import read_eval_csv  # noqa: E402
from modnet_sb3 import MTSAC  # noqa: E402

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
# Conditioned mode builds in a fraction of Fixed's time (no 50-goal benchmark list).
TINY = [
    "--preset", "smoke", "--mode", "conditioned", "--method", "soft-shallow",
    "--tasks", "reach-v3", "push-v3",
    "--warmup-steps", "100", "--eval-freq", "150", "--checkpoint-freq", "150",
    "--eval-episodes", "1", "--batch-per-task", "8", "--replay-size", "2000",
    "--threads", "1",
]  # fmt: skip


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "examples.train", *args]


def run_train(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    done = subprocess.run(
        command(*args), cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


SB3_TABLE = ("-------", "| eval/", "| train/")  # borders and sections of SB3's logger tables


def eval_steps(run: Path) -> list[int]:
    return [int(row["env_steps"]) for row in read_eval_csv(run / "eval.csv")]


@pytest.fixture(scope="module")
def fresh_output(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    run = tmp_path_factory.mktemp("train") / "run"
    done = run_train(*TINY, "--total-steps", "300", "--run-dir", str(run))  # progress bars on
    return run, done


@pytest.fixture(scope="module")
def finished_run(fresh_output) -> Path:
    return fresh_output[0]


def test_a_run_prints_a_few_lines_and_a_summary(fresh_output) -> None:
    run, done = fresh_output
    lines = done.stdout.splitlines()
    assert len(lines) <= 25, done.stdout  # was ~70 here (SB3's tables), ~630 on MT10
    assert not any(marker in done.stdout for marker in SB3_TABLE), done.stdout
    # Not a terminal: no bar, one line per evaluation, then the summary.
    assert lines[:2] == [line for line in lines if line.startswith("eval at ")] and lines[
        0
    ].startswith("eval at 150 env steps: success ")
    assert "MT10-conditioned, soft-shallow, seed 0: 300 env steps (smoke preset)" in done.stdout
    assert "mean over tasks" in done.stdout and "71.8 %; not comparable" in done.stdout
    assert "routing: tasks differ by " in done.stdout and "wall time: " in done.stdout
    assert f"run folder: {run}" in done.stdout
    assert "\r" not in done.stderr and "\x1b[" not in done.stderr  # no bars off a terminal
    assert "precision lowered" not in done.stderr  # the understood Box warning is filtered


def test_a_tiny_run_writes_every_artefact(finished_run: Path) -> None:
    run = finished_run
    record = json.loads((run / "settings.json").read_text())
    assert record["settings"]["method"] == "soft-shallow"
    assert record["schedule"]["batch_size"] == 16 and record["schedule"]["total_steps"] == 300
    assert record["task_names"] == ["reach-v3", "push-v3"]
    assert record["method"]["reweight"] == "inverse_alpha"
    assert record["reward_function_version"] in ("v1", "v2")
    assert record["protocol"]["horizons"] == {"reach-v3": 150, "push-v3": 150}
    assert record["protocol"]["randomised_tasks"] == ["reach-v3", "push-v3"]
    for package in (
        "python",
        "torch",
        "stable-baselines3",
        "metaworld",
        "mujoco",
        "gymnasium",
        "modnet-rl",
    ):
        assert record["versions"][package] != "not installed"

    rows = read_eval_csv(run / "eval.csv")
    assert [int(row["env_steps"]) for row in rows] == [150, 300]
    assert 0 < float(rows[0]["elapsed_s"]) < float(rows[1]["elapsed_s"])
    assert float(rows[1]["unix_time"]) - float(rows[0]["unix_time"]) == pytest.approx(
        float(rows[1]["elapsed_s"]) - float(rows[0]["elapsed_s"]), abs=0.01
    )
    for row in rows:
        for task in ("reach-v3", "push-v3"):
            assert 0.0 <= float(row[f"success/{task}"]) <= 1.0
            float(row[f"return/{task}"])
        assert float(row["mean_success"]) == pytest.approx(
            (float(row["success/reach-v3"]) + float(row["success/push-v3"])) / 2
        )

    assert list((run / "tb").glob("events.out.tfevents.*"))
    progress = (run / "tb" / "progress_1.csv").read_text()
    assert "eval/success_rate" in progress and "train/critic_loss" in progress

    latest = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert latest["num_timesteps"] == 300
    assert (run / "checkpoints" / latest["model"]).exists()
    assert (run / "checkpoints" / latest["replay_buffer"]).exists()
    model = MTSAC.load(run / "final_model.zip", device="cpu")
    assert model.num_timesteps == 300
    assert model.policy.actor.optimizer.state_dict()["state"]  # optimiser state saved

    for name in ("success", "routing_heatmaps", "routing_embedding"):
        assert (run / "plots" / f"{name}.png").read_bytes()[:8] == PNG
    table = (run / "table.md").read_text()
    assert "| MT10 | conditioned | soft-shallow | 1 | 300 |" in table
    assert "| 71.8 |" not in table  # two tasks: no whole-benchmark number beside them
    assert "Protocol of this run:" in table and "mode `conditioned`" in table


def test_resume_refuses_fewer_total_steps_than_the_run_has_done(finished_run: Path, capsys) -> None:
    from examples import train

    before = (finished_run / "settings.json").read_text()
    assert train.main(["--resume", str(finished_run), "--total-steps", "100"]) == 2
    err = capsys.readouterr().err
    assert (
        "--resume: --total-steps must be at least the 300 env steps the run has done, got 100"
        in err
    )
    assert (finished_run / "settings.json").read_text() == before  # nothing rewritten


def test_resume_continues_the_step_count_without_duplicate_rows(finished_run: Path) -> None:
    run = finished_run
    elapsed = json.loads((run / "checkpoints" / "latest.json").read_text())["elapsed_s"]
    before = read_eval_csv(run / "eval.csv")
    output = run_train(
        "--resume", str(run), "--total-steps", "450", "--no-progress-bar", "--verbose"
    ).stdout
    assert "resumed" in output and "at 300 env steps" in output
    assert all(marker in output for marker in SB3_TABLE)  # --verbose: SB3's tables too
    assert eval_steps(run) == [150, 300, 450]
    rows = read_eval_csv(run / "eval.csv")
    assert rows[:2] == before  # the rows up to the checkpoint are kept as they were
    # Elapsed time goes on from the checkpoint's, not from 0.
    assert float(before[-1]["elapsed_s"]) <= elapsed < float(rows[2]["elapsed_s"])
    assert float(rows[2]["elapsed_s"]) - elapsed < float(rows[2]["unix_time"]) - float(
        before[-1]["unix_time"]
    )
    assert MTSAC.load(run / "final_model.zip", device="cpu").num_timesteps == 450
    with open(run / "tb" / "progress_2.csv", newline="") as handle:  # SB3's CSV logger
        second = list(csv.DictReader(handle))
    steps = [
        int(float(row["time/total_timesteps"])) for row in second if row["time/total_timesteps"]
    ]
    assert steps and min(steps) > 300  # SB3's counter went on from the checkpoint
    assert (run / "tb" / "progress_1.csv").exists()  # the first session's log is kept


def test_a_run_killed_after_a_checkpoint_resumes_from_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    args = [*TINY, "--total-steps", "600", "--run-dir", str(run), "--no-progress-bar"]
    process = subprocess.Popen(
        command(*args), cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    pointer = run / "checkpoints" / "latest.json"
    deadline = time.monotonic() + 180
    try:
        while not pointer.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert pointer.exists(), "the run never wrote a checkpoint"
    saved = json.loads(pointer.read_text())["num_timesteps"]
    assert saved < 600
    output = run_train("--resume", str(run)).stdout
    assert f"at {saved} env steps" in output
    assert eval_steps(run) == [150, 300, 450, 600]
    assert MTSAC.load(run / "final_model.zip", device="cpu").num_timesteps == 600
