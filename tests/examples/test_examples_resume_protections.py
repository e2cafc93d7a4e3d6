"""A run folder protects itself: what --resume refuses, what it falls back on, what it cleans.

Fast: fake run folders and a toy model, no training (``test_examples_resume.py`` has
the kill-and-resume runs).
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("modnet_sb3")

from examples.common import checkpoints as checkpoints_module  # noqa: E402
from examples.common.atomic import RunFolderError, atomic_open, atomic_write_text  # noqa: E402
from examples.common.checkpoints import find_checkpoint, require_free_space  # noqa: E402
from examples.common.eval_log import EvalCSV, EvalRow  # noqa: E402
from examples.common.resume_state import (  # noqa: E402
    check_checkpoint,
    check_identity,
    load_state,
    model_identity,
)
from examples.common.run_dir import RunDir  # noqa: E402
from examples.common.signals import StopRequest, TrainingStopped, steps_to_boundary  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3 import MTSAC  # noqa: E402
from modnet_sb3.testing import make_point_reach_vec_env  # noqa: E402

SETTINGS = {
    "benchmark": "MT10",
    "mode": "conditioned",
    "method": "soft-shallow",
    "seed": 0,
    "preset": "smoke",
    "tasks": ["reach-v3", "push-v3"],
    "save_replay_buffer": True,
}
RECORD = {
    "settings": SETTINGS,
    "task_names": ["reach-v3", "push-v3"],
    "method": {"policy": "MlpPolicy", "policy_kwargs": {"net_arch": [8]}, "reweight": "none"},
}


def _toy_model() -> MTSAC:
    return MTSAC(
        "MlpPolicy",
        make_point_reach_vec_env(2),
        policy_kwargs={"net_arch": [8]},
        reweight="none",
        seed=0,
        task_names=["reach-v3", "push-v3"],
    )


def _run_folder(root: Path, *, steps=(60,), identity=None) -> RunDir:
    """A run folder with settings.json and complete checkpoints at ``steps`` (toy model)."""
    run = RunDir(root)
    run.create()
    run.write_record(RECORD)
    model = _toy_model()
    for step in steps:
        model.num_timesteps = step
        state = {"format": 1, "exact": True, "identity": identity}
        checkpoints_module.save_checkpoint(model, run.checkpoints, replay_buffer=True, state=state)
    return run


def _main(*argv: str) -> int:
    from examples import train

    return train.main(list(argv))


def test_resume_refuses_a_folder_without_a_checkpoint_and_changes_nothing(tmp_path, capsys):
    run = RunDir(tmp_path / "run")
    run.create()
    run.write_record(RECORD)
    EvalCSV(run.eval_csv, ["a"]).append(EvalRow(30, {"a": 1.0}, {"a": 2.0}))
    before = {p: p.read_bytes() for p in (run.settings_json, run.eval_csv)}
    assert _main("--resume", str(run.root)) == 1
    err = capsys.readouterr().err
    assert f"{run.checkpoints}: holds no complete checkpoint, so there is nothing to resume" in err
    assert "delete the run folder and run the same command again without --resume" in err
    assert {p: p.read_bytes() for p in before} == before  # never silently retrained


def test_a_missing_latest_json_falls_back_to_the_newest_complete_checkpoint(tmp_path):
    run = _run_folder(tmp_path / "run", steps=(60, 120))
    (run.checkpoints / "latest.json").unlink()
    # A newer checkpoint killed mid-write: its model is there, its state is not.
    (run.checkpoints / "model_000000000180.zip").write_bytes(
        (run.checkpoints / "model_000000000120.zip").read_bytes()
    )
    checkpoint, note = find_checkpoint(run.checkpoints, replay_buffer=True)
    assert checkpoint.num_timesteps == 120
    assert checkpoint.model.name == "model_000000000120.zip"
    assert note == (
        f"{run.checkpoints / 'latest.json'} is missing: resuming from the newest complete "
        "checkpoint, model_000000000120.zip (120 env steps)"
    )


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("latest.json", "checkpoints/latest.json: damaged, cannot be read (JSONDecodeError"),
        ("settings.json", "settings.json: damaged, not JSON (JSONDecodeError"),
        (
            "latest.json-binary",
            "checkpoints/latest.json: damaged, cannot be read (UnicodeDecodeError",
        ),
        ("model", "model_000000000060.zip: missing, though"),
    ],
)
def test_resume_names_a_damaged_or_missing_file_and_what_to_do(tmp_path, capsys, damage, named):
    run = _run_folder(tmp_path / "run")
    if damage == "latest.json":
        (run.checkpoints / "latest.json").write_text('{"num_timesteps": 6')
    elif damage == "latest.json-binary":
        (run.checkpoints / "latest.json").write_bytes(b"\xff\xfe\x00garbage")
    elif damage == "settings.json":
        run.settings_json.write_text("{not json")
    else:
        (run.checkpoints / "model_000000000060.zip").unlink()
    assert _main("--resume", str(run.root)) == 1
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert ".zip.zip" not in err


def test_damaged_state_zip_and_buffer_files_are_named(tmp_path):
    run = _run_folder(tmp_path / "run")
    state = run.checkpoints / "state_000000000060.pkl"
    state.write_bytes(b"\x80\x05 not a pickle")
    with pytest.raises(RunFolderError, match=r"state_000000000060\.pkl: damaged, cannot be read"):
        load_state(state)
    model = run.checkpoints / "model_000000000060.zip"
    model.write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(RunFolderError, match=r"model_000000000060\.zip: damaged, cannot be read"):
        model_identity(model, MTSAC.policy_aliases)
    eval_csv = run.eval_csv
    eval_csv.write_bytes(b"\xff\xfe\xfa binary")
    with pytest.raises(RunFolderError, match=r"eval\.csv: damaged, not a CSV of evaluations"):
        EvalCSV(eval_csv, ["a"]).steps()


def test_resume_refuses_a_checkpoint_of_another_run_naming_both_values(tmp_path, capsys):
    other = {**{k: RECORD["settings"][k] for k in ("benchmark", "mode", "seed")}}
    other.update(method="mt-sac", tasks=RECORD["task_names"], policy="MlpPolicy")
    run = _run_folder(tmp_path / "run", identity=other)
    assert _main("--resume", str(run.root)) == 2
    err = capsys.readouterr().err
    assert (
        "--resume: the checkpoint's method must equal settings.json's method = 'soft-shallow' "
        "(the checkpoint belongs to another run), got 'mt-sac'" in err
    )
    assert json.loads(run.settings_json.read_text())["settings"] == SETTINGS  # not rewritten


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("policy", "SoftModularPolicy", "policy = 'SoftModularPolicy'"),
        ("reweight", "inverse_alpha", "reweight = 'inverse_alpha'"),
        ("seed", 3, "seed = 3"),
        ("policy_kwargs", {"net_arch": [16]}, "policy_kwargs = {'net_arch': [16]}"),
        ("tasks", ["reach-v3"], "tasks = ['reach-v3']"),
    ],
)
def test_the_zip_itself_is_checked_against_settings_json(tmp_path, key, value, shown) -> None:
    run = _run_folder(tmp_path / "run")
    model = run.checkpoints / "model_000000000060.zip"
    check_checkpoint("--resume", RECORD, model, None, MTSAC.policy_aliases)  # its own: fine
    record = json.loads(json.dumps(RECORD))
    if key in ("seed",):
        record["settings"][key] = value
    elif key == "tasks":
        record["task_names"] = value
    else:
        record["method"][key] = value
    with pytest.raises(ConfigError, match=rf"the checkpoint's {key} must equal settings.json's"):
        check_checkpoint("--resume", record, model, None, MTSAC.policy_aliases)
    with pytest.raises(ConfigError) as error:
        check_checkpoint("--resume", record, model, None, MTSAC.policy_aliases)
    assert shown in str(error.value)


def test_check_identity_names_the_key_and_both_values() -> None:
    with pytest.raises(
        ConfigError,
        match=r"the checkpoint's benchmark must equal settings.json's benchmark = 'MT10' .*"
        r"got 'MT50'",
    ):
        check_identity("--resume", {"benchmark": "MT50"}, {"benchmark": "MT10"})
    check_identity("--resume", {"tasks": ("a", "b")}, {"tasks": ["a", "b"]})  # tuple == list


def test_stale_temporary_files_are_removed_when_a_session_starts(tmp_path) -> None:
    run = RunDir(tmp_path / "run")
    run.create()
    stale = [
        run.checkpoints / ".replay_buffer_000000000060.pkl.x1y2.tmp",
        run.root / ".eval.csv.abcd.tmp",
    ]
    for path in stale:
        path.write_bytes(b"half")
    keep = run.checkpoints / "model_000000000060.zip"
    keep.write_bytes(b"kept")
    assert sorted(run.create()) == sorted(stale)
    assert not any(path.exists() for path in stale) and keep.exists()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_follow_the_users_umask(tmp_path, umask, mode) -> None:
    previous = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "settings.json", "{}")
        with atomic_open(tmp_path / "model.zip") as handle:
            handle.write(b"zip")
    finally:
        os.umask(previous)
    assert (tmp_path / "settings.json").stat().st_mode & 0o777 == mode
    assert (tmp_path / "model.zip").stat().st_mode & 0o777 == mode


def test_a_full_disk_is_reported_with_the_file_name(tmp_path) -> None:
    path = tmp_path / "checkpoints" / "model_000000000060.zip"
    path.parent.mkdir()
    path.write_bytes(b"old")
    with pytest.raises(RunFolderError, match=r"model_000000000060\.zip: the disk is full"):
        with atomic_open(path) as handle:
            handle.write(b"new")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert path.read_bytes() == b"old"
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_free_space_is_checked_before_a_checkpoint(tmp_path, monkeypatch) -> None:
    run = _run_folder(tmp_path / "run")
    size = sum(p.stat().st_size for p in run.checkpoints.glob("*_000000000060.*"))
    usage = type("Usage", (), {"free": size // 2})
    monkeypatch.setattr(checkpoints_module.shutil, "disk_usage", lambda folder: usage)
    model = _toy_model()
    model.num_timesteps = 120
    with pytest.raises(RunFolderError, match=r"MB free on its disk, but the next checkpoint"):
        checkpoints_module.save_checkpoint(model, run.checkpoints, replay_buffer=True)
    assert not list(run.checkpoints.glob("*_000000000120.*"))  # nothing half-written
    with pytest.raises(RunFolderError, match=r"--no-save-replay-buffer"):
        require_free_space(run.checkpoints, 10 * size)


def test_tensorboard_drops_the_killed_sessions_points_after_the_checkpoint(tmp_path) -> None:
    pytest.importorskip("tensorboard")
    from stable_baselines3.common.logger import Logger, make_output_format
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from examples.common.tb_output import ResumedTensorBoard

    folder = str(tmp_path / "tb")
    first = Logger(folder, [make_output_format("tensorboard", folder)])
    for step in (10, 20, 30, 40):  # the killed session got to 40; its checkpoint was 20
        first.record("train/loss", float(step))
        first.dump(step)
    first.close()
    second = Logger(folder, [ResumedTensorBoard(folder, resumed_at=20)])
    for step in (30, 40, 50):
        second.record("train/loss", float(step) + 0.5)
        second.dump(step)
    second.close()
    events = EventAccumulator(folder)
    events.Reload()
    points = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert points == [(10, 10.0), (20, 20.0), (30, 30.5), (40, 40.5), (50, 50.5)]


def test_steps_to_boundary_finds_where_every_episode_ends_together() -> None:
    assert steps_to_boundary(np.array([0, 0]), np.array([6, 8])) == 0
    assert steps_to_boundary(np.array([5, 5]), np.array([6, 6])) == 1
    assert steps_to_boundary(np.array([1, 1]), np.array([6, 8])) == 23  # lcm 24
    assert steps_to_boundary(np.array([1, 0]), np.array([2, 4]), limit=50) == 51  # never
    assert steps_to_boundary(np.array([1, 2]), np.array([150, 200])) > 24
    assert steps_to_boundary(np.array([1, 2]), np.array([3, 3]), limit=10) == 11  # never


def test_stop_request_installs_and_gives_back_the_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest(deadline_s=10) as stop:
        assert signal.getsignal(signal.SIGTERM) == stop._handle
        assert not stop.requested and stop.seconds_left() == float("inf")
        stop.request(signal.SIGTERM)
        assert stop.requested and 9 < stop.seconds_left() <= 10
    assert signal.getsignal(signal.SIGTERM) == before
    stopped = TrainingStopped(signal.SIGINT, 1200, exact=True, run=Path("runs/x"))
    assert str(stopped).startswith("stopped by SIGINT at 1,200 env steps; checkpoint written.")
    assert str(stopped).endswith("Continue with: python -m examples.train --resume runs/x")


def test_a_checkpoint_holds_the_state_file_and_prunes_old_ones(tmp_path) -> None:
    run = _run_folder(tmp_path / "run", steps=(60, 120, 180))
    names = sorted(p.name for p in run.checkpoints.iterdir())
    assert names == [
        "latest.json",
        "model_000000000120.zip",
        "model_000000000180.zip",
        "replay_buffer_000000000180.pkl",
        "state_000000000120.pkl",
        "state_000000000180.pkl",
    ]
    pointer = json.loads((run.checkpoints / "latest.json").read_text())
    assert pointer["state"] == "state_000000000180.pkl" and pointer["exact"] is True
    assert zipfile.is_zipfile(run.checkpoints / pointer["model"])
    with open(run.checkpoints / pointer["state"], "rb") as handle:
        assert pickle.load(handle)["exact"] is True


# -- a checkpoint of another schedule or algorithm, files of different steps ----------
SCHEDULED = {
    **RECORD,
    "schedule": {
        "batch_size": 256,
        "gradient_steps": 1,
        "train_freq": 1,
        "initial_temperature": 1.0,
        "learning_rate": 3e-4,
    },
    "reward_function_version": "v2",
    "method": {**RECORD["method"], "algorithm_kwargs": {"gradient_method": "pcgrad"}},
}


def _scheduled_identity(record: dict) -> dict:
    from examples.common.resume_state import record_identity

    return record_identity(json.loads(json.dumps(record)))


@pytest.mark.parametrize(
    ("path", "value", "shown"),
    [
        (("schedule", "batch_size"), 512, "batch_size = 512"),
        (("schedule", "gradient_steps"), 2, "gradient_steps = 2"),
        (("schedule", "train_freq"), 4, "train_freq = 4"),
        (("schedule", "initial_temperature"), 0.1, "initial_temperature = 0.1"),
        (("schedule", "learning_rate"), 1e-3, "learning_rate = 0.001"),
        (("reward_function_version",), "v1", "reward_function_version = 'v1'"),
        (
            ("method", "algorithm_kwargs"),
            {"gradient_method": "mean"},
            "algorithm_kwargs = {'gradient_method': 'mean'}",
        ),
        (
            ("method", "algorithm_kwargs"),
            {"gradient_method": "pcgrad", "compile_kwargs": {"backend": "aot_eager"}},
            "'compile_kwargs': {'backend': 'aot_eager'}",
        ),
    ],
)
def test_a_checkpoint_of_another_schedule_or_algorithm_is_refused(tmp_path, path, value, shown):
    run = _run_folder(tmp_path / "run", identity=_scheduled_identity(SCHEDULED))
    model = run.checkpoints / "model_000000000060.zip"
    with open(run.checkpoints / "state_000000000060.pkl", "rb") as handle:
        state = pickle.load(handle)
    check_checkpoint("--resume", SCHEDULED, model, state, MTSAC.policy_aliases)  # its own
    record = json.loads(json.dumps(SCHEDULED))
    target = record
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(ConfigError, match=rf"the checkpoint's {path[-1]} must equal") as error:
        check_checkpoint("--resume", record, model, state, MTSAC.policy_aliases)
    assert shown in str(error.value)
    # An older state without the field: that comparison is skipped (the zip still checks
    # batch size, gradient steps and the initial temperature).
    del state["identity"][path[-1]]
    if path[-1] in ("train_freq", "reward_function_version", "algorithm_kwargs"):
        check_checkpoint("--resume", record, model, state, MTSAC.policy_aliases)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", 128),
        ("gradient_steps", 3),
        ("initial_temperature", 0.5),
        ("learning_rate", 1e-3),
    ],
)
def test_the_zip_schedule_is_checked_against_settings_json(tmp_path, key, value) -> None:
    run = _run_folder(tmp_path / "run")  # toy model: batch 256, 1 gradient step, ent_coef auto
    model = run.checkpoints / "model_000000000060.zip"
    check_checkpoint("--resume", SCHEDULED, model, None, MTSAC.policy_aliases)
    record = json.loads(json.dumps(SCHEDULED))
    record["schedule"][key] = value
    with pytest.raises(ConfigError, match=rf"the checkpoint's {key} must equal settings.json's"):
        check_checkpoint("--resume", record, model, None, MTSAC.policy_aliases)


def test_files_of_different_steps_are_refused_naming_both(tmp_path) -> None:
    run = _run_folder(tmp_path / "run", steps=(0, 300))
    folder = run.checkpoints
    step0 = tmp_path / "model_0.zip"
    model = _toy_model()
    model.save(step0)  # num_timesteps 0
    (folder / "model_000000000300.zip").write_bytes(step0.read_bytes())
    with pytest.raises(RunFolderError) as error:
        check_checkpoint(
            "--resume",
            RECORD,
            folder / "model_000000000300.zip",
            None,
            MTSAC.policy_aliases,
            step=300,
        )
    assert (
        "model_000000000300.zip holds step 0, but checkpoints/latest.json names it as step 300"
        in str(error.value)
    )
    state_file = folder / "state_000000000300.pkl"
    with pytest.raises(RunFolderError) as error:
        check_checkpoint(
            "--resume",
            RECORD,
            folder / "model_000000000300.zip",
            {"num_timesteps": 300},
            MTSAC.policy_aliases,
            state_file=state_file,
        )
    assert "(step 0) and" in str(error.value) and "state_000000000300.pkl (step 300)" in str(
        error.value
    )


@pytest.mark.parametrize(
    ("model", "shown"),
    [
        ("../../A/final_model.zip", "which is not in"),
        (
            "model_000000000060.zip",
            "names model_000000000060.zip (step 60) as the checkpoint of step 120",
        ),
    ],
)
def test_latest_json_naming_files_outside_or_of_another_step_is_refused(tmp_path, model, shown):
    run = _run_folder(tmp_path / "run", steps=(60, 120))
    other = tmp_path / "A" / "final_model.zip"
    other.parent.mkdir()
    other.write_bytes((run.checkpoints / "model_000000000120.zip").read_bytes())
    pointer = json.loads((run.checkpoints / "latest.json").read_text())
    pointer["model"] = model
    (run.checkpoints / "latest.json").write_text(json.dumps(pointer))
    with pytest.raises(RunFolderError, match="latest.json") as error:
        find_checkpoint(run.checkpoints, replay_buffer=True)
    assert shown in str(error.value)


# -- a damaged settings.json is named, never a traceback ------------------------------
@pytest.mark.parametrize(
    ("damage", "shown"),
    [
        ("no-method", "'settings' lacks ['method']"),
        ("settings-null", "'settings' is not an object (got None)"),
        ("directory", "settings.json: not a file (a folder)"),
        ("seed-zero", "settings.json: holds a setting that is not valid"),
        ("method-list", "'method' is not an object"),
    ],
)
def test_a_damaged_settings_json_is_named_with_what_to_do(tmp_path, capsys, damage, shown):
    run = _run_folder(tmp_path / "run")
    record = json.loads(run.settings_json.read_text())
    if damage == "no-method":
        del record["settings"]["method"]
    elif damage == "settings-null":
        record["settings"] = None
    elif damage == "seed-zero":
        record["settings"]["seed"] = "zero"
    elif damage == "method-list":
        record["method"] = []
    if damage == "directory":
        run.settings_json.unlink()
        run.settings_json.mkdir()
    else:
        run.settings_json.write_text(json.dumps(record))
    assert _main("--resume", str(run.root)) == 1
    err = capsys.readouterr().err
    assert shown in err and "Traceback" not in err
    assert "settings.json" in err and ("restore" in err.lower() or "correct it" in err)
    assert "--seed" not in err


# -- orphans of a checkpoint write a second signal interrupted ------------------------
def _orphan(run: RunDir, step: int) -> list[Path]:
    """Complete files of ``step`` that latest.json does not name (a killed write)."""
    pointer = (run.checkpoints / "latest.json").read_bytes()
    model = _toy_model()
    model.num_timesteps = step
    state = {"format": 1, "exact": True, "identity": None}
    checkpoints_module.save_checkpoint(
        model, run.checkpoints, replay_buffer=True, state=state, keep=9
    )
    (run.checkpoints / "latest.json").write_bytes(pointer)
    return [
        run.checkpoints / f"{kind}_{step:012d}{suffix}"
        for kind, suffix in (("model", ".zip"), ("replay_buffer", ".pkl"), ("state", ".pkl"))
    ]


def test_orphans_newer_than_latest_json_are_removed_at_resume(tmp_path) -> None:
    run = _run_folder(tmp_path / "run", steps=(60, 120))
    orphans = _orphan(run, 180)
    assert all(p.exists() for p in orphans)
    removed = checkpoints_module.remove_orphans(run.checkpoints)
    assert sorted(removed) == sorted(orphans) and not any(p.exists() for p in orphans)
    assert (run.checkpoints / "model_000000000060.zip").exists()
    assert checkpoints_module.remove_orphans(run.checkpoints) == []


def test_the_prune_never_keeps_an_orphan_over_the_previous_checkpoint(tmp_path) -> None:
    run = _run_folder(tmp_path / "run", steps=(60, 120))
    orphans = _orphan(run, 180)
    model = _toy_model()
    model.num_timesteps = 150
    checkpoints_module.save_checkpoint(
        model, run.checkpoints, replay_buffer=True, state={"format": 1, "exact": True}
    )
    names = sorted(p.name for p in run.checkpoints.glob("model_*.zip"))
    assert names == ["model_000000000120.zip", "model_000000000150.zip"]
    assert not any(p.exists() for p in orphans)


def test_a_signal_after_training_says_the_reports_are_being_completed(capsys) -> None:
    stop = StopRequest()
    stop._handle(signal.SIGTERM, None)
    assert "writing a checkpoint at the next complete step" in capsys.readouterr().err
    done = StopRequest()
    done.finish()
    done._handle(signal.SIGTERM, None)
    err = capsys.readouterr().err
    assert "training is finished" in err and "reports are being completed" in err
    assert "writing a checkpoint" not in err
