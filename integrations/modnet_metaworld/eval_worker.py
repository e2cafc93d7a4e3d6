"""``EvaluationWorker``: evaluate snapshots of a policy in one worker process while training goes on.

The authors evaluated in separate worker processes while training went on (Yang et al.
2020, Appendix: the evaluation of each epoch ran beside the next epoch's collection and
updates). Here one long-lived process builds its own evaluation env once (the same
``make_env`` settings as the synchronous evaluation, so the same goals and seeds) and
then waits for work. At each evaluation point the training process hands it a snapshot
of the policy's weights (``state_dict`` serialised on the CPU, a copy that later updates
cannot touch) with the env step and the evaluation's index; the worker loads it into a
policy of its own, rebuilt once from the policy's constructor arguments (SB3's
``_get_constructor_parameters``, what ``policy.save`` stores), and runs ``evaluate``
with the arguments the synchronous evaluation uses. ``evaluate`` on the CPU is
deterministic (deterministic actions, goals drawn from ``(seed, task, index)``), so a
snapshot gives exactly the numbers the synchronous evaluation gives for the same
weights (``tests/integrations/metaworld/test_eval_worker.py``), and the training
process draws no random number for it: its transitions are those of a run without the
worker.

Evaluations run one at a time, in the order they were handed over; ``finished()``
returns those that ended, without blocking, in that order. The worker ignores SIGINT
and SIGTERM (a terminal's Ctrl+C and SLURM signal every process of the job; the
training process decides what happens), ends when it is told (``close``), and ends on
its own when the training process is gone (it checks at every ``predict`` and every
half second while idle), so a killed run leaves no orphan. An exception in the worker
comes back as an ``EvaluationWorkerError`` naming the evaluation, with the worker's
traceback; a worker that dies (killed, out of memory) is reported the same way, not
waited on.
"""

from __future__ import annotations

import io
import multiprocessing as mp
import queue
import signal
import time
import traceback
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import cloudpickle
import numpy as np
import torch
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.vec_env import VecEnv

from modnet.errors import ConfigError, ModnetError, mismatch

from .evaluation import PROTOCOLS, EvaluationResult, check_env_built_for, check_episodes, evaluate
from .suites import Benchmark, Mode, check_benchmark, check_mode, check_seed, resolve_horizons

__all__ = ["EvaluationWorker", "EvaluationWorkerError", "FinishedEvaluation", "dump_apart"]

IDLE_CHECK_S = 0.5  # how often an idle worker looks whether the training process is alive
POLL_S = 0.2  # how often a waiting training process looks whether the worker is alive


class EvaluationWorkerError(ModnetError, RuntimeError):
    """An evaluation failed in the worker process, or the worker died; names the evaluation."""


class FinishedEvaluation(NamedTuple):
    """One evaluation the worker ended: the snapshot's env step, its index and the result."""

    env_steps: int
    """``num_timesteps`` of the model when its snapshot was taken."""
    evaluation_index: int
    result: EvaluationResult
    seconds: float
    """Wall time the worker spent on it (loading the weights and the episodes)."""


class _Pending(NamedTuple):
    env_steps: int
    evaluation_index: int
    submitted: float  # time.monotonic() in the training process


def policy_snapshot(policy: BasePolicy) -> bytes:
    """The policy's ``state_dict`` on the CPU, serialised (``torch.save``) now.

    The bytes are a copy: updates after this call do not change them.
    """
    state = {name: tensor.detach().to("cpu") for name, tensor in policy.state_dict().items()}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


class EvaluationWorker:
    """One process that evaluates policy snapshots with ``evaluate``, one after another.

    Args:
        make_eval_env: builds the evaluation VecEnv in the worker (once); picklable
            with cloudpickle, e.g. ``functools.partial(make_env, benchmark, mode,
            seed=..., episode_length=...)``. It must build what the synchronous
            evaluation evaluates on (``check_env_built_for`` is run on it), in the
            worker itself: the worker is a daemon process, which may not start
            processes of its own (no ``make_env(workers=N)`` there; N workers give the
            same numbers as one anyway).
        benchmark, mode: as in ``evaluate``.
        episodes_per_task, seed, protocol, episode_length: passed to every
            ``evaluate`` call, as the synchronous evaluation passes them.
        threads: torch threads of the worker (default: this process's, at
            construction). The same count as the training process's gives the same
            floating-point sums, so the same numbers.
        max_pending: at most this many evaluations wait or run in the worker; a
            ``submit`` beyond it blocks until the oldest has finished (so snapshots do
            not pile up when evaluations take longer than the training between them).
        start_method: ``multiprocessing`` start method; default ``"forkserver"`` where
            available, else ``"spawn"`` (``"fork"`` works too, e.g. in tests, but a
            forked worker shares the file descriptors of whatever the process had open).

    Raises:
        ConfigError: a setting ``evaluate`` would refuse, or ``max_pending < 1``,
            before any process is started.
    """

    def __init__(
        self,
        make_eval_env: Callable[[], VecEnv],
        benchmark: Benchmark,
        mode: Mode,
        *,
        episodes_per_task: int | None = None,
        seed: int = 0,
        protocol: str = "paper",
        episode_length: int | Mapping[str, int] | None = None,
        threads: int | None = None,
        max_pending: int = 2,
        start_method: str | None = None,
    ) -> None:
        where = "EvaluationWorker"
        check_benchmark(benchmark, where)
        check_mode(mode, where)
        seed = check_seed(seed, where)
        if protocol not in PROTOCOLS:
            raise ConfigError(
                mismatch(where, "protocol", f"be one of {list(PROTOCOLS)}", repr(protocol))
            )
        if episodes_per_task is not None:
            check_episodes(episodes_per_task, protocol, where)
        if episode_length is not None:
            named = list(episode_length) if isinstance(episode_length, Mapping) else []
            resolve_horizons(episode_length, benchmark, named, where)
        if isinstance(max_pending, bool) or not isinstance(max_pending, int) or max_pending < 1:
            raise ConfigError(mismatch(where, "max_pending", "be an int >= 1", repr(max_pending)))
        if not callable(make_eval_env):
            raise ConfigError(
                mismatch(where, "make_eval_env", "be callable", type(make_eval_env).__name__)
            )
        threads = torch.get_num_threads() if threads is None else threads
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise ConfigError(mismatch(where, "threads", "be an int >= 1", repr(threads)))
        self.max_pending = max_pending
        setup = cloudpickle.dumps(
            {
                "make_eval_env": make_eval_env,
                "benchmark": benchmark,
                "mode": mode,
                "evaluate": {
                    "episodes_per_task": episodes_per_task,
                    "seed": seed,
                    "protocol": protocol,
                    "episode_length": episode_length,
                },
                "threads": threads,
            }
        )
        if start_method is None:
            methods = mp.get_all_start_methods()
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        context = mp.get_context(start_method)
        # Work goes through a Queue: its feeder thread writes a snapshot into the pipe
        # while the worker is busy, so `submit` never waits for the worker to read.
        # Results are small and come back through a pipe the training process polls.
        self._tasks = context.Queue()
        self._results, sender = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve,
            args=(self._tasks, sender, setup),
            daemon=True,  # multiprocessing ends it at interpreter exit, if close() was not called
            name="modnet-evaluation-worker",
        )
        self._process.start()
        sender.close()
        self._pending: deque[_Pending] = deque()
        self._done: list[FinishedEvaluation] = []
        self._policy: BasePolicy | None = None
        self._closed = False
        self._finalizer = weakref.finalize(self, _stop, self._process, self._tasks)

    # ------------------------------------------------------------------ state
    @property
    def pid(self) -> int | None:
        """The worker's process id."""
        return self._process.pid

    @property
    def pending(self) -> int:
        """Evaluations handed over and not yet returned by ``finished``."""
        return len(self._pending) + len(self._done)

    def is_alive(self) -> bool:
        return self._process.is_alive()

    # ------------------------------------------------------------------ work
    def submit(self, policy: BasePolicy, *, env_steps: int, evaluation_index: int) -> None:
        """Hand over a snapshot of ``policy`` (now) for the evaluation ``evaluation_index``.

        Blocks only while ``max_pending`` evaluations are pending (their results are kept
        for ``finished``).

        Raises:
            EvaluationWorkerError: an earlier evaluation failed or the worker died.
        """
        self._check_open("submit")
        while len(self._pending) >= self.max_pending:
            self._collect(block=True, until=len(self._pending) - 1)
        if policy is not self._policy:  # the first snapshot, or another policy object
            spec = cloudpickle.dumps((type(policy), policy._get_constructor_parameters()))
            self._tasks.put(("policy", spec))
            self._policy = policy
        self._tasks.put(
            ("evaluate", (int(env_steps), int(evaluation_index), policy_snapshot(policy)))
        )
        self._pending.append(_Pending(int(env_steps), int(evaluation_index), time.monotonic()))

    def finished(self, *, wait: bool = False) -> list[FinishedEvaluation]:
        """The evaluations that ended since the last call, in the order they were submitted.

        ``wait``: block until every pending evaluation has ended. Without it, never
        blocks.

        Raises:
            EvaluationWorkerError: an evaluation failed in the worker (the message names
                its env step and index, and holds the worker's traceback), or the worker
                died while evaluations were pending.
        """
        self._check_open("finished")
        self._collect(block=wait, until=0)
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        """End the worker (at once: a pending evaluation is abandoned). Idempotent."""
        if self._closed:
            return
        self._closed = True
        abandon = bool(self._pending)
        self._pending.clear()
        self._finalizer.detach()
        _stop(self._process, self._tasks, abandon=abandon)
        self._results.close()

    def __enter__(self) -> EvaluationWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport
    def _check_open(self, what: str) -> None:
        if self._closed:
            raise EvaluationWorkerError(f"EvaluationWorker.{what}: the worker was closed")

    def _collect(self, *, block: bool, until: int) -> None:
        """Read the worker's messages; with ``block``, until at most ``until`` are pending."""
        while self._pending:
            if self._results.poll(POLL_S if block else 0):
                try:
                    kind, data = self._results.recv()
                except EOFError:
                    self._died()
                self._handle(kind, data)
                if block and len(self._pending) <= until:
                    return
                continue
            if not self._process.is_alive() and not self._results.poll():
                self._died()
            if not block:
                return

    def _handle(self, kind: str, data: Any) -> None:
        if kind == "ready":
            return
        if kind == "setup-failed":
            raise EvaluationWorkerError(
                f"the evaluation worker (pid {self.pid}) could not build its evaluation env, so "
                f"no evaluation ran ({self._describe_pending()}). Its traceback:\n{data}"
            )
        expected = self._pending.popleft()
        if kind == "failed":
            env_steps, index, text = data
            raise EvaluationWorkerError(
                f"the evaluation of the model at {env_steps:,} env steps (evaluation "
                f"{index} of the run) failed in the evaluation worker (pid {self.pid}). "
                f"Its traceback:\n{text}"
            )
        finished: FinishedEvaluation = data
        if (finished.env_steps, finished.evaluation_index) != expected[:2]:  # pragma: no cover
            raise EvaluationWorkerError(
                f"the evaluation worker answered for step {finished.env_steps:,} (evaluation "
                f"{finished.evaluation_index}), but step {expected.env_steps:,} (evaluation "
                f"{expected.evaluation_index}) was next"
            )
        self._done.append(finished)

    def _describe_pending(self) -> str:
        shown = ", ".join(
            f"{p.env_steps:,} env steps (evaluation {p.evaluation_index})" for p in self._pending
        )
        return f"pending: the model at {shown}" if shown else "none was pending"

    def _died(self) -> None:
        self._process.join(timeout=1.0)
        code = self._process.exitcode
        how = (
            f"was killed by {signal.Signals(-code).name}"
            if code is not None and code < 0
            else f"exited with code {code}"
        )
        raise EvaluationWorkerError(
            f"the evaluation worker (pid {self.pid}) {how} before finishing the evaluation of "
            f"the model at {self._pending[0].env_steps:,} env steps (evaluation "
            f"{self._pending[0].evaluation_index} of the run; {self._describe_pending()}). "
            "Nothing was written for it; a resumed run evaluates it again."
        )


def dump_apart(logger: Logger, step: int, values: Mapping[str, float]) -> None:
    """Dump ``values`` at ``step`` alone; what ``logger`` held before stays for its next dump.

    SB3's ``Logger.dump`` writes every value recorded since the last dump: a result that
    arrives at a later step than its own would otherwise carry the training values of
    the later step under its step. Also records ``time/total_timesteps`` (not to
    TensorBoard), as SB3's dumps do.
    """
    held = (
        dict(logger.name_to_value),
        dict(logger.name_to_count),
        dict(logger.name_to_excluded),
    )
    logger.name_to_value.clear()
    logger.name_to_count.clear()
    logger.name_to_excluded.clear()
    for key, value in values.items():
        logger.record(key, value)
    logger.record("time/total_timesteps", step, exclude="tensorboard")
    logger.dump(step)
    logger.name_to_value.update(held[0])
    logger.name_to_count.update(held[1])
    logger.name_to_excluded.update(held[2])


def _stop(process: Any, tasks: Any, *, abandon: bool = False) -> None:
    """Tell the worker to end, wait a little, then kill it (it ignores SIGTERM)."""
    if process.is_alive() and not abandon:
        try:
            tasks.put(("close", None))
        except (OSError, ValueError):
            pass
        process.join(timeout=5.0)
    if process.is_alive():
        process.kill()
        process.join(timeout=5.0)
    tasks.cancel_join_thread()  # never wait at exit for a snapshot the worker will not read
    tasks.close()


# ---------------------------------------------------------------------------- the worker
class _TrainingProcessGone(Exception):
    pass


class _Watched:
    """The worker's policy; ``predict`` first checks that the training process is alive."""

    def __init__(self, policy: BasePolicy, parent: Any) -> None:
        self.policy = policy
        self.parent = parent

    def predict(self, observation: np.ndarray, **kwargs: Any) -> tuple[np.ndarray, Any]:
        if self.parent is not None and not self.parent.is_alive():
            raise _TrainingProcessGone
        return self.policy.predict(observation, **kwargs)


def _serve(tasks: Any, results: Connection, setup_bytes: bytes) -> None:
    """The worker: build the env, then evaluate each snapshot until ``close``."""
    # The training process handles the signals (a checkpoint first); Ctrl+C in a terminal
    # and SLURM's SIGTERM reach every process of the group, this one included.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = mp.parent_process()
    setup = cloudpickle.loads(setup_bytes)
    torch.set_num_threads(setup["threads"])
    try:
        env = setup["make_eval_env"]()
        check_env_built_for(
            env, setup["benchmark"], setup["mode"], "EvaluationWorker", "make_eval_env()"
        )
    except Exception:  # noqa: BLE001 -- reported to the training process
        _send(results, ("setup-failed", traceback.format_exc()))
        return
    _send(results, ("ready", None))
    policy: BasePolicy | None = None
    try:
        while True:
            try:
                command, data = tasks.get(timeout=IDLE_CHECK_S)
            except queue.Empty:
                if parent is not None and not parent.is_alive():
                    break
                continue
            if command == "close":
                break
            if command == "policy":
                policy_class, parameters = cloudpickle.loads(data)
                policy = policy_class(**parameters)
                policy.set_training_mode(False)
                continue
            env_steps, index, snapshot = data
            start = time.perf_counter()
            try:
                state = torch.load(io.BytesIO(snapshot), map_location="cpu", weights_only=True)
                policy.load_state_dict(state)  # type: ignore[union-attr]
                result = evaluate(
                    _Watched(policy, parent),  # type: ignore[arg-type]
                    setup["benchmark"],
                    setup["mode"],
                    evaluation_index=index,
                    env=env,
                    **setup["evaluate"],
                )
            except _TrainingProcessGone:
                break
            except Exception:  # noqa: BLE001 -- reported, named, to the training process
                if not _send(results, ("failed", (env_steps, index, traceback.format_exc()))):
                    break
                continue
            finished = FinishedEvaluation(env_steps, index, result, time.perf_counter() - start)
            if not _send(results, ("done", finished)):
                break
    finally:
        env.close()
        results.close()


def _send(results: Connection, message: tuple[str, Any]) -> bool:
    """Send to the training process; False when it is gone."""
    try:
        results.send(message)
    except (BrokenPipeError, EOFError, OSError):
        return False
    return True
