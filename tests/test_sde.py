"""SGD as an SDE, in closed form on linear problems (odeopt.sde).

Expected values are the Ornstein–Uhlenbeck closed forms (AR(1) and AR(2) stationary
variances, the SDEs' ησ²/(2a) and Kramers' ησ²/(2a(1−β))) and, for the engine
itself, Monte-Carlo runs of odeopt.run_batch at a stated significance.
"""

import math

import numpy as np
import pytest
from scipy import stats

import odeopt
from odeopt import sde
from odeopt.registry import get_noise, get_optimizer, get_surface


def ou(a, sigma, batch):
    surface = get_surface("quadratic").bind(1, eigenvalues=(a,))
    return surface, get_noise("iso").parse(f"iso:{sigma}", 1, batch)


def stationary_sgd(lr, batch, a=2.0, sigma=0.5, steps=20_000):
    surface, noise = ou(a, sigma, batch)
    bound = get_optimizer("gd").bind(surface, lr=lr)
    moments = sde.sgd_moments(bound, surface, noise, [1.0], steps)
    sme = sde.sde_moments("sme1", bound, surface, noise, [1.0], moments.t[-1:])
    return moments.covariance[-1, 0, 0], sme.covariance[-1, 0, 0]


@pytest.mark.parametrize("lr_a", [0.5, 0.1, 0.01])
def test_ou_stationary_variance_of_sgd_and_its_sde(lr_a):
    a, sigma, batch = 2.0, 0.5, 4
    lr = lr_a / a
    discrete, continuous = stationary_sgd(lr, batch, a, sigma)
    # AR(1): θ' = (1 − ηa)θ − ησξ/√B
    np.testing.assert_allclose(discrete, lr * sigma**2 / (batch * a * (2 - lr_a)),
                               rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(continuous, lr * sigma**2 / (2 * a * batch), rtol=1e-12)
    np.testing.assert_allclose(discrete / continuous, 1 / (1 - lr_a / 2), rtol=1e-12)


def test_batch_size_and_learning_rate_set_the_temperature():
    # (η, B) and (2η, 2B) have one SDE; (η, 2B) has half its variance.
    lr, batch, a = 0.02, 4, 2.0
    base = stationary_sgd(lr, batch, a)
    both = stationary_sgd(2 * lr, 2 * batch, a)
    bigger_batch = stationary_sgd(lr, 2 * batch, a)
    np.testing.assert_allclose(both[1], base[1], rtol=1e-12)
    np.testing.assert_allclose(bigger_batch[1], base[1] / 2, rtol=1e-12)
    np.testing.assert_allclose(bigger_batch[0], base[0] / 2, rtol=1e-12)
    # the discrete ones agree to O(ηa): (2 − ηa)/(2 − 2ηa) apart
    np.testing.assert_allclose(both[0] / base[0], (2 - lr * a) / (2 - 2 * lr * a),
                               rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize(("lr", "beta"), [(1e-2, 0.9), (1e-3, 0.9), (1e-4, 0.99)])
def test_heavy_ball_sgd_against_kramers(lr, beta):
    a, sigma, batch = 1.0, 0.5, 1
    surface, noise = ou(a, sigma, batch)
    bound = get_optimizer("momentum").bind(surface, lr=lr, momentum=beta)
    # long enough for e^{−λt/2}-decay below rounding: λ/2 per unit of t = k√η
    steps = int(80 / ((1 - beta) / 2))
    moments = sde.sgd_moments(bound, surface, noise, [1.0], steps)
    # AR(2): θ_k = φ₁θ_{k−1} + φ₂θ_{k−2} + e_k, φ₁ = 1 + β − ηa, φ₂ = −β, σ_e² = η²σ²
    phi1, phi2, var_e = 1 + beta - lr * a, -beta, lr**2 * sigma**2 / batch
    ar2 = (1 - phi2) * var_e / ((1 + phi2) * ((1 - phi2) ** 2 - phi1**2))
    np.testing.assert_allclose(moments.covariance[-1, 0, 0], ar2, rtol=1e-9)
    temperature = lr * sigma**2 / (2 * batch * (1 - beta))
    kramers = sde.sde_moments("kramers", bound, surface, noise, [1.0],
                              np.array([steps * math.sqrt(lr)]))  # fmt: skip
    np.testing.assert_allclose(kramers.covariance[-1, 0, 0], temperature / a, rtol=1e-9)
    # their ratio, 2(1+β)/(2(1+β) − ηa) by algebra on the AR(2) form: 1 + O(η)
    ratio = moments.covariance[-1, 0, 0] / kramers.covariance[-1, 0, 0]
    np.testing.assert_allclose(ratio, 1 / (1 - lr * a / (2 * (1 + beta))), rtol=1e-9)


@pytest.mark.parametrize(
    ("model", "optimizer", "hp", "declared"),
    [
        ("sme1", "gd", {"lr": 0.1}, 1),
        ("sme2", "gd", {"lr": 0.1}, 2),
        ("kramers", "momentum", {"lr": 0.01, "momentum": 0.9}, 1),
    ],
)
def test_weak_orders_from_exact_moments(model, optimizer, hp, declared):
    # Hessian-shaped noise on a rotated quadratic: SME1 and gradient flow both give
    # weak order 1, and only SME2, which models the noise, gives 2.
    surface = get_surface("quadratic").bind(2, kappa=4.0, rotate=1)
    noise = get_noise("hessian").parse("hessian:0.5", 2, 1)
    bound = get_optimizer(optimizer).bind(surface, **hp)
    result = sde.weak_order(model, bound, surface, noise, horizon=2.0, levels=6)
    assert abs(result.fitted_order - declared) < 0.1, result.table()
    assert np.all(np.diff(result.error) < 0)


def test_discrete_moments_match_the_engine():
    # 4000 noisy heavy-ball paths from odeopt.run_batch against the exact moments
    # at step 60: each coordinate's mean within 5 standard errors (α ≈ 6e-7) and
    # its variance by a two-sided χ² test at α = 1e-6.
    surface = get_surface("quadratic").bind(2, eigenvalues=(1.0, 3.0))
    noise = get_noise("iso").parse("iso:0.8", 2, 2)
    hp = {"lr": 0.05, "momentum": 0.8}
    n_paths, steps = 4000, 60
    x0 = np.array([1.0, -0.5])
    batch = odeopt.run_batch("momentum", surface, np.tile(x0, (n_paths, 1)), [hp],
                             steps=steps, noise=noise, seed=5)  # fmt: skip
    final = batch.final_theta[0]
    bound = get_optimizer("momentum").bind(surface, **hp)
    exact = sde.sgd_moments(bound, surface, noise, x0, steps)
    mean, cov = exact.mean[-1], exact.covariance[-1]
    for i in range(2):
        se = math.sqrt(cov[i, i] / n_paths)
        assert abs(final[:, i].mean() - mean[i]) < 5 * se
        statistic = (n_paths - 1) * final[:, i].var(ddof=1) / cov[i, i]
        low, high = stats.chi2.ppf([0.5e-6, 1 - 0.5e-6], n_paths - 1)
        assert low < statistic < high


def test_nonlinear_problems_are_refused():
    surface = get_surface("rosenbrock").bind()
    noise = get_noise("iso").parse("iso:0.1", 2, 1)
    bound = get_optimizer("gd").bind(surface, lr=1e-3)
    with pytest.raises(sde.LinearityError, match="no affine gradient"):
        sde.sgd_moments(bound, surface, noise, surface.x0, 5)
    quadratic = get_surface("quadratic").bind(2)
    adam = get_optimizer("adam").bind(quadratic, lr=1e-3)
    with pytest.raises(sde.LinearityError, match="sgd family"):
        sde.sgd_moments(adam, quadratic, noise, quadratic.x0, 5)


def expected_loss(moments, A):
    """E[½θᵀAθ] = ½ tr(A E[θθᵀ])."""
    return 0.5 * np.einsum("ij,nji->n", A, moments.second_moment)


def test_linear_rule_keeps_the_sde():
    # E[L(t)] of (η, B) and (2η, 2B) at the same times differ by O(η): halving η
    # halves the gap (weak order 1 of both against one SME).
    surface = get_surface("quadratic").bind(2, eigenvalues=(1.0, 4.0))
    A = surface.hess(np.zeros(2))
    noise_model = get_noise("iso")
    gaps = []
    for lr in 2.0 ** -np.arange(4, 10):  # t = 0, 0.5, ... on both grids
        curves = []
        for hp, batch in ({"lr": lr}, 2), odeopt.scaling.linear_rule({"lr": lr}, 2, 2):
            bound = get_optimizer("gd").bind(surface, **hp)
            noise = noise_model.parse("iso:1.0", 2, batch)
            steps = round(2.0 / hp["lr"])
            moments = sde.sgd_moments(bound, surface, noise, [1.0, 1.0], steps)
            every = round(0.5 / hp["lr"])  # t = 0, 0.5, 1, 1.5, 2
            curves.append(expected_loss(moments, A)[::every])
        gaps.append(np.abs(curves[0] - curves[1]).max())
    orders = np.log2(np.array(gaps[:-1]) / gaps[1:])
    # approaching 1 from below as ηλ_max falls from 1/4 to 1/128
    assert np.all(np.diff(orders) > 0) and abs(orders[-1] - 1) < 0.02, orders


def test_svag_converges_to_the_sde_at_rate_one_over_ell_squared():
    surface = get_surface("quadratic").bind(2, eigenvalues=(1.0, 4.0))
    A = surface.hess(np.zeros(2))
    noise = get_noise("iso").parse("iso:1.0", 2, 1)
    hp, horizon = {"lr": 0.1}, 1.0
    reference = sde.sde_moments("sme1", get_optimizer("gd").bind(surface, **hp),
                                surface, noise, [1.0, 1.0], np.array([horizon]))  # fmt: skip
    errors = []
    for ell in (2, 4, 8, 16):
        scaled_hp, scaled_noise = odeopt.scaling.svag(hp, noise, ell)
        bound = get_optimizer("gd").bind(surface, **scaled_hp)
        steps = round(horizon / scaled_hp["lr"])
        moments = sde.sgd_moments(bound, surface, scaled_noise, [1.0, 1.0], steps)
        # the SDE itself does not change with ℓ ...
        same = sde.sde_moments("sme1", bound, surface, scaled_noise, [1.0, 1.0],
                               np.array([horizon]))  # fmt: skip
        np.testing.assert_allclose(same.covariance, reference.covariance, rtol=1e-12)
        errors.append(
            abs(expected_loss(moments, A)[-1] - expected_loss(reference, A)[0])
        )
    # ... and SGD approaches it as η/ℓ²
    orders = np.log(np.array(errors[:-1]) / errors[1:]) / np.log(4)
    # approaching 1 (in ℓ⁻²) from below
    assert np.all(np.diff(orders) > 0) and abs(orders[-1] - 1) < 0.02, orders


def test_scaling_rules_move_the_hyperparameters_as_published():
    hp = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    new, batch = odeopt.scaling.square_root_rule(hp, 32, 4)
    assert batch == 128
    np.testing.assert_allclose(
        [new["lr"], 1 - new["beta1"], 1 - new["beta2"], new["eps"]],
        [2e-3, 4 * 0.1, 4 * 0.001, 0.5e-8],
        rtol=1e-12,
    )
    with pytest.raises(odeopt.errors.InputError, match="outside"):
        odeopt.scaling.square_root_rule(hp, 32, 20)
    with pytest.raises(odeopt.errors.InputError, match="whole number"):
        odeopt.scaling.linear_rule({"lr": 0.1}, 3, 0.5)
    plus, minus = odeopt.scaling.svag_weights(3.0)
    np.testing.assert_allclose(
        [plus + minus, plus**2 + minus**2], [1.0, 9.0], rtol=1e-14
    )


def gibbs(temperature, height=1.0):
    """The density ∝ exp(−L/T) of the double well, L = h(x² − 1)², normalised by
    quadrature, and its CDF."""
    from scipy import integrate

    def density(x):
        return np.exp(-height * (x * x - 1) ** 2 / temperature)

    quad = {"epsabs": 0, "epsrel": 1e-11, "limit": 200}
    total = integrate.quad(density, -4, 4, **quad)[0]

    def cdf(xs):
        return np.array([integrate.quad(density, -4, x, **quad)[0] for x in xs]) / total

    return density, total, cdf


def noisy_double_well(lr, temperature, batch, n_paths=4000, horizon=40.0, seed=3):
    """SGD iterates at t = horizon from x = 1.5, with σ set so that the SDE's
    temperature ησ²/(2B) is ``temperature``."""
    sigma = math.sqrt(2 * batch * temperature / lr)
    result = odeopt.run_batch(
        "gd", "double-well", np.full((n_paths, 1), 1.5), [{"lr": lr}],
        steps=round(horizon / lr), noise=f"iso:{sigma}", batch_size=batch, seed=seed,
    )  # fmt: skip
    assert np.all(result.status == "max_steps")
    return result.final_theta[0, :, 0]


def test_sgd_iterates_follow_the_gibbs_density():
    # C3: T = ησ²/(2B) = 0.5 hops the barrier h = 1 often (Kramers time ≈ 8 < 40),
    # so 4000 independent paths sample the stationary law; the discrete law differs
    # from exp(−2BL/(ησ²)) by O(η), far below the test's resolution at η = 0.002.
    # Kolmogorov–Smirnov at α = 1e-3.
    x = noisy_double_well(lr=0.002, temperature=0.5, batch=1)
    assert stats.kstest(x, gibbs(0.5)[2]).pvalue > 1e-3
    # the posts' exp(−L/σ²)-type law without the factor 2 is refused
    assert stats.kstest(x, gibbs(1.0)[2]).pvalue < 1e-6


def right_well_variance(temperature):
    """The Gibbs law's variance of x given x > 0 (quadrature)."""
    from scipy import integrate

    density = gibbs(temperature)[0]
    mass = integrate.quad(density, 0, 4)[0]
    mean = integrate.quad(lambda s: s * density(s), 0, 4)[0] / mass
    return integrate.quad(lambda s: (s - mean) ** 2 * density(s), 0, 4)[0] / mass


def test_a_bigger_batch_cools_the_wells():
    # Inside a well the law settles in t ~ 1/L''(1) = 1/8: the spread of x around
    # the minimum at 1, for (η, B) and (η, 2B), against the Gibbs densities' own.
    spreads = []
    for batch in (1, 2):
        temperature = 0.25 / batch
        x = noisy_double_well(lr=0.002, temperature=temperature, batch=batch,
                              n_paths=2000, horizon=4.0)  # fmt: skip
        right = x[x > 0]
        var = right_well_variance(temperature)
        print(
            batch,
            right.size,
            right.var(),
            var,
            (right.var() - var) / (var * math.sqrt(2 / right.size)),
        )
        spreads.append(right.var())
    assert spreads[1] < 0.6 * spreads[0]  # halving T about halves the spread
