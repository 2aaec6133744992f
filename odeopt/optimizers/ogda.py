r"""Optimistic gradient descent(–ascent), in optax's generalised (α, β) form.

**Update** (``optax.optimistic_gradient_descent(learning_rate, alpha, beta)``,
after Mokhtari, Ozdaglar & Pattathil 2020, "A unified analysis of extra-gradient
and optimistic gradient methods for saddle point problems"):

.. math::

    θ_{k} = θ_{k-1} − η\,\bigl((α + β)\,g_k − β\,g_{k-1}\bigr),

g_k the field at θ_{k−1}; at the first step g₀ = g₁ (optax uses the current
gradient when there is no previous one), so the first step is θ − ηαg₁.  α = β = 1
is the optimism of Daskalakis, Ilyas, Syrgkanis & Zeng (2018), "Training GANs with
optimism": θ − η(2g_k − g_{k−1}).  The state row holds g_{k−1}.

**Models** (h = αη, t_k = k·h):

* ``flow``: θ̇ = −F(θ), order 1.
* ``high-res``: Lu (2020) (arXiv 2001.08826), the O(s)-resolution ODE
  θ̇ = −F + h(β/α − ½)JF, order 2.  Since g_{k−1} = F(θ) + αηJF + O(η²) at
  θ = θ_{k−1}, one step is θ − αηF + αβη²JF + O(η³) = θ − hF + (β/α)h²JF,
  which the flow with h = αη matches to O(h³); for α = β = 1 it is extragradient's θ̇ = −F + (h/2)JF.
  (The start-up g₀ = g₁ errs by O(η²) in one step: order 2 holds.)

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

HP = layout("lr", "alpha", "beta")
HYPERPARAMETERS = HP._fields
STATE_ROWS = 1  # the previous gradient
N_STAGES = 1


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    alpha = hp[HP.alpha]
    beta = hp[HP.beta]
    for i in range(theta.shape[0]):
        g = G[0, i]
        previous = g if k == 1 else state[0, i]
        theta[i] = theta[i] - lr * ((alpha + beta) * g - beta * previous)
        state[0, i] = g


def _parameters(hp):
    return {"h": hp["alpha"] * hp["lr"]}


def _high_res_parameters(hp):
    h = hp["alpha"] * hp["lr"]
    return {"h": h, "reg": h * (hp["beta"] / hp["alpha"] - 0.5)}


def _flow(t, z, grad, ode):
    return -grad(z)


def _high_res(t, z, grad, ode, hess):
    g = grad(z)
    return -g + ode["reg"] * (hess(z) @ g)


def _initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _inverse(h, ode, hp):
    return {**hp, "lr": h / hp["alpha"]}


OPTIMIZERS = (
    Optimizer(
        name="ogda",
        description="optimistic GDA, optax's generalised (α, β) form",
        module=__name__,
        torch="optax.optimistic_gradient_descent(lr, alpha, beta)",
        hyperparameters=(
            learning_rate("learning rate η"),
            Hyperparameter(
                "alpha", 1.0, "weight α of the current gradient", low=0.0, low_open=True
            ),
            Hyperparameter(
                "beta", 1.0, "optimism β (weight of the gradient change)", low=0.0
            ),
        ),
        models=(
            Model(
                name="flow",
                ode="θ̇ = −F(θ)",
                time="t_k = k·α·lr",
                scheme="two-step optimistic update, h = α·lr",
                order=1,
                state=("θ",),
                parameters=_parameters,
                field=_flow,
                initial=_initial,
                inverse=_inverse,
            ),
            Model(
                name="high-res",
                ode="θ̇ = −F + h(β/α − 1/2)·J·F",
                time="t_k = k·α·lr",
                scheme="two-step optimistic update, h = α·lr (Lu 2020)",
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
