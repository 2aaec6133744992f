"""Claims about noisy optimizers not covered elsewhere: saddle escape in
O(log 1/σ) steps, and finite-sum SGD against its Gaussian diffusion model.

(C3, C4 and C12 are asserted in tests/test_sde.py.)  Stochastic tests state their
significance level α.
"""

import math

import numpy as np
from scipy import linalg

import odeopt
from odeopt.noise import minibatch
from odeopt.registry import get_surface

# E[ln|Z|] for Z ~ N(0, 1): −(γ + ln 2)/2, and its standard deviation π/√8.
MEAN_LOG_ABS_NORMAL = -(np.euler_gamma + math.log(2.0)) / 2
SD_LOG_ABS_NORMAL = math.pi / math.sqrt(8.0)


def test_noise_leaves_the_saddle_in_log_one_over_sigma_steps():
    # gd on x² − y² from the saddle point: y_k = −ησ Σ_j (1 + 2η)^(k−1−j) ξ_j, so
    # |y_k| ≈ (1 + 2η)^k ησ s |Z| with s² = 1/((1 + 2η)² − 1), Z ~ N(0, 1): the
    # first k with |y_k| > 1 is about (ln(1/(ησs)) − ln|Z|)/ln(1 + 2η), whose mean
    # grows like ln(1/σ)/ln(1 + 2η).
    lr, paths = 0.01, 2000
    growth = math.log1p(2 * lr)
    s = 1 / math.sqrt((1 + 2 * lr) ** 2 - 1)
    means = []
    for sigma in (1e-2, 1e-4, 1e-6, 1e-8):
        batch = odeopt.run_batch(
            "gd",
            "saddle",
            np.zeros((paths, 2)),
            [{"lr": lr}],
            steps=5000,
            max_norm=1.0,
            noise=f"iso:{sigma}",
            seed=4,
        )
        assert np.all(batch.status == "diverged")
        steps = batch.steps_done[0]
        predicted = (math.log(1 / (lr * sigma * s)) - MEAN_LOG_ABS_NORMAL) / growth
        # the mean within 5 standard errors (α ≈ 6e-7), plus one step for the
        # first passage landing on a whole step
        se = SD_LOG_ABS_NORMAL / growth / math.sqrt(paths)
        assert abs(steps.mean() - predicted) < 5 * se + 1.0, (sigma, steps.mean())
        means.append(steps.mean())
    slope = np.polyfit(np.log(1 / np.array([1e-2, 1e-4, 1e-6, 1e-8])), means, 1)[0]
    assert abs(slope * growth - 1) < 0.02


def test_finite_sum_sgd_matches_its_gaussian_diffusion():
    # SGD with minibatches drawn with replacement on least squares, near the
    # minimum θ̂: the gradient noise has covariance Σ(θ̂)/B to first order, so
    # θ_k − θ̂ is about the linear recursion e ← (I − ηA)e − η ε with
    # Cov ε = Σ(θ̂)/B, whose stationary covariance solves P = M P Mᵀ + η²Σ/B.
    # The ensemble's covariance agrees with P up to O(η) (the covariance's
    # dependence on θ) and the sampling error (20 000 paths: about 1 %).
    surface = get_surface("least-squares").bind(2, n=64, seed=2, noise=1.0)
    theta_hat = surface.minima[0].theta
    lr, batch, paths = 0.02, 4, 20_000
    A = surface.hess(theta_hat)
    Q = minibatch.gradient_covariance(surface, theta_hat, batch, replacement=True)
    M = np.eye(2) - lr * A
    P = linalg.solve_discrete_lyapunov(M, lr**2 * Q)
    steps = int(10 / (lr * np.linalg.eigvalsh(A)[0]))  # variance deficit e^-20
    result = odeopt.run_batch(
        "gd",
        surface,
        np.tile(theta_hat, (paths, 1)),
        [{"lr": lr}],
        steps=steps,
        noise="minibatch:1",
        batch_size=batch,
        seed=12,
    )
    error = result.final_theta[0] - theta_hat
    sample = np.cov(error.T)
    # each variance within 6 % (sampling ≈ 1 %, the O(η) model error a few %)
    np.testing.assert_allclose(np.diag(sample), np.diag(P), rtol=0.06)
    # the mean excess loss ½ tr(A P) likewise
    excess = result.final_loss[0].mean() - surface.minima[0].value
    assert abs(excess / (0.5 * np.trace(A @ P)) - 1) < 0.06
