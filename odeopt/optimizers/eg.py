r"""Exponentiated gradient and Hedge: mirror descent with the entropy, and its mirror flow.

**Updates** (step k, :math:`g = \nabla L(\theta_{k-1})`):

.. math::

    \text{eg:}\quad     \theta_k = \theta_{k-1} \odot \exp(-\eta g), \qquad \theta_0 > 0 \\
    \text{hedge:}\quad  \theta_k = \frac{\theta_{k-1} \odot \exp(-\eta g)}
                                       {\sum_i \theta_{k-1,i}\, e^{-\eta g_i}},
                        \qquad \theta_0 \in \Delta \\
    \text{eg-reparam:}\quad \theta_k = \theta_{k-1} \odot \exp(-\eta\,\theta_{k-1}
                        \odot g) \ \text{(GD on } \varphi = \log\theta\text{)} \\
    \text{eg-primal:}\quad  \theta_k = \theta_{k-1} - \eta\,\theta_{k-1} \odot g

EG (Kivinen & Warmuth 1997, "Exponentiated gradient versus gradient descent for
linear predictors") is mirror descent with the unnormalised entropy,
:math:`\theta_k = \arg\min_\theta \{\eta\langle g, \theta\rangle +
\sum_i [\theta_i\log(\theta_i/\theta_{k-1,i}) - \theta_i + \theta_{k-1,i}]\}`; Hedge
(Freund & Schapire 1997, "A decision-theoretic generalization of on-line learning")
is its restriction to the probability simplex.  ``eg-reparam`` is Su's literal
starting point, gradient descent on :math:`\varphi = \log\theta` (the chain rule
gives :math:`\nabla_\varphi L = \theta\odot\nabla L`); ``eg-primal`` is gradient
descent's explicit Euler step on the mirror flow in the primal coordinate, the
contrast: it can cross zero.

**Models** (:math:`h = \eta`, :math:`t_k = k\eta`, each scheme explicit Euler):

* ``eg`` and ``eg-primal``, ``mirror`` — the mirror flow
  :math:`\dot\theta = -\theta\odot\nabla L(\theta)`, i.e.
  :math:`\dot\varphi = -\nabla L(e^\varphi)` in the dual (log) coordinate
  :math:`\varphi = \log\theta`.  The reference integrates it **in** φ, so that it
  stays positive at any tolerance; EG is *exactly* explicit Euler in φ
  (:math:`\varphi_k = \varphi_{k-1} - \eta\nabla L(e^{\varphi_{k-1}})`), order 1.
  ``eg-primal`` is explicit Euler on the same flow in θ, order 1 too.  The
  stable points are the KKT points of :math:`\min L` subject to
  :math:`\theta \ge 0`; positivity holds for every η (in floating point until
  :math:`e^{-\eta g}` underflows to 0).
* ``hedge``, ``replicator`` — :math:`\dot\theta = -\theta\odot(\nabla L -
  \langle\theta, \nabla L\rangle)` (the replicator equation; the mirror flow of the
  entropy on the simplex), integrated in φ: :math:`\dot\varphi = -(\nabla L -
  \langle e^\varphi, \nabla L\rangle)`.  Hedge is Euler in φ up to the
  normaliser's :math:`O(\eta^2)`, order 1.
* ``eg-reparam``, ``su`` — :math:`\dot\theta = -\theta\odot\theta\odot\nabla L`
  (:math:`\dot\varphi = -e^\varphi\odot\nabla L`), integrated in φ; order 1.

References: J. Kivinen, M. K. Warmuth, Information and Computation 132 (1997);
Y. Freund, R. E. Schapire, JCSS 55 (1997); A. Beck, M. Teboulle, "Mirror descent and
nonlinear projected subgradient methods for convex optimization", Oper. Res. Lett.
(2003); S. Gunasekar, B. Woodworth, N. Srebro, "Mirrorless mirror descent", AISTATS
2021; Su Jianlin, kexue.fm/archives/8968.
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Model, Optimizer, layout, learning_rate, lr_from_curvature

# The kernels' hp array, read by name: hp[HP.lr] ...
HP = layout("lr", "simplex", "reparam", "primal")
HYPERPARAMETERS = HP._fields
# Which update runs: each optimizer fixes these, so each lane function holds them.
SWITCHES = ("simplex", "reparam", "primal")
STATE_ROWS = 0
N_STAGES = 1


@kernel
def step(k, theta, state, G, hp):
    lr = hp[HP.lr]
    n = theta.shape[0]
    if hp[HP.primal] != 0.0:
        for i in range(n):
            theta[i] = theta[i] - lr * theta[i] * G[0, i]
        return
    if hp[HP.reparam] != 0.0:
        for i in range(n):
            theta[i] = theta[i] * math.exp(-lr * theta[i] * G[0, i])
        return
    for i in range(n):
        theta[i] = theta[i] * math.exp(-lr * G[0, i])
    if hp[HP.simplex] != 0.0:
        total = 0.0
        for i in range(n):
            total += theta[i]
        for i in range(n):
            theta[i] = theta[i] / total


# -- continuous models: integrated in φ = log θ ---------------------------------------


def _parameters(hp):
    return {"h": hp["lr"]}


def _inverse(h, ode, hp):
    return {**hp, "lr": h}


def _log_initial(theta0, grad, ode):
    return np.log(np.asarray(theta0, dtype=float))


def _exp(phi, ode):
    return np.exp(phi)


def _mirror_field(t, phi, grad, ode):
    return -grad(np.exp(phi))


def _replicator_field(t, phi, grad, ode):
    theta = np.exp(phi)
    g = grad(theta)
    return -(g - theta @ g / np.sum(theta))


def _su_field(t, phi, grad, ode):
    theta = np.exp(phi)
    return -theta * grad(theta)


def _mirror(scheme, note):
    return Model(
        name="mirror",
        ode="θ̇ = −θ⊙∇L(θ)  (φ = log θ: φ̇ = −∇L(e^φ))",
        time="t_k = k·lr",
        scheme=scheme,
        order=1,
        state=("log θ",),
        parameters=_parameters,
        field=_mirror_field,
        initial=_log_initial,
        inverse=_inverse,
        observe=_exp,
        note=note,
    )


MIRROR = _mirror(
    "explicit Euler in the dual coordinate φ = log θ (exact identity), h = lr",
    "integrated in log θ, so the reference stays positive; the stable points are the "
    "KKT points of min L over θ ≥ 0",
)
MIRROR_PRIMAL = _mirror(
    "explicit Euler in θ (gradient descent's step on the mirror flow), h = lr",
    "the same flow as EG's; the primal Euler step can cross zero where η∂ᵢL > 1",
)

REPLICATOR = Model(
    name="replicator",
    ode="θ̇ = −θ⊙(∇L − ⟨θ, ∇L⟩)  (φ = log θ: φ̇ = −(∇L − ⟨e^φ, ∇L⟩))",
    time="t_k = k·lr",
    scheme="explicit Euler in φ = log θ up to the normaliser's O(h²), h = lr",
    order=1,
    state=("log θ",),
    parameters=_parameters,
    field=_replicator_field,
    initial=_log_initial,
    inverse=_inverse,
    observe=_exp,
    note="the entropic mirror flow on the simplex; integrated in log θ",
)

SU = Model(
    name="su",
    ode="θ̇ = −θ⊙θ⊙∇L(θ)  (φ = log θ: φ̇ = −e^φ⊙∇L(e^φ))",
    time="t_k = k·lr",
    scheme="explicit Euler in φ = log θ (gradient descent on φ), h = lr",
    order=1,
    state=("log θ",),
    parameters=_parameters,
    field=_su_field,
    initial=_log_initial,
    inverse=_inverse,
    observe=_exp,
    note="Su's literal reparametrisation θ = e^φ; a different flow from EG's mirror "
    "flow (speed θ² instead of θ near the boundary)",
)

OPTIMIZERS = (
    Optimizer(
        name="eg",
        description="exponentiated gradient θ⊙exp(−η∇L): Euler in log θ on the "
        "mirror flow",
        module=__name__,
        torch="none",
        hyperparameters=(learning_rate(),),
        fixed={"simplex": 0.0, "reparam": 0.0, "primal": 0.0},
        models=(MIRROR,),
        default_lr=lr_from_curvature(10.0),
        domain="positive",
    ),
    Optimizer(
        name="hedge",
        description="Hedge (normalised EG) on the simplex: Euler in log θ on the "
        "replicator flow",
        module=__name__,
        torch="none",
        hyperparameters=(learning_rate(),),
        fixed={"simplex": 1.0, "reparam": 0.0, "primal": 0.0},
        models=(REPLICATOR,),
        default_lr=lr_from_curvature(10.0),
        domain="simplex",
    ),
    Optimizer(
        name="eg-reparam",
        description="GD on φ = log θ: Euler in log θ on Su's θ̇ = −θ⊙θ⊙∇L",
        module=__name__,
        torch="none",
        hyperparameters=(learning_rate(),),
        fixed={"simplex": 0.0, "reparam": 1.0, "primal": 0.0},
        models=(SU,),
        default_lr=lr_from_curvature(10.0),
        domain="positive",
    ),
    Optimizer(
        name="eg-primal",
        description="GD's Euler step on the mirror flow, θ − ηθ⊙∇L (can cross 0)",
        module=__name__,
        torch="none",
        hyperparameters=(learning_rate(),),
        fixed={"simplex": 0.0, "reparam": 0.0, "primal": 1.0},
        models=(MIRROR_PRIMAL,),
        default_lr=lr_from_curvature(10.0),
        domain="positive",
    ),
)
