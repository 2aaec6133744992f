r"""McCormick's function: a sine ripple along a tilted quadratic trough.

.. math::

    L(x, y) = \sin(x + y) + (x - y)^2 - 1.5x + 2.5y + 1

Setting the gradient to zero gives ``x - y = 1`` and ``cos(x + y) = -1/2``, and the
Hessian (eigenvalues 4 along ``(1, -1)`` and ``-2 sin(x + y)`` along ``(1, 1)``) is
positive definite where ``sin(x + y) < 0``.  So the minima are the points
``x + y = s`` with ``s = -2π/3 + 2kπ``, ``x = (1 + s)/2``, ``y = (s - 1)/2``, with
value ``sin s + s/2``.  In the domain ``x ∈ [-1.5, 4], y ∈ [-3, 4]`` there are two:

* the global minimum ``(1/2 - π/3, -1/2 - π/3) ≈ (-0.5471975511965977,
  -1.5471975511965979)`` with value ``-√3/2 - π/3 ≈ -1.9132229549810364``;
* a local minimum ``(1/2 + 2π/3, -1/2 + 2π/3) ≈ (2.5943951023931957,
  1.5943951023931955)`` with value ``2π/3 - √3/2 ≈ 1.2283696986087569``.

(Coordinates and values are correctly rounded from 50-digit evaluations of the
closed forms.)  On the whole plane the function is unbounded below (along
``x - y = 1`` it equals ``sin s + s/2 -> -∞`` as ``s -> -∞``): "global" here means
the lowest point of the domain, as in every table of test functions.  odeopt starts at ``(-1, 3)``, from where the gradient flow reaches the
global minimum.

References: Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/mccorm.html).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    d = x[0] - x[1]
    return math.sin(x[0] + x[1]) + d * d - 1.5 * x[0] + 2.5 * x[1] + 1.0


@kernel
def grad(x, p, out):
    c = math.cos(x[0] + x[1])
    d = x[0] - x[1]
    out[0] = c + 2.0 * d - 1.5
    out[1] = c - 2.0 * d + 2.5


@kernel
def hess(x, p, out):
    s = math.sin(x[0] + x[1])
    out[0, 0] = 2.0 - s
    out[0, 1] = -2.0 - s
    out[1, 0] = -2.0 - s
    out[1, 1] = 2.0 - s


SURFACE = Surface(
    name="mccormick",
    description="McCormick's rippled trough (2-D)",
    module=__name__,
    formula="sin(x + y) + (x − y)² − 1.5x + 2.5y + 1",
    dim=2,
    bounds=([-1.5, -3.0], [4.0, 4.0]),
    x0=[-1.0, 3.0],
    minima=[
        Minimum(
            np.array([-0.5471975511965977, -1.5471975511965979]), -1.9132229549810364
        ),
        Minimum(
            np.array([2.5943951023931957, 1.5943951023931955]),
            1.2283696986087569,
            "local",
        ),
    ],
)
