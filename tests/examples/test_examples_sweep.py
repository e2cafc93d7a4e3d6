"""python -m examples.sweep on submitit's local back-end, with a tiny budget."""

from __future__ import annotations

import json
import sys

import pytest
from commands import run_in_repo

pytest.importorskip("submitit")
pytest.importorskip("modnet_metaworld")

from examples import sweep as sweep_module  # noqa: E402
from examples.common.eval_log import read_eval_csv  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402

TINY = [
    "total_steps=150", "warmup_steps=50", "eval_freq=150", "checkpoint_freq=150",
    "eval_episodes=1", "batch_per_task=8", "replay_size=1000", "tasks=reach-v3", "threads=1",
]  # fmt: skip


@pytest.mark.slow
def test_sweep_runs_every_seed_on_the_local_backend_and_aggregates(tmp_path) -> None:
    out = tmp_path / "sweep"
    # Conditioned mode: no 50-goal benchmark list to build, so each job starts faster.
    args = ["--modes", "conditioned", "--methods", "mt-sac", "--seeds", "0", "1"]
    args += ["--max-parallel", "2", "--out", str(out)]
    done = run_in_repo([sys.executable, "-m", "examples.sweep", *args, "--set", *TINY], timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    for seed in (0, 1):
        run = out / f"MT10-conditioned-mt-sac-s{seed}"
        assert json.loads((run / "settings.json").read_text())["settings"]["seed"] == seed
        assert [row["env_steps"] for row in read_eval_csv(run / "eval.csv")] == ["150"]
        assert (run / "final_model.zip").exists()
    assert list((out / "submitit").glob("*_result.pkl"))  # the jobs went through submitit
    table = (out / "report" / "table.md").read_text()
    assert "| MT10 | conditioned | mt-sac | 2 | 150 |" in table
    assert (out / "report" / "success.png").exists()


def test_sweep_validates_every_run_before_submitting(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"tasks must be MT10 tasks"):
        sweep_module.sweep_settings(
            benchmarks=["MT10"],
            modes=["fixed"],
            methods=["mt-sac"],
            seeds=[0],
            out=tmp_path,
            overrides=sweep_module.parse_overrides(["tasks=nope-v3"]),
        )
    with pytest.raises(ConfigError, match=r"--set: each item must be KEY=VALUE"):
        sweep_module.parse_overrides(["totl_steps=5"])
    runs = sweep_module.sweep_settings(
        benchmarks=["MT10", "MT50"],
        modes=["fixed"],
        methods=["soft-shallow", "mt-sac"],
        seeds=[0, 1, 2],
        out=tmp_path,
        overrides={"preset": "paper"},
    )
    assert len(runs) == 12
    assert len({run.run_dir for run in runs}) == 12
    assert not list(tmp_path.iterdir())  # nothing submitted, nothing written


def test_a_requeued_job_resumes_only_a_run_with_checkpoints(tmp_path, capsys) -> None:
    run = tmp_path / "MT10-fixed-mt-sac-s0"
    assert sweep_module.resumable(run) is None  # a new run
    (run / "checkpoints").mkdir(parents=True)
    (run / "settings.json").write_text("{}")
    # Killed before its first checkpoint: nothing to resume, the job starts over and the
    # old folder is kept aside, not deleted.
    assert sweep_module.resumable(run) is None
    assert not run.exists() and (tmp_path / "MT10-fixed-mt-sac-s0.unfinished-1").is_dir()
    assert "stopped before its first checkpoint" in capsys.readouterr().out
    (run / "checkpoints").mkdir(parents=True)
    (run / "settings.json").write_text("{}")
    (run / "checkpoints" / "latest.json").write_text("{}")
    assert sweep_module.resumable(run) == run  # train() checks what it finds
