"""Every bad input refused (issue #15, item 4): one parametrised sweep over the public API.

Each case makes one bad call and must raise the error type given, with a message that
names the argument and what came (``pytest.raises(..., match=...)``). A case that passes
silently or fails with another error (a raw ``AttributeError`` or torch's own message)
fails the sweep. ``test_the_sweep_covers_every_kind`` keeps at least 100 cases and every
kind below covered.

| kind | where it is checked | examples |
|---|---|---|
| ``task-id`` | the networks' forward (CPU: ShapeError; compile/accelerator: device assertion) | negative or too large ids, float ids, bool, a Python int, a numpy array, wrong batch |
| ``one-hot`` | the networks' forward; ``predict``; the buffer's ``add``; the policy's first training batch | two ones, all zeros, NaN, negative, soft mixture where a head is chosen |
| ``state`` | every network and layer's forward | numpy array, list, int64 or float64 tensor, wrong width or rank, batch mismatch |
| ``device`` | every network's forward | task on another device than the state |
| ``ensemble`` | ``SoftRoutedMLP.ensemble_forward`` | empty, non-mapping, missing, unknown or mis-shaped parameters |
| ``routing`` | routing strategies and ``RoutedLinear`` | numpy or int logits, context of the wrong width, batch or dtype |
| ``setting`` | constructors and configs (ConfigError) | sizes 0, negative, float or bool; k > n; unknown names |
| ``obs-space`` | policies, buffer and ``MTSAC`` at construction | observation narrower than the one-hot, one-hot bounds that cannot hold 0 and 1 |
| ``num-tasks`` | ``MTSAC`` at construction (the env declares it); ``predict``; the first training batch | policy ``num_tasks`` against the env's |
| ``observation`` | ``predict``, the buffer's ``add``, ``MTSAC.learn``, plain SB3 ``SAC`` training | NaN or inf (env column named), wrong width, ``VecNormalize``'d one-hot |
| ``device-exists`` | ``MTSAC``, ``TrainSettings`` | ``cuda`` on a machine without CUDA |
| ``load`` | ``MTSAC.load`` | a bad ``ent_coef`` in ``custom_objects`` |
| ``meta-world`` | wrappers, ``make_env``, ``evaluate``, ``MetaWorldEvalCallback`` | a wrapper on a non-Meta-World env, an env built with another mode |
| ``toy-env`` | ``modnet_sb3.testing`` | zero tasks, a task outside ``[0, T)`` |
| ``settings`` | ``examples.settings.validate_settings`` | unknown method, preset, field; negative seed |
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("metaworld")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3 import SAC  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402
from torch.func import stack_module_state  # noqa: E402

import modnet_metaworld as mw  # noqa: E402
from modnet import (  # noqa: E402
    Hard,
    MixtureOfExperts,
    MultiHeadMLP,
    RoutedLinear,
    Soft,
    SoftRoutedMLP,
    TaskMLP,
    TopK,
)
from modnet.errors import ConfigError, ShapeError  # noqa: E402
from modnet.reference import LoopSoftRoutedMLP  # noqa: E402
from modnet_sb3 import (  # noqa: E402
    MTSAC,
    MixtureOfExpertsPolicy,
    ModuleEnsemble,
    MultiHeadPolicy,
    SoftModularPolicy,
    TaskBalancedReplayBuffer,
    state_and_task_ids,
)
from modnet_sb3.task_observation import check_task_observations  # noqa: E402
from modnet_sb3.testing import (  # noqa: E402
    PointReachEnv,
    RandomStateEnv,
    make_point_reach_vec_env,
    make_random_state_vec_env,
)

T, S, A = 3, 2, 2  # tasks, state width, action width of the toy networks and envs
B = 4  # batch
TINY_SOFT = {"hidden_features": 8, "routing_features": 8, "module_features": 8}


class Case(NamedTuple):
    """One bad call: ``call()`` must raise ``error`` with a message matching ``match``."""

    kind: str
    name: str
    call: Callable[[], Any]
    error: type[Exception]
    match: str


CASES: list[Case] = []


def cases(*rows: tuple[str, str, Callable[[], Any], type[Exception], str]) -> None:
    CASES.extend(Case(*row) for row in rows)


# ---------------------------------------------------------------------- core networks
def soft_net() -> SoftRoutedMLP:
    return SoftRoutedMLP(S, 3, T, num_layers=2, num_modules=2, **TINY_SOFT)


NETWORKS: dict[str, Callable[[], torch.nn.Module]] = {
    "SoftRoutedMLP": soft_net,
    "SoftRoutedMLP-topk": lambda: SoftRoutedMLP(
        S, 3, T, num_layers=3, num_modules=3, routing="topk", routing_kwargs={"k": 2}, **TINY_SOFT
    ),
    "SoftRoutedMLP-paper": lambda: SoftRoutedMLP(S, 3, T, variant="paper", **TINY_SOFT),
    "LoopSoftRoutedMLP": lambda: LoopSoftRoutedMLP(S, 3, T, num_modules=2, **TINY_SOFT),
    "TaskMLP": lambda: TaskMLP(S, 3, T, hidden_sizes=(8,)),
    "MultiHeadMLP": lambda: MultiHeadMLP(S, 3, T, trunk_sizes=(8,), head_sizes=(8,)),
    "MixtureOfExperts": lambda: MixtureOfExperts(S, 3, T, num_experts=2, hidden_sizes=(8,)),
}


def _x(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.zeros(shape or (B, S), dtype=dtype)


IDS = torch.tensor([0, 1, 2, 0])
ONE_HOT = torch.eye(T)[IDS]


def _row0(*row: float) -> torch.Tensor:
    """A float task ``[B, T]``: row 0 as given, the others exact one-hots."""
    return torch.cat([torch.tensor([row], dtype=torch.float32), ONE_HOT[1:]])


# Every network's forward, the same bad calls: (bad, x, task, error, message after "forward: ").
# fmt: off
FORWARD = [
    ("x-numpy", np.zeros((B, S), np.float32), IDS, ShapeError, r"x must be a torch\.Tensor, got ndarray"),
    ("x-list", [[0.0] * S] * B, IDS, ShapeError, r"x must be a torch\.Tensor, got list"),
    ("x-int64", _x(B, S, dtype=torch.int64), IDS, ShapeError, r"x must be a floating-point tensor, got torch\.int64"),
    ("x-float64", _x(B, S, dtype=torch.float64), IDS, ShapeError, r"x must have the network's dtype torch\.float32 .*got torch\.float64"),
    ("x-1d", _x(S), IDS, ShapeError, r"x must have shape \(batch, 2\), got \(2,\)"),
    ("x-too-wide", _x(B, S + T), IDS, ShapeError, r"x must have shape \(batch, 2\), got \(4, 5\)"),
    ("task-negative-id", _x(), torch.tensor([0, -1, 2, 0]), ShapeError, r"task ids must be in \[0, 3\), got -1"),
    ("task-id-too-large", _x(), torch.tensor([0, 3, 2, 0]), ShapeError, r"task ids must be in \[0, 3\), got 3"),
    ("task-float-ids", _x(), IDS.float(), ShapeError, r"task one-hot must have shape \(4, 3\) \(task ids must be an integer tensor\), got \(4,\)"),
    ("task-bool", _x(), ONE_HOT.bool(), ShapeError, r"task must be int64 ids or a float one-hot, got torch\.bool"),
    ("task-python-int", _x(), 1, ShapeError, r"task must be a torch\.Tensor of ids or one-hots, got int"),
    ("task-numpy", _x(), IDS.numpy(), ShapeError, r"task must be a torch\.Tensor of ids or one-hots, got ndarray"),
    ("task-batch-mismatch", _x(), IDS[:3], ShapeError, r"task ids must have shape \(4,\), got \(3,\)"),
    ("one-hot-narrow", _x(), ONE_HOT[:, :2], ShapeError, r"task one-hot must have shape \(4, 3\), got \(4, 2\)"),
    ("one-hot-two-ones", _x(), _row0(1.0, 1.0, 0.0), ShapeError, r"task one-hot must .*row 0 = \[1\.0, 1\.0, 0\.0\]"),
    ("one-hot-all-zero", _x(), _row0(0.0, 0.0, 0.0), ShapeError, r"task one-hot must .*row 0 = \[0\.0, 0\.0, 0\.0\]"),
    ("one-hot-nan", _x(), _row0(float("nan"), 1.0, 0.0), ShapeError, r"task one-hot must .*row 0 = \[nan, 1\.0, 0\.0\]"),
    ("one-hot-negative", _x(), _row0(-0.5, 1.5, 0.0), ShapeError, r"task one-hot must .*row 0 = \[-0\.5, 1\.5, 0\.0\]"),
    ("task-other-device", _x(), IDS.to("meta"), ShapeError, r"task must be on the device of x \(cpu\), got meta"),
]
# fmt: on
for net_name, make_net in NETWORKS.items():
    cls_name = net_name.split("-")[0]
    for bad, x, task, error, pattern in FORWARD:
        kind = {"x": "state", "task": "task-id", "one": "one-hot"}[bad.split("-")[0]]
        kind = "device" if "device" in bad else kind
        cases((kind, f"{net_name}.{bad}", lambda m=make_net, x=x, t=task: m()(x, t), error, rf"{cls_name}\.forward: {pattern}"))  # fmt: skip

# fmt: off
cases(
    # MultiHeadMLP answers with one head per sample: a soft mixture has none.
    ("one-hot", "MultiHeadMLP.soft-mixture", lambda: NETWORKS["MultiHeadMLP"]()(_x(), _row0(0.5, 0.5, 0.0)), ShapeError, r"MultiHeadMLP\.forward: task one-hot must have exactly one 1 .*row 0 = \[0\.5, 0\.5, 0\.0\]"),
    ("task-id", "MixtureOfExperts.gate_weights-negative", lambda: NETWORKS["MixtureOfExperts"]().gate_weights(torch.tensor([-1, 0])), ShapeError, r"MixtureOfExperts\.gate_weights: task ids must be in \[0, 3\), got -1"),
    ("task-id", "MixtureOfExperts.gate_weights-numpy", lambda: NETWORKS["MixtureOfExperts"]().gate_weights(np.zeros(2, np.int64)), ShapeError, r"MixtureOfExperts\.gate_weights: task must be a torch\.Tensor"),
)
# fmt: on


# ---------------------------------------------------------------------- ensemble_forward
def _ensemble(
    edit: Callable[[dict[str, torch.Tensor]], Any], x: Any = None, task: Any = IDS
) -> Any:
    nets = [soft_net(), soft_net()]
    params = edit(dict(stack_module_state(nets)[0]))
    return nets[0].ensemble_forward(params, _x() if x is None else x, task)


def _drop_first(p: dict) -> dict:
    return dict(list(p.items())[1:])


def _one_member_short(p: dict) -> dict:
    return {**p, "state_fc1.weight": p["state_fc1.weight"][:1]}


def _bias_cut(p: dict) -> dict:
    return {**p, "state_fc1.bias": p["state_fc1.bias"][:, :3]}


WHERE_E = r"SoftRoutedMLP\.ensemble_forward: "
# fmt: off
cases(
    ("ensemble", "empty-dict", lambda: _ensemble(lambda p: {}), ConfigError, WHERE_E + r"params must be a non-empty mapping of stacked parameters, got an empty mapping"),
    ("ensemble", "list", lambda: _ensemble(lambda p: list(p.values())), ConfigError, WHERE_E + r"params must be a non-empty mapping .*got list"),
    ("ensemble", "missing-name", lambda: _ensemble(_drop_first), ConfigError, WHERE_E + r"params must hold exactly this network's parameters, got missing \['state_fc1\.weight'\]"),
    ("ensemble", "unknown-name", lambda: _ensemble(lambda p: {**p, "extra": torch.zeros(2, 1)}), ConfigError, WHERE_E + r"params must hold .*got unknown \['extra'\]"),
    ("ensemble", "mixed-k", lambda: _ensemble(_one_member_short), ShapeError, WHERE_E + r"params must share one leading ensemble size k"),
    ("ensemble", "wrong-shape", lambda: _ensemble(_bias_cut), ShapeError, WHERE_E + r"params\['state_fc1\.bias'\] must have shape \(k, 8\), got \(2, 3\)"),
    ("ensemble", "x-numpy", lambda: _ensemble(lambda p: p, x=np.zeros((B, S), np.float32)), ShapeError, WHERE_E + r"x must be a torch\.Tensor, got ndarray"),
    ("ensemble", "task-negative", lambda: _ensemble(lambda p: p, task=torch.tensor([0, -2, 1, 1])), ShapeError, WHERE_E + r"task ids must be in \[0, 3\), got -2"),
    ("ensemble", "ModuleEnsemble-empty", lambda: ModuleEnsemble([]), ConfigError, r"ModuleEnsemble: members must hold at least 1 module, got 0"),
    ("ensemble", "ModuleEnsemble.member-negative", lambda: ModuleEnsemble([soft_net(), soft_net()]).member(-1), ConfigError, r"ModuleEnsemble\.member: index must be in \[0, 2\), got -1"),
    ("ensemble", "ModuleEnsemble.call_member-too-large", lambda: ModuleEnsemble([soft_net(), soft_net()]).call_member(2, _x(), IDS), ConfigError, r"ModuleEnsemble\.call_member: index must be in \[0, 2\), got 2"),
)
# fmt: on


# ---------------------------------------------------------------------- RoutedLinear, routing
def _rl(**kw: Any) -> RoutedLinear:
    return RoutedLinear(4, 3, 4, **kw)


def _ctx(context: Any) -> Any:
    return _rl(context_features=2)(torch.zeros(B, 4), context)


WHERE_RL = r"RoutedLinear\.forward: "
# fmt: off
cases(
    ("routing", "RoutedLinear.x-numpy", lambda: _rl()(np.zeros((B, 4), np.float32)), ShapeError, WHERE_RL + r"x must be a torch\.Tensor, got ndarray"),
    ("routing", "RoutedLinear.x-int64", lambda: _rl()(torch.zeros(B, 4, dtype=torch.int64)), ShapeError, WHERE_RL + r"x must be a floating-point tensor, got torch\.int64"),
    ("routing", "RoutedLinear.x-float64", lambda: _rl()(torch.zeros(B, 4, dtype=torch.float64)), ShapeError, WHERE_RL + r"x must have the network's dtype torch\.float32"),
    ("routing", "RoutedLinear.x-wide", lambda: _rl()(torch.zeros(B, 5)), ShapeError, WHERE_RL + r"x must have shape \(batch, 4\), got \(4, 5\)"),
    ("routing", "RoutedLinear.topk-x-3d", lambda: _rl(routing=TopK(2))(torch.zeros(B, 2, 4)), ShapeError, WHERE_RL + r"x must have shape \(batch, 4\), got \(4, 2, 4\)"),
    ("routing", "RoutedLinear.context-numpy", lambda: _ctx(np.zeros((B, 2), np.float32)), ShapeError, WHERE_RL + r"context must be a torch\.Tensor, got ndarray"),
    ("routing", "RoutedLinear.context-width", lambda: _ctx(torch.zeros(B, 3)), ShapeError, WHERE_RL + r"context must have shape \(batch, 2\), got \(4, 3\)"),
    ("routing", "RoutedLinear.context-batch", lambda: _ctx(torch.zeros(B + 1, 2)), ShapeError, WHERE_RL + r"context must have the batch size of x \(4\), got batch size 5"),
    ("routing", "RoutedLinear.context-int64", lambda: _ctx(torch.zeros(B, 2, dtype=torch.int64)), ShapeError, WHERE_RL + r"context must be a floating-point tensor, got torch\.int64"),
    ("routing", "RoutedLinear.context-float64", lambda: _ctx(torch.zeros(B, 2, dtype=torch.float64)), ShapeError, WHERE_RL + r"context must have the network's dtype torch\.float32"),
    ("routing", "RoutedLinear.context-device", lambda: _ctx(torch.zeros(B, 2, device="meta")), ShapeError, WHERE_RL + r"context must be on the device of x \(cpu\), got meta"),
    ("routing", "TopK.fewer-choices-than-k", lambda: TopK(3)(torch.zeros(B, 2)), ShapeError, r"TopK.*logits.*3"),
)
for strategy in (Soft(), Hard(), TopK(2)):
    where = rf"{type(strategy).__name__}\.forward: logits must "
    cases(
        ("routing", f"{type(strategy).__name__}.logits-numpy", lambda s=strategy: s(np.zeros((B, 3), np.float32)), ShapeError, where + r"be a torch\.Tensor, got ndarray"),
        ("routing", f"{type(strategy).__name__}.logits-int", lambda s=strategy: s(torch.zeros(B, 3, dtype=torch.int64)), ShapeError, where + r"be a floating-point tensor, got torch\.int64"),
        ("routing", f"{type(strategy).__name__}.logits-0d", lambda s=strategy: s(torch.tensor(1.0)), ShapeError, where + r"have shape \[\.\.\., n\] with n >= 1, got \(\)"),
    )

# ---------------------------------------------------------------------- settings of the core
cases(
    ("setting", "SoftRoutedMLP.num_tasks-0", lambda: SoftRoutedMLP(S, 3, 0), ConfigError, r"SoftRoutedMLP: num_tasks must be an int >= 1, got 0"),
    ("setting", "SoftRoutedMLP.in_features-float", lambda: SoftRoutedMLP(2.0, 3, T), ConfigError, r"SoftRoutedMLP: in_features must be an int >= 1, got 2\.0"),
    ("setting", "SoftRoutedMLP.num_layers-1", lambda: SoftRoutedMLP(S, 3, T, num_layers=1), ConfigError, r"SoftRoutedMLP: num_layers must be an int >= 2, got 1"),
    ("setting", "SoftRoutedMLP.topk-k-too-large", lambda: SoftRoutedMLP(S, 3, T, num_modules=2, routing="topk", routing_kwargs={"k": 3}), ConfigError, r"SoftRoutedMLP: .*k.*3"),
    ("setting", "SoftRoutedMLP.unknown-setting", lambda: SoftRoutedMLP(S, 3, T, num_module=2), ConfigError, r"SoftRoutedMLP: unknown argument 'num_module'"),
    ("setting", "TaskMLP.out_features-bool", lambda: TaskMLP(S, True, T), ConfigError, r"TaskMLP: out_features must be an int >= 1, got True"),
    ("setting", "MultiHeadMLP.trunk_sizes-zero", lambda: MultiHeadMLP(S, 3, T, trunk_sizes=(0,)), ConfigError, r"MultiHeadMLP: trunk_sizes must be a sequence of ints >= 1, got \(0,\)"),
    ("setting", "MixtureOfExperts.num_experts-negative", lambda: MixtureOfExperts(S, 3, T, num_experts=-1), ConfigError, r"MixtureOfExperts: num_experts must be an int >= 1, got -1"),
    ("setting", "RoutedLinear.topk-k-too-large", lambda: RoutedLinear(4, 3, 2, routing=TopK(3)), ConfigError, r"RoutedLinear: routing must select k <= num_modules=2, got k=3"),
    ("setting", "RoutedLinear.sparse-soft", lambda: RoutedLinear(4, 3, 2, dispatch="sparse"), ConfigError, r"RoutedLinear: dispatch must be 'dense' or 'auto' unless routing is TopK"),
    ("setting", "Soft.temperature-0", lambda: Soft(temperature=0.0), ConfigError, r"Soft: temperature must be a finite number > 0, got 0\.0"),
    ("setting", "TopK.k-0", lambda: TopK(0), ConfigError, r"TopK: k must .*got 0"),
)
# fmt: on


# ---------------------------------------------------------------------- SB3: policies
OBS = spaces.Box(
    np.array([-1.0] * S + [0.0] * T, np.float32), np.array([1.0] * S + [1.0] * T, np.float32)
)
ACT = spaces.Box(-1.0, 1.0, shape=(A,), dtype=np.float32)
POLICIES = {
    "SoftModularPolicy": (SoftModularPolicy, TINY_SOFT),
    "MultiHeadPolicy": (MultiHeadPolicy, {"trunk_sizes": (8,), "head_sizes": (8,)}),
    "MixtureOfExpertsPolicy": (MixtureOfExpertsPolicy, {"num_experts": 2, "hidden_sizes": (8,)}),
}


def _lr(_: float) -> float:
    return 3e-4


def _policy(name: str = "SoftModularPolicy", obs: spaces.Space = OBS, **kw: Any) -> Any:
    cls, settings = POLICIES[name]
    kw.setdefault("num_tasks", T)
    return cls(obs, ACT, _lr, **{**settings, **kw})


def _obs(rows: int = T) -> np.ndarray:
    """``rows`` good observations ``[rows, S + T]``, row ``k`` of task ``k % T``."""
    state = np.zeros((rows, S), np.float32)
    return np.concatenate([state, np.eye(T, dtype=np.float32)[np.arange(rows) % T]], axis=1)


def _with(obs: np.ndarray, *entries: tuple[int, int, float]) -> np.ndarray:
    """``obs`` with ``obs[row, col] = value`` for each ``(row, col, value)``."""
    obs = obs.copy()
    for row, col, value in entries:
        obs[row, col] = value
    return obs


NARROW = spaces.Box(0.0, 1.0, (T,), np.float32)
NO_ZERO = spaces.Box(-1.0, -0.5, (S + T,), np.float32)
# fmt: off
for p in POLICIES:
    where, predict = rf"{p}\.predict: ", (lambda p=p: _policy(p).predict)
    cases(
        ("observation", f"{p}.predict-nan-state", lambda f=predict: f()(_with(_obs(), (1, 0, np.nan))), ShapeError, where + r"the observation of env column 1 must be finite, got nan at state entry 0"),
        ("observation", f"{p}.predict-inf-one-hot", lambda f=predict: f()(_with(_obs(), (2, S, np.inf))), ShapeError, where + r"the observation of env column 2 must be finite, got inf at one-hot entry 0"),
        ("one-hot", f"{p}.predict-two-ones", lambda f=predict: f()(_with(_obs(), (0, S + 1, 1.0))), ShapeError, where + r"the last 3 observation columns must be a task one-hot .*got \[1\.0, 1\.0, 0\.0\] in env column 0"),
        ("one-hot", f"{p}.predict-no-one", lambda f=predict: f()(_with(_obs(), (1, S + 1, 0.0))), ShapeError, where + r"the last 3 observation columns must be a task one-hot .*got \[0\.0, 0\.0, 0\.0\] in env column 1"),
        ("observation", f"{p}.predict-narrow", lambda f=predict: f()(_obs()[:, 1:]), ShapeError, where + r"observation must have 5 columns .*got \(3, 4\)"),
        ("obs-space", f"{p}.obs-narrower-than-one-hot", lambda p=p: _policy(p, obs=NARROW), ConfigError, rf"{p}: observation width must hold a state and the 3-column task one-hot .*got 3"),
        ("obs-space", f"{p}.one-hot-bounds", lambda p=p: _policy(p, obs=NO_ZERO), ConfigError, rf"{p}: bounds of the last 3 observation columns \(the one-hot\) must admit 0 and 1"),
        ("num-tasks", f"{p}.num_tasks-missing", lambda p=p: _policy(p, num_tasks=None), ConfigError, rf"{p}: num_tasks must be given"),
        ("setting", f"{p}.num_tasks-float", lambda p=p: _policy(p, num_tasks=2.0), ConfigError, rf"{p}: num_tasks must be an int >= 1, got 2\.0"),
        ("setting", f"{p}.unknown-setting", lambda p=p: _policy(p, colour="red"), ConfigError, rf"{p}: unknown argument 'colour'"),
        ("setting", f"{p}.discrete-actions", lambda p=p: POLICIES[p][0](OBS, spaces.Discrete(3), _lr, num_tasks=T), ConfigError, rf"{p}: action_space must be a gymnasium\.spaces\.Box, got Discrete"),
    )

cases(
    ("setting", "SoftModularPolicy.use_sde", lambda: _policy(use_sde=True), ConfigError, r"SoftModularPolicy: use_sde must be False"),
    ("setting", "SoftModularPolicy.net_arch", lambda: _policy(net_arch=[64, 64]), ConfigError, r"SoftModularPolicy: net_arch must be None"),
    ("setting", "SoftModularPolicy.n_critics-0", lambda: _policy(n_critics=0), ConfigError, r"SoftModularPolicy: n_critics must be an int >= 1, got 0"),
    ("observation", "state_and_task_ids.numpy", lambda: state_and_task_ids(_obs(), T), ShapeError, r"state_and_task_ids: obs must be a torch\.Tensor, got ndarray"),
    ("obs-space", "state_and_task_ids.narrow", lambda: state_and_task_ids(torch.zeros(B, T), T), ShapeError, r"state_and_task_ids: obs must have shape \(batch, state \+ 3\), got \(4, 3\)"),
    ("observation", "check_task_observations.3d", lambda: check_task_observations(np.zeros((2, 2, 5)), T, where="f"), ShapeError, r"f: observations must have shape \(envs, state \+ 3\), got \(2, 2, 5\)"),
)
# fmt: on


# ---------------------------------------------------------------------- SB3: the replay buffer
def _buffer(n_envs: int = T) -> TaskBalancedReplayBuffer:
    return TaskBalancedReplayBuffer(16, OBS, ACT, "cpu", n_envs=n_envs)


def _add(obs: np.ndarray, next_obs: np.ndarray | None = None) -> None:
    next_obs = _obs() if next_obs is None else next_obs
    zeros = np.zeros(T, np.float32)
    _buffer().add(obs, next_obs, np.zeros((T, A), np.float32), zeros, zeros, [{}] * T)


WHERE_BUF = r"TaskBalancedReplayBuffer\.add: "
# fmt: off
cases(
    ("observation", "buffer.add-nan-obs", lambda: _add(_with(_obs(), (2, 1, np.nan))), ShapeError, WHERE_BUF + r"the observation of env column 2 must be finite, got nan at state entry 1"),
    ("observation", "buffer.add-inf-next-obs", lambda: _add(_obs(), _with(_obs(), (0, 0, -np.inf))), ShapeError, WHERE_BUF + r"the observation of env column 0 must be finite, got -inf at state entry 0"),
    ("one-hot", "buffer.add-two-ones", lambda: _add(_with(_obs(), (1, S, 1.0))), ShapeError, WHERE_BUF + r"the last 3 observation columns must be a task one-hot .*in env column 1"),
    ("one-hot", "buffer.add-soft-one-hot", lambda: _add(_with(_obs(), (0, S, 0.5), (0, S + 1, 0.5))), ShapeError, WHERE_BUF + r"the last 3 observation columns must be a task one-hot .*got \[0\.5, 0\.5, 0\.0\] in env column 0"),
    ("one-hot", "buffer.add-same-task-twice", lambda: _add(_obs()[[0, 0, 2]]), ShapeError, WHERE_BUF + r"env columns must hold one distinct task each .*got tasks \[0, 0, 2\]"),
    ("observation", "buffer.add-narrow", lambda: _add(_obs()[:, :T]), ShapeError, WHERE_BUF + r"observations must have shape \(envs, state \+ 3\), got \(3, 3\)"),
    ("obs-space", "buffer.n_envs-wider-than-obs", lambda: _buffer(n_envs=S + T), ConfigError, r"TaskBalancedReplayBuffer: observation width must hold a state and the 5-column task one-hot"),
    ("setting", "buffer.n_envs-0", lambda: _buffer(n_envs=0), ConfigError, r"TaskBalancedReplayBuffer: num_tasks must be an int >= 1, got 0"),
    ("setting", "buffer.sample-batch-not-multiple", lambda: _buffer().sample(4), ConfigError, r"TaskBalancedReplayBuffer\.sample: batch_size must be a multiple of the number of tasks \(3\), got 4"),
)
# fmt: on


# ---------------------------------------------------------------------- SB3: MTSAC
def _mtsac(env: Any = None, policy: str = "SoftModularPolicy", **kw: Any) -> MTSAC:
    env = make_point_reach_vec_env(T) if env is None else env
    policy_kwargs = {**POLICIES[policy][1], **kw.pop("policy_kwargs", {})}
    kw.setdefault("learning_starts", 0)
    kw.setdefault("batch_size", 6)
    kw.setdefault("device", "cpu")
    return MTSAC(policy, env, policy_kwargs=policy_kwargs, **kw)


class _NaNAfter(gym.Wrapper):
    """A toy env whose first state entry turns NaN from step ``steps`` (0: at reset)."""

    def __init__(self, env: gym.Env, steps: int) -> None:
        super().__init__(env)
        self.steps, self.count = steps, 0

    def reset(self, **kw: Any) -> Any:
        obs, info = self.env.reset(**kw)
        return (obs * np.nan if self.steps == 0 else obs), info

    def step(self, action: Any) -> Any:
        obs, *rest = self.env.step(action)
        self.count += 1
        if self.count >= self.steps:
            obs = obs.copy()
            obs[0] = np.nan
        return (obs, *rest)


def _nan_env(steps: int) -> DummyVecEnv:
    """Three toy tasks; column 1 turns NaN."""
    never = 10**9
    return DummyVecEnv(
        [(lambda k=k: _NaNAfter(PointReachEnv(k, T), steps if k == 1 else never)) for k in range(T)]
    )


@cache
def _saved_model() -> str:
    path = str(Path(tempfile.mkdtemp(prefix="modnet-bad-inputs-")) / "model.zip")
    _mtsac().save(path)
    return path


def _load(ent_coef: Any) -> MTSAC:
    return MTSAC.load(_saved_model(), custom_objects={"ent_coef": ent_coef}, device="cpu")


def _one_env() -> DummyVecEnv:
    return DummyVecEnv([lambda: PointReachEnv(0, T)])


def _cartpole() -> DummyVecEnv:
    return DummyVecEnv([lambda: gym.make("CartPole-v1")])


BALANCED = {"replay_buffer_class": TaskBalancedReplayBuffer}
NAN_PATTERN = r"the observation of env column 1 must be finite, got nan at state entry 0"
# fmt: off
cases(
    ("setting", "MTSAC.reweight", lambda: _mtsac(reweight="inverse"), ConfigError, r"MTSAC: reweight must be one of \['inverse_alpha', 'paper', 'none'\], got 'inverse'"),
    ("setting", "MTSAC.update_order", lambda: _mtsac(update_order="actor-first"), ConfigError, r"MTSAC: update_order must be one of \['sb3', 'authors'\]"),
    ("setting", "MTSAC.ent_coef-negative-initial", lambda: _mtsac(ent_coef="auto_-1"), ConfigError, r"MTSAC: ent_coef must be 'auto', 'auto_<initial alpha > 0>' or a fixed alpha > 0, got 'auto_-1'"),
    ("setting", "MTSAC.ent_coef-word", lambda: _mtsac(ent_coef="fast"), ConfigError, r"MTSAC: ent_coef must be .*got 'fast'"),
    ("setting", "MTSAC.ent_coef-zero", lambda: _mtsac(ent_coef=0.0), ConfigError, r"MTSAC: ent_coef must be .*got 0\.0"),
    ("setting", "MTSAC.max_grad_norm-0", lambda: _mtsac(max_grad_norm=0.0), ConfigError, r"MTSAC: max_grad_norm must be positive or None, got 0\.0"),
    ("setting", "MTSAC.use_sde", lambda: _mtsac(use_sde=True), ConfigError, r"MTSAC: use_sde must be False"),
    ("setting", "MTSAC.policy_kwargs-use_sde", lambda: _mtsac(policy_kwargs={"use_sde": True}), ConfigError, r"MTSAC: policy_kwargs\['use_sde'\] must be absent or False"),
    ("setting", "MTSAC.task_names-length", lambda: _mtsac(task_names=["a", "b"]), ConfigError, r"MTSAC: task_names must hold 3 names, got 2"),
    ("setting", "MTSAC.balanced-batch-not-multiple", lambda: _mtsac(batch_size=4, **BALANCED), ConfigError, r"MTSAC: batch_size must be a multiple of num_tasks = 3 with TaskBalancedReplayBuffer, got 4"),
    ("setting", "MTSAC.balanced-one-env", lambda: _mtsac(_one_env(), **BALANCED), ConfigError, r"MTSAC: number of envs must equal num_tasks = 3 with TaskBalancedReplayBuffer \(one env per task\), got 1"),
    ("setting", "MTSAC.discrete-env", lambda: _mtsac(_cartpole()), ConfigError, r"MTSAC: the env's action space must be a gymnasium\.spaces\.Box, got Discrete"),
    ("num-tasks", "MTSAC.num_tasks-vs-policy", lambda: _mtsac(num_tasks=T, policy_kwargs={"num_tasks": 2}), ConfigError, r"MTSAC: num_tasks must equal policy_kwargs\['num_tasks'\] = 2, got 3"),
    ("num-tasks", "MTSAC.policy-num_tasks-vs-env", lambda: _mtsac(policy_kwargs={"num_tasks": 2}), ConfigError, r"MTSAC: policy_kwargs\['num_tasks'\] must equal the env's num_tasks = 3 .*got 2"),
    ("num-tasks", "MTSAC.num_tasks-vs-env", lambda: _mtsac(num_tasks=2), ConfigError, r"MTSAC: num_tasks must equal the env's num_tasks = 3 .*got 2"),
    ("num-tasks", "MTSAC.num_tasks-vs-env-multihead", lambda: _mtsac(policy="MultiHeadPolicy", num_tasks=4), ConfigError, r"MTSAC: num_tasks must equal the env's num_tasks = 3 .*got 4"),
    ("num-tasks", "MTSAC.num_tasks-0", lambda: _mtsac(num_tasks=0), ConfigError, r"MTSAC: num_tasks must be an int >= 1, got 0"),
    ("obs-space", "MTSAC.env-narrower-than-one-hot", lambda: _mtsac(_one_env(), num_tasks=S + T), ConfigError, r"MTSAC: observation width must hold a state and the 5-column task one-hot"),
    ("device-exists", "MTSAC.device-cuda", lambda: _mtsac(device="cuda"), ConfigError, r"MTSAC: device must be a device this machine has \(no cuda here"),
    ("device-exists", "MTSAC.device-nonsense", lambda: _mtsac(device="gpu0"), ConfigError, r"MTSAC: device must be 'auto' or a torch device, got 'gpu0'"),
    ("observation", "MTSAC.learn-nan-at-reset", lambda: _mtsac(_nan_env(0)).learn(3), ShapeError, r"MTSAC\.learn: the observation of env column 1 must be finite, got nan"),
    ("observation", "MTSAC.learn-nan-later-balanced", lambda: _mtsac(_nan_env(2), learning_starts=100, **BALANCED).learn(30), ShapeError, r"TaskBalancedReplayBuffer\.add: " + NAN_PATTERN),
    ("observation", "MTSAC.learn-nan-later-default-buffer", lambda: _mtsac(_nan_env(2)).learn(30), ShapeError, r"MTSAC\.learn \(env\.step\): " + NAN_PATTERN),
    ("observation", "MTSAC.learn-vecnormalize", lambda: _mtsac(VecNormalize(make_point_reach_vec_env(T))).learn(3), ShapeError, r"MTSAC\.learn: the last 3 observation columns must be a task one-hot"),
    ("load", "MTSAC.load-ent_coef-negative", lambda: _load(-0.1), ConfigError, r"MTSAC\.load: custom_objects\['ent_coef'\] must be a positive finite float or 'auto'/'auto_<init>', got -0\.1"),
    ("load", "MTSAC.load-ent_coef-nan", lambda: _load(float("nan")), ConfigError, r"MTSAC\.load: custom_objects\['ent_coef'\] must be .*got nan"),
    ("load", "MTSAC.load-ent_coef-str", lambda: _load("fixed"), ConfigError, r"MTSAC\.load: custom_objects\['ent_coef'\] must be .*got 'fixed'"),
)
# fmt: on


# ---------------------------------------------------------------------- plain SB3 SAC
def _sac(env: Any, policy_name: str, num_tasks: int = T, learning_starts: int = 0) -> SAC:
    cls, settings = POLICIES[policy_name]
    policy_kwargs = {**settings, "num_tasks": num_tasks}
    return SAC(cls, env, policy_kwargs=policy_kwargs, batch_size=6, learning_starts=learning_starts, device="cpu")  # fmt: skip


def _train_without_predict(model: SAC) -> None:
    # Collection before learning_starts acts uniformly, so no predict sees the data; the
    # first update is then the first place the policy meets it.
    model.learn(2 * T)
    model.train(gradient_steps=1, batch_size=6)


def _normalized() -> VecNormalize:
    return VecNormalize(make_point_reach_vec_env(T))  # one-hots of 1.414 / -0.707


FIRST_BATCH = r"Task(Actor|Critic) \(first training batch\): "
# fmt: off
for p in POLICIES:
    cases(
        ("observation", f"SAC({p}).vecnormalize-predict", lambda p=p: _sac(_normalized(), p).learn(3), ShapeError, rf"{p}\.predict: the last 3 observation columns must be a task one-hot"),
        ("observation", f"SAC({p}).vecnormalize-training", lambda p=p: _train_without_predict(_sac(_normalized(), p, learning_starts=100)), ShapeError, FIRST_BATCH + r"the last 3 observation columns must be a task one-hot"),
        # Three tasks read as two: task 0's last two columns are [0, 0].
        ("num-tasks", f"SAC({p}).three-tasks-as-two-predict", lambda p=p: _sac(make_point_reach_vec_env(T), p, num_tasks=2).learn(3), ShapeError, rf"{p}\.predict: the last 2 observation columns must be a task one-hot .*got \[0\.0, 0\.0\]"),
        ("num-tasks", f"SAC({p}).three-tasks-as-two-training", lambda p=p: _train_without_predict(_sac(make_point_reach_vec_env(T), p, num_tasks=2, learning_starts=100)), ShapeError, FIRST_BATCH + r"the last 2 observation columns must be a task one-hot"),
    )

# ---------------------------------------------------------------------- toy envs
cases(
    ("toy-env", "make_point_reach_vec_env-0", lambda: make_point_reach_vec_env(0), ConfigError, r"make_point_reach_vec_env: num_tasks must be an int >= 1, got 0"),
    ("toy-env", "make_random_state_vec_env-0", lambda: make_random_state_vec_env(0), ConfigError, r"make_random_state_vec_env: num_tasks must be an int >= 1, got 0"),
    ("toy-env", "make_point_reach_vec_env-scales", lambda: make_point_reach_vec_env(T, action_scales=[1.0]), ConfigError, r"make_point_reach_vec_env: action_scales must have one entry per task \(3\), got 1"),
    ("toy-env", "PointReachEnv-task-negative", lambda: PointReachEnv(-1, T), ConfigError, r"PointReachEnv: task must be in \[0, 3\) as an int, got -1"),
    ("toy-env", "PointReachEnv-task-float", lambda: PointReachEnv(1.5, T), ConfigError, r"PointReachEnv: task must be in \[0, 3\) as an int, got 1\.5"),
    ("toy-env", "PointReachEnv-task-bool", lambda: PointReachEnv(True, T), ConfigError, r"PointReachEnv: task must be in \[0, 3\) as an int, got True"),
    ("toy-env", "RandomStateEnv-task-too-large", lambda: RandomStateEnv(T, T), ConfigError, r"RandomStateEnv: task must be in \[0, 3\) as an int, got 3"),
)
# fmt: on


# ---------------------------------------------------------------------- Meta-World
@cache
def _one_column_env() -> Any:
    # One conditioned column: no 50-goal list to build (fast); closed at module teardown.
    return mw.make_env("MT10", "conditioned", tasks=["reach-v3"])


def _bare_meta_world_env() -> Any:
    return _one_column_env().envs[0].unwrapped


class _Zeros:
    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.zeros((len(obs), 4), np.float32), None


def _goal_wrapper(env: gym.Env, **kw: Any) -> Any:
    args = {"task_name": "reach-v3", "task_index": 0, "benchmark": "MT10", "mode": "fixed", "task": None, "seed": 0}  # fmt: skip
    return mw.GoalWrapper(env, **{**args, **kw})


def _step_episode_wrapper() -> Any:
    env = mw.EpisodeWrapper(PointReachEnv(0, T), episode_length=10, terminate_on_success=False)
    env.reset(seed=0)
    return env.step(np.zeros(A, np.float32))


def _evaluate(benchmark: str = "MT10", mode: str = "fixed", **kw: Any) -> Any:
    return mw.evaluate(kw.pop("model", _Zeros()), benchmark, mode, **kw)  # type: ignore[arg-type]


def _callback(mode: str = "fixed", eval_freq: int = 10, **kw: Any) -> Any:
    return mw.MetaWorldEvalCallback("MT10", mode, eval_freq, **kw)  # type: ignore[arg-type]


# fmt: off
cases(
    ("meta-world", "GoalWrapper-on-a-toy-env", lambda: _goal_wrapper(PointReachEnv(0, T)), ConfigError, r"GoalWrapper: env must be a Meta-World env .*got PointReachEnv"),
    ("meta-world", "TaskOneHot-on-a-toy-env", lambda: mw.TaskOneHot(PointReachEnv(0, T), task_index=0, num_tasks=10), ConfigError, r"TaskOneHot: env must be a Meta-World env .*got PointReachEnv"),
    ("meta-world", "EpisodeWrapper-on-a-toy-env", _step_episode_wrapper, ConfigError, r"EpisodeWrapper\.step: the env's info must hold Meta-World's 'success' flag .*from PointReachEnv"),
    ("task-id", "TaskOneHot-task_index-negative", lambda: mw.TaskOneHot(_bare_meta_world_env(), task_index=-1, num_tasks=10), ConfigError, r"TaskOneHot: task_index must be in \[0, 10\) as an int, got -1"),
    ("task-id", "TaskOneHot-task_index-too-large", lambda: mw.TaskOneHot(_bare_meta_world_env(), task_index=10, num_tasks=10), ConfigError, r"TaskOneHot: task_index must be in \[0, 10\) as an int, got 10"),
    ("meta-world", "TaskOneHot-num_tasks-0", lambda: mw.TaskOneHot(_bare_meta_world_env(), task_index=0, num_tasks=0), ConfigError, r"TaskOneHot: num_tasks must be an int >= 1, got 0"),
    ("task-id", "GoalWrapper-task_index-negative", lambda: _goal_wrapper(_bare_meta_world_env(), task_index=-1), ConfigError, r"GoalWrapper: task_index must be in \[0, 10\) as an int, got -1"),
    ("meta-world", "make_env-benchmark", lambda: mw.make_env("MT11"), ConfigError, r"make_env: benchmark must be one of \['MT10', 'MT50'\], got 'MT11'"),
    ("meta-world", "make_env-mode", lambda: mw.make_env("MT10", "random"), ConfigError, r"make_env: mode must be one of \['fixed', 'conditioned', 'authors-fixed'\], got 'random'"),
    ("meta-world", "make_env-seed-negative", lambda: mw.make_env("MT10", seed=-1), ConfigError, r"make_env: seed must be a non-negative int, got -1"),
    ("meta-world", "make_env-unknown-task", lambda: mw.make_env("MT10", tasks=["reach-v9"]), ConfigError, r"make_env: tasks.*reach-v9"),
    ("meta-world", "make_env-no-task", lambda: mw.make_env("MT10", tasks=[]), ConfigError, r"make_env: tasks must name at least one of"),
    ("meta-world", "make_env-task-twice", lambda: mw.make_env("MT10", tasks=["reach-v3", "reach-v3"]), ConfigError, r"make_env: tasks must not repeat a task, got \['reach-v3', 'reach-v3'\]"),
    ("meta-world", "make_env-episode_length-0", lambda: mw.make_env("MT10", episode_length=0), ConfigError, r"make_env: episode_length must be a positive int .*got 0"),
    ("meta-world", "make_env-reward_function_version", lambda: mw.make_env("MT10", reward_function_version="v3"), ConfigError, r"make_env: reward_function_version must be one of \[None, 'v1', 'v2'\], got 'v3'"),
    ("meta-world", "evaluate-protocol", lambda: _evaluate(protocol="v1"), ConfigError, r"evaluate: protocol must be one of \['paper', 'metaworld'\], got 'v1'"),
    ("meta-world", "evaluate-model-without-predict", lambda: _evaluate(model=object()), ConfigError, r"evaluate: model must have a predict\(obs, deterministic=True\) method, got object"),
    ("meta-world", "evaluate-seed-negative", lambda: _evaluate(seed=-1), ConfigError, r"evaluate: seed must be a non-negative int, got -1"),
    ("meta-world", "evaluate-evaluation_index-negative", lambda: _evaluate(evaluation_index=-1), ConfigError, r"evaluate: evaluation_index must be a non-negative int, got -1"),
    ("meta-world", "evaluate-episodes-0", lambda: _evaluate(episodes_per_task=0), ConfigError, r"evaluate: episodes_per_task must be a positive int, got 0"),
    ("meta-world", "evaluate-episodes-metaworld-51", lambda: _evaluate(protocol="metaworld", episodes_per_task=51), ConfigError, r"evaluate: episodes_per_task must be an int in \[1, 50\] \(one episode per goal\), got 51"),
    ("meta-world", "evaluate-env-not-make_env", lambda: _evaluate(env=make_point_reach_vec_env(T)), ConfigError, r"evaluate: env must be a VecEnv built by modnet_metaworld\.make_env, got DummyVecEnv"),
    ("meta-world", "evaluate-env-of-another-mode", lambda: _evaluate(env=_one_column_env()), ConfigError, r"evaluate: env must be built for mode 'fixed' \(make_env\(\.\.\., mode='fixed'\)\), got columns built as reach-v3: conditioned"),
    ("meta-world", "evaluate-env-of-another-benchmark", lambda: _evaluate("MT50", "conditioned", env=_one_column_env()), ConfigError, r"evaluate: env must be built for benchmark 'MT50', got \['MT10'\]"),
    ("meta-world", "evaluate-tasks-with-env", lambda: _evaluate(mode="conditioned", env=_one_column_env(), tasks=["reach-v3"]), ConfigError, r"evaluate: tasks and reward_function_version must be None when env is given"),
    ("meta-world", "evaluate-horizon-table-misses-a-task", lambda: _evaluate(mode="conditioned", env=_one_column_env(), episode_length={"push-v3": 5}), ConfigError, r"evaluate: episode_length must give a horizon for every task built, got none for \['reach-v3'\]"),
    ("meta-world", "callback-eval_freq-0", lambda: _callback(eval_freq=0), ConfigError, r"MetaWorldEvalCallback: eval_freq must be a positive int \(callback calls\), got 0"),
    ("meta-world", "callback-mode", lambda: _callback("Fixed"), ConfigError, r"MetaWorldEvalCallback: mode must be one of"),
    ("meta-world", "callback-protocol", lambda: _callback(protocol="v1"), ConfigError, r"MetaWorldEvalCallback: protocol must be one of \['paper', 'metaworld'\], got 'v1'"),
    ("meta-world", "callback-episodes-0", lambda: _callback(episodes_per_task=0), ConfigError, r"MetaWorldEvalCallback: episodes_per_task must be a positive int, got 0"),
    ("meta-world", "callback-eval_env-of-another-mode", lambda: _callback(eval_env=_one_column_env()), ConfigError, r"MetaWorldEvalCallback: eval_env must be built for mode 'fixed' .*reach-v3: conditioned"),
    ("meta-world", "callback-eval_env-not-make_env", lambda: _callback(eval_env=make_point_reach_vec_env(T)), ConfigError, r"MetaWorldEvalCallback: eval_env must be a VecEnv built by modnet_metaworld\.make_env, got DummyVecEnv"),
)
# fmt: on


# ---------------------------------------------------------------------- examples' settings
def _settings(**values: Any) -> Any:
    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from examples.settings import validate_settings

    return validate_settings(values)


# fmt: off
cases(
    ("settings", "method", lambda: _settings(method="soft"), ConfigError, r"TrainSettings: method must be one of .*got 'soft'"),
    ("settings", "preset", lambda: _settings(preset="full"), ConfigError, r"TrainSettings: preset must be one of .*got 'full'"),
    ("settings", "benchmark", lambda: _settings(benchmark="MT1"), ConfigError, r"TrainSettings: benchmark must be one of .*got 'MT1'"),
    ("settings", "mode", lambda: _settings(mode="random"), ConfigError, r"TrainSettings: mode must be one of .*got 'random'"),
    ("settings", "seed-negative", lambda: _settings(seed=-1), ConfigError, r"TrainSettings: seed must be greater than or equal to 0, got -1"),
    ("settings", "total_steps-0", lambda: _settings(total_steps=0), ConfigError, r"TrainSettings: total_steps must be greater than 0, got 0"),
    ("settings", "unknown-field", lambda: _settings(total_step=10), ConfigError, r"TrainSettings: unknown argument 'total_step'"),
    ("settings", "tasks-empty", lambda: _settings(tasks=()), ConfigError, r"TrainSettings: tasks must name at least one task"),
    ("settings", "tasks-repeated", lambda: _settings(tasks=("reach-v3", "reach-v3")), ConfigError, r"TrainSettings: tasks must not repeat a task"),
)
if not torch.cuda.is_available():
    cases(("device-exists", "settings-device-cuda", lambda: _settings(device="cuda"), ConfigError, r"TrainSettings: device must be a device this machine has \(no CUDA here"))
# fmt: on


# ---------------------------------------------------------------------- the sweep
KINDS = {
    "task-id", "one-hot", "state", "device", "ensemble", "routing", "setting", "obs-space",
    "num-tasks", "observation", "device-exists", "load", "meta-world", "toy-env", "settings",
}  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def _close_envs() -> Iterator[None]:
    yield
    if _one_column_env.cache_info().currsize:
        _one_column_env().close()


@pytest.mark.parametrize("bad", CASES, ids=[f"{c.kind}:{c.name}" for c in CASES])
def test_bad_input_is_refused_with_a_clear_message(bad: Case) -> None:
    # The type (not a raw AttributeError or torch's own RuntimeError) and the message
    # naming where, the argument and what came.
    with pytest.raises(bad.error, match=bad.match):
        bad.call()


def test_the_sweep_covers_every_kind() -> None:
    assert len(CASES) >= 100, len(CASES)
    assert {c.kind for c in CASES} == KINDS
    assert len({(c.kind, c.name) for c in CASES}) == len(CASES), "duplicate case names"
    print(f"{len(CASES)} bad inputs in {len(KINDS)} kinds")


def test_the_sweep_fails_a_silent_or_raw_call() -> None:
    # What the sweep would report: a bad call that returns, and a raw error of another type.
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        with pytest.raises(ShapeError):
            soft_net()(_x(), IDS)
    with pytest.raises(AttributeError):
        with pytest.raises(ShapeError):
            np.zeros(2).dim()  # type: ignore[attr-defined]
