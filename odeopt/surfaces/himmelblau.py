r"""Himmelblau's function: four global minima of equal depth.

.. math::

    L(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2

The loss is 0 exactly where both residuals vanish, at four points: ``(3, 2)`` and
three irrational ones, near ``(-2.805118, 3.131312)``, ``(-3.779310, -3.283186)`` and
``(3.584428, -1.848127)`` (declared to full double precision below, computed with
50-digit Newton iterations).  Between them lie four saddles and one local maximum
near ``(-0.270845, -0.923039)`` with value 181.61652.  Which minimum a run reaches
depends on the start and on the optimizer, which makes this the standard basin
demonstration.  Domain ``[-5, 5]^2``; odeopt starts at the origin, from where the
gradient flow runs to ``(3, 2)``.

References: D. M. Himmelblau, *Applied Nonlinear Programming*, McGraw-Hill (1972).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    r1 = x[0] * x[0] + x[1] - 11.0
    r2 = x[0] + x[1] * x[1] - 7.0
    return r1 * r1 + r2 * r2


@kernel
def grad(x, p, out):
    r1 = x[0] * x[0] + x[1] - 11.0
    r2 = x[0] + x[1] * x[1] - 7.0
    out[0] = 4.0 * x[0] * r1 + 2.0 * r2
    out[1] = 2.0 * r1 + 4.0 * x[1] * r2


@kernel
def hess(x, p, out):
    r1 = x[0] * x[0] + x[1] - 11.0
    r2 = x[0] + x[1] * x[1] - 7.0
    out[0, 0] = 4.0 * r1 + 8.0 * x[0] * x[0] + 2.0
    cross = 4.0 * (x[0] + x[1])
    out[0, 1] = cross
    out[1, 0] = cross
    out[1, 1] = 2.0 + 4.0 * r2 + 8.0 * x[1] * x[1]


SURFACE = Surface(
    name="himmelblau",
    description="Himmelblau's four equal minima (2-D)",
    module=__name__,
    formula="(x² + y − 11)² + (x + y² − 7)²",
    dim=2,
    bounds=([-5.0, -5.0], [5.0, 5.0]),
    x0=[0.0, 0.0],
    minima=[
        Minimum(np.array([3.0, 2.0]), 0.0),
        Minimum(np.array([-2.805118086952745, 3.131312518250573]), 0.0),
        Minimum(np.array([-3.779310253377747, -3.2831859912861696]), 0.0),
        Minimum(np.array([3.5844283403304917, -1.8481265269644036]), 0.0),
    ],
)
