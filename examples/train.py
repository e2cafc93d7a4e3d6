"""Train one method on Meta-World MT10/MT50 with multi-task SAC, as in Yang et al. (2020).

    python -m examples.train                                  # demo: 2 MT10 tasks, ~10 min on a CPU
    python -m examples.train --preset paper --method soft-shallow --seed 0 --device cuda
    python -m examples.train --resume runs/MT10-fixed-soft-shallow-s0
    python -m examples.train --help                           # every option

The run folder (see ``examples/common/run_dir.py``) receives the settings and package
versions, ``eval.csv``, TensorBoard logs, atomic checkpoints, the final model, plots
and a table beside the paper's numbers. The algorithm is all in this file, top to
bottom; ``examples/common/`` holds the plumbing.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.logger import Logger, make_output_format
from stable_baselines3.common.vec_env import VecEnv

from examples.common.atomic import RunFolderError, atomic_open, atomic_write_text
from examples.common.checkpoints import (
    estimate_checkpoint_bytes,
    find_checkpoint,
    latest_checkpoint,
    remove_orphans,
    require_free_space,
)
from examples.common.cli import add_model_arguments, flag, namespace_to_values, with_flags
from examples.common.eval_log import CheckpointAfterEvaluations, EvalCSV, EvalRecorder, EvalRow
from examples.common.plots import (
    plot_routing_embedding,
    plot_routing_heatmaps,
    plot_success_curves,
)
from examples.common.progress import CountingPredictor, TrainProgress
from examples.common.results import load_run, with_sibling_seeds
from examples.common.resume_state import (
    check_checkpoint,
    check_record,
    load_state,
    restore_state,
    run_identity,
)
from examples.common.routing_probe import probe_routing, routing_distance
from examples.common.run_clock import RunClock
from examples.common.run_dir import RunDir
from examples.common.signals import StopRequest, TrainingStopped, exit_code
from examples.common.subset import SubsetOneHot
from examples.common.summary import run_summary
from examples.common.tables import success_table
from examples.common.tb_output import ResumedTensorBoard
from examples.common.widths import scale_widths
from examples.methods import build_method
from examples.paper_results import paper_success
from examples.settings import (
    Schedule,
    TrainSettings,
    resolve_schedule,
    validate_settings,
)
from modnet.errors import ConfigError, mismatch
from modnet_metaworld import describe_protocol, evaluate, make_env, protocol_record, task_names
from modnet_metaworld.eval_worker import EvaluationWorker, EvaluationWorkerError
from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer

# Settings that may change when a run is resumed; everything else is the run's identity.
RESUMABLE = (
    "total_steps",
    "progress_bar",
    "verbose",
    "device",
    "threads",
    "env_workers",
    "eval_worker",
)


def train(settings: TrainSettings, *, resume: Path | None = None) -> Path:
    """Run (or continue) one training run; returns its folder.

    SIGINT and SIGTERM write a checkpoint and raise ``TrainingStopped`` (its message
    says how to resume); a second one exits at once (``examples/common/signals.py``).
    """
    with StopRequest() as stop:
        return _train(settings, resume, stop)


def _train(settings: TrainSettings, resume: Path | None, stop: StopRequest) -> Path:
    clock = RunClock()  # elapsed_s of eval.csv; a resume sets where it goes on from
    # -- 1. Settings: every check happens here, before any env or network is built.
    names = check_tasks(settings)
    schedule = resolve_schedule(settings)
    check_schedule(schedule, settings.num_tasks)
    run = RunDir(
        Path(resume) if resume is not None else settings.run_dir or fresh_run_dir(settings)
    )
    if resume is None and run.settings_json.exists():
        raise ConfigError(
            mismatch(
                "train",
                "run_dir",
                "be a new folder (continue a run with --resume DIR, or pick --run-dir)",
                str(run.root),
            )
        )
    stale = run.create()
    if stale:
        print(f"removed {len(stale)} temporary file(s) a killed session left in {run.root}")
    # A resume checks its checkpoint against settings.json before anything is built or
    # rewritten; a folder without one is refused (never silently trained afresh).
    checkpoint = state = None
    if resume is not None:
        checkpoint, note = find_checkpoint(
            run.checkpoints, replay_buffer=settings.save_replay_buffer
        )
        if note:
            print(note)
        state = None if checkpoint.state is None else load_state(checkpoint.state)
        check_checkpoint(
            "--resume",
            check_record(run.read_record(), run.settings_json),
            checkpoint.model,
            state,
            MTSAC.policy_aliases,
            step=checkpoint.num_timesteps,
            state_file=checkpoint.state,
        )
        orphans = remove_orphans(run.checkpoints)
        if orphans:
            print(
                f"removed {len(orphans)} checkpoint file(s) newer than the checkpoint "
                f"{run.checkpoints / 'latest.json'} names (a write interrupted by a second "
                f"signal): {', '.join(p.name for p in orphans)}"
            )
        require_free_space(run.checkpoints, checkpoint.size())
    table = EvalCSV(run.eval_csv, names, clock=clock)
    # Measured here: a 400-wide MLP step took 5 ms on 1 thread, 140 ms on 2 threads of a
    # loaded 2-core CPU. Intra-op threads only pay off for large CPU batches.
    torch.set_num_threads(settings.threads)

    # -- 2. Envs: one column per task, the task one-hot last (Meta-World's layout);
    # a second copy for evaluation, so evaluating never disturbs training episodes.
    env = build_env(settings, schedule)
    eval_env = build_env(settings, schedule)

    # -- 3. Model: a fresh multi-task SAC for the method, or the run's last checkpoint.
    spec, method_record = choose_method(settings, env)
    if checkpoint is None:
        model = MTSAC(
            spec.policy,
            env,
            learning_rate=schedule.learning_rate,
            buffer_size=schedule.replay_size,  # split equally per task (one column each)
            learning_starts=schedule.warmup_steps,
            batch_size=schedule.batch_size,  # batch_per_task transitions of every task
            tau=schedule.tau,
            gamma=schedule.gamma,
            train_freq=schedule.train_freq,
            gradient_steps=schedule.gradient_steps,
            ent_coef=f"auto_{schedule.initial_temperature}",  # one learned alpha per task
            replay_buffer_class=TaskBalancedReplayBuffer,
            policy_kwargs=dict(spec.policy_kwargs),  # SB3 adds keys to the dict it gets
            num_tasks=env.num_envs,
            reweight=spec.reweight,
            max_grad_norm=schedule.max_grad_norm,
            task_names=names,
            warmup_actions="policy",  # the authors' warm-up: the untrained policy acts
            update_order=schedule.update_order,
            seed=settings.seed,
            device=settings.device,
            compile=settings.compile,
            **spec.algorithm_kwargs,  # e.g. a gradient method
        )
        require_free_space(
            run.checkpoints,
            estimate_checkpoint_bytes(model, replay_buffer=settings.save_replay_buffer),
        )
    else:
        model = MTSAC.load(checkpoint.model, env=env, device=settings.device)
        if checkpoint.replay_buffer is not None:
            try:
                model.load_replay_buffer(checkpoint.replay_buffer)
            except Exception as error:  # noqa: BLE001 -- a damaged pickle raises many kinds
                raise RunFolderError.unreadable(
                    checkpoint.replay_buffer,
                    error,
                    "Delete it, its model_*.zip and checkpoints/latest.json to resume from "
                    "the previous checkpoint.",
                ) from error
        else:
            # No saved buffer: refill it with a fresh warm-up before updating again.
            model.learning_starts = model.num_timesteps + schedule.warmup_steps
        dropped = table.drop_after(model.num_timesteps)
        # Older checkpoints do not store the elapsed time: their last evaluation's.
        clock.already = (
            checkpoint.elapsed_s if checkpoint.elapsed_s is not None else table.last_elapsed()
        )
        print(f"resumed {run.root} at {model.num_timesteps:,} env steps", end="")
        print(f"; dropped {dropped} eval rows newer than the checkpoint" if dropped else "")
    method_record["parameters"] = sum(p.numel() for p in model.policy.parameters())
    run.write_record(
        {
            "settings": settings.model_dump(mode="json"),
            "schedule": schedule.model_dump(),
            "task_names": names,
            "method": method_record,
            # v1 and v2 rewards give incomparable results: record the one actually used.
            "reward_function_version": str(env.get_attr("reward_function_version")[0]),
            # Horizons, goal sampling and evaluation, as the envs actually run them.
            "protocol": protocol_record(
                eval_env, schedule.env_mode, episodes_per_task=schedule.eval_episodes
            ),
        }
    )

    # -- 4. Logging: SB3's logger writes a CSV per session and TensorBoard; its tables
    # go to stdout only with --verbose.
    model.set_logger(
        make_logger(
            run,
            verbose=settings.verbose,
            resumed_at=None if checkpoint is None else checkpoint.num_timesteps,
        )
    )

    # -- 5. Callbacks: evaluate (-> eval.csv), then checkpoint (atomic), every N env
    # steps; the training bar last, so it shows an evaluation in the step it was taken.
    episodes = schedule.eval_episodes
    eval_bar = (
        f"eval ({settings.preset} preset, {schedule.env_mode}, "
        f"{episodes} episode{'s' * (episodes > 1)} per task)"
    )

    def evaluate_now(model: MTSAC) -> EvalRow:
        # The paper's protocol: deterministic actions, success if any step succeeded.
        # Fresh goals at each evaluation, as the authors drew them; indexed by the rows
        # already written, so a resumed run replays the goals of the rows it rewrites.
        counting = CountingPredictor(
            stop.guard(model),  # a signal abandons the evaluation (the resume makes it)
            total=episodes * max(schedule.episode_length.values()),
            desc=eval_bar,
            enabled=settings.progress_bar,
        )
        try:
            result = evaluate(
                counting,
                settings.benchmark,
                schedule.env_mode,
                episodes_per_task=episodes,
                seed=settings.seed,
                evaluation_index=len(table.steps()),
                env=eval_env,
            )
        finally:
            counting.close()
        return EvalRow(0, result.success_rate, result.mean_return)

    # --eval-worker: the same evaluation in a worker process, on snapshots of the policy,
    # while training goes on (the authors' set-up); rows are written as they finish.
    worker = (
        EvaluationWorker(
            functools.partial(worker_eval_env, settings, schedule),
            settings.benchmark,
            schedule.env_mode,
            episodes_per_task=episodes,
            seed=settings.seed,
            threads=settings.threads,
        )
        if settings.eval_worker
        else None
    )
    recorder = EvalRecorder(evaluate_now, table, every=schedule.eval_freq, stop=stop, worker=worker)
    # Checkpoints after the step's update, where every episode has just ended (exact),
    # and after the rows of the evaluations still in the worker.
    checkpoints = CheckpointAfterEvaluations(
        recorder,
        run.checkpoints,
        every=schedule.checkpoint_freq,
        replay_buffer=settings.save_replay_buffer,
        clock=clock,
        identity=run_identity(
            settings,
            names,
            method_record,
            schedule=schedule,
            reward_function_version=str(env.get_attr("reward_function_version")[0]),
        ),
        stop=stop,
        horizons=list(schedule.episode_length.values()),  # column order: benchmark order
        next_evaluation=lambda: recorder.next_due,
    )
    progress = TrainProgress(
        schedule.total_steps, lambda: recorder.last, enabled=settings.progress_bar
    )

    # -- 6. Learn. The paper's schedule is SB3's off-policy loop with train_freq=1 and
    # gradient_steps=1 on a T-column VecEnv: one gradient step per T env steps.
    # A resume gives back the envs' episodes and the random generators last (loading
    # reseeded them): from here the run is where the checkpoint was.
    if state is not None and not restore_state(model, state) and state["exact"]:
        print("the restored envs differ from the checkpoint's: the run is not bit-identical")
    callbacks = CallbackList([recorder, checkpoints, progress])
    callbacks.init_callback(model)
    remaining = schedule.total_steps - model.num_timesteps
    try:
        if remaining > 0:
            model.learn(
                total_timesteps=remaining,
                callback=callbacks,
                reset_num_timesteps=False,  # a resumed run continues its step count
            )
        # -- 7. Final evaluation, model, checkpoint, plots and table.
        if max(table.steps(), default=-1) < model.num_timesteps and not stop.requested:
            recorder.record(model)
        latest = latest_checkpoint(run.checkpoints)
        if latest is None or latest.num_timesteps < model.num_timesteps:
            checkpoints.save(exact=checkpoints.at_boundary)
        if stop.requested:  # a signal after the last step: the resume finishes the run
            raise TrainingStopped(stop.signum, model.num_timesteps, checkpoints.at_boundary)
        stop.finish()  # a signal from here on: the reports are completed, then it exits
    except TrainingStopped as stopped:
        progress.bar is not None and progress.bar.close()
        env.close()
        eval_env.close()
        stopped.run = run.root
        raise
    finally:
        worker is not None and worker.close()  # every row is written by now, or abandoned
    with atomic_open(run.final_model) as handle:
        model.save(handle)
    routing = write_reports(model, env, run, settings)
    env.close()
    eval_env.close()
    summary = run_summary(
        load_run(run.root),
        preset=settings.preset,
        session_s=clock.session(),
        elapsed_s=clock(),
        paper=paper_success(settings.benchmark, settings.mode, settings.method),
        routing=routing,
    )
    print(summary)
    return run.root


# ---------------------------------------------------------------------------- plumbing
def check_tasks(settings: TrainSettings) -> list[str]:
    """The run's task names in benchmark order; unknown names fail listing the allowed ones."""
    allowed = task_names(settings.benchmark)
    if settings.tasks is None:
        return allowed
    unknown = [name for name in settings.tasks if name not in allowed]
    if unknown:
        raise ConfigError(
            mismatch(
                "TrainSettings",
                "tasks",
                f"be {settings.benchmark} tasks, one of {allowed}",
                unknown,
            )
        )
    return [name for name in allowed if name in settings.tasks]


def fresh_run_dir(settings: TrainSettings) -> Path:
    """The default folder, or ``<default>-2``, ``-3``, ... if a run already holds it.

    Running the same command twice starts a second run beside the first; an explicit
    ``--run-dir`` that holds a run is refused instead (continue it with ``--resume``).
    """
    base = settings.default_run_dir()
    folder, n = base, 1
    while RunDir(folder).settings_json.exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    if n > 1:
        print(f"{base} holds a run; this one goes to {folder} (continue the first with --resume)")
    return folder


def check_schedule(schedule: Schedule, num_tasks: int) -> None:
    """Refuse schedules that cannot run: one VecEnv step is already T env steps."""
    for name in ("total_steps", "eval_freq", "checkpoint_freq"):
        value = getattr(schedule, name)
        if value < num_tasks:
            raise ConfigError(
                mismatch(
                    "TrainSettings",
                    name,
                    f"be at least the number of tasks ({num_tasks}): one VecEnv step is one env step per task",
                    value,
                )
            )
    if schedule.replay_size // num_tasks < schedule.batch_per_task:
        # TaskBalancedReplayBuffer splits the capacity per task and samples batch_per_task
        # transitions of each task: a smaller share could never fill one batch.
        raise ConfigError(
            mismatch(
                "TrainSettings",
                "replay_size",
                f"hold batch_per_task = {schedule.batch_per_task} transitions of each of "
                f"the {num_tasks} tasks (at least {schedule.batch_per_task * num_tasks})",
                schedule.replay_size,
            )
        )
    if schedule.warmup_steps >= schedule.total_steps:
        raise ConfigError(
            mismatch(
                "TrainSettings",
                "warmup_steps",
                f"be below total_steps = {schedule.total_steps}, or no update ever happens",
                schedule.warmup_steps,
            )
        )


def build_env(settings: TrainSettings, schedule: Schedule) -> VecEnv:
    """The benchmark's VecEnv; with --tasks, the one-hot is cut down to the chosen tasks."""
    with warnings.catch_warnings():
        # Meta-World declares its observation bounds in float64 and its observations are
        # float32; gymnasium's Box warns that it casts the bounds to float32. Harmless:
        # the bounds are +-inf and small numbers that float32 holds well enough.
        warnings.filterwarnings(
            "ignore", message=r".*Box (low|high)'s precision lowered", category=UserWarning
        )
        env = make_env(
            settings.benchmark,
            schedule.env_mode,
            seed=settings.seed,
            episode_length=schedule.episode_length,
            reward_function_version=settings.reward_function_version,
            tasks=None if settings.tasks is None else list(settings.tasks),
            workers=env_workers(settings),
        )
    if settings.tasks is None:
        return env
    allowed = task_names(settings.benchmark)
    indices = sorted(allowed.index(name) for name in settings.tasks)
    return SubsetOneHot(env, num_tasks=len(allowed), task_indices=indices)


def worker_eval_env(settings: TrainSettings, schedule: Schedule) -> VecEnv:
    """The evaluation env of ``--eval-worker``: ``build_env``'s, stepped in that worker."""
    return build_env(settings.model_copy(update={"env_workers": 1}), schedule)


def env_workers(settings: TrainSettings) -> int:
    """Worker processes of each VecEnv: ``--env-workers``, or for ``auto`` the cores the
    update's ``--threads`` leave free (at most one per task; 1, in this process, when
    fewer than 2 are free: a single worker only adds the transfer)."""
    if settings.env_workers != "auto":
        return settings.env_workers
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    free = (cores or 1) - settings.threads
    return min(free, settings.num_tasks) if free >= 2 else 1


def choose_method(settings: TrainSettings, env: VecEnv):
    """The method's spec, and what the run record says about it."""
    spec = build_method(
        settings.method, env.observation_space, env.action_space, num_tasks=env.num_envs
    )
    scale = resolve_schedule(settings).width_scale  # the demo preset's small networks
    spec = spec._replace(policy_kwargs=scale_widths(spec.policy, spec.policy_kwargs, scale))
    record = {"policy": spec.policy, "policy_kwargs": spec.policy_kwargs, "reweight": spec.reweight}
    if spec.algorithm_kwargs:
        record["algorithm_kwargs"] = dict(spec.algorithm_kwargs)
    return spec, {**record, **spec.record}


def make_logger(run: RunDir, *, verbose: bool, resumed_at: int | None = None) -> Logger:
    """SB3 logger to tb/progress_<session>.csv and TensorBoard (tb/); stdout if verbose.

    ``resumed_at``: the checkpoint's step; TensorBoard drops the events a killed
    session wrote after it (``ResumedTensorBoard``), so no step is drawn twice.
    """
    # SB3's CSV writer truncates its file, so each session (fresh run, each resume) gets one.
    session = run.next_session()
    folder = str(run.tensorboard)
    formats = [
        make_output_format("csv", folder, log_suffix=f"_{session}"),
        make_output_format("tensorboard", folder)
        if resumed_at is None
        else ResumedTensorBoard(folder, resumed_at=resumed_at),
    ]
    if verbose:
        formats.insert(0, make_output_format("stdout", folder))
    return Logger(folder, formats)


def write_reports(model: MTSAC, env: VecEnv, run: RunDir, settings: TrainSettings) -> float | None:
    """Plots (success curves, routing heatmaps and embedding) and the table of this run.

    Returns how much the tasks' routing differs (``routing_distance``), None without routing.
    """
    # Other seeds of this setting next to this run (e.g. a sweep folder) give the band
    # across seeds in the curves and the across-seed statistics in the table.
    result = load_run(run.root)
    seeds = with_sibling_seeds(result)
    plot_success_curves(seeds, run.plots / "success.png")
    samples = routing_samples(model, env, result.task_names)
    if samples is not None:
        title = f"{settings.method}: routing of the actor, {settings.benchmark}-{settings.mode}"
        plot_routing_heatmaps(samples, run.plots / "routing_heatmaps.png", title=title)
        plot_routing_embedding(samples, run.plots / "routing_embedding.png", title=title)
    protocol = describe_protocol(run.read_record()["protocol"])
    atomic_write_text(run.table, f"{success_table(seeds)}\nProtocol of this run:\n\n{protocol}")
    return None if samples is None else routing_distance(samples)


def routing_samples(model: MTSAC, env: VecEnv, names: list[str], steps: int = 50):
    """Routing of the actor on ``steps`` observations of every task (deterministic rollout)."""
    obs = env.reset()
    seen = []
    for _ in range(steps):
        seen.append(obs)
        actions, _ = model.predict(obs, deterministic=True)
        obs, *_ = env.step(actions)
    per_task = np.stack(seen, axis=1)  # [T, steps, D]: column t is task t
    samples = {name: probe_routing(model.policy, per_task[i]) for i, name in enumerate(names)}
    return None if any(s is None for s in samples.values()) else samples


# ---------------------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m examples.train",
        description="Train a multi-task SAC method on Meta-World MT10/MT50 (Yang et al. 2020).",
    )
    add_model_arguments(parser, TrainSettings)
    parser.add_argument(
        "--resume",
        type=Path,
        metavar="DIR",
        default=None,
        help="Continue the run in DIR from its last checkpoint (settings are read from DIR; "
        f"only {', '.join(flag(name) for name in RESUMABLE)} may be given).",
    )
    return parser


def parse_settings(argv: Sequence[str] | None = None) -> tuple[TrainSettings, Path | None]:
    """Settings from the command line (or, with --resume, from the run folder)."""
    namespace = build_parser().parse_args(argv)
    values = namespace_to_values(namespace, TrainSettings)
    if namespace.resume is None:
        return validate_settings(values), None
    fixed = sorted(set(values) - set(RESUMABLE))
    if fixed:
        raise ConfigError(
            mismatch(
                "--resume",
                "the other options",
                f"be among {[flag(name) for name in RESUMABLE]} (the rest is read from the "
                "run folder)",
                [flag(name) for name in fixed],
            )
        )
    settings_json = RunDir(namespace.resume).settings_json
    if not settings_json.exists():
        raise ConfigError(
            mismatch(
                "--resume", "DIR", "be a run folder holding settings.json", str(namespace.resume)
            )
        )
    if not settings_json.is_file():
        raise RunFolderError(
            f"{settings_json}: not a file (a {'folder' if settings_json.is_dir() else 'special file'}"
            "); it must be the run's settings record. Restore it from a copy, then resume again."
        )
    stored = check_record(RunDir(namespace.resume).read_record(), settings_json)["settings"]
    fixed_part = {k: v for k, v in stored.items() if k not in RESUMABLE}
    try:  # the run's own (non-resumable) values alone: an error there blames the file
        validate_settings({**fixed_part, "run_dir": str(namespace.resume)})
    except ConfigError as error:
        raise RunFolderError(
            f"{settings_json}: holds a setting that is not valid ({error}). The value comes "
            "from settings.json, not from a flag: correct it there (or restore the file from "
            "a copy), then resume again."
        ) from error
    done, _ = find_checkpoint(
        RunDir(namespace.resume).checkpoints,
        replay_buffer=stored.get("save_replay_buffer", True),
    )
    total = values.get("total_steps")
    if total is not None and total < done.num_timesteps:
        raise ConfigError(
            mismatch(
                "--resume",
                "--total-steps",
                f"be at least the {done.num_timesteps:,} env steps the run has done",
                total,
            )
        )
    return validate_settings(
        {**stored, **values, "run_dir": str(namespace.resume)}
    ), namespace.resume


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings, resume = parse_settings(argv)
        train(settings, resume=resume)
    except ConfigError as error:
        # The same checks as from Python, worded with the flags (--total-steps) the user typed.
        print(f"error: {with_flags(str(error), TrainSettings)}", file=sys.stderr)
        return 2
    except (RunFolderError, EvaluationWorkerError) as error:  # named: a file, an evaluation
        print(f"error: {error}", file=sys.stderr)
        return 1
    except TrainingStopped as stopped:  # SIGINT/SIGTERM: checkpoint written
        print(stopped.message(), file=sys.stderr)
        return exit_code(stopped.signum)
    return 0


if __name__ == "__main__":
    sys.exit(main())
