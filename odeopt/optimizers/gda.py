r"""Gradient descent–ascent: every player steps down its own field, at once or in turns.

**Update** (on a game's field F = (∇ₓf, −∇_y f), see :class:`odeopt._roles.Play`):
each player j takes θ_j ← θ_j − η_j F_j.  ``gda`` moves the players simultaneously
(every F_j at the same point); ``alternating-gda`` in turns, each evaluating the
field after the moves before it (``d_steps=k``: the discriminator k times per
generator move).  On one loss both are plain gradient descent.

**Models** (t_k = k·η, one learning rate η for every player):

* ``flow``: the GDA flow θ̇ = −F(θ), order 1.
* ``modified``: the modified flows of Rosca, Wu, Dherin & Barrett (2021),
  "Discretization drift in two-player games" — what the discrete updates follow to
  O(η²) per step, so order 2.  Simultaneous: θ̇ = −F − (η/2)JF (J = ∂F/∂θ, the
  Jacobian, not symmetric).  Alternating, the first player x then y:

  .. math::

      \dot x = −F_x − \tfrac{η}{2}(J_{xx}F_x + J_{xy}F_y),\qquad
      \dot y = −F_y − \tfrac{η}{2}(J_{yy}F_y − J_{yx}F_x):

  the second mover sees the first's move, which flips the sign of its interaction
  term (derived by matching the Taylor series of one alternating step,
  y' = y − ηF_y + η²J_{yx}F_x + O(η³), with the flow's).  The alternating model
  assumes two players of equal blocks moving (0, 1), as every game in
  ``odeopt.surfaces`` has.

On the bilinear game f = θφ simultaneous GDA's radius grows by √(1 + η²) per step
and alternating GDA conserves θ² + φ² − ηθφ (Zhang, Wang, Lessard & Grosse 2022,
"Near-optimal local convergence of alternating gradient descent-ascent for minimax
optimization").

**Clipping** (``clip = c > 0``, usually given to one player: ``hp={"discriminator":
{"clip": 0.01}}``): after each move the player's block is projected onto [−c, c]ⁿ,
WGAN's weight clipping (Arjovsky, Chintala & Bottou 2017) as a projection.  The
models hold while the projection is inactive.

**Default learning rate** 1/(10L), L the field's spectral radius (the surface's
curvature): h = 0.1 on the unit rotation.
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

HP = layout("lr", "clip")
HYPERPARAMETERS = HP._fields
# clip = 0: no projection, held as a constant where the optimizers' default holds it
SWITCHES = ("clip",)
STATE_ROWS = 0
N_STAGES = 1


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    for i in range(theta.shape[0]):
        theta[i] = theta[i] - lr * G[0, i]


@kernel
def post(k, theta, state, hp):
    # WGAN's weight clipping (Arjovsky, Chintala & Bottou 2017): the projection onto
    # the box [−c, c]ⁿ after each step, for the player whose hp sets clip = c > 0.
    clip = hp[HP.clip]
    if clip > 0.0:
        for i in range(theta.shape[0]):
            theta[i] = min(max(theta[i], -clip), clip)


# -- continuous models ----------------------------------------------------------------


def _parameters(hp):
    return {"h": hp["lr"]}


def _modified_parameters(hp):
    return {"h": hp["lr"], "reg": hp["lr"] / 2.0}


def _flow(t, z, grad, ode):
    return -grad(z)


def _simultaneous_modified(t, z, grad, ode, hess):
    g = grad(z)
    return -(g + ode["reg"] * (hess(z) @ g))


def _alternating_modified(t, z, grad, ode, hess):
    g = grad(z)
    jac = hess(z)
    n = z.size // 2
    drift = jac @ g
    # the second mover: J_yy F_y − J_yx F_x
    drift[n:] = jac[n:, n:] @ g[n:] - jac[n:, :n] @ g[:n]
    return -(g + ode["reg"] * drift)


def _initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _inverse(h, ode, hp):
    return {**hp, "lr": h}


FLOW = Model(
    name="flow",
    ode="θ̇ = −F(θ)",
    time="t_k = k·lr",
    scheme="explicit Euler (simultaneous) or its split form (alternating), h = lr",
    order=1,
    state=("θ",),
    parameters=_parameters,
    field=_flow,
    initial=_initial,
    inverse=_inverse,
)

SIMULTANEOUS_MODIFIED = Model(
    name="modified",
    ode="θ̇ = −F − (lr/2)·J·F",
    time="t_k = k·lr",
    scheme="explicit Euler, h = lr (Rosca et al. 2021)",
    order=2,
    state=("θ",),
    parameters=_modified_parameters,
    field=_simultaneous_modified,
    initial=_initial,
    inverse=_inverse,
    needs_hessian=True,
)

ALTERNATING_MODIFIED = Model(
    name="modified",
    ode="ẋ = −F_x − (lr/2)(J_xx F_x + J_xy F_y), ẏ = −F_y − (lr/2)(J_yy F_y − J_yx F_x)",
    time="t_k = k·lr",
    scheme="x then y, h = lr (Rosca et al. 2021)",
    order=2,
    state=("θ",),
    parameters=_modified_parameters,
    field=_alternating_modified,
    initial=_initial,
    inverse=_inverse,
    needs_hessian=True,
    note="two players of equal blocks, moving x then y (turns (0, 1))",
)

_LR = learning_rate("learning rate η (each player's own with hp={player: ...})")
_CLIP = Hyperparameter(
    "clip", 0.0, "weight clipping c: project onto [−c, c] after each step (0: off)",
    low=0.0,
)  # fmt: skip

OPTIMIZERS = (
    Optimizer(
        name="gda",
        description="simultaneous gradient descent–ascent",
        module=__name__,
        torch="torch.optim.SGD(lr) per player, both stepped after both backward passes",
        hyperparameters=(_LR, _CLIP),
        models=(FLOW, SIMULTANEOUS_MODIFIED),
        default_lr=lr_from_curvature(10.0),
        play="simultaneous",
    ),
    Optimizer(
        name="alternating-gda",
        description="alternating gradient descent–ascent (d_steps moves per turn)",
        module=__name__,
        torch="torch.optim.SGD(lr) per player, each stepped after its own backward",
        hyperparameters=(_LR, _CLIP),
        models=(FLOW, ALTERNATING_MODIFIED),
        default_lr=lr_from_curvature(10.0),
        play="alternating",
    ),
)
