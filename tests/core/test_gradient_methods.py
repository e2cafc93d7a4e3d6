"""Each gradient method's defining property on small problems with known answers.

Most problems are linear, ``losses = G @ θ``: task ``i``'s gradient is then exactly row
``G[i]``, so the expected direction can be written down from ``G`` alone.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from modnet.errors import ConfigError, ShapeError
from modnet.gradient_methods import (
    FAMO,
    CAGrad,
    GradNorm,
    PCGrad,
    gradient_method_names,
    make_gradient_method,
    per_task_mean,
    task_gradients,
)
from modnet.gradient_methods.cagrad import cagrad_dual_objective

torch.set_default_dtype(torch.float32)


def linear_direction(method, G: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(direction [P], coefficients [T]) of ``method`` on ``losses = G @ θ``."""
    theta = torch.zeros(G.shape[1], dtype=G.dtype, requires_grad=True)
    coefficients = method.backward(G @ theta, [theta])
    return theta.grad, coefficients


def gradient_matrices(max_tasks: int = 5):
    """``G [T, P]`` float64 with ``2 <= T <= max_tasks``, ``P`` in 3..8, entries in ±10."""
    shapes = st.tuples(st.integers(2, max_tasks), st.integers(3, 8))
    elements = st.floats(-10, 10, allow_nan=False, width=64)
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=elements)).map(
        torch.from_numpy
    )


# ---------------------------------------------------------------- per-task gradients
@pytest.mark.slow  # the first vmapped backward warms up for seconds
def test_batched_per_task_gradients_equal_the_loop() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3))
    unused = torch.nn.Parameter(torch.ones(2))
    params = [*net.parameters(), unused]
    x = torch.randn(7, 4)
    losses = (net(x) - 1).pow(2).mean(dim=0)  # [3]
    batched = task_gradients(losses, params, per_task="batched")
    losses = (net(x) - 1).pow(2).mean(dim=0)
    loop = task_gradients(losses, params, per_task="loop")
    assert batched.shape == (3, sum(p.numel() for p in params))
    torch.testing.assert_close(batched, loop)
    assert batched[:, -2:].abs().max() == 0  # a parameter no loss reaches: zero rows
    assert batched.abs().sum() > 0


# ---------------------------------------------------------------- PCGrad
def test_pcgrad_removes_the_conflicting_component_of_two_gradients() -> None:
    g1 = torch.tensor([1.0, 2.0, 0.0], dtype=torch.float64)
    g2 = torch.tensor([-2.0, 0.5, 1.0], dtype=torch.float64)
    assert g1 @ g2 < 0
    direction, _ = linear_direction(PCGrad(2), torch.stack([g1, g2]))
    p1 = g1 - (g1 @ g2) / (g2 @ g2) * g2
    p2 = g2 - (g2 @ g1) / (g1 @ g1) * g1
    assert abs(float(p1 @ g2)) < 1e-12 and abs(float(p2 @ g1)) < 1e-12
    torch.testing.assert_close(direction, p1 + p2)


@given(gradient_matrices())
def test_pcgrad_passes_non_conflicting_gradients_unchanged(G: torch.Tensor) -> None:
    G = G.abs()  # non-negative entries: every pair has g_i · g_j >= 0
    direction, coefficients = linear_direction(PCGrad(G.shape[0]), G)
    torch.testing.assert_close(coefficients, torch.ones(G.shape[0], dtype=G.dtype))
    torch.testing.assert_close(direction, G.sum(dim=0))


def pcgrad_oracle(G: torch.Tensor, order: torch.Tensor) -> torch.Tensor:
    """The paper's Algorithm 1 on vectors, with the given orders: a loop per task."""
    projected = []
    for i in range(G.shape[0]):
        g = G[i].clone()
        for j in order[i].tolist():
            if j != i and g @ G[j] < 0:
                g = g - (g @ G[j]) / (G[j] @ G[j]) * G[j]
        projected.append(g)
    return torch.stack(projected).sum(dim=0)


@given(gradient_matrices(max_tasks=6), st.integers(0, 2**16))
def test_pcgrad_equals_the_per_task_loop_with_the_same_random_order(G, seed) -> None:
    order = PCGrad(G.shape[0], seed=seed).random_order()
    direction, _ = linear_direction(PCGrad(G.shape[0], seed=seed), G)
    expected = pcgrad_oracle(G, order)
    torch.testing.assert_close(direction, expected, atol=1e-9 * (1 + G.abs().max() ** 3), rtol=1e-9)


# ---------------------------------------------------------------- GradNorm
def test_gradnorm_weight_gradient_equals_autograd_of_its_loss() -> None:
    w = torch.tensor([0.5, 1.2, 1.3], dtype=torch.float64)
    norms = torch.tensor([2.0, 0.5, 1.0], dtype=torch.float64)
    losses = torch.tensor([0.4, 0.9, 2.0], dtype=torch.float64)
    initial = torch.tensor([1.0, 1.0, 2.5], dtype=torch.float64)
    alpha = 1.5
    from modnet.gradient_methods.gradnorm import gradnorm_weight_gradient

    leaf = w.clone().requires_grad_(True)
    ratios = losses / initial
    target = (w * norms).mean() * (ratios / ratios.mean()) ** alpha  # a constant in eq. 6
    (leaf * norms - target).abs().sum().backward()
    torch.testing.assert_close(
        gradnorm_weight_gradient(w, norms, losses, initial, alpha), leaf.grad
    )


@pytest.mark.slow
def test_gradnorm_moves_the_weights_toward_equal_training_rates() -> None:
    """Two regression tasks on one shared weight vector; task 0's loss falls faster.

    With fixed weights, task 0 trains faster (its inverse training rate stays below
    task 1's); GradNorm lowers task 0's weight and raises task 1's, so the rates end
    closer, and the weights always sum to T.
    """

    def run(gradnorm: bool) -> tuple[float, list[float]]:
        torch.manual_seed(0)
        x = torch.randn(64, 5)
        targets = torch.stack([x @ torch.randn(5) * 3.0, x @ torch.randn(5) * 0.3], dim=1)
        theta = torch.zeros(5, 2, requires_grad=True)
        shared = torch.zeros(5, requires_grad=True)
        optimizer = torch.optim.SGD([theta, shared], lr=0.02)
        method = GradNorm(2, alpha=1.5, lr=0.05)
        first = None
        for _ in range(60):
            pred = x @ (theta + shared[:, None])
            losses = (pred - targets).pow(2).mean(dim=0)
            first = losses.detach() if first is None else first
            optimizer.zero_grad()
            if gradnorm:
                method.backward(losses, [theta, shared])
                assert math.isclose(float(method.weights.detach().sum()), 2.0, rel_tol=1e-5)
            else:
                losses.sum().backward()
            optimizer.step()
        final = ((x @ (theta + shared[:, None]) - targets).pow(2).mean(dim=0) / first).detach()
        rates = final / final.mean()
        return float((rates[0] - rates[1]).abs()), method.weights.detach().tolist()

    fixed_gap, _ = run(gradnorm=False)
    balanced_gap, weights = run(gradnorm=True)
    assert balanced_gap < 0.8 * fixed_gap
    assert weights[1] > 1.0 > weights[0]


# ---------------------------------------------------------------- CAGrad
@given(gradient_matrices())
def test_cagrad_at_c_zero_is_the_average_gradient(G: torch.Tensor) -> None:
    direction, coefficients = linear_direction(CAGrad(G.shape[0], c=0.0), G)
    torch.testing.assert_close(direction, G.mean(dim=0))


@pytest.mark.parametrize("num_tasks", [2, 3, 5, 10])
@pytest.mark.parametrize("c", [0.2, 0.5, 0.9])
def test_cagrad_satisfies_its_constraint_and_is_optimal(num_tasks: int, c: float) -> None:
    """``‖d − g0‖ <= c‖g0‖``, and the worst task's rate equals the dual objective.

    For any ``w`` on the simplex and any feasible ``d``, ``min_i g_iᵀd <= g_wᵀd <=
    g_wᵀg0 + c‖g0‖‖g_w‖`` (weak duality); equality certifies that ``d`` is optimal.
    """
    generator = torch.Generator().manual_seed(num_tasks * 100 + int(c * 10))
    for _ in range(5):
        G = torch.randn(num_tasks, 20, generator=generator, dtype=torch.float64) + 0.3
        direction, coefficients = linear_direction(CAGrad(num_tasks, c=c, rescale=False), G)
        g0 = G.mean(dim=0)
        assert (direction - g0).norm() <= c * g0.norm() * (1 + 1e-9)
        w = coefficients - 1 / num_tasks
        w = w / w.sum()
        dual = cagrad_dual_objective(w, G @ G.T, c)
        primal = (G @ direction).min()
        scale = G.norm(dim=1).max() * g0.norm()
        assert primal <= dual + 1e-9 * scale
        assert dual - primal <= 1e-3 * scale
        # No random feasible direction does better on the worst task.
        u = torch.randn(2000, 20, generator=generator, dtype=torch.float64)
        u = g0 + c * g0.norm() * u / u.norm(dim=1, keepdim=True)
        assert (u @ G.T).min(dim=1).values.max() <= primal + 1e-3 * scale


def test_cagrad_rescale_divides_by_one_plus_c_squared() -> None:
    G = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    plain, _ = linear_direction(CAGrad(4, c=0.7, rescale=False), G)
    scaled, _ = linear_direction(CAGrad(4, c=0.7), G)
    torch.testing.assert_close(scaled, plain / 1.49)


# ---------------------------------------------------------------- FAMO
def famo_toy(famo: FAMO, steps: int) -> tuple[list[torch.Tensor], list[dict]]:
    """Runs FAMO on a 3-task regression; returns the logits after each step and the record."""
    torch.manual_seed(0)
    x = torch.randn(32, 4, dtype=torch.float64)
    targets = x @ torch.randn(4, 3, dtype=torch.float64) * torch.tensor([3.0, 1.0, 0.2])
    theta = torch.zeros(4, 3, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([theta], lr=0.05)
    logits, record = [], []
    for _ in range(steps):
        losses = (x @ theta - targets).pow(2).mean(dim=0)
        per_task = [torch.autograd.grad(losses[i], theta, retain_graph=True)[0] for i in range(3)]
        optimizer.zero_grad()
        famo.backward(losses, [theta])
        record.append({"losses": losses.detach(), "per_task": per_task, "grad": theta.grad.clone()})
        optimizer.step()
        with torch.no_grad():
            after = (x @ theta - targets).pow(2).mean(dim=0)
        record[-1]["after"] = after
        famo.update(after)
        logits.append(famo.logits.detach().clone())
    return logits, record


def softmax_jacobian_vjp(xi: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    jacobian = torch.autograd.functional.jacobian(lambda v: torch.softmax(v, 0), xi)
    return jacobian.T @ delta


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_famo_follows_its_update_rule_step_by_step(optimizer: str) -> None:
    beta, gamma, eps = 0.3, 0.01, 1e-8
    famo = FAMO(3, lr=beta, weight_decay=gamma, optimizer=optimizer, eps=eps)
    famo.logits.data = famo.logits.data.double()
    famo.optimizer.param_groups[0]["params"] = [famo.logits]
    logits, record = famo_toy(famo, steps=4)
    xi = torch.zeros(3, dtype=torch.float64)
    adam_xi = xi.clone().requires_grad_(True)
    adam = torch.optim.Adam([adam_xi], lr=beta, weight_decay=gamma)
    for step, r in enumerate(record):
        z = torch.softmax(xi, 0)
        shifted = r["losses"] + eps
        c = 1 / (z / shifted).sum()
        expected_grad = sum(c * z[i] / shifted[i] * r["per_task"][i] for i in range(3))
        torch.testing.assert_close(r["grad"], expected_grad)
        delta = shifted.log() - (r["after"] + eps).log()
        gradient = softmax_jacobian_vjp(xi, delta)
        if optimizer == "sgd":  # Algorithm 1: ξ ← ξ − β(∇z δ + γ ξ)
            xi = xi - beta * (gradient + gamma * xi)
        else:
            adam_xi.grad = gradient
            adam.step()
            xi = adam_xi.detach().clone()
        # Adam divides by the root of its second moment: float64 rounding grows to ~1e-7.
        torch.testing.assert_close(logits[step], xi, rtol=1e-5, atol=1e-6)
    assert logits[-1].abs().max() > 1e-3  # the weights did move


def test_famo_gives_more_weight_to_the_task_that_improves_least() -> None:
    logits, _ = famo_toy(FAMO(3, lr=0.1, optimizer="sgd"), steps=30)
    z = torch.softmax(logits[-1], 0)
    assert not torch.allclose(z, torch.full((3,), 1 / 3, dtype=z.dtype), atol=1e-3)


# ---------------------------------------------------------------- state and errors
@pytest.mark.parametrize("name", ["pcgrad", "gradnorm", "cagrad", "famo"])
def test_a_restored_method_continues_exactly(name: str) -> None:
    G = torch.randn(4, 6, generator=torch.Generator().manual_seed(1))

    def step(method, theta):
        losses = lambda: (G @ theta).pow(2) + 0.1  # noqa: E731 - positive, conflicting
        theta.grad = None
        method.backward(losses(), [theta])
        with torch.no_grad():
            theta -= 0.05 * theta.grad
            if method.needs_losses_after:
                method.update(losses())
        return theta.detach().clone()

    theta = torch.ones(6, requires_grad=True)
    original = make_gradient_method(name, 4)
    for _ in range(3):
        step(original, theta)
    restored = make_gradient_method(name, 4)
    restored.load_state_dict(original.state_dict())
    twin = theta.detach().clone().requires_grad_(True)
    for _ in range(3):
        torch.testing.assert_close(step(restored, twin), step(original, theta), rtol=0, atol=0)


def test_every_method_is_registered() -> None:
    assert set(gradient_method_names()) >= {"pcgrad", "gradnorm", "cagrad", "famo"}


@pytest.mark.parametrize("name", ["pcgrad", "gradnorm", "cagrad", "famo"])
def test_bad_losses_and_parameters_are_refused(name: str) -> None:
    method = make_gradient_method(name, 3)
    theta = torch.ones(4, requires_grad=True)
    where = f"{type(method).__name__}.backward"
    with pytest.raises(ShapeError, match=rf"{where}: losses must have shape \(3,\).*got \(2,\)"):
        method.backward(theta[:2] ** 2, [theta])
    with pytest.raises(ShapeError, match=r"losses must have shape \(3,\).*got \(3, 1\)"):
        method.backward(theta[:3, None] ** 2, [theta])
    with pytest.raises(ShapeError, match="losses must be a torch.Tensor, got list"):
        method.backward([1.0, 2.0, 3.0], [theta])
    with pytest.raises(ShapeError, match="losses must be floating point"):
        method.backward(torch.ones(3, dtype=torch.int64), [theta])
    with pytest.raises(ConfigError, match="parameters must be non-empty"):
        method.backward(theta[:3] ** 2, [])
    with pytest.raises(ConfigError, match=r"parameters\[0\] must be a tensor that requires grad"):
        method.backward(theta[:3] ** 2, [torch.ones(4)])
    with pytest.raises(ConfigError, match="state must have the keys"):
        method.load_state_dict({"nonsense": 1})


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: PCGrad(0), "PCGrad: num_tasks must be an int >= 1, got 0"),
        (lambda: PCGrad(True), "num_tasks must be an int >= 1, got True"),
        (lambda: PCGrad(2, per_task="vmap"), "per_task must be one of"),
        (lambda: GradNorm(2, alpha=-1.0), "GradNorm: alpha must be a finite float >= 0, got -1.0"),
        (lambda: GradNorm(2, lr=0.0), "GradNorm: lr must be a finite float > 0, got 0.0"),
        (lambda: CAGrad(2, c=-0.5), "CAGrad: c must be a finite float >= 0, got -0.5"),
        (lambda: CAGrad(2, c=math.nan), "CAGrad: c must be a finite float >= 0, got nan"),
        (lambda: CAGrad(2, iterations=0), "CAGrad: iterations must be an int >= 1, got 0"),
        (lambda: FAMO(2, lr=-1.0), "FAMO: lr must be a finite float > 0"),
        (lambda: FAMO(2, weight_decay=-1.0), "FAMO: weight_decay must be a finite float >= 0"),
        (lambda: FAMO(2, optimizer="rmsprop"), r"FAMO: optimizer must be one of \['adam', 'sgd'\]"),
        (lambda: FAMO(2, min_loss="0"), "FAMO: min_loss must be a float"),
        (lambda: make_gradient_method("mgda", 2), "make_gradient_method: name must be one of"),
        (lambda: make_gradient_method("cagrad", 2, radius=1.0), None),
    ],
)
def test_bad_settings_are_refused(build, message) -> None:
    if message is None:  # an unknown keyword is Python's TypeError, naming it
        with pytest.raises(TypeError, match="radius"):
            build()
        return
    with pytest.raises(ConfigError, match=message):
        build()


def test_gradnorm_and_famo_refuse_losses_they_cannot_take_the_ratio_or_log_of() -> None:
    theta = torch.ones(2, requires_grad=True)
    with pytest.raises(ShapeError, match="GradNorm.backward: losses must be positive at the first"):
        GradNorm(2).backward(torch.stack([theta.sum(), -theta.sum()]), [theta])
    famo = FAMO(2)
    with pytest.raises(ShapeError, match=r"FAMO.backward: losses must exceed min_loss = 0.0"):
        famo.backward(torch.stack([theta.sum(), -theta.sum()]), [theta])
    with pytest.raises(ConfigError, match="FAMO.update: the call order must be backward, step"):
        famo.update(torch.ones(2))


def test_a_parameter_no_loss_reaches_keeps_no_gradient() -> None:
    """As after ``loss.backward()``: ``.grad`` stays None, so an optimiser skips it."""
    used = torch.ones(3, requires_grad=True)
    unused = torch.ones(2, requires_grad=True)
    PCGrad(2).backward(torch.stack([used.sum(), (2 * used).sum()]), [used, unused])
    assert unused.grad is None
    torch.testing.assert_close(used.grad, torch.full((3,), 3.0))


def test_per_task_mean_is_each_tasks_mean() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 5.0, 7.0])
    task = torch.tensor([2, 0, 2, 0, 2])
    torch.testing.assert_close(per_task_mean(values, task, 4), torch.tensor([3.5, 0.0, 11 / 3, 0]))


@given(hnp.arrays(np.float64, st.integers(1, 8), elements=st.floats(-5, 5, width=64)))
def test_the_simplex_projection_is_the_nearest_point_of_the_simplex(v: np.ndarray) -> None:
    from modnet.gradient_methods.cagrad import project_to_simplex

    v = torch.from_numpy(v)
    p = project_to_simplex(v)
    assert (p >= 0).all() and abs(float(p.sum()) - 1) < 1e-12
    # Optimality (KKT): v − p is constant on the support and no larger off it.
    residual = v - p
    on = residual[p > 0]
    assert float(on.max() - on.min()) < 1e-9
    assert (residual[p == 0] <= on.min() + 1e-9).all()


def test_famo_takes_one_backward_pass_whatever_the_number_of_tasks() -> None:
    """FAMO is O(1) in T: the parameter's gradient hook fires once, PCGrad's loop T times."""
    for method, expected in ((FAMO(6), 1), (PCGrad(6, per_task="loop"), 6)):
        theta = torch.ones(4, requires_grad=True)
        calls = []
        theta.register_hook(lambda grad, calls=calls: calls.append(1))
        losses = (torch.arange(1.0, 7.0)[:, None] * theta).pow(2).sum(dim=1)  # [6]
        method.backward(losses, [theta])
        assert len(calls) == expected
