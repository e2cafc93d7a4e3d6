"""The authors' setup task by task: per-task horizons and the authors-fixed mode."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

pytest.importorskip("metaworld")

from stable_baselines3.common.vec_env import VecEnv  # noqa: E402

from modnet_metaworld import (  # noqa: E402
    AUTHORS_LONG_HORIZON_TASKS,
    ScriptedExpert,
    authors_horizons,
    authors_random_in_fixed,
    evaluate,
    make_env,
    task_names,
)

GOAL = slice(36, 39)
# One long (200-step) and one short task of the authors' MT50, in Meta-World's order.
LONG_AND_SHORT = ["assembly-v3", "reach-v3"]


@pytest.fixture(scope="module")
def mt50_authors() -> Iterator[VecEnv]:
    # MT50 authors-fixed draws every goal (no goal list to build), so it starts fast.
    env = make_env(
        "MT50", "authors-fixed", tasks=LONG_AND_SHORT, episode_length=authors_horizons("MT50")
    )
    yield env
    env.close()


def test_the_authors_horizons_are_200_for_nine_mt50_tasks_and_150_for_the_rest() -> None:
    mt50 = authors_horizons("MT50")
    assert list(mt50) == task_names("MT50")
    assert sorted(name for name, steps in mt50.items() if steps == 200) == sorted(
        AUTHORS_LONG_HORIZON_TASKS
    )
    assert len(AUTHORS_LONG_HORIZON_TASKS) == 9
    assert set(mt50.values()) == {150, 200}
    assert authors_horizons("MT10") == dict.fromkeys(task_names("MT10"), 150)


def test_which_tasks_the_authors_fixed_runs_randomised() -> None:
    assert authors_random_in_fixed("MT10") == ["button-press-topdown-v3"]
    assert authors_random_in_fixed("MT50") == task_names("MT50")


def test_each_column_ends_its_episodes_at_its_own_horizon(mt50_authors: VecEnv) -> None:
    env = mt50_authors
    assert env.get_attr("episode_length") == [200, 150]
    env.reset()
    ends: dict[int, list[int]] = {0: [], 1: []}
    for step in range(1, 301):
        _, _, dones, _ = env.step(np.zeros((2, 4)))
        for column in np.flatnonzero(dones):
            ends[int(column)].append(step)
    assert ends == {0: [200], 1: [150, 300]}


def test_evaluate_plays_each_task_for_its_own_horizon(mt50_authors: VecEnv) -> None:
    expert = ScriptedExpert("MT50")
    result = evaluate(expert, "MT50", "authors-fixed", episodes_per_task=1, env=mt50_authors)
    assert result.episode_length == {"assembly-v3": 200, "reach-v3": 150}
    shorter = evaluate(
        expert,
        "MT50",
        "authors-fixed",
        episodes_per_task=1,
        env=mt50_authors,
        episode_length={"assembly-v3": 3, "reach-v3": 4, "push-v3": 5},  # a wider table is fine
    )
    assert shorter.episode_length == {"assembly-v3": 3, "reach-v3": 4}
    assert mt50_authors.get_attr("episode_length") == [200, 150]  # given back


def test_authors_fixed_on_mt50_draws_every_goal_afresh(mt50_authors: VecEnv) -> None:
    assert mt50_authors.get_attr("randomises_goal") == [True, True]
    goals = np.stack([mt50_authors.reset()[:, GOAL].copy() for _ in range(3)])
    for column in range(2):
        assert len(np.unique(goals[:, column].round(6), axis=0)) == 3


def test_authors_fixed_on_mt10_randomises_button_press_topdown_only() -> None:
    env = make_env("MT10", "authors-fixed", tasks=["reach-v3", "button-press-topdown-v3"])
    goals = np.stack([env.reset()[:, GOAL].copy() for _ in range(3)])
    randomises = env.get_attr("randomises_goal")
    env.close()
    assert randomises == [False, True]
    assert len(np.unique(goals[:, 0].round(6), axis=0)) == 1  # reach keeps one goal
    assert len(np.unique(goals[:, 1].round(6), axis=0)) == 3  # button-press-topdown does not
