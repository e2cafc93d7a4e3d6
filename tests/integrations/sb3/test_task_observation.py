"""The one reader of the task one-hot: split (torch), host checks (numpy), declared T."""

from __future__ import annotations

import pytest

pytest.importorskip("stable_baselines3")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnvWrapper  # noqa: E402

from modnet.errors import ConfigError, ShapeError  # noqa: E402
from modnet_sb3.task_observation import (  # noqa: E402
    check_observation_space,
    check_task_observations,
    declared_num_tasks,
    state_and_task_ids,
)
from modnet_sb3.testing import PointReachEnv, make_point_reach_vec_env  # noqa: E402

T, S = 3, 2


def _obs(tasks=(0, 1, 2)) -> np.ndarray:
    rng = np.random.default_rng(0)
    state = rng.normal(size=(len(tasks), S))
    return np.concatenate([state, np.eye(T)[list(tasks)]], axis=1).astype(np.float32)


def test_split_gives_float_state_and_int64_ids() -> None:
    obs = torch.from_numpy(_obs((2, 0, 1))).double()
    state, task = state_and_task_ids(obs, T)
    assert state.dtype == torch.float32 and state.shape == (3, S)
    torch.testing.assert_close(state, obs[:, :S].float())
    assert task.dtype == torch.int64
    torch.testing.assert_close(task, torch.tensor([2, 0, 1]))


def test_good_observations_pass_batched_or_single() -> None:
    check_task_observations(_obs(), T, where="w", distinct=True)
    check_task_observations(_obs()[1], T, where="w")
    check_task_observations(_obs((1, 1)), T, where="w", distinct=True)  # E != T: not checked


@pytest.mark.parametrize(
    ("row", "column", "value", "error"),
    [
        (
            1,
            0,
            np.nan,
            r"w: the observation of env column 1 must be finite, got nan at state entry 0",
        ),
        (2, S + 1, np.inf, r"env column 2 must be finite, got inf at one-hot entry 1"),
        (
            0,
            S + 0,
            0.5,
            r"w: the last 3 observation columns must be a task one-hot .*in env column 0",
        ),
        (2, S + 0, 1.0, r"last 3 observation columns must be a task one-hot .*\[1.0, 0.0, 1.0\]"),
    ],
)
def test_bad_values_are_refused_naming_the_env_column(row, column, value, error) -> None:
    obs = _obs()
    obs[row, column] = value
    with pytest.raises(ShapeError, match=error):
        check_task_observations(obs, T, where="w")


def test_shapes_and_distinct_tasks() -> None:
    with pytest.raises(ShapeError, match=r"w: observations must have shape \(envs, state \+ 3\)"):
        check_task_observations(np.zeros((2, 3)), T, where="w")
    with pytest.raises(
        ShapeError, match=r"env columns must hold one distinct task each.*\[0, 0, 2\]"
    ):
        check_task_observations(_obs((0, 0, 2)), T, where="w", distinct=True)
    check_task_observations(_obs((0, 0, 2)), T, where="w")  # repeats allowed without distinct


def test_observation_space_must_hold_the_one_hot() -> None:
    box = spaces.Box(0.0, 1.0, shape=(S + T,), dtype=np.float32)
    assert check_observation_space(box, np.int64(T), where="w") == T
    with pytest.raises(ConfigError, match=r"w: num_tasks must be an int >= 1, got True"):
        check_observation_space(box, True, where="w")
    with pytest.raises(ConfigError, match=r"observation width must hold a state .*got 5"):
        check_observation_space(box, 5, where="w")
    with pytest.raises(ConfigError, match=r"w: observation_space must be a flat Box"):
        check_observation_space(spaces.Discrete(3), T, where="w")
    shifted = spaces.Box(0.5, 1.0, shape=(S + T,), dtype=np.float32)
    with pytest.raises(ConfigError, match=r"bounds of the last 3 observation columns"):
        check_observation_space(shifted, T, where="w")


class _Declares(VecEnvWrapper):
    """A VecEnv wrapper that declares its own one-hot width (as one that slices it would)."""

    def __init__(self, venv, num_tasks) -> None:
        super().__init__(venv)
        self.num_tasks = num_tasks

    def reset(self):
        return self.venv.reset()

    def step_wait(self):
        return self.venv.step_wait()


def test_declared_num_tasks_reads_the_vec_env_then_its_envs() -> None:
    env = make_point_reach_vec_env(T)
    assert declared_num_tasks(env, where="w") == T  # each PointReachEnv, under Monitor
    single = DummyVecEnv([lambda: PointReachEnv(1, 4)])
    assert declared_num_tasks(single, where="w") == 4
    assert declared_num_tasks(_Declares(env, 2), where="w") == 2  # the wrapper's own wins
    assert declared_num_tasks(None, where="w") is None
    plain = DummyVecEnv([lambda: _NoTasks()])
    assert declared_num_tasks(plain, where="w") is None


def test_declared_num_tasks_that_disagree_or_are_bad_are_refused() -> None:
    mixed = DummyVecEnv([lambda: PointReachEnv(0, 2), lambda: PointReachEnv(0, 3)])
    with pytest.raises(
        ConfigError, match=r"w: the envs' num_tasks attributes must agree, got \[2, 3\]"
    ):
        declared_num_tasks(mixed, where="w")
    with pytest.raises(ConfigError, match=r"w: num_tasks must be an int >= 1, got 0"):
        declared_num_tasks(_Declares(make_point_reach_vec_env(T), 0), where="w")


class _NoTasks(PointReachEnv):
    def __init__(self) -> None:
        super().__init__(0, T)
        del self.num_tasks


def test_names_of_0_1_still_work_with_a_deprecation_warning() -> None:
    import modnet_sb3
    from modnet_sb3 import testing

    obs = torch.tensor([[0.5, -1.0, 0.0, 1.0, 0.0]])
    with pytest.warns(DeprecationWarning, match="use state_and_task_ids"):
        state, one_hot = modnet_sb3.split_observation(obs, 3)
    assert torch.equal(state, obs[:, :2]) and torch.equal(one_hot, obs[:, 2:])
    with pytest.warns(DeprecationWarning, match="use check_task_observations"):
        with pytest.raises(ShapeError, match="one-hot"):
            modnet_sb3.check_task_columns(np.array([[0.5, 1.0, 1.0, 0.0]]), 3, where="t")
    with pytest.warns(DeprecationWarning, match="moved to modnet_sb3.testing"):
        assert modnet_sb3.PointReachEnv is testing.PointReachEnv
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        modnet_sb3.nothing  # noqa: B018


def test_state_and_task_ids_refuses_what_it_cannot_split() -> None:
    with pytest.raises(
        ShapeError, match=r"state_and_task_ids: obs must be a torch.Tensor, got ndarray"
    ):
        state_and_task_ids(np.zeros((2, 5)), 3)
    with pytest.raises(
        ConfigError, match=r"state_and_task_ids: num_tasks must be an int >= 1, got 0"
    ):
        state_and_task_ids(torch.zeros(2, 5), 0)
    with pytest.raises(
        ShapeError, match=r"obs must have shape \(batch, state \+ 5\), got \(2, 5\)"
    ):
        state_and_task_ids(torch.zeros(2, 5), 5)
