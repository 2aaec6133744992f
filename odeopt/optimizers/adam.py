r"""Adam and AdamW (``torch.optim.Adam``, ``torch.optim.AdamW``).

**Update** (PyTorch; :math:`g_k = \nabla L(\theta_{k-1})`, sign flipped when
``maximize``, plus :math:`w\theta_{k-1}` for Adam's L2 ``weight_decay``;
:math:`m_0 = v_0 = 0`):

.. math::

    \theta_{k-1} \leftarrow (1 - \eta w)\,\theta_{k-1} \quad\text{(AdamW only)} \\
    m_k = \beta_1 m_{k-1} + (1-\beta_1) g_k, \qquad
    v_k = \beta_2 v_{k-1} + (1-\beta_2) g_k^2 \\
    \hat v_k = \max(\hat v_{k-1}, v_k) \ \text{(amsgrad)}, \quad \hat v_k = v_k
    \ \text{(otherwise)} \\
    \theta_k = \theta_{k-1} - \frac{\eta}{1-\beta_1^k}\,
               \frac{m_k}{\sqrt{\hat v_k}/\sqrt{1-\beta_2^k} + \varepsilon}

**Model** ``coupled`` (regime A; Barakat & Bianchi 2021):
:math:`h = \eta`, :math:`a = (1-\beta_1)/\eta`, :math:`b = (1-\beta_2)/\eta`,

.. math::

    \dot m = a(g - m), \quad \dot v = b(g\odot g - v), \quad
    \dot\theta = -\frac{m/(1-e^{-at})}{\sqrt{v/(1-e^{-bt})} + \varepsilon} - w_d\,\theta

(:math:`w_d` is AdamW's decoupled decay).  PyTorch is exactly the semi-implicit Euler
step of this system with the *discrete* bias factors :math:`1-(1-ah)^k`,
:math:`1-(1-bh)^k`; with the continuous ones the difference is :math:`O(h)`, so the
order is 1.  At :math:`t = 0` the bias-corrected field has the finite limit
:math:`-g/(|g| + \varepsilon)` (so Adam's first step is about :math:`\eta\,\mathrm{sign}(g)`).

**Model** ``sign`` (regime B): betas fixed and :math:`\eta \to 0`
on the clock :math:`t_k = k\eta` (:math:`h = \eta`; ``Model.inverse`` changes only
``lr``).  Then :math:`\hat m \to g` and :math:`\hat v \to g \odot g` and Adam follows
the sign flow

.. math::

    \dot\theta = -\frac{g}{|g| + \varepsilon} - w_d\,\theta

with :math:`\varepsilon` kept as a fixed ODE parameter.  The moments lag
:math:`g` by :math:`O(1/(1-\beta))` steps, an :math:`O(\eta)` error: order 1, reached
once :math:`\eta/(1-\beta_2)` is small against the time over which :math:`g` changes
(measured with β = (0.9, 0.99) on the product loss at T = 0.5: local orders
0.75 from η = 1e-3 to 1e-4, then 1.0).  The field is discontinuous where a component of
:math:`g` vanishes (Filippov): on a sliding surface the limit is still order 1, but
with ε = 1e-8 the reference ODE is stiff there, so the model prefers Radau (DOP853
alone crawls: 1000 Adam steps on the product loss took 3.2 s against Radau's 0.17 s).  With ``amsgrad``, :math:`\hat v` tends to
the running maximum :math:`M(t) = \max_{s \le t} g(s)^{\odot 2}` (the low bias of the
first :math:`v_k` fades after :math:`O(1/(1-\beta_2))` steps, an :math:`O(\eta)`
effect): the state is :math:`(\theta, M)`, :math:`M(0) = g_0^{\odot 2}`,

.. math::

    \dot\theta = -\frac{g}{\sqrt{\max(M, g\odot g)} + \varepsilon} - w_d\,\theta,
    \qquad \dot M = 2\,g \odot (H\dot\theta)
    \ \text{where } g\odot g \ge M \text{ and rising, else } 0

(:math:`H` the Hessian of the effective loss), a field that stays continuous where
:math:`g` vanishes.  The order is then 1 up to a logarithm: amsgrad maximises the
*raw* :math:`v_k`, which starts biased low (:math:`v_k \approx (1-\beta_2^k)g^2`), so
where :math:`g \odot g` falls from the start the maximum misses :math:`g_0^{\odot 2}` by
:math:`O(\eta\log(1/\eta)/(1-\beta_2))`; the error is :math:`O(h\log(1/h))` (measured on
½x² from x = 1: error/h grows by a constant per halving of h; fitted orders 0.8–0.87
over lr = 1e-4 … 1e-6).

References: D. Kingma, J. Ba, ICLR 2015; I. Loshchilov, F. Hutter, ICLR 2019;
S. Reddi, S. Kale, S. Kumar, ICLR 2018 (amsgrad); A. Barakat, P. Bianchi,
SIAM J. Optim. 2021; L. Balles, P. Hennig, ICML 2018 (Adam as sign descent); A. Filippov,
*Differential Equations with Discontinuous Righthand Sides* (1988).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import (
    MAXIMIZE,
    Hyperparameter,
    Model,
    Optimizer,
    layout,
    learning_rate,
    lr_from_distance,
    sign_regime,
)

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout(
    "lr",
    "beta1",
    "beta2",
    "eps",
    "weight_decay",
    "amsgrad",
    "maximize",
    "decoupled_weight_decay",
)
HYPERPARAMETERS = HP._fields
# Hyperparameters whose zero switches a feature off: the runner holds them as
# constants where the optimizers' defaults do (see odeopt._codegen).
SWITCHES = ("weight_decay", "amsgrad", "maximize", "decoupled_weight_decay")
STATE_ROWS = 3  # first moment m, second moment v, running max of v (amsgrad)
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
    beta1 = hp[HP.beta1]
    beta2 = hp[HP.beta2]
    eps = hp[HP.eps]
    weight_decay = hp[HP.weight_decay]
    amsgrad = hp[HP.amsgrad] != 0.0
    maximize = hp[HP.maximize] != 0.0
    decoupled = (
        hp[HP.decoupled_weight_decay] != 0.0
    )  # AdamW, or Adam(decoupled_weight_decay=True)
    step_size = lr / (1.0 - beta1**k)
    bias_correction2_sqrt = math.sqrt(1.0 - beta2**k)
    for i in range(theta.shape[0]):
        g = -G[0, i] if maximize else G[0, i]
        if weight_decay != 0.0:
            if decoupled:
                theta[i] = theta[i] * (1.0 - lr * weight_decay)
            else:
                g = g + weight_decay * theta[i]
        m = lerp(state[0, i], g, 1.0 - beta1)
        v = state[1, i] * beta2 + (1.0 - beta2) * g * g
        state[0, i] = m
        state[1, i] = v
        if amsgrad:
            v = max(state[2, i], v)
            state[2, i] = v
        denom = math.sqrt(v) / bias_correction2_sqrt + eps
        theta[i] = theta[i] + (-step_size) * (m / denom)


def _parameters(hp):
    lr = hp["lr"]
    return {
        "h": lr,
        "a": (1.0 - hp["beta1"]) / lr,
        "b": (1.0 - hp["beta2"]) / lr,
        "eps": hp["eps"],
        "decay": hp["weight_decay"] if hp.get("decoupled_weight_decay") else 0.0,
        "amsgrad": float(hp["amsgrad"]),
    }


def _bias(rate, t):
    # 1 - exp(-rate t), accurate for small rate t
    return -math.expm1(-rate * t)


def _field(t, z, grad, ode):
    amsgrad = bool(ode["amsgrad"])
    n = z.shape[0] // (4 if amsgrad else 3)
    theta, m, v = z[:n], z[n : 2 * n], z[2 * n : 3 * n]
    g = grad(theta)
    dm = ode["a"] * (g - m)
    dv = ode["b"] * (g * g - v)
    if t > 0.0:
        m_hat = m / _bias(ode["a"], t)
        denom_v = (z[3 * n :] if amsgrad else v) / _bias(ode["b"], t)
        dtheta = -m_hat / (np.sqrt(np.maximum(denom_v, 0.0)) + ode["eps"])
    else:  # the bias-corrected limit t -> 0 from m(0) = v(0) = 0
        dtheta = -g / (np.abs(g) + ode["eps"])
    dtheta = dtheta - ode["decay"] * theta
    blocks = [dtheta, dm, dv]
    if amsgrad:  # running max of v grows only while v is at the max and rising
        vmax = z[3 * n :]
        blocks.append(np.where((v >= vmax) & (dv > 0.0), dv, 0.0))
    return np.concatenate(blocks)


def _initial(theta0, grad, ode):
    theta0 = np.array(theta0, dtype=float)
    zeros = np.zeros_like(theta0)
    blocks = [theta0, zeros, zeros] + ([zeros] if ode["amsgrad"] else [])
    return np.concatenate(blocks)


def _inverse(h, ode, hp):
    return {**hp, "lr": h, "beta1": 1.0 - ode["a"] * h, "beta2": 1.0 - ode["b"] * h}


COUPLED = Model(
    name="coupled",
    ode="θ̇ = −m̂/(√v̂ + ε) − w_d·θ,  ṁ = a(g − m),  v̇ = b(g⊙g − v)",
    time="t_k = k·lr,  a = (1 − beta1)/lr,  b = (1 − beta2)/lr",
    scheme="semi-implicit Euler, h = lr, with discrete bias factors (order 1)",
    order=1,
    state=("θ", "m", "v"),
    parameters=_parameters,
    field=_field,
    initial=_initial,
    inverse=_inverse,
    note="m̂ = m/(1 − e^(−at)), v̂ = v/(1 − e^(−bt)); finite limit −g/(|g| + ε) at t = 0",
)


def _sign_parameters(hp):
    return {
        "h": hp["lr"],
        "eps": hp["eps"],
        "decay": hp["weight_decay"] if hp.get("decoupled_weight_decay") else 0.0,
        "amsgrad": float(hp["amsgrad"]),
    }


def _sign_field(t, z, grad, ode, hess):
    if not ode["amsgrad"]:
        g = grad(z)
        return -g / (np.abs(g) + ode["eps"]) - ode["decay"] * z
    # amsgrad: v̂ -> M, the running maximum of g⊙g along the path.  The denominator
    # reads max(M, g⊙g), exact even where the integrator lets M lag g⊙g slightly.
    n = z.shape[0] // 2
    theta, peak = z[:n], z[n:]
    g = grad(theta)
    square = g * g
    dtheta = -g / (np.sqrt(np.maximum(peak, square)) + ode["eps"])
    dtheta = dtheta - ode["decay"] * theta
    rising = 2.0 * g * (hess(theta) @ dtheta)  # d(g⊙g)/dt
    dpeak = np.where((square >= peak) & (rising > 0.0), rising, 0.0)
    return np.concatenate([dtheta, dpeak])


def _sign_initial(theta0, grad, ode):
    theta0 = np.array(theta0, dtype=float)
    if not ode["amsgrad"]:
        return theta0
    g0 = grad(theta0)
    return np.concatenate([theta0, g0 * g0])  # v̂₁ = g₁⊙g₁ after bias correction


def _sign_inverse(h, ode, hp):
    return {**hp, "lr": h}  # beta1, beta2, eps, weight_decay fixed: regime B


SIGN = Model(
    name="sign",
    ode="θ̇ = −g/(|g| + ε) − w_d·θ  (amsgrad: −g/(√M + ε), M = path max of g⊙g)",
    time="t_k = k·lr,  beta1, beta2 fixed",
    scheme="explicit Euler on the sign flow once m̂ → g and v̂ → g⊙g (order 1)",
    order=1,
    state=("θ",),
    parameters=_sign_parameters,
    field=_sign_field,
    initial=_sign_initial,
    inverse=_sign_inverse,
    check_regime=sign_regime((("beta1", 0.9), ("beta2", 0.999))),
    preferred_method="Radau",
    note="regime B (betas fixed, lr -> 0): m̂ and v̂ lag g by O(1/(1 − β)) steps, an "
    "O(h) error; the field is discontinuous where a component of g vanishes "
    "(Filippov sliding; the reference needs a stiff integrator there); with amsgrad "
    "the state is (θ, M), the field is continuous and the error O(h·log(1/h))",
    needs_hessian=True,
)


def _hyperparameters(weight_decay_default, doc, decoupled=()):
    return (
        learning_rate(),
        Hyperparameter(
            "beta1", 0.9, "first-moment decay β₁", low=0.0, high=1.0, high_open=True
        ),
        Hyperparameter(
            "beta2", 0.999, "second-moment decay β₂", low=0.0, high=1.0, high_open=True
        ),
        Hyperparameter("eps", 1e-8, "ε added to √v̂", low=0.0),
        Hyperparameter("weight_decay", weight_decay_default, doc, low=0.0),
        Hyperparameter("amsgrad", False, "use the running maximum of v", kind="bool"),
        MAXIMIZE,
        *decoupled,
    )


OPTIMIZERS = (
    Optimizer(
        name="adam",
        description="Adam: semi-implicit Euler on a coupled (θ, m, v) ODE",
        module=__name__,
        torch="torch.optim.Adam(lr, betas, eps, weight_decay, amsgrad, maximize, "
        "decoupled_weight_decay)",
        hyperparameters=_hyperparameters(
            0.0,
            "weight decay w (L2: adds w·θ to g)",
            (
                Hyperparameter(
                    "decoupled_weight_decay",
                    False,
                    "decay θ ← (1 − lr·w)θ as AdamW instead of L2",
                    kind="bool",
                ),
            ),
        ),
        models=(COUPLED, SIGN),
        default_lr=lr_from_distance(1000.0),
    ),
    Optimizer(
        name="adamw",
        description="AdamW: Adam with decoupled weight decay θ ← (1 − lr·w)θ",
        module=__name__,
        torch="torch.optim.AdamW(lr, betas, eps, weight_decay, amsgrad, maximize)",
        hyperparameters=_hyperparameters(1e-2, "decoupled weight decay w"),
        fixed={"decoupled_weight_decay": 1.0},
        models=(COUPLED, SIGN),
        default_lr=lr_from_distance(1000.0),
    ),
)
