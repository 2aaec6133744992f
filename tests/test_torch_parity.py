"""The NumPy reference optimizers of ``tests/naive.py`` against real ``torch.optim``.

Skipped unless torch is installed (the project does not depend on it)::

    python -m pytest tests/test_torch_parity.py

Each case runs the torch optimizer (single-tensor path, ``foreach=False``) in
float64, setting ``.grad`` from the analytic gradient at every step, next to the
naive version, for at least 500 steps, and requires the two trajectories to agree to
1e-12 relative to ``max(1, |θ|)``.  The hyperparameters cover every option of each
optimizer and stay out of chaotic regimes (where 1e-16 rounding differences grow
exponentially and say nothing about correctness); each optimizer has runs that
travel far from the start.  ``maximize`` runs climb the negated loss, so they
converge like the minimising runs.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent))
naive = importlib.import_module("naive")

TOL = 1e-12

QUAD_A = np.array([[5.0, 2.0, 0.5], [2.0, 3.0, 0.3], [0.5, 0.3, 0.12]])  # κ ≈ 97
quad_value, quad_grad = naive.quadratic(QUAD_A)


def _neg(grad):
    return lambda x: -grad(x)


LOSSES = {
    "rosenbrock": naive.rosenbrock_grad,
    "quadratic": quad_grad,
    "booth": naive.booth_grad,
    "himmelblau": naive.himmelblau_grad,
    "product-loss": naive.product_loss_grad,
}

X0 = {
    "rosenbrock": [-1.2, 1.0],
    "rosenbrock-4d": [-1.2, 1.0, -1.2, 1.0],
    "quadratic": [2.0, -1.5, 4.0],
    "booth": [-4.0, 6.0],
    "himmelblau": [0.5, -0.5],
    "product-loss": [2.5, -0.3],
}

# (id, optimizer, loss, start, steps, hyperparameters, travels at least this far)
CASES = [
    # -- SGD --------------------------------------------------------------------------
    ("sgd-rosenbrock", "sgd", "rosenbrock", "rosenbrock", 2000, {"lr": 1e-3}, 1.0),
    (
        "sgd-wd-himmelblau",
        "sgd",
        "himmelblau",
        "himmelblau",
        600,
        {"lr": 5e-3, "weight_decay": 0.1},
        2.0,
    ),
    (
        "momentum-rosenbrock",
        "sgd",
        "rosenbrock",
        "rosenbrock",
        1500,
        {"lr": 2e-4, "momentum": 0.9},
        1.0,
    ),
    (
        "momentum-dampening-quadratic",
        "sgd",
        "quadratic",
        "quadratic",
        800,
        {"lr": 0.05, "momentum": 0.8, "dampening": 0.5, "weight_decay": 0.01},
        2.0,
    ),
    (
        "nesterov-booth",
        "sgd",
        "booth",
        "booth",
        600,
        {"lr": 0.01, "momentum": 0.9, "nesterov": True},
        3.0,
    ),
    (
        "nesterov-wd-maximize-rosenbrock4d",
        "sgd",
        "-rosenbrock",
        "rosenbrock-4d",
        1500,
        {
            "lr": 1e-4,
            "momentum": 0.95,
            "nesterov": True,
            "weight_decay": 0.05,
            "maximize": True,
        },
        1.0,
    ),
    (
        "momentum-dampening-maximize-product",
        "sgd",
        "-product-loss",
        "product-loss",
        800,
        {"lr": 0.05, "momentum": 0.5, "dampening": 0.9, "maximize": True},
        1.0,
    ),
    # -- RMSprop ----------------------------------------------------------------------
    (
        "rmsprop-rosenbrock",
        "rmsprop",
        "rosenbrock",
        "rosenbrock",
        1000,
        {"lr": 1e-3},
        0.5,
    ),
    (
        "rmsprop-alpha-eps-quadratic",
        "rmsprop",
        "quadratic",
        "quadratic",
        800,
        {"lr": 1e-2, "alpha": 0.9, "eps": 0.1},
        2.0,
    ),
    (
        "rmsprop-centered-himmelblau",
        "rmsprop",
        "himmelblau",
        "himmelblau",
        600,
        {"lr": 5e-3, "centered": True, "eps": 1e-6},
        2.0,
    ),
    (
        "rmsprop-momentum-wd-booth",
        "rmsprop",
        "booth",
        "booth",
        600,
        {"lr": 1e-3, "momentum": 0.9, "weight_decay": 0.05},
        3.0,
    ),
    (
        "rmsprop-all-maximize-rosenbrock4d",
        "rmsprop",
        "-rosenbrock",
        "rosenbrock-4d",
        1000,
        {
            "lr": 2e-4,
            "eps": 1e-5,
            "weight_decay": 0.01,
            "momentum": 0.8,
            "centered": True,
            "maximize": True,
        },
        0.5,
    ),
    # -- Adam -------------------------------------------------------------------------
    ("adam-rosenbrock", "adam", "rosenbrock", "rosenbrock", 2000, {"lr": 1e-2}, 1.5),
    (
        "adam-beta1-0-beta2-small-himmelblau",
        "adam",
        "himmelblau",
        "himmelblau",
        600,
        {"lr": 1e-2, "beta1": 0.0, "beta2": 0.5},
        2.0,
    ),
    (
        "adam-eps0-quadratic",
        "adam",
        "quadratic",
        "quadratic",
        800,
        {"lr": 5e-3, "beta1": 0.8, "beta2": 0.99, "eps": 0.0},
        2.0,
    ),
    (
        "adam-amsgrad-wd-booth",
        "adam",
        "booth",
        "booth",
        1000,
        {"lr": 1e-2, "amsgrad": True, "weight_decay": 0.1, "eps": 1e-6},
        3.0,
    ),
    (
        "adam-decoupled-amsgrad-maximize-product",
        "adam",
        "-product-loss",
        "product-loss",
        800,
        {
            "lr": 5e-3,
            "beta1": 0.5,
            "beta2": 0.9,
            "weight_decay": 0.2,
            "amsgrad": True,
            "maximize": True,
            "decoupled_weight_decay": True,
        },
        1.0,
    ),
    # -- AdamW ------------------------------------------------------------------------
    ("adamw-rosenbrock", "adamw", "rosenbrock", "rosenbrock", 2000, {"lr": 1e-2}, 1.5),
    (
        "adamw-amsgrad-maximize-himmelblau",
        "adamw",
        "-himmelblau",
        "himmelblau",
        600,
        {
            "lr": 1e-2,
            "beta2": 0.95,
            "weight_decay": 0.3,
            "amsgrad": True,
            "maximize": True,
        },
        2.0,
    ),
    # -- Adagrad ----------------------------------------------------------------------
    (
        "adagrad-rosenbrock",
        "adagrad",
        "rosenbrock",
        "rosenbrock",
        2000,
        {"lr": 0.1},
        1.0,
    ),
    (
        "adagrad-decay-wd-booth",
        "adagrad",
        "booth",
        "booth",
        800,
        {"lr": 0.5, "lr_decay": 0.01, "weight_decay": 0.1},
        3.0,
    ),
    (
        "adagrad-initacc-eps-quadratic",
        "adagrad",
        "quadratic",
        "quadratic",
        800,
        {"lr": 0.3, "initial_accumulator_value": 0.5, "eps": 1e-3},
        2.0,
    ),
    (
        "adagrad-all-maximize-product",
        "adagrad",
        "-product-loss",
        "product-loss",
        800,
        {
            "lr": 0.2,
            "lr_decay": 0.05,
            "weight_decay": 0.02,
            "initial_accumulator_value": 0.1,
            "eps": 1e-6,
            "maximize": True,
        },
        1.0,
    ),
]


def _grad(loss):
    if loss.startswith("-"):
        return _neg(LOSSES[loss[1:]])
    return LOSSES[loss]


def _torch_optimizer(name, param, hyper):
    hyper = dict(hyper)
    if name in ("adam", "adamw"):
        default_betas = (0.9, 0.999)
        hyper["betas"] = (
            hyper.pop("beta1", default_betas[0]),
            hyper.pop("beta2", default_betas[1]),
        )
    cls = {
        "sgd": torch.optim.SGD,
        "rmsprop": torch.optim.RMSprop,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
        "adagrad": torch.optim.Adagrad,
    }[name]
    return cls([param], foreach=False, **hyper)


def torch_trajectory(name, grad, x0, steps, hyper):
    """θ_0 … θ_steps from the real torch optimizer, fed the analytic gradient."""
    param = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    optimizer = _torch_optimizer(name, param, hyper)
    out = np.empty((steps + 1, len(x0)))
    out[0] = x0
    for k in range(1, steps + 1):
        theta = param.detach().numpy().copy()
        param.grad = torch.from_numpy(np.asarray(grad(theta), dtype=np.float64))
        optimizer.step()
        out[k] = param.detach().numpy()
    return out


@pytest.mark.parametrize(
    ("name", "loss", "start", "steps", "hyper", "travel"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_naive_matches_torch(name, loss, start, steps, hyper, travel):
    grad = _grad(loss)
    x0 = X0[start]
    expected = torch_trajectory(name, grad, x0, steps, hyper)
    got = naive.OPTIMIZERS[name](grad, x0, steps, **hyper)
    assert got.shape == expected.shape
    assert np.all(np.isfinite(expected))
    dev = np.abs(got - expected) / np.maximum(1.0, np.abs(expected))
    worst = np.unravel_index(np.argmax(dev), dev.shape)
    assert dev.max() <= TOL, (
        f"{name}: deviation {dev.max():.3e} at step {worst[0]} (coordinate "
        f"{worst[1]}): naive {got[worst]!r}, torch {expected[worst]!r}"
    )
    # the run must actually go somewhere, not sit at a minimum
    assert np.linalg.norm(expected[-1] - expected[0]) >= travel


def test_cases_cover_every_option():
    """Every hyperparameter of every optimizer is set to a non-default somewhere."""
    options = {
        "sgd": {"momentum", "dampening", "weight_decay", "nesterov", "maximize"},
        "rmsprop": {"alpha", "eps", "weight_decay", "momentum", "centered", "maximize"},
        "adam": {
            "beta1",
            "beta2",
            "eps",
            "weight_decay",
            "amsgrad",
            "maximize",
            "decoupled_weight_decay",
        },
        "adamw": {"beta2", "weight_decay", "amsgrad", "maximize"},
        "adagrad": {
            "lr_decay",
            "weight_decay",
            "initial_accumulator_value",
            "eps",
            "maximize",
        },
    }
    for name, wanted in options.items():
        used = set().union(*(set(c[5]) for c in CASES if c[1] == name))
        assert wanted <= used, f"{name}: untested {wanted - used}"
