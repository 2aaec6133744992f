"""Exponentiated gradient, Hedge and their mirror flows (``odeopt/optimizers/eg.py``).

* Lockstep: the jitted updates against NumPy transcriptions of §4.8(a), 300 steps.
* Orders: ``check_order`` passes for each optimizer's model (order 1), the references
  integrated in log θ.
* C31: EG on NNLS (A, b from ``default_rng(1)``, 8 × 5, η = 0.02, from 1) converges to
  ``scipy.optimize.nnls``'s solution to 1e-14; on ½‖θ − c‖² the iterates follow the
  logistic closed form at order 1 (fitted slope); positivity for every η, where the
  primal Euler step on the same flow crosses zero.
* Domains: a start outside the positive orthant (simplex for Hedge) is refused by
  ``run``, ``run_batch`` and the command (exit 2, one line).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import nnls as scipy_nnls

import odeopt
from odeopt.check import check_order, fit_order
from odeopt.cli import main
from odeopt.errors import RunError
from odeopt.reference import solve
from odeopt.stepper import resolve_optimizer, resolve_surface
from odeopt.surfaces import shifted_bowl as bowl


def numpy_step(name, theta, g, lr):
    if name == "eg":
        return theta * np.exp(-lr * g)
    if name == "hedge":
        w = theta * np.exp(-lr * g)
        return w / np.sum(w)
    if name == "eg-reparam":
        return theta * np.exp(-lr * theta * g)
    return theta - lr * theta * g


HEDGE_START = [0.1, 0.3, 0.2, 0.25, 0.15]

LOCKSTEP = [
    ("eg", "nnls", {"lr": 0.02}, None),
    ("eg", "shifted-bowl", {"lr": 0.5}, None),
    ("hedge", "nnls", {"lr": 0.05}, HEDGE_START),
    ("eg-reparam", "shifted-bowl", {"lr": 0.3}, None),
    ("eg-primal", "nnls", {"lr": 0.01}, None),
]


@pytest.mark.parametrize(("name", "surface", "hp", "x0"), LOCKSTEP)
def test_kernels_match_numpy_transcriptions(name, surface, hp, x0):
    steps = 300
    traj = odeopt.run(name, surface, steps=steps, x0=x0, **hp)
    bound = resolve_surface(surface)
    theta = bound.x0.copy() if x0 is None else np.array(x0)
    expected = [theta]
    for _ in range(steps):
        theta = numpy_step(name, theta, bound.grad(theta), hp["lr"])
        expected.append(theta)
    np.testing.assert_allclose(traj.theta, np.array(expected), rtol=1e-12, atol=1e-300)


ORDER_CASES = [
    ("eg", "nnls", {}),
    ("eg", "shifted-bowl", {}),
    ("hedge", "nnls", {"x0": HEDGE_START}),
    ("eg-reparam", "shifted-bowl", {}),
    ("eg-primal", "shifted-bowl", {}),
]


@pytest.mark.parametrize(("name", "surface", "kw"), ORDER_CASES)
def test_order_one(name, surface, kw):
    result = check_order(name, surface, **kw)
    assert result.passed, result.table()
    assert result.declared_order == 1.0


def test_reference_is_integrated_in_log_theta():
    surface = resolve_surface("shifted-bowl")
    bound = resolve_optimizer("eg", surface, {"lr": 0.1})
    ref = solve(bound, surface, surface.x0, np.array([0.0, 1.0, 5.0]))
    np.testing.assert_allclose(np.exp(ref.z), ref.theta, rtol=0, atol=0)


# -- C31 ------------------------------------------------------------------------------


def test_c31_eg_solves_nnls_to_scipy_precision():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((8, 5)), rng.standard_normal(8)
    expected = scipy_nnls(a, b)[0]
    assert np.sum(expected == 0.0) >= 1  # an active constraint: a real NNLS case
    traj = odeopt.run("eg", "nnls", lr=0.02, steps=20_000, record_every=20_000)
    assert np.max(np.abs(traj.final_theta - expected)) < 1e-14
    # and the surface lists scipy's solution as its minimum
    np.testing.assert_array_equal(resolve_surface("nnls").minima[0].theta, expected)


def test_c31_mirror_flow_is_the_logistic_closed_form():
    surface = resolve_surface("shifted-bowl")  # c = (1, 0, -0.5)
    c = bowl.center(3, surface.params)
    bound = resolve_optimizer("eg", surface, {"lr": 0.1})
    t = np.linspace(0.0, 20.0, 41)
    ref = solve(bound, surface, surface.x0, t)
    np.testing.assert_allclose(
        ref.theta, bowl.logistic(t, surface.x0, c), rtol=1e-8, atol=1e-12
    )


def test_c31_eg_follows_the_logistic_at_order_one():
    surface = resolve_surface("shifted-bowl", surface_params={"c": (2.0, 0.0, -1.0)})
    c = np.asarray(surface.params["c"])
    hs = 0.1 / 2.0 ** np.arange(6)
    errors = []
    for h in hs:
        steps = round(2.0 / h)
        traj = odeopt.run("eg", surface, lr=h, steps=steps, record_every=steps)
        exact = bowl.logistic([2.0], surface.x0, c)[0]
        errors.append(np.linalg.norm(traj.final_theta - exact))
    assert abs(fit_order(hs[-4:], np.array(errors[-4:])) - 1.0) < 0.05


@pytest.mark.parametrize("lr", [1e-3, 0.05, 0.1, 1.0, 10.0, 100.0])
def test_c31_eg_stays_positive_for_every_lr(lr):
    traj = odeopt.run("eg", "nnls", lr=lr, steps=200)
    # exp(-ηg) > 0: no iterate is ever negative.  In floating point a large η makes
    # exp(-ηg) underflow to 0 in one coordinate and overflow in another: the run
    # then stops with status "diverged" (a result, not a crash)
    finite = traj.theta[np.all(np.isfinite(traj.theta), axis=1)]
    assert not np.any(traj.theta < 0.0)
    if lr <= 0.1:
        assert traj.status.value != "diverged"
        assert np.all(finite > 0.0)
    else:
        assert traj.status.value == "diverged"


def test_primal_euler_on_the_mirror_flow_crosses_zero():
    traj = odeopt.run("eg-primal", "nnls", lr=0.1, steps=50)
    assert np.any(traj.theta < 0.0)
    eg = odeopt.run("eg", "nnls", lr=0.1, steps=50)
    assert np.all(eg.theta > 0.0)


def test_hedge_stays_on_the_simplex():
    traj = odeopt.run("hedge", "nnls", lr=0.5, steps=500, x0=HEDGE_START)
    assert np.all(traj.theta > 0.0)
    np.testing.assert_allclose(traj.theta.sum(axis=1), 1.0, rtol=0, atol=4e-16)


# -- domains -----------------------------------------------------------------------------


def invoke(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


def test_cli_refuses_a_start_outside_the_positive_orthant(capsys):
    code, out, err = invoke(
        capsys, "run", "-o", "eg", "-s", "nnls", "--x0", "1,-1,1,1,1", "--steps", "5"
    )
    assert code == 2
    message = (out + err).strip()
    assert "positive orthant" in message and "Traceback" not in message
    assert len(message.splitlines()) == 1


def test_cli_refuses_a_hedge_start_off_the_simplex(capsys):
    code, out, err = invoke(
        capsys, "run", "-o", "hedge", "-s", "shifted-bowl", "--steps", "5"
    )
    assert code == 2 and "simplex" in out + err


def test_api_refuses_bad_starts():
    with pytest.raises(RunError, match="positive orthant"):
        odeopt.run("eg", "shifted-bowl", x0=[0.5, 0.0, 0.5], steps=3)
    with pytest.raises(RunError, match="positive orthant"):
        odeopt.run_batch(
            "eg", "shifted-bowl", [[0.5, 0.5, 0.5], [0.5, -1.0, 0.5]], steps=3
        )


def test_cli_runs_lists_and_checks(capsys):
    code, out, _ = invoke(capsys, "run", "-o", "eg", "-s", "nnls", "--steps", "100",
                          "--reference", "--json")  # fmt: skip
    assert code == 0, out
    code, out, _ = invoke(capsys, "list", "optimizers")
    assert code == 0 and all(n in out for n in ("eg", "hedge", "eg-primal"))
    code, out, _ = invoke(capsys, "check", "-o", "eg", "-s", "shifted-bowl")
    assert code == 0, out


def test_batch_equals_single_runs():
    starts = [[0.5, 0.5, 0.5], [0.1, 2.0, 0.3], [1.5, 0.2, 0.9]]
    batch = odeopt.run_batch("eg", "shifted-bowl", starts, [{"lr": 0.3}], steps=100)
    for s, x0 in enumerate(starts):
        single = odeopt.run("eg", "shifted-bowl", x0=x0, steps=100, lr=0.3)
        np.testing.assert_array_equal(batch.final_theta[0, s], single.final_theta)
