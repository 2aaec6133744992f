r"""Sign, normalised and Polyak-type steps: descent whose step length is not η‖g‖.

**Updates** (step k, :math:`g = \nabla L(\theta_{k-1})`, :math:`L = L(\theta_{k-1})`,
:math:`L^*` the known or assumed minimum value ``target``):

.. math::

    \text{sign-gd:}\quad       \theta_k = \theta_{k-1} - \eta\,\operatorname{sign}(g) \\
    \text{normalized-gd:}\quad \theta_k = \theta_{k-1} - \eta\, g/\|g\| \\
    \text{polyak:}\quad        \theta_k = \theta_{k-1} - \eta\,(L - L^*)\, g/\|g\|^2 \\
    \text{su-polyak:}\quad     \theta_k = \theta_{k-1}
                               - \eta\,(L - L^*)\,\frac{g}{\|g\|}\min(1/\|g\|, M)

with :math:`\operatorname{sign}(0) = 0` and no move where :math:`g = 0` (PyTorch's
``Adam(betas=(0, 0), eps=0)`` gives the same sign step).  Sign descent is the limit
of Adam and RMSprop without averaging; the normalised step is Su's scalar RMSprop
without averaging; Polyak's step (Polyak 1987, *Introduction to Optimization*) is the
step that would reach :math:`L^*` if L were linear; Su's truncated step caps the
factor :math:`1/\|g\|` at M so that the flow passes spurious critical points.

**Models** (:math:`h = \eta`, :math:`t_k = k\eta`; each scheme is explicit Euler):

* ``sign-gd``: :math:`\dot\theta = -\operatorname{sign}(\nabla L)`, so
  :math:`dL/dt = -\|\nabla L\|_1`.
* ``normalized-gd``: :math:`\dot\theta = -\nabla L/\|\nabla L\|`, so
  :math:`dL/dt = -\|\nabla L\|_2`; on :math:`\tfrac12\|\theta\|^2`,
  :math:`\|\theta(t)\| = \|\theta_0\| - t` until 0.
* ``polyak``: :math:`\dot\theta = -(L - L^*)\nabla L/\|\nabla L\|^2`, so
  :math:`L - L^* = (L_0 - L^*)e^{-t}` whatever the surface (the Lyapunov function
  :math:`e^t(L - L^*)` is constant); on :math:`\tfrac12\lambda x^2` Euler contracts
  by exactly :math:`1 - h/2` per step.
* ``su-polyak``: :math:`\dot\theta = -(L - L^*)\,(\nabla L/\|\nabla L\|)
  \min(1/\|\nabla L\|, M)`.

Order 1 while the field is smooth along the run.  The sign and normalised fields are
discontinuous (where a component of g, or g, vanishes) and have no asymptotically
stable point: they are read in the sense of Filippov (1988, *Differential Equations
with Discontinuous Righthand Sides*), where a solution that reaches a switching
surface from both sides *slides* along it with the convex combination of the two
fields tangent to it.  The reference follows the sliding motion by **regularisation**:
it integrates :math:`-g/(|g| + \delta)` (normalised: :math:`-g/(\|g\| + \delta)`)
with :math:`\delta = 10^{-9}` and the implicit Radau method.  Near a switching surface
the regularised field is a steep sigmoid across a layer of width
:math:`O(\delta/\|\nabla g\|)`; a solution enters the layer and stays there, moving
along it with the velocity of Utkin's equivalent control — the Filippov sliding
velocity — up to :math:`O(\delta)` (Sotomayor & Teixeira 1996, "Regularization of
discontinuous vector fields").  We chose it over an event-based solve (detect the
switch, then integrate the projected field) because it needs no case analysis of
which coordinates slide, works in any dimension and for intersecting surfaces, and
costs only stiffness, which Radau absorbs.  Euler does not slide: once a coordinate
reaches its switching surface it jumps across it every step, an :math:`O(h)` chatter
(sign descent on :math:`\tfrac12\lambda x^2` from 0.7 with :math:`\eta = 0.3`:
0.7, 0.4, 0.1, −0.2, 0.1, …), so the error is :math:`O(h)` but not a clean power of h
after a switch; ``odeopt check`` measures the order before the first switch.

Polyak-type fields are singular where :math:`\nabla L = 0` with :math:`L > L^*`: the
plain Polyak flow stops at a spurious local minimum, while the truncation at M lets
Su's flow roll through it (claim C19, ``su-double-well``).

References: B. Polyak, *Introduction to Optimization* (1987); A. F. Filippov,
*Differential Equations with Discontinuous Righthand Sides* (1988); J. Sotomayor,
M. A. Teixeira, "Regularization of discontinuous vector fields" (1996); J. Bernstein
et al., "signSGD: compressed optimisation for non-convex problems", ICML 2018;
Su Jianlin, kexue.fm/archives/6234 and /6261.
"""

import math

import numpy as np

from .._jit import kernel
from ._base import (
    Hyperparameter,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_distance,
)

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout("lr", "normalized", "polyak", "truncated", "target", "cap")
HYPERPARAMETERS = HP._fields
# Which step runs: each optimizer fixes these, so each lane function holds them.
SWITCHES = ("normalized", "polyak", "truncated")
STATE_ROWS = 0
N_STAGES = 1

#: The regularisation δ of the discontinuous fields in the reference (see above).
SLIDING_DELTA = 1e-9


@kernel
def step(k, theta, state, G, hp, values, aux):
    lr = hp[HP.lr]
    n = theta.shape[0]
    if hp[HP.normalized] == 0.0 and hp[HP.polyak] == 0.0:
        # sign descent, sign(0) = 0
        for i in range(n):
            g = G[0, i]
            if g > 0.0:
                theta[i] = theta[i] - lr
            elif g < 0.0:
                theta[i] = theta[i] + lr
        return
    norm2 = 0.0
    for i in range(n):
        norm2 += G[0, i] * G[0, i]
    if norm2 == 0.0:
        return  # a critical point: every field of this family is zero (or stops)
    norm = math.sqrt(norm2)
    if hp[HP.polyak] == 0.0:
        size = lr / norm
    elif hp[HP.truncated] == 0.0:
        size = lr * (values[0] - hp[HP.target]) / norm2
    else:
        size = lr * (values[0] - hp[HP.target]) * min(1.0 / norm, hp[HP.cap]) / norm
    for i in range(n):
        theta[i] = theta[i] - size * G[0, i]


# -- continuous models ----------------------------------------------------------------


def _parameters(hp):
    return {
        "h": hp["lr"],
        "target": float(hp.get("target", 0.0)),
        "cap": float(hp.get("cap", math.inf)),
        "delta": SLIDING_DELTA,
    }


def _inverse(h, ode, hp):
    return {**hp, "lr": h}


def _initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _sign_field(t, z, grad, ode):
    g = grad(z)
    return -g / (np.abs(g) + ode["delta"])


def _normalized_field(t, z, grad, ode):
    g = grad(z)
    return -g / (np.linalg.norm(g) + ode["delta"])


def _value_field(truncated):
    """The Polyak-type fields read the loss: ``grad`` carries it as ``grad.value``."""

    def field(t, z, grad, ode):
        g = grad(z)
        norm = float(np.linalg.norm(g))
        if norm == 0.0:
            return np.zeros_like(z)
        gap = grad.value(z) - ode["target"]
        if truncated:
            # discontinuous where g = 0 with L > L* (speed L·M on both sides):
            # regularised like the sign field, so the reference can slide or stop
            return -gap * min(1.0 / norm, ode["cap"]) * g / (norm + ode["delta"])
        return -gap * g / (norm * norm)

    return field


def _polyak_energy(t, theta, velocity, gap, x_star, ode):
    # L - L* = (L0 - L*) e^{-t} along the flow: e^t (L - L*) is constant
    return np.exp(t) * gap


def first_switch(surface, x0, limit=2.0):
    """When the sign flow from ``x0`` first meets a switching surface (some
    component of ∇L crossing zero, or falling to the regularisation's scale as the
    flow starts to slide), or None before ``limit``."""
    from scipy.integrate import solve_ivp

    x0 = np.asarray(x0, dtype=float)
    start = np.sign(surface.grad(x0))

    def field(t, z):
        g = surface.grad(z)
        return -g / (np.abs(g) + SLIDING_DELTA)

    def crossing(t, z):
        # a component that started non-zero crosses zero or slides (|gᵢ| → δ scale)
        g = surface.grad(z) * start
        live = start != 0.0
        return float(np.min(g[live], initial=1.0)) - 1e3 * SLIDING_DELTA

    crossing.terminal = True
    solution = solve_ivp(field, (0.0, limit), x0, method="Radau", events=crossing,
                         rtol=1e-8, atol=1e-10)  # fmt: skip
    hits = solution.t_events[0]
    return float(hits[0]) if hits.size else None


def _sign_regime(given, surface):
    # Euler is exact for the sign flow between switches (the field is constant
    # there): the error comes from crossing or sliding on a switching surface, up to
    # one step per switch.  The horizon takes in the first switch and a stretch
    # after it (1.5 times its time; rosenbrock: the transversal switch of g_y at
    # t ≈ 0.135; product-loss: b starts sliding along ab = 1 at t ≈ 0.28).
    switch = first_switch(surface, surface.x0)
    return {"hp": {"lr": 1e-3}, "horizon": 1.0 if switch is None else 1.5 * switch}


def _normalized_regime(given, surface):
    # before the flow reaches the minimum, where the field is discontinuous
    return {"hp": {"lr": 1e-3}, "horizon": 0.1}


_SLIDING_NOTE = (
    "discontinuous field, read in the Filippov sense: the reference regularises it "
    "(δ = 1e-9, Radau) and so follows sliding motions; Euler chatters O(h) across a "
    "switching surface instead, so odeopt check measures the order before any "
    "sliding"
)

SIGN_FLOW = Model(
    name="flow",
    ode="θ̇ = −sign(∇L)  (Filippov; dL/dt = −‖∇L‖₁)",
    time="t_k = k·lr",
    scheme="explicit Euler, h = lr",
    order=1,
    state=("θ",),
    parameters=_parameters,
    field=_sign_field,
    initial=_initial,
    inverse=_inverse,
    check_regime=_sign_regime,
    preferred_method="Radau",
    note=_SLIDING_NOTE + "; Euler is exact between switches (the field is constant), "
    "each transversal crossing costs O(h)",
)

NORMALIZED_FLOW = Model(
    name="flow",
    ode="θ̇ = −∇L/‖∇L‖  (Filippov at ∇L = 0; dL/dt = −‖∇L‖₂)",
    time="t_k = k·lr",
    scheme="explicit Euler, h = lr",
    order=1,
    state=("θ",),
    parameters=_parameters,
    field=_normalized_field,
    initial=_initial,
    inverse=_inverse,
    check_regime=_normalized_regime,
    preferred_method="Radau",
    note=_SLIDING_NOTE.replace("a switching surface", "the minimum"),
)

POLYAK_FLOW = Model(
    name="flow",
    ode="θ̇ = −(L − L*)∇L/‖∇L‖²  (L − L* = (L₀ − L*)e^{−t})",
    time="t_k = k·lr",
    scheme="explicit Euler, h = lr",
    order=1,
    state=("θ",),
    parameters=_parameters,
    field=_value_field(truncated=False),
    initial=_initial,
    inverse=_inverse,
    lyapunov=_polyak_energy,
    lyapunov_text="E = e^t (L − L*), constant along the flow (L − L* decays as e^{−t})",
    note="singular where ∇L = 0 with L > L* (a spurious critical point stops it); "
    "on ½λx² Euler contracts by exactly 1 − h/2 per step",
)

SU_POLYAK_FLOW = Model(
    name="flow",
    ode="θ̇ = −(L − L*)(∇L/‖∇L‖)·min(1/‖∇L‖, M)",
    time="t_k = k·lr",
    scheme="explicit Euler, h = lr",
    order=1,
    state=("θ",),
    parameters=_parameters,
    field=_value_field(truncated=True),
    initial=_initial,
    inverse=_inverse,
    note="the cap M bounds the speed at critical points with L > L*, so the flow "
    "rolls through spurious minima (Su's double well: ends near the global minimum)",
)


def _fixed_lr(value):
    """A default step that does not depend on the surface: the Polyak-type steps
    are scale-free (the flow's clock is L − L* ∝ e^{−t})."""

    def default_lr(surface, hp):
        return value

    default_lr.rule = f"{value:g}"
    return default_lr


TARGET = Hyperparameter("target", 0.0, "known (or assumed) minimum value L*")

OPTIMIZERS = (
    Optimizer(
        name="sign-gd",
        description="sign descent: Euler on the (Filippov) sign flow θ̇ = −sign(∇L)",
        module=__name__,
        torch="torch.optim.Adam(lr, betas=(0, 0), eps=0)",
        hyperparameters=(learning_rate("step length η per coordinate"),),
        fixed={
            "normalized": 0.0,
            "polyak": 0.0,
            "truncated": 0.0,
            "target": 0.0,
            "cap": 0.0,
        },
        models=(SIGN_FLOW,),
        default_lr=lr_from_distance(100.0),
    ),
    Optimizer(
        name="normalized-gd",
        description="normalised GD: Euler on θ̇ = −∇L/‖∇L‖",
        module=__name__,
        torch="none",
        hyperparameters=(learning_rate("step length η"),),
        fixed={
            "normalized": 1.0,
            "polyak": 0.0,
            "truncated": 0.0,
            "target": 0.0,
            "cap": 0.0,
        },
        models=(NORMALIZED_FLOW,),
        default_lr=lr_from_distance(100.0),
    ),
    Optimizer(
        name="polyak",
        description="Polyak step (L − L*)g/‖g‖²: Euler on a flow with L − L* ∝ e^{−t}",
        module=__name__,
        torch="none",
        hyperparameters=(learning_rate("Euler step h (1: Polyak's step)"), TARGET),
        fixed={"normalized": 1.0, "polyak": 1.0, "truncated": 0.0, "cap": 0.0},
        models=(POLYAK_FLOW,),
        default_lr=_fixed_lr(0.1),
    ),
    Optimizer(
        name="su-polyak",
        description="Su's truncated Polyak flow: (L − L*)(g/‖g‖)min(1/‖g‖, M)",
        module=__name__,
        torch="none",
        hyperparameters=(
            learning_rate("Euler step h"),
            TARGET,
            Hyperparameter(
                "cap", 1000.0, "truncation M of 1/‖g‖", low=0.0, low_open=True
            ),
        ),
        fixed={"normalized": 1.0, "polyak": 1.0, "truncated": 1.0},
        models=(SU_POLYAK_FLOW,),
        default_lr=_fixed_lr(0.01),
    ),
)
