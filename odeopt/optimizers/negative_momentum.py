r"""Alternating GDA with (negative) heavy-ball momentum (Gidel et al. 2019).

Gidel, Askari Hemmat, Pezeshki, Le Priol, Huang, Lacoste-Julien & Mitliagkas
(2019), "Negative momentum for improved game dynamics": each player runs Polyak's
heavy ball,

.. math::

    v_k = β v_{k-1} − η g_k,\qquad θ_k = θ_{k-1} + v_k \quad (v_0 = 0),

i.e. θ_{k} = θ_{k−1} − ηg_k + β(θ_{k−1} − θ_{k−2}), in alternating turns by default;
a negative β (default −0.5) damps the rotation of a bilinear game, where a
positive one makes it worse.  The state row holds v.

**Model** ``flow``: θ̇ = −F/(1 − β), t_k = k·η, order 1 (the heavy ball's
over-damped limit at fixed β; the start v₀ = 0 costs O(η)).

**Default learning rate** 1/(10L), L the field's spectral radius.
"""

import numpy as np

from .._jit import kernel
from ._base import (
    Hyperparameter,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_curvature,
)

HP = layout("lr", "momentum")
HYPERPARAMETERS = HP._fields
STATE_ROWS = 1  # the velocity v
N_STAGES = 1


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    beta = hp[HP.momentum]
    for i in range(theta.shape[0]):
        v = beta * state[0, i] - lr * G[0, i]
        state[0, i] = v
        theta[i] = theta[i] + v


def _parameters(hp):
    return {"h": hp["lr"], "speed": 1.0 / (1.0 - hp["momentum"])}


def _flow(t, z, grad, ode):
    return -ode["speed"] * grad(z)


def _initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _inverse(h, ode, hp):
    return {**hp, "lr": h}


OPTIMIZERS = (
    Optimizer(
        name="negative-momentum",
        description="alternating GDA with heavy-ball momentum β < 0 (Gidel et al.)",
        module=__name__,
        torch="per player: v ← βv − lr·g, θ ← θ + v (SGD momentum, β may be < 0)",
        hyperparameters=(
            learning_rate("learning rate η"),
            Hyperparameter(
                "momentum",
                -0.5,
                "momentum β",
                low=-1.0,
                low_open=True,
                high=1.0,
                high_open=True,
            ),
        ),
        models=(
            Model(
                name="flow",
                ode="θ̇ = −F(θ)/(1 − β)",
                time="t_k = k·lr",
                scheme="heavy ball, over-damped limit at fixed β",
                order=1,
                state=("θ",),
                parameters=_parameters,
                field=_flow,
                initial=_initial,
                inverse=_inverse,
            ),
        ),
        default_lr=lr_from_curvature(10.0),
        play="alternating",
    ),
)
