"""Learnt step sizes: EGDD (Lingvo), Su's meta-learned rule, hypergradient descent.

* EGDD reproduces Lingvo's own test values (``lingvo/core/egdd_test.py``: var [0.5, 1],
  gradients [0.1, −0.5] then [−1, −1.5], lr 0.1, momentum 0.9, β 0.1, gain rate 1e-2,
  scale rate 1e-3, with and without signs) to Lingvo's tolerance 1e-4 (it runs in
  float32), and a NumPy transcription of Lingvo's ``_apply_dense`` step for step over
  300 steps (rosenbrock; the quadratic for raw gains) for every combination of the
  two switches, scale included.
* Defaults are Lingvo's constructor defaults.
* C32 on λ = (1, 10, 100), η = 1e-3, θ₀ = 1, 3000 steps: sign(g_{k−1}g_k) =
  sign(1 − ην_kλ) at every step; with γ = 0.01, signs and clip [0.01, 100] the rates
  reach ην λ = (0.1 (clip), 1.000, 0.997); without adaptation (0.001, 0.01, 0.1); the
  raw rule with γ = 1e-3 overflows on the stiff coordinate: status ``diverged``.
* C33 (static part): EGDD's gains saturate where the effective rate
  s·η·pᵢ·λᵢ/(1 − μ) balances at 1.
* Hypergradient descent against a NumPy transcription of SGD-HD.
* No ODE limit: ``odeopt check`` and ``--reference`` refuse these with that reason.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import odeopt
from odeopt.check import check_order
from odeopt.cli import main
from odeopt.errors import HyperparameterError
from odeopt.registry import get_optimizer
from odeopt.stepper import initial_aux, initial_state, resolve_surface

LAMBDA = np.array([1.0, 10.0, 100.0])
DIAGONAL = {"eigenvalues": [1.0, 10.0, 100.0]}


def kernel_loop(name, theta, gradients, **hp):
    """Drive the family's compiled step with given gradients (as Lingvo's test does);
    ``gradients`` is a list, or a callable of θ for ``steps`` steps."""
    optimizer = get_optimizer(name)
    bound = optimizer.bind(None, **hp)
    module = optimizer.jitted()
    theta = np.array(theta, dtype=float)
    state = initial_state(bound, theta.size)
    aux = initial_aux(bound)
    kernel_hp = bound.kernel_hp()
    history = []
    for k, g in enumerate(gradients, start=1):
        G = np.array([g(theta) if callable(g) else g], dtype=float)
        module.step(k, theta, state, G, kernel_hp, aux)
        history.append((theta.copy(), state.copy(), aux.copy(), G[0].copy()))
    return history


# -- EGDD ------------------------------------------------------------------------------


def numpy_egdd(theta, grads, lr, momentum, beta=0.9, gain_learning_rate=0.01,
               scale_learning_rate=0.001, initial_gain=1.0, min_gain=1e-2,
               max_gain=1e2, initial_scale=1.0, min_scale=1e-1, max_scale=1e1,
               use_directions=True, use_signs=True):  # fmt: skip
    """Lingvo's ``EGDD._apply_dense``, transcribed to NumPy (float64)."""
    theta = np.array(theta, dtype=float)
    m, gbar = np.zeros_like(theta), np.zeros_like(theta)
    gain, scale = np.full_like(theta, initial_gain), initial_scale
    out = []
    for counter, grad in enumerate(grads, start=1):
        g = grad(theta) if callable(grad) else np.asarray(grad, dtype=float)
        if use_directions:
            gn = g / (np.linalg.norm(g) + 1e-10)
            mn = m / (np.linalg.norm(m) + 1e-10)
            scale = np.clip(scale * np.exp(scale_learning_rate * np.sum(gn * mn)),
                            min_scale, max_scale)  # fmt: skip
        else:
            scale = np.clip(scale * np.exp(scale_learning_rate * np.sum(g * m)),
                            min_scale, max_scale)  # fmt: skip
        corrected = gbar / (1.0 - beta ** max(counter - 1, 1))
        if use_signs:
            gain = np.clip(gain * np.exp(gain_learning_rate * np.sign(g)
                                         * np.sign(gbar)), min_gain, max_gain)  # fmt: skip
        else:
            gain = np.clip(gain * np.exp(gain_learning_rate * g * corrected),
                           min_gain, max_gain)  # fmt: skip
        m = momentum * m + lr * gain * g
        gbar = beta * gbar + (1.0 - beta) * g
        theta = theta - scale * m
        out.append((theta.copy(), m.copy(), gain.copy(), float(scale)))
    return out


LINGVO = {"lr": 0.1, "momentum": 0.9, "beta": 0.1, "gain_learning_rate": 1e-2,
          "scale_learning_rate": 1e-3}  # fmt: skip


@pytest.mark.parametrize(
    ("use_signs", "var", "momentum", "gain", "scale"),
    [
        (False, [0.5810, 1.2463], [-0.0909, -0.1961], [0.9990, 1.0075], 1.0007),
        (True, [0.5801, 1.2466], [-0.0900, -0.1965], [0.9900, 1.0101], 1.0007),
    ],
)
def test_egdd_reproduces_lingvos_test(use_signs, var, momentum, gain, scale):
    history = kernel_loop(
        "egdd", [0.5, 1.0], [[0.1, -0.5], [-1.0, -1.5]], use_signs=use_signs, **LINGVO
    )
    theta1, state1, aux1, _ = history[0]
    np.testing.assert_allclose(theta1, [0.49, 1.05], atol=1e-6)
    np.testing.assert_allclose(state1[0], [0.01, -0.05], atol=1e-6)
    np.testing.assert_allclose(state1[2], [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(aux1, [1.0], atol=1e-6)
    theta, state, aux, _ = history[1]
    np.testing.assert_allclose(theta, var, atol=1e-4)
    np.testing.assert_allclose(state[0], momentum, atol=1e-4)
    np.testing.assert_allclose(state[2], gain, atol=1e-4)
    np.testing.assert_allclose(aux, [scale], atol=1e-4)


@pytest.mark.parametrize("use_directions", [True, False])
@pytest.mark.parametrize("use_signs", [True, False])
def test_egdd_runs_lingvos_update_step_for_step(use_directions, use_signs):
    # raw gains, exp(η_p g ḡ), are scale-dependent: on rosenbrock (|g| ~ 200) they
    # hit the clip at once and the run diverges, so they run on the quadratic
    surface_name = "rosenbrock" if use_signs else "quadratic"
    hp = {"lr": 1e-4 if use_signs else 0.01, "momentum": 0.9,
          "use_directions": use_directions, "use_signs": use_signs}  # fmt: skip
    # 300 steps: on rosenbrock θ_y passes through 0 near step 270 (hence atol), and
    # later the momentum oscillation amplifies rounding differences (the norms'
    # summation order) by ~1e3 per 100 steps
    steps = 300
    traj = odeopt.run("egdd", surface_name, steps=steps, **hp)
    assert traj.status.value == "max_steps"
    surface = resolve_surface(surface_name)
    expected = numpy_egdd(surface.x0, [surface.grad] * steps, **hp)
    np.testing.assert_allclose(
        traj.theta[1:], [e[0] for e in expected], rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(traj.meta["final_aux"], [expected[-1][3]], rtol=1e-12)


def test_egdd_defaults_are_lingvos():
    defaults = {h.name: h.default for h in get_optimizer("egdd").hyperparameters}
    assert defaults == {
        "lr": None, "momentum": 0.9, "beta": 0.9, "gain_learning_rate": 0.01,
        "scale_learning_rate": 0.001, "initial_gain": 1.0, "min_gain": 1e-2,
        "max_gain": 1e2, "initial_scale": 1.0, "min_scale": 1e-1, "max_scale": 1e1,
        "use_directions": True, "use_signs": True,
    }  # fmt: skip


def test_c33_egdd_gains_saturate_at_the_balance_point():
    eta, momentum = 1e-3, 0.9
    history = kernel_loop(
        "egdd", np.ones(3), [lambda th: LAMBDA * th] * 5000, lr=eta, momentum=momentum
    )
    _, state, aux, _ = history[-1]
    effective = aux[0] * eta * state[2] * LAMBDA / (1.0 - momentum)
    # the gains moved by factors up to ~90 and the scale by 10%; the effective
    # one-step rates meet at 1 within 10%
    assert state[2, 0] > 50.0 and 1.05 < aux[0] < 1.2
    np.testing.assert_allclose(effective, 1.0, rtol=0.1)


# -- Su's rule and hypergradient descent --------------------------------------------------


def test_c32_sign_of_successive_gradients_and_the_fixed_point():
    eta = 1e-3
    history = kernel_loop(
        "su-meta", np.ones(3), [lambda th: LAMBDA * th] * 3000, lr=eta, gamma=0.01,
        use_signs=True, clip=True,
    )  # fmt: skip
    checked = 0
    # ν_k was applied to g_k: sign(g_k g_{k+1}) = sign(1 − ην_kλ)
    for (_, state, _, g), (_, _, _, g_next) in itertools.pairwise(history):
        product = g * g_next
        live = (product != 0.0) & (np.abs(1.0 - eta * state[0] * LAMBDA) > 1e-12)
        np.testing.assert_array_equal(
            np.sign(product[live]), np.sign(1.0 - eta * state[0] * LAMBDA)[live]
        )
        checked += int(live.sum())
    assert checked > 500
    rates = eta * history[-1][1][0] * LAMBDA
    assert rates[0] == pytest.approx(0.1, rel=1e-12)  # ν at its clip 100
    assert rates[1] == pytest.approx(1.0, abs=5e-4)
    assert rates[2] == pytest.approx(0.997, abs=5e-4)
    plain = kernel_loop("su-meta", np.ones(3), [lambda th: LAMBDA * th] * 3000,
                        lr=eta, gamma=0.0)  # fmt: skip
    np.testing.assert_allclose(eta * plain[-1][1][0] * LAMBDA, eta * LAMBDA)


def test_c32_raw_rule_overflows_to_a_diverged_status():
    traj = odeopt.run("su-meta", "quadratic", lr=1e-3, gamma=1e-3, steps=3000,
                      x0=[1.0, 1.0, 1.0], surface_params=DIAGONAL)  # fmt: skip
    assert traj.status.value == "diverged"
    assert traj.meta["diverged_at"] < 100


def test_su_meta_runner_matches_numpy():
    eta, gamma = 2e-3, 1e-5
    traj = odeopt.run("su-meta", "quadratic", lr=eta, gamma=gamma, steps=400,
                      x0=[1.0, 1.0, 1.0], surface_params=DIAGONAL)  # fmt: skip
    theta, nu, g_prev = np.ones(3), np.ones(3), np.zeros(3)
    expected = [theta]
    for _ in range(400):
        g = LAMBDA * theta
        nu = nu * np.exp(gamma * g_prev * g)
        theta = theta - eta * nu * g
        g_prev = g
        expected.append(theta)
    np.testing.assert_allclose(traj.theta, expected, rtol=1e-12, atol=1e-300)


def test_hypergradient_matches_numpy():
    alpha, beta = 1e-4, 1e-9
    traj = odeopt.run("hypergradient", "rosenbrock", lr=alpha, hypergradient_lr=beta,
                      steps=500)  # fmt: skip
    surface = resolve_surface("rosenbrock")
    theta, g_prev = surface.x0.copy(), np.zeros(2)
    expected = [theta]
    for _ in range(500):
        g = surface.grad(theta)
        alpha = alpha + beta * float(g @ g_prev)
        theta = theta - alpha * g
        g_prev = g
        expected.append(theta)
    np.testing.assert_allclose(traj.theta, expected, rtol=1e-12)
    assert traj.meta["final_aux"][0] == pytest.approx(alpha, rel=1e-12)


# -- no ODE limit -------------------------------------------------------------------------


def invoke(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    return exit_info.value.code, out, err


@pytest.mark.parametrize("name", ["egdd", "su-meta", "hypergradient"])
def test_no_ode_limit_is_declared_and_refused(capsys, name):
    model = get_optimizer(name).default_model
    assert "no ODE limit" in model.note
    code, out, err = invoke(capsys, "check", "-o", name, "-s", "quadratic")
    assert code == 2 and "no ODE limit" in out + err
    code, out, err = invoke(capsys, "run", "-o", name, "-s", "quadratic", "--steps",
                            "10", "--reference")  # fmt: skip
    assert code == 2 and "no ODE limit" in out + err
    code, out, _ = invoke(capsys, "run", "-o", name, "-s", "quadratic", "--steps",
                          "10")  # fmt: skip
    assert code == 0, out
    with pytest.raises(HyperparameterError, match="no ODE limit"):
        check_order(name, "quadratic")
