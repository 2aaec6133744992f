r"""Matyas' function: a flat, rotated, ill-conditioned quadratic.

.. math::

    L(x, y) = 0.26\,(x^2 + y^2) - 0.48\,xy

The unique minimum is the origin with value 0.  The Hessian is the constant
``[[0.52, -0.48], [-0.48, 0.52]]`` with eigenvalues 0.04 (along the diagonal
``(1, 1)``) and 1 (along ``(1, -1)``): condition number 25, with the slow direction
at 45° to the axes, so per-coordinate adaptive methods gain little.  Domain
``[-10, 10]^2``; odeopt starts at ``(8, 2)``, which excites both directions.

References: Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/matya.html).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    return 0.26 * (x[0] * x[0] + x[1] * x[1]) - 0.48 * x[0] * x[1]


@kernel
def grad(x, p, out):
    out[0] = 0.52 * x[0] - 0.48 * x[1]
    out[1] = 0.52 * x[1] - 0.48 * x[0]


@kernel
def hess(x, p, out):
    out[0, 0] = 0.52
    out[0, 1] = -0.48
    out[1, 0] = -0.48
    out[1, 1] = 0.52


SURFACE = Surface(
    name="matyas",
    description="Matyas' flat rotated quadratic, κ = 25 (2-D)",
    module=__name__,
    formula="0.26(x² + y²) − 0.48xy",
    dim=2,
    bounds=([-10.0, -10.0], [10.0, 10.0]),
    x0=[8.0, 2.0],
    minima=[Minimum(np.array([0.0, 0.0]), 0.0)],
)
