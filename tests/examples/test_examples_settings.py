"""examples.settings and the training command line: presets, validation, help, early errors."""

from __future__ import annotations

import json
import re
import types

import pytest
import torch

pytest.importorskip("modnet_metaworld")
pytest.importorskip("modnet_sb3")

from examples import train as train_module  # noqa: E402
from examples.methods import METHODS  # noqa: E402
from examples.settings import TrainSettings, resolve_schedule, validate_settings  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet_metaworld import authors_horizons, task_names  # noqa: E402


def test_paper_preset_is_the_authors_schedule() -> None:
    mt10 = resolve_schedule(TrainSettings(preset="paper"))
    assert mt10.total_steps == 15_000_000  # 7,500 epochs x 200 steps x 10 tasks
    assert mt10.warmup_steps == 20 * 200 * 10
    assert mt10.eval_freq == 200 * 10 and mt10.eval_episodes == 3
    assert (mt10.batch_per_task, mt10.batch_size) == (128, 1280)
    assert mt10.replay_size == 1_000_000
    assert (mt10.learning_rate, mt10.tau, mt10.gamma) == (3e-4, 0.005, 0.99)
    assert (mt10.train_freq, mt10.gradient_steps) == (1, 1)  # one update per T env steps
    mt50 = resolve_schedule(TrainSettings(preset="paper", benchmark="MT50"))
    assert mt50.total_steps == 50_000_000 and mt50.batch_size == 6400
    assert mt50.replay_size == 10_000_000 and mt50.eval_freq == 200 * 50


def test_paper_preset_runs_envs_and_updates_as_the_authors_did() -> None:
    mt10 = resolve_schedule(TrainSettings(preset="paper"))
    assert mt10.episode_length == dict.fromkeys(task_names("MT10"), 150)
    assert (mt10.env_mode, mt10.update_order) == ("authors-fixed", "authors")
    mt50 = resolve_schedule(TrainSettings(preset="paper", benchmark="MT50", mode="conditioned"))
    assert mt50.episode_length == authors_horizons("MT50")
    assert sum(steps == 200 for steps in mt50.episode_length.values()) == 9
    assert mt50.env_mode == "conditioned"  # the authors' Conditioned is ours
    subset = resolve_schedule(
        TrainSettings(preset="paper", benchmark="MT50", tasks=("stick-pull-v3", "assembly-v3"))
    )
    assert list(subset.episode_length.items()) == [("assembly-v3", 200), ("stick-pull-v3", 200)]
    smoke = resolve_schedule(TrainSettings(preset="smoke"))
    assert smoke.episode_length == dict.fromkeys(task_names("MT10"), 150)
    assert (smoke.env_mode, smoke.update_order) == ("fixed", "sb3")


def test_overrides_replace_preset_values_and_scale_with_tasks() -> None:
    settings = TrainSettings(
        preset="smoke", tasks=("reach-v3", "push-v3"), total_steps=400, batch_per_task=8
    )
    schedule = resolve_schedule(settings)
    assert (schedule.total_steps, schedule.batch_size) == (400, 16)
    assert schedule.warmup_steps == 150 * 2  # smoke preset, per task x 2 tasks


def test_the_default_is_the_demo_preset_and_the_user_s_tasks_win() -> None:
    demo = TrainSettings()
    assert demo.preset == "demo"
    assert demo.tasks == ("reach-v3", "drawer-close-v3")
    schedule = resolve_schedule(demo)
    assert schedule.width_scale == 0.125 and schedule.batch_size == 128 * 2
    assert schedule.train_freq == 2
    assert schedule.total_steps == 40_000 and schedule.eval_freq == 10_000
    assert schedule.learning_rate == 1e-3
    assert schedule.initial_temperature == 0.1
    assert resolve_schedule(TrainSettings(preset="paper")).initial_temperature == 1.0
    assert resolve_schedule(TrainSettings(preset="paper")).learning_rate == 3e-4
    assert resolve_schedule(TrainSettings(learning_rate=1e-3)).learning_rate == 1e-3
    assert set(schedule.episode_length) == set(demo.tasks)
    assert TrainSettings(tasks=("push-v3",)).tasks == ("push-v3",)
    assert TrainSettings(preset="smoke").tasks is None  # smoke and paper: every task
    overridden = resolve_schedule(TrainSettings(width_scale=0.5, train_freq=2, gradient_steps=3))
    assert (overridden.width_scale, overridden.train_freq, overridden.gradient_steps) == (0.5, 2, 3)


def test_width_scale_scales_every_hidden_width_and_nothing_else() -> None:
    from examples.common.widths import scale_widths

    soft = scale_widths("SoftModularPolicy", {"num_layers": 2, "module_features": 256}, 0.25)
    assert soft == {
        "num_layers": 2,  # counts stay
        "module_features": 64,
        "hidden_features": 100,  # the config's defaults (400, 256) are scaled too
        "routing_features": 64,
    }
    assert scale_widths("MlpPolicy", {"net_arch": [400, 400]}, 0.5) == {"net_arch": [200, 200]}
    assert scale_widths("MlpPolicy", {"net_arch": {"pi": [8], "qf": [4]}}, 0.1) == {
        "net_arch": {"pi": [1], "qf": [1]}  # never below one unit
    }
    heads = {"trunk_sizes": (400, 400), "head_sizes": (400,)}
    assert scale_widths("MultiHeadPolicy", heads, 1) == heads
    with pytest.raises(ConfigError, match=r"scale_widths: scale must be a number"):
        scale_widths("MlpPolicy", {}, float("nan"))


def test_settings_are_frozen_and_forbid_unknown_keys() -> None:
    settings = TrainSettings()
    with pytest.raises(ValueError):
        settings.seed = 3  # type: ignore[misc]
    with pytest.raises(
        ConfigError, match=r"TrainSettings: unknown argument 'metod' .*known arguments: .*method"
    ):
        validate_settings({"metod": "mt-sac"})


@pytest.mark.parametrize(
    ("values", "pattern"),
    [
        ({"method": "soft"}, r"method must be one of 'soft-shallow', 'soft-deep'.*got 'soft'"),
        ({"preset": "fast"}, r"preset must be one of 'paper', 'smoke' or 'demo', got 'fast'"),
        ({"width_scale": 0}, r"width_scale must be greater than 0, got 0"),
        ({"train_freq": -1}, r"train_freq must be greater than 0, got -1"),
        ({"benchmark": "MT20"}, r"benchmark must be one of 'MT10' or 'MT50', got 'MT20'"),
        ({"mode": "random"}, r"mode must be one of 'fixed', 'conditioned' or 'authors-fixed'"),
        ({"total_steps": 0}, r"total_steps must be greater than 0, got 0"),
        ({"tasks": ["reach-v3", "reach-v3"]}, r"tasks must not repeat a task"),
    ],
)
def test_bad_settings_name_the_field_and_what_is_allowed(values, pattern) -> None:
    with pytest.raises(ConfigError, match=pattern):
        validate_settings(values)


def test_help_lists_every_option_with_its_doc_and_choices(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train_module.main(["--help"])
    assert exit_info.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, field in TrainSettings.model_fields.items():
        assert "--" + name.replace("_", "-") in text
        assert " ".join(field.description.split()) in text
    assert "--resume" in text
    assert "{" + ",".join(METHODS) + "}" in text


@pytest.fixture
def no_env(monkeypatch):
    """Fail the test if an env gets built."""

    def refuse(*args, **kwargs):
        raise AssertionError("an env was built before the settings were checked")

    monkeypatch.setattr(train_module, "make_env", refuse)


@pytest.mark.parametrize(
    ("argv", "pattern"),
    [
        (["--tasks", "reach-v3", "fly-v3"], r"error: --tasks must be MT10 tasks, one of \['reach"),
        (
            ["--total-steps", "5"],
            r"error: --total-steps must be at least the number of tasks \(10\)",
        ),
        (
            ["--total-steps", "300", "--warmup-steps", "300"],
            r"error: --warmup-steps must be below --total-steps = 300",
        ),
        (["--eval-freq", "2", "--tasks", "reach-v3", "push-v3", "door-open-v3"], r"--eval-freq"),
        (["--threads", "0"], r"error: --threads must be greater than or equal to 1, got 0"),
        (
            ["--replay-size", "5"],
            r"error: --replay-size must hold --batch-per-task = 32 transitions of each of the "
            r"10 tasks \(at least 320\), got 5",
        ),
    ],
)
def test_bad_settings_fail_before_any_env_is_built(no_env, tmp_path, capsys, argv, pattern) -> None:
    code = train_module.main(["--preset", "smoke", *argv, "--run-dir", str(tmp_path / "run")])
    assert code == 2
    err = capsys.readouterr().err
    assert re.search(pattern, err), err
    assert "TrainSettings" not in err and "_steps" not in err  # the flags, not the fields
    assert not (tmp_path / "run").exists()


def test_from_python_the_errors_name_the_fields(no_env, tmp_path) -> None:
    settings = TrainSettings(total_steps=300, warmup_steps=300, run_dir=tmp_path / "run")
    with pytest.raises(ConfigError, match=r"TrainSettings: warmup_steps must be below total_steps"):
        train_module.train(settings)


def test_unknown_choice_is_refused_by_the_parser_with_the_allowed_values(capsys) -> None:
    with pytest.raises(SystemExit):
        train_module.build_parser().parse_args(["--method", "soft"])
    assert "invalid choice: 'soft' (choose from" in capsys.readouterr().err


def test_existing_run_folder_needs_resume(no_env, tmp_path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "settings.json").write_text("{}")
    assert train_module.main(["--run-dir", str(run)]) == 2
    assert "continue a run with --resume DIR" in capsys.readouterr().err


def test_the_same_command_twice_starts_a_second_folder(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    settings = TrainSettings(seed=3)
    first = settings.default_run_dir()
    assert train_module.fresh_run_dir(settings) == first
    for folder in (first, first.with_name(first.name + "-2")):
        folder.mkdir(parents=True)
        (folder / "settings.json").write_text("{}")
    assert train_module.fresh_run_dir(settings) == first.with_name(first.name + "-3")
    assert f"{first} holds a run; this one goes to {first}-3" in capsys.readouterr().out


def test_resume_reads_settings_back_and_allows_only_some_changes(tmp_path, monkeypatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    stored = TrainSettings(method="mt-sac", seed=4, total_steps=600).model_dump(mode="json")
    (run / "settings.json").write_text(json.dumps({"settings": stored}))
    # The checkpoint the run folder would hold (test_examples_resume_protections.py
    # covers real and damaged ones): 600 env steps done.
    done = types.SimpleNamespace(num_timesteps=600)
    monkeypatch.setattr(train_module, "find_checkpoint", lambda *a, **k: (done, None))
    settings, resume = train_module.parse_settings(["--resume", str(run), "--total-steps", "900"])
    assert resume == run
    assert (settings.method, settings.seed, settings.total_steps) == ("mt-sac", 4, 900)
    with pytest.raises(
        ConfigError,
        match=r"--resume: the other options must be among .*'--verbose'.*got \['--method'\]",
    ):
        train_module.parse_settings(["--resume", str(run), "--method", "moe"])
    settings, _ = train_module.parse_settings(["--resume", str(run), "--verbose"])
    assert settings.verbose
    with pytest.raises(ConfigError, match=r"--resume: DIR must be a run folder"):
        train_module.parse_settings(["--resume", str(tmp_path / "nothing")])


def test_docs_list_every_option_of_every_command() -> None:
    from pathlib import Path

    from examples import sweep

    docs = (Path(__file__).resolve().parents[2] / "docs" / "examples.md").read_text()
    for name in TrainSettings.model_fields:
        assert f"`--{name.replace('_', '-')}" in docs, name
    for action in sweep.build_parser()._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag}" in docs or f"{flag}`" in docs or f", `{flag}" in docs, flag
    for method in METHODS:
        assert f"| `{method}` |" in docs


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_the_machine_lacks_is_refused_before_any_env_is_built(capsys) -> None:
    with pytest.raises(
        ConfigError, match=r"device must be a device this machine has \(no CUDA here"
    ):
        validate_settings({"device": "cuda"})
    assert train_module.main(["--device", "cuda"]) == 2
    assert "--device must be a device this machine has" in capsys.readouterr().err
