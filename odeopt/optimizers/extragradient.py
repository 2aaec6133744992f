r"""Extragradient: step from a look-ahead point's field (Korpelevich 1976).

**Update** (players simultaneously, each in its block): the look-ahead
θ̃ = θ − ηF(θ), then θ ← θ − ηF(θ̃).  Two field evaluations per step (``N_STAGES
= 2``, the look-ahead as the second stage point).

**Models** (t_k = k·η):

* ``flow``: θ̇ = −F(θ), order 1.
* ``high-res``: Lu (2020), "An O(s^r)-resolution ODE framework for understanding
  discrete-time algorithms and applications to the linear convergence of minimax
  problems" (arXiv 2001.08826): the O(s)-resolution ODE θ̇ = −F + (η/2)JF, order 2.
  One step is θ − ηF + η²JF + O(η³); the flow θ̇ = −F + ηcJF advances by
  θ − ηF + η²(c + ½)JF + O(η³), so c = ½: the opposite sign of simultaneous GDA's
  −(η/2)JF.  On a rotation F = Jθ (J² = −ω²I) the field −J + (η/2)J² has
  eigenvalues −ηω²/2 ± iω: extragradient spirals in where GDA spirals out.

**Default learning rate** 1/(10L), L the field's spectral radius.
"""

import numpy as np

from .._jit import kernel
from ._base import Model, Optimizer, layout, learning_rate, lr_from_curvature

HP = layout("lr")
HYPERPARAMETERS = HP._fields
STATE_ROWS = 0
N_STAGES = 2


@kernel
def stage_point(stage, k, theta, state, G, hp, y):
    lr = hp[HP.lr]
    for i in range(theta.shape[0]):
        if stage == 0:
            y[i] = theta[i]
        else:  # the look-ahead θ − ηF(θ)
            y[i] = theta[i] - lr * G[0, i]


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    for i in range(theta.shape[0]):
        theta[i] = theta[i] - lr * G[1, i]


def _parameters(hp):
    return {"h": hp["lr"]}


def _high_res_parameters(hp):
    return {"h": hp["lr"], "reg": hp["lr"] / 2.0}


def _flow(t, z, grad, ode):
    return -grad(z)


def _high_res(t, z, grad, ode, hess):
    g = grad(z)
    return -g + ode["reg"] * (hess(z) @ g)


def _initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _inverse(h, ode, hp):
    return {**hp, "lr": h}


OPTIMIZERS = (
    Optimizer(
        name="extragradient",
        description="extragradient: the field at the look-ahead θ − ηF(θ)",
        module=__name__,
        torch="none (two gradients per step: a look-ahead, then the step from θ)",
        hyperparameters=(learning_rate("learning rate η"),),
        models=(
            Model(
                name="flow",
                ode="θ̇ = −F(θ)",
                time="t_k = k·lr",
                scheme="extragradient, h = lr",
                order=1,
                state=("θ",),
                parameters=_parameters,
                field=_flow,
                initial=_initial,
                inverse=_inverse,
            ),
            Model(
                name="high-res",
                ode="θ̇ = −F + (lr/2)·J·F",
                time="t_k = k·lr",
                scheme="extragradient, h = lr (Lu 2020, O(s)-resolution)",
                order=2,
                state=("θ",),
                parameters=_high_res_parameters,
                field=_high_res,
                initial=_initial,
                inverse=_inverse,
                needs_hessian=True,
            ),
        ),
        default_lr=lr_from_curvature(10.0),
        play="simultaneous",
    ),
)
