"""The stepper's contract: records, stopping rules, statuses, clocks and batches.

Expected values come from closed forms: GD on a quadratic is θ_k = (I − ηA)^k θ₀.
"""

import math

import numba
import numpy as np
import pytest

import odeopt
from odeopt.stepper import RunError

EIGS = (1.0, 10.0)


def gd_closed_form(lr, steps, x0, eigenvalues=EIGS):
    factors = 1.0 - lr * np.asarray(eigenvalues)
    k = np.arange(steps + 1)[:, None]
    return np.asarray(x0) * factors[None, :] ** k


def quadratic_run(**kwargs):
    kwargs.setdefault("x0", [1.0, -2.0])
    return odeopt.run("gd", "quadratic", surface_params={"eigenvalues": EIGS}, **kwargs)


def test_gd_matches_closed_form_and_records_every_step():
    traj = quadratic_run(lr=0.05, steps=300)
    expected = gd_closed_form(0.05, 300, [1.0, -2.0])
    np.testing.assert_allclose(traj.theta, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_array_equal(traj.step, np.arange(301))
    np.testing.assert_allclose(
        traj.loss, 0.5 * (expected**2 * np.array(EIGS)).sum(axis=1), rtol=1e-12
    )
    assert traj.status is odeopt.Status.MAX_STEPS
    assert traj.steps_done == 300


@pytest.mark.parametrize(("steps", "every"), [(100, 7), (100, 10), (5, 10), (0, 3)])
def test_record_every_keeps_start_multiples_and_last_step(steps, every):
    traj = quadratic_run(lr=0.05, steps=steps, record_every=every)
    expected_steps = sorted(set(range(0, steps + 1, every)) | {steps})
    np.testing.assert_array_equal(traj.step, expected_steps)
    full = gd_closed_form(0.05, steps, [1.0, -2.0])
    np.testing.assert_allclose(traj.theta, full[expected_steps], rtol=1e-12)


def test_tol_stops_at_the_first_small_gradient():
    lr, tol = 0.05, 1e-6
    traj = quadratic_run(lr=lr, steps=10_000, tol=tol)
    path = gd_closed_form(lr, 10_000, [1.0, -2.0])
    grad_norm = np.linalg.norm(path * np.array(EIGS), axis=1)
    first = int(np.argmax(grad_norm < tol))  # step k - 1 whose gradient is small
    assert traj.status is odeopt.Status.CONVERGED
    assert traj.steps_done == first
    assert traj.step[-1] == first
    np.testing.assert_allclose(traj.final_theta, path[first], rtol=1e-12)


def test_divergence_is_a_status_at_the_exploding_step():
    # (1 - lr λ) = -1.5 on the stiff axis: |θ| = 2·1.5^k passes max_norm at a known k.
    lr, max_norm = 0.25, 1e6
    traj = quadratic_run(lr=lr, steps=1000, max_norm=max_norm)
    expected = math.ceil(math.log(max_norm / 2.0) / math.log(1.5))
    assert 2.0 * 1.5**expected > max_norm >= 2.0 * 1.5 ** (expected - 1)
    assert traj.status is odeopt.Status.DIVERGED
    assert traj.steps_done == expected
    assert traj.meta["diverged_at"] == expected
    assert traj.step[-1] == expected


def test_overflow_to_nan_is_a_diverged_result_not_a_crash():
    traj = odeopt.run("gd", "rosenbrock", lr=1.0, steps=100)
    assert traj.status is odeopt.Status.DIVERGED
    assert traj.steps_done < 100
    assert not np.all(np.isfinite(traj.final_theta)) or not np.isfinite(traj.final_loss)


@pytest.mark.parametrize(
    ("optimizer", "hp", "h"),
    [
        ("gd", {"lr": 0.01}, 0.01),
        ("momentum", {"lr": 0.01, "momentum": 0.9}, 0.1),
        ("momentum", {"lr": 0.01, "momentum": 0.9, "dampening": 0.75}, 0.05),
        ("adam", {"lr": 0.01}, 0.01),
        ("adagrad", {"lr": 0.1}, 0.01),
    ],
)
def test_ode_clock_is_the_models_time_step(optimizer, hp, h):
    traj = odeopt.run(optimizer, "booth", steps=20, **hp)
    np.testing.assert_allclose(traj.t, traj.step * h, rtol=1e-14)
    assert traj.meta["model"]["parameters"]["h"] == pytest.approx(h, rel=1e-14)


def test_adagrad_clock_with_lr_decay_sums_squared_rates():
    lr, decay = 0.1, 0.5
    traj = odeopt.run("adagrad", "booth", steps=10, lr=lr, lr_decay=decay)
    rates = lr / (1.0 + np.arange(10) * decay)
    np.testing.assert_allclose(traj.t[1:], np.cumsum(rates**2), rtol=1e-14)


def test_heavy_ball_friction_map():
    traj = odeopt.run("momentum", "booth", steps=1, lr=0.04, momentum=0.8)
    ode = traj.meta["model"]["parameters"]
    assert ode["h"] == pytest.approx(0.2)
    assert ode["friction"] == pytest.approx((1 - 0.8) / 0.2)


@pytest.mark.parametrize(
    "x0", [[1.0], [1.0, 2.0, 3.0], [np.nan, 1.0], [np.inf, 0.0], "a,b"]
)
def test_bad_start_is_rejected(x0):
    with pytest.raises(RunError):
        odeopt.run("gd", "booth", x0=x0, steps=1)


def test_bad_settings_are_rejected():
    with pytest.raises(RunError):
        odeopt.run("gd", "booth", steps=-1)
    with pytest.raises(RunError):
        odeopt.run("gd", "booth", steps=1, record_every=0)
    with pytest.raises(odeopt.HyperparameterError):
        odeopt.run("gd", "booth", steps=1, lr=0.0)
    with pytest.raises(odeopt.HyperparameterError):
        odeopt.run("gd", "booth", steps=1, momentum=0.9)  # gd has no momentum
    with pytest.raises(odeopt.UnknownNameError):
        odeopt.run("sgdd", "booth")


def test_memory_cap_raises_record_every_and_says_so(monkeypatch):
    monkeypatch.setattr(odeopt.stepper, "RECORD_MEMORY_CAP", 8 * 5 * 1000)
    traj = quadratic_run(lr=0.01, steps=10_000)
    assert traj.meta["record_every"] > 1
    assert "record" in traj.meta["record_note"]
    assert len(traj) <= 1000
    assert traj.step[-1] == 10_000


def test_progress_chunks_give_the_same_trajectory():
    calls = []
    kwargs = {"lr": 1e-4, "momentum": 0.9, "steps": 2_500_000, "record_every": 250_000}
    chunked = odeopt.run(
        "nesterov", "rosenbrock", progress=lambda d, n: calls.append(d), **kwargs
    )
    whole = odeopt.run("nesterov", "rosenbrock", **kwargs)
    np.testing.assert_array_equal(chunked.theta, whole.theta)
    assert calls == [2**20, 2**21, 2_500_000]


def test_batch_equals_single_runs_bitwise():
    starts = np.array([[-1.2, 1.0], [0.5, 0.5], [0.0, 0.5]])
    sets = [{"lr": 1e-3}, {"lr": 3e-4, "momentum": 0.5}]
    batch = odeopt.run_batch(
        "nesterov", "rosenbrock", starts, sets, steps=3000, record_every=500
    )
    assert batch.final_theta.shape == (2, 3, 2)
    for i, hp in enumerate(sets):
        for j, start in enumerate(starts):
            single = odeopt.run(
                "nesterov", "rosenbrock", x0=start, steps=3000, record_every=500, **hp
            )
            np.testing.assert_array_equal(batch.final_theta[i, j], single.final_theta)
            np.testing.assert_array_equal(batch.theta[i, j], single.theta)
            np.testing.assert_array_equal(batch.loss[i, j], single.loss)
            assert batch.status[i, j] == single.status.value
    np.testing.assert_array_equal(batch.step, np.arange(0, 3001, 500))


def test_batch_results_do_not_depend_on_thread_count():
    rng = np.random.default_rng(0)
    starts = rng.uniform(-2, 2, size=(64, 2))
    sets = [
        {"lr": lr} for lr in (1e-3, 5e-3, 2e-2)
    ]  # the last diverges for many starts
    results = []
    for threads in (1, numba.config.NUMBA_NUM_THREADS):
        numba.set_num_threads(threads)
        results.append(odeopt.run_batch("adam", "himmelblau", starts, sets, steps=2000))
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    a, b = results
    np.testing.assert_array_equal(a.final_theta, b.final_theta)
    np.testing.assert_array_equal(a.status, b.status)
    np.testing.assert_array_equal(a.steps_done, b.steps_done)


def test_batch_reports_divergence_per_trajectory():
    starts = np.array([[1.0, -2.0]])
    sets = [{"lr": 0.05}, {"lr": 0.25}]
    batch = odeopt.run_batch(
        "gd",
        "quadratic",
        starts,
        sets,
        steps=200,
        max_norm=1e6,
        surface_params={"eigenvalues": EIGS},
    )
    assert list(batch.status[:, 0]) == ["max_steps", "diverged"]
    assert batch.steps_done[1, 0] == math.ceil(math.log(1e6 / 2.0) / math.log(1.5))
