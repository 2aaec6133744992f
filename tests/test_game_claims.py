"""Claims C20–C24 (post 四: GAN dynamics, after Mescheder, Geiger & Nowozin 2018) on
the Dirac GAN and the bilinear game, computed: the flows by ``scipy.integrate``
(RK45, the post's integrator, at tight tolerances), the discrete methods by
``odeopt.run``; the post's numbers are what the computations must round to.

Start: the post's code's (φ₁, φ₂, θ₁, θ₂) = (0.1, 0.2, 0.2, 0.1), odeopt's
(θ, φ) = (0.2, 0.1, 0.1, 0.2), the Dirac GAN surfaces' default start.
"""

import math

import numpy as np
import pytest
import scipy.linalg

import odeopt
from odeopt import games
from odeopt.registry import get_surface


def sigmoid(z):
    return 1.0 / (1.0 + math.exp(-z))


# -- C20: only the zero-centred gradient penalty converges -------------------------------
def test_c20_non_saturating_energy_decreases_but_the_flow_keeps_circling():
    s = get_surface("dirac-gan-ns").bind()
    times = np.linspace(0.0, 100.0, 20_001)
    path = games.flow(s, s.x0, times)
    energy = 0.5 * np.sum(path**2, axis=1)
    # 0.0500 → 0.0336, non-increasing (to the integrator's tolerance)
    assert round(energy[0], 4) == 0.05
    assert round(energy[-1], 4) == 0.0336
    assert np.all(np.diff(energy) <= 1e-12)
    # dE/dt = z(1 − 2σ(z)) ≤ 0, z = θ·φ: the field's own derivative of E
    for x in path[::997]:
        z = x[:2] @ x[2:]
        assert x @ -s.grad(x) == pytest.approx(z * (1 - 2 * sigmoid(z)), abs=1e-15)
    # ‖θ‖ keeps oscillating within [0.131, 0.231] in the last quarter
    late = np.linalg.norm(path[times >= 75.0, :2], axis=1)
    assert (round(late.min(), 3), round(late.max(), 3)) == (0.131, 0.231)
    # the linearisation at 0: purely imaginary ±i/2 (θ̈ = −θ/4), no damping
    eigenvalues = np.linalg.eigvals(-s.hess(np.zeros(4)))
    np.testing.assert_allclose(np.sort(eigenvalues.imag), [-0.5, -0.5, 0.5, 0.5])
    np.testing.assert_allclose(eigenvalues.real, 0.0, atol=1e-15)


def test_c20_wgan_gp_zero_centred_is_a_damped_oscillator():
    lam = 0.1
    s = get_surface("dirac-gan-wgan-gp").bind(lam=lam, c=0.0)
    eigenvalues = np.linalg.eigvals(-s.hess(np.zeros(4)))
    # θ̈ + 2λθ̇ + θ = 0: −λ ± i√(1 − λ²), the post's −0.1 ± 0.99499i
    expected = complex(-lam, math.sqrt(1 - lam * lam))
    for e in eigenvalues:
        assert e.real == pytest.approx(expected.real, abs=1e-15)
        assert abs(e.imag) == pytest.approx(expected.imag, rel=1e-15)
    assert (round(expected.real, 5), round(expected.imag, 5)) == (-0.1, 0.99499)
    # the flow is that linear system's: exp(−Jt)z₀
    times = np.linspace(0.0, 40.0, 5)
    path = games.flow(s, s.x0, times)
    for t, z in zip(times, path, strict=True):
        exact = scipy.linalg.expm(-s.hess(np.zeros(4)) * t) @ s.x0
        np.testing.assert_allclose(z, exact, atol=1e-9)
    # it converges at the rate e^{−λt}: with J = VΛV⁻¹, ‖z(t)‖ lies within a factor
    # cond(V) of e^{−λt}‖z₀‖
    _, vectors = np.linalg.eig(-s.hess(np.zeros(4)))
    spread = np.linalg.cond(vectors)
    envelope = math.exp(-lam * 40.0) * np.linalg.norm(s.x0)
    assert envelope / spread <= np.linalg.norm(path[-1]) <= envelope * spread


def test_c20_wgan_gp_centred_at_one_settles_on_a_circle():
    s = get_surface("dirac-gan-wgan-gp").bind(lam=0.1, c=1.0)
    times = np.linspace(0.0, 400.0, 4001)
    path = games.flow(s, s.x0, times)
    theta = np.linalg.norm(path[:, :2], axis=1)
    phi = np.linalg.norm(path[:, 2:], axis=1)
    # a limit cycle with ‖θ‖ ≈ ‖φ‖ ≈ 1, reached by T = 40 and kept
    late = times >= 40.0
    assert np.all(np.abs(theta[late] - 1.0) < 0.05)
    assert np.all(np.abs(phi[late] - 1.0) < 0.05)
    assert abs(theta[-1] - 1.0) < 1e-3 and abs(phi[-1] - 1.0) < 1e-3


def test_c20_gan_qp_and_wgan_only_oscillate():
    s = get_surface("dirac-gan-qp").bind(lam=1.0)
    times = np.linspace(0.0, 40.0, 4001)
    theta = np.linalg.norm(games.flow(s, s.x0, times)[:, :2], axis=1)
    assert round(theta[-1], 2) == 0.17  # the post's ‖θ‖ ≈ 0.17 at T = 40
    assert theta[times >= 30.0].min() > 0.1  # no decay
    w = get_surface("dirac-gan-wgan").bind()
    times = np.linspace(0.0, 40.0, 4001)
    theta = np.linalg.norm(games.flow(w, w.x0, times)[:, :2], axis=1)
    assert theta[times >= 30.0].max() > 0.1


# -- C21: the unit-norm WGAN flow never converges -----------------------------------------
def test_c21_wgan_generator_moves_at_unit_speed():
    s = get_surface("dirac-gan-wgan").bind()
    times = np.linspace(0.0, 10.0, 1001)
    path = games.flow(s, s.x0, times)
    speeds = [np.linalg.norm(-s.grad(x)[:2]) for x in path]
    np.testing.assert_allclose(speeds, 1.0, rtol=1e-14)
    # so the generator's path over [0, 10] has length 10
    length = np.sum(np.linalg.norm(np.diff(path[:, :2], axis=0), axis=1))
    assert length == pytest.approx(10.0, rel=1e-4)


# -- C22: an L2 penalty on the discriminator induces convergence --------------------------
@pytest.mark.parametrize("mu", [0.1, 0.5, 2.5])
def test_c22_l2_penalty_moves_the_eigenvalues_left(mu):
    s = get_surface("bilinear-game").bind(mu=mu)
    eigenvalues = np.sort_complex(np.linalg.eigvals(-s.hess(np.zeros(2))))
    # θ̈ + μθ̇ + θ = 0: the roots of s² + μs + 1
    np.testing.assert_allclose(eigenvalues, np.sort_complex(np.roots([1, mu, 1])),
                               atol=1e-14)  # fmt: skip
    assert np.all(eigenvalues.real < 0)
    unpenalised = np.linalg.eigvals(
        -get_surface("bilinear-game").bind().hess(np.zeros(2))
    )
    np.testing.assert_allclose(unpenalised.real, 0.0, atol=1e-15)
    # in the Dirac GAN the same penalty (= R1 there) damps the non-saturating field
    ns = np.linalg.eigvals(
        -get_surface("dirac-gan-ns").bind(gamma=mu).hess(np.zeros(4))
    )
    assert np.all(ns.real < 0)


# -- C23: weight EMA recovers the oscillation's centre -------------------------------------
def test_c23_ema_of_alternating_gda_ends_near_the_equilibrium():
    h, decay, steps = 0.1, 0.999, 20_000
    traj = odeopt.run("alternating-gda", "bilinear-game", lr=h, steps=steps,
                      record_every=1)  # fmt: skip
    average = games.ema(traj.theta, decay)
    distance = float(np.linalg.norm(average[-1]))
    radius = float(np.linalg.norm(traj.theta[-1]))
    assert round(distance, 4) == 0.0102 and round(radius, 2) == 0.98
    # the low-pass filter: an oscillation of ω per step (cos ω = 1 − h²/2, the
    # alternating map's eigenvalues e^{±iω}) is attenuated by |(1−α)/(1−αe^{−iω})|
    omega = math.acos(1 - h * h / 2)
    attenuation = abs((1 - decay) / (1 - decay * np.exp(-1j * omega)))
    radii = np.linalg.norm(traj.theta[-1000:], axis=1)
    assert radii.min() * attenuation * 0.9 < distance < radii.max() * attenuation * 1.1


# -- C24: simultaneous GDA spirals out, alternating GDA is bounded --------------------------
def test_c24_simultaneous_radius_grows_by_the_closed_form_factor():
    h, n = 0.1, 100
    traj = odeopt.run("gda", "bilinear-game", lr=h, steps=n, record_every=1)
    radius = np.linalg.norm(traj.theta, axis=1)
    np.testing.assert_allclose(radius, (1 + h * h) ** (np.arange(n + 1) / 2),
                               rtol=1e-13)  # fmt: skip
    assert round(radius[-1], 4) == round(1.01**50, 4) == 1.6446


def test_c24_alternating_conserves_its_invariant():
    h, n = 0.1, 100_000
    traj = odeopt.run("alternating-gda", "bilinear-game", lr=h, steps=n, record_every=1)
    x, y = traj.theta.T
    invariant = x * x + y * y - h * x * y
    # to rounding: 10⁵ steps of a few roundings each on a quantity of size 1
    assert np.abs(invariant - invariant[0]).max() < 1e-11
    assert np.linalg.norm(traj.theta, axis=1).max() < 1.1
