r"""Rosenbrock's banana valley, in n dimensions.

.. math::

    L(\theta) = \sum_{i=1}^{n-1} \left[ b\,(\theta_{i+1} - \theta_i^2)^2
                + (a - \theta_i)^2 \right]

With ``a = 1, b = 100`` this is ``scipy.optimize.rosen``; in 2-D the unique minimum
is ``(a, a^2)`` with value 0, and for ``a = 1`` the minimum is ``(1, ..., 1)`` in any
dimension.  The curved, narrow valley (Hessian eigenvalues about 0.4 and 1000 at the
minimum) is the classic test of momentum and adaptive methods.  Classic start
``(-1.2, 1)`` (``(-1.2, 1, ..., -1.2, 1)`` in n-D).

References: H. H. Rosenbrock, *An automatic method for finding the greatest or least
value of a function*, Comput. J. 3 (1960).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Param, Surface


@kernel
def value(x, p):
    a = p[0]
    b = p[1]
    total = 0.0
    for i in range(x.shape[0] - 1):
        total += b * (x[i + 1] - x[i] * x[i]) ** 2 + (a - x[i]) ** 2
    return total


@kernel
def grad(x, p, out):
    a = p[0]
    b = p[1]
    n = x.shape[0]
    # Each out[i] is assigned its first term, not added to 0.0: IEEE forbids LLVM to
    # drop `0.0 + x` (it is x except for -0.0), which sat on the step's critical path
    # (Nesterov, 2-D: 12.2 -> 11.4 ns/step).
    if n == 1:
        out[0] = 0.0
    for i in range(n - 1):
        r = x[i + 1] - x[i] * x[i]
        term = -4.0 * b * x[i] * r - 2.0 * (a - x[i])
        out[i] = out[i] + term if i > 0 else term
        out[i + 1] = 2.0 * b * r


@kernel
def hess(x, p, out):
    a = p[0]  # noqa: F841  (the Hessian does not depend on a)
    b = p[1]
    n = x.shape[0]
    for i in range(n):
        for j in range(n):
            out[i, j] = 0.0
    for i in range(n - 1):
        out[i, i] += 12.0 * b * x[i] * x[i] - 4.0 * b * x[i + 1] + 2.0
        out[i, i + 1] += -4.0 * b * x[i]
        out[i + 1, i] += -4.0 * b * x[i]
        out[i + 1, i + 1] += 2.0 * b


def _minima(dim, params):
    a = params["a"]
    if dim == 2:
        return [Minimum(np.array([a, a * a]), 0.0)]
    if a == 1.0:
        return [Minimum(np.ones(dim), 0.0)]
    return []  # no closed form for n > 2 and a != 1


def _x0(dim, params):
    return [-1.2 if i % 2 == 0 else 1.0 for i in range(dim)]


def _bounds(dim, params):
    return [-2.0] * dim, [2.0 if i % 2 == 0 else 3.0 for i in range(dim)]


SURFACE = Surface(
    name="rosenbrock",
    description="Rosenbrock's curved narrow valley (n-D)",
    module=__name__,
    formula="Σ b(θᵢ₊₁ − θᵢ²)² + (a − θᵢ)²",
    params=(Param("a", 1.0, "valley position"), Param("b", 100.0, "valley steepness")),
    dim=None,
    default_dim=2,
    min_dim=2,
    bounds=_bounds,
    x0=_x0,
    minima=_minima,
)
