"""The stepping contract's optional roles, used by a family outside the package.

``tests/families/contract_polyak.py`` reads the loss value in its step, keeps scalar
state and projects after each step (odeopt._roles).  Its runs are compared with a
NumPy transcription of the same update, single and batched, in lanes and not.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

import odeopt
from odeopt import _codegen

sys.path.insert(0, str(Path(__file__).resolve().parent / "families"))
import contract_bilinear
import contract_polyak

POLYAK = contract_polyak.OPTIMIZERS[0]
HP = {"lr": 1.0, "target": 0.0, "scale": 0.9, "decay": 0.99, "floor": 0.05}


def numpy_polyak(surface, x0, steps, hp):
    """The update as written in the family's docstring, in NumPy."""
    theta, s = np.array(x0, dtype=float), hp["scale"]
    path = [theta.copy()]
    for _ in range(steps):
        g = surface.grad(theta)
        size = s * (surface.value(theta) - hp["target"]) / (1e-300 + g @ g)
        theta = np.maximum(theta - size * g, hp["floor"])
        s *= hp["decay"]
        path.append(theta.copy())
    return np.array(path)


@pytest.mark.parametrize(("surface", "x0"), [("booth", [-3.0, 4.0]),
                                             ("quadratic", [1.0, 0.5, -0.2])])  # fmt: skip
def test_loss_aware_step_with_scalar_state_and_projection(surface, x0):
    traj = odeopt.run(POLYAK, surface, x0=x0, steps=60, record_every=1, **HP)
    bound = odeopt.registry.get_surface(surface).bind(len(x0))
    expected = numpy_polyak(bound, x0, 60, HP)
    np.testing.assert_allclose(traj.theta, expected, rtol=1e-13, atol=1e-15)
    assert np.all(traj.theta[1:] >= HP["floor"])  # post() held the floor
    assert np.any(traj.theta[1:] == HP["floor"])  # ... and it was reached


def test_batch_in_lanes_equals_single_runs():
    rng = np.random.default_rng(8)
    starts = rng.uniform(0.1, 3.0, size=(37, 2))
    sets = [HP, {**HP, "scale": 0.5, "decay": 0.95}]
    batch = odeopt.run_batch(POLYAK, "booth", starts, sets, steps=80)
    for h, hp in enumerate(sets):
        for s in (0, 20, 36):
            single = odeopt.run(POLYAK, "booth", x0=starts[s], steps=80, **hp)
            np.testing.assert_array_equal(batch.final_theta[h, s], single.theta[-1])


def test_the_runner_passes_what_step_names():
    source, _ = _codegen.runner_source(contract_polyak, odeopt.registry.get_surface(
        "booth").kernels)  # fmt: skip
    assert "NEEDS_VALUE = True" in source and "N_AUX = 1" in source
    assert "_family_step(k, theta, state, G, hp, values, aux)" in source


def test_a_step_with_unknown_arguments_is_refused():
    from types import SimpleNamespace

    def step(k, theta, state, G, hp, velocity):
        return

    family = SimpleNamespace(__name__="bad_family", step=step)
    with pytest.raises(TypeError, match="then any of values, aux"):
        _codegen._step_arguments(family)


def test_a_vector_field_that_is_not_a_gradient():
    # Simultaneous GDA on the rotation field F = (a·y, −b·x): each step multiplies the
    # ab-weighted radius √(b·x² + a·y²) by √(1 + h²ab) exactly.
    game = contract_bilinear.SURFACE.bind()
    # The default step reads the Jacobian's spectral radius √(ab) = 2 (its symmetric
    # part's eigenvalues, what eigvalsh would see, are ±1.5).
    assert game.curvature() == pytest.approx(2.0, rel=1e-12)
    h, steps = 0.05, 200
    traj = odeopt.run("gd", game, x0=[1.0, 0.5], steps=steps, lr=h, record_every=1)
    x, y = traj.theta.T
    radius = np.sqrt(1.0 * x**2 + 4.0 * y**2)
    growth = np.sqrt(1 + h * h * 4.0) ** np.arange(steps + 1)
    np.testing.assert_allclose(radius, radius[0] * growth, rtol=1e-12)
