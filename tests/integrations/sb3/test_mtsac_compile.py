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
