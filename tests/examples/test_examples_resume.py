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

To extend: add a setting to ``SETTINGS`` (env workers, a compiled update, a gradient
method and the evaluation worker are there) with the extra command-line flags; every
kill point of ``KILLS`` then runs on it if it is listed in ``CASES``. A setting that
must give the numbers of another (``SAME_AS``) is compared with that one's reference.
"""

from __future__ import annotations

import functools
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
    "--method", METHOD, "--total-steps", "200", "--warmup-steps", "40",
    "--eval-freq", "80", "--checkpoint-freq", "60", "--eval-episodes", "1",
    "--batch-per-task", "4", "--replay-size", "400", "--threads", "1", "--no-progress-bar",
]  # fmt: skip

SETTINGS: dict[str, list[str]] = {
    # The smoke preset, conditioned: fresh goals at every reset and at every evaluation
    # (the evaluation stream); horizons 6: boundaries every 12 env steps, so the
    # checkpoints due at 60, 120, 180 fall on one.
    "smoke": ["--preset", "test-smoke", "--mode", "conditioned", "--tasks", *TASKS],
    # The paper preset: authors-fixed on MT50 (every column conditioned), the authors'
    # update order, per-task horizons 6 and 8 (boundaries every 48 env steps).
    "paper": ["--preset", "test-paper", "--benchmark", "MT50", "--tasks", *MT50_TASKS],
    # The smoke setting with the update compiled (#13; aot_eager: no C++ compile in CI).
    "compiled": [
        *["--preset", "test-smoke", "--mode", "conditioned", "--tasks", *TASKS],
        *["--compile", "--method", f"{METHOD}-compiled"],
    ],
    # The smoke setting with a gradient method (#14): its state (PCGrad's generator)
    # is part of what a checkpoint holds.
    "pcgrad": [
        *["--preset", "test-smoke", "--mode", "conditioned", "--tasks", *TASKS],
        *["--method", f"{METHOD}-pcgrad"],
    ],
    # Gradient methods with learnt state (#14): GradNorm's and FAMO's task weights and
    # their optimisers are part of what a checkpoint holds; PaCo with its extreme-task
    # rules at a threshold the tiny run crosses: the counts and the resets' draws.
    **{
        name: [
            *["--preset", "test-smoke", "--mode", "conditioned", "--tasks", *TASKS],
            *["--method", f"{METHOD}-{name}"],
        ]
        for name in ("gradnorm", "famo", "paco")
    },
    # The smoke setting with each task stepped in its own worker process (#13): the
    # envs' states travel through the workers at the checkpoint and back at the resume.
    "workers": [
        *["--preset", "test-smoke", "--mode", "conditioned", "--tasks", *TASKS],
        "--env-workers",
        "2",
    ],
    # The smoke setting evaluated in a worker process while training goes on (#13): the
    # rows, the transitions and the model must be the synchronous run's (SAME_AS), also
    # when a kill or a signal comes while an evaluation is pending in the worker.
    "eval-worker": [
        *["--preset", "test-smoke", "--mode", "conditioned", "--tasks", *TASKS],
        "--eval-worker",
    ],
}
"""Settings that change what a checkpoint must hold; each gets a reference run."""
SAME_AS = {"eval-worker": "smoke"}
"""Settings compared with another's reference run (they must give the same numbers)."""

KILLS = (
    "after-checkpoint",  # SIGKILL right after the second checkpoint's latest.json
    "during-checkpoint-write",  # SIGKILL half-way through the second checkpoint's buffer
    "during-evaluation",  # SIGKILL in the second evaluation's episodes (step 160)
    "between-checkpoints",  # SIGKILL at step 170: mid-episode, after row 160, no write
    "pending-evaluation",  # --eval-worker: SIGKILL right after step 160's snapshot is handed over
)
# "after-checkpoint" resumes where the run stopped, as the "sigterm" case below does
# (compared bit for bit too): left out of the smoke cases to stay within CI's budget;
# "pending-evaluation" needs the evaluation worker.
CASES = (
    [("smoke", kill) for kill in KILLS if kill not in ("after-checkpoint", "pending-evaluation")]
    + [("paper", "during-checkpoint-write")]
    + [("workers", "between-checkpoints")]
    + [("eval-worker", "pending-evaluation")]
    + [("compiled", "between-checkpoints"), ("pcgrad", "between-checkpoints")]
    + [("gradnorm", "between-checkpoints"), ("famo", "between-checkpoints")]
    + [("paco", "between-checkpoints")]
)

SIGNALS = (
    "sigterm",  # SIGTERM at step 70 (mid-episode): the checkpoint waits for step 72
    "sigterm-no-time",  # the same with no time to wait: a mid-episode checkpoint at 70
    "sigterm-during-evaluation",  # SIGTERM in the evaluation of step 160: abandoned
    "sigint-twice",  # SIGINT, then SIGINT again while the checkpoint is being written
    "sigterm-pending-evaluation",  # --eval-worker: SIGTERM right after step 160's snapshot
)
"""Signal cases, on the smoke setting (``SIGNAL_SETTING``: another one)."""
SIGNAL_SETTING = {"sigterm-pending-evaluation": "eval-worker"}


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
    register_method(
        f"{METHOD}-compiled",
        MethodSpec(
            "MlpPolicy",
            {"net_arch": [16]},
            "inverse_alpha",
            algorithm_kwargs={"compile_kwargs": {"backend": "aot_eager"}},
        ),
    )
    for name in ("pcgrad", "gradnorm", "famo"):
        register_method(
            f"{METHOD}-{name}",
            MethodSpec(
                "MlpPolicy", {"net_arch": [16]}, "none", algorithm_kwargs={"gradient_method": name}
            ),
        )
    register_method(
        f"{METHOD}-paco",
        MethodSpec(
            "PaCoPolicy",
            {"num_parameter_sets": 2, "hidden_sizes": [16]},
            "none",
            algorithm_kwargs={
                "mask_extreme_tasks": True,
                "reset_extreme_tasks": "interpolate",
                "extreme_task_threshold": 10.0,
            },
        ),
    )
    PRESETS["test-smoke"] = PRESETS["smoke"]._replace(
        horizons=lambda benchmark: dict.fromkeys(task_names(benchmark), 6)
    )
    PRESETS["test-paper"] = PRESETS["paper"]._replace(
        horizons=lambda benchmark: {
            name: steps // 25 for name, steps in authors_horizons(benchmark).items()
        }
    )


def _kill_hook(kill: str, pids: Path) -> None:
    """Arrange for this (child) process to SIGKILL itself at the point ``kill`` names."""
    import signal

    import examples.common.checkpoints as checkpoints
    import examples.train as train

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    # The default start method (forkserver) here: its worker must notice the kill too.
    _recorded_eval_worker(train, pids, start_method=None)

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
        _in_evaluation(train, 2, lambda calls: calls == 3, die)
    elif kill == "between-checkpoints":
        _on_step_from(train, lambda steps: steps >= 170, die)
    elif kill == "pending-evaluation":
        _after_submit(train, 2, die)


def _recorded_eval_worker(train, pids: Path, *, start_method: str | None) -> None:
    """``--eval-worker``'s process started with ``start_method`` (``"fork"``: it inherits
    this process's imports, where forkserver's imports everything again, seconds per
    run); its pid appended to ``pids``."""
    from modnet_metaworld.eval_worker import EvaluationWorker

    class Recorded(EvaluationWorker):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "start_method": start_method})
            with open(pids, "a") as handle:
                handle.write(f"{self.pid}\n")

    train.EvaluationWorker = Recorded


def _after_submit(train, evaluation: int, act) -> None:
    """``act()`` right after the ``evaluation``-th snapshot (from 1) is handed to the worker."""
    submit = train.EvalRecorder.submit
    count = []

    def submitted_then_act(self, model):
        submit(self, model)
        count.append(1)
        if len(count) == evaluation:
            act()

    train.EvalRecorder.submit = submitted_then_act


def _on_step_from(train, reached, act) -> None:
    """``act()`` before ``TrainProgress._on_step`` at every step where ``reached(steps)``."""
    step = train.TrainProgress._on_step

    def stepped_then_act(self):
        if reached(self.num_timesteps):
            act()
        return step(self)

    train.TrainProgress._on_step = stepped_then_act


def _in_evaluation(train, evaluation: int, at_call, act) -> None:
    """``act()`` before each ``model.predict`` call ``n`` (from 1) of the ``evaluation``-th
    evaluation (from 1) where ``at_call(n)``."""
    evaluate = train.evaluate
    count = []

    def evaluated(model, *args, **kwargs):
        count.append(1)
        if len(count) == evaluation:
            predict = model.predict
            calls = []

            def predict_then_act(obs, **kw):
                calls.append(1)
                if at_call(len(calls)):
                    act()
                return predict(obs, **kw)

            model.predict = predict_then_act
        return evaluate(model, *args, **kwargs)

    train.evaluate = evaluated


def _signal_hook(case: str, pids: Path) -> None:
    """Arrange for this (child) process to signal itself as ``case`` says."""
    import functools
    import signal

    import examples.train as train
    from examples.common.signals import StopRequest

    def send(signum: int = signal.SIGTERM) -> None:
        os.kill(os.getpid(), signum)

    _recorded_eval_worker(train, pids, start_method="fork")

    if case in ("sigterm", "sigterm-no-time"):
        if case == "sigterm-no-time":
            train.StopRequest = functools.partial(StopRequest, deadline_s=0.0)
        _on_step_from(train, lambda steps: steps == 70, send)
    elif case == "sigterm-during-evaluation":
        _in_evaluation(train, 2, lambda calls: True, send)  # at every call
    elif case == "sigterm-pending-evaluation":
        _after_submit(train, 2, send)
    elif case == "sigint-twice":
        # The driver sends both SIGINTs; the second must come while this one writes.
        save = train.CheckpointAfterEvaluations.save

        def slow_save(self, *, exact):
            if self.stop.requested:
                import time

                time.sleep(120)
            return save(self, exact=exact)

        train.CheckpointAfterEvaluations.save = slow_save


def _fork(function, log: Path, *, then=None) -> int:
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
    if then is not None:
        then(pid)
    _, status = os.waitpid(pid, 0)
    return status


def _workers_gone(pids: Path, timeout: float = 30.0) -> bool | None:
    """Whether every evaluation worker listed in ``pids`` has ended (None: none started).

    A zombie counts as ended: its parent, killed, can no longer reap it.
    """
    import time

    if not pids.exists():
        return None
    deadline = time.monotonic() + timeout
    for pid in map(int, pids.read_text().split()):
        while True:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except (FileNotFoundError, ProcessLookupError):
                break
            if state == "Z":
                break
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
    return True


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


def drive(out: Path, cases: list[str]) -> dict:
    """Run the reference runs and ``cases`` (``setting:kill``) under ``out``; the report."""
    import torch

    torch.set_num_threads(1)  # before any torch op: forked children then share no pool
    _register()
    # What the children would each import on first use (torch.optim imports dynamo).
    import stable_baselines3.common.save_util  # noqa: F401
    import torch._dynamo  # noqa: F401
    import torch.utils.tensorboard  # noqa: F401

    import examples.train as train
    from modnet_metaworld.suites import task_names

    task_names("MT50")  # imports Meta-World (seconds)

    train.write_reports = lambda *args, **kwargs: None  # plots and tables: not compared
    report: dict = {}
    signal_cases = [case.split(":")[1] for case in cases if case.startswith("signals:")]
    cases = [case for case in cases if not case.startswith("signals:")]
    settings = sorted(
        {SAME_AS.get(case.split(":")[0], case.split(":")[0]) for case in cases}
        | ({"smoke"} if signal_cases else set())
    )
    for setting in settings:
        run = out / setting / "reference"
        argv = [*COMMON, *SETTINGS[setting], "--run-dir", str(run)]  # the setting wins
        status = _fork(lambda argv=argv: train.main(argv), out / f"{setting}-reference.log")
        report[f"{setting}:reference"] = {"run": str(run), "first": _status(status)}
    for case in cases:
        setting, kill = case.split(":")
        run = out / setting / kill
        argv = [*COMMON, *SETTINGS[setting], "--run-dir", str(run)]  # the setting wins
        log = out / f"{setting}-{kill}.log"
        pids = out / f"{setting}-{kill}.pids"

        def killed(argv=argv, kill=kill, pids=pids):
            _kill_hook(kill, pids)
            return train.main(argv)

        first = _status(_fork(killed, log))
        gone = _workers_gone(pids)
        stale = sorted(p.name for p in (run / "checkpoints").glob(".*.tmp"))
        second = _status(_fork(functools.partial(_resume, train, run, pids), log))
        report[case] = {
            "run": str(run),
            "first": first,
            "second": second,
            "stale": stale,
            "workers_gone": gone,
        }
    for case in signal_cases:
        run = out / "signals" / case
        argv = [*COMMON, *SETTINGS[SIGNAL_SETTING.get(case, "smoke")], "--run-dir", str(run)]
        log = out / f"signals-{case}.log"
        pids = out / f"signals-{case}.pids"

        def signalled(argv=argv, case=case, pids=pids):
            _signal_hook(case, pids)
            return train.main(argv)

        then = _interrupt_twice(run, log) if case == "sigint-twice" else None
        first = _status(_fork(signalled, log, then=then))
        gone = _workers_gone(pids, timeout=0.0)  # closed before the process exited
        pointer = json.loads((run / "checkpoints" / "latest.json").read_text())
        second = _status(_fork(functools.partial(_resume, train, run, pids), log))
        report[f"signals:{case}"] = {
            "run": str(run),
            "first": first,
            "second": second,
            "checkpoint": pointer,
            "workers_gone": gone,
        }
    return report


def _resume(train, run: Path, pids: Path) -> int:
    """``--resume`` in this (child) process; an evaluation worker is forked, not started by
    forkserver (the killed session of "pending-evaluation" covers forkserver)."""
    _recorded_eval_worker(train, pids, start_method="fork")
    return train.main(["--resume", str(run)])


def _interrupt_twice(run: Path, log: Path):
    """Once the first checkpoint exists: SIGINT; once the child says so, SIGINT again."""
    import signal
    import time

    def then(pid: int) -> None:
        deadline = time.monotonic() + 300
        while not (run / "checkpoints" / "latest.json").exists():
            time.sleep(0.05)
            if time.monotonic() > deadline:
                return
        os.kill(pid, signal.SIGINT)
        while "writing a checkpoint" not in log.read_text():
            time.sleep(0.05)
            if time.monotonic() > deadline:
                return
        os.kill(pid, signal.SIGINT)

    return then


# ---------------------------------------------------------------------------- the tests
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def driven(tmp_path_factory) -> dict:
    pytest.importorskip("metaworld")
    pytest.importorskip("modnet_sb3")
    out = tmp_path_factory.mktemp("resume")
    cases = [f"{setting}:{kill}" for setting, kill in CASES]
    cases += [f"signals:{case}" for case in SIGNALS]
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


def _assert_same_run(run: Path, reference: Path, *, buffer: bool = True) -> None:
    """eval.csv's numbers, every weight and optimiser state (and the replay buffer)."""
    assert _numbers(run) == _numbers(reference)
    _assert_same_model(run, reference)
    if buffer:
        _assert_same_buffer(run, reference)


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
    same_as = SAME_AS.get(setting, setting)
    reference = Path(driven[f"{same_as}:reference"]["run"])
    assert driven[f"{same_as}:reference"]["first"] == "exit 0"
    assert case["first"] == "signal 9" and case["second"] == "exit 0", case
    run = Path(case["run"])
    log = (Path(driven["_out"]) / f"{setting}-{kill}.log").read_text()
    assert "resumed" in log, log[-2000:]
    if kill == "during-checkpoint-write":
        assert case["stale"], "the kill left no temporary file: it did not hit the write"
        assert "removed 1 temporary file(s)" in log
    if setting == "eval-worker":  # the worker noticed that the training process was gone
        assert case["workers_gone"] is True, case
    assert not list((run / "checkpoints").glob(".*.tmp"))
    _assert_same_run(run, reference)


def _checkpoint_steps(run: Path) -> list[int]:
    return sorted(int(p.stem[len("model_") :]) for p in (run / "checkpoints").glob("model_*"))


def test_the_reference_runs_checkpoint_at_episode_boundaries(driven) -> None:
    # smoke: due at 60, 120, 180, all boundaries (every 12 env steps); the end, 200, is
    # not one: the final checkpoint is marked inexact.
    run = Path(driven["smoke:reference"]["run"])
    pointer = json.loads((run / "checkpoints" / "latest.json").read_text())
    assert pointer["num_timesteps"] == 200 and pointer["exact"] is False
    assert _checkpoint_steps(run) == [180, 200]  # the two newest are kept
    # paper: boundaries every 48 env steps: due at 60 -> 96, 120 -> 144, 180 -> 192.
    run = Path(driven["paper:reference"]["run"])
    assert _checkpoint_steps(run) == [192, 200]
    log = (Path(driven["_out"]) / "paper-during-checkpoint-write.log").read_text()
    assert "resumed" in log and "at 96 env steps" in log  # killed writing the one of 144


def _log(driven, case: str) -> str:
    return (Path(driven["_out"]) / f"signals-{case}.log").read_text()


def _sigterm_case(driven, case: str, *, steps: int, exact: bool) -> dict:
    """The run of ``case`` exited 143 on SIGTERM with a checkpoint at ``steps`` env steps
    (``exact``: at a complete step), and its resume exited 0."""
    run = driven[f"signals:{case}"]
    assert run["first"] == "exit 143" and run["second"] == "exit 0", run
    assert run["checkpoint"]["num_timesteps"] == steps and run["checkpoint"]["exact"] is exact
    return run


def test_sigterm_checkpoints_at_the_next_boundary_and_the_resume_is_exact(driven) -> None:
    case = _sigterm_case(driven, "sigterm", steps=72, exact=True)
    log = _log(driven, "sigterm")
    assert "SIGTERM: writing a checkpoint at the next complete step" in log
    assert "stopped by SIGTERM at 72 env steps; checkpoint written." in log
    assert f"Continue with: python -m examples.train --resume {case['run']}" in log
    assert "continues exactly as an uninterrupted one would" in log
    assert "Traceback" not in log
    _assert_same_run(Path(case["run"]), Path(driven["smoke:reference"]["run"]), buffer=False)


def test_sigterm_without_time_to_wait_checkpoints_mid_episode_and_says_so(driven) -> None:
    case = _sigterm_case(driven, "sigterm-no-time", steps=70, exact=False)
    log = _log(driven, "sigterm-no-time")
    assert "It was taken mid-episode: on resume each column's interrupted episode" in log
    reference = Path(driven["smoke:reference"]["run"])
    run = Path(case["run"])
    # What it says: the rows and model differ after the checkpoint, nothing is lost.
    assert [row["env_steps"] for row in _numbers(run)] == ["80", "160", "200"]
    from modnet_sb3 import MTSAC

    model = MTSAC.load(run / "final_model.zip", device="cpu")
    assert model.num_timesteps == 200
    assert model._n_updates == MTSAC.load(reference / "final_model.zip")._n_updates


def test_sigterm_during_an_evaluation_abandons_it_and_the_resume_makes_it(driven) -> None:
    # The evaluation of step 160 was abandoned; 160 is no boundary, so the checkpoint
    # is mid-episode, at 160, and the resume evaluates the same model at 160.
    case = _sigterm_case(driven, "sigterm-during-evaluation", steps=160, exact=False)
    reference = Path(driven["smoke:reference"]["run"])
    assert _numbers(Path(case["run"]))[:2] == _numbers(reference)[:2]


def test_sigterm_with_an_evaluation_pending_in_the_worker_writes_its_row_first(driven) -> None:
    # SIGTERM right after step 160's snapshot went to the worker: the checkpoint waits
    # for its row, then for the episode boundary at 168 (exact), and the worker is closed
    # before the process exits; the resumed run is the synchronous run, bit for bit.
    case = _sigterm_case(driven, "sigterm-pending-evaluation", steps=168, exact=True)
    assert case["workers_gone"] is True, case
    log = _log(driven, "sigterm-pending-evaluation")
    assert "waiting for 1 evaluation(s) in the evaluation worker before the checkpoint" in log
    assert "Traceback" not in log
    _assert_same_run(Path(case["run"]), Path(driven["smoke:reference"]["run"]))


def test_a_second_sigint_exits_at_once_without_a_checkpoint(driven) -> None:
    case = driven["signals:sigint-twice"]
    assert case["first"] == "exit 130", case
    log = _log(driven, "sigint-twice")
    assert "SIGINT again: exiting now, without a checkpoint." in log
    assert case["checkpoint"]["num_timesteps"] == 60  # the first, taken before the signals
    assert case["second"] == "exit 0"  # and the run resumes from it


if __name__ == "__main__":
    sys.path[:0] = [str(REPO), str(REPO / "tests")]
    os.chdir(REPO)
    target = Path(sys.argv[1])
    result = drive(target, sys.argv[2:])
    (target / "report.json").write_text(json.dumps(result, indent=2))
