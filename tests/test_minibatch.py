"""Finite sums with real minibatches: least squares and logistic regression.

The surfaces' loss, gradient and Hessian are checked against finite differences and
a NumPy re-implementation; the minibatch estimator against the full gradient by
enumerating every index draw; the sampler (with replacement, and by shuffled epochs
without) by counting; the engine's minibatch gradient by its mean and covariance
over many paths, against the finite-population formula.  Stochastic tests state
their significance level α.
"""

import itertools
import math

import numba
import numpy as np
import pytest
from scipy import stats

import odeopt
from odeopt import _random
from odeopt._jit import python_function
from odeopt.errors import InputError
from odeopt.noise import minibatch
from odeopt.registry import get_surface

SURFACES = ("least-squares", "logistic")
draw_index = python_function(minibatch.draw_index)
permuted = python_function(minibatch.permuted)


def bound(name, dim=3, **params):
    return get_surface(name).bind(dim, **params)


@pytest.mark.parametrize("name", SURFACES)
def test_gradient_and_hessian_are_those_of_the_loss(name):
    surface = bound(name, 3, n=20, seed=4)
    rng = np.random.default_rng(1)
    h = 1e-5
    for theta in rng.normal(size=(3, 3)):
        # central differences: errors O(h²) ≈ 1e-10 relative
        fd_grad = np.array(
            [
                (surface.value(theta + h * e) - surface.value(theta - h * e)) / (2 * h)
                for e in np.eye(3)
            ]
        )
        np.testing.assert_allclose(surface.grad(theta), fd_grad, rtol=1e-7, atol=1e-9)
        fd_hess = np.array(
            [
                (surface.grad(theta + h * e) - surface.grad(theta - h * e)) / (2 * h)
                for e in np.eye(3)
            ]
        )
        np.testing.assert_allclose(surface.hess(theta), fd_hess, rtol=1e-7, atol=1e-9)


def test_least_squares_is_the_published_formula():
    surface = bound("least-squares", 2, n=30, seed=9, noise=0.3)
    rng = np.random.default_rng(9)  # the documented draw: X, θ*, then ε
    X = rng.standard_normal((30, 2))
    truth = rng.standard_normal(2)
    y = X @ truth + 0.3 * rng.standard_normal(30)
    theta = np.array([0.3, -1.2])
    assert surface.value(theta) == pytest.approx(
        0.5 * np.mean((X @ theta - y) ** 2), rel=1e-13
    )
    np.testing.assert_allclose(surface.hess(theta), X.T @ X / 30, rtol=1e-13)
    (minimum,) = surface.minima
    np.testing.assert_allclose(minimum.theta, np.linalg.lstsq(X, y)[0], rtol=1e-12)


def test_logistic_minimum_is_where_the_gradient_vanishes():
    surface = bound("logistic", 3, n=50, seed=2, l2=0.05)
    (minimum,) = surface.minima
    assert np.max(np.abs(surface.grad(minimum.theta))) < 1e-14
    assert surface.value(minimum.theta) == pytest.approx(minimum.value, rel=1e-14)
    assert np.all(np.linalg.eigvalsh(surface.hess(minimum.theta)) > 0.05 - 1e-12)


@pytest.mark.parametrize("name", SURFACES)
def test_minibatch_gradient_averaged_over_every_draw_is_the_full_gradient(name):
    # Enumerate all n^B ordered draws with replacement (n = 5, B = 3): the mean of
    # (1/B) Σ_j ∇ℓ_{i_j} over them is ∇L, up to rounding; likewise any permutation's
    # consecutive minibatches (one epoch without replacement, B | n) average to ∇L.
    n, batch = 5, 3
    surface = bound(name, 2, n=n, seed=6)
    grads = minibatch.sample_gradients(surface, [0.4, -0.7])
    full = surface.grad(np.array([0.4, -0.7]))
    draws = [
        grads[list(idx)].mean(axis=0)
        for idx in itertools.product(range(n), repeat=batch)
    ]
    np.testing.assert_allclose(np.mean(draws, axis=0), full, rtol=1e-13, atol=1e-15)
    epoch = [permuted(i, n, 3, 0, 0) for i in range(n)]
    np.testing.assert_allclose(grads[epoch].mean(axis=0), full, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 16, 17, 64, 100, 1000])
def test_every_epoch_is_a_permutation(n):
    for seed, path, epoch in ((0, 0, 0), (7, 3, 1), (2**40 + 5, 11, 123456789)):
        image = sorted(permuted(i, n, seed, path, epoch) for i in range(n))
        assert image == list(range(n))


def test_steps_without_replacement_walk_the_epochs():
    # B = 4, n = 10: two minibatches per epoch, the last 2 samples left out; step k
    # takes positions of the permutation of epoch (k - 1) // 2.
    n, batch = 10, 4
    q = np.array([float(batch), 0.0])
    for k in range(1, 9):
        epoch, r = (k - 1) // 2, (k - 1) % 2
        drawn = [draw_index(5, 1, k, j, n, q) for j in range(batch)]
        expected = [permuted(r * batch + j, n, 5, 1, epoch) for j in range(batch)]
        assert drawn == expected
    one_epoch = [draw_index(5, 1, k, j, n, q) for k in (1, 2) for j in range(batch)]
    assert len(set(one_epoch)) == 8  # no sample twice within an epoch


def test_compiled_sampler_equals_the_python_one():
    from odeopt._jit import jit_module

    compiled = jit_module(minibatch)
    for q in (np.array([8.0, 0.0]), np.array([8.0, 1.0])):
        for k, j in ((1, 0), (9, 7), (2**33 + 1, 3)):
            assert compiled.draw_index(42, 3, k, j, 37, q) == draw_index(
                42, 3, k, j, 37, q
            )


def test_philox_copy_matches_the_generator():
    rng = np.random.default_rng(0)
    for words in rng.integers(0, 2**32, size=(20, 6), dtype=np.uint64):
        args = [np.uint64(w) for w in words]
        assert python_function(minibatch.philox)(*args) == python_function(
            _random.philox4x32
        )(*args)


def test_indices_are_uniform():
    # χ² goodness of fit, α = 1e-4 each: the indices drawn with replacement, and the
    # first position of the epochs' permutations (each sample first equally often).
    n, draws = 13, 20_000
    q = np.array([1.0, 1.0])
    counts = np.bincount(
        [draw_index(9, 0, k, 0, n, q) for k in range(1, draws + 1)], minlength=n
    )
    assert stats.chisquare(counts).pvalue > 1e-4
    first = np.bincount(
        [permuted(0, n, 9, 0, e) for e in range(draws // 4)], minlength=n
    )
    assert stats.chisquare(first).pvalue > 1e-4
    # consecutive positions are not tied: (π(0), π(1)) uniform over the n(n−1)
    # ordered pairs (a 4-round Feistel network failed this at p ≈ 1e-60)
    pairs = np.zeros((n, n))
    for e in range(draws // 2):
        pairs[permuted(0, n, 9, 1, e), permuted(1, n, 9, 1, e)] += 1
    off = pairs[~np.eye(n, dtype=bool)]
    assert np.all(np.diag(pairs) == 0)
    assert stats.chisquare(off).pvalue > 1e-4


@pytest.mark.parametrize("optimizer", ["gd", "momentum", "adam"])
@pytest.mark.parametrize("name", SURFACES)
def test_full_batch_without_replacement_is_full_batch_gd(name, optimizer):
    surface = bound(name, 2, n=24, seed=1)
    hp = {"lr": 0.05} if optimizer != "momentum" else {"lr": 0.05, "momentum": 0.9}
    full = odeopt.run(optimizer, surface, steps=300, **hp)
    batch = odeopt.run(
        optimizer, surface, steps=300, noise="minibatch", batch_size=24, seed=5, **hp
    )
    # the same sum in another order: rounding only
    np.testing.assert_allclose(batch.theta, full.theta, rtol=1e-11, atol=1e-13)
    small = odeopt.run(
        optimizer, surface, steps=300, noise="minibatch", batch_size=4, seed=5, **hp
    )
    assert not np.allclose(small.theta[-1], full.theta[-1], rtol=1e-6)


@pytest.mark.parametrize("noise", ["minibatch", "minibatch:1"])
def test_minibatch_runs_are_reproducible_alone_in_lanes_and_on_any_threads(noise):
    surface = bound("logistic", 2, n=40, seed=3)
    settings = {"steps": 120, "noise": noise, "batch_size": 6, "seed": 17}
    single = [
        odeopt.run("nesterov", surface, lr=0.1, momentum=0.9, path=p, **settings)
        for p in (0, 5, 37)
    ]
    again = odeopt.run("nesterov", surface, lr=0.1, momentum=0.9, path=5, **settings)
    assert np.array_equal(again.theta, single[1].theta)
    starts = np.tile(surface.x0, (40, 1))
    results = []
    for threads in (1, 2):
        previous = numba.get_num_threads()
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        try:
            results.append(
                odeopt.run_batch(
                    "nesterov",
                    surface,
                    starts,
                    [{"lr": 0.1, "momentum": 0.9}],
                    **settings,
                )
            )
        finally:
            numba.set_num_threads(previous)
    assert np.array_equal(results[0].final_theta, results[1].final_theta)
    for run, p in zip(single, (0, 5, 37), strict=True):
        assert np.array_equal(results[0].final_theta[0, p], run.theta[-1])
    other = odeopt.run(
        "nesterov", surface, lr=0.1, momentum=0.9, **{**settings, "seed": 18}
    )
    assert not np.array_equal(other.theta[-1], single[0].theta[-1])


@pytest.mark.parametrize("replacement", [0, 1])
def test_engine_minibatch_gradient_has_the_finite_population_law(replacement):
    # One gd step θ₁ = θ₀ − η ĝ on 20 000 paths gives samples of ĝ: mean ∇L,
    # covariance Σ/B (with replacement) or (n−B)/(n−1)·Σ/B (without).
    surface = bound("least-squares", 2, n=12, seed=8)
    theta0, lr, batch, paths = np.array([0.5, -0.5]), 1e-3, 4, 20_000
    result = odeopt.run_batch(
        "gd",
        surface,
        np.tile(theta0, (paths, 1)),
        [{"lr": lr}],
        steps=1,
        noise=f"minibatch:{replacement}",
        batch_size=batch,
        seed=23,
    )
    samples = (theta0 - result.final_theta[0]) / lr
    expected_cov = minibatch.gradient_covariance(
        surface, theta0, batch, bool(replacement)
    )
    mean_error = samples.mean(axis=0) - surface.grad(theta0)
    # each coordinate's mean within 5 standard errors (α ≈ 6e-7 each)
    assert np.all(np.abs(mean_error) < 5 * np.sqrt(np.diag(expected_cov) / paths))
    # the sample covariance within 5 % (its relative standard error here is about
    # √(2/20000) ≈ 1 %, more for the heavier tails of a discrete law: α < 1e-4)
    np.testing.assert_allclose(
        np.cov(samples.T),
        expected_cov,
        rtol=0.05,
        atol=0.05 * np.abs(expected_cov).max(),
    )
    if not replacement:  # the correction is resolved: 8/11 vs 1
        plain = minibatch.gradient_covariance(surface, theta0, batch, True)
        assert abs(np.trace(np.cov(samples.T)) / np.trace(plain) - 8 / 11) < 0.04


def test_bad_minibatch_settings_are_refused(capsys):
    with pytest.raises(InputError, match="needs a finite-sum surface"):
        odeopt.problem("gd", "booth", noise="minibatch", batch_size=2)
    with pytest.raises(InputError, match=r"larger than the data set \(n = 10\)"):
        odeopt.problem(
            "gd", bound("least-squares", 2, n=10), noise="minibatch", batch_size=11
        )
    with pytest.raises(InputError, match="replacement must be 0"):
        odeopt.problem("gd", "least-squares", noise="minibatch:2")
    with pytest.raises(InputError, match="n = 2 samples cannot fix 3 features"):
        bound("least-squares", 3, n=2)
    from odeopt.cli import main

    for args, words in (
        (
            ("-s", "least-squares", "--surface-param", "n=16", "--batch-size", "17"),
            "larger than the data set (n = 16)",
        ),
        (("-s", "booth", "--batch-size", "4"), "needs a finite-sum surface"),
    ):
        with pytest.raises(SystemExit) as done:
            main(["run", "-o", "gd", "--noise", "minibatch", "--steps", "5", *args])
        _, err = capsys.readouterr()
        assert done.value.code == 2 and words in err and err.count("\n") == 1


def test_cli_runs_a_minibatch_ensemble(capsys):
    from odeopt.cli import main

    with pytest.raises(SystemExit) as done:
        main(
            [
                "run",
                "-o",
                "gd",
                "-s",
                "least-squares",
                "--lr",
                "0.1",
                "--steps",
                "200",
                "--noise",
                "minibatch",
                "--batch-size",
                "8",
                "--paths",
                "50",
                "--json",
            ]
        )
    out, err = capsys.readouterr()
    assert done.value.code == 0, err
    import json

    summary = json.loads(out)
    minimum = get_surface("least-squares").bind(2).minima[0].value
    law = summary["final_loss"]
    # SGD hovers above the least-squares minimum: its mean loss is above it
    assert law["mean"] > minimum and math.isfinite(law["std"])
