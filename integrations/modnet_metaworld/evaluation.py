"""``evaluate``: success rate and return per task, under the paper's or Meta-World's protocol.

Protocols:

- ``"paper"`` (Yang et al. 2020): deterministic actions, ``episodes_per_task`` episodes
  per task (3 by default) of ``episode_length`` steps (150, or a per-task table),
  played to the end; an episode is a success if any of its steps succeeded. A task
  with a fixed goal replays it; a task that draws a new goal at every reset draws
  fresh goals at every evaluation, from a stream seeded by ``(seed, task,
  evaluation_index)``, as the authors' evaluator drew new goals at every epoch.
- ``"metaworld"`` (Meta-World 3's ``metaworld.evaluation.evaluation``): one episode for
  each of the benchmark's 50 goals of every task (``episodes_per_task`` takes the
  first goals only), on Meta-World's 500-step horizon, each episode ending at its
  first success. Meta-World's own loop samples the goal of each episode with
  replacement among the same 50; playing each goal once has the same expectation
  and less variance, and equals it exactly when every goal is played once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from tqdm.auto import tqdm

from modnet.errors import ConfigError, ShapeError, mismatch

from .envs import column_modes, column_task_names, make_env
from .suites import (
    GOALS_PER_TASK,
    METAWORLD_HORIZON,
    PAPER_HORIZON,
    Benchmark,
    Mode,
    benchmark_goals,
    check_benchmark,
    check_mode,
    check_seed,
    resolve_horizons,
)

__all__ = ["PROTOCOLS", "EvaluationResult", "Predictor", "check_env_built_for", "evaluate"]

PROTOCOLS: tuple[str, ...] = ("paper", "metaworld")

# evaluate() reseeds the columns from this stream so evaluation goals (conditioned
# mode) never replay the training stream (0) of an env built with the same seed.
EVAL_STREAM = 1
DEFAULT_HORIZON = {"paper": PAPER_HORIZON, "metaworld": METAWORLD_HORIZON}


class Predictor(Protocol):
    """Anything with SB3's ``predict``: an SB3 model, a policy, ``ScriptedExpert``."""

    def predict(
        self, observation: np.ndarray, *, deterministic: bool = ...
    ) -> tuple[np.ndarray, Any]: ...


class EvaluationResult(NamedTuple):
    """What ``evaluate`` measured. Dicts are keyed by task name, in benchmark order."""

    success_rate: dict[str, float]
    """Fraction of episodes of each task with at least one successful step."""
    mean_return: dict[str, float]
    """Mean undiscounted episode return of each task."""
    mean_success: float
    """Mean of ``success_rate`` over tasks (the paper's "average success")."""
    mean_episode_return: float
    """Mean of ``mean_return`` over tasks."""
    episodes_per_task: int
    protocol: str
    reward_function_version: str
    """``"v1"`` or ``"v2"``: returns (and learning) differ between them; never mix."""
    benchmark: str
    mode: str
    episode_length: dict[str, int]
    """Steps per episode of each task."""
    seed: int
    evaluation_index: int
    """Which evaluation of the run this was: with ``seed``, it chose the fresh goals."""


def check_episodes(episodes_per_task: object, protocol: str, where: str) -> int:
    """``episodes_per_task`` as an int, or a ``ConfigError`` (at most 50 under ``"metaworld"``)."""
    limit = GOALS_PER_TASK if protocol == "metaworld" else None
    expected = f"be an int in [1, {limit}] (one episode per goal)" if limit else "be a positive int"
    if isinstance(episodes_per_task, bool) or not isinstance(episodes_per_task, int | np.integer):
        raise ConfigError(mismatch(where, "episodes_per_task", expected, repr(episodes_per_task)))
    if episodes_per_task < 1 or (limit is not None and episodes_per_task > limit):
        raise ConfigError(mismatch(where, "episodes_per_task", expected, episodes_per_task))
    return int(episodes_per_task)


def evaluate(
    model: Predictor,
    benchmark: Benchmark,
    mode: Mode,
    *,
    episodes_per_task: int | None = None,
    seed: int = 0,
    evaluation_index: int = 0,
    protocol: str = "paper",
    episode_length: int | Mapping[str, int] | None = None,
    progress_bar: bool = False,
    env: VecEnv | None = None,
    tasks: list[str] | None = None,
    reward_function_version: str | None = None,
) -> EvaluationResult:
    """Evaluate ``model`` with deterministic actions on every task of ``benchmark``.

    Args:
        model: anything with ``predict(obs [N, 39 + T], deterministic=True) -> (actions [N, 4], state)``.
        benchmark: ``"MT10"`` or ``"MT50"``.
        mode: ``"fixed"``, ``"conditioned"`` or ``"authors-fixed"`` (see ``make_env``);
            the ``"metaworld"`` protocol plays Meta-World's 50 goals whatever the mode.
        episodes_per_task: episodes per task; None means 3 (paper) or 50 (metaworld).
        seed: benchmark seed (the fixed goals and Meta-World's goal list; use the
            training env's seed) and the seed of the evaluation episodes.
        evaluation_index: which evaluation of the run this is (0, 1, 2...). Tasks whose
            goal is drawn at every reset get goals of their own at each index, the
            same for the same ``(seed, evaluation_index)``.
        protocol: ``"paper"`` or ``"metaworld"`` (see the module docstring).
        episode_length: steps per episode, one int or a table ``{task: steps}``; None
            means the env's own lengths when ``env`` is given (500 under the
            metaworld protocol), else 150 (paper) or 500 (metaworld).
        progress_bar: show a progress bar over episodes.
        env: a VecEnv built by ``make_env`` to reuse; None builds one and closes it
            after. A given env is left as it was found: each column's horizon,
            generators and goal sequence are restored, and the env is reset, so the
            episode that was running starts over on the same goal, and every later
            goal is the one the env would have drawn without the evaluation.
        tasks: subset of tasks to evaluate when ``env`` is None.
        reward_function_version: used when ``env`` is None (see ``make_env``).

    Returns:
        An ``EvaluationResult`` with per-task success and return and their means.
    """
    where = "evaluate"
    check_benchmark(benchmark, where)
    check_mode(mode, where)
    seed = check_seed(seed, where)
    evaluation_index = check_seed(evaluation_index, where, "evaluation_index")
    if protocol not in PROTOCOLS:
        raise ConfigError(
            mismatch(where, "protocol", f"be one of {list(PROTOCOLS)}", repr(protocol))
        )
    if not callable(getattr(model, "predict", None)):
        raise ConfigError(
            mismatch(
                where,
                "model",
                "have a predict(obs, deterministic=True) method",
                type(model).__name__,
            )
        )
    if episodes_per_task is None:
        episodes_per_task = GOALS_PER_TASK if protocol == "metaworld" else 3
    episodes = check_episodes(episodes_per_task, protocol, where)
    if episode_length is not None:
        # Checked before any env is built; that it covers every column, further down.
        named = list(episode_length) if isinstance(episode_length, Mapping) else []
        resolve_horizons(episode_length, benchmark, named, where)

    own_env = env is None
    if env is None:
        env = make_env(
            benchmark,
            mode,
            seed=seed,
            episode_length=DEFAULT_HORIZON[protocol] if episode_length is None else episode_length,
            tasks=tasks,
            reward_function_version=reward_function_version,
        )
    else:
        if tasks is not None or reward_function_version is not None:
            raise ConfigError(
                mismatch(
                    where,
                    "tasks and reward_function_version",
                    "be None when env is given (they are the env's)",
                    (tasks, reward_function_version),
                )
            )
        check_env_built_for(env, benchmark, mode, where)

    names = column_task_names(env, where)
    if episode_length is not None:
        horizons = resolve_horizons(episode_length, benchmark, names, where)
    elif protocol == "metaworld":
        horizons = dict.fromkeys(names, METAWORLD_HORIZON)
    else:
        horizons = dict(zip(names, env.get_attr("episode_length"), strict=True))
    version = str(env.get_attr("reward_function_version")[0])
    saved = [] if own_env else env.env_method("save_state")
    previous = [
        env.env_method(
            "configure_episode",
            episode_length=horizons[name],
            terminate_on_success=protocol == "metaworld",
            indices=[column],
        )[0]
        for column, name in enumerate(names)
    ]
    try:
        env.env_method("reseed_stream", seed, EVAL_STREAM, evaluation_index)
        if protocol == "metaworld":
            goals = benchmark_goals(benchmark, seed)
            for column, name in enumerate(names):
                env.env_method("queue_goals", goals[name][:episodes], indices=[column])
        successes, returns = _run_episodes(
            model, env, episodes, progress_bar=progress_bar, desc=f"{benchmark} {protocol}"
        )
    finally:
        if own_env:
            env.close()
        else:
            _give_back(env, previous, saved)

    success_rate = {name: float(np.mean(successes[column])) for column, name in enumerate(names)}
    mean_return = {name: float(np.mean(returns[column])) for column, name in enumerate(names)}
    return EvaluationResult(
        success_rate=success_rate,
        mean_return=mean_return,
        mean_success=float(np.mean(list(success_rate.values()))),
        mean_episode_return=float(np.mean(list(mean_return.values()))),
        episodes_per_task=episodes,
        protocol=protocol,
        reward_function_version=version,
        benchmark=benchmark,
        mode=mode,
        episode_length=horizons,
        seed=seed,
        evaluation_index=evaluation_index,
    )


def check_env_built_for(
    env: VecEnv, benchmark: str, mode: str, where: str, name: str = "env"
) -> None:
    """Refuse a VecEnv that ``make_env`` did not build for ``benchmark`` and ``mode``.

    The mode is compared column by column (each column's own ``"fixed"`` or
    ``"conditioned"``, as ``make_env`` chose it for ``mode``): an env built with another
    mode would otherwise play its own goals under ``mode``'s label. ``"authors-fixed"``
    is told apart from ``"fixed"`` or ``"conditioned"`` only where their columns differ
    (on MT50 every column of both is conditioned, so the two envs are the same).

    Raises:
        ConfigError: naming ``name``, what was expected and what the env was built for.
    """
    try:
        names = list(env.get_attr("mw_task_name"))
    except AttributeError as error:
        raise ConfigError(
            mismatch(
                where,
                name,
                "be a VecEnv built by modnet_metaworld.make_env",
                type(env).__name__,
            )
        ) from error
    built_for = set(env.get_attr("mw_benchmark"))
    if built_for != {benchmark}:
        raise ConfigError(
            mismatch(where, name, f"be built for benchmark {benchmark!r}", sorted(built_for))
        )
    expected = column_modes(benchmark, mode, names)
    built = dict(zip(names, env.get_attr("mw_mode"), strict=True))
    wrong = [f"{task}: {built[task]}" for task in names if built[task] != expected[task]]
    if wrong:
        shown = ", ".join(wrong[:3]) + (f" and {len(wrong) - 3} more" if len(wrong) > 3 else "")
        raise ConfigError(
            mismatch(
                where,
                name,
                f"be built for mode {mode!r} (make_env(..., mode={mode!r}))",
                f"columns built as {shown}",
            )
        )


def _give_back(env: VecEnv, previous: list[tuple[int, bool]], saved: list[Any]) -> None:
    """Restore each column's horizon and goal state, then reset the env.

    The reset is needed: a column stopped mid-episode past its restored horizon
    could not step. It starts the interrupted episodes over on their goals.
    """
    for column, ((length, terminate), state) in enumerate(zip(previous, saved, strict=True)):
        env.env_method(
            "configure_episode",
            episode_length=length,
            terminate_on_success=terminate,
            indices=[column],
        )
        env.env_method("restore_state", state, indices=[column])
    env.reset()


def _run_episodes(
    model: Predictor, env: VecEnv, episodes: int, *, progress_bar: bool, desc: str
) -> tuple[list[list[bool]], list[list[float]]]:
    """Step every column until each has finished ``episodes`` episodes.

    Columns that are done keep stepping (a VecEnv steps all columns together) and
    their extra episodes are discarded, as in Meta-World's evaluation loop.
    """
    num_columns = env.num_envs
    successes: list[list[bool]] = [[] for _ in range(num_columns)]
    returns: list[list[float]] = [[] for _ in range(num_columns)]
    running = np.zeros(num_columns, dtype=np.float64)
    obs = env.reset()
    with tqdm(
        total=num_columns * episodes, desc=desc, unit="episode", disable=not progress_bar
    ) as bar:
        while min(len(done) for done in successes) < episodes:
            actions, _ = model.predict(obs, deterministic=True)
            actions = np.asarray(actions)
            if actions.shape != (num_columns, *env.action_space.shape):
                raise ShapeError(
                    mismatch(
                        "evaluate",
                        "model.predict actions",
                        f"have shape {(num_columns, *env.action_space.shape)}",
                        actions.shape,
                    )
                )
            obs, rewards, dones, infos = env.step(actions)
            running += rewards
            for column in np.flatnonzero(dones):
                if len(successes[column]) < episodes:
                    successes[column].append(bool(infos[column]["is_success"]))
                    returns[column].append(float(running[column]))
                    bar.update(1)
                running[column] = 0.0
    return successes, returns
