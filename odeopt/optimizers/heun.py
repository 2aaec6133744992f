r"""Su's "intrusive" Heun optimiser: the explicit trapezoid rule (RK2) on the gradient flow.

**Update** (Su Jianlin, kexue.fm/archives/5879; :math:`g(p) = \nabla L(p) + w p`, with
the sign of :math:`\nabla L` flipped when ``maximize``): two gradient evaluations per
step,

.. math::

    \tilde p = \theta_{k-1} - \varepsilon\, g(\theta_{k-1}) \\
    \theta_k = \tilde p - \tfrac{\varepsilon}{2}\,\bigl(g(\tilde p) - g(\theta_{k-1})\bigr)
             = \theta_{k-1} - \tfrac{\varepsilon}{2}\,\bigl(g(\theta_{k-1})
               + g(\tilde p)\bigr)

(the kernel computes Su's first form).  It is not a ``torch.optim`` optimizer: a
PyTorch version needs a closure that re-evaluates the loss at :math:`\tilde p`.

**Model** ``flow``: the gradient flow
:math:`\dot\theta = -g(\theta)`, :math:`t_k = k\varepsilon`.  The update *is* Heun's
method (explicit trapezoid, RK2) with step :math:`h = \varepsilon`, so the global error
against the **plain** flow is :math:`O(\varepsilon^2)` — order 2, where GD has order 1.
Its modified equation has no :math:`O(\varepsilon)` term: Heun removes the implicit
gradient regularisation :math:`-\tfrac{\varepsilon}{4}\nabla\|\nabla L\|^2` of GD
(claims C27, C37).

**Default learning rate** :math:`1/(L + w)`, as for ``gd`` (:math:`L` the surface's
curvature): on a quadratic, Heun is stable for :math:`\varepsilon\lambda < 2`, like GD.

References: Su Jianlin, kexue.fm/archives/5879 (Keras custom optimisers); E. Hairer,
S. Nørsett, G. Wanner, *Solving Ordinary Differential Equations I*, §II.1.
"""

import numpy as np

from .._jit import kernel
from ._base import (
    MAXIMIZE,
    WEIGHT_DECAY,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_curvature,
)

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout("lr", "weight_decay", "maximize")
HYPERPARAMETERS = HP._fields
# Hyperparameters whose zero switches a feature off: the runner holds them as
# constants where the optimizers' defaults do (see odeopt._codegen).
SWITCHES = ("weight_decay", "maximize")
STATE_ROWS = 0  # no state: θ alone
N_STAGES = 2


@kernel
def effective(gradient, theta_i, weight_decay, maximize):
    # g = ±∇L + w·θ (PyTorch's order: maximize first, then L2 decay)
    g = -gradient if maximize else gradient
    if weight_decay != 0.0:
        g = g + weight_decay * theta_i
    return g


@kernel
def stage_point(stage, k, theta, state, G, hp, y):
    lr = hp[HP.lr]
    weight_decay = hp[HP.weight_decay]
    maximize = hp[HP.maximize] != 0.0
    for i in range(theta.shape[0]):
        if stage == 0:
            y[i] = theta[i]
        else:  # the predictor p̃ = θ − ε g(θ)
            g0 = effective(G[0, i], theta[i], weight_decay, maximize)
            y[i] = theta[i] + (-lr) * g0


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    weight_decay = hp[HP.weight_decay]
    maximize = hp[HP.maximize] != 0.0
    for i in range(theta.shape[0]):
        g0 = effective(G[0, i], theta[i], weight_decay, maximize)
        predictor = theta[i] + (-lr) * g0  # the same p̃ as stage_point
        g1 = effective(G[1, i], predictor, weight_decay, maximize)
        theta[i] = predictor + (-0.5 * lr) * (g1 - g0)


# -- continuous model -----------------------------------------------------------------


def _parameters(hp):
    return {"h": hp["lr"]}


def _field(t, z, grad, ode):
    return -grad(z)


def _initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _inverse(h, ode, hp):
    return {**hp, "lr": h}


FLOW = Model(
    name="flow",
    ode="θ̇ = −∇L(θ)",
    time="t_k = k·lr",
    scheme="explicit trapezoid (Heun, RK2), h = lr (exact identity)",
    order=2,
    state=("θ",),
    parameters=_parameters,
    field=_field,
    initial=_initial,
    inverse=_inverse,
    note="second order against the plain gradient flow: no implicit gradient "
    "regularisation at O(lr)",
)


OPTIMIZERS = (
    Optimizer(
        name="heun",
        description="Heun (Su's RK2 optimiser): explicit trapezoid on the gradient flow",
        module=__name__,
        torch="none (two gradients per step: p̃ = θ − lr·g(θ), "
        "θ ← p̃ − lr/2·(g(p̃) − g(θ)))",
        hyperparameters=(learning_rate("learning rate ε"), WEIGHT_DECAY, MAXIMIZE),
        models=(FLOW,),
        default_lr=lr_from_curvature(),
    ),
)
