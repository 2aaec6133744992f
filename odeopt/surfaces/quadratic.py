r"""The ill-conditioned quadratic, optionally rotated: the model problem of all rates.

.. math::

    L(\theta) = \tfrac12\, \theta^\top A \theta, \qquad
    A = Q^\top \operatorname{diag}(\lambda_1, \dots, \lambda_n)\, Q

The eigenvalues are ``eigenvalues`` if given (the dimension then follows from their
number), else ``n`` values spread geometrically from 1 to ``kappa``
(``np.geomspace(1, kappa, n)``; a single 1 when ``n = 1``).  ``Q`` is the identity,
or with ``rotate=SEED`` a random orthogonal matrix: the QR factor of an ``n × n``
standard normal matrix from ``np.random.default_rng(SEED)``, with the signs of its
columns fixed so that ``R`` has a positive diagonal (which makes ``Q`` Haar
distributed).  A rotation defeats per-coordinate adaptive methods (Adam, RMSprop,
sign descent), whose behaviour depends on the axes.

The unique minimum is the origin with value 0.  Every rate of the quadratic theory
applies: gradient descent contracts by ``(κ-1)/(κ+1)`` at the best step
``2/(μ + L)``, heavy ball by ``(√κ-1)/(√κ+1)`` at Polyak's tuning.  Start
``(1, ..., 1)``; box ``[-1.5, 1.5]^n``.  The curvature used for default learning
rates is the largest eigenvalue.  The kernels read ``A`` (row-major, ``n^2`` floats)
from ``p``.
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    n = x.shape[0]
    total = 0.0
    for i in range(n):
        row = 0.0
        for j in range(n):
            row += p[i * n + j] * x[j]
        total += x[i] * row
    return 0.5 * total


@kernel
def grad(x, p, out):
    n = x.shape[0]
    for i in range(n):
        row = 0.0
        for j in range(n):
            row += p[i * n + j] * x[j]
        out[i] = row


@kernel
def hess(x, p, out):
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = p[i * n + j]


def _eigenvalues(dim, params):
    if params["eigenvalues"] is not None:
        return np.asarray(params["eigenvalues"], dtype=float)
    return np.geomspace(1.0, params["kappa"], dim)


def _rotation(dim, seed):
    rng = np.random.default_rng(seed)
    q, r = np.linalg.qr(rng.standard_normal((dim, dim)))
    return q * np.where(np.diag(r) < 0.0, -1.0, 1.0)


def matrix(dim, params):
    """The matrix ``A`` for a dimension and parameter values (already checked)."""
    lam = _eigenvalues(dim, params)
    if params["rotate"] is None:
        return np.diag(lam)
    q = _rotation(dim, int(params["rotate"]))
    a = q.T @ (lam[:, None] * q)
    return 0.5 * (a + a.T)


def _pack(dim, params):
    return matrix(dim, params).ravel()


def _infer_dim(params):
    if params["eigenvalues"] is not None:
        return len(params["eigenvalues"]) or None
    return None


def _check(dim, params):
    if params["kappa"] < 1.0:
        return f"kappa must be >= 1, got {params['kappa']:g}"
    eigenvalues = params["eigenvalues"]
    if eigenvalues is not None:
        try:
            values = np.asarray(eigenvalues, dtype=float)
        except (TypeError, ValueError):
            return f"eigenvalues must be a list of numbers, got {eigenvalues!r}"
        if values.ndim != 1 or values.size == 0:
            return "eigenvalues must be a non-empty list of numbers"
        if values.size != dim:
            return f"{values.size} eigenvalues given for dimension {dim}"
        if not np.all(np.isfinite(values)) or np.any(values <= 0.0):
            return f"eigenvalues must be positive and finite, got {list(values)}"
    rotate = params["rotate"]
    if rotate is not None and (int(rotate) != rotate or rotate < 0):
        return f"rotate must be a non-negative integer seed, got {rotate!r}"
    return None


def _curvature(dim, params):
    return float(np.max(_eigenvalues(dim, params)))


def _minima(dim, params):
    return [Minimum(np.zeros(dim), 0.0)]


def _bounds(dim, params):
    return [-1.5] * dim, [1.5] * dim


def _x0(dim, params):
    return [1.0] * dim


SURFACE = Surface(
    name="quadratic",
    description="½θᵀAθ with chosen spectrum, optionally rotated (n-D)",
    module=__name__,
    formula="½ θᵀ Qᵀ diag(λ) Q θ",
    params=(
        Param("kappa", 10.0, "condition number: eigenvalues geomspace(1, kappa, n)"),
        Param(
            "eigenvalues",
            None,
            "explicit eigenvalues (override kappa; set the dimension)",
            "floats",
        ),
        Param("rotate", None, "seed of a random orthogonal rotation Q", "int"),
    ),
    dim=None,
    default_dim=2,
    min_dim=1,
    bounds=_bounds,
    x0=_x0,
    minima=_minima,
    pack=_pack,
    check=_check,
    infer_dim=_infer_dim,
    curvature=_curvature,
)
