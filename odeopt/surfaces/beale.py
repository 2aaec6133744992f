r"""Beale's function: a flat plateau, steep walls and a narrow curved valley.

.. math::

    L(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2

The unique minimum is ``(3, 0.5)`` with value 0; its Hessian has eigenvalues about
0.30 and 49 (condition number about 160).  Two saddles lie in the domain, at
``(0, 1)`` (value 14.203125) and near ``(0.1005, -2.6445)`` (value 9.8645), and the
loss grows like ``x^2 y^6`` towards the corners, up to about ``1.8·10^5`` in the
usual domain ``[-4.5, 4.5]^2``.  There is no single classic start;
odeopt uses ``(1, 1.5)``, on the plateau north-west of the minimum, from where the
gradient flow reaches the minimum along the curved valley.

References: E. M. L. Beale, *On an iterative method for finding a local minimum of a
function of more than one variable*, Tech. Rep. 25, Statistical Techniques Research
Group, Princeton University (1958); Surjanovic & Bingham, *Virtual Library of
Simulation Experiments* (sfu.ca/~ssurjano/beale.html).
"""

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    a = x[0]
    b = x[1]
    r1 = 1.5 - a + a * b
    r2 = 2.25 - a + a * b * b
    r3 = 2.625 - a + a * b * b * b
    return r1 * r1 + r2 * r2 + r3 * r3


@kernel
def grad(x, p, out):
    a = x[0]
    b = x[1]
    r1 = 1.5 - a + a * b
    r2 = 2.25 - a + a * b * b
    r3 = 2.625 - a + a * b * b * b
    out[0] = 2.0 * (r1 * (b - 1.0) + r2 * (b * b - 1.0) + r3 * (b * b * b - 1.0))
    out[1] = 2.0 * a * (r1 + 2.0 * r2 * b + 3.0 * r3 * b * b)


@kernel
def hess(x, p, out):
    a = x[0]
    b = x[1]
    r1 = 1.5 - a + a * b
    r2 = 2.25 - a + a * b * b
    r3 = 2.625 - a + a * b * b * b
    # d r_i / dx = b^i - 1,  d r_i / dy = i a b^(i-1)
    ux1 = b - 1.0
    ux2 = b * b - 1.0
    ux3 = b * b * b - 1.0
    uy1 = a
    uy2 = 2.0 * a * b
    uy3 = 3.0 * a * b * b
    out[0, 0] = 2.0 * (ux1 * ux1 + ux2 * ux2 + ux3 * ux3)
    cross = 2.0 * (
        ux1 * uy1 + ux2 * uy2 + ux3 * uy3 + r1 + 2.0 * r2 * b + 3.0 * r3 * b * b
    )
    out[0, 1] = cross
    out[1, 0] = cross
    out[1, 1] = 2.0 * (
        uy1 * uy1 + uy2 * uy2 + uy3 * uy3 + 2.0 * r2 * a + 6.0 * r3 * a * b
    )


SURFACE = Surface(
    name="beale",
    description="Beale's plateau and curved valley (2-D)",
    module=__name__,
    formula="(1.5 − x + xy)² + (2.25 − x + xy²)² + (2.625 − x + xy³)²",
    dim=2,
    bounds=([-4.5, -4.5], [4.5, 4.5]),
    x0=[1.0, 1.5],
    minima=[Minimum(np.array([3.0, 0.5]), 0.0)],
)
