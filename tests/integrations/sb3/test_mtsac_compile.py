"""MTSAC(compile=True): the compiled update gives eager's numbers within float rounding."""

from __future__ import annotations

import pytest

pytest.importorskip("stable_baselines3")

import torch  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402

from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer  # noqa: E402
from modnet_sb3.testing import make_point_reach_vec_env  # noqa: E402

T = 2
SMALL_SOFT = {"hidden_features": 16, "routing_features": 16, "module_features": 16}


def trained(compile: bool, update_order: str) -> MTSAC:
    model = MTSAC(
        "SoftModularPolicy",
        make_point_reach_vec_env(T, seed=0),
        policy_kwargs=SMALL_SOFT,
        replay_buffer_class=TaskBalancedReplayBuffer,
        learning_starts=3 * T,
        batch_size=4 * T,
        update_order=update_order,
        seed=0,
        compile=compile,
        # aot_eager: the graphs as AOT autograd traces them, run by eager kernels (fast to
        # build; inductor's code generation is what bench_compile.py measures).
        compile_kwargs={"backend": "aot_eager", "dynamic": False},
    )
    model.set_logger(configure(None, []))
    model.learn(total_timesteps=14 * T)  # 11 updates
    return model


@pytest.mark.slow
def test_compiled_update_equals_eager() -> None:
    # The paper preset's order; "sb3" runs the same compiled pieces in the other order.
    torch._dynamo.reset()
    eager, compiled = trained(False, "authors"), trained(True, "authors")
    assert compiled._compiled is not None and eager._compiled is None
    assert compiled._n_updates == eager._n_updates == 11
    for (name, a), (_, b) in zip(
        eager.policy.state_dict().items(), compiled.policy.state_dict().items(), strict=True
    ):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6, msg=name)
    torch.testing.assert_close(compiled.log_ent_coef, eager.log_ent_coef, rtol=1e-5, atol=1e-6)
    # The logs are read off the device when the logger writes, not in the update.
    assert compiled._pending_logs is not None
    assert "train/actor_loss" not in compiled.logger.name_to_value
    written = {}
    compiled.logger.dump = lambda step=0: written.update(compiled.logger.name_to_value)
    compiled.dump_logs()
    assert compiled._pending_logs is None
    assert written["train/n_updates"] == 11
    assert {"train/actor_loss", "train/critic_loss", "train/ent_coef/1"} <= set(written)


def test_compile_arguments_are_checked() -> None:
    env = make_point_reach_vec_env(T, seed=0)
    with pytest.raises(ConfigError, match=r"MTSAC: compile must be True or False, got 'yes'"):
        MTSAC("SoftModularPolicy", env, policy_kwargs=SMALL_SOFT, compile="yes")
    with pytest.raises(ConfigError, match=r"MTSAC: compile_kwargs must be a dict or None"):
        MTSAC("SoftModularPolicy", env, policy_kwargs=SMALL_SOFT, compile_kwargs=["aot_eager"])


@pytest.mark.parametrize("optimize_memory_usage", [False, True])
def test_replay_on_device_samples_what_the_host_buffer_samples(optimize_memory_usage) -> None:
    # On a GPU the buffer keeps its tensors there (on_device defaults to True); here the
    # same code path runs on the CPU and must sample exactly what the numpy buffer does.
    import numpy as np
    from gymnasium import spaces

    tasks, state, action = 3, 2, 2
    obs_space = spaces.Box(-np.inf, np.inf, shape=(state + tasks,), dtype=np.float32)
    act_space = spaces.Box(-1.0, 1.0, shape=(action,), dtype=np.float32)
    buffers = [
        TaskBalancedReplayBuffer(
            12,  # 4 slots per column (12 // 3): 5 adds wrap around
            obs_space,
            act_space,
            device="cpu",
            n_envs=tasks,
            optimize_memory_usage=optimize_memory_usage,
            handle_timeout_termination=not optimize_memory_usage,  # SB3 refuses both
            on_device=on_device,
        )
        for on_device in (False, True)
    ]
    assert isinstance(buffers[1].observations, torch.Tensor)
    assert isinstance(buffers[0].observations, np.ndarray)
    rng = np.random.default_rng(0)
    for step in range(5):
        obs, next_obs = (
            np.concatenate([rng.normal(size=(tasks, state)), np.eye(tasks)], axis=1).astype(
                np.float32
            )
            for _ in range(2)
        )
        transition = (
            obs,
            next_obs,
            rng.uniform(-1, 1, size=(tasks, action)).astype(np.float32),
            rng.normal(size=tasks).astype(np.float32),
            (rng.uniform(size=tasks) < 0.3).astype(np.float32),
            [{"TimeLimit.truncated": bool(step % 2)} for _ in range(tasks)],
        )
        for buffer in buffers:
            buffer.add(*transition)
    for seed in range(3):
        samples = []
        for buffer in buffers:
            np.random.seed(seed)
            samples.append(buffer.sample(6))
        for host, device in zip(*samples, strict=True):
            torch.testing.assert_close(device, host, rtol=0, atol=0)
