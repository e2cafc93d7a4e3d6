"""The wrappers that turn one Meta-World env into one column of a multi-task VecEnv.

A column is, from the inside out::

    SawyerXYZEnv -> GoalWrapper -> EpisodeWrapper -> TaskOneHot -> Monitor

- ``GoalWrapper`` decides the goal of each episode: one frozen goal (fixed), a fresh
  random goal every reset (conditioned), or a queue of given goals (evaluation). It
  also saves and gives back its goal state around an evaluation.
- ``EpisodeWrapper`` owns the horizon, the "any step succeeded" flag and the
  optional termination on success.
- ``TaskOneHot`` appends the task one-hot last and declares honest bounds.

Every knob is a method, so ``VecEnv.env_method`` reaches it in sub-processes too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from modnet.errors import ConfigError, mismatch
from modnet.validation import check_positive_int

from .suites import check_benchmark, check_episode_length, column_seed, task_names

if TYPE_CHECKING:
    from metaworld.types import Task

__all__ = ["EpisodeWrapper", "GoalWrapper", "TaskOneHot"]


# What these wrappers use of the bare env (Meta-World's SawyerXYZEnv): checked by name, so a
# wrapper put on another env fails at construction with a message, not deep in a reset.
_META_WORLD_ATTRIBUTES = ("set_task", "sawyer_observation_space", "max_path_length")


def _meta_world_base(where: str, env: Any) -> Any:
    """``env.unwrapped`` if it is a Meta-World env, else a ``ConfigError`` naming ``env``."""
    base = getattr(env, "unwrapped", None)
    if base is None or not all(hasattr(base, name) for name in _META_WORLD_ATTRIBUTES):
        raise ConfigError(
            mismatch(
                where,
                "env",
                "be a Meta-World env (a SawyerXYZEnv, e.g. from metaworld's env dicts)",
                type(base if base is not None else env).__name__,
            )
        )
    return base


def _check_task_index(where: str, task_index: object, num_tasks: object) -> None:
    """A ``ConfigError`` unless ``task_index`` is an int in ``[0, num_tasks)``: a negative
    index would set the one-hot's entry counted from the end, silently."""
    check_positive_int(where, "num_tasks", num_tasks)
    if (
        isinstance(task_index, bool)
        or not isinstance(task_index, int | np.integer)
        or not 0 <= task_index < num_tasks  # type: ignore[operator]
    ):
        raise ConfigError(
            mismatch(where, "task_index", f"be in [0, {num_tasks}) as an int", repr(task_index))
        )


class GoalWrapper(gym.Wrapper):
    """Sets the goal (object and target positions) of every episode.

    Args:
        env: a bare Meta-World env (``SawyerXYZEnv``), task not yet set.
        task_name: its Meta-World name, e.g. ``"reach-v3"``.
        task_index: its position in the benchmark (one-hot index).
        benchmark: ``"MT10"`` or ``"MT50"``.
        mode: the column's own behaviour: ``"fixed"`` keeps ``task``'s goal on every
            reset; ``"conditioned"`` draws new positions from the env's own seeded
            generator on every reset (``make_env`` maps ``"authors-fixed"`` to one of
            the two per task).
        task: the Meta-World ``Task`` to set; its goal is used in fixed mode.
        seed: the env's seed (it drives conditioned goals).
    """

    def __init__(
        self,
        env: gym.Env,
        *,
        task_name: str,
        task_index: int,
        benchmark: str,
        mode: str,
        task: Task,
        seed: int,
    ) -> None:
        _meta_world_base("GoalWrapper", env)
        check_benchmark(benchmark, "GoalWrapper")
        _check_task_index("GoalWrapper", task_index, len(task_names(benchmark)))  # type: ignore[arg-type]
        super().__init__(env)
        self.mw_task_name = task_name
        self.mw_task_index = task_index
        self.mw_benchmark = benchmark
        self.mw_mode = mode
        self._task = task
        self._queue: list[Task] = []
        self._queued_last = False
        self._started = False  # has an episode begun (is there a goal to give back)?
        self._restore: dict[str, Any] | None = None
        self._apply_mode()
        self.reseed(seed)

    def _apply_mode(self) -> None:
        base: Any = self.env.unwrapped
        # set_task freezes the random vector: every reset returns to this goal.
        base.set_task(self._task)
        if self.mw_mode == "conditioned":
            # Paper's Conditioned (V1 random_init): fresh positions on every reset.
            # `_freeze_rand_vec` is private; `seeded_rand_vec` makes the draws come from
            # the env's seeded np_random instead of numpy's global generator.
            base._freeze_rand_vec = False
            base.seeded_rand_vec = True

    def reseed(self, seed: int) -> None:
        """Reseed the env's generator (conditioned goals, action/obs spaces)."""
        self.env.unwrapped.seed(int(seed))  # type: ignore[attr-defined]

    def reseed_stream(self, seed: int, stream: int, evaluation_index: int | None = None) -> None:
        """Reseed from ``column_seed(seed, task_index, stream, evaluation_index)``."""
        self.reseed(column_seed(seed, self.mw_task_index, stream, evaluation_index))

    @property
    def randomises_goal(self) -> bool:
        """True when every reset draws a new goal (outside queued goals)."""
        return self.mw_mode == "conditioned"

    def _generators(self) -> list[np.random.Generator]:
        # Everything Meta-World's seed() reseeds: the env's generator (it draws the
        # conditioned goals) and those of its spaces.
        base: Any = self.env.unwrapped
        spaces = (base.action_space, base.observation_space, base.goal_space)
        return [base.np_random] + [space.np_random for space in spaces if space is not None]

    def save_state(self) -> dict[str, Any]:
        """The goal state an evaluation must give back (picklable, for ``SubprocVecEnv``).

        The generators' states, the goal of the running episode (if one began) and
        the queue of goals.
        """
        base: Any = self.env.unwrapped
        running = base._last_rand_vec if self._started else None
        return {
            "generators": [generator.bit_generator.state for generator in self._generators()],
            "running_goal": None if running is None else np.array(running, copy=True),
            "queue": list(self._queue),
            "queued_last": self._queued_last,
        }

    def restore_state(self, state: dict[str, Any]) -> None:
        """Give back ``save_state()``'s state; takes effect at the next reset.

        That reset starts the interrupted episode over on its goal, and leaves the
        generators as they were saved, so every later goal is the one the column
        would have drawn had it not been evaluated.
        """
        self._queue = list(state["queue"])
        self._queued_last = state["queued_last"]
        self._restore = state

    def _set_generators(self, states: list[dict[str, Any]]) -> None:
        # Setting the state (not the object): reseeding replaced the generator objects.
        for generator, saved in zip(self._generators(), states, strict=True):
            generator.bit_generator.state = saved

    def queue_goals(self, tasks: Sequence[Task]) -> None:
        """Play the given goals, one per episode, from the next reset on.

        When the queue runs out the column returns to its mode.
        """
        for task in tasks:
            if task.env_name != self.mw_task_name:
                raise ConfigError(
                    mismatch(
                        "GoalWrapper.queue_goals",
                        "tasks",
                        f"be goals of {self.mw_task_name}",
                        task.env_name,
                    )
                )
        self._queue = list(tasks)

    def clear_goals(self) -> None:
        """Drop queued goals; the next reset follows the column's mode again."""
        self._queue = []

    @property
    def goal_position(self) -> np.ndarray:
        """The current target position ``[3]``."""
        return np.array(self.env.unwrapped._target_pos, dtype=np.float64)  # type: ignore[attr-defined]

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        if seed is not None:
            # Meta-World ignores reset(seed=...); honour it so VecEnv.seed(...) works.
            self.reseed(seed)
        restore, self._restore = self._restore, None
        if restore is not None:
            # Back to the column's own mode, whatever goal the evaluation left set.
            self._apply_mode()
        if restore is not None and restore["running_goal"] is not None:
            # Replay the interrupted episode's goal once, then follow the mode again.
            base: Any = self.env.unwrapped
            base._last_rand_vec = restore["running_goal"]
            base._freeze_rand_vec = True
            self._queued_last = True
        elif self._queue:
            self.env.unwrapped.set_task(self._queue.pop(0))  # type: ignore[attr-defined]
            self._queued_last = True
        elif self._queued_last:
            self._apply_mode()
            self._queued_last = False
        result = self.env.reset(options=options)
        self._started = True
        if restore is not None:
            # After the reset: whatever it drew does not count.
            self._set_generators(restore["generators"])
        return result


class EpisodeWrapper(gym.Wrapper):
    """Horizon, success flag and optional termination on success.

    ``info["is_success"]`` is set on the last step of every episode: True when any
    step of the episode succeeded (the paper's criterion, and what Meta-World's
    evaluation measures with termination on success). Episodes end with
    ``truncated=True`` after exactly ``episode_length`` steps.
    """

    def __init__(self, env: gym.Env, *, episode_length: int, terminate_on_success: bool) -> None:
        super().__init__(env)
        self._episode_length = 0
        self._terminate_on_success = False
        self.configure_episode(
            episode_length=episode_length, terminate_on_success=terminate_on_success
        )
        self._steps = 0
        self._succeeded = False

    @property
    def episode_length(self) -> int:
        return self._episode_length

    @property
    def terminate_on_success(self) -> bool:
        return self._terminate_on_success

    def configure_episode(
        self, *, episode_length: int | None = None, terminate_on_success: bool | None = None
    ) -> tuple[int, bool]:
        """Change the horizon and/or success termination; returns the previous pair.

        Takes effect at the next reset (reset right after calling it).
        """
        previous = (self._episode_length, self._terminate_on_success)
        if episode_length is not None:
            self._episode_length = check_episode_length(episode_length, "EpisodeWrapper")
            # The bare env raises once its own max_path_length is passed, and flags
            # truncation when it is reached: keep both horizons the same.
            self.env.unwrapped.max_path_length = self._episode_length  # type: ignore[attr-defined]
        if terminate_on_success is not None:
            self._terminate_on_success = bool(terminate_on_success)
        return previous

    def reset(self, **kwargs: Any) -> Any:
        self._steps = 0
        self._succeeded = False
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._steps += 1
        if "success" not in info:
            # Without Meta-World's flag every episode would count as a failure, silently.
            raise ConfigError(
                mismatch(
                    "EpisodeWrapper.step",
                    "the env's info",
                    "hold Meta-World's 'success' flag (wrap a Meta-World env)",
                    f"keys {sorted(info)} from {type(self.env.unwrapped).__name__}",
                )
            )
        success = bool(info["success"])
        self._succeeded = self._succeeded or success
        if self._terminate_on_success and success:
            terminated = True
        truncated = bool(truncated) or self._steps >= self._episode_length
        if terminated or truncated:
            info["is_success"] = self._succeeded
        return obs, float(reward), bool(terminated), truncated, info


class TaskOneHot(gym.ObservationWrapper):
    """Appends the task one-hot as the last ``num_tasks`` entries: ``[39] -> [39 + T]``.

    Observations leave as float32 (Meta-World computes float64): the networks are
    float32, and a float64 replay buffer would take twice the memory (about 10 GB at the
    paper's MT50 replay size).

    The declared bounds of the goal entries (36:39) are Meta-World's ``0..0`` before
    ``set_task`` and a goal box after it; neither holds for every goal, so they are
    declared unbounded here and must never be used to clip or normalise.
    """

    def __init__(self, env: gym.Env, *, task_index: int, num_tasks: int) -> None:
        base = _meta_world_base("TaskOneHot", env)
        _check_task_index("TaskOneHot", task_index, num_tasks)
        super().__init__(env)
        low = np.asarray(base.sawyer_observation_space.low, dtype=np.float64).copy()
        high = np.asarray(base.sawyer_observation_space.high, dtype=np.float64).copy()
        low[-3:], high[-3:] = -np.inf, np.inf
        #: The one-hot's width T: what the env declares to ``modnet_sb3.MTSAC``, which reads
        #: it with ``VecEnv.get_attr("num_tasks")`` instead of guessing from a state width.
        self.num_tasks = num_tasks
        self.one_hot = np.zeros(num_tasks, dtype=np.float32)
        self.one_hot[task_index] = 1.0
        self.observation_space = gym.spaces.Box(
            low=np.concatenate([low, np.zeros(num_tasks)]),
            high=np.concatenate([high, np.ones(num_tasks)]),
            dtype=np.float32,
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(observation, dtype=np.float32), self.one_hot])
