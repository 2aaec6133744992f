"""Sign, normalised and Polyak-type steps (``odeopt/optimizers/polyak.py``).

* Lockstep: the jitted kernels against NumPy transcriptions of the four updates of
  §4.7(a), over 400 steps on two surfaces, to 1e-12 relative.
* Orders: ``check_order`` passes for each optimizer's flow (Polyak-type flows are
  smooth: order 1; the sign flow is constant between switches, so Euler is exact
  there and the O(h) error comes from crossing a switching surface, which the
  rosenbrock regime includes).
* Closed forms: the Polyak flow's L − L* = (L₀ − L*)e^{−t} on rosenbrock; the sign
  flow on a separable quadratic reaches 0 at t = |θᵢ(0)| and slides (Filippov: the
  regularised reference stays there); the normalised flow on ½‖θ‖² has
  ‖θ(t)‖ = ‖θ₀‖ − t.
* Euler's chatter: sign descent ends in an O(h) oscillation across the minimum.
* C13: GD with step γ̃/|L′| is sign descent with step γ̃ (each step moves exactly γ̃)
  and ends within γ̃ of the sign flow's fixed point.
* C19: the Polyak step on ½λx² contracts by 1 − h/2; Su's truncated step crosses the
  barrier of ``su-double-well`` and ends near the global minimum where GD stops at 3.
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

import odeopt
from odeopt.check import check_order
from odeopt.cli import main
from odeopt.reference import solve
from odeopt.stepper import resolve_optimizer, resolve_surface

sys.path.insert(0, str(Path(__file__).resolve().parent))
naive = importlib.import_module("naive")


# -- NumPy transcriptions of §4.7(a) ----------------------------------------------------


def numpy_step(name, theta, g, loss, lr, target=0.0, cap=1000.0):
    if name == "sign-gd":
        return theta - lr * np.sign(g)
    norm = np.linalg.norm(g)
    if norm == 0.0:
        return theta
    if name == "normalized-gd":
        return theta - lr * g / norm
    if name == "polyak":
        return theta - lr * (loss - target) * g / norm**2
    return theta - lr * (loss - target) * (g / norm) * min(1.0 / norm, cap)


LOCKSTEP = [
    ("sign-gd", "rosenbrock", {"lr": 1e-3}),
    ("normalized-gd", "himmelblau", {"lr": 0.005}),  # short of the minimum
    ("polyak", "booth", {"lr": 0.05}),
    ("polyak", "quadratic", {"lr": 0.7}),
    # L* too low: the steps never shrink and the map turns expanding (chaotic)
    ("polyak", "quadratic", {"lr": 0.3, "target": -0.5, "steps": 12}),
    ("su-polyak", "himmelblau", {"lr": 0.01, "cap": 3.0}),
    ("su-polyak", "su-double-well", {"lr": 0.01}),
]


@pytest.mark.parametrize(("name", "surface", "hp"), LOCKSTEP)
def test_kernels_match_numpy_transcriptions(name, surface, hp):
    hp = dict(hp)
    steps = hp.pop("steps", 400)
    traj = odeopt.run(name, surface, steps=steps, **hp)
    bound = resolve_surface(surface)
    theta = bound.x0.copy()
    expected = [theta]
    for _ in range(steps):
        theta = numpy_step(name, theta, bound.grad(theta), bound.value(theta), **hp)
        expected.append(theta)
    np.testing.assert_allclose(traj.theta, np.array(expected), rtol=1e-12, atol=1e-14)


# -- orders ------------------------------------------------------------------------------

ORDER_CASES = [
    ("sign-gd", "rosenbrock", {}),
    ("normalized-gd", "rosenbrock", {}),
    ("polyak", "rosenbrock", {}),
    ("polyak", "himmelblau", {}),
    ("su-polyak", "rosenbrock", {}),
]


@pytest.mark.parametrize(("name", "surface", "kw"), ORDER_CASES)
def test_order_one(name, surface, kw):
    result = check_order(name, surface, **kw)
    assert result.passed, result.table()
    assert result.declared_order == 1.0


def test_sign_descent_is_exact_between_switches():
    # product-loss from its start: no component of g changes sign before T = 0.1, so
    # Euler on a constant field is exact: the errors are the regularisation's (δ)
    result = check_order("sign-gd", "product-loss", horizon=0.1)
    errors = np.array([row["error"] for row in result.rows])
    assert np.all(errors < 1e-8), result.table()


def test_sign_descent_error_is_bounded_by_h_while_sliding():
    # on product-loss b starts sliding along ab = 1 at t ≈ 0.28 (Filippov); the
    # regime's horizon, 1.5 times that, ends inside the sliding phase, where Euler
    # chatters across the surface: the error is at most about one step, O(h), but
    # its parity makes it no clean power of h (so this pair is not an order check)
    from odeopt.optimizers.polyak import first_switch

    surface = resolve_surface("product-loss")
    switch = first_switch(surface, surface.x0)
    assert 0.25 < switch < 0.3
    result = check_order("sign-gd", "product-loss")
    assert result.horizon == pytest.approx(1.5 * switch)
    for row in result.rows:
        assert row["error"] <= 1.5 * row["h"], result.table()
    assert result.rows[-1]["error"] < result.rows[0]["error"] / 20


# -- closed forms --------------------------------------------------------------------------


def test_polyak_flow_gap_decays_as_exp_minus_t():
    traj = odeopt.run("polyak", "rosenbrock", lr=0.01, steps=300, reference=True)
    gap0 = traj.ref_loss[0]
    expected = gap0 * np.exp(-traj.t)
    np.testing.assert_allclose(traj.ref_loss, expected, rtol=1e-7)
    # the model's Lyapunov function e^t (L - L*) is constant along the reference
    bound = resolve_optimizer("polyak", resolve_surface("rosenbrock"), {"lr": 0.01})
    model = bound.optimizer.model()
    energy = model.lyapunov(traj.t, traj.ref_theta, None, traj.ref_loss, None, {})
    np.testing.assert_allclose(energy, gap0, rtol=1e-7)


def test_sign_flow_reaches_zero_and_slides():
    # separable quadratic ½(x² + 3y²): each coordinate moves at unit speed to 0 at
    # t = |θᵢ(0)|, then the Filippov solution stays (sliding on gᵢ = 0)
    x0 = np.array([0.3141592653, -0.1732050807])
    surface = resolve_surface("quadratic", surface_params={"eigenvalues": [1.0, 3.0]})
    bound = resolve_optimizer("sign-gd", surface, {"lr": 1e-3})
    t = np.linspace(0.0, 0.6, 13)
    ref = solve(bound, surface, x0, t)
    exact = np.sign(x0) * np.maximum(np.abs(x0)[None, :] - t[:, None], 0.0)
    np.testing.assert_allclose(ref.theta, exact, atol=1e-6)


def test_normalized_flow_on_a_bowl_shrinks_at_unit_speed():
    x0 = np.array([0.6, -0.8])
    surface = resolve_surface("quadratic", surface_params={"eigenvalues": [1.0, 1.0]})
    bound = resolve_optimizer("normalized-gd", surface, {"lr": 1e-3})
    t = np.linspace(0.0, 0.9, 10)
    ref = solve(bound, surface, x0, t)
    np.testing.assert_allclose(np.linalg.norm(ref.theta, axis=1), 1.0 - t, atol=1e-8)


@pytest.mark.parametrize("lr", [0.02, 0.01])
def test_sign_descent_chatters_at_order_h(lr):
    # from 0.7 the iterates reach the minimum after ⌈0.7/lr⌉ steps and then jump
    # across it every step, |θ| ≤ lr, never settling: the O(h) chatter
    x0 = 0.7 + lr / 3.0  # not a multiple of the step
    traj = odeopt.run(
        "sign-gd", "quadratic", lr=lr, steps=200, x0=[x0],
        surface_params={"eigenvalues": [1.0]},
    )  # fmt: skip
    tail = traj.theta[-50:, 0]
    assert np.all(np.abs(tail) <= lr)
    assert np.all(np.abs(tail) >= lr / 4.0)  # it keeps oscillating: no convergence
    assert np.all(np.sign(tail[1:]) == -np.sign(tail[:-1]))


def test_c17_sign_descent_sequence():
    # the post's sequence 0.7, 0.4, 0.1, -0.2, 0.1, ... for η = 0.3, computed
    traj = odeopt.run(
        "sign-gd", "quadratic", lr=0.3, steps=6, x0=[0.7],
        surface_params={"eigenvalues": [1.0]},
    )  # fmt: skip
    x, expected = 0.7, [0.7]
    for _ in range(6):
        x = x - 0.3 * np.sign(x)
        expected.append(x)
    np.testing.assert_allclose(traj.theta[:, 0], expected, rtol=0, atol=1e-15)


def test_c13_fixed_length_gd_is_sign_descent():
    # GD with γ = γ̃/|L'(θ)| on su-double-well from 0.2 (inside the deep well)
    step = 1e-3
    surface = resolve_surface("su-double-well")
    x = 0.2
    gd = [x]
    for _ in range(400):
        g = surface.grad(np.array([x]))[0]
        x = x - (step / abs(g)) * g if g != 0.0 else x
        gd.append(x)
    traj = odeopt.run("sign-gd", "su-double-well", lr=step, steps=400, x0=[0.2])
    np.testing.assert_allclose(traj.theta[:, 0], gd, rtol=0, atol=1e-13)
    moves = np.abs(np.diff(traj.theta[:, 0]))
    np.testing.assert_allclose(moves, step, rtol=1e-9)  # exactly γ̃ per step
    # the sign flow's fixed point is the minimum x*; Euler ends within one step of it
    x_star = (9.0 - math.sqrt(33.0)) / 8.0
    bound = resolve_optimizer("sign-gd", surface, {"lr": step})
    ref = solve(bound, surface, np.array([0.2]), np.array([0.0, 0.4]))
    assert abs(ref.theta[-1, 0] - x_star) < 1e-6
    assert np.all(np.abs(traj.theta[-20:, 0] - x_star) <= step)


# -- C19 -------------------------------------------------------------------------------


@pytest.mark.parametrize(("lam", "h"), [(1.0, 1.0), (3.0, 0.5), (100.0, 0.1)])
def test_c19_polyak_step_contracts_by_one_minus_half_h(lam, h):
    traj = odeopt.run(
        "polyak", "quadratic", lr=h, steps=20, x0=[1.3],
        surface_params={"eigenvalues": [lam]},
    )  # fmt: skip
    ratios = traj.theta[1:, 0] / traj.theta[:-1, 0]
    np.testing.assert_allclose(ratios, 1.0 - h / 2.0, rtol=1e-14)
    if h == 1.0:  # the loss falls by 4 per step
        np.testing.assert_allclose(traj.loss[1:] / traj.loss[:-1], 0.25, rtol=1e-13)


def test_c19_truncated_step_escapes_the_shallow_well():
    x_star = (9.0 - math.sqrt(33.0)) / 8.0
    su = odeopt.run("su-polyak", "su-double-well", lr=0.01, cap=1000.0, steps=2500,
                    x0=[4.0])  # fmt: skip
    gd = odeopt.run("gd", "su-double-well", lr=0.01, steps=2500, x0=[4.0])
    assert abs(su.final_theta[0] - x_star) < 1e-3
    assert su.loss[-1] < 1e-5
    assert abs(gd.final_theta[0] - 3.0) < 1e-9
    # the escape is a finite-step effect: near x = 3 the capped speed L·M ≈ 1.6e3
    # makes one Euler step jump the barrier, while the exact (Filippov) truncated
    # flow slides into the shallow minimum x = 3 and stays there
    surface = resolve_surface("su-double-well")
    bound = resolve_optimizer("su-polyak", surface, {"lr": 0.01})
    ref = solve(bound, surface, np.array([4.0]), np.array([0.0, 25.0]), method="Radau")
    assert abs(ref.theta[-1, 0] - 3.0) < 1e-6


# -- registry and command line -------------------------------------------------------------


def invoke(capsys, *args):
    """Run ``odeopt ARGS`` in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("name", ["sign-gd", "normalized-gd", "polyak", "su-polyak"])
def test_cli_runs_checks_and_lists(capsys, name):
    code, out, _ = invoke(capsys, "run", "-o", name, "-s", "rosenbrock", "--steps",
                          "50", "--json")  # fmt: skip
    assert code == 0, out
    code, out, _ = invoke(capsys, "list", "optimizers")
    assert code == 0 and name in out


def test_batch_equals_single_runs():
    starts = [[1.0, 1.0], [-2.0, 0.5], [0.3, -1.2]]
    for name, hp in (("polyak", {"lr": 0.2}), ("sign-gd", {"lr": 0.01})):
        batch = odeopt.run_batch(name, "himmelblau", starts, [hp],
                                 steps=100)  # fmt: skip
        for s, x0 in enumerate(starts):
            single = odeopt.run(name, "himmelblau", x0=x0, steps=100, **hp)
            np.testing.assert_array_equal(batch.final_theta[0, s], single.final_theta)
