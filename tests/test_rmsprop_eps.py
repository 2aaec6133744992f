"""C14: RMSprop with ε inside the square root, √(v + ε) (Su's and TensorFlow's
placement), as the ``eps_inside`` option of ``rmsprop``.

* Lockstep against a NumPy transcription of the update with √(v + ε) (plain, centred,
  with momentum), 500 steps, to 1e-12 relative.
* As ε → 0 it agrees with PyTorch's √v + ε: the largest gap along a 500-step run on
  rosenbrock is proportional to ε (measured: 8.83e-3·ε for ε = 1e-4 … 1e-8).
* The default (ε outside) keeps its bits: tests/test_golden.py and test_lockstep.py.
"""

from __future__ import annotations

import numpy as np
import pytest

import odeopt
from odeopt.stepper import resolve_surface


def numpy_rmsprop_eps_inside(theta, grad, steps, lr, alpha=0.99, eps=1e-8,
                             momentum=0.0, centered=False):  # fmt: skip
    theta = np.array(theta, dtype=float)
    v, mean, b = np.zeros_like(theta), np.zeros_like(theta), np.zeros_like(theta)
    out = [theta]
    for _ in range(steps):
        g = grad(theta)
        v = alpha * v + (1.0 - alpha) * g * g
        square = v
        if centered:
            mean = alpha * mean + (1.0 - alpha) * g
            square = v - mean * mean
        step = g / np.sqrt(square + eps)
        if momentum > 0.0:
            b = momentum * b + step
            step = b
        theta = theta - lr * step
        out.append(theta)
    return np.array(out)


@pytest.mark.parametrize(
    "hp",
    [
        {"lr": 1e-3, "eps": 1e-6},
        {"lr": 1e-3, "eps": 1e-3, "centered": True},
        {"lr": 1e-4, "eps": 1e-8, "momentum": 0.9},
    ],
)
def test_eps_inside_matches_numpy(hp):
    traj = odeopt.run("rmsprop", "rosenbrock", steps=500, eps_inside=True, **hp)
    surface = resolve_surface("rosenbrock")
    expected = numpy_rmsprop_eps_inside(surface.x0, surface.grad, 500, **hp)
    np.testing.assert_allclose(traj.theta, expected, rtol=1e-12)


def test_c14_both_placements_agree_as_eps_vanishes():
    gaps = []
    epsilons = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8]
    for eps in epsilons:
        outside = odeopt.run("rmsprop", "rosenbrock", lr=1e-3, eps=eps, steps=500)
        inside = odeopt.run("rmsprop", "rosenbrock", lr=1e-3, eps=eps, steps=500,
                            eps_inside=True)  # fmt: skip
        gaps.append(np.max(np.abs(outside.theta - inside.theta)))
    ratios = np.array(gaps) / np.array(epsilons)
    # the gap is O(ε): gap/ε constant to 1%, so both tend to the same iterates
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-2)
    assert gaps[-1] < 1e-9


def test_default_is_pytorchs_placement():
    hp = {h.name: h.default for h in odeopt.get_optimizer("rmsprop").hyperparameters}
    assert hp["eps_inside"] is False
