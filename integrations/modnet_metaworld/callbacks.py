"""``MetaWorldEvalCallback``: evaluate on MT10/MT50 every ``eval_freq`` calls during SB3 training."""

from __future__ import annotations

import functools
from collections.abc import Mapping

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from modnet.errors import ConfigError, mismatch

from .envs import make_env
from .eval_worker import EvaluationWorker, dump_apart
from .evaluation import (
    PROTOCOLS,
    EvaluationResult,
    check_env_built_for,
    check_episodes,
    evaluate,
)
from .suites import (
    PAPER_HORIZON,
    Benchmark,
    Mode,
    check_benchmark,
    check_mode,
    check_seed,
    resolve_horizons,
    resolve_tasks,
    task_names,
)

__all__ = ["MetaWorldEvalCallback"]


class MetaWorldEvalCallback(BaseCallback):
    """Run ``evaluate`` every ``eval_freq`` callback calls and log through SB3's logger.

    Logged keys: ``eval/success_rate`` (mean over tasks), ``eval/return`` (mean
    episode return over tasks), and ``eval/success/<task>`` and ``eval/return/<task>``
    for every task. As in SB3's ``EvalCallback``, one call is one step of the
    training VecEnv, i.e. ``num_envs`` env steps (one per task with ``make_env``).

    Args:
        benchmark, mode: as in ``make_env``; use the training env's.
        eval_freq: evaluate every this many calls (> 0).
        episodes_per_task, protocol, episode_length, progress_bar: as in ``evaluate``.
        seed: benchmark seed; use the training env's so fixed mode evaluates the goals
            it trains on.
        tasks, reward_function_version: settings of the eval env built here.
        eval_env: a VecEnv built by ``make_env`` to evaluate on, never the training
            env itself (evaluating on it would cut its running episodes and store a
            transition whose next observation comes from a reset); None builds one at
            the start of training (closed at its end).
        eval_worker: evaluate in a worker process (``EvaluationWorker``) on a snapshot
            of the policy's weights, while training goes on. The worker builds its own
            env with ``make_env`` and the settings above (so ``eval_env`` must be None)
            and runs the same ``evaluate`` call: the same numbers as without it, on the
            CPU. Results are logged when they arrive (checked after every step, without
            blocking), each at its snapshot's step, in order; training's end waits for
            the pending ones, and ``close()`` ends the worker (also done at training's
            end, and at interpreter exit). ``progress_bar`` is ignored there.

    After each evaluation ``last_result`` holds the ``EvaluationResult`` and
    ``evaluations`` the list of ``(num_timesteps, result)``. The n-th evaluation
    (from 0) is ``evaluate(..., evaluation_index=n)``: fresh goals each time, the same
    for the same seed.
    """

    def __init__(
        self,
        benchmark: Benchmark,
        mode: Mode,
        eval_freq: int,
        *,
        episodes_per_task: int = 3,
        seed: int = 0,
        protocol: str = "paper",
        episode_length: int | Mapping[str, int] | None = None,
        tasks: list[str] | None = None,
        reward_function_version: str | None = None,
        eval_env: VecEnv | None = None,
        progress_bar: bool = False,
        eval_worker: bool = False,
        verbose: int = 0,
    ) -> None:
        super().__init__(verbose=verbose)
        where = "MetaWorldEvalCallback"
        self.benchmark = check_benchmark(benchmark, where)
        self.mode = check_mode(mode, where)
        if isinstance(eval_freq, bool) or not isinstance(eval_freq, int) or eval_freq <= 0:
            raise ConfigError(
                mismatch(where, "eval_freq", "be a positive int (callback calls)", repr(eval_freq))
            )
        if protocol not in PROTOCOLS:
            raise ConfigError(
                mismatch(where, "protocol", f"be one of {list(PROTOCOLS)}", repr(protocol))
            )
        seed = check_seed(seed, where)
        check_episodes(episodes_per_task, protocol, where)
        if eval_env is not None:
            if eval_worker:
                raise ConfigError(
                    mismatch(
                        where,
                        "eval_env",
                        "be None with eval_worker=True (the worker builds its own with make_env)",
                        type(eval_env).__name__,
                    )
                )
            check_env_built_for(eval_env, self.benchmark, self.mode, where, "eval_env")
        if tasks is not None:
            tasks = resolve_tasks(self.benchmark, tasks, where)
        if episode_length is not None:
            names = tasks or task_names(self.benchmark)  # type: ignore[arg-type]
            resolve_horizons(episode_length, self.benchmark, names, where)
        self.eval_freq = eval_freq
        self.episodes_per_task = episodes_per_task
        self.seed = seed
        self.protocol = protocol
        self.episode_length = episode_length
        self.tasks = tasks
        self.reward_function_version = reward_function_version
        self.eval_env = eval_env
        self._owns_env = eval_env is None
        self.progress_bar = progress_bar
        self.eval_worker = bool(eval_worker)
        self.worker: EvaluationWorker | None = None
        self.last_result: EvaluationResult | None = None
        self.evaluations: list[tuple[int, EvaluationResult]] = []

    def _init_callback(self) -> None:
        if self.eval_env is not None and _shares_a_layer(self.eval_env, self.training_env):
            raise ConfigError(
                mismatch(
                    "MetaWorldEvalCallback",
                    "eval_env",
                    "be an env other than the model's training env (evaluating on it would "
                    "cut the running episodes and store a transition whose next observation "
                    "comes from a reset); build a second one with make_env",
                    "the training env",
                )
            )
        build = functools.partial(
            make_env,
            self.benchmark,  # type: ignore[arg-type]
            self.mode,  # type: ignore[arg-type]
            seed=self.seed,
            episode_length=PAPER_HORIZON if self.episode_length is None else self.episode_length,
            tasks=self.tasks,
            reward_function_version=self.reward_function_version,
        )
        if self.eval_worker:
            if self.worker is None:
                self.worker = EvaluationWorker(
                    build,
                    self.benchmark,  # type: ignore[arg-type]
                    self.mode,  # type: ignore[arg-type]
                    episodes_per_task=self.episodes_per_task,
                    seed=self.seed,
                    protocol=self.protocol,
                    episode_length=self.episode_length,
                )
        elif self.eval_env is None:
            self.eval_env = build()

    def _on_step(self) -> bool:
        if self.worker is not None:
            self._log_finished(wait=False)
        if self.n_calls % self.eval_freq == 0:
            if self.eval_worker:
                self.submit_evaluation()
            else:
                self.run_evaluation()
        return True

    def submit_evaluation(self) -> None:
        """Hand a snapshot of the model's policy to the worker (``eval_worker=True``)."""
        if self.worker is None:
            self._init_callback()
        index = len(self.evaluations) + self.worker.pending  # type: ignore[union-attr]
        self.worker.submit(  # type: ignore[union-attr]
            self.model.policy, env_steps=self.num_timesteps, evaluation_index=index
        )

    def _log_finished(self, *, wait: bool) -> None:
        for finished in self.worker.finished(wait=wait):  # type: ignore[union-attr]
            self._log(finished.env_steps, finished.result, apart=True)

    def run_evaluation(self) -> EvaluationResult:
        """Evaluate now, log the result and return it (with a worker: after the pending ones)."""
        if self.eval_worker:
            self.submit_evaluation()
            self._log_finished(wait=True)
            return self.last_result  # type: ignore[return-value]
        if self.eval_env is None:
            self._init_callback()
        result = evaluate(
            self.model,
            self.benchmark,  # type: ignore[arg-type]
            self.mode,  # type: ignore[arg-type]
            episodes_per_task=self.episodes_per_task,
            seed=self.seed,
            evaluation_index=len(self.evaluations),
            protocol=self.protocol,
            episode_length=self.episode_length,
            progress_bar=self.progress_bar,
            env=self.eval_env,
        )
        self._log(self.num_timesteps, result)
        return result

    def _log(self, steps: int, result: EvaluationResult, *, apart: bool = False) -> None:
        self.last_result = result
        self.evaluations.append((steps, result))
        values = {
            "eval/success_rate": result.mean_success,
            "eval/return": result.mean_episode_return,
        }
        for name, rate in result.success_rate.items():
            values[f"eval/success/{name}"] = rate
            values[f"eval/return/{name}"] = result.mean_return[name]
        if self.verbose >= 1:
            print(
                f"Eval at {steps} steps: success {result.mean_success:.3f}, return {result.mean_episode_return:.1f}"
            )
        if apart:  # logged after its step: the training's values stay for their own dump
            dump_apart(self.logger, steps, values)
            return
        for key, value in values.items():
            self.logger.record(key, value)
        self.logger.dump(steps)

    def _on_training_end(self) -> None:
        if self.worker is not None:
            self._log_finished(wait=True)
            self.close()
        if self._owns_env and self.eval_env is not None:
            self.eval_env.close()
            self.eval_env = None

    def close(self) -> None:
        """End the evaluation worker, if any (pending evaluations are abandoned)."""
        if self.worker is not None:
            self.worker.close()
            self.worker = None


def _shares_a_layer(first: VecEnv, second: VecEnv) -> bool:
    """True when the two VecEnvs are, or wrap, the same VecEnv (``VecEnvWrapper.venv``)."""

    def layers(env: VecEnv) -> list[int]:
        found = [id(env)]
        while hasattr(env, "venv"):
            env = env.venv
            found.append(id(env))
        return found

    return bool(set(layers(first)) & set(layers(second)))
