"""The protocol of a run, read off its env: what a result needs beside it to be compared.

Success rates from runs with different horizons, goal sampling, reward versions or
Meta-World releases are not comparable, so every place that reports a result states
them. ``protocol_record`` reads them from the env itself (not from the settings that
built it), and ``describe_protocol`` words them for a table.
"""

from __future__ import annotations

from collections import Counter
from importlib import metadata
from typing import Any

from stable_baselines3.common.vec_env import VecEnv

from modnet.errors import ConfigError, mismatch

from .envs import column_task_names
from .evaluation import PROTOCOLS
from .suites import GOALS_PER_TASK, METAWORLD_HORIZON

__all__ = ["describe_protocol", "protocol_record"]


def protocol_record(
    env: VecEnv, mode: str, *, episodes_per_task: int, evaluation_protocol: str = "paper"
) -> dict[str, Any]:
    """The protocol of runs on ``env`` (built by ``make_env`` with ``mode``), JSON-ready.

    Keys: ``metaworld_version``, ``reward_function_version``, ``mode``, ``horizons``
    (steps per episode of each task), ``randomised_tasks`` (tasks that draw a new goal
    at every reset), ``evaluation_protocol``, ``evaluation_goals`` (in words) and
    ``evaluation_episodes_per_task``.
    """
    where = "protocol_record"
    if evaluation_protocol not in PROTOCOLS:
        raise ConfigError(
            mismatch(
                where,
                "evaluation_protocol",
                f"be one of {list(PROTOCOLS)}",
                repr(evaluation_protocol),
            )
        )
    names = column_task_names(env, where)
    randomised = [
        name for name, fresh in zip(names, env.get_attr("randomises_goal"), strict=True) if fresh
    ]
    if evaluation_protocol == "metaworld":
        goals = (
            f"Meta-World's goal list for the seed (the first {episodes_per_task} of "
            f"{GOALS_PER_TASK} per task), the same at every evaluation, "
            f"{METAWORLD_HORIZON}-step episodes ending at the first success"
        )
    else:
        fresh = "fresh goals at every evaluation, drawn from (seed, evaluation index)"
        goals = (
            "each task's fixed goal, the same at every evaluation"
            if not randomised
            else f"{fresh}, for every task"
            if len(randomised) == len(names)
            else f"{fresh}, for the randomised tasks; the fixed goal for the others"
        )
    return {
        "metaworld_version": metadata.version("metaworld"),
        "reward_function_version": str(env.get_attr("reward_function_version")[0]),
        "mode": mode,
        "horizons": dict(zip(names, (int(n) for n in env.get_attr("episode_length")), strict=True)),
        "randomised_tasks": randomised,
        "evaluation_protocol": evaluation_protocol,
        "evaluation_goals": goals,
        "evaluation_episodes_per_task": int(episodes_per_task),
    }


def describe_protocol(record: dict[str, Any]) -> str:
    """Markdown lines stating a ``protocol_record``, for a table's footnote."""
    horizons: dict[str, int] = record["horizons"]
    counts = Counter(horizons.values())
    usual = max(counts, key=lambda steps: (counts[steps], -steps))  # a tie: the shorter
    by_length: dict[int, list[str]] = {}
    for name, steps in horizons.items():
        if steps != usual:
            by_length.setdefault(steps, []).append(name)
    others = [f"{steps} for {', '.join(names)}" for steps, names in by_length.items()]
    randomised = record["randomised_tasks"]
    if not randomised:
        goals = "none (every task keeps one goal)"
    elif len(randomised) == len(horizons):
        goals = "all tasks"
    else:
        goals = ", ".join(randomised)
    lines = [
        f"- Meta-World {record['metaworld_version']}, reward {record['reward_function_version']}, "
        f"mode `{record['mode']}`",
        f"- horizons: {usual} steps" + (f"; {'; '.join(others)}" if others else ""),
        f"- tasks drawing a new goal at every reset: {goals}",
        f"- evaluation (`{record['evaluation_protocol']}`): "
        f"{record['evaluation_episodes_per_task']} deterministic episodes per task; "
        f"{record['evaluation_goals']}",
    ]
    return "\n".join(lines) + "\n"
