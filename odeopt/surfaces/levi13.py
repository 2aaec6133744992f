r"""Lévy function N. 13: oscillations in both coordinates on a quadratic bowl.

.. math::

    L(x, y) = \sin^2(3\pi x) + (x - 1)^2 \left[1 + \sin^2(3\pi y)\right]
              + (y - 1)^2 \left[1 + \sin^2(2\pi y)\right]

The unique global minimum is ``(1, 1)`` with value 0 (every term vanishes); a dense
lattice of local minima surrounds it (spacing about 1/3 in ``x``).  The usual domain
is ``[-10, 10]^2``, where the quadratic growth (loss up to about 480) hides the
ripples; odeopt plots the box ``[-3, 5]^2`` centred on the minimum (loss up to 58).  odeopt starts at
``(2.5, -0.5)``, where plain descent stops in a nearby local minimum.

References: Surjanovic & Bingham, *Virtual Library of Simulation Experiments*
(sfu.ca/~ssurjano/levy13.html).
"""

import math

import numpy as np

from .._jit import kernel
from ._base import Minimum, Surface


@kernel
def value(x, p):
    a = x[0]
    b = x[1]
    s1 = math.sin(3.0 * math.pi * a)
    s2 = math.sin(3.0 * math.pi * b)
    s3 = math.sin(2.0 * math.pi * b)
    return (
        s1 * s1
        + (a - 1.0) * (a - 1.0) * (1.0 + s2 * s2)
        + (b - 1.0) * (b - 1.0) * (1.0 + s3 * s3)
    )


@kernel
def grad(x, p, out):
    a = x[0]
    b = x[1]
    pi = math.pi
    s2 = math.sin(3.0 * pi * b)
    s3 = math.sin(2.0 * pi * b)
    # d/dt sin^2(kt) = k sin(2kt)
    out[0] = 3.0 * pi * math.sin(6.0 * pi * a) + 2.0 * (a - 1.0) * (1.0 + s2 * s2)
    out[1] = (
        3.0 * pi * (a - 1.0) * (a - 1.0) * math.sin(6.0 * pi * b)
        + 2.0 * (b - 1.0) * (1.0 + s3 * s3)
        + 2.0 * pi * (b - 1.0) * (b - 1.0) * math.sin(4.0 * pi * b)
    )


@kernel
def hess(x, p, out):
    a = x[0]
    b = x[1]
    pi = math.pi
    s2 = math.sin(3.0 * pi * b)
    s3 = math.sin(2.0 * pi * b)
    out[0, 0] = 18.0 * pi * pi * math.cos(6.0 * pi * a) + 2.0 * (1.0 + s2 * s2)
    cross = 6.0 * pi * (a - 1.0) * math.sin(6.0 * pi * b)
    out[0, 1] = cross
    out[1, 0] = cross
    out[1, 1] = (
        18.0 * pi * pi * (a - 1.0) * (a - 1.0) * math.cos(6.0 * pi * b)
        + 2.0 * (1.0 + s3 * s3)
        + 8.0 * pi * (b - 1.0) * math.sin(4.0 * pi * b)
        + 8.0 * pi * pi * (b - 1.0) * (b - 1.0) * math.cos(4.0 * pi * b)
    )


SURFACE = Surface(
    name="levi13",
    description="Lévy N. 13: rippled bowl, minimum at (1, 1) (2-D)",
    module=__name__,
    formula="sin²(3πx) + (x − 1)²(1 + sin²(3πy)) + (y − 1)²(1 + sin²(2πy))",
    dim=2,
    bounds=([-3.0, -3.0], [5.0, 5.0]),
    x0=[2.5, -0.5],
    minima=[Minimum(np.array([1.0, 1.0]), 0.0)],
)
