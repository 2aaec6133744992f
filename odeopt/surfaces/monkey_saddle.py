r"""The monkey saddle: a degenerate critical point with three descending valleys.

.. math::

    L(x, y) = x^3 - 3xy^2 = \operatorname{Re}\,(x + iy)^3

Unbounded below, no minima; the only critical point is the origin, where the
gradient and the Hessian both vanish (so second-order tests say nothing).  The loss
descends in three valleys, along the directions at 180° and ±60°.  The Hessian
``[[6x, -6y], [-6y, -6x]]`` has eigenvalues ``±6r`` at radius ``r``; the declared
curvature 6 is its size on the unit circle, where the start lies.  Box
``[-2, 2]^2``; odeopt starts at ``(1, 0.1)``, near the ridge ``y = 0``, from where
gradient descent slides towards the origin first and then leaves along a valley.
"""

from .._jit import kernel
from ._base import Surface


@kernel
def value(x, p):
    return x[0] * x[0] * x[0] - 3.0 * x[0] * x[1] * x[1]


@kernel
def grad(x, p, out):
    out[0] = 3.0 * x[0] * x[0] - 3.0 * x[1] * x[1]
    out[1] = -6.0 * x[0] * x[1]


@kernel
def hess(x, p, out):
    out[0, 0] = 6.0 * x[0]
    out[0, 1] = -6.0 * x[1]
    out[1, 0] = -6.0 * x[1]
    out[1, 1] = -6.0 * x[0]


SURFACE = Surface(
    name="monkey-saddle",
    description="The monkey saddle x³ − 3xy², unbounded below (2-D)",
    module=__name__,
    formula="x³ − 3xy²",
    dim=2,
    bounds=([-2.0, -2.0], [2.0, 2.0]),
    x0=[1.0, 0.1],
    minima=(),
    curvature=6.0,
    bounded_below=False,
)
