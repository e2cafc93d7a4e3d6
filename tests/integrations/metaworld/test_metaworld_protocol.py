"""protocol_record reads a run's protocol off its env; describe_protocol words it."""

from __future__ import annotations

from importlib import metadata

import pytest

pytest.importorskip("metaworld")

from modnet.errors import ConfigError  # noqa: E402
from modnet_metaworld import (  # noqa: E402
    authors_horizons,
    describe_protocol,
    make_env,
    protocol_record,
)


def test_the_record_states_what_the_env_does() -> None:
    env = make_env(
        "MT50",
        "authors-fixed",
        tasks=["assembly-v3", "reach-v3"],
        episode_length=authors_horizons("MT50"),
        reward_function_version="v1",
    )
    record = protocol_record(env, "authors-fixed", episodes_per_task=3)
    env.close()
    assert record == {
        "metaworld_version": metadata.version("metaworld"),
        "reward_function_version": "v1",
        "mode": "authors-fixed",
        "horizons": {"assembly-v3": 200, "reach-v3": 150},
        "randomised_tasks": ["assembly-v3", "reach-v3"],
        "evaluation_protocol": "paper",
        "evaluation_goals": "fresh goals at every evaluation, drawn from (seed, evaluation "
        "index), for every task",
        "evaluation_episodes_per_task": 3,
    }
    text = describe_protocol(record)
    assert f"- Meta-World {record['metaworld_version']}, reward v1, mode `authors-fixed`" in text
    assert "- horizons: 150 steps; 200 for assembly-v3\n" in text
    assert "- tasks drawing a new goal at every reset: all tasks\n" in text
    assert "- evaluation (`paper`): 3 deterministic episodes per task; fresh goals" in text


def test_mixed_fixed_and_metaworld_goals_are_worded() -> None:
    env = make_env("MT10", "authors-fixed", tasks=["reach-v3", "button-press-topdown-v3"])
    mixed = protocol_record(env, "authors-fixed", episodes_per_task=1)
    listed = protocol_record(env, "fixed", episodes_per_task=10, evaluation_protocol="metaworld")
    env.close()
    assert mixed["randomised_tasks"] == ["button-press-topdown-v3"]
    assert mixed["evaluation_goals"].endswith(
        "for the randomised tasks; the fixed goal for the others"
    )
    assert "reset: button-press-topdown-v3\n" in describe_protocol(mixed)
    assert "- horizons: 150 steps\n" in describe_protocol(mixed)
    assert listed["evaluation_goals"].startswith(
        "Meta-World's goal list for the seed (the first 10 of 50 per task)"
    )


def test_an_unknown_evaluation_protocol_is_refused() -> None:
    with pytest.raises(
        ConfigError,
        match=r"protocol_record: evaluation_protocol must be one of \['paper', 'metaworld'\], "
        r"got 'garage'",
    ):
        protocol_record(object(), "fixed", episodes_per_task=1, evaluation_protocol="garage")  # type: ignore[arg-type]
