"""The settings of one training run, and the presets that fill in its schedule.

``TrainSettings`` is what a user chooses (on the command line or in Python). Every
schedule field left at ``None`` is filled by the preset; ``resolve_schedule`` turns
the pair into a ``Schedule`` of concrete numbers, which is what the run uses and what
``settings.json`` records. The names a setting allows are defined once, where they
live: benchmarks and modes in ``modnet_metaworld.suites``, methods in
``examples.methods.METHODS``, presets in ``PRESETS`` below.

The ``paper`` preset is the authors' schedule (Yang et al. 2020, Appendix, and the
authors' published MT10/MT50 configuration), expressed in SB3's units, where one
``VecEnv`` step is one env step of every task (T env steps):

* an *epoch* is 200 env steps per task followed by 200 gradient steps, so one
  gradient step per VecEnv step (``train_freq=1``, ``gradient_steps=1``);
* 20 epochs of warm-up collection before the first update;
* evaluation every epoch, 3 deterministic episodes per task;
* 7,500 epochs on MT10 (15M env steps) and 5,000 on MT50 (50M env steps);
* 128 transitions per task in every batch;
* replay of 1e6 (MT10) / 1e7 (MT50) transitions, split equally per task;
* Adam 3e-4, tau 0.005, gamma 0.99, gradient norms clipped at 1.0;
* the authors' horizons: 150 steps, 200 for nine MT50 tasks;
* the authors' "Fixed": each task fixed or random at every reset as their code left
  it (the ``authors-fixed`` env mode, see docs/metaworld.md);
* the authors' update order (temperatures, actor, critics: ``MTSAC(update_order="authors")``).

A preset is a ``Preset``: the schedule's numbers (a function of the benchmark and
T) and how the envs and the update run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import torch
from pydantic import Field, field_validator, model_validator

from examples.common.choices import one_of
from examples.methods import METHODS
from modnet.config import FrozenConfig
from modnet_metaworld.authors import authors_horizons
from modnet_metaworld.suites import PAPER_HORIZON, Benchmark, Mode, task_names

__all__ = [
    "PRESETS",
    "Preset",
    "Schedule",
    "TrainSettings",
    "resolve_schedule",
    "validate_settings",
]

# The authors' schedule, in units of env steps *per task*; see the module docstring.
STEPS_PER_EPOCH = 200
PAPER_EPOCHS = {"MT10": 7_500, "MT50": 5_000}
PAPER_REPLAY = {"MT10": 1_000_000, "MT50": 10_000_000}


def paper_preset(benchmark: Benchmark, t: int) -> dict[str, int | float]:
    """The authors' schedule for ``t`` tasks of ``benchmark`` (the module docstring)."""
    return {
        "total_steps": PAPER_EPOCHS[benchmark] * STEPS_PER_EPOCH * t,
        "warmup_steps": 20 * STEPS_PER_EPOCH * t,
        "eval_freq": STEPS_PER_EPOCH * t,
        "eval_episodes": 3,
        "batch_per_task": 128,
        # Every 100 epochs: a checkpoint with a 1e6 replay buffer is ~0.5 GB.
        "checkpoint_freq": 100 * STEPS_PER_EPOCH * t,
        "replay_size": PAPER_REPLAY[benchmark],
        "train_freq": 1,
        "gradient_steps": 1,
        "width_scale": 1.0,
        "initial_temperature": 1.0,
        "learning_rate": 3e-4,
    }


def smoke_preset(benchmark: Benchmark, t: int) -> dict[str, int | float]:
    """Minutes on 2 CPU cores: every artefact of a run, none of its results.

    Four 150-step episodes per task (one of warm-up, three of training with updates)
    and two evaluations of one episode per task.
    """
    return {
        "total_steps": 600 * t,
        "warmup_steps": 150 * t,
        "eval_freq": 300 * t,
        "eval_episodes": 1,
        "batch_per_task": 32,
        "checkpoint_freq": 300 * t,
        "replay_size": 100_000,
        "train_freq": 1,
        "gradient_steps": 1,
        "width_scale": 1.0,
        "initial_temperature": 1.0,
        "learning_rate": 3e-4,
    }


# The demo's tasks, chosen by the measurements of
# docs/examples.md ("The demo preset (the default)").
DEMO_TASKS = ("reach-v3", "drawer-close-v3")


def demo_preset(benchmark: Benchmark, t: int) -> dict[str, int | float]:
    """The default: learning a person can see in under ten minutes on a 2-core CPU.

    Chosen by measurement (docs/examples.md, "The demo preset (the default)"): two MT10
    tasks, reach and drawer-close, 20,000 env steps each; the method's networks at an
    eighth of their widths; alpha starting at 0.1; Adam at 1e-3; one gradient step every
    second VecEnv step, 128 transitions of each task per batch.
    """
    return {
        "total_steps": 20_000 * t,
        "warmup_steps": 1_000 * t,
        "eval_freq": 5_000 * t,
        "eval_episodes": 3,
        "batch_per_task": 128,
        "checkpoint_freq": 10_000 * t,
        "replay_size": 100_000,
        # One update of 256 every second VecEnv step, not one of 128 every step: at these
        # widths an update is mostly fixed cost (about 22 ms at batch 128, 27 ms at 256,
        # one thread), so this halves the time per env step for the same transitions
        # sampled (docs/examples.md).
        "train_freq": 2,
        "gradient_steps": 1,
        # An eighth of the widths: an update costs about 0.6 of one at a quarter.
        "width_scale": 0.125,
        # alpha starts at 0.1, not 1: with about 10,000 updates, Adam moves log alpha
        # only so far, and from 1 the policy stays close to random for most of the demo.
        "initial_temperature": 0.1,
        # 1e-3, not the authors' 3e-4: at 3e-4 reach was not learned in 18,000 steps
        # (runs A, seeds 0-2); at 1e-3 it was (docs/examples.md).
        "learning_rate": 1e-3,
    }


def uniform_horizons(benchmark: Benchmark) -> dict[str, int]:
    """The paper's 150 steps for every task."""
    return dict.fromkeys(task_names(benchmark), PAPER_HORIZON)


class Preset(NamedTuple):
    """A named recipe: the schedule's numbers, and how the envs and the update run."""

    schedule: Callable[[Benchmark, int], dict[str, int | float]]
    """``schedule(benchmark, T)``: values of the ``TrainSettings`` fields it fills in
    (those the user left at ``None``)."""
    horizons: Callable[[Benchmark], dict[str, int]]
    """``horizons(benchmark)``: steps per episode of every task of the benchmark."""
    fixed_mode: Mode
    """The env mode of a run of the Fixed setting (``mode="fixed"``)."""
    update_order: str
    """``MTSAC``'s ``update_order``."""
    tasks: tuple[str, ...] | None = None
    """The tasks a run trains on when ``--tasks`` is not given (None: all of them)."""


PRESETS: dict[str, Preset] = {
    "paper": Preset(paper_preset, authors_horizons, "authors-fixed", "authors"),
    "smoke": Preset(smoke_preset, uniform_horizons, "fixed", "sb3"),
    "demo": Preset(demo_preset, uniform_horizons, "fixed", "sb3", DEMO_TASKS),
}
"""Presets by name."""


class TrainSettings(FrozenConfig):
    """What one training run is: benchmark, mode, method, seed, preset and overrides."""

    benchmark: Benchmark = Field(
        "MT10", description="Meta-World benchmark: MT10 (10 tasks) or MT50 (50 tasks)."
    )
    mode: Mode = Field(
        "fixed",
        description="fixed: one goal per task (the paper preset runs it as authors-fixed); "
        "conditioned: a new goal every reset; authors-fixed: the authors' Fixed, task by task.",
    )
    method: one_of(METHODS) = Field(
        "soft-shallow", description="Network and loss weighting to train."
    )
    seed: int = Field(
        0, ge=0, description="Seed of the envs, the networks and the replay sampling."
    )
    preset: one_of(PRESETS) = Field(
        "demo",
        description="Schedule: demo = visible learning on 2 MT10 tasks in minutes on a CPU; "
        "paper = the authors' (15M/50M env steps); smoke = every artefact, no results.",
    )
    tasks: tuple[str, ...] | None = Field(
        None,
        description="Train on these tasks of the benchmark only (default: the preset's; "
        "demo: reach and drawer-close; the others: all of them).",
    )
    total_steps: int | None = Field(
        None,
        gt=0,
        description="Env steps to train for, all tasks together (default: the preset's).",
    )
    warmup_steps: int | None = Field(
        None,
        ge=0,
        description="Env steps collected before the first update (default: the preset's).",
    )
    eval_freq: int | None = Field(
        None,
        gt=0,
        description="Evaluate every this many env steps, all tasks together (default: the preset's).",
    )
    eval_episodes: int | None = Field(
        None,
        gt=0,
        description="Deterministic evaluation episodes per task (default: the preset's).",
    )
    batch_per_task: int | None = Field(
        None, gt=0, description="Transitions of each task in every batch (default: the preset's)."
    )
    checkpoint_freq: int | None = Field(
        None,
        gt=0,
        description="Write a checkpoint every this many env steps (default: the preset's).",
    )
    replay_size: int | None = Field(
        None,
        gt=0,
        description="Replay capacity, all tasks together, split per task (default: the preset's).",
    )
    train_freq: int | None = Field(
        None,
        gt=0,
        description="VecEnv steps (each one env step per task) between updates "
        "(default: the preset's).",
    )
    gradient_steps: int | None = Field(
        None, gt=0, description="Gradient steps per update (default: the preset's)."
    )
    width_scale: float | None = Field(
        None,
        gt=0,
        le=4,
        allow_inf_nan=False,
        description="Multiply every hidden width of the method's networks "
        "(default: the preset's; demo 0.125, paper and smoke 1).",
    )
    initial_temperature: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="Every task's SAC temperature alpha at the start, learned from there "
        "(default: the preset's; paper 1, the authors' log alpha = 0; demo 0.1).",
    )
    learning_rate: float | None = Field(
        None,
        gt=0,
        le=1,
        allow_inf_nan=False,
        description="Adam step size of actor, critics and temperatures "
        "(default: the preset's; paper and smoke 3e-4, the authors'; demo 1e-3).",
    )
    save_replay_buffer: bool = Field(
        True, description="Put the replay buffer in checkpoints, so a resume loses nothing."
    )
    reward_function_version: Literal["v1", "v2"] | None = Field(
        None, description="Meta-World reward version (default: Meta-World's); not comparable."
    )
    threads: int = Field(
        1, ge=1, description="Torch CPU threads; 1 avoids thread oversubscription on a busy CPU."
    )
    env_workers: int | Literal["auto"] = Field(
        1,
        description="Processes stepping the envs (1: in this process); auto: the cores "
        "--threads leaves free, at most one per task. Same transitions either way.",
    )
    eval_worker: bool = Field(
        False,
        description="Evaluate in a worker process on a snapshot of the policy while training "
        "goes on (the authors' set-up); same rows, same transitions, no evaluation bar.",
    )
    compile: bool = Field(
        False,
        description="torch.compile the SAC losses (CUDA graphs on CUDA); slow to start, "
        "the same numbers within float rounding.",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Torch device for the networks."
    )
    run_dir: Path | None = Field(
        None, description="Folder of this run (default: runs/<benchmark>-<mode>-<method>-s<seed>)."
    )
    progress_bar: bool = Field(
        True,
        description="Show progress bars for training and evaluation (on a terminal; "
        "otherwise one line per evaluation).",
    )
    verbose: bool = Field(
        False,
        description="Also print SB3's logger tables on stdout (tb/ gets them either way).",
    )

    @field_validator("device")
    @classmethod
    def _device_exists(cls, value: str) -> str:
        # Checked before any env is built (SB3 alone would fall back to the CPU silently;
        # MTSAC refuses too, but only after the envs exist).
        if value == "cuda" and not torch.cuda.is_available():
            raise ValueError("be a device this machine has (no CUDA here; use 'auto' or 'cpu')")
        return value

    @field_validator("env_workers")
    @classmethod
    def _workers_positive(cls, value: int | str) -> int | str:
        if value != "auto" and value < 1:
            raise ValueError("be an int >= 1 or 'auto'")
        return value

    @model_validator(mode="after")
    def _check_tasks(self) -> TrainSettings:
        if self.tasks is not None:
            if len(self.tasks) == 0:
                raise ValueError("tasks must name at least one task")
            if len(set(self.tasks)) != len(self.tasks):
                raise ValueError(f"tasks must not repeat a task, got {list(self.tasks)}")
        return self

    @model_validator(mode="before")
    @classmethod
    def _preset_tasks(cls, data: object) -> object:
        # A preset may choose the tasks (demo); --tasks given by the user wins.
        if isinstance(data, dict) and data.get("tasks") is None:
            preset = PRESETS.get(data.get("preset", cls.model_fields["preset"].default))
            if preset is not None and preset.tasks is not None:
                return {**data, "tasks": preset.tasks}
        return data

    @property
    def num_tasks(self) -> int:
        """T: the number of tasks this run trains on."""
        if self.tasks is not None:
            return len(self.tasks)
        return len(task_names(self.benchmark))

    def default_run_dir(self) -> Path:
        return Path("runs") / f"{self.benchmark}-{self.mode}-{self.method}-s{self.seed}"


class Schedule(FrozenConfig):
    """What a run uses, after the preset and the overrides are applied."""

    total_steps: int = Field(description="Env steps to train for, all tasks together.")
    warmup_steps: int = Field(description="Env steps of collection before the first update.")
    eval_freq: int = Field(description="Env steps between evaluations.")
    eval_episodes: int = Field(description="Deterministic evaluation episodes per task.")
    batch_per_task: int = Field(description="Transitions of each task in every batch.")
    batch_size: int = Field(description="batch_per_task * T.")
    checkpoint_freq: int = Field(description="Env steps between checkpoints.")
    replay_size: int = Field(description="Replay capacity, all tasks together.")
    episode_length: dict[str, int] = Field(
        description="Steps per episode of each task (the authors': 150, 200 for nine MT50 tasks)."
    )
    env_mode: Mode = Field(
        description="make_env's mode: the setting's, but the authors' per-task goals "
        "(authors-fixed) for Fixed under the paper preset."
    )
    update_order: str = Field(description="MTSAC's update order: sb3 or authors.")
    learning_rate: float = Field(description="Adam step size of actor, critics and temperatures.")
    tau: float = Field(description="Soft target update coefficient.")
    gamma: float = Field(description="Discount.")
    max_grad_norm: float = Field(description="Gradient-norm clip.")
    train_freq: int = Field(description="VecEnv steps (each T env steps) between updates.")
    gradient_steps: int = Field(description="Gradient steps per update.")
    width_scale: float = Field(description="Factor on every hidden width of the networks.")
    initial_temperature: float = Field(description="Every task's alpha at the start.")


def resolve_schedule(settings: TrainSettings) -> Schedule:
    """Fill the preset's numbers in, then apply the user's overrides."""
    preset = PRESETS[settings.preset]
    values = preset.schedule(settings.benchmark, settings.num_tasks)
    for name in values:
        value = getattr(settings, name)
        if value is not None:
            values[name] = value
    horizons = preset.horizons(settings.benchmark)
    names = [name for name in horizons if settings.tasks is None or name in settings.tasks]
    return Schedule(
        **values,
        batch_size=values["batch_per_task"] * settings.num_tasks,
        episode_length={name: horizons[name] for name in names},
        env_mode=preset.fixed_mode if settings.mode == "fixed" else settings.mode,
        update_order=preset.update_order,
        tau=0.005,
        gamma=0.99,
        max_grad_norm=1.0,
    )


def validate_settings(values: dict) -> TrainSettings:
    """Build ``TrainSettings`` from a dict; a bad value raises one ``ConfigError``.

    The message names each bad field, what it allows and what it got, e.g.
    ``TrainSettings: method must be one of 'soft-shallow', ..., got 'soft'`` (worded by
    :class:`modnet.config.FrozenConfig`).
    """
    return TrainSettings(**values)
