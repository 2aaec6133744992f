"""Gradient noise: a counter-based generator, noise models, reproducible runs.

The generator is checked against the published known-answer vectors of
Philox4x32-10 and its normals against N(0, 1); each noise model's covariance is
measured through the optimizer itself (one gd step, θ₁ = θ₀ − η(∇L + n), gives the
sample n), and a run is the same bits alone, in a batch, on any thread count.

Stochastic tests state their significance level α: the probability that they fail
although the code is right.
"""

import math

import numba
import numpy as np
import pytest
from scipy import special, stats

import odeopt
from odeopt import _random
from odeopt._jit import jit_module
from odeopt.registry import get_noise, get_surface
from odeopt.stepper import RunError

R = jit_module(_random)
u64 = np.uint64

# Random123's kat_vectors (Salmon et al. 2011): counter, key, output of Philox4x32-10.
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    (
        (0xFFFFFFFF,) * 4,
        (0xFFFFFFFF,) * 2,
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize(("counter", "key", "expected"), KAT)
def test_philox_known_answers(counter, key, expected):
    args = [u64(c) for c in counter] + [u64(k) for k in key]
    assert [int(w) for w in R.philox4x32(*args)] == list(expected)
    assert [int(w) for w in _random.philox4x32.py_func(*args)] == list(expected)


def test_normals_are_standard_normal_and_independent():
    # 2·10⁵ draws from one path, and the same coordinates on the next step and path.
    n = 200_000
    xi, next_step, next_path = np.empty(n), np.empty(n), np.empty(n)
    R.fill_normals(xi, 12345, 0, 1, 0)
    R.fill_normals(next_step, 12345, 0, 2, 0)
    R.fill_normals(next_path, 12345, 1, 1, 0)
    # α = 1e-4 for the KS test; each correlation (≈ N(0, 1/n) when independent)
    # within 5 standard errors: α ≈ 6e-7 each.
    assert stats.kstest(xi, "norm").pvalue > 1e-4
    for other in (next_step, next_path, xi[1:]):
        m = min(other.size, n)
        r = np.corrcoef(xi[:m], other[:m])[0, 1]
        assert abs(r) < 5 / math.sqrt(m)
    # the two normals of a pair (coordinates 2j, 2j+1) are independent too
    assert abs(np.corrcoef(xi[0::2], xi[1::2])[0, 1]) < 5 / math.sqrt(n / 2)


def test_ziggurat_layers_have_equal_areas():
    # Each rectangle layer x_i·(f(x_{i+1}) − f(x_i)) and the base strip (rectangle to
    # R plus the tail, by erfc) has area V: the tables are consistent with R and V.
    x, f = _random.ZIGGURAT_X, lambda t: np.exp(-0.5 * t * t)
    r = _random.ZIGGURAT_R
    base = r * f(r) + math.sqrt(math.pi / 2) * special.erfc(r / math.sqrt(2))
    areas = x[1:-1] * (f(x[2:]) - f(x[1:-1]))
    np.testing.assert_allclose(areas, base, rtol=1e-8)
    assert x[0] * f(r) == pytest.approx(base, rel=1e-15)
    assert np.all(np.diff(x) < 0) and x[-1] == 0.0


def test_ziggurat_bins_and_tail_follow_the_normal_law():
    # 4·10⁶ draws over 5 paths.  A binned χ² over 200 bins of [−4, 4] (α = 1e-4), and
    # the counts beyond R = 3.44 (drawn by the tail loop) and beyond 2 (partly by
    # wedges) within 4.5 standard deviations of their binomial means (α ≈ 7e-6 each).
    n, paths = 800_000, 5
    xi = np.empty(n * paths)
    for path in range(paths):
        R.fill_normals(xi[path * n : (path + 1) * n], 2718, path, 3, 1)
    edges = np.linspace(-4.0, 4.0, 201)
    counts, _ = np.histogram(xi, edges)
    p = np.diff(stats.norm.cdf(edges))
    assert stats.chisquare(counts, p / p.sum() * counts.sum()).pvalue > 1e-4
    for c in (2.0, _random.ZIGGURAT_R, 4.0):
        p_c = 2 * stats.norm.sf(c)
        expected = p_c * xi.size
        sd = math.sqrt(xi.size * p_c * (1 - p_c))
        assert abs(np.count_nonzero(np.abs(xi) > c) - expected) < 4.5 * sd
    # the tail is symmetric and reaches beyond R
    assert np.count_nonzero(xi > 4.0) > 0 and np.count_nonzero(xi < -4.0) > 0


def test_lanes_draw_the_normals_of_their_own_paths():
    # fill_normals_lanes (the batches' one-pass draw) equals fill_normals path by
    # path, bit for bit, over enough draws that rejected candidates (wedges, tail:
    # 1.2 % of words) occur in many lanes; 5 coordinates: an odd one left over.
    paths = np.array([0, 1, 7, 2**32 - 1] + list(range(100, 128)), dtype=np.uint64)
    lanes = np.empty((5, paths.size))
    one = np.empty(5)
    for k in range(1, 41):
        R.fill_normals_lanes(lanes, 99, paths, k, 3)
        for lane, path in enumerate(paths):
            R.fill_normals(one, 99, int(path), k, 3)
            np.testing.assert_array_equal(lanes[:, lane], one)


def test_noise_dimension_limit_is_one_line():
    with pytest.raises(odeopt.errors.InputError, match="at most 33554432 coordinates"):
        get_noise("iso").bind(_random.MAX_DIM + 1, sigma=1.0)


def one_step_noise(noise, surface, theta0, n_paths, lr=1e-3, **kwargs):
    """Samples of the gradient noise at theta0, read off one gd step per path."""
    bound = get_surface(surface).bind(len(theta0), **kwargs.pop("surface_params", {}))
    starts = np.tile(theta0, (n_paths, 1))
    batch = odeopt.run_batch(
        "gd", bound, starts, [{"lr": lr}], steps=1, noise=noise, seed=2024, **kwargs
    )
    theta1 = batch.final_theta[0]
    return (theta0 - theta1) / lr - bound.grad(theta0), bound


@pytest.mark.parametrize(
    ("noise", "batch_size", "surface_params"),
    [
        ("iso:0.7", 1, {}),
        ("iso:0.7", 4, {}),
        ("diag:0.2,1.5,0.6", 2, {}),
        ("hessian:0.5", 3, {"rotate": 4, "kappa": 20.0}),
    ],
)
def test_noise_covariance_is_sigma_over_batch(noise, batch_size, surface_params):
    theta0 = np.array([0.3, -0.7, 1.1])
    n_paths = 40_000
    samples, bound = one_step_noise(
        noise, "quadratic", theta0, n_paths, batch_size=batch_size,
        surface_params=surface_params,
    )  # fmt: skip
    model = get_noise(noise.split(":")[0]).parse(noise, 3, batch_size)
    expected = model.covariance(theta0, bound.hess)
    # The covariance Σ/B from the model's formula (independent of the kernel);
    # each entry of the sample covariance within 5 standard errors, α ≈ 6e-7 each
    # (Var of a Gaussian sample covariance: (Σ_ii Σ_jj + Σ_ij²)/n).
    measured = np.cov(samples.T)
    se = np.sqrt(
        (np.outer(np.diag(expected), np.diag(expected)) + expected**2) / n_paths
    )
    assert np.all(np.abs(measured - expected) <= 5 * se + 1e-12), (measured, expected)
    assert np.all(
        np.abs(samples.mean(axis=0)) < 5 * np.sqrt(np.diag(expected) / n_paths)
    )


def test_ou_stationary_variance_of_noisy_gd():
    # GD with noise on ½aθ²: θ' = (1 − ηa)θ − ησξ/√B, an AR(1) whose stationary
    # variance is ησ²/(B a(2 − ηa)) exactly (the SDE's ησ²/(2aB) to first order).
    a, lr, sigma, batch = 2.0, 0.25, 0.8, 2
    n_paths = 20_000
    result = odeopt.run_batch(
        "gd", "quadratic", np.zeros((n_paths, 1)), [{"lr": lr}], steps=200,
        dim=1, surface_params={"eigenvalues": (a,)}, noise=f"iso:{sigma}",
        batch_size=batch, seed=11,
    )  # fmt: skip
    expected = lr * sigma**2 / (batch * a * (2 - lr * a))
    measured = result.final_theta[0, :, 0].var(ddof=1)
    # Var of a sample variance of n Gaussians: 2σ⁴/(n−1); 5 standard errors.
    assert abs(measured - expected) < 5 * expected * math.sqrt(2 / (n_paths - 1))


# One of each way a step meets the noise: one gradient (gd), a gradient at a
# look-ahead point (nesterov), state fed by noisy gradients (adam), two evaluations
# per step, each with its own normals (heun).  Each costs two cold compiles.
OPTIMIZERS = ["gd", "nesterov", "adam", "heun"]


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_single_run_equals_its_path_in_a_batch(optimizer):
    rng = np.random.default_rng(5)
    starts = rng.uniform(-1.0, 1.0, size=(37, 2))
    hp = {"lr": 1e-3} | ({"momentum": 0.9} if optimizer != "gd" else {})
    hp = {"lr": 1e-3} if optimizer not in ("momentum", "nesterov") else hp
    batch = odeopt.run_batch(
        optimizer, "rosenbrock", starts, [hp], steps=300, noise="iso:2.0", seed=99
    )
    for s in (0, 17, 36):
        single = odeopt.run(
            optimizer, "rosenbrock", x0=starts[s], steps=300, noise="iso:2.0",
            seed=99, path=s, **hp,
        )  # fmt: skip
        np.testing.assert_array_equal(batch.final_theta[0, s], single.theta[-1])
        assert single.meta["seed"] == 99 and single.meta["path"] == s
    noiseless = odeopt.run(optimizer, "rosenbrock", x0=starts[0], steps=300, **hp)
    assert not np.array_equal(noiseless.theta[-1], batch.final_theta[0, 0])


@pytest.mark.parametrize("dim", [2, 3, 20])
def test_noisy_batch_same_bits_on_any_thread_count_and_split(dim, monkeypatch):
    from odeopt import stepper

    rng = np.random.default_rng(1)
    starts = rng.uniform(-1, 1, size=(70, dim))
    sets = [{"lr": 1e-2, "momentum": 0.5}, {"lr": 2e-2, "momentum": 0.8}]

    def batch():
        return odeopt.run_batch(
            "momentum", "quadratic", starts, sets, steps=200, dim=dim,
            noise="hessian:0.3", seed=3,
        ).final_theta  # fmt: skip

    reference = batch()
    for threads, per_thread in ((1, 1), (2, 7)):
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
        monkeypatch.setattr(stepper, "_TASKS_PER_THREAD", per_thread)
        np.testing.assert_array_equal(batch(), reference)
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)


def test_seed_changes_the_noise_and_not_the_mean():
    runs = [
        odeopt.run("gd", "booth", steps=50, noise="iso:1", seed=s, lr=0.01)
        for s in (1, 2)
    ]
    assert not np.array_equal(runs[0].theta[-1], runs[1].theta[-1])
    assert runs[0].meta["noise"]["model"] == "iso"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"noise": "iso:-1"}, "sigma must be finite and >= 0"),
        ({"noise": "iso:0.5", "batch_size": 0}, "batch size must be >= 1"),
        ({"noise": "iso:0.5", "batch_size": 1.5}, "batch size must be a whole"),
        ({"noise": "diag:0.1"}, "give 2 standard deviations"),
        ({"noise": "isotropic:0.5"}, "unknown noise 'isotropic'"),
        ({"noise": "iso"}, "noise iso needs sigma"),
        ({"batch_size": 4}, "batch_size needs a noise model"),
        ({"noise": "iso:1", "seed": -1}, "seed must be in"),
        ({"noise": "iso:1", "path": 2**40}, "path must be in"),
    ],
)
def test_bad_noise_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        odeopt.run("gd", "booth", steps=5, lr=0.01, **kwargs)


def test_batch_paths_must_match_the_starts():
    with pytest.raises(RunError, match="one path per start"):
        odeopt.run_batch("gd", "booth", np.zeros((3, 2)), [{"lr": 0.1}], steps=2,
                         noise="iso:1", paths=[0, 1])  # fmt: skip
