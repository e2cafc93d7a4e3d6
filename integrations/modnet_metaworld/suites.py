"""The MT10 and MT50 suites: their names, modes, task order, goals and seeds.

``Benchmark`` and ``Mode`` are the one definition of the suite and mode names; the
examples' settings and command lines read them from here. Everything else is read
from Meta-World itself (its env dicts and its seeded goal generator), so the number
of tasks, their order and their goals are Meta-World's, not a copy of them.
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, get_args

import numpy as np

from modnet.errors import ConfigError, mismatch, missing_dependency

if TYPE_CHECKING:
    from metaworld.types import Task

__all__ = [
    "BENCHMARKS",
    "GOALS_PER_TASK",
    "METAWORLD_HORIZON",
    "MODES",
    "PAPER_HORIZON",
    "Benchmark",
    "Mode",
    "benchmark_goals",
    "check_benchmark",
    "check_episode_length",
    "check_mode",
    "check_seed",
    "column_seed",
    "resolve_horizons",
    "resolve_tasks",
    "task_names",
]

Benchmark = Literal["MT10", "MT50"]
Mode = Literal["fixed", "conditioned", "authors-fixed"]
"""``fixed``: one frozen goal per task. ``conditioned``: a new goal at every reset.
``authors-fixed``: what the authors' "Fixed" runs did, task by task (``authors.py``)."""

BENCHMARKS: tuple[Benchmark, ...] = get_args(Benchmark)
MODES: tuple[Mode, ...] = get_args(Mode)

PAPER_HORIZON = 150
"""Episode length of the paper (Meta-World V1's ``max_path_length``)."""

METAWORLD_HORIZON = 500
"""Meta-World 3's default horizon (``SawyerXYZEnv.max_path_length``)."""

GOALS_PER_TASK = 50
"""Meta-World generates this many goal configurations per task (``metaworld._N_GOALS``)."""


def import_metaworld() -> Any:
    """Import Meta-World, or raise an error that names the extra to install."""
    try:
        import metaworld
    except ImportError as error:  # pragma: no cover - exercised only without the extra
        raise missing_dependency("metaworld", "metaworld") from error
    return metaworld


def check_benchmark(benchmark: object, where: str) -> str:
    """Return ``benchmark`` if it names a supported benchmark, else raise ConfigError."""
    if benchmark not in BENCHMARKS:
        raise ConfigError(
            mismatch(where, "benchmark", f"be one of {list(BENCHMARKS)}", repr(benchmark))
        )
    return str(benchmark)


def check_mode(mode: object, where: str) -> str:
    """Return ``mode`` if it is one of ``MODES``, else raise ConfigError."""
    if mode not in MODES:
        raise ConfigError(mismatch(where, "mode", f"be one of {list(MODES)}", repr(mode)))
    return str(mode)


def check_episode_length(episode_length: object, where: str, name: str = "episode_length") -> int:
    """Return ``episode_length`` if it is a positive int, else raise ConfigError."""
    expected = "be a positive int (the paper uses 150, Meta-World 500)"
    if isinstance(episode_length, bool) or not isinstance(episode_length, int | np.integer):
        raise ConfigError(mismatch(where, name, expected, repr(episode_length)))
    if episode_length <= 0:
        raise ConfigError(mismatch(where, name, expected, episode_length))
    return int(episode_length)


def resolve_horizons(
    episode_length: int | Mapping[str, int], benchmark: str, names: Sequence[str], where: str
) -> dict[str, int]:
    """Steps per episode of each task in ``names``, from one int or a per-task table.

    A table may name more tasks of ``benchmark`` than are built (so one table serves
    every subset) but must name each task in ``names``.
    """
    if not isinstance(episode_length, Mapping):
        length = check_episode_length(episode_length, where)
        return {name: length for name in names}
    allowed = task_names(benchmark)  # type: ignore[arg-type]
    unknown = [name for name in episode_length if name not in allowed]
    if unknown:
        raise ConfigError(
            mismatch(where, "episode_length", f"name only {benchmark} tasks", unknown)
        )
    missing = [name for name in names if name not in episode_length]
    if missing:
        raise ConfigError(
            mismatch(
                where,
                "episode_length",
                "give a horizon for every task built",
                f"none for {missing}",
            )
        )
    return {
        name: check_episode_length(episode_length[name], where, f"episode_length[{name!r}]")
        for name in names
    }


def check_seed(seed: object, where: str, name: str = "seed") -> int:
    """Return ``seed`` if it is a non-negative int (it seeds numpy), else raise ConfigError."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(mismatch(where, name, "be a non-negative int", repr(seed)))
    return int(seed)


def _env_dict(benchmark: str) -> Any:
    # Meta-World names each suite's task dict after it: env_dict.MT10_V3, env_dict.MT50_V3.
    return getattr(import_metaworld().env_dict, f"{benchmark}_V3")


def task_names(benchmark: Benchmark) -> list[str]:
    """Task names of ``benchmark`` in Meta-World's order (the order of the one-hot).

    >>> task_names("MT10")[:3]
    ['reach-v3', 'push-v3', 'pick-place-v3']
    """
    check_benchmark(benchmark, "task_names")
    return list(_env_dict(benchmark).keys())


def env_class(benchmark: str, name: str) -> type:
    """The Meta-World env class of task ``name``."""
    return _env_dict(benchmark)[name]


def resolve_tasks(benchmark: str, tasks: Sequence[str] | None, where: str) -> list[str]:
    """Validate a subset of task names and return it in the benchmark's order.

    ``None`` means every task. Columns always follow Meta-World's order, so a subset
    given in another order is reordered rather than rejected.
    """
    allowed = task_names(benchmark)  # type: ignore[arg-type]
    if tasks is None:
        return allowed
    if isinstance(tasks, str):
        raise ConfigError(
            mismatch(where, "tasks", "be a list of task names, not a single string", repr(tasks))
        )
    requested = list(tasks)
    if not requested:
        raise ConfigError(mismatch(where, "tasks", f"name at least one of {allowed}", requested))
    unknown = [name for name in requested if name not in allowed]
    if unknown:
        raise ConfigError(
            mismatch(where, "tasks", f"be names of {benchmark} tasks, one of {allowed}", unknown)
        )
    if len(set(requested)) != len(requested):
        raise ConfigError(mismatch(where, "tasks", "not repeat a task", requested))
    return [name for name in allowed if name in requested]


@functools.lru_cache(maxsize=4)
def benchmark_goals(benchmark: Benchmark, seed: int) -> dict[str, tuple[Task, ...]]:
    """Meta-World's 50 goal configurations per task for the benchmark seed ``seed``.

    These are exactly the goals of ``metaworld.MT10(seed=seed)`` (and of
    ``gym.make_vec("Meta-World/MT10", seed=seed)``), in generation order. Building
    them resets every env 50 times (about 5 s for MT10, 25 s for MT50), so the result
    is cached per process.
    """
    check_benchmark(benchmark, "benchmark_goals")
    metaworld = import_metaworld()
    built = getattr(metaworld, benchmark)(seed=seed)
    goals: dict[str, list[Task]] = {name: [] for name in built.train_classes}
    for task in built.train_tasks:
        goals[task.env_name].append(task)
    return {name: tuple(found) for name, found in goals.items()}


def conditioned_task(name: str, env: Any) -> Task:
    """A Task that sets ``env`` up for task ``name`` with the goal observable.

    Its ``rand_vec`` is a placeholder (the centre of the env's reset space): the
    conditioned mode unfreezes the random vector right after ``set_task``, so every
    reset draws a fresh one. Building it needs no benchmark, so conditioned envs
    start in a fraction of the time fixed ones do.
    """
    from metaworld.types import Task

    space = env._random_reset_space
    data = {
        "rand_vec": (np.asarray(space.low) + np.asarray(space.high)) / 2.0,
        "env_cls": type(env),
        # Meta-World's MT benchmarks show the goal (metaworld._MT_OVERRIDE).
        "partially_observable": False,
    }
    return Task(env_name=name, data=pickle.dumps(data))


def column_seed(
    seed: int, task_index: int, stream: int = 0, evaluation_index: int | None = None
) -> int:
    """Seed of one column: independent per (seed, task, stream[, evaluation]), stable under subsets.

    ``task_index`` is the task's position in the benchmark (not in a subset), so a
    task's random stream is the same whether it is built alone or with the others.
    ``stream`` separates training (0) from evaluation (1) draws; ``evaluation_index``
    gives every evaluation of a run goals of its own.
    """
    entropy = [seed, task_index, stream]
    if evaluation_index is not None:
        entropy.append(evaluation_index)
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])
