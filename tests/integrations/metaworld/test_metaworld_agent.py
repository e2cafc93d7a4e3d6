"""MetaWorldAgent under Meta-World's own evaluation agrees with evaluate(protocol="metaworld")."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("metaworld")

import gymnasium as gym  # noqa: E402
from metaworld.evaluation import evaluation  # noqa: E402
from metaworld.wrappers import PseudoRandomTaskSelectWrapper  # noqa: E402

from modnet.errors import ConfigError  # noqa: E402
from modnet_metaworld import MetaWorldAgent, ScriptedExpert, evaluate  # noqa: E402
from modnet_metaworld.suites import benchmark_goals  # noqa: E402


class Float32:
    """Feeds the expert float32 observations and returns float64 actions, as Meta-World's side does.

    ``gym.make_vec("Meta-World/MT10", use_one_hot=True)`` declares a float32 Box, so
    its observations are float32 (as are ``make_env``'s), and
    ``MetaWorldAgent`` hands float64 actions to the env (the env scales float32 actions
    in float32). Rounding the same way on both sides gives identical trajectories.
    """

    def __init__(self, model: ScriptedExpert) -> None:
        self.model = model

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        actions, state = self.model.predict(
            np.asarray(obs, dtype=np.float32), deterministic=deterministic
        )
        return np.asarray(actions, dtype=np.float64), state


def test_agent_returns_actions_for_every_column() -> None:
    agent = MetaWorldAgent(ScriptedExpert("MT10"))
    obs = np.zeros((3, 49))
    obs[np.arange(3), 39 + np.array([0, 4, 9])] = 1.0
    actions = agent.eval_action(obs)
    assert actions.shape == (3, 4) and actions.dtype == np.float64
    assert np.all(np.abs(actions) <= 1.0)
    agent.reset(np.array([True, False, True]))  # stateless: accepted, changes nothing
    np.testing.assert_array_equal(agent.eval_action(obs), actions)


def test_agent_rejects_a_model_without_predict() -> None:
    with pytest.raises(ConfigError, match=r"MetaWorldAgent: model must have a predict"):
        MetaWorldAgent(object())  # type: ignore[arg-type]


@pytest.mark.slow
def test_metaworld_evaluation_agrees_with_evaluate() -> None:
    """Same benchmark seed, same goals, same horizon: identical success per task.

    Meta-World's loop samples each episode's goal; with the pseudo-random selector
    restricted to the first ``n`` goals, its first ``n`` episodes per task play each
    of those goals once, which is what ``evaluate(protocol="metaworld")`` does. The
    80-step horizon makes the experts fail on some goals (measured: 0.675 mean), so
    agreement is not the trivial 1.0 == 1.0.
    """
    seed, episodes, horizon = 0, 4, 80
    expert = ScriptedExpert("MT10")
    ours = evaluate(
        Float32(expert),
        "MT10",
        "fixed",
        protocol="metaworld",
        episodes_per_task=episodes,
        seed=seed,
        episode_length=horizon,
    )

    envs = gym.make_vec(
        "Meta-World/MT10",
        vector_strategy="sync",
        seed=seed,
        use_one_hot=True,
        task_select="pseudorandom",
        max_episode_steps=horizon,
    )
    goals = benchmark_goals("MT10", seed)
    for env in envs.envs:  # type: ignore[attr-defined]
        selector = env
        while not isinstance(selector, PseudoRandomTaskSelectWrapper):
            selector = selector.env
        # The official env's own goals are Meta-World's goal list for this seed.
        name = selector.tasks[0].env_name
        assert [task.data for task in selector.tasks] == [task.data for task in goals[name]]
        selector.tasks = list(selector.tasks[:episodes])
        selector.toggle_sample_tasks_on_reset(True)
    mean_success, mean_return, success_per_task, returns = evaluation(
        MetaWorldAgent(expert), envs, num_episodes=episodes
    )
    envs.close()

    assert 0.2 < mean_success < 0.9
    assert success_per_task == ours.success_rate
    assert mean_success == pytest.approx(ours.mean_success, abs=1e-12)
    # Identical trajectories; returns differ only by SB3's float32 reward buffer.
    assert mean_return == pytest.approx(ours.mean_episode_return, rel=1e-6)
    for name, values in returns.items():
        assert np.mean(values) == pytest.approx(ours.mean_return[name], rel=1e-6)
