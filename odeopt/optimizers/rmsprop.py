r"""RMSprop (``torch.optim.RMSprop``), centred and with momentum.

**Update** (PyTorch; :math:`g_k = \nabla L(\theta_{k-1}) + w\theta_{k-1}`, sign flipped
when ``maximize``; :math:`v_0 = \bar g_0 = b_0 = 0`):

.. math::

    v_k = \alpha v_{k-1} + (1-\alpha) g_k^2, \qquad
    \bar g_k = \alpha \bar g_{k-1} + (1-\alpha) g_k \ \text{(centred)} \\
    d_k = \sqrt{v_k - \bar g_k^2} + \varepsilon \ \text{(centred)}, \quad
    d_k = \sqrt{v_k} + \varepsilon \ \text{(otherwise)} \\
    b_k = \mu b_{k-1} + g_k / d_k, \ \theta_k = \theta_{k-1} - \eta b_k
    \ \text{(momentum } \mu > 0\text{)}, \quad
    \theta_k = \theta_{k-1} - \eta\, g_k / d_k \ \text{(otherwise)}

Note PyTorch's :math:`\sqrt{v} + \varepsilon`; Su and TensorFlow use
:math:`\sqrt{v + \varepsilon}`, the option ``eps_inside`` (claim C14: the
two placements agree as ε → 0).

**Model** ``coupled`` (regime A): :math:`h = \eta`, :math:`b = (1-\alpha)/\eta`,

.. math::

    \dot v = b\,(g \odot g - v), \qquad \dot\theta = -g / (\sqrt{v} + \varepsilon)

(centred: :math:`\dot{\bar g} = b(g - \bar g)` and :math:`\sqrt{v - \bar g^2}`; with
momentum :math:`\mu` fixed the preconditioned gradient is followed at the over-damped
speed :math:`1/(1-\mu)`).  PyTorch is exactly the "v-first" semi-implicit Euler step of
this system, order 1 for a regular start.  The field is singular at :math:`v = 0`, where PyTorch
starts (:math:`\dot\theta \sim t^{-1/2}`): the first step moves about
:math:`\eta/\sqrt{1-\alpha}`, an :math:`O(\sqrt h)` transient, so from PyTorch's start
the observed order is 1/2; the reference starts from the exact series solution.

**Model** ``sign`` (regime B): :math:`\alpha` fixed and :math:`\eta \to 0`
on the clock :math:`t_k = k\eta` (:math:`h = \eta`; ``Model.inverse`` changes only
``lr``).  Then :math:`v` is slaved to :math:`g \odot g` and RMSprop follows the sign
flow :math:`\dot\theta = -g/(|g| + \varepsilon)/(1-\mu)`, with :math:`\varepsilon`
a fixed ODE parameter.  Order 1: :math:`v` lags :math:`g \odot g` by
:math:`O(1/(1-\alpha))` steps, and the start from :math:`v_0 = 0`
(:math:`v_k = (1-\alpha^k) g^2`) moves θ an extra
:math:`\approx 2\ln 2\,\eta/(1-\alpha)` per coordinate, both :math:`O(\eta)`.  The
field is discontinuous where a component of :math:`g` vanishes (Filippov sliding):
with ε = 1e-8 the reference ODE is stiff there, so the model prefers Radau (DOP853
alone crawls: 1000 Adam steps on the product loss took 3.2 s against Radau's 0.17 s).  Centred RMSprop has no sign model:
:math:`v - \bar g^2` is the variance of :math:`g` over the last :math:`1/(1-\alpha)`
steps, which vanishes as :math:`\eta \to 0`.

References: T. Tieleman, G. Hinton, Lecture 6.5 (2012); A. Barakat, P. Bianchi,
SIAM J. Optim. 2021; Su Jianlin, kexue.fm/archives/6234.
"""

import math

import numpy as np

from .._jit import kernel
from ._base import (
    MAXIMIZE,
    WEIGHT_DECAY,
    Hyperparameter,
    HyperparameterError,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_distance,
    sign_regime,
    sqrt_start_travel,
)

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout(
    "lr", "alpha", "eps", "weight_decay", "momentum", "centered", "maximize",
    "eps_inside",
)  # fmt: skip
HYPERPARAMETERS = HP._fields
# Hyperparameters whose zero switches a feature off: the runner holds them as
# constants where the optimizers' defaults do (see odeopt._codegen).
SWITCHES = ("weight_decay", "momentum", "centered", "maximize", "eps_inside")
STATE_ROWS = 3  # square average v, momentum buffer b, gradient average ḡ
N_STAGES = 1


@kernel
def lerp(start, end, weight):
    # torch.lerp: two formulas, for accuracy on both sides of weight = 1/2
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    alpha = hp[HP.alpha]
    eps = hp[HP.eps]
    weight_decay = hp[HP.weight_decay]
    momentum = hp[HP.momentum]
    centered = hp[HP.centered] != 0.0
    maximize = hp[HP.maximize] != 0.0
    eps_inside = hp[HP.eps_inside] != 0.0
    for i in range(theta.shape[0]):
        g = -G[0, i] if maximize else G[0, i]
        if weight_decay != 0.0:
            g = g + weight_decay * theta[i]
        v = state[0, i] * alpha + (1.0 - alpha) * g * g
        state[0, i] = v
        square = v
        if centered:
            mean = lerp(state[2, i], g, 1.0 - alpha)
            state[2, i] = mean
            square = v + (-1.0) * mean * mean
        if eps_inside:  # TensorFlow's and Su's √(v + ε)
            avg = math.sqrt(square + eps)
        else:  # PyTorch's √v + ε
            avg = math.sqrt(square)
            avg = avg + eps
        if momentum > 0.0:
            b = state[1, i] * momentum + g / avg
            state[1, i] = b
            theta[i] = theta[i] + (-lr) * b
        else:
            theta[i] = theta[i] + (-lr) * (g / avg)


def _parameters(hp):
    lr = hp["lr"]
    return {
        "h": lr,
        "b": (1.0 - hp["alpha"]) / lr,
        "eps": hp["eps"],
        "speed": 1.0 / (1.0 - hp["momentum"]),
        "eps_inside": float(hp.get("eps_inside", False)),
    }


def _root(square, ode):
    """The denominator: √(v + ε) with ``eps_inside``, PyTorch's √v + ε otherwise."""
    square = np.maximum(square, 0.0)
    if ode.get("eps_inside"):
        return np.sqrt(square + ode["eps"])
    return np.sqrt(square) + ode["eps"]


def _field(t, z, grad, ode, centered):
    n = z.shape[0] // (3 if centered else 2)
    theta, v = z[:n], z[n : 2 * n]
    g = grad(theta)
    dz = [None, ode["b"] * (g * g - v)]
    if centered:
        mean = z[2 * n :]
        dz.append(ode["b"] * (g - mean))
        denom = _root(v - mean * mean, ode)
    else:
        denom = _root(v, ode)
    dz[0] = -ode["speed"] * g / denom
    return np.concatenate(dz)


def _initial(theta0, grad, ode, centered):
    # PyTorch's start: v = 0 (and ḡ = 0), where the field is singular.
    theta0 = np.array(theta0, dtype=float)
    zeros = np.zeros_like(theta0)
    return np.concatenate([theta0, zeros] + ([zeros] if centered else []))


def _start(theta0, grad, ode, centered):
    """Series start from v = 0: v ≈ b·g₀²·t, so θ̇ ≈ −g₀/(|g₀|√(bt) + ε).

    With ε inside the root the field is finite at v = 0 (−g/√ε): no series start.
    """
    if ode.get("eps_inside"):
        return 0.0, _initial(theta0, grad, ode, centered)
    theta0 = np.array(theta0, dtype=float)
    g0 = grad(theta0)
    t0 = 1e-14
    b = ode["b"]
    travel = sqrt_start_travel(np.abs(g0) * np.sqrt(b), t0, ode["eps"])
    blocks = [theta0 - ode["speed"] * g0 * travel, b * g0 * g0 * t0]
    if centered:
        blocks.append(b * g0 * t0)
    return t0, np.concatenate(blocks)


def _coupled():
    # `centered` changes the state: the field reads it from the ODE parameters.
    def parameters(hp):
        return {**_parameters(hp), "centered": float(hp["centered"])}

    def field(t, z, grad, ode):
        return _field(t, z, grad, ode, bool(ode["centered"]))

    def initial(theta0, grad, ode):
        return _initial(theta0, grad, ode, bool(ode["centered"]))

    def start(theta0, grad, ode):
        return _start(theta0, grad, ode, bool(ode["centered"]))

    def inverse(h, ode, hp):
        return {**hp, "lr": h, "alpha": 1.0 - ode["b"] * h}

    return Model(
        name="coupled",
        ode="θ̇ = −g/(√v + ε)/(1 − μ),  v̇ = b(g⊙g − v)",
        time="t_k = k·lr,  b = (1 − alpha)/lr",
        scheme="v-first semi-implicit Euler, h = lr (exact identity)",
        order=0.5,
        state=("θ", "v"),
        parameters=parameters,
        field=field,
        initial=initial,
        inverse=inverse,
        start=start,
        # near a minimum v tracks g⊙g and the field turns sign-flow-like and stiff:
        # DOP853 needed 3.9e6 evaluations for 3000 steps on Rosenbrock, Radau 2.3e4
        preferred_method="Radau",
        note="singular at v = 0, where PyTorch starts: the first step moves about "
        "lr/√(1 − alpha), an O(√h) transient, so the order is 1/2",
    )


def _sign_parameters(hp):
    if hp.get("centered"):
        # v − ḡ² is the variance of g over the last 1/(1 − α) steps, which vanishes
        # as lr -> 0 at fixed α: the limit is θ̇ = −g/ε, not a sign flow.
        raise HyperparameterError(
            "the sign model does not describe centered RMSprop (its denominator "
            "tends to ε as lr -> 0); use the coupled model"
        )
    return {
        "h": hp["lr"],
        "eps": hp["eps"],
        "speed": 1.0 / (1.0 - hp["momentum"]),
        "eps_inside": float(hp.get("eps_inside", False)),
    }


def _sign_field(t, z, grad, ode):
    g = grad(z)
    return -ode["speed"] * g / _root(g * g, ode)


def _sign_initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


def _sign_inverse(h, ode, hp):
    return {**hp, "lr": h}  # alpha, eps and momentum stay fixed: regime B


SIGN = Model(
    name="sign",
    ode="θ̇ = −g/(|g| + ε)/(1 − μ)",
    time="t_k = k·lr,  alpha fixed",
    scheme="explicit Euler on the sign flow after v has relaxed to g⊙g (order 1)",
    order=1,
    state=("θ",),
    parameters=_sign_parameters,
    field=_sign_field,
    initial=_sign_initial,
    inverse=_sign_inverse,
    check_regime=sign_regime((("alpha", 0.99),)),
    preferred_method="Radau",
    note="regime B (alpha fixed, lr -> 0): v is slaved to g⊙g; the start-up "
    "v_k = (1 − α^k)g² moves θ an extra O(lr/(1 − α)), an O(h) transient; the field "
    "is discontinuous where a component of g vanishes (Filippov sliding); not for "
    "centered",
)


OPTIMIZERS = (
    Optimizer(
        name="rmsprop",
        description="RMSprop: semi-implicit Euler on a coupled (θ, v) ODE",
        module=__name__,
        torch="torch.optim.RMSprop(lr, alpha, eps, weight_decay, momentum, centered, "
        "maximize)",
        hyperparameters=(
            learning_rate(),
            Hyperparameter("alpha", 0.99, "smoothing constant α of v", low=0.0),
            Hyperparameter("eps", 1e-8, "ε added to √v", low=0.0),
            WEIGHT_DECAY,
            Hyperparameter("momentum", 0.0, "momentum μ", low=0.0),
            Hyperparameter(
                "centered", False, "divide by the centred variance", kind="bool"
            ),
            MAXIMIZE,
            Hyperparameter(
                "eps_inside",
                False,
                "ε inside the root, √(v + ε) (TensorFlow, Su) "
                "instead of PyTorch's √v + ε",
                kind="bool",
            ),
        ),
        models=(_coupled(), SIGN),
        default_lr=lr_from_distance(1000.0),
    ),
)
