"""Lion (``odeopt/optimizers/lion.py``).

* Lockstep against a NumPy transcription of Algorithm 2 of Chen et al. (2023) (the
  same update as optax's ``lion``: sign((1 − β₁)g + β₁m), then decoupled decay, then
  m ← β₂m + (1 − β₂)g), 500 steps, with and without weight decay, to 1e-12.
* Order 1 against the sign flow with decoupled decay θ̇ = −sign(∇L) − λθ.
* The constrained view (Chen, Liang & Liu 2023): with decay λ the iterates settle in
  the box ‖λθ‖∞ ≤ 1 — on ½(θ − 5)² with λ = 1 Lion stops at the box edge θ = 1/λ, not
  at the unconstrained minimum 5.
"""

from __future__ import annotations

import numpy as np
import pytest

import odeopt
from odeopt.check import check_order
from odeopt.stepper import resolve_surface


def numpy_lion(theta, grad, steps, lr, beta1=0.9, beta2=0.99, weight_decay=1e-3):
    theta = np.array(theta, dtype=float)
    m = np.zeros_like(theta)
    out = [theta]
    for _ in range(steps):
        g = grad(theta)
        update = np.sign(beta1 * m + (1.0 - beta1) * g)
        theta = theta - lr * (update + weight_decay * theta)
        m = beta2 * m + (1.0 - beta2) * g
        out.append(theta)
    return np.array(out)


@pytest.mark.parametrize(
    ("surface", "hp"),
    [
        ("rosenbrock", {"lr": 1e-3}),
        ("rosenbrock", {"lr": 3e-3, "beta1": 0.5, "beta2": 0.9, "weight_decay": 0.0}),
        ("quadratic", {"lr": 1e-2, "weight_decay": 0.1}),
    ],
)
def test_lion_matches_the_papers_algorithm(surface, hp):
    traj = odeopt.run("lion", surface, steps=500, **hp)
    bound = resolve_surface(surface)
    expected = numpy_lion(bound.x0, bound.grad, 500, **hp)
    np.testing.assert_allclose(traj.theta, expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("surface", ["product-loss", "rosenbrock"])
def test_lion_follows_the_sign_flow_at_order_one(surface):
    result = check_order("lion", surface)
    assert result.passed, result.table()


def test_lion_with_decay_stops_at_the_box_edge():
    traj = odeopt.run("lion", "shifted-bowl", lr=1e-3, weight_decay=1.0, steps=15_000,
                      x0=[0.5], surface_params={"c": (5.0,)})  # fmt: skip
    tail = traj.theta[-100:, 0]
    # θ̇ = 1 − λθ inside the box: e^{−15} of the way left, then O(lr) chatter
    assert np.all(np.abs(tail - 1.0) <= 2e-3)
