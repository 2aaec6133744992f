r"""NAG-C: Nesterov's accelerated gradient for convex functions, in the Su–Boyd–Candès form.

**Update** (W. Su, S. Boyd, E. Candès 2016, with the generalised coefficient of their
"magic constant 3" discussion; :math:`g(y) = \nabla f(y) + w y`, with the sign of
:math:`\nabla f` flipped when ``maximize``):

.. math::

    x_k = y_{k-1} - s\, g(y_{k-1}), \qquad
    y_k = x_k + \frac{k-1}{k+r-1}\,(x_k - x_{k-1}), \qquad y_0 = x_0

(``r = 3`` is Nesterov's original method).  The recorded iterate :math:`\theta_k` is
:math:`x_k`, the point SBC's theorems are about; the gradient is evaluated at the
extrapolated point :math:`y_{k-1}` (a ``stage_point``), so a run's ``tol`` tests
:math:`\|g(y_{k-1})\|`.  The only state is :math:`x_{k-1}`.  It is not a
``torch.optim`` optimizer (PyTorch's ``nesterov=True`` is the constant-momentum
NAG-SC form, ``odeopt`` optimizer ``nesterov``).

**Model** ``sbc`` (Su, Boyd & Candès 2016): the low-resolution ODE

.. math::

    \ddot X + \frac{r}{t}\dot X + g(X) = 0, \qquad X(0) = x_0,\ \dot X(0) = 0,
    \qquad t_k = k\sqrt s

with :math:`h = \sqrt s` (state :math:`(X, \dot X)`).  SBC prove
:math:`\max_{k \le T/\sqrt s}\|x_k - X(k\sqrt s)\| \to 0`; the error is
:math:`O(\sqrt s)`, order 1 in :math:`h` (it shrinks by √10 per decade of ``s``).
The friction :math:`r/t` is singular at :math:`t = 0`: the reference starts at
:math:`t_0 = 10^{-8}` from the series solution
:math:`X = x_0 - t^2 g_0/(2(1+r))`, :math:`\dot X = -t g_0/(1+r)` (the next terms
are :math:`O(t^4)`).  On :math:`f = \tfrac12\lambda x^2` the solution is
:math:`X(t) = x_0\,\Gamma(\tfrac{r+1}{2})\,(2/(\sqrt\lambda t))^{(r-1)/2}
J_{(r-1)/2}(\sqrt\lambda t)`, e.g. :math:`2x_0 J_1(\sqrt\lambda t)/(\sqrt\lambda t)`
for ``r = 3``.  ``r = 0`` (no friction) is allowed: the ODE is then Newton's
:math:`\ddot X = -g`, still matched to order 1.

**Default learning rate** :math:`s = 1/(25(L + w))`, i.e.
:math:`\sqrt s = 1/(5\sqrt{L + w})` (:math:`L` the surface's curvature).  SBC's bound
:math:`f(x_k) - f^\star \le 2\|x_0 - x^\star\|^2/(s(k+1)^2)` only needs
:math:`s \le 1/L`, and on a quadratic the scheme is stable while
:math:`s\lambda < 4/3` (momentum → 1), but the momentum (k−1)/(k+r−1) → 1 keeps
accelerating along flat valleys into regions of higher curvature than at the start.
On ``product-loss`` the ODE drifts along the hyperbola :math:`ab = 1` as
:math:`b \approx (1.6c)^{1/4}\sqrt t`, where the curvature is :math:`b^2`, so any
fixed :math:`s` diverges eventually: measured, :math:`s = 1/L` after a few hundred
steps, :math:`1/(4L)` after about 1 800, :math:`1/(12L)` after about 6 500, while
:math:`1/(25L)` (where :math:`L \approx 9.7`) keeps :math:`s\,b^2 < 1` over the default 10 000 steps.

References: Y. Nesterov, Soviet Math. Dokl. 27 (1983); W. Su, S. Boyd, E. Candès,
JMLR 17 (2016), arXiv:1503.01243.
"""

import numpy as np

from .._jit import kernel
from ..errors import HyperparameterError
from ._base import (
    MAXIMIZE,
    WEIGHT_DECAY,
    Hyperparameter,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_curvature,
)

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout("lr", "r", "weight_decay", "maximize")
HYPERPARAMETERS = HP._fields
# Hyperparameters whose zero switches a feature off: the runner holds them as
# constants where the optimizers' defaults do (see odeopt._codegen).
SWITCHES = ("weight_decay", "maximize")
STATE_ROWS = 1  # the previous iterate x_{k-1}
N_STAGES = 1


@kernel
def stage_point(stage, k, theta, state, G, hp, y):
    # On entry to step k, theta = x_{k-1} and state[0] = x_{k-2}; writes y_{k-1} into
    # y.  y_0 = x_0, and the coefficient (j-1)/(j+r-1) of y_j vanishes at j = 1.
    r = hp[HP.r]
    j = k - 1
    c = 0.0 if j < 2 else (j - 1.0) / (j + r - 1.0)
    for i in range(theta.shape[0]):
        y[i] = theta[i] if j < 2 else theta[i] + c * (theta[i] - state[0, i])


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    r = hp[HP.r]
    weight_decay = hp[HP.weight_decay]
    maximize = hp[HP.maximize] != 0.0
    j = k - 1
    c = 0.0 if j < 2 else (j - 1.0) / (j + r - 1.0)
    for i in range(theta.shape[0]):
        # the same y_{k-1} as stage_point (same formula, same rounding)
        y = theta[i] if j < 2 else theta[i] + c * (theta[i] - state[0, i])
        g = -G[0, i] if maximize else G[0, i]
        if weight_decay != 0.0:
            g = g + weight_decay * y
        state[0, i] = theta[i]
        theta[i] = y + (-lr) * g


# -- continuous model -----------------------------------------------------------------


def _parameters(hp):
    return {"h": float(np.sqrt(hp["lr"])), "r": hp["r"]}


def _field(t, z, grad, ode):
    n = z.shape[0] // 2
    x, u = z[:n], z[n:]
    g = grad(x)
    if t > 0.0:
        du = -(ode["r"] / t) * u - g
    else:  # the limit t -> 0 from u(0) = 0: u ≈ -t g₀/(1 + r)
        du = -g / (1.0 + ode["r"])
    return np.concatenate([u, du])


def _initial(theta0, grad, ode):
    theta0 = np.array(theta0, dtype=float)
    return np.concatenate([theta0, np.zeros_like(theta0)])


def _start(theta0, grad, ode):
    """Series start at t₀ = 1e-8, past the singular friction r/t."""
    theta0 = np.array(theta0, dtype=float)
    g0 = grad(theta0)
    t0 = 1e-8
    rate = 1.0 / (1.0 + ode["r"])
    return t0, np.concatenate([theta0 - 0.5 * rate * t0 * t0 * g0, -rate * t0 * g0])


def _lyapunov(t, x, v, gap, x_star, ode):
    # SBC (2016) Thm 3 for r = 3 and its generalisation (§4.1) for r > 1
    r = ode["r"]
    if r <= 1.0:
        raise HyperparameterError(
            f"the SBC Lyapunov function needs r > 1, got r = {r:g}"
        )
    t = np.asarray(t, dtype=float)[:, None]
    w = x - x_star + t * v / (r - 1.0)
    return 2.0 * t[:, 0] ** 2 / (r - 1.0) * gap + (r - 1.0) * np.sum(w * w, axis=1)


def _inverse(h, ode, hp):
    return {**hp, "lr": h * h, "r": ode["r"]}


SBC = Model(
    name="sbc",
    ode="θ̈ + (r/t)·θ̇ + ∇L(θ) = 0,  θ(0) = x₀,  θ̇(0) = 0",
    time="t_k = k·√lr",
    scheme="SBC's two-sequence scheme, h = √lr (order 1)",
    order=1,
    state=("θ", "u"),
    parameters=_parameters,
    field=_field,
    initial=_initial,
    inverse=_inverse,
    start=_start,
    lyapunov=_lyapunov,
    lyapunov_text="E = t²(L − L*) + 2‖θ − x* + tθ̇/2‖² for r = 3; in general "
    "2t²(L − L*)/(r − 1) + (r − 1)‖θ − x* + tθ̇/(r − 1)‖², non-increasing on convex L "
    "for r ≥ 3, so L − L* ≤ (r − 1)²‖x₀ − x*‖²/(2t²)",
    note="friction r/t singular at t = 0: the reference starts from the series "
    "θ ≈ x₀ − t²∇L(x₀)/(2(1 + r)) at t₀ = 1e-8",
)


OPTIMIZERS = (
    Optimizer(
        name="nag-c",
        description="NAG-C (Su–Boyd–Candès): Nesterov with momentum (k−1)/(k+r−1)",
        module=__name__,
        torch="none (x_k = y_{k−1} − lr·g(y_{k−1}), "
        "y_k = x_k + (k−1)/(k+r−1)·(x_k − x_{k−1}))",
        hyperparameters=(
            learning_rate("step size s"),
            Hyperparameter(
                "r", 3.0, "friction constant r of (k−1)/(k+r−1) (3: Nesterov)", low=0.0
            ),
            WEIGHT_DECAY,
            MAXIMIZE,
        ),
        models=(SBC,),
        default_lr=lr_from_curvature(25.0),
    ),
)
