"""Defaults: every optimizer gives a meaningful, non-diverging run on every surface.

With only an optimizer and a surface, a run takes 10 000 steps from the classic start
with a learning rate chosen from the surface's curvature L (gd, momentum, nesterov) or
from the distance D to the nearest minimum (adaptive methods).  Surfaces unbounded
below (the saddles) are allowed to run away.
"""

import numpy as np
import pytest
import scipy.optimize

import odeopt
from odeopt.registry import optimizers, surfaces

PAIRS = [(o, s) for o in optimizers() for s in surfaces()]


# slow: a stepper for every (optimizer, surface) pair, minutes to compile from cold
@pytest.mark.slow
@pytest.mark.parametrize(
    ("optimizer", "surface"), PAIRS, ids=[f"{o}-{s}" for o, s in PAIRS]
)
def test_default_run_is_meaningful(optimizer, surface):
    traj = odeopt.run(optimizer, surface, record_every=10_000)
    assert traj.meta["steps"] == 10_000
    assert traj.meta["hyperparameters"]["lr"] > 0
    if odeopt.get_surface(surface).bounded_below:
        assert traj.status is odeopt.Status.MAX_STEPS
        assert np.isfinite(traj.final_loss)
        assert traj.final_loss < traj.loss[0]
    else:
        assert traj.status is not odeopt.Status.CONVERGED


def test_curvature_rule_on_rosenbrock_against_scipy():
    # Independent: largest |eigenvalue| of scipy's Hessian where f <= f(x0), on a grid.
    bound = odeopt.get_surface("rosenbrock").bind()
    lo, hi = bound.bounds
    xs = np.linspace(lo[0], hi[0], 64)
    ys = np.linspace(lo[1], hi[1], 64)
    level = scipy.optimize.rosen(bound.x0)
    worst = max(
        np.max(np.abs(np.linalg.eigvalsh(scipy.optimize.rosen_hess(np.array([x, y])))))
        for x in xs
        for y in ys
        if scipy.optimize.rosen(np.array([x, y])) <= level
    )
    assert bound.curvature() == pytest.approx(worst, rel=1e-12)


@pytest.mark.parametrize("eigenvalues", [(1.0, 10.0), (0.5, 2.0, 7.0)])
def test_curvature_of_a_quadratic_is_its_largest_eigenvalue(eigenvalues):
    bound = odeopt.get_surface("quadratic").bind(eigenvalues=eigenvalues)
    assert bound.curvature() == pytest.approx(max(eigenvalues), rel=1e-12)


def test_default_learning_rates_follow_the_stated_rules():
    bound = odeopt.get_surface("rosenbrock").bind()
    L = bound.curvature()
    for name in ("gd", "momentum", "nesterov"):
        traj = odeopt.run(name, "rosenbrock", steps=1)
        assert traj.meta["hyperparameters"]["lr"] == pytest.approx(1.0 / L)
        assert traj.meta["lr_default_rule"]
    distance = np.max(np.abs(bound.x0 - np.array([1.0, 1.0])))
    assert odeopt.run("adam", "rosenbrock", steps=1).meta["hyperparameters"][
        "lr"
    ] == pytest.approx(distance / 1000)
    assert odeopt.run("adagrad", "rosenbrock", steps=1).meta["hyperparameters"][
        "lr"
    ] == pytest.approx(distance / 20)
    given = odeopt.run("gd", "rosenbrock", steps=1, lr=0.001)
    assert given.meta["lr_default_rule"] is None


def test_n_dimensional_surface_takes_its_dimension_from_x0():
    traj = odeopt.run("gd", "quadratic", x0=[1.0, 2.0, 3.0], steps=3)
    assert traj.theta.shape == (4, 3)
