"""A run killed at any point and resumed equals the uninterrupted run, bit for bit on the CPU.

One driver process (this file run as a script) trains every case in forked children,
so torch, SB3 and Meta-World are imported once: an uninterrupted reference run per
setting, then for each kill point a run killed with SIGKILL at that point (a
monkeypatched hook in the child kills it deterministically) and its resume, and the
signal cases (a real SIGTERM/SIGINT sent by the driver). The tests compare eval.csv's
numbers, the update and step counters, every parameter and optimiser state of the
final model, and the replay buffer of the last checkpoint.

Runs are tiny: two tasks, a test-only tiny method, and test-only presets whose
horizons are the real ones divided by 25 (the smoke preset's 150 -> 6; the paper
preset's authors' horizons 150/200 -> 6/8, so the columns meet at an episode boundary
only every 24 VecEnv steps, as 150/200 meet every 600).

To extend: add a setting to ``SETTINGS`` (e.g. env workers, a compiled update) with
the extra command-line flags; every kill point of ``KILLS`` then runs on it if it is
listed in ``CASES``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
TASKS = ("reach-v3", "push-v3")  # MT10: conditioned in both presets' Fixed (authors-fixed)
MT50_TASKS = ("reach-v3", "hammer-v3")  # horizons 150 and 200 in the authors' code
METHOD = "test-resume-tiny"
COMMON = [
    "--method", METHOD, "--total-steps", "240", "--warmup-steps", "40",
    "--eval-freq", "80", "--checkpoint-freq", "60", "--eval-episodes", "1",
    "--batch-per-task", "4", "--replay-size", "400", "--threads", "1", "--no-progress-bar",
]  # fmt: skip

SETTINGS: dict[str, list[str]] = {
    # The smoke preset, conditioned: fresh goals at every reset and at every evaluation
    # (the evaluation stream); horizons 6: every checkpoint due (60, 120, 180) waits
    # for the next boundary (every 12 env steps).
    "smoke": ["--preset", "test-smoke", "--mode", "conditioned", "--tasks", *TASKS],
    # The paper preset: authors-fixed on MT50 (every column conditioned), the authors'
    # update order, per-task horizons 6 and 8 (boundaries every 48 env steps).
    "paper": ["--preset", "test-paper", "--benchmark", "MT50", "--tasks", *MT50_TASKS],
}
"""Settings that change what a checkpoint must hold; each gets a reference run."""

KILLS = (
    "after-checkpoint",  # SIGKILL right after the second checkpoint's latest.json
    "during-checkpoint-write",  # SIGKILL half-way through the second checkpoint's buffer
    "during-evaluation",  # SIGKILL in the second evaluation's episodes
    "between-checkpoints",  # SIGKILL at env step 200, mid-episode, no write under way
)
CASES = [("smoke", kill) for kill in KILLS] + [
    ("paper", "during-checkpoint-write"),
    ("paper", "during-evaluation"),
]


# ---------------------------------------------------------------------------- the driver
def _register() -> None:
    """The tiny method and the test presets (this process only)."""
    from examples.methods import MethodSpec, register_method
    from examples.settings import PRESETS
    from modnet_metaworld.authors import authors_horizons
    from modnet_metaworld.suites import task_names

    register_method(
        METHOD,
        # A plain MLP (few ops: fast on a busy CPU) with per-task temperatures and the
        # authors' loss reweighting: what a checkpoint holds does not depend on the net.
        MethodSpec("MlpPolicy", {"net_arch": [16]}, "inverse_alpha"),
    )
    PRESETS["test-smoke"] = PRESETS["smoke"]._replace(
        horizons=lambda benchmark: dict.fromkeys(task_names(benchmark), 6)
    )
    PRESETS["test-paper"] = PRESETS["paper"]._replace(
        horizons=lambda benchmark: {
            name: steps // 25 for name, steps in authors_horizons(benchmark).items()
        }
    )


def _kill_hook(kill: str) -> None:
    """Arrange for this (child) process to SIGKILL itself at the point ``kill`` names."""
    import signal

    import examples.common.checkpoints as checkpoints
    import examples.train as train

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    if kill == "after-checkpoint":
        save = checkpoints.save_checkpoint

        def saved_then_killed(model, *args, **kwargs):
            checkpoint = save(model, *args, **kwargs)
            if len(list(checkpoints.Path(args[0]).glob("model_*.zip"))) >= 2:
                die()
            return checkpoint

        checkpoints.save_checkpoint = saved_then_killed
    elif kill == "during-checkpoint-write":
        atomic_open = checkpoints.atomic_open
        seen = []

        def killed_mid_write(path, mode="wb"):
            seen.append(path.name)
            opened = atomic_open(path, mode)
            if path.name.startswith("replay_buffer_") and len(seen) > 3:

                class Half:
                    def __enter__(self):
                        handle = opened.__enter__()
                        handle.write(b"half of a buffer")
                        handle.flush()
                        die()

                    def __exit__(self, *exc):
                        return False

                return Half()
            return opened

        checkpoints.atomic_open = killed_mid_write
    elif kill == "during-evaluation":
        evaluate = train.evaluate
        count = []

        def evaluated_then_killed(model, *args, **kwargs):
            count.append(1)
            if len(count) == 2:
                predict = model.predict
                calls = []

                def predict_then_die(obs, **kw):
                    calls.append(1)
                    if len(calls) == 3:
                        die()
                    return predict(obs, **kw)

                model.predict = predict_then_die
            return evaluate(model, *args, **kwargs)

        train.evaluate = evaluated_then_killed
    elif kill == "between-checkpoints":
        step = train.TrainProgress._on_step

        def stepped_then_killed(self):
            if self.num_timesteps >= 200:
                die()
            return step(self)

        train.TrainProgress._on_step = stepped_then_killed


def _fork(function, log: Path) -> int:
    """Run ``function()`` in a forked child (stdout/stderr to ``log``); its wait status."""
    pid = os.fork()
    if pid == 0:  # the child
        code = 70
        try:
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            code = function()
        except BaseException:  # noqa: BLE001 -- the child must never return to the driver
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


def drive(out: Path, cases: list[str]) -> dict:
    """Run the reference runs and ``cases`` (``setting:kill``) under ``out``; the report."""
    import torch

    torch.set_num_threads(1)  # before any torch op: forked children then share no pool
    _register()
    import examples.train as train

    train.write_reports = lambda *args, **kwargs: None  # plots and tables: not compared
    report: dict = {}
    settings = sorted({case.split(":")[0] for case in cases})
    for setting in settings:
        run = out / setting / "reference"
        argv = [*SETTINGS[setting], *COMMON, "--run-dir", str(run)]
        status = _fork(lambda argv=argv: train.main(argv), out / f"{setting}-reference.log")
        report[f"{setting}:reference"] = {"run": str(run), "first": _status(status)}
    for case in cases:
        setting, kill = case.split(":")
        run = out / setting / kill
        argv = [*SETTINGS[setting], *COMMON, "--run-dir", str(run)]
        log = out / f"{setting}-{kill}.log"

        def killed(argv=argv, kill=kill):
            _kill_hook(kill)
            return train.main(argv)

        first = _status(_fork(killed, log))
        stale = sorted(p.name for p in (run / "checkpoints").glob(".*.tmp"))
        second = _status(_fork(lambda run=run: train.main(["--resume", str(run)]), log))
        report[case] = {"run": str(run), "first": first, "second": second, "stale": stale}
    return report


# ---------------------------------------------------------------------------- the tests
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def driven(tmp_path_factory) -> dict:
    pytest.importorskip("metaworld")
    pytest.importorskip("modnet_sb3")
    out = tmp_path_factory.mktemp("resume")
    cases = [f"{setting}:{kill}" for setting, kill in CASES]
    done = subprocess.run(
        [sys.executable, __file__, str(out), *cases],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    report["_out"] = str(out)
    return report


def _numbers(run: Path) -> list[dict[str, str]]:
    from examples.common.eval_log import read_eval_csv

    rows = read_eval_csv(run / "eval.csv")
    return [{k: v for k, v in row.items() if k not in ("elapsed_s", "unix_time")} for row in rows]


def _assert_same_model(run: Path, reference: Path) -> None:
    import torch

    from modnet_sb3 import MTSAC

    got = MTSAC.load(run / "final_model.zip", device="cpu")
    want = MTSAC.load(reference / "final_model.zip", device="cpu")
    assert (got.num_timesteps, got._n_updates, got._episode_num) == (
        want.num_timesteps,
        want._n_updates,
        want._episode_num,
    )
    for name, tensor in want.policy.state_dict().items():
        assert torch.equal(got.policy.state_dict()[name], tensor), name
    assert torch.equal(got.log_ent_coef, want.log_ent_coef)
    for which in ("actor", "critic"):
        a = getattr(got, which).optimizer.state_dict()["state"]
        b = getattr(want, which).optimizer.state_dict()["state"]
        for key in b:
            for field in b[key]:
                assert torch.equal(a[key][field], b[key][field]), (which, key, field)


def _assert_same_buffer(run: Path, reference: Path) -> None:
    import pickle

    def buffer(root: Path):
        pointer = json.loads((root / "checkpoints" / "latest.json").read_text())
        with open(root / "checkpoints" / pointer["replay_buffer"], "rb") as handle:
            return pointer, pickle.load(handle)

    (p, got), (q, want) = buffer(run), buffer(reference)
    assert p["num_timesteps"] == q["num_timesteps"]
    for name in ("observations", "next_observations", "actions", "rewards", "dones"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.mark.parametrize(("setting", "kill"), CASES)
def test_a_run_killed_and_resumed_equals_the_uninterrupted_run(driven, setting, kill) -> None:
    case = driven[f"{setting}:{kill}"]
    reference = Path(driven[f"{setting}:reference"]["run"])
    assert driven[f"{setting}:reference"]["first"] == "exit 0"
    assert case["first"] == "signal 9" and case["second"] == "exit 0", case
    run = Path(case["run"])
    log = (Path(driven["_out"]) / f"{setting}-{kill}.log").read_text()
    assert "resumed" in log, log[-2000:]
    if kill == "during-checkpoint-write":
        assert case["stale"], "the kill left no temporary file: it did not hit the write"
        assert "removed 1 temporary file(s)" in log
    assert not list((run / "checkpoints").glob(".*.tmp"))
    assert _numbers(run) == _numbers(reference)
    _assert_same_model(run, reference)
    _assert_same_buffer(run, reference)


def test_the_reference_runs_checkpoint_only_at_episode_boundaries(driven) -> None:
    # smoke: due at 60, 120, 180 (and the end, 240); boundaries every 12 env steps.
    run = Path(driven["smoke:reference"]["run"])
    pointer = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert pointer["num_timesteps"] == 240 and pointer["exact"] is True
    steps = sorted(int(p.stem[len("model_") :]) for p in (run / "checkpoints").glob("model_*"))
    assert steps == [180, 240]  # keep=2; 60 -> 60, 120 -> 120, 180 -> 180 are all boundaries
    # paper: boundaries every 48 env steps: due at 60 -> 96, 120 -> 144, 180 -> 192.
    run = Path(driven["paper:reference"]["run"])
    steps = sorted(int(p.stem[len("model_") :]) for p in (run / "checkpoints").glob("model_*"))
    assert steps == [192, 240]


if __name__ == "__main__":
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    os.chdir(REPO)
    target = Path(sys.argv[1])
    result = drive(target, sys.argv[2:])
    (target / "report.json").write_text(json.dumps(result, indent=2))
