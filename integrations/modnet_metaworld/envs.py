"""``make_env``: MT10 / MT50 as an SB3 VecEnv, one column per task, in the paper's two settings."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

from modnet.errors import ConfigError, mismatch

from .authors import authors_random_in_fixed
from .suites import (
    PAPER_HORIZON,
    Benchmark,
    Mode,
    benchmark_goals,
    check_benchmark,
    check_mode,
    check_seed,
    column_seed,
    conditioned_task,
    env_class,
    resolve_horizons,
    resolve_tasks,
    task_names,
)
from .workers import WorkerVecEnv
from .wrappers import EpisodeWrapper, GoalWrapper, TaskOneHot

if TYPE_CHECKING:
    import gymnasium as gym
    from metaworld.types import Task

__all__ = [
    "REWARD_FUNCTION_VERSIONS",
    "column_modes",
    "column_task_names",
    "make_column",
    "make_env",
]

REWARD_FUNCTION_VERSIONS: tuple[str | None, ...] = (None, "v1", "v2")


def make_column(
    *,
    benchmark: str,
    task_name: str,
    mode: str,
    task: Task | None,
    seed: int,
    episode_length: int,
    terminate_on_success: bool,
    reward_function_version: str | None,
) -> gym.Env:
    """Build one column: the task's env with its goal, horizon, success flag, one-hot and Monitor.

    A module-level function so ``functools.partial(make_column, ...)`` pickles for
    ``SubprocVecEnv``. ``mode`` is the column's own (``"fixed"`` or ``"conditioned"``);
    ``task`` is its fixed goal, or None when it is conditioned.
    """
    names = task_names(benchmark)  # type: ignore[arg-type]
    index = names.index(task_name)
    kwargs = (
        {}
        if reward_function_version is None
        else {"reward_function_version": reward_function_version}
    )
    env: gym.Env = env_class(benchmark, task_name)(**kwargs)
    if task is None:
        task = conditioned_task(task_name, env)
    env = GoalWrapper(
        env,
        task_name=task_name,
        task_index=index,
        benchmark=benchmark,
        mode=mode,
        task=task,
        seed=column_seed(seed, index),
    )
    env = EpisodeWrapper(
        env, episode_length=episode_length, terminate_on_success=terminate_on_success
    )
    env = TaskOneHot(env, task_index=index, num_tasks=len(names))
    # is_success is always present at episode end, so Monitor can record it.
    return Monitor(env, info_keywords=("is_success",))


def column_modes(benchmark: str, mode: str, names: Sequence[str]) -> dict[str, str]:
    """Each task's own behaviour under ``mode``: ``"fixed"`` or ``"conditioned"``.

    ``"authors-fixed"`` is conditioned for the tasks the authors' Fixed runs left
    random (``authors.py``) and fixed for the others.
    """
    if mode != "authors-fixed":
        return {name: mode for name in names}
    random = set(authors_random_in_fixed(benchmark))  # type: ignore[arg-type]
    return {name: "conditioned" if name in random else "fixed" for name in names}


def make_env(
    benchmark: Benchmark = "MT10",
    mode: Mode = "fixed",
    *,
    seed: int = 0,
    episode_length: int | Mapping[str, int] = PAPER_HORIZON,
    terminate_on_success: bool = False,
    vec_env_cls: type[VecEnv] = DummyVecEnv,
    reward_function_version: str | None = None,
    tasks: Sequence[str] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    workers: int = 1,
) -> VecEnv:
    """MT10 or MT50 as an SB3 VecEnv: column ``i`` is task ``i`` in Meta-World's order.

    Observations are ``[N, 39 + T]`` float32: Meta-World's 39 state entries (goal
    visible in 36:39) then the task one-hot over the benchmark's ``T`` tasks. ``N`` is
    the number of columns (``T``, or ``len(tasks)``); with a subset the one-hot keeps
    width ``T`` and each task's benchmark position, so a model trained on the whole
    benchmark evaluates on any subset.

    Args:
        benchmark: ``"MT10"`` or ``"MT50"``.
        mode: ``"fixed"``: each task keeps the first of the 50 goals Meta-World
            generates for the benchmark seed ``seed``, on every reset.
            ``"conditioned"``: object and goal positions are drawn afresh on every
            reset from the column's seeded generator (the paper's Conditioned).
            ``"authors-fixed"``: what the authors' Fixed runs did, task by task:
            conditioned for the tasks their code left random (MT10: button-press-topdown;
            MT50: all 50), fixed for the others. See docs/metaworld.md.
        seed: the benchmark seed (Meta-World's goal list) and the columns' seeds.
        episode_length: steps per episode: one int for every task (the paper's 150 by
            default; Meta-World's is 500) or a table ``{task: steps}`` naming every
            task built, e.g. ``authors_horizons(benchmark)`` (200 for nine MT50 tasks).
        terminate_on_success: end an episode (``terminated=True``) at its first success.
        vec_env_cls: ``DummyVecEnv`` or ``SubprocVecEnv``.
        reward_function_version: ``"v1"``, ``"v2"`` or None (Meta-World's default, v2).
            Returns under v1 and v2 are not comparable.
        tasks: optional subset of task names; columns still follow the benchmark order.
        vec_env_kwargs: extra arguments of ``vec_env_cls`` (e.g. ``start_method``), or of
            ``WorkerVecEnv`` when ``workers > 1``.
        workers: with more than 1, the columns are stepped in this many worker
            processes, a contiguous slice in each (``WorkerVecEnv``; ``vec_env_cls`` is
            then not used). The transitions are the same as with 1.

    Returns:
        A VecEnv whose columns are wrapped in SB3's ``Monitor``; ``info["is_success"]``
        is set on the last step of every episode (any step succeeded).
    """
    where = "make_env"
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(mismatch(where, "workers", "be an int >= 1", repr(workers)))
    check_benchmark(benchmark, where)
    check_mode(mode, where)
    seed = check_seed(seed, where)
    if reward_function_version not in REWARD_FUNCTION_VERSIONS:
        raise ConfigError(
            mismatch(
                where,
                "reward_function_version",
                f"be one of {list(REWARD_FUNCTION_VERSIONS)}",
                repr(reward_function_version),
            )
        )
    names = resolve_tasks(benchmark, tasks, where)
    horizons = resolve_horizons(episode_length, benchmark, names, where)
    modes = column_modes(benchmark, mode, names)
    # The 50-goal list takes seconds to build: only when some column keeps a fixed goal.
    goals = benchmark_goals(benchmark, seed) if "fixed" in modes.values() else None
    factories = [
        functools.partial(
            make_column,
            benchmark=benchmark,
            task_name=name,
            mode=modes[name],
            task=goals[name][0] if modes[name] == "fixed" and goals is not None else None,
            seed=seed,
            episode_length=horizons[name],
            terminate_on_success=terminate_on_success,
            reward_function_version=reward_function_version,
        )
        for name in names
    ]
    if workers > 1:
        # More workers than columns would leave processes without a column.
        return WorkerVecEnv(factories, min(workers, len(factories)), **(vec_env_kwargs or {}))
    return vec_env_cls(factories, **(vec_env_kwargs or {}))  # type: ignore[call-arg]


def column_task_names(env: VecEnv, where: str = "column_task_names") -> list[str]:
    """Task name of every column of a VecEnv built by ``make_env``."""
    try:
        return list(env.get_attr("mw_task_name"))
    except AttributeError as error:
        raise ConfigError(
            mismatch(
                where, "env", "be a VecEnv built by modnet_metaworld.make_env", type(env).__name__
            )
        ) from error
