r"""Least squares on a data set drawn from a seed: a finite sum with real minibatches.

.. math::

    L(\theta) = \frac1n\sum_{i<n}\ell_i(\theta), \qquad
    \ell_i(\theta) = \tfrac12\,(x_i^\top\theta - y_i)^2,

with ``n`` samples of ``d`` features (``d`` the dimension, ``--dim``): the rows
:math:`x_i` of ``X`` are standard normal, :math:`y = X\theta^\star + s\,\varepsilon`
with :math:`\theta^\star` and :math:`\varepsilon` standard normal and ``s`` the label
noise, all from ``np.random.default_rng(seed)`` (``X``, then :math:`\theta^\star`,
then :math:`\varepsilon`).  Gradient :math:`\frac1n X^\top(X\theta - y)`, Hessian
:math:`\frac1n X^\top X` (constant: a quadratic, so :mod:`odeopt.sde` has the exact
moments of SGD on it); the unique minimum is the least-squares solution
:math:`\hat\theta = (X^\top X)^{-1}X^\top y` (``n >= d`` and ``X`` of full rank).

It declares its per-sample gradient :math:`\nabla\ell_i = (x_i^\top\theta - y_i)\,x_i`
(``sample_grad``), so ``--noise minibatch --batch-size B`` runs SGD on real
minibatches (:mod:`odeopt.noise.minibatch`); the Gaussian noise models apply too.

Start at the origin; box: the origin and :math:`\hat\theta`, one unit around.  The
kernels read ``p = (n, X row-major, y)``.

Reference: A. M. Legendre, *Nouvelles méthodes pour la détermination des orbites des
comètes* (1805), appendix "Sur la méthode des moindres quarrés".
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def n_samples(p):
    return int(p[0])


@kernel
def value(x, p):
    n = int(p[0])
    d = x.shape[0]
    total = 0.0
    for i in range(n):
        r = -p[1 + n * d + i]
        for j in range(d):
            r += p[1 + i * d + j] * x[j]
        total += r * r
    return 0.5 * total / n


@kernel
def grad(x, p, out):
    n = int(p[0])
    d = x.shape[0]
    for j in range(d):
        out[j] = 0.0
    for i in range(n):
        r = -p[1 + n * d + i]
        for j in range(d):
            r += p[1 + i * d + j] * x[j]
        for j in range(d):
            out[j] += r * p[1 + i * d + j]
    for j in range(d):
        out[j] = out[j] / n


@kernel
def hess(x, p, out):
    n = int(p[0])
    d = x.shape[0]
    for a in range(d):
        for b in range(d):
            total = 0.0
            for i in range(n):
                total += p[1 + i * d + a] * p[1 + i * d + b]
            out[a, b] = total / n


@kernel
def sample_grad(x, p, i, out):
    # adds ∇ℓ_i(x) to out
    n = int(p[0])
    d = x.shape[0]
    r = -p[1 + n * d + i]
    for j in range(d):
        r += p[1 + i * d + j] * x[j]
    for j in range(d):
        out[j] += r * p[1 + i * d + j]


def data(dim, params):
    """``(X, y, θ*)`` of a dimension and parameter values."""
    rng = np.random.default_rng(int(params["seed"]))
    n = int(params["n"])
    X = rng.standard_normal((n, dim))
    truth = rng.standard_normal(dim)
    y = X @ truth + params["noise"] * rng.standard_normal(n)
    return X, y, truth


def solution(dim, params):
    """The least-squares solution and its loss."""
    X, y, _ = data(dim, params)
    theta = np.linalg.solve(X.T @ X, X.T @ y)
    residual = X @ theta - y
    return theta, 0.5 * float(residual @ residual) / X.shape[0]


def _pack(dim, params):
    X, y, _ = data(dim, params)
    return np.concatenate([[float(X.shape[0])], X.ravel(), y])


def _check(dim, params):
    n, seed = params["n"], params["seed"]
    if int(n) != n or n < 1:
        return f"n must be a whole number >= 1, got {n}"
    if n < dim:
        return f"n = {n} samples cannot fix {dim} features: give n >= dim"
    if int(seed) != seed or seed < 0:
        return f"seed must be a whole number >= 0, got {seed}"
    if not params["noise"] >= 0.0:
        return f"noise must be >= 0, got {params['noise']}"
    X, _, _ = data(dim, params)
    if np.linalg.matrix_rank(X) < dim:
        return "the drawn X is rank-deficient: change the seed"
    return None


def _minima(dim, params):
    theta, loss = solution(dim, params)
    return [Minimum(theta, loss)]


def _bounds(dim, params):
    theta, _ = solution(dim, params)
    return list(np.minimum(theta, 0.0) - 1.0), list(np.maximum(theta, 0.0) + 1.0)


def _curvature(dim, params):
    X, _, _ = data(dim, params)
    return float(np.linalg.eigvalsh(X.T @ X / X.shape[0])[-1])


SURFACE = Surface(
    name="least-squares",
    description="least squares on n seeded samples, d = dim features (finite sum)",
    module=__name__,
    formula="(1/2n) Σᵢ (xᵢᵀθ − yᵢ)²",
    params=(
        Param("n", 64, "number of samples", kind="int"),
        Param("seed", 0, "seed of the data (np.random.default_rng)", kind="int"),
        Param("noise", 0.5, "standard deviation of the label noise"),
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
