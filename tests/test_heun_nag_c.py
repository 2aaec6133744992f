"""Heun and NAG-C: steps, orders, closed forms.

* Lockstep: odeopt's jitted ``heun`` and ``nag-c`` against plain NumPy transcriptions
  of the formulas (written here, with ``tests/naive.py``'s independent gradients), to
  1e-12 relative over at least 500 steps on several surfaces.
* Orders: ``check_order`` passes for every (optimizer, model) on product-loss and
  rosenbrock (Heun: 2 against the plain gradient flow, claims C27/C37; NAG-C: 1 in
  h = √s, C38).
* Closed forms: the SBC ODE on ½λx² is a Bessel function (brief §4.3).
* Rates: NAG-C's max-error on t ≤ 10 shrinks by √10 per decade of s (C38).

The sign-flow models of RMSprop/Adam/AdamW are in ``tests/test_sign_flows.py``.
"""

from __future__ import annotations

import functools
import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from scipy.special import gamma, jv

import odeopt
from odeopt import plotting
from odeopt.check import check_order
from odeopt.optimizers import HyperparameterError
from odeopt.reference import solve
from odeopt.stepper import resolve_optimizer, resolve_surface

sys.path.insert(0, str(Path(__file__).resolve().parent))
naive = importlib.import_module("naive")

TOL = 1e-12


# -- NumPy transcriptions -------------------------------------------------------------


def _effective(grad, weight_decay, maximize):
    def g(theta):
        out = -grad(theta) if maximize else grad(theta)
        return out + weight_decay * theta if weight_decay != 0 else out

    return g


def heun_numpy(grad, x0, steps, lr, weight_decay=0.0, maximize=False):
    """Su's Heun: p̃ = p − ε g(p), p⁺ = p̃ − (ε/2)(g(p̃) − g(p))."""
    g = _effective(grad, weight_decay, maximize)
    p = np.array(x0, dtype=float)
    out = [p.copy()]
    for _ in range(steps):
        g0 = g(p)
        tilde = p - lr * g0
        p = tilde - (lr / 2) * (g(tilde) - g0)
        out.append(p.copy())
    return np.array(out)


def nag_c_numpy(grad, x0, steps, lr, r=3.0, weight_decay=0.0, maximize=False):
    """SBC: x_k = y_{k−1} − s g(y_{k−1}), y_k = x_k + (k−1)/(k+r−1)(x_k − x_{k−1})."""
    g = _effective(grad, weight_decay, maximize)
    x_prev = np.array(x0, dtype=float)
    y = x_prev.copy()  # y_0 = x_0
    out = [x_prev.copy()]
    for k in range(1, steps + 1):
        x = y - lr * g(y)
        c = (k - 1) / (k + r - 1) if k > 1 else 0.0  # 0 at k = 1, also for r = 0
        y = x + c * (x - x_prev)
        x_prev = x
        out.append(x.copy())
    return np.array(out)


NUMPY = {"heun": heun_numpy, "nag-c": nag_c_numpy}
EIG = {"eigenvalues": (0.5, 4.0)}
HIMMELBLAU_MAX = (-0.270845, -0.923039)


def naive_grad(surface, surface_params):
    if surface == "quadratic":
        return naive.quadratic(np.diag(surface_params["eigenvalues"]))[1]
    if surface == "product-loss":
        return functools.partial(naive.product_loss_grad, c=0.05)
    return naive.LOSSES[surface][1]


def case(case_id, optimizer, surface, x0, steps=600, surface_params=None, **hp):
    return pytest.param(
        optimizer, surface, list(x0), steps, surface_params or {}, hp, id=case_id
    )


LOCKSTEP = [
    case("heun-rosenbrock", "heun", "rosenbrock", [-1.2, 1.0], 2000, lr=1e-3),
    case("heun-rosenbrock4d", "heun", "rosenbrock", [-1.2, 1.0, 0.5, 0.8], lr=5e-4),
    case("heun-product-loss", "heun", "product-loss", [2.0, 0.3], 800, lr=0.1),
    case("heun-wd-booth", "heun", "booth", [-5.0, -5.0], lr=0.05, weight_decay=0.1),
    case("heun-quadratic", "heun", "quadratic", [1.0, -0.5], 600, EIG, lr=0.4),
    case(
        "heun-wd-maximize-himmelblau",
        "heun",
        "himmelblau",
        [0.0, 0.0],
        lr=5e-3,
        weight_decay=0.5,
        maximize=True,
    ),
    case("nag-c-rosenbrock", "nag-c", "rosenbrock", [-1.2, 1.0], 2000, lr=2e-4),
    case("nag-c-product-loss", "nag-c", "product-loss", [2.0, 0.3], lr=0.01),
    case(
        "nag-c-quadratic-r5", "nag-c", "quadratic", [1.0, -0.5], 700, EIG, lr=0.2, r=5
    ),
    case(
        "nag-c-quadratic-r0", "nag-c", "quadratic", [1.0, -0.5], 600, EIG, lr=0.1, r=0
    ),
    case(
        "nag-c-wd-booth-r2",
        "nag-c",
        "booth",
        [-5.0, -5.0],
        lr=0.02,
        r=2,
        weight_decay=0.1,
    ),
    case(
        "nag-c-wd-maximize-himmelblau",
        "nag-c",
        "himmelblau",
        [0.0, 0.0],
        lr=2e-3,
        weight_decay=0.5,
        maximize=True,
    ),
]


@pytest.mark.parametrize(
    ("optimizer", "surface", "x0", "steps", "surface_params", "hp"), LOCKSTEP
)
def test_lockstep_with_numpy(optimizer, surface, x0, steps, surface_params, hp):
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
    grad = naive_grad(surface, surface_params)
    expected = NUMPY[optimizer](grad, x0, steps, **hp)
    assert np.all(np.isfinite(expected))
    assert traj.status is odeopt.Status.MAX_STEPS
    assert traj.theta.shape == expected.shape
    dev = np.abs(traj.theta - expected) / np.maximum(1.0, np.abs(expected))
    assert dev.max() <= TOL, f"worst at step {int(np.argmax(dev.max(axis=1)))}"
    assert np.max(np.abs(traj.theta[-1] - traj.theta[0])) > 1e-2  # it went somewhere


@pytest.mark.parametrize("optimizer", ["heun", "nag-c"])
def test_batch_runs_equal_single_runs(optimizer):
    starts = np.array([[-1.2, 1.0], [0.5, -0.3], [1.5, 2.0]])
    sets = [{"lr": 1e-4}, {"lr": 2e-4}]
    batch = odeopt.run_batch(optimizer, "rosenbrock", starts, sets, steps=700)
    for h, hp in enumerate(sets):
        for s, x0 in enumerate(starts):
            single = odeopt.run(optimizer, "rosenbrock", x0=x0, steps=700, **hp)
            np.testing.assert_array_equal(batch.final_theta[h, s], single.final_theta)


def test_nag_c_rejects_negative_r_and_evaluates_at_y():
    with pytest.raises(HyperparameterError, match="r must be >= 0"):
        odeopt.run("nag-c", "rosenbrock", lr=1e-3, r=-1.0, steps=1)
    # tol tests ‖∇L(y_{k−1})‖: y_0 = x_0, so a run from the minimum stops at once
    traj = odeopt.run("nag-c", "rosenbrock", x0=[1.0, 1.0], lr=1e-3, steps=5, tol=1e-9)
    assert traj.status is odeopt.Status.CONVERGED and traj.steps_done == 0


# -- orders ---------------------------------------------------------------------------

SURFACES = ("product-loss", "rosenbrock")
ORDER_CASES = [
    # (optimizer, model, surface, check_order keywords, hyperparameters)
    *[("heun", "flow", s, {}, {}) for s in SURFACES],
    *[("nag-c", "sbc", s, {}, {}) for s in SURFACES],
    *[("nag-c", "sbc", s, {}, {"r": 5.0}) for s in SURFACES],
]


@pytest.mark.parametrize(
    ("optimizer", "model", "surface", "settings", "hp"),
    ORDER_CASES,
    ids=[
        f"{o}-{m}-{s}" + "".join(f"-{k}{v:g}" for k, v in hp.items() if k != "lr")
        for o, m, s, _, hp in ORDER_CASES
    ],
)
def test_model_passes_its_declared_order(optimizer, model, surface, settings, hp):
    result = check_order(optimizer, surface, model=model, **settings, **hp)
    assert result.passed, result.table()
    assert result.model == model
    errors = [row["error"] for row in result.rows]
    assert errors[-1] < errors[0]


def test_heun_is_second_order_where_gd_is_first():
    # C27: the same plain gradient flow; GD's O(lr) term is its implicit regulariser.
    # At T = 2 Heun's error is pre-asymptotic down to lr ≈ 0.01 (its O(h²) coefficient
    # nearly cancels there: local orders 4.7, 1.9, 1.1, then 1.7 → 2), hence 7 levels.
    heun = check_order("heun", "product-loss", h0=0.1, levels=7, horizon=2.0)
    gd = check_order("gd", "product-loss", h0=0.1, levels=7, horizon=2.0)
    assert heun.fitted_order == pytest.approx(2.0, abs=0.1)
    assert gd.fitted_order == pytest.approx(1.0, abs=0.1)
    assert heun.rows[-1]["error"] < 1e-3 * gd.rows[-1]["error"]


# -- closed forms ---------------------------------------------------------------------


def sbc_quadratic(t, lam, x0, r):
    """X(t) = x₀ Γ((r+1)/2) (2/(√λ t))^((r−1)/2) J_((r−1)/2)(√λ t)."""
    nu = (r - 1) / 2
    z = np.sqrt(lam) * np.asarray(t, dtype=float)
    return x0 * gamma((r + 1) / 2) * (2 / z) ** nu * jv(nu, z)


@pytest.mark.parametrize("r", [2.0, 3.0, 5.0])
def test_sbc_reference_matches_the_bessel_closed_form(r):
    eigenvalues = (0.5, 2.0)
    x0 = np.array([1.0, -0.7])
    surface = resolve_surface("quadratic", None, {"eigenvalues": eigenvalues})
    opt = resolve_optimizer("nag-c", surface, {"lr": 1e-3, "r": r})
    t = np.concatenate([[0.0], np.linspace(0.05, 12.0, 60)])
    ref = solve(opt, surface, x0, t, "sbc")
    assert ref.info["t_start"] > 0.0  # the series start was used
    exact = np.stack(
        [
            sbc_quadratic(t[1:], lam, x, r)
            for lam, x in zip(eigenvalues, x0, strict=True)
        ],
        1,
    )
    np.testing.assert_allclose(ref.theta[1:], exact, rtol=0, atol=1e-9)
    np.testing.assert_array_equal(ref.theta[0], x0)
    if r == 3.0:  # the r = 3 form 2 J₁(√λ t)/(√λ t)
        z = np.sqrt(eigenvalues[1]) * t[1:]
        np.testing.assert_allclose(exact[:, 1], x0[1] * 2 * jv(1, z) / z, rtol=1e-12)


def test_c38_nag_c_max_error_shrinks_by_sqrt10_per_decade():
    # λ = 1, x₀ = 1, r = 3: max_{k√s ≤ 10} |x_k − X(k√s)| for s = 1e-2 … 1e-5.
    s_values = np.array([1e-2, 1e-3, 1e-4, 1e-5])
    errors = []
    for s in s_values:
        steps = math.floor(10.0 / math.sqrt(s) + 1e-9)
        traj = odeopt.run(
            "nag-c",
            "quadratic",
            x0=[1.0],
            surface_params={"eigenvalues": (1.0,)},
            lr=s,
            steps=steps,
            record_every=1,
        )
        np.testing.assert_allclose(traj.t, traj.step * math.sqrt(s), rtol=1e-14)
        exact = np.ones_like(traj.t)
        exact[1:] = sbc_quadratic(traj.t[1:], 1.0, 1.0, 3.0)
        errors.append(np.max(np.abs(traj.theta[:, 0] - exact)))
    errors = np.array(errors)
    per_decade = errors[:-1] / errors[1:]
    np.testing.assert_allclose(per_decade, math.sqrt(10.0), rtol=0.1)
    slope = np.polyfit(np.log10(s_values), np.log10(errors), 1)[0]
    assert slope == pytest.approx(0.5, abs=0.03)


def test_c38_sbc_lyapunov_matches_the_bessel_closed_form_and_decreases():
    # f = ½x², x₀ = 1, r = 3: X = 2J₁(t)/t, Ẋ = −2J₂(t)/t, and SBC's
    # E = t²f(X) + 2(X + tẊ/2)² is non-increasing, so t²f/(2x₀²) ≤ 1.
    traj = odeopt.run(
        "nag-c",
        "quadratic",
        x0=[1.0],
        surface_params={"eigenvalues": (1.0,)},
        lr=1e-4,
        steps=1000,
        reference=True,
    )
    e_ref, e_iterates, _ = plotting.lyapunov_values(traj)
    t = traj.t[1:]
    x, v = 2 * jv(1, t) / t, -2 * jv(2, t) / t
    exact = t**2 * 0.5 * x**2 + 2 * (x + t * v / 2) ** 2
    np.testing.assert_allclose(e_ref[1:], exact, rtol=1e-8, atol=1e-10)
    assert e_ref[0] == pytest.approx(2.0)  # 2‖x₀ − x*‖² at t = 0
    assert np.all(np.diff(e_ref) <= 1e-12)
    # t²f(X)/(2x₀²) = J₁(t)²: its maximum, found independently, is the brief's 0.339
    bound = traj.t**2 * traj.ref_loss / 2.0
    peak = -minimize_scalar(
        lambda s: -(jv(1, s) ** 2), bounds=(1, 3), method="bounded"
    ).fun
    assert round(peak, 3) == 0.339
    assert np.max(bound) == pytest.approx(peak, rel=1e-4)  # sampled every 0.01
    assert e_iterates is not None and e_iterates[0] == pytest.approx(2.0)


def test_lyapunov_refuses_models_without_one():
    traj = odeopt.run("gd", "booth", steps=10, reference=True)
    with pytest.raises(ValueError, match="nag-c/sbc"):
        plotting.lyapunov_values(traj)
    plain = odeopt.run("nag-c", "booth", steps=10)
    with pytest.raises(ValueError, match="reference"):
        plotting.lyapunov_values(plain)
