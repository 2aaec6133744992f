r"""AdaGrad (``torch.optim.Adagrad``).

**Update** (PyTorch; :math:`g_k = \nabla L(\theta_{k-1}) + w\theta_{k-1}`, sign flipped
when ``maximize``; :math:`S_0 = \tau` = ``initial_accumulator_value`` — the
documentation's pseudo-code says 0, the code uses τ):

.. math::

    \tilde\eta_k = \eta / (1 + (k-1)\delta), \qquad S_k = S_{k-1} + g_k^2, \qquad
    \theta_k = \theta_{k-1} - \tilde\eta_k\, g_k / (\sqrt{S_k} + \varepsilon)

**Model** ``flow``: the exact rescaling :math:`h = \eta^2`,
:math:`S^{ODE} = \eta^2 S`, :math:`\varepsilon' = \eta\varepsilon`,
:math:`S^{ODE}(0) = \eta^2\tau`:

.. math::

    \dot S = g \odot g, \qquad \dot\theta = -g / (\sqrt{S} + \varepsilon')

AdaGrad is exactly the "S-first" semi-implicit Euler step of this system, so its
natural clock is :math:`t_k = k\eta^2` (10⁴ steps per unit time at η = 0.01), order 1
in :math:`h`.  With :math:`S(0) = 0` the field is singular at t = 0
(:math:`\dot\theta \sim t^{-1/2}`) and the observed order drops to 1/2.  With
``lr_decay`` δ ≠ 0 the clock is :math:`t_k = \sum_{j \le k} \tilde\eta_j^2` and the
identity is no longer exact.

References: J. Duchi, E. Hazan, Y. Singer, JMLR 12 (2011); Su Jianlin,
kexue.fm/archives/6261.
"""

import math

import numpy as np

from .._jit import kernel
from ._base import (
    MAXIMIZE,
    WEIGHT_DECAY,
    Hyperparameter,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_distance,
    sqrt_start_travel,
)

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout(
    "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps", "maximize"
)
HYPERPARAMETERS = HP._fields
# Hyperparameters whose zero switches a feature off: the runner holds them as
# constants where the optimizers' defaults do (see odeopt._codegen).
SWITCHES = ("lr_decay", "weight_decay", "maximize")
STATE_ROWS = 1  # the sum of squared gradients S
N_STAGES = 1


def initial_state(hp, dim):
    """S₀ = initial_accumulator_value (PyTorch's code, not its pseudo-code)."""
    return np.full((STATE_ROWS, dim), float(hp["initial_accumulator_value"]))


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    lr_decay = hp[HP.lr_decay]
    weight_decay = hp[HP.weight_decay]
    eps = hp[HP.eps]
    maximize = hp[HP.maximize] != 0.0
    clr = lr / (1.0 + (k - 1) * lr_decay)
    for i in range(theta.shape[0]):
        g = -G[0, i] if maximize else G[0, i]
        if weight_decay != 0.0:
            g = g + weight_decay * theta[i]
        s = state[0, i] + g * g
        state[0, i] = s
        std = math.sqrt(s) + eps
        theta[i] = theta[i] + (-clr) * (g / std)


def _parameters(hp):
    lr = hp["lr"]
    return {
        "h": lr * lr,
        "eps": lr * hp["eps"],
        "S0": lr * lr * hp["initial_accumulator_value"],
    }


def _times(steps, hp):
    lr, decay = hp["lr"], hp["lr_decay"]
    if decay == 0.0:
        return steps * lr * lr
    k = np.arange(1, int(np.max(steps, initial=0)) + 1)
    clock = np.concatenate([[0.0], np.cumsum((lr / (1.0 + (k - 1) * decay)) ** 2)])
    return clock[np.asarray(steps, dtype=int)]


def _field(t, z, grad, ode):
    n = z.shape[0] // 2
    theta, s = z[:n], z[n:]
    g = grad(theta)
    return np.concatenate([-g / (np.sqrt(np.maximum(s, 0.0)) + ode["eps"]), g * g])


def _initial(theta0, grad, ode):
    theta0 = np.array(theta0, dtype=float)
    return np.concatenate([theta0, np.full_like(theta0, ode["S0"])])


def _inverse(h, ode, hp):
    lr = float(np.sqrt(h))
    return {
        **hp,
        "lr": lr,
        "eps": ode["eps"] / lr,
        "initial_accumulator_value": ode["S0"] / h,
    }


def _start(theta0, grad, ode):
    """Series start where S(0) = 0 makes the field singular (θ̇ ~ t^(-1/2)).

    For small t₀, g ≈ g₀ and S = g₀²t, so θ̇ = −g₀/(|g₀|√t + ε′) integrates exactly.
    """
    theta0 = np.array(theta0, dtype=float)
    if ode["S0"] > 0.0:
        return 0.0, np.concatenate([theta0, np.full_like(theta0, ode["S0"])])
    g0 = grad(theta0)
    t0 = 1e-14
    theta = theta0 - g0 * sqrt_start_travel(np.abs(g0), t0, ode["eps"])
    return t0, np.concatenate([theta, g0 * g0 * t0])


def _order(hp):
    # From S(0) = 0 the field is singular (θ̇ ~ t^(-1/2)) and the order drops to 1/2.
    return 1.0 if hp["initial_accumulator_value"] > 0.0 else 0.5


def _regime(given, surface):
    # From S(0) = 0 the order 1/2 is reached slowly (local orders 0.20, 0.23, ...,
    # 0.44 over ten halvings on rosenbrock, measured): three more levels than usual.
    if float(given.get("initial_accumulator_value", 0.0)) > 0.0:
        return {}
    return {"levels": 9}


FLOW = Model(
    name="flow",
    ode="θ̇ = −g/(√S + ε′),  Ṡ = g⊙g",
    time="t_k = k·lr²,  S = lr²·S_torch,  ε′ = lr·eps",
    scheme="S-first semi-implicit Euler, h = lr² (exact identity)",
    order=_order,
    state=("θ", "S"),
    parameters=_parameters,
    field=_field,
    initial=_initial,
    inverse=_inverse,
    times=_times,
    start=_start,
    check_regime=_regime,
    note="singular at S = 0: order 1/2 from S(0) = 0, 1 with initial_accumulator_value > 0; "
    "exact only for lr_decay = 0",
)


OPTIMIZERS = (
    Optimizer(
        name="adagrad",
        description="AdaGrad: semi-implicit Euler on θ̇ = −g/√S, Ṡ = g², clock lr²",
        module=__name__,
        torch="torch.optim.Adagrad(lr, lr_decay, weight_decay, "
        "initial_accumulator_value, eps, maximize)",
        hyperparameters=(
            learning_rate(),
            Hyperparameter("lr_decay", 0.0, "learning-rate decay δ", low=0.0),
            WEIGHT_DECAY,
            Hyperparameter(
                "initial_accumulator_value", 0.0, "initial value τ of S", low=0.0
            ),
            Hyperparameter("eps", 1e-10, "ε added to √S", low=0.0),
            MAXIMIZE,
        ),
        models=(FLOW,),
        default_lr=lr_from_distance(20.0),
    ),
)
