"""TaskBalancedReplayBuffer: exact per-task counts in every batch, SB3's timeout rule."""

from __future__ import annotations

import pytest

pytest.importorskip("stable_baselines3")

import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3.common.buffers import ReplayBuffer  # noqa: E402

from modnet.errors import ConfigError, ShapeError  # noqa: E402
from modnet_sb3.buffers import TaskBalancedReplayBuffer  # noqa: E402

T, S, A = 4, 3, 2
OBS_SPACE = spaces.Box(-np.inf, np.inf, shape=(S + T,), dtype=np.float32)
ACT_SPACE = spaces.Box(-1.0, 1.0, shape=(A,), dtype=np.float32)


def _obs(rng: np.random.Generator, tasks: np.ndarray | None = None) -> np.ndarray:
    tasks = np.arange(T) if tasks is None else tasks
    return np.concatenate([rng.normal(size=(T, S)), np.eye(T)[tasks]], axis=1).astype(np.float32)


def _fill(buffer: ReplayBuffer, steps: int, rng: np.random.Generator, **info) -> None:
    for _ in range(steps):
        buffer.add(
            _obs(rng),
            _obs(rng),
            rng.uniform(-1, 1, size=(T, A)).astype(np.float32),
            rng.normal(size=T).astype(np.float32),
            np.zeros(T, dtype=np.float32),
            [dict(info) for _ in range(T)],
        )


@pytest.mark.parametrize("optimize_memory_usage", [False, True])
def test_every_batch_holds_batch_size_over_T_of_each_task(optimize_memory_usage: bool) -> None:
    rng = np.random.default_rng(0)
    buffer = TaskBalancedReplayBuffer(
        40,
        OBS_SPACE,
        ACT_SPACE,
        device="cpu",
        n_envs=T,
        optimize_memory_usage=optimize_memory_usage,
        handle_timeout_termination=not optimize_memory_usage,
    )
    _fill(buffer, 25, rng)  # 25 > 40 // 4 slots per column: the buffer has wrapped
    assert buffer.full
    for _ in range(20):
        batch = buffer.sample(32)
        tasks = batch.observations[:, -T:].argmax(1).numpy()
        np.testing.assert_array_equal(np.bincount(tasks, minlength=T), [8] * T)
        # Next observations come from the same env column, hence the same task.
        np.testing.assert_array_equal(batch.next_observations[:, -T:].argmax(1).numpy(), tasks)


def test_sb3_default_buffer_is_not_balanced() -> None:
    # The reason this buffer exists: the uniform env-column draw gives uneven counts.
    rng = np.random.default_rng(0)
    buffer = ReplayBuffer(40, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T)
    _fill(buffer, 10, rng)
    counts = [
        np.bincount(buffer.sample(32).observations[:, -T:].argmax(1).numpy(), minlength=T)
        for _ in range(20)
    ]
    assert any((c != 8).any() for c in counts)


def test_samples_are_the_stored_transitions() -> None:
    rng = np.random.default_rng(1)
    buffer = TaskBalancedReplayBuffer(8, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T)
    _fill(buffer, 2, rng)
    batch = buffer.sample(8)
    for i in range(8):
        obs = batch.observations[i].numpy()
        col = int(obs[-T:].argmax())
        row = [r for r in range(2) if np.array_equal(buffer.observations[r, col], obs)]
        assert len(row) == 1
        r = row[0]
        np.testing.assert_array_equal(batch.actions[i].numpy(), buffer.actions[r, col])
        assert batch.rewards[i, 0].item() == buffer.rewards[r, col]


def test_timeouts_are_not_terminal_but_real_terminations_are() -> None:
    rng = np.random.default_rng(2)
    buffer = TaskBalancedReplayBuffer(4, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T)
    dones = np.ones(T, dtype=np.float32)
    infos = [{"TimeLimit.truncated": True}, {}, {"TimeLimit.truncated": True}, {}]
    buffer.add(_obs(rng), _obs(rng), np.zeros((T, A)), np.zeros(T), dones, infos)
    batch = buffer.sample(4 * T)
    tasks = batch.observations[:, -T:].argmax(1).numpy()
    expected = np.where(np.isin(tasks, [0, 2]), 0.0, 1.0)
    np.testing.assert_array_equal(batch.dones[:, 0].numpy(), expected)


def test_batch_size_not_multiple_of_tasks_is_refused() -> None:
    rng = np.random.default_rng(0)
    buffer = TaskBalancedReplayBuffer(8, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T)
    _fill(buffer, 2, rng)
    with pytest.raises(
        ConfigError, match=r"batch_size must be a multiple of the number of tasks \(4\), got 30"
    ):
        buffer.sample(30)


def test_empty_buffer_is_refused() -> None:
    buffer = TaskBalancedReplayBuffer(8, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T)
    with pytest.raises(ShapeError, match="the buffer must hold data"):
        buffer.sample(8)


def test_columns_must_hold_distinct_task_one_hots() -> None:
    rng = np.random.default_rng(0)
    buffer = TaskBalancedReplayBuffer(8, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T)
    args = (np.zeros((T, A)), np.zeros(T), np.zeros(T), [{}] * T)
    with pytest.raises(ShapeError, match="env columns must hold one distinct task each"):
        buffer.add(_obs(rng, np.array([0, 0, 2, 3])), _obs(rng), *args)
    bad = _obs(rng)
    bad[:, -T:] *= 0.5
    with pytest.raises(ShapeError, match="last 4 observation columns must be a task one-hot"):
        buffer.add(bad, _obs(rng), *args)


def test_non_finite_observations_and_next_observations_are_refused() -> None:
    rng = np.random.default_rng(0)
    buffer = TaskBalancedReplayBuffer(8, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T)
    args = (np.zeros((T, A)), np.zeros(T), np.zeros(T), [{}] * T)
    bad = _obs(rng)
    bad[2, 1] = np.nan
    with pytest.raises(
        ShapeError,
        match=r"TaskBalancedReplayBuffer.add: the observation of env column 2 must be finite, "
        r"got nan at state entry 1",
    ):
        buffer.add(bad, _obs(rng), *args)
    # The next observation too: at an episode's end it is one no predict call has seen.
    with pytest.raises(ShapeError, match=r"env column 2 must be finite, got nan"):
        buffer.add(_obs(rng), bad, *args)
    assert buffer.pos == 0  # nothing was stored
    unchecked = TaskBalancedReplayBuffer(
        8, OBS_SPACE, ACT_SPACE, device="cpu", n_envs=T, check_one_hot=False
    )
    unchecked.add(bad, bad, *args)
    assert unchecked.pos == 1


def test_observation_width_must_hold_the_one_hot() -> None:
    narrow = spaces.Box(-1.0, 1.0, shape=(T,), dtype=np.float32)
    with pytest.raises(
        ConfigError,
        match=r"TaskBalancedReplayBuffer: observation width must hold a state and the "
        r"4-column task one-hot \(be > num_tasks=4\), got 4",
    ):
        TaskBalancedReplayBuffer(8, narrow, ACT_SPACE, device="cpu", n_envs=T)
