"""What a checkpoint holds beside SB3's zip and the replay buffer, and how a resume puts it back.

SB3's zip holds the networks, the optimisers, the temperatures and the counters
(``num_timesteps``, ``_n_updates``, ``_episode_num``, the episode-info buffers); the
replay buffer pickle holds the transitions. Everything else the future of a run
depends on is here (``state_<steps>.pkl``):

- the random generators: torch (and CUDA's), numpy's global one (SB3's replay
  sampling draws from it), Python's ``random``, and the model's action space;
- each env column's goal state (``GoalWrapper.save_state``: its generators, the goal
  of the running episode), and the observations SB3 acts on next (``_last_obs``);
- ``exact``: every column had just ended an episode when it was taken. Then the
  rebuilt env, given its goal state back and reset, is where the run was, bit for bit.
  Mid-episode, the reset starts each interrupted episode again on the same goal: the
  run goes on from there, but not bit-identically (Meta-World's ``get_env_state``
  carries only qpos/qvel, and restoring it gave a different next observation);
- ``identity``: what the run is (method, network, reweighting, benchmark, tasks, mode,
  seed, the schedule's batch size, gradient steps, train_freq and initial temperature,
  the reward function version, the method's algorithm_kwargs such as its gradient
  method or compile options), which ``--resume`` checks against ``settings.json``; a
  key an older state or record lacks is not compared.
"""

from __future__ import annotations

import json
import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm

from examples.common.atomic import RunFolderError
from modnet.errors import ConfigError, mismatch

__all__ = ["IDENTITY_KEYS", "capture_state", "check_identity", "load_state", "restore_state"]

FORMAT = 1
IDENTITY_KEYS = (
    "method",
    "policy",
    "policy_kwargs",
    "reweight",
    "benchmark",
    "tasks",
    "mode",
    "seed",
    "batch_size",
    "gradient_steps",
    "train_freq",
    "initial_temperature",
    "learning_rate",
    "reward_function_version",
    "algorithm_kwargs",
)
SCHEDULE_KEYS = (
    "batch_size",
    "gradient_steps",
    "train_freq",
    "initial_temperature",
    "learning_rate",
)
"""The schedule's keys that are part of a run's identity (older records lack them)."""


def _rng_states(model: BaseAlgorithm) -> dict[str, Any]:
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(model: BaseAlgorithm, states: dict[str, Any]) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])
    torch.set_rng_state(states["torch"])
    model.action_space.np_random.bit_generator.state = states["action_space"]
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def _column_states(model: BaseAlgorithm) -> list[Any] | None:
    env = model.get_env()
    try:
        return list(env.env_method("save_state"))  # type: ignore[union-attr]
    except AttributeError:
        return None  # not a modnet_metaworld env: its episodes cannot be given back


def capture_state(
    model: BaseAlgorithm, *, exact: bool, identity: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The state of a run at a point where its step is complete (see the module docstring).

    ``exact``: every env column ended its episode on the last step.
    """
    columns = _column_states(model)
    return {
        "format": FORMAT,
        "num_timesteps": int(model.num_timesteps),
        "exact": bool(exact and columns is not None),
        "rng": _rng_states(model),
        "env": columns,
        "last_obs": None if model._last_obs is None else np.array(model._last_obs, copy=True),
        "identity": identity,
    }


def load_state(path: Path) -> dict[str, Any]:
    """Read ``state_<steps>.pkl``; a damaged file raises ``RunFolderError`` naming it."""
    try:
        with open(path, "rb") as handle:
            state = pickle.load(handle)
    except FileNotFoundError as error:
        raise RunFolderError(f"{path}: missing (the checkpoint's run state)") from error
    except Exception as error:  # noqa: BLE001 -- a damaged pickle raises many kinds
        raise RunFolderError.unreadable(
            path,
            error,
            "Delete it with the model_*.zip of the same step, and checkpoints/latest.json, "
            "to resume from the previous checkpoint.",
        ) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise RunFolderError(f"{path}: not a run state of this version (format {FORMAT})")
    return state


def restore_state(model: BaseAlgorithm, state: dict[str, Any]) -> bool:
    """Give the env columns and the random generators back; returns whether it is exact.

    Call it last before ``learn`` (loading a model reseeds the generators). The env is
    reset here: each column replays the goal of its episode, with its generators as
    they were. At an exact checkpoint the new observations must equal the saved ones;
    if they do not, a warning says so and the result is False.
    """
    env = model.get_env()
    exact = bool(state["exact"])
    if state["env"] is not None:
        for column, column_state in enumerate(state["env"]):
            env.env_method("restore_state", column_state, indices=[column])  # type: ignore[union-attr]
    obs = env.reset()  # type: ignore[union-attr]
    if exact and not np.array_equal(obs, state["last_obs"]):
        warnings.warn(
            "the rebuilt envs do not reproduce the checkpoint's observations: the resumed "
            "run will not be bit-identical to an uninterrupted one",
            RuntimeWarning,
            stacklevel=2,
        )
        exact = False
    model._last_obs = obs  # type: ignore[assignment]
    model._last_episode_starts = np.ones((env.num_envs,), dtype=bool)  # type: ignore[union-attr]
    _set_rng_states(model, state["rng"])
    return exact


def _plain(value: Any) -> Any:
    """JSON's view of a value (tuples as lists, keys as strings), to compare records."""
    return json.loads(json.dumps(value, default=str))


def check_identity(where: str, saved: dict[str, Any], expected: dict[str, Any]) -> None:
    """Refuse a checkpoint whose identity differs from the run's ``settings.json``.

    Raises:
        ConfigError: naming the first differing key, with both values.
    """
    for key in IDENTITY_KEYS:
        if key in saved and key in expected and _plain(saved[key]) != _plain(expected[key]):
            raise ConfigError(
                mismatch(
                    where,
                    f"the checkpoint's {key}",
                    f"equal settings.json's {key} = {_plain(expected[key])!r} (the checkpoint "
                    "belongs to another run)",
                    repr(_plain(saved[key])),
                )
            )


def run_identity(
    settings: Any,
    task_names: list[str],
    method_record: dict[str, Any],
    *,
    schedule: Any = None,
    reward_function_version: str | None = None,
) -> dict[str, Any]:
    """What a run is (``IDENTITY_KEYS``), from its settings and its method's record."""
    identity: dict[str, Any] = {}
    if schedule is not None:
        identity.update({key: getattr(schedule, key) for key in SCHEDULE_KEYS})
    if reward_function_version is not None:
        identity["reward_function_version"] = reward_function_version
    identity["algorithm_kwargs"] = dict(method_record.get("algorithm_kwargs", {}))
    return identity | {
        "method": settings.method,
        "policy": method_record["policy"],
        "policy_kwargs": method_record["policy_kwargs"],
        "reweight": method_record["reweight"],
        "benchmark": settings.benchmark,
        "tasks": list(task_names),
        "mode": settings.mode,
        "seed": settings.seed,
    }


def _damaged_record(where: Path | str, what: str) -> RunFolderError:
    return RunFolderError(
        f"{where}: {what}. settings.json records the run's settings; restore it from a "
        "copy (or from the command that started the run), then resume again."
    )


def check_record(record: Any, where: Path | str = "settings.json") -> dict[str, Any]:
    """``record`` (``settings.json``) if it has the shape ``record_identity`` reads.

    Raises:
        RunFolderError: naming ``where`` and the missing or wrong entry.
    """
    if not isinstance(record, dict):
        raise _damaged_record(where, f"not a JSON object (a {type(record).__name__})")
    settings = record.get("settings")
    if not isinstance(settings, dict):
        raise _damaged_record(where, f"'settings' is not an object (got {settings!r})")
    missing = [key for key in ("method", "benchmark", "mode", "seed") if key not in settings]
    if missing:
        raise _damaged_record(where, f"'settings' lacks {missing}")
    for key in ("method", "schedule"):
        if key in record and not isinstance(record[key], dict):
            raise _damaged_record(where, f"{key!r} is not an object (got {record[key]!r})")
    return record


def record_identity(record: dict[str, Any]) -> dict[str, Any]:
    """``run_identity`` as ``settings.json`` recorded it (keys it lacks are not compared).

    Raises:
        RunFolderError: the record lacks the settings every run has (``check_record``).
    """
    record = check_record(record)
    settings, method = record["settings"], record.get("method", {})
    identity = {key: settings[key] for key in ("method", "benchmark", "mode", "seed")}
    identity["tasks"] = record.get("task_names", settings.get("tasks"))
    for key in ("policy", "policy_kwargs", "reweight"):
        if key in method:
            identity[key] = method[key]
    if "policy" in method:  # a method record of this version: no algorithm_kwargs means none
        identity["algorithm_kwargs"] = method.get("algorithm_kwargs", {})
    schedule = record.get("schedule", {})
    for key in SCHEDULE_KEYS:
        if key in schedule:
            identity[key] = schedule[key]
    if "reward_function_version" in record:
        identity["reward_function_version"] = record["reward_function_version"]
    return identity


def _initial_temperature(ent_coef: Any) -> float | None:
    """SB3's ``ent_coef`` string ``'auto_<x>'`` (or ``'auto'``: 1.0) as ``x``; else None."""
    if not isinstance(ent_coef, str) or not ent_coef.startswith("auto"):
        return None
    try:
        return float(ent_coef[len("auto_") :]) if "_" in ent_coef else 1.0
    except ValueError:
        return None


def model_identity(model_zip: Path, aliases: dict[str, type]) -> dict[str, Any]:
    """The identity keys SB3's zip itself holds (policy, its kwargs, reweight, seed, tasks).

    ``aliases``: the algorithm's ``policy_aliases``, to name the policy class as
    ``settings.json`` does. A damaged zip raises ``RunFolderError`` naming it.
    """
    from stable_baselines3.common.save_util import load_from_zip_file

    try:
        data, _, _ = load_from_zip_file(model_zip, device="cpu")
    except Exception as error:  # noqa: BLE001 -- a damaged zip raises many kinds
        raise RunFolderError.unreadable(
            model_zip,
            error,
            "Delete it and checkpoints/latest.json to resume from the previous checkpoint.",
            read_as=" as an SB3 model",
        ) from error
    data = data or {}
    policy = data.get("policy_class")
    names = {cls: name for name, cls in aliases.items()}
    identity: dict[str, Any] = {}
    if policy is not None:
        identity["policy"] = names.get(policy, getattr(policy, "__name__", str(policy)))
    if "reweight" in data:
        identity["reweight"] = data["reweight"]
    if data.get("seed") is not None:
        identity["seed"] = data["seed"]
    if data.get("task_names") is not None:
        identity["tasks"] = data["task_names"]
    identity["policy_kwargs"] = data.get("policy_kwargs", {})
    for key in ("batch_size", "gradient_steps"):
        if isinstance(data.get(key), int):
            identity[key] = data[key]
    if isinstance(data.get("learning_rate"), float):  # a constant step size (not a schedule)
        identity["learning_rate"] = data["learning_rate"]
    temperature = _initial_temperature(data.get("ent_coef"))
    if temperature is not None:
        identity["initial_temperature"] = temperature
    if data.get("num_timesteps") is not None:
        identity["num_timesteps"] = int(data["num_timesteps"])
    return identity


def check_checkpoint(
    where: str,
    record: dict[str, Any],
    model_zip: Path,
    state: dict[str, Any] | None,
    aliases: dict[str, type],
    *,
    step: int | None = None,
    state_file: Path | None = None,
) -> None:
    """Refuse a checkpoint that is not of the run ``record`` (``settings.json``) describes.

    Compares the state's identity (all ``IDENTITY_KEYS``) and what the zip holds
    (policy, reweight, seed, tasks, batch size, gradient steps, initial temperature,
    and every policy kwarg ``settings.json`` names). The zip's ``num_timesteps`` must
    equal the state's and ``step`` (what ``latest.json`` says), so that files of
    different steps are never mixed.

    Raises:
        ConfigError: the first difference, naming both values.
        RunFolderError: the zip is damaged, or the files disagree on the step.
    """
    expected = record_identity(record)
    if state is not None and state.get("identity"):
        check_identity(where, state["identity"], expected)
    from_zip = model_identity(model_zip, aliases)
    zip_step = from_zip.pop("num_timesteps", None)
    state_step = None if state is None else state.get("num_timesteps")
    if zip_step is not None and state_step is not None and int(state_step) != zip_step:
        raise RunFolderError(
            f"{model_zip} (step {zip_step:,}) and {state_file or 'its state file'} (step "
            f"{int(state_step):,}) are of different steps: they are not one checkpoint. "
            "Delete checkpoints/latest.json and the newer of the two: --resume then takes "
            "the newest complete checkpoint."
        )
    if zip_step is not None and step is not None and int(step) != zip_step:
        raise RunFolderError(
            f"{model_zip} holds step {zip_step:,}, but checkpoints/latest.json names it as "
            f"step {int(step):,}. Delete checkpoints/latest.json: --resume then takes the "
            "newest complete checkpoint."
        )
    kwargs = from_zip.pop("policy_kwargs")
    wanted = expected.get("policy_kwargs") or {}
    from_zip["policy_kwargs"] = {key: kwargs.get(key) for key in wanted}
    check_identity(where, from_zip, expected)
