"""benchmarks/gpu_check.sh --tiny on the CPU: both benchmarks it runs give whole, consistent reports.

One run of the script (bench_compile.py, then bench_training.py on 2 Meta-World tasks
with 2 env workers and a tiny budget) serves every test here.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from commands import load_script

pytest.importorskip("metaworld")
pytest.importorskip("modnet_metaworld")
pytest.importorskip("modnet_sb3")

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def load_bench():
    return load_script("benchmarks/bench_training.py", "bench_training")


@pytest.fixture(scope="module")
def gpu_check(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "GPU_CHECK_OUT": str(out), "MODNET_GPU_CHECK_TINY": "1"}
    done = subprocess.run(
        ["bash", "benchmarks/gpu_check.sh", "--device", "cpu"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done, out


@pytest.fixture(scope="module")
def bench_and_report(gpu_check):
    return load_bench(), json.loads((gpu_check[1] / "training.json").read_text())


def test_gpu_check_prints_every_section(gpu_check) -> None:
    done, out = gpu_check
    sections = ("== machine:", "== update time (tiny)", "== whole loop (tiny)", "projected")
    for line in (*sections, "== MT10 paper run with Shallow's eager update"):
        assert line in done.stdout, line
    assert "ran out" not in done.stdout and "failed" not in done.stdout
    compile_report = json.loads((out / "compile.json").read_text())
    assert compile_report["device"] == "cpu" and compile_report["batch"] == 8
    assert set(compile_report["results"]) == {"soft-shallow"}
    for result in compile_report["results"].values():
        assert result["ms_per_update"]["eager"] > 0
        assert result["speedup_vs_eager"]["eager"] == 1.0


def test_report_fields_are_consistent(bench_and_report):
    bench, report = bench_and_report
    shares, seconds = report["shares"], report["seconds"]
    assert set(shares) == set(bench.CATEGORIES)
    assert math.isclose(sum(shares.values()), 1.0, rel_tol=1e-9)
    assert math.isclose(sum(report["cpu_shares"].values()), 1.0, rel_tol=1e-9)
    assert 0 < report["cpu_seconds"]["window"] <= 2 * report["window"]["wall_s"]
    # Exclusive times: none negative (a timer counted twice would push `rest` below 0).
    assert all(value >= 0 for value in seconds.values()), seconds
    for name in ("env", "predict", "replay_add", "replay_sample", "update", "evaluation"):
        assert seconds[name] > 0, name  # every wrapper saw its calls in the window
    window = report["window"]
    # 2 tasks: one VecEnv step is 2 env steps and one update; the first update comes at
    # the first VecEnv step past the 20 warm-up steps (22), the run ends at 20 + 40.
    assert window["env_steps"] == 38
    assert window["updates"] == window["env_steps"] // 2 + 1  # the update at step 22 too
    rates = report["rates"]
    assert math.isclose(rates["env_steps_per_s"], window["env_steps"] / window["wall_s"])
    assert rates["update_bound_env_steps_per_s"] > rates["env_steps_per_s"]
    assert 0 < rates["loop_vs_update_bound"] < 1
    assert report["settings"]["tasks"] == 2
    assert report["settings"]["env_workers"] == 2
    assert report["settings"]["batch_size"] == 8
    assert report["costs"]["evaluation_env_steps"] == 2 * 1 * 150
    assert report["costs"]["evaluations_timed"] >= 2  # one in the window, the final one
    assert report["machine"]["cores"] >= 1 and len(report["machine"]["load_average"]) == 3


def test_projection_adds_up(bench_and_report):
    _, report = bench_and_report
    costs, mt10 = report["costs"], report["projection"]["MT10"]
    assert mt10["updates"] == 1_500_000
    assert math.isclose(mt10["collection_h"], 15e6 * costs["collection_s_per_env_step"] / 3600)
    # Measured at batch 8, the MT10 paper batch is 1,280: the update time is scaled x160.
    assert math.isclose(mt10["updates_h"], 1_500_000 * costs["update_s"] * 160 / 3600)
    per_eval_step = costs["evaluation_s"] / costs["evaluation_env_steps"]
    assert math.isclose(mt10["evaluation_h"], 7_500 * 4_500 * per_eval_step / 3600)
    assert math.isclose(
        mt10["total_h"], mt10["collection_h"] + mt10["updates_h"] + mt10["evaluation_h"]
    )
    assert "scaled" in mt10["basis"]
    assert report["projection"]["MT50"]["updates"] == 1_000_000
    assert report["projection_cpu"]["MT10"]["updates"] == 1_500_000


def test_printed_report_names_every_part(bench_and_report):
    bench, report = bench_and_report
    text = bench.format_report(report)
    for word in ("load average", "env steps/s", "updates/s", "MT10:", "MT50:", *bench.CATEGORIES):
        assert word in text, word
