"""ScriptedExpert: routing by one-hot, shapes and bad input."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("metaworld")

from metaworld.policies import ENV_POLICY_MAP  # noqa: E402

from modnet.errors import ConfigError, ShapeError  # noqa: E402
from modnet_metaworld import ScriptedExpert, task_names  # noqa: E402


def _obs(tasks: list[int], num_tasks: int = 10) -> np.ndarray:
    rng = np.random.default_rng(0)
    obs = np.zeros((len(tasks), 39 + num_tasks))
    obs[:, :39] = rng.uniform(-0.3, 0.9, size=(len(tasks), 39))
    obs[np.arange(len(tasks)), 39 + np.asarray(tasks)] = 1.0
    return obs


def test_each_row_goes_to_its_tasks_policy() -> None:
    expert = ScriptedExpert("MT10")
    obs = _obs([3, 0, 3, 9])
    actions, state = expert.predict(obs, deterministic=True)
    assert state is None and actions.shape == (4, 4) and actions.dtype == np.float32
    names = task_names("MT10")
    for row, task in zip(obs, [3, 0, 3, 9], strict=True):
        expected = np.clip(ENV_POLICY_MAP[names[task]]().get_action(row[:39]), -1, 1)
        np.testing.assert_allclose(expert.predict(row)[0], expected, rtol=1e-6)
    # Rows are independent: reordering rows reorders actions.
    np.testing.assert_allclose(expert.predict(obs[::-1])[0], actions[::-1])


def test_mt50_expert_reads_a_fifty_wide_one_hot() -> None:
    expert = ScriptedExpert("MT50")
    actions, _ = expert.predict(_obs([0, 49], num_tasks=50))
    assert actions.shape == (2, 4)


def test_bad_observations_are_rejected() -> None:
    expert = ScriptedExpert("MT10")
    with pytest.raises(
        ShapeError,
        match=r"ScriptedExpert.predict: observation must have shape \(batch, 49\), got \(2, 89\)",
    ):
        expert.predict(_obs([0, 1], num_tasks=50))
    bad = _obs([0, 1])
    bad[0, 40] = 1.0  # two tasks at once
    with pytest.raises(ShapeError, match=r"observation must end with a task one-hot of width 10"):
        expert.predict(bad)
    with pytest.raises(ConfigError, match=r"ScriptedExpert: benchmark must be one of"):
        ScriptedExpert("MT25")  # type: ignore[arg-type]
