"""odeopt's jitted steppers against the NumPy reference of ``tests/naive.py``.

``naive.py`` transcribes the ``torch.optim`` algorithm boxes and is itself checked
against real torch by ``tests/test_torch_parity.py``; the gradients used here are
naive.py's own (scipy's ``rosen_der`` and hand-written formulas), independent of
odeopt's surface kernels.  Every optimizer must reproduce the reference step for
step to 1e-12 relative to ``max(1, |θ|)`` over at least 500 steps, on several
surfaces and with every hyperparameter set somewhere.  The hyperparameters keep the
runs out of chaotic regimes, where rounding differences of 1e-16 between two
correct implementations would grow exponentially.  ``maximize`` runs climb
Himmelblau's local maximum or a quadratic bowl, so they stay bounded.
"""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

import odeopt

sys.path.insert(0, str(Path(__file__).resolve().parent))
naive = importlib.import_module("naive")

TOL = 1e-12
LOSS_RTOL = 1e-12

# odeopt name -> (naive function, fixed keywords)
REFERENCE = {
    "gd": (naive.sgd, {}),
    "momentum": (naive.sgd, {}),
    "nesterov": (naive.sgd, {"nesterov": True}),
    "rmsprop": (naive.rmsprop, {}),
    "adam": (naive.adam, {}),
    "adamw": (naive.adamw, {}),
    "adagrad": (naive.adagrad, {}),
}

HIMMELBLAU_MAX = (-0.270845, -0.923039)  # Himmelblau's local maximum, L ≈ 181.6


def case(case_id, optimizer, surface, x0, steps=600, surface_params=None, **hp):
    """A lockstep case: optimizer, surface, start, steps and hyperparameters."""
    return pytest.param(
        optimizer, surface, list(x0), steps, surface_params or {}, hp, id=case_id
    )


ROT = {"kappa": 100.0, "rotate": 3}  # 3-D rotated quadratic, eigenvalues 1 … 100
EIG = {"eigenvalues": (0.5, 4.0)}

CASES = [
    # -- gd ---------------------------------------------------------------------------
    case("gd-rosenbrock", "gd", "rosenbrock", [-1.2, 1.0], 2000, lr=1e-3),
    case("gd-wd-booth", "gd", "booth", [-5.0, -5.0], lr=0.02, weight_decay=0.1),
    case(
        "gd-wd-maximize-himmelblau",
        "gd",
        "himmelblau",
        [0.0, 0.0],
        lr=5e-3,
        weight_decay=0.5,
        maximize=True,
    ),
    case(
        "gd-quadratic-rotated", "gd", "quadratic", [1.0, -0.5, 2.0], 800, ROT, lr=0.015
    ),
    # -- momentum ---------------------------------------------------------------------
    case(
        "momentum-rosenbrock4d",
        "momentum",
        "rosenbrock",
        [-1.2, 1.0, -1.2, 1.0],
        1500,
        lr=2e-4,
        momentum=0.9,
    ),
    case(
        "momentum-dampening-wd-quadratic-rotated",
        "momentum",
        "quadratic",
        [1.0, -0.5, 2.0],
        800,
        ROT,
        lr=0.01,
        momentum=0.8,
        dampening=0.5,
        weight_decay=0.05,
    ),
    case(
        "momentum-dampening-maximize-himmelblau",
        "momentum",
        "himmelblau",
        [0.0, 0.0],
        lr=2e-3,
        momentum=0.7,
        dampening=0.2,
        maximize=True,
    ),
    case(
        "momentum-product-loss",
        "momentum",
        "product-loss",
        [2.0, 0.3],
        lr=0.05,
        momentum=0.5,
    ),
    # -- nesterov ---------------------------------------------------------------------
    case("nesterov-booth", "nesterov", "booth", [-5.0, -5.0], lr=0.01, momentum=0.9),
    case(
        "nesterov-rosenbrock",
        "nesterov",
        "rosenbrock",
        [-1.2, 1.0],
        1500,
        lr=2e-4,
        momentum=0.95,
    ),
    case(
        "nesterov-wd-maximize-quadratic",
        "nesterov",
        "quadratic",
        [1.0, -2.0],
        500,
        EIG,
        lr=1e-3,
        momentum=0.6,
        weight_decay=0.2,
        maximize=True,
    ),
    # -- rmsprop ----------------------------------------------------------------------
    case("rmsprop-rosenbrock", "rmsprop", "rosenbrock", [-1.2, 1.0], 1000, lr=1e-3),
    case(
        "rmsprop-alpha-eps-quadratic-rotated",
        "rmsprop",
        "quadratic",
        [1.0, -0.5, 2.0],
        800,
        ROT,
        lr=1e-2,
        alpha=0.9,
        eps=1.0,
    ),
    case(
        "rmsprop-centered-himmelblau",
        "rmsprop",
        "himmelblau",
        [0.5, -0.5],
        lr=5e-3,
        centered=True,
        eps=1e-6,
    ),
    case(
        "rmsprop-momentum-wd-rosenbrock4d",
        "rmsprop",
        "rosenbrock",
        [-1.2, 1.0, -1.2, 1.0],
        1000,
        lr=1e-4,
        momentum=0.9,
        weight_decay=0.05,
    ),
    case(
        "rmsprop-all-maximize-himmelblau",
        "rmsprop",
        "himmelblau",
        [0.0, 0.0],
        lr=1e-3,
        alpha=0.99,
        eps=1e-2,
        weight_decay=0.1,
        momentum=0.5,
        centered=True,
        maximize=True,
    ),
    # -- adam -------------------------------------------------------------------------
    case("adam-rosenbrock", "adam", "rosenbrock", [-1.2, 1.0], 2000, lr=1e-2),
    case(
        "adam-beta1-0-beta2-small-himmelblau",
        "adam",
        "himmelblau",
        [0.5, -0.5],
        lr=1e-2,
        beta1=0.0,
        beta2=0.5,
    ),
    case(
        "adam-eps0-quadratic",
        "adam",
        "quadratic",
        [1.0, -2.0],
        800,
        EIG,
        lr=5e-3,
        beta1=0.8,
        beta2=0.99,
        eps=0.0,
    ),
    case(
        "adam-amsgrad-wd-quadratic-rotated",
        "adam",
        "quadratic",
        [1.0, -0.5, 2.0],
        1000,
        ROT,
        lr=1e-2,
        amsgrad=True,
        weight_decay=0.1,
        eps=1e-6,
    ),
    case(
        "adam-decoupled-amsgrad-product-loss",
        "adam",
        "product-loss",
        [2.0, 0.3],
        800,
        lr=5e-3,
        beta1=0.5,
        beta2=0.9,
        weight_decay=0.2,
        amsgrad=True,
        decoupled_weight_decay=True,
    ),
    case(
        "adam-wd-maximize-himmelblau",
        "adam",
        "himmelblau",
        [0.0, 0.0],
        lr=1e-3,
        weight_decay=0.05,
        maximize=True,
    ),
    # -- adamw ------------------------------------------------------------------------
    case("adamw-rosenbrock", "adamw", "rosenbrock", [-1.2, 1.0], 2000, lr=1e-2),
    case(
        "adamw-amsgrad-maximize-himmelblau",
        "adamw",
        "himmelblau",
        [0.0, 0.0],
        lr=1e-3,
        beta1=0.8,
        beta2=0.95,
        eps=1e-6,
        weight_decay=0.3,
        amsgrad=True,
        maximize=True,
    ),
    case(
        "adamw-quadratic-rotated",
        "adamw",
        "quadratic",
        [1.0, -0.5, 2.0],
        500,
        ROT,
        lr=2e-3,
    ),
    # -- adagrad ----------------------------------------------------------------------
    case("adagrad-rosenbrock", "adagrad", "rosenbrock", [-1.2, 1.0], 2000, lr=0.1),
    case(
        "adagrad-decay-wd-rosenbrock4d",
        "adagrad",
        "rosenbrock",
        [-1.2, 1.0, -1.2, 1.0],
        800,
        lr=0.3,
        lr_decay=0.01,
        weight_decay=0.1,
    ),
    case(
        "adagrad-initacc-eps-quadratic-rotated",
        "adagrad",
        "quadratic",
        [1.0, -0.5, 2.0],
        800,
        ROT,
        lr=0.05,
        initial_accumulator_value=0.5,
        eps=1e-3,
    ),
    case(
        "adagrad-all-maximize-himmelblau",
        "adagrad",
        "himmelblau",
        [0.0, 0.0],
        lr=0.05,
        lr_decay=0.05,
        weight_decay=0.02,
        initial_accumulator_value=0.1,
        eps=1e-6,
        maximize=True,
    ),
    case("adagrad-product-loss", "adagrad", "product-loss", [2.0, 0.3], 800, lr=0.1),
]


# -- the reference ------------------------------------------------------------------


def naive_loss(surface, dim, surface_params):
    """naive.py's (value, grad) for an odeopt surface name and its parameters."""
    params = dict(surface_params)
    if surface == "rosenbrock":
        assert params.get("a", 1.0) == 1.0 and params.get("b", 100.0) == 100.0
        return naive.rosenbrock_value, naive.rosenbrock_grad
    if surface == "quadratic":
        if params.get("rotate") is None and params.get("eigenvalues") is not None:
            a = np.diag(np.asarray(params["eigenvalues"], dtype=float))
        else:
            # the rotation's construction is tested with the surface itself
            bound = odeopt.get_surface("quadratic").bind(dim=dim, **params)
            a = bound.p.reshape(bound.dim, bound.dim)
        return naive.quadratic(a)
    if surface == "product-loss":
        c = params.get("c", 0.05)
        return (
            functools.partial(naive.product_loss_value, c=c),
            functools.partial(naive.product_loss_grad, c=c),
        )
    assert not params, f"no parameters expected for {surface}"
    return naive.LOSSES[surface]


def reference(optimizer, surface, x0, steps, surface_params, hp):
    """(θ_0 … θ_steps, loss value function) of the naive version."""
    value, grad = naive_loss(surface, len(x0), surface_params)
    function, fixed = REFERENCE[optimizer]
    return function(grad, x0, steps, **fixed, **hp), value


def assert_lockstep(theta, steps, expected, label=""):
    """Records ``theta`` at ``steps`` equal ``expected[steps]`` to TOL (relative)."""
    want = expected[steps]
    assert theta.shape == want.shape, f"{label}: shape {theta.shape} != {want.shape}"
    dev = np.abs(theta - want) / np.maximum(1.0, np.abs(want))
    dev = np.where(np.isnan(dev), np.inf, dev).max(axis=1)
    bad = np.flatnonzero(dev > TOL)
    if bad.size:
        first, worst = bad[0], int(np.argmax(dev))
        raise AssertionError(
            f"{label}: odeopt leaves naive.py at step {steps[first]} "
            f"(relative deviation {dev[first]:.3e}: "
            f"odeopt {theta[first].tolist()}, naive {want[first].tolist()}); "
            f"worst at step {steps[worst]} ({dev[worst]:.3e})"
        )
    return float(dev.max(initial=0.0))


def assert_losses(traj, value, label=""):
    """The recorded losses equal naive.py's loss at the recorded points."""
    want = np.array([value(x) for x in traj.theta])
    np.testing.assert_allclose(
        traj.loss, want, rtol=LOSS_RTOL, atol=0.0, err_msg=f"{label}: recorded loss"
    )


# -- tests ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "surface", "x0", "steps", "surface_params", "hp"), CASES
)
def test_stepper_equals_naive(optimizer, surface, x0, steps, surface_params, hp):
    traj = odeopt.run(
        optimizer,
        surface,
        x0=x0,
        steps=steps,
        record_every=1,
        dim=len(x0),
        surface_params=surface_params or None,
        **hp,
    )
    expected, value = reference(optimizer, surface, x0, steps, surface_params, hp)
    assert np.all(np.isfinite(expected)), "the reference run itself left the reals"
    assert traj.status == "max_steps"
    np.testing.assert_array_equal(traj.step, np.arange(steps + 1))
    label = f"{optimizer} on {surface} {hp}"
    assert_lockstep(traj.theta, traj.step, expected, label)
    assert_losses(traj, value, label)


RECORD_CASES = [
    case("adam-rosenbrock-every-7", "adam", "rosenbrock", [-1.2, 1.0], 500, lr=1e-2),
    case(
        "momentum-booth-every-64",
        "momentum",
        "booth",
        [-5.0, -5.0],
        1000,
        lr=0.01,
        momentum=0.9,
    ),
    case(
        "adagrad-product-loss-every-50",
        "adagrad",
        "product-loss",
        [2.0, 0.3],
        600,
        lr=0.1,
    ),
]
EVERY = {"adam": 7, "momentum": 64, "adagrad": 50}


@pytest.mark.parametrize(
    ("optimizer", "surface", "x0", "steps", "surface_params", "hp"), RECORD_CASES
)
def test_record_every_subsamples_the_same_path(
    optimizer, surface, x0, steps, surface_params, hp
):
    every = EVERY[optimizer]
    traj = odeopt.run(
        optimizer,
        surface,
        x0=x0,
        steps=steps,
        record_every=every,
        dim=len(x0),
        surface_params=surface_params or None,
        **hp,
    )
    wanted = sorted(set(range(0, steps + 1, every)) | {steps})
    np.testing.assert_array_equal(traj.step, wanted)
    expected, value = reference(optimizer, surface, x0, steps, surface_params, hp)
    label = f"{optimizer} on {surface}, record_every={every}"
    assert_lockstep(traj.theta, traj.step, expected, label)
    assert_losses(traj, value, label)


def test_cases_cover_every_option():
    """Every hyperparameter of every optimizer is set somewhere above."""
    options = {
        "gd": {"lr", "weight_decay", "maximize"},
        "momentum": {"lr", "momentum", "dampening", "weight_decay", "maximize"},
        "nesterov": {"lr", "momentum", "weight_decay", "maximize"},
        "rmsprop": {
            "lr",
            "alpha",
            "eps",
            "weight_decay",
            "momentum",
            "centered",
            "maximize",
        },
        "adam": {
            "lr",
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "amsgrad",
            "maximize",
            "decoupled_weight_decay",
        },
        "adamw": {"lr", "beta1", "beta2", "eps", "weight_decay", "amsgrad", "maximize"},
        "adagrad": {
            "lr",
            "lr_decay",
            "weight_decay",
            "initial_accumulator_value",
            "eps",
            "maximize",
        },
    }
    used = {}
    for param in CASES:
        optimizer, *_, hp = param.values
        used.setdefault(optimizer, set()).update(hp)
    for name, wanted in options.items():
        assert wanted <= used.get(name, set()), (
            f"{name}: untested {wanted - used[name]}"
        )
        registered = {h.name for h in odeopt.get_optimizer(name).hyperparameters}
        assert used[name] <= registered, f"{name}: unknown {used[name] - registered}"
