r"""Learning the learning rate from successive gradients: Su's rule and hypergradients.

**Su's meta-learned rule** ``su-meta`` (per coordinate, :math:`g_0 := 0`,
:math:`\nu_0 = 1`):

.. math::

    \nu_k = \nu_{k-1} \odot \exp(\gamma\, g_{k-1} \odot g_k), \qquad
    \theta_k = \theta_{k-1} - \eta\, \nu_k \odot g_k

(``use_signs``: :math:`\exp(\gamma \operatorname{sign}(g_{k-1} \odot g_k))`;
``clip``: :math:`\nu` clipped to ``[min_gain, max_gain]``).  The raw rule is
scale-dependent — :math:`\gamma g^2` is the log-growth per step — and can overflow:
an overflow makes θ non-finite and the run stops with status ``diverged`` at that
step (claim C32: with λ = 100 and γ = 1e-3, :math:`\gamma g^2 \approx 10` per step).
EGDD (``egdd``) normalises, uses signs and clips for that reason.

**Hypergradient descent** ``hypergradient`` (Baydin, Cornish, Martínez Rubio,
Schmidt & Wood 2018, "Online learning rate adaptation with hypergradient descent";
SGD-HD), the additive counterpart with one scalar rate :math:`\alpha` (the run's
``aux[0]``, from :math:`\alpha_0` = ``lr``):

.. math::

    \alpha_k = \alpha_{k-1} + \beta\, \langle g_k, g_{k-1}\rangle, \qquad
    \theta_k = \theta_{k-1} - \alpha_k g_k

since :math:`\partial L(\theta_{k-1})/\partial\alpha = -\langle g_k, g_{k-1}\rangle`.

**No ODE limit of the usual kind** (Su, kexue.fm/archives/8968): to leading order
:math:`g_{k-1} \odot g_k \approx g \odot g > 0`, so a naive limit only grows ν; the
adaptation is a finite-step effect.  On a diagonal quadratic
:math:`g_{k-1,i} g_{k,i} = \lambda_i^2 \theta_{k-1,i}^2 (1 - \eta\nu_{k,i}\lambda_i)`:
its sign is :math:`\operatorname{sign}(1 - \eta\nu_i\lambda_i)`, and the rates settle
where :math:`\eta\nu_i\lambda_i = 1` (Newton's one-step rate) unless a clip binds.

References: Su Jianlin, kexue.fm/archives/8968; A. G. Baydin et al., ICLR 2018;
R. Jacobs, Neural Networks 1 (1988); J. Kivinen, M. K. Warmuth (1997).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Hyperparameter, Optimizer, layout, learning_rate, lr_from_curvature
from .egdd import no_limit_model

HP = layout(
    "lr", "hyper", "gamma", "use_signs", "clip", "min_gain", "max_gain",
    "hypergradient_lr",
)  # fmt: skip
HYPERPARAMETERS = HP._fields
SWITCHES = ("hyper", "use_signs", "clip")
STATE_ROWS = 2  # per-coordinate rate ν, previous gradient
N_STAGES = 1
N_AUX = 1  # hypergradient: the scalar rate α


def initial_state(hp, dim):
    state = np.zeros((STATE_ROWS, dim))
    state[0] = 1.0
    return state


def initial_aux(hp):
    return np.array([hp["lr"]])


@kernel
def step(k, theta, state, G, hp, aux):
    n = theta.shape[0]
    if hp[HP.hyper] != 0.0:
        inner = 0.0
        for i in range(n):
            inner += G[0, i] * state[1, i]
        rate = aux[0] + hp[HP.hypergradient_lr] * inner
        aux[0] = rate
        for i in range(n):
            theta[i] = theta[i] - rate * G[0, i]
            state[1, i] = G[0, i]
        return
    for i in range(n):
        g = G[0, i]
        product = state[1, i] * g
        if hp[HP.use_signs] != 0.0:
            if product > 0.0:
                product = 1.0
            elif product < 0.0:
                product = -1.0
        nu = state[0, i] * math.exp(hp[HP.gamma] * product)
        if hp[HP.clip] != 0.0:
            nu = min(max(nu, hp[HP.min_gain]), hp[HP.max_gain])
        state[0, i] = nu
        state[1, i] = g
        theta[i] = theta[i] - hp[HP.lr] * nu * g


OPTIMIZERS = (
    Optimizer(
        name="su-meta",
        description="Su's meta-learned rates ν⊙exp(γ g_{k−1}⊙g_k) (may overflow); "
        "no ODE limit",
        module=__name__,
        torch="none",
        hyperparameters=(
            learning_rate("base learning rate η"),
            Hyperparameter("gamma", 1e-3, "meta rate γ", low=0.0),
            Hyperparameter("use_signs", False, "use sign(g_{k−1}⊙g_k)", kind="bool"),
            Hyperparameter(
                "clip", False, "clip ν to [min_gain, max_gain]", kind="bool"
            ),
            Hyperparameter("min_gain", 0.01, "lower clip of ν", low=0.0),
            Hyperparameter("max_gain", 100.0, "upper clip of ν", low=0.0),
        ),
        fixed={"hyper": 0.0, "hypergradient_lr": 0.0},
        models=(no_limit_model("su-meta", "none: ν adapts by a finite-step effect"),),
        default_lr=lr_from_curvature(10.0),
    ),
    Optimizer(
        name="hypergradient",
        description="hypergradient descent (Baydin et al. 2018): α += β⟨g_k, "
        "g_{k−1}⟩; no ODE limit",
        module=__name__,
        torch="none",
        hyperparameters=(
            learning_rate("initial rate α₀"),
            Hyperparameter("hypergradient_lr", 1e-3, "hypergradient rate β", low=0.0),
        ),
        fixed={
            "hyper": 1.0,
            "gamma": 0.0,
            "use_signs": 0.0,
            "clip": 0.0,
            "min_gain": 0.0,
            "max_gain": 0.0,
        },
        models=(
            no_limit_model("hypergradient", "none: α adapts by a finite-step effect"),
        ),
        default_lr=lr_from_curvature(10.0),
    ),
)
