r"""EGDD: exponentiated-gradient delta-delta, momentum with step sizes learnt online.

The optimizer of Amid, Anil, Fifty & Warmuth as published in TensorFlow Lingvo
(``lingvo/core/egdd.py``): heavy-ball momentum whose per-coordinate gains
:math:`p` and global step-size scale :math:`s` are updated by the unnormalised
exponentiated gradient of Kivinen & Warmuth (1997) on the alignment of successive
gradients.

**Update** (step k, :math:`g = \nabla L(\theta_{k-1})`; every quantity on the right
is the *old* one unless marked new), in Lingvo's order:

1. counter :math:`c \leftarrow c + 1` (here :math:`c = k`);
2. scale, with the *old* momentum :math:`m` (since
   :math:`\theta_k = \theta_{k-1} - s m_{k-1}`, :math:`\partial L(\theta_k)/\partial s
   = -\langle g_k, m_{k-1}\rangle`):

   .. math::

       s \leftarrow \operatorname{clip}\big(s\, e^{\eta_s \langle \hat g, \hat m\rangle},
       s_{\min}, s_{\max}\big), \quad
       \hat g = g/(\|g\| + 10^{-10}),\ \hat m = m/(\|m\| + 10^{-10})

   (``use_directions``; otherwise the raw :math:`\langle g, m\rangle`);
3. gains, with the *old* gradient average :math:`\bar g`:

   .. math::

       p \leftarrow \operatorname{clip}\big(p \odot e^{\eta_p \operatorname{sign}(g)
       \odot \operatorname{sign}(\bar g)}, p_{\min}, p_{\max}\big)

   (``use_signs``; otherwise :math:`e^{\eta_p g \odot \bar g / (1 - \beta^{\max(c-1,
   1)})}`, the bias-corrected average);
4. :math:`m \leftarrow \mu m + \eta\, p_{\text{new}} \odot g`;
5. :math:`\bar g \leftarrow \beta \bar g + (1 - \beta) g`;
6. :math:`\theta \leftarrow \theta - s_{\text{new}}\, m_{\text{new}}`.

Defaults are Lingvo's: :math:`\beta = 0.9`, :math:`\eta_p = 0.01`,
:math:`\eta_s = 0.001`, :math:`p_0 = 1 \in [0.01, 100]`, :math:`s_0 = 1 \in [0.1,
10]`, ``use_directions = use_signs = True``; Lingvo has no default learning rate or
momentum (here :math:`\mu = 0.9`).  θ is one variable (Lingvo keeps one scale per
variable).  The scale :math:`s` is the run's scalar state (``aux[0]``; a run's
``meta["final_aux"]`` reports it).

**No ODE limit of the usual kind.**  The gains move by a fixed factor
:math:`e^{\pm\eta_p}` per *step*, whatever η: as :math:`\eta \to 0` on the clock
:math:`t = k\eta` they would change at the rate :math:`\eta_p/\eta \to \infty`, and
to leading order :math:`g_{k-1} \odot g_k \approx g \odot g > 0` only ever grows
them.  The adaptation is a finite-step effect: on a diagonal quadratic
:math:`g_{k-1,i} g_{k,i}` has the sign of :math:`1 - \eta_{\text{eff},i}\lambda_i`, so
the gains balance where the effective one-step rate is about :math:`1/\lambda_i`.
EGDD is a discrete meta-algorithm; its model entry says so, and ``odeopt check`` and
``--reference`` refuse it with that reason.

References: E. Amid, R. Anil, C. Fifty, M. K. Warmuth, TensorFlow Lingvo
``lingvo/core/egdd.py`` (2020); J. Kivinen, M. K. Warmuth, "Exponentiated gradient
versus gradient descent for linear predictors", Information and Computation (1997);
R. Jacobs, "Increased rates of convergence through learning rate adaptation",
Neural Networks (1988).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import (
    Hyperparameter,
    HyperparameterError,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_curvature,
)

HP = layout(
    "lr",
    "momentum",
    "beta",
    "gain_learning_rate",
    "scale_learning_rate",
    "initial_gain",
    "min_gain",
    "max_gain",
    "initial_scale",
    "min_scale",
    "max_scale",
    "use_directions",
    "use_signs",
)
HYPERPARAMETERS = HP._fields
SWITCHES = ()
STATE_ROWS = 3  # momentum m, gradient average ḡ, gains p
N_STAGES = 1
N_AUX = 1  # the step-size scale s


def initial_state(hp, dim):
    state = np.zeros((STATE_ROWS, dim))
    state[2] = hp["initial_gain"]
    return state


def initial_aux(hp):
    return np.array([hp["initial_scale"]])


@kernel
def clip(x, low, high):
    return min(max(x, low), high)


@kernel
def sign(x):
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    return 0.0


@kernel
def step(k, theta, state, G, hp, aux):
    n = theta.shape[0]
    beta = hp[HP.beta]
    # 2. the scale, from the current gradient and the old momentum
    inner, g_norm2, m_norm2 = 0.0, 0.0, 0.0
    for i in range(n):
        inner += G[0, i] * state[0, i]
        g_norm2 += G[0, i] * G[0, i]
        m_norm2 += state[0, i] * state[0, i]
    if hp[HP.use_directions] != 0.0:
        inner = inner / ((math.sqrt(g_norm2) + 1e-10) * (math.sqrt(m_norm2) + 1e-10))
    s = clip(
        aux[0] * math.exp(hp[HP.scale_learning_rate] * inner),
        hp[HP.min_scale],
        hp[HP.max_scale],
    )
    aux[0] = s
    # 3. the gains, from the old gradient average (bias-corrected unless signs)
    correction = 1.0 - beta ** max(k - 1, 1)
    for i in range(n):
        g = G[0, i]
        gbar = state[1, i]
        if hp[HP.use_signs] != 0.0:
            exponent = hp[HP.gain_learning_rate] * sign(g) * sign(gbar)
        else:
            exponent = hp[HP.gain_learning_rate] * g * (gbar / correction)
        p = clip(state[2, i] * math.exp(exponent), hp[HP.min_gain], hp[HP.max_gain])
        state[2, i] = p
        # 4.-6. momentum with the new gain, the average, the step with the new scale
        m = hp[HP.momentum] * state[0, i] + hp[HP.lr] * p * g
        state[0, i] = m
        state[1, i] = beta * gbar + (1.0 - beta) * g
        theta[i] = theta[i] - s * m


# -- no continuous model of the usual kind ------------------------------------------

_NO_LIMIT = (
    "{name} is a discrete meta-algorithm with no ODE limit of the usual kind: its "
    "step sizes adapt by a fixed factor per step, a finite-step effect (g_(k-1)⊙g_k "
    "has the sign of 1 − η_eff·λ on a quadratic) that vanishes as lr -> 0"
)


def _theta_initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _inverse(h, ode, hp):
    return {**hp, "lr": h}


def no_limit_model(name, ode_text):
    """The model entry of a meta-learned step size: a clock, and a refusal to solve."""

    def parameters(hp):
        return {"h": hp["lr"]}

    def field(t, z, grad, ode):
        raise HyperparameterError(_NO_LIMIT.format(name=name))

    def regime(given, surface):
        raise HyperparameterError(_NO_LIMIT.format(name=name))

    return Model(
        name="none",
        ode=ode_text,
        time="t_k = k·lr (a clock only)",
        scheme="none: a discrete meta-algorithm",
        order=0,
        state=("θ",),
        parameters=parameters,
        field=field,
        initial=_theta_initial,
        inverse=_inverse,
        check_regime=regime,
        note=_NO_LIMIT.format(name=name),
    )


def _check(hp):
    if hp["min_gain"] > hp["max_gain"]:
        return "min_gain must be <= max_gain"
    if hp["min_scale"] > hp["max_scale"]:
        return "min_scale must be <= max_scale"
    return None


POSITIVE = {"low": 0.0, "low_open": True}

OPTIMIZERS = (
    Optimizer(
        name="egdd",
        description="EGDD (Lingvo): momentum with EG-learnt gains and scale; no ODE "
        "limit",
        module=__name__,
        torch="lingvo.core.egdd.EGDD (TensorFlow)",
        hyperparameters=(
            learning_rate(),
            Hyperparameter("momentum", 0.9, "momentum μ", low=0.0),
            Hyperparameter(
                "beta",
                0.9,
                "decay β of the gradient average ḡ",
                low=0.0,
                high=1.0,
                high_open=True,
            ),
            Hyperparameter(
                "gain_learning_rate", 0.01, "EG rate η_p of the gains", low=0.0
            ),
            Hyperparameter(
                "scale_learning_rate", 0.001, "EG rate η_s of the scale", low=0.0
            ),
            Hyperparameter("initial_gain", 1.0, "p₀", **POSITIVE),
            Hyperparameter("min_gain", 1e-2, "lower clip of the gains", low=0.0),
            Hyperparameter("max_gain", 1e2, "upper clip of the gains", low=0.0),
            Hyperparameter("initial_scale", 1.0, "s₀", **POSITIVE),
            Hyperparameter("min_scale", 1e-1, "lower clip of the scale", low=0.0),
            Hyperparameter("max_scale", 1e1, "upper clip of the scale", low=0.0),
            Hyperparameter(
                "use_directions", True, "scale from ⟨ĝ, m̂⟩ (unit vectors)", kind="bool"
            ),
            Hyperparameter(
                "use_signs", True, "gains from sign(g)·sign(ḡ)", kind="bool"
            ),
        ),
        models=(
            no_limit_model(
                "egdd",
                "none: EGDD adapts its step sizes by a finite-step effect (no ODE limit)",
            ),
        ),
        # gains up to x100, scale up to x10 and momentum's 1/(1 − μ) = 10 amplify the
        # base rate: 1/(10L) diverged on rosenbrock and product-loss, 1/(100L) ran
        default_lr=lr_from_curvature(100.0),
        check=_check,
    ),
)
