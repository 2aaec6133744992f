r"""A family outside the package that uses every optional role of the contract.

Polyak's step with a known minimum value :math:`L^*` (``hp[1]``),

.. math:: \theta_k = \Pi\big(\theta_{k-1} - s_{k-1}\,\frac{L(\theta_{k-1}) - L^*}
          {\|g_k\|^2 + \epsilon}\, g_k\big),

where the scalar state ``s`` (``aux[0]``, starting at ``hp[2]``) decays by ``hp[3]``
each step and :math:`\Pi` clips every coordinate at ``hp[4]`` from below (``post``).
It reads the loss value (``values``), keeps scalar state (``aux``) and projects after
each step: what Polyak-type steps, learnt step sizes and domains need.  Used by
``tests/test_contract.py`` only.
"""

import numpy as np

from odeopt._jit import kernel
from odeopt.optimizers._base import (
    Hyperparameter,
    Model,
    Optimizer,
    learning_rate,
    lr_from_curvature,
)

HYPERPARAMETERS = ("lr", "target", "scale", "decay", "floor")
STATE_ROWS = 0
N_STAGES = 1
N_AUX = 1


def initial_aux(hp):
    return np.array([hp["scale"]])


@kernel
def step(k, theta, state, G, hp, values, aux):
    norm2 = 1e-300
    for i in range(theta.shape[0]):
        norm2 += G[0, i] * G[0, i]
    size = aux[0] * (values[0] - hp[1]) / norm2
    for i in range(theta.shape[0]):
        theta[i] = theta[i] - size * G[0, i]
    aux[0] = aux[0] * hp[3]


@kernel
def post(k, theta, state, hp):
    for i in range(theta.shape[0]):
        theta[i] = max(theta[i], hp[4])


FLOW = Model(
    name="flow",
    ode="θ̇ = −∇L (a placeholder clock for the contract test)",
    time="t_k = k·lr",
    scheme="Polyak step",
    order=1.0,
    state=("θ",),
    parameters=lambda hp: {"h": hp["lr"]},
    field=lambda t, z, grad, ode: -grad(z),
    initial=lambda theta0, grad, ode: np.array(theta0, dtype=float),
    inverse=lambda h, ode, hp: {**hp, "lr": h},
)

OPTIMIZERS = (
    Optimizer(
        name="contract-polyak",
        description="Polyak step with a decaying scale and a floor (contract test)",
        module=__name__,
        torch="none",
        hyperparameters=(
            learning_rate(),
            Hyperparameter("target", 0.0, "known minimum value L*"),
            Hyperparameter("scale", 1.0, "initial scale s0", low=0.0),
            Hyperparameter("decay", 1.0, "scale decay per step", low=0.0),
            Hyperparameter("floor", -1e300, "lower bound of every coordinate"),
        ),
        models=(FLOW,),
        default_lr=lr_from_curvature(),
    ),
)
