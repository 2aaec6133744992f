r"""Stochastic gradient descent, with heavy-ball or Nesterov momentum (``torch.optim.SGD``).

**Update** (PyTorch; step k uses :math:`g_k = \nabla L(\theta_{k-1}) + w\theta_{k-1}`,
with the sign of :math:`\nabla L` flipped when ``maximize``):

.. math::

    b_1 = g_1, \qquad b_k = \beta b_{k-1} + (1-\tau) g_k \\
    \theta_k = \theta_{k-1} - \eta\, b_k                 \quad\text{(heavy ball)} \\
    \theta_k = \theta_{k-1} - \eta\,(g_k + \beta b_k)    \quad\text{(Nesterov)}

and :math:`\theta_k = \theta_{k-1} - \eta g_k` without momentum (``gd``).

**Models** (brief §4.1–4.3):

* ``gd`` — gradient flow :math:`\dot\theta = -\nabla L`, :math:`t_k = k\eta`; GD is
  explicit Euler with step :math:`h = \eta`, order 1.
* ``momentum``/``nesterov`` — the low-resolution damped oscillator
  :math:`\ddot\theta + \lambda\dot\theta + \nabla L = 0` with :math:`h = \sqrt{\eta'}`,
  :math:`\lambda = (1-\beta)/\sqrt{\eta'}`, :math:`\eta' = \eta(1-\tau)`, velocity
  :math:`u_k = -h\,b_k/(1-\tau)`.  Heavy ball is exactly symplectic Euler
  (:math:`u_k = u_{k-1} + h(-\lambda u_{k-1} - \nabla L(\theta_{k-1}))`,
  :math:`\theta_k = \theta_{k-1} + h u_k`); Nesterov adds the gradient correction
  :math:`-\beta\eta(\nabla L(\theta_k) - \nabla L(\theta_{k-1}))`, an
  :math:`O(h)` term, so both agree with the oscillator to order 1 in :math:`h`.
  PyTorch's first step :math:`b_1 = g_1` (dampening ignored) is a start-up transient
  of the same order.

References: B. Polyak (1964); I. Sutskever et al., ICML 2013; B. Shi, S. Du,
M. Jordan, W. Su, arXiv:1810.08907; Su Jianlin, kexue.fm/archives/5655.
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
    learning_rate,
)

HYPERPARAMETERS = (
    "lr",
    "momentum",
    "dampening",
    "weight_decay",
    "nesterov",
    "maximize",
)
STATE_ROWS = 1  # the momentum buffer b
N_STAGES = 1


@kernel
def step(k, theta, state, G, hp):
    lr = hp[0]
    beta = hp[1]
    dampening = hp[2]
    weight_decay = hp[3]
    nesterov = hp[4] != 0.0
    maximize = hp[5] != 0.0
    for i in range(theta.shape[0]):
        g = -G[0, i] if maximize else G[0, i]
        if weight_decay != 0.0:
            g = g + weight_decay * theta[i]
        if beta != 0.0:
            if k == 1:
                b = g  # PyTorch's buffer starts as a copy of the first gradient
            else:
                b = state[0, i] * beta + (1.0 - dampening) * g
            state[0, i] = b
            g = g + beta * b if nesterov else b
        theta[i] = theta[i] + (-lr) * g


# -- continuous models ----------------------------------------------------------------


def _flow_parameters(hp):
    return {"h": hp["lr"]}


def _flow_field(t, z, grad, ode):
    return -grad(z)


def _flow_initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _flow_inverse(h, ode, hp):
    return {**hp, "lr": h}


GRADIENT_FLOW = Model(
    name="flow",
    ode="θ̇ = −∇L(θ)",
    time="t_k = k·lr",
    scheme="explicit Euler, h = lr",
    order=1,
    state=("θ",),
    parameters=_flow_parameters,
    field=_flow_field,
    initial=_flow_initial,
    inverse=_flow_inverse,
)


def _oscillator_parameters(hp):
    lr_eff = hp["lr"] * (1.0 - hp.get("dampening", 0.0))
    h = math.sqrt(lr_eff)
    return {"h": h, "friction": (1.0 - hp["momentum"]) / h}


def _oscillator_field(t, z, grad, ode):
    n = z.shape[0] // 2
    theta, u = z[:n], z[n:]
    return np.concatenate([u, -ode["friction"] * u - grad(theta)])


def _oscillator_initial(theta0, grad, ode):
    theta0 = np.array(theta0, dtype=float)
    return np.concatenate([theta0, np.zeros_like(theta0)])


def _oscillator_inverse(h, ode, hp):
    # h² = lr(1 - τ) and λ = (1 - β)/h, at the same dampening τ
    dampening = hp.get("dampening", 0.0)
    return {
        **hp,
        "lr": h * h / (1.0 - dampening),
        "momentum": 1.0 - ode["friction"] * h,
    }


def _oscillator(scheme):
    return Model(
        name="low-res",
        ode="θ̈ + λθ̇ + ∇L(θ) = 0",
        time="t_k = k·√lr",
        scheme=scheme,
        order=1,
        state=("θ", "u"),
        parameters=_oscillator_parameters,
        field=_oscillator_field,
        initial=_oscillator_initial,
        inverse=_oscillator_inverse,
        note="started at rest; PyTorch's first step b₁ = g₁ is an O(h) transient",
    )


def _one_over_curvature(surface, hp):
    return 1.0 / (surface.curvature() + hp.get("weight_decay", 0.0))


_RULE = "1/(L + weight_decay)"

MOMENTUM = Hyperparameter("momentum", 0.9, "momentum β", low=0.0)
DAMPENING = Hyperparameter("dampening", 0.0, "dampening τ of the buffer update")


def _check_nesterov(hp):
    if hp["momentum"] <= 0.0:
        return "Nesterov momentum requires momentum > 0"
    if hp.get("dampening", 0.0) != 0.0:
        return "Nesterov momentum requires zero dampening"
    return None


OPTIMIZERS = (
    Optimizer(
        name="gd",
        description="gradient descent: explicit Euler on the gradient flow",
        module=__name__,
        torch="torch.optim.SGD(lr, weight_decay, maximize)",
        hyperparameters=(learning_rate(), WEIGHT_DECAY, MAXIMIZE),
        fixed={"momentum": 0.0, "dampening": 0.0, "nesterov": 0.0},
        models=(GRADIENT_FLOW,),
        default_lr=_one_over_curvature,
        default_lr_rule=_RULE,
    ),
    Optimizer(
        name="momentum",
        description="heavy-ball momentum: symplectic Euler on a damped oscillator",
        module=__name__,
        torch="torch.optim.SGD(lr, momentum, dampening, weight_decay, maximize)",
        hyperparameters=(learning_rate(), MOMENTUM, DAMPENING, WEIGHT_DECAY, MAXIMIZE),
        fixed={"nesterov": 0.0},
        models=(_oscillator("symplectic Euler, h = √lr (exact identity)"),),
        default_lr=_one_over_curvature,
        default_lr_rule=_RULE,
    ),
    Optimizer(
        name="nesterov",
        description="Nesterov momentum: oscillator plus a gradient correction",
        module=__name__,
        torch="torch.optim.SGD(lr, momentum, nesterov=True, weight_decay, maximize)",
        hyperparameters=(learning_rate(), MOMENTUM, DAMPENING, WEIGHT_DECAY, MAXIMIZE),
        fixed={"nesterov": 1.0},
        models=(
            _oscillator("symplectic Euler plus the O(h) gradient correction, h = √lr"),
        ),
        default_lr=_one_over_curvature,
        default_lr_rule=_RULE,
        check=_check_nesterov,
    ),
)
