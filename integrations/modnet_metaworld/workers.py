"""``WorkerVecEnv``: a VecEnv whose columns are stepped in a few worker processes.

SB3's ``SubprocVecEnv`` runs one env per process: MT50 would be 50 processes, most of them
waiting on a machine with fewer cores. Here each of ``workers`` processes hosts a
contiguous slice of the columns as a ``DummyVecEnv`` and steps it when told; the main
process sends each worker its actions, then collects the results, so the workers step
at the same time. Every column behaves exactly as in one ``DummyVecEnv`` in the main
process (same seeds, same auto-reset, same float32 rewards and ``terminal_observation``
infos), so a run gives the same transitions with any number of workers
(``tests/integrations/metaworld/test_env_workers.py``).
"""

from __future__ import annotations

import multiprocessing as mp
import signal
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from stable_baselines3.common.vec_env.base_vec_env import CloudpickleWrapper

from modnet.errors import ConfigError, mismatch

__all__ = ["WorkerVecEnv", "split_columns"]


def split_columns(num_envs: int, workers: int) -> list[list[int]]:
    """Contiguous column slices, sizes differing by at most one: ``(5, 2)`` -> ``[[0, 1, 2], [3, 4]]``."""
    return [list(map(int, part)) for part in np.array_split(np.arange(num_envs), workers)]


def _serve(remote: Connection, parent: Connection, factories: CloudpickleWrapper) -> None:
    """A worker: build its columns, then answer commands until ``close``.

    The training process decides what a signal does (a checkpoint first, which asks the
    workers for their env state), so a worker ignores SIGINT and SIGTERM: a terminal's
    Ctrl+C and SLURM signal every process of the job. It still ends when the training
    process closes it or is gone (``recv`` raises ``EOFError``).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent.close()
    env = DummyVecEnv(factories.var)
    while True:
        try:
            command, data = remote.recv()
        except (EOFError, KeyboardInterrupt):
            break
        if command == "close":
            env.close()
            remote.send((True, None))
            break
        try:
            result = _handle(env, command, data)
        except Exception as error:  # sent back and raised in the main process
            remote.send((False, error))
        else:
            remote.send((True, result))
    remote.close()


def _handle(env: DummyVecEnv, command: str, data: Any) -> Any:
    if command == "step":
        env.step_async(data)
        return env.step_wait()
    if command == "reset":
        env._seeds, env._options = data  # what VecEnv.seed / set_options store
        return env.reset(), env.reset_infos
    if command == "spaces":
        return env.observation_space, env.action_space
    if command == "get_attr":
        return env.get_attr(*data)
    if command == "set_attr":
        return env.set_attr(*data)
    if command == "env_method":
        name, args, kwargs, indices = data
        return env.env_method(name, *args, indices=indices, **kwargs)
    if command == "env_is_wrapped":
        return env.env_is_wrapped(*data)
    raise ValueError(f"WorkerVecEnv: unknown command {command!r}")


class WorkerVecEnv(VecEnv):
    """``len(env_fns)`` columns stepped in ``workers`` processes, a contiguous slice in each.

    Args:
        env_fns: one picklable factory per column (e.g. ``functools.partial`` of a
            module-level function), as for ``SubprocVecEnv``.
        workers: number of worker processes, ``1 <= workers <= len(env_fns)``.
        start_method: ``multiprocessing`` start method; default ``"forkserver"`` where
            available (as SB3's ``SubprocVecEnv``), else ``"spawn"``.

    Raises:
        ConfigError: ``workers`` out of range.
    """

    def __init__(
        self,
        env_fns: Sequence[Callable[[], gym.Env]],
        workers: int,
        start_method: str | None = None,
    ) -> None:
        num_envs = len(env_fns)
        if (
            isinstance(workers, bool)
            or not isinstance(workers, int)
            or not 1 <= workers <= num_envs
        ):
            raise ConfigError(
                mismatch("WorkerVecEnv", "workers", f"be an int in [1, {num_envs}]", repr(workers))
            )
        if start_method is None:
            methods = mp.get_all_start_methods()
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        context = mp.get_context(start_method)
        self.slices = split_columns(num_envs, workers)
        # Column i lives in worker where[i][0] at local index where[i][1].
        self.where = [(w, j) for w, part in enumerate(self.slices) for j in range(len(part))]
        self.remotes: list[Connection] = []
        self.processes = []
        self.closed = False
        for part in self.slices:
            remote, work_remote = context.Pipe()
            wrapped = CloudpickleWrapper([env_fns[i] for i in part])
            process = context.Process(
                target=_serve, args=(work_remote, remote, wrapped), daemon=True
            )
            process.start()
            work_remote.close()
            self.remotes.append(remote)
            self.processes.append(process)
        observation_space, action_space = self._ask(0, "spaces", None)
        super().__init__(num_envs, observation_space, action_space)

    # ------------------------------------------------------------------ transport
    def _ask(self, worker: int, command: str, data: Any) -> Any:
        self.remotes[worker].send((command, data))
        return self._answer(worker)

    def _answer(self, worker: int) -> Any:
        ok, value = self.remotes[worker].recv()
        if not ok:
            raise value
        return value

    def _per_worker(self, indices: Any) -> tuple[list[int], dict[int, list[int]]]:
        """The global indices, and each worker's local indices among them."""
        chosen = list(self._get_indices(indices))
        local: dict[int, list[int]] = {}
        for i in chosen:
            worker, j = self.where[i]
            local.setdefault(worker, []).append(j)
        return chosen, local

    def _gather(self, indices: Any, command: str, data: Callable[[list[int]], Any]) -> list[Any]:
        """Send ``command`` to the workers holding ``indices``; results in ``indices``' order."""
        chosen, local = self._per_worker(indices)
        for worker, js in local.items():
            self.remotes[worker].send((command, data(js)))
        found = {}
        for worker, js in local.items():
            found.update(zip(((worker, j) for j in js), self._answer(worker), strict=True))
        return [found[self.where[i]] for i in chosen]

    # ------------------------------------------------------------------ VecEnv
    def step_async(self, actions: np.ndarray) -> None:
        for remote, part in zip(self.remotes, self.slices, strict=True):
            remote.send(("step", actions[part[0] : part[-1] + 1]))

    def step_wait(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[dict]]:
        results = [self._answer(worker) for worker in range(len(self.remotes))]
        obs, rewards, dones, infos = zip(*results, strict=True)
        return (
            np.concatenate(obs),
            np.concatenate(rewards),
            np.concatenate(dones),
            [info for part in infos for info in part],
        )

    def reset(self) -> np.ndarray:
        for remote, part in zip(self.remotes, self.slices, strict=True):
            remote.send(
                ("reset", ([self._seeds[i] for i in part], [self._options[i] for i in part]))
            )
        results = [self._answer(worker) for worker in range(len(self.remotes))]
        self.reset_infos = [info for _, infos in results for info in infos]
        self._reset_seeds()
        self._reset_options()
        return np.concatenate([obs for obs, _ in results])

    def close(self) -> None:
        if self.closed:
            return
        for remote in self.remotes:
            try:
                remote.send(("close", None))
                remote.recv()
            except (BrokenPipeError, EOFError):
                pass
        for process in self.processes:
            process.join()
        self.closed = True

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return self._gather(indices, "get_attr", lambda js: (attr_name, js))

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        _, local = self._per_worker(indices)
        for worker, js in local.items():
            self.remotes[worker].send(("set_attr", (attr_name, value, js)))
        for worker in local:
            self._answer(worker)

    def env_method(
        self, method_name: str, *method_args: Any, indices: Any = None, **method_kwargs: Any
    ) -> list[Any]:
        return self._gather(
            indices, "env_method", lambda js: (method_name, method_args, method_kwargs, js)
        )

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return self._gather(indices, "env_is_wrapped", lambda js: (wrapper_class, js))
