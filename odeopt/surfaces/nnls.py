r"""Non-negative least squares: a least-squares loss posed on the positive orthant.

.. math::

    L(\theta) = \tfrac12 \|A\theta - b\|^2, \qquad \theta \ge 0

``A`` (``rows × n``) and then ``b`` (``rows``) are standard normal draws from
``np.random.default_rng(seed)``.  The problem is convex; its minimiser over
:math:`\theta \ge 0` is the KKT point (:math:`\theta_i = 0` with
:math:`\partial_i L \ge 0`, or :math:`\partial_i L = 0`), which
``scipy.optimize.nnls`` (Lawson & Hanson 1974, *Solving Least Squares Problems*)
computes and which is listed as the known minimum.  Exponentiated gradient and its
mirror flow :math:`\dot\theta = -\theta\odot\nabla L` converge to it from any
:math:`\theta_0 > 0` (Kivinen & Warmuth 1997, "Exponentiated gradient versus gradient
descent for linear predictors").  Domain: the positive orthant; start
:math:`(1, \dots, 1)`.  The kernels read ``rows``, ``A`` (row-major) and ``b`` from
``p``.
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    n = x.shape[0]
    rows = int(p[0])
    total = 0.0
    for r in range(rows):
        residual = -p[1 + rows * n + r]
        for j in range(n):
            residual += p[1 + r * n + j] * x[j]
        total += residual * residual
    return 0.5 * total


@kernel
def grad(x, p, out):
    n = x.shape[0]
    rows = int(p[0])
    for j in range(n):
        out[j] = 0.0
    for r in range(rows):
        residual = -p[1 + rows * n + r]
        for j in range(n):
            residual += p[1 + r * n + j] * x[j]
        for j in range(n):
            out[j] += p[1 + r * n + j] * residual


@kernel
def hess(x, p, out):
    n = x.shape[0]
    rows = int(p[0])
    for i in range(n):
        for j in range(n):
            total = 0.0
            for r in range(rows):
                total += p[1 + r * n + i] * p[1 + r * n + j]
            out[i, j] = total


def data(dim, params):
    """``(A, b)`` for a dimension and parameter values: A, then b, from the seed."""
    rng = np.random.default_rng(int(params["seed"]))
    a = rng.standard_normal((int(params["rows"]), dim))
    b = rng.standard_normal(int(params["rows"]))
    return a, b


def solution(dim, params):
    """The minimiser over θ ≥ 0, from ``scipy.optimize.nnls``."""
    from scipy.optimize import nnls

    a, b = data(dim, params)
    return nnls(a, b)[0]


def _pack(dim, params):
    a, b = data(dim, params)
    return np.concatenate([[float(params["rows"])], a.ravel(), b])


def _check(dim, params):
    rows, seed = params["rows"], params["seed"]
    if int(rows) != rows or rows < 1:
        return f"rows must be a positive integer, got {rows!r}"
    if int(seed) != seed or seed < 0:
        return f"seed must be a non-negative integer, got {seed!r}"
    return None


def _minima(dim, params):
    theta = solution(dim, params)
    a, b = data(dim, params)
    residual = a @ theta - b
    return [Minimum(theta, 0.5 * float(residual @ residual))]


def _bounds(dim, params):
    top = float(np.max(solution(dim, params))) + 1.5
    return [-0.25] * dim, [top] * dim


def _x0(dim, params):
    return [1.0] * dim


def _curvature(dim, params):
    a, _ = data(dim, params)
    return float(np.linalg.eigvalsh(a.T @ a)[-1])


SURFACE = Surface(
    name="nnls",
    description="non-negative least squares ½‖Aθ − b‖², θ ≥ 0, data from a seed (n-D)",
    module=__name__,
    formula="½‖Aθ − b‖², θ ≥ 0",
    params=(
        Param("rows", 8, "rows of A (observations)", "int"),
        Param("seed", 1, "seed of np.random.default_rng for A, then b", "int"),
    ),
    dim=None,
    default_dim=5,
    min_dim=1,
    bounds=_bounds,
    x0=_x0,
    minima=_minima,
    pack=_pack,
    check=_check,
    curvature=_curvature,
    domain="positive",
)
