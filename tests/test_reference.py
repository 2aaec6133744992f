"""The reference integrator against closed forms, and the order checks it enables.

Linear flows on a quadratic are solved exactly by matrix exponentials; AdaGrad's flow
on a separable quadratic conserves √S + λθ²/4 (brief §4.6).
"""

import dataclasses
import json

import numpy as np
import pytest
from scipy.linalg import expm

import odeopt
from odeopt.check import check_order
from odeopt.cli import main
from odeopt.reference import solve
from odeopt.stepper import resolve_optimizer, resolve_surface

A_EIGS = (0.5, 3.0)


def bound(optimizer, surface="quadratic", surface_params=None, **hp):
    params = {"eigenvalues": A_EIGS} if surface == "quadratic" else surface_params
    s = resolve_surface(surface, None, params or {})
    return resolve_optimizer(optimizer, s, hp), s


def test_gradient_flow_matches_the_matrix_exponential():
    opt, surface = bound("gd", lr=0.01)
    x0 = np.array([1.0, -0.7])
    t = np.linspace(0.0, 3.0, 31)
    ref = solve(opt, surface, x0, t)
    A = np.diag(A_EIGS)
    exact = np.array([expm(-A * tk) @ x0 for tk in t])
    np.testing.assert_allclose(ref.theta, exact, rtol=1e-9, atol=1e-12)
    assert ref.info["method"] == "DOP853" and ref.info["rtol"] == 1e-10


@pytest.mark.parametrize("method", ["DOP853", "Radau", "LSODA"])
def test_heavy_ball_ode_matches_the_matrix_exponential(method):
    lr, beta = 0.01, 0.8
    opt, surface = bound("momentum", lr=lr, momentum=beta)
    friction = (1 - beta) / np.sqrt(lr)
    x0 = np.array([1.0, 0.5])
    t = np.linspace(0.0, 5.0, 11)
    ref = solve(opt, surface, x0, t, method=method, rtol=1e-10, atol=1e-12)
    A = np.diag(A_EIGS)
    M = np.block([[np.zeros((2, 2)), np.eye(2)], [-A, -friction * np.eye(2)]])
    z0 = np.concatenate([x0, np.zeros(2)])
    exact = np.array([expm(M * tk) @ z0 for tk in t])
    tol = 1e-9 if method == "DOP853" else 1e-6
    np.testing.assert_allclose(ref.z, exact, rtol=tol, atol=tol)


def test_adagrad_flow_conserves_its_invariant_from_a_singular_start():
    # L = ½λθ² with ε′ = 0: √S + λθ²/4 is constant along the ODE (brief §4.6 (f)).
    lam = 2.0
    opt, surface = bound("adagrad", surface="quadratic", lr=0.1, eps=0.0)
    surface = resolve_surface("quadratic", None, {"eigenvalues": (lam,)})
    opt = resolve_optimizer("adagrad", surface, {"lr": 0.1, "eps": 0.0})
    t = np.linspace(0.0, 5.0, 26)
    ref = solve(opt, surface, np.array([1.0]), t)
    invariant = np.sqrt(ref.z[:, 1]) + lam * ref.z[:, 0] ** 2 / 4
    np.testing.assert_allclose(invariant, lam / 4, rtol=1e-7)
    assert ref.info["t_start"] > 0  # the series start was used


def test_adam_field_is_finite_at_t0_and_bias_corrected():
    opt, surface = bound("adam", lr=0.01)
    ref = solve(opt, surface, np.array([1.0, -1.0]), np.array([0.0, 1e-6, 0.1]))
    assert np.all(np.isfinite(ref.z))
    # early on the bias-corrected field is -sign(g) to leading order
    moved = (ref.theta[1] - ref.theta[0]) / 1e-6
    np.testing.assert_allclose(moved, [-1.0, 1.0], rtol=1e-3)


def test_run_reference_adds_ref_arrays_to_every_format(tmp_path):
    traj = odeopt.run(
        "momentum", "product-loss", lr=1e-3, steps=500, record_every=50, reference=True
    )
    assert traj.ref_theta.shape == traj.theta.shape
    gap = np.linalg.norm(traj.theta - traj.ref_theta, axis=1)
    assert traj.meta["reference"]["max_discrepancy"] == pytest.approx(gap.max())
    assert traj.meta["reference"]["final_discrepancy"] == pytest.approx(gap[-1])
    np.testing.assert_array_equal(traj.ref_theta[0], traj.theta[0])
    for suffix in (".npz", ".csv", ".json"):
        loaded = odeopt.Trajectory.load(traj.save(tmp_path / f"r{suffix}"))
        np.testing.assert_array_equal(loaded.ref_theta, traj.ref_theta)
        np.testing.assert_array_equal(loaded.ref_loss, traj.ref_loss)


def test_discrepancy_shrinks_with_the_step():
    # t = k·lr for gd: halving lr at fixed horizon halves the error (order 1).
    gaps = []
    for lr, steps in ((0.02, 100), (0.01, 200), (0.005, 400)):
        traj = odeopt.run(
            "gd", "product-loss", lr=lr, steps=steps, record_every=steps, reference=True
        )
        gaps.append(traj.meta["reference"]["final_discrepancy"])
    assert gaps[0] / gaps[1] == pytest.approx(2.0, rel=0.1)
    assert gaps[1] / gaps[2] == pytest.approx(2.0, rel=0.05)


#: Pairs whose final error is no clean power of h, with the test that covers them.
NOT_A_POWER_OF_H = {
    # the sign flow slides along ab = 1 from t ≈ 0.28: Euler's error is bounded by
    # about one step but chatters (tests/test_polyak_flows.py asserts the bound)
    ("sign-gd", "product-loss"),
}


def _model_cases():
    cases = []
    for name in odeopt.optimizer_names():
        optimizer = odeopt.get_optimizer(name)
        consistent = hasattr(optimizer.kernels, "consistent_start")
        inits = ("pytorch", "consistent") if consistent else ("pytorch",)
        # A game's methods are checked on games (their models may split θ into
        # the players' blocks), the rest on losses.
        on = ("product-loss", "rosenbrock")
        if optimizer.play is not None:
            on = ("letcher-game", "dirac-gan-ns")
        for model in optimizer.models:
            if not callable(model.order) and model.order == 0:
                continue  # no ODE limit (meta-learned step sizes: test_meta_lr.py)
            for init in inits:
                for surface in on:
                    if optimizer.domain is not None:
                        continue  # posed on a domain: tests/test_eg.py (nnls, shifted-bowl)
                    if (name, surface) in NOT_A_POWER_OF_H:
                        continue
                    cases.append((name, model.name, init, surface))
    return cases


CASES = _model_cases()


@pytest.mark.parametrize(
    ("optimizer", "model", "init", "surface"), CASES, ids=["-".join(c) for c in CASES]
)
def test_every_model_passes_its_declared_order_with_default_settings(
    optimizer, model, init, surface
):
    """`odeopt check` defaults (or the model's declared regime) give a passing check."""
    result = check_order(optimizer, surface, model=model, init=init)
    assert result.passed, result.table()
    assert result.fitted_order == pytest.approx(result.declared_order, abs=0.25)
    assert all(
        row["t"] == pytest.approx(row["steps"] * row["h"]) for row in result.rows
    )
    ts = [row["t"] for row in result.rows]
    assert max(ts) - min(ts) <= 0.2 * result.horizon + 1e-12  # compared at t = n·h


def test_adagrad_with_a_positive_accumulator_is_first_order():
    result = check_order("adagrad", "product-loss", initial_accumulator_value=50.0)
    assert result.declared_order == 1.0
    assert result.fitted_order == pytest.approx(1.0, abs=0.1)


def test_check_cli_json_and_exit_codes(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", "-o", "gd", "-s", "product-loss", "--json"])
    assert info.value.code in (0, None)
    payload = json.loads(capsys.readouterr().out)
    assert {"declared_order", "fitted_order", "passed", "rows"} <= set(payload)
    assert payload["passed"] is True
    with pytest.raises(SystemExit) as info:
        main(["check", "-o", "gd", "-s", "product-loss", "--tolerance", "1e-6"])
    assert info.value.code == 1
    assert "FAILED" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:
        main(["check", "-o", "gd", "-s", "booth", "--method", "Euler"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "DOP853" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow  # two stiff solves at rtol 1e-10: 5 s
def test_auto_method_switches_to_radau_when_stiff_and_agrees_with_lsoda():
    # RMSprop near Rosenbrock's minimum behaves like the sliding sign flow: DOP853
    # would need millions of evaluations (measured: 3.9e6 for these 3000 steps).
    traj = odeopt.run("rmsprop", "rosenbrock", steps=3000)
    s = resolve_surface("rosenbrock")
    opt = resolve_optimizer("rmsprop", s, traj.meta["hyperparameters"])
    # the model's own hint (Radau) is bypassed to exercise the stiffness fallback
    model = dataclasses.replace(opt.optimizer.model("coupled"), preferred_method=None)
    auto = solve(opt, s, traj.theta[0], traj.t, model)
    lsoda = solve(opt, s, traj.theta[0], traj.t, method="LSODA")
    assert auto.info["method"] == "Radau"
    assert "stiff" in auto.info["stiffness_note"]
    # Two stiff integrators at rtol 1e-10 agree to ~1e-9 along this sliding path
    # (measured 1.3e-9); the discrepancy the reference serves to measure is ~6e-2.
    np.testing.assert_allclose(auto.theta, lsoda.theta, rtol=0, atol=1e-8)
    gap = np.abs(auto.theta[-1] - traj.theta[-1]).max()
    assert gap > 1e4 * np.abs(auto.theta - lsoda.theta).max()


def test_rmsprop_prefers_radau_and_a_long_reference_stays_fast():
    traj = odeopt.run("rmsprop", "rosenbrock", steps=10_000, reference=True)
    info = traj.meta["reference"]
    assert info["method"] == "Radau" and "prefers" in info["stiffness_note"]
    assert info["nfev"] < 100_000  # DOP853 needs millions here


@pytest.mark.parametrize("tau", [0.0, 0.5])
def test_adagrad_is_exactly_semi_implicit_euler_with_step_lr_squared(tau):
    """C42: S-first semi-implicit Euler on Ṡ = g⊙g, θ̇ = −g/(√S + ε′) with h = lr²,
    S_ode = lr²·S, ε′ = lr·ε reproduces torch's AdaGrad step for step."""
    lr, eps, steps = 0.2, 1e-3, 400

    def grad(theta):  # product-loss, written independently
        a, b = theta
        return np.array([(a * b - 1) * b + 0.1 * a, (a * b - 1) * a])

    h = lr * lr
    theta, S = np.array([2.0, 0.3]), np.full(2, h * tau)
    path = [theta.copy()]
    for _ in range(steps):
        g = grad(theta)
        S = S + h * g * g  # S first ...
        theta = theta - h * g / (np.sqrt(S) + lr * eps)  # ... then θ with the new S
        path.append(theta.copy())
    traj = odeopt.run(
        "adagrad",
        "product-loss",
        lr=lr,
        eps=eps,
        steps=steps,
        initial_accumulator_value=tau,
    )
    np.testing.assert_allclose(traj.theta, np.array(path), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(traj.t, h * np.arange(steps + 1), rtol=1e-14)


def test_check_shortens_the_horizon_when_runs_converge_to_rounding_level():
    # GD reaches Himmelblau's minimum long before T = 1: every error would be ~1e-11.
    result = check_order("gd", "himmelblau")
    assert result.horizon < 1.0 and "shortened" in result.note
    assert result.rows[0]["error"] > 1e-7
    assert result.passed
    explicit = check_order("gd", "himmelblau", horizon=1.0)  # the user's T is kept
    assert explicit.horizon == 1.0 and explicit.note == ""
    assert explicit.rows[0]["error"] < 1e-9


def test_the_default_tolerance_is_relative_to_the_declared_order():
    from odeopt.check import default_tolerance

    assert default_tolerance(0.5) == 0.125
    assert default_tolerance(1.0) == default_tolerance(2.0) == 0.25


def test_a_check_past_the_horizon_and_the_stability_limit_says_why(capsys):
    # gd on booth (λ_max = 10) with lr = 10: the coarse levels take one step past
    # T = 1, and h = 0.625 is past Euler's limit 2/λ_max = 0.2, so the error grows as
    # h shrinks there.  The check fails and says both.
    result = check_order("gd", "booth", lr=10.0)
    assert not result.passed
    assert any("longer than the horizon" in reason for reason in result.why)
    assert any("error grows as h shrinks" in reason for reason in result.why)
    with pytest.raises(SystemExit) as info:
        main(["check", "-o", "gd", "-s", "booth", "--lr", "10"])
    assert info.value.code == 1
    assert "why: h = 10, 5, 2.5 are longer than the horizon" in capsys.readouterr().out


def test_a_long_check_reports_its_levels_on_stderr(capsys, monkeypatch):
    import odeopt.cli

    monkeypatch.setattr(odeopt.cli, "LONG_CHECK_STEPS", 1)
    with pytest.raises(SystemExit):
        main(["check", "-o", "gd", "-s", "product-loss", "--levels", "3"])
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("check: ") and err[0].endswith("steps over 4 levels")
    assert [line.split(":")[0].strip() for line in err[1:]] == [
        f"level {j}/4" for j in range(1, 5)
    ]
