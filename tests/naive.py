"""Textbook NumPy versions of ``torch.optim`` optimizers and analytic test losses.

These are an independent reference for the lockstep tests: each optimizer is a
direct transcription of the algorithm box in the PyTorch documentation of
``torch.optim.SGD``, ``RMSprop``, ``Adam``, ``AdamW`` and ``Adagrad`` (PyTorch 2.x),
written without looking at odeopt's kernels.  Keyword names and defaults are
torch's (``beta1``/``beta2`` stand for ``betas=(beta1, beta2)``).  ``maximize``
negates the gradient before anything else, as in the SGD and Adam boxes (the
RMSprop and Adagrad boxes omit it; torch's code does the same there).

Each optimizer takes ``grad``, a callable ``theta -> gradient`` (float64 arrays), a
start ``x0`` and a number of ``steps``, and returns the array of shape
``(steps + 1, dim)`` whose row ``k`` is ``theta_k`` (row 0 is ``x0``).  They are
vectorised over coordinates and loop over steps in plain Python.
``tests/test_torch_parity.py`` checks them against real torch.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import rosen, rosen_der

# -- optimizers -----------------------------------------------------------------------


def _start(x0, steps):
    theta = np.array(x0, dtype=np.float64)
    out = np.empty((steps + 1, theta.size))
    out[0] = theta
    return theta, out


def sgd(
    grad,
    x0,
    steps,
    lr,
    momentum=0.0,
    dampening=0.0,
    weight_decay=0.0,
    nesterov=False,
    maximize=False,
):
    """``torch.optim.SGD``: gradient descent with heavy-ball / Nesterov momentum.

    Algorithm box: g = ±∇f(θ) (+ λθ); if μ ≠ 0: b₁ = g, b_t = μ b + (1 − τ) g and
    g = g + μ b (nesterov) or g = b; θ ← θ − γ g.
    """
    theta, out = _start(x0, steps)
    b = None
    for t in range(1, steps + 1):
        g = -grad(theta) if maximize else grad(theta)
        if weight_decay != 0:
            g = g + weight_decay * theta
        if momentum != 0:
            b = g.copy() if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        theta = theta - lr * g
        out[t] = theta
    return out


def rmsprop(
    grad,
    x0,
    steps,
    lr,
    alpha=0.99,
    eps=1e-8,
    weight_decay=0.0,
    momentum=0.0,
    centered=False,
    maximize=False,
):
    """``torch.optim.RMSprop`` (Hinton's lecture 6e; centered: Graves 2013).

    Algorithm box: g = ±∇f(θ) (+ λθ); v = α v + (1 − α) g²; ṽ = v, or if centered
    ḡ = α ḡ + (1 − α) g and ṽ = v − ḡ²; if μ > 0: b = μ b + g / (√ṽ + ε) and
    θ ← θ − γ b, else θ ← θ − γ g / (√ṽ + ε).  v, b, ḡ start at 0.
    """
    theta, out = _start(x0, steps)
    v = np.zeros_like(theta)
    b = np.zeros_like(theta)
    g_ave = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = -grad(theta) if maximize else grad(theta)
        if weight_decay != 0:
            g = g + weight_decay * theta
        v = alpha * v + (1 - alpha) * g**2
        v_tilde = v
        if centered:
            g_ave = alpha * g_ave + (1 - alpha) * g
            v_tilde = v_tilde - g_ave**2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            theta = theta - lr * b
        else:
            theta = theta - lr * g / (np.sqrt(v_tilde) + eps)
        out[t] = theta
    return out


def adam(
    grad,
    x0,
    steps,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=0.0,
    amsgrad=False,
    maximize=False,
    decoupled_weight_decay=False,
):
    """``torch.optim.Adam`` (Kingma & Ba 2015; amsgrad: Reddi et al. 2018).

    Algorithm box: g = ±∇f(θ); weight decay g += λθ, or with
    ``decoupled_weight_decay`` (the AdamW box, Loshchilov & Hutter 2019)
    θ ← θ (1 − γλ); m = β₁ m + (1 − β₁) g; v = β₂ v + (1 − β₂) g²;
    m̂ = m / (1 − β₁ᵗ); v̂ = v / (1 − β₂ᵗ) with v replaced by vᵐᵃˣ = max(vᵐᵃˣ, v) for
    amsgrad; θ ← θ − γ m̂ / (√v̂ + ε).  m, v, vᵐᵃˣ start at 0.
    """
    theta, out = _start(x0, steps)
    m = np.zeros_like(theta)
    v = np.zeros_like(theta)
    v_max = np.zeros_like(theta)
    for t in range(1, steps + 1):
        g = -grad(theta) if maximize else grad(theta)
        if weight_decay != 0:
            if decoupled_weight_decay:
                theta = theta * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * theta
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)
        if amsgrad:
            v_max = np.maximum(v_max, v)
            v_hat = v_max / (1 - beta2**t)
        else:
            v_hat = v / (1 - beta2**t)
        theta = theta - lr * m_hat / (np.sqrt(v_hat) + eps)
        out[t] = theta
    return out


def adamw(
    grad,
    x0,
    steps,
    lr,
    beta1=0.9,
    beta2=0.999,
    eps=1e-8,
    weight_decay=1e-2,
    amsgrad=False,
    maximize=False,
):
    """``torch.optim.AdamW``: Adam with decoupled weight decay (default λ = 0.01)."""
    return adam(
        grad,
        x0,
        steps,
        lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


def adagrad(
    grad,
    x0,
    steps,
    lr,
    lr_decay=0.0,
    weight_decay=0.0,
    initial_accumulator_value=0.0,
    eps=1e-10,
    maximize=False,
):
    """``torch.optim.Adagrad`` (Duchi, Hazan & Singer 2011).

    Algorithm box: g = ±∇f(θ); γ̃ = γ / (1 + (t − 1) η); g += λθ; s = s + g²
    (s starts at the initial accumulator value); θ ← θ − γ̃ g / (√s + ε).
    """
    theta, out = _start(x0, steps)
    state_sum = np.full_like(theta, initial_accumulator_value)
    for t in range(1, steps + 1):
        g = -grad(theta) if maximize else grad(theta)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        if weight_decay != 0:
            g = g + weight_decay * theta
        state_sum = state_sum + g**2
        theta = theta - lr_t * g / (np.sqrt(state_sum) + eps)
        out[t] = theta
    return out


OPTIMIZERS = {
    "sgd": sgd,
    "rmsprop": rmsprop,
    "adam": adam,
    "adamw": adamw,
    "adagrad": adagrad,
}


# -- analytic losses ------------------------------------------------------------------
# Each is a (value, grad) pair of callables on float64 arrays; n-D where it makes sense.


def rosenbrock_value(x):
    """Σ 100 (x_{i+1} − x_i²)² + (1 − x_i)²  (``scipy.optimize.rosen``)."""
    return float(rosen(np.asarray(x, dtype=np.float64)))


def rosenbrock_grad(x):
    """Gradient of the Rosenbrock function (``scipy.optimize.rosen_der``)."""
    return rosen_der(np.asarray(x, dtype=np.float64))


def quadratic(A):
    """(value, grad) of ½ θᵀAθ for a symmetric matrix ``A``."""
    A = np.array(A, dtype=np.float64)

    def value(x):
        return float(0.5 * x @ A @ x)

    def grad(x):
        return A @ x

    return value, grad


def booth_value(x):
    """(x + 2y − 7)² + (2x + y − 5)², minimum 0 at (1, 3)."""
    return float((x[0] + 2 * x[1] - 7) ** 2 + (2 * x[0] + x[1] - 5) ** 2)


def booth_grad(x):
    """Gradient of the Booth function."""
    r1 = x[0] + 2 * x[1] - 7
    r2 = 2 * x[0] + x[1] - 5
    return np.array([2 * r1 + 4 * r2, 4 * r1 + 2 * r2])


def product_loss_value(x, c=0.05):
    """½ (ab − 1)² + c a², the two-layer scalar "product" loss."""
    a, b = x
    return float(0.5 * (a * b - 1) ** 2 + c * a * a)


def product_loss_grad(x, c=0.05):
    """Gradient ((ab − 1) b + 2c a, (ab − 1) a)."""
    a, b = x
    r = a * b - 1
    return np.array([r * b + 2 * c * a, r * a])


def himmelblau_value(x):
    """(x² + y − 11)² + (x + y² − 7)², four minima of value 0."""
    return float((x[0] ** 2 + x[1] - 11) ** 2 + (x[0] + x[1] ** 2 - 7) ** 2)


def himmelblau_grad(x):
    """Gradient of Himmelblau's function."""
    r1 = x[0] ** 2 + x[1] - 11
    r2 = x[0] + x[1] ** 2 - 7
    return np.array([4 * x[0] * r1 + 2 * r2, 2 * r1 + 4 * x[1] * r2])


LOSSES = {
    "rosenbrock": (rosenbrock_value, rosenbrock_grad),
    "booth": (booth_value, booth_grad),
    "product-loss": (product_loss_value, product_loss_grad),
    "himmelblau": (himmelblau_value, himmelblau_grad),
}


def max_rel_dev(a, b):
    """max |a − b| / max(1, |b|), elementwise over the arrays (nan-aware: inf)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    dev = np.abs(a - b) / np.maximum(1.0, np.abs(b))
    if not np.all(np.isfinite(dev)):
        return np.inf
    return float(dev.max(initial=0.0))
