"""Names, order, constants and bad input: nothing here builds a benchmark."""

from __future__ import annotations

import pytest

pytest.importorskip("metaworld")

import metaworld  # noqa: E402
from metaworld.sawyer_xyz_env import SawyerXYZEnv  # noqa: E402

from modnet.errors import ConfigError  # noqa: E402
from modnet_metaworld import (  # noqa: E402
    GOALS_PER_TASK,
    METAWORLD_HORIZON,
    PAPER_HORIZON,
    evaluate,
    make_env,
    task_names,
)
from modnet_metaworld.suites import column_seed, resolve_tasks  # noqa: E402

# Meta-World's MT10, as listed in its documentation and in REFERENCE.md.
MT10_ORDER = [
    "reach-v3",
    "push-v3",
    "pick-place-v3",
    "door-open-v3",
    "drawer-open-v3",
    "drawer-close-v3",
    "button-press-topdown-v3",
    "peg-insert-side-v3",
    "window-open-v3",
    "window-close-v3",
]


def test_mt10_order_is_metaworlds() -> None:
    assert task_names("MT10") == MT10_ORDER
    assert task_names("MT10") == list(metaworld.env_dict.MT10_V3_ARGS_KWARGS)


def test_mt50_names_are_all_fifty_v3_tasks_in_metaworld_order() -> None:
    names = task_names("MT50")
    assert len(names) == 50 == len(set(names))
    assert names == list(metaworld.env_dict.MT50_V3)
    assert set(MT10_ORDER) < set(names)
    # MT50's one-hot index of a task is its position in Meta-World's task_id order.
    ids = [metaworld.env_dict.MT50_V3_ARGS_KWARGS[name]["kwargs"]["task_id"] for name in names]
    assert ids == list(range(50))


def test_constants_match_metaworld() -> None:
    assert SawyerXYZEnv.max_path_length == METAWORLD_HORIZON == 500
    assert metaworld._N_GOALS == GOALS_PER_TASK == 50
    assert PAPER_HORIZON == 150


def test_task_subsets_follow_the_benchmark_order() -> None:
    assert resolve_tasks("MT10", ["window-close-v3", "reach-v3"], "t") == [
        "reach-v3",
        "window-close-v3",
    ]
    assert resolve_tasks("MT10", None, "t") == MT10_ORDER


def test_column_seeds_differ_per_task_seed_stream_and_evaluation() -> None:
    seeds = {column_seed(s, i, k) for s in range(3) for i in range(50) for k in range(2)}
    assert len(seeds) == 3 * 50 * 2
    evaluations = {column_seed(s, i, 1, n) for s in range(3) for i in range(50) for n in range(20)}
    training = {column_seed(s, i, 0) for s in range(3) for i in range(50)}
    assert len(evaluations) == 3 * 50 * 20 and not evaluations & training


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"benchmark": "MT45"},
            r"make_env: benchmark must be one of \['MT10', 'MT50'\], got 'MT45'",
        ),
        (
            {"mode": "random"},
            r"make_env: mode must be one of \['fixed', 'conditioned', 'authors-fixed'\], "
            r"got 'random'",
        ),
        (
            {"episode_length": {"reach-v3": 150, "fly-v3": 150}},
            r"make_env: episode_length must name only MT10 tasks, got \['fly-v3'\]",
        ),
        (
            {"episode_length": {"reach-v3": 150}, "tasks": ["reach-v3", "push-v3"]},
            r"make_env: episode_length must give a horizon for every task built, "
            r"got none for \['push-v3'\]",
        ),
        (
            {"episode_length": {"reach-v3": 0}, "tasks": ["reach-v3"]},
            r"make_env: episode_length\['reach-v3'\] must be a positive int .*got 0",
        ),
        ({"episode_length": 0}, r"make_env: episode_length must be a positive int .*got 0"),
        ({"episode_length": -5}, r"episode_length must be a positive int .*got -5"),
        ({"episode_length": 1.5}, r"episode_length must be a positive int .*got 1.5"),
        (
            {"tasks": ["reach-v3", "fly-v3"]},
            r"tasks must be names of MT10 tasks, one of \['reach-v3', .*got \['fly-v3'\]",
        ),
        ({"tasks": "reach-v3"}, r"tasks must be a list of task names"),
        ({"tasks": []}, r"tasks must name at least one of"),
        ({"tasks": ["reach-v3", "reach-v3"]}, r"tasks must not repeat a task"),
        (
            {"reward_function_version": "v3"},
            r"reward_function_version must be one of \[None, 'v1', 'v2'\], got 'v3'",
        ),
    ],
)
def test_make_env_rejects_bad_input_before_building(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        make_env(**kwargs)


def test_unknown_mt50_task_lists_mt50_names() -> None:
    with pytest.raises(ConfigError, match=r"names of MT50 tasks, one of \['assembly-v3'"):
        make_env("MT50", "conditioned", tasks=["reach-v2"])


def test_task_names_rejects_unknown_benchmark() -> None:
    with pytest.raises(
        ConfigError, match=r"task_names: benchmark must be one of \['MT10', 'MT50'\], got 'ML10'"
    ):
        task_names("ML10")  # type: ignore[arg-type]


class _Zero:
    def predict(self, obs, deterministic=True):  # noqa: ANN001, ANN201
        raise AssertionError("never reached: input is rejected first")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"benchmark": "MT100"}, r"evaluate: benchmark must be one of \['MT10', 'MT50'\]"),
        ({"mode": "both"}, r"evaluate: mode must be one of \['fixed', 'conditioned', .*got 'both'"),
        (
            {"evaluation_index": -1},
            r"evaluate: evaluation_index must be a non-negative int, got -1",
        ),
        (
            {"evaluation_index": 1.0},
            r"evaluate: evaluation_index must be a non-negative int, got 1.0",
        ),
        (
            {"episode_length": {"reach-v3": "long"}},
            r"evaluate: episode_length\['reach-v3'\] must be a positive int .*got 'long'",
        ),
        (
            {"protocol": "garage"},
            r"evaluate: protocol must be one of \['paper', 'metaworld'\], got 'garage'",
        ),
        ({"episodes_per_task": 0}, r"evaluate: episodes_per_task must be a positive int, got 0"),
        (
            {"protocol": "metaworld", "episodes_per_task": 51},
            r"episodes_per_task must be an int in \[1, 50\].*got 51",
        ),
        ({"episode_length": 0}, r"evaluate: episode_length must be a positive int .*got 0"),
    ],
)
def test_evaluate_rejects_bad_input_before_building(kwargs: dict, match: str) -> None:
    args = {"benchmark": "MT10", "mode": "fixed"} | kwargs
    with pytest.raises(ConfigError, match=match):
        evaluate(_Zero(), args.pop("benchmark"), args.pop("mode"), **args)


def test_evaluate_rejects_a_model_without_predict() -> None:
    with pytest.raises(
        ConfigError,
        match=r"evaluate: model must have a predict\(obs, deterministic=True\) method, got object",
    ):
        evaluate(object(), "MT10", "fixed")  # type: ignore[arg-type]
