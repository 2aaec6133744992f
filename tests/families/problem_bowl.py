r"""A surface defined outside the package: the shifted, scaled bowl

.. math:: L(x, y) = \tfrac12\,a\,(x - 1)^2 + \tfrac12\,b\,(y + \tfrac12)^2,

minimum ``(1, −1/2)`` with value 0, Hessian ``diag(a, b)``.  Its plot box and known
minimum are given as functions of the parameters (lambdas), so the ``Surface`` object
does not pickle by itself: a problem on it pickles it as this module's ``SURFACE``.
Used by ``tests/test_problem.py``.
"""

import numpy as np

from odeopt._jit import kernel
from odeopt.surfaces._base import Minimum, Param, Surface


@kernel
def value(x, p):
    dx = x[0] - 1.0
    dy = x[1] + 0.5
    return 0.5 * p[0] * dx * dx + 0.5 * p[1] * dy * dy


@kernel
def grad(x, p, out):
    out[0] = p[0] * (x[0] - 1.0)
    out[1] = p[1] * (x[1] + 0.5)


@kernel
def hess(x, p, out):
    out[0, 0] = p[0]
    out[0, 1] = 0.0
    out[1, 0] = 0.0
    out[1, 1] = p[1]


SURFACE = Surface(
    name="problem-bowl",
    description="a shifted, scaled bowl defined outside the package (problem test)",
    module=__name__,
    formula="½a(x − 1)² + ½b(y + ½)²",
    params=(Param("a", 1.0, "curvature along x"), Param("b", 4.0, "along y")),
    bounds=lambda dim, params: ([-3.0, -3.0], [3.0, 3.0]),
    x0=[-2.0, 2.0],
    minima=lambda dim, params: [Minimum(np.array([1.0, -0.5]), 0.0)],
    curvature=lambda dim, params: max(params["a"], params["b"]),
)
