r"""Booth's function: a tilted, moderately ill-conditioned quadratic.

.. math::

    L(x, y) = (x + 2y - 7)^2 + (2x + y - 5)^2

The unique minimum is ``(1, 3)`` with value 0.  The Hessian is the constant
``[[10, 8], [8, 10]]`` with eigenvalues 2 (along ``(1, -1)``) and 18 (along
``(1, 1)``), condition number 9, so every rate of the quadratic theory (gradient
descent contracts by ``(κ-1)/(κ+1) = 0.8`` at the best step ``η = 2/20``) can be
checked exactly on a rotated problem.  Domain ``[-10, 10]^2``; odeopt starts at
``(-5, -5)``, which excites both eigendirections.

References: Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/booth.html).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    r1 = x[0] + 2.0 * x[1] - 7.0
    r2 = 2.0 * x[0] + x[1] - 5.0
    return r1 * r1 + r2 * r2


@kernel
def grad(x, p, out):
    out[0] = 10.0 * x[0] + 8.0 * x[1] - 34.0
    out[1] = 8.0 * x[0] + 10.0 * x[1] - 38.0


@kernel
def hess(x, p, out):
    out[0, 0] = 10.0
    out[0, 1] = 8.0
    out[1, 0] = 8.0
    out[1, 1] = 10.0


SURFACE = Surface(
    name="booth",
    description="Booth's tilted quadratic, κ = 9 (2-D)",
    module=__name__,
    formula="(x + 2y − 7)² + (2x + y − 5)²",
    dim=2,
    bounds=([-10.0, -10.0], [10.0, 10.0]),
    x0=[-5.0, -5.0],
    minima=[Minimum(np.array([1.0, 3.0]), 0.0)],
    curvature=18.0,
)
