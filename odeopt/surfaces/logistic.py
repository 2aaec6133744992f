r"""L2-regularised logistic regression on a data set drawn from a seed: a finite sum.

.. math::

    L(\theta) = \frac1n\sum_{i<n}\ell_i(\theta), \qquad
    \ell_i(\theta) = \log\bigl(1 + e^{z_i}\bigr) - y_i z_i
        + \tfrac\lambda2\|\theta\|^2, \quad z_i = x_i^\top\theta,

with ``n`` samples of ``d`` features (``d`` the dimension): standard normal rows
:math:`x_i`, labels :math:`y_i \sim \mathrm{Bernoulli}(\sigma(x_i^\top\theta^\star))`
for a standard normal :math:`\theta^\star` scaled by ``scale``, all from
``np.random.default_rng(seed)`` (``X``, :math:`\theta^\star`, then the uniforms of
the labels).  Gradient :math:`\frac1n X^\top(\sigma(X\theta) - y) + \lambda\theta`,
Hessian :math:`\frac1n X^\top \operatorname{diag}(\sigma(1-\sigma)) X + \lambda I`:
strictly convex for :math:`\lambda > 0`, with one minimum, found by Newton's method
to machine precision.  ``log(1 + e^z)`` and σ are evaluated in their overflow-free
forms.

The per-sample gradient :math:`\nabla\ell_i = (\sigma(z_i) - y_i)\,x_i + \lambda\theta`
(``sample_grad``) makes real minibatches possible (``--noise minibatch``).  Start at
the origin.  The kernels read ``p = (n, λ, X row-major, y)``.

Reference: D. R. Cox, *The regression analysis of binary sequences*, J. R. Stat.
Soc. B 20 (1958).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def n_samples(p):
    return int(p[0])


@kernel
def sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@kernel
def softplus(z):
    if z > 0.0:
        return z + math.log1p(math.exp(-z))
    return math.log1p(math.exp(z))


@kernel
def value(x, p):
    n = int(p[0])
    lam = p[1]
    d = x.shape[0]
    total = 0.0
    for i in range(n):
        z = 0.0
        for j in range(d):
            z += p[2 + i * d + j] * x[j]
        total += softplus(z) - p[2 + n * d + i] * z
    norm2 = 0.0
    for j in range(d):
        norm2 += x[j] * x[j]
    return total / n + 0.5 * lam * norm2


@kernel
def grad(x, p, out):
    n = int(p[0])
    lam = p[1]
    d = x.shape[0]
    for j in range(d):
        out[j] = 0.0
    for i in range(n):
        z = 0.0
        for j in range(d):
            z += p[2 + i * d + j] * x[j]
        r = sigmoid(z) - p[2 + n * d + i]
        for j in range(d):
            out[j] += r * p[2 + i * d + j]
    for j in range(d):
        out[j] = out[j] / n + lam * x[j]


@kernel
def hess(x, p, out):
    n = int(p[0])
    lam = p[1]
    d = x.shape[0]
    for a in range(d):
        for b in range(d):
            out[a, b] = 0.0
    for i in range(n):
        z = 0.0
        for j in range(d):
            z += p[2 + i * d + j] * x[j]
        s = sigmoid(z)
        w = s * (1.0 - s)
        for a in range(d):
            for b in range(a, d):
                out[a, b] += w * p[2 + i * d + a] * p[2 + i * d + b]
    for a in range(d):
        for b in range(a, d):
            out[a, b] = out[a, b] / n
            out[b, a] = out[a, b]  # exactly symmetric: one rounding for both
        out[a, a] += lam


@kernel
def sample_grad(x, p, i, out):
    # adds ∇ℓ_i(x) to out
    n = int(p[0])
    lam = p[1]
    d = x.shape[0]
    z = 0.0
    for j in range(d):
        z += p[2 + i * d + j] * x[j]
    r = sigmoid(z) - p[2 + n * d + i]
    for j in range(d):
        out[j] += r * p[2 + i * d + j] + lam * x[j]


def data(dim, params):
    """``(X, y, θ*)`` of a dimension and parameter values."""
    rng = np.random.default_rng(int(params["seed"]))
    n = int(params["n"])
    X = rng.standard_normal((n, dim))
    truth = params["scale"] * rng.standard_normal(dim)
    probability = 1.0 / (1.0 + np.exp(-(X @ truth)))
    y = (rng.uniform(size=n) < probability).astype(float)
    return X, y, truth


def _loss_grad_hess(theta, X, y, lam):
    z = X @ theta
    s = 1.0 / (1.0 + np.exp(-z))
    n = X.shape[0]
    loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * lam * theta @ theta
    grad = X.T @ (s - y) / n + lam * theta
    hess = (X.T * (s * (1 - s))) @ X / n + lam * np.eye(X.shape[1])
    return loss, grad, hess


def solution(dim, params):
    """The minimum by Newton's method (quadratic convergence; 50 steps at most)."""
    X, y, _ = data(dim, params)
    theta = np.zeros(dim)
    for _ in range(50):
        _, g, H = _loss_grad_hess(theta, X, y, params["l2"])
        step = np.linalg.solve(H, g)
        theta = theta - step
        if np.max(np.abs(step)) < 1e-15 * max(1.0, np.max(np.abs(theta))):
            break
    return theta, float(_loss_grad_hess(theta, X, y, params["l2"])[0])


def _pack(dim, params):
    X, y, _ = data(dim, params)
    return np.concatenate([[float(X.shape[0]), params["l2"]], X.ravel(), y])


def _check(dim, params):
    n, seed = params["n"], params["seed"]
    if int(n) != n or n < 1:
        return f"n must be a whole number >= 1, got {n}"
    if int(seed) != seed or seed < 0:
        return f"seed must be a whole number >= 0, got {seed}"
    if not params["l2"] > 0.0:
        return f"l2 must be > 0 (it makes the minimum unique), got {params['l2']}"
    if not params["scale"] >= 0.0:
        return f"scale must be >= 0, got {params['scale']}"
    return None


def _minima(dim, params):
    theta, loss = solution(dim, params)
    return [Minimum(theta, loss)]


def _bounds(dim, params):
    theta, _ = solution(dim, params)
    return list(np.minimum(theta, 0.0) - 1.0), list(np.maximum(theta, 0.0) + 1.0)


def _curvature(dim, params):
    X, _, _ = data(dim, params)
    # σ(1 − σ) <= 1/4, reached at θ = 0: the largest curvature anywhere
    return float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1] / 4 + params["l2"])


SURFACE = Surface(
    name="logistic",
    description="L2-regularised logistic regression on n seeded samples (finite sum)",
    module=__name__,
    formula="(1/n) Σᵢ [log(1 + e^{xᵢᵀθ}) − yᵢ xᵢᵀθ] + (λ/2)‖θ‖²",
    params=(
        Param("n", 64, "number of samples", kind="int"),
        Param("seed", 0, "seed of the data (np.random.default_rng)", kind="int"),
        Param("l2", 0.01, "ridge penalty λ > 0"),
        Param("scale", 2.0, "norm scale of the true θ* (larger: more separable)"),
    ),
    dim=None,
    default_dim=2,
    min_dim=1,
    pack=_pack,
    check=_check,
    bounds=_bounds,
    x0=lambda dim, params: [0.0] * dim,
    minima=_minima,
    curvature=_curvature,
)
