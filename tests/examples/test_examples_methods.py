"""Every method the commands offer builds on Meta-World, takes a gradient step and saves;
a method added with ``register_method`` is validated, listed and trained like the others.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("metaworld")
pytest.importorskip("modnet_metaworld")
pytest.importorskip("modnet_sb3")

from registered_extras import SHARP, SharpSoft, registered_sharp_routing  # noqa: E402

from examples import sweep  # noqa: E402
from examples import train as train_module  # noqa: E402
from examples.methods import (  # noqa: E402
    METHODS,
    MethodSpec,
    build_method,
    register_method,
    unregister_method,
)
from examples.settings import TrainSettings, resolve_schedule, validate_settings  # noqa: E402
from modnet.errors import ConfigError  # noqa: E402
from modnet_sb3 import MTSAC, TaskBalancedReplayBuffer  # noqa: E402

# Conditioned mode builds in a fraction of Fixed's time (no 50-goal benchmark list).
TASKS = ("reach-v3", "push-v3")


@pytest.fixture(scope="module")
def env():
    """The 2-task env ``examples.train`` builds for ``--mode conditioned --tasks ...``."""
    settings = TrainSettings(mode="conditioned", tasks=TASKS)
    env = train_module.build_env(settings, resolve_schedule(settings))
    yield env
    env.close()


@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_builds_takes_a_gradient_step_and_saves(env, method, tmp_path) -> None:
    spec = build_method(method, env.observation_space, env.action_space, num_tasks=env.num_envs)
    # As examples.train builds it, with a budget of exactly one gradient step: the
    # update comes once num_timesteps (2 per VecEnv step) exceeds learning_starts.
    model = MTSAC(
        spec.policy,
        env,
        learning_starts=2,
        batch_size=2,  # one transition per task
        buffer_size=8,
        replay_buffer_class=TaskBalancedReplayBuffer,
        policy_kwargs=dict(spec.policy_kwargs),
        num_tasks=env.num_envs,
        reweight=spec.reweight,
        seed=0,
        device="cpu",
        **spec.algorithm_kwargs,  # the gradient methods' option
    )
    model.learn(4)
    assert model._n_updates == 1

    model.save(tmp_path / "model.zip")
    loaded = MTSAC.load(tmp_path / "model.zip", device="cpu")
    assert type(loaded.policy) is type(model.policy)
    assert loaded.reweight == spec.reweight
    saved, restored = model.policy.state_dict(), loaded.policy.state_dict()
    assert saved.keys() == restored.keys()
    for name, tensor in saved.items():
        torch.testing.assert_close(restored[name], tensor, rtol=0, atol=0, msg=name)
    obs = env.reset()
    np.testing.assert_array_equal(
        loaded.predict(obs, deterministic=True)[0], model.predict(obs, deterministic=True)[0]
    )


def test_mlp_matched_records_its_parameter_counts(env) -> None:
    spec = build_method(
        "mlp-matched", env.observation_space, env.action_space, num_tasks=env.num_envs
    )
    counts = spec.record["parameter_counts"]
    assert abs(counts["mlp_actor"] - counts["soft_shallow_actor"]) < 0.005 * counts["mlp_actor"]
    assert abs(counts["mlp_critic"] - counts["soft_shallow_critic"]) < 0.005 * counts["mlp_critic"]


def test_task_policies_get_num_tasks_and_the_registry_is_not_shared(env) -> None:
    first = build_method("soft-shallow", env.observation_space, env.action_space, num_tasks=2)
    assert first.policy_kwargs["num_tasks"] == 2
    first.policy_kwargs["module_features"] = 1  # a caller (or SB3) changing its copy
    second = build_method("soft-shallow", env.observation_space, env.action_space, num_tasks=2)
    assert second.policy_kwargs["module_features"] == 256
    mlp = build_method("mt-sac", env.observation_space, env.action_space, num_tasks=2)
    assert "num_tasks" not in mlp.policy_kwargs  # SB3's MlpPolicy takes no num_tasks


TINY_NAME = "test-tiny-soft"
# Any routing name goes through to the policy as it is.
TINY = MethodSpec(
    "SoftModularPolicy",
    # The test-only routing strategy of tests/registered_extras.py: a strategy added with
    # one registration trains through the CLI like the built-in ones.
    {"module_features": 16, "hidden_features": 32, "routing_features": 16, "routing": SHARP},
    "none",
)


@pytest.fixture
def tiny_method():
    with registered_sharp_routing():
        register_method(TINY_NAME, TINY)
        threads = torch.get_num_threads()
        yield TINY_NAME
        torch.set_num_threads(threads)  # examples.train sets it for the whole process
        unregister_method(TINY_NAME)


def test_a_registered_method_is_validated_listed_and_trained_by_the_cli(
    tiny_method, tmp_path, capsys
) -> None:
    assert TrainSettings(method=tiny_method).method == tiny_method
    train_module.build_parser().parse_args(["--method", tiny_method])
    assert (
        tiny_method
        in sweep.build_parser()
        .parse_args(["--methods", tiny_method, "--out", str(tmp_path)])
        .methods
    )
    with pytest.raises(SystemExit):
        train_module.main(["--help"])
    assert tiny_method in capsys.readouterr().out

    run = tmp_path / "run"
    # The sweep test's budget: one task, one evaluation, one checkpoint.
    argv = ["--preset", "smoke", "--mode", "conditioned", "--method", tiny_method]
    argv += ["--tasks", "reach-v3"]
    argv += ["--total-steps", "150", "--warmup-steps", "50", "--eval-freq", "150"]
    argv += ["--checkpoint-freq", "150", "--eval-episodes", "1", "--batch-per-task", "8"]
    argv += ["--replay-size", "1000", "--no-progress-bar", "--run-dir", str(run)]
    assert train_module.main(argv) == 0
    record = json.loads((run / "settings.json").read_text())["method"]
    assert record["policy_kwargs"] == {"num_tasks": 1, **TINY.policy_kwargs}
    model = MTSAC.load(run / "final_model.zip", device="cpu")
    assert model.num_timesteps == 150 and model.policy.routing == SHARP
    assert isinstance(model.policy.actor.net.routing, SharpSoft)


def test_register_method_refuses_taken_names_and_unknown_parts() -> None:
    with pytest.raises(ConfigError, match=r"register_method: name must be new, not one of .*"):
        register_method("mt-sac", TINY)
    with pytest.raises(ConfigError, match=r"register_method: policy must be one of .*'Mlp"):
        register_method(TINY_NAME, TINY._replace(policy="SoftPolicy"))
    with pytest.raises(ConfigError, match=r"register_method: reweight must be one of"):
        register_method(TINY_NAME, TINY._replace(reweight="balanced"))
    with pytest.raises(ConfigError, match=r"register_method: method must be a MethodSpec"):
        register_method(TINY_NAME, {"policy": "MlpPolicy"})
    with pytest.raises(ConfigError, match=rf"method must be one of .*, got '{TINY_NAME}'"):
        validate_settings({"method": TINY_NAME})  # none of the above was registered
