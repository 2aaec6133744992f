r"""Lion (Chen et al. 2023, "Symbolic discovery of optimization algorithms").

**Update** (Algorithm 2 of the paper; optax's ``lion``; step k,
:math:`g = \nabla L(\theta_{k-1})`, :math:`m_0 = 0`):

.. math::

    c_k = \beta_1 m_{k-1} + (1 - \beta_1) g, \qquad
    \theta_k = \theta_{k-1} - \eta\,(\operatorname{sign}(c_k) + \lambda\theta_{k-1}) \\
    m_k = \beta_2 m_{k-1} + (1 - \beta_2) g

with :math:`\operatorname{sign}(0) = 0` and decoupled weight decay λ.  Defaults are
optax's: :math:`\beta_1 = 0.9`, :math:`\beta_2 = 0.99`, λ = 1e-3.

**Model** ``sign`` (betas fixed, :math:`\eta \to 0`, :math:`t_k = k\eta`,
:math:`h = \eta`): the momentum relaxes within :math:`O(1/(1-\beta_2))` steps, so
:math:`m` is slaved to :math:`g` and Lion follows the sign flow with decoupled decay

.. math:: \dot\theta = -\operatorname{sign}(\nabla L) - \lambda\theta

read in the sense of Filippov (the reference regularises the sign as
``odeopt/optimizers/polyak.py`` does).  Order 1: the lag of :math:`m` and the start
from :math:`m_0 = 0` are :math:`O(\eta/(1-\beta))` effects.  Its stationary points lie
in the box :math:`\|\lambda\theta\|_\infty \le 1` (Chen, Liang & Liu 2023, "Lion
secretly solves constrained optimization, as Lyapunov predicts", who study the
other regime, :math:`1 - \beta_i = O(\eta)`, and its Lyapunov function; that model is
not implemented here).

References: X. Chen et al., NeurIPS 2023 (arXiv:2302.06675); L. Chen, B. Liu,
K. Liang, Q. Liu, ICLR 2024 (arXiv:2310.05898); optax ``optax.lion``.
"""

import numpy as np

from .._jit import kernel
from ._base import (
    Hyperparameter,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_distance,
    sign_regime,
)

HP = layout("lr", "beta1", "beta2", "weight_decay")
HYPERPARAMETERS = HP._fields
SWITCHES = ("weight_decay",)
STATE_ROWS = 1  # the momentum m
N_STAGES = 1

#: The regularisation δ of the sign in the reference (see polyak.py).  Smaller than
#: the sign flows' 1e-9: Lion's Euler error is O(λ·lr) (the decay term; sign(c) =
#: sign(g) away from switches), and the regularisation's own error, δ·t/|g|, must
#: stay below it.
SLIDING_DELTA = 1e-12


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    beta1 = hp[HP.beta1]
    beta2 = hp[HP.beta2]
    decay = hp[HP.weight_decay]
    for i in range(theta.shape[0]):
        g = G[0, i]
        m = state[0, i]
        c = beta1 * m + (1.0 - beta1) * g
        direction = 0.0
        if c > 0.0:
            direction = 1.0
        elif c < 0.0:
            direction = -1.0
        if decay != 0.0:
            direction = direction + decay * theta[i]
        theta[i] = theta[i] - lr * direction
        state[0, i] = beta2 * m + (1.0 - beta2) * g


def _parameters(hp):
    return {"h": hp["lr"], "decay": hp["weight_decay"], "delta": SLIDING_DELTA}


def _field(t, z, grad, ode):
    g = grad(z)
    return -g / (np.abs(g) + ode["delta"]) - ode["decay"] * z


def _initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _inverse(h, ode, hp):
    return {**hp, "lr": h}  # betas and λ stay fixed


SIGN = Model(
    name="sign",
    ode="θ̇ = −sign(∇L) − λθ  (Filippov)",
    time="t_k = k·lr,  betas fixed",
    scheme="explicit Euler on the sign flow after m has relaxed to g (order 1)",
    order=1,
    state=("θ",),
    parameters=_parameters,
    field=_field,
    initial=_initial,
    inverse=_inverse,
    check_regime=sign_regime((("beta1", 0.9), ("beta2", 0.99))),
    preferred_method="Radau",
    note="betas fixed, lr -> 0: m is slaved to g (an O(lr/(1 − β₂)) lag and start-up);"
    " the sign is regularised (δ = 1e-12) so the reference slides as Filippov's "
    "solution does",
)

OPTIMIZERS = (
    Optimizer(
        name="lion",
        description="Lion (Chen et al. 2023): sign of a momentum interpolation",
        module=__name__,
        torch="optax.lion(learning_rate, b1, b2, weight_decay)",
        hyperparameters=(
            learning_rate(),
            Hyperparameter(
                "beta1",
                0.9,
                "interpolation β₁ of the update direction",
                low=0.0,
                high=1.0,
            ),
            Hyperparameter(
                "beta2",
                0.99,
                "decay β₂ of the momentum",
                low=0.0,
                high=1.0,
                high_open=True,
            ),
            Hyperparameter("weight_decay", 1e-3, "decoupled weight decay λ", low=0.0),
        ),
        models=(SIGN,),
        default_lr=lr_from_distance(1000.0),
    ),
)
