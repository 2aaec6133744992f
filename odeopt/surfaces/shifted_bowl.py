r"""The shifted bowl ½‖θ − c‖², posed on the positive orthant.

.. math::

    L(\theta) = \tfrac12 \|\theta - c\|^2, \qquad \theta \ge 0

Its minimiser over :math:`\theta \ge 0` is :math:`\max(c, 0)`.  The mirror flow
:math:`\dot\theta = -\theta\odot(\theta - c)` of exponentiated gradient decouples
into logistic equations with the closed form

.. math::

    \theta_i(t) = \frac{c_i\,\theta_{i,0}}{\theta_{i,0} + (c_i - \theta_{i,0})e^{-c_i t}}
    \quad (c_i \ne 0), \qquad \theta_i(t) = \frac{\theta_{i,0}}{1 + \theta_{i,0} t}
    \quad (c_i = 0)

(Kivinen & Warmuth 1997, "Exponentiated gradient versus gradient descent for linear
predictors"; Su Jianlin, kexue.fm/archives/8968).  The dimension follows ``c``
(default: ``(1, 0, −0.5)`` repeated to the dimension, 3 by default: an interior, a
boundary and an inactive coordinate).
Domain: the positive orthant; start :math:`(0.5, \dots, 0.5)`.
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    total = 0.0
    for i in range(x.shape[0]):
        d = x[i] - p[i]
        total += d * d
    return 0.5 * total


@kernel
def grad(x, p, out):
    for i in range(x.shape[0]):
        out[i] = x[i] - p[i]


@kernel
def hess(x, p, out):
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = 1.0 if i == j else 0.0


#: The default centre, repeated to the dimension: an interior, a boundary and an
#: inactive coordinate.
PATTERN = (1.0, 0.0, -0.5)


def center(dim, params):
    """The centre c: as given (``dim`` entries), else PATTERN repeated to ``dim``."""
    if params["c"] is None:
        return np.resize(np.array(PATTERN), dim)
    return np.asarray(params["c"], dtype=float)


def logistic(t, theta0, c):
    """The mirror flow's closed form θ(t), rows for the times ``t``."""
    t = np.asarray(t, dtype=float)[:, None]
    theta0 = np.asarray(theta0, dtype=float)[None, :]
    c = np.asarray(c, dtype=float)[None, :]
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        general = c * theta0 / (theta0 + (c - theta0) * np.exp(-c * t))
    return np.where(c == 0.0, theta0 / (1.0 + theta0 * t), general)


def _infer_dim(params):
    return None if params["c"] is None else (len(params["c"]) or None)


def _check(dim, params):
    if params["c"] is None:
        return None
    c = np.asarray(params["c"], dtype=float)
    if c.ndim != 1 or c.size != dim:
        return f"c must have {dim} entries, got {list(np.atleast_1d(c))}"
    if not np.all(np.isfinite(c)):
        return "c must be finite"
    return None


def _pack(dim, params):
    return center(dim, params)


def _minima(dim, params):
    return [Minimum(np.maximum(center(dim, params), 0.0), _gap(dim, params))]


def _gap(dim, params):
    c = center(dim, params)
    return 0.5 * float(np.sum(np.minimum(c, 0.0) ** 2))


def _bounds(dim, params):
    c = center(dim, params)
    return [-0.25] * dim, [float(max(np.max(c), 0.5)) + 0.75] * dim


def _x0(dim, params):
    return [0.5] * dim


SURFACE = Surface(
    name="shifted-bowl",
    description="shifted bowl ½‖θ − c‖² on θ ≥ 0: EG's logistic closed form (n-D)",
    module=__name__,
    formula="½‖θ − c‖², θ ≥ 0",
    params=(
        Param(
            "c",
            None,
            "centre c (sets the dimension; default 1, 0, −0.5 repeated)",
            "floats",
        ),
    ),
    dim=None,
    default_dim=3,
    min_dim=1,
    bounds=_bounds,
    x0=_x0,
    minima=_minima,
    pack=_pack,
    check=_check,
    infer_dim=_infer_dim,
    curvature=1.0,
    domain="positive",
)
