"""make_env(workers=N): columns stepped in worker processes give the transitions of one process."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("metaworld")

from modnet.errors import ConfigError  # noqa: E402
from modnet_metaworld import make_env  # noqa: E402
from modnet_metaworld.workers import WorkerVecEnv, split_columns  # noqa: E402

THREE = ["reach-v3", "push-v3", "window-open-v3"]


def rollout(workers: int, steps: int = 120) -> list:
    """Seeded random actions on 3 conditioned tasks with 50-step episodes (two auto-resets)."""
    # fork: the workers start without importing Meta-World again (seconds each otherwise).
    env = make_env(
        "MT10", "conditioned", seed=3, episode_length=50, tasks=THREE, workers=workers,
        vec_env_kwargs={"start_method": "fork"} if workers > 1 else None,
    )  # fmt: skip
    try:
        env.seed(7)
        record = [env.reset()]
        rng = np.random.default_rng(0)
        for _ in range(steps):
            actions = rng.uniform(-1, 1, size=(env.num_envs, 4)).astype(np.float32)
            obs, rewards, dones, infos = env.step(actions)
            ends = [
                (i, info["is_success"], info["terminal_observation"])
                for i, info in enumerate(infos)
                if "terminal_observation" in info
            ]
            record.append((obs, rewards, dones, ends))
        record.append(env.get_attr("mw_task_name"))
        record.append(env.env_method("save_state", indices=[2, 0]))
        return record
    finally:
        env.close()


def assert_same(a, b) -> None:
    if isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    else:
        assert a == b


@pytest.mark.slow
def test_two_workers_give_the_transitions_of_one_process() -> None:
    one, two = rollout(1), rollout(2)
    assert sum(len(step[3]) for step in one[1:-2]) == 2 * 3  # episodes ended and reset
    assert one[-2] == THREE
    assert_same(one, two)


def test_split_columns_and_refusals() -> None:
    assert split_columns(5, 2) == [[0, 1, 2], [3, 4]]
    assert split_columns(10, 4) == [[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]
    with pytest.raises(ConfigError, match=r"make_env: workers must be an int >= 1, got 0"):
        make_env("MT10", "conditioned", tasks=THREE, workers=0)
    with pytest.raises(ConfigError, match=r"WorkerVecEnv: workers must be an int in \[1, 2\]"):
        WorkerVecEnv([lambda: None, lambda: None], workers=3)


@pytest.mark.parametrize(
    ("cores", "threads", "suite", "expected"),
    [
        (16, 1, "MT10", 10),
        (16, 1, "MT50", 15),
        (16, 8, "MT10", 8),
        (2, 1, "MT10", 1),
        (3, 1, "MT10", 2),
    ],
)
def test_auto_env_workers_fill_the_cores_the_threads_leave(
    monkeypatch, cores, threads, suite, expected
) -> None:
    import os

    from examples.settings import TrainSettings
    from examples.train import env_workers

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    settings = TrainSettings(benchmark=suite, preset="paper", env_workers="auto", threads=threads)
    assert env_workers(settings) == expected
    assert env_workers(TrainSettings(env_workers=3)) == 3


def test_a_signal_to_the_workers_leaves_them_to_the_training_process() -> None:
    """Ctrl+C signals the whole process group: the workers must live on for the checkpoint."""
    import os
    import signal

    env = make_env("MT10", "fixed", tasks=THREE[:2], workers=2,
                   vec_env_kwargs={"start_method": "fork"})  # fmt: skip
    try:
        env.reset()
        for process in env.processes:
            os.kill(process.pid, signal.SIGINT)
            os.kill(process.pid, signal.SIGTERM)
        obs, *_ = env.step(np.zeros((2, 4), dtype=np.float32))
        assert obs.shape[0] == 2
        assert len(env.env_method("save_state")) == 2  # what a checkpoint asks for
        assert all(process.is_alive() for process in env.processes)
    finally:
        env.close()
    for process in env.processes:
        process.join(timeout=10)
        assert not process.is_alive()
