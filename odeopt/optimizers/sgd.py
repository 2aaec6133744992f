r"""Stochastic gradient descent, with heavy-ball or Nesterov momentum (``torch.optim.SGD``).

**Update** (PyTorch; step k uses :math:`g_k = \nabla L(\theta_{k-1}) + w\theta_{k-1}`,
with the sign of :math:`\nabla L` flipped when ``maximize``):

.. math::

    b_1 = g_1, \qquad b_k = \beta b_{k-1} + (1-\tau) g_k \\
    \theta_k = \theta_{k-1} - \eta\, b_k                 \quad\text{(heavy ball)} \\
    \theta_k = \theta_{k-1} - \eta\,(g_k + \beta b_k)    \quad\text{(Nesterov)}

and :math:`\theta_k = \theta_{k-1} - \eta g_k` without momentum (``gd``).

**Start-up** (``init``).  ``pytorch`` (default): the buffer starts empty, so
:math:`b_1 = g_1`.  ``consistent``: a buffer :math:`b_0` is given at step 0 (as torch
does with a loaded ``momentum_buffer``: :math:`b_1 = \beta b_0 + (1-\tau)g_1`), chosen
so that the two-step recursion
:math:`\theta_{k+1} = \theta_k + \beta(\theta_k - \theta_{k-1}) - \eta' g(\theta_k)
\;[-\,\beta\eta(g(\theta_k) - g(\theta_{k-1}))]` starts from the model's own
:math:`\theta_{-1} = \theta(-h)`: :math:`b_0 = (\theta_{-1} - \theta_0)/\eta` (heavy
ball), :math:`b_0 = (\theta_{-1} - \theta_0 - \eta g(\theta_{-1}))/(\eta\beta)`
(Nesterov).  :math:`\theta(-h)` is the ODE integrated back from rest for the
oscillators (claim C39) and one Euler step back, :math:`\theta_0 - hF(\theta_0)`, for
the first-order flows (claim C28).

**Models**.  Each keeps the parameters named below fixed as ``odeopt
check`` refines ``h``; coefficients of order ``h`` (``reg``, and ``d``, ``e`` of the
high-resolution ODEs) are recomputed at every step size, with a reference per size.

* ``gd``, ``flow`` — :math:`\dot\theta = -\nabla L`, :math:`t_k = k\eta`: explicit
  Euler, :math:`h = \eta`, order 1.
* ``gd``, ``modified`` — implicit gradient regularisation (Barrett & Dherin 2020):
  :math:`\dot\theta = -\nabla(L + \tfrac{\eta}{4}\|\nabla L\|^2)
  = -(\nabla L + \tfrac{\eta}{2}\nabla^2 L\,\nabla L)`, order 2.
* ``low-res`` — :math:`\ddot\theta + \lambda\dot\theta + \nabla L = 0`,
  :math:`h = \sqrt{\eta'}`, :math:`\lambda = (1-\beta)/h` fixed, :math:`\eta' =
  \eta(1-\tau)`, velocity :math:`u_k = -h\,b_k/(1-\tau)`.  Heavy ball is exactly
  symplectic Euler (:math:`u_k = \beta u_{k-1} - h g_k`, :math:`\theta_k =
  \theta_{k-1} + h u_k`); Nesterov adds the :math:`O(h)` gradient
  correction.  Order 1 *with either start*: the friction acts on the backward
  difference, :math:`(\theta_k - \theta_{k-1})/h = \dot\theta - \tfrac h2\ddot\theta
  + \dots`, an :math:`O(h)` term no start-up removes.  Second order needs the
  central-difference reading of the same recursion (Su, Boyd & Candès 2016, "A differential equation for modeling
  Nesterov's accelerated gradient method"), which is the ``high-res`` model below.
* ``high-res`` — :math:`\ddot X + c\dot X + e\nabla L = 0` (heavy ball) and
  :math:`\ddot X + c\dot X + d\nabla^2L\,\dot X + e\nabla L = 0` (Nesterov, solved
  Hessian-free as :math:`\dot X = W - d\nabla L`, :math:`\dot W = -c\dot X - e\nabla
  L`), :math:`t_k = k\sqrt{\eta'}`, :math:`c = 2(1-\beta)/((1+\beta)h)`,
  :math:`d = 2\beta h/(1+\beta)`, :math:`e = 2/(1+\beta)` (Shi, Du, Jordan, Su 2018).
  ``c`` is fixed, :math:`\beta = (1 - ch/2)/(1 + ch/2)`, so :math:`e = 1 + ch/2` and
  :math:`d = h(1 - ch/2)` are the :math:`O(h)` corrections to the low-resolution ODE
  with friction ``c`` (claim C39's family).  For heavy ball this *is* Su's leapfrog
  mapping (:math:`\gamma = h\sqrt e`, :math:`\lambda = c/\sqrt e`).  Order 2 from the
  consistent start; PyTorch's :math:`b_1 = g_1` makes an :math:`O(h)` velocity error,
  order 1.
* ``overdamped`` — :math:`\beta` fixed, :math:`t_k = k\eta'`,
  :math:`\dot\theta = -\nabla L/(1-\beta)` (Kovachki & Stuart 2021), order 1.  It
  describes runs with :math:`\eta' L \ll (1-\beta)^2` (not the default lr = 1/L).
* ``overdamped-modified`` — :math:`\dot\theta = -\nabla[L + \eta' r(\beta)\|\nabla
  L\|^2]/(1-\beta)` with :math:`r = (1+\beta)/(4(1-\beta)^2)` (heavy ball; Ghosh,
  Lyu, Zhang, Wang 2023) or :math:`(1-\beta+2\beta^2)/(4(1-\beta)^2)` (Nesterov);
  order 2 from the consistent start, 1 from PyTorch's (an :math:`O(h)` shift).

Maximize and L2 weight decay act through the effective gradient :math:`\pm\nabla L +
w\theta` and its Jacobian :math:`\pm\nabla^2 L + wI` in every field.

References: B. Polyak (1964); I. Sutskever et al., ICML 2013; B. Shi, S. Du,
M. Jordan, W. Su, arXiv:1810.08907; D. Barrett, B. Dherin, arXiv:2009.11162;
N. Kovachki, A. Stuart, JMLR 2021; A. Ghosh, H. Lyu, X. Zhang, R. Wang, ICLR 2023;
Su Jianlin, kexue.fm/archives/5655.
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
    lr_from_curvature,
)

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout(
    "lr",
    "momentum",
    "dampening",
    "weight_decay",
    "nesterov",
    "maximize",
    "buffer_given",
)
HYPERPARAMETERS = HP._fields
# Hyperparameters whose zero switches a feature off: the runner holds them as
# constants where the optimizers' defaults do (see odeopt._codegen).
SWITCHES = (
    "momentum",
    "dampening",
    "weight_decay",
    "nesterov",
    "maximize",
    "buffer_given",
)
STATE_ROWS = 1  # the momentum buffer b
N_STAGES = 1


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    beta = hp[HP.momentum]
    dampening = hp[HP.dampening]
    weight_decay = hp[HP.weight_decay]
    nesterov = hp[HP.nesterov] != 0.0
    maximize = hp[HP.maximize] != 0.0
    # PyTorch's buffer starts as a copy of the first gradient; a buffer given at
    # step 0 (init="consistent", or torch's momentum_buffer in a loaded state) is
    # updated by the recursion from the first step on.  `&`, not `and`: the
    # short-circuit made the whole step 6x slower (measured, numba 0.68, 2-D).
    fresh = (k == 1) & (hp[HP.buffer_given] == 0.0)
    for i in range(theta.shape[0]):
        g = -G[0, i] if maximize else G[0, i]
        if weight_decay != 0.0:
            g = g + weight_decay * theta[i]
        if beta != 0.0:
            if fresh:
                b = g
            else:
                b = state[0, i] * beta + (1.0 - dampening) * g
            state[0, i] = b
            g = g + beta * b if nesterov else b
        theta[i] = theta[i] + (-lr) * g


def consistent_start(hp, theta0, theta_prev, grad):
    """The buffer b₀ that makes the two-step recursion start from θ₋₁ = ``theta_prev``.

    Heavy ball, θ_{k+1} = θ_k + β(θ_k − θ_{k−1}) − η′g(θ_k), starts from θ₋₁ when
    ``b₀ = (θ₋₁ − θ₀)/η`` (dampening τ included: η′ = η(1 − τ), b = (1 − τ)b′).
    Nesterov adds −βη(g(θ_k) − g(θ_{k−1})), which at k = 0 reads the gradient at
    θ₋₁: ``b₀ = ((θ₋₁ − θ₀) − η g(θ₋₁))/(ηβ)``.  ``grad`` is the effective gradient.
    Without momentum (``gd``) there is no buffer: the state stays zero and unused.

    Returns the kernel state and the kernel hyperparameters to set.
    """
    theta0 = np.asarray(theta0, dtype=float)
    state = np.zeros((STATE_ROWS, theta0.size))
    beta, lr = float(hp["momentum"]), float(hp["lr"])
    if beta != 0.0:
        step_back = np.asarray(theta_prev, dtype=float) - theta0
        if hp.get("nesterov"):
            state[0] = (step_back - lr * grad(theta_prev)) / (lr * beta)
        else:
            state[0] = step_back / lr
    return state, {"buffer_given": 1.0}


# -- continuous models ----------------------------------------------------------------
#
# ``init`` reaches the declared orders as ``hp["init"]`` ("pytorch" or "consistent").


def _consistent(hp):
    return hp.get("init", "pytorch") == "consistent"


def _effective_lr(hp):
    """η′ = η(1 − τ): the step of the buffer recursion b′ = βb′ + g, b′ = b/(1 − τ)."""
    return hp["lr"] * (1.0 - hp.get("dampening", 0.0))


def _lr_for(lr_eff, hp):
    return lr_eff / (1.0 - hp.get("dampening", 0.0))


def _theta_initial(theta0, grad, ode):
    return np.array(theta0, dtype=float)


# gradient flow and its modified equation (gd) ----------------------------------------


def _flow_parameters(hp):
    return {"h": hp["lr"]}


def _flow_field(t, z, grad, ode):
    return -grad(z)


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
    initial=_theta_initial,
    inverse=_flow_inverse,
)


def _modified_parameters(hp):
    # reg: the weight of ‖∇L‖² in the modified loss, lr/4 (an O(h) coefficient,
    # listed so that odeopt check solves one reference per step size)
    return {"h": hp["lr"], "reg": hp["lr"] / 4.0}


def _modified_field(t, z, grad, ode, hess):
    g = grad(z)
    return -(g + 2.0 * ode["reg"] * (hess(z) @ g))


MODIFIED_FLOW = Model(
    name="modified",
    ode="θ̇ = −∇[L + (lr/4)‖∇L‖²] = −(∇L + (lr/2)∇²L∇L)",
    time="t_k = k·lr",
    scheme="explicit Euler on the flow; its O(h) error is the (lr/4)‖∇L‖² term",
    order=2,
    state=("θ",),
    parameters=_modified_parameters,
    field=_modified_field,
    initial=_theta_initial,
    inverse=_flow_inverse,
    note="implicit gradient regularisation (Barrett & Dherin 2020): the flow GD "
    "follows to O(lr²); maximize and weight decay enter through ±∇²L + w·I",
    needs_hessian=True,
)


# low-resolution oscillator (momentum, nesterov) --------------------------------------


def _oscillator_parameters(hp):
    h = math.sqrt(_effective_lr(hp))
    return {"h": h, "friction": (1.0 - hp["momentum"]) / h}


def _oscillator_field(t, z, grad, ode):
    n = z.shape[0] // 2
    theta, u = z[:n], z[n:]
    return np.concatenate([u, -ode["friction"] * u - grad(theta)])


def _at_rest(theta0, grad, ode):
    theta0 = np.array(theta0, dtype=float)
    return np.concatenate([theta0, np.zeros_like(theta0)])


def _oscillator_energy(t, theta, u, gap, x_star, ode):
    return 0.5 * np.sum(u * u, axis=1) + gap


def _oscillator_inverse(h, ode, hp):
    # h² = lr(1 - τ) and λ = (1 - β)/h, at the same dampening τ
    return {
        **hp,
        "lr": _lr_for(h * h, hp),
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
        initial=_at_rest,
        inverse=_oscillator_inverse,
        note="started at rest; order 1 with either init: the backward-difference "
        "friction λ(θ_k − θ_{k−1})/h leaves an O(h) term −(λh/2)θ̈ (the high-res "
        "model keeps it)",
        lyapunov=_oscillator_energy,
        lyapunov_text="E = ½‖θ̇‖² + L − L*, non-increasing: dE/dt = −λ‖θ̇‖²",
    )


# high-resolution ODEs (Shi, Du, Jordan, Su 2018) -------------
#
# With t = k·√η′, c = 2(1−β)/((1+β)√η′), d = 2β√η′/(1+β), e = 2/(1+β).  The
# refinement keeps c fixed: β = (1 − ch/2)/(1 + ch/2), so that e = 1 + ch/2 and
# d = h(1 − ch/2) are the O(h) corrections that the high-resolution ODE adds to the
# low-resolution one (friction c); the reference is solved per step size (claim C39).


def _high_res_parameters(hp):
    h = math.sqrt(_effective_lr(hp))
    beta = hp["momentum"]
    ode = {"h": h, "c": 2.0 * (1.0 - beta) / ((1.0 + beta) * h)}
    if hp.get("nesterov"):
        ode["d"] = 2.0 * beta * h / (1.0 + beta)
    ode["e"] = 2.0 / (1.0 + beta)
    return ode


def _high_res_inverse(h, ode, hp):
    half = 0.5 * ode["c"] * h
    return {**hp, "lr": _lr_for(h * h, hp), "momentum": (1.0 - half) / (1.0 + half)}


def _heavy_ball_high_res_field(t, z, grad, ode):
    n = z.shape[0] // 2
    x, v = z[:n], z[n:]
    return np.concatenate([v, -ode["c"] * v - ode["e"] * grad(x)])


def _nesterov_high_res_field(t, z, grad, ode):
    # Hessian-free form: Ẋ = W − d∇L(X), Ẇ = −c(W − d∇L(X)) − e∇L(X)
    n = z.shape[0] // 2
    x, w = z[:n], z[n:]
    g = grad(x)
    v = w - ode["d"] * g
    return np.concatenate([v, -ode["c"] * v - ode["e"] * g])


def _nesterov_at_rest(theta0, grad, ode):
    # Ẋ(0) = 0 means W(0) = d∇L(X₀)
    theta0 = np.array(theta0, dtype=float)
    return np.concatenate([theta0, ode["d"] * grad(theta0)])


def _start_up_order(hp):
    """2 from a consistent start; PyTorch's b₁ = g₁ is an O(h) velocity transient."""
    return 2.0 if _consistent(hp) else 1.0


_HIGH_RES_NOTE = (
    "c is kept fixed as h → 0 (β = (1 − ch/2)/(1 + ch/2)); e = 1 + ch/2{d} are the "
    "O(h) corrections, so each step size has its own reference.  Order 2 with "
    "--init consistent (θ₋₁ = X(−h), the ODE integrated back one step from rest); "
    "PyTorch's b₁ = g₁ is an O(h) transient, order 1"
)


def _high_res_regime(given, surface):
    # the O(h) corrections are measurable once lr·L is well inside the stable range
    decay = float(given.get("weight_decay", 0.0))
    return {"hp": {"lr": 0.3 / (surface.curvature() + decay)}, "levels": 7}


def _overdamped_regime(given, surface):
    # β fixed and lr·L ≪ (1 − β)²: the momentum relaxes long before θ moves
    beta = float(given.get("momentum", 0.5))
    decay = float(given.get("weight_decay", 0.0))
    lr = 0.25 * (1.0 - beta) ** 2 / (surface.curvature() + decay)
    return {"hp": {"momentum": beta, "lr": lr}}


HEAVY_BALL_HIGH_RES = Model(
    name="high-res",
    ode="Ẍ + cẊ + e∇L(X) = 0",
    time="t_k = k·√lr",
    scheme="leapfrog (central differences, friction averaged), h = √lr: Su's "
    "mapping γ = h·√e, λ = c/√e in another time unit",
    order=_start_up_order,
    state=("X", "V"),
    parameters=_high_res_parameters,
    field=_heavy_ball_high_res_field,
    initial=_at_rest,
    inverse=_high_res_inverse,
    check_regime=_high_res_regime,
    note=_HIGH_RES_NOTE.format(d=""),
)

NESTEROV_HIGH_RES = Model(
    name="high-res",
    ode="Ẍ + cẊ + d∇²L(X)Ẋ + e∇L(X) = 0, as Ẋ = W − d∇L, Ẇ = −cẊ − e∇L",
    time="t_k = k·√lr",
    scheme="explicit linear two-step scheme, h = √lr; the gradient correction "
    "−βη(∇L_k − ∇L_{k−1}) is the d∇²LẊ term",
    order=_start_up_order,
    state=("X", "W"),
    parameters=_high_res_parameters,
    field=_nesterov_high_res_field,
    initial=_nesterov_at_rest,
    inverse=_high_res_inverse,
    check_regime=_high_res_regime,
    note=_HIGH_RES_NOTE.format(d=", d = h(1 − ch/2)"),
)


# over-damped limit (β fixed, t = k·η′; Kovachki & Stuart 2021) ------------------------


def _overdamped_parameters(hp):
    return {"h": _effective_lr(hp), "speed": 1.0 / (1.0 - hp["momentum"])}


def _overdamped_field(t, z, grad, ode):
    return -ode["speed"] * grad(z)


def _overdamped_inverse(h, ode, hp):
    return {**hp, "lr": _lr_for(h, hp), "momentum": 1.0 - 1.0 / ode["speed"]}


def _check_overdamped(hp):
    if hp["momentum"] >= 1.0:
        raise HyperparameterError("the over-damped models need momentum < 1")


def _checked(parameters):
    def checked(hp):
        _check_overdamped(hp)
        return parameters(hp)

    return checked


OVERDAMPED = Model(
    name="overdamped",
    ode="θ̇ = −∇L(θ)/(1 − β)",
    time="t_k = k·lr(1 − τ)",
    scheme="consistent linear two-step method, h = lr(1 − τ), β fixed",
    order=1,
    state=("θ",),
    parameters=_checked(_overdamped_parameters),
    field=_overdamped_field,
    initial=_theta_initial,
    inverse=_overdamped_inverse,
    check_regime=_overdamped_regime,
    note="gradient flow at the effective lr/(1 − β); β stays fixed as h → 0; it "
    "describes runs with lr·L ≪ (1 − β)² (L the curvature), not the default lr = 1/L",
)


def _overdamped_modified(weight, ode, note):
    """The over-damped modified flow with ‖∇L‖² weight ``η′·weight(β)``."""

    def parameters(hp):
        ode = _overdamped_parameters(hp)
        ode["reg"] = ode["h"] * weight(hp["momentum"])
        return ode

    def field(t, z, grad, ode, hess):
        g = grad(z)
        return -ode["speed"] * (g + 2.0 * ode["reg"] * (hess(z) @ g))

    return Model(
        name="overdamped-modified",
        ode=ode,
        time="t_k = k·lr(1 − τ)",
        scheme="consistent linear two-step method, h = lr(1 − τ), β fixed",
        order=_start_up_order,
        state=("θ",),
        parameters=_checked(parameters),
        field=field,
        initial=_theta_initial,
        inverse=_overdamped_inverse,
        check_regime=_overdamped_regime,
        note=note
        + "; order 2 with --init consistent (θ₋₁ = θ₀ − hF(θ₀), F this field), 1 "
        "from PyTorch's b₁ = g₁ (an O(h) shift); β fixed, for lr·L ≪ (1 − β)²",
        needs_hessian=True,
    )


HEAVY_BALL_OVERDAMPED_MODIFIED = _overdamped_modified(
    lambda beta: (1.0 + beta) / (4.0 * (1.0 - beta) ** 2),
    "θ̇ = −∇[L + lr(1+β)/(4(1−β)²)‖∇L‖²]/(1 − β)",
    "implicit regulariser (1+β)/(1−β) times GD's at equal lr/(1−β) (Ghosh et al. 2023)",
)
NESTEROV_OVERDAMPED_MODIFIED = _overdamped_modified(
    lambda beta: (1.0 - beta + 2.0 * beta * beta) / (4.0 * (1.0 - beta) ** 2),
    "θ̇ = −∇[L + lr(1−β+2β²)/(4(1−β)²)‖∇L‖²]/(1 − β)",
    "Nesterov's regulariser: (1−β+2β²) where heavy ball has (1+β)",
)


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
        fixed={"momentum": 0.0, "dampening": 0.0, "nesterov": 0.0, "buffer_given": 0.0},
        models=(GRADIENT_FLOW, MODIFIED_FLOW),
        default_lr=lr_from_curvature(),
    ),
    Optimizer(
        name="momentum",
        description="heavy-ball momentum: symplectic Euler on a damped oscillator",
        module=__name__,
        torch="torch.optim.SGD(lr, momentum, dampening, weight_decay, maximize)",
        hyperparameters=(learning_rate(), MOMENTUM, DAMPENING, WEIGHT_DECAY, MAXIMIZE),
        fixed={"nesterov": 0.0, "buffer_given": 0.0},
        models=(
            _oscillator("symplectic Euler, h = √lr (exact identity)"),
            HEAVY_BALL_HIGH_RES,
            OVERDAMPED,
            HEAVY_BALL_OVERDAMPED_MODIFIED,
        ),
        default_lr=lr_from_curvature(),
    ),
    Optimizer(
        name="nesterov",
        description="Nesterov momentum: oscillator plus a gradient correction",
        module=__name__,
        torch="torch.optim.SGD(lr, momentum, nesterov=True, weight_decay, maximize)",
        hyperparameters=(learning_rate(), MOMENTUM, DAMPENING, WEIGHT_DECAY, MAXIMIZE),
        fixed={"nesterov": 1.0, "buffer_given": 0.0},
        models=(
            _oscillator("symplectic Euler plus the O(h) gradient correction, h = √lr"),
            NESTEROV_HIGH_RES,
            OVERDAMPED,
            NESTEROV_OVERDAMPED_MODIFIED,
        ),
        default_lr=lr_from_curvature(),
        check=_check_nesterov,
    ),
)
