"""Claims C6–C9, C17, C18 and C40 of the ODE view, shown on the discrete optimizers.

Each test runs the jitted PyTorch-exact steppers and compares what they do with a
prediction computed independently in the test: a closed form (Polyak's and GD's
rates, characteristic roots, the AdaGrad invariant, the fixed points of RMSprop's
2-cycle), or plain NumPy/SciPy (an ODE solved with ``solve_ivp``, the periodic orbit
of a piecewise-linear map solved with ``numpy.linalg.solve``).  Numbers quoted
in the literature appear only in comments, for comparison.
"""

import itertools
import math

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import odeopt

EPS = np.finfo(float).eps


def quadratic(optimizer, eigenvalues, x0, steps, **hp):
    """Every step of ``optimizer`` on ½θᵀdiag(eigenvalues)θ."""
    return odeopt.run(
        optimizer,
        "quadratic",
        x0=x0,
        steps=steps,
        record_every=1,
        surface_params={"eigenvalues": tuple(eigenvalues)},
        **hp,
    )


# -- C6: heavy ball versus GD at κ = 100 ------------------------------------------------

MU, L_MAX = 1.0, 100.0
KAPPA = L_MAX / MU


def steps_to_reduce(norms, factor):
    """The first step whose error norm is at most ``norms[0] / factor``."""
    below = np.flatnonzero(norms <= norms[0] / factor)
    assert below.size, "the error was never reduced enough"
    return int(below[0])


def test_c6_gd_contracts_at_its_optimal_rate():
    """C6 (GD half): at η* = 2/(μ+L) on κ = 100, GD's error contracts per step by
    exactly (κ−1)/(κ+1), and a 10⁶ reduction takes ⌈ln 10⁶ / ln((κ+1)/(κ−1))⌉ steps.

    Both coordinates are multiplied by 1 − η*λ = ±(κ−1)/(κ+1) each step, so the norm
    ratio is the rate at every step; the only error is rounding, ≈ k·ε ≈ 1e-13 in
    ‖e_600‖ and less after the 300th root, hence rtol 1e-12.  Brief: rate 0.980198, 691 steps.
    """
    lr = 2.0 / (MU + L_MAX)
    traj = quadratic("gd", (MU, L_MAX), (1.0, 1.0), 800, lr=lr)
    norms = np.linalg.norm(traj.theta, axis=1)
    rate = (KAPPA - 1.0) / (KAPPA + 1.0)
    m, n = 300, 600
    measured = (norms[n] / norms[m]) ** (1.0 / (n - m))
    assert measured == pytest.approx(rate, rel=1e-12)
    predicted = math.ceil(math.log(1e6) / math.log(1.0 / rate))
    assert steps_to_reduce(norms, 1e6) == predicted


def test_c6_heavy_ball_contracts_at_polyaks_rate():
    """C6 (HB half): heavy ball at Polyak's tuning η = 4/(√L+√μ)², β = r² with
    r = (√κ−1)/(√κ+1) contracts asymptotically by r per step, against GD's
    (κ−1)/(κ+1): ten times the ODE-time advance per step (ln r / ln r_GD ≈ 10.03).

    At this tuning the characteristic polynomial z² − (1+β−ηλ)z + β has a double
    root z = ±r at both λ = μ and λ = L (zero discriminant, asserted), so the error
    is e_k = (1 + c_λ k) z^k per coordinate (θ₋₁ = θ₀ fixes c_λ = (1−ηλ)/z − 1).
    The measured ratio (‖e_n‖/‖e_m‖ · m/n)^(1/(n−m)) divides out the Jordan factor k;
    what is left, ((1 + 1/(c n))/(1 + 1/(c m)))^(1/(n−m)), is within 7e-5 of 1 for
    m = 200, n = 400 and the smaller c = 2/11, hence rel 1e-4.  The number of steps
    for a 10⁶ reduction is the closed form's exactly: the Jordan factor costs HB
    steps over the rate-only estimate ln 10⁶ / ln(1/r).
    Brief: rate 0.818182, "about 69 iterations" (the rate-only estimate; the
    iterates need 93 because of the factor 1 + c k), GD 691.
    """
    sqrt_kappa = math.sqrt(KAPPA)
    r = (sqrt_kappa - 1.0) / (sqrt_kappa + 1.0)
    lr = 4.0 / (math.sqrt(L_MAX) + math.sqrt(MU)) ** 2
    beta = r * r
    eigs = np.array([MU, L_MAX])
    trace = 1.0 + beta - lr * eigs
    np.testing.assert_allclose(trace**2 - 4.0 * beta, 0.0, atol=1e-14)  # double roots
    z = trace / 2.0
    np.testing.assert_allclose(np.abs(z), r, rtol=1e-14)

    steps = 400
    traj = quadratic("momentum", eigs, (1.0, 1.0), steps, lr=lr, momentum=beta)
    norms = np.linalg.norm(traj.theta, axis=1)

    k = np.arange(steps + 1)[:, None]
    c = (1.0 - lr * eigs) / z - 1.0
    closed = (1.0 + c * k) * z**k  # x0 = (1, 1)
    # A double root splits by ~√ε under rounding; over 400 steps that moves the
    # iterates by ~(400·1e-8)² relative, far below 1e-9.
    np.testing.assert_allclose(traj.theta, closed, rtol=1e-9, atol=0.0)

    m, n = 200, 400
    measured = (norms[n] / norms[m] * m / n) ** (1.0 / (n - m))
    assert measured == pytest.approx(r, rel=1e-4)

    gd_rate = (KAPPA - 1.0) / (KAPPA + 1.0)
    speedup = math.log(r) / math.log(gd_rate)
    assert math.log(measured) / math.log(gd_rate) == pytest.approx(speedup, rel=1e-3)
    assert speedup > 10.0

    hb_steps = steps_to_reduce(norms, 1e6)
    assert hb_steps == steps_to_reduce(np.linalg.norm(closed, axis=1), 1e6)
    rate_only = math.log(1e6) / math.log(1.0 / r)
    gd_steps = math.ceil(math.log(1e6) / math.log(1.0 / gd_rate))
    # |1 + c k| ≥ 1 only adds steps to the rate-only estimate; GD needs far more.
    assert math.ceil(rate_only) <= hb_steps < gd_steps


# -- C7: no friction, no convergence -----------------------------------------------------


@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_c7_heavy_ball_without_friction_never_settles(lr):
    """C7: heavy ball with β = 1 on ½x² keeps its amplitude forever.

    The recursion x₊ = (2 − η)x − x₋ has characteristic roots e^{±iω},
    cos ω = 1 − η/2, of modulus exactly 1 (np.roots, asserted), and conserves
    Q = x_k² − (2−η)x_k x_{k−1} + x_{k−1}² = η x₀² (θ₋₁ = θ₀).  Q is asserted
    constant to rtol 1e-10: rounding adds ~ε per step on a neutral map,
    ≤ 10⁵·ε ≈ 2e-11 after 10⁵ steps.  Hence x_k = A cos(kω + φ) with
    A = x₀/√(1 − η/4): over any window of a full period the largest |x_k| lies in
    [A cos(ω/2), A], both in the first window and after 10⁵ steps.  The energy
    E = ½((x_k − x_{k−1})/√η)² + ½x_k² differs from E₀ = ½x₀² by
    ½|x_k||x_k − x_{k−1}| ≤ A² sin(ω/2) = O(√η): it oscillates in that band and
    never decays.
    """
    x0, steps = 1.0, 100_000
    traj = quadratic("momentum", (1.0,), (x0,), steps, lr=lr, momentum=1.0)
    assert traj.status is odeopt.Status.MAX_STEPS
    x = traj.theta[:, 0]

    roots = np.roots([1.0, -(2.0 - lr), 1.0])
    np.testing.assert_allclose(np.abs(roots), 1.0, rtol=1e-12)
    omega = math.acos(1.0 - lr / 2.0)
    amplitude = x0 / math.sqrt(1.0 - lr / 4.0)

    q = x[1:] ** 2 - (2.0 - lr) * x[1:] * x[:-1] + x[:-1] ** 2
    np.testing.assert_allclose(q, lr * x0**2, rtol=1e-10)

    period = math.ceil(2.0 * math.pi / omega) + 1
    for window in (x[:period], x[-period:]):
        peak = np.max(np.abs(window))
        assert amplitude * math.cos(omega / 2.0) <= peak <= amplitude * (1 + 1e-12)

    energy = 0.5 * ((x[1:] - x[:-1]) / math.sqrt(lr)) ** 2 + 0.5 * x[1:] ** 2
    band = amplitude**2 * math.sin(omega / 2.0)
    assert np.max(np.abs(energy - 0.5 * x0**2)) <= band


# -- C8: the β rescaling rule --------------------------------------------------------------

PRODUCT_C = 0.05
PRODUCT_X0 = (2.0, 0.3)


def product_grad(theta):
    a, b = theta
    residual = a * b - 1.0
    return np.array([residual * b + 2.0 * PRODUCT_C * a, residual * a])


def oscillator_at(friction, t_end):
    """θ(t_end) of θ̈ + λθ̇ + ∇L = 0 on the product loss, from rest (solve_ivp)."""

    def field(t, z):
        return np.concatenate([z[2:], -friction * z[2:] - product_grad(z[:2])])

    sol = solve_ivp(
        field,
        (0.0, t_end),
        [*PRODUCT_X0, 0.0, 0.0],
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
    )
    assert sol.success
    return sol.y[:2, -1]


def heavy_ball_at(lr, beta, t_end):
    """Heavy ball on the product loss, interpolated linearly to ODE time t = k√η.

    Linear interpolation errs by ≤ h²·max|θ̈|/8 with h = √η ≤ 0.1: ~1e-3 at
    worst, ~1e-4 at η = 0.001; t_end = 3 is a step exactly at η = 0.01.
    """
    steps = math.ceil(t_end / math.sqrt(lr)) + 1
    traj = odeopt.run(
        "momentum",
        "product-loss",
        x0=PRODUCT_X0,
        steps=steps,
        record_every=1,
        surface_params={"c": PRODUCT_C},
        lr=lr,
        momentum=beta,
    )
    np.testing.assert_allclose(traj.t, traj.step * math.sqrt(lr), rtol=1e-14)
    return np.array([np.interp(t_end, traj.t, traj.theta[:, i]) for i in range(2)])


def test_c8_rescaling_beta_keeps_the_trajectory():
    """C8: lowering η from 0.01 to 0.001 with β → 1 − (1−β)√(η′/η) keeps heavy
    ball's trajectory at ODE time t = k√η = 3 on the product loss; keeping β = 0.9
    changes it by O(1).

    The rule keeps the friction λ = (1−β)/√η of θ̈ + λθ̇ + ∇L = 0 at 1, while
    keeping β gives λ = √10.  Both ODEs are solved with solve_ivp; the distance
    between their solutions at t = 3 (the "ODE gap") is what a wrong β costs.
    Criterion: each discrete run must sit nearer its own ODE, i.e. the rescaled
    pair's distance is below half the gap and the kept-β pair's distance above it.
    Also checked: the distance of HB from its ODE is first order in h = √η (the
    ratio between η = 0.01 and 0.001 is √0.1, within 15%: the O(h²) term moves it by
    O(h) ≤ 10%), so the rescaled runs converge to one curve as η → 0, while the
    kept-β run converges to the other.
    Brief (at step n = round(3/√η), t = 3.004 for η = 0.001): (1.6162, 0.5615)
    versus (1.6254, 0.5605) versus (1.8738, 0.5223).
    """
    t_end, ratio = 3.0, 0.1
    beta = 0.9
    beta_rescaled = 1.0 - (1.0 - beta) * math.sqrt(ratio)
    coarse = heavy_ball_at(0.01, beta, t_end)
    rescaled = heavy_ball_at(0.01 * ratio, beta_rescaled, t_end)
    kept = heavy_ball_at(0.01 * ratio, beta, t_end)

    ode_same = oscillator_at((1.0 - beta) / math.sqrt(0.01), t_end)  # λ = 1
    ode_kept = oscillator_at((1.0 - beta) / math.sqrt(0.01 * ratio), t_end)  # √10
    gap = np.linalg.norm(ode_same - ode_kept)

    d_rescaled = np.linalg.norm(coarse - rescaled)
    d_kept = np.linalg.norm(coarse - kept)
    assert d_rescaled < gap / 2.0 < d_kept

    # each run nearer its own ODE
    assert np.linalg.norm(rescaled - ode_same) < np.linalg.norm(rescaled - ode_kept)
    assert np.linalg.norm(kept - ode_kept) < np.linalg.norm(kept - ode_same)

    # first-order convergence of the rescaled runs to the same curve
    e_coarse = np.linalg.norm(coarse - ode_same)
    e_fine = np.linalg.norm(rescaled - ode_same)
    assert e_fine / e_coarse == pytest.approx(math.sqrt(ratio), rel=0.15)


# -- C9: inertia crosses the shallow minimum ---------------------------------------------

X_GLOBAL = (9.0 - math.sqrt(33.0)) / 8.0  # roots of L′ = (x − 3)(4x² − 9x + 3)
X_BARRIER = (9.0 + math.sqrt(33.0)) / 8.0
X_LOCAL = 3.0


@pytest.mark.parametrize(
    ("beta", "expected"),
    [
        (0.0, X_LOCAL),
        (0.9, X_LOCAL),
        (0.95, X_GLOBAL),
        (0.97, X_GLOBAL),
        (0.98, X_GLOBAL),
        (0.99, X_GLOBAL),
    ],
)
def test_c9_momentum_crosses_the_shallow_minimum(beta, expected):
    """C9: on Su's double well from rest at x₀ = 4 (η = 1e-3, 2·10⁵ steps), β ∈
    {0, 0.9} (friction λ = (1−β)/√η ≈ 31.6, 3.16) stop at the local minimum 3 and
    never pass the barrier top (9+√33)/8; β ∈ {0.95, …, 0.99} (λ ≤ 1.58) cross it
    and end at the global minimum x* = (9−√33)/8.

    After 2·10⁵ steps (ODE time 6325) the linearised contraction has removed any
    transient; what remains is the rounding of L′ near the minimum (~1e-13 divided
    by L″ ≥ 12), so 1e-10 is a wide bound.  Brief: x* = 0.40693.
    """
    traj = odeopt.run(
        "momentum",
        "su-double-well",
        x0=(4.0,),
        steps=200_000,
        record_every=1,
        lr=1e-3,
        momentum=beta,
    )
    assert traj.status is odeopt.Status.MAX_STEPS
    x = traj.theta[:, 0]
    assert x[-1] == pytest.approx(expected, abs=1e-10)
    crossed = np.min(x) < X_BARRIER
    assert crossed == (expected == X_GLOBAL)


# -- C17: RMSprop's 2-cycle and sign descent ---------------------------------------------


@pytest.mark.parametrize("lr", [0.01, 0.001])
def test_c17_rmsprop_settles_into_a_two_cycle(lr):
    """C17: RMSprop (α = 0.99, ε = 1e-8) on ½x² does not converge: it ends in the
    2-cycle x → −x at |x| = η/2 − ε.

    On a 2-cycle g² = x² is constant, so v's fixed point is v = x², and
    x − ηx/(√v + ε) = −x gives η/(|x| + ε) = 2, i.e. |x| = η/2 − ε.  The tail sits
    there to 1e-12 (rounding at |x| ≈ η/2 is ~1e-18, the attracting cycle does not
    accumulate it), which resolves the −ε shift: the tail is 1e-8 from η/2.
    Brief: |x| ≈ 0.00500 and 0.000500.
    """
    eps, steps = 1e-8, 20_000
    traj = quadratic("rmsprop", (1.0,), (1.0,), steps, lr=lr, alpha=0.99, eps=eps)
    assert traj.status is odeopt.Status.MAX_STEPS
    tail = traj.theta[-1000:, 0]
    cycle = lr / 2.0 - eps
    np.testing.assert_allclose(np.abs(tail), cycle, rtol=0.0, atol=1e-12)
    np.testing.assert_allclose(tail[1:], -tail[:-1], rtol=0.0, atol=1e-12)
    assert abs(np.max(np.abs(tail)) - lr / 2.0) > eps / 2.0  # not η/2: η/2 − ε


@pytest.mark.parametrize(
    ("optimizer", "hp"),
    [
        ("rmsprop", {"alpha": 0.0, "eps": 0.0}),
        ("adam", {"beta1": 0.0, "beta2": 0.0, "eps": 0.0}),
    ],
)
def test_c17_sign_descent_is_exact(optimizer, hp):
    """C17/§4.4–4.5: RMSprop(alpha=0, eps=0) and Adam(betas=(0, 0), eps=0) are sign
    descent x_{k+1} = x_k − η·sign(x_k), bit for bit (√(g²) = |g| exactly in IEEE
    arithmetic, so g/√(g²) = ±1), chattering with amplitude O(η) around 0.
    Brief: 0.7, 0.4, 0.1, −0.2, 0.1 from x₀ = 1 with η = 0.3.
    """
    lr, steps = 0.3, 12
    traj = quadratic(optimizer, (1.0,), (1.0,), steps, lr=lr, **hp)
    expected = [1.0]
    for _ in range(steps):
        expected.append(expected[-1] - lr * np.sign(expected[-1]))
    np.testing.assert_array_equal(traj.theta[:, 0], expected)


# -- C18: AdaGrad stops too early --------------------------------------------------------


def adagrad_run(lam, lr, t_end, theta0=1.0):
    """AdaGrad (ε = 0, S₀ = 0) on ½λθ² up to ODE time t = kη², and √S_ode = η√S.

    S_k = Σ_{j≤k} g_j² is rebuilt from the recorded path (g_j = λθ_{j−1}), and
    checked against the update identity √S_k = η g_k/(θ_{k−1} − θ_k); that
    difference loses ε/(1 − θ_k/θ_{k−1}) ≲ ε/(4η²) ≈ 6e-13 to cancellation at
    η = 0.01, so rtol 1e-9.
    """
    steps = round(t_end / lr**2)
    traj = quadratic(
        "adagrad", (lam,), (theta0,), steps, lr=lr, eps=0.0, initial_accumulator_value=0
    )
    np.testing.assert_allclose(traj.t, traj.step * lr**2, rtol=1e-14)
    theta = traj.theta[:, 0]
    g = lam * theta[:-1]
    s = np.concatenate([[0.0], np.cumsum(g * g)])
    from_update = lr * g / (theta[:-1] - theta[1:])
    np.testing.assert_allclose(from_update, np.sqrt(s[1:]), rtol=1e-9)
    return theta, lr * np.sqrt(s)


def observed_orders(lrs, errors):
    lrs, errors = np.asarray(lrs), np.asarray(errors)
    return np.log(errors[:-1] / errors[1:]) / np.log(lrs[:-1] / lrs[1:])


def test_c18_adagrad_invariant_tends_to_its_ode_value():
    """C18: along AdaGrad on ½λθ² (S₀ = 0, ε = 0) the discrete invariant
    I = √S_ode + λθ²/4, S_ode = η²S, tends to its ODE value λθ₀²/4 at O(η).

    The ODE θ̇ = −λθ/√S, Ṡ = λ²θ² conserves I exactly; AdaGrad's first step is
    exactly η·sign(g) (asserted), which already moves I by ≈ ηλθ₀/2, and the
    singular start S = 0 keeps the error at O(η) = O(√h).  Measured at t = 5 for
    η = 0.1, 0.03, 0.01 (λ = 2, θ₀ = 1): the error is positive, decreasing, and its
    observed orders lie within 0.1 of 1 (the next term of the expansion moves a
    local slope by O(η) ≤ 0.1).  The total path is finite: θ(t) stays positive and
    its limit follows from I, not from reaching the minimum in finite time.
    Brief: I = 0.6337, 0.5418, 0.5143 against 0.5.
    """
    lam, theta0, t_end = 2.0, 1.0, 5.0
    lrs = [0.1, 0.03, 0.01]
    ode_value = lam * theta0**2 / 4.0
    errors = []
    for lr in lrs:
        theta, sqrt_s = adagrad_run(lam, lr, t_end, theta0)
        assert theta[1] == theta0 - lr * np.sign(theta0)
        invariant = sqrt_s + lam * theta**2 / 4.0
        assert invariant[0] == ode_value
        errors.append(invariant[-1] - ode_value)
    errors = np.array(errors)
    assert np.all(errors > 0.0) and np.all(np.diff(errors) < 0.0)
    np.testing.assert_allclose(observed_orders(lrs, errors), 1.0, atol=0.1)


def test_c18_adagrad_late_contraction_is_independent_of_lambda():
    """C18: late in an AdaGrad run on ½λθ² the per-step contraction tends to
    1 − 4η²/θ₀², the same for λ = 1 and 10: the effective learning rate has shrunk
    to 4η²/(λθ₀²) per step.

    In the ODE √S → λθ₀²/4 (the invariant), so θ̇ → −4θ/θ₀²; with the clock
    h = η² that is the factor 1 − 4η²/θ₀² per step.  Discretely the factor is
    exactly 1 − ηλ/√S_k, and λ cancels: with ε = 0 AdaGrad is invariant under
    gradient scaling, so the two λ agree to rounding (rel 1e-13).  The measured
    factor ρ over t ∈ [4, 5] equals 1 − η²λ/√S_ode (rel 1e-9: S has converged,
    θ ~ 1e-7 is left), so the implied limit η²λ/(1 − ρ) of √S_ode carries the
    invariant's O(η) error: it lies above λθ₀²/4 and approaches it with observed
    orders within 0.1 of 1 over η = 0.1, 0.03, 0.01.
    Brief: 0.999611 observed against 0.9996 predicted at η = 0.01.
    """
    theta0 = 1.0
    lrs = [0.1, 0.03, 0.01]
    rho = {}
    for lam in (1.0, 10.0):
        errors = []
        for lr in lrs:
            theta, sqrt_s = adagrad_run(lam, lr, 5.0, theta0)
            m, n = round(4.0 / lr**2), len(theta) - 1
            rho[lam, lr] = (theta[n] / theta[m]) ** (1.0 / (n - m))
            assert 1.0 - rho[lam, lr] == pytest.approx(
                lr**2 * lam / sqrt_s[-1], rel=1e-9
            )
            limit = lr**2 * lam / (1.0 - rho[lam, lr])
            errors.append(limit / (lam * theta0**2 / 4.0) - 1.0)
        errors = np.array(errors)
        assert np.all(errors > 0.0) and np.all(np.diff(errors) < 0.0)
        np.testing.assert_allclose(observed_orders(lrs, errors), 1.0, atol=0.1)
    for lr in lrs:
        assert rho[10.0, lr] == pytest.approx(rho[1.0, lr], rel=1e-13)
        # slower than the ODE's factor, by the O(η) error above
        assert 1.0 - 4.0 * lr**2 / theta0**2 < rho[1.0, lr] < 1.0


# -- C40: the Lessard cycle --------------------------------------------------------------

# L′ = s·x + c on the three pieces x < 1, 1 ≤ x < 2, x ≥ 2 of the lessard surface
LESSARD_PIECES = ((25.0, 0.0), (1.0, 24.0), (25.0, -24.0))
HB_LR, HB_BETA = 1.0 / 9.0, 4.0 / 9.0


def lessard_piece(x):
    return 0 if x < 1.0 else (1 if x < 2.0 else 2)


def heavy_ball_three_cycles(lr, beta):
    """Every period-3 orbit of x₊ = (1+β)x − βx₋ − ηL′(x) on the lessard surface.

    For each assignment of the three points to pieces the orbit equations are
    linear; a solution counts if its points lie on the assumed pieces.  Returns
    (points, spectral radius of the orbit's monodromy matrix) pairs.
    """
    cycles = []
    for pattern in itertools.product(range(3), repeat=3):
        matrix, rhs = np.zeros((3, 3)), np.zeros(3)
        monodromy = np.eye(2)
        for i, piece in enumerate(pattern):
            s, c = LESSARD_PIECES[piece]
            matrix[i, (i + 1) % 3] += 1.0
            matrix[i, i] -= 1.0 + beta - lr * s
            matrix[i, (i - 1) % 3] += beta
            rhs[i] = -lr * c
            jacobian = np.array([[1.0 + beta - lr * s, -beta], [1.0, 0.0]])
            monodromy = jacobian @ monodromy
        points = np.linalg.solve(matrix, rhs)
        if all(lessard_piece(p) == q for p, q in zip(points, pattern, strict=True)):
            radius = np.max(np.abs(np.linalg.eigvals(monodromy)))
            cycles.append((points, radius))
    return cycles


def test_c40_the_tuning_contracts_every_quadratic_piece():
    """C40 (premise): η = 1/9, β = 4/9 is Polyak's tuning for μ = 1, L = 25; every
    quadratic with curvature in [1, 25] is contracted (characteristic roots of
    modulus ≤ √β = 2/3, np.roots), so a cycle on the lessard surface cannot come
    from any single piece."""
    polyak_lr = 4.0 / (math.sqrt(25.0) + 1.0) ** 2
    polyak_beta = ((math.sqrt(25.0) - 1.0) / (math.sqrt(25.0) + 1.0)) ** 2
    assert (polyak_lr, polyak_beta) == pytest.approx((HB_LR, HB_BETA), rel=1e-15)
    radius = max(
        np.max(np.abs(np.roots([1.0, -(1.0 + HB_BETA - HB_LR * lam), HB_BETA])))
        for lam in np.linspace(1.0, 25.0, 241)
    )
    assert radius == pytest.approx(math.sqrt(HB_BETA), abs=1e-6)


@pytest.mark.parametrize("x0", [3.1, 3.2, 3.3])
def test_c40_heavy_ball_falls_into_the_lessard_cycle(x0):
    """C40: heavy ball (η = 1/9, β = 4/9) from rest at x₀ ∈ {3.1, 3.2, 3.3} on the
    Lessard–Recht–Packard function ends on a period-3 cycle, not at the minimum 0.

    The tail of 3000 steps is 3-periodic to 1e-12 (rounding at |x| ≈ 2 on an
    attracting orbit is ~1e-15) and not 1-periodic; its three points equal, up to
    a cyclic shift, the one attracting 3-cycle found by solving the orbit
    equations with NumPy (monodromy spectral radius < 1; the other genuine
    3-cycle is repelling).  Brief: {0.6465, −1.8024, 2.1159}.
    """
    traj = odeopt.run(
        "momentum",
        "lessard",
        x0=(x0,),
        steps=3000,
        record_every=1,
        lr=HB_LR,
        momentum=HB_BETA,
    )
    assert traj.status is odeopt.Status.MAX_STEPS
    tail = traj.theta[-300:, 0]
    np.testing.assert_allclose(tail[3:], tail[:-3], rtol=0.0, atol=1e-12)
    assert np.min(np.abs(np.diff(tail))) > 1.0

    cycles = heavy_ball_three_cycles(HB_LR, HB_BETA)
    nontrivial = [(p, rad) for p, rad in cycles if np.max(np.abs(p)) > 0.0]
    attracting = {
        tuple(np.round(np.roll(p, -np.argmin(p)), 12))
        for p, rad in nontrivial
        if rad < 1.0
    }
    assert len(attracting) == 1
    (cycle,) = attracting
    last = tail[-3:]
    np.testing.assert_allclose(np.roll(last, -np.argmin(last)), cycle, atol=1e-12)


@pytest.mark.parametrize("x0", [3.1, 3.2, 3.3])
def test_c40_nesterov_converges_on_the_lessard_function(x0):
    """C40: NAG-SC with s = 1/L = 1/25 and β = (√κ−1)/(√κ+1) = 2/3 (PyTorch
    ``nesterov=True``, the single-sequence NAG-SC form) converges to the minimum 0
    from the same starts: the gradient correction removes heavy ball's cycle.
    On the inner piece ηL″ = 1: once two consecutive iterates lie there the
    next is 0 (θ₊ = θ + β(θ − θ₋) − ηg − βη(g − g₋) with g = 25θ), so after 200 steps
    1e-12 allows for nothing more than rounding."""
    kappa = 25.0
    beta = (math.sqrt(kappa) - 1.0) / (math.sqrt(kappa) + 1.0)
    traj = odeopt.run(
        "nesterov",
        "lessard",
        x0=(x0,),
        steps=300,
        record_every=1,
        lr=1.0 / kappa,
        momentum=beta,
    )
    assert traj.status is odeopt.Status.MAX_STEPS
    assert np.max(np.abs(traj.theta[-100:, 0])) < 1e-12
