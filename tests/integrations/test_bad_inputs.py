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

import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import pytest

pytest.importorskip("stable_baselines3")
pytest.importorskip("metaworld")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3 import SAC  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize  # noqa: E402

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


class Case:
    """One bad call: ``call()`` must raise ``error`` with a message matching ``match``."""

    def __init__(
        self, kind: str, name: str, call: Callable[[], Any], error: type[Exception], match: str
    ) -> None:
        self.kind, self.name, self.call, self.error, self.match = kind, name, call, error, match


CASES: list[Case] = []


def case(kind: str, name: str, call: Callable[[], Any], error: type[Exception], match: str) -> None:
    CASES.append(Case(kind, name, call, error, match))


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


def _rows(*rows: list[float]) -> torch.Tensor:
    """A float task tensor: the first row as given, the others exact one-hots."""
    return torch.cat([torch.tensor(rows, dtype=torch.float32), ONE_HOT[len(rows) :]])


# (name, x, task, error, message pattern after "<Class>.forward: ")
CALL_CASES: list[tuple[str, Any, Any, type[Exception], str]] = [
    (
        "x-numpy",
        np.zeros((B, S), np.float32),
        IDS,
        ShapeError,
        r"x must be a torch\.Tensor, got ndarray",
    ),
    ("x-list", [[0.0] * S] * B, IDS, ShapeError, r"x must be a torch\.Tensor, got list"),
    (
        "x-int64",
        _x(B, S, dtype=torch.int64),
        IDS,
        ShapeError,
        r"x must be a floating-point tensor, got torch\.int64",
    ),
    (
        "x-float64",
        _x(B, S, dtype=torch.float64),
        IDS,
        ShapeError,
        r"x must have the network's dtype torch\.float32.*got torch\.float64",
    ),
    ("x-1d", _x(S), IDS, ShapeError, r"x must have shape \(batch, 2\), got \(2,\)"),
    ("x-too-wide", _x(B, S + T), IDS, ShapeError, r"x must have shape \(batch, 2\), got \(4, 5\)"),
    (
        "task-negative-id",
        _x(),
        torch.tensor([0, -1, 2, 0]),
        ShapeError,
        r"task ids must be in \[0, 3\), got -1",
    ),
    (
        "task-id-too-large",
        _x(),
        torch.tensor([0, 3, 2, 0]),
        ShapeError,
        r"task ids must be in \[0, 3\), got 3",
    ),
    (
        "task-float-ids",
        _x(),
        IDS.float(),
        ShapeError,
        r"task one-hot must have shape \(4, 3\).*got \(4,\)",
    ),
    (
        "task-bool",
        _x(),
        ONE_HOT.bool(),
        ShapeError,
        r"task must be int64 ids or a float one-hot, got torch\.bool",
    ),
    (
        "task-python-int",
        _x(),
        1,
        ShapeError,
        r"task must be a torch\.Tensor of ids or one-hots, got int",
    ),
    (
        "task-numpy",
        _x(),
        IDS.numpy(),
        ShapeError,
        r"task must be a torch\.Tensor of ids or one-hots, got ndarray",
    ),
    (
        "task-batch-mismatch",
        _x(),
        IDS[:3],
        ShapeError,
        r"task ids must have shape \(4,\), got \(3,\)",
    ),
    (
        "one-hot-narrow",
        _x(),
        ONE_HOT[:, :2],
        ShapeError,
        r"task one-hot must have shape \(4, 3\), got \(4, 2\)",
    ),
    (
        "one-hot-two-ones",
        _x(),
        _rows([1.0, 1.0, 0.0]),
        ShapeError,
        r"task one-hot must .*row 0 = \[1\.0, 1\.0, 0\.0\]",
    ),
    (
        "one-hot-all-zero",
        _x(),
        _rows([0.0, 0.0, 0.0]),
        ShapeError,
        r"task one-hot must .*row 0 = \[0\.0, 0\.0, 0\.0\]",
    ),
    (
        "one-hot-nan",
        _x(),
        _rows([float("nan"), 1.0, 0.0]),
        ShapeError,
        r"task one-hot must .*row 0 = \[nan, 1\.0, 0\.0\]",
    ),
    (
        "one-hot-negative",
        _x(),
        _rows([-0.5, 1.5, 0.0]),
        ShapeError,
        r"task one-hot must .*row 0 = \[-0\.5, 1\.5, 0\.0\]",
    ),
    (
        "task-other-device",
        _x(),
        IDS.to("meta"),
        ShapeError,
        r"task must be on the device of x \(cpu\), got meta",
    ),
]

for net_name, make_net in NETWORKS.items():
    cls_name = net_name.split("-")[0]
    for bad, x, task, error, pattern in CALL_CASES:
        kind = "state" if bad.startswith("x-") else "device" if "device" in bad else "task-id"
        if bad.startswith("one-hot"):
            kind = "one-hot"
        case(
            kind,
            f"{net_name}.{bad}",
            lambda m=make_net, x=x, task=task: m()(x, task),
            error,
            rf"{cls_name}\.forward: {pattern}",
        )

# MultiHeadMLP picks one head per sample: a soft mixture has none.
case(
    "one-hot",
    "MultiHeadMLP.soft-mixture",
    lambda: NETWORKS["MultiHeadMLP"]()(_x(), _rows([0.5, 0.5, 0.0])),
    ShapeError,
    r"MultiHeadMLP\.forward: task one-hot must have exactly one 1 .*row 0 = \[0\.5, 0\.5, 0\.0\]",
)
case(
    "task-id",
    "MixtureOfExperts.gate_weights.negative-id",
    lambda: NETWORKS["MixtureOfExperts"]().gate_weights(torch.tensor([-1, 0])),
    ShapeError,
    r"MixtureOfExperts\.gate_weights: task ids must be in \[0, 3\), got -1",
)
case(
    "task-id",
    "MixtureOfExperts.gate_weights.numpy",
    lambda: NETWORKS["MixtureOfExperts"]().gate_weights(np.zeros(2, np.int64)),
    ShapeError,
    r"MixtureOfExperts\.gate_weights: task must be a torch\.Tensor",
)


# ---------------------------------------------------------------------- ensemble_forward
def _ensemble(mutate: Callable[[dict[str, torch.Tensor]], Any]) -> Any:
    from torch.func import stack_module_state

    nets = [soft_net(), soft_net()]
    params, _ = stack_module_state(nets)
    params = mutate(dict(params))
    return nets[0].ensemble_forward(params, _x(), IDS)


def _drop_first(p: dict) -> dict:
    p.pop(next(iter(p)))
    return p


def _one_member_short(p: dict) -> dict:
    p["state_fc1.weight"] = p["state_fc1.weight"][:1]
    return p


def _wrong_shape(p: dict) -> dict:
    p["state_fc1.bias"] = p["state_fc1.bias"][:, :3]
    return p


def _one_member() -> SoftRoutedMLP:
    return soft_net()


def _one_member_params() -> dict[str, torch.Tensor]:
    return {k: v.detach().unsqueeze(0) for k, v in soft_net().named_parameters()}


WHERE_E = r"SoftRoutedMLP\.ensemble_forward: "
case(
    "ensemble",
    "empty-dict",
    lambda: _ensemble(lambda p: {}),
    ConfigError,
    WHERE_E + r"params must be a non-empty mapping.*got an empty mapping",
)
case(
    "ensemble",
    "list",
    lambda: _ensemble(lambda p: list(p.values())),
    ConfigError,
    WHERE_E + r"params must be a non-empty mapping.*got list",
)
case(
    "ensemble",
    "missing-name",
    lambda: _ensemble(_drop_first),
    ConfigError,
    WHERE_E
    + r"params must hold exactly this network's parameters, got missing \['state_fc1\.weight'\]",
)
case(
    "ensemble",
    "unknown-name",
    lambda: _ensemble(lambda p: {**p, "extra": torch.zeros(2, 1)}),
    ConfigError,
    WHERE_E + r"params must hold .*got unknown \['extra'\]",
)
case(
    "ensemble",
    "mixed-k",
    lambda: _ensemble(_one_member_short),
    ShapeError,
    WHERE_E + r"params must share one leading ensemble size k",
)
case(
    "ensemble",
    "wrong-shape",
    lambda: _ensemble(_wrong_shape),
    ShapeError,
    WHERE_E + r"params\['state_fc1\.bias'\] must have shape \(k, 8\), got \(2, 3\)",
)
case(
    "ensemble",
    "x-numpy",
    lambda: _one_member().ensemble_forward(_one_member_params(), np.zeros((B, S), np.float32), IDS),
    ShapeError,
    WHERE_E + r"x must be a torch\.Tensor, got ndarray",
)
case(
    "ensemble",
    "task-negative",
    lambda: _one_member().ensemble_forward(_one_member_params(), _x(), torch.tensor([0, -2, 1, 1])),
    ShapeError,
    WHERE_E + r"task ids must be in \[0, 3\), got -2",
)


# ---------------------------------------------------------------------- RoutedLinear and routing
def _rl(**kw: Any) -> RoutedLinear:
    return RoutedLinear(4, 3, 4, **kw)


WHERE_RL = r"RoutedLinear\.forward: "
case(
    "routing",
    "RoutedLinear.x-numpy",
    lambda: _rl()(np.zeros((B, 4), np.float32)),
    ShapeError,
    WHERE_RL + r"x must be a torch\.Tensor, got ndarray",
)
case(
    "routing",
    "RoutedLinear.x-int64",
    lambda: _rl()(torch.zeros(B, 4, dtype=torch.int64)),
    ShapeError,
    WHERE_RL + r"x must be a floating-point tensor, got torch\.int64",
)
case(
    "routing",
    "RoutedLinear.x-float64",
    lambda: _rl()(torch.zeros(B, 4, dtype=torch.float64)),
    ShapeError,
    WHERE_RL + r"x must have the network's dtype torch\.float32",
)
case(
    "routing",
    "RoutedLinear.x-wide",
    lambda: _rl()(torch.zeros(B, 5)),
    ShapeError,
    WHERE_RL + r"x must have shape \(batch, 4\), got \(4, 5\)",
)
case(
    "routing",
    "RoutedLinear.topk-x-3d",
    lambda: _rl(routing=TopK(2))(torch.zeros(B, 2, 4)),
    ShapeError,
    WHERE_RL + r"x must have shape \(batch, 4\), got \(4, 2, 4\)",
)
case(
    "routing",
    "RoutedLinear.context-numpy",
    lambda: _rl(context_features=2)(torch.zeros(B, 4), np.zeros((B, 2), np.float32)),
    ShapeError,
    WHERE_RL + r"context must be a torch\.Tensor, got ndarray",
)
case(
    "routing",
    "RoutedLinear.context-width",
    lambda: _rl(context_features=2)(torch.zeros(B, 4), torch.zeros(B, 3)),
    ShapeError,
    WHERE_RL + r"context must have shape \(batch, 2\), got \(4, 3\)",
)
case(
    "routing",
    "RoutedLinear.context-batch",
    lambda: _rl(context_features=2)(torch.zeros(B, 4), torch.zeros(B + 1, 2)),
    ShapeError,
    WHERE_RL + r"context must have the batch size of x \(4\), got batch size 5",
)
case(
    "routing",
    "RoutedLinear.context-int64",
    lambda: _rl(context_features=2)(torch.zeros(B, 4), torch.zeros(B, 2, dtype=torch.int64)),
    ShapeError,
    WHERE_RL + r"context must be a floating-point tensor, got torch\.int64",
)
case(
    "routing",
    "RoutedLinear.context-device",
    lambda: _rl(context_features=2)(torch.zeros(B, 4), torch.zeros(B, 2, device="meta")),
    ShapeError,
    WHERE_RL + r"context must be on the device of x \(cpu\), got meta",
)
for strategy in (Soft(), Hard(), TopK(2)):
    sname = type(strategy).__name__
    case(
        "routing",
        f"{sname}.logits-numpy",
        lambda s=strategy: s(np.zeros((B, 3), np.float32)),
        ShapeError,
        rf"{sname}\.forward: logits must be a torch\.Tensor, got ndarray",
    )
    case(
        "routing",
        f"{sname}.logits-int",
        lambda s=strategy: s(torch.zeros(B, 3, dtype=torch.int64)),
        ShapeError,
        rf"{sname}\.forward: logits must be a floating-point tensor, got torch\.int64",
    )
    case(
        "routing",
        f"{sname}.logits-0d",
        lambda s=strategy: s(torch.tensor(1.0)),
        ShapeError,
        rf"{sname}\.forward: logits must have shape \[\.\.\., n\] with n >= 1, got \(\)",
    )
case(
    "routing",
    "TopK.fewer-choices-than-k",
    lambda: TopK(3)(torch.zeros(B, 2)),
    ShapeError,
    r"TopK.*logits.*3",
)


# ---------------------------------------------------------------------- settings of the core
case(
    "setting",
    "SoftRoutedMLP.num_tasks-0",
    lambda: SoftRoutedMLP(S, 3, 0),
    ConfigError,
    r"SoftRoutedMLP: num_tasks must be an int >= 1, got 0",
)
case(
    "setting",
    "SoftRoutedMLP.in_features-float",
    lambda: SoftRoutedMLP(2.0, 3, T),
    ConfigError,
    r"SoftRoutedMLP: in_features must be an int >= 1, got 2\.0",
)
case(
    "setting",
    "SoftRoutedMLP.num_layers-1",
    lambda: SoftRoutedMLP(S, 3, T, num_layers=1),
    ConfigError,
    r"SoftRoutedMLP: num_layers must be an int >= 2, got 1",
)
case(
    "setting",
    "SoftRoutedMLP.topk-k-too-large",
    lambda: SoftRoutedMLP(S, 3, T, num_modules=2, routing="topk", routing_kwargs={"k": 3}),
    ConfigError,
    r"SoftRoutedMLP: .*k.*3",
)
case(
    "setting",
    "SoftRoutedMLP.unknown-setting",
    lambda: SoftRoutedMLP(S, 3, T, num_module=2),
    ConfigError,
    r"SoftRoutedMLP: unknown argument 'num_module'",
)
case(
    "setting",
    "TaskMLP.out_features-bool",
    lambda: TaskMLP(S, True, T),
    ConfigError,
    r"TaskMLP: out_features must be an int >= 1, got True",
)
case(
    "setting",
    "MultiHeadMLP.trunk_sizes-zero",
    lambda: MultiHeadMLP(S, 3, T, trunk_sizes=(0,)),
    ConfigError,
    r"MultiHeadMLP: trunk_sizes must be a sequence of ints >= 1, got \(0,\)",
)
case(
    "setting",
    "MixtureOfExperts.num_experts-negative",
    lambda: MixtureOfExperts(S, 3, T, num_experts=-1),
    ConfigError,
    r"MixtureOfExperts: num_experts must be an int >= 1, got -1",
)
case(
    "setting",
    "RoutedLinear.topk-k-too-large",
    lambda: RoutedLinear(4, 3, 2, routing=TopK(3)),
    ConfigError,
    r"RoutedLinear: routing must select k <= num_modules=2, got k=3",
)
case(
    "setting",
    "RoutedLinear.sparse-soft",
    lambda: RoutedLinear(4, 3, 2, dispatch="sparse"),
    ConfigError,
    r"RoutedLinear: dispatch must be 'dense' or 'auto' unless routing is TopK",
)
case(
    "setting",
    "Soft.temperature-0",
    lambda: Soft(temperature=0.0),
    ConfigError,
    r"Soft: temperature must be a finite number > 0, got 0\.0",
)
case("setting", "TopK.k-0", lambda: TopK(0), ConfigError, r"TopK: k must .*got 0")


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


def _obs_batch(rows: int = T) -> np.ndarray:
    state = np.zeros((rows, S), np.float32)
    return np.concatenate([state, np.eye(T, dtype=np.float32)[np.arange(rows) % T]], axis=1)


def _with(obs: np.ndarray, row: int, col: int, value: float) -> np.ndarray:
    obs = obs.copy()
    obs[row, col] = value
    return obs


for pname in POLICIES:
    where = rf"{pname}\.predict: "
    case(
        "observation",
        f"{pname}.predict-nan-state",
        lambda p=pname: _policy(p).predict(_with(_obs_batch(), 1, 0, np.nan)),
        ShapeError,
        where + r"the observation of env column 1 must be finite, got nan at state entry 0",
    )
    case(
        "observation",
        f"{pname}.predict-inf-one-hot",
        lambda p=pname: _policy(p).predict(_with(_obs_batch(), 2, S, np.inf)),
        ShapeError,
        where + r"the observation of env column 2 must be finite, got inf at one-hot entry 0",
    )
    case(
        "one-hot",
        f"{pname}.predict-two-ones",
        lambda p=pname: _policy(p).predict(_with(_obs_batch(), 0, S + 1, 1.0)),
        ShapeError,
        where
        + r"the last 3 observation columns must be a task one-hot.*\[1\.0, 1\.0, 0\.0\] in env column 0",
    )
    case(
        "one-hot",
        f"{pname}.predict-no-one",
        lambda p=pname: _policy(p).predict(_with(_obs_batch(), 1, S + 1, 0.0)),
        ShapeError,
        where
        + r"the last 3 observation columns must be a task one-hot.*\[0\.0, 0\.0, 0\.0\] in env column 1",
    )
    case(
        "observation",
        f"{pname}.predict-narrow",
        lambda p=pname: _policy(p).predict(_obs_batch()[:, 1:]),
        ShapeError,
        where + r"observation must have 5 columns .*got \(3, 4\)",
    )
    case(
        "obs-space",
        f"{pname}.obs-narrower-than-one-hot",
        lambda p=pname: _policy(p, obs=spaces.Box(0.0, 1.0, (T,), np.float32)),
        ConfigError,
        rf"{pname}: observation width must hold a state and the 3-column task one-hot.*got 3",
    )
    case(
        "obs-space",
        f"{pname}.one-hot-bounds",
        lambda p=pname: _policy(p, obs=spaces.Box(-1.0, -0.5, (S + T,), np.float32)),
        ConfigError,
        rf"{pname}: bounds of the last 3 observation columns \(the one-hot\) must admit 0 and 1",
    )
    case(
        "num-tasks",
        f"{pname}.num_tasks-missing",
        lambda p=pname: _policy(p, num_tasks=None),
        ConfigError,
        rf"{pname}: num_tasks must be given",
    )
    case(
        "setting",
        f"{pname}.num_tasks-float",
        lambda p=pname: _policy(p, num_tasks=2.0),
        ConfigError,
        rf"{pname}: num_tasks must be an int >= 1, got 2\.0",
    )
    case(
        "setting",
        f"{pname}.unknown-setting",
        lambda p=pname: _policy(p, colour="red"),
        ConfigError,
        rf"{pname}: unknown argument 'colour'",
    )
    case(
        "setting",
        f"{pname}.discrete-actions",
        lambda p=pname: POLICIES[p][0](OBS, spaces.Discrete(3), _lr, num_tasks=T),
        ConfigError,
        rf"{pname}: action_space must be a gymnasium\.spaces\.Box, got Discrete",
    )

case(
    "setting",
    "SoftModularPolicy.use_sde",
    lambda: _policy(use_sde=True),
    ConfigError,
    r"SoftModularPolicy: use_sde must be False",
)
case(
    "setting",
    "SoftModularPolicy.net_arch",
    lambda: _policy(net_arch=[64, 64]),
    ConfigError,
    r"SoftModularPolicy: net_arch must be None",
)
case(
    "setting",
    "SoftModularPolicy.n_critics-0",
    lambda: _policy(n_critics=0),
    ConfigError,
    r"SoftModularPolicy: n_critics must be an int >= 1, got 0",
)
case(
    "observation",
    "state_and_task_ids.numpy",
    lambda: state_and_task_ids(_obs_batch(), T),
    ShapeError,
    r"state_and_task_ids: obs must be a torch\.Tensor, got ndarray",
)
case(
    "obs-space",
    "state_and_task_ids.narrow",
    lambda: state_and_task_ids(torch.zeros(B, T), T),
    ShapeError,
    r"state_and_task_ids: obs must have shape \(batch, state \+ 3\), got \(4, 3\)",
)
case(
    "observation",
    "check_task_observations.3d",
    lambda: check_task_observations(np.zeros((2, 2, 5)), T, where="f"),
    ShapeError,
    r"f: observations must have shape \(envs, state \+ 3\), got \(2, 2, 5\)",
)


# ---------------------------------------------------------------------- SB3: the replay buffer
def _buffer(n_envs: int = T, obs: spaces.Space = OBS) -> TaskBalancedReplayBuffer:
    return TaskBalancedReplayBuffer(16, obs, ACT, "cpu", n_envs=n_envs)


def _add(obs: np.ndarray, next_obs: np.ndarray | None = None) -> None:
    next_obs = _obs_batch() if next_obs is None else next_obs
    zeros = np.zeros(T, np.float32)
    _buffer().add(obs, next_obs, np.zeros((T, A), np.float32), zeros, zeros, [{}] * T)


WHERE_BUF = r"TaskBalancedReplayBuffer\.add: "
case(
    "observation",
    "buffer.add-nan-obs",
    lambda: _add(_with(_obs_batch(), 2, 1, np.nan)),
    ShapeError,
    WHERE_BUF + r"the observation of env column 2 must be finite, got nan at state entry 1",
)
case(
    "observation",
    "buffer.add-inf-next-obs",
    lambda: _add(_obs_batch(), _with(_obs_batch(), 0, 0, -np.inf)),
    ShapeError,
    WHERE_BUF + r"the observation of env column 0 must be finite, got -inf at state entry 0",
)
case(
    "one-hot",
    "buffer.add-two-ones",
    lambda: _add(_with(_obs_batch(), 1, S, 1.0)),
    ShapeError,
    WHERE_BUF + r"the last 3 observation columns must be a task one-hot.*env column 1",
)
case(
    "one-hot",
    "buffer.add-soft-one-hot",
    lambda: _add(_with(_with(_obs_batch(), 0, S, 0.5), 0, S + 1, 0.5)),
    ShapeError,
    WHERE_BUF
    + r"the last 3 observation columns must be a task one-hot.*\[0\.5, 0\.5, 0\.0\] in env column 0",
)
case(
    "one-hot",
    "buffer.add-same-task-twice",
    lambda: _add(_obs_batch()[[0, 0, 2]]),
    ShapeError,
    WHERE_BUF + r"env columns must hold one distinct task each.*tasks \[0, 0, 2\]",
)
case(
    "observation",
    "buffer.add-narrow",
    lambda: _add(_obs_batch()[:, :T]),
    ShapeError,
    WHERE_BUF + r"observations must have shape \(envs, state \+ 3\), got \(3, 3\)",
)
case(
    "obs-space",
    "buffer.n_envs-wider-than-obs",
    lambda: _buffer(n_envs=S + T),
    ConfigError,
    r"TaskBalancedReplayBuffer: observation width must hold a state and the 5-column task one-hot",
)
case(
    "setting",
    "buffer.sample-batch-not-multiple",
    lambda: _buffer().sample(4),
    ConfigError,
    r"TaskBalancedReplayBuffer\.sample: batch_size must be a multiple of the number of tasks \(3\), got 4",
)


# ---------------------------------------------------------------------- SB3: MTSAC
def _mtsac(env: Any = None, policy: str = "SoftModularPolicy", **kw: Any) -> MTSAC:
    env = make_point_reach_vec_env(T) if env is None else env
    policy_kwargs = {**POLICIES[policy][1], **kw.pop("policy_kwargs", {})}
    kw.setdefault("learning_starts", 0)
    kw.setdefault("batch_size", 6)
    return MTSAC(policy, env, policy_kwargs=policy_kwargs, device="cpu", **kw)


case(
    "setting",
    "MTSAC.reweight",
    lambda: _mtsac(reweight="inverse"),
    ConfigError,
    r"MTSAC: reweight must be one of \['inverse_alpha', 'paper', 'none'\], got 'inverse'",
)
case(
    "setting",
    "MTSAC.update_order",
    lambda: _mtsac(update_order="actor-first"),
    ConfigError,
    r"MTSAC: update_order must be one of \['sb3', 'authors'\]",
)
case(
    "setting",
    "MTSAC.max_grad_norm-0",
    lambda: _mtsac(max_grad_norm=0.0),
    ConfigError,
    r"MTSAC: max_grad_norm must be positive or None, got 0\.0",
)
case(
    "setting",
    "MTSAC.use_sde",
    lambda: _mtsac(use_sde=True),
    ConfigError,
    r"MTSAC: use_sde must be False",
)
case(
    "setting",
    "MTSAC.policy_kwargs-use_sde",
    lambda: _mtsac(policy_kwargs={"use_sde": True}),
    ConfigError,
    r"MTSAC: policy_kwargs\['use_sde'\] must be absent or False",
)
case(
    "setting",
    "MTSAC.task_names-length",
    lambda: _mtsac(task_names=["a", "b"]),
    ConfigError,
    r"MTSAC: task_names must hold 3 names, got 2",
)
case(
    "setting",
    "MTSAC.balanced-batch-not-multiple",
    lambda: _mtsac(replay_buffer_class=TaskBalancedReplayBuffer, batch_size=4),
    ConfigError,
    r"MTSAC: batch_size must be a multiple of num_tasks = 3 with TaskBalancedReplayBuffer, got 4",
)
case(
    "setting",
    "MTSAC.balanced-n_envs",
    lambda: _mtsac(
        DummyVecEnv([lambda: PointReachEnv(0, T)]), replay_buffer_class=TaskBalancedReplayBuffer
    ),
    ConfigError,
    r"MTSAC: number of envs must equal num_tasks = 3 with TaskBalancedReplayBuffer \(one env per task\), got 1",
)
case(
    "num-tasks",
    "MTSAC.num_tasks-vs-policy",
    lambda: _mtsac(num_tasks=T, policy_kwargs={"num_tasks": 2}),
    ConfigError,
    r"MTSAC: num_tasks must equal policy_kwargs\['num_tasks'\] = 2, got 3",
)
case(
    "num-tasks",
    "MTSAC.policy-num_tasks-vs-env",
    lambda: _mtsac(policy_kwargs={"num_tasks": 2}),
    ConfigError,
    r"MTSAC: policy_kwargs\['num_tasks'\] must equal the env's num_tasks = 3.*got 2",
)
case(
    "num-tasks",
    "MTSAC.num_tasks-vs-env",
    lambda: _mtsac(num_tasks=2),
    ConfigError,
    r"MTSAC: num_tasks must equal the env's num_tasks = 3.*got 2",
)
case(
    "num-tasks",
    "MTSAC.num_tasks-0",
    lambda: _mtsac(num_tasks=0),
    ConfigError,
    r"MTSAC: num_tasks must be an int >= 1, got 0",
)
case(
    "obs-space",
    "MTSAC.env-narrower-than-one-hot",
    lambda: _mtsac(make_random_state_vec_env(T, state_dim=1), num_tasks=T + 1),
    ConfigError,
    r"MTSAC: num_tasks must equal the env's num_tasks = 3.*got 4|MTSAC: observation width must hold",
)
case(
    "device-exists",
    "MTSAC.device-cuda",
    lambda: MTSAC(
        "SoftModularPolicy", make_point_reach_vec_env(T), policy_kwargs=TINY_SOFT, device="cuda"
    ),
    ConfigError,
    r"MTSAC: device must be a device this machine has \(no cuda here",
)
case(
    "device-exists",
    "MTSAC.device-nonsense",
    lambda: MTSAC(
        "SoftModularPolicy", make_point_reach_vec_env(T), policy_kwargs=TINY_SOFT, device="gpu0"
    ),
    ConfigError,
    r"MTSAC: device must be 'auto' or a torch device, got 'gpu0'",
)
case(
    "setting",
    "MTSAC.discrete-env",
    lambda: MTSAC(
        "SoftModularPolicy", DummyVecEnv([lambda: gym.make("CartPole-v1")]), device="cpu"
    ),
    ConfigError,
    r"MTSAC: the env's action space must be a gymnasium\.spaces\.Box, got Discrete",
)


class _NaNAfter(gym.Wrapper):
    """A toy env whose state turns NaN after ``steps`` steps."""

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
    return DummyVecEnv(
        [(lambda k=k: _NaNAfter(PointReachEnv(k, T), steps if k == 1 else 10**9)) for k in range(T)]
    )


case(
    "observation",
    "MTSAC.learn-nan-at-reset",
    lambda: _mtsac(_nan_env(0)).learn(3),
    ShapeError,
    r"MTSAC\.learn: the observation of env column 1 must be finite, got nan",
)
case(
    "observation",
    "MTSAC.learn-nan-later-balanced",
    lambda: _mtsac(
        _nan_env(2), replay_buffer_class=TaskBalancedReplayBuffer, learning_starts=100
    ).learn(30),
    ShapeError,
    r"TaskBalancedReplayBuffer\.add: the observation of env column 1 must be finite, got nan at state entry 0",
)
case(
    "observation",
    "MTSAC.learn-nan-later-default-buffer",
    lambda: _mtsac(_nan_env(2)).learn(30),
    ShapeError,
    r"MTSAC\.learn \(env\.step\): the observation of env column 1 must be finite, got nan at state entry 0",
)
case(
    "observation",
    "MTSAC.learn-vecnormalize",
    lambda: _mtsac(VecNormalize(make_point_reach_vec_env(T))).learn(3),
    ShapeError,
    r"MTSAC\.learn: the last 3 observation columns must be a task one-hot",
)


def _saved_mtsac(tmp: Any) -> str:
    path = str(tmp / "model.zip")
    _mtsac().save(path)
    return path


case(
    "load",
    "MTSAC.load-ent_coef-negative",
    lambda: MTSAC.load(_saved_mtsac(_tmp()), custom_objects={"ent_coef": -0.1}, device="cpu"),
    ConfigError,
    r"MTSAC\.load: custom_objects\['ent_coef'\] must be a positive finite float or 'auto'/'auto_<init>', got -0\.1",
)
case(
    "load",
    "MTSAC.load-ent_coef-str",
    lambda: MTSAC.load(_saved_mtsac(_tmp()), custom_objects={"ent_coef": "fixed"}, device="cpu"),
    ConfigError,
    r"MTSAC\.load: custom_objects\['ent_coef'\] must be .*got 'fixed'",
)


@cache
def _tmp() -> Any:
    import tempfile
    from pathlib import Path

    return Path(tempfile.mkdtemp(prefix="modnet-bad-inputs-"))


# ---------------------------------------------------------------------- plain SB3 SAC
def _sac(env: Any, policy_name: str = "SoftModularPolicy", **kw: Any) -> SAC:
    cls, settings = POLICIES[policy_name]
    policy_kwargs = {**settings, "num_tasks": kw.pop("num_tasks", T)}
    kw.setdefault("learning_starts", 0)
    return SAC(cls, env, policy_kwargs=policy_kwargs, batch_size=6, device="cpu", **kw)


def _three_tasks_as_two() -> DummyVecEnv:
    # Three tasks, but num_tasks=2: the last two columns are [0, 0] for task 0.
    return make_point_reach_vec_env(T)


def _train_without_predict(model: SAC) -> None:
    # Collection before learning_starts acts uniformly, so no predict sees the data; the
    # first update is then the first place the policy meets it.
    model.learn(2 * T)
    model.train(gradient_steps=1, batch_size=6)


for pname in POLICIES:
    case(
        "observation",
        f"SAC({pname}).vecnormalize-predict",
        lambda p=pname: _sac(VecNormalize(make_point_reach_vec_env(T)), p).learn(3),
        ShapeError,
        rf"{pname}\.predict: the last 3 observation columns must be a task one-hot",
    )
    case(
        "observation",
        f"SAC({pname}).vecnormalize-training",
        lambda p=pname: _train_without_predict(
            _sac(VecNormalize(make_point_reach_vec_env(T)), p, learning_starts=100)
        ),
        ShapeError,
        r"Task(Actor|Critic) \(first training batch\): the last 3 observation columns must be a task one-hot",
    )
    case(
        "num-tasks",
        f"SAC({pname}).three-tasks-as-two-predict",
        lambda p=pname: _sac(_three_tasks_as_two(), p, num_tasks=2).learn(3),
        ShapeError,
        rf"{pname}\.predict: the last 2 observation columns must be a task one-hot",
    )
    case(
        "num-tasks",
        f"SAC({pname}).three-tasks-as-two-training",
        lambda p=pname: _train_without_predict(
            _sac(_three_tasks_as_two(), p, num_tasks=2, learning_starts=100)
        ),
        ShapeError,
        r"Task(Actor|Critic) \(first training batch\): the last 2 observation columns must be a task one-hot",
    )


# ---------------------------------------------------------------------- toy envs
case(
    "toy-env",
    "make_point_reach_vec_env-0",
    lambda: make_point_reach_vec_env(0),
    ConfigError,
    r"make_point_reach_vec_env: num_tasks must be an int >= 1, got 0",
)
case(
    "toy-env",
    "make_random_state_vec_env-0",
    lambda: make_random_state_vec_env(0),
    ConfigError,
    r"make_random_state_vec_env: num_tasks must be an int >= 1, got 0",
)
case(
    "toy-env",
    "PointReachEnv-task-negative",
    lambda: PointReachEnv(-1, T),
    ConfigError,
    r"PointReachEnv: task must be in \[0, 3\), got -1",
)
case(
    "toy-env",
    "RandomStateEnv-task-too-large",
    lambda: RandomStateEnv(T, T),
    ConfigError,
    r"RandomStateEnv: task must be in \[0, 3\), got 3",
)
case(
    "toy-env",
    "make_point_reach_vec_env-scales",
    lambda: make_point_reach_vec_env(T, action_scales=[1.0]),
    ConfigError,
    r"make_point_reach_vec_env: action_scales must have one entry per task \(3\), got 1",
)


# ---------------------------------------------------------------------- Meta-World
def _mw() -> Any:
    import modnet_metaworld

    return modnet_metaworld


@cache
def _one_column_env() -> Any:
    # One conditioned column: no 50-goal list to build (fast), closed at module teardown.
    return _mw().make_env("MT10", "conditioned", tasks=["reach-v3"])


class _Zeros:
    def predict(self, obs: np.ndarray, deterministic: bool = True) -> tuple[np.ndarray, None]:
        return np.zeros((len(obs), 4), np.float32), None


def _wrap(name: str) -> Any:
    mw = _mw()
    toy = PointReachEnv(0, T)
    if name == "GoalWrapper":
        return mw.GoalWrapper(
            toy,
            task_name="reach-v3",
            task_index=0,
            benchmark="MT10",
            mode="fixed",
            task=None,
            seed=0,
        )  # type: ignore[arg-type]
    if name == "EpisodeWrapper":
        return mw.EpisodeWrapper(toy, episode_length=10, terminate_on_success=False)
    return mw.TaskOneHot(toy, task_index=0, num_tasks=10)


for wname in ("GoalWrapper", "TaskOneHot"):
    case(
        "meta-world",
        f"{wname}-on-a-toy-env",
        lambda w=wname: _wrap(w),
        ConfigError,
        rf"{wname}: env must be a Meta-World env .*got PointReachEnv",
    )


def _step_episode_wrapper() -> Any:
    env = _wrap("EpisodeWrapper")
    env.reset(seed=0)
    return env.step(np.zeros(A, np.float32))


case(
    "meta-world",
    "EpisodeWrapper-on-a-toy-env",
    _step_episode_wrapper,
    ConfigError,
    r"EpisodeWrapper\.step: the env's info must hold Meta-World's 'success' flag .*from PointReachEnv",
)

case(
    "meta-world",
    "make_env-benchmark",
    lambda: _mw().make_env("MT11"),
    ConfigError,
    r"make_env: benchmark must be one of \['MT10', 'MT50'\], got 'MT11'",
)
case(
    "meta-world",
    "make_env-mode",
    lambda: _mw().make_env("MT10", "random"),
    ConfigError,
    r"make_env: mode must be one of \['fixed', 'conditioned', 'authors-fixed'\], got 'random'",
)
case(
    "meta-world",
    "make_env-seed-negative",
    lambda: _mw().make_env("MT10", seed=-1),
    ConfigError,
    r"make_env: seed must be a non-negative int, got -1",
)
case(
    "meta-world",
    "make_env-unknown-task",
    lambda: _mw().make_env("MT10", tasks=["reach-v9"]),
    ConfigError,
    r"make_env: tasks.*reach-v9",
)
case(
    "meta-world",
    "make_env-episode_length-0",
    lambda: _mw().make_env("MT10", episode_length=0),
    ConfigError,
    r"make_env: episode_length must be a positive int.*got 0",
)
case(
    "meta-world",
    "evaluate-protocol",
    lambda: _mw().evaluate(_Zeros(), "MT10", "fixed", protocol="v1"),
    ConfigError,
    r"evaluate: protocol must be one of \['paper', 'metaworld'\], got 'v1'",
)
case(
    "meta-world",
    "evaluate-model-without-predict",
    lambda: _mw().evaluate(object(), "MT10", "fixed"),
    ConfigError,
    r"evaluate: model must have a predict\(obs, deterministic=True\) method, got object",
)
case(
    "meta-world",
    "evaluate-episodes-0",
    lambda: _mw().evaluate(_Zeros(), "MT10", "fixed", episodes_per_task=0),
    ConfigError,
    r"evaluate: episodes_per_task must be a positive int, got 0",
)
case(
    "meta-world",
    "evaluate-episodes-metaworld-51",
    lambda: _mw().evaluate(_Zeros(), "MT10", "fixed", protocol="metaworld", episodes_per_task=51),
    ConfigError,
    r"evaluate: episodes_per_task must be an int in \[1, 50\]",
)
case(
    "meta-world",
    "evaluate-env-not-make_env",
    lambda: _mw().evaluate(_Zeros(), "MT10", "fixed", env=make_point_reach_vec_env(T)),
    ConfigError,
    r"evaluate: env must be a VecEnv built by modnet_metaworld\.make_env, got DummyVecEnv",
)
case(
    "meta-world",
    "evaluate-env-of-another-mode",
    lambda: _mw().evaluate(_Zeros(), "MT10", "fixed", env=_one_column_env()),
    ConfigError,
    r"evaluate: env must be built for mode 'fixed'.*conditioned",
)
case(
    "meta-world",
    "evaluate-env-of-another-benchmark",
    lambda: _mw().evaluate(_Zeros(), "MT50", "conditioned", env=_one_column_env()),
    ConfigError,
    r"evaluate: env must be built for benchmark 'MT50', got \['MT10'\]",
)
case(
    "meta-world",
    "evaluate-tasks-with-env",
    lambda: _mw().evaluate(
        _Zeros(), "MT10", "conditioned", env=_one_column_env(), tasks=["reach-v3"]
    ),
    ConfigError,
    r"evaluate: tasks and reward_function_version must be None when env is given",
)
case(
    "meta-world",
    "callback-eval_freq-0",
    lambda: _mw().MetaWorldEvalCallback("MT10", "fixed", 0),
    ConfigError,
    r"MetaWorldEvalCallback: eval_freq must be a positive int \(callback calls\), got 0",
)
case(
    "meta-world",
    "callback-mode",
    lambda: _mw().MetaWorldEvalCallback("MT10", "Fixed", 10),
    ConfigError,
    r"MetaWorldEvalCallback: mode must be one of",
)
case(
    "meta-world",
    "callback-episodes-0",
    lambda: _mw().MetaWorldEvalCallback("MT10", "fixed", 10, episodes_per_task=0),
    ConfigError,
    r"MetaWorldEvalCallback: episodes_per_task must be a positive int, got 0",
)
case(
    "meta-world",
    "callback-eval_env-of-another-mode",
    lambda: _mw().MetaWorldEvalCallback("MT10", "fixed", 10, eval_env=_one_column_env()),
    ConfigError,
    r"MetaWorldEvalCallback: eval_env must be built for mode 'fixed'.*conditioned",
)


# ---------------------------------------------------------------------- examples' settings
def _settings(**values: Any) -> Any:
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    if root not in sys.path:
        sys.path.insert(0, root)
    from examples.settings import validate_settings

    return validate_settings(values)


case(
    "settings",
    "method",
    lambda: _settings(method="soft"),
    ConfigError,
    r"TrainSettings: method must be one of .*got 'soft'",
)
case(
    "settings",
    "preset",
    lambda: _settings(preset="full"),
    ConfigError,
    r"TrainSettings: preset must be one of .*got 'full'",
)
case(
    "settings",
    "benchmark",
    lambda: _settings(benchmark="MT1"),
    ConfigError,
    r"TrainSettings: benchmark must be one of .*got 'MT1'",
)
case(
    "settings",
    "mode",
    lambda: _settings(mode="random"),
    ConfigError,
    r"TrainSettings: mode must be one of .*got 'random'",
)
case(
    "settings",
    "seed-negative",
    lambda: _settings(seed=-1),
    ConfigError,
    r"TrainSettings: seed must be greater than or equal to 0, got -1",
)
case(
    "settings",
    "total_steps-0",
    lambda: _settings(total_steps=0),
    ConfigError,
    r"TrainSettings: total_steps must be greater than 0, got 0",
)
case(
    "settings",
    "unknown-field",
    lambda: _settings(total_step=10),
    ConfigError,
    r"TrainSettings: unknown argument 'total_step'",
)
case(
    "settings",
    "tasks-empty",
    lambda: _settings(tasks=()),
    ConfigError,
    r"TrainSettings: tasks must name at least one task",
)
case(
    "settings",
    "tasks-repeated",
    lambda: _settings(tasks=("reach-v3", "reach-v3")),
    ConfigError,
    r"TrainSettings: tasks must not repeat a task",
)
if not torch.cuda.is_available():
    case(
        "device-exists",
        "settings-device-cuda",
        lambda: _settings(device="cuda"),
        ConfigError,
        r"TrainSettings: device must be a device this machine has \(no CUDA here",
    )


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
    with pytest.raises(bad.error, match=bad.match) as info:
        bad.call()
    # Every message is worded by modnet.errors.mismatch or names the argument itself.
    assert ":" in str(info.value), str(info.value)


def test_the_sweep_covers_every_kind() -> None:
    assert len(CASES) >= 100, len(CASES)
    assert {c.kind for c in CASES} == KINDS
    assert len({(c.kind, c.name) for c in CASES}) == len(CASES), "duplicate case names"
    print(f"{len(CASES)} bad inputs in {len(KINDS)} kinds")


def test_every_case_would_fail_on_a_silent_call() -> None:
    # The sweep can fail: a call that returns is reported, as is a raw error of another type.
    with pytest.raises(pytest.fail.Exception):
        with pytest.raises(ShapeError, match="x"):
            soft_net()(_x(), IDS)
    with pytest.raises(AttributeError):
        with pytest.raises(ShapeError, match="x"):
            raise AttributeError("'numpy.ndarray' object has no attribute 'dim'")
    assert re.search(CASES[0].match, "SoftRoutedMLP.forward: x must be a torch.Tensor, got ndarray")
